/* Finding records by filter: plan (an index range or every record), walk, page.
 *
 * The planner takes one predicate of the filter that a ready index answers (equality, then $in,
 * then a numeric range), turns it into sorted disjoint key ranges of index entries, and the walker
 * visits each candidate record once, checking the whole filter on it. String ranges are not
 * planned on an index because strings longer than MAX_SCALAR are not indexed; equality with a
 * short operand is safe since a longer string can never equal it. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "filter/filter.h"
#include "record/list.h"
#include "record/record_impl.h"

typedef struct key_range {
    unsigned char lo[ENTRY_KEY_MAX], hi[ENTRY_KEY_MAX];
    size_t lo_len, hi_len;
} key_range;

typedef struct plan {
    int use_index;
    char path[MAX_PATH + 1];
    key_range *ranges;
    size_t n;
    int canonical; /* a record can have several entries inside the ranges: emit it at its first */
} plan;

static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int range_cmp(const void *a, const void *b)
{
    const key_range *x = a, *y = b;
    return key_cmp(x->lo, x->lo_len, y->lo, y->lo_len);
}

/* [key(v), successor of key(v)): every entry whose scalar equals v. */
static int eq_range(key_range *r, const char *path, const json_t *v)
{
    unsigned char enc[MAX_SCALAR];
    size_t n = mnemo_filter__encode_scalar(v, enc, sizeof enc);
    if (n == 0 || n > sizeof enc)
        return 0;
    r->lo_len = mnemo_record__entry_key(r->lo, path, enc, n, 0, 0);
    r->hi_len = mnemo_record__entry_key(r->hi, path, enc, n, 0, 0);
    r->hi_len = mnemo__prefix_successor(r->lo, r->lo_len, r->hi);
    return 1;
}

static int bound_key(unsigned char *out, size_t *len, const char *path, const json_t *v, int after_equal)
{
    unsigned char enc[MAX_SCALAR];
    size_t n = mnemo_filter__encode_scalar(v, enc, sizeof enc);
    if (n == 0 || n > sizeof enc)
        return 0;
    *len = mnemo_record__entry_key(out, path, enc, n, 0, 0);
    if (after_equal) {
        unsigned char tmp[ENTRY_KEY_MAX];
        memcpy(tmp, out, *len);
        *len = mnemo__prefix_successor(tmp, *len, out);
    }
    return 1;
}

static int numeric_range(key_range *r, const char *path, const mnemo_filter_pred *p)
{
    const json_t *b = p->lower ? p->lower : p->upper;
    if (!b || !json_is_number(b) || (p->lower && !json_is_number(p->lower)) || (p->upper && !json_is_number(p->upper)))
        return 0;
    unsigned char tag[16];
    mnemo_filter__encode_scalar(b, tag, sizeof tag); /* first byte: the kind tag of numbers */
    /* Bounds are scanned inclusively whatever the operator: integers past 2^53 can share an
     * encoding, so skipping "past" an exclusive bound could skip real matches; the filter check
     * drops the extra candidates. */
    if (p->lower) {
        if (!bound_key(r->lo, &r->lo_len, path, p->lower, 0))
            return 0;
    } else {
        r->lo_len = mnemo_record__entry_key(r->lo, path, tag, 1, 0, 0);
    }
    if (p->upper) {
        if (!bound_key(r->hi, &r->hi_len, path, p->upper, 1))
            return 0;
    } else {
        unsigned char next = (unsigned char)(tag[0] + 1);
        r->hi_len = mnemo_record__entry_key(r->hi, path, &next, 1, 0, 0);
    }
    return 1;
}

static void plan_free(plan *p)
{
    mnemo__free(p->ranges);
    p->ranges = NULL;
}

/* Is the index on path usable from this transaction's snapshot (ready when the snapshot was
 * taken)? Outside a transaction the in-memory definitions are current. */
static int ready_in_snapshot(mnemo_db *db, mnemo_txn *txn, const char *path)
{
    return !txn || mnemo_record__index_def_state(db, txn, path, 0) == DEF_READY;
}

static int make_plan(plan *pl, mnemo_db *db, mnemo_txn *txn, const mnemo_filter *f)
{
    memset(pl, 0, sizeof *pl);
    if (!f)
        return 0;
    record_state *st;
    int rc = mnemo_record__state(&st, db);
    if (rc)
        return rc;
    mnemo_filter_pred preds[16];
    size_t n = mnemo_filter__index_preds(f, preds, 16);
    if (n > 16)
        n = 16;
    static const int rank[] = {0, 3, 2, 1}; /* by mnemo_pred_kind: EQ, IN, RANGE */
    for (int want = 3; want >= 1 && !pl->use_index; want--) {
        for (size_t i = 0; i < n && !pl->use_index; i++) {
            const mnemo_filter_pred *p = &preds[i];
            if (p->is_record_field || rank[p->kind] != want || strlen(p->path) > MAX_PATH ||
                !mnemo_record__index_ready(st, p->path) || !ready_in_snapshot(db, txn, p->path))
                continue;
            size_t nr = p->kind == MNEMO_PRED_IN ? p->n_values : 1;
            key_range *r = mnemo__calloc(nr ? nr : 1, sizeof *r);
            if (!r)
                return mnemo__err_nomem("find");
            int ok = 1;
            if (p->kind == MNEMO_PRED_EQ)
                ok = eq_range(&r[0], p->path, p->values[0]);
            else if (p->kind == MNEMO_PRED_IN)
                for (size_t k = 0; k < nr && ok; k++)
                    ok = eq_range(&r[k], p->path, p->values[k]);
            else
                ok = numeric_range(&r[0], p->path, p);
            if (!ok) {
                mnemo__free(r);
                continue;
            }
            qsort(r, nr, sizeof *r, range_cmp);
            size_t m = 0; /* drop duplicate $in values */
            for (size_t k = 0; k < nr; k++)
                if (!m || range_cmp(&r[m - 1], &r[k]))
                    r[m++] = r[k];
            pl->use_index = 1;
            strcpy(pl->path, p->path);
            pl->ranges = r;
            pl->n = m;
            pl->canonical = p->kind != MNEMO_PRED_EQ;
        }
    }
    return 0;
}

static int in_ranges(const plan *pl, const unsigned char *k, size_t kl)
{
    for (size_t i = 0; i < pl->n; i++)
        if (key_cmp(k, kl, pl->ranges[i].lo, pl->ranges[i].lo_len) >= 0 &&
            (!pl->ranges[i].hi_len || key_cmp(k, kl, pl->ranges[i].hi, pl->ranges[i].hi_len) < 0))
            return 1;
    return 0;
}

/* A record with several values at the path (an array, or a path through arrays) may sit under
 * several keys in the ranges; it is emitted only at the smallest, so pages never repeat it.
 * 1 at the smallest, 0 elsewhere, or a negative code. */
static int first_entry(const plan *pl, const json_t *meta, uint64_t iid, const unsigned char *key, size_t klen)
{
    enc_set s;
    int rc = mnemo_record__index_values(&s, meta, pl->path), first = 1;
    if (rc)
        return rc;
    for (size_t i = 0; i < s.n && first && s.n > 1; i++) {
        unsigned char k[ENTRY_KEY_MAX];
        size_t kl = mnemo_record__entry_key(k, pl->path, s.items[i].p, s.items[i].len, iid, 1);
        if (key_cmp(k, kl, key, klen) < 0 && in_ranges(pl, k, kl))
            first = 0;
    }
    mnemo_record__enc_set_free(&s);
    return first;
}

typedef int (*emit_fn)(void *arg, mnemo_record **r, const void *key, size_t klen);

static int check_record(const mnemo_filter *f, const mnemo_record *r, json_t **meta_out)
{
    json_error_t e;
    json_t *meta = json_loads(r->metadata, 0, &e);
    if (!meta)
        return mnemo__err(MNEMO_ECORRUPT, "record '%s': stored metadata is not valid JSON", r->id);
    mnemo_filter_fields fields = {r->id, r->content, r->importance, r->created_at, r->updated_at, r->expires_at};
    int match = f ? mnemo_filter__match(f, meta, &fields) : 1; /* negative: a $regex over its limit */
    if (match > 0 && meta_out)
        *meta_out = meta;
    else
        json_decref(meta);
    return match;
}

static void seek_after(mnemo_cursor *c, const unsigned char *after, size_t after_len)
{
    mnemo_cursor__seek(c, after, after_len);
    size_t kl;
    const void *k;
    if (mnemo_cursor__valid(c) && (k = mnemo_cursor__key(c, &kl), key_cmp(k, kl, after, after_len) == 0))
        mnemo_cursor__next(c);
}

static int walk_records(mnemo_db *db, mnemo_txn *txn, const mnemo_filter *f, const unsigned char *after,
                        size_t after_len, emit_fn emit, void *arg)
{
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_RECORDS, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    if (after)
        seek_after(c, after, after_len);
    else
        mnemo_cursor__first(c);
    int64_t now = mnemo__now_ms();
    for (; !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl;
        const void *k = mnemo_cursor__key(c, &kl);
        const char *v = mnemo_cursor__value(c, &vl);
        mnemo_record *r;
        if ((rc = mnemo_record__decode(&r, k, kl, v, vl)) != 0)
            break;
        int m = mnemo_record__is_expired(r, now) ? 0 : f ? check_record(f, r, NULL) : 1;
        if (m < 0)
            rc = m;
        else if (m)
            rc = emit(arg, &r, k, kl);
        mnemo_record_free(r);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "find");
    mnemo_cursor__close(c);
    return rc;
}

static int walk_index(mnemo_db *db, mnemo_txn *txn, const mnemo_filter *f, const plan *pl, const unsigned char *after,
                      size_t after_len, emit_fn emit, void *arg)
{
    int rc = 0;
    int64_t now = mnemo__now_ms();
    for (size_t i = 0; i < pl->n && !rc; i++) {
        const key_range *r = &pl->ranges[i];
        if (after && r->hi_len && key_cmp(r->hi, r->hi_len, after, after_len) <= 0)
            continue; /* this range was finished on an earlier page */
        mnemo_cursor *c;
        if ((rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_METADATA, r->lo, r->lo_len, r->hi_len ? r->hi : NULL,
                                     r->hi_len)) != 0)
            break;
        if (after && key_cmp(after, after_len, r->lo, r->lo_len) >= 0)
            seek_after(c, after, after_len);
        else
            mnemo_cursor__first(c);
        for (; !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
            size_t kl, vl;
            const unsigned char *k = mnemo_cursor__key(c, &kl);
            const char *v = mnemo_cursor__value(c, &vl), *id = NULL;
            if (kl < 9)
                continue;
            uint64_t iid = mnemo__get_be64(k + kl - 8);
            size_t il = 0;
            if ((rc = mnemo_txn__unseal(v, vl, &id, &il, "a secondary index entry (metadata)")) != 0)
                break;
            mnemo_record *rec;
            rc = mnemo_record__load(&rec, db, txn, id, il, 0);
            if (rc == MNEMO_ENOTFOUND) {
                rc = 0;
                continue;
            }
            if (rc)
                break;
            json_t *meta = NULL;
            int m = 0;
            if (rec->internal_id == iid && !mnemo_record__is_expired(rec, now))
                m = check_record(f, rec, &meta);
            if (m > 0 && pl->canonical)
                m = first_entry(pl, meta, iid, k, kl);
            if (m < 0)
                rc = m;
            else if (m)
                rc = emit(arg, &rec, k, kl);
            json_decref(meta);
            mnemo_record_free(rec);
        }
        if (!rc)
            rc = mnemo_cursor__status(c, "find");
        mnemo_cursor__close(c);
    }
    return rc;
}

static int walk(mnemo_db *db, mnemo_txn *txn, const mnemo_filter *f, const plan *pl, const unsigned char *after,
                size_t after_len, emit_fn emit, void *arg)
{
    int rc = pl->use_index ? walk_index(db, txn, f, pl, after, after_len, emit, arg)
                           : walk_records(db, txn, f, after, after_len, emit, arg);
    return rc == 1 ? 0 : rc; /* 1: the emitter stopped the walk */
}

/* ---- find ---- */

typedef struct find_page {
    mnemo_record_page *list;
    size_t limit;
    char kind;
    unsigned char last[ENTRY_KEY_MAX];
    size_t last_len;
} find_page;

static int emit_to_page(void *arg, mnemo_record **r, const void *key, size_t klen)
{
    find_page *p = arg;
    if (p->limit && p->list->count == p->limit) /* a further match exists: there is a next page */
        return mnemo_record__cursor_make(&p->list->next_cursor, p->kind, p->last, p->last_len) ?: 1;
    int rc = mnemo_record__page_add(p->list, *r);
    if (rc)
        return rc;
    *r = NULL;
    memcpy(p->last, key, klen);
    p->last_len = klen;
    return 0;
}

int mnemo_record_find(mnemo_record_page **out, mnemo_db *db, mnemo_txn *txn, const char *filter,
                      const mnemo_record_find_options *opts)
{
    static const char fn[] = "mnemo_record_find";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    if (!filter)
        return mnemo__err(MNEMO_EINVAL, "%s: filter is NULL (use \"{}\" for every record)", fn);
    static const mnemo_record_find_options defaults = MNEMO_RECORD_FIND_OPTIONS_INIT;
    const mnemo_record_find_options *o = opts ? opts : &defaults;
    if (o->version > MNEMO_RECORD_FIND_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library", fn, o->version);
    mnemo_filter *f;
    if ((rc = mnemo_filter__compile(&f, filter)) != 0)
        return rc;
    /* Plan and walk in one snapshot, so an index dropped or filled meanwhile cannot change what
     * the walk sees halfway. */
    mnemo_txn *own = NULL;
    if (!txn && (rc = mnemo_txn_begin(&own, db, MNEMO_TXN_READONLY)) != 0) {
        mnemo_filter__free(f);
        return rc;
    }
    if (own)
        txn = own;
    plan pl;
    find_page page = {NULL, o->limit, 0, {0}, 0};
    unsigned char after[ENTRY_KEY_MAX];
    size_t after_len = 0;
    if ((rc = make_plan(&pl, db, txn, f)) != 0) {
        mnemo_filter__free(f);
        mnemo_txn_free(own);
        return rc;
    }
    page.kind = pl.use_index ? 'x' : 'r';
    if (o->cursor)
        rc = mnemo_record__cursor_parse(after, sizeof after, &after_len, o->cursor, page.kind, fn);
    if (!rc && !(page.list = mnemo_record__page_new()))
        rc = mnemo__err_nomem(fn);
    if (!rc)
        rc = walk(db, txn, f, &pl, o->cursor ? after : NULL, after_len, emit_to_page, &page);
    plan_free(&pl);
    mnemo_filter__free(f);
    mnemo_txn_free(own);
    if (rc) {
        mnemo_record_page_free(page.list);
        return rc;
    }
    *out = page.list;
    return 0;
}

/* ---- for other modules ---- */

typedef struct id_sink {
    int (*cb)(void *arg, uint64_t iid);
    void *arg;
} id_sink;

static int emit_id(void *arg, mnemo_record **r, const void *key, size_t klen)
{
    (void)key;
    (void)klen;
    id_sink *s = arg;
    return s->cb(s->arg, (*r)->internal_id);
}

/* txn, or (txn NULL) a read-only one of the caller's own in *own, to free after: one snapshot. */
static int snapshot(mnemo_txn **use, mnemo_txn **own, mnemo_db *db, mnemo_txn *txn)
{
    *own = NULL;
    *use = txn;
    int rc = txn ? 0 : mnemo_txn_begin(own, db, MNEMO_TXN_READONLY);
    if (*own)
        *use = *own;
    return rc;
}

int mnemo_record__match_ids(mnemo_db *db, mnemo_txn *txn, const struct mnemo_filter *f,
                            int (*cb)(void *arg, uint64_t iid), void *arg)
{
    mnemo_txn *own;
    int rc = snapshot(&txn, &own, db, txn);
    if (rc)
        return rc;
    plan pl;
    if ((rc = make_plan(&pl, db, txn, f)) == 0) {
        id_sink s = {cb, arg};
        rc = walk(db, txn, f, &pl, NULL, 0, emit_id, &s);
        plan_free(&pl);
    }
    mnemo_txn_free(own);
    return rc;
}


int mnemo_record__match_iid(mnemo_db *db, mnemo_txn *txn, const struct mnemo_filter *f, uint64_t iid)
{
    char *id;
    int rc = mnemo_record__id_of(&id, db, txn, iid);
    if (rc)
        return rc == MNEMO_ENOTFOUND ? 0 : rc;
    mnemo_record *r;
    rc = mnemo_record__load(&r, db, txn, id, strlen(id), 0);
    mnemo__free(id);
    if (rc)
        return rc == MNEMO_ENOTFOUND ? 0 : rc;
    rc = r->internal_id != iid || mnemo_record__is_expired(r, mnemo__now_ms()) ? 0 : check_record(f, r, NULL);
    mnemo_record_free(r);
    return rc;
}

int mnemo_record__estimate(uint64_t *n, int *indexed, uint64_t cap, mnemo_db *db, mnemo_txn *txn,
                          const struct mnemo_filter *f)
{
    plan pl;
    int rc = make_plan(&pl, db, txn, f); /* an estimate may be a little off; no snapshot needed */
    if (rc)
        return rc;
    if (indexed)
        *indexed = pl.use_index;
    if (!pl.use_index) {
        *n = mnemo_db__estimate_keys(db, MNEMO_CF_RECORDS);
        return 0;
    }
    uint64_t count = 0;
    for (size_t i = 0; i < pl.n && !rc && count < cap; i++) {
        mnemo_cursor *c;
        const key_range *r = &pl.ranges[i];
        if ((rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_METADATA, r->lo, r->lo_len, r->hi_len ? r->hi : NULL,
                                     r->hi_len)) != 0)
            break;
        for (mnemo_cursor__first(c); mnemo_cursor__valid(c) && count < cap; mnemo_cursor__next(c))
            count++;
        rc = mnemo_cursor__status(c, "estimate");
        mnemo_cursor__close(c);
    }
    plan_free(&pl);
    if (!rc)
        *n = count;
    return rc;
}

typedef struct each_sink {
    int (*cb)(void *arg, const mnemo_record *r);
    void *arg;
} each_sink;

static int emit_each(void *arg, mnemo_record **r, const void *key, size_t klen)
{
    (void)key;
    (void)klen;
    each_sink *s = arg;
    return s->cb(s->arg, *r);
}

int mnemo_record__each(mnemo_db *db, mnemo_txn *txn, int (*cb)(void *arg, const mnemo_record *r), void *arg)
{
    mnemo_txn *own;
    int rc = snapshot(&txn, &own, db, txn);
    if (rc)
        return rc;
    each_sink s = {cb, arg};
    rc = walk(db, txn, NULL, &(plan){0}, NULL, 0, emit_each, &s);
    mnemo_txn_free(own);
    return rc;
}

int mnemo_record__index_iids(mnemo_db *db, mnemo_txn *txn, const struct mnemo_filter *f,
                             int (*cb)(void *arg, uint64_t iid), void *arg)
{
    mnemo_txn *own;
    int rc = snapshot(&txn, &own, db, txn);
    if (rc)
        return rc;
    plan pl;
    if ((rc = make_plan(&pl, db, txn, f)) == 0 && !pl.use_index)
        rc = MNEMO_ENOTFOUND;
    for (size_t i = 0; i < pl.n && !rc; i++) {
        mnemo_cursor *c;
        const key_range *r = &pl.ranges[i];
        if ((rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_METADATA, r->lo, r->lo_len, r->hi_len ? r->hi : NULL,
                                     r->hi_len)) != 0)
            break;
        for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
            size_t kl;
            const unsigned char *k = mnemo_cursor__key(c, &kl);
            if (kl >= 9)
                rc = cb(arg, mnemo__get_be64(k + kl - 8));
        }
        if (!rc)
            rc = mnemo_cursor__status(c, "index ids");
        mnemo_cursor__close(c);
    }
    plan_free(&pl);
    mnemo_txn_free(own);
    return rc;
}
