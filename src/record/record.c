/* Memory records: put/get/delete/update, internal ids, expiry, and the record cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/json.h"
#include "record/record_impl.h"

/* ---- module state ---- */

/* Internal ids come from blocks claimed in the store (txn/idalloc.h): never reused even after a
 * crash, and concurrent inserts never conflict on the shared counter key. */
#define IID_BLOCK 1024
static const mnemo_idcounter iid_counter = {RECORD_COUNTER_IID_HWM, 8, UINT64_MAX, "record internal ids"};

/* Caller holds st->exp_lock (or owns st alone). */
static int exp_add(record_state *st, uint64_t iid)
{
    int rc = mnemo_u64map__add(&st->expiring, iid, 0);
    if (rc == 1)
        atomic_fetch_add(&st->n_expiring, 1);
    return rc < 0 ? rc : 0;
}

/* Every record with an expiry has an 'E' key: they seed the expiring set. */
static int load_expiring(record_state *st, mnemo_db *db)
{
    unsigned char lo = MNEMO_MK_EXPIRY, hi = MNEMO_MK_EXPIRY + 1;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_METADATA, &lo, 1, &hi, 1);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        if (kl == 17)
            rc = exp_add(st, mnemo__get_be64(k + 9));
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "records");
    mnemo_cursor__close(c);
    return rc;
}

static int state_init(mnemo_db *db, void **out)
{
    record_state *st = mnemo__calloc(1, sizeof *st);
    if (!st)
        return mnemo__err_nomem("records");
    mnemo_idblock__init(&st->iids, &iid_counter, IID_BLOCK);
    pthread_rwlock_init(&st->idx_lock, NULL);
    pthread_mutex_init(&st->exp_lock, NULL);
    int rc = mnemo_record__index_load(st, db);
    if (!rc)
        rc = load_expiring(st, db);
    if (rc) {
        mnemo_u64map__free(&st->expiring);
        pthread_mutex_destroy(&st->exp_lock);
        mnemo_record__index_free(st);
        pthread_rwlock_destroy(&st->idx_lock);
        mnemo_idblock__destroy(&st->iids);
        mnemo__free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void state_destroy(mnemo_db *db, void *p)
{
    (void)db;
    record_state *st = p;
    mnemo_u64map__free(&st->expiring);
    pthread_mutex_destroy(&st->exp_lock);
    mnemo_record__index_free(st);
    pthread_rwlock_destroy(&st->idx_lock);
    mnemo_idblock__destroy(&st->iids);
    mnemo__free(st);
}

static const mnemo_module_ops record_module = {state_init, state_destroy};

int mnemo_record__state(record_state **st, mnemo_db *db)
{
    void *p;
    int rc = mnemo_db__module(&p, db, &record_module);
    if (!rc)
        *st = p;
    return rc;
}

static int note_expiring(mnemo_db *db, uint64_t iid)
{
    record_state *st;
    int rc = mnemo_record__state(&st, db);
    if (rc)
        return rc;
    pthread_mutex_lock(&st->exp_lock);
    rc = exp_add(st, iid);
    pthread_mutex_unlock(&st->exp_lock);
    return rc;
}

/* The value of a record's internal-id key: its collection's prefix (none for the default
 * collection: the value of a database made before collections), then its id, sealed. */
#define IID_VALUE_MAX (MNEMO_COLL_PREFIX_LEN + MNEMO_RECORD_MAX_ID + MNEMO_SEAL_OVERHEAD)
static size_t iid_value(unsigned char out[IID_VALUE_MAX], mnemo_db *db, const char *id, size_t id_len)
{
    size_t pl;
    const unsigned char *prefix = mnemo_db__key_prefix(db, &pl);
    unsigned char plain[MNEMO_COLL_PREFIX_LEN + MNEMO_RECORD_MAX_ID];
    memcpy(plain, prefix, pl);
    memcpy(plain + pl, id, id_len);
    return mnemo__seal(out, plain, pl + id_len);
}

int mnemo_record__pin(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id, int untracked)
{
    unsigned char key[9];
    key[0] = MNEMO_MK_IID;
    mnemo__put_be64(key + 1, iid);
    unsigned char v[IID_VALUE_MAX];
    size_t vl = iid_value(v, db, id, strlen(id));
    return untracked ? mnemo_txn__put_untracked(db, txn, MNEMO_CF_METADATA, key, 9, v, vl)
                     : mnemo_txn__put(db, txn, MNEMO_CF_METADATA, key, 9, v, vl);
}

int mnemo_record__any_expiring(mnemo_db *db)
{
    record_state *st;
    if (mnemo_record__state(&st, db))
        return 1;
    return atomic_load_explicit(&st->n_expiring, memory_order_acquire) != 0;
}

int mnemo_record__may_expire(mnemo_db *db, uint64_t iid)
{
    record_state *st;
    if (mnemo_record__state(&st, db))
        return 1; /* cannot tell: the caller checks the record itself */
    /* The set only grows, and a record joins it before the commit that gives it an expiry. */
    if (atomic_load_explicit(&st->n_expiring, memory_order_acquire) == 0)
        return 0;
    pthread_mutex_lock(&st->exp_lock);
    int found = mnemo_u64map__get(&st->expiring, iid, NULL);
    pthread_mutex_unlock(&st->exp_lock);
    return found;
}

/* ---- listeners (record.h): the modules above hear of writes without the record room naming them ---- */

typedef struct listener_set {
    pthread_mutex_t lock; /* guards adding; the array only grows, n is published last */
    const mnemo_record_listener *l[MNEMO_RECORD_MAX_LISTENERS];
    atomic_int n;
} listener_set;

/* Kept apart from record_state, which reads the database when created: registering at open must
 * not load the record room (nor fail the open when its data is damaged). */
static int listeners_init(mnemo_db *db, void **out)
{
    (void)db;
    listener_set *ls = mnemo__calloc(1, sizeof *ls);
    if (!ls)
        return mnemo__err_nomem("record listeners");
    pthread_mutex_init(&ls->lock, NULL);
    *out = ls;
    return 0;
}

static void listeners_destroy(mnemo_db *db, void *p)
{
    (void)db;
    listener_set *ls = p;
    pthread_mutex_destroy(&ls->lock);
    mnemo__free(ls);
}

static const mnemo_module_ops listeners_module = {listeners_init, listeners_destroy};

int mnemo_record__listen(mnemo_db *db, const mnemo_record_listener *l)
{
    void *p;
    int rc = mnemo_db__module(&p, db, &listeners_module);
    if (rc)
        return rc;
    listener_set *ls = p;
    pthread_mutex_lock(&ls->lock);
    int n = atomic_load_explicit(&ls->n, memory_order_relaxed), known = 0;
    for (int i = 0; i < n; i++)
        known |= ls->l[i] == l;
    if (!known && n == MNEMO_RECORD_MAX_LISTENERS)
        rc = mnemo__err(MNEMO_EFULL, "mnemo_record__listen: more than %d listeners", MNEMO_RECORD_MAX_LISTENERS);
    else if (!known) {
        ls->l[n] = l;
        atomic_store_explicit(&ls->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&ls->lock);
    return rc;
}

/* The listeners of db (none when no module registered one). */
static int listeners_of(mnemo_db *db, const mnemo_record_listener *const **l)
{
    listener_set *ls = mnemo_db__module_peek(db, &listeners_module);
    if (!ls)
        return 0;
    *l = ls->l;
    return atomic_load_explicit(&ls->n, memory_order_acquire);
}

static int notify_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old, const mnemo_record *nw, int replace)
{
    const mnemo_record_listener *const *l = NULL;
    int n = listeners_of(db, &l), rc = 0;
    for (int i = 0; i < n && !rc; i++)
        if (l[i]->on_put)
            rc = l[i]->on_put(db, txn, old, nw, replace);
    return rc;
}

static int notify_delete(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old)
{
    const mnemo_record_listener *const *l = NULL;
    int n = listeners_of(db, &l), rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (l[i]->on_delete)
            rc = l[i]->on_delete(db, txn, old->internal_id, old->id);
        if (!rc && l[i]->on_delete_record)
            rc = l[i]->on_delete_record(db, txn, old);
    }
    return rc;
}

/* ---- cache: filled by reads outside transactions, emptied after commits ---- */

#define CACHE_TAG 'r'

/* Collections share the cache: the key carries the collection's prefix. */
#define CACHE_KEY_MAX (1 + MNEMO_COLL_PREFIX_LEN + MNEMO_RECORD_MAX_ID)
static size_t cache_key(char *buf, mnemo_db *db, const char *id, size_t id_len)
{
    size_t pl;
    const unsigned char *prefix = mnemo_db__key_prefix(db, &pl);
    buf[0] = CACHE_TAG;
    memcpy(buf + 1, prefix, pl);
    memcpy(buf + 1 + pl, id, id_len);
    return 1 + pl + id_len;
}

/* Remembers that txn wrote record `id`, so its cache entry goes with the commit. */
static int cache_forget_on_commit(mnemo_db *db, mnemo_txn *txn, const char *id, size_t id_len)
{
    char key[CACHE_KEY_MAX];
    return mnemo_txn__cache_forget(txn, key, cache_key(key, db, id, id_len));
}

static void cache_record_free(void *p) { mnemo__free(p); }

/* ---- argument checks ---- */

static int check_id(const char *fn, const char *id, size_t *len)
{
    if (!id)
        return mnemo__err(MNEMO_EINVAL, "%s: record id is NULL", fn);
    size_t n = strnlen(id, MNEMO_RECORD_MAX_ID + 1);
    if (n == 0)
        return mnemo__err(MNEMO_EINVAL, "%s: record id is empty", fn);
    if (n > MNEMO_RECORD_MAX_ID)
        return mnemo__err(MNEMO_EINVAL, "%s: record id is longer than %u bytes", fn, MNEMO_RECORD_MAX_ID);
    if (!mnemo__utf8_valid(id, n))
        return mnemo__err(MNEMO_EINVAL, "%s: record id is not valid UTF-8", fn);
    *len = n;
    return 0;
}

static int check_fields(const char *fn, const char *content, size_t content_len, double importance,
                        int64_t created_at, int64_t updated_at, int64_t expires_at)
{
    if (content_len > MNEMO_RECORD_MAX_CONTENT)
        return mnemo__err(MNEMO_EINVAL, "%s: content is longer than %u bytes", fn, MNEMO_RECORD_MAX_CONTENT);
    if (!mnemo__utf8_valid(content, content_len))
        return mnemo__err(MNEMO_EINVAL, "%s: content is not valid UTF-8", fn);
    if (!isfinite(importance))
        return mnemo__err(MNEMO_EINVAL, "%s: importance must be a finite number", fn);
    if (created_at < 0 || updated_at < 0 || expires_at < 0)
        return mnemo__err(MNEMO_EINVAL, "%s: timestamps must not be negative", fn);
    return 0;
}

/* ---- reading ---- */

int mnemo_record__load(mnemo_record **out, mnemo_db *db, mnemo_txn *txn, const char *id, size_t id_len, int track)
{
    char *v;
    size_t n;
    int rc = mnemo_txn__get(&v, &n, db, txn, MNEMO_CF_RECORDS, id, id_len, track);
    if (rc)
        return rc;
    rc = mnemo_record__decode(out, id, id_len, v, n);
    mnemo__free(v);
    return rc;
}

static int not_found(const char *fn, const char *id) { return mnemo__err(MNEMO_ENOTFOUND, "%s: no record '%s'", fn, id); }

int mnemo_record_get(mnemo_record **out, mnemo_db *db, mnemo_txn *txn, const char *id)
{
    size_t id_len;
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_record_get");
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "mnemo_record_get: out is NULL");
    if (!rc)
        rc = check_id("mnemo_record_get", id, &id_len);
    if (rc)
        return rc;
    int64_t now = mnemo__now_ms();
    /* A transaction reads its own snapshot and writes, which the shared cache does not hold. */
    struct mnemo_cache *cache = txn ? NULL : mnemo_db__cache_read(db);
    char key[CACHE_KEY_MAX];
    size_t klen = cache_key(key, db, id, id_len);
    uint64_t epoch = 0;
    if (cache) {
        mnemo_cache_handle *h = mnemo_cache__lookup(cache, key, klen);
        if (h) {
            const mnemo_record *cached = mnemo_cache__value(h);
            mnemo_record *copy = mnemo_record__is_expired(cached, now) ? NULL : mnemo_record__blob_copy(cached);
            int expired = mnemo_record__is_expired(cached, now);
            mnemo_cache__release(cache, h);
            if (expired)
                return not_found("mnemo_record_get", id);
            if (!copy)
                return mnemo__err_nomem("mnemo_record_get");
            *out = copy;
            return 0;
        }
        epoch = mnemo_cache__epoch(cache, key, klen);
    }
    mnemo_record *r;
    rc = mnemo_record__load(&r, db, txn, id, id_len, 1);
    if (rc == MNEMO_ENOTFOUND)
        return not_found("mnemo_record_get", id);
    if (rc)
        return rc;
    if (cache) {
        mnemo_record *copy = mnemo_record__blob_copy(r);
        if (copy)
            mnemo_cache__insert(cache, key, klen, copy, mnemo_record__blob_size(copy), cache_record_free, epoch);
    }
    if (mnemo_record__is_expired(r, now)) {
        mnemo_record_free(r);
        return not_found("mnemo_record_get", id);
    }
    *out = r;
    return 0;
}

int mnemo_record_exists(mnemo_db *db, mnemo_txn *txn, const char *id)
{
    mnemo_record *r;
    int rc = mnemo_record_get(&r, db, txn, id);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    mnemo_record_free(r);
    return 1;
}

int mnemo_record__resolve(uint64_t *iid, mnemo_db *db, mnemo_txn *txn, const char *id)
{
    size_t id_len;
    int rc = check_id("resolve", id, &id_len);
    if (rc)
        return rc;
    mnemo_record *r;
    if ((rc = mnemo_record__load(&r, db, txn, id, id_len, 1)) != 0)
        return rc;
    if (mnemo_record__is_expired(r, mnemo__now_ms()))
        rc = MNEMO_ENOTFOUND;
    else
        *iid = r->internal_id;
    mnemo_record_free(r);
    return rc;
}

/* The internal-id entry of iid: its id (the collection prefix taken off) and whether the record is
 * in db's collection. */
static int iid_entry(char **id, int *ours, mnemo_db *db, mnemo_txn *txn, uint64_t iid)
{
    uint32_t coll;
    int rc = mnemo_record__owner(id, &coll, db, txn, iid);
    if (!rc)
        *ours = coll == mnemo_db__collection_id(db);
    return rc;
}

int mnemo_record__owner(char **id, uint32_t *coll, mnemo_db *db, mnemo_txn *txn, uint64_t iid)
{
    unsigned char key[9];
    key[0] = MNEMO_MK_IID;
    mnemo__put_be64(key + 1, iid);
    size_t n;
    char *v;
    int rc = mnemo_txn__get_sealed(&v, &n, db, txn, MNEMO_CF_METADATA, key, sizeof key, 0,
                                   "the record id of an internal id (metadata)");
    if (rc)
        return rc;
    *coll = 0;
    if (n > MNEMO_COLL_PREFIX_LEN && (unsigned char)v[0] == MNEMO_MK_IN_COLLECTION) {
        *coll = mnemo__get_be32((const unsigned char *)v + 1);
        memmove(v, v + MNEMO_COLL_PREFIX_LEN, n - MNEMO_COLL_PREFIX_LEN + 1);
    }
    *id = v;
    return 0;
}

int mnemo_record__in_collection(mnemo_db *db, mnemo_txn *txn, uint64_t iid)
{
    char *id;
    int ours;
    int rc = iid_entry(&id, &ours, db, txn, iid);
    if (rc)
        return rc;
    mnemo__free(id);
    return ours;
}

int mnemo_record__id_of(char **id, mnemo_db *db, mnemo_txn *txn, uint64_t iid)
{
    int ours;
    int rc = iid_entry(id, &ours, db, txn, iid);
    if (!rc && !ours) {
        mnemo__free(*id);
        *id = NULL;
        rc = mnemo__err(MNEMO_ENOTFOUND, "internal id %llu is a record of another collection", (unsigned long long)iid);
    }
    return rc;
}

/* ---- writing ---- */

static void time_key(unsigned char key[17], char tag, int64_t t, uint64_t iid)
{
    key[0] = (unsigned char)tag;
    mnemo_record__encode_time(key + 1, t);
    mnemo__put_be64(key + 9, iid);
}

static int parse_stored_metadata(json_t **out, const mnemo_record *r)
{
    json_error_t e;
    *out = json_loads(r->metadata, 0, &e);
    if (!*out)
        return mnemo__err(MNEMO_ECORRUPT, "record '%s': stored metadata is not valid JSON (%s)", r->id, e.text);
    return 0;
}

/* Writes nw (whose internal_id is set) over old (NULL when the id is new), with every index;
 * replace as for the listeners' on_put (record.h). */
static int store(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old, const mnemo_record *nw, const json_t *new_meta,
                 int replace)
{
    size_t id_len = strlen(nw->id);
    char *val;
    size_t vlen;
    int rc = mnemo_record__encode(&val, &vlen, nw);
    if (rc)
        return rc;
    rc = mnemo_txn__put(db, txn, MNEMO_CF_RECORDS, nw->id, id_len, val, vlen);
    mnemo__free(val);
    unsigned char key[17];
    if (!rc && !old) {
        key[0] = MNEMO_MK_IID;
        mnemo__put_be64(key + 1, nw->internal_id);
        unsigned char iv[IID_VALUE_MAX];
        rc = mnemo_txn__put(db, txn, MNEMO_CF_METADATA, key, 9, iv, iid_value(iv, db, nw->id, id_len));
    }
    if (!rc && old && old->created_at != nw->created_at) {
        time_key(key, MNEMO_MK_CREATED, old->created_at, old->internal_id);
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_METADATA, key, 17);
    }
    if (!rc) {
        time_key(key, MNEMO_MK_CREATED, nw->created_at, nw->internal_id);
        rc = mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, key, 17, nw->id, id_len);
    }
    if (!rc && old && old->expires_at && old->expires_at != nw->expires_at) {
        time_key(key, MNEMO_MK_EXPIRY, old->expires_at, old->internal_id);
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_METADATA, key, 17);
    }
    if (!rc && nw->expires_at) {
        time_key(key, MNEMO_MK_EXPIRY, nw->expires_at, nw->internal_id);
        rc = mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, key, 17, nw->id, id_len);
        if (!rc) /* before the commit: edge and vector readers must check this record from now on */
            rc = note_expiring(db, nw->internal_id);
    }
    if (!rc) /* the modules above: postings, and a replaced record's embedding */
        rc = notify_put(db, txn, old, nw, replace);
    json_t *old_meta = NULL;
    if (!rc && old)
        rc = parse_stored_metadata(&old_meta, old);
    if (!rc)
        rc = mnemo_record__index_update(db, txn, nw->internal_id, nw->id, old_meta, new_meta);
    json_decref(old_meta);
    if (!rc)
        rc = cache_forget_on_commit(db, txn, nw->id, id_len);
    return rc;
}

int mnemo_record__remove(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old)
{
    size_t id_len = strlen(old->id);
    unsigned char key[17];
    int rc = mnemo_txn__delete(db, txn, MNEMO_CF_RECORDS, old->id, id_len);
    if (!rc) {
        key[0] = MNEMO_MK_IID;
        mnemo__put_be64(key + 1, old->internal_id);
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_METADATA, key, 9);
    }
    if (!rc) {
        time_key(key, MNEMO_MK_CREATED, old->created_at, old->internal_id);
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_METADATA, key, 17);
    }
    if (!rc && old->expires_at) {
        time_key(key, MNEMO_MK_EXPIRY, old->expires_at, old->internal_id);
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_METADATA, key, 17);
    }
    json_t *old_meta = NULL;
    if (!rc)
        rc = parse_stored_metadata(&old_meta, old);
    if (!rc)
        rc = mnemo_record__index_update(db, txn, old->internal_id, old->id, old_meta, NULL);
    json_decref(old_meta);
    if (!rc) /* what hangs on it in the modules above (edges, embedding, postings), same transaction */
        rc = notify_delete(db, txn, old);
    if (!rc)
        rc = cache_forget_on_commit(db, txn, old->id, id_len);
    return rc;
}

int mnemo_record__remove_some(mnemo_db *db, mnemo_txn *txn, size_t max, size_t *removed)
{
    *removed = 0;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_RECORDS, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    /* Decoded first, removed after: the removals change what the cursor would see. */
    mnemo_record **batch = mnemo__calloc(max ? max : 1, sizeof *batch);
    size_t n = 0;
    if (!batch)
        rc = mnemo__err_nomem("collection drop");
    for (mnemo_cursor__first(c); !rc && n < max && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl;
        const char *k = mnemo_cursor__key(c, &kl), *v = mnemo_cursor__value(c, &vl);
        if ((rc = mnemo_record__decode(&batch[n], k, kl, v, vl)) == 0)
            n++;
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "collection drop: records");
    mnemo_cursor__close(c);
    for (size_t i = 0; i < n; i++) {
        if (!rc)
            rc = mnemo_record__remove(db, txn, batch[i]);
        mnemo_record_free(batch[i]);
    }
    mnemo__free(batch);
    if (!rc)
        *removed = n;
    return rc;
}

/* Every record write starts here: it reads the index epoch inside its txn (see index.c). */
static int sync_indexes(mnemo_db *db, mnemo_txn *txn)
{
    record_state *st;
    int rc = mnemo_record__state(&st, db);
    return rc ? rc : mnemo_record__index_sync(st, db, txn);
}

typedef struct put_args {
    mnemo_db *db;
    const mnemo_record *rec;
    size_t id_len, content_len;
    mnemo_record_put_mode mode;
    json_t *meta;
    char *meta_text;
} put_args;

static int put_op(mnemo_txn *txn, void *arg)
{
    put_args *a = arg;
    mnemo_db *db = a->db;
    record_state *st;
    int rc = mnemo_record__state(&st, db);
    if (!rc)
        rc = sync_indexes(db, txn);
    if (rc)
        return rc;
    int64_t now = mnemo__now_ms();
    mnemo_record *old = NULL;
    rc = mnemo_record__load(&old, db, txn, a->rec->id, a->id_len, 1);
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    int live = old && !mnemo_record__is_expired(old, now);
    /* Mode checks come before any write, so a refused put leaves the transaction untouched. */
    if (live && a->mode == MNEMO_PUT_INSERT) {
        mnemo_record_free(old);
        return mnemo__err(MNEMO_EEXISTS, "mnemo_record_put: record '%s' already exists", a->rec->id);
    }
    if (!live && a->mode == MNEMO_PUT_REPLACE) {
        mnemo_record_free(old);
        return not_found("mnemo_record_put", a->rec->id);
    }
    if (old && !live) {
        /* An expired record is gone for the caller: remove it (and what hangs on it) first. */
        rc = mnemo_record__remove(db, txn, old);
        mnemo_record_free(old);
        old = NULL;
        if (rc)
            return rc;
    }

    mnemo_record nw = *a->rec;
    nw.content = a->rec->content ? a->rec->content : "";
    nw.content_len = a->content_len;
    nw.metadata = a->meta_text;
    nw.updated_at = a->rec->updated_at ? a->rec->updated_at : now;
    nw.created_at = a->rec->created_at ? a->rec->created_at : old ? old->created_at : now;
    if (old)
        nw.internal_id = old->internal_id;
    else if ((rc = mnemo_idblock__take(&nw.internal_id, db, &st->iids)) != 0)
        return rc;
    /* A put replaces the whole record (replace = 1): the vector room drops the embedding, which
     * described the old content (mnemo_record_update keeps it); edges link records and stay. */
    rc = store(db, txn, old, &nw, a->meta, 1);
    mnemo_record_free(old);
    return rc;
}

int mnemo_record_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *rec, mnemo_record_put_mode mode)
{
    static const char fn[] = "mnemo_record_put";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, fn);
    if (rc)
        return rc;
    if (!rec)
        return mnemo__err(MNEMO_EINVAL, "%s: record is NULL", fn);
    if (mode != MNEMO_PUT_UPSERT && mode != MNEMO_PUT_INSERT && mode != MNEMO_PUT_REPLACE)
        return mnemo__err(MNEMO_EINVAL, "%s: unknown put mode %d", fn, (int)mode);
    put_args a = {db, rec, 0, 0, mode, NULL, NULL};
    if ((rc = check_id(fn, rec->id, &a.id_len)) != 0)
        return rc;
    a.content_len = rec->content ? strlen(rec->content) : 0;
    if ((rc = check_fields(fn, rec->content ? rec->content : "", a.content_len, rec->importance, rec->created_at,
                           rec->updated_at, rec->expires_at)) != 0)
        return rc;
    if ((rc = mnemo__json_object(&a.meta, &a.meta_text, rec->metadata, MNEMO_RECORD_MAX_METADATA, fn, "metadata")) != 0)
        return rc;
    rc = mnemo_txn__run_op(db, txn, put_op, &a);
    json_decref(a.meta);
    mnemo__free(a.meta_text);
    return rc;
}

typedef struct delete_args {
    mnemo_db *db;
    const char *id;
    size_t id_len;
} delete_args;

static int delete_op(mnemo_txn *txn, void *arg)
{
    delete_args *a = arg;
    int rc = sync_indexes(a->db, txn);
    if (rc)
        return rc;
    mnemo_record *old;
    rc = mnemo_record__load(&old, a->db, txn, a->id, a->id_len, 1);
    if (rc == MNEMO_ENOTFOUND)
        return not_found("mnemo_record_delete", a->id);
    if (rc)
        return rc;
    if (mnemo_record__is_expired(old, mnemo__now_ms()))
        rc = not_found("mnemo_record_delete", a->id);
    else
        rc = mnemo_record__remove(a->db, txn, old);
    mnemo_record_free(old);
    return rc;
}

int mnemo_record_delete(mnemo_db *db, mnemo_txn *txn, const char *id)
{
    delete_args a = {db, id, 0};
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, "mnemo_record_delete");
    if (!rc)
        rc = check_id("mnemo_record_delete", id, &a.id_len);
    if (!rc)
        rc = mnemo_txn__run_op(db, txn, delete_op, &a);
    return rc;
}

/* RFC 7386 JSON merge patch; returns a new reference. */
static json_t *merge_patch(const json_t *target, json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *res = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *val;
    json_object_foreach(patch, key, val)
    {
        if (!res)
            break;
        if (json_is_null(val))
            json_object_del(res, key);
        else
            json_object_set_new(res, key, merge_patch(json_object_get(res, key), val));
    }
    return res;
}

typedef struct update_args {
    mnemo_db *db;
    const char *id;
    size_t id_len;
    const mnemo_record_changes *upd;
    json_t *patch;
} update_args;

static int update_op(mnemo_txn *txn, void *arg)
{
    static const char fn[] = "mnemo_record_update";
    update_args *a = arg;
    int rc = sync_indexes(a->db, txn);
    if (rc)
        return rc;
    int64_t now = mnemo__now_ms();
    mnemo_record *old;
    rc = mnemo_record__load(&old, a->db, txn, a->id, a->id_len, 1);
    if (rc == MNEMO_ENOTFOUND)
        return not_found(fn, a->id);
    if (rc)
        return rc;
    if (mnemo_record__is_expired(old, now)) {
        mnemo_record_free(old);
        return not_found(fn, a->id);
    }
    mnemo_record nw = *old;
    const mnemo_record_changes *u = a->upd;
    if (u->fields & MNEMO_UPDATE_CONTENT) {
        nw.content = u->content ? u->content : "";
        nw.content_len = strlen(nw.content);
    }
    if (u->fields & MNEMO_UPDATE_IMPORTANCE)
        nw.importance = u->importance;
    if (u->fields & MNEMO_UPDATE_EXPIRES_AT)
        nw.expires_at = u->expires_at;
    nw.updated_at = now;
    json_t *meta = NULL;
    char *meta_text = NULL;
    if (a->patch) {
        json_t *cur = NULL;
        rc = parse_stored_metadata(&cur, old);
        if (!rc) {
            meta = merge_patch(cur, a->patch);
            char *dump = meta ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            meta_text = dump ? mnemo__memdup(dump, strlen(dump)) : NULL;
            free(dump);
            if (!meta_text)
                rc = mnemo__err_nomem(fn);
            else if (strlen(meta_text) > MNEMO_RECORD_MAX_METADATA)
                rc = mnemo__err(MNEMO_EINVAL, "%s: merged metadata is longer than %u bytes", fn,
                                MNEMO_RECORD_MAX_METADATA);
            nw.metadata = meta_text;
        }
        json_decref(cur);
    } else {
        rc = parse_stored_metadata(&meta, old);
    }
    if (!rc)
        rc = check_fields(fn, nw.content, nw.content_len, nw.importance, nw.created_at, nw.updated_at, nw.expires_at);
    if (!rc)
        rc = store(a->db, txn, old, &nw, meta, 0);
    json_decref(meta);
    mnemo__free(meta_text);
    mnemo_record_free(old);
    return rc;
}

int mnemo_record_update(mnemo_db *db, mnemo_txn *txn, const char *id, const mnemo_record_changes *upd)
{
    static const char fn[] = "mnemo_record_update";
    update_args a = {db, id, 0, upd, NULL};
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, fn);
    if (!rc)
        rc = check_id(fn, id, &a.id_len);
    if (rc)
        return rc;
    if (!upd)
        return mnemo__err(MNEMO_EINVAL, "%s: update is NULL", fn);
    if (upd->version > MNEMO_RECORD_CHANGES_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: update version %u is newer than this library", fn, upd->version);
    const unsigned known = MNEMO_UPDATE_CONTENT | MNEMO_UPDATE_IMPORTANCE | MNEMO_UPDATE_EXPIRES_AT | MNEMO_UPDATE_METADATA;
    if (upd->fields == 0 || (upd->fields & ~known))
        return mnemo__err(MNEMO_EINVAL, "%s: fields 0x%x name nothing to update or unknown bits", fn, upd->fields);
    if (upd->fields & MNEMO_UPDATE_METADATA) {
        if (!upd->metadata_patch)
            return mnemo__err(MNEMO_EINVAL, "%s: metadata_patch is NULL", fn);
        json_error_t e;
        a.patch = json_loads(upd->metadata_patch, JSON_REJECT_DUPLICATES, &e);
        if (!a.patch)
            return mnemo__err(MNEMO_EINVAL, "%s: metadata_patch is not valid JSON: %s (line %d, column %d)", fn,
                              e.text, e.line, e.column);
        if (!json_is_object(a.patch)) {
            json_decref(a.patch);
            return mnemo__err(MNEMO_EINVAL, "%s: metadata_patch must be a JSON object", fn);
        }
    }
    rc = mnemo_txn__run_op(db, txn, update_op, &a);
    json_decref(a.patch);
    return rc;
}

/* ---- purge ---- */

#define PURGE_BATCH 256

typedef struct purge_args {
    mnemo_db *db;
    char **ids;
    size_t n;
    size_t removed;
} purge_args;

static int purge_op(mnemo_txn *txn, void *arg)
{
    purge_args *a = arg;
    int rc = sync_indexes(a->db, txn);
    int64_t now = mnemo__now_ms();
    a->removed = 0;
    for (size_t i = 0; i < a->n && !rc; i++) {
        mnemo_record *old = NULL;
        rc = mnemo_record__load(&old, a->db, txn, a->ids[i], strlen(a->ids[i]), 1);
        if (rc == MNEMO_ENOTFOUND) { /* already gone */
            rc = 0;
            continue;
        }
        if (!rc && mnemo_record__is_expired(old, now)) { /* not made live again since the scan */
            rc = mnemo_record__remove(a->db, txn, old);
            a->removed++;
        }
        mnemo_record_free(old);
    }
    return rc;
}

int mnemo_record_purge_expired(mnemo_db *db, size_t *purged)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, NULL, "mnemo_record_purge_expired");
    if (rc)
        return rc;
    size_t total = 0;
    unsigned char lo[17 + 1] = {MNEMO_MK_EXPIRY}, hi[9];
    size_t lo_len = 1;
    hi[0] = MNEMO_MK_EXPIRY;
    mnemo_record__encode_time(hi + 1, mnemo__now_ms() + 1);
    for (;;) {
        purge_args a = {db, NULL, 0, 0};
        a.ids = mnemo__calloc(PURGE_BATCH, sizeof *a.ids);
        if (!a.ids)
            return mnemo__err_nomem("mnemo_record_purge_expired");
        mnemo_cursor *c;
        rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_METADATA, lo, lo_len, hi, 9);
        if (!rc) {
            for (mnemo_cursor__first(c); mnemo_cursor__valid(c) && a.n < PURGE_BATCH; mnemo_cursor__next(c)) {
                size_t n = 0, vn;
                const char *id = NULL, *v = mnemo_cursor__value(c, &vn);
                if ((rc = mnemo_txn__unseal(v, vn, &id, &n, "an expiry index entry (metadata)")) != 0)
                    break;
                if (!(a.ids[a.n] = mnemo__memdup(id, n))) {
                    rc = mnemo__err_nomem("mnemo_record_purge_expired");
                    break;
                }
                a.n++;
                size_t kl; /* the next batch starts after this key, whatever happens to it */
                const void *k = mnemo_cursor__key(c, &kl);
                if (kl <= 17) {
                    memcpy(lo, k, kl);
                    lo[kl] = 0;
                    lo_len = kl + 1;
                }
            }
            if (!rc)
                rc = mnemo_cursor__status(c, "mnemo_record_purge_expired");
            mnemo_cursor__close(c);
        }
        if (!rc && a.n)
            rc = mnemo_txn_run(db, 0, purge_op, &a, NULL);
        total += a.removed;
        size_t batch = a.n;
        for (size_t i = 0; i < a.n; i++)
            mnemo__free(a.ids[i]);
        mnemo__free(a.ids);
        if (rc || batch < PURGE_BATCH)
            break;
    }
    if (purged && !rc)
        *purged = total;
    return rc;
}
