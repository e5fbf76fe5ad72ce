/**
 * @file mnemo/recall.h
 * Hybrid recall: one ranked list from full-text (BM25) and vector search, with recency and
 * importance, the retrieval score of an agent's memory.
 *
 * mnemo_recall runs mnemo_text_search (query text) and mnemo_vector_search (query vector) with the
 * same restriction, inside one transaction, fuses the two rankings, then adds recency and
 * importance:
 *
 *     score = text_weight * T + vector_weight * V + recency_weight * R + importance_weight * I
 *
 * T and V are in [0, 1], 0 for a record absent from that ranking. Under reciprocal rank fusion
 * (the default) T = (rrf_k + 1) / (rrf_k + rank), 1 for the first; with weighted scores T is the
 * BM25 score min-max normalised over the text ranking's candidates and V likewise for the
 * distance (nearest 1, farthest 0). R = 2^(-age / half_life), age = now - updated_at (or
 * created_at). I = the record's importance clamped to [0, 1]. docs/records.md ("Recall") gives the
 * defaults and why.
 *
 * Threads: thread-safe on the db; a transaction belongs to one thread at a time.
 */
#ifndef MNEMO_RECALL_H
#define MNEMO_RECALL_H

#include "mnemo/db.h"
#include "mnemo/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How the two rankings become one. */
typedef enum mnemo_recall_fusion {
    MNEMO_RECALL_RRF = 0,      /**< reciprocal rank fusion: ranks only (default) */
    MNEMO_RECALL_WEIGHTED = 1, /**< min-max normalised BM25 scores and distances */
} mnemo_recall_fusion;

/** Which timestamp recency decays from. */
typedef enum mnemo_recall_clock {
    MNEMO_RECALL_UPDATED_AT = 0, /**< last write (default) */
    MNEMO_RECALL_CREATED_AT = 1, /**< creation */
} mnemo_recall_clock;

#define MNEMO_RECALL_DEFAULT_RRF_K 60.0                            /**< Cormack et al. 2009 */
#define MNEMO_RECALL_DEFAULT_HALF_LIFE_MS (7.0 * 24 * 3600 * 1000) /**< one week */
#define MNEMO_RECALL_DEFAULT_DEPTH 50 /**< candidates per ranking: at least this, and 4k */

#define MNEMO_RECALL_QUERY_VERSION 1
/** What to recall and how to rank it. All-zero means: no query (give text and/or vector), RRF
 * with rrf_k 60, weights 1, 1, 1, 1, a half-life of 7 days from updated_at, now = the clock.
 * Weights: when all four are 0 the defaults apply; when any is non-zero, the four are taken as
 * given (0 turns a part off). */
typedef struct mnemo_recall_query {
    unsigned version;       /**< MNEMO_RECALL_QUERY_VERSION (0 is taken as 1) */
    const char *text;       /**< query text for BM25 (mnemo_text_search's syntax), or NULL */
    const float *vector;    /**< query embedding, or NULL */
    size_t dim;             /**< floats in vector */
    const char *filter;     /**< metadata filter (the language of mnemo_record_find), or NULL */
    const char *near;       /**< restrict to records within `hops` of this record (itself included) */
    uint32_t hops;          /**< with near: 1.. hops; 0 is taken as 1 */
    mnemo_direction near_dir; /**< with near: edges followed (0: both directions) */
    const char *near_label; /**< with near: only edges of this label (NULL: all) */
    mnemo_recall_fusion fusion;
    double rrf_k;           /**< RRF constant, > 0 and finite (0: 60) */
    double text_weight;     /**< >= 0, finite */
    double vector_weight;   /**< >= 0, finite */
    double recency_weight;  /**< >= 0, finite */
    double importance_weight; /**< >= 0, finite */
    double half_life_ms;    /**< recency halves every this many ms, > 0 and finite (0: 7 days) */
    mnemo_recall_clock clock; /**< the timestamp recency reads */
    int64_t now;            /**< ms since the epoch that ages are measured at, >= 0 (0: the clock) */
    size_t depth;           /**< candidates taken from each ranking, >= k (0: max(4k, 50)) */
} mnemo_recall_query;
#define MNEMO_RECALL_QUERY_INIT {MNEMO_RECALL_QUERY_VERSION, NULL, NULL, 0, NULL, NULL, 0, 0, NULL, \
                                 MNEMO_RECALL_RRF, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, MNEMO_RECALL_UPDATED_AT, 0, 0}

/** One result and the parts of its score. */
typedef struct mnemo_recall_hit {
    const char *id;        /**< record id */
    double score;          /**< the final score; higher is better */
    double relevance;      /**< text_weight * T + vector_weight * V */
    uint32_t text_rank;    /**< 1-based rank in the text ranking; 0: not in it */
    double text_score;     /**< BM25 score; NaN when text_rank is 0 */
    uint32_t vector_rank;  /**< 1-based rank in the vector ranking; 0: not in it */
    float distance;        /**< distance in the space's metric; NaN when vector_rank is 0 */
    double recency;        /**< R, in (0, 1] */
    double importance;     /**< the record's importance as stored (I is it clamped to [0, 1]) */
    int64_t time;          /**< the timestamp R was computed from (ms since the epoch) */
} mnemo_recall_hit;

/** Results, best first (equal scores: bytewise smaller id first). One allocation: free with
 * mnemo_recall_hits_free(). */
typedef struct mnemo_recall_hits {
    size_t count;
    mnemo_recall_hit *hits;
} mnemo_recall_hits;

/** Accepts NULL. */
MNEMO_API void mnemo_recall_hits_free(mnemo_recall_hits *hits);

/** The k live records that best answer q. Both rankings and the records' timestamps and
 * importance are read in one view: txn's (its own writes included), or, with txn NULL, one
 * read-only snapshot. Deleted and expired records never come back. A text query with no
 * searchable term contributes no candidate (not an error).
 * @param[out] out  the hits (fewer than k when fewer records qualify); untouched on failure.
 * @param[in]  q    the query; text, vector or both.
 * @param[in]  k    1..100000.
 * @return 0; MNEMO_EINVAL (NULL argument, neither text nor vector, k 0 or too large, depth < k,
 *         negative / NaN / infinite weight, rrf_k or half-life, negative now, unknown fusion or
 *         clock, a newer query version, bad filter, invalid UTF-8 or too long text, NaN in the
 *         vector, text given but full text not enabled (mnemo_text_enable), vector given but the
 *         database has no vector space); MNEMO_EDIM (vector of another dimension); MNEMO_ENOTFOUND
 *         (`near` names no live record); MNEMO_ECORRUPT; MNEMO_ENOMEM. */
MNEMO_API int mnemo_recall(mnemo_recall_hits **out, mnemo_db *db, mnemo_txn *txn, const mnemo_recall_query *q,
                           size_t k);

#ifdef __cplusplus
}
#endif
#endif
