/* The keys of the `metadata` keyspace, in one table: every module that keeps keys there takes its
 * first byte (its prefix) from here, so two modules never pick the same one. keys.c names each
 * prefix in a switch, so two entries with one byte do not compile; the `metadata_keys` test of
 * tests/test_db.c checks that every key a database holds starts with a prefix of this table.
 * Layouts of the keys after the prefix: docs/storage.md. */
#ifndef MNEMO_CORE_KEYS_H
#define MNEMO_CORE_KEYS_H

#include <stddef.h>

/* X(name, byte, owner): the key prefix MNEMO_MK_<name>. */
#define MNEMO_META_PREFIXES(X)       \
    X(MARKER, 0x00, "db")            \
    X(IID, 'I', "record")            \
    X(CREATED, 'C', "record")        \
    X(EXPIRY, 'E', "record")         \
    X(INDEX_DEF, 'D', "record")      \
    X(INDEX, 'X', "record")          \
    X(COUNTER, 'N', "record, graph") \
    X(LABEL, 'L', "graph")           \
    X(LABEL_ID, 'l', "graph")        \
    X(VECTOR, 'V', "vector")         \
    X(TEXT, 'T', "text")

enum {
#define MNEMO_MK_ENUM(name, byte, owner) MNEMO_MK_##name = (byte),
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
    X(MNEMO_MKEY_LABEL_HWM) X(MNEMO_MKEY_VECTOR_SPACE) X(MNEMO_MKEY_TEXT)

/* The owner of a prefix byte ("record", "graph", ...), or NULL when no module owns it. */
const char *mnemo__meta_prefix_owner(unsigned char byte);

#endif
