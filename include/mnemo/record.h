/**
 * @file mnemo/record.h
 * Memory records: what an agent remembers. A record has a user id, text content, an importance,
 * timestamps, an optional expiry and a JSON metadata object. Records are found by id, listed by id
 * prefix or creation time, and searched with metadata filters (optionally backed by secondary
 * indexes on metadata paths).
 *
 * Every function takes an optional transaction (NULL = the operation commits alone).
 * A record whose expires_at has passed is invisible to every read at once and is physically
 * removed by mnemo_record_purge_expired() together with everything that hangs on it.
 * Threads: thread-safe on the db; a transaction belongs to one thread at a time.
 */
#ifndef MNEMO_RECORD_H
#define MNEMO_RECORD_H

#include "mnemo/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_RECORD_MAX_ID 512u                  /**< bytes of a record id */
#define MNEMO_RECORD_MAX_CONTENT (16u << 20)      /**< bytes of content */
#define MNEMO_RECORD_MAX_METADATA (1u << 20)      /**< bytes of metadata JSON text */

/** A memory record. On put, the caller fills it (strings are borrowed for the call); from get,
 * list and find, the library owns it and every string lives until the matching free. */
typedef struct mnemo_record {
    const char *id;         /**< NUL-terminated UTF-8, 1..MNEMO_RECORD_MAX_ID bytes */
    const char *content;    /**< NUL-terminated UTF-8; NULL on put means "" */
    double importance;      /**< any finite number */
    int64_t created_at;     /**< ms since the epoch; 0 on put: now (or, replacing, the old value) */
    int64_t updated_at;     /**< ms since the epoch; 0 on put: now */
    int64_t expires_at;     /**< ms since the epoch; 0: never expires */
    const char *metadata;   /**< JSON object text; NULL on put means {}. Returned compact, keys sorted */
    uint64_t internal_id;   /**< stable engine id (never reused); ignored on put */
    size_t content_len;     /**< bytes of content; ignored on put */
} mnemo_record;

/** What mnemo_record_put does when the id exists (or not). */
typedef enum mnemo_record_put_mode {
    MNEMO_PUT_UPSERT = 0,  /**< insert or replace */
    MNEMO_PUT_INSERT = 1,  /**< MNEMO_EEXISTS if a live record has the id */
    MNEMO_PUT_REPLACE = 2, /**< MNEMO_ENOTFOUND if no live record has the id */
} mnemo_record_put_mode;

/** Store a record. Replacing keeps its internal id and replaces the whole record: its embedding
 * (if any) is removed in the same transaction, since it described the old content; its edges stay.
 * To keep the embedding use mnemo_record_update; to give a new one, mnemo_vector_put after this
 * call in the same transaction. An expired record counts as absent and is removed (with what
 * hangs on it) before the new one takes its id.
 * @return 0; MNEMO_EINVAL (NULL/empty/oversized id, invalid UTF-8, non-finite importance, negative
 *         time, metadata that is not a JSON object — the message gives the parse error's line and
 *         column); MNEMO_EEXISTS; MNEMO_ENOTFOUND; MNEMO_EREADONLY; MNEMO_EBUSY (auto-commit
 *         conflicts are retried; inside a txn, reported at commit); MNEMO_ECORRUPT; MNEMO_EIO. */
MNEMO_API int mnemo_record_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *rec, mnemo_record_put_mode mode);

/** Read a record.
 * @param[out] out  the record; free with mnemo_record_free(). Untouched on failure.
 * @return 0; MNEMO_ENOTFOUND (absent or expired); MNEMO_EINVAL; MNEMO_ECORRUPT (the stored value
 *         failed its checksum; the message names the record). */
MNEMO_API int mnemo_record_get(mnemo_record **out, mnemo_db *db, mnemo_txn *txn, const char *id);

/** Whether a live (stored, not expired) record has this id. @return 1, 0, or a negative code. */
MNEMO_API int mnemo_record_exists(mnemo_db *db, mnemo_txn *txn, const char *id);

/** Delete a record and everything that belongs to it, in one transaction.
 * @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_ECORRUPT; MNEMO_EIO. */
MNEMO_API int mnemo_record_delete(mnemo_db *db, mnemo_txn *txn, const char *id);

/** Release a record returned by the library. Accepts NULL. */
MNEMO_API void mnemo_record_free(mnemo_record *rec);

/** Fields that mnemo_record_update changes. */
enum mnemo_record_update_fields {
    MNEMO_UPDATE_CONTENT = 1 << 0,
    MNEMO_UPDATE_IMPORTANCE = 1 << 1,
    MNEMO_UPDATE_EXPIRES_AT = 1 << 2,
    MNEMO_UPDATE_METADATA = 1 << 3, /**< merge metadata_patch into the metadata (RFC 7386) */
};

#define MNEMO_RECORD_CHANGES_VERSION 1
/** A partial update: only the fields named in `fields` change; updated_at becomes now. */
typedef struct mnemo_record_changes {
    unsigned version;           /**< MNEMO_RECORD_CHANGES_VERSION (0 is taken as 1) */
    unsigned fields;            /**< MNEMO_UPDATE_* bits */
    const char *content;
    double importance;
    int64_t expires_at;         /**< 0 removes the expiry */
    const char *metadata_patch; /**< JSON merge patch (an object): null deletes a key, objects merge */
} mnemo_record_changes;
#define MNEMO_RECORD_CHANGES_INIT {MNEMO_RECORD_CHANGES_VERSION, 0, NULL, 0.0, 0, NULL}

/** Change some fields of a live record.
 * @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL (bad field value, patch not a JSON object, no field
 *         named); MNEMO_EREADONLY; MNEMO_EBUSY; MNEMO_ECORRUPT; MNEMO_EIO. */
MNEMO_API int mnemo_record_update(mnemo_db *db, mnemo_txn *txn, const char *id, const mnemo_record_changes *upd);

/** A page of records. */
typedef struct mnemo_record_page {
    size_t count;
    mnemo_record *records; /**< count records, in the listing's order */
    char *next_cursor;     /**< pass as `cursor` to get the next page; NULL when there is none */
} mnemo_record_page;

/** Release a list (and its records). Accepts NULL. */
MNEMO_API void mnemo_record_page_free(mnemo_record_page *list);

/** How records are listed. */
typedef enum mnemo_record_list_order {
    MNEMO_LIST_BY_ID = 0,        /**< ascending id (bytewise) */
    MNEMO_LIST_OLDEST_FIRST = 1, /**< ascending created_at */
    MNEMO_LIST_NEWEST_FIRST = 2, /**< descending created_at */
} mnemo_record_list_order;

#define MNEMO_RECORD_LIST_OPTIONS_VERSION 1
typedef struct mnemo_record_list_options {
    unsigned version;        /**< MNEMO_RECORD_LIST_OPTIONS_VERSION (0 is taken as 1) */
    mnemo_record_list_order order;
    const char *id_prefix;   /**< only ids starting with this (MNEMO_LIST_BY_ID only) */
    int64_t created_from;    /**< only created_at >= this (by-time orders; 0: no bound) */
    int64_t created_to;      /**< only created_at < this (by-time orders; 0: no bound) */
    size_t limit;            /**< records per page; 0: all */
    const char *cursor;      /**< next_cursor of the previous page; NULL: first page */
} mnemo_record_list_options;
#define MNEMO_RECORD_LIST_OPTIONS_INIT {MNEMO_RECORD_LIST_OPTIONS_VERSION, MNEMO_LIST_BY_ID, NULL, 0, 0, 0, NULL}

/** List live records, one page at a time.
 * @return 0 (possibly an empty list); MNEMO_EINVAL (bad option or cursor); MNEMO_ECORRUPT. */
MNEMO_API int mnemo_record_list(mnemo_record_page **out, mnemo_db *db, mnemo_txn *txn,
                                const mnemo_record_list_options *opts);

#define MNEMO_RECORD_FIND_OPTIONS_VERSION 1
typedef struct mnemo_record_find_options {
    unsigned version;   /**< MNEMO_RECORD_FIND_OPTIONS_VERSION (0 is taken as 1) */
    size_t limit;       /**< records per page; 0: all */
    const char *cursor; /**< next_cursor of the previous page of the same filter; NULL: first */
} mnemo_record_find_options;
#define MNEMO_RECORD_FIND_OPTIONS_INIT {MNEMO_RECORD_FIND_OPTIONS_VERSION, 0, NULL}

/** Find live records whose metadata and fields match a filter, e.g. `{"topic": "rust",
 * "importance": {"$gte": 0.5}}` (operators $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $all
 * $size $elemMatch $regex $and $or $nor $not, dotted paths, null matching null or missing as in
 * MongoDB; see docs/records.md). Uses a secondary index when one covers an equality or range
 * predicate of the filter; otherwise scans every record.
 * @param[in] opts NULL for all results in one page.
 * @return 0; MNEMO_EINVAL (invalid filter: the message names the operator or path; a $regex that
 *         exceeds its match limits on a record; bad cursor); MNEMO_ECORRUPT; MNEMO_ENOMEM. */
MNEMO_API int mnemo_record_find(mnemo_record_page **out, mnemo_db *db, mnemo_txn *txn, const char *filter,
                                const mnemo_record_find_options *opts);

/** Declare a secondary index on a metadata path (dotted, e.g. "topic" or "author.name") and build
 * it for the records already stored. Scalars are indexed; arrays index each scalar element.
 * @return 0; MNEMO_EEXISTS; MNEMO_EINVAL (bad path); MNEMO_EREADONLY; MNEMO_EIO. */
MNEMO_API int mnemo_record_index_create(mnemo_db *db, const char *path);

/** Remove a secondary index and its entries. @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL. */
MNEMO_API int mnemo_record_index_drop(mnemo_db *db, const char *path);

/** The metadata paths that have a secondary index (ready or still being built: an interrupted build
 * is finished first when the handle is writable), in bytewise order,
 * as normalised by mnemo_record_index_create (e.g. "metadata.topic" is listed as "topic").
 * @param[out] paths  n NUL-terminated paths (NULL when n is 0); free with mnemo_record_index_list_free().
 *                    Untouched on failure.
 * @param[out] n      how many.
 * @param[in]  txn    NULL, or a transaction whose snapshot (and own changes) to read.
 * @return 0; MNEMO_EINVAL (NULL out-parameter, NULL or closed db, finished txn); MNEMO_ECORRUPT (a
 *         damaged definition, named); MNEMO_EIO; MNEMO_ENOMEM. Thread-safe on the db. */
MNEMO_API int mnemo_record_index_list(char ***paths, size_t *n, mnemo_db *db, mnemo_txn *txn);

/** Release what mnemo_record_index_list returned. Accepts NULL. */
MNEMO_API void mnemo_record_index_list_free(char **paths, size_t n);

/** Physically remove every record whose expiry has passed, with everything that hangs on it.
 * @param[out] purged  number removed (may be NULL).
 * @return 0; MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_EIO. */
MNEMO_API int mnemo_record_purge_expired(mnemo_db *db, size_t *purged);

#ifdef __cplusplus
}
#endif
#endif
