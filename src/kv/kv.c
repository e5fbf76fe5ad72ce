/* Raw key-value pairs in the `default` column family: argument checks, then the txn room. */
#include "mnemo/kv.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/iter.h"
#include "kv/kv.h"
#include "txn/txn.h"

static int check_key(const char *fn, const void *key, size_t klen)
{
    if (!key)
        return mnemo__err(MNEMO_EINVAL, "%s: key is NULL", fn);
    if (klen == 0)
        return mnemo__err(MNEMO_EINVAL, "%s: key is empty", fn);
    if (klen > MNEMO_KV_MAX_KEY)
        return mnemo__err(MNEMO_EINVAL, "%s: key of %zu bytes exceeds the maximum of %u", fn, klen, MNEMO_KV_MAX_KEY);
    return 0;
}

static int check_value(const char *fn, const void *val, size_t vlen)
{
    if (!val && vlen)
        return mnemo__err(MNEMO_EINVAL, "%s: value is NULL but its length is %zu", fn, vlen);
    if (vlen > MNEMO_KV_MAX_VALUE)
        return mnemo__err(MNEMO_EINVAL, "%s: value of %zu bytes exceeds the maximum of %u", fn, vlen,
                          MNEMO_KV_MAX_VALUE);
    return 0;
}

int mnemo_kv_put(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen, const void *val, size_t vlen)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, "mnemo_kv_put");
    if (!rc)
        rc = check_key("mnemo_kv_put", key, klen);
    if (!rc)
        rc = check_value("mnemo_kv_put", val, vlen);
    if (!rc)
        rc = mnemo_txn__put(db, txn, MNEMO_CF_DEFAULT, key, klen, val, vlen);
    return rc;
}

int mnemo_kv_get(void **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_kv_get");
    if (rc)
        return rc;
    if (!val || !vlen)
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_get: %s is NULL", !val ? "val" : "vlen");
    if ((rc = check_key("mnemo_kv_get", key, klen)) != 0)
        return rc;
    char *v;
    size_t n;
    rc = mnemo_txn__get(&v, &n, db, txn, MNEMO_CF_DEFAULT, key, klen, 1);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_kv_get: key not found");
    if (rc)
        return rc;
    *val = v;
    *vlen = n;
    return 0;
}

int mnemo_kv_view(mnemo_view *view, mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_kv_view");
    if (rc)
        return rc;
    if (!view)
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_view: view is NULL");
    if ((rc = check_key("mnemo_kv_view", key, klen)) != 0)
        return rc;
    rc = mnemo_txn__view(view, db, txn, MNEMO_CF_DEFAULT, key, klen, 1);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_kv_view: key not found");
    return rc;
}

void mnemo_view_release(mnemo_view *view) { mnemo_txn__view_release(view); }

int mnemo_kv_delete(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, "mnemo_kv_delete");
    if (!rc)
        rc = check_key("mnemo_kv_delete", key, klen);
    if (!rc)
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_DEFAULT, key, klen);
    return rc;
}

int mnemo_kv_exists(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_kv_exists");
    if (!rc)
        rc = check_key("mnemo_kv_exists", key, klen);
    if (rc)
        return rc;
    char *v;
    size_t n;
    rc = mnemo_txn__get(&v, &n, db, txn, MNEMO_CF_DEFAULT, key, klen, 1);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    mnemo__free(v);
    return 1;
}

static int check_op(const char *fn, const mnemo_kv_op *op)
{
    if (op->type != MNEMO_KV_PUT && op->type != MNEMO_KV_DELETE)
        return mnemo__err(MNEMO_EINVAL, "%s: unknown type %d", fn, (int)op->type);
    int rc = check_key(fn, op->key, op->klen);
    if (!rc && op->type == MNEMO_KV_PUT)
        rc = check_value(fn, op->val, op->vlen);
    return rc;
}

static size_t fail_batch_op = (size_t)-1;

void mnemo_kv__fail_batch_op(size_t n) { fail_batch_op = n; }

static int injected_failure(size_t i)
{
    return i == fail_batch_op ? mnemo__err(MNEMO_EIO, "mnemo_kv_batch: op %zu: injected write failure", i) : 0;
}

typedef struct batch_args {
    mnemo_db *db;
    const mnemo_kv_op *ops;
    size_t n;
} batch_args;

static int batch_op(mnemo_txn *txn, void *arg)
{
    batch_args *a = arg;
    const mnemo_kv_op *ops = a->ops;
    int rc = 0;
    for (size_t i = 0; i < a->n && !rc; i++)
        if (!(rc = injected_failure(i)))
            rc = ops[i].type == MNEMO_KV_PUT
                     ? mnemo_txn__put(a->db, txn, MNEMO_CF_DEFAULT, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen)
                     : mnemo_txn__delete(a->db, txn, MNEMO_CF_DEFAULT, ops[i].key, ops[i].klen);
    return rc;
}

int mnemo_kv_batch(mnemo_db *db, mnemo_txn *txn, const mnemo_kv_op *ops, size_t n)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, "mnemo_kv_batch");
    if (rc)
        return rc;
    if (!ops && n)
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_batch: ops is NULL");
    for (size_t i = 0; i < n; i++) {
        if (check_op("mnemo_kv_batch", &ops[i]) == 0)
            continue;
        char fn[64]; /* named only on failure: formatting per op costs more than checking it */
        snprintf(fn, sizeof fn, "mnemo_kv_batch: op %zu", i);
        return check_op(fn, &ops[i]);
    }
    batch_args a = {db, ops, n};
    if (txn) /* poisoned if op i fails after 0..i-1 were written: half a batch never commits */
        return mnemo_txn__run_op(db, txn, batch_op, &a);
    mnemo_batch *b;
    if ((rc = mnemo_batch__create(&b, db)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = injected_failure(i)) != 0) {
            mnemo_batch__free(b);
            return rc;
        }
        if (ops[i].type == MNEMO_KV_PUT)
            mnemo_batch__put(b, MNEMO_CF_DEFAULT, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen);
        else
            mnemo_batch__delete(b, MNEMO_CF_DEFAULT, ops[i].key, ops[i].klen);
    }
    rc = mnemo_batch__write(b);
    mnemo_batch__free(b);
    return rc;
}

/* ---- iterators ---- */

#define KV_RUN 128 /* entries a scan takes from the engine at once */

/* The current entry and the run live in the base (core/iter.h): mnemo_iter_key, _value and the
 * run's next() are answered there with no guard, which is safe because the slices are the
 * cursor's until it is closed or invalidated, and invalidation clears the live flag first. */
typedef struct kv_iter {
    mnemo_iter base;
    mnemo_cursor *cur;
    int reverse;
    int pending; /* 0: next() moves; 1: next() reports the current position (after create/seek) */
    mnemo_db *db;
    mnemo_txn *txn;
    /* A forward run of the entries after the one a move landed on (mnemo_cursor__run); empty in a
     * transaction or backwards. */
    mnemo_store_slice run_k[KV_RUN], run_v[KV_RUN];
} kv_iter;

/* After a move, under the move's guard. */
static void take_entry(kv_iter *it)
{
    it->base.cur_k.data = mnemo_cursor__key(it->cur, &it->base.cur_k.len);
    it->base.cur_v.data = mnemo_cursor__value(it->cur, &it->base.cur_v.len);
}

/* Every move and read holds a guard (txn.h), so a close on another thread waits for it. The txn is
 * claimed only while the cursor is alive: once it was invalidated the txn may be freed. */
static int iter_enter(mnemo_guard *g, kv_iter *it, const char *fn)
{
    return mnemo_guard__txn(g, it->db, mnemo_cursor__alive(it->cur) ? it->txn : NULL, fn);
}

/* Called by mnemo_iter_next when the base has no run entry left to serve. */
static int kv_iter_next(mnemo_iter *base)
{
    kv_iter *it = (kv_iter *)base;
    if (base->run_n) /* the run is spent: the cursor is already on the entry after it */
        it->pending = 1;
    base->run_i = base->run_n = 0;
    MNEMO_GUARD(guard);
    int rc = iter_enter(&guard, it, "mnemo_iter_next");
    if (rc) {
        base->on_entry = 0;
        return rc;
    }
    if (!mnemo_cursor__alive(it->cur)) {
        base->on_entry = 0;
        return mnemo_cursor__status(it->cur, "mnemo_iter_next");
    }
    if (!it->pending) {
        if (!base->on_entry)
            return MNEMO_ITEROVER;
        if (it->reverse)
            mnemo_cursor__prev(it->cur);
        else
            mnemo_cursor__next(it->cur);
    }
    it->pending = 0;
    base->on_entry = mnemo_cursor__valid(it->cur);
    if (!base->on_entry) {
        rc = mnemo_cursor__status(it->cur, "mnemo_iter_next");
        return rc ? rc : MNEMO_ITEROVER;
    }
    size_t n = it->reverse ? 0 : mnemo_cursor__run(it->cur, it->run_k, it->run_v, KV_RUN);
    if (n) { /* the first entry now, the rest from the base */
        base->cur_k = it->run_k[0];
        base->cur_v = it->run_v[0];
        base->run_i = 1;
        base->run_n = n;
    } else {
        take_entry(it);
    }
    return 0;
}

static int kv_iter_seek(mnemo_iter *base, const void *key, size_t klen)
{
    kv_iter *it = (kv_iter *)base;
    MNEMO_GUARD(guard);
    int rc = iter_enter(&guard, it, "mnemo_iter_seek");
    if (rc)
        return rc;
    if (!mnemo_cursor__alive(it->cur))
        return mnemo_cursor__status(it->cur, "mnemo_iter_seek");
    if (it->reverse)
        mnemo_cursor__seek_for_prev(it->cur, key, klen);
    else
        mnemo_cursor__seek(it->cur, key, klen);
    it->pending = 1;
    base->on_entry = 0;
    base->run_i = base->run_n = 0;
    return 0;
}

static void kv_iter_free(mnemo_iter *base)
{
    kv_iter *it = (kv_iter *)base;
    mnemo_guard guard = {0}; /* nothing to lock once the close finished: it invalidated the cursor */
    int entered = mnemo_guard__free(&guard, it->db, mnemo_cursor__alive(it->cur) ? it->txn : NULL) == 0;
    mnemo_cursor__close(it->cur);
    if (entered)
        mnemo_guard__leave(&guard);
    mnemo__free(it);
}

/* key and value: answered by core/iter.c from the base (live is always set). */
static const mnemo_iter_ops kv_iter_ops = {"key-value", kv_iter_next, kv_iter_seek, NULL, NULL, kv_iter_free};

/* Narrows [lo, hi) to the keys that also start with prefix. Bounds point into prefix/opts or into
 * succ_buf. */
static void intersect_prefix(const mnemo_kv_iter_options *o, unsigned char *succ_buf, const void **lo, size_t *lo_len,
                             const void **hi, size_t *hi_len)
{
    *lo = o->start;
    *lo_len = o->start_len;
    *hi = o->end;
    *hi_len = o->end_len;
    if (!o->prefix_len)
        return;
    if (!*lo || memcmp(*lo, o->prefix, *lo_len < o->prefix_len ? *lo_len : o->prefix_len) < 0 ||
        (*lo_len < o->prefix_len && !memcmp(*lo, o->prefix, *lo_len))) {
        *lo = o->prefix;
        *lo_len = o->prefix_len;
    }
    size_t sl = mnemo__prefix_successor(o->prefix, o->prefix_len, succ_buf);
    if (sl) {
        int take = !*hi;
        if (!take) {
            size_t n = sl < *hi_len ? sl : *hi_len;
            int cmp = memcmp(succ_buf, *hi, n);
            take = cmp < 0 || (cmp == 0 && sl < *hi_len);
        }
        if (take) {
            *hi = succ_buf;
            *hi_len = sl;
        }
    }
}

int mnemo_kv_iter(mnemo_iter **out, mnemo_db *db, mnemo_txn *txn, const mnemo_kv_iter_options *opts)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_kv_iter");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_iter: out is NULL");
    static const mnemo_kv_iter_options all = MNEMO_KV_ITER_OPTIONS_INIT;
    const mnemo_kv_iter_options *o = opts ? opts : &all;
    if (o->version > MNEMO_KV_ITER_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_iter: options version %u is newer than this library", o->version);
    if ((!o->prefix && o->prefix_len) || (!o->start && o->start_len) || (!o->end && o->end_len))
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_iter: a bound pointer is NULL but its length is not 0");
    if (o->prefix_len > MNEMO_KV_MAX_KEY || o->start_len > MNEMO_KV_MAX_KEY || o->end_len > MNEMO_KV_MAX_KEY)
        return mnemo__err(MNEMO_EINVAL, "mnemo_kv_iter: a prefix or bound is longer than %u bytes", MNEMO_KV_MAX_KEY);

    unsigned char succ[MNEMO_KV_MAX_KEY];
    const void *lo, *hi;
    size_t lo_len, hi_len;
    intersect_prefix(o, succ, &lo, &lo_len, &hi, &hi_len);

    kv_iter *it = mnemo__malloc(sizeof *it); /* the run arrays are written before they are read */
    if (!it)
        return mnemo__err_nomem("mnemo_kv_iter");
    memset(it, 0, offsetof(kv_iter, run_k));
    it->base.ops = &kv_iter_ops;
    it->base.run_k = it->run_k;
    it->base.run_v = it->run_v;
    it->reverse = o->reverse != 0;
    it->db = db;
    it->txn = txn;
    if ((rc = mnemo_cursor__open(&it->cur, db, txn, MNEMO_CF_DEFAULT, lo, lo_len, hi, hi_len)) != 0) {
        mnemo__free(it);
        return rc;
    }
    it->base.live = mnemo_cursor__live_flag(it->cur);
    if (it->reverse)
        mnemo_cursor__last(it->cur);
    else
        mnemo_cursor__first(it->cur);
    it->pending = 1;
    *out = &it->base;
    return 0;
}
