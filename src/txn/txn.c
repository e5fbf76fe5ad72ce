/* Transactions over the OptimisticTransactionDB, point reads/writes for every module, commit hooks
 * and the retry helper. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/error.h"
#include "txn/rocks_cxx.h"
#include "txn/txn_impl.h"

int mnemo_txn__is_readonly(const mnemo_txn *txn) { return txn->rtxn == NULL; }

mnemo_db *mnemo_txn__db(mnemo_txn *txn) { return txn ? txn->db : NULL; }

static const char *state_name(enum mnemo_txn_state s)
{
    switch (s) {
    case TXN_OPEN: return "open";
    case TXN_COMMITTED: return "already committed";
    case TXN_ROLLED_BACK: return "already rolled back";
    case TXN_FAILED: return "finished by a failed commit";
    case TXN_DB_CLOSED: return "dead: its database was closed";
    }
    return "?";
}

static int check_open(mnemo_txn *txn, const char *fn)
{
    if (!txn)
        return mnemo__err(MNEMO_EINVAL, "%s: transaction is NULL", fn);
    if (txn->state != TXN_OPEN)
        return mnemo__err(MNEMO_EINVAL, "%s: transaction is %s", fn, state_name(txn->state));
    return 0;
}

int mnemo_txn__check(mnemo_db *db, mnemo_txn *txn, const char *fn)
{
    int rc = mnemo_db__check(db, fn);
    if (rc || !txn)
        return rc;
    if ((rc = check_open(txn, fn)) != 0)
        return rc;
    if (txn->db != db)
        return mnemo__err(MNEMO_EINVAL, "%s: transaction belongs to another database", fn);
    return 0;
}

int mnemo_txn__check_write(mnemo_db *db, mnemo_txn *txn, const char *fn)
{
    int rc = mnemo_txn__check(db, txn, fn);
    if (rc)
        return rc;
    if (db->opts.read_only)
        return mnemo__err(MNEMO_EREADONLY, "%s: database '%s' is open read-only", fn, db->path);
    if (txn && txn->rtxn == NULL)
        return mnemo__err(MNEMO_EREADONLY, "%s: transaction is read-only", fn);
    return 0;
}

/* ---- lifecycle ---- */

static void release_rocks_txn(mnemo_txn *txn)
{
    mnemo_txn__invalidate_cursors(txn);
    if (txn->blind) {
        rocksdb_writebatch_destroy(txn->blind);
        txn->blind = NULL;
    }
    if (txn->read_opts) {
        rocksdb_readoptions_destroy(txn->read_opts);
        txn->read_opts = NULL;
    }
    if (txn->snap) {
        if (txn->rtxn)
            rocksdb_free((void *)txn->snap); /* the C API's wrapper; the txn owns the snapshot */
        else if (txn->db)
            rocksdb_release_snapshot(txn->db->base, txn->snap);
        txn->snap = NULL;
    }
    if (txn->rtxn) {
        rocksdb_transaction_destroy(txn->rtxn);
        txn->rtxn = NULL;
    }
}

static void run_after_hooks(mnemo_txn *txn, int committed)
{
    /* Detach first: a hook may not re-enter, and each runs exactly once. */
    mnemo_txn_hook *hooks = txn->hooks;
    size_t n = txn->n_hooks;
    txn->hooks = NULL;
    txn->n_hooks = txn->cap_hooks = 0;
    for (size_t i = 0; i < n; i++)
        if (hooks[i].after)
            hooks[i].after(txn, hooks[i].arg, committed);
    mnemo__free(hooks);
}

/* Called by mnemo_close with db->res_lock held. */
static void txn_invalidate(mnemo_res *res)
{
    mnemo_txn *txn = (mnemo_txn *)res;
    if (txn->rtxn) {
        char *err = NULL;
        rocksdb_transaction_rollback(txn->rtxn, &err);
        rocksdb_free(err);
    }
    release_rocks_txn(txn);
    txn->state = TXN_DB_CLOSED; /* before the hooks, which must not see a usable txn */
    run_after_hooks(txn, 0);
    txn->db = NULL;
}

int mnemo_txn_begin(mnemo_txn **out, mnemo_db *db, unsigned flags)
{
    int rc = mnemo_db__check(db, "mnemo_txn_begin");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_txn_begin: out is NULL");
    if (flags & ~(unsigned)MNEMO_TXN_READONLY)
        return mnemo__err(MNEMO_EINVAL, "mnemo_txn_begin: unknown flags 0x%x", flags & ~(unsigned)MNEMO_TXN_READONLY);
    mnemo_txn *txn = mnemo__calloc(1, sizeof *txn);
    if (!txn)
        return mnemo__err_nomem("mnemo_txn_begin");
    txn->db = db;
    txn->flags = flags;
    txn->res.invalidate = txn_invalidate;
    mnemo_res__init_list(&txn->cursors);
    txn->read_opts = rocksdb_readoptions_create();
    if ((flags & MNEMO_TXN_READONLY) || db->opts.read_only) {
        txn->snap = rocksdb_create_snapshot(db->base);
    } else {
        txn->rtxn = rocksdb_optimistictransaction_begin(db->otxn, db->write_opts, db->txn_opts, NULL);
        if (txn->rtxn)
            txn->snap = rocksdb_transaction_get_snapshot(txn->rtxn);
    }
    if (!txn->read_opts || !txn->snap) {
        release_rocks_txn(txn);
        mnemo__free(txn);
        return mnemo__err_nomem("mnemo_txn_begin");
    }
    rocksdb_readoptions_set_snapshot(txn->read_opts, txn->snap);
    txn->state = TXN_OPEN;
    pthread_mutex_lock(&db->res_lock);
    mnemo_res__link(&db->res, &txn->res);
    pthread_mutex_unlock(&db->res_lock);
    *out = txn;
    return 0;
}

/* Ends an open transaction: RocksDB objects released, hooks told, unlinked from its db. */
static void finish(mnemo_txn *txn, enum mnemo_txn_state state, int committed)
{
    mnemo_db *db = txn->db;
    release_rocks_txn(txn);
    txn->state = state;
    run_after_hooks(txn, committed);
    pthread_mutex_lock(&db->res_lock);
    mnemo_res__unlink(&txn->res);
    pthread_mutex_unlock(&db->res_lock);
}

static int rollback_rocks(mnemo_txn *txn, const char *fn)
{
    if (!txn->rtxn)
        return 0;
    char *err = NULL;
    rocksdb_transaction_rollback(txn->rtxn, &err);
    if (err) {
        int rc = mnemo__err_rocksdb(err, fn);
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

uint64_t mnemo_txn__writes(mnemo_txn *txn) { return txn->writes; }

void mnemo_txn__poison(mnemo_txn *txn, int rc)
{
    if (txn->poison_rc)
        return; /* the first failure is the one to report */
    txn->poison_rc = rc;
    snprintf(txn->poison_msg, sizeof txn->poison_msg, "%s", mnemo_errmsg());
}

int mnemo_txn__run_op(mnemo_db *db, mnemo_txn *txn, mnemo_txn_fn op, void *arg)
{
    if (!txn)
        return mnemo_txn_run(db, 0, op, arg, NULL);
    uint64_t before = txn->writes;
    int rc = op(txn, arg);
    if (rc && txn->writes != before)
        mnemo_txn__poison(txn, rc);
    return rc;
}

int mnemo_txn__start_tracking(mnemo_txn *txn)
{
    if (txn->tracking || !txn->rtxn)
        return 0;
    txn->tracking = 1;
    if (!txn->blind || rocksdb_writebatch_count(txn->blind) == 0)
        return 0;
    char *err = NULL;
    rocksdb_transaction_rebuild_from_writebatch(txn->rtxn, txn->blind, &err);
    rocksdb_writebatch_clear(txn->blind);
    if (err) {
        int rc = mnemo__err_rocksdb(err, "transaction");
        rocksdb_free(err);
        mnemo_txn__poison(txn, rc);
        return rc;
    }
    return 0;
}

/* Writes a batch (or one put/delete when wb is NULL) straight to the base DB. The database is
 * opened with serial validation (rocks_cxx.cc): optimistic commits validate inside RocksDB's write
 * queue, the queue plain writes go through, so a plain write is ordered before or after a whole
 * commit, never between its validation and its write. */
static int plain_commit(mnemo_db *db, rocksdb_writebatch_t *wb, mnemo_cf cf, const void *key, size_t klen,
                        const void *val, size_t vlen, int is_delete, const char *what)
{
    if (!db->otxn) /* read-only handles never get here */
        return mnemo__err(MNEMO_EREADONLY, "%s: database is read-only", what);
    char *err = NULL;
    if (wb)
        rocksdb_write(db->base, db->write_opts, wb, &err);
    else if (is_delete)
        rocksdb_delete_cf(db->base, db->write_opts, db->cf[cf], key, klen, &err);
    else
        rocksdb_put_cf(db->base, db->write_opts, db->cf[cf], key, klen, val ? val : "", vlen, &err);
    if (!err)
        return 0;
    int rc = mnemo__err_rocksdb(err, what);
    rocksdb_free(err);
    return rc;
}

/* Commits the writes of a txn that never read: one plain batch (blind writes order by commit). */
static int commit_blind(mnemo_txn *txn)
{
    if (!txn->blind || rocksdb_writebatch_count(txn->blind) == 0)
        return 0;
    return plain_commit(txn->db, txn->blind, MNEMO_CF_DEFAULT, NULL, 0, NULL, 0, 0, "mnemo_txn_commit");
}

int mnemo_txn_commit(mnemo_txn *txn)
{
    int rc = check_open(txn, "mnemo_txn_commit");
    if (rc)
        return rc;
    if (txn->poison_rc)
        rc = mnemo__err(txn->poison_rc, "mnemo_txn_commit: rolled back, an operation of this transaction failed "
                                        "after writing part of its work (%s)", txn->poison_msg);
    for (size_t i = 0; i < txn->n_hooks && !rc; i++)
        if (txn->hooks[i].before)
            rc = txn->hooks[i].before(txn, txn->hooks[i].arg);
    if (!rc && txn->rtxn && !txn->tracking) {
        rc = commit_blind(txn);
    } else if (!rc && txn->rtxn) {
        char *err = NULL;
        mnemo_txn__invalidate_cursors(txn); /* RocksDB wants iterators gone before the commit */
        rocksdb_transaction_commit(txn->rtxn, &err);
        if (err) {
            rc = mnemo__err_rocksdb(err, "mnemo_txn_commit");
            if (rc == MNEMO_EBUSY)
                mnemo__err(MNEMO_EBUSY, "mnemo_txn_commit: conflict, another transaction changed a key this one "
                                        "read or wrote (%s); nothing was applied, retry", err);
            rocksdb_free(err);
        }
    }
    if (rc) {
        rollback_rocks(txn, "mnemo_txn_commit");
        finish(txn, TXN_FAILED, 0);
        return rc;
    }
    if (!txn->tracking)
        rollback_rocks(txn, "mnemo_txn_commit"); /* the unused RocksDB txn holds nothing */
    finish(txn, TXN_COMMITTED, 1);
    return 0;
}

int mnemo_txn_rollback(mnemo_txn *txn)
{
    int rc = check_open(txn, "mnemo_txn_rollback");
    if (rc)
        return rc;
    mnemo_txn__invalidate_cursors(txn);
    rc = rollback_rocks(txn, "mnemo_txn_rollback");
    finish(txn, TXN_ROLLED_BACK, 0);
    return rc;
}

void mnemo_txn_free(mnemo_txn *txn)
{
    if (!txn)
        return;
    if (txn->state == TXN_OPEN)
        mnemo_txn_rollback(txn);
    mnemo__free(txn);
}

/* ---- hooks ---- */

int mnemo_txn__add_hook(mnemo_txn *txn, const mnemo_txn_hook *hook)
{
    int rc = check_open(txn, "mnemo_txn__add_hook");
    if (rc)
        return rc;
    if (mnemo_txn__hook_arg(txn, hook->owner))
        return MNEMO_EEXISTS;
    if (txn->n_hooks == txn->cap_hooks) {
        size_t cap = txn->cap_hooks ? 2 * txn->cap_hooks : 4;
        mnemo_txn_hook *h = mnemo__realloc(txn->hooks, cap * sizeof *h);
        if (!h)
            return mnemo__err_nomem("transaction hook");
        txn->hooks = h;
        txn->cap_hooks = cap;
    }
    txn->hooks[txn->n_hooks++] = *hook;
    return 0;
}

void *mnemo_txn__hook_arg(mnemo_txn *txn, const void *owner)
{
    for (size_t i = 0; txn && i < txn->n_hooks; i++)
        if (txn->hooks[i].owner == owner)
            return txn->hooks[i].arg;
    return NULL;
}

/* ---- point reads and writes ---- */

int mnemo_txn__get(char **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key,
                   size_t klen, int track)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *ps;
    if (!txn)
        ps = rocksdb_get_pinned_cf(db->base, db->read_opts, db->cf[cf], key, klen, &err);
    else if (!txn->rtxn)
        ps = rocksdb_get_pinned_cf(db->base, txn->read_opts, db->cf[cf], key, klen, &err);
    else if (mnemo_txn__start_tracking(txn))
        return txn->poison_rc;
    else if (track)
        ps = rocksdb_transaction_get_pinned_for_update_cf(txn->rtxn, txn->read_opts, db->cf[cf], key, klen, 1, &err);
    else
        ps = rocksdb_transaction_get_pinned_cf(txn->rtxn, txn->read_opts, db->cf[cf], key, klen, &err);
    if (err) {
        int rc = mnemo__err_rocksdb(err, "read");
        rocksdb_free(err);
        return rc;
    }
    if (!ps)
        return MNEMO_ENOTFOUND;
    size_t len = 0;
    const char *p = rocksdb_pinnableslice_value(ps, &len);
    char *copy = mnemo__memdup(p, len);
    rocksdb_pinnableslice_destroy(ps);
    if (!copy)
        return mnemo__err_nomem("read");
    *val = copy;
    *vlen = len;
    return 0;
}

int mnemo_txn__put(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen, const void *val,
                   size_t vlen)
{
    char *err = NULL;
    if (txn && !txn->tracking) {
        txn->writes++;
        if (!txn->blind && !(txn->blind = rocksdb_writebatch_create()))
            return mnemo__err_nomem("write");
        rocksdb_writebatch_put_cf(txn->blind, db->cf[cf], key, klen, val ? val : "", vlen);
    } else if (txn) {
        txn->writes++;
        rocksdb_transaction_put_cf(txn->rtxn, db->cf[cf], key, klen, val ? val : "", vlen, &err);
    } else {
        return plain_commit(db, NULL, cf, key, klen, val, vlen, 0, "write");
    }
    if (err) {
        int rc = mnemo__err_rocksdb(err, "write");
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

int mnemo_txn__put_untracked(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen,
                             const void *val, size_t vlen)
{
    if (!txn->tracking) /* still a blind buffer: nothing is indexed or tracked there anyway */
        return mnemo_txn__put(db, txn, cf, key, klen, val, vlen);
    char *err = NULL;
    txn->writes++;
    mnemo_txn__put_untracked_rocks(txn->rtxn, db->cf[cf], key, klen, val ? val : "", vlen, &err);
    if (err) {
        int rc = mnemo__err_rocksdb(err, "write");
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

int mnemo_txn__delete(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen)
{
    char *err = NULL;
    if (txn && !txn->tracking) {
        txn->writes++;
        if (!txn->blind && !(txn->blind = rocksdb_writebatch_create()))
            return mnemo__err_nomem("delete");
        rocksdb_writebatch_delete_cf(txn->blind, db->cf[cf], key, klen);
    } else if (txn) {
        txn->writes++;
        rocksdb_transaction_delete_cf(txn->rtxn, db->cf[cf], key, klen, &err);
    } else {
        return plain_commit(db, NULL, cf, key, klen, NULL, 0, 1, "delete");
    }
    if (err) {
        int rc = mnemo__err_rocksdb(err, "delete");
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

/* ---- write batches (auto-commit, several keys at once) ---- */

struct mnemo_batch {
    mnemo_db *db;
    rocksdb_writebatch_t *wb;
};

int mnemo_batch__create(mnemo_batch **out, mnemo_db *db)
{
    mnemo_batch *b = mnemo__malloc(sizeof *b);
    if (!b)
        return mnemo__err_nomem("write batch");
    b->db = db;
    b->wb = rocksdb_writebatch_create();
    *out = b;
    return 0;
}

void mnemo_batch__put(mnemo_batch *b, mnemo_cf cf, const void *key, size_t klen, const void *val, size_t vlen)
{
    rocksdb_writebatch_put_cf(b->wb, b->db->cf[cf], key, klen, val ? val : "", vlen);
}

void mnemo_batch__delete(mnemo_batch *b, mnemo_cf cf, const void *key, size_t klen)
{
    rocksdb_writebatch_delete_cf(b->wb, b->db->cf[cf], key, klen);
}

int mnemo_batch__write(mnemo_batch *b)
{
    return plain_commit(b->db, b->wb, MNEMO_CF_DEFAULT, NULL, 0, NULL, 0, 0, "batch write");
}

void mnemo_batch__free(mnemo_batch *b)
{
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    mnemo__free(b);
}

/* ---- auto-commit helpers and the retry loop ---- */

int mnemo_txn__auto_begin(mnemo_txn **t, int *own, mnemo_db *db, mnemo_txn *txn)
{
    if (txn) {
        *t = txn;
        *own = 0;
        return 0;
    }
    *own = 1;
    return mnemo_txn_begin(t, db, 0);
}

int mnemo_txn__auto_end(mnemo_txn *t, int own, int rc)
{
    if (!own)
        return rc;
    if (rc == 0)
        rc = mnemo_txn_commit(t);
    mnemo_txn_free(t);
    return rc;
}

static unsigned jitter(unsigned max)
{
    static _Thread_local uint64_t state;
    if (!state)
        state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return max ? (unsigned)(state % max) : 0;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

int mnemo_txn_run(mnemo_db *db, unsigned flags, mnemo_txn_fn fn, void *arg, const mnemo_retry *retry)
{
    int rc = mnemo_db__check(db, "mnemo_txn_run");
    if (rc)
        return rc;
    if (!fn)
        return mnemo__err(MNEMO_EINVAL, "mnemo_txn_run: callback is NULL");
    mnemo_retry r = {MNEMO_RETRY_VERSION, 100, 50, 20000};
    if (retry) {
        if (retry->version > MNEMO_RETRY_VERSION)
            return mnemo__err(MNEMO_EINVAL, "mnemo_txn_run: retry version %u is newer than this library",
                              retry->version);
        if (retry->max_attempts)
            r.max_attempts = retry->max_attempts;
        if (retry->initial_backoff_us)
            r.initial_backoff_us = retry->initial_backoff_us;
        if (retry->max_backoff_us)
            r.max_backoff_us = retry->max_backoff_us;
    }
    uint64_t backoff = r.initial_backoff_us < r.max_backoff_us ? r.initial_backoff_us : r.max_backoff_us;
    for (unsigned attempt = 1;; attempt++) {
        mnemo_txn *txn;
        if ((rc = mnemo_txn_begin(&txn, db, flags)) != 0)
            return rc;
        rc = fn(txn, arg);
        if (rc == 0)
            rc = mnemo_txn_commit(txn);
        mnemo_txn_free(txn); /* rolls back when fn failed */
        if (rc != MNEMO_EBUSY)
            return rc;
        if (attempt >= r.max_attempts)
            return mnemo__err(MNEMO_EBUSY, "mnemo_txn_run: still conflicting after %u attempts", attempt);
        sleep_us((unsigned)(backoff / 2 + jitter((unsigned)(backoff / 2 + 1))));
        backoff = backoff * 2 > r.max_backoff_us ? r.max_backoff_us : backoff * 2;
    }
}

/* ---- cache invalidation around commits ---- */

typedef struct forget_hook {
    struct mnemo_cache *cache;
    char **keys; /* each: 4-byte length, then the key */
    size_t n, cap;
    int began;
} forget_hook;

static int forget_owner;

static void forget_each(forget_hook *h, void (*fn)(struct mnemo_cache *, const void *, size_t))
{
    for (size_t i = 0; i < h->n; i++) {
        uint32_t len;
        memcpy(&len, h->keys[i], 4);
        fn(h->cache, h->keys[i] + 4, len);
    }
}

static int forget_before(mnemo_txn *txn, void *arg)
{
    (void)txn;
    forget_hook *h = arg;
    forget_each(h, mnemo_cache__write_begin);
    h->began = 1;
    return 0;
}

static void forget_after(mnemo_txn *txn, void *arg, int committed)
{
    (void)txn;
    (void)committed; /* a failed commit changed nothing, but every begin needs its end */
    forget_hook *h = arg;
    if (h->began)
        forget_each(h, mnemo_cache__write_end);
    for (size_t i = 0; i < h->n; i++)
        mnemo__free(h->keys[i]);
    mnemo__free(h->keys);
    mnemo__free(h);
}

int mnemo_txn__cache_forget(mnemo_txn *txn, const void *key, size_t klen)
{
    struct mnemo_cache *cache = mnemo_db__cache(txn->db);
    if (!cache)
        return 0;
    forget_hook *h = mnemo_txn__hook_arg(txn, &forget_owner);
    if (!h) {
        if (!(h = mnemo__calloc(1, sizeof *h)))
            return mnemo__err_nomem("cache invalidation");
        h->cache = cache;
        mnemo_txn_hook hook = {&forget_owner, forget_before, forget_after, h};
        int rc = mnemo_txn__add_hook(txn, &hook);
        if (rc) {
            mnemo__free(h);
            return rc;
        }
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        char **k = mnemo__realloc(h->keys, cap * sizeof *k);
        if (!k)
            return mnemo__err_nomem("cache invalidation");
        h->keys = k;
        h->cap = cap;
    }
    char *k = mnemo__malloc(4 + klen);
    if (!k)
        return mnemo__err_nomem("cache invalidation");
    uint32_t len = (uint32_t)klen;
    memcpy(k, &len, 4);
    memcpy(k + 4, key, klen);
    h->keys[h->n++] = k;
    return 0;
}
