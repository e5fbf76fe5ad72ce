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
    uint32_t *live;           /* collections this transaction wrote into, found live (scope.c) */
    size_t n_live, cap_live;
};

void mnemo_txn__invalidate_cursors(mnemo_txn *txn);

/* ---- collections (scope.c) ---- */

/* 1 when the key of keyspace cf belongs to a collection (keyspace.h, core/keys.h). */
int mnemo_txn__per_collection(mnemo_cf cf, const void *key, size_t klen);
/* A key as the store holds it for a handle: its collection's prefix added where the key belongs to
 * a collection. Free with mnemo_scoped_key__free. */
typedef struct mnemo_scoped_key {
    const void *p;
    size_t n;
    unsigned char *heap;
    unsigned char buf[128];
} mnemo_scoped_key;
int mnemo_txn__scope_slow(mnemo_scoped_key *sk, const mnemo_txn_db *t, mnemo_cf cf, const void *key, size_t klen);
static inline int mnemo_txn__scope(mnemo_scoped_key *sk, const mnemo_txn_db *t, mnemo_cf cf, const void *key,
                                   size_t klen)
{
    if (!t->kprefix_len) { /* the default collection: keys as they are */
        sk->p = key;
        sk->n = klen;
        sk->heap = NULL;
        return 0;
    }
    return mnemo_txn__scope_slow(sk, t, cf, key, klen);
}
void mnemo_scoped_key__free(mnemo_scoped_key *sk);
/* A cursor's bounds as the store sees them, and how many leading bytes of each key it returns to
 * strip (the prefix). The default collection's cursors stop below every other collection's keys. */
typedef struct mnemo_scoped_bounds {
    const void *lower;
    size_t lower_len;
    const void *upper;
    size_t upper_len;
    size_t strip;
    unsigned char *heap;
} mnemo_scoped_bounds;
int mnemo_txn__scope_bounds(mnemo_scoped_bounds *sb, const mnemo_txn_db *t, mnemo_cf cf, const void *lower,
                            size_t lower_len, const void *upper, size_t upper_len);
/* Before txn's first write into db's collection: the collection is still live, read with tracking
 * so that a drop committed meanwhile makes the commit fail. 0 for the default collection. */
int mnemo_txn__collection_live(mnemo_db *db, mnemo_txn *txn);
/* On a shared engine, before a call on a collection's handle: when another process committed since
 * the collection was last seen live, whether it still is (a drop there sets `dropped` here). */
void mnemo_txn__collection_recheck(mnemo_txn_db *t);

#endif
