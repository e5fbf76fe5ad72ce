/**
 * @file mnemo/graph.h
 * Graph edges between records: labelled, weighted, with optional JSON properties, stored once in
 * each direction so out- and in-neighbours are both a prefix scan. Nodes are record ids.
 *
 * Every function takes an optional transaction (NULL = the operation commits alone). An edge is
 * never stored in one direction only: both keys are written and deleted in the same transaction.
 * Deleting (or purging an expired) record removes all its edges in the same transaction, and an
 * expired record's edges are invisible at once. Threads: thread-safe on the db; a transaction and
 * the iterators made in it belong to one thread at a time.
 */
#ifndef MNEMO_GRAPH_H
#define MNEMO_GRAPH_H

#include "mnemo/iter.h"
#include "mnemo/record.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_LABEL_MAX 256u /**< bytes of an edge label */

/** An edge. On link the caller fills it; from get the library owns it (free with mnemo_graph_edge_free). */
typedef struct mnemo_graph_edge {
    const char *from;  /**< record id */
    const char *label; /**< UTF-8, 1..MNEMO_LABEL_MAX bytes */
    const char *to;    /**< record id; may equal from (self-loop) */
    double weight;     /**< finite; see MNEMO_LINK_DEFAULT_WEIGHT */
    const char *props; /**< JSON object text, or NULL for none */
} mnemo_graph_edge;

/** Flags for mnemo_graph_link. */
enum mnemo_graph_link_flags {
    MNEMO_LINK_CREATE_MISSING = 1 << 0, /**< create an empty record for an endpoint that has none */
    MNEMO_LINK_DEFAULT_WEIGHT = 1 << 1, /**< ignore e->weight and use 1.0 */
};

/** Insert the edge (from, label, to), or update its weight and properties if it exists.
 * @return 0; MNEMO_ENOTFOUND (an endpoint has no live record and MNEMO_LINK_CREATE_MISSING is not
 *         set); MNEMO_EINVAL (NULL/empty/oversized id or label, non-finite weight, props not a JSON
 *         object); MNEMO_EFULL (a new label, and all 2^24 label ids are used); MNEMO_EREADONLY;
 *         MNEMO_EBUSY (also: another transaction created a label meanwhile); MNEMO_ECORRUPT; MNEMO_EIO. */
MNEMO_API int mnemo_graph_link(mnemo_db *db, mnemo_txn *txn, const mnemo_graph_edge *e, unsigned flags);

/** Insert or update an edge between records of two collections of one database (mnemo/collection.h):
 * e->from in from_db's collection, e->to in to_db's (MNEMO_LINK_CREATE_MISSING creates each in its
 * own). mnemo_graph_neighbors shows it from both ends, naming the other end's collection;
 * traversals, shortest paths and `near` neighbourhoods stay in one collection and do not follow
 * it. Deleting either record, or dropping its collection, deletes it. With from_db and to_db the
 * same handle it is mnemo_graph_link.
 * @return as mnemo_graph_link; MNEMO_EINVAL also when to_db is NULL, closed, or of another database. */
MNEMO_API int mnemo_graph_link_across(mnemo_db *from_db, mnemo_txn *txn, const mnemo_graph_edge *e, mnemo_db *to_db,
                                      unsigned flags);

/** Remove an edge made by mnemo_graph_link_across. @return as mnemo_graph_unlink. */
MNEMO_API int mnemo_graph_unlink_across(mnemo_db *from_db, mnemo_txn *txn, const char *from, const char *label,
                                        mnemo_db *to_db, const char *to);

/** Remove the edge (from, label, to) in both directions.
 * @return 0; MNEMO_ENOTFOUND (no such edge); MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_EBUSY; MNEMO_EIO. */
MNEMO_API int mnemo_graph_unlink(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, const char *to);

/** Read one edge. @param[out] out free with mnemo_graph_edge_free(); untouched on failure.
 * @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL; MNEMO_ECORRUPT. */
MNEMO_API int mnemo_graph_get(mnemo_graph_edge **out, mnemo_db *db, mnemo_txn *txn, const char *from, const char *label,
                              const char *to);

/** Whether the edge exists. @return 1, 0, or a negative code. */
MNEMO_API int mnemo_graph_exists(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, const char *to);

/** Release an edge returned by the library. Accepts NULL. */
MNEMO_API void mnemo_graph_edge_free(mnemo_graph_edge *e);

/** One neighbour, borrowed from its iterator until the next move (mnemo_iter_neighbor). */
typedef struct mnemo_graph_neighbor {
    const char *id;              /**< the node at the other end */
    const char *label;
    double weight;
    const char *props;           /**< JSON object text or NULL */
    mnemo_direction direction;   /**< MNEMO_DIR_OUT (node -> id) or MNEMO_DIR_IN (id -> node) */
    const char *collection;      /**< the collection of `id` when it is not the handle's (an edge of
                                      mnemo_graph_link_across; "default" for the default one), else NULL */
} mnemo_graph_neighbor;

/** Iterate a node's neighbours (out-edges first, each direction ordered by label then neighbour),
 * with the iterator of mnemo/iter.h: `while ((rc = mnemo_iter_next(it)) == 0)
 * { mnemo_iter_neighbor(it, &n); ... }`, then mnemo_iter_free(it). It cannot seek and has no
 * key or value (those calls are MNEMO_EINVAL).
 * The neighbours are read when the iterator is made (it holds no database resources); one made
 * in a transaction is invalidated when that transaction ends (commit, rollback, or its db closes),
 * one made without a transaction when its db closes: mnemo_iter_next and mnemo_iter_neighbor then
 * return MNEMO_EINVAL.
 * @param[out] out  set only on success; free with mnemo_iter_free().
 * @param[in] label NULL for every label.
 * @param[in] limit at most this many neighbours are read (0: all).
 * @return 0; MNEMO_ENOTFOUND (no live record `id`); MNEMO_EINVAL; MNEMO_ECORRUPT. */
MNEMO_API int mnemo_graph_neighbors(mnemo_iter **out, mnemo_db *db, mnemo_txn *txn, const char *id,
                                    mnemo_direction dir, const char *label, size_t limit);

/** The neighbour a neighbour iterator is on (after mnemo_iter_next returned 0), borrowed until the
 * iterator's next move or free.
 * @return 0; MNEMO_EINVAL (NULL argument, not a neighbour iterator, not on a neighbour, its
 *         transaction ended). */
MNEMO_API int mnemo_iter_neighbor(mnemo_iter *it, const mnemo_graph_neighbor **n);

/** Number of edges of a node in a direction (optionally one label), without building the list.
 * Edges to expired records are not counted. @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL. */
MNEMO_API int mnemo_graph_degree(uint64_t *out, mnemo_db *db, mnemo_txn *txn, const char *id, mnemo_direction dir,
                                 const char *label);

#define MNEMO_GRAPH_TRAVERSE_OPTIONS_VERSION 1
/** Breadth-first traversal settings. All-zero: out-edges, every label, unlimited depth and nodes. */
typedef struct mnemo_graph_traverse_options {
    unsigned version;    /**< MNEMO_GRAPH_TRAVERSE_OPTIONS_VERSION (0 is taken as 1) */
    mnemo_direction dir; /**< 0 means MNEMO_DIR_OUT */
    const char *label;   /**< follow only this label (NULL: all) */
    unsigned max_depth;  /**< 0: unlimited */
    size_t max_nodes;    /**< stop after visiting this many nodes (0: unlimited) */
} mnemo_graph_traverse_options;
#define MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT {MNEMO_GRAPH_TRAVERSE_OPTIONS_VERSION, MNEMO_DIR_OUT, NULL, 0, 0}

/** Called once per visited node, in breadth-first order. `via` is the node it was reached from
 * and `via_label` the edge's label (both NULL for start nodes). Strings live for the call only.
 * Return 0 to go on, 1 to stop, a negative code to abort with it. */
typedef int (*mnemo_graph_visit_fn)(const char *id, unsigned depth, const char *via, const char *via_label, void *arg);

/** Breadth-first traversal from one or more start nodes, visiting each node once. Memory grows
 * with the nodes visited (a set of 8-byte ids), not with their records.
 * @return 0; the callback's negative code; MNEMO_ENOTFOUND (a start node has no live record);
 *         MNEMO_EINVAL. */
MNEMO_API int mnemo_graph_traverse(mnemo_db *db, mnemo_txn *txn, const char *const *starts, size_t n_starts,
                                   const mnemo_graph_traverse_options *opts, mnemo_graph_visit_fn visit, void *arg);

/** A path: nodes[0] = from ... nodes[hops] = to; labels[i] is the edge from nodes[i]; weight is
 * the sum of the path's edge weights (also for a fewest-hops search). */
typedef struct mnemo_graph_path {
    size_t hops;
    char **nodes;  /**< hops + 1 ids */
    char **labels; /**< hops labels */
    double weight; /**< sum of the edge weights; for a fewest-hops search it may be infinite
                        (weights whose sum exceeds the largest double) */
} mnemo_graph_path;

#define MNEMO_GRAPH_PATH_OPTIONS_VERSION 1
typedef struct mnemo_graph_path_options {
    unsigned version;    /**< MNEMO_GRAPH_PATH_OPTIONS_VERSION (0 is taken as 1) */
    mnemo_direction dir; /**< 0 means MNEMO_DIR_OUT */
    const char *label;   /**< only this label (NULL: all) */
    int weighted;        /**< 0: fewest hops (BFS); 1: least total weight (Dijkstra) */
    unsigned max_hops;   /**< 0: unlimited; only with weighted = 0 (MNEMO_EINVAL otherwise) */
} mnemo_graph_path_options;
#define MNEMO_GRAPH_PATH_OPTIONS_INIT {MNEMO_GRAPH_PATH_OPTIONS_VERSION, MNEMO_DIR_OUT, NULL, 0, 0}

/** Shortest path from `from` to `to`.
 * @return 0; MNEMO_ENOTFOUND (an endpoint has no record, or `to` is unreachable within max_hops);
 *         MNEMO_EINVAL (bad argument; a negative weight met by a weighted search, naming the edge;
 *         a weighted search where `to` is reachable but every path's total weight overflows a
 *         double, so none can be called the least: a finite path, if any, is always found). */
MNEMO_API int mnemo_graph_shortest_path(mnemo_graph_path **out, mnemo_db *db, mnemo_txn *txn, const char *from,
                                        const char *to, const mnemo_graph_path_options *opts);

/** Release a path. Accepts NULL. */
MNEMO_API void mnemo_graph_path_free(mnemo_graph_path *p);

#define MNEMO_GRAPH_IMPORT_OPTIONS_VERSION 1
/** How an edge list is imported. All-zero: label "link", directed, weight 1, batches of 10000. */
typedef struct mnemo_graph_import_options {
    unsigned version;  /**< MNEMO_GRAPH_IMPORT_OPTIONS_VERSION (0 is taken as 1) */
    const char *label; /**< label of every edge (NULL: "link") */
    int undirected;    /**< also add b -> a for every line a b */
    size_t batch;      /**< edge lines per transaction (0: 10000); comments and blank lines do not count */
} mnemo_graph_import_options;
#define MNEMO_GRAPH_IMPORT_OPTIONS_INIT {MNEMO_GRAPH_IMPORT_OPTIONS_VERSION, NULL, 0, 0}

#define MNEMO_GRAPH_IMPORT_STATS_VERSION 1
/** What an import did. The caller sets `version` (start from MNEMO_GRAPH_IMPORT_STATS_INIT); the
 * library fills the fields of that version. */
typedef struct mnemo_graph_import_stats {
    unsigned version;       /**< MNEMO_GRAPH_IMPORT_STATS_VERSION of the caller's header; left as set */
    uint64_t lines;         /**< lines read (comments and blank lines included) */
    uint64_t edges;         /**< edges written (both directions of an undirected line count 2) */
    uint64_t nodes_created; /**< records created for node ids that had none */
} mnemo_graph_import_stats;
#define MNEMO_GRAPH_IMPORT_STATS_INIT {MNEMO_GRAPH_IMPORT_STATS_VERSION, 0, 0, 0}

/** Load a SNAP-style edge list: one edge per line, `a b` or `a<TAB>b` (a third column, if any,
 * is the weight), `#` comments, CRLF tolerated. Node ids become record ids; missing records are
 * created empty. Lines are committed in batches; a bad line fails with MNEMO_EINVAL naming its
 * line number, and nothing of its batch is kept (earlier batches are).
 * @param[out] stats  may be NULL; filled also on failure (what was committed).
 * @return 0; MNEMO_EINVAL (also: stats->version 0 or newer than the library, checked first);
 *         MNEMO_ENOTFOUND (no such file); MNEMO_EIO; MNEMO_EREADONLY. */
MNEMO_API int mnemo_graph_import_edgelist(mnemo_db *db, const char *path, const mnemo_graph_import_options *opts,
                                          mnemo_graph_import_stats *stats);

/** Verify that every forward edge has its backward twin with the same value and vice versa, and
 * that every edge's endpoints have records and every label id (of edges and of the label dictionary)
 * is within the limit.
 * @param[out] edges  number of edges checked (may be NULL).
 * @return 0 (consistent); MNEMO_ECORRUPT naming the first broken edge; MNEMO_EINVAL; MNEMO_EIO. */
MNEMO_API int mnemo_graph_check(mnemo_db *db, uint64_t *edges);

#ifdef __cplusplus
}
#endif
#endif
