/* The store interface: what every storage engine gives the rooms above it (src/txn, src/db).
 *
 * A versioned table of operations, the way SQLite's VFS or libgit2's refdb backends are built.
 * An engine lives in src/store/<engine>/ and is the only code that includes its library's headers;
 * it translates its own errors into MNEMO_E* codes with a message naming the operation and the
 * keyspace. Nothing here knows a model (kv, record, graph, vector): keyspaces are numbers declared
 * in keyspace.h.
 *
 * Model of a transaction (optimistic, serializable for what it tracks):
 *  - begin takes a read snapshot; every read of the transaction sees that snapshot plus the
 *    transaction's own writes (point reads and cursors alike);
 *  - get with track != 0 makes the key part of the commit-time validation; every written key is
 *    validated too (the engine may skip validating writes of a transaction that never read:
 *    blind writes order by commit);
 *  - commit validates that no tracked or written key was changed by a commit after the snapshot,
 *    then applies all writes atomically; a failed validation is MNEMO_EBUSY and applies nothing;
 *  - put_untracked is a bulk-load write: atomic with the transaction but not validated; whether
 *    the transaction's own reads see it is undefined (callers use it only for keys the transaction
 *    never reads or writes otherwise);
 *  - validation may be conservative (RocksDB compares sequence numbers, so rewriting a key with
 *    the same bytes conflicts; LMDB compares bytes): EBUSY costs a retry, never a wrong answer.
 * Distributed stores (etcd, FoundationDB) fit the same shape: docs/storage.md maps each operation.
 *
 * Threads: a store is shared by threads; a store transaction and its cursors belong to one thread
 * at a time. Read-only handles (read_only set at open) refuse writes with MNEMO_EREADONLY. */
#ifndef MNEMO_STORE_H
#define MNEMO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "mnemo/db.h"
#include "store/keyspace.h"

#define MNEMO_STORE_OPS_VERSION 1

typedef struct mnemo_store mnemo_store;               /* an open engine instance */
typedef struct mnemo_store_txn mnemo_store_txn;       /* a transaction (or read-only snapshot) */
typedef struct mnemo_store_cursor mnemo_store_cursor; /* an ordered cursor over one keyspace */
typedef struct mnemo_store_ops mnemo_store_ops;

/* What an engine needs to open. Engine-neutral: the engine maps the tuning fields onto its own
 * knobs and ignores what it has none for. */
typedef struct mnemo_store_config {
    const char *path;     /* a directory, or ":memory:" for the memory engine */
    int create;           /* create the database (the directory is missing or empty) */
    int read_only;        /* open for reading only; writes get MNEMO_EREADONLY */
    int sync_on_commit;   /* make every commit durable before it returns */
    mnemo_storage_options storage; /* tuning, defaults filled in (key_filter_bits < 0: none) */
    const mnemo_keyspace_def *keyspaces; /* the table in keyspace.c */
    unsigned n_keyspaces;
} mnemo_store_config;

/* Bytes the engine owns (a key or value of a cursor run). */
typedef mnemo_slice mnemo_store_slice;

/* A borrowed value: data/len stay valid until release_value is called on it (RocksDB: a pinned
 * slice; LMDB: the page inside the reader's snapshot, kept alive by the pin). */
typedef struct mnemo_store_value {
    const void *data;
    size_t len;
    void *pin; /* engine-private; NULL when there is nothing to release */
} mnemo_store_value;

/* One write of an atomic batch. */
typedef struct mnemo_store_write {
    unsigned ks;
    int is_delete;
    const void *key;
    size_t klen;
    const void *val; /* ignored for deletes */
    size_t vlen;
} mnemo_store_write;

/* Figures an engine reports (stats, the CLI's `stats`). */
typedef struct mnemo_store_stats {
    uint64_t disk_bytes;     /* bytes of files the engine holds on disk (0 for memory) */
    uint64_t memory_bytes;   /* bytes of memory the engine uses for tables and caches, if known */
    uint64_t last_sequence;  /* the latest commit sequence number */
} mnemo_store_stats;

struct mnemo_store_ops {
    unsigned version; /* MNEMO_STORE_OPS_VERSION */
    const char *name; /* "rocksdb", "lmdb", "memory": recorded in the database */

    /* 1 if `path` (an existing directory) holds a database of this engine, 0 if not. Looks at
     * file names only; opens nothing. */
    int (*probe)(const char *path);

    /* Opens (or creates) the store with every keyspace of cfg. A store that lacks a keyspace
     * is MNEMO_ECORRUPT; one with a keyspace not in the table is MNEMO_EVERSION; a store held by
     * another process or handle is MNEMO_ELOCKED. */
    int (*open)(mnemo_store **out, const mnemo_store_config *cfg);
    /* Makes what was committed durable and releases everything; every transaction and cursor
     * must be gone. Returns the first error (the store is closed anyway). */
    int (*close)(mnemo_store *s);

    /* ---- transactions ---- */
    /* read_only != 0: a snapshot that refuses writes (cheaper: nothing to validate). */
    int (*txn_begin)(mnemo_store_txn **out, mnemo_store *s, int read_only);
    /* The version of the snapshot the transaction reads (engine sequence number). */
    uint64_t (*txn_version)(mnemo_store_txn *t);
    /* Point read at t's snapshot plus its writes; t NULL reads the latest committed state.
     * MNEMO_ENOTFOUND when absent. On success *out borrows the value until release_value. */
    int (*get)(mnemo_store *s, mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, int track,
               mnemo_store_value *out);
    void (*release_value)(mnemo_store *s, mnemo_store_value *v);
    int (*put)(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen);
    int (*del)(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen);
    int (*put_untracked)(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val,
                         size_t vlen);
    /* Validates and applies. 0 and *seq = the commit's sequence number (strictly increasing over
     * the store's life, across reopens; read-only or empty transactions, and ones whose writes
     * changed nothing, report the snapshot's: so seq > txn_version means this commit wrote seq);
     * MNEMO_EBUSY on a conflict (nothing applied); another code on failure (nothing applied).
     * Either way the transaction is finished: only txn_free may follow. */
    int (*txn_commit)(mnemo_store_txn *t, uint64_t *seq);
    /* Rolls back if still open and frees. Accepts NULL. Cursors of t must be closed first. */
    void (*txn_free)(mnemo_store_txn *t);

    /* ---- atomic batch without a transaction (auto-commit writes): not validated; seq may be
     * NULL, else *seq = the sequence of the commit it made, or 0 when it made none (nothing
     * changed: deletes of absent keys on lmdb); never another commit's, which the txn room would
     * take for its own (cache_seq_own_commit); a write naming an unknown keyspace is EINVAL and
     * nothing is applied ---- */
    int (*write_batch)(mnemo_store *s, const mnemo_store_write *w, size_t n, uint64_t *seq);

    /* ---- cursors: ordered over [lower, upper) of one keyspace (NULL bound: unbounded), at t's
     * snapshot plus its writes, or at an implicit snapshot of the latest state when t is NULL.
     * Key and value slices live until the next move or close. ---- */
    int (*cursor_open)(mnemo_store_cursor **out, mnemo_store *s, mnemo_store_txn *t, unsigned ks,
                       const void *lower, size_t lower_len, const void *upper, size_t upper_len);
    void (*cursor_seek)(mnemo_store_cursor *c, const void *key, size_t klen);          /* first >= key */
    void (*cursor_seek_for_prev)(mnemo_store_cursor *c, const void *key, size_t klen); /* last <= key */
    void (*cursor_first)(mnemo_store_cursor *c);
    void (*cursor_last)(mnemo_store_cursor *c);
    void (*cursor_next)(mnemo_store_cursor *c); /* only on a valid cursor */
    void (*cursor_prev)(mnemo_store_cursor *c); /* only on a valid cursor */
    int (*cursor_valid)(mnemo_store_cursor *c);
    /* 0, or the error that stopped the cursor (message set, `what` names the caller). */
    int (*cursor_status)(mnemo_store_cursor *c, const char *what);
    const void *(*cursor_key)(mnemo_store_cursor *c, size_t *len);
    const void *(*cursor_value)(mnemo_store_cursor *c, size_t *len);
    void (*cursor_close)(mnemo_store_cursor *c);

    /* ---- maintenance ---- */
    uint64_t (*estimate_keys)(mnemo_store *s, unsigned ks); /* cheap, approximate */
    int (*flush)(mnemo_store *s);                            /* write buffers to files */
    int (*compact)(mnemo_store *s);                          /* reclaim space everywhere */
    int (*checkpoint)(mnemo_store *s, const char *dir);      /* consistent copy into new dir */
    int (*stats)(mnemo_store *s, mnemo_store_stats *out);

    /* ---- optional (NULL: the engine has none) ---- */
    /* A forward run for scans: from a valid cursor of no transaction, stores the current entry and
     * up to max - 1 following ones in keys/vals, moving past each, and returns how many (0: none,
     * read the current entry as usual). The cursor is then on the first entry not stored (or at the
     * end: not valid). The slices live until the cursor's next call, not only until its next
     * move, so a caller hands them out one by one without a call per entry. A run may stop early
     * (at the bound, at an entry the engine cannot lend that long). */
    size_t (*cursor_run)(mnemo_store_cursor *c, mnemo_store_slice *keys, mnemo_store_slice *vals, size_t max);

    /* ---- several processes on one store (issue 12); 0 / NULL for engines that one process
     * holds at a time (rocksdb, memory; rocksdb has last_seq for its followers) ---- */
    int shared; /* 1: any number of processes may open the store read-write at once */
    /* Buffers a put whose key is prefix + the commit's own sequence number (8 bytes big-endian),
     * so that entries written by commits of different processes are keyed in commit order and
     * never collide. t's own reads do not see it; it makes the commit a write. */
    int (*put_at_commit)(mnemo_store_txn *t, unsigned ks, const void *prefix, size_t plen, const void *val,
                         size_t vlen);
    /* The sequence number of the latest commit of any process: cheap (no snapshot). On a
     * follower (below) also a catch-up point. */
    uint64_t (*last_seq)(mnemo_store *s);

    /* ---- followers (issue 12); NULL for engines without them ----
     * 1 when this open is a follower: a read-only view of a store that another process holds
     * for writing (rocksdb: a secondary instance), which the engine brings forward by itself at
     * its catch-up points: txn_begin, get and cursor_open outside a transaction, last_seq. A
     * transaction sees one state from its begin to its end; reads outside one see the state of
     * the latest catch-up. The rooms above treat a follower like a shared store for reading: they
     * compare last_seq before answering from a cache of their own (the vector index, mnemo's
     * cache, the filter mirror), and, never writing, send no heartbeat. */
    int (*follower)(mnemo_store *s);

    /* ---- optional: engines whose commit can end with its outcome unknown (etcd) ---- */
    /* After txn_commit returned MNEMO_EUNKNOWN (and before txn_free): finds out whether the commit
     * was applied, and makes sure it never will be if not. 0 and *seq: applied; MNEMO_EBUSY: not
     * applied (retry); MNEMO_EUNKNOWN: the store cannot be asked now (nothing is decided). */
    int (*txn_resolve)(mnemo_store_txn *t, uint64_t *seq);
};

/* The engines this build has, by name; NULL if unknown. */
const mnemo_store_ops *mnemo_store__engine(const char *name);
/* The engine whose probe recognises the directory, or NULL. */
const mnemo_store_ops *mnemo_store__detect(const char *path);

extern const mnemo_store_ops mnemo_store__rocksdb;
extern const mnemo_store_ops mnemo_store__lmdb;
extern const mnemo_store_ops mnemo_store__memory;
#ifdef MNEMO_HAVE_ETCD
extern const mnemo_store_ops mnemo_store__etcd;
#endif

#endif
