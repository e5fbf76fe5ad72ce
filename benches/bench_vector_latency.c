/* Commit and search latency under vector churn (issue 16 goal 4), the `latency` op of bench_vector.
 *
 * 64-d vectors; N records with an embedding (default 100,000), then a stream of auto-commit
 * single-vector commits: each step gives a new record its embedding (an insert) and deletes the
 * embedding of the oldest one (a tombstone), so the live count stays N and deleted slots pile up
 * until the index is rebuilt; the change count meanwhile crosses the snapshot threshold (the
 * setup makes both happen inside the timed stream; the lines count them). The stream is 25,000
 * commits, or longer (up to 8x) until the rebuild has swapped in, so its swap is measured.
 * A second thread searches (k 10, default ef) all the time. Lines: commit and search latency
 * percentiles, and hnswlib's own single insert (one addPoint into an index of the same N on one
 * thread, nothing else running) as the peer of the commit p50. */
#include <math.h>
#include <mnemo/mnemo.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "hnsw_direct.h"

#define LDIM 64
#define LM 16
#define LEFC 200

#define CHECK BU_CHECK

typedef struct lat {
    double *v;
    size_t n, cap;
} lat;

static void lat_add(lat *l, double s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p-th percentile (0..1) of sorted values, nearest rank. */
static double pct(const lat *l, double p)
{
    size_t i = (size_t)ceil(p * (double)l->n);
    return l->n ? l->v[i ? i - 1 : 0] : 0;
}

static void lat_line(const char *what, lat *l, const char *extra)
{
    qsort(l->v, l->n, sizeof *l->v, cmp_d);
    printf("{\"bench\":\"vector\",\"engine\":\"%s\",\"set\":\"latency\",\"op\":\"%s\",\"dim\":%d,\"count\":%zu,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f%s}\n",
           bu_engine, what, LDIM, l->n, pct(l, 0.5) * 1e3, pct(l, 0.99) * 1e3, pct(l, 0.999) * 1e3,
           l->n ? l->v[l->n - 1] * 1e3 : 0, extra);
    fflush(stdout);
}

/* A vector near one of 100 fixed centres (clustered, like embeddings). */
static void gen(float *out, uint64_t *s, const float *centres)
{
    const float *c = centres + (bu_rand_r(s) % 100) * LDIM;
    for (size_t d = 0; d < LDIM; d++)
        out[d] = c[d] + (float)((double)(bu_rand_r(s) >> 11) / 9007199254740992.0 - 0.5);
}

typedef struct searcher {
    mnemo_db *db;
    const float *centres;
    atomic_int stop;
    lat l;
} searcher;

static void *search_loop(void *p)
{
    searcher *s = p;
    uint64_t rs = 77;
    float q[LDIM];
    while (!atomic_load(&s->stop)) {
        gen(q, &rs, s->centres);
        mnemo_vector_hits *h;
        double t0 = bu_now_s();
        CHECK(mnemo_vector_search(&h, s->db, NULL, q, LDIM, 10, NULL));
        lat_add(&s->l, bu_now_s() - t0);
        if (h->count != 10)
            bu_die("latency: a search found %zu of 10", h->count);
        mnemo_vector_hits_free(h);
    }
    return NULL;
}

static void id_of(char *buf, size_t cap, size_t i) { snprintf(buf, cap, "m%zu", i); }

/* Records [from, to) with embeddings from rows, in one transaction; with replace, the records
 * exist and only their embeddings change (in place: no tombstones). */
static void add_records(mnemo_db *db, size_t from, size_t to, const float *rows, int replace)
{
    size_t n = to - from;
    char **ids = malloc(n * sizeof *ids);
    mnemo_txn *t;
    CHECK(mnemo_txn_begin(&t, db, 0));
    for (size_t i = 0; i < n; i++) {
        ids[i] = malloc(24);
        id_of(ids[i], 24, from + i);
        mnemo_record r = {0};
        r.id = ids[i];
        if (!replace)
            CHECK(mnemo_record_put(db, t, &r, MNEMO_PUT_INSERT));
    }
    CHECK(mnemo_vector_put_batch(db, t, (const char *const *)ids, rows, n, LDIM));
    CHECK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static void delete_records(mnemo_db *db, size_t from, size_t to)
{
    mnemo_txn *t;
    CHECK(mnemo_txn_begin(&t, db, 0));
    char id[24];
    for (size_t i = from; i < to; i++) {
        id_of(id, sizeof id, i);
        CHECK(mnemo_record_delete(db, t, id));
    }
    CHECK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
}

void bench_vector_latency(int quick, size_t n)
{
    if (quick)
        n = 3000;
    /* 2 vector commits per step. A rebuild is due once deleted slots pass a quarter of all, i.e.
     * n/3 tombstones: pre leaves it 50 deletes away, so the rebuild has the whole stream to run
     * (and swap) in; replaced brings the snapshot (due after n changes) to the middle. */
    size_t steps = quick ? 400 : 12500, pre = n / 3 - 50;
    size_t replaced = n > 2 * pre + steps ? n - 2 * pre - steps : 0;
    uint64_t rs = 20261206;
    float *centres = malloc(100 * LDIM * sizeof *centres);
    for (size_t i = 0; i < 100 * LDIM; i++)
        centres[i] = (float)((double)(bu_rand_r(&rs) >> 11) / 9007199254740992.0 * 20 - 10);
    size_t max_steps = 8 * steps, total = n + pre + max_steps;
    float *rows = malloc(total * LDIM * sizeof *rows);
    for (size_t i = 0; i < total; i++)
        gen(rows + i * LDIM, &rs, centres);

    char path[1024];
    bu_run_dir(path, sizeof path, "latency");
    mnemo_options o;
    bu_create_options(&o);
    o.vector_dim = LDIM;
    o.hnsw_m = LM;
    o.hnsw_ef_construction = LEFC;
    mnemo_db *db;
    CHECK(mnemo_open(&db, bu_db_path(path), &o));
    /* one batch of n (a snapshot after it), pre new records in and the pre oldest out, and
     * `replaced` embeddings replaced in place (no tombstones) */
    add_records(db, 0, n, rows, 0);
    add_records(db, n, n + pre, rows + n * LDIM, 0);
    delete_records(db, 0, pre);
    if (replaced)
        add_records(db, pre, pre + replaced, rows, 1);
    mnemo_vector_stats st0 = MNEMO_VECTOR_STATS_INIT, st1 = MNEMO_VECTOR_STATS_INIT;
    CHECK(mnemo_vector_stats_get(&st0, db));

    searcher s = {db, centres, 0, {0}};
    pthread_t th;
    if (pthread_create(&th, NULL, search_loop, &s))
        bu_die("latency: no search thread");
    lat puts = {0}, dels = {0}, commits = {0};
    uint64_t snapshots = 0, last_log = st0.log_entries;
    char id[24];
    double t_start = bu_now_s();
    /* at least `steps`; more (up to 8x) until a rebuild has swapped in, so its cost is measured */
    size_t i = 0;
    for (int rebuilt = 0; i < steps || (!rebuilt && i < max_steps); i++) {
        size_t fresh = n + pre + i, old = pre + i;
        id_of(id, sizeof id, fresh);
        mnemo_record r = {0};
        r.id = id;
        CHECK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_INSERT)); /* no vector: not timed */
        double t0 = bu_now_s();
        CHECK(mnemo_vector_put(db, NULL, id, rows + fresh * LDIM, LDIM));
        lat_add(&puts, bu_now_s() - t0);
        id_of(id, sizeof id, old);
        t0 = bu_now_s();
        CHECK(mnemo_vector_delete(db, NULL, id));
        lat_add(&dels, bu_now_s() - t0);
        if (i % 64 == 0) { /* a snapshot resets the log count */
            mnemo_vector_stats now = MNEMO_VECTOR_STATS_INIT;
            CHECK(mnemo_vector_stats_get(&now, db));
            snapshots += now.log_entries < last_log;
            last_log = now.log_entries;
            rebuilt = now.rebuilds > st0.rebuilds;
        }
    }
    double wall = bu_now_s() - t_start;
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    CHECK(mnemo_vector_stats_get(&st1, db));
    if (st1.vectors != n)
        bu_die("latency: %llu live vectors, expected %zu", (unsigned long long)st1.vectors, n);

    /* the peer: hnswlib's own single insert at the same size */
    hd_index *hd = hd_create(LDIM, n + 2 * steps, LM, LEFC);
    hd_add(hd, rows, n, 2);
    lat inserts = {0};
    for (i = 0; i < steps; i++) {
        double t0 = bu_now_s();
        hd_add_one(hd, rows + (n + pre + i) * LDIM, n + i);
        lat_add(&inserts, bu_now_s() - t0);
    }
    hd_free(hd);
    lat_line("hnswlib_single_insert", &inserts, ",\"options\":\"M 16, ef_construction 200, one thread\"");
    double peer_p50 = pct(&inserts, 0.5);

    char extra[512];
    for (size_t i = 0; i < puts.n; i++)
        lat_add(&commits, puts.v[i]);
    for (size_t i = 0; i < dels.n; i++)
        lat_add(&commits, dels.v[i]);
    qsort(commits.v, commits.n, sizeof *commits.v, cmp_d);
    qsort(puts.v, puts.n, sizeof *puts.v, cmp_d);
    double p50 = pct(&puts, 0.5), p99 = pct(&puts, 0.99), mx = commits.v[commits.n - 1];
    snprintf(extra, sizeof extra,
             ",\"options\":\"default\",\"vectors\":%zu,\"commits_per_s\":%.1f,\"rebuilds\":%llu,\"snapshots\":%llu",
             n, (double)commits.n / wall, (unsigned long long)(st1.rebuilds - st0.rebuilds),
             (unsigned long long)snapshots);
    lat_line("commit", &commits, extra);
    snprintf(extra, sizeof extra,
             ",\"options\":\"default\",\"ratio_p50_to_hnswlib_insert\":%.3f,\"goal\":\"put p99 <= 2x put p50, "
             "max of all commits <= 50 ms, put p50 <= 1.3x hnswlib single insert\",\"meets_goal\":%s",
             p50 / peer_p50, p99 <= 2 * p50 && mx <= 0.050 && p50 <= 1.3 * peer_p50 ? "true" : "false");
    lat_line("commit_put", &puts, extra);
    lat_line("commit_delete", &dels, ",\"options\":\"default\"");
    snprintf(extra, sizeof extra, ",\"options\":\"default\",\"k\":10,\"concurrent_with\":\"the commits above\"");
    lat_line("search", &s.l, extra);

    CHECK(mnemo_close(db));
    bu_rm_tree(path);
    free(commits.v);
    free(puts.v);
    free(dels.v);
    free(inserts.v);
    free(s.l.v);
    free(rows);
    free(centres);
}
