/* Private to src/graph/: per-database state, edge keys and values. */
#ifndef MNEMO_GRAPH_IMPL_H
#define MNEMO_GRAPH_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/u64map.h"
#include "graph/graph.h"

typedef struct graph_label {
    uint32_t id;
    char *name;
} graph_label;

typedef struct graph_state {
    pthread_mutex_t lock;
    /* committed labels, in the order they became known: a hash from name to entry (slots hold
     * entry + 1, 0 = empty) and a map from id to entry, so memory follows the number of labels,
     * not the largest id */
    graph_label *labels;
    size_t n_labels, cap_labels;
    uint32_t *slots;
    size_t n_slots;
    mnemo_u64map by_id;
} graph_state;

int mnemo_graph__state(graph_state **st, mnemo_db *db);

#define EDGE_KEY_LEN 20
/* Key of a node's cached adjacency in one direction. */
size_t mnemo_graph__adj_cache_key(unsigned char out[10], uint64_t iid, mnemo_direction dir);
/* The cached adjacency of both endpoints of edge a -> b goes stale when txn commits. */
int mnemo_graph__forget_edge(mnemo_txn *txn, uint64_t a, uint64_t b);
void mnemo_graph__edge_key(unsigned char out[EDGE_KEY_LEN], uint64_t a, uint32_t label, uint64_t b);

typedef struct edge_value {
    double weight;
    const char *other_id;
    size_t other_id_len;
    const char *props;
    size_t props_len;
} edge_value;

/* Encodes an edge value into a mnemo__malloc'd buffer. */
int mnemo_graph__encode_value(char **out, size_t *len, double weight, const char *other_id, size_t other_len,
                              const char *props, size_t props_len);
/* The same into a caller's buffer of mnemo_graph__value_len(other_len, props_len) bytes. */
size_t mnemo_graph__value_len(size_t other_len, size_t props_len);
void mnemo_graph__encode_value_to(unsigned char *v, double weight, const char *other_id, size_t other_len,
                                  const char *props, size_t props_len);
/* key/klen name the edge in the ECORRUPT message. */
int mnemo_graph__decode_value(edge_value *v, const char *val, size_t len, const unsigned char *key, int forward);

#endif
