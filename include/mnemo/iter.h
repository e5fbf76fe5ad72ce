/**
 * @file mnemo/iter.h
 * The one iterator of mnemo: every sequence read one entry at a time is a mnemo_iter.
 *
 * Pattern (docs/api.md, "Iteration"): a module's function makes it (mnemo_kv_iter for key-value
 * pairs, mnemo_graph_neighbors for a node's neighbours), then
 * `while ((rc = mnemo_iter_next(it)) == 0) { ...read the current entry... }`; the loop ends with
 * MNEMO_ITEROVER or an error; mnemo_iter_free releases it. The current entry is read with the
 * accessor of the iterator's kind: mnemo_iter_key / mnemo_iter_value (key-value; or both with
 * the move in one call, mnemo_iter_next_kv),
 * mnemo_iter_neighbor (graph.h). A call the kind has not (mnemo_iter_seek on neighbours, a key of
 * a neighbour) is MNEMO_EINVAL naming the kind.
 *
 * What is borrowed from an iterator stays valid until its next move (next/seek) or free.
 * Threads: an iterator belongs to one thread at a time. An iterator made inside a transaction
 * becomes invalid when the transaction finishes (calls then return MNEMO_EINVAL).
 *
 * Results that are bounded by the call (search hits, a path) come back whole in one allocation
 * instead; listings meant to be resumed across calls come in pages with a cursor (records).
 */
#ifndef MNEMO_ITER_H
#define MNEMO_ITER_H

#include "mnemo/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An iterator (opaque). */
typedef struct mnemo_iter mnemo_iter;

/** Move to the next entry (the first one on the first call or after a seek).
 * @return 0 (positioned), MNEMO_ITEROVER (no more), MNEMO_EINVAL (NULL or invalidated iterator),
 *         MNEMO_ECORRUPT / MNEMO_EIO. */
MNEMO_API int mnemo_iter_next(mnemo_iter *it);

/** Reposition so that the next mnemo_iter_next returns the first entry with key >= key (or
 * <= key for a reverse iterator), still inside the iterator's prefix or range (key-value only).
 * @return 0; MNEMO_EINVAL (also: an iterator of another kind). */
MNEMO_API int mnemo_iter_seek(mnemo_iter *it, const void *key, size_t klen);

/** Borrowed key of the current entry (key-value only).
 * @return 0; MNEMO_EINVAL (not positioned, or an iterator of another kind). */
MNEMO_API int mnemo_iter_key(mnemo_iter *it, const void **key, size_t *klen);

/** Borrowed value of the current entry (key-value only).
 * @return 0; MNEMO_EINVAL (not positioned, or an iterator of another kind). */
MNEMO_API int mnemo_iter_value(mnemo_iter *it, const void **val, size_t *vlen);

/** mnemo_iter_next, then mnemo_iter_key and mnemo_iter_value, in one call (key-value only): the
 * scan loop of a user who reads every entry, `while ((rc = mnemo_iter_next_kv(it, &k, &kl, &v,
 * &vl)) == 0)`. Key and value are borrowed as from the two accessors.
 * @return as mnemo_iter_next; MNEMO_EINVAL (also: a NULL out-parameter, or an iterator of another
 *         kind, which is then not moved). */
MNEMO_API int mnemo_iter_next_kv(mnemo_iter *it, const void **key, size_t *klen, const void **val, size_t *vlen);

/** Release an iterator. Accepts NULL. */
MNEMO_API void mnemo_iter_free(mnemo_iter *it);

#ifdef __cplusplus
}
#endif
#endif
