/* Secondary indexes on metadata paths and the query side of records: find, match_ids, estimate.
 *
 * Entry key (metadata column family): 'X' path 0x00 scalar iid -> record id, where scalar is the
 * filter's order-preserving encoding, so equality is a prefix scan and a range is a key range.
 * Index definitions ('D' path) change the shared epoch ('N' "index_epoch"); every record write
 * reads the epoch inside its transaction, so a write racing an index change conflicts and is
 * retried with the new definitions: no record is ever missing from a ready index. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "filter/filter.h"
#include "record/list.h"
#include "record/record_impl.h"

/* Version 2: entries follow paths through arrays of objects. A version-1 definition reads as
 * building (find scans) and is rebuilt when the record room starts. */
#define DEF_VERSION 2
#define DEF_VERSION_ARRAYS_NOT_WALKED 1
#define BACKFILL_BATCH 512
#define BACKFILL_MIN_BATCH 8

static const char *const RECORD_FIELDS[] = {"id", "content", "importance", "created_at", "updated_at", "expires_at"};

/* ---- definitions ---- */

/* 'D' path */
static size_t def_key(unsigned char *key, const char *path)
{
    size_t pl = strlen(path);
    key[0] = MNEMO_MK_INDEX_DEF;
    memcpy(key + 1, path, pl);
    return 1 + pl;
}

void mnemo_record__index_free(record_state *st)
{
    for (size_t i = 0; i < st->n_idx; i++)
        mnemo__free(st->idx[i].path);
    mnemo__free(st->idx);
    st->idx = NULL;
    st->n_idx = 0;
}

static int read_epoch(uint64_t *epoch, mnemo_db *db, mnemo_txn *txn, int track)
{
    char *v;
    size_t n;
    int rc = mnemo_txn__get_sealed(&v, &n, db, txn, MNEMO_CF_METADATA, RECORD_COUNTER_INDEX_EPOCH, strlen(RECORD_COUNTER_INDEX_EPOCH),
                                      track, "the index epoch " RECORD_COUNTER_INDEX_EPOCH " (metadata)");
    if (rc == MNEMO_ENOTFOUND) {
        *epoch = 0;
        return 0;
    }
    if (rc)
        return rc;
    if (n != 8)
        rc = mnemo__err(MNEMO_ECORRUPT, "records: index epoch (metadata key %s) is damaged",
                        RECORD_COUNTER_INDEX_EPOCH);
    else
        *epoch = mnemo__get_be64((unsigned char *)v);
    mnemo__free(v);
    return rc;
}

static int decode_def(const char *path, size_t path_len, const unsigned char *v, size_t n, int *ready)
{
    if (n != 6 || (v[0] != DEF_VERSION && v[0] != DEF_VERSION_ARRAYS_NOT_WALKED) ||
        mnemo__get_be32(v + 2) != mnemo__crc32c(0, v, 2) || v[1] > 1)
        return mnemo__err(MNEMO_ECORRUPT, "index definition '%.*s' is damaged", (int)path_len, path);
    *ready = v[0] == DEF_VERSION && v[1];
    return 0;
}

/* Reads every definition, as committed now (txn NULL) or in txn's snapshot, in path order. */
static int read_defs(record_index_def **out, size_t *out_n, mnemo_db *db, mnemo_txn *txn)
{
    record_index_def *defs = NULL;
    size_t n = 0, cap = 0;
    unsigned char lo = MNEMO_MK_INDEX_DEF, hi = MNEMO_MK_INDEX_DEF + 1;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_METADATA, &lo, 1, &hi, 1);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); mnemo_cursor__valid(c) && !rc; mnemo_cursor__next(c)) {
        size_t kl, vl;
        const char *k = mnemo_cursor__key(c, &kl);
        const unsigned char *v = mnemo_cursor__value(c, &vl);
        int ready = 0;
        if ((rc = decode_def(k + 1, kl - 1, v, vl, &ready)) != 0)
            break;
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            record_index_def *d = mnemo__realloc(defs, cap * sizeof *d);
            if (!d) {
                rc = mnemo__err_nomem("index definitions");
                break;
            }
            defs = d;
        }
        if (!(defs[n].path = mnemo__memdup(k + 1, kl - 1))) {
            rc = mnemo__err_nomem("index definitions");
            break;
        }
        defs[n++].ready = ready;
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "index definitions");
    mnemo_cursor__close(c);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            mnemo__free(defs[i].path);
        mnemo__free(defs);
        return rc;
    }
    *out = defs;
    *out_n = n;
    return 0;
}

/* Loads every definition as committed now. Caller holds idx_lock for writing (or is init). */
static int load_defs(record_state *st, mnemo_db *db)
{
    uint64_t epoch;
    int rc = read_epoch(&epoch, db, NULL, 0);
    if (rc)
        return rc;
    record_index_def *defs;
    size_t n;
    if ((rc = read_defs(&defs, &n, db, NULL)) != 0)
        return rc;
    mnemo_record__index_free(st);
    st->idx = defs;
    st->idx_epoch = epoch;
    st->n_idx = n;
    return 0;
}

static int build(record_state *st, mnemo_db *db, const char *path, int drop_on_failure);

/* Loads the definitions and finishes every build that did not (a process killed in
 * mnemo_record_index_create, or a definition of an older version): until then find would scan while the
 * index is listed. Best effort: on failure the index stays building, find keeps scanning, and
 * the next start tries again. A read-only handle cannot build. */
int mnemo_record__index_load(record_state *st, mnemo_db *db)
{
    int rc = load_defs(st, db);
    if (rc || mnemo_db__options(db)->read_only)
        return rc;
    size_t n = 0;
    for (size_t i = 0; i < st->n_idx; i++)
        n += !st->idx[i].ready;
    if (!n)
        return 0;
    /* Copies of the paths: build() reloads st->idx. Out of memory leaves the builds for the next
     * start; find scans meanwhile, as it does for any index not ready. */
    char (*pending)[MAX_PATH + 1] = mnemo__malloc(n * sizeof *pending);
    if (!pending)
        return 0;
    n = 0;
    for (size_t i = 0; i < st->n_idx; i++)
        if (!st->idx[i].ready)
            snprintf(pending[n++], MAX_PATH + 1, "%s", st->idx[i].path);
    for (size_t i = 0; i < n; i++)
        build(st, db, pending[i], 0); /* reloads the definitions either way */
    mnemo__free(pending);
    return 0;
}

static int reload(record_state *st, mnemo_db *db)
{
    pthread_rwlock_wrlock(&st->idx_lock);
    int rc = load_defs(st, db);
    pthread_rwlock_unlock(&st->idx_lock);
    return rc;
}

/* Marks a transaction that has read (tracked) the epoch: definitions change only in transactions
 * of their own (create, drop, build), so a second read in the same transaction would find the same
 * epoch, and the first already makes the transaction conflict with a change. A bulk load read it
 * once per record, a full point read each (9 % of `mnemo import`'s instructions). */
static const char epoch_read_owner = 0;

int mnemo_record__index_sync(record_state *st, mnemo_db *db, mnemo_txn *txn)
{
    if (txn && mnemo_txn__hook_arg(txn, db, &epoch_read_owner))
        return 0;
    uint64_t epoch;
    int rc = read_epoch(&epoch, db, txn, 1);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&st->idx_lock);
    int stale = epoch > st->idx_epoch;
    pthread_rwlock_unlock(&st->idx_lock);
    if (stale && (rc = reload(st, db)) != 0)
        return rc;
    if (txn) { /* no callbacks: the hook only marks the transaction (arg non-NULL) */
        mnemo_txn_hook mark = {&epoch_read_owner, NULL, NULL, (void *)&epoch_read_owner, db};
        rc = mnemo_txn__add_hook(txn, &mark);
    }
    return rc;
}

/* ---- entries ---- */

/* Metadata paths are dotted; a leading "metadata." is the explicit form. */
static int normalise_path(char *out, const char *path, const char *fn)
{
    if (!path)
        return mnemo__err(MNEMO_EINVAL, "%s: path is NULL", fn);
    if (!strncmp(path, "metadata.", 9))
        path += 9;
    else
        for (size_t i = 0; i < sizeof RECORD_FIELDS / sizeof RECORD_FIELDS[0]; i++)
            if (!strcmp(path, RECORD_FIELDS[i]))
                return mnemo__err(MNEMO_EINVAL, "%s: '%s' is a record field; index the metadata key with "
                                                "'metadata.%s'", fn, path, path);
    size_t n = strlen(path);
    if (n == 0 || n > MAX_PATH)
        return mnemo__err(MNEMO_EINVAL, "%s: path must be 1..%d bytes", fn, MAX_PATH);
    if (path[0] == '.' || path[n - 1] == '.' || strstr(path, ".."))
        return mnemo__err(MNEMO_EINVAL, "%s: path '%s' has an empty segment", fn, path);
    if (!mnemo__utf8_valid(path, n))
        return mnemo__err(MNEMO_EINVAL, "%s: path is not valid UTF-8", fn);
    memcpy(out, path, n + 1);
    return 0;
}

void mnemo_record__enc_set_free(enc_set *s)
{
    mnemo__free(s->buf);
    mnemo__free(s->items);
    memset(s, 0, sizeof *s);
}

static int item_cmp(const void *a, const void *b)
{
    const enc_item *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

typedef struct extract_ctx {
    enc_set *s;
    size_t cap, used, cap_items;
} extract_ctx;

/* Appends the encoding of one scalar (offsets for now: buf may still move). */
static int add_scalar(extract_ctx *x, const json_t *e)
{
    unsigned char tmp[MAX_SCALAR];
    size_t n = mnemo_filter__encode_scalar(e, tmp, sizeof tmp);
    if (n == 0 || n > sizeof tmp)
        return 0; /* not indexable: objects, arrays, or too long */
    enc_set *s = x->s;
    if (mnemo__grow(&s->buf, &x->cap, x->used + n, 1, 256) ||
        mnemo__grow(&s->items, &x->cap_items, s->n + 1, sizeof *s->items, 8))
        return mnemo__err_nomem("index entries");
    memcpy(s->buf + x->used, tmp, n);
    s->items[s->n].p = (const unsigned char *)(uintptr_t)x->used;
    s->items[s->n++].len = n;
    x->used += n;
    return 0;
}

/* One value the path reached: a scalar, or an array whose elements each count once. */
static int add_value(void *arg, const json_t *v)
{
    if (!json_is_array(v))
        return add_scalar(arg, v);
    size_t i;
    const json_t *e;
    int rc = 0;
    json_array_foreach(v, i, e) {
        if ((rc = add_scalar(arg, e)) != 0)
            break;
    }
    return rc;
}

int mnemo_record__index_values(enc_set *s, const json_t *meta, const char *path)
{
    memset(s, 0, sizeof *s);
    if (!json_is_object(meta))
        return 0;
    char buf[MAX_PATH + 1];
    const char *segs[MAX_PATH / 2 + 1];
    size_t nsegs = 0, pl = strlen(path);
    if (pl > MAX_PATH)
        return 0; /* no index has such a path */
    memcpy(buf, path, pl + 1);
    for (char *p = buf;; p++) { /* split on '.' (normalise_path refused empty segments) */
        segs[nsegs++] = p;
        if (!(p = strchr(p, '.')))
            break;
        *p = '\0';
    }
    extract_ctx x = {s, 0, 0, 0};
    int rc = mnemo_filter__walk_path(meta, segs, nsegs, add_value, &x);
    if (rc) {
        mnemo_record__enc_set_free(s);
        return rc;
    }
    for (size_t i = 0; i < s->n; i++)
        s->items[i].p = s->buf + (uintptr_t)s->items[i].p;
    if (s->n > 1) { /* sorted and unique, so big arrays cost n log n and their real size */
        qsort(s->items, s->n, sizeof *s->items, item_cmp);
        size_t m = 1;
        for (size_t i = 1; i < s->n; i++)
            if (item_cmp(&s->items[m - 1], &s->items[i]))
                s->items[m++] = s->items[i];
        s->n = m;
    }
    return 0;
}

/* 'X' path 0x00 enc [iid] */
size_t mnemo_record__entry_key(unsigned char *out, const char *path, const unsigned char *enc, size_t enc_len, uint64_t iid,
                        int with_iid)
{
    size_t pl = strlen(path);
    out[0] = MNEMO_MK_INDEX;
    memcpy(out + 1, path, pl);
    out[1 + pl] = 0;
    if (enc_len)
        memcpy(out + 2 + pl, enc, enc_len);
    size_t n = 2 + pl + enc_len;
    if (with_iid) {
        mnemo__put_be64(out + n, iid);
        n += 8;
    }
    return n;
}


static int contains(const enc_set *s, const enc_item *item)
{
    return s->n && bsearch(item, s->items, s->n, sizeof *s->items, item_cmp) != NULL;
}

static int update_one(mnemo_db *db, mnemo_txn *txn, const char *path, uint64_t iid, const char *id,
                      const json_t *old_meta, const json_t *new_meta)
{
    enc_set olds, news;
    int rc = mnemo_record__index_values(&olds, old_meta, path);
    if (rc)
        return rc;
    if ((rc = mnemo_record__index_values(&news, new_meta, path)) != 0) {
        mnemo_record__enc_set_free(&olds);
        return rc;
    }
    unsigned char key[ENTRY_KEY_MAX];
    for (size_t i = 0; i < olds.n && !rc; i++)
        if (!contains(&news, &olds.items[i]))
            rc = mnemo_txn__delete(db, txn, MNEMO_CF_METADATA, key,
                                   mnemo_record__entry_key(key, path, olds.items[i].p, olds.items[i].len, iid, 1));
    for (size_t i = 0; i < news.n && !rc; i++)
        if (!contains(&olds, &news.items[i]))
            rc = mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, key,
                                          mnemo_record__entry_key(key, path, news.items[i].p, news.items[i].len, iid, 1),
                                          id, strlen(id));
    mnemo_record__enc_set_free(&olds);
    mnemo_record__enc_set_free(&news);
    return rc;
}

int mnemo_record__index_ready(record_state *st, const char *path)
{
    int ready = 0;
    pthread_rwlock_rdlock(&st->idx_lock);
    for (size_t i = 0; i < st->n_idx; i++)
        if (!strcmp(st->idx[i].path, path))
            ready = st->idx[i].ready;
    pthread_rwlock_unlock(&st->idx_lock);
    return ready;
}

int mnemo_record__index_update(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id, const json_t *old_meta,
                               const json_t *new_meta)
{
    record_state *st;
    int rc = mnemo_record__state(&st, db);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&st->idx_lock);
    for (size_t i = 0; i < st->n_idx && !rc; i++)
        rc = update_one(db, txn, st->idx[i].path, iid, id, old_meta, new_meta);
    pthread_rwlock_unlock(&st->idx_lock);
    return rc;
}

/* ---- create / drop ---- */

static int bump_epoch(mnemo_db *db, mnemo_txn *txn)
{
    uint64_t epoch;
    int rc = read_epoch(&epoch, db, txn, 1);
    if (rc)
        return rc;
    unsigned char v[8];
    mnemo__put_be64(v, epoch + 1);
    return mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, RECORD_COUNTER_INDEX_EPOCH, strlen(RECORD_COUNTER_INDEX_EPOCH), v, 8);
}

static int write_def(mnemo_db *db, mnemo_txn *txn, const char *path, int ready)
{
    unsigned char key[1 + MAX_PATH], v[6];
    v[0] = DEF_VERSION;
    v[1] = (unsigned char)ready;
    mnemo__put_be32(v + 2, mnemo__crc32c(0, v, 2));
    return mnemo_txn__put(db, txn, MNEMO_CF_METADATA, key, def_key(key, path), v, sizeof v);
}

int mnemo_record__index_def_state(mnemo_db *db, mnemo_txn *txn, const char *path, int track)
{
    unsigned char key[1 + MAX_PATH];
    size_t pl = strlen(path);
    char *v;
    size_t n;
    int rc = mnemo_txn__get(&v, &n, db, txn, MNEMO_CF_METADATA, key, def_key(key, path), track);
    if (rc == MNEMO_ENOTFOUND)
        return DEF_MISSING;
    if (rc)
        return rc;
    int ready = 0;
    rc = decode_def(path, pl, (unsigned char *)v, n, &ready);
    mnemo__free(v);
    return rc ? rc : ready ? DEF_READY : DEF_BUILDING;
}

/* The read is tracked, so a concurrent create or drop of the same path makes one of the two
 * transactions conflict. */
static int def_state(mnemo_db *db, mnemo_txn *txn, const char *path)
{
    return mnemo_record__index_def_state(db, txn, path, 1);
}

/* Backfill and mark-ready only go on while the definition is still there and building: a drop
 * that won the race must not be undone. */
static int require_building(mnemo_db *db, mnemo_txn *txn, const char *path)
{
    int st = def_state(db, txn, path);
    if (st < 0)
        return st;
    if (st != DEF_BUILDING)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_record_index_create: the index on '%s' was dropped while it was "
                                           "being built", path);
    return 0;
}

typedef struct index_args {
    mnemo_db *db;
    const char *path;
    /* committed backfill position: the next batch starts after this id */
    unsigned char after[MNEMO_RECORD_MAX_ID];
    size_t after_len;
    int started, done;
    /* where this attempt got to; copied into the fields above only once it committed, so a
     * batch retried after a conflict starts again from its own beginning */
    unsigned char next_after[MNEMO_RECORD_MAX_ID];
    size_t next_len;
    int next_done;
    size_t batch; /* records per backfill transaction: shrinks under write contention */
} index_args;

static int create_def_op(mnemo_txn *txn, void *arg)
{
    index_args *a = arg;
    int st = def_state(a->db, txn, a->path);
    if (st < 0)
        return st;
    if (st == DEF_READY)
        return mnemo__err(MNEMO_EEXISTS, "mnemo_record_index_create: an index on '%s' already exists", a->path);
    /* DEF_BUILDING: a create that did not finish (a crash, or one running now); building again is
     * idempotent, so this one completes it. */
    int rc = write_def(a->db, txn, a->path, 0);
    return rc ? rc : bump_epoch(a->db, txn);
}

/* Indexes the next batch of records after a->after; the records read are tracked, so a record
 * changed concurrently makes this batch conflict and run again. */
static int backfill_op(mnemo_txn *txn, void *arg)
{
    index_args *a = arg;
    int rc = require_building(a->db, txn, a->path);
    if (rc)
        return rc;
    mnemo_cursor *c;
    if ((rc = mnemo_cursor__open(&c, a->db, txn, MNEMO_CF_RECORDS, NULL, 0, NULL, 0)) != 0)
        return rc;
    if (a->started) {
        mnemo_cursor__seek(c, a->after, a->after_len);
        size_t kl;
        const void *k;
        if (mnemo_cursor__valid(c) && (k = mnemo_cursor__key(c, &kl), kl == a->after_len && !memcmp(k, a->after, kl)))
            mnemo_cursor__next(c);
    } else {
        mnemo_cursor__first(c);
    }
    char (*ids)[MNEMO_RECORD_MAX_ID + 1] = mnemo__malloc(a->batch * sizeof *ids);
    size_t n = 0;
    if (!ids)
        rc = mnemo__err_nomem("mnemo_record_index_create");
    for (; !rc && n < a->batch && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const char *k = mnemo_cursor__key(c, &kl);
        memcpy(ids[n], k, kl);
        ids[n++][kl] = '\0';
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_record_index_create");
    mnemo_cursor__close(c);
    for (size_t i = 0; i < n && !rc; i++) {
        mnemo_record *r;
        rc = mnemo_record__load(&r, a->db, txn, ids[i], strlen(ids[i]), 1);
        if (rc)
            break;
        json_error_t e;
        json_t *meta = json_loads(r->metadata, 0, &e);
        if (!meta)
            rc = mnemo__err(MNEMO_ECORRUPT, "record '%s': stored metadata is not valid JSON", r->id);
        else
            rc = update_one(a->db, txn, a->path, r->internal_id, r->id, NULL, meta);
        json_decref(meta);
        mnemo_record_free(r);
    }
    a->next_len = a->after_len;
    memcpy(a->next_after, a->after, a->after_len);
    if (!rc && n) {
        a->next_len = strlen(ids[n - 1]);
        memcpy(a->next_after, ids[n - 1], a->next_len);
    }
    a->next_done = n < a->batch;
    mnemo__free(ids);
    return rc;
}

static int mark_ready_op(mnemo_txn *txn, void *arg)
{
    index_args *a = arg;
    int rc = require_building(a->db, txn, a->path);
    if (!rc)
        rc = write_def(a->db, txn, a->path, 1);
    return rc ? rc : bump_epoch(a->db, txn);
}

int mnemo_record_index_drop(mnemo_db *db, const char *path);

/* Checks shared by create and drop: a writable db, a valid path, the record state. */
static int index_call(mnemo_guard *guard, record_state **st, char *p, mnemo_db *db, const char *path, const char *fn)
{
    int rc = mnemo_guard__write(guard, db, NULL, fn);
    if (!rc)
        rc = normalise_path(p, path, fn);
    if (!rc)
        rc = mnemo_record__state(st, db);
    return rc;
}

int mnemo_record_index_create(mnemo_db *db, const char *path)
{
    char p[MAX_PATH + 1];
    record_state *st;
    MNEMO_GUARD(guard);
    int rc = index_call(&guard, &st, p, db, path, "mnemo_record_index_create");
    if (rc)
        return rc;
    index_args a;
    memset(&a, 0, sizeof a);
    a.db = db;
    a.path = p;
    /* 1: declare it (building): from here every record write maintains it. */
    if ((rc = mnemo_txn_run(db, 0, create_def_op, &a, NULL)) != 0 || (rc = reload(st, db)) != 0)
        return rc;
    return build(st, db, p, 1);
}

/* Steps 2 and 3 of a create, also how an interrupted build is finished: backfilling is
 * idempotent. On failure the definition is dropped (unless a drop won already). */
static int build(record_state *st, mnemo_db *db, const char *p, int drop_on_failure)
{
    int rc = 0;
    index_args a;
    memset(&a, 0, sizeof a);
    a.db = db;
    a.path = p;
    /* 2: index what was stored before, batch by batch. */
    /* A batch whose records keep changing under it conflicts again and again; smaller batches
     * always get through, so halve on repeated conflicts and grow back after successes. */
    mnemo_txn_retry few = {MNEMO_TXN_RETRY_VERSION, 4, 0, 0};
    a.batch = BACKFILL_BATCH;
    while (!rc && !a.done) {
        rc = mnemo_txn_run(db, 0, backfill_op, &a, &few);
        if (rc == MNEMO_EBUSY && a.batch > BACKFILL_MIN_BATCH) {
            a.batch /= 2;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        if (a.batch < BACKFILL_BATCH)
            a.batch *= 2;
        a.after_len = a.next_len; /* this batch committed: move on */
        memcpy(a.after, a.next_after, a.next_len);
        a.done = a.next_done;
        a.started = 1;
    }
    /* 3: mark it ready for queries; on failure take the half-built index away again. */
    if (!rc)
        rc = mnemo_txn_run(db, 0, mark_ready_op, &a, NULL);
    if (rc) {
        int saved_rc = rc;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
        if (drop_on_failure && saved_rc != MNEMO_ENOTFOUND) /* ENOTFOUND: someone dropped it already */
            mnemo_record_index_drop(db, p);
        rc = mnemo__err(saved_rc, "%s", msg);
    }
    int rl = reload(st, db);
    return rc ? rc : rl;
}

typedef struct drop_args {
    mnemo_db *db;
    const char *path;
} drop_args;

static int drop_op(mnemo_txn *txn, void *arg)
{
    drop_args *a = arg;
    int rc = def_state(a->db, txn, a->path);
    if (rc < 0)
        return rc;
    if (rc == DEF_MISSING)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_record_index_drop: no index on '%s'", a->path);
    unsigned char key[ENTRY_KEY_MAX], hi[ENTRY_KEY_MAX];
    if ((rc = mnemo_txn__delete(a->db, txn, MNEMO_CF_METADATA, key, def_key(key, a->path))) != 0 ||
        (rc = bump_epoch(a->db, txn)))
        return rc;
    /* Every entry goes in the same commit as the definition. */
    size_t lo_len = mnemo_record__entry_key(key, a->path, NULL, 0, 0, 0);
    size_t hi_len = mnemo__prefix_successor(key, lo_len, hi);
    mnemo_cursor *c;
    if ((rc = mnemo_cursor__open(&c, a->db, txn, MNEMO_CF_METADATA, key, lo_len, hi, hi_len)) != 0)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const void *k = mnemo_cursor__key(c, &kl);
        rc = mnemo_txn__delete(a->db, txn, MNEMO_CF_METADATA, k, kl);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_record_index_drop");
    mnemo_cursor__close(c);
    return rc;
}

int mnemo_record_index_drop(mnemo_db *db, const char *path)
{
    char p[MAX_PATH + 1];
    record_state *st;
    MNEMO_GUARD(guard);
    int rc = index_call(&guard, &st, p, db, path, "mnemo_record_index_drop");
    if (rc)
        return rc;
    drop_args a = {db, p};
    rc = mnemo_txn_run(db, 0, drop_op, &a, NULL);
    int rl = reload(st, db);
    return rc ? rc : rl;
}

void mnemo_record_index_list_free(char **paths, size_t n)
{
    if (!paths)
        return;
    for (size_t i = 0; i < n; i++)
        mnemo__free(paths[i]);
    mnemo__free(paths);
}

int mnemo_record_index_list(char ***paths, size_t *n, mnemo_db *db, mnemo_txn *txn)
{
    if (!paths || !n)
        return mnemo__err(MNEMO_EINVAL, "mnemo_record_index_list: NULL out-parameter");
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_record_index_list");
    record_state *st; /* started first: it finishes an interrupted build before listing it */
    if (!rc)
        rc = mnemo_record__state(&st, db);
    record_index_def *defs = NULL;
    size_t cnt = 0;
    if (rc || (rc = read_defs(&defs, &cnt, db, txn)) != 0)
        return rc;
    char **out = NULL;
    if (cnt && !(out = mnemo__malloc(cnt * sizeof *out))) {
        for (size_t i = 0; i < cnt; i++)
            mnemo__free(defs[i].path);
        mnemo__free(defs);
        return mnemo__err_nomem("mnemo_record_index_list");
    }
    for (size_t i = 0; i < cnt; i++)
        out[i] = defs[i].path; /* the paths move over */
    mnemo__free(defs);
    *paths = out;
    *n = cnt;
    return 0;
}
