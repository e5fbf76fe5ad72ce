/**
 * @file mnemo/vector.h
 * Record embeddings and nearest-neighbour search.
 *
 * A database has at most one vector space (dimension, metric, HNSW parameters), set by the
 * mnemo_open that first gives `vector_dim` and persisted (see mnemo_options). Each memory record
 * may carry one embedding, stored with it: it is deleted with the record, and expires with it.
 *
 * Searches go through an in-memory HNSW index (hnswlib) kept in step with the stored vectors by
 * the commit protocol: a committed change is searchable when its commit returns, a rolled-back one
 * never is, and no search sees half a commit. Exact search (OpenBLAS) is used when asked, for
 * small candidate sets, and by filtered searches whose filter leaves few records.
 *
 * Threads: searches run in parallel with each other and with readers; a commit that changes
 * vectors holds the index alone only while it applies its changes.
 */
#ifndef MNEMO_VECTOR_H
#define MNEMO_VECTOR_H

#include "mnemo/db.h"
#include "mnemo/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_VECTOR_MAX_DIM 65536u /**< largest dimension of a vector space */
/** Longest vector (Euclidean length) an L2 or IP space takes, as an embedding or a query: any
 * distance between two such vectors (at most (2 * 1e18)^2 = 4e36 under L2) stays far below float's
 * largest value (3.4e38), so no distance overflows. Cosine spaces normalise and take any length. */
#define MNEMO_VECTOR_MAX_NORM 1e18

#define MNEMO_VECTOR_SPACE_VERSION 2 /* 2 added quantization */
/** The vector space of a database, as stored. The caller sets `version` (start from
 * MNEMO_VECTOR_SPACE_INIT); the library fills the fields of that version. */
typedef struct mnemo_vector_space {
    unsigned version; /**< MNEMO_VECTOR_SPACE_VERSION of the caller's header; left as set */
    uint32_t dim;
    mnemo_metric metric;
    uint32_t hnsw_m;
    uint32_t hnsw_ef_construction;
    uint32_t hnsw_ef_search; /**< default beam of searches */
    mnemo_quantization quantization; /**< version 2: MNEMO_QUANT_NONE or MNEMO_QUANT_INT8 */
} mnemo_vector_space;
#define MNEMO_VECTOR_SPACE_INIT {MNEMO_VECTOR_SPACE_VERSION, 0, MNEMO_METRIC_DEFAULT, 0, 0, 0, MNEMO_QUANT_DEFAULT}

/** The database's vector space.
 * @return 0; MNEMO_ENOTFOUND (the database has none); MNEMO_EINVAL (NULL out, out->version 0 or
 *         newer than the library, NULL or closed db). */
MNEMO_API int mnemo_vector_space_get(mnemo_vector_space *out, mnemo_db *db);

/** Set (insert or replace) the embedding of the live record `id`. With COSINE the vector is stored
 * normalised. Inside txn it commits with it; with NULL it commits alone.
 * @return 0; MNEMO_EINVAL (NULL/empty argument, NaN or infinite component, zero vector under
 *         COSINE, longer than MNEMO_VECTOR_MAX_NORM under L2/IP, no vector space); MNEMO_EDIM (dim differs from the space); MNEMO_ENOTFOUND (no
 *         live record `id`); MNEMO_EREADONLY; MNEMO_EBUSY; MNEMO_ECORRUPT; MNEMO_EIO; MNEMO_ENOMEM. */
MNEMO_API int mnemo_vector_put(mnemo_db *db, mnemo_txn *txn, const char *id, const float *vec, size_t dim);

/** Set many embeddings at once: ids[i] gets vecs[i * dim .. i * dim + dim). All or none: with
 * txn NULL they commit together in one transaction, and the index takes them in on several
 * threads. A later id that repeats an earlier one wins.
 * @return as mnemo_vector_put; the message names the first bad entry by its position. */
MNEMO_API int mnemo_vector_put_batch(mnemo_db *db, mnemo_txn *txn, const char *const *ids, const float *vecs,
                                     size_t n, size_t dim);

/** Read the stored embedding of record `id` (normalised under COSINE). Inside a read-write txn
 * the read is validated at commit like mnemo_kv_get: if another commit changed (or gave, or
 * removed) this embedding since the snapshot, the commit fails with MNEMO_EBUSY.
 * @param[out] out  dim floats, free with mnemo_free(); untouched on failure.
 * @param[out] dim  may be NULL.
 * @return 0; MNEMO_ENOTFOUND (no live record, or no embedding); MNEMO_EINVAL; MNEMO_ECORRUPT. */
MNEMO_API int mnemo_vector_get(float **out, size_t *dim, mnemo_db *db, mnemo_txn *txn, const char *id);

/** Remove the embedding of record `id` (the record stays).
 * @return 0; MNEMO_ENOTFOUND (no live record, or it has no embedding); MNEMO_EINVAL;
 *         MNEMO_EREADONLY; MNEMO_EBUSY; MNEMO_ECORRUPT; MNEMO_EIO. */
MNEMO_API int mnemo_vector_delete(mnemo_db *db, mnemo_txn *txn, const char *id);

#define MNEMO_VECTOR_SEARCH_OPTIONS_VERSION 1
/** How a search runs. All-zero means: approximate, the space's ef, no restriction. */
typedef struct mnemo_vector_search_options {
    unsigned version;   /**< MNEMO_VECTOR_SEARCH_OPTIONS_VERSION (0 taken as 1) */
    uint32_t ef;        /**< HNSW beam for this query (0: the space's ef_search) */
    int exact;          /**< non-zero: exact distances over every candidate (OpenBLAS) */
    const char *filter; /**< metadata filter (the language of mnemo_record_find), or NULL */
    const char *near;   /**< restrict to records within `hops` of this record (itself included) */
    uint32_t hops;      /**< with near: 1.. hops; 0 is taken as 1 */
    mnemo_direction near_dir; /**< with near: edges followed (0: both directions) */
    const char *near_label;   /**< with near: only edges of this label (NULL: all) */
} mnemo_vector_search_options;

#define MNEMO_VECTOR_SEARCH_OPTIONS_INIT {MNEMO_VECTOR_SEARCH_OPTIONS_VERSION, 0, 0, NULL, NULL, 0, 0, NULL}

/** One result. */
typedef struct mnemo_vector_hit {
    const char *id;    /**< record id */
    float distance;    /**< in the space's metric (see mnemo_metric); NaN for an expansion
                            neighbour without an embedding */
    uint32_t hops;     /**< 0 for a nearest hit; for mnemo_vector_search_expand, the graph
                            distance from the nearest hit in `via` */
    const char *via;   /**< expansion: the nearest hit it was reached from; else NULL */
} mnemo_vector_hit;

/** Results of one query, nearest first. One allocation: free with mnemo_vector_hits_free(). */
typedef struct mnemo_vector_hits {
    size_t count;
    mnemo_vector_hit *hits;
} mnemo_vector_hits;

MNEMO_API void mnemo_vector_hits_free(mnemo_vector_hits *hits);

/** The k nearest live records to `query`. Inside a txn, the transaction's own uncommitted
 * embeddings take part (exactly) and the ones it deleted do not. Deleted and expired records
 * never come back. With a filter, recall stays high at any selectivity: few candidates are
 * searched exactly, many through HNSW with a beam widened until k pass the filter. A search is not
 * validated at commit (docs/transactions.md): re-read a hit with mnemo_vector_get or
 * mnemo_record_get to base a write on it.
 * @param[out] out   the hits (fewer than k when fewer records qualify); untouched on failure.
 * @param[in]  opts  NULL for defaults.
 * @return 0; MNEMO_EINVAL (NULL query, k 0, NaN, query longer than MNEMO_VECTOR_MAX_NORM under
 *         L2/IP, bad filter, empty `near`, unknown `near_dir`, `near_label` empty or longer than
 *         MNEMO_LABEL_MAX, no vector space); MNEMO_EDIM;
 *         MNEMO_ENOTFOUND (`near` names no live record); MNEMO_ENOMEM; MNEMO_ECORRUPT. */
MNEMO_API int mnemo_vector_search(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *query, size_t dim,
                                  size_t k, const mnemo_vector_search_options *opts);

/** n queries at once (queries[i * dim ..]): out[i] gets the hits of query i. All or none: on
 * failure nothing is set. Exact batches run as one matrix product per block of stored vectors.
 * MNEMO_EINVAL also when n * dim floats or n * k hits cannot be addressed. */
MNEMO_API int mnemo_vector_search_batch(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *queries,
                                        size_t n, size_t dim, size_t k, const mnemo_vector_search_options *opts);

/** The k nearest (as mnemo_vector_search with opts), then every record within `hops` graph hops of
 * them (edges in `dir`, 0 for both), each once, after them: hops = its graph distance and via = the
 * nearest hit that reached it first; its distance is computed when it has an embedding.
 * @return as mnemo_vector_search. */
MNEMO_API int mnemo_vector_search_expand(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *query,
                                         size_t dim, size_t k, const mnemo_vector_search_options *opts, uint32_t hops,
                                         mnemo_direction dir);

#define MNEMO_VECTOR_STATS_VERSION 1
/** Figures about the vector index. The caller sets `version` (start from MNEMO_VECTOR_STATS_INIT);
 * the library fills the fields of that version. */
typedef struct mnemo_vector_stats {
    unsigned version;        /**< MNEMO_VECTOR_STATS_VERSION of the caller's header; left as set */
    uint64_t vectors;        /**< live embeddings in the index */
    uint64_t deleted_slots;  /**< index slots of deleted embeddings not yet reclaimed */
    uint64_t index_bytes;    /**< memory held by the index */
    uint64_t log_entries;    /**< commits logged since the last snapshot */
    uint64_t rebuilds;       /**< index rebuilds since open (tombstones reclaimed, or damage), and reloads
                                  of the stored snapshot after a trim of the change log passed this
                                  process (several processes, followers) */
    const char *simd;        /**< distance kernels compiled in: "avx512", "avx", "sse", "none" */
} mnemo_vector_stats;
#define MNEMO_VECTOR_STATS_INIT {MNEMO_VECTOR_STATS_VERSION, 0, 0, 0, 0, 0, NULL}

/** @return 0; MNEMO_ENOTFOUND (no vector space); MNEMO_EINVAL (NULL out, out->version 0 or newer
 *         than the library, NULL or closed db). */
MNEMO_API int mnemo_vector_stats_get(mnemo_vector_stats *out, mnemo_db *db);

/** Check that the index agrees with the stored vectors: every stored vector decodes (checksum) and
 * is in the index with the same values, and the index holds nothing else live.
 * @param[out] vectors  may be NULL: how many were checked.
 * @return 0 when consistent; MNEMO_ECORRUPT naming the first disagreement; MNEMO_ENOTFOUND. */
MNEMO_API int mnemo_vector_check(mnemo_db *db, uint64_t *vectors);

#ifdef __cplusplus
}
#endif
#endif
