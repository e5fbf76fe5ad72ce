/* Internal API of the graph room, for the db room (open) and for the vector and text rooms
 * (hybrid search by neighbourhood).
 *
 * Keys (fixed width, big-endian):  graph_forward  from(u64) label(u32) to(u64)
 *                                  graph_backward to(u64)   label(u32) from(u64)
 * Value (both directions): u8 version | f64 weight | u16 len, id of the OTHER endpoint |
 *                          u32 len, props JSON | u32 crc32c. Carrying the other endpoint's record
 * id makes a neighbourhood one prefix scan with no lookups.
 * Labels: metadata 'L' label -> u32 id, 'l' id -> label; ids from 1 (0 means every label). */
#ifndef MNEMO_GRAPH_INTERNAL_H
#define MNEMO_GRAPH_INTERNAL_H

#include <stdint.h>

#include "core/keys.h"
#include "core/u64map.h"
#include "mnemo/graph.h"
#include "txn/txn.h"

/* An edge between records of two collections (mnemo_graph_link_across) names, in each direction's
 * value, the other end with its collection: MNEMO_MK_IN_COLLECTION, the collection id (u32 BE; 0
 * for the default collection), then the id. A plain id is a record of the reader's own collection
 * (0xFF never starts a UTF-8 id). Traversals do not follow such edges. */
#define MNEMO_GRAPH_QUALIFIER_LEN 5
static inline int mnemo_graph__qualified(const char *id, size_t len)
{
    return len > MNEMO_GRAPH_QUALIFIER_LEN && (unsigned char)id[0] == MNEMO_MK_IN_COLLECTION;
}

/* Label ids run 1..MNEMO_GRAPH_LABEL_ID_MAX: the allocator refuses more (MNEMO_EFULL), the loader
 * and mnemo_graph_check call an id above it damage. */
#define MNEMO_GRAPH_LABEL_ID_MAX (1u << 24)

/* Called by mnemo_open: registers the record listener by which a record's edges (both directions,
 * both twins) are deleted with it, inside the deleting transaction. */
int mnemo_graph__open(mnemo_db *db);

/* Visits the edges of iid: other = the other endpoint, dir = MNEMO_DIR_OUT or MNEMO_DIR_IN.
 * Edges to expired records are skipped. cb returns 0 to go on, 1 to stop, < 0 to abort. */
typedef struct mnemo_graph_edge_view {
    uint64_t other;
    uint32_t label;
    mnemo_direction dir;
    double weight;
    const char *other_id; /* not NUL-terminated */
    size_t other_id_len;
    const char *props; /* not NUL-terminated; props_len 0: none */
    size_t props_len;
} mnemo_graph_edge_view;
typedef int (*mnemo_graph_edge_fn)(void *arg, const mnemo_graph_edge_view *e);
int mnemo_graph__scan(mnemo_db *db, mnemo_txn *txn, uint64_t iid, mnemo_direction dir, uint32_t label,
                      mnemo_graph_edge_fn cb, void *arg);
/* The buffer a run of scans reuses (a traversal scans once per node it expands), so that a scan
 * allocates nothing once it has grown. Zero-initialise; free with mnemo_graph__scratch_free.
 * skip (optional): asked with the other end's internal id, read from the key, before the edge's
 * value is decoded; 1 drops the edge unread (a traversal's already visited nodes: most edges of a
 * 2-hop neighbourhood), so its checksum and decoding are not paid. Without a cache only: a scan
 * that fills the cache reads every edge. */
typedef struct mnemo_graph_scratch {
    struct mnemo_graph_adj *list; /* NULL while a scan of the run uses it */
    int (*skip)(void *arg, uint64_t other);
    void *skip_arg;
} mnemo_graph_scratch;
int mnemo_graph__scan_with(mnemo_graph_scratch *sc, mnemo_db *db, mnemo_txn *txn, uint64_t iid,
                           mnemo_direction dir, uint32_t label, mnemo_graph_edge_fn cb, void *arg);
void mnemo_graph__scratch_free(mnemo_graph_scratch *sc);

/* The checks of a search's neighbourhood arguments (near, near_dir, near_label) before any read,
 * EINVAL naming fn and the field; NULL near passes (no restriction). */
int mnemo_graph__check_near(const char *fn, const char *near, mnemo_direction dir, const char *label_name);

/* Adds start and every record within `hops` hops of it (edges in dir, 0 for both; of the label
 * named label_name, NULL for all) to set. */
int mnemo_graph__neighbourhood(mnemo_u64map *set, mnemo_db *db, mnemo_txn *txn, uint64_t start, uint32_t hops,
                               mnemo_direction dir, const char *label_name);

/* Label id of label: 0 and *id set; MNEMO_ENOTFOUND when absent and create is 0. */
int mnemo_graph__label_id(uint32_t *id, mnemo_db *db, mnemo_txn *txn, const char *label, int create);
/* Test hook: sets the next label id to hand out (e.g. near the limit). */
int mnemo_graph__set_next_label(mnemo_db *db, uint32_t next);
/* Label text of an id (borrowed, lives as long as the db), or NULL. */
const char *mnemo_graph__label_name(mnemo_db *db, mnemo_txn *txn, uint32_t id);

#endif
