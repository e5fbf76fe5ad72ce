/* Records benchmark: put / get / update, find with an indexed and a non-indexed predicate, and get
 * through a warm cache against RocksDB's own get of the same key. One JSON line per result.
 *
 *   bench_record [--engine rocksdb|lmdb|memory] [--n N] [--quick] [--reps R]
 *
 * --engine: the engine of mnemo's databases (default rocksdb). The peer of the warm-cache get is
 * that engine's own get of the same key (RocksDB's C API, LMDB's C API) on the closed directory;
 * a memory database cannot be reopened, so there the warm-cache line and the peer are left out.
 *
 * Data: N records "rec%08u" with ~120 bytes of content and metadata
 * {"topic": "t<i % 100>", "score": <i % 1000>, "lang": "en"}; "topic" = one value selects 1%. */
#include <mnemo/mnemo.h>
#include <lmdb.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static size_t n_records = 100000;
static int reps = 3;

#define CHECK(call)                                                                                         \
    do {                                                                                                    \
        int rc_ = (call);                                                                                   \
        if (rc_ < 0)                                                                                        \
            bu_die("%s: %s (%s)", #call, mnemo_strerror(rc_), mnemo_errmsg());                              \
    } while (0)

static void make_id(char *buf, size_t i) { snprintf(buf, 16, "rec%08zu", i); }

static void make_record(mnemo_record *r, char *id, char *meta, size_t i)
{
    static const char content[] = "the agent noted that the user asked about compilers, memory models "
                                  "and why their build got slower after the upgrade";
    make_id(id, i);
    snprintf(meta, 96, "{\"topic\": \"t%zu\", \"score\": %zu, \"lang\": \"en\"}", i % 100, i % 1000);
    memset(r, 0, sizeof *r);
    r->id = id;
    r->content = content;
    r->importance = (double)(i % 10) / 10.0;
    r->metadata = meta;
}

static mnemo_db *open_db(const char *path, size_t cache)
{
    mnemo_options o;
    bu_create_options(&o);
    o.cache_size = cache;
    mnemo_db *db;
    CHECK(mnemo_open(&db, bu_db_path(path), &o));
    return db;
}

static size_t *random_order(size_t n)
{
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx)
        bu_die("out of memory");
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = bu_rand() % (i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    return idx;
}

static void emit(const char *op, double mnemo_ops, const char *base_name, double base_ops, const char *goal,
                 int meets)
{
    printf("{\"bench\":\"record\",\"engine\":\"%s\",\"op\":\"%s\",\"n\":%zu,\"reps\":%d,\"mnemo_ops_s\":%.1f",
           bu_engine, op, n_records, reps, mnemo_ops);
    if (base_name)
        printf(",\"baseline\":\"%s\",\"baseline_ops_s\":%.1f,\"ratio\":%.3f", base_name, base_ops,
               base_ops > 0 ? mnemo_ops / base_ops : 0.0);
    if (goal)
        printf(",\"goal\":\"%s\",\"meets_goal\":%s", goal, meets ? "true" : "false");
    printf("}\n");
    fflush(stdout);
}

/* ---- loads ---- */

static double load_autocommit(mnemo_db *db)
{
    char id[16], meta[96];
    mnemo_record r;
    size_t *order = random_order(n_records);
    double t0 = bu_now_s();
    for (size_t k = 0; k < n_records; k++) {
        make_record(&r, id, meta, order[k]);
        CHECK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    }
    double dt = bu_now_s() - t0;
    free(order);
    return (double)n_records / dt;
}

static double load_batched(mnemo_db *db)
{
    char id[16], meta[96];
    mnemo_record r;
    double t0 = bu_now_s();
    for (size_t k = 0; k < n_records; k += 1000) {
        mnemo_txn *t;
        CHECK(mnemo_txn_begin(&t, db, 0));
        for (size_t i = k; i < k + 1000 && i < n_records; i++) {
            make_record(&r, id, meta, i);
            CHECK(mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT));
        }
        CHECK(mnemo_txn_commit(t));
        mnemo_txn_free(t);
    }
    return (double)n_records / (bu_now_s() - t0);
}

static double gets(mnemo_db *db, const size_t *order, size_t n)
{
    char id[16];
    double t0 = bu_now_s();
    for (size_t k = 0; k < n; k++) {
        make_id(id, order[k]);
        mnemo_record *r;
        CHECK(mnemo_record_get(&r, db, NULL, id));
        mnemo_record_free(r);
    }
    return (double)n / (bu_now_s() - t0);
}

static double updates(mnemo_db *db, const size_t *order, size_t n)
{
    char id[16];
    mnemo_record_changes u = MNEMO_RECORD_CHANGES_INIT;
    u.fields = MNEMO_UPDATE_IMPORTANCE;
    double t0 = bu_now_s();
    for (size_t k = 0; k < n; k++) {
        make_id(id, order[k]);
        u.importance = (double)k;
        CHECK(mnemo_record_update(db, NULL, id, &u));
    }
    return (double)n / (bu_now_s() - t0);
}

static double finds(mnemo_db *db, const char *fmt, int queries, size_t expect)
{
    char filter[128];
    double t0 = bu_now_s();
    for (int q = 0; q < queries; q++) {
        snprintf(filter, sizeof filter, fmt, (unsigned)(bu_rand() % 100));
        mnemo_record_page *page;
        CHECK(mnemo_record_find(&page, db, NULL, filter, NULL));
        if (page->count != expect)
            bu_die("find %s returned %zu records, expected %zu", filter, page->count, expect);
        mnemo_record_page_free(page);
    }
    return queries / (bu_now_s() - t0);
}

/* RocksDB's own get of the same keys: the closed mnemo directory opened with the C API. */
static double rocksdb_gets(const char *path, const size_t *order, size_t n)
{
    const char *names[] = {"default", "records", "graph_forward", "graph_backward",
                           "vector_data", "vector_index", "metadata", "text_index"};
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_cache_t *cache = rocksdb_cache_create_lru(64u << 20);
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_options_set_block_based_table_factory(o, t);
    const rocksdb_options_t *cfo[8];
    rocksdb_column_family_handle_t *h[8];
    for (int i = 0; i < 8; i++)
        cfo[i] = o;
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, path, 8, names, cfo, h, &err);
    if (err)
        bu_die("rocksdb open: %s", err);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char id[16];
    for (int pass = 0; pass < 2; pass++) { /* first pass warms the block cache, like the mnemo cache */
        double t0 = bu_now_s();
        for (size_t k = 0; k < n; k++) {
            make_id(id, order[k]);
            rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(db, ro, h[1], id, strlen(id), &err);
            if (err || !ps)
                bu_die("rocksdb get %s failed", id);
            size_t vl;
            const char *v = rocksdb_pinnableslice_value(ps, &vl);
            char *copy = malloc(vl); /* a user keeps the value, as mnemo_record_get hands one out */
            memcpy(copy, v, vl);
            free(copy);
            rocksdb_pinnableslice_destroy(ps);
        }
        if (pass == 1) {
            double ops = (double)n / (bu_now_s() - t0);
            rocksdb_readoptions_destroy(ro);
            for (int i = 0; i < 8; i++)
                rocksdb_column_family_handle_destroy(h[i]);
            rocksdb_close(db);
            rocksdb_options_destroy(o);
            rocksdb_block_based_options_destroy(t);
            rocksdb_cache_destroy(cache);
            return ops;
        }
    }
    return 0;
}

/* LMDB's own get of the same keys: the closed mnemo directory opened with the C API, as
 * src/store/lmdb opens it; one read transaction reset and renewed per get, the value copied. */
static void lm_check(int rc, const char *what)
{
    if (rc)
        bu_die("lmdb %s: %s", what, mdb_strerror(rc));
}

static double lmdb_gets(const char *path, const size_t *order, size_t n)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *t;
    lm_check(mdb_env_create(&env), "env_create");
    lm_check(mdb_env_set_maxdbs(env, 16), "set_maxdbs");
    lm_check(mdb_env_open(env, path, MDB_NOTLS | MDB_RDONLY, 0644), "env_open");
    lm_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), "txn_begin");
    lm_check(mdb_dbi_open(t, "records", 0, &dbi), "dbi_open records");
    lm_check(mdb_txn_commit(t), "txn_commit"); /* keeps the handle for later transactions */
    lm_check(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), "txn_begin");
    char id[16];
    double ops = 0;
    for (int pass = 0; pass < 2; pass++) { /* first pass warms the page cache */
        double t0 = bu_now_s();
        for (size_t k = 0; k < n; k++) {
            make_id(id, order[k]);
            mdb_txn_reset(t);
            lm_check(mdb_txn_renew(t), "txn_renew");
            MDB_val key = {strlen(id), id}, v;
            lm_check(mdb_get(t, dbi, &key, &v), id);
            char *copy = malloc(v.mv_size); /* a user keeps the value, as mnemo_record_get hands one out */
            memcpy(copy, v.mv_data, v.mv_size);
            free(copy);
        }
        ops = (double)n / (bu_now_s() - t0);
    }
    mdb_txn_abort(t);
    mdb_env_close(env);
    return ops;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            n_records = 5000;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n_records = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
            bu_set_engine(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_record [--engine rocksdb|lmdb|memory] [--n N] [--quick] [--reps R]\n");
            return 2;
        }
    }
    if (n_records < 1000 || reps < 1)
        bu_die("--n must be at least 1000 and --reps at least 1");
    double v_put[16], v_batch[16], v_get[16], v_upd[16], v_scan[16], v_idx[16], v_noidx[16], v_cached[16],
        v_rocks[16];
    if (reps > 16)
        reps = 16;
    size_t one_pct = n_records / 100;
    int mem = !strcmp(bu_engine, "memory"), lm = !strcmp(bu_engine, "lmdb");
    const char *peer = lm ? "lmdb_get_same_key" : "rocksdb_get_same_key";
    for (int rep = 0; rep < reps; rep++) {
        char path[640], path2[640];
        bu_run_dir(path, sizeof path, "auto");
        bu_run_dir(path2, sizeof path2, "batch");
        mnemo_db *db = open_db(path, 0);
        v_put[rep] = load_autocommit(db);
        mnemo_db *db2 = open_db(path2, 0);
        v_batch[rep] = load_batched(db2);
        CHECK(mnemo_close(db2));
        bu_rm_tree(path2);
        CHECK(mnemo_flush(db));
        size_t *order = random_order(n_records);
        v_get[rep] = gets(db, order, n_records);
        v_upd[rep] = updates(db, order, n_records / 2);
        int queries = n_records >= 50000 ? 20 : 50;
        /* the same 1% equality filter, first scanning every record, then through the index */
        v_scan[rep] = finds(db, "{\"topic\": \"t%u\"}", queries, one_pct);
        v_noidx[rep] = finds(db, "{\"score\": {\"$gte\": 990}, \"lang\": \"en\"}", queries, one_pct);
        CHECK(mnemo_record_index_create(db, "topic"));
        v_idx[rep] = finds(db, "{\"topic\": \"t%u\"}", queries * 20, one_pct);
        CHECK(mnemo_close(db));
        if (mem) { /* nothing to reopen */
            v_cached[rep] = v_rocks[rep] = 0;
            free(order);
            fprintf(stderr, "rep %d/%d done\n", rep + 1, reps);
            continue;
        }
        /* warm cache: capacity for every record, one pass to fill, then the timed pass */
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.cache_size = 256u << 20;
        o.engine = bu_engine;
        CHECK(mnemo_open(&db, path, &o));
        gets(db, order, n_records);
        v_cached[rep] = gets(db, order, n_records);
        mnemo_stats st = MNEMO_STATS_INIT;
        CHECK(mnemo_stats_get(&st, db));
        if (st.cache_hits < n_records)
            bu_die("warm pass had only %llu cache hits", (unsigned long long)st.cache_hits);
        CHECK(mnemo_close(db));
        v_rocks[rep] = lm ? lmdb_gets(path, order, n_records) : rocksdb_gets(path, order, n_records);
        free(order);
        bu_rm_tree(path);
        fprintf(stderr, "rep %d/%d done\n", rep + 1, reps);
    }
    double put = bu_median(v_put, reps), batch = bu_median(v_batch, reps), get = bu_median(v_get, reps),
           upd = bu_median(v_upd, reps), scan = bu_median(v_scan, reps), noidx = bu_median(v_noidx, reps),
           idx = bu_median(v_idx, reps), cached = bu_median(v_cached, reps), rocks = bu_median(v_rocks, reps);
    emit("put_autocommit", put, NULL, 0, NULL, 0);
    emit("put_batch_txn_1000", batch, NULL, 0, NULL, 0);
    emit("get_first_pass", get, mem ? NULL : peer, rocks, NULL, 0);
    emit("update_importance", upd, NULL, 0, NULL, 0);
    emit("find_eq_1pct_noindex", noidx, NULL, 0, NULL, 0);
    emit("find_eq_1pct_indexed", idx, "find_same_filter_full_scan", scan, ">=20", idx >= 20 * scan);
    if (!mem)
        emit("get_warm_cache", cached, peer, rocks, ">=2", cached >= 2 * rocks);
    return 0;
}
