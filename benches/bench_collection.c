/* Collections benchmark (issue 14): what many collections in one database cost the ones in use.
 * One JSON line per result.
 *
 *   bench_collection [--engine rocksdb|lmdb] [--quick] [--reps R] [--counts A,B,C] [--searches S]
 *                    [--big N] [--bare-only]
 *
 * Data: each collection holds 100 records ("r0".."r99", no content) with a 64-d embedding drawn
 * around 8 centres of its own (seeded from the collection's number, so collection c holds the same
 * vectors whatever the database), default options everywhere (mnemo_options and
 * mnemo_collection_options: M 16, ef_construction 200, ef 64, L2).
 *
 * Lines:
 * - build: a database of N collections (default counts 1, 1,000, 10,000; collection names
 *   c00000..), each made by mnemo_collection_create then one transaction of its 100 records and
 *   their embeddings; the builder keeps every handle it created (as a program would) and closes the
 *   database at the end. Timed apart from everything else: total, ms per collection over the first
 *   and the last tenth (how creating grows with the collections already there), the builder's RSS
 *   before close, and the close.
 * - open: a fresh process (fork + exec of this program) mnemo_open's the database, opens the
 *   middle collection by name and runs one k-10 search in it: the time of each step and the
 *   child's peak RSS (VmHWM) and its RSS before mnemo_open (the program and its libraries).
 *   Medians of R runs on a warm page cache, the sizes taking turns. The 1-collection database is the
 *   reference: each line gives its ratio to it.
 * - open_bare (first; --bare-only: nothing else): the same fresh-process mnemo_open of databases
 *   of N collections without a vector space and one record each, so the collections' number
 *   without their data.
 * - search: k 10 at the default ef, single thread, in the middle collection of the largest
 *   database, against the same 100 records in a database of their own (the default collection,
 *   vector space from mnemo_options), same queries, alternating sides each repetition; then the
 *   same for a collection of --big records (default 10,000, added to the largest database after the
 *   open lines) against the same records in a database of their own. Median q/s of R
 *   repetitions, ratio of the medians (goal >= 0.95), and the share of queries whose hits are the
 *   same ids in the same order on both sides (for the 100 records it must be all of them: exit 1).
 *
 * --quick (the smoke test): counts 1,10,100, 2 repetitions, 500 searches, big 1,000. */
#include <ftw.h>
#include <math.h>
#include <mnemo/mnemo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define DIM 64
#define PER_COLL 100
#define CENTRES 8
#define K 10
#define NQ 256 /* distinct queries per data set; searches cycle through them */
#define MAX_COUNTS 8
/* The builder closes and reopens the database every so many collections: a collection's handle
 * lives until its database closes, and each holds its index (at least 2.6 MiB with hnswlib
 * 0.6.2's 65,536 update locks; a new one, ~50 MB late in a build of 10,000: see
 * docs/benchmarks.md): 10,000 open at once would not fit in memory, 100 take ~5 GB. */
#define REOPEN_EVERY 100

static int reps = 5, quick = 0;
static size_t searches = 20000, big_n = 10000;
static size_t counts[MAX_COUNTS] = {1, 1000, 10000};
static int n_counts = 3;
static char self[4096];

#define CHECK BU_CHECK

/* ---- data ---- */

static double gauss(uint64_t *s)
{
    double u = ((double)(bu_rand_r(s) >> 11) + 1) / 9007199254740993.0, v = (double)(bu_rand_r(s) >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n vectors and NQ queries around `centres` centres, from the seed of data set `which`: the same
 * numbers whichever database they go into. */
static void make_set(float **base, float **queries, uint64_t which, size_t n, size_t centres)
{
    uint64_t s = 0x636f6c6c62656e63ull ^ (which * 0x9E3779B97F4A7C15ull);
    float *c = malloc(centres * DIM * sizeof *c);
    *base = malloc(n * DIM * sizeof **base);
    *queries = malloc(NQ * DIM * sizeof **queries);
    if (!c || !*base || !*queries)
        bu_die("out of memory for data set %llu", (unsigned long long)which);
    for (size_t i = 0; i < centres * DIM; i++)
        c[i] = (float)(gauss(&s) * 10);
    for (size_t i = 0; i < n + NQ; i++) {
        float *row = i < n ? *base + i * DIM : *queries + (i - n) * DIM;
        const float *ctr = c + (bu_rand_r(&s) % centres) * DIM;
        for (size_t d = 0; d < DIM; d++)
            row[d] = ctr[d] + (float)gauss(&s);
    }
    free(c);
}

static void coll_name(char *buf, size_t cap, size_t c) { snprintf(buf, cap, "c%05zu", c); }

/* Records "r0".."r<n-1>" with their embeddings, in transactions of up to 1000. */
static void fill(mnemo_db *db, const float *base, size_t n)
{
    char ids[1000][24]; /* any size_t */
    const char *idp[1000];
    for (size_t at = 0; at < n; at += 1000) {
        size_t m = n - at < 1000 ? n - at : 1000;
        mnemo_txn *txn;
        CHECK(mnemo_txn_begin(&txn, db, 0));
        for (size_t i = 0; i < m; i++) {
            snprintf(ids[i], sizeof ids[i], "r%zu", at + i);
            idp[i] = ids[i];
            mnemo_record rec = {0};
            rec.id = ids[i];
            CHECK(mnemo_record_put(db, txn, &rec, MNEMO_PUT_INSERT));
        }
        CHECK(mnemo_vector_put_batch(db, txn, idp, base + at * DIM, m, DIM));
        CHECK(mnemo_txn_commit(txn));
        mnemo_txn_free(txn);
    }
}

static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':')
            kb = atol(line + fl + 1);
    if (f)
        fclose(f);
    return kb;
}

/* The touch lines' limited child runs with BENCH_INDEX_LIMIT (bytes) in its environment. */
static mnemo_db *open_existing(const char *dir)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    const char *limit = getenv("BENCH_INDEX_LIMIT");
    o.index_memory_limit = limit ? strtoull(limit, NULL, 10) : 0;
    mnemo_db *db;
    CHECK(mnemo_open(&db, dir, &o));
    return db;
}

/* ---- build ---- */

static unsigned long long tree_sum;
static int add_size(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        tree_sum += (unsigned long long)sb->st_size;
    return 0;
}

/* Bytes of the files under dir (lmdb's map file counts at its file size). */
static unsigned long long tree_bytes(const char *dir)
{
    tree_sum = 0;
    nftw(dir, add_size, 16, FTW_PHYS);
    return tree_sum;
}

typedef struct built {
    size_t n;
    char dir[1024];
} built;

static mnemo_db *new_db(built *b, size_t n, const char *kind)
{
    b->n = n;
    bu_run_dir(b->dir, sizeof b->dir, kind);
    mnemo_options o;
    bu_create_options(&o);
    mnemo_db *db;
    CHECK(mnemo_open(&db, b->dir, &o));
    return db;
}

/* Before collection c: every REOPEN_EVERY, the only way to let go of collection handles. */
static void let_go(mnemo_db **db, const char *dir, size_t c)
{
    if (c && c % REOPEN_EVERY == 0) {
        CHECK(mnemo_close(*db));
        *db = open_existing(dir);
    }
}

static void build(built *b, size_t n)
{
    mnemo_db *db = new_db(b, n, "coll");
    size_t tenth = n / 10 ? n / 10 : 1;
    double t0 = bu_now_s(), first_end = 0, last_start = 0;
    for (size_t c = 0; c < n; c++) {
        if (c == n - tenth)
            last_start = bu_now_s();
        let_go(&db, b->dir, c);
        char name[32];
        coll_name(name, sizeof name, c);
        mnemo_collection_options co = MNEMO_COLLECTION_OPTIONS_INIT;
        co.vector_dim = DIM;
        mnemo_db *h;
        CHECK(mnemo_collection_create(&h, db, name, &co));
        float *base, *q;
        make_set(&base, &q, c, PER_COLL, CENTRES);
        fill(h, base, PER_COLL);
        free(base);
        free(q);
        if (c + 1 == tenth)
            first_end = bu_now_s();
        if (n >= 1000 && (c + 1) % (n / 10) == 0)
            fprintf(stderr, "bench_collection: %zu of %zu collections, %.1f s\n", c + 1, n, bu_now_s() - t0);
    }
    double t1 = bu_now_s();
    long rss = status_kb("VmRSS");
    CHECK(mnemo_close(db));
    double t2 = bu_now_s();
    printf("{\"bench\":\"collection\",\"engine\":\"%s\",\"op\":\"build\",\"options\":\"default\",\"collections\":%zu,"
           "\"records_per_collection\":%d,\"dim\":%d,\"reopen_every\":%d,\"build_s\":%.3f,"
           "\"first_tenth_ms_per_collection\":%.3f,\"last_tenth_ms_per_collection\":%.3f,\"builder_rss_kb\":%ld,"
           "\"close_s\":%.3f,\"disk_bytes\":%llu}\n",
           bu_engine, n, PER_COLL, DIM, REOPEN_EVERY, t1 - t0, (first_end - t0) * 1e3 / (double)tenth,
           (t1 - last_start) * 1e3 / (double)tenth, rss, t2 - t1, (unsigned long long)tree_bytes(b->dir));
    fflush(stdout);
}

/* The peer of the open lines without their data: n collections without a vector space, one
 * record each (the registry and the id blocks of n collections, under 1 MB of files). */
static void build_bare(built *b, size_t n)
{
    mnemo_db *db = new_db(b, n, "bare");
    for (size_t c = 0; c < n; c++) {
        let_go(&db, b->dir, c);
        char name[32];
        coll_name(name, sizeof name, c);
        mnemo_db *h;
        CHECK(mnemo_collection_create(&h, db, name, NULL));
        mnemo_record rec = {0};
        rec.id = "r0";
        CHECK(mnemo_record_put(h, NULL, &rec, MNEMO_PUT_INSERT));
    }
    CHECK(mnemo_close(db));
}

/* ---- open in a fresh process ---- */

typedef struct open_result {
    double open_s, coll_s, search_s, close_s;
    long rss_start_kb, hwm_kb, evictions;
} open_result;

/* The child: opens the database, then collections first.. first + count - 1, each with one
 * search (its own data set's first query; filtered: with a metadata filter every record passes);
 * its figures on stdout. */
static int child(const char *dir, size_t first, size_t count, int filtered)
{
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.filter = "{\"x\": {\"$ne\": 1}}";
    long rss0 = status_kb("VmRSS");
    double t0 = bu_now_s(), coll_s = 0, search_s = 0;
    mnemo_db *db = open_existing(dir);
    double t1 = bu_now_s();
    for (size_t c = first; c < first + count; c++) {
        float *base, *q;
        char name[32];
        coll_name(name, sizeof name, c);
        make_set(&base, &q, c, PER_COLL, CENTRES);
        free(base);
        mnemo_db *h;
        double a = bu_now_s();
        CHECK(mnemo_collection_open(&h, db, name));
        double b = bu_now_s();
        mnemo_vector_hits *hits;
        CHECK(mnemo_vector_search(&hits, h, NULL, q, DIM, K, filtered ? &so : NULL));
        search_s += bu_now_s() - b;
        coll_s += b - a;
        if (hits->count != K)
            bu_die("child: %zu hits in %s, not %d", hits->count, name, K);
        mnemo_vector_hits_free(hits);
        free(q);
    }
    long hwm = status_kb("VmHWM");
    mnemo_stats st = MNEMO_STATS_INIT;
    CHECK(mnemo_stats_get(&st, db));
    double t3 = bu_now_s();
    CHECK(mnemo_close(db));
    double t4 = bu_now_s();
    printf("%.9f %.9f %.9f %.9f %ld %ld %llu\n", t1 - t0, coll_s, search_s, t4 - t3, rss0, hwm,
           (unsigned long long)st.collection_index_evictions);
    return 0;
}

static open_result run_child(const built *b, size_t first, size_t count, int filtered, size_t limit)
{
    char first_s[32], count_s[32], filtered_s[2] = {filtered ? '1' : '0', 0};
    snprintf(first_s, sizeof first_s, "%zu", first);
    snprintf(count_s, sizeof count_s, "%zu", count);
    int fd[2];
    if (pipe(fd))
        bu_die("pipe failed");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bu_die("fork failed");
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        char limit_s[32];
        snprintf(limit_s, sizeof limit_s, "%zu", limit);
        if (limit)
            setenv("BENCH_INDEX_LIMIT", limit_s, 1);
        execl(self, self, "--child", b->dir, first_s, count_s, filtered_s, (char *)NULL);
        _exit(127); /* not exit: the parent's atexit would remove the scratch tree */
    }
    close(fd[1]);
    FILE *in = fdopen(fd[0], "r");
    open_result r;
    int got = in ? fscanf(in, "%lf %lf %lf %lf %ld %ld %ld", &r.open_s, &r.coll_s, &r.search_s, &r.close_s,
                          &r.rss_start_kb, &r.hwm_kb, &r.evictions)
                 : 0;
    if (in)
        fclose(in);
    int st;
    waitpid(pid, &st, 0);
    if (got != 7 || !WIFEXITED(st) || WEXITSTATUS(st))
        bu_die("the child opening %zu of %zu collections failed (status %d)", count, b->n, st);
    return r;
}

static void open_lines(const built *bs, int nb)
{
    double open[MAX_COUNTS][16], coll[MAX_COUNTS][16], search[MAX_COUNTS][16], first[MAX_COUNTS][16];
    double closes[MAX_COUNTS][16], hwm[MAX_COUNTS][16], rss0[MAX_COUNTS][16];
    for (int r = 0; r < reps; r++) /* the sizes take turns: the machine's load drifts over all alike */
        for (int i = 0; i < nb; i++) {
            open_result o = run_child(&bs[i], bs[i].n / 2, 1, 0, 0);
            open[i][r] = o.open_s;
            coll[i][r] = o.coll_s;
            search[i][r] = o.search_s;
            first[i][r] = o.open_s + o.coll_s + o.search_s;
            closes[i][r] = o.close_s;
            hwm[i][r] = (double)o.hwm_kb;
            rss0[i][r] = (double)o.rss_start_kb;
        }
    double ref_open = 0, ref_first = 0, ref_hwm = 0;
    for (int i = 0; i < nb; i++) {
        double mo = bu_median(open[i], reps), mf = bu_median(first[i], reps), mh = bu_median(hwm[i], reps);
        if (i == 0) {
            ref_open = mo;
            ref_first = mf;
            ref_hwm = mh;
        }
        printf("{\"bench\":\"collection\",\"engine\":\"%s\",\"op\":\"open\",\"options\":\"default\",\"collections\":%zu,"
               "\"records_per_collection\":%d,\"dim\":%d,\"reps\":%d,\"open_ms\":%.3f,\"collection_open_ms\":%.3f,"
               "\"first_search_ms\":%.3f,\"open_to_first_result_ms\":%.3f,\"close_ms\":%.3f,\"rss_before_open_kb\":%.0f,"
               "\"peak_rss_kb\":%.0f,\"reference_collections\":%zu,\"ratio_open\":%.3f,\"ratio_open_to_first_result\":%.3f,"
               "\"ratio_peak_rss\":%.3f}\n",
               bu_engine, bs[i].n, PER_COLL, DIM, reps, mo * 1e3, bu_median(coll[i], reps) * 1e3,
               bu_median(search[i], reps) * 1e3, mf * 1e3, bu_median(closes[i], reps) * 1e3, bu_median(rss0[i], reps), mh,
               bs[0].n, mo / ref_open, mf / ref_first, mh / ref_hwm);
        fflush(stdout);
    }
}

/* mnemo_open alone (no collection opened) of databases of bare collections; the sizes take turns
 * in each repetition, so that the machine's load drifts over all of them alike. */
static void open_bare_lines(void)
{
    built b[MAX_COUNTS];
    double open[MAX_COUNTS][16], hwm[MAX_COUNTS][16];
    for (int i = 0; i < n_counts; i++)
        build_bare(&b[i], counts[i]);
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n_counts; i++) {
            open_result o = run_child(&b[i], 0, 0, 0, 0);
            open[i][r] = o.open_s;
            hwm[i][r] = (double)o.hwm_kb;
        }
    double ref = 0, ref_hwm = 0;
    for (int i = 0; i < n_counts; i++) {
        double mo = bu_median(open[i], reps), mh = bu_median(hwm[i], reps);
        if (i == 0) {
            ref = mo;
            ref_hwm = mh;
        }
        printf("{\"bench\":\"collection\",\"engine\":\"%s\",\"op\":\"open_bare\",\"options\":\"default\",\"collections\":%zu,"
               "\"records_per_collection\":1,\"vector_space\":false,\"reps\":%d,\"open_ms\":%.3f,\"peak_rss_kb\":%.0f,"
               "\"disk_bytes\":%llu,\"reference_collections\":%zu,\"ratio_open\":%.3f,\"ratio_peak_rss\":%.3f}\n",
               bu_engine, b[i].n, reps, mo * 1e3, mh, (unsigned long long)tree_bytes(b[i].dir), counts[0], mo / ref,
               mh / ref_hwm);
        fflush(stdout);
        bu_rm_tree(b[i].dir);
    }
}

/* Memory and time of collections in use: a fresh process opens the last T collections of the
 * largest database (made last: the largest internal ids) and searches each once; T = 1 and 100
 * and 500 where there are that many. Filtered: one search each with a metadata filter, T = 1 and
 * 10 (fewer: each builds the collection's filter mirror). Limited: plain, with
 * index_memory_limit TOUCH_LIMIT (idle indexes evicted), T = 1, 100, 500. */
#define TOUCH_LIMIT ((size_t)64 << 20)
static void touch_lines(const built *many)
{
    static const size_t plain[] = {1, 100, 500}, filt[] = {1, 10};
    for (int mode = 0; mode < 3; mode++) { /* plain, filtered, limited */
        int filtered = mode == 1;
        size_t limit = mode == 2 ? TOUCH_LIMIT : 0;
        const size_t *ts = filtered ? filt : plain;
        int nt = filtered ? 2 : 3;
        double one_hwm = 0;
        for (int i = 0; i < nt && ts[i] <= many->n; i++) {
            double hwm[16], per[16], ev[16];
            for (int r = 0; r < reps; r++) {
                open_result o = run_child(many, many->n - ts[i], ts[i], filtered, limit);
                hwm[r] = (double)o.hwm_kb;
                per[r] = (o.coll_s + o.search_s) / (double)ts[i];
                ev[r] = (double)o.evictions;
            }
            double mh = bu_median(hwm, reps);
            if (i == 0)
                one_hwm = mh;
            printf("{\"bench\":\"collection\",\"engine\":\"%s\",\"op\":\"touch\",\"options\":\"%s\",\"collections\":%zu,"
                   "\"records_per_collection\":%d,\"dim\":%d,\"reps\":%d,\"filtered\":%s,\"index_memory_limit\":%zu,"
                   "\"touched\":%zu,\"peak_rss_kb\":%.0f,\"kb_per_touched_collection\":%.1f,"
                   "\"open_and_first_search_ms_each\":%.3f,\"evictions\":%.0f}\n",
                   bu_engine, limit ? "index_memory_limit" : "default", many->n, PER_COLL, DIM, reps,
                   filtered ? "true" : "false", limit, ts[i], mh, i ? (mh - one_hwm) / (double)(ts[i] - 1) : 0.0,
                   bu_median(per, reps) * 1e3, bu_median(ev, reps));
            fflush(stdout);
        }
    }
}

/* ---- search: a collection of a big database against a database of its own ---- */

static double run_searches(mnemo_db *db, const float *q, size_t n)
{
    double t0 = bu_now_s();
    for (size_t i = 0; i < n; i++) {
        mnemo_vector_hits *hits;
        CHECK(mnemo_vector_search(&hits, db, NULL, q + (i % NQ) * DIM, DIM, K, NULL));
        mnemo_vector_hits_free(hits);
    }
    return (double)n / (bu_now_s() - t0);
}

/* The share of the queries whose hits are the same ids in the same order in a and b. */
static double same_hits(mnemo_db *a, mnemo_db *b, const float *q)
{
    size_t same = 0;
    for (size_t i = 0; i < NQ; i++) {
        mnemo_vector_hits *x, *y;
        CHECK(mnemo_vector_search(&x, a, NULL, q + i * DIM, DIM, K, NULL));
        CHECK(mnemo_vector_search(&y, b, NULL, q + i * DIM, DIM, K, NULL));
        int eq = x->count == y->count && x->count == K;
        for (size_t j = 0; eq && j < x->count; j++)
            eq = !strcmp(x->hits[j].id, y->hits[j].id);
        same += (size_t)eq;
        mnemo_vector_hits_free(x);
        mnemo_vector_hits_free(y);
    }
    return (double)same / NQ;
}

static void search_line(const built *many, const char *name, uint64_t which, size_t n, size_t centres)
{
    float *base, *q;
    make_set(&base, &q, which, n, centres);
    char own_dir[1024];
    bu_run_dir(own_dir, sizeof own_dir, "own");
    mnemo_options o;
    bu_create_options(&o);
    o.vector_dim = DIM;
    mnemo_db *own;
    CHECK(mnemo_open(&own, own_dir, &o));
    fill(own, base, n);
    CHECK(mnemo_close(own));
    own = open_existing(own_dir);
    mnemo_db *db = open_existing(many->dir), *coll;
    CHECK(mnemo_collection_open(&coll, db, name));
    double same = same_hits(coll, own, q); /* also warms both */
    /* ef 64 over 100 records is all but exhaustive: a collection must answer what a database of
     * its own answers (bigger sets may differ by the order of the index's threaded inserts). */
    if (n == PER_COLL && same < 1.0)
        bu_die("collection %s: %.1f %% of the queries got other hits than the same records in a database of their "
               "own", name, (1.0 - same) * 100);
    size_t s = n > PER_COLL ? searches / 4 : searches; /* a bigger set's searches cost more */
    double qc[16], qo[16], paired[16];
    for (int r = 0; r < reps; r++) {
        if (r % 2) {
            qo[r] = run_searches(own, q, s);
            qc[r] = run_searches(coll, q, s);
        } else {
            qc[r] = run_searches(coll, q, s);
            qo[r] = run_searches(own, q, s);
        }
        paired[r] = qc[r] / qo[r];
    }
    double mc = bu_median(qc, reps), mo = bu_median(qo, reps);
    printf("{\"bench\":\"collection\",\"engine\":\"%s\",\"op\":\"search\",\"options\":\"default\",\"collections\":%zu,"
           "\"records\":%zu,\"dim\":%d,\"k\":%d,\"ef\":\"default\",\"reps\":%d,\"searches\":%zu,\"collection_qps\":%.1f,"
           "\"own_database_qps\":%.1f,\"ratio\":%.3f,\"paired_ratio\":%.3f,\"same_hits\":%.3f,\"goal\":\">= 0.95\"}\n",
           bu_engine, many->n + (n > PER_COLL), n, DIM, K, reps, s, mc, mo, mc / mo, bu_median(paired, reps), same);
    fflush(stdout);
    CHECK(mnemo_close(db));
    CHECK(mnemo_close(own));
    bu_rm_tree(own_dir);
    free(base);
    free(q);
}

/* Adds the collection "big" of big_n records to the largest database (after its open lines). */
static void add_big(const built *many)
{
    float *base, *q;
    make_set(&base, &q, 1u << 30, big_n, 100);
    mnemo_db *db = open_existing(many->dir), *h;
    mnemo_collection_options co = MNEMO_COLLECTION_OPTIONS_INIT;
    co.vector_dim = DIM;
    CHECK(mnemo_collection_create(&h, db, "big", &co));
    fill(h, base, big_n);
    CHECK(mnemo_close(db));
    free(base);
    free(q);
}

static int parse_counts(const char *s)
{
    n_counts = 0;
    while (*s && n_counts < MAX_COUNTS) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || v > 1000000)
            return -1;
        counts[n_counts++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n_counts ? 0 : -1;
}

int main(int argc, char **argv)
{
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        bu_die("cannot read /proc/self/exe");
    self[sl] = 0;
    if (argc == 6 && !strcmp(argv[1], "--child"))
        return child(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), argv[5][0] == '1');
    const char *counts_opt = NULL;
    long searches_opt = 0, big_opt = 0;
    int bare_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
            bu_set_engine(argv[++i]);
        else if (!strcmp(argv[i], "--counts") && i + 1 < argc)
            counts_opt = argv[++i];
        else if (!strcmp(argv[i], "--searches") && i + 1 < argc)
            searches_opt = atol(argv[++i]);
        else if (!strcmp(argv[i], "--big") && i + 1 < argc)
            big_opt = atol(argv[++i]);
        else if (!strcmp(argv[i], "--bare-only"))
            bare_only = 1;
        else {
            fprintf(stderr, "usage: bench_collection [--engine rocksdb|lmdb] [--quick] [--reps R] [--counts A,B,C] "
                            "[--searches S] [--big N] [--bare-only]\n");
            return 2;
        }
    }
    if (!strcmp(bu_engine, "memory")) {
        fprintf(stderr, "bench_collection: --engine memory cannot be reopened by another process; use rocksdb or lmdb\n");
        return 2;
    }
    if (quick) {
        reps = 2;
        searches = 500;
        big_n = 1000;
        parse_counts("1,10,100");
    }
    if (counts_opt && parse_counts(counts_opt)) {
        fprintf(stderr, "bench_collection: --counts needs numbers 1..1000000 separated by commas (got '%s')\n", counts_opt);
        return 2;
    }
    if (searches_opt > 0)
        searches = (size_t)searches_opt;
    if (big_opt > 0)
        big_n = (size_t)big_opt;
    if (reps < 1 || reps > 15)
        reps = quick ? 2 : 5;
    open_bare_lines();
    if (bare_only)
        return 0;
    built bs[MAX_COUNTS];
    for (int i = 0; i < n_counts; i++)
        build(&bs[i], counts[i]);
    open_lines(bs, n_counts);
    const built *many = &bs[n_counts - 1];
    touch_lines(many);
    char name[32];
    coll_name(name, sizeof name, many->n / 2);
    search_line(many, name, many->n / 2, PER_COLL, CENTRES);
    add_big(many);
    search_line(many, "big", 1u << 30, big_n, 100);
    return 0;
}
