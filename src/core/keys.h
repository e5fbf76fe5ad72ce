/* The keys of the `metadata` keyspace, in one table: every module that keeps keys there takes its
 * first byte (its prefix) from here, so two modules never pick the same one. keys.c names each
 * prefix in a switch, so two entries with one byte do not compile; the `metadata_keys` test of
 * tests/test_db.c checks that every key a database holds starts with a prefix of this table.
 * Layouts of the keys after the prefix: docs/storage.md. */
#ifndef MNEMO_CORE_KEYS_H
#define MNEMO_CORE_KEYS_H

#include <stddef.h>

/* X(name, byte, owner, per collection): the key prefix MNEMO_MK_<name>. Keys whose prefix is
 * per collection (1) belong to one collection: a collection's handle reads and writes them under
 * its collection's key prefix (txn/scope.c); the others are the database's, shared by all. Of the
 * counters, only `Nindex_epoch` is per collection (MNEMO_MKEY_INDEX_EPOCH). */
#define MNEMO_META_PREFIXES(X)          \
    X(MARKER, 0x00, "db", 0)            \
    X(IID, 'I', "record", 0)            \
    X(CREATED, 'C', "record", 1)        \
    X(EXPIRY, 'E', "record", 1)         \
    X(INDEX_DEF, 'D', "record", 1)      \
    X(INDEX, 'X', "record", 1)          \
    X(COUNTER, 'N', "record, graph", 0) \
    X(LABEL, 'L', "graph", 0)           \
    X(LABEL_ID, 'l', "graph", 0)        \
    X(VECTOR, 'V', "vector", 1)         \
    X(TEXT, 'T', "text", 1)             \
    X(COLLECTION, 'K', "db", 0)         \
    X(IN_COLLECTION, 0xFF, "db", 0)

enum {
#define MNEMO_MK_ENUM(name, byte, owner, scoped) MNEMO_MK_##name = (byte),
    MNEMO_META_PREFIXES(MNEMO_MK_ENUM)
#undef MNEMO_MK_ENUM
};

/* Whole keys of one entry: the markers, the counters (sealed big-endian; ids from txn/idalloc.h)
 * and single settings. A "\0..." key holds a NUL: use its length, MNEMO_MKEY_LEN. */
#define MNEMO_MKEY_FORMAT "\0format"     /* format marker (db) */
#define MNEMO_MKEY_ENGINE "\0engine"     /* the engine that created the database (db) */
#define MNEMO_MKEY_IID_HWM "Niid_hwm"    /* next record internal id never handed out, u64 */
#define MNEMO_MKEY_INDEX_EPOCH "Nindex_epoch" /* secondary index definitions' epoch, u64 */
#define MNEMO_MKEY_LABEL_HWM "Nlabel_hwm" /* next label id never handed out, u32 */
#define MNEMO_MKEY_VECTOR_SPACE "Vspace" /* vector space settings */
#define MNEMO_MKEY_TEXT "Ttext"          /* full-text settings */
#define MNEMO_MKEY_LEN(k) (sizeof(k) - 1)

/* Every whole key above, for the checks: X(key). */
#define MNEMO_META_KEYS(X)                                                                                   \
    X(MNEMO_MKEY_FORMAT) X(MNEMO_MKEY_ENGINE) X(MNEMO_MKEY_IID_HWM) X(MNEMO_MKEY_INDEX_EPOCH)               \
    X(MNEMO_MKEY_LABEL_HWM) X(MNEMO_MKEY_VECTOR_SPACE) X(MNEMO_MKEY_TEXT) X(MNEMO_MKEY_COLL_HWM)

/* Collections (db/collection.c). `K 0x00 name` -> collection id (u32 BE) and state, sealed;
 * `K 0x01 cid` -> name, sealed (present while the collection is live: every transaction that
 * writes into the collection reads it, so a drop conflicts with them); `K 0x02 cid` -> nothing, a
 * dropped collection whose keys are still being reclaimed. `Ncoll_hwm` the next id never handed
 * out (u32 BE, sealed). A collection's own keys, in every keyspace that is per collection, start
 * with MNEMO_MK_IN_COLLECTION and its id (u32 BE): 0xFF never starts a UTF-8 record id, a term,
 * or a prefix of the table above. */
#define MNEMO_MKEY_COLL_HWM "Ncoll_hwm"
#define MNEMO_COLL_BY_NAME 0x00
#define MNEMO_COLL_BY_ID 0x01
#define MNEMO_COLL_RECLAIM 0x02
#define MNEMO_COLL_PREFIX_LEN 5

/* The owner of a prefix byte ("record", "graph", ...), or NULL when no module owns it. */
const char *mnemo__meta_prefix_owner(unsigned char byte);
/* 1 when the metadata key belongs to one collection (the table's last column), 0 when to the
 * database. */
int mnemo__meta_key_per_collection(const void *key, size_t klen);

#endif
