/* Private to src/txn/: the structs behind mnemo_db, mnemo_txn and mnemo_cursor. */
#ifndef MNEMO_TXN_IMPL_H
#define MNEMO_TXN_IMPL_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "txn/txn.h"

/* Something that must be torn down before its owner (db or txn) goes away: transactions and
 * cursors. Owners keep them in a circular list with a sentinel. */
typedef struct mnemo_res {
    struct mnemo_res *prev, *next;
    void (*invalidate)(struct mnemo_res *res);
} mnemo_res;

void mnemo_res__init_list(mnemo_res *sentinel);
void mnemo_res__link(mnemo_res *sentinel, mnemo_res *res);
void mnemo_res__unlink(mnemo_res *res);

#define MNEMO_DB_MAGIC_OPEN 0x6d6e656du   /* "mnem" */
#define MNEMO_DB_MAGIC_CLOSED 0x636c6f73u /* "clos" */

struct mnemo_db {
    atomic_uint magic;
    struct mnemo_db *next_free; /* closed shells are recycled, never freed (see mnemo_close) */
    char *path;
    mnemo_options opts;

    rocksdb_options_t *rocks_opts;
    rocksdb_block_based_table_options_t *table_opts;
    rocksdb_cache_t *block_cache;
    /* Opened with validate_policy = kValidateSerial (rocks_cxx.cc): commits validate inside the
     * write queue, so plain writes through `base` are ordered with them. NULL when read-only. */
    rocksdb_optimistictransactiondb_t *otxn;
    rocksdb_t *base;                         /* plain handle for non-transactional reads/writes */
    rocksdb_column_family_handle_t *cf[MNEMO_CF_COUNT];
    rocksdb_writeoptions_t *write_opts;
    rocksdb_readoptions_t *read_opts;
    rocksdb_optimistictransaction_options_t *txn_opts;

    pthread_mutex_t res_lock; /* guards res: transactions and txn-less cursors */
    mnemo_res res;

    struct mnemo_cache *cache;
    pthread_mutex_t module_lock; /* guards creation of module_state */
    void *_Atomic module_state[MNEMO_MOD_COUNT];
    const mnemo_module_ops *module_ops[MNEMO_MOD_COUNT];
};

enum mnemo_txn_state { TXN_OPEN, TXN_COMMITTED, TXN_ROLLED_BACK, TXN_FAILED, TXN_DB_CLOSED };

struct mnemo_txn {
    mnemo_res res; /* link in db->res */
    mnemo_db *db;  /* NULL once the db was closed under it */
    rocksdb_transaction_t *rtxn;    /* NULL for read-only transactions */
    const rocksdb_snapshot_t *snap; /* what every read of this txn sees */
    rocksdb_readoptions_t *read_opts;
    unsigned flags;
    enum mnemo_txn_state state;
    mnemo_res cursors; /* cursors opened in this txn */
    mnemo_txn_hook *hooks;
    size_t n_hooks, cap_hooks;
    /* Until its first read a read-write txn only buffers blind writes here: they commit as one
     * plain batch without validation (serializable: blind writes order by commit). The first
     * read replays them into rtxn, which tracks everything from then on. */
    rocksdb_writebatch_t *blind;
    int tracking;
    uint64_t writes;      /* puts and deletes so far: lets callers tell if a failed call wrote */
    int poison_rc;        /* != 0: a call failed after writing part of its work; commit refuses */
    char poison_msg[256];
};

void mnemo_txn__invalidate_cursors(mnemo_txn *txn);
/* Before any read in a read-write txn: from here on reads see its writes and are validated. */
int mnemo_txn__start_tracking(mnemo_txn *txn);
int mnemo_txn__is_readonly(const mnemo_txn *txn);

#endif
