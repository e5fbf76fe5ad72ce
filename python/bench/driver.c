/* The C side of python/bench/bench_python.py: the same work as the Python side, on the same
 * library (linked from the same static archive), timed the same way. Prints one JSON line per
 * operation: {"op": ..., "n": ..., "seconds": ...}.
 * Usage: driver DBDIR SIFTSMALL_DIR N_KV SEARCH_ROUNDS */
#define _POSIX_C_SOURCE 200809L
#include <mnemo/mnemo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ < 0) {                                                                             \
            fprintf(stderr, "%s: %s (%s)\n", #call, mnemo_strerror(rc_), mnemo_errmsg());         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static float *read_fvecs(const char *path, size_t *n, size_t *dim)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    int d;
    if (fread(&d, 4, 1, f) != 1)
        exit(1);
    *dim = (size_t)d;
    *n = (size_t)size / (4 + 4 * *dim);
    float *v = malloc(*n * *dim * sizeof *v);
    fseek(f, 0, SEEK_SET);
    for (size_t i = 0; i < *n; i++)
        if (fread(&d, 4, 1, f) != 1 || fread(v + i * *dim, 4, *dim, f) != *dim)
            exit(1);
    fclose(f);
    return v;
}

static void line(const char *op, size_t n, double seconds)
{
    printf("{\"op\":\"%s\",\"n\":%zu,\"seconds\":%.6f}\n", op, n, seconds);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: driver DBDIR SIFTSMALL_DIR N_KV SEARCH_ROUNDS\n");
        return 2;
    }
    size_t n_kv = strtoull(argv[3], NULL, 10), rounds = strtoull(argv[4], NULL, 10);
    char path[4096];
    size_t nb, nq, dim, dq;
    snprintf(path, sizeof path, "%s/siftsmall_base.fvecs", argv[2]);
    float *base = read_fvecs(path, &nb, &dim);
    snprintf(path, sizeof path, "%s/siftsmall_query.fvecs", argv[2]);
    float *queries = read_fvecs(path, &nq, &dq);

    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = (uint32_t)dim;
    o.vector_metric = MNEMO_METRIC_L2;
    mnemo_db *db;
    CHECK(mnemo_open(&db, argv[1], &o));

    char key[32], val[100];
    memset(val, 'v', sizeof val);
    double t = now();
    for (size_t i = 0; i < n_kv; i++) {
        snprintf(key, sizeof key, "k%08zu", i);
        CHECK(mnemo_kv_put(db, NULL, key, strlen(key), val, sizeof val));
    }
    line("kv_put", n_kv, now() - t);
    t = now();
    for (size_t i = 0; i < n_kv; i++) {
        snprintf(key, sizeof key, "k%08zu", i);
        void *v;
        size_t vlen;
        CHECK(mnemo_kv_get(&v, &vlen, db, NULL, key, strlen(key)));
        mnemo_free(v);
    }
    line("kv_get", n_kv, now() - t);

    char **ids = malloc(nb * sizeof *ids);
    mnemo_txn *txn;
    CHECK(mnemo_txn_begin(&txn, db, 0));
    for (size_t i = 0; i < nb; i++) {
        ids[i] = malloc(16);
        snprintf(ids[i], 16, "v%zu", i);
        mnemo_record r = {0};
        r.id = ids[i];
        CHECK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
    }
    CHECK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    t = now();
    CHECK(mnemo_vector_put_batch(db, NULL, (const char *const *)ids, base, nb, dim));
    line("vector_put_batch", nb, now() - t);

    size_t checksum = 0;
    t = now();
    for (size_t r = 0; r < rounds; r++)
        for (size_t q = 0; q < nq; q++) {
            mnemo_hits *h;
            CHECK(mnemo_vector_search(&h, db, NULL, queries + q * dim, dim, 10, NULL));
            checksum += h->count;
            mnemo_hits_free(h);
        }
    line("search_k10", rounds * nq, now() - t);
    if (checksum != rounds * nq * 10)
        return 1;
    CHECK(mnemo_close(db));
    return 0;
}
