/* Tuning benchmark: mnemo's storage defaults (build_rocks_options in src/txn/db.c) against one
 * alternative at a time, on a mixed read/write workload shaped like an agent's memory store.
 * Public API only.
 *
 *   bench_tuning [--quick] [--n N] [--reps R] [--only KNOB]
 *
 * Per run, in a fresh directory:
 *   load   N pairs (16-byte keys in random order, 200-byte values) in transactions of 1000
 *          (mnemo_txn_begin / mnemo_kv_put / mnemo_txn_commit), then mnemo_flush; timed together.
 *   sync() so that write-back of the load does not land in the timed phase.
 *   mixed  M operations, timed: 50% gets of existing keys (uniform), 10% gets of absent keys that
 *          fall inside the key range (only a bloom filter avoids reading a data block), 35%
 *          auto-commit puts (half overwrite an existing key, half add a new one), 5% prefix scans
 *          reading the first 20 entries of a group.
 *   size   mnemo_compact, then the sum of the sizes of all files in the directory (and of the
 *          .sst files alone).
 * The operation sequence is generated before any timing and is the same for every configuration.
 *
 * Configurations vary one knob from the defaults: compression none/snappy/lz4/zstd, bloom bits
 * -1 (off)/10/16, block cache 8/64/256 MiB, write buffer 16/64/128 MiB. The default configuration
 * runs once in each knob's group, so the four default lines show the run-to-run noise. Repetitions
 * are interleaved (every configuration once per round, order reversed on odd rounds) and medians
 * are reported. stdout: one JSON line per configuration; progress on stderr. Exit status 0
 * whatever the figures, 1 on any API error or wrong result, 2 on bad arguments. */
#include <ftw.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#include "bench_util.h"

#define KEY_LEN 16
#define VAL_LEN 200
#define BATCH 1000
#define SCAN_LEN 20         /* entries read per scan; also the preloaded entries per group */
#define PREFIX_LEN 9        /* "k%07u." */
#define ABSENT_IDX 9000000u /* absent keys use in-group indexes from here on: never written */
#define VALUE_POOL 65536u
#define MIB ((size_t)1 << 20)

#define CHECK(call)                                                                                      \
    do {                                                                                                 \
        int rc_ = (call);                                                                                \
        if (rc_ != 0)                                                                                    \
            bu_die("%s:%d: %s: %s (%s)", __FILE__, __LINE__, #call, mnemo_strerror(rc_), mnemo_errmsg()); \
    } while (0)

/* ---- configurations ---- */

typedef struct config {
    const char *knob;
    const char *value;
    int is_default;
    mnemo_compression compression;
    int bloom_bits; /* 0 = default */
    size_t block_cache, write_buffer; /* 0 = default */
} config;

static const config CONFIGS[] = {
    {"compression", "none", 0, MNEMO_COMPRESSION_NONE, 0, 0, 0},
    {"compression", "snappy", 0, MNEMO_COMPRESSION_SNAPPY, 0, 0, 0},
    {"compression", "lz4", 1, MNEMO_COMPRESSION_DEFAULT, 0, 0, 0},
    {"compression", "zstd", 0, MNEMO_COMPRESSION_ZSTD, 0, 0, 0},
    {"key_filter_bits", "-1", 0, MNEMO_COMPRESSION_DEFAULT, -1, 0, 0},
    {"key_filter_bits", "10", 1, MNEMO_COMPRESSION_DEFAULT, 0, 0, 0},
    {"key_filter_bits", "16", 0, MNEMO_COMPRESSION_DEFAULT, 16, 0, 0},
    {"read_cache_bytes", "8MiB", 0, MNEMO_COMPRESSION_DEFAULT, 0, 8 * MIB, 0},
    {"read_cache_bytes", "64MiB", 1, MNEMO_COMPRESSION_DEFAULT, 0, 0, 0},
    {"read_cache_bytes", "256MiB", 0, MNEMO_COMPRESSION_DEFAULT, 0, 256 * MIB, 0},
    {"write_buffer_bytes", "16MiB", 0, MNEMO_COMPRESSION_DEFAULT, 0, 0, 16 * MIB},
    {"write_buffer_bytes", "64MiB", 1, MNEMO_COMPRESSION_DEFAULT, 0, 0, 0},
    {"write_buffer_bytes", "128MiB", 0, MNEMO_COMPRESSION_DEFAULT, 0, 0, 128 * MIB},
};
#define N_CONFIGS (sizeof CONFIGS / sizeof CONFIGS[0])

/* ---- workload: generated once, before any timing ---- */

enum op_type { OP_GET, OP_GET_ABSENT, OP_PUT, OP_SCAN };

typedef struct workload {
    size_t n, m, groups;
    char *load_keys; /* n keys, random order */
    char *op_keys;   /* m keys (for a scan: the group prefix, zero-padded) */
    uint8_t *op_type;
    uint32_t *op_val; /* value index of a put */
    char *values;     /* VALUE_POOL values */
    size_t counts[4];
} workload;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        bu_die("out of memory (%zu bytes)", n);
    return p;
}

/* Key of item id: group id % groups, index id / groups, so each group holds the ids congruent to it
 * and a prefix scan of a group reads ids spread over the whole load. */
static void make_key(char *dst, size_t groups, size_t group, size_t idx)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "k%07zu.%07zu", group, idx);
    if (len != KEY_LEN)
        bu_die("key generation produced %d bytes, want %d (groups %zu)", len, KEY_LEN, groups);
    memcpy(dst, tmp, KEY_LEN);
}

static void id_key(char *dst, size_t groups, size_t id) { make_key(dst, groups, id % groups, id / groups); }

static void workload_init(workload *w, size_t n, size_t m)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->m = m;
    w->groups = n / SCAN_LEN; /* every group gets exactly SCAN_LEN preloaded ids */
    w->load_keys = xmalloc(n * KEY_LEN);
    w->op_keys = xmalloc(m * KEY_LEN);
    w->op_type = xmalloc(m);
    w->op_val = xmalloc(m * sizeof *w->op_val);
    w->values = xmalloc((size_t)VALUE_POOL * VAL_LEN);

    bu_seed(0x74756e696e67ull);
    size_t *perm = xmalloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(bu_rand() % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        id_key(w->load_keys + i * KEY_LEN, w->groups, perm[i]);
    free(perm);

    /* Semi-compressible values: 100 random alphanumerics, then the same 100 again (LZ-style
     * compressors halve it, an entropy stage gets a little more out of the first half). */
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t v = 0; v < VALUE_POOL; v++) {
        char *p = w->values + v * VAL_LEN;
        for (size_t i = 0; i < VAL_LEN / 2; i++)
            p[i] = alnum[bu_rand() % (sizeof alnum - 1)];
        memcpy(p + VAL_LEN / 2, p, VAL_LEN - VAL_LEN / 2);
    }

    size_t live = n; /* ids 0..live-1 exist */
    for (size_t i = 0; i < m; i++) {
        unsigned r = (unsigned)(bu_rand() % 100);
        char *k = w->op_keys + i * KEY_LEN;
        enum op_type t;
        if (r < 50) {
            t = OP_GET;
            id_key(k, w->groups, (size_t)(bu_rand() % live));
        } else if (r < 60) {
            t = OP_GET_ABSENT;
            make_key(k, w->groups, (size_t)(bu_rand() % w->groups), ABSENT_IDX + (size_t)(bu_rand() % 999999));
        } else if (r < 95) {
            t = OP_PUT;
            size_t id = (bu_rand() & 1) ? live++ : (size_t)(bu_rand() % live);
            id_key(k, w->groups, id);
            w->op_val[i] = (uint32_t)(bu_rand() % VALUE_POOL);
        } else {
            t = OP_SCAN;
            char tmp[32];
            snprintf(tmp, sizeof tmp, "k%07zu.", (size_t)(bu_rand() % w->groups));
            memset(k, 0, KEY_LEN);
            memcpy(k, tmp, PREFIX_LEN);
        }
        w->op_type[i] = (uint8_t)t;
        w->counts[t]++;
    }
    if (live / w->groups >= ABSENT_IDX)
        bu_die("too many keys per group for the absent-key scheme");
}

static void workload_free(workload *w)
{
    free(w->load_keys);
    free(w->op_keys);
    free(w->op_type);
    free(w->op_val);
    free(w->values);
}

/* ---- one run ---- */

static mnemo_db *open_db(const char *path, const config *c)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.storage.compression = c->compression;
    o.storage.key_filter_bits = c->bloom_bits;
    o.storage.read_cache_bytes = c->block_cache;
    o.storage.write_buffer_bytes = c->write_buffer;
    mnemo_db *db = NULL;
    CHECK(mnemo_open(&db, path, &o));
    return db;
}

#define TIMED __attribute__((noinline))

static TIMED void load(mnemo_db *db, const workload *w)
{
    for (size_t i = 0; i < w->n; i += BATCH) {
        size_t end = w->n - i < BATCH ? w->n : i + BATCH;
        mnemo_txn *txn = NULL;
        CHECK(mnemo_txn_begin(&txn, db, 0));
        for (size_t j = i; j < end; j++)
            CHECK(mnemo_kv_put(db, txn, w->load_keys + j * KEY_LEN, KEY_LEN, w->values + (j % VALUE_POOL) * VAL_LEN,
                               VAL_LEN));
        CHECK(mnemo_txn_commit(txn));
        mnemo_txn_free(txn);
    }
    CHECK(mnemo_flush(db));
}

/* Returns a checksum of what was read, so that nothing is optimised away. */
static TIMED uint64_t mixed(mnemo_db *db, const workload *w)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < w->m; i++) {
        const char *k = w->op_keys + i * KEY_LEN;
        switch ((enum op_type)w->op_type[i]) {
        case OP_GET: {
            void *v = NULL;
            size_t vlen = 0;
            CHECK(mnemo_kv_get(&v, &vlen, db, NULL, k, KEY_LEN));
            if (vlen != VAL_LEN)
                bu_die("get of op %zu returned %zu bytes, want %d", i, vlen, VAL_LEN);
            sum += ((const unsigned char *)v)[0];
            mnemo_free(v);
            break;
        }
        case OP_GET_ABSENT: {
            void *v = NULL;
            size_t vlen = 0;
            int rc = mnemo_kv_get(&v, &vlen, db, NULL, k, KEY_LEN);
            if (rc != MNEMO_ENOTFOUND)
                bu_die("get of absent key (op %zu) returned %s: %s", i, mnemo_strerror(rc), mnemo_errmsg());
            sum++;
            break;
        }
        case OP_PUT:
            CHECK(mnemo_kv_put(db, NULL, k, KEY_LEN, w->values + (size_t)w->op_val[i] * VAL_LEN, VAL_LEN));
            break;
        case OP_SCAN: {
            mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
            o.prefix = k;
            o.prefix_len = PREFIX_LEN;
            mnemo_iter *it = NULL;
            CHECK(mnemo_kv_iter(&it, db, NULL, &o));
            int seen = 0, rc = 0;
            while (seen < SCAN_LEN && (rc = mnemo_iter_next(it)) == 0) {
                const void *key, *val;
                size_t klen, vlen;
                CHECK(mnemo_iter_key(it, &key, &klen));
                CHECK(mnemo_iter_value(it, &val, &vlen));
                sum += klen + vlen + ((const unsigned char *)val)[0];
                seen++;
            }
            if (rc != 0 && rc != MNEMO_ITEROVER)
                bu_die("mnemo_iter_next (op %zu) returned %s: %s", i, mnemo_strerror(rc), mnemo_errmsg());
            if (seen != SCAN_LEN)
                bu_die("scan of op %zu saw %d entries, want %d", i, seen, SCAN_LEN);
            mnemo_iter_free(it);
            break;
        }
        }
    }
    return sum;
}

static uint64_t du_total, du_sst, du_sst_files;

static int du_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_F) {
        du_total += (uint64_t)sb->st_size;
        size_t len = strlen(path);
        if (len > 4 && !strcmp(path + len - 4, ".sst"))
        {
            du_sst += (uint64_t)sb->st_size;
            du_sst_files++;
        }
    }
    return 0;
}

typedef struct result {
    double load_ops_s, mixed_ops_s, mixed_cpu_ops_s, mixed_bg_cpu_s, disk_bytes, sst_bytes;
    double sst_files_after_load; /* how many tables the timed gets may have to consult */
} result;

static double cpu_s(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        bu_die("clock_gettime failed");
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void disk_usage(const char *path)
{
    du_total = du_sst = du_sst_files = 0;
    if (nftw(path, du_entry, 16, FTW_PHYS) != 0)
        bu_die("cannot walk %s", path);
}

static result run_once(const config *c, const workload *w)
{
    char path[PATH_MAX];
    bu_run_dir(path, sizeof path, c->knob);
    mnemo_db *db = open_db(path, c);
    result r;

    double t0 = bu_now_s();
    load(db, w);
    r.load_ops_s = (double)w->n / (bu_now_s() - t0);
    disk_usage(path);
    r.sst_files_after_load = (double)du_sst_files;

    sync();
    double th0 = cpu_s(CLOCK_THREAD_CPUTIME_ID), pr0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    t0 = bu_now_s();
    uint64_t sum = mixed(db, w);
    r.mixed_ops_s = (double)w->m / (bu_now_s() - t0);
    double th = cpu_s(CLOCK_THREAD_CPUTIME_ID) - th0, pr = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - pr0;
    r.mixed_cpu_ops_s = (double)w->m / th;
    r.mixed_bg_cpu_s = pr > th ? pr - th : 0; /* RocksDB's flush and compaction threads during the phase */
    if (sum == 0)
        bu_die("mixed phase read nothing");

    CHECK(mnemo_compact(db));
    disk_usage(path);
    r.disk_bytes = (double)du_total;
    r.sst_bytes = (double)du_sst;
    CHECK(mnemo_close(db));
    bu_rm_tree(path);
    return r;
}

/* ---- driver ---- */

static double med(const result *rs, int reps, size_t field_off)
{
    double *v = xmalloc((size_t)reps * sizeof *v);
    for (int r = 0; r < reps; r++)
        v[r] = *(const double *)((const char *)&rs[r] + field_off);
    double m = bu_median(v, reps);
    free(v);
    return m;
}

static size_t default_of(const char *knob)
{
    for (size_t c = 0; c < N_CONFIGS; c++)
        if (CONFIGS[c].is_default && !strcmp(CONFIGS[c].knob, knob))
            return c;
    bu_die("no default configuration for %s", knob);
}

/* One JSON line. *_ratio_paired: median over repetitions of this configuration's figure divided by
 * that of its knob's default run in the same repetition (the two ran a few seconds apart), which
 * resists drift in the machine's load better than a ratio of medians. */
static void emit(const config *c, const result *res, size_t ci, int reps, size_t n, size_t m)
{
    const result *rs = &res[ci * (size_t)reps], *ds = &res[default_of(c->knob) * (size_t)reps];
    double lo = rs[0].mixed_ops_s, hi = lo;
    double *rm = xmalloc((size_t)reps * sizeof *rm), *rl = xmalloc((size_t)reps * sizeof *rl);
    for (int r = 0; r < reps; r++) {
        lo = rs[r].mixed_ops_s < lo ? rs[r].mixed_ops_s : lo;
        hi = rs[r].mixed_ops_s > hi ? rs[r].mixed_ops_s : hi;
        rm[r] = rs[r].mixed_ops_s / ds[r].mixed_ops_s;
        rl[r] = rs[r].load_ops_s / ds[r].load_ops_s;
    }
    printf("{\"bench\":\"tuning\",\"knob\":\"%s\",\"value\":\"%s\",\"default\":%s,\"n\":%zu,\"m\":%zu,"
           "\"load_ops_s\":%.1f,\"mixed_ops_s\":%.1f,\"mixed_ops_s_min\":%.1f,\"mixed_ops_s_max\":%.1f,"
           "\"mixed_cpu_ops_s\":%.1f,\"mixed_ratio_paired\":%.3f,\"load_ratio_paired\":%.3f,"
           "\"mixed_bg_cpu_s\":%.3f,\"sst_files_after_load\":%.0f,\"disk_bytes\":%.0f,\"sst_bytes\":%.0f,"
           "\"reps\":%d}\n",
           c->knob, c->value, c->is_default ? "true" : "false", n, m, med(rs, reps, offsetof(result, load_ops_s)),
           med(rs, reps, offsetof(result, mixed_ops_s)), lo, hi, med(rs, reps, offsetof(result, mixed_cpu_ops_s)),
           bu_median(rm, reps), bu_median(rl, reps), med(rs, reps, offsetof(result, mixed_bg_cpu_s)),
           med(rs, reps, offsetof(result, sst_files_after_load)), med(rs, reps, offsetof(result, disk_bytes)),
           med(rs, reps, offsetof(result, sst_bytes)), reps);
    fflush(stdout);
    free(rm);
    free(rl);
}

static void usage(FILE *f)
{
    fputs("usage: bench_tuning [--quick] [--n N] [--reps R] [--only KNOB]\n"
          "  --quick     N = M = 20000 (smoke run; default N = M = 300000)\n"
          "  --n N       N = M = N (preloaded pairs and mixed operations; at least 1000)\n"
          "  --reps R    repetitions per configuration, medians reported (default 3)\n"
          "  --only KNOB compression | key_filter_bits | read_cache_bytes | write_buffer_bytes\n",
          f);
}


int main(int argc, char **argv)
{
    size_t n = 300000, m = 300000;
    int reps = 3;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            n = m = 20000;
        } else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            char *end;
            long long v = strtoll(argv[++i], &end, 10);
            if (*end || v < 1000 || v > 50000000) {
                fprintf(stderr, "bench_tuning: --n needs an integer in 1000..50000000\n");
                return 2;
            }
            n = m = (size_t)v;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "bench_tuning: --reps needs an integer in 1..1000\n");
                return 2;
            }
            reps = (int)v;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_tuning: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    size_t sel[N_CONFIGS], n_sel = 0;
    for (size_t c = 0; c < N_CONFIGS; c++)
        if (!only || !strcmp(only, CONFIGS[c].knob))
            sel[n_sel++] = c;
    if (!n_sel) {
        fprintf(stderr, "bench_tuning: unknown knob '%s'\n", only);
        usage(stderr);
        return 2;
    }

    workload w;
    workload_init(&w, n, m);
    fprintf(stderr,
            "bench_tuning: mnemo %s, n=%zu m=%zu (get %zu, get_absent %zu, put %zu, scan %zu), reps=%d, "
            "%zu configurations\n",
            mnemo_version(NULL, NULL, NULL), n, m, w.counts[OP_GET], w.counts[OP_GET_ABSENT], w.counts[OP_PUT],
            w.counts[OP_SCAN], reps, n_sel);

    result *res = xmalloc(N_CONFIGS * (size_t)reps * sizeof *res);
    for (int r = 0; r < reps; r++)
        for (size_t k = 0; k < n_sel; k++) {
            size_t c = sel[r % 2 ? n_sel - 1 - k : k];
            result *x = &res[c * (size_t)reps + (size_t)r];
            *x = run_once(&CONFIGS[c], &w);
            fprintf(stderr, "bench_tuning:   rep %d/%d %-18s %-6s load %7.0f/s  mixed %7.0f/s (cpu %7.0f/s, bg %.2f s)  "
                    "%2.0f tables after load, disk %.1f MB\n",
                    r + 1, reps, CONFIGS[c].knob, CONFIGS[c].value, x->load_ops_s, x->mixed_ops_s,
                    x->mixed_cpu_ops_s, x->mixed_bg_cpu_s, x->sst_files_after_load, x->disk_bytes / 1e6);
        }

    for (size_t k = 0; k < n_sel; k++)
        emit(&CONFIGS[sel[k]], res, sel[k], reps, n, m);
    free(res);
    workload_free(&w);
    return 0;
}
