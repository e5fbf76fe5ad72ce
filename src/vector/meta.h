/* Private to src/vector/: the filter mirror, so a filtered search tests a visited node by one bit
 * instead of reading and decoding its record.
 *
 * Per database, a copy in memory of every record's metadata (parsed) and scalar fields (id,
 * importance, times; not content), indexed by internal id: a cache of the committed records,
 * built by one scan at the first filtered search and kept in step by a record listener whose
 * commit hook marks the changed ids stale (they are read again, one record each, before the next
 * filter is evaluated). From it, a filter is evaluated once over all records into a bitset of the
 * matching internal ids; the last few bitsets are cached by filter text until a commit changes a
 * record they cover.
 *
 * Only searches outside a transaction use it (a transaction reads its own snapshot and writes),
 * and only for filters that do not read content and have no $regex (see meta_bits).
 * Memory: the mirror holds ~8 bytes per internal id below the highest one plus, per record, the
 * entry (48 bytes + id) and jansson's tree of its metadata; each cached bitset highest-id / 8
 * bytes. Threads: every function may be called from any thread. */
#ifndef MNEMO_VECTOR_META_H
#define MNEMO_VECTOR_META_H

#include <stdatomic.h>
#include <stdint.h>

#include "txn/txn.h"

struct mnemo_filter;

/* Internal ids whose committed, stored record matches a filter (expiry not considered). */
typedef struct meta_bits {
    atomic_int refs;
    uint64_t epoch;  /* the mirror's epoch it was computed at */
    char *text;      /* the filter text it answers */
    size_t nbits;    /* ids >= nbits are not in it */
    uint64_t count;  /* bits set */
    uint64_t *w;
} meta_bits;

static inline int mnemo_vector__meta_has(const meta_bits *b, uint64_t iid)
{
    return iid < b->nbits && (b->w[iid >> 6] >> (iid & 63) & 1);
}

/* Registers the mirror's record listener on db (at vector open). */
int mnemo_vector__meta_listen(mnemo_db *db);
/* The bitset of filter text `text` (compiled as f), from the cache or computed now: 0 with *out
 * set (release it with meta_release), 0 with *out NULL when the mirror cannot answer this filter
 * (the caller tests records), or a negative code. */
int mnemo_vector__meta_bits(meta_bits **out, mnemo_db *db, const char *text, const struct mnemo_filter *f);
void mnemo_vector__meta_release(meta_bits *b); /* accepts NULL */
/* Bytes the mirror and its cached bitsets hold now (0 before the first filtered search). */
size_t mnemo_vector__meta_memory(mnemo_db *db);

#endif
