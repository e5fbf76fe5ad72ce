/* The keyspaces of a mnemo database, declared once: column families on RocksDB, named databases
 * on LMDB. A module that needs a keyspace adds one line to MNEMO_KEYSPACES (at the end: the
 * number of a keyspace is its position) and the engines create it. */
#ifndef MNEMO_STORE_KEYSPACE_H
#define MNEMO_STORE_KEYSPACE_H

/* Hints an engine may use. SORTED_LOADS: bulk loads write this keyspace in key order. */
#define MNEMO_KS_SORTED_LOADS 1u
/* ADDED_LATER: databases of an older format lack it (text_index came with format 3): a read-write
 * open creates it, a read-only open sees it empty. Engines that never had such databases ignore it. */
#define MNEMO_KS_ADDED_LATER 2u
/* DENSE: values compress well and settle (full-text postings): engines that can compress the data
 * that reached its last level harder (RocksDB: ZSTD there when compression is left at default). */
#define MNEMO_KS_DENSE 4u

/* Not an engine hint: for the txn room, which keeps each collection's keys apart (txn/scope.c).
 * PER_COLLECTION: every key belongs to one collection; PER_COLLECTION_BY_KEY: the key's first byte
 * says (core/keys.h, the metadata prefixes). Keyspaces with neither are the database's: key-value
 * pairs, and the edges, keyed by internal ids that are unique across collections. */
#define MNEMO_KS_PER_COLLECTION 8u
#define MNEMO_KS_PER_COLLECTION_BY_KEY 16u

/* X(enum suffix, stored name, hints) */
#define MNEMO_KEYSPACES(X)                                                                     \
    X(DEFAULT, "default", 0)                                                                   \
    X(RECORDS, "records", MNEMO_KS_PER_COLLECTION)                                             \
    X(GRAPH_FORWARD, "graph_forward", MNEMO_KS_SORTED_LOADS)                                   \
    X(GRAPH_BACKWARD, "graph_backward", MNEMO_KS_SORTED_LOADS)                                 \
    X(VECTOR_DATA, "vector_data", MNEMO_KS_PER_COLLECTION)                                     \
    X(VECTOR_INDEX, "vector_index", MNEMO_KS_PER_COLLECTION)                                   \
    X(METADATA, "metadata", MNEMO_KS_PER_COLLECTION_BY_KEY)                                    \
    X(TEXT_INDEX, "text_index",                                                                \
      MNEMO_KS_ADDED_LATER | MNEMO_KS_DENSE | MNEMO_KS_SORTED_LOADS | MNEMO_KS_PER_COLLECTION)

typedef enum mnemo_cf {
#define MNEMO_KS_ENUM(id, name, hints) MNEMO_CF_##id,
    MNEMO_KEYSPACES(MNEMO_KS_ENUM)
#undef MNEMO_KS_ENUM
    MNEMO_CF_COUNT
} mnemo_cf;

typedef struct mnemo_keyspace_def {
    const char *name;
    unsigned hints;
} mnemo_keyspace_def;

/* The table, indexed by mnemo_cf. */
extern const mnemo_keyspace_def mnemo_keyspaces[MNEMO_CF_COUNT];

#endif
