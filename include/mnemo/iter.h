/**
 * @file mnemo/iter.h
 * Iterators over ordered entries (key-value scans now; other modules reuse the type).
 *
 * Usage: create (e.g. mnemo_kv_iter), then `while ((rc = mnemo_iter_next(it)) == 0) { ...key/value... }`;
 * the loop ends with MNEMO_ITEROVER or an error. Key and value slices are borrowed: they stay
 * valid until the next move (next/seek) or free. Threads: an iterator belongs to one thread at a
 * time. An iterator made inside a transaction becomes invalid when the transaction finishes
 * (calls then return MNEMO_EINVAL).
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
 * <= key for a reverse iterator), still inside the iterator's prefix or range.
 * @return 0; MNEMO_EINVAL. */
MNEMO_API int mnemo_iter_seek(mnemo_iter *it, const void *key, size_t klen);

/** Borrowed key of the current entry. @return 0; MNEMO_EINVAL (not positioned). */
MNEMO_API int mnemo_iter_key(mnemo_iter *it, const void **key, size_t *klen);

/** Borrowed value of the current entry. @return 0; MNEMO_EINVAL (not positioned). */
MNEMO_API int mnemo_iter_value(mnemo_iter *it, const void **val, size_t *vlen);

/** Release an iterator. Accepts NULL. */
MNEMO_API void mnemo_iter_free(mnemo_iter *it);

#ifdef __cplusplus
}
#endif
#endif
