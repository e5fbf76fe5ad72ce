/* Key-value benchmark: mnemo's public KV API on one engine against that engine used directly with
 * the settings mnemo's engine uses (kv_direct.h): rocksdb against RocksDB's C++ API, lmdb against
 * LMDB's C API, memory against RocksDB's C++ API on a MemEnv (the memory engine is rocksdb on a
 * MemEnv).
 *
 * Every measurement runs in its own fresh directory; mnemo and RocksDB runs alternate (mnemo first
 * on even repetitions, RocksDB first on odd ones) and the median of the repetitions is reported.
 * stdout carries one JSON line per result and nothing else; progress goes to stderr.
 * Exit status: 0 whatever the ratios (goals are reported, not asserted); 1 on any API error or
 * wrong result; 2 on bad arguments.
 *
 *   bench_kv [--engine rocksdb|lmdb|memory] [--n N] [--quick] [--reps R] [--scans S] [--only OP]
 *
 * OP is one of put_autocommit, put_batch (gives put_batch_txn and put_batch_kv), get (gives
 * get_random and get_view), scan_prefix. Point reads are measured as the same work on both sides:
 * get_random is mnemo_kv_get, which returns a copy the caller owns, against a read into memory the
 * caller owns (RocksDB: a std::string; LMDB: mdb_get, then malloc + memcpy); get_view is
 * mnemo_kv_view + mnemo_view_release, a borrowed read, against a borrowed read (RocksDB: a
 * PinnableSlice; LMDB: mdb_get's page). */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#include "kv_direct.h"

#define KEY_LEN 16
#define VAL_LEN 100
#define BATCH 1000
#define PREFIXES 1000u
#define PREFIX_LEN 8 /* "key%04u:" */
#define VALUE_POOL 4096u
#define GOAL 0.90

static const char *g_engine = "rocksdb";

/* ---- errors and temporary directories ---- */

static char g_root[1024]; /* well below PATH_MAX: run directories go inside it */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "bench_kv: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void cleanup_root(void)
{
    if (g_root[0]) {
        rm_tree(g_root);
        g_root[0] = '\0';
    }
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_kv: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cleanup_root();
    exit(1);
}

#define MN(call)                                                                                          \
    do {                                                                                                  \
        int rc_ = (call);                                                                                 \
        if (rc_ != 0)                                                                                     \
            die("%s:%d: %s returned %s: %s", __FILE__, __LINE__, #call, mnemo_strerror(rc_), mnemo_errmsg()); \
    } while (0)

static void new_run_dir(char *buf, size_t cap)
{
    static unsigned seq;
    snprintf(buf, cap, "%s/run%04u", g_root, seq++);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- workload data: deterministic, generated before any timing ---- */

static uint64_t rng_state = 0x6d6e656d6f2d6b76ull;

static uint64_t rng_next(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(uint64_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(rng_next() % i);
        uint64_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

typedef struct workload {
    size_t n;
    char *put_keys;  /* n keys "key%013llu" in random insertion order */
    char *get_keys;  /* the same keys in another random order */
    char *scan_keys; /* n keys "key%04u:%08llu" (prefix group, index in group), random order */
    unsigned *scan_prefixes; /* prefix group of each scan */
    size_t scans;
    char *values; /* VALUE_POOL values of VAL_LEN bytes, half random, half a repeat */
} workload;

static const char *val_for(const workload *w, size_t i) { return w->values + (i % VALUE_POOL) * VAL_LEN; }

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void make_key(char *dst, const char *fmt, unsigned a, unsigned long long b)
{
    char tmp[32];
    int len = fmt ? snprintf(tmp, sizeof tmp, fmt, a, b) : snprintf(tmp, sizeof tmp, "key%013llu", b);
    if (len != KEY_LEN)
        die("key generation produced %d bytes, want %d", len, KEY_LEN);
    memcpy(dst, tmp, KEY_LEN);
}

static void workload_init(workload *w, size_t n, size_t scans)
{
    w->n = n;
    w->scans = scans;
    uint64_t *perm = xmalloc(n * sizeof *perm);
    w->put_keys = xmalloc(n * KEY_LEN);
    w->get_keys = xmalloc(n * KEY_LEN);
    w->scan_keys = xmalloc(n * KEY_LEN);
    w->scan_prefixes = xmalloc(scans * sizeof *w->scan_prefixes);
    w->values = xmalloc((size_t)VALUE_POOL * VAL_LEN);

    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    shuffle(perm, n);
    for (size_t i = 0; i < n; i++)
        make_key(w->put_keys + i * KEY_LEN, NULL, 0, (unsigned long long)perm[i]);
    shuffle(perm, n);
    for (size_t i = 0; i < n; i++)
        make_key(w->get_keys + i * KEY_LEN, NULL, 0, (unsigned long long)perm[i]);
    shuffle(perm, n);
    for (size_t i = 0; i < n; i++)
        make_key(w->scan_keys + i * KEY_LEN, "key%04u:%08llu", (unsigned)(perm[i] % PREFIXES),
                 (unsigned long long)(perm[i] / PREFIXES));
    for (size_t i = 0; i < scans; i++)
        w->scan_prefixes[i] = (unsigned)(rng_next() % PREFIXES);
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t v = 0; v < VALUE_POOL; v++) {
        char *p = w->values + v * VAL_LEN;
        for (size_t i = 0; i < VAL_LEN / 2; i++)
            p[i] = alnum[rng_next() % (sizeof alnum - 1)];
        memcpy(p + VAL_LEN / 2, p, VAL_LEN - VAL_LEN / 2);
    }
    free(perm);
}

static void workload_free(workload *w)
{
    free(w->put_keys);
    free(w->get_keys);
    free(w->scan_keys);
    free(w->scan_prefixes);
    free(w->values);
}

/* Entries under prefix group g: keys with index i, i % PREFIXES == g, i < n. */
static size_t group_size(size_t n, unsigned g) { return n / PREFIXES + (g < n % PREFIXES ? 1 : 0); }

/* ---- mnemo side ---- */

static mnemo_db *mn_open(const char *path)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.engine = g_engine;
    mnemo_db *db = NULL;
    MN(mnemo_open(&db, strcmp(g_engine, "memory") ? path : ":memory:", &o));
    return db;
}

static void mn_batches(mnemo_db *db, const char *keys, const workload *w)
{
    mnemo_kv_op ops[BATCH];
    for (size_t i = 0; i < w->n; i += BATCH) {
        size_t m = w->n - i < BATCH ? w->n - i : BATCH;
        for (size_t j = 0; j < m; j++)
            ops[j] = (mnemo_kv_op){MNEMO_KV_PUT, keys + (i + j) * KEY_LEN, KEY_LEN, val_for(w, i + j), VAL_LEN};
        MN(mnemo_kv_batch(db, NULL, ops, m));
    }
}

/* The timed loops are kept out of line so that profilers (perf, callgrind --toggle-collect) can
 * tell them apart from loading and opening. */
#define TIMED __attribute__((noinline))

static TIMED void mn_loop_put_autocommit(mnemo_db *db, const workload *w)
{
    for (size_t i = 0; i < w->n; i++)
        MN(mnemo_kv_put(db, NULL, w->put_keys + i * KEY_LEN, KEY_LEN, val_for(w, i), VAL_LEN));
}

static TIMED void mn_loop_put_batch_txn(mnemo_db *db, const workload *w)
{
    for (size_t i = 0; i < w->n; i += BATCH) {
        size_t m = w->n - i < BATCH ? w->n - i : BATCH;
        mnemo_txn *txn = NULL;
        MN(mnemo_txn_begin(&txn, db, 0));
        for (size_t j = i; j < i + m; j++)
            MN(mnemo_kv_put(db, txn, w->put_keys + j * KEY_LEN, KEY_LEN, val_for(w, j), VAL_LEN));
        MN(mnemo_txn_commit(txn));
        mnemo_txn_free(txn);
    }
}

static TIMED void mn_loop_put_batch_kv(mnemo_db *db, const workload *w) { mn_batches(db, w->put_keys, w); }

/* Returns the number of values that were wrong. */
static TIMED size_t mn_loop_view(mnemo_db *db, const workload *w)
{
    size_t bad = 0;
    for (size_t i = 0; i < w->n; i++) {
        mnemo_view v = MNEMO_VIEW_INIT;
        MN(mnemo_kv_view(&v, db, NULL, w->get_keys + i * KEY_LEN, KEY_LEN));
        bad += v.len != VAL_LEN || ((const char *)v.data)[0] == '\0';
        mnemo_view_release(&v);
    }
    return bad;
}

static TIMED size_t mn_loop_get(mnemo_db *db, const workload *w)
{
    size_t bad = 0;
    for (size_t i = 0; i < w->n; i++) {
        void *v = NULL;
        size_t vlen = 0;
        MN(mnemo_kv_get(&v, &vlen, db, NULL, w->get_keys + i * KEY_LEN, KEY_LEN));
        bad += vlen != VAL_LEN || ((const char *)v)[0] == '\0';
        mnemo_free(v);
    }
    return bad;
}

/* Returns the number of entries seen; *bytes sums their sizes (so nothing is optimised away). */
static TIMED size_t mn_loop_scan(mnemo_db *db, const workload *w, size_t *bytes)
{
    size_t seen = 0, sum = 0;
    for (size_t s = 0; s < w->scans; s++) {
        char prefix[PREFIX_LEN + 1];
        snprintf(prefix, sizeof prefix, "key%04u:", w->scan_prefixes[s]);
        mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
        o.prefix = prefix;
        o.prefix_len = PREFIX_LEN;
        mnemo_iter *it = NULL;
        MN(mnemo_kv_iter(&it, db, NULL, &o));
        int rc;
        const void *k, *v;
        size_t klen, vlen;
        while ((rc = mnemo_iter_next_kv(it, &k, &klen, &v, &vlen)) == 0) {
            sum += klen + vlen + ((const unsigned char *)k)[0] + ((const unsigned char *)v)[0];
            seen++;
        }
        if (rc != MNEMO_ITEROVER)
            die("mnemo_iter_next returned %s: %s", mnemo_strerror(rc), mnemo_errmsg());
        mnemo_iter_free(it);
    }
    *bytes = sum;
    return seen;
}

/* ---- the engine used directly (kv_direct.h) ---- */

static const char *val_cb(size_t i, const void *arg)
{
    const struct { const workload *w; size_t base; } *a = arg;
    return val_for(a->w, a->base + i);
}

static void kd_batches(kd_db *d, const char *keys, const workload *w)
{
    for (size_t i = 0; i < w->n; i += BATCH) {
        size_t m = w->n - i < BATCH ? w->n - i : BATCH;
        struct { const workload *w; size_t base; } arg = {w, i};
        kd_put_batch(d, keys + i * KEY_LEN, KEY_LEN, m, val_cb, &arg, VAL_LEN);
    }
}

static TIMED void kd_loop_put_autocommit(kd_db *d, const workload *w)
{
    for (size_t i = 0; i < w->n; i++)
        kd_put(d, w->put_keys + i * KEY_LEN, KEY_LEN, val_for(w, i), VAL_LEN);
}

static TIMED void kd_loop_put_batch(kd_db *d, const workload *w) { kd_batches(d, w->put_keys, w); }

static TIMED size_t kd_loop_get(kd_db *d, const workload *w, int copy)
{
    size_t bad = 0;
    for (size_t i = 0; i < w->n; i++) {
        size_t vlen = 0;
        unsigned char first = 0;
        int found = kd_get(d, w->get_keys + i * KEY_LEN, KEY_LEN, copy, &vlen, &first);
        bad += !found || vlen != VAL_LEN || first == '\0';
    }
    return bad;
}

static TIMED size_t kd_loop_scan(kd_db *d, const workload *w, size_t *bytes)
{
    size_t seen = 0, sum = 0;
    for (size_t s = 0; s < w->scans; s++) {
        char prefix[PREFIX_LEN + 1], upper[PREFIX_LEN + 1];
        snprintf(prefix, sizeof prefix, "key%04u:", w->scan_prefixes[s]);
        memcpy(upper, prefix, sizeof upper);
        upper[PREFIX_LEN - 1]++; /* successor of "key####:" is "key####;" */
        seen += kd_scan(d, prefix, PREFIX_LEN, upper, PREFIX_LEN, &sum);
    }
    *bytes = sum;
    return seen;
}

/* ---- one measurement: fresh directory, open, load if needed, settle, timed loop, close ---- */

enum op { OP_PUT_AUTOCOMMIT, OP_PUT_BATCH_TXN, OP_PUT_BATCH_KV, OP_GET_RANDOM, OP_GET_VIEW, OP_SCAN_PREFIX };
enum engine { ENGINE_MNEMO, ENGINE_DIRECT };

/* Returns the seconds the timed loop took; *entries gets the entries a scan saw. */
static double run_once(enum engine e, enum op op, const workload *w, size_t *entries)
{
    char path[PATH_MAX];
    new_run_dir(path, sizeof path);
    const char *load = op == OP_GET_RANDOM || op == OP_GET_VIEW ? w->put_keys
                       : op == OP_SCAN_PREFIX ? w->scan_keys : NULL;
    mnemo_db *db = NULL;
    kd_db *r = NULL;
    if (e == ENGINE_MNEMO) {
        db = mn_open(path);
        if (load) {
            mn_batches(db, load, w);
            MN(mnemo_flush(db));
        }
    } else {
        r = kd_open(g_engine, path);
        if (load) {
            kd_batches(r, load, w);
            kd_flush(r);
        }
    }
    sync(); /* write-back of earlier runs and of the load must not land in the timed part */

    size_t bad = 0, seen = 0, bytes = 0;
    double t0 = now_s();
    switch (op) {
    case OP_PUT_AUTOCOMMIT:
        e == ENGINE_MNEMO ? mn_loop_put_autocommit(db, w) : kd_loop_put_autocommit(r, w);
        break;
    case OP_PUT_BATCH_TXN: mn_loop_put_batch_txn(db, w); break;
    case OP_PUT_BATCH_KV: e == ENGINE_MNEMO ? mn_loop_put_batch_kv(db, w) : kd_loop_put_batch(r, w); break;
    case OP_GET_RANDOM: bad = e == ENGINE_MNEMO ? mn_loop_get(db, w) : kd_loop_get(r, w, 1); break;
    case OP_GET_VIEW: bad = e == ENGINE_MNEMO ? mn_loop_view(db, w) : kd_loop_get(r, w, 0); break;
    case OP_SCAN_PREFIX:
        seen = e == ENGINE_MNEMO ? mn_loop_scan(db, w, &bytes) : kd_loop_scan(r, w, &bytes);
        break;
    }
    double t = now_s() - t0;

    const char *name = e == ENGINE_MNEMO ? "mnemo" : "direct";
    if (bad)
        die("%s %s: %zu values missing or of the wrong length", name, op == OP_GET_VIEW ? "get_view" : "get_random",
            bad);
    if (op == OP_SCAN_PREFIX) {
        size_t want = 0;
        for (size_t s = 0; s < w->scans; s++)
            want += group_size(w->n, w->scan_prefixes[s]);
        if (seen != want || bytes < seen * (KEY_LEN + VAL_LEN))
            die("%s scan_prefix: saw %zu entries, want %zu", name, seen, want);
        *entries = seen;
    }
    if (e == ENGINE_MNEMO)
        MN(mnemo_close(db));
    else
        kd_close(r);
    rm_tree(path);
    return t;
}

/* ---- driver ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n-1]; v is left untouched. */
static double median(const double *v, int n)
{
    double *c = xmalloc((size_t)n * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    double m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    free(c);
    return m;
}

/* What the direct side of an operation calls, for the JSON line. */
static const char *baseline(enum op op)
{
    int lm = !strcmp(g_engine, "lmdb"), mem = !strcmp(g_engine, "memory");
    switch (op) {
    case OP_PUT_AUTOCOMMIT: return lm ? "mdb_txn_begin+mdb_put+mdb_txn_commit" : mem ? "DB::Put (MemEnv)" : "DB::Put";
    case OP_PUT_BATCH_TXN:
    case OP_PUT_BATCH_KV:
        return lm ? "one write txn of 1000 mdb_put" : mem ? "WriteBatch+DB::Write (MemEnv)" : "WriteBatch+DB::Write";
    case OP_GET_RANDOM:
        return lm ? "mdb_txn_renew+mdb_get+malloc+memcpy+mdb_txn_reset+free"
                  : mem ? "DB::Get std::string (MemEnv)" : "DB::Get std::string";
    case OP_GET_VIEW:
        return lm ? "mdb_txn_renew+mdb_get+mdb_txn_reset" : mem ? "DB::Get PinnableSlice (MemEnv)" : "DB::Get PinnableSlice";
    case OP_SCAN_PREFIX:
        return lm ? "mdb_cursor_get SET_RANGE+NEXT in a renewed txn"
               : mem ? "Iterator+iterate_upper_bound (MemEnv)" : "Iterator+iterate_upper_bound";
    }
    return "?";
}

/* One JSON line. ratio = median(mnemo) / median(direct), as the goal is stated; ratio_paired is
 * the median of the per-repetition ratios (each pair ran back to back), which resists drift from
 * other load on the machine better. */
static void emit(const char *op, size_t n, int reps, const double *mn, const double *rx, const char *baseline,
                 const char *extra)
{
    double *pr = xmalloc((size_t)reps * sizeof *pr);
    for (int r = 0; r < reps; r++)
        pr[r] = mn[r] / rx[r];
    double m = median(mn, reps), x = median(rx, reps), ratio = m / x, paired = median(pr, reps);
    free(pr);
    printf("{\"bench\":\"kv\",\"engine\":\"%s\",\"op\":\"%s\",\"n\":%zu,\"reps\":%d,\"mnemo_ops_s\":%.1f,"
           "\"direct_ops_s\":%.1f,\"ratio\":%.3f,\"goal\":\">=%.2f\",\"meets_goal\":%s,\"ratio_paired\":%.3f,"
           "\"baseline\":\"%s\"%s}\n",
           g_engine, op, n, reps, m, x, ratio, GOAL, ratio >= GOAL ? "true" : "false", paired, baseline,
           extra ? extra : "");
    fflush(stdout);
    fprintf(stderr, "bench_kv: %-15s mnemo %12.1f ops/s  direct %s %12.1f ops/s  ratio %.3f (paired %.3f)\n", op, m,
            g_engine, x, ratio, paired);
}

static void progress(const char *op, int rep, int reps, const char *engine, double ops_s)
{
    fprintf(stderr, "bench_kv:   %s rep %d/%d %-7s %12.1f ops/s\n", op, rep + 1, reps, engine, ops_s);
}

static void usage(FILE *f)
{
    fputs("usage: bench_kv [--engine E] [--n N] [--quick] [--reps R] [--scans S] [--only OP]\n"
          "  --engine E rocksdb (default) | lmdb | memory: mnemo on E against E used directly\n"
          "  --n N      keys per measurement (default 200000)\n"
          "  --quick    N = 20000 (CI smoke run)\n"
          "  --reps R   repetitions per measurement, median reported (default 5)\n"
          "  --scans S  prefix scans per scan measurement (default N/10)\n"
          "  --only OP  put_autocommit | put_batch | get (get_random, get_view) | scan_prefix\n",
          f);
}

static unsigned long long parse_num(const char *s, const char *flag)
{
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || errno || *end || v == 0 || s[0] == '-') {
        fprintf(stderr, "bench_kv: %s needs a positive integer\n", flag);
        usage(stderr);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    size_t n = 200000, scans = 0;
    int reps = 5;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n"))
            n = (size_t)parse_num(i + 1 < argc ? argv[++i] : NULL, "--n");
        else if (!strcmp(argv[i], "--quick"))
            n = 20000;
        else if (!strcmp(argv[i], "--reps"))
            reps = (int)parse_num(i + 1 < argc ? argv[++i] : NULL, "--reps");
        else if (!strcmp(argv[i], "--scans"))
            scans = (size_t)parse_num(i + 1 < argc ? argv[++i] : NULL, "--scans");
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--engine") && i + 1 < argc) {
            g_engine = argv[++i];
            if (strcmp(g_engine, "rocksdb") && strcmp(g_engine, "lmdb") && strcmp(g_engine, "memory")) {
                fprintf(stderr, "bench_kv: --engine needs rocksdb, lmdb or memory (got '%s')\n", g_engine);
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_kv: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (scans == 0)
        scans = n / 10 > 100 ? n / 10 : 100; /* N/10 scans of ~N/1000 entries each */
    if (n > 1000000000u || reps > 1000) {
        fprintf(stderr, "bench_kv: --n at most 1e9, --reps at most 1000\n");
        return 2;
    }
    if (only && strcmp(only, "put_autocommit") && strcmp(only, "put_batch") && strcmp(only, "get") &&
        strcmp(only, "scan_prefix")) {
        fprintf(stderr, "bench_kv: unknown op '%s'\n", only);
        usage(stderr);
        return 2;
    }

    const char *tmp = getenv("TMPDIR");
    int len = snprintf(g_root, sizeof g_root, "%s/bench_kv.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (len < 0 || (size_t)len >= sizeof g_root) {
        fprintf(stderr, "bench_kv: TMPDIR is too long\n");
        return 2;
    }
    if (!mkdtemp(g_root)) {
        fprintf(stderr, "bench_kv: mkdtemp %s: %s\n", g_root, strerror(errno));
        return 1;
    }
    fprintf(stderr, "bench_kv: mnemo %s, engine %s, n=%zu, reps=%d, scans=%zu, dir %s\n", mnemo_version(NULL, NULL, NULL),
            g_engine, n, reps, scans, g_root);

    workload w;
    workload_init(&w, n, scans);
    double *mn = xmalloc((size_t)reps * sizeof *mn), *rx = xmalloc((size_t)reps * sizeof *rx);
    double *mn2 = xmalloc((size_t)reps * sizeof *mn2);
    double dn = (double)n;

    if (!only || !strcmp(only, "put_autocommit")) {
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 2; k++) {
                if ((k == 0) == (r % 2 == 0)) {
                    mn[r] = dn / run_once(ENGINE_MNEMO, OP_PUT_AUTOCOMMIT, &w, NULL);
                    progress("put_autocommit", r, reps, "mnemo", mn[r]);
                } else {
                    rx[r] = dn / run_once(ENGINE_DIRECT, OP_PUT_AUTOCOMMIT, &w, NULL);
                    progress("put_autocommit", r, reps, "direct", rx[r]);
                }
            }
        emit("put_autocommit", n, reps, mn, rx, baseline(OP_PUT_AUTOCOMMIT), NULL);
    }

    if (!only || !strcmp(only, "put_batch")) {
        /* Three runs per repetition, rotated: mnemo txn, the direct batch, mnemo_kv_batch. */
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 3; k++) {
                int which = (r % 2 == 0) ? k : 2 - k;
                if (which == 0) {
                    mn[r] = dn / run_once(ENGINE_MNEMO, OP_PUT_BATCH_TXN, &w, NULL);
                    progress("put_batch_txn", r, reps, "mnemo", mn[r]);
                } else if (which == 1) {
                    rx[r] = dn / run_once(ENGINE_DIRECT, OP_PUT_BATCH_KV, &w, NULL);
                    progress("put_batch", r, reps, "direct", rx[r]);
                } else {
                    mn2[r] = dn / run_once(ENGINE_MNEMO, OP_PUT_BATCH_KV, &w, NULL);
                    progress("put_batch_kv", r, reps, "mnemo", mn2[r]);
                }
            }
        emit("put_batch_txn", n, reps, mn, rx, baseline(OP_PUT_BATCH_TXN), ",\"batch\":1000");
        emit("put_batch_kv", n, reps, mn2, rx, baseline(OP_PUT_BATCH_KV), ",\"batch\":1000");
    }

    if (!only || !strcmp(only, "get")) {
        static const struct { enum op op; const char *name; } gets[] = {{OP_GET_RANDOM, "get_random"},
                                                                           {OP_GET_VIEW, "get_view"}};
        for (size_t g = 0; g < 2; g++) {
            for (int r = 0; r < reps; r++)
                for (int k = 0; k < 2; k++) {
                    if ((k == 0) == (r % 2 == 0)) {
                        mn[r] = dn / run_once(ENGINE_MNEMO, gets[g].op, &w, NULL);
                        progress(gets[g].name, r, reps, "mnemo", mn[r]);
                    } else {
                        rx[r] = dn / run_once(ENGINE_DIRECT, gets[g].op, &w, NULL);
                        progress(gets[g].name, r, reps, "direct", rx[r]);
                    }
                }
            emit(gets[g].name, n, reps, mn, rx, baseline(gets[g].op), NULL);
        }
    }

    if (!only || !strcmp(only, "scan_prefix")) {
        double *mns = xmalloc((size_t)reps * sizeof *mns), *rxs = xmalloc((size_t)reps * sizeof *rxs);
        size_t entries = 0;
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < 2; k++) {
                double t;
                if ((k == 0) == (r % 2 == 0)) {
                    t = run_once(ENGINE_MNEMO, OP_SCAN_PREFIX, &w, &entries);
                    mn[r] = (double)entries / t;
                    mns[r] = (double)scans / t;
                    progress("scan_prefix", r, reps, "mnemo", mn[r]);
                } else {
                    t = run_once(ENGINE_DIRECT, OP_SCAN_PREFIX, &w, &entries);
                    rx[r] = (double)entries / t;
                    rxs[r] = (double)scans / t;
                    progress("scan_prefix", r, reps, "direct", rx[r]);
                }
            }
        char extra[256];
        snprintf(extra, sizeof extra,
                 ",\"unit\":\"entries\",\"scans\":%zu,\"prefixes\":%u,\"entries_per_scan\":%.1f,"
                 "\"mnemo_scans_s\":%.1f,\"direct_scans_s\":%.1f",
                 scans, PREFIXES, (double)entries / (double)scans, median(mns, reps), median(rxs, reps));
        emit("scan_prefix", n, reps, mn, rx, baseline(OP_SCAN_PREFIX), extra);
        free(mns);
        free(rxs);
    }

    free(mn);
    free(rx);
    free(mn2);
    workload_free(&w);
    cleanup_root();
    return 0;
}
