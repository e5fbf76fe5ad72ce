/**
 * @file mnemo/collection.h
 * Collections: many memories in one database.
 *
 * A collection is a named namespace inside a database: its own record ids, its own vector space,
 * secondary indexes and full-text settings. Its handle is a `mnemo_db *`: every record, vector,
 * graph, index, text and recall call works on it as on the database's own handle, which is the
 * handle of the **default collection** (named "default": a database made before collections is
 * its default collection, unchanged). Key-value pairs and edge labels belong to the database.
 *
 * - Edges may link records of different collections (mnemo_graph_link_across); a traversal from
 *   one collection reports the records it reaches in another with mnemo_graph_neighbor's
 *   `collection`.
 * - A transaction begun on any handle of a database works on all of its collections: a record in
 *   one, an edge to another, two vectors, all or nothing.
 * - Collection handles belong to their database: mnemo_collection_open returns the same handle for
 *   the same collection until the database closes, and mnemo_close on a collection handle does
 *   nothing (returns 0). After a drop the handle's calls fail with MNEMO_ENOTFOUND.
 * - Drop is atomic: the collection is gone at its commit (a transaction writing into it then fails
 *   with MNEMO_EBUSY or MNEMO_ENOTFOUND), and its keys are reclaimed afterwards in bounded steps
 *   that a crash interrupts safely (the next read-write open goes on with them).
 */
#ifndef MNEMO_COLLECTION_H
#define MNEMO_COLLECTION_H

#include "mnemo/db.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_COLLECTION_NAME_MAX 128u   /**< longest collection name, bytes of UTF-8 */
#define MNEMO_COLLECTION_DEFAULT "default" /**< the name of the default collection */

#define MNEMO_COLLECTION_OPTIONS_VERSION 1
/** How a collection is created: its vector space (all 0: none; as mnemo_options' fields). */
typedef struct mnemo_collection_options {
    unsigned version;              /**< MNEMO_COLLECTION_OPTIONS_VERSION (0 is taken as 1) */
    uint32_t vector_dim;           /**< 0: no vector space */
    mnemo_metric vector_metric;    /**< default L2 */
    uint32_t hnsw_m;               /**< default 16 */
    uint32_t hnsw_ef_construction; /**< default 200 */
    uint32_t hnsw_ef_search;       /**< default 64 */
    mnemo_quantization vector_quantization; /**< index codes (default NONE; mnemo_options') */
} mnemo_collection_options;
#define MNEMO_COLLECTION_OPTIONS_INIT {MNEMO_COLLECTION_OPTIONS_VERSION, 0, MNEMO_METRIC_DEFAULT, 0, 0, 0, MNEMO_QUANT_DEFAULT}

/** Create the collection `name` and return its handle.
 * @param db  any handle of the database.
 * @param opts  NULL: no vector space.
 * @return 0; MNEMO_EEXISTS (a collection of that name exists, "default" included); MNEMO_EINVAL
 *         (NULL/empty name, longer than MNEMO_COLLECTION_NAME_MAX, not UTF-8, bad options, closed
 *         handle); MNEMO_EREADONLY; MNEMO_EFULL (every collection id is used); MNEMO_EBUSY;
 *         MNEMO_EIO; MNEMO_ENOMEM. */
MNEMO_API int mnemo_collection_create(mnemo_db **out, mnemo_db *db, const char *name,
                                      const mnemo_collection_options *opts);

/** The handle of the collection `name` ("default": the database's own handle).
 * @return 0; MNEMO_ENOTFOUND (no such collection); MNEMO_EINVAL; MNEMO_ECORRUPT. */
MNEMO_API int mnemo_collection_open(mnemo_db **out, mnemo_db *db, const char *name);

/** The collection of a handle: its name (the database's copy, valid until the next rename or drop
 * of it, or close), "default" for the database's own handle, NULL for a NULL or closed handle. */
MNEMO_API const char *mnemo_collection_name(mnemo_db *db);

/** One collection in a listing. */
typedef struct mnemo_collection_info {
    const char *name;
    uint64_t records; /**< stored records (expired ones not yet purged count) */
    uint64_t vectors; /**< stored embeddings */
} mnemo_collection_info;
typedef struct mnemo_collection_list {
    size_t count;
    mnemo_collection_info *items; /**< "default" first, then by name */
} mnemo_collection_list;

/** Every collection of the database, with counts (one scan of each collection's records).
 * Free with mnemo_collection_list_free. */
MNEMO_API int mnemo_collection_list_all(mnemo_collection_list **out, mnemo_db *db);
MNEMO_API void mnemo_collection_list_free(mnemo_collection_list *l);

/** Rename a collection; its handles stay valid.
 * @return 0; MNEMO_ENOTFOUND (no `from`); MNEMO_EEXISTS (`to` exists); MNEMO_EINVAL (a bad name,
 *         or the default collection); MNEMO_EREADONLY; MNEMO_EBUSY. */
MNEMO_API int mnemo_collection_rename(mnemo_db *db, const char *from, const char *to);

/** Drop a collection with everything in it, and the edges of its records.
 * @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL (a bad name, or the default collection);
 *         MNEMO_EREADONLY; MNEMO_EBUSY; MNEMO_EIO. Reclaiming space after the commit may fail
 *         (the next open goes on with it): its error is not returned. */
MNEMO_API int mnemo_collection_drop(mnemo_db *db, const char *name);

#ifdef __cplusplus
}
#endif

#endif
