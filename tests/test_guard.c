/* Threads that misuse handles (issue 17 item 3): mnemo_close while other threads call, one
 * transaction used by two threads. Each gets an error, never memory damage (the ASan build proves
 * the second half). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define DIM 4

static mnemo_db *db;
static void setup(void)
{
    tu_mkdtemp();
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_dim = DIM;
    o.create_if_missing = 1;
    TU_OK(tu_open_with(&db, "guard", &o));
}
static void teardown(void)
{
    mnemo_close(db); /* EINVAL when a test closed it: fine */
    tu_cleanup();
}
TestSuite(guard, .init = setup, .fini = teardown);

static void nap_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void fill(int n)
{
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        mnemo_record r = {.id = id, .content = "a memory", .importance = i, .metadata = "{\"k\":1}"};
        TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
        float v[DIM] = {(float)i, 1, 2, 3};
        TU_OK(mnemo_vector_put(db, NULL, id, v, DIM));
        TU_OK(mnemo_kv_put(db, NULL, id, strlen(id), "v", 1));
    }
}

/* ---- close while other threads call ---- */

typedef struct reader {
    int kind;
    atomic_long calls;
    int bad_rc;       /* the first code that is neither success nor the closed handle's EINVAL */
    char closed_msg[256];
} reader;

static atomic_int readers_go;

static int one_call(int kind, int i)
{
    char id[16];
    snprintf(id, sizeof id, "m%d", i % 50);
    int rc;
    switch (kind) {
    case 0: {
        mnemo_record_page *p = NULL;
        rc = mnemo_record_find(&p, db, NULL, "{\"k\":1}", NULL);
        mnemo_record_page_free(p);
        break;
    }
    case 1: {
        mnemo_vector_hits *h = NULL;
        float q[DIM] = {(float)(i % 50), 1, 2, 3};
        rc = mnemo_vector_search(&h, db, NULL, q, DIM, 5, NULL);
        mnemo_vector_hits_free(h);
        break;
    }
    case 2: {
        mnemo_record *r = NULL;
        rc = mnemo_record_get(&r, db, NULL, id);
        mnemo_record_free(r);
        break;
    }
    default: {
        mnemo_iter *it = NULL;
        rc = mnemo_kv_iter(&it, db, NULL, NULL);
        while (rc == 0)
            rc = mnemo_iter_next(it);
        if (rc == MNEMO_ITEROVER)
            rc = 0;
        mnemo_iter_free(it);
        break;
    }
    }
    return rc;
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    while (!atomic_load(&readers_go))
        ;
    for (int i = 0;; i++) {
        int rc = one_call(r->kind, i);
        atomic_fetch_add(&r->calls, 1);
        if (rc == MNEMO_EINVAL) {
            snprintf(r->closed_msg, sizeof r->closed_msg, "%s", mnemo_errmsg());
            break;
        }
        if (rc) {
            r->bad_rc = rc;
            snprintf(r->closed_msg, sizeof r->closed_msg, "%s", mnemo_errmsg());
            break;
        }
    }
    return NULL;
}

TU_TEST(guard, close_while_four_threads_search_is_safe)
{
    fill(50);
    reader r[4];
    pthread_t th[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) {
        r[i].kind = i;
        pthread_create(&th[i], NULL, reader_main, &r[i]);
    }
    atomic_store(&readers_go, 1);
    for (int i = 0; i < 4; i++)
        while (atomic_load(&r[i].calls) < 3)
            nap_ms(1);
    TU_OK(mnemo_close(db));
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(r[i].bad_rc, 0, "reader %d: %s (%s)", i, mnemo_strerror(r[i].bad_rc), r[i].closed_msg);
        cr_expect(strstr(r[i].closed_msg, "closed") != NULL, "reader %d ended with '%s'", i, r[i].closed_msg);
    }
    TU_RC(mnemo_close(db), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "closed"), "%s", mnemo_errmsg());
}

/* A call still running when mnemo_close starts finishes against a live database: close waits. */
static atomic_int in_callback, close_started;

static int slow_write(mnemo_txn *txn, void *arg)
{
    (void)arg;
    atomic_store(&in_callback, 1);
    while (!atomic_load(&close_started))
        ;
    nap_ms(50); /* gives an unguarded close time to tear the database down under us */
    return mnemo_kv_put(db, txn, "late", 4, "yes", 3);
}

static void *writer_main(void *arg)
{
    *(int *)arg = mnemo_txn_run(db, 0, slow_write, NULL, NULL);
    return NULL;
}

TU_TEST(guard, close_waits_for_a_call_in_flight)
{
    TU_NEEDS_DISK("reads the write back after reopening");
    int rc = -100;
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &rc);
    while (!atomic_load(&in_callback))
        ;
    atomic_store(&close_started, 1);
    TU_OK(mnemo_close(db));
    pthread_join(th, NULL);
    cr_assert_eq(rc, 0, "the call in flight got %s", mnemo_strerror(rc));
    mnemo_options o = MNEMO_OPTIONS_INIT;
    TU_OK(tu_open_with(&db, "guard", &o));
    void *v;
    size_t n;
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, "late", 4));
    cr_assert(n == 3 && !memcmp(v, "yes", 3));
    mnemo_free(v);
}

static int close_inside(mnemo_txn *txn, void *arg)
{
    (void)txn;
    *(int *)arg = mnemo_close(db);
    return 0;
}

TU_TEST(guard, close_from_a_callback_is_refused)
{
    int rc = 0;
    TU_OK(mnemo_txn_run(db, 0, close_inside, &rc, NULL));
    cr_assert_eq(rc, MNEMO_EINVAL, "close inside a callback gave %s", mnemo_strerror(rc));
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "v", 1)); /* the database is still open */
    TU_OK(mnemo_close(db));
}

/* ---- one transaction, two threads ---- */

static mnemo_txn *shared;
static atomic_int visiting, main_tried;
static int main_rc;
static char main_msg[256];

static int visit_and_wait(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)arg, (void)id, (void)depth, (void)via, (void)via_label;
    atomic_store(&visiting, 1);
    while (!atomic_load(&main_tried))
        ;
    return 0;
}

static void *traverser_main(void *arg)
{
    const char *start = "m0";
    *(int *)arg = mnemo_graph_traverse(db, shared, &start, 1, NULL, visit_and_wait, NULL);
    return NULL;
}

TU_TEST(guard, txn_in_use_by_another_thread_is_einval)
{
    fill(2);
    TU_OK(mnemo_txn_begin(&shared, db, 0));
    int trc = -100;
    pthread_t th;
    pthread_create(&th, NULL, traverser_main, &trc);
    while (!atomic_load(&visiting))
        ;
    main_rc = mnemo_kv_put(db, shared, "x", 1, "1", 1);
    snprintf(main_msg, sizeof main_msg, "%s", mnemo_errmsg());
    int commit_rc = mnemo_txn_commit(shared);
    atomic_store(&main_tried, 1);
    pthread_join(th, NULL);
    cr_assert_eq(main_rc, MNEMO_EINVAL, "%s", mnemo_strerror(main_rc));
    cr_assert(strstr(main_msg, "in use by another thread"), "%s", main_msg);
    cr_assert_eq(commit_rc, MNEMO_EINVAL, "commit of a txn in use: %s", mnemo_strerror(commit_rc));
    TU_OK(trc);
    /* Released when the other thread's call returned: this thread may use it now. */
    TU_OK(mnemo_kv_put(db, shared, "x", 1, "1", 1));
    TU_OK(mnemo_txn_commit(shared));
    mnemo_txn_free(shared);
}

typedef struct hammer {
    int thread;
    int ok, busy, bad_rc;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < 2000; i++) {
        char k[32];
        snprintf(k, sizeof k, "t%d-%d", h->thread, i);
        int rc = (i % 3) ? mnemo_kv_put(db, shared, k, strlen(k), "v", 1)
                         : mnemo_kv_exists(db, shared, k, strlen(k));
        if (rc == 0 || rc == 1)
            h->ok++;
        else if (rc == MNEMO_EINVAL)
            h->busy++;
        else if (!h->bad_rc)
            h->bad_rc = rc;
    }
    return NULL;
}

TU_TEST(guard, two_threads_hammering_one_txn_get_ok_or_einval)
{
    TU_OK(mnemo_txn_begin(&shared, db, 0));
    hammer h[2] = {{.thread = 0}, {.thread = 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, hammer_main, &h[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(h[i].bad_rc, 0, "thread %d got %s", i, mnemo_strerror(h[i].bad_rc));
        cr_expect_eq(h[i].ok + h[i].busy, 2000);
    }
    TU_OK(mnemo_txn_commit(shared));
    mnemo_txn_free(shared);
}
