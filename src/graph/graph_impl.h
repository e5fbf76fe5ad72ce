/* Private to src/graph/: per-database state, edge keys and values. */
#ifndef MNEMO_GRAPH_IMPL_H
#define MNEMO_GRAPH_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/u64map.h"
#include "graph/graph.h"

typedef struct graph_state {
    pthread_mutex_t lock;
    /* committed labels: names[id] (ids are dense from 1), and a hash from name to id */
    char **names;
    uint32_t n_names; /* capacity of names */
    uint32_t *slots;  /* open addressing: label ids, 0 = empty */
    size_t n_slots, n_used;
    uint32_t next_label, label_limit; /* allocation, like record ids (see record.c) */
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
