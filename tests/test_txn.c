/* Transactions: isolation, conflicts, the retry helper, the bank invariant, commit hooks. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "core/alloc.h"
#include "core/error.h"
#include "txn/idalloc.h"
#include "txn/txn.h"

static mnemo_db *db;
static void setup(void)
{
    tu_mkdtemp();
    db = tu_open("txn");
}
static void teardown(void)
{
    mnemo_close(db);
    tu_cleanup();
}
TestSuite(txn, .init = setup, .fini = teardown);

static void close_db(void)
{
    TU_OK(mnemo_close(db));
    db = NULL;
}

static void put_int(mnemo_txn *txn, const char *k, long v)
{
    char s[32];
    snprintf(s, sizeof s, "%ld", v);
    TU_OK(mnemo_kv_put(db, txn, k, strlen(k), s, strlen(s)));
}

static int get_int(mnemo_txn *txn, const char *k, long *out)
{
    void *v;
    size_t n;
    int rc = mnemo_kv_get(&v, &n, db, txn, k, strlen(k));
    if (rc)
        return rc;
    *out = strtol(v, NULL, 10);
    mnemo_free(v);
    return 0;
}

static long must_get(mnemo_txn *txn, const char *k)
{
    long v = 0;
    TU_OK(get_int(txn, k, &v));
    return v;
}

TU_TEST(txn, commit_applies_rollback_discards)
{
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    put_int(t, "x", 1);
    cr_assert_eq(must_get(t, "x"), 1, "a txn reads its own writes");
    TU_RC(mnemo_kv_exists(db, NULL, "x", 1), 0);
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    cr_assert_eq(must_get(NULL, "x"), 1);

    TU_OK(mnemo_txn_begin(&t, db, 0));
    put_int(t, "x", 2);
    put_int(t, "y", 2);
    TU_OK(mnemo_kv_delete(db, t, "x", 1));
    TU_RC(mnemo_kv_exists(db, t, "x", 1), 0);
    TU_OK(mnemo_txn_rollback(t));
    mnemo_txn_free(t);
    cr_assert_eq(must_get(NULL, "x"), 1);
    TU_RC(mnemo_kv_exists(db, NULL, "y", 1), 0);

    TU_OK(mnemo_txn_begin(&t, db, 0));
    put_int(t, "z", 3);
    mnemo_txn_free(t); /* free of an open txn rolls back */
    TU_RC(mnemo_kv_exists(db, NULL, "z", 1), 0);
    close_db();
}

TU_TEST(txn, snapshot_isolation_for_reads)
{
    put_int(NULL, "a", 1);
    put_int(NULL, "b", 1);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, MNEMO_TXN_READONLY));
    put_int(NULL, "a", 2);
    put_int(NULL, "c", 2);
    cr_assert_eq(must_get(t, "a"), 1, "a later commit is invisible to an earlier snapshot");
    TU_RC(mnemo_kv_exists(db, t, "c", 1), 0);
    TU_RC(mnemo_kv_put(db, t, "q", 1, "v", 1), MNEMO_EREADONLY);
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    close_db();
}

TU_TEST(txn, read_modify_write_conflict_exactly_one_wins)
{
    put_int(NULL, "counter", 10);
    mnemo_txn *t1, *t2;
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    TU_OK(mnemo_txn_begin(&t2, db, 0));
    long v1 = must_get(t1, "counter"), v2 = must_get(t2, "counter");
    put_int(t1, "counter", v1 + 1);
    put_int(t2, "counter", v2 + 5);
    put_int(t2, "side-effect", 1);
    TU_OK(mnemo_txn_commit(t1));
    TU_RC(mnemo_txn_commit(t2), MNEMO_EBUSY);
    cr_assert(strstr(mnemo_errmsg(), "conflict"), "%s", mnemo_errmsg());
    cr_assert_eq(must_get(NULL, "counter"), 11);
    TU_RC(mnemo_kv_exists(db, NULL, "side-effect", 11), 0); /* a conflicted txn leaves nothing behind */
    TU_RC(mnemo_kv_put(db, t2, "k", 1, "v", 1), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "failed commit"), "%s", mnemo_errmsg());
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);
    close_db();
}

TU_TEST(txn, read_then_outside_write_conflicts)
{
    put_int(NULL, "balance", 100);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    long b = must_get(t, "balance");
    put_int(NULL, "balance", 0); /* auto-commit write by someone else */
    put_int(t, "copy", b);       /* a write that depends on the stale read */
    TU_RC(mnemo_txn_commit(t), MNEMO_EBUSY);
    mnemo_txn_free(t);
    TU_RC(mnemo_kv_exists(db, NULL, "copy", 4), 0);
    close_db();
}

TU_TEST(txn, finished_and_foreign_transactions_are_einval)
{
    mnemo_txn *t;
    TU_RC(mnemo_txn_begin(NULL, db, 0), MNEMO_EINVAL);
    TU_RC(mnemo_txn_begin(&t, db, 0x80), MNEMO_EINVAL);
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(mnemo_txn_commit(t));
    TU_RC(mnemo_txn_commit(t), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "already committed"), "%s", mnemo_errmsg());
    TU_RC(mnemo_txn_rollback(t), MNEMO_EINVAL);
    void *v;
    size_t n;
    TU_RC(mnemo_kv_get(&v, &n, db, t, "k", 1), MNEMO_EINVAL);
    mnemo_txn_free(t);
    TU_RC(mnemo_txn_commit(NULL), MNEMO_EINVAL);
    TU_RC(mnemo_txn_rollback(NULL), MNEMO_EINVAL);
    mnemo_txn_free(NULL);

    mnemo_db *other = tu_open("other");
    TU_OK(mnemo_txn_begin(&t, other, 0));
    TU_RC(mnemo_kv_put(db, t, "k", 1, "v", 1), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "another database"), "%s", mnemo_errmsg());
    mnemo_txn_free(t);
    TU_OK(mnemo_close(other));
    close_db();
}

TU_TEST(txn, iterators_die_with_their_transaction)
{
    put_int(NULL, "a", 1);
    mnemo_txn *t;
    mnemo_iter *it;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(mnemo_kv_iter(&it, db, t, NULL));
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_txn_commit(t));
    TU_RC(mnemo_iter_next(it), MNEMO_EINVAL);
    const void *k;
    size_t kl;
    TU_RC(mnemo_iter_key(it, &k, &kl), MNEMO_EINVAL);
    TU_RC(mnemo_iter_seek(it, "a", 1), MNEMO_EINVAL);
    mnemo_iter_free(it);
    mnemo_txn_free(t);
    close_db();
}

/* ---- retry helper ---- */

static int increment(mnemo_txn *txn, void *arg)
{
    (void)arg;
    long v = 0;
    int rc = get_int(txn, "counter", &v);
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    char s[32];
    snprintf(s, sizeof s, "%ld", v + 1);
    return mnemo_kv_put(db, txn, "counter", 7, s, strlen(s));
}

#define THREADS 4
#define INCREMENTS 200

static void *increment_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCREMENTS; i++) {
        mnemo_txn_retry r = MNEMO_TXN_RETRY_INIT;
        r.max_attempts = 10000;
        int rc = mnemo_txn_run(db, 0, increment, NULL, &r);
        if (rc)
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

TU_TEST(txn, retry_helper_concurrent_increments_are_exact)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, increment_worker, NULL);
    for (int i = 0; i < THREADS; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "worker failed with %s", mnemo_strerror((int)(intptr_t)res));
    }
    cr_assert_eq(must_get(NULL, "counter"), THREADS * INCREMENTS);
    close_db();
}

static int calls;
static int always_busy(mnemo_txn *txn, void *arg)
{
    (void)arg;
    calls++;
    put_int(txn, "never", 1);
    return MNEMO_EBUSY;
}

static int fails_with_notfound(mnemo_txn *txn, void *arg)
{
    (void)arg;
    calls++;
    put_int(txn, "never", 1);
    return MNEMO_ENOTFOUND;
}

TU_TEST(txn, retry_helper_bounds_and_errors)
{
    mnemo_txn_retry r = MNEMO_TXN_RETRY_INIT;
    r.max_attempts = 5;
    r.initial_backoff_us = 1;
    calls = 0;
    TU_RC(mnemo_txn_run(db, 0, always_busy, NULL, &r), MNEMO_EBUSY);
    cr_assert_eq(calls, 5);
    calls = 0;
    TU_RC(mnemo_txn_run(db, 0, fails_with_notfound, NULL, NULL), MNEMO_ENOTFOUND);
    cr_assert_eq(calls, 1, "other errors are not retried");
    TU_RC(mnemo_kv_exists(db, NULL, "never", 5), 0);
    TU_RC(mnemo_txn_run(db, 0, NULL, NULL, NULL), MNEMO_EINVAL);
    TU_RC(mnemo_txn_run(NULL, 0, increment, NULL, NULL), MNEMO_EINVAL);
    r.version = 99;
    TU_RC(mnemo_txn_run(db, 0, increment, NULL, &r), MNEMO_EINVAL);
    close_db();
}

/* ---- bank transfers: the total never changes, seen by concurrent readers and at the end ---- */

#define ACCOUNTS 8
#define START_BALANCE 1000
#define TRANSFERS 300

typedef struct {
    unsigned seed;
    int from, to;
    long amount;
} transfer_arg;

static int transfer(mnemo_txn *txn, void *arg)
{
    transfer_arg *a = arg;
    char kf[16], kt[16];
    snprintf(kf, sizeof kf, "acct%d", a->from);
    snprintf(kt, sizeof kt, "acct%d", a->to);
    long f, t;
    int rc = get_int(txn, kf, &f);
    if (!rc)
        rc = get_int(txn, kt, &t);
    if (rc)
        return rc;
    if (f < a->amount)
        return 0; /* insufficient funds: commit nothing */
    char s[32];
    snprintf(s, sizeof s, "%ld", f - a->amount);
    if ((rc = mnemo_kv_put(db, txn, kf, strlen(kf), s, strlen(s))))
        return rc;
    snprintf(s, sizeof s, "%ld", t + a->amount);
    return mnemo_kv_put(db, txn, kt, strlen(kt), s, strlen(s));
}

static void *transfer_worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < TRANSFERS; i++) {
        transfer_arg a;
        a.from = rand_r(&seed) % ACCOUNTS;
        a.to = (a.from + 1 + rand_r(&seed) % (ACCOUNTS - 1)) % ACCOUNTS;
        a.amount = rand_r(&seed) % 200;
        mnemo_txn_retry r = MNEMO_TXN_RETRY_INIT;
        r.max_attempts = 10000;
        int rc = mnemo_txn_run(db, 0, transfer, &a, &r);
        if (rc)
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

static atomic_int stop_readers;

static long total_in(mnemo_txn *txn)
{
    long sum = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
        char k[16];
        long v;
        snprintf(k, sizeof k, "acct%d", i);
        if (get_int(txn, k, &v))
            return -1;
        sum += v;
    }
    return sum;
}

static void *reader_worker(void *arg)
{
    long *checks = arg;
    while (!atomic_load(&stop_readers)) {
        mnemo_txn *t;
        if (mnemo_txn_begin(&t, db, MNEMO_TXN_READONLY))
            return (void *)1;
        long sum = total_in(t);
        /* also via a scan, which must see the same snapshot */
        mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
        o.prefix = "acct";
        o.prefix_len = 4;
        mnemo_iter *it;
        long scan_sum = 0;
        if (mnemo_kv_iter(&it, db, t, &o))
            return (void *)1;
        while (mnemo_iter_next(it) == 0) {
            const void *v;
            size_t n;
            mnemo_iter_value(it, &v, &n);
            char buf[32];
            snprintf(buf, sizeof buf, "%.*s", (int)n, (const char *)v);
            scan_sum += strtol(buf, NULL, 10);
        }
        mnemo_iter_free(it);
        mnemo_txn_free(t);
        if (sum != ACCOUNTS * START_BALANCE || scan_sum != sum)
            return (void *)2;
        (*checks)++;
    }
    return NULL;
}



TU_TEST(txn, bank_transfers_keep_the_total)
{
    for (int i = 0; i < ACCOUNTS; i++) {
        char k[16];
        snprintf(k, sizeof k, "acct%d", i);
        put_int(NULL, k, START_BALANCE);
    }
    atomic_store(&stop_readers, 0);
    pthread_t writers[3], readers[2];
    long checks[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        pthread_create(&readers[i], NULL, reader_worker, &checks[i]);
    for (int i = 0; i < 3; i++)
        pthread_create(&writers[i], NULL, transfer_worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 3; i++) {
        void *res;
        pthread_join(writers[i], &res);
        cr_assert_null(res, "writer failed: %s", mnemo_strerror((int)(intptr_t)res));
    }
    atomic_store(&stop_readers, 1);
    for (int i = 0; i < 2; i++) {
        void *res;
        pthread_join(readers[i], &res);
        cr_assert_null(res, "a reader saw a total other than %d", ACCOUNTS * START_BALANCE);
    }
    cr_assert_gt(checks[0] + checks[1], 0, "readers ran");
    cr_assert_eq(total_in(NULL), ACCOUNTS * START_BALANCE);
    close_db();
}

/* ---- commit hooks (internal API used by the record, graph and vector modules) ---- */

typedef struct {
    int before_calls, after_calls, committed;
    int fail_before;
    int value_visible_in_after; /* the committed write is readable when after(1) runs */
} hook_log;

static int hook_before(mnemo_txn *txn, void *arg)
{
    hook_log *h = arg;
    h->before_calls++;
    if (h->fail_before)
        return mnemo__err(MNEMO_EIO, "hook: simulated failure");
    return mnemo_kv_put(db, txn, "written-by-hook", 15, "1", 1);
}

static void hook_after(mnemo_txn *txn, void *arg, int committed)
{
    (void)txn;
    hook_log *h = arg;
    h->after_calls++;
    h->committed = committed;
    h->value_visible_in_after = mnemo_kv_exists(db, NULL, "k", 1) == 1;
}

static int owner_tag;

static void with_hook(hook_log *h, int fail_before, int outcome /* 0 commit, 1 rollback, 2 conflict */)
{
    memset(h, 0, sizeof *h);
    h->fail_before = fail_before;
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    mnemo_txn_hook hook = {&owner_tag, hook_before, hook_after, h, NULL};
    TU_OK(mnemo_txn__add_hook(t, &hook));
    TU_RC(mnemo_txn__add_hook(t, &hook), MNEMO_EEXISTS);
    cr_assert_eq(mnemo_txn__hook_arg(t, NULL, &owner_tag), h);
    if (outcome == 2)
        must_get(t, "contended");
    put_int(t, "k", 1);
    if (outcome == 2)
        put_int(NULL, "contended", 2);
    if (outcome == 1)
        TU_OK(mnemo_txn_rollback(t));
    else
        mnemo_txn_commit(t);
    mnemo_txn_free(t);
}

TU_TEST(txn, hooks_run_after_commit_only)
{
    put_int(NULL, "contended", 1);
    hook_log h;
    with_hook(&h, 0, 0);
    cr_assert_eq(h.before_calls, 1);
    cr_assert_eq(h.after_calls, 1);
    cr_assert_eq(h.committed, 1);
    cr_assert(h.value_visible_in_after, "after(1) runs once the commit is visible");
    TU_RC(mnemo_kv_exists(db, NULL, "written-by-hook", 15), 1); /* before-hook writes commit with the txn */
    TU_OK(mnemo_kv_delete(db, NULL, "k", 1));
    TU_OK(mnemo_kv_delete(db, NULL, "written-by-hook", 15));

    with_hook(&h, 0, 1);
    cr_assert_eq(h.before_calls, 0);
    cr_assert_eq(h.after_calls, 1);
    cr_assert_eq(h.committed, 0);

    with_hook(&h, 0, 2);
    cr_assert_eq(h.after_calls, 1);
    cr_assert_eq(h.committed, 0, "a conflicted commit tells hooks it did not commit");
    TU_RC(mnemo_kv_exists(db, NULL, "k", 1), 0);
    TU_RC(mnemo_kv_exists(db, NULL, "written-by-hook", 15), 0);

    with_hook(&h, 1, 0);
    cr_assert_eq(h.after_calls, 1);
    cr_assert_eq(h.committed, 0, "a failing before-hook aborts the commit");
    TU_RC(mnemo_kv_exists(db, NULL, "k", 1), 0);
    close_db();
}

TU_TEST(txn, hooks_told_when_db_closes_under_open_txn)
{
    hook_log h;
    memset(&h, 0, sizeof h);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    mnemo_txn_hook hook = {&owner_tag, NULL, hook_after, &h, NULL};
    TU_OK(mnemo_txn__add_hook(t, &hook));
    close_db();
    cr_assert_eq(h.after_calls, 1);
    cr_assert_eq(h.committed, 0);
    mnemo_txn_free(t);
}

/* ---- write-only transactions buffer blind writes; the first read switches to tracking ---- */

TU_TEST(txn, own_blind_writes_are_visible_to_later_reads)
{
    put_int(NULL, "z", 9);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    put_int(t, "a", 1);
    TU_OK(mnemo_kv_delete(db, t, "z", 1));
    TU_OK(mnemo_txn__put(db, t, MNEMO_CF_METADATA, "Tmeta", 5, "m", 1)); /* another column family */
    cr_assert_eq(must_get(t, "a"), 1, "the first read sees the buffered write");
    TU_RC(mnemo_kv_exists(db, t, "z", 1), 0);
    char *v;
    size_t n;
    TU_OK(mnemo_txn__get(&v, &n, db, t, MNEMO_CF_METADATA, "Tmeta", 5, 0));
    cr_assert_eq(n, 1);
    mnemo_free(v);
    put_int(t, "b", 2); /* tracked from now on */
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, t, NULL));
    int count = 0;
    while (mnemo_iter_next(it) == 0)
        count++;
    cr_assert_eq(count, 2);
    mnemo_iter_free(it);
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    cr_assert_eq(must_get(NULL, "b"), 2);
    TU_RC(mnemo_kv_exists(db, NULL, "z", 1), 0);

    /* the same through an iterator as the first read */
    TU_OK(mnemo_txn_begin(&t, db, 0));
    put_int(t, "c", 3);
    TU_OK(mnemo_kv_iter(&it, db, t, NULL));
    count = 0;
    while (mnemo_iter_next(it) == 0)
        count++;
    cr_assert_eq(count, 3, "a, b and the buffered c");
    mnemo_iter_free(it);
    TU_OK(mnemo_txn_rollback(t));
    mnemo_txn_free(t);
    TU_RC(mnemo_kv_exists(db, NULL, "c", 1), 0);
    close_db();
}

TU_TEST(txn, blind_writers_both_commit_in_commit_order)
{
    mnemo_txn *t1, *t2;
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    TU_OK(mnemo_txn_begin(&t2, db, 0));
    put_int(t1, "k", 1);
    put_int(t2, "k", 2);
    TU_OK(mnemo_txn_commit(t2));
    TU_OK(mnemo_txn_commit(t1)); /* serializable as t2 then t1: nothing read, nothing to conflict */
    cr_assert_eq(must_get(NULL, "k"), 1);
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);

    /* once a txn has read, its writes are checked too */
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    put_int(t1, "k", 5);
    must_get(t1, "k");
    put_int(NULL, "k", 6);
    TU_RC(mnemo_txn_commit(t1), MNEMO_EBUSY);
    mnemo_txn_free(t1);
    cr_assert_eq(must_get(NULL, "k"), 6);
    close_db();
}

/* ---- writes outside tracked transactions are validated like commits ---- */

/* A copies j into k (k = j in every serial history); B writes j and k together, blindly or
 * auto-commit. A reader must never see j != k. RocksDB validates optimistic commits in parallel
 * under locks that a plain write would not take. */
static atomic_int race_done;

static int copy_j_to_k(mnemo_txn *txn, void *arg)
{
    (void)arg;
    long j;
    int rc = get_int(txn, "j", &j);
    if (rc)
        return rc;
    put_int(txn, "k", j);
    return 0;
}

static void *copier(void *arg)
{
    (void)arg;
    while (!atomic_load(&race_done)) {
        mnemo_txn_retry r = MNEMO_TXN_RETRY_INIT;
        r.max_attempts = 100000;
        if (mnemo_txn_run(db, 0, copy_j_to_k, NULL, &r))
            return (void *)1;
    }
    return NULL;
}

static void *pair_writer(void *arg)
{
    int mode = (int)(intptr_t)arg; /* 0: blind transaction, 1: auto-commit batch */
    for (long i = 1; !atomic_load(&race_done); i++) {
        char v[32];
        snprintf(v, sizeof v, "%ld", i);
        if (mode == 0) {
            mnemo_txn *t;
            if (mnemo_txn_begin(&t, db, 0))
                return (void *)1;
            mnemo_kv_put(db, t, "j", 1, v, strlen(v));
            mnemo_kv_put(db, t, "k", 1, v, strlen(v));
            int rc = mnemo_txn_commit(t);
            mnemo_txn_free(t);
            if (rc)
                return (void *)1;
        } else {
            mnemo_kv_op ops[2] = {{MNEMO_KV_PUT, "j", 1, v, strlen(v)}, {MNEMO_KV_PUT, "k", 1, v, strlen(v)}};
            if (mnemo_kv_batch(db, NULL, ops, 2))
                return (void *)1;
        }
    }
    return NULL;
}

static void *pair_checker(void *arg)
{
    long *violations = arg;
    while (!atomic_load(&race_done)) {
        mnemo_txn *t;
        if (mnemo_txn_begin(&t, db, MNEMO_TXN_READONLY))
            return (void *)1;
        long j, k;
        if (!get_int(t, "j", &j) && !get_int(t, "k", &k) && j != k)
            (*violations)++;
        mnemo_txn_free(t);
    }
    return NULL;
}

TU_TEST(txn, plain_and_blind_writes_cannot_slip_between_validation_and_commit)
{
    for (int mode = 0; mode < 2; mode++) {
        put_int(NULL, "j", 0);
        put_int(NULL, "k", 0);
        atomic_store(&race_done, 0);
        long violations = 0;
        pthread_t c[2], w, r;
        for (int i = 0; i < 2; i++)
            pthread_create(&c[i], NULL, copier, NULL);
        pthread_create(&r, NULL, pair_checker, &violations);
        pthread_create(&w, NULL, pair_writer, (void *)(intptr_t)mode);
        struct timespec run = {1, 500000000}; /* bounded: 1.5 s per mode */
        nanosleep(&run, NULL);
        atomic_store(&race_done, 1);
        void *res, *rc0, *rc1, *rr;
        pthread_join(w, &res);
        pthread_join(c[0], &rc0);
        pthread_join(c[1], &rc1);
        pthread_join(r, &rr);
        cr_assert_null(res, "writer failed");
        cr_assert(!rc0 && !rc1, "copier failed");
        cr_assert_null(rr, "checker failed");
        cr_assert_eq(violations, 0, "mode %d: %ld snapshots saw j != k", mode, violations);
        cr_assert_eq(must_get(NULL, "j"), must_get(NULL, "k"));
    }
    close_db();
}

/* Sealed values (txn/sealed.c): every room's small stored values go through these three. */
TU_TEST(txn, sealed_values_round_trip_and_damage_is_ecorrupt)
{
    static char big[1000]; /* past the stack buffer of put_sealed */
    memset(big, 'b', sizeof big);
    TU_OK(mnemo_txn__put_sealed(db, NULL, MNEMO_CF_DEFAULT, "small", 5, "abc", 3));
    TU_OK(mnemo_txn__put_sealed(db, NULL, MNEMO_CF_DEFAULT, "big", 3, big, sizeof big));
    char *v;
    size_t n;
    TU_OK(mnemo_txn__get_sealed(&v, &n, db, NULL, MNEMO_CF_DEFAULT, "small", 5, 0, "the small one"));
    cr_assert_eq(n, 3);
    cr_assert_str_eq(v, "abc"); /* NUL-terminated */
    mnemo__free(v);
    TU_OK(mnemo_txn__get_sealed(&v, &n, db, NULL, MNEMO_CF_DEFAULT, "big", 3, 0, "the big one"));
    cr_assert(n == sizeof big && memcmp(v, big, n) == 0 && v[n] == '\0');
    mnemo__free(v);
    TU_RC(mnemo_txn__get_sealed(&v, &n, db, NULL, MNEMO_CF_DEFAULT, "none", 4, 0, "x"), MNEMO_ENOTFOUND);

    TU_OK(mnemo_txn__put(db, NULL, MNEMO_CF_DEFAULT, "plain", 5, "abc", 3)); /* not sealed */
    TU_RC(mnemo_txn__get_sealed(&v, &n, db, NULL, MNEMO_CF_DEFAULT, "plain", 5, 0, "the plain one"), MNEMO_ECORRUPT);
    cr_assert_str_eq(mnemo_errmsg(), "the plain one fails its checksum");
    const char *p;
    TU_RC(mnemo_txn__unseal("abc", 3, &p, &n, "a cursor value"), MNEMO_ECORRUPT);
    cr_assert_str_eq(mnemo_errmsg(), "a cursor value fails its checksum");
    close_db();
}

/* Id allocation (txn/idalloc.h): what keeps two processes from handing out one id is that a claim
 * is a validated read-modify-write of the stored counter, so it is tested through two
 * transactions, the way a second process would claim. */
static const mnemo_idcounter test_counter = {"Ntest_ids", 4, 10, "test ids"};

TU_TEST(txn, id_claims_conflict_roll_back_and_stop_at_the_limit)
{
    mnemo_txn *a, *b;
    uint64_t first;
    TU_OK(mnemo_txn_begin(&a, db, 0));
    TU_OK(mnemo_idalloc__claim(&first, db, a, &test_counter, 3));
    cr_assert_eq(first, 1, "a fresh counter starts at 1, never 0");
    TU_OK(mnemo_idalloc__claim(&first, db, a, &test_counter, 1));
    cr_assert_eq(first, 4, "the txn sees its own claim");
    TU_OK(mnemo_txn_rollback(a));
    mnemo_txn_free(a);

    TU_OK(mnemo_txn_begin(&a, db, 0));
    TU_OK(mnemo_txn_begin(&b, db, 0));
    TU_OK(mnemo_idalloc__claim(&first, db, a, &test_counter, 2));
    cr_assert_eq(first, 1, "a rollback gave its ids back");
    uint64_t other;
    TU_OK(mnemo_idalloc__claim(&other, db, b, &test_counter, 2));
    cr_assert_eq(other, 1, "both read the same counter ...");
    TU_OK(mnemo_txn_commit(a));
    TU_RC(mnemo_txn_commit(b), MNEMO_EBUSY); /* ... so the second commit must fail */
    mnemo_txn_free(a);
    mnemo_txn_free(b);

    TU_OK(mnemo_txn_begin(&a, db, 0));
    TU_RC(mnemo_idalloc__claim(&first, db, a, &test_counter, 9), MNEMO_EFULL); /* ids 3..10 are left: 8 */
    cr_assert(strstr(mnemo_errmsg(), "test ids"), "message names the ids: %s", mnemo_errmsg());
    TU_OK(mnemo_idalloc__claim(&first, db, a, &test_counter, 8));
    cr_assert_eq(first, 3);
    TU_RC(mnemo_idalloc__claim(&first, db, a, &test_counter, 1), MNEMO_EFULL);
    TU_OK(mnemo_txn_commit(a));
    mnemo_txn_free(a);

    TU_OK(mnemo_txn__put(db, NULL, MNEMO_CF_METADATA, "Ntest_ids", 9, "\1\2", 2));
    TU_OK(mnemo_txn_begin(&a, db, 0));
    TU_RC(mnemo_idalloc__claim(&first, db, a, &test_counter, 1), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "Ntest_ids"), "message names the key: %s", mnemo_errmsg());
    mnemo_txn_free(a);
    close_db();
}

TU_TEST(txn, id_blocks_are_claimed_in_the_store_and_never_reused)
{
    static const mnemo_idcounter c = {"Ntest_blocks", 8, UINT64_MAX, "test ids"};
    mnemo_idblock b1, b2;
    /* Two allocators on one counter stand for two processes: their ids never meet. */
    mnemo_idblock__init(&b1, &c, 4);
    mnemo_idblock__init(&b2, &c, 4);
    uint64_t seen[12];
    for (int i = 0; i < 12; i++) {
        TU_OK(mnemo_idblock__take(&seen[i], db, i % 3 ? &b1 : &b2));
        for (int j = 0; j < i; j++)
            cr_assert_neq(seen[i], seen[j], "id %llu handed out twice", (unsigned long long)seen[i]);
    }
    /* A claim made inside a caller's transaction still commits on its own (a rollback of the
     * caller must not give back ids the block may already have handed out). */
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    uint64_t id;
    for (int i = 0; i < 5; i++)
        TU_OK(mnemo_idblock__take(&id, db, &b1));
    TU_OK(mnemo_txn_rollback(t));
    mnemo_txn_free(t);
    mnemo_idblock b3; /* a later process */
    mnemo_idblock__init(&b3, &c, 4);
    uint64_t fresh;
    TU_OK(mnemo_idblock__take(&fresh, db, &b3));
    cr_assert_gt(fresh, id, "a new allocator starts past every id handed out (%llu <= %llu)",
                 (unsigned long long)fresh, (unsigned long long)id);
    for (int j = 0; j < 12; j++)
        cr_assert_neq(fresh, seen[j]);
    mnemo_idblock__destroy(&b1);
    mnemo_idblock__destroy(&b2);
    mnemo_idblock__destroy(&b3);
    close_db();
}
