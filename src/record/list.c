/* Listing records by id prefix or creation time, one page at a time, with resumable cursors.
 * A cursor is "<kind>:<hex of the last key visited>"; the next page starts strictly after it. */
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "record/list.h"
#include "record/record_impl.h"

/* ---- pages ---- */

int mnemo_record__page_add(mnemo_record_page *l, mnemo_record *r)
{
    page_impl *p = (page_impl *)l;
    if (l->count == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        mnemo_record *recs = mnemo__realloc(l->records, cap * sizeof *recs);
        if (!recs)
            return mnemo__err_nomem("record list");
        l->records = recs;
        mnemo_record **blobs = mnemo__realloc(p->blobs, cap * sizeof *blobs);
        if (!blobs)
            return mnemo__err_nomem("record list");
        p->blobs = blobs;
        p->cap = cap;
    }
    p->blobs[l->count] = r;
    l->records[l->count++] = *r;
    return 0;
}

mnemo_record_page *mnemo_record__page_new(void) { return mnemo__calloc(1, sizeof(page_impl)); }

void mnemo_record_page_free(mnemo_record_page *l)
{
    if (!l)
        return;
    page_impl *p = (page_impl *)l;
    for (size_t i = 0; i < l->count; i++)
        mnemo_record_free(p->blobs[i]);
    mnemo__free(p->blobs);
    mnemo__free(l->records);
    mnemo__free(l->next_cursor);
    mnemo__free(p);
}

/* ---- cursors ---- */

int mnemo_record__cursor_make(char **out, char kind, const void *key, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *c = mnemo__malloc(2 + 2 * len + 1);
    if (!c)
        return mnemo__err_nomem("cursor");
    c[0] = kind;
    c[1] = ':';
    const unsigned char *k = key;
    for (size_t i = 0; i < len; i++) {
        c[2 + 2 * i] = hex[k[i] >> 4];
        c[3 + 2 * i] = hex[k[i] & 15];
    }
    c[2 + 2 * len] = '\0';
    *out = c;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int mnemo_record__cursor_parse(unsigned char *key, size_t cap, size_t *len, const char *cursor, char kind,
                               const char *fn)
{
    size_t n = strlen(cursor);
    if (n < 2 || cursor[0] != kind || cursor[1] != ':' || (n - 2) % 2 || (n - 2) / 2 > cap)
        return mnemo__err(MNEMO_EINVAL, "%s: cursor '%.40s' does not come from this kind of listing", fn, cursor);
    for (size_t i = 0; i < (n - 2) / 2; i++) {
        int hi = hexval(cursor[2 + 2 * i]), lo = hexval(cursor[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return mnemo__err(MNEMO_EINVAL, "%s: cursor '%.40s' is damaged", fn, cursor);
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = (n - 2) / 2;
    return 0;
}

/* ---- listing ---- */

#define MAX_CURSOR_KEY (MNEMO_RECORD_MAX_ID + 32)

/* Positions c at the first entry after the cursor key (or the first one at all). */
static void position(mnemo_cursor *c, int reverse, const unsigned char *after, size_t after_len)
{
    if (!after) {
        if (reverse)
            mnemo_cursor__last(c);
        else
            mnemo_cursor__first(c);
        return;
    }
    if (reverse) {
        mnemo_cursor__seek_for_prev(c, after, after_len);
        size_t kl;
        const void *k;
        if (mnemo_cursor__valid(c) && (k = mnemo_cursor__key(c, &kl), kl == after_len && !memcmp(k, after, kl)))
            mnemo_cursor__prev(c);
    } else {
        mnemo_cursor__seek(c, after, after_len);
        size_t kl;
        const void *k;
        if (mnemo_cursor__valid(c) && (k = mnemo_cursor__key(c, &kl), kl == after_len && !memcmp(k, after, kl)))
            mnemo_cursor__next(c);
    }
}

int mnemo_record_list(mnemo_record_page **out, mnemo_db *db, mnemo_txn *txn, const mnemo_record_list_options *opts)
{
    static const char fn[] = "mnemo_record_list";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    static const mnemo_record_list_options defaults = MNEMO_RECORD_LIST_OPTIONS_INIT;
    const mnemo_record_list_options *o = opts ? opts : &defaults;
    if (o->version > MNEMO_RECORD_LIST_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library", fn, o->version);
    if (o->order != MNEMO_LIST_BY_ID && o->order != MNEMO_LIST_OLDEST_FIRST && o->order != MNEMO_LIST_NEWEST_FIRST)
        return mnemo__err(MNEMO_EINVAL, "%s: unknown order %d", fn, (int)o->order);
    int by_id = o->order == MNEMO_LIST_BY_ID;
    if (by_id && (o->created_from || o->created_to))
        return mnemo__err(MNEMO_EINVAL, "%s: created_from/created_to need a by-time order", fn);
    if (!by_id && o->id_prefix)
        return mnemo__err(MNEMO_EINVAL, "%s: id_prefix needs MNEMO_LIST_BY_ID", fn);
    size_t prefix_len = o->id_prefix ? strlen(o->id_prefix) : 0;
    if (prefix_len > MNEMO_RECORD_MAX_ID)
        return mnemo__err(MNEMO_EINVAL, "%s: id_prefix is longer than %u bytes", fn, MNEMO_RECORD_MAX_ID);

    unsigned char after[MAX_CURSOR_KEY];
    size_t after_len = 0;
    char kind = by_id ? 'i' : 'c';
    if (o->cursor && (rc = mnemo_record__cursor_parse(after, sizeof after, &after_len, o->cursor, kind, fn)))
        return rc;

    /* Bounds of the scan: an id range in `records`, or a created_at range of the 'C' index. */
    unsigned char lo[16], hi[MNEMO_RECORD_MAX_ID + 16];
    size_t lo_len = 0, hi_len = 0;
    mnemo_cf cf;
    const void *lo_p = NULL, *hi_p = NULL;
    if (by_id) {
        cf = MNEMO_CF_RECORDS;
        if (prefix_len) {
            lo_p = o->id_prefix;
            lo_len = prefix_len;
            hi_len = mnemo__prefix_successor((const unsigned char *)o->id_prefix, prefix_len, hi);
            hi_p = hi_len ? hi : NULL;
        }
    } else {
        cf = MNEMO_CF_METADATA;
        lo[0] = MNEMO_MK_CREATED;
        lo_len = 1;
        if (o->created_from) {
            mnemo_record__encode_time(lo + 1, o->created_from);
            lo_len = 9;
        }
        hi[0] = MNEMO_MK_CREATED + 1;
        hi_len = 1;
        if (o->created_to) {
            hi[0] = MNEMO_MK_CREATED;
            mnemo_record__encode_time(hi + 1, o->created_to);
            hi_len = 9;
        }
        lo_p = lo;
        hi_p = hi;
    }
    mnemo_record_page *list = mnemo_record__page_new();
    if (!list)
        return mnemo__err_nomem(fn);
    /* Index entries and the records they name are read from one snapshot. */
    mnemo_txn *own = NULL;
    if (!txn && !by_id && (rc = mnemo_txn_begin(&own, db, MNEMO_TXN_READONLY)) != 0) {
        mnemo__free(list);
        return rc;
    }
    if (own)
        txn = own;
    mnemo_cursor *c;
    if ((rc = mnemo_cursor__open(&c, db, txn, cf, lo_p, lo_len, hi_p, hi_len)) != 0) {
        mnemo__free(list);
        mnemo_txn_free(own);
        return rc;
    }
    int reverse = o->order == MNEMO_LIST_NEWEST_FIRST;
    position(c, reverse, o->cursor ? after : NULL, after_len);
    int64_t now = mnemo__now_ms();
    size_t last_len = 0;
    unsigned char last_buf[MAX_CURSOR_KEY];
    for (; mnemo_cursor__valid(c) && !rc; reverse ? mnemo_cursor__prev(c) : mnemo_cursor__next(c)) {
        size_t kl, vl;
        const void *k = mnemo_cursor__key(c, &kl);
        const char *v = mnemo_cursor__value(c, &vl);
        mnemo_record *r = NULL;
        if (by_id) {
            rc = mnemo_record__decode(&r, k, kl, v, vl);
        } else {
            const char *id = NULL;
            size_t il = 0;
            if ((rc = mnemo_txn__unseal(v, vl, &id, &il, "a creation-time index entry (metadata)")) != 0)
                break;
            rc = mnemo_record__load(&r, db, txn, id, il, 0);
            if (rc == MNEMO_ENOTFOUND) /* index entry without record: skip, never invent */
                rc = 0;
            if (r && (kl != 17 || r->internal_id != mnemo__get_be64((const unsigned char *)k + 9) ||
                      mnemo__get_be64((const unsigned char *)k + 1) != ((uint64_t)r->created_at ^ (1ull << 63)))) {
                mnemo_record_free(r); /* the key is not this record's: skip it */
                r = NULL;
            }
        }
        if (rc || !r)
            continue;
        if (mnemo_record__is_expired(r, now)) {
            mnemo_record_free(r);
            continue;
        }
        if (o->limit && list->count == o->limit) { /* one more live record exists: there is a next page */
            mnemo_record_free(r);
            rc = mnemo_record__cursor_make(&list->next_cursor, kind, last_buf, last_len);
            break;
        }
        if ((rc = mnemo_record__page_add(list, r)) != 0) {
            mnemo_record_free(r);
            break;
        }
        last_len = kl;
        memcpy(last_buf, k, kl);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, fn);
    mnemo_cursor__close(c);
    mnemo_txn_free(own);
    if (rc) {
        mnemo_record_page_free(list);
        return rc;
    }
    *out = list;
    return 0;
}
