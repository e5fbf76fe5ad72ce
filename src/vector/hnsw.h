/* C interface of the C++ shim over Debian's hnswlib 0.6.2 (hnsw.cpp): an opaque in-memory HNSW
 * graph whose labels are record internal ids. Every function catches every C++ exception and
 * returns a MNEMO_E* code instead, with the message set.
 *
 * Threads: searches and the read accessors may run in parallel with each other; add() may run in
 * parallel with other add()s (hnswlib locks per node) but with nothing else; every other writer
 * (remove, reserve) needs the index alone. The vector room's rwlock enforces this. */
#ifndef MNEMO_VECTOR_HNSW_H
#define MNEMO_VECTOR_HNSW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mnemo_hnsw mnemo_hnsw;

/* Distance kinds: squared L2, or 1 - dot product (cosine on unit vectors, and ip). */
/* MNEMO_HNSW_SQ8 is OR'd into the kind given to create() and load(): the graph holds int8 codes
 * instead of floats (per vector: offset m, step s, codes c with x[i] ~ m + s * c[i]); searches
 * rank by distances to the codes, which the caller re-ranks with the true vectors (search.c). It
 * is a member so that the combined values are valid values of the enum (C++ checks). */
typedef enum mnemo_hnsw_kind { MNEMO_HNSW_L2 = 0, MNEMO_HNSW_IP = 1, MNEMO_HNSW_SQ8 = 0x10 } mnemo_hnsw_kind;

int mnemo_hnsw__create(mnemo_hnsw **out, mnemo_hnsw_kind kind, size_t dim, size_t capacity, size_t M,
                       size_t ef_construction, uint64_t seed);
void mnemo_hnsw__free(mnemo_hnsw *h);

/* Grows room for at least `capacity` elements (deleted slots count). Needs the index alone. */
int mnemo_hnsw__reserve(mnemo_hnsw *h, size_t capacity);
/* Inserts label, or replaces its vector (and revives it if it was removed). */
int mnemo_hnsw__add(mnemo_hnsw *h, const float *vec, uint64_t label);
/* Marks label deleted: 0, or MNEMO_ENOTFOUND when it is absent or already removed. */
int mnemo_hnsw__remove(mnemo_hnsw *h, uint64_t label);

size_t mnemo_hnsw__slots(const mnemo_hnsw *h);   /* elements stored, deleted ones included */
size_t mnemo_hnsw__deleted(const mnemo_hnsw *h); /* slots marked deleted */
size_t mnemo_hnsw__capacity(const mnemo_hnsw *h);
size_t mnemo_hnsw__memory(const mnemo_hnsw *h); /* bytes held (graph, vectors, label table) */
/* The stored vector of a live label (borrowed, valid while the index is not written), or NULL;
 * always NULL in an int8 index (it holds no floats). */
const float *mnemo_hnsw__vector(const mnemo_hnsw *h, uint64_t label);
/* 1 when the index holds int8 codes (MNEMO_HNSW_SQ8). */
int mnemo_hnsw__quantized(const mnemo_hnsw *h);
/* Int8 index: the coding step s of label's vector (each component decodes within s/2 of the
 * given one; 0 for a constant vector). 0 in a float index or for an absent label. */
float mnemo_hnsw__step(const mnemo_hnsw *h, uint64_t label);
/* 1 when label is live in the index. */
int mnemo_hnsw__has(const mnemo_hnsw *h, uint64_t label);
/* 1 when live label holds exactly what add(vec) would store (the floats, or their codes), 0 when
 * it holds something else, -1 when it is absent. */
int mnemo_hnsw__same(const mnemo_hnsw *h, uint64_t label, const float *vec);

/* Row view for exact scans: the vector of slot i is at base + i * stride bytes, its squared norm
 * norms[i]; rows that are deleted must be skipped (row_live). NULL for an int8 index. */
const float *mnemo_hnsw__rows(const mnemo_hnsw *h, size_t *stride_floats, const float **norms);
int mnemo_hnsw__row_live(const mnemo_hnsw *h, size_t row);
uint64_t mnemo_hnsw__row_label(const mnemo_hnsw *h, size_t row);

/* filter returns 1 to accept a label. */
typedef int (*mnemo_hnsw_filter)(void *arg, uint64_t label);
/* Approximate k nearest with beam width max(ef, k); only live labels the filter accepts (NULL:
 * all) come back, in ascending distance, *n of them (<= k). In an int8 index the distances are
 * those of the codes (the query is coded the same way): re-rank with the true vectors. two_hop:
 * the filter is cheap and passes few, so the walk steps over refused nodes to their neighbours
 * instead of measuring them (hnsw.cpp search_filtered). */
int mnemo_hnsw__search(const mnemo_hnsw *h, const float *query, size_t k, size_t ef, mnemo_hnsw_filter filter,
                       void *arg, int two_hop, uint64_t *labels, float *dists, size_t *n);
/* Int8 index: out[i] = the distance searches rank by (query against the codes) of labels[i], or
 * infinity when it is absent. 0, or MNEMO_ENOMEM. */
int mnemo_hnsw__code_distances(const mnemo_hnsw *h, const float *query, const uint64_t *labels, size_t n, float *out);
/* Distance between two vectors in this index's space (the kernel searches use). */
float mnemo_hnsw__distance(const mnemo_hnsw *h, const float *a, const float *b);

/* Serialises the index (hnswlib's own format, in memory): *buf is mnemo__malloc'd. Needs no
 * writer running. */
int mnemo_hnsw__save(const mnemo_hnsw *h, char **buf, size_t *len);
/* Bytes save() writes now. */
size_t mnemo_hnsw__save_size(const mnemo_hnsw *h);
/* save() into the caller's buffer of cap bytes: 0, or MNEMO_ENOMEM (no message) when *len, the
 * bytes needed, exceeds cap. Lets a caller allocate (and fault in) the buffer before it holds
 * writers off. */
int mnemo_hnsw__save_into(const mnemo_hnsw *h, char *buf, size_t cap, size_t *len);
/* Rebuilds an index from save()'s bytes after checking their structure against kind, dim and M
 * (MNEMO_ECORRUPT when they do not fit, never a crash). */
int mnemo_hnsw__load(mnemo_hnsw **out, mnemo_hnsw_kind kind, size_t dim, size_t M, const char *buf, size_t len);

/* 0 when buf is a well-formed hnswlib 0.6.2 index for (dim, M): every size, offset and link in
 * range, labels distinct, components finite; else MNEMO_ECORRUPT naming the problem. load() calls
 * it first. (hnsw_layout.cpp, built with the sanitizers, unlike the shim.) */
int mnemo_hnsw__check_layout(const char *buf, size_t len, size_t dim, size_t M, int sq8);

/* Bytes of one element's data in an int8 index of dimension dim (header + codes, padded to 4). */
size_t mnemo_hnsw__sq8_bytes(size_t dim);

/* "avx512", "avx", "sse" or "none": the distance kernels this build of the shim compiled in. */
const char *mnemo_hnsw__simd(void);
/* "avx2" or "scalar": the int8 code kernel this CPU runs (chosen at run time). */
const char *mnemo_hnsw__sq8_simd(void);

#ifdef __cplusplus
}
#endif
#endif
