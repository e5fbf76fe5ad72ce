/* The part of an open database the txn room runs on: the db room (src/db/) sets it up at open and
 * embeds it as the first member of struct mnemo_db, so the txn room reaches it from a mnemo_db *
 * without knowing the rest of that struct (modules, cache sizes, the engine name). */
#ifndef MNEMO_TXN_DB_H
#define MNEMO_TXN_DB_H

#include <pthread.h>
#include <stdatomic.h>

#include "mnemo/db.h"
#include "store/store.h"

/* Something that must be torn down before its owner (db or txn) goes away: transactions and
 * cursors. Owners keep them in a circular list with a sentinel. */
typedef struct mnemo_res {
    struct mnemo_res *prev, *next;
    void (*invalidate)(struct mnemo_res *res);
} mnemo_res;

void mnemo_res__init_list(mnemo_res *sentinel);
void mnemo_res__link(mnemo_res *sentinel, mnemo_res *res);
void mnemo_res__unlink(mnemo_res *res);

struct mnemo_module_ops;
/* Per-database state of one module above (txn.h: mnemo_db__module), keyed by its ops. */
typedef struct mnemo_module_slot {
    const struct mnemo_module_ops *ops;
    void *state;
} mnemo_module_slot;
#define MNEMO_DB_MAX_MODULES 16

#define MNEMO_DB_MAGIC_OPEN 0x6d6e656du   /* "mnem" */
#define MNEMO_DB_MAGIC_CLOSING 0x73687574u /* "shut": mnemo_close is under way */
#define MNEMO_DB_MAGIC_CLOSED 0x636c6f73u  /* "clos" */

typedef struct mnemo_txn_db {
    /* Guarded calls in flight (txn.h). First, and never reset when a shell is reused: a thread on
     * a stale handle may be between its increment and decrement. */
    atomic_long calls;
    /* Guards res: transactions, txn-less cursors and views. Like calls, never reset: made with the
     * shell (mnemo_db__shell_get) and never destroyed, because a view's release locks it without
     * a guard, possibly after the handle closed and the shell was reused (txn.c view_release). */
    pthread_mutex_t res_lock;
    atomic_uint magic;
    mnemo_options opts;
    char *path;
    const mnemo_store_ops *ops;
    mnemo_store *store;
    struct mnemo_cache *cache; /* NULL when cache_size is 0 */
    mnemo_res res;
    pthread_mutex_t module_lock; /* guards adding module slots */
    mnemo_module_slot modules[MNEMO_DB_MAX_MODULES];
    atomic_uint n_modules; /* slots below it are complete (published with release) */
    /* Shared engines (several processes): the store sequence up to which the cache holds nothing
     * another process changed (mnemo_db__cache_read). */
    _Atomic uint64_t cache_seq;
    /* Shared engines, kept on the root handle: (own_from, own_to] is the latest run of store
     * sequences that this process committed with no other process's commit between them
     * (mnemo_db__own_since); own_lock guards the pair. */
    pthread_mutex_t own_lock;
    uint64_t own_from, own_to;
    /* Set by the db room at open: other processes commit to the store while this handle is open
     * (`shared`): the engine is shared, or this handle is a follower of another process's writer
     * (`follower`, store.h). */
    int shared, follower;
    /* Collections (db/collection.c): every handle of one database shares root's store and cache;
     * root is the handle mnemo_open returned, the default collection's (root == itself). A
     * collection's handle keeps its keys under kprefix (MNEMO_MK_IN_COLLECTION + cid, u32 BE;
     * empty for the default collection): txn/scope.c adds it, the modules never see it. */
    struct mnemo_db *root;
    uint32_t cid;
    unsigned kprefix_len;
    unsigned char kprefix[8];
    atomic_int dropped;   /* the collection was dropped (this process saw the commit) */
    _Atomic uint64_t live_seq; /* shared engines: the store sequence at which the collection was last seen live */
    int reclaiming;       /* the drop's own handle deleting the collection's keys */
} mnemo_txn_db;

/* The txn room's view of db (the first member of struct mnemo_db). */
#define MNEMO_TXN_DB(db) ((mnemo_txn_db *)(void *)(db))

/* Invalidates every transaction and cursor of the database (mnemo_close, before the store goes):
 * transactions are rolled back and their after-hooks told. */
void mnemo_txn__close_all(mnemo_txn_db *tdb);

/* Destroys the modules' per-database state, the last created first (mnemo_close, after
 * close_all and before the store goes: destroy may still write without a transaction). */
void mnemo_txn__modules_destroy(mnemo_txn_db *tdb);

#endif
