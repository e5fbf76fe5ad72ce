/* Vector benchmark: mnemo's index against hnswlib used directly (same M, ef_construction, ef and
 * threads) and exact search against a plain cblas_sgemm loop, in the same run. One JSON line per
 * result.
 *
 *   bench_vector [--engine rocksdb|lmdb|memory] [--quick] [--reps R] [--data DIR] [--n N]
 *                [--churn-rounds R (0: none)] [--only SET] [--int8-only] [--write-fvecs DIR]
 *
 * --engine: the engine of mnemo's databases (default rocksdb). A memory database cannot be
 * reopened, so there the reopen-vs-rebuild line is left out.
 *
 * SET latency (bench_vector_latency.c): commit and search latency of 64-d single-vector commits
 * under churn with rebuilds, against hnswlib's single insert (N vectors, default 100,000).
 *
 * Sets: siftsmall (data/siftsmall: 10,000 x 128 base, 100 queries, shipped ground truth), and a
 * generated clustered set of N x 128 (default 100,000; fixed seed; 100 queries from the same
 * distribution; ground truth from the plain sgemm brute force). Lines: build time, recall@10 and
 * single-thread queries/s at ef 10/16/32/64/128, index memory, filtered recall at selectivities
 * 0.1%..100% (records carry {"b": i % 1000}) against hnswlib + post-filter, churn (R rounds of
 * inserting the first 10k vectors as new records and deleting them; default 100, --quick 2),
 * exact search, reopen vs rebuild; and the int8 quantized space against the float one on the same
 * data (recall@10 and queries/s at ef 16..128, index memory), alone with --int8-only. Every line
 * says the configuration it measures in "options" ("default": what a user gets without tuning).
 * --write-fvecs DIR --only clustered writes the generated set (and its ground truth, 10 per query)
 * as fvecs/ivecs for the peers (benches/peers/run_sq8_peers.sh) and measures nothing. */
#include <cblas.h>
#include <math.h>
#include <lmdb.h>
#include <mnemo/mnemo.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "hnsw_direct.h"

void bench_vector_latency(int quick, size_t n); /* bench_vector_latency.c */

#define DIM 128
#define K 10
#define M_LINKS 16
#define EF_CONSTRUCTION 200

static int reps = 3, quick = 0;
static const char *data_dir = BENCH_VECTOR_DATA;
static size_t n_generated = 100000;
static const char *only; /* one set, or both */
static int int8_only;     /* --int8-only: per set, only the int8-against-float comparison */
static const char *write_dir; /* --write-fvecs DIR: write the clustered set for the peers, and stop */
static const char *options_now = "default"; /* the configuration a line measures */

#define CHECK BU_CHECK

typedef struct set {
    const char *name;
    float *base, *queries;
    size_t n, nq;
    uint32_t *gt; /* nq x K */
} set;

/* ---- data ---- */

static float *read_fvecs(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        bu_die("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    *n = (size_t)size / (4 + DIM * 4);
    float *v = malloc(*n * DIM * sizeof *v);
    for (size_t i = 0; i < *n; i++) {
        int32_t d;
        if (fread(&d, 4, 1, f) != 1 || d != DIM || fread(v + i * DIM, 4, DIM, f) != DIM)
            bu_die("%s: bad record %zu", path, i);
    }
    fclose(f);
    return v;
}

static void load_sift(set *s)
{
    char path[1024];
    s->name = "siftsmall";
    snprintf(path, sizeof path, "%s/siftsmall_base.fvecs", data_dir);
    s->base = read_fvecs(path, &s->n);
    snprintf(path, sizeof path, "%s/siftsmall_query.fvecs", data_dir);
    s->queries = read_fvecs(path, &s->nq);
    snprintf(path, sizeof path, "%s/siftsmall_groundtruth.ivecs", data_dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        bu_die("cannot open %s", path);
    s->gt = malloc(s->nq * K * sizeof *s->gt);
    for (size_t q = 0; q < s->nq; q++) {
        int32_t d, row[100];
        if (fread(&d, 4, 1, f) != 1 || d != 100 || fread(row, 4, 100, f) != 100)
            bu_die("%s: bad record %zu", path, q);
        for (size_t j = 0; j < K; j++)
            s->gt[q * K + j] = (uint32_t)row[j];
    }
    fclose(f);
    if (quick) { /* a slice; its ground truth is recomputed below */
        s->n = 2000;
        s->nq = 10;
        free(s->gt);
        s->gt = NULL;
    }
}

static double gauss(void)
{
    double u = ((double)(bu_rand() >> 11) + 1) / 9007199254740993.0, v = (double)(bu_rand() >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void make_clustered(set *s, size_t n)
{
    enum { CLUSTERS = 100 };
    bu_seed(20261121);
    s->name = "clustered";
    s->n = n;
    s->nq = quick ? 10 : 100;
    float *centers = malloc(CLUSTERS * DIM * sizeof *centers);
    for (size_t i = 0; i < CLUSTERS * DIM; i++)
        centers[i] = (float)(gauss() * 10);
    s->base = malloc(n * DIM * sizeof *s->base);
    s->queries = malloc(s->nq * DIM * sizeof *s->queries);
    for (size_t i = 0; i < n + s->nq; i++) {
        float *row = i < n ? s->base + i * DIM : s->queries + (i - n) * DIM;
        const float *c = centers + (bu_rand() % CLUSTERS) * DIM;
        for (size_t d = 0; d < DIM; d++)
            row[d] = c[d] + (float)gauss();
    }
    free(centers);
    s->gt = NULL;
}

/* The set as fvecs/ivecs files (DIR/clustered_base.fvecs, _query.fvecs, _groundtruth.ivecs), so
 * the peers harness (benches/peers) measures the same vectors. */
static void write_vecs(const char *dir, const char *suffix, const void *rows, size_t n, int dim)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/clustered_%s", dir, suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        bu_die("cannot write %s", path);
    for (size_t i = 0; i < n; i++)
        if (fwrite(&dim, 4, 1, f) != 1 || fwrite((const char *)rows + i * dim * 4, 4, (size_t)dim, f) != (size_t)dim)
            bu_die("cannot write %s", path);
    fclose(f);
}

/* ---- the plain sgemm loop: brute force over a contiguous matrix ---- */

static void plain_exact(const set *s, const float *queries, size_t nq, uint32_t *out)
{
    enum { BLOCK = 2048 };
    float *dots = malloc(nq * BLOCK * sizeof *dots), *norms = malloc(s->n * sizeof *norms);
    float *best = malloc(nq * K * sizeof *best);
    for (size_t i = 0; i < s->n; i++)
        norms[i] = cblas_sdot(DIM, s->base + i * DIM, 1, s->base + i * DIM, 1);
    for (size_t i = 0; i < nq * K; i++)
        best[i] = INFINITY;
    for (size_t r0 = 0; r0 < s->n; r0 += BLOCK) {
        size_t nb = s->n - r0 < BLOCK ? s->n - r0 : BLOCK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, DIM, 1.0f, queries, DIM,
                    s->base + r0 * DIM, DIM, 0.0f, dots, (int)nb);
        for (size_t q = 0; q < nq; q++) {
            float *b = best + q * K;
            uint32_t *o = out + q * K;
            for (size_t j = 0; j < nb; j++) {
                float d = norms[r0 + j] - 2 * dots[q * nb + j];
                if (d >= b[K - 1])
                    continue;
                size_t p = K - 1;
                while (p > 0 && b[p - 1] > d) {
                    b[p] = b[p - 1];
                    o[p] = o[p - 1];
                    p--;
                }
                b[p] = d;
                o[p] = (uint32_t)(r0 + j);
            }
        }
    }
    free(dots);
    free(norms);
    free(best);
}

/* ---- output ---- */

static void line(const set *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const set *s, const char *fmt, ...)
{
    printf("{\"bench\":\"vector\",\"engine\":\"%s\",\"set\":\"%s\",\"n\":%zu,\"dim\":%d,\"M\":%d,\"ef_construction\":%d,"
           "\"reps\":%d,\"options\":\"%s\",",
           bu_engine, s->name, s->n, DIM, M_LINKS, EF_CONSTRUCTION, reps, options_now);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("}\n");
    fflush(stdout);
}

static double recall_of(const uint64_t *labels, size_t n, const uint32_t *gt)
{
    size_t hit = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < K; j++)
            hit += labels[i] == gt[j];
    return (double)hit / K;
}

static int threads(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > 8 ? 8 : (int)c;
}

static void lm_check(int rc, const char *what)
{
    if (rc)
        bu_die("lmdb %s: %s", what, mdb_strerror(rc));
}

/* The same with LMDB directly (the key "H" is short: stored as it is, storage-lmdb.md). */
static void drop_snapshot_header_lmdb(const char *path)
{
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    lm_check(mdb_env_create(&env), "env_create");
    lm_check(mdb_env_set_maxdbs(env, 16), "set_maxdbs");
    lm_check(mdb_env_open(env, path, MDB_NOTLS, 0644), "env_open");
    lm_check(mdb_txn_begin(env, NULL, 0, &t), "txn_begin");
    lm_check(mdb_dbi_open(t, "vector_index", 0, &dbi), "dbi_open vector_index");
    MDB_val k = {1, "H"};
    lm_check(mdb_del(t, dbi, &k, NULL), "del H");
    lm_check(mdb_txn_commit(t), "txn_commit");
    mdb_env_close(env);
}

/* Deletes the snapshot header with the engine directly, so the next open must rebuild. */
static void drop_snapshot_header(const char *path)
{
    if (!strcmp(bu_engine, "lmdb")) {
        drop_snapshot_header_lmdb(path);
        return;
    }
    const char *names[8] = {"default", "records", "graph_forward", "graph_backward", "vector_data", "vector_index",
                            "metadata", "text_index"};
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *cfo[8] = {o, o, o, o, o, o, o, o};
    rocksdb_column_family_handle_t *cf[8];
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_column_families(o, path, 8, names, cfo, cf, &err);
    if (err)
        bu_die("raw open: %s", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_delete_cf(db, wo, cf[5], "H", 1, &err);
    if (err)
        bu_die("raw delete: %s", err);
    rocksdb_writeoptions_destroy(wo);
    for (int i = 0; i < 8; i++)
        rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
}

static mnemo_db *open_space_q(const char *path, mnemo_quantization quant)
{
    mnemo_options o;
    bu_create_options(&o);
    o.vector_quantization = quant;
    o.vector_dim = DIM;
    o.hnsw_m = M_LINKS;
    o.hnsw_ef_construction = EF_CONSTRUCTION;
    mnemo_db *db;
    CHECK(mnemo_open(&db, bu_db_path(path), &o));
    return db;
}

static mnemo_db *open_space(const char *path) { return open_space_q(path, MNEMO_QUANT_DEFAULT); }

/* ---- the int8 quantized space against the float one (same data, M, ef_construction, ef) ---- */

/* recall@10 over the queries and the seconds of one pass over them (median of reps; the two
 * databases timed in alternating order by the caller). */
static double recall_pass(const set *s, mnemo_db *db, const mnemo_vector_search_options *so)
{
    double r = 0;
    uint64_t labels[K];
    for (size_t q = 0; q < s->nq; q++) {
        mnemo_vector_hits *h;
        CHECK(mnemo_vector_search(&h, db, NULL, s->queries + q * DIM, DIM, K, so));
        for (size_t i = 0; i < h->count; i++)
            labels[i] = strtoull(h->hits[i].id, NULL, 10);
        r += recall_of(labels, h->count, s->gt + q * K);
        mnemo_vector_hits_free(h);
    }
    return r / s->nq;
}

static double timed_pass(const set *s, mnemo_db *db, const mnemo_vector_search_options *so)
{
    double t0 = bu_now_s();
    for (int pass = 0; pass < 5; pass++)
        for (size_t q = 0; q < s->nq; q++) {
            mnemo_vector_hits *h;
            CHECK(mnemo_vector_search(&h, db, NULL, s->queries + q * DIM, DIM, K, so));
            mnemo_vector_hits_free(h);
        }
    return (bu_now_s() - t0) / 5;
}

static void int8_vs_float(const set *s, mnemo_db *fdb, char **ids)
{
    char path[1024];
    bu_run_dir(path, sizeof path, "int8");
    mnemo_db *db = open_space_q(path, MNEMO_QUANT_INT8);
    mnemo_txn *t;
    CHECK(mnemo_txn_begin(&t, db, 0));
    for (size_t i = 0; i < s->n; i++) {
        mnemo_record r = {0};
        r.id = ids[i];
        CHECK(mnemo_record_put(db, t, &r, MNEMO_PUT_INSERT));
    }
    CHECK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    double t0 = bu_now_s();
    CHECK(mnemo_vector_put_batch(db, NULL, (const char *const *)ids, s->base, s->n, DIM));
    double build = bu_now_s() - t0;
    options_now = "quantization=int8";
    line(s, "\"op\":\"build_int8\",\"threads\":%d,\"int8_s\":%.3f", threads(), build);
    static const size_t efs[] = {16, 32, 64, 128};
    for (size_t e = 0; e < sizeof efs / sizeof *efs; e++) {
        mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
        so.ef = (uint32_t)efs[e];
        double ti[16], tf[16];
        for (int r = 0; r < reps; r++)
            for (int side = 0; side < 2; side++) {
                int int8_turn = side == (r & 1);
                (int8_turn ? ti : tf)[r] = timed_pass(s, int8_turn ? db : fdb, &so);
            }
        double ri = recall_pass(s, db, &so), rf = recall_pass(s, fdb, &so);
        double qi = (double)s->nq / bu_median(ti, reps), qf = (double)s->nq / bu_median(tf, reps);
        line(s, "\"op\":\"search_int8\",\"ef\":%zu,\"k\":%d,\"queries\":%zu,\"recall\":%.4f,\"float_recall\":%.4f,"
                "\"int8_qps\":%.1f,\"float_qps\":%.1f,\"ratio\":%.3f,\"goal\":\"%s\",\"meets_goal\":%s",
             efs[e], K, s->nq, ri, rf, qi, qf, qi / qf,
             efs[e] == 64 ? "qps >= 1x the float index; recall@10 >= 0.98" : "qps >= 1x the float index",
             qi / qf >= 1 && (efs[e] != 64 || ri >= 0.98) ? "true" : "false");
    }
    mnemo_vector_stats si = MNEMO_VECTOR_STATS_INIT, sf = MNEMO_VECTOR_STATS_INIT;
    CHECK(mnemo_vector_stats_get(&si, db));
    CHECK(mnemo_vector_stats_get(&sf, fdb));
    line(s, "\"op\":\"memory_int8\",\"int8_index_bytes\":%llu,\"float_index_bytes\":%llu,\"ratio\":%.3f,"
            "\"goal\":\"int8 index memory <= 0.35x the float index\",\"meets_goal\":%s",
         (unsigned long long)si.index_bytes, (unsigned long long)sf.index_bytes,
         (double)si.index_bytes / (double)sf.index_bytes,
         (double)si.index_bytes / (double)sf.index_bytes <= 0.35 ? "true" : "false");
    options_now = "default";
    CHECK(mnemo_close(db));
    bu_rm_tree(path);
}

/* ---- filtered search: recall at each selectivity, against hnswlib + post-filter ---- */

static size_t sel_limit;
static int keep_bucket(const set *s, size_t i) { (void)s; return i % 1000 < sel_limit; }

/* Exact top K among rows that pass keep (brute force; the ground truth of filtered queries). */
static size_t filtered_truth(const set *s, const float *q, uint32_t *out)
{
    float best[K];
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!keep_bucket(s, i))
            continue;
        float d = 0;
        for (size_t j = 0; j < DIM; j++)
            d += (s->base[i * DIM + j] - q[j]) * (s->base[i * DIM + j] - q[j]);
        if (m == K && d >= best[K - 1])
            continue;
        size_t p = m < K ? m++ : K - 1;
        while (p > 0 && best[p - 1] > d) {
            best[p] = best[p - 1];
            out[p] = out[p - 1];
            p--;
        }
        best[p] = d;
        out[p] = (uint32_t)i;
    }
    return m;
}

/* Times the filtered searches of every query that has K passing rows (filter NULL: unfiltered;
 * distinct: each query's filter text made unique with a condition no record has, so no filter
 * answer is reused from one query to the next). Returns the seconds; recall sums into *r. */
static double filtered_pass(const set *s, mnemo_db *db, const char *filter, int distinct, double *r, double *first)
{
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    double t = 0;
    *r = 0;
    for (size_t q = 0; q < s->nq; q++) {
        uint32_t gt[K];
        if (filtered_truth(s, s->queries + q * DIM, gt) < K)
            continue;
        char f[96];
        if (filter && distinct)
            snprintf(f, sizeof f, "{\"$and\": [%s, {\"q\": {\"$ne\": %zu}}]}", filter, q);
        so.filter = !filter ? NULL : distinct ? f : filter;
        double t0 = bu_now_s();
        mnemo_vector_hits *h;
        CHECK(mnemo_vector_search(&h, db, NULL, s->queries + q * DIM, DIM, K, &so));
        double dt = bu_now_s() - t0;
        if (first && *first < 0)
            *first = dt;
        t += dt;
        uint64_t labels[K];
        for (size_t i = 0; i < h->count; i++)
            labels[i] = strtoull(h->hits[i].id, NULL, 10);
        *r += recall_of(labels, h->count, gt);
        mnemo_vector_hits_free(h);
    }
    return t;
}

static void filtered(const set *s, mnemo_db *db, hd_index *hd)
{
    static const double selectivity[] = {0.001, 0.01, 0.1, 0.5, 1.0};
    /* first with no index on "b", then with one; the filter answered from the records' metadata
     * mirror (src/vector/meta.c), its bitset kept between queries of the same filter text, and
     * with a distinct filter text per query (the bitset made anew each query) */
    for (int indexed = 0; indexed < 2; indexed++) {
    if (indexed)
        CHECK(mnemo_record_index_create(db, "b"));
    for (size_t e = 0; e < sizeof selectivity / sizeof *selectivity; e++) {
        sel_limit = (size_t)(selectivity[e] * 1000 + 0.5);
        char filter[48];
        snprintf(filter, sizeof filter, "{\"b\": {\"$lt\": %zu}}", sel_limit);
        double rp = 0, rm = 0, rd = 0, ru = 0, first = -1, tm[16], td[16], tu[16];
        size_t counted = 0;
        for (size_t q = 0; q < s->nq; q++) {
            uint32_t gt[K];
            if (filtered_truth(s, s->queries + q * DIM, gt) < K)
                continue;
            counted++;
            /* the peer's way: hnswlib top K at ef 64, then drop what fails the filter */
            uint64_t all[K], kept_l[K];
            size_t n = hd_search(hd, s->queries + q * DIM, K, 64, all), kept = 0;
            for (size_t i = 0; i < n; i++)
                if (keep_bucket(s, all[i]))
                    kept_l[kept++] = all[i];
            rp += recall_of(kept_l, kept, gt);
        }
        if (!counted)
            continue;
        for (int r = 0; r < reps; r++) {
            tm[r] = filtered_pass(s, db, filter, 0, &rm, r ? NULL : &first);
            td[r] = filtered_pass(s, db, filter, 1, &rd, NULL);
            tu[r] = filtered_pass(s, db, NULL, 0, &ru, NULL);
        }
        double qm = counted / bu_median(tm, reps), qd = counted / bu_median(td, reps),
               qu = counted / bu_median(tu, reps);
        int ok = rm / counted >= 0.95 && rd / counted >= 0.95 && qm >= 0.5 * qu && qd >= 0.5 * qu;
        line(s, "\"op\":\"filtered\",\"options\":\"default\",\"ef\":64,\"indexed\":%s,\"selectivity\":%.3f,"
                "\"queries\":%zu,\"recall\":%.4f,\"distinct_recall\":%.4f,\"postfilter_recall\":%.4f,\"mnemo_qps\":%.1f,"
                "\"distinct_filter_qps\":%.1f,\"unfiltered_qps\":%.1f,\"ratio\":%.3f,\"distinct_ratio\":%.3f,"
                "\"first_query_ms\":%.2f,\"goal\":\"recall@10 >= 0.95, qps >= 0.5x unfiltered at the same ef\","
                "\"meets_goal\":%s",
             indexed ? "true" : "false", selectivity[e], counted, rm / counted, rd / counted, rp / counted, qm, qd, qu,
             qm / qu, qd / qu, first * 1e3, ok ? "true" : "false");
    }
    }
    CHECK(mnemo_record_index_drop(db, "b"));
}

/* ---- churn: the same vectors inserted (as new records) and deleted, round after round ---- */

static int churn_rounds = 100;

static void churn(const set *s)
{
    char path[1024];
    bu_run_dir(path, sizeof path, "churn");
    mnemo_db *db = open_space(path);
    size_t n = s->n < 10000 ? s->n : 10000;
    char **ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = malloc(32);
    double first_recall = 0, last_recall = 0;
    uint64_t first_bytes = 0, last_bytes = 0, max_bytes = 0;
    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    double t0 = bu_now_s();
    for (int round = 0; round < churn_rounds; round++) {
        mnemo_txn *t;
        CHECK(mnemo_txn_begin(&t, db, 0));
        for (size_t i = 0; i < n; i++) {
            snprintf(ids[i], 32, "c%d_%zu", round, i);
            mnemo_record r = {0};
            r.id = ids[i];
            CHECK(mnemo_record_put(db, t, &r, MNEMO_PUT_INSERT));
        }
        CHECK(mnemo_txn_commit(t));
        mnemo_txn_free(t);
        CHECK(mnemo_vector_put_batch(db, NULL, (const char *const *)ids, s->base, n, DIM));
        /* recall of the churned copies: each query's true neighbours among the first n rows */
        mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
        so.filter = NULL;
        double r = 0;
        size_t nq = s->nq < 20 ? s->nq : 20;
        for (size_t q = 0; q < nq; q++) {
            sel_limit = 1000;
            uint32_t gt[K];
            set sub = *s;
            sub.n = n;
            filtered_truth(&sub, s->queries + q * DIM, gt);
            mnemo_vector_hits *h;
            CHECK(mnemo_vector_search(&h, db, NULL, s->queries + q * DIM, DIM, K, &so));
            uint64_t labels[K];
            size_t got = 0;
            for (size_t i = 0; i < h->count; i++) {
                const char *us = strchr(h->hits[i].id, '_');
                if (us && atoi(h->hits[i].id + 1) == round)
                    labels[got++] = strtoull(us + 1, NULL, 10);
            }
            r += recall_of(labels, got, gt);
            mnemo_vector_hits_free(h);
        }
        CHECK(mnemo_vector_stats_get(&st, db));
        if (round == 0) {
            first_recall = r / nq;
            first_bytes = st.index_bytes;
        }
        last_recall = r / nq;
        last_bytes = st.index_bytes;
        if (st.index_bytes > max_bytes)
            max_bytes = st.index_bytes;
        CHECK(mnemo_txn_begin(&t, db, 0));
        for (size_t i = 0; i < n; i++)
            CHECK(mnemo_record_delete(db, t, ids[i]));
        CHECK(mnemo_txn_commit(t));
        mnemo_txn_free(t);
    }
    CHECK(mnemo_vector_stats_get(&st, db));
    line(s, "\"op\":\"churn\",\"rounds\":%d,\"vectors_per_round\":%zu,\"seconds\":%.1f,\"recall_first\":%.4f,"
            "\"recall_last\":%.4f,\"index_bytes_first\":%llu,\"index_bytes_last\":%llu,\"index_bytes_max\":%llu,"
            "\"rebuilds\":%llu,\"goal\":\"memory and recall@10 after the last round where they were after the first\","
            "\"meets_goal\":%s",
         churn_rounds, n, bu_now_s() - t0, first_recall, last_recall, (unsigned long long)first_bytes,
         (unsigned long long)last_bytes, (unsigned long long)max_bytes, (unsigned long long)st.rebuilds,
         last_recall >= first_recall - 0.01 && last_bytes <= first_bytes * 1.1 ? "true" : "false");
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    CHECK(mnemo_close(db));
    bu_rm_tree(path);
}

/* ---- one set ---- */

/* Frees what run_set made for s and removes its database directory. */
static void set_done(set *s, hd_index *hd, char **ids, const char *path)
{
    hd_free(hd);
    for (size_t i = 0; i < s->n; i++)
        free(ids[i]);
    free(ids);
    free(s->base);
    free(s->queries);
    free(s->gt);
    bu_rm_tree(path);
}

static void run_set(set *s)
{
    int mem = !strcmp(bu_engine, "memory"); /* nothing to reopen */
    if (!s->gt) { /* exact ground truth from the plain brute force */
        s->gt = malloc(s->nq * K * sizeof *s->gt);
        plain_exact(s, s->queries, s->nq, s->gt);
    }
    if (write_dir) {
        write_vecs(write_dir, "base.fvecs", s->base, s->n, DIM);
        write_vecs(write_dir, "query.fvecs", s->queries, s->nq, DIM);
        write_vecs(write_dir, "groundtruth.ivecs", s->gt, s->nq, K);
        return;
    }
    char path[1024];
    bu_run_dir(path, sizeof path, s->name);
    mnemo_db *db = open_space(path);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    char **ids = malloc(s->n * sizeof *ids);
    mnemo_txn *t;
    CHECK(mnemo_txn_begin(&t, db, 0));
    for (size_t i = 0; i < s->n; i++) {
        ids[i] = malloc(24);
        snprintf(ids[i], 24, "%zu", i);
        char meta[32];
        snprintf(meta, sizeof meta, "{\"b\": %zu}", i % 1000);
        mnemo_record r = {0};
        r.id = ids[i];
        r.metadata = meta;
        CHECK(mnemo_record_put(db, t, &r, MNEMO_PUT_INSERT));
    }
    CHECK(mnemo_txn_commit(t));
    mnemo_txn_free(t);

    /* build: one batch, the index filled on `threads` threads; hnswlib direct on as many */
    double t0 = bu_now_s();
    CHECK(mnemo_vector_put_batch(db, NULL, (const char *const *)ids, s->base, s->n, DIM));
    double mnemo_build = bu_now_s() - t0;
    t0 = bu_now_s();
    hd_index *hd = hd_create(DIM, s->n, M_LINKS, EF_CONSTRUCTION);
    hd_add(hd, s->base, s->n, threads());
    double direct_build = bu_now_s() - t0;
    line(s, "\"op\":\"build\",\"threads\":%d,\"mnemo_s\":%.3f,\"hnswlib_s\":%.3f,\"ratio\":%.3f,"
            "\"goal\":\"mnemo build speed >= 0.7x hnswlib direct (same threads; mnemo also writes and logs to its store)\","
            "\"meets_goal\":%s",
         threads(), mnemo_build, direct_build, direct_build / mnemo_build,
         direct_build / mnemo_build >= 0.7 ? "true" : "false");

    int8_vs_float(s, db, ids);
    if (int8_only) {
        CHECK(mnemo_close(db));
        set_done(s, hd, ids, path);
        return;
    }

    /* search: recall@10 against the ground truth and single-thread queries/s */
    static const size_t efs[] = {10, 16, 32, 64, 128};
    uint64_t labels[K];
    for (size_t e = 0; e < sizeof efs / sizeof *efs; e++) {
        mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
        so.ef = (uint32_t)efs[e];
        double rm = 0, rd = 0, tm[16], td[16];
        /* timed: the calls alone (a result is freed as a caller would); recall is counted apart.
         * Each repetition runs every query 5 times, the two engines in alternating order. */
        for (int r = 0; r < reps; r++) {
            for (int side = 0; side < 2; side++) {
                int mnemo_turn = side == (r & 1);
                t0 = bu_now_s();
                for (int pass = 0; pass < 5; pass++)
                    for (size_t q = 0; q < s->nq; q++) {
                        if (mnemo_turn) {
                            mnemo_vector_hits *h;
                            CHECK(mnemo_vector_search(&h, db, NULL, s->queries + q * DIM, DIM, K, &so));
                            mnemo_vector_hits_free(h);
                        } else {
                            (void)hd_search(hd, s->queries + q * DIM, K, efs[e], labels);
                        }
                    }
                (mnemo_turn ? tm : td)[r] = (bu_now_s() - t0) / 5;
            }
        }
        for (size_t q = 0; q < s->nq; q++) {
            mnemo_vector_hits *h;
            CHECK(mnemo_vector_search(&h, db, NULL, s->queries + q * DIM, DIM, K, &so));
            for (size_t i = 0; i < h->count; i++)
                labels[i] = strtoull(h->hits[i].id, NULL, 10);
            rm += recall_of(labels, h->count, s->gt + q * K);
            mnemo_vector_hits_free(h);
            size_t n = hd_search(hd, s->queries + q * DIM, K, efs[e], labels);
            rd += recall_of(labels, n, s->gt + q * K);
        }
        double qm = (double)s->nq / bu_median(tm, reps), qd = (double)s->nq / bu_median(td, reps);
        line(s, "\"op\":\"search\",\"ef\":%zu,\"k\":%d,\"queries\":%zu,\"recall\":%.4f,\"hnswlib_recall\":%.4f,"
                "\"mnemo_qps\":%.1f,\"hnswlib_qps\":%.1f,\"ratio\":%.3f,\"goal\":\"qps >= 0.9x hnswlib direct%s\","
                "\"meets_goal\":%s",
             efs[e], K, s->nq, rm / s->nq, rd / s->nq, qm, qd, qm / qd, efs[e] == 64 ? "; recall@10 >= 0.99" : "",
             qm / qd >= 0.9 && (efs[e] != 64 || rm / s->nq >= 0.99) ? "true" : "false");
    }

    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    CHECK(mnemo_vector_stats_get(&st, db));
    line(s, "\"op\":\"memory\",\"mnemo_index_bytes\":%llu,\"hnswlib_bytes\":%zu,\"ratio\":%.3f,\"simd\":\"%s\"",
         (unsigned long long)st.index_bytes, hd_memory(hd), (double)st.index_bytes / (double)hd_memory(hd), st.simd);

    filtered(s, db, hd);
    if (!strcmp(s->name, "siftsmall") && churn_rounds > 0)
        churn(s);

    /* exact: every query in one batch (one sgemm per block) against the plain loop */
    mnemo_vector_search_options ex = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    ex.exact = 1;
    mnemo_vector_hits **hs = malloc(s->nq * sizeof *hs);
    uint32_t *plain = malloc(s->nq * K * sizeof *plain);
    double te[16], tp[16], rex = 0;
    for (int r = 0; r < reps; r++) {
        t0 = bu_now_s();
        CHECK(mnemo_vector_search_batch(hs, db, NULL, s->queries, s->nq, DIM, K, &ex));
        te[r] = bu_now_s() - t0;
        rex = 0;
        for (size_t q = 0; q < s->nq; q++) {
            for (size_t i = 0; i < hs[q]->count; i++)
                labels[i] = strtoull(hs[q]->hits[i].id, NULL, 10);
            rex += recall_of(labels, hs[q]->count, s->gt + q * K);
            mnemo_vector_hits_free(hs[q]);
        }
        t0 = bu_now_s();
        plain_exact(s, s->queries, s->nq, plain);
        tp[r] = bu_now_s() - t0;
    }
    double qe = (double)s->nq / bu_median(te, reps), qp = (double)s->nq / bu_median(tp, reps);
    line(s, "\"op\":\"exact\",\"queries\":%zu,\"recall\":%.4f,\"mnemo_qps\":%.1f,\"sgemm_loop_qps\":%.1f,\"ratio\":%.3f,"
            "\"goal\":\"within 1.5x of a plain cblas_sgemm loop (ratio >= 0.667)\",\"meets_goal\":%s",
         s->nq, rex / s->nq, qe, qp, qe / qp, qe / qp >= 1 / 1.5 ? "true" : "false");
    free(hs);
    free(plain);

    /* reopen (snapshot load) against rebuild (snapshot header gone: rebuilt from vector_data) */
    CHECK(mnemo_close(db));
    o.engine = bu_engine;
    double to[16], tr[16];
    o.create_if_missing = 0;
    for (int r = 0; r < reps && !mem; r++) {
        t0 = bu_now_s();
        CHECK(mnemo_open(&db, path, &o));
        to[r] = bu_now_s() - t0;
        CHECK(mnemo_vector_stats_get(&st, db));
        if (st.rebuilds || st.vectors != s->n)
            bu_die("reopen rebuilt the index or lost vectors");
        CHECK(mnemo_close(db));
    }
    for (int r = 0; r < reps && !mem; r++) {
        drop_snapshot_header(path);
        t0 = bu_now_s();
        CHECK(mnemo_open(&db, path, &o)); /* rebuilds, then saves a new snapshot */
        tr[r] = bu_now_s() - t0;
        CHECK(mnemo_vector_stats_get(&st, db));
        if (st.rebuilds != 1 || st.vectors != s->n)
            bu_die("the index was not rebuilt");
        CHECK(mnemo_close(db));
    }
    double ro = mem ? 0 : bu_median(to, reps), rb = mem ? 0 : bu_median(tr, reps);
    if (!mem)
        line(s, "\"op\":\"reopen\",\"reopen_s\":%.3f,\"rebuild_s\":%.3f,\"ratio\":%.2f,"
                "\"goal\":\"reopen >= 10x faster than rebuild (at 100k vectors)\",\"meets_goal\":%s",
             ro, rb, rb / ro, rb / ro >= 10 ? "true" : "false");
    set_done(s, hd, ids, path);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data_dir = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n_generated = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--churn-rounds") && i + 1 < argc)
            churn_rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--int8-only"))
            int8_only = 1;
        else if (!strcmp(argv[i], "--write-fvecs") && i + 1 < argc)
            write_dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
            bu_set_engine(argv[++i]);
        else
            bu_die("usage: bench_vector [--engine rocksdb|lmdb|memory] [--quick] [--reps R] [--data DIR] [--n N] [--churn-rounds R] [--only siftsmall|clustered|latency] [--int8-only] [--write-fvecs DIR]");
    }
    if (quick && churn_rounds == 100)
        churn_rounds = 2;
    if (reps < 1 || reps > 16)
        bu_die("--reps must be 1..16");
    openblas_set_num_threads(1); /* single-thread comparisons, both sides */
    set s = {0};
    if (!only || !strcmp(only, "siftsmall")) {
        load_sift(&s);
        run_set(&s);
    }
    memset(&s, 0, sizeof s);
    if (!only || !strcmp(only, "clustered")) {
        make_clustered(&s, quick ? 3000 : n_generated);
        run_set(&s);
    }
    if (!only || !strcmp(only, "latency"))
        bench_vector_latency(quick, n_generated);
    return 0;
}
