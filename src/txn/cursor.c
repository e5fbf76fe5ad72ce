/* Raw ordered iteration over one column family, bounded, inside a txn snapshot or not. */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "txn/txn_impl.h"

struct mnemo_cursor {
    mnemo_res res; /* link in its txn's cursor list, or in the db's list */
    mnemo_db *db;
    mnemo_txn *txn;
    rocksdb_iterator_t *it; /* NULL once invalidated */
    rocksdb_readoptions_t *read_opts;
    char *lower, *upper; /* owned copies: RocksDB keeps pointers to the bounds */
    size_t lower_len, upper_len;
    int check_bounds; /* only a read-write txn's iterator (its write-batch side) needs it */
};

static void cursor_release(mnemo_cursor *c)
{
    if (c->it)
        rocksdb_iter_destroy(c->it);
    if (c->read_opts)
        rocksdb_readoptions_destroy(c->read_opts);
    c->it = NULL;
    c->read_opts = NULL;
}

static void cursor_invalidate(mnemo_res *res) { cursor_release((mnemo_cursor *)res); }

void mnemo_txn__invalidate_cursors(mnemo_txn *txn)
{
    while (txn->cursors.next && txn->cursors.next != &txn->cursors) {
        mnemo_res *r = txn->cursors.next;
        mnemo_res__unlink(r);
        r->invalidate(r);
    }
}

int mnemo_cursor__open(mnemo_cursor **out, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *lower,
                       size_t lower_len, const void *upper, size_t upper_len)
{
    mnemo_cursor *c = mnemo__calloc(1, sizeof *c);
    if (!c)
        return mnemo__err_nomem("cursor");
    c->db = db;
    c->txn = txn;
    c->res.invalidate = cursor_invalidate;
    if ((lower && !(c->lower = mnemo__memdup(lower, lower_len))) ||
        (upper && !(c->upper = mnemo__memdup(upper, upper_len)))) {
        mnemo__free(c->lower);
        mnemo__free(c);
        return mnemo__err_nomem("cursor");
    }
    c->lower_len = lower_len;
    c->upper_len = upper_len;
    int rc;
    if (txn && (rc = mnemo_txn__start_tracking(txn)) != 0) {
        mnemo__free(c->lower);
        mnemo__free(c->upper);
        mnemo__free(c);
        return rc;
    }
    c->read_opts = rocksdb_readoptions_create();
    if (txn)
        rocksdb_readoptions_set_snapshot(c->read_opts, txn->snap);
    if (c->lower)
        rocksdb_readoptions_set_iterate_lower_bound(c->read_opts, c->lower, c->lower_len);
    if (c->upper)
        rocksdb_readoptions_set_iterate_upper_bound(c->read_opts, c->upper, c->upper_len);
    c->check_bounds = txn && txn->rtxn;
    if (txn && txn->rtxn)
        c->it = rocksdb_transaction_create_iterator_cf(txn->rtxn, c->read_opts, db->cf[cf]);
    else
        c->it = rocksdb_create_iterator_cf(db->base, c->read_opts, db->cf[cf]);
    if (!c->it) {
        cursor_release(c);
        mnemo__free(c->lower);
        mnemo__free(c->upper);
        mnemo__free(c);
        return mnemo__err_nomem("cursor");
    }
    if (txn) {
        mnemo_res__link(&txn->cursors, &c->res);
    } else {
        pthread_mutex_lock(&db->res_lock);
        mnemo_res__link(&db->res, &c->res);
        pthread_mutex_unlock(&db->res_lock);
    }
    *out = c;
    return 0;
}

static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int cmp = memcmp(a, b, alen < blen ? alen : blen);
    return cmp ? cmp : (alen > blen) - (alen < blen);
}

/* The write-batch side of a transaction iterator has been known to ignore read bounds, so the
 * bounds are enforced here as well. */
static int in_bounds(mnemo_cursor *c)
{
    size_t klen;
    const char *k = rocksdb_iter_key(c->it, &klen);
    return (!c->lower || key_cmp(k, klen, c->lower, c->lower_len) >= 0) &&
           (!c->upper || key_cmp(k, klen, c->upper, c->upper_len) < 0);
}

/* Seeks are clamped into [lower, upper) by hand for the same reason. */
void mnemo_cursor__seek(mnemo_cursor *c, const void *key, size_t klen)
{
    if (!c->it)
        return;
    if (c->lower && key_cmp(key, klen, c->lower, c->lower_len) < 0) {
        key = c->lower;
        klen = c->lower_len;
    }
    rocksdb_iter_seek(c->it, key, klen);
}

void mnemo_cursor__seek_for_prev(mnemo_cursor *c, const void *key, size_t klen)
{
    if (!c->it)
        return;
    if (c->upper && key_cmp(key, klen, c->upper, c->upper_len) >= 0) {
        rocksdb_iter_seek_for_prev(c->it, c->upper, c->upper_len);
        size_t n;
        const char *k;
        if (rocksdb_iter_valid(c->it) && (k = rocksdb_iter_key(c->it, &n), key_cmp(k, n, c->upper, c->upper_len) >= 0))
            rocksdb_iter_prev(c->it);
        return;
    }
    rocksdb_iter_seek_for_prev(c->it, key, klen);
}

void mnemo_cursor__first(mnemo_cursor *c)
{
    if (!c->it)
        return;
    if (c->lower)
        rocksdb_iter_seek(c->it, c->lower, c->lower_len);
    else
        rocksdb_iter_seek_to_first(c->it);
}

void mnemo_cursor__last(mnemo_cursor *c)
{
    if (!c->it)
        return;
    if (c->upper)
        mnemo_cursor__seek_for_prev(c, c->upper, c->upper_len);
    else
        rocksdb_iter_seek_to_last(c->it);
}

/* Callers move only a cursor that valid() just accepted (every loop here does). */
void mnemo_cursor__next(mnemo_cursor *c)
{
    if (c->it)
        rocksdb_iter_next(c->it);
}

void mnemo_cursor__prev(mnemo_cursor *c)
{
    if (c->it)
        rocksdb_iter_prev(c->it);
}

int mnemo_cursor__valid(mnemo_cursor *c)
{
    return c->it && rocksdb_iter_valid(c->it) && (!c->check_bounds || in_bounds(c));
}

int mnemo_cursor__alive(mnemo_cursor *c) { return c->it != NULL; }

int mnemo_cursor__status(mnemo_cursor *c, const char *what)
{
    if (!c->it)
        return mnemo__err(MNEMO_EINVAL, "%s: iterator is invalid (its transaction finished or its database closed)",
                          what);
    char *err = NULL;
    rocksdb_iter_get_error(c->it, &err);
    if (err) {
        int rc = mnemo__err_rocksdb(err, what);
        rocksdb_free(err);
        return rc;
    }
    return 0;
}

const void *mnemo_cursor__key(mnemo_cursor *c, size_t *len) { return rocksdb_iter_key(c->it, len); }

const void *mnemo_cursor__value(mnemo_cursor *c, size_t *len) { return rocksdb_iter_value(c->it, len); }

void mnemo_cursor__close(mnemo_cursor *c)
{
    if (!c)
        return;
    if (c->it) { /* still linked: unlink under the owner's rules */
        if (c->txn) {
            mnemo_res__unlink(&c->res);
        } else {
            pthread_mutex_lock(&c->db->res_lock);
            mnemo_res__unlink(&c->res);
            pthread_mutex_unlock(&c->db->res_lock);
        }
    }
    cursor_release(c);
    mnemo__free(c->lower);
    mnemo__free(c->upper);
    mnemo__free(c);
}
