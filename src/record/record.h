/* Internal API of the record room, for the modules above it (graph, vector, text) and for the record room's own
 * files. Keys this room owns in the `metadata` column family start with one of these bytes:
 *   'I' iid(u64 BE)                          -> record id        (internal id -> user id)
 *   'C' created_at(order-encoded) iid        -> record id        (creation-time index)
 *   'E' expires_at(order-encoded) iid        -> record id        (expiry index; expiring records only)
 *   'D' path                                 -> index definition (version, state, crc)
 *   'X' path 0x00 scalar(order-encoded) iid  -> record id        (secondary index entries)
 *   'N' "iid_hwm" / "index_epoch"            -> u64 BE counters
 * The `records` column family maps record id -> encoded record (codec.c). */
#ifndef MNEMO_RECORD_INTERNAL_H
#define MNEMO_RECORD_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "core/keys.h"
#include "mnemo/record.h"
#include "txn/txn.h"


struct mnemo_filter;

/* Internal id of the live record `id`: 0, MNEMO_ENOTFOUND (absent or expired) or an error. */
int mnemo_record__resolve(uint64_t *iid, mnemo_db *db, mnemo_txn *txn, const char *id);
/* Record id of an internal id (mnemo__malloc'd): 0, MNEMO_ENOTFOUND (no such record, or one of
 * another collection than db's) or an error. */
int mnemo_record__id_of(char **id, mnemo_db *db, mnemo_txn *txn, uint64_t iid);
/* The id of internal id iid in any collection (mnemo__malloc'd) and that collection's id (0: the
 * default one): 0, MNEMO_ENOTFOUND or an error. */
int mnemo_record__owner(char **id, uint32_t *coll, mnemo_db *db, mnemo_txn *txn, uint64_t iid);
/* Whether the record of internal id iid is in db's collection: 1, 0 (another collection's),
 * MNEMO_ENOTFOUND (no such record) or an error. */
int mnemo_record__in_collection(mnemo_db *db, mnemo_txn *txn, uint64_t iid);

/* 1 when the record iid has (or once had) an expiry, so readers holding only its iid (edges,
 * vector hits) must load it to know whether it is still live; 0 means it never expires. A record
 * joins this set before the commit that gives it an expiry. */
int mnemo_record__may_expire(mnemo_db *db, uint64_t iid);
/* 0 while no record of the database has ever had an expiry (the fast path of may_expire). */
int mnemo_record__any_expiring(mnemo_db *db);

/* Rewrites the record's internal-id key with its own value. Deleting a record deletes that key, so
 * a write that hangs something on the record (an edge, an embedding) and a delete of the record
 * conflict whichever commits first: nothing is ever committed to a record deleted at the same time
 * (the delete's scan for what hangs on it is not validated).
 * untracked != 0 writes it with mnemo_txn__put_untracked: for a txn that already read the record
 * with tracking and never reads its internal-id key back (the edge-list importer). */
int mnemo_record__pin(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id, int untracked);

/* Other modules learn of record writes through listeners, so that the record room, below them,
 * calls none of them: each module registers one per database when it opens (src/db/modules.c).
 * Listeners run inside the writing transaction, in registration order, so their data changes in
 * the same commit; the first error stops the write and poisons the transaction. Either callback
 * may be NULL.
 *   on_put: nw (internal_id set) is being stored over old, the live record it changes (NULL when
 *     the id is new or its record had expired, which was deleted first). replace is 1 when
 *     mnemo_record_put replaces the whole record, 0 when mnemo_record_update changes some fields.
 *   on_delete: the record iid / id is being deleted (delete, purge, an expired record put again);
 *     its own keys may already be gone in txn.
 *   on_delete_record: the same, given the whole old record (the text room re-reads its content to
 *     know which postings to drop); called after on_delete when both are set. */
typedef struct mnemo_record_listener {
    int (*on_put)(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old, const mnemo_record *nw, int replace);
    int (*on_delete)(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id);
    int (*on_delete_record)(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old);
} mnemo_record_listener;
/* Registers l (kept by pointer: static storage) on db; registering it again does nothing.
 * MNEMO_EFULL past MNEMO_RECORD_MAX_LISTENERS. */
#define MNEMO_RECORD_MAX_LISTENERS 8
int mnemo_record__listen(mnemo_db *db, const mnemo_record_listener *l);

/* Removes up to max records of db's collection (expired ones too) in txn, each with what hangs on
 * it through the listeners registered on db: the steps of a collection's drop (db/collection.c).
 * *removed: how many; 0 once the collection holds no record. */
int mnemo_record__remove_some(mnemo_db *db, mnemo_txn *txn, size_t max, size_t *removed);

/* Calls cb for the internal id of every live record matching the compiled filter (NULL: every
 * record); cb returns 0 to go on, 1 to stop, a negative code to abort with it. */
int mnemo_record__match_ids(mnemo_db *db, mnemo_txn *txn, const struct mnemo_filter *f,
                            int (*cb)(void *arg, uint64_t iid), void *arg);
/* Calls cb for every live record, in one snapshot (txn's, or a read-only one of its own when txn
 * is NULL); cb returns 0 to go on, 1 to stop, a negative code to abort with it. The record is
 * borrowed for the call. */
int mnemo_record__each(mnemo_db *db, mnemo_txn *txn, int (*cb)(void *arg, const mnemo_record *r), void *arg);
/* Calls cb with the internal id of every entry of the index that answers a predicate of f (as
 * find plans it), without reading records: a superset of the matches, an id possibly more than
 * once (arrays), for callers that test the filter themselves. cb returns 0 to go on, or nonzero
 * to stop: that value is returned. MNEMO_ENOTFOUND when no ready index answers f. */
int mnemo_record__index_iids(mnemo_db *db, mnemo_txn *txn, const struct mnemo_filter *f,
                             int (*cb)(void *arg, uint64_t iid), void *arg);
/* Cheap estimate of how many records the filter matches (an index range count, stopped at cap,
 * when an index covers it; else the number of records), for planners that pick exact vs
 * approximate search. *indexed (may be NULL) is 1 when an index answered, 0 when *n is just the
 * record count. */
int mnemo_record__estimate(uint64_t *n, int *indexed, uint64_t cap, mnemo_db *db, mnemo_txn *txn,
                          const struct mnemo_filter *f);
/* Whether the live record of internal id iid matches f: 1; 0 (no match, no such record, or
 * expired); or a negative code. One record read: for callers that test a few records. */
int mnemo_record__match_iid(mnemo_db *db, mnemo_txn *txn, const struct mnemo_filter *f, uint64_t iid);

/* ---- shared by the record room's files ---- */

/* One allocation holding the struct and its strings; mnemo_record_free releases it. */
mnemo_record *mnemo_record__blob(const char *id, size_t id_len, const char *content, size_t content_len,
                                 const char *meta, size_t meta_len);
mnemo_record *mnemo_record__blob_copy(const mnemo_record *r);
size_t mnemo_record__blob_size(const mnemo_record *r);

/* Value encoding (codec.c): version byte, fields, crc32c. */
int mnemo_record__encode(char **out, size_t *out_len, const mnemo_record *r);
int mnemo_record__decode(mnemo_record **out, const char *id, size_t id_len, const char *val, size_t len);

int mnemo_record__is_expired(const mnemo_record *r, int64_t now);

/* Reads and decodes a stored record (expired ones too): 0, MNEMO_ENOTFOUND, MNEMO_ECORRUPT... */
int mnemo_record__load(mnemo_record **out, mnemo_db *db, mnemo_txn *txn, const char *id, size_t id_len,
                       int track);

/* Secondary-index maintenance for a record being written (new_meta) and/or removed (old_meta):
 * called inside the writing transaction (index.c). */
int mnemo_record__index_update(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id,
                               const json_t *old_meta, const json_t *new_meta);

/* Order-preserving 8-byte encoding of a signed 64-bit time. */
void mnemo_record__encode_time(unsigned char out[8], int64_t t);

#endif
