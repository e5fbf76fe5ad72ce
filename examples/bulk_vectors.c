/* Bulk load of vectors: the 10,000 SIFT vectors of data/siftsmall (128 dimensions) go in with
 * mnemo_vector_put_batch, 1,000 per transaction; then the 100 query vectors are searched and the
 * answers compared with the data set's ground truth (recall@10).
 * Run: bulk_vectors DATA_DIR [DB_DIR]   (DATA_DIR holds siftsmall/; default DB: a temporary dir).
 * Without the data set (DATA_DIR absent or unreadable) it generates random vectors and checks
 * that every vector finds itself. */
#include "example.h"

#include <string.h>
#include <time.h>

#define BATCH 1000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read a whole .fvecs (or .ivecs: same layout, int32 values) file. @return rows, 0 if unreadable. */
static size_t read_vecs(const char *path, void **out, size_t *dim)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = 0, cap = 0;
    int32_t d;
    char *buf = NULL;
    while (fread(&d, 4, 1, f) == 1) {
        EXPECT(d > 0 && (n == 0 || (size_t)d == *dim));
        *dim = (size_t)d;
        if (n == cap)
            buf = realloc(buf, (cap = cap ? 2 * cap : 1024) * *dim * 4);
        EXPECT(buf && fread(buf + n * *dim * 4, 4, *dim, f) == *dim);
        n++;
    }
    fclose(f);
    *out = buf;
    return n;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/mnemo-bulk-XXXXXX", path[4096];
    const char *data = argc > 1 ? argv[1] : "data";
    float *base = NULL, *queries = NULL;
    int32_t *truth = NULL;
    size_t dim = 0, qdim = 0, tdim = 0, nq = 0, nt = 0;
    snprintf(path, sizeof path, "%s/siftsmall/siftsmall_base.fvecs", data);
    size_t n = read_vecs(path, (void **)&base, &dim);
    if (n) {
        snprintf(path, sizeof path, "%s/siftsmall/siftsmall_query.fvecs", data);
        nq = read_vecs(path, (void **)&queries, &qdim);
        snprintf(path, sizeof path, "%s/siftsmall/siftsmall_groundtruth.ivecs", data);
        nt = read_vecs(path, (void **)&truth, &tdim);
        EXPECT(nq > 0 && nt == nq && qdim == dim && tdim >= 10);
        printf("siftsmall: %zu base vectors, %zu queries, dimension %zu\n", n, nq, dim);
    } else { /* generated: the queries are the first 100 base vectors themselves */
        n = 5000;
        dim = 32;
        nq = 100;
        base = malloc(n * dim * sizeof *base);
        uint32_t x = 1;
        for (size_t i = 0; i < n * dim; i++) {
            x = x * 1664525u + 1013904223u;
            base[i] = (float)(x >> 8) / (float)(1u << 24);
        }
        queries = malloc(nq * dim * sizeof *queries);
        memcpy(queries, base, nq * dim * sizeof *queries);
        printf("no siftsmall under %s: %zu generated vectors of dimension %zu\n", data, n, dim);
    }

    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_dim = (uint32_t)dim; /* L2, the SIFT metric */
    mnemo_db *db = example_open(argc, argv, 2, tmp, &o);

    double t0 = now();
    char(*idbuf)[16] = malloc(BATCH * sizeof *idbuf);
    const char **ids = malloc(BATCH * sizeof *ids);
    for (size_t first = 0; first < n; first += BATCH) {
        size_t m = n - first < BATCH ? n - first : BATCH;
        mnemo_txn *txn;
        CHECK(mnemo_txn_begin(&txn, db, 0));
        for (size_t i = 0; i < m; i++) {
            snprintf(idbuf[i], sizeof idbuf[i], "%zu", first + i);
            ids[i] = idbuf[i];
            mnemo_record r = {0}; /* an embedding belongs to a record */
            r.id = ids[i];
            CHECK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
        }
        CHECK(mnemo_vector_put_batch(db, txn, ids, base + first * dim, m, dim));
        CHECK(mnemo_txn_commit(txn));
        mnemo_txn_free(txn);
    }
    double load = now() - t0;
    printf("loaded %zu vectors in %.2f s (%.0f vectors/s)\n", n, load, n / load);

    t0 = now();
    mnemo_vector_hits **hits = malloc(nq * sizeof *hits);
    CHECK(mnemo_vector_search_batch(hits, db, NULL, queries, nq, dim, 10, NULL));
    double search = now() - t0;
    size_t found = 0;
    for (size_t q = 0; q < nq; q++) {
        EXPECT(hits[q]->count == 10);
        for (size_t i = 0; i < 10; i++) {
            long id = strtol(hits[q]->hits[i].id, NULL, 10);
            if (truth) {
                for (size_t t = 0; t < 10; t++)
                    found += truth[q * tdim + t] == id;
            } else {
                found += i == 0 && id == (long)q; /* a vector's nearest is itself */
            }
        }
        mnemo_vector_hits_free(hits[q]);
    }
    free(hits);
    double recall = (double)found / (double)(truth ? nq * 10 : nq);
    printf("%zu queries in %.1f ms, recall@10 %.3f%s\n", nq, search * 1000, recall,
           truth ? " (against the ground truth)" : " (self-match)");
    EXPECT(recall >= 0.95);

    mnemo_vector_stats vs = MNEMO_VECTOR_STATS_INIT;
    CHECK(mnemo_vector_stats_get(&vs, db));
    EXPECT(vs.vectors == n);
    CHECK(mnemo_vector_check(db, NULL));
    free(idbuf);
    free(ids);
    free(base);
    free(queries);
    free(truth);
    return example_close(db, tmp);
}
