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
 * On a shared engine (several processes) a commit of another process drops the whole mirror at
 * the next meta_begin (the store's sequence moved past the mirror's seen_seq): correct, costly.
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
    size_t nbits;    /* ids outside [base, base + nbits) are not in it */
    uint64_t base;   /* the internal id of bit 0 (the mirror's base when computed) */
    uint64_t count;  /* bits set */
    uint64_t *w;
} meta_bits;

static inline int mnemo_vector__meta_has(const meta_bits *b, uint64_t iid)
{
    uint64_t i = iid - b->base;
    return iid >= b->base && i < b->nbits && (b->w[i >> 6] >> (i & 63) & 1);
}

typedef struct meta_mirror meta_mirror;

/* Registers the mirror's record listener on db (at vector open). */
int mnemo_vector__meta_listen(mnemo_db *db);
/* Readies the mirror for a filter of this text (building it, or reading again the records
 * committed since) and holds it for reading until meta_end: 0 with *out set; 0 with *out NULL
 * when the mirror cannot answer this filter (the caller tests records); or a negative code. */
int mnemo_vector__meta_begin(meta_mirror **out, mnemo_db *db, const char *text);
void mnemo_vector__meta_end(meta_mirror *m); /* accepts NULL */
/* Whether the committed record iid matches f: 1, 0 (also: no such record), or a negative code
 * ($regex limits). Between meta_begin and meta_end. */
int mnemo_vector__meta_match(meta_mirror *m, const struct mnemo_filter *f, uint64_t iid);
/* f made ready for testing many records: a numeric column test first when f has a numeric
 * predicate on a metadata path and a column is free (then meta_pred_numeric is 1; *exact is 1
 * when the column answers f alone: f is that one predicate), then f on the cells of its paths'
 * columns (filter.h), which spare walking each record's metadata tree. Free with meta_pred_free.
 * Between meta_begin and meta_end. */
typedef struct meta_pred meta_pred;
int mnemo_vector__meta_pred(meta_pred **out, int *exact, meta_mirror *m, const struct mnemo_filter *f,
                            const char *text);
int mnemo_vector__meta_pred_numeric(const meta_pred *p); /* accepts NULL */
/* 1 when the filter reads metadata paths only and every one has a column: a test is then ~10 ns,
 * not ~100. */
int mnemo_vector__meta_pred_cheap(const meta_pred *p); /* accepts NULL */
void mnemo_vector__meta_pred_free(meta_pred *p);          /* accepts NULL */
/* meta_match through p (which may be NULL). */
int mnemo_vector__meta_test(meta_mirror *m, const meta_pred *p, const struct mnemo_filter *f, uint64_t iid);
/* The cached bitset of this text into *out (a reference: meta_release it), or NULL. Returns 1
 * when the text was asked for recently (then computing its bitset pays off), else 0. */
int mnemo_vector__meta_cached(meta_bits **out, meta_mirror *m, const char *text);
/* The bitset of f over the n candidate ids iids (any order, repeats allowed; a superset of the
 * matches, such as an index's entries), or over every record when iids is NULL; cached under
 * text. *out is a reference. */
int mnemo_vector__meta_compute(meta_bits **out, meta_mirror *m, const char *text, const struct mnemo_filter *f,
                               const uint64_t *iids, size_t n);
void mnemo_vector__meta_release(meta_bits *b); /* accepts NULL */
/* Bytes the mirror and its cached bitsets hold now, and its records in *entries (0 before the
 * first filtered search). */
size_t mnemo_vector__meta_size(mnemo_db *db, size_t *entries);
/* How many times the mirror was built by a scan of every record (tests). */
uint64_t mnemo_vector__meta_scans(mnemo_db *db);

#endif
