#include "bench_util.h"

#include <mnemo/mnemo.h>

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char root[512];
static unsigned runs;
static uint64_t state = 0x6d6e656d6f2d6276ull;

void bu_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

double bu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bu_seed(uint64_t seed) { state = seed; }

uint64_t bu_rand(void) { return bu_rand_r(&state); }

uint64_t bu_rand_r(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void bu_rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void cleanup(void)
{
    if (root[0])
        bu_rm_tree(root);
}

void bu_run_dir(char *buf, size_t cap, const char *name)
{
    if (!root[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(root, sizeof root, "%s/mnemo-bench-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(root))
            bu_die("cannot create a scratch directory under %s", t && *t ? t : "/tmp");
        atexit(cleanup);
    }
    snprintf(buf, cap, "%s/%s-%u", root, name, runs++);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bu_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const char *bu_engine = "rocksdb";

void bu_set_engine(const char *name)
{
    if (!name || (strcmp(name, "rocksdb") && strcmp(name, "lmdb") && strcmp(name, "memory"))) {
        fprintf(stderr, "bench: --engine needs rocksdb, lmdb or memory (got '%s')\n", name ? name : "");
        exit(2);
    }
    bu_engine = name;
}

const char *bu_db_path(const char *dir) { return strcmp(bu_engine, "memory") ? dir : ":memory:"; }

void bu_create_options(mnemo_options *o)
{
    *o = (mnemo_options)MNEMO_OPTIONS_INIT;
    o->create_if_missing = 1;
    o->engine = bu_engine;
}
