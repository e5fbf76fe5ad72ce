/* Collections inside one store: a collection's handle reads and writes the keys that belong to a
 * collection (keyspace.h MNEMO_KS_PER_COLLECTION*, core/keys.h) under its collection's prefix, so
 * the modules above build the same keys in every collection and never see the prefix. The default
 * collection's prefix is empty: its keys are those of a database made before collections. */
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/keys.h"
#include "txn/txn_impl.h"

const unsigned char *mnemo_db__key_prefix(mnemo_db *db, size_t *len)
{
    *len = MNEMO_TXN_DB(db)->kprefix_len;
    return MNEMO_TXN_DB(db)->kprefix;
}

uint32_t mnemo_db__collection_id(mnemo_db *db) { return MNEMO_TXN_DB(db)->cid; }

mnemo_db *mnemo_db__root(mnemo_db *db) { return MNEMO_TXN_DB(db)->root; }

int mnemo_db__same_database(mnemo_db *a, mnemo_db *b) { return MNEMO_TXN_DB(a)->root == MNEMO_TXN_DB(b)->root; }

int mnemo_txn__per_collection(mnemo_cf cf, const void *key, size_t klen)
{
    unsigned hints = mnemo_keyspaces[cf].hints;
    if (hints & MNEMO_KS_PER_COLLECTION)
        return 1;
    return (hints & MNEMO_KS_PER_COLLECTION_BY_KEY) && mnemo__meta_key_per_collection(key, klen);
}

int mnemo_txn__scope_slow(mnemo_scoped_key *sk, const mnemo_txn_db *t, mnemo_cf cf, const void *key, size_t klen)
{
    sk->heap = NULL;
    if (!mnemo_txn__per_collection(cf, key, klen)) {
        sk->p = key;
        sk->n = klen;
        return 0;
    }
    size_t n = t->kprefix_len + klen;
    unsigned char *b = n <= sizeof sk->buf ? sk->buf : (sk->heap = mnemo__malloc(n));
    if (!b)
        return mnemo__err_nomem("collection key");
    memcpy(b, t->kprefix, t->kprefix_len);
    if (klen)
        memcpy(b + t->kprefix_len, key, klen);
    sk->p = b;
    sk->n = n;
    return 0;
}

void mnemo_scoped_key__free(mnemo_scoped_key *sk) { mnemo__free(sk->heap); }

int mnemo_txn__scope_bounds(mnemo_scoped_bounds *sb, const mnemo_txn_db *t, mnemo_cf cf, const void *lower,
                            size_t lower_len, const void *upper, size_t upper_len)
{
    *sb = (mnemo_scoped_bounds){lower, lower_len, upper, upper_len, 0, NULL};
    unsigned hints = mnemo_keyspaces[cf].hints;
    if (!(hints & (MNEMO_KS_PER_COLLECTION | MNEMO_KS_PER_COLLECTION_BY_KEY)))
        return 0;
    /* A metadata cursor's keys are all of one kind: its lower bound's (none: the collection's). */
    if (!(hints & MNEMO_KS_PER_COLLECTION) && lower && !mnemo__meta_key_per_collection(lower, lower_len))
        return 0;
    static const unsigned char past_default[1] = {MNEMO_MK_IN_COLLECTION};
    if (!t->kprefix_len) {
        /* The default collection's keys sort below every other collection's. */
        if (!upper) {
            sb->upper = past_default;
            sb->upper_len = 1;
        }
        return 0;
    }
    size_t pl = t->kprefix_len;
    unsigned char *b = mnemo__malloc(2 * pl + lower_len + upper_len);
    if (!b)
        return mnemo__err_nomem("collection cursor");
    sb->heap = b;
    memcpy(b, t->kprefix, pl);
    if (lower_len)
        memcpy(b + pl, lower, lower_len);
    sb->lower = b;
    sb->lower_len = pl + lower_len;
    unsigned char *u = b + pl + lower_len;
    memcpy(u, t->kprefix, pl);
    if (upper) {
        if (upper_len)
            memcpy(u + pl, upper, upper_len);
        sb->upper_len = pl + upper_len;
    } else { /* the next collection's prefix (ids stop below UINT32_MAX, collection.c) */
        mnemo__put_be32(u + 1, mnemo__get_be32(u + 1) + 1);
        sb->upper_len = pl;
    }
    sb->upper = u;
    sb->strip = pl;
    return 0;
}

void mnemo_txn__collection_recheck(mnemo_txn_db *t)
{
    uint64_t seq = t->ops->last_seq ? t->ops->last_seq(t->store) : 0;
    if (!seq || seq == atomic_load(&t->live_seq))
        return;
    unsigned char key[6] = {MNEMO_MK_COLLECTION, MNEMO_COLL_BY_ID};
    mnemo__put_be32(key + 2, t->cid);
    mnemo_store_value v;
    int rc = t->ops->get(t->store, NULL, MNEMO_CF_METADATA, key, sizeof key, 0, &v);
    if (rc == MNEMO_ENOTFOUND)
        atomic_store(&t->dropped, 1);
    else if (rc == 0) {
        t->ops->release_value(t->store, &v);
        atomic_store(&t->live_seq, seq);
    } /* another failure: the call goes on, and meets it itself */
}

int mnemo_txn__collection_live(mnemo_db *db, mnemo_txn *txn)
{
    const mnemo_txn_db *t = MNEMO_TXN_DB(db);
    if (!t->kprefix_len || t->reclaiming)
        return 0;
    for (size_t i = 0; i < txn->n_live; i++)
        if (txn->live[i] == t->cid)
            return 0;
    if (atomic_load(&t->dropped))
        return mnemo__err(MNEMO_ENOTFOUND, "collection %u was dropped", (unsigned)t->cid);
    /* Read with tracking: a drop deletes this key, so it and this transaction conflict. */
    unsigned char key[6] = {MNEMO_MK_COLLECTION, MNEMO_COLL_BY_ID};
    mnemo__put_be32(key + 2, t->cid);
    mnemo_store_value v;
    int rc = t->ops->get(t->store, txn->st, MNEMO_CF_METADATA, key, sizeof key, 1, &v);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "collection %u was dropped", (unsigned)t->cid);
    if (rc)
        return rc;
    t->ops->release_value(t->store, &v);
    if ((rc = mnemo__grow(&txn->live, &txn->cap_live, txn->n_live + 1, sizeof *txn->live, 4)) != 0)
        return rc;
    txn->live[txn->n_live++] = t->cid;
    return 0;
}
