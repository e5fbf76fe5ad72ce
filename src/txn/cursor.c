/* Raw ordered iteration over one keyspace, bounded, inside a txn snapshot or not: a store cursor
 * that the txn room invalidates when its transaction finishes or its database closes. */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "txn/txn_impl.h"

struct mnemo_cursor {
    mnemo_res res; /* link in its txn's cursor list, or in the db's list */
    mnemo_db *db;
    mnemo_txn *txn;
    const mnemo_store_ops *ops;
    mnemo_store_cursor *sc; /* NULL once invalidated */
    int live;                /* 1 until invalidated: what iterators read without a guard */
    const mnemo_txn_db *tdb; /* whose collection prefix seeks add */
    mnemo_cf cf;
    size_t strip; /* the collection prefix the store's keys carry */
};

static void cursor_release(mnemo_cursor *c)
{
    /* Dead first, then closed: alive() (read without a guard) stops handing out a run's entries
     * before their memory goes. */
    mnemo_store_cursor *sc = c->sc;
    __atomic_store_n(&c->live, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&c->sc, NULL, __ATOMIC_RELEASE);
    if (sc)
        c->ops->cursor_close(sc);
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
    mnemo_txn_db *tdb = MNEMO_TXN_DB(db);
    mnemo_cursor *c = mnemo__calloc(1, sizeof *c);
    if (!c)
        return mnemo__err_nomem("cursor");
    c->db = db;
    c->txn = txn;
    c->ops = tdb->ops;
    c->res.invalidate = cursor_invalidate;
    c->tdb = tdb;
    c->cf = cf;
    mnemo_scoped_bounds sb;
    int rc = mnemo_txn__scope_bounds(&sb, tdb, cf, lower, lower_len, upper, upper_len);
    if (!rc) {
        c->strip = sb.strip;
        rc = tdb->ops->cursor_open(&c->sc, tdb->store, txn ? txn->st : NULL, (unsigned)cf, sb.lower, sb.lower_len,
                                   sb.upper, sb.upper_len);
        mnemo__free(sb.heap);
    }
    if (rc) {
        mnemo__free(c);
        return rc;
    }
    c->live = 1;
    if (txn) {
        mnemo_res__link(&txn->cursors, &c->res);
    } else {
        pthread_mutex_lock(&tdb->res_lock);
        mnemo_res__link(&tdb->res, &c->res);
        pthread_mutex_unlock(&tdb->res_lock);
    }
    *out = c;
    return 0;
}

/* A seek target with the cursor's collection prefix; on a failure to allocate, the cursor stops
 * at its end (its status stays 0: the caller sees fewer entries, never wrong ones). */
static void seek(mnemo_cursor *c, const void *key, size_t klen,
                 void (*op)(mnemo_store_cursor *sc, const void *key, size_t klen))
{
    if (!c->sc)
        return;
    if (!c->strip) {
        op(c->sc, key, klen);
        return;
    }
    unsigned char small[128];
    unsigned char *b = c->strip + klen <= sizeof small ? small : mnemo__malloc(c->strip + klen);
    if (!b) {
        c->ops->cursor_last(c->sc);
        if (c->ops->cursor_valid(c->sc))
            c->ops->cursor_next(c->sc);
        return;
    }
    memcpy(b, c->tdb->kprefix, c->strip);
    if (klen)
        memcpy(b + c->strip, key, klen);
    op(c->sc, b, c->strip + klen);
    if (b != small)
        mnemo__free(b);
}

void mnemo_cursor__seek(mnemo_cursor *c, const void *key, size_t klen) { seek(c, key, klen, c->ops->cursor_seek); }

void mnemo_cursor__seek_for_prev(mnemo_cursor *c, const void *key, size_t klen)
{
    seek(c, key, klen, c->ops->cursor_seek_for_prev);
}

void mnemo_cursor__first(mnemo_cursor *c)
{
    if (c->sc)
        c->ops->cursor_first(c->sc);
}

void mnemo_cursor__last(mnemo_cursor *c)
{
    if (c->sc)
        c->ops->cursor_last(c->sc);
}

/* Callers move only a cursor that valid() just accepted (every loop here does). */
void mnemo_cursor__next(mnemo_cursor *c)
{
    if (c->sc)
        c->ops->cursor_next(c->sc);
}

void mnemo_cursor__prev(mnemo_cursor *c)
{
    if (c->sc)
        c->ops->cursor_prev(c->sc);
}

int mnemo_cursor__valid(mnemo_cursor *c) { return c->sc && c->ops->cursor_valid(c->sc); }

int mnemo_cursor__alive(mnemo_cursor *c) { return __atomic_load_n(&c->live, __ATOMIC_ACQUIRE) != 0; }

const int *mnemo_cursor__live_flag(const mnemo_cursor *c) { return &c->live; }

int mnemo_cursor__status(mnemo_cursor *c, const char *what)
{
    if (!c->sc)
        return mnemo__err(MNEMO_EINVAL, "%s: iterator is invalid (its transaction finished or its database closed)",
                          what);
    return c->ops->cursor_status(c->sc, what);
}

const void *mnemo_cursor__key(mnemo_cursor *c, size_t *len)
{
    const unsigned char *k = c->ops->cursor_key(c->sc, len);
    *len -= c->strip;
    return k + c->strip;
}

const void *mnemo_cursor__value(mnemo_cursor *c, size_t *len) { return c->ops->cursor_value(c->sc, len); }

size_t mnemo_cursor__run(mnemo_cursor *c, mnemo_store_slice *keys, mnemo_store_slice *vals, size_t max)
{
    size_t n = c->sc && !c->txn && c->ops->cursor_run ? c->ops->cursor_run(c->sc, keys, vals, max) : 0;
    for (size_t i = 0; c->strip && i < n; i++) {
        keys[i].data = (const unsigned char *)keys[i].data + c->strip;
        keys[i].len -= c->strip;
    }
    return n;
}

void mnemo_cursor__close(mnemo_cursor *c)
{
    if (!c)
        return;
    if (c->sc) { /* still linked: unlink under the owner's rules */
        if (c->txn) {
            mnemo_res__unlink(&c->res);
        } else {
            mnemo_txn_db *tdb = MNEMO_TXN_DB(c->db);
            pthread_mutex_lock(&tdb->res_lock);
            mnemo_res__unlink(&c->res);
            pthread_mutex_unlock(&tdb->res_lock);
        }
    }
    cursor_release(c);
    mnemo__free(c);
}
