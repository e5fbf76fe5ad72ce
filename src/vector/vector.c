/* Embeddings of records: put (one or a batch), get, delete, and what a record delete takes along;
 * index figures and the data/index agreement check. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "record/record.h"
#include "vector/meta.h"
#include "vector/vector_impl.h"

/* Loads the live record `id` (tracked, so a concurrent change of it conflicts). */
static int live_record(mnemo_record **out, mnemo_db *db, mnemo_txn *txn, const char *id, const char *fn)
{
    mnemo_record *r;
    int rc = mnemo_record__load(&r, db, txn, id, strlen(id), 1);
    if (!rc && mnemo_record__is_expired(r, mnemo__now_ms())) {
        mnemo_record_free(r);
        rc = MNEMO_ENOTFOUND;
    }
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no record '%s'", fn, id);
    if (!rc)
        *out = r;
    return rc;
}

static int check_id(const char *fn, const char *id, const char *what)
{
    if (!id)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, what);
    if (!*id)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is empty", fn, what);
    if (strlen(id) > MNEMO_RECORD_MAX_ID)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is longer than %u bytes", fn, what, MNEMO_RECORD_MAX_ID);
    return 0;
}

/* The checks every single-record write starts with: handles (writable), a vector space, the id. */
static int check_write_call(mnemo_guard *guard, vec_state **st, mnemo_db *db, mnemo_txn *txn, const char *id,
                            const char *fn)
{
    int rc = mnemo_guard__write(guard, db, txn, fn);
    if (!rc)
        rc = mnemo_vector__state(st, db, fn);
    return rc ? rc : check_id(fn, id, "record id");
}

typedef struct put_args {
    mnemo_db *db;
    vec_state *st;
    const char *const *ids;
    const float *vecs; /* prepared (normalised) */
    size_t n;
    const char *fn;
} put_args;

static int put_op(mnemo_txn *txn, void *arg)
{
    put_args *a = arg;
    size_t dim = a->st->sp.dim;
    vec_txn *vt;
    int rc = mnemo_vector__txn(&vt, a->st, a->db, txn, 1);
    for (size_t i = 0; i < a->n && !rc; i++) {
        mnemo_record *r;
        if ((rc = live_record(&r, a->db, txn, a->ids[i], a->fn)) != 0)
            break;
        const float *v = a->vecs + i * dim;
        char *val;
        size_t len;
        unsigned char key[8];
        mnemo_vector__data_key(key, r->internal_id);
        rc = mnemo_vector__encode(&val, &len, v, (uint32_t)dim, r->id, strlen(r->id));
        if (!rc) {
            rc = mnemo_txn__put(a->db, txn, MNEMO_CF_VECTOR_DATA, key, 8, val, len);
            mnemo__free(val);
        }
        if (!rc)
            rc = mnemo_record__pin(a->db, txn, r->internal_id, r->id, 0);
        if (!rc)
            rc = mnemo_vector__txn_note(vt, r->internal_id, v, r->id);
        mnemo_record_free(r);
    }
    return rc;
}

int mnemo_vector_put_batch(mnemo_db *db, mnemo_txn *txn, const char *const *ids, const float *vecs, size_t n,
                           size_t dim)
{
    static const char fn[] = "mnemo_vector_put_batch";
    vec_state *st;
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, txn, fn);
    if (!rc)
        rc = mnemo_vector__state(&st, db, fn);
    if (rc)
        return rc;
    if (!ids || !vecs)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, ids ? "vecs" : "ids");
    if (n == 0)
        return mnemo__err(MNEMO_EINVAL, "%s: no vectors (n is 0)", fn);
    if (dim != st->sp.dim)
        return mnemo__err(MNEMO_EDIM, "%s: vectors have dimension %zu, the vector space has %u", fn, dim, st->sp.dim);
    if (n > SIZE_MAX / sizeof(float) / (dim ? dim : 1))
        return mnemo__err(MNEMO_EINVAL, "%s: n %zu vectors of dimension %zu cannot be addressed", fn, n, dim);
    float *prepared = mnemo__malloc(n * dim * sizeof *prepared);
    if (!prepared)
        return mnemo__err_nomem(fn);
    char what[48], id_what[48];
    for (size_t i = 0; i < n && !rc; i++) {
        snprintf(what, sizeof what, "vector %zu", i);
        snprintf(id_what, sizeof id_what, "id %zu", i);
        if (!(rc = check_id(fn, ids[i], id_what)))
            rc = mnemo_vector__prepare(prepared + i * dim, st, vecs + i * dim, dim, fn, what);
    }
    put_args a = {db, st, ids, prepared, n, fn};
    if (!rc)
        rc = mnemo_txn__run_op(db, txn, put_op, &a);
    mnemo__free(prepared);
    return rc;
}

int mnemo_vector_put(mnemo_db *db, mnemo_txn *txn, const char *id, const float *vec, size_t dim)
{
    static const char fn[] = "mnemo_vector_put";
    vec_state *st;
    MNEMO_GUARD(guard);
    int rc = check_write_call(&guard, &st, db, txn, id, fn);
    if (rc)
        return rc;
    float buf[256], *prepared = dim <= 256 ? buf : mnemo__malloc(dim * sizeof *prepared);
    if (!prepared)
        return mnemo__err_nomem(fn);
    rc = mnemo_vector__prepare(prepared, st, vec, dim, fn, "vector");
    put_args a = {db, st, &id, prepared, 1, fn};
    if (!rc)
        rc = mnemo_txn__run_op(db, txn, put_op, &a);
    if (prepared != buf)
        mnemo__free(prepared);
    return rc;
}

/* The stored vector of iid as txn sees it: its own change first, then vector_data. *vec is
 * mnemo__malloc'd; ENOTFOUND when there is none. */
static int read_vector(float **vec, vec_state *st, mnemo_db *db, mnemo_txn *txn, uint64_t iid, int track)
{
    vec_txn *vt = NULL;
    if (txn && mnemo_vector__txn(&vt, st, db, txn, 0))
        vt = NULL;
    const vec_change *c = mnemo_vector__txn_find(vt, iid);
    size_t dim = st->sp.dim;
    if (c) {
        if (!c->vec)
            return MNEMO_ENOTFOUND;
        if (!(*vec = mnemo__memdup(c->vec, dim * sizeof(float))))
            return mnemo__err_nomem("vector");
        return 0;
    }
    unsigned char key[8];
    char *v;
    size_t n, il;
    const char *id;
    mnemo_vector__data_key(key, iid);
    int rc = mnemo_txn__get(&v, &n, db, txn, MNEMO_CF_VECTOR_DATA, key, 8, track);
    if (rc)
        return rc;
    float *out = mnemo__malloc(dim * sizeof *out);
    if (!out)
        rc = mnemo__err_nomem("vector");
    if (!rc)
        rc = mnemo_vector__decode(v, n, (uint32_t)dim, out, &id, &il, iid);
    mnemo__free(v);
    if (rc) {
        mnemo__free(out);
        return rc;
    }
    *vec = out;
    return 0;
}

int mnemo_vector__stored(const vec_state *st, uint64_t iid, float *out)
{
    unsigned char key[8];
    char *v;
    size_t n, il;
    const char *id;
    mnemo_vector__data_key(key, iid);
    int rc = mnemo_txn__get(&v, &n, st->db, NULL, MNEMO_CF_VECTOR_DATA, key, 8, 0);
    if (rc)
        return rc;
    rc = mnemo_vector__decode(v, n, st->sp.dim, out, &id, &il, iid);
    mnemo__free(v);
    return rc;
}

int mnemo_vector_get(float **out, size_t *dim, mnemo_db *db, mnemo_txn *txn, const char *id)
{
    static const char fn[] = "mnemo_vector_get";
    vec_state *st;
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (!rc)
        rc = mnemo_vector__state(&st, db, fn);
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    if (!rc)
        rc = check_id(fn, id, "record id");
    if (rc)
        return rc;
    uint64_t iid;
    if ((rc = mnemo_record__resolve(&iid, db, txn, id)) == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no record '%s'", fn, id);
    float *v;
    /* tracked: a write the caller bases on this read conflicts with a change of it (write skew) */
    if (!rc && (rc = read_vector(&v, st, db, txn, iid, 1)) == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: record '%s' has no embedding", fn, id);
    if (rc)
        return rc;
    *out = v;
    if (dim)
        *dim = st->sp.dim;
    return 0;
}

typedef struct del_args {
    mnemo_db *db;
    vec_state *st;
    const char *id;
} del_args;

/* Deletes the embedding of iid inside txn: ENOTFOUND (no message) when it has none. */
static int remove_vector(vec_state *st, mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id, int track)
{
    float *v;
    int rc = read_vector(&v, st, db, txn, iid, track);
    if (rc == MNEMO_ECORRUPT) /* a damaged vector can still be deleted */
        rc = 0, v = NULL;
    if (rc)
        return rc;
    mnemo__free(v);
    unsigned char key[8];
    mnemo_vector__data_key(key, iid);
    vec_txn *vt;
    rc = mnemo_txn__delete(db, txn, MNEMO_CF_VECTOR_DATA, key, 8);
    if (!rc)
        rc = mnemo_vector__txn(&vt, st, db, txn, 1);
    if (!rc)
        rc = mnemo_vector__txn_note(vt, iid, NULL, id);
    return rc;
}

static int delete_op(mnemo_txn *txn, void *arg)
{
    del_args *a = arg;
    static const char fn[] = "mnemo_vector_delete";
    mnemo_record *r;
    int rc = live_record(&r, a->db, txn, a->id, fn);
    if (rc)
        return rc;
    rc = remove_vector(a->st, a->db, txn, r->internal_id, r->id, 1);
    if (rc == MNEMO_ENOTFOUND)
        rc = mnemo__err(MNEMO_ENOTFOUND, "%s: record '%s' has no embedding", fn, a->id);
    mnemo_record_free(r);
    return rc;
}

int mnemo_vector_delete(mnemo_db *db, mnemo_txn *txn, const char *id)
{
    static const char fn[] = "mnemo_vector_delete";
    vec_state *st;
    MNEMO_GUARD(guard);
    int rc = check_write_call(&guard, &st, db, txn, id, fn);
    if (rc)
        return rc;
    del_args a = {db, st, id};
    return mnemo_txn__run_op(db, txn, delete_op, &a);
}

/* The record iid is being deleted inside txn: its embedding goes in the same commit. */
static int on_record_delete(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id)
{
    (void)id;
    vec_state *st;
    int lrc = mnemo_vector__loaded(&st, db, "record delete");
    if (lrc || !st)
        return lrc; /* no vector space: nothing to take along */
    /* (the record's own keys may already be gone in txn: a delete needs no record id) */
    int rc = remove_vector(st, db, txn, iid, "", 0);
    return rc == MNEMO_ENOTFOUND ? 0 : rc;
}

/* A put replaces the whole record: the embedding described the old content, so it goes too
 * (an update keeps it). */
static int on_record_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old, const mnemo_record *nw, int replace)
{
    (void)nw;
    return old && replace ? on_record_delete(db, txn, old->internal_id, old->id) : 0;
}

static const mnemo_record_listener record_listener = {.on_put = on_record_put, .on_delete = on_record_delete};

int mnemo_vector__listen(mnemo_db *db)
{
    int rc = mnemo_record__listen(db, &record_listener);
    return rc ? rc : mnemo_vector__meta_listen(db);
}

int mnemo_vector_stats_get(mnemo_vector_stats *out, mnemo_db *db)
{
    static const char fn[] = "mnemo_vector_stats_get";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__db(&guard, db, fn);
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    static const size_t sizes[] = {sizeof(mnemo_vector_stats)};
    size_t bytes;
    if ((rc = mnemo__filled_size(&bytes, fn, "mnemo_vector_stats", out->version, sizes, MNEMO_VECTOR_STATS_VERSION)))
        return rc;
    vec_state *st;
    if ((rc = mnemo_vector__loaded(&st, db, fn)) != 0)
        return rc;
    if (!st)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: the database has no vector space", fn);
    mnemo_vector_stats all;
    memset(&all, 0, sizeof all);
    all.version = out->version;
    all.index_bytes = mnemo_vector__index_bytes(st);
    pthread_mutex_lock(&st->commit_lock); /* the log counters change under it */
    pthread_rwlock_rdlock(&st->rw);
    size_t slots = mnemo_hnsw__slots(st->hnsw), del = mnemo_hnsw__deleted(st->hnsw);
    all.vectors = slots - del;
    all.deleted_slots = del;
    all.log_entries = st->log_entries;
    all.rebuilds = st->rebuilds;
    all.simd = mnemo_hnsw__simd();
    pthread_rwlock_unlock(&st->rw);
    pthread_mutex_unlock(&st->commit_lock);
    memcpy(out, &all, bytes);
    return 0;
}

int mnemo_vector_check(mnemo_db *db, uint64_t *vectors)
{
    static const char fn[] = "mnemo_vector_check";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__db(&guard, db, fn);
    if (rc)
        return rc;
    vec_state *st;
    if ((rc = mnemo_vector__loaded(&st, db, fn)) != 0)
        return rc;
    if (!st)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: the database has no vector space", fn);
    size_t dim = st->sp.dim;
    float *buf = mnemo__malloc(dim * sizeof *buf);
    if (!buf)
        return mnemo__err_nomem(fn);
    /* Writers stay out for the duration, so data and index are compared at one moment. */
    pthread_mutex_lock(&st->commit_lock);
    pthread_rwlock_rdlock(&st->rw);
    mnemo_cursor *c;
    uint64_t n = 0;
    rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_DATA, NULL, 0, NULL, 0);
    if (!rc) {
        for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
            size_t kl, vl, il;
            const unsigned char *k = mnemo_cursor__key(c, &kl);
            const char *v = mnemo_cursor__value(c, &vl), *id;
            if (kl != 8) {
                rc = mnemo__err(MNEMO_ECORRUPT, "%s: vector_data holds a key of %zu bytes", fn, kl);
                break;
            }
            uint64_t iid = mnemo__get_be64(k);
            if ((rc = mnemo_vector__decode(v, vl, (uint32_t)dim, buf, &id, &il, iid)) != 0)
                break;
            int same = mnemo_hnsw__same(st->hnsw, iid, buf); /* int8: the codes the floats give */
            if (same != 1)
                rc = mnemo__err(MNEMO_ECORRUPT, "%s: the vector of record '%.*s' is %s the index", fn, (int)il, id,
                                same == 0 ? "not the same in" : "missing from");
            n++;
        }
        if (!rc)
            rc = mnemo_cursor__status(c, fn);
        mnemo_cursor__close(c);
    }
    size_t live = mnemo_hnsw__slots(st->hnsw) - mnemo_hnsw__deleted(st->hnsw);
    if (!rc && live != n)
        rc = mnemo__err(MNEMO_ECORRUPT, "%s: the index holds %zu live vectors, vector_data %llu", fn, live,
                        (unsigned long long)n);
    pthread_rwlock_unlock(&st->rw);
    pthread_mutex_unlock(&st->commit_lock);
    mnemo__free(buf);
    if (!rc && vectors)
        *vectors = n;
    return rc;
}
