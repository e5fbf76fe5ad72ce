/* hnswlib used directly (no mnemo), the baseline of bench_vector: same parameters, same threads. */
#ifndef MNEMO_BENCH_HNSW_DIRECT_H
#define MNEMO_BENCH_HNSW_DIRECT_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct hd_index hd_index;
hd_index *hd_create(size_t dim, size_t capacity, size_t M, size_t ef_construction);
/* Adds rows [0, n) with labels 0..n-1 on `threads` threads. */
void hd_add(hd_index *h, const float *rows, size_t n, int threads);
/* Adds one row with the given label (the caller's thread). */
void hd_add_one(hd_index *h, const float *row, uint64_t label);
/* k nearest labels of q with beam ef (set per call, as hnswlib's setEf does). */
size_t hd_search(hd_index *h, const float *q, size_t k, size_t ef, uint64_t *labels);
size_t hd_memory(const hd_index *h);
void hd_free(hd_index *h);
#ifdef __cplusplus
}
#endif
#endif
