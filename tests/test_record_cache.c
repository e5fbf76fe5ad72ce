/* The record cache must never change what a read returns: the same random operation sequences run
 * on a database with the cache on and one with it off must give identical results, and concurrent
 * writers must never leave a stale entry behind. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "testutil.h"

static mnemo_db *on, *off;
static _Atomic int64_t fake_now;
static int64_t fake_clock(void) { return atomic_load(&fake_now); }

static mnemo_db *open_with_cache(const char *name, size_t cache)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.cache_size = cache;
    mnemo_db *db;
    TU_OK(tu_open_with(&db, name, &o));
    return db;
}

static void setup(void)
{
    tu_mkdtemp();
    atomic_store(&fake_now, 1700000000000);
    mnemo__clock_override(fake_clock);
    on = open_with_cache("on", 1 << 20);
    off = open_with_cache("off", MNEMO_CACHE_OFF);
}
static void teardown(void)
{
    mnemo_close(on);
    mnemo_close(off);
    mnemo__clock_override(NULL);
    tu_cleanup();
}
TestSuite(record_cache, .init = setup, .fini = teardown);

/* One read, rendered as text so two databases can be compared. */
static void render_get(mnemo_db *db, mnemo_txn *txn, const char *id, char *out, size_t cap)
{
    mnemo_record *r;
    int rc = mnemo_record_get(&r, db, txn, id);
    if (rc) {
        snprintf(out, cap, "%s", mnemo_strerror(rc));
        return;
    }
    snprintf(out, cap, "%s|%s|%g|%lld|%lld|%lld|%s", r->id, r->content, r->importance, (long long)r->created_at,
             (long long)r->updated_at, (long long)r->expires_at, r->metadata);
    mnemo_record_free(r);
}

typedef struct op {
    int kind; /* 0 put, 1 update, 2 delete, 3 get, 4 time passes */
    int id;
    int value;
    int expires; /* put with an expiry */
} op;

static int apply(mnemo_db *db, mnemo_txn *txn, const op *o, char *out, size_t cap)
{
    char id[16];
    snprintf(id, sizeof id, "k%d", o->id);
    char content[32], meta[64];
    snprintf(content, sizeof content, "v%d", o->value);
    snprintf(meta, sizeof meta, "{\"n\": %d}", o->value);
    int rc = 0;
    switch (o->kind) {
    case 0: {
        mnemo_record r = {0};
        r.id = id;
        r.content = content;
        r.importance = o->value;
        r.metadata = meta;
        r.expires_at = o->expires ? atomic_load(&fake_now) + o->expires : 0;
        rc = mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT);
        break;
    }
    case 1: {
        mnemo_record_changes u = MNEMO_RECORD_CHANGES_INIT;
        u.fields = MNEMO_UPDATE_CONTENT | MNEMO_UPDATE_METADATA;
        u.content = content;
        u.metadata_patch = meta;
        rc = mnemo_record_update(db, txn, id, &u);
        break;
    }
    case 2: rc = mnemo_record_delete(db, txn, id); break;
    case 3: render_get(db, txn, id, out, cap); return 0;
    }
    snprintf(out, cap, "%s", mnemo_strerror(rc));
    return rc;
}

static op random_op(unsigned *seed)
{
    op o;
    int r = rand_r(seed) % 100;
    o.kind = r < 25 ? 0 : r < 40 ? 1 : r < 50 ? 2 : r < 97 ? 3 : 4;
    o.id = rand_r(seed) % 24;
    o.value = rand_r(seed) % 1000;
    o.expires = rand_r(seed) % 8 == 0 ? 1 + rand_r(seed) % 50 : 0;
    return o;
}

TU_TEST(record_cache, same_sequences_same_results)
{
    unsigned seed = 4242;
    char a[512], b[512];
    for (int step = 0; step < 3000; step++) {
        int in_txn = rand_r(&seed) % 4 == 0;
        int rollback = in_txn && rand_r(&seed) % 3 == 0;
        int n = in_txn ? 1 + rand_r(&seed) % 6 : 1;
        mnemo_txn *ta = NULL, *tb = NULL;
        if (in_txn) {
            TU_OK(mnemo_txn_begin(&ta, on, 0));
            TU_OK(mnemo_txn_begin(&tb, off, 0));
        }
        for (int i = 0; i < n; i++) {
            op o = random_op(&seed);
            if (o.kind == 4) {
                atomic_fetch_add(&fake_now, 1 + rand_r(&seed) % 20);
                continue;
            }
            apply(on, ta, &o, a, sizeof a);
            apply(off, tb, &o, b, sizeof b);
            cr_assert_str_eq(a, b, "step %d op %d kind %d k%d", step, i, o.kind, o.id);
        }
        if (in_txn) {
            if (rollback) {
                TU_OK(mnemo_txn_rollback(ta));
                TU_OK(mnemo_txn_rollback(tb));
            } else {
                TU_OK(mnemo_txn_commit(ta));
                TU_OK(mnemo_txn_commit(tb));
            }
            mnemo_txn_free(ta);
            mnemo_txn_free(tb);
        }
        if (step % 500 == 499) {
            size_t pa, pb;
            TU_OK(mnemo_record_purge_expired(on, &pa));
            TU_OK(mnemo_record_purge_expired(off, &pb));
            cr_assert_eq(pa, pb);
        }
    }
    for (int id = 0; id < 24; id++) { /* final state, read through the cache and around it */
        char k[16];
        snprintf(k, sizeof k, "k%d", id);
        render_get(on, NULL, k, a, sizeof a);
        render_get(off, NULL, k, b, sizeof b);
        cr_assert_str_eq(a, b);
    }
    mnemo_stats st = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&st, on));
    cr_assert_gt(st.cache_hits, 100, "the cache was really used (%llu hits)", (unsigned long long)st.cache_hits);
    cr_assert_leq(st.cache_bytes_used, st.cache_capacity);
    TU_OK(mnemo_stats_get(&st, off));
    cr_assert_eq(st.cache_hits + st.cache_misses + st.cache_capacity, 0);
    TU_RC(mnemo_stats_get(NULL, on), MNEMO_EINVAL);
    TU_OK(mnemo_close(on));
    TU_OK(mnemo_close(off));
    on = off = NULL;
}

/* ---- threads: writers bump per-record versions, readers read through the cache ---- */

#define IDS 16
#define WRITERS 2
#define READERS 4
#define ROUNDS 400

static atomic_int writers_done;

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    for (int round = 1; round <= ROUNDS; round++) {
        for (int k = w; k < IDS; k += WRITERS) { /* each id has one writer: versions only grow */
            char id[16], content[32];
            snprintf(id, sizeof id, "k%d", k);
            snprintf(content, sizeof content, "%d", round);
            mnemo_record r = {0};
            r.id = id;
            r.content = content;
            int rc;
            if (round % 5 == 0) { /* some rounds go through a txn, some roll back first */
                mnemo_txn *t;
                if (mnemo_txn_begin(&t, on, 0))
                    return (void *)1;
                mnemo_record_put(on, t, &r, 0);
                mnemo_txn_rollback(t);
                mnemo_txn_free(t);
            }
            if ((rc = mnemo_record_put(on, NULL, &r, 0)) != 0)
                return (void *)(intptr_t)rc;
        }
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    int seen[IDS] = {0};
    unsigned seed = 7;
    while (atomic_load(&writers_done) < WRITERS) {
        int k = rand_r(&seed) % IDS;
        char id[16];
        snprintf(id, sizeof id, "k%d", k);
        mnemo_record *r;
        int rc = mnemo_record_get(&r, on, NULL, id);
        if (rc == MNEMO_ENOTFOUND)
            continue;
        if (rc)
            return (void *)1;
        int v = atoi(r->content);
        mnemo_record_free(r);
        if (v < seen[k])
            return (void *)2; /* a read went back in time: a stale cache entry */
        seen[k] = v;
    }
    return NULL;
}

TU_TEST(record_cache, concurrent_writers_leave_no_stale_entry)
{
    pthread_t w[WRITERS], r[READERS];
    atomic_store(&writers_done, 0);
    for (int i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, NULL);
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < WRITERS; i++) {
        void *res;
        pthread_join(w[i], &res);
        cr_assert_null(res, "writer failed: %d", (int)(intptr_t)res);
    }
    for (int i = 0; i < READERS; i++) {
        void *res;
        pthread_join(r[i], &res);
        cr_assert_null(res, "reader saw %s", (intptr_t)res == 2 ? "an older version after a newer one" : "an error");
    }
    char cached[512], direct[512];
    for (int k = 0; k < IDS; k++) {
        char id[16];
        snprintf(id, sizeof id, "k%d", k);
        render_get(on, NULL, id, cached, sizeof cached);
        mnemo_txn *t; /* a transaction read bypasses the cache */
        TU_OK(mnemo_txn_begin(&t, on, MNEMO_TXN_READONLY));
        render_get(on, t, id, direct, sizeof direct);
        mnemo_txn_free(t);
        cr_assert_str_eq(cached, direct);
        cr_assert(strstr(cached, "|400|"), "final version is the last write: %s", cached);
    }
    TU_OK(mnemo_close(on));
    TU_OK(mnemo_close(off));
    on = off = NULL;
}

/* On lmdb, where other processes may commit, a cached read first checks that nobody else did
 * since. This process's own auto-commit writes (a key-value put; the vector room's heartbeat) are
 * not someone else's: after one, a cached record is still served from the cache. */
TU_TEST(record_cache, own_auto_commit_writes_keep_the_cache)
{
    mnemo_record r = {0};
    r.id = "kept";
    r.content = "in the cache";
    TU_OK(mnemo_record_put(on, NULL, &r, MNEMO_PUT_UPSERT));
    char got[256];
    render_get(on, NULL, "kept", got, sizeof got); /* fills */
    mnemo_stats before = MNEMO_STATS_INIT, after = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&before, on));
    TU_OK(mnemo_kv_put(on, NULL, "unrelated", 9, "x", 1));
    mnemo_kv_op ops[2] = {{MNEMO_KV_PUT, "a", 1, "1", 1}, {MNEMO_KV_DELETE, "b", 1, NULL, 0}};
    TU_OK(mnemo_kv_batch(on, NULL, ops, 2));
    render_get(on, NULL, "kept", got, sizeof got);
    cr_assert(strstr(got, "in the cache"), "%s", got);
    TU_OK(mnemo_stats_get(&after, on));
    cr_assert_eq(after.cache_hits, before.cache_hits + 1, "the get after own writes was not a cache hit (%llu -> %llu)",
                 (unsigned long long)before.cache_hits, (unsigned long long)after.cache_hits);
}
