/* Private to src/txn/: the structs behind mnemo_txn and mnemo_cursor. */
#ifndef MNEMO_TXN_IMPL_H
#define MNEMO_TXN_IMPL_H

#include "txn/txn.h"
#include "txn/txn_db.h"

enum mnemo_txn_state { TXN_OPEN, TXN_COMMITTED, TXN_ROLLED_BACK, TXN_FAILED, TXN_DB_CLOSED };

struct mnemo_txn {
    mnemo_res res; /* link in the db's res list */
    mnemo_db *db;  /* set at begin, never changed (a closed db's shell stays allocated) */
    atomic_uintptr_t owner; /* the thread whose guard claimed it (txn.c), 0 when unclaimed */
    unsigned depth;         /* nesting of the owner's guards */
    mnemo_store_txn *st; /* the store's transaction; NULL once finished */
    int read_only;
    unsigned flags;
    enum mnemo_txn_state state;
    mnemo_res cursors; /* cursors opened in this txn */
    mnemo_txn_hook *hooks;
    size_t n_hooks, cap_hooks;
    uint64_t writes;      /* puts and deletes so far: lets callers tell if a failed call wrote */
    int poison_rc;        /* != 0: a call failed after writing part of its work; commit refuses */
    char poison_msg[256];
    uint64_t commit_seq;  /* the store's sequence number of the commit, once committed */
    mnemo_store_txn *unknown; /* after a commit of unknown outcome (MNEMO_EUNKNOWN): the store's
                                 transaction, kept for mnemo_txn__resolve until freed */
};

void mnemo_txn__invalidate_cursors(mnemo_txn *txn);

#endif
