/* Exact nearest neighbours over the index's own rows: one cblas_sgemm per block of stored vectors
 * gives every query's dot products with the block, then distances and a bounded heap per query.
 * The rows are read where hnswlib keeps them (fixed stride), so nothing is copied. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "vector/vector_impl.h"

#define BLOCK 2048

/* Max-heap of the k best (largest distance on top). */
typedef struct topk {
    uint64_t *labels;
    float *dists;
    size_t n, k;
} topk;

/* Puts (d, label) at position i of the heap's first h->n entries and sifts it down. */
static inline void sift_down(topk *h, size_t i, float d, uint64_t label)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        float md = d;
        if (l < h->n && h->dists[l] > md)
            m = l, md = h->dists[l];
        if (r < h->n && h->dists[r] > md)
            m = r;
        if (m == i)
            break;
        h->dists[i] = h->dists[m];
        h->labels[i] = h->labels[m];
        i = m;
    }
    h->dists[i] = d;
    h->labels[i] = label;
}

static void heap_push(topk *h, float d, uint64_t label)
{
    if (h->n == h->k) {
        if (d < h->dists[0])
            sift_down(h, 0, d, label); /* replaces the worst */
        return;
    }
    size_t i = h->n++;
    while (i > 0 && h->dists[(i - 1) / 2] < d) {
        h->dists[i] = h->dists[(i - 1) / 2];
        h->labels[i] = h->labels[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->dists[i] = d;
    h->labels[i] = label;
}

/* Pops everything into ascending order in place. */
static void heap_sort(topk *h)
{
    size_t n = h->n;
    while (h->n > 1) {
        float d = h->dists[h->n - 1];
        uint64_t l = h->labels[h->n - 1];
        h->dists[h->n - 1] = h->dists[0];
        h->labels[h->n - 1] = h->labels[0];
        h->n--;
        sift_down(h, 0, d, l); /* the last entry goes back in at the root of the smaller heap */
    }
    h->n = n;
}

/* Exact scan of an int8 index: the live rows' true vectors read from vector_data one by one, in
 * the space's float kernel. Exact like the sgemm scan, slower by the reads. */
static int exact_stored(const vec_state *st, const float *queries, size_t nq, size_t k,
                        int (*accept)(void *arg, uint64_t label), void *arg, uint64_t *labels, float *dists,
                        size_t *counts)
{
    size_t dim = st->sp.dim, rows = mnemo_hnsw__slots(st->hnsw);
    float *v = mnemo__malloc(dim * sizeof *v);
    topk *heaps = mnemo__calloc(nq, sizeof *heaps);
    int rc = v && heaps ? 0 : mnemo__err_nomem("exact search");
    for (size_t q = 0; q < nq && !rc; q++)
        heaps[q] = (topk){labels + q * k, dists + q * k, 0, k};
    for (size_t r = 0; r < rows && !rc; r++) {
        uint64_t label = mnemo_hnsw__row_label(st->hnsw, r);
        if (!mnemo_hnsw__row_live(st->hnsw, r) || (accept && !accept(arg, label)))
            continue;
        if ((rc = mnemo_vector__stored(st, label, v)) == MNEMO_ENOTFOUND) {
            rc = 0; /* deleted since the index took it: its delete is on the way */
            continue;
        }
        for (size_t q = 0; q < nq && !rc; q++) {
            topk *h = &heaps[q];
            float d = mnemo_hnsw__distance(st->hnsw, queries + q * dim, v);
            if (h->n < k || d < h->dists[0])
                heap_push(h, d, label);
        }
    }
    for (size_t q = 0; q < nq && !rc; q++) {
        heap_sort(&heaps[q]);
        counts[q] = heaps[q].n;
    }
    mnemo__free(v);
    mnemo__free(heaps);
    return rc;
}

int mnemo_vector__exact_scan(const vec_state *st, const float *queries, size_t nq, size_t k,
                             int (*accept)(void *arg, uint64_t label), void *arg, uint64_t *labels, float *dists,
                             size_t *counts)
{
    size_t dim = st->sp.dim, stride, rows = mnemo_hnsw__slots(st->hnsw);
    const float *norms;
    const float *base = mnemo_hnsw__rows(st->hnsw, &stride, &norms);
    if (!base) /* an int8 index: its codes are not the vectors */
        return exact_stored(st, queries, nq, k, accept, arg, labels, dists, counts);
    size_t block = rows < BLOCK ? (rows ? rows : 1) : BLOCK;
    float *dots = mnemo__malloc(nq * block * sizeof *dots), *qn = mnemo__malloc(nq * sizeof *qn);
    unsigned char *ok = mnemo__malloc(block);
    topk *heaps = mnemo__calloc(nq, sizeof *heaps);
    if (!dots || !qn || !ok || !heaps) {
        mnemo__free(dots);
        mnemo__free(qn);
        mnemo__free(ok);
        mnemo__free(heaps);
        return mnemo__err_nomem("exact search");
    }
    for (size_t q = 0; q < nq; q++) {
        heaps[q] = (topk){labels + q * k, dists + q * k, 0, k};
        qn[q] = cblas_sdot((int)dim, queries + q * dim, 1, queries + q * dim, 1);
    }
    int l2 = st->kind == MNEMO_HNSW_L2;
    for (size_t r0 = 0; r0 < rows; r0 += block) {
        size_t nb = rows - r0 < block ? rows - r0 : block, live = 0;
        for (size_t j = 0; j < nb; j++) {
            ok[j] = mnemo_hnsw__row_live(st->hnsw, r0 + j) &&
                    (!accept || accept(arg, mnemo_hnsw__row_label(st->hnsw, r0 + j)));
            live += ok[j];
        }
        if (!live)
            continue;
        /* dots[q][j] = query q . row (r0 + j) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)dim, 1.0f, queries, (int)dim,
                    base + r0 * stride, (int)stride, 0.0f, dots, (int)nb);
        for (size_t q = 0; q < nq; q++) {
            const float *dq = dots + q * nb;
            topk *h = &heaps[q];
            /* compare in the form the product gives (no per-row adds), push only what beats the
             * current k-th: the inner loop stays as tight as a plain brute force */
            float shift = l2 ? qn[q] : 1.0f, worst = h->n == k ? h->dists[0] - shift : INFINITY;
            for (size_t j = 0; j < nb; j++) {
                float d = l2 ? norms[r0 + j] - 2 * dq[j] : -dq[j];
                if (d >= worst || !ok[j])
                    continue;
                d += shift;
                heap_push(h, l2 && d < 0 ? 0 : d, r0 + j); /* the row; its label is read at the end */
                if (h->n == k)
                    worst = h->dists[0] - shift;
            }
        }
    }
    for (size_t q = 0; q < nq; q++) {
        heap_sort(&heaps[q]);
        counts[q] = heaps[q].n;
        for (size_t i = 0; i < heaps[q].n; i++)
            heaps[q].labels[i] = mnemo_hnsw__row_label(st->hnsw, heaps[q].labels[i]);
    }
    mnemo__free(dots);
    mnemo__free(qn);
    mnemo__free(ok);
    mnemo__free(heaps);
    return 0;
}
