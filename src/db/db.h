/* Internal API of the engine room (src/db/), for its own files: mnemo_open opens the store, then
 * the modules in the fixed order of the table in modules.c. The modules keep their per-database
 * state through the txn room (txn/txn.h: mnemo_db__module), so they never include this header. */
#ifndef MNEMO_DB_INTERNAL_H
#define MNEMO_DB_INTERNAL_H

#include "mnemo/collection.h"
#include "mnemo/db.h"
#include "mnemo/txn.h"
#include "txn/txn_db.h"

struct mnemo_db {
    mnemo_txn_db t;             /* first: the txn room's view (txn_db.h) */
    struct mnemo_db *next_free; /* closed shells are recycled, never freed (see mnemo_close) */
    /* Collections (collection.c). On the database's own handle (t.root == this): the collection
     * handles opened so far, under coll_lock. On a collection's handle: its name. */
    pthread_mutex_t coll_lock;
    struct mnemo_db **colls;
    size_t n_colls, cap_colls;
    char coll_name[MNEMO_COLLECTION_NAME_MAX + 1];
};

/* Handle shells (db.c): a closed handle's memory stays allocated so a stale handle is detected. */
mnemo_db *mnemo_db__shell_get(void);
void mnemo_db__shell_put(mnemo_db *db);

/* A collection handle shares its database's store and cache: closing it ends its transactions,
 * cursors and modules and gives its shell back (collection.c). */
void mnemo_db__collection_close(mnemo_db *h);
/* mnemo_close of the database's own handle, before its own modules go: every collection handle's
 * transactions and cursors are ended first (a transaction of one handle may carry hooks of
 * another's modules), then their modules, then their shells. */
void mnemo_db__collections_close(mnemo_db *root);
/* Goes on with the reclaims of dropped collections that an earlier process left unfinished
 * (read-write opens). Failures are left for the next open. */
void mnemo_db__collections_resume(mnemo_db *root);

/* What mnemo_open runs once the store is open, in this order (modules.c): each checks or loads
 * what its module keeps in the database. A failure fails the open. */
typedef struct mnemo_module_open {
    const char *name;
    int (*open)(mnemo_db *db);
} mnemo_module_open;
extern const mnemo_module_open mnemo_db__module_opens[];
extern const unsigned mnemo_db__n_module_opens;
/* What a dropped collection's reclaim opens: the modules whose record listeners delete keys that
 * belong to the whole database (edges: both twins); everything else of the collection is under its
 * key prefix and goes by prefix. */
extern const mnemo_module_open mnemo_db__reclaim_opens[];
extern const unsigned mnemo_db__n_reclaim_opens;
/* The modules' figures in mnemo_stats (the loaded collection indexes). */
void mnemo_db__module_stats(mnemo_db *db, mnemo_stats *out);
/* One step of the reclaim: up to max records of db's collection removed in txn, with what hangs on
 * them through the listeners (the record room's mnemo_record__remove_some). */
int mnemo_db__reclaim_records(mnemo_db *db, mnemo_txn *txn, size_t max, size_t *removed);

#endif
