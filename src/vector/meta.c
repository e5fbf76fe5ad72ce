/* The filter mirror (meta.h): record metadata and fields in memory, and filter bitsets from it. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/error.h"
#include "filter/filter.h"
#include "record/record.h"
#include "vector/meta.h"

#define MAX_IID ((uint64_t)1 << 30) /* a span of ids past this: the mirror is not built, searches read records */
/* The arrays start at the collection's lowest id (rounded down to this): internal ids are handed
 * out database-wide, so a collection made late has only high ones. */
#define BASE_ALIGN 1024
#define CACHED_BITS 8
/* Past this many bytes of entries the mirror is dropped and searches read records: the bound of
 * its memory (about 2 million records of one short field). */
#define MAX_BYTES ((size_t)1 << 30)

typedef struct meta_ent {
    json_t *meta;
    double importance;
    int64_t created_at, updated_at, expires_at;
    char id[];
} meta_ent;

#define SEEN 16 /* filter texts remembered: a text asked for again gets a cached bitset */
#define COLUMNS 8 /* metadata paths with a column */
#define NUMERIC_RESERVED 2 /* columns left for numeric predicates (column_of) */
#define MAX_SEGS 16

/* A column of one metadata path, by slot: the cell of the value the path reaches (filter.h), read
 * by the filter instead of walking the record's metadata tree (a cache miss or more per segment),
 * and, so a numeric predicate is tested on a double per record before the whole filter is, the
 * one number the path reaches (state COL_NUM), or COL_NONE (no number: a numeric predicate
 * fails), or COL_MANY (an array, an object or several values: test the whole filter). 25 bytes
 * per slot. */
enum { COL_NONE = 0, COL_NUM = 1, COL_MANY = 2 };
typedef struct column {
    char *path;
    char *segs_buf;
    const char *segs[MAX_SEGS];
    size_t nsegs;
    double *v;
    unsigned char *st;
    mnemo_filter_cell *cell;
    size_t cap;
} column;

struct meta_mirror {
    /* searches hold it shared while they read entries; building, refreshing and commits' marks
     * hold it alone */
    pthread_rwlock_t rw;
    int built, unusable;
    meta_ent **ent;     /* by slot (internal id - base); NULL: no record (or stale, see dirty) */
    size_t cap;
    uint64_t base;      /* the internal id of slot 0 */
    uint64_t *dirty;    /* ids committed since their entry was made: read again before use */
    size_t n_dirty, cap_dirty;
    size_t bytes;       /* held by entries (estimate of jansson's share: see ent_bytes) */
    uint64_t epoch;     /* bumped by every commit that changes a record */
    pthread_mutex_t cache_mu; /* guards the cache and seen (taken inside rw, never around it) */
    meta_bits *cache[CACHED_BITS];
    size_t next_slot;
    uint64_t seen[SEEN]; /* hashes of recently asked filter texts */
    size_t next_seen;
    /* made under rw shared and col_mu, published with a release store; changed under rw alone */
    pthread_mutex_t col_mu;
    column *_Atomic col[COLUMNS];
    /* shared engines (several processes): the store sequence up to which no other process's
     * commit can be missing from the mirror (meta_begin drops the mirror when it moved) */
    _Atomic uint64_t seen_seq;
    uint64_t scans; /* whole scans of the records that built it (tests: mnemo_vector__meta_scans) */
};
typedef struct meta_mirror mirror;

/* ---- entries ---- */

static void ent_free(meta_ent *e)
{
    if (e) {
        json_decref(e->meta);
        mnemo__free(e);
    }
}

/* Heap bytes of a jansson 2.14 tree with malloc's overhead: an object with its first 8 hash
 * buckets ~250, a key's pair ~80 + its length, a scalar ~40 (measured: a mirror of {"b": n}
 * records holds ~560 bytes a record in all). */
static size_t json_bytes(const json_t *v)
{
    size_t b = 40;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        b = 250;
        json_object_foreach((json_t *)v, k, x) b += 80 + strlen(k) + json_bytes(x);
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            b += 8 + json_bytes(json_array_get(v, i));
    } else if (json_is_string(v)) {
        b += json_string_length(v) + 1;
    }
    return b;
}

static size_t ent_bytes(const meta_ent *e) { return e ? sizeof *e + 16 + strlen(e->id) + 1 + json_bytes(e->meta) : 0; }

static int ent_make(meta_ent **out, const mnemo_record *r)
{
    size_t il = strlen(r->id);
    meta_ent *e = mnemo__malloc(sizeof *e + il + 1);
    if (!e)
        return mnemo__err_nomem("filter mirror");
    json_error_t err;
    e->meta = json_loads(r->metadata ? r->metadata : "{}", 0, &err);
    if (!e->meta) {
        mnemo__free(e);
        return mnemo__err(MNEMO_ECORRUPT, "record '%s': stored metadata is not valid JSON", r->id);
    }
    e->importance = r->importance;
    e->created_at = r->created_at;
    e->updated_at = r->updated_at;
    e->expires_at = r->expires_at;
    memcpy(e->id, r->id, il + 1);
    *out = e;
    return 0;
}

/* The slot of iid: 1 when the arrays hold it. */
static inline int slot_of(const mirror *m, uint64_t iid, size_t *slot)
{
    *slot = (size_t)(iid - m->base);
    return iid >= m->base && iid - m->base < m->cap;
}

static void col_free(column *c);

/* Under rw alone: the arrays hold iid, grown up or (a lower id: moved) down. */
static int grow_to(mirror *m, uint64_t iid)
{
    size_t slot;
    if (slot_of(m, iid, &slot))
        return 0;
    uint64_t base = m->cap ? m->base : iid - iid % BASE_ALIGN, shift = 0;
    if (iid < base) { /* at least doubled below too, so a scan in id order moves the arrays O(log) times */
        uint64_t want = base - (iid - iid % BASE_ALIGN);
        shift = m->cap > want ? m->cap : want;
        if (shift > base)
            shift = base;
        base -= shift;
    }
    uint64_t span = (iid >= m->base && m->cap ? iid - base : m->cap + shift) + 1;
    if (span >= MAX_IID) /* ids too sparse for an array */
        return MNEMO_EFULL;
    size_t cap = m->cap ? m->cap : BASE_ALIGN;
    while (cap < span)
        cap *= 2;
    meta_ent **n = mnemo__realloc(m->ent, cap * sizeof *n);
    if (!n)
        return mnemo__err_nomem("filter mirror");
    if (shift) {
        memmove(n + shift, n, m->cap * sizeof *n);
        memset(n, 0, shift * sizeof *n);
        memset(n + shift + m->cap, 0, (cap - shift - m->cap) * sizeof *n);
        for (size_t i = 0; i < COLUMNS; i++) { /* by slot too: made again on use */
            col_free(atomic_load_explicit(&m->col[i], memory_order_relaxed));
            atomic_store_explicit(&m->col[i], NULL, memory_order_relaxed);
        }
    } else {
        memset(n + m->cap, 0, (cap - m->cap) * sizeof *n);
    }
    m->ent = n;
    m->cap = cap;
    m->base = base;
    return 0;
}

/* Under rw alone (or while the column is made): the slot's cell, and its number derived from it
 * (an object, an array or several values are "tree" cells: the whole filter is tested). */
static void col_set(column *c, size_t slot, const meta_ent *e)
{
    if (slot >= c->cap)
        return;
    mnemo_filter_cell *cell = &c->cell[slot];
    if (e)
        mnemo_filter__cell_of(cell, e->meta, c->segs, c->nsegs);
    else
        *cell = (mnemo_filter_cell){.kind = MNEMO_CELL_MISSING};
    /* an integer a double does not hold exactly compares only through the whole filter */
    int big = cell->kind == MNEMO_CELL_INT && (cell->u.i > (1LL << 53) || cell->u.i < -(1LL << 53));
    c->st[slot] = cell->kind == MNEMO_CELL_TREE || big                           ? COL_MANY
                  : cell->kind == MNEMO_CELL_INT || cell->kind == MNEMO_CELL_REAL ? COL_NUM
                                                                                  : COL_NONE;
    c->v[slot] = c->st[slot] != COL_NUM ? 0 : cell->kind == MNEMO_CELL_INT ? (double)cell->u.i : cell->u.d;
}

static void col_free(column *c)
{
    if (c) {
        mnemo__free(c->path);
        mnemo__free(c->segs_buf);
        mnemo__free(c->v);
        mnemo__free(c->st);
        mnemo__free(c->cell);
        mnemo__free(c);
    }
}

static int set_ent(mirror *m, uint64_t iid, meta_ent *e)
{
    size_t held;
    if (!e && !slot_of(m, iid, &held))
        return 0; /* no entry to take out */
    int rc = grow_to(m, iid);
    if (rc) {
        ent_free(e);
        return rc;
    }
    size_t slot = (size_t)(iid - m->base);
    m->bytes -= ent_bytes(m->ent[slot]);
    ent_free(m->ent[slot]);
    m->ent[slot] = e;
    m->bytes += ent_bytes(e);
    for (size_t i = 0; i < COLUMNS; i++) { /* under rw alone: no reader */
        column *c = atomic_load_explicit(&m->col[i], memory_order_relaxed);
        if (c && slot >= c->cap) { /* a column sized before the mirror grew: made again on use */
            atomic_store_explicit(&m->col[i], NULL, memory_order_relaxed);
            col_free(c);
        } else if (c) {
            col_set(c, slot, e);
        }
    }
    return m->bytes > MAX_BYTES ? MNEMO_EFULL : 0;
}

/* ---- the module state ---- */

static void drop_bits(mirror *m)
{
    for (size_t i = 0; i < CACHED_BITS; i++) {
        mnemo_vector__meta_release(m->cache[i]);
        m->cache[i] = NULL;
    }
}

static void clear(mirror *m)
{
    for (size_t i = 0; i < m->cap; i++)
        ent_free(m->ent[i]);
    mnemo__free(m->ent);
    mnemo__free(m->dirty);
    m->ent = NULL;
    m->dirty = NULL;
    m->cap = m->n_dirty = m->cap_dirty = m->bytes = 0;
    m->base = 0;
    m->built = 0;
    drop_bits(m);
    for (size_t i = 0; i < COLUMNS; i++) {
        col_free(atomic_load_explicit(&m->col[i], memory_order_relaxed));
        atomic_store_explicit(&m->col[i], NULL, memory_order_relaxed);
    }
}

static int init_state(mnemo_db *db, void **state)
{
    (void)db;
    mirror *m = mnemo__calloc(1, sizeof *m);
    if (!m)
        return mnemo__err_nomem("filter mirror");
    pthread_rwlockattr_t attr; /* as the index's lock: commits' marks must get in between searches */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->rw, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&m->cache_mu, NULL);
    pthread_mutex_init(&m->col_mu, NULL);
    *state = m;
    return 0;
}

static void destroy_state(mnemo_db *db, void *state)
{
    (void)db;
    mirror *m = state;
    clear(m);
    pthread_rwlock_destroy(&m->rw);
    pthread_mutex_destroy(&m->cache_mu);
    pthread_mutex_destroy(&m->col_mu);
    mnemo__free(m);
}

static const mnemo_module_ops mirror_module = {init_state, destroy_state};

/* ---- kept in step with commits ---- */

/* The record ids a transaction wrote, marked stale in the mirror when it commits. */
typedef struct meta_txn {
    mnemo_db *db;
    uint64_t *iids;
    size_t n, cap;
} meta_txn;

static const char txn_owner = 0;

static void after_commit(mnemo_txn *txn, void *arg, int committed)
{
    meta_txn *t = arg;
    mirror *m = committed ? mnemo_db__module_peek(t->db, &mirror_module) : NULL;
    if (m) {
        pthread_rwlock_wrlock(&m->rw);
        if (m->built) {
            m->epoch++;
            pthread_mutex_lock(&m->cache_mu);
            drop_bits(m);
            pthread_mutex_unlock(&m->cache_mu);
            /* stale ids past the mirror's size (no filtered search for long, or a lost
             * allocation): forget everything, the next filtered search scans again */
            if (m->n_dirty + t->n > m->cap + 1024 ||
                mnemo__grow(&m->dirty, &m->cap_dirty, m->n_dirty + t->n, sizeof *m->dirty, 64))
                clear(m);
            else
                for (size_t i = 0; i < t->n; i++)
                    m->dirty[m->n_dirty++] = t->iids[i];
        }
        pthread_rwlock_unlock(&m->rw);
        /* this commit's ids are marked: when nothing else committed since, the mirror stays
         * current past it (another process's commit is found by meta_begin) */
        uint64_t seq = mnemo_txn__commit_seq(txn), prev = seq - 1;
        atomic_compare_exchange_strong(&m->seen_seq, &prev, seq);
    }
    mnemo__free(t->iids);
    mnemo__free(t);
}

static int note(mnemo_db *db, mnemo_txn *txn, uint64_t iid)
{
    meta_txn *t = mnemo_txn__hook_arg(txn, db, &txn_owner);
    if (!t) {
        if (!(t = mnemo__calloc(1, sizeof *t)))
            return mnemo__err_nomem("filter mirror");
        t->db = db;
        mnemo_txn_hook hook = {&txn_owner, NULL, after_commit, t, db};
        int rc = mnemo_txn__add_hook(txn, &hook);
        if (rc) {
            mnemo__free(t);
            return rc;
        }
    }
    int rc = mnemo__grow(&t->iids, &t->cap, t->n + 1, sizeof *t->iids, 16);
    if (!rc)
        t->iids[t->n++] = iid;
    return rc;
}

static int on_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old, const mnemo_record *nw, int replace)
{
    (void)old;
    (void)replace;
    return note(db, txn, nw->internal_id);
}

static int on_delete(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id)
{
    (void)id;
    return note(db, txn, iid);
}

static const mnemo_record_listener listener = {.on_put = on_put, .on_delete = on_delete};

int mnemo_vector__meta_listen(mnemo_db *db) { return mnemo_record__listen(db, &listener); }

/* ---- building and refreshing ---- */

static int take_record(void *arg, const mnemo_record *r)
{
    meta_ent *e;
    int rc = ent_make(&e, r);
    return rc ? rc : set_ent(arg, r->internal_id, e);
}

/* The committed record of iid again (or none). Caller holds m->rw alone. */
static int refresh(mirror *m, mnemo_db *db, uint64_t iid)
{
    char *id;
    int rc = mnemo_record__id_of(&id, db, NULL, iid);
    if (rc == MNEMO_ENOTFOUND)
        return set_ent(m, iid, NULL);
    if (rc)
        return rc;
    mnemo_record *r;
    rc = mnemo_record__load(&r, db, NULL, id, strlen(id), 0);
    mnemo__free(id);
    if (rc == MNEMO_ENOTFOUND)
        return set_ent(m, iid, NULL);
    if (rc)
        return rc;
    meta_ent *e = NULL;
    if (r->internal_id == iid)
        rc = ent_make(&e, r);
    mnemo_record_free(r);
    return rc ? rc : set_ent(m, iid, e);
}

/* Builds the mirror or brings its stale entries up to date. Caller holds m->rw alone: commits
 * wait, so one that lands after the scan's snapshot marks its ids stale only after the scan. */
static int current(mirror *m, mnemo_db *db)
{
    int rc = 0;
    if (!m->built) {
        m->n_dirty = 0;
        rc = mnemo_record__each(db, NULL, take_record, m);
        if (rc) {
            clear(m);
            if (rc == MNEMO_EFULL)
                m->unusable = 1;
            return rc;
        }
        m->built = 1;
        m->scans++;
        return 0;
    }
    while (m->n_dirty && !rc)
        if ((rc = refresh(m, db, m->dirty[m->n_dirty - 1])) == 0)
            m->n_dirty--;
    if (rc) { /* an id left stale: start again from a scan */
        clear(m);
        m->unusable = rc == MNEMO_EFULL;
    }
    return rc;
}

/* ---- reading ---- */

/* Filters the mirror answers exactly: not reading content (absent from it) and without $regex
 * (whose match limits could fail on a record the search would never visit). Conservative: any
 * escape could spell either, so escapes go to the records too. */
static int answerable(const char *text)
{
    return !strstr(text, "content") && !strstr(text, "$regex") && !strchr(text, '\\');
}

int mnemo_vector__meta_begin(mirror **out, mnemo_db *db, const char *text)
{
    *out = NULL;
    if (!answerable(text))
        return 0;
    void *p;
    int rc = mnemo_db__module(&p, db, &mirror_module);
    if (rc)
        return rc;
    mirror *m = p;
    if (mnemo_db__shared(db)) { /* another process committed: its record changes are unknown here */
        uint64_t now = mnemo_db__last_seq(db);
        if (now != atomic_load(&m->seen_seq)) {
            pthread_rwlock_wrlock(&m->rw);
            /* Only this process committed since (kv writes, edges, other collections...): its
             * record writes marked their ids themselves (after_commit). Otherwise the next step
             * scans again, at a state no older than `now`. */
            if (!m->unusable && !mnemo_db__own_since(db, atomic_load(&m->seen_seq), now))
                clear(m);
            atomic_store(&m->seen_seq, now);
            pthread_rwlock_unlock(&m->rw);
        }
    }
    for (;;) {
        pthread_rwlock_rdlock(&m->rw);
        if (m->unusable || (m->built && !m->n_dirty))
            break;
        pthread_rwlock_unlock(&m->rw);
        pthread_rwlock_wrlock(&m->rw);
        rc = m->unusable ? 0 : current(m, db);
        pthread_rwlock_unlock(&m->rw);
        if (rc && rc != MNEMO_EFULL)
            return rc;
    }
    if (m->unusable) {
        pthread_rwlock_unlock(&m->rw);
        return 0;
    }
    *out = m;
    return 0;
}

void mnemo_vector__meta_end(mirror *m)
{
    if (m)
        pthread_rwlock_unlock(&m->rw);
}

/* The cells of a filter's paths, bound for one search or bitset (caller holds rw shared). */
typedef struct cell_bind {
    const mnemo_filter_cell **cols; /* by the filter's path number; NULL: no column (walk the tree) */
    size_t n, rows;                 /* rows: slots every bound column holds */
    int any, complete, fields;      /* some / every path bound; the filter reads record fields */
} cell_bind;

static int match_slot(mirror *m, const struct mnemo_filter *f, size_t slot, const cell_bind *b)
{
    const meta_ent *e = slot < m->cap ? m->ent[slot] : NULL;
    if (!e)
        return 0;
    if (b && b->any && slot < b->rows) {
        mnemo_filter_cells cx = {b->cols, slot};
        int r = mnemo_filter__decide_cells(f, &cx);
        if (r >= 0)
            return r;
        int tree = !b->complete || b->fields;
        for (size_t i = 0; i < b->n && !tree; i++)
            tree = b->cols[i][slot].kind == MNEMO_CELL_TREE;
        if (!tree) /* the cells alone: the entry itself is not read (a cache miss a record) */
            return mnemo_filter__match_cells(f, NULL, NULL, &cx);
        mnemo_filter_fields fl = {e->id, NULL, e->importance, e->created_at, e->updated_at, e->expires_at};
        return mnemo_filter__match_cells(f, e->meta, &fl, &cx);
    }
    mnemo_filter_fields fl = {e->id, NULL, e->importance, e->created_at, e->updated_at, e->expires_at};
    return mnemo_filter__match(f, e->meta, &fl);
}

static void unbind(cell_bind *b) { mnemo__free(b->cols); }

static column *column_of(mirror *m, const char *path, int numeric, int *rc);

/* Binds f's paths to columns, made now where missing and there is room. */
static int bind_cells(cell_bind *b, mirror *m, const struct mnemo_filter *f)
{
    const char *const *paths;
    memset(b, 0, sizeof *b);
    b->n = mnemo_filter__paths(f, &paths, &b->fields);
    b->rows = SIZE_MAX;
    b->complete = 1;
    if (b->n && !(b->cols = mnemo__calloc(b->n, sizeof *b->cols)))
        return mnemo__err_nomem("filter columns");
    for (size_t i = 0; i < b->n; i++) {
        int rc;
        const column *c = column_of(m, paths[i], 0, &rc);
        if (rc) {
            unbind(b);
            return rc;
        }
        if (c) {
            b->cols[i] = c->cell;
            b->rows = c->cap < b->rows ? c->cap : b->rows;
            b->any = 1;
        } else {
            b->complete = 0;
        }
    }
    return 0;
}

int mnemo_vector__meta_match(mirror *m, const struct mnemo_filter *f, uint64_t iid)
{
    size_t slot;
    return slot_of(m, iid, &slot) ? match_slot(m, f, slot, NULL) : 0;
}

static uint64_t text_hash(const char *t)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ull;
    return h | 1;
}

int mnemo_vector__meta_cached(meta_bits **out, mirror *m, const char *text)
{
    *out = NULL;
    uint64_t h = text_hash(text);
    int seen = 0;
    pthread_mutex_lock(&m->cache_mu);
    for (size_t i = 0; i < CACHED_BITS && !*out; i++)
        if (m->cache[i] && m->cache[i]->epoch == m->epoch && !strcmp(m->cache[i]->text, text))
            *out = m->cache[i];
    if (*out)
        atomic_fetch_add(&(*out)->refs, 1);
    for (size_t i = 0; i < SEEN && !seen; i++)
        seen = m->seen[i] == h;
    if (!seen)
        m->seen[m->next_seen++ % SEEN] = h;
    pthread_mutex_unlock(&m->cache_mu);
    return seen;
}

/* The column of path, made now if it is not yet (caller holds rw shared), or NULL with *rc set
 * when it cannot be made (0: no room, or a path too deep). Columns stay until the mirror is
 * dropped: a path asked only for its cells (not numeric) leaves NUMERIC_RESERVED slots free, so
 * that filters on many paths cannot take every column from later numeric predicates. */
static column *column_of(mirror *m, const char *path, int numeric, int *rc)
{
    *rc = 0;
    for (size_t i = 0; i < COLUMNS; i++) {
        column *c = atomic_load_explicit(&m->col[i], memory_order_acquire);
        if (c && !strcmp(c->path, path))
            return c;
    }
    pthread_mutex_lock(&m->col_mu);
    column *c = NULL;
    size_t slot = COLUMNS, free_slots = 0;
    for (size_t i = 0; i < COLUMNS && !c; i++) {
        column *x = atomic_load_explicit(&m->col[i], memory_order_acquire);
        if (x && !strcmp(x->path, path))
            c = x;
        else if (!x && slot == COLUMNS)
            slot = i;
        free_slots += !x;
    }
    if (c || slot == COLUMNS || (!numeric && free_slots <= NUMERIC_RESERVED)) {
        pthread_mutex_unlock(&m->col_mu);
        return c;
    }
    size_t pl = strlen(path);
    c = mnemo__calloc(1, sizeof *c);
    if (c) {
        c->path = mnemo__malloc(pl + 1);
        c->segs_buf = mnemo__malloc(pl + 1);
        c->v = mnemo__malloc((m->cap ? m->cap : 1) * sizeof *c->v);
        c->st = mnemo__malloc(m->cap ? m->cap : 1);
        c->cell = mnemo__malloc((m->cap ? m->cap : 1) * sizeof *c->cell);
        c->cap = m->cap;
    }
    if (!c || !c->path || !c->segs_buf || !c->v || !c->st || !c->cell) {
        col_free(c);
        pthread_mutex_unlock(&m->col_mu);
        *rc = mnemo__err_nomem("filter column");
        return NULL;
    }
    memcpy(c->path, path, pl + 1);
    memcpy(c->segs_buf, path, pl + 1);
    for (char *p = c->segs_buf, *seg = p;; p++) {
        if (*p == '.' || !*p) {
            int last = !*p;
            *p = '\0';
            if (c->nsegs == MAX_SEGS) {
                col_free(c);
                pthread_mutex_unlock(&m->col_mu);
                return NULL;
            }
            c->segs[c->nsegs++] = seg;
            seg = p + 1;
            if (last)
                break;
        }
    }
    for (size_t i = 0; i < m->cap; i++)
        col_set(c, i, m->ent[i]);
    atomic_store_explicit(&m->col[slot], c, memory_order_release);
    pthread_mutex_unlock(&m->col_mu);
    return c;
}

/* A numeric predicate of the filter (a necessary condition) tested on a column. */
typedef struct col_pred {
    const column *c;
    double lo, hi;        /* RANGE, inclusive (a bound past 2^53 may stand for several integers) */
    int lo_strict, hi_strict; /* the operator's strictness, used when exact */
    const json_t *const *values; /* EQ / IN */
    size_t n_values;
    int is_range;
    int exact; /* the predicate is the whole filter: a column answer needs no filter test */
} col_pred;

/* 0: the record in the slot cannot match; 1: it matches (when p->exact; else it may); 2: test the
 * filter. */
static int col_test(const col_pred *p, size_t slot)
{
    const column *c = p->c;
    if (slot >= c->cap || c->st[slot] == COL_MANY)
        return 2;
    if (c->st[slot] == COL_NONE)
        return 0;
    double x = c->v[slot];
    if (p->is_range) /* strictness only when exact: else a bound may stand for several integers */
        return x >= p->lo && x <= p->hi && !(p->exact && ((p->lo_strict && x == p->lo) || (p->hi_strict && x == p->hi)));
    for (size_t i = 0; i < p->n_values; i++)
        if (x == json_number_value(p->values[i]))
            return 1;
    return 0;
}

/* Whether the filter text is exactly the one predicate q in one of its plain forms ({"p": v},
 * {"p": {"$eq": v}}, {"p": {"$in": [...]}}, {"p": {"$gt": a, "$lt": b}}; compared as JSON values,
 * so spacing, key order and number spelling do not matter): then a column answers it alone.
 * Conservative: any other form is just not exact. */
static int pred_is_filter(const mnemo_filter_pred *q, const char *text)
{
    json_t *have = json_loads(text, 0, NULL), *cond = NULL, *want = NULL;
    int same = 0;
    if (!have)
        return 0;
    if (q->kind == MNEMO_PRED_EQ) {
        json_t *plain = json_pack("{sO}", q->path, q->values[0]);
        same = plain && json_equal(plain, have);
        json_decref(plain);
        cond = json_pack("{sO}", "$eq", q->values[0]);
    } else if (q->kind == MNEMO_PRED_IN) {
        json_t *arr = json_array();
        for (size_t i = 0; i < q->n_values && arr; i++)
            if (json_array_append(arr, (json_t *)q->values[i]))
                json_decref(arr), arr = NULL;
        cond = arr ? json_pack("{so}", "$in", arr) : NULL;
    } else if ((cond = json_object()) != NULL) {
        if (q->lower)
            json_object_set(cond, q->lower_inclusive ? "$gte" : "$gt", (json_t *)q->lower);
        if (q->upper)
            json_object_set(cond, q->upper_inclusive ? "$lte" : "$lt", (json_t *)q->upper);
    }
    if (!same && cond && (want = json_pack("{sO}", q->path, cond)) != NULL)
        same = json_equal(want, have);
    json_decref(want);
    json_decref(cond);
    json_decref(have);
    return same;
}

/* A bound a double holds exactly (or none). */
static int exact_bound(const json_t *b)
{
    return !b || !json_is_integer(b) ||
           (json_integer_value(b) <= ((json_int_t)1 << 53) && json_integer_value(b) >= -((json_int_t)1 << 53));
}

/* 1 and *p set when a numeric predicate of f on a metadata path has (or now gets) a column, 0
 * when none, or a negative code. Caller holds rw shared. */
static int column_pred(col_pred *p, mirror *m, const struct mnemo_filter *f, const char *text)
{
    mnemo_filter_pred preds[16];
    size_t n = mnemo_filter__index_preds(f, preds, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        const mnemo_filter_pred *q = &preds[i];
        int numeric = !q->is_record_field;
        if (q->kind == MNEMO_PRED_RANGE)
            numeric = numeric && (q->lower || q->upper) && (!q->lower || json_is_number(q->lower)) &&
                      (!q->upper || json_is_number(q->upper));
        else
            for (size_t k = 0; k < q->n_values && numeric; k++)
                numeric = json_is_number(q->values[k]);
        if (!numeric)
            continue;
        int rc;
        const column *c = column_of(m, q->path, 1, &rc);
        if (rc)
            return rc;
        if (!c)
            continue;
        *p = (col_pred){c,
                        q->lower ? json_number_value(q->lower) : -HUGE_VAL,
                        q->upper ? json_number_value(q->upper) : HUGE_VAL,
                        q->lower && !q->lower_inclusive,
                        q->upper && !q->upper_inclusive,
                        q->values,
                        q->n_values,
                        q->kind == MNEMO_PRED_RANGE,
                        n == 1 && exact_bound(q->lower) && exact_bound(q->upper) && pred_is_filter(q, text)};
        for (size_t k = 0; k < q->n_values && p->exact; k++)
            p->exact = exact_bound(q->values[k]);
        return 1;
    }
    return 0;
}

/* What a search tests its filter with: a numeric predicate first (when the filter has one with
 * a column), then the filter on the cells of its paths. */
struct meta_pred {
    col_pred num;
    int has_num;
    cell_bind cells;
};

int mnemo_vector__meta_pred(meta_pred **out, int *exact, mirror *m, const struct mnemo_filter *f, const char *text)
{
    *out = NULL;
    *exact = 0;
    meta_pred *p = mnemo__calloc(1, sizeof *p);
    if (!p)
        return mnemo__err_nomem("filter column");
    int rc = column_pred(&p->num, m, f, text);
    if (rc >= 0) {
        p->has_num = rc;
        rc = bind_cells(&p->cells, m, f);
    }
    if (rc < 0) {
        mnemo__free(p);
        return rc;
    }
    *exact = p->has_num && p->num.exact;
    *out = p;
    return 0;
}

int mnemo_vector__meta_pred_numeric(const meta_pred *p) { return p && p->has_num; }

int mnemo_vector__meta_pred_cheap(const meta_pred *p)
{
    return p && p->cells.complete && p->cells.n && !p->cells.fields; /* record fields: the entry is read */
}

void mnemo_vector__meta_pred_free(meta_pred *p)
{
    if (p) {
        unbind(&p->cells);
        mnemo__free(p);
    }
}

int mnemo_vector__meta_test(mirror *m, const meta_pred *p, const struct mnemo_filter *f, uint64_t iid)
{
    size_t slot;
    if (!slot_of(m, iid, &slot))
        return 0; /* no record of the mirror's */
    int r = p && p->has_num ? col_test(&p->num, slot) : 2;
    return r == 0 || (r == 1 && p->num.exact) ? r : match_slot(m, f, slot, p ? &p->cells : NULL);
}

/* Sets the slot's bit when the record there matches f: 0, or a negative code. */
static int add_if_match(meta_bits *b, mirror *m, const struct mnemo_filter *f, size_t slot, const cell_bind *cb)
{
    int r = match_slot(m, f, slot, cb);
    if (r > 0 && !(b->w[slot >> 6] >> (slot & 63) & 1)) {
        b->w[slot >> 6] |= (uint64_t)1 << (slot & 63);
        b->count++;
    }
    return r < 0 ? r : 0;
}

int mnemo_vector__meta_compute(meta_bits **out, mirror *m, const char *text, const struct mnemo_filter *f,
                               const uint64_t *iids, size_t n)
{
    meta_bits *b = mnemo__calloc(1, sizeof *b);
    size_t tl = strlen(text);
    if (b) {
        b->nbits = m->cap;
        b->base = m->base;
        b->w = mnemo__calloc(m->cap / 64 + 1, sizeof *b->w);
        b->text = mnemo__malloc(tl + 1);
    }
    if (!b || !b->w || !b->text) {
        mnemo__free(b ? b->w : NULL);
        mnemo__free(b ? b->text : NULL);
        mnemo__free(b);
        return mnemo__err_nomem("filter bitset");
    }
    memcpy(b->text, text, tl + 1);
    atomic_init(&b->refs, 1);
    b->epoch = m->epoch;
    col_pred cp;
    int rc = iids ? 0 : column_pred(&cp, m, f, text);
    if (rc < 0) {
        mnemo_vector__meta_release(b);
        return rc;
    }
    int use_col = rc;
    cell_bind cb;
    if ((rc = bind_cells(&cb, m, f)) != 0) {
        mnemo_vector__meta_release(b);
        return rc;
    }
    int col_pass = use_col && cp.is_range; /* the column first, in one pass the compiler unrolls */
    if (col_pass) {
        const column *c = cp.c;
        size_t end = c->cap < m->cap ? c->cap : m->cap;
        double lo = cp.lo, hi = cp.hi;
        int los = cp.exact && cp.lo_strict, his = cp.exact && cp.hi_strict; /* as col_test */
        /* a word of 64 slots at a time, in registers (b->w and b->count could alias the column's
         * arrays for the compiler): in range, and those the column cannot answer (COL_MANY) */
        const double *v = c->v;
        const unsigned char *st = c->st;
        uint64_t count = 0, *many = NULL;
        size_t nw = (end + 63) / 64;
        for (size_t wi = 0; wi < nw; wi++) {
            uint64_t in_w = 0, many_w = 0;
            size_t base = wi * 64, lim = end - base < 64 ? end - base : 64;
            for (size_t j = 0; j < lim; j++) {
                double x = v[base + j];
                unsigned char t = st[base + j];
                int in = t == COL_NUM && x >= lo && x <= hi && !(los && x == lo) && !(his && x == hi);
                in_w |= (uint64_t)in << j;
                many_w |= (uint64_t)(t == COL_MANY) << j;
            }
            b->w[wi] = in_w;
            count += (uint64_t)__builtin_popcountll(in_w);
            if (many_w && !many && !(many = mnemo__calloc(nw, sizeof *many))) {
                unbind(&cb);
                mnemo_vector__meta_release(b);
                return mnemo__err_nomem("filter bitset");
            }
            if (many_w)
                many[wi] = many_w;
        }
        b->count = count;
        /* not the whole filter: the rest of it on the records the column let through; then the
         * whole filter on those the column cannot answer, and on slots past it */
        int rc2 = 0;
        for (size_t wi = 0; wi < nw && !cp.exact && !rc2; wi++)
            for (uint64_t bits = b->w[wi]; bits && !rc2; bits &= bits - 1) {
                size_t i = wi * 64 + (size_t)__builtin_ctzll(bits);
                int r = match_slot(m, f, i, &cb);
                if (r < 0)
                    rc2 = r;
                else if (!r) {
                    b->w[wi] &= ~((uint64_t)1 << (i & 63));
                    b->count--;
                }
            }
        for (size_t wi = 0; many && wi < nw && !rc2; wi++)
            for (uint64_t bits = many[wi]; bits && !rc2; bits &= bits - 1)
                rc2 = add_if_match(b, m, f, wi * 64 + (size_t)__builtin_ctzll(bits), &cb);
        for (size_t i = end; i < m->cap && !rc2; i++)
            rc2 = add_if_match(b, m, f, i, &cb);
        mnemo__free(many);
        if (rc2) {
            unbind(&cb);
            mnemo_vector__meta_release(b);
            return rc2;
        }
    }
    size_t end = col_pass ? 0 : iids ? n : m->cap; /* 0: done above */
    for (size_t i = 0; i < end; i++) {
        size_t slot = i;
        if (iids && !slot_of(m, iids[i], &slot))
            continue;
        if (b->w[slot >> 6] >> (slot & 63) & 1)
            continue;
        int r = use_col ? col_test(&cp, slot) : 2;
        if (r == 0)
            continue;
        if (r == 2 || !cp.exact)
            r = match_slot(m, f, slot, &cb);
        if (r < 0) {
            unbind(&cb);
            mnemo_vector__meta_release(b);
            return r;
        }
        if (r) {
            b->w[slot >> 6] |= (uint64_t)1 << (slot & 63);
            b->count++;
        }
    }
    unbind(&cb);
    { /* the whole answer (candidates from an index are a superset): kept for this text */
        atomic_fetch_add(&b->refs, 1);
        pthread_mutex_lock(&m->cache_mu);
        size_t slot = m->next_slot++ % CACHED_BITS;
        mnemo_vector__meta_release(m->cache[slot]);
        m->cache[slot] = b;
        pthread_mutex_unlock(&m->cache_mu);
    }
    *out = b;
    return 0;
}

void mnemo_vector__meta_release(meta_bits *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        mnemo__free(b->w);
        mnemo__free(b->text);
        mnemo__free(b);
    }
}

uint64_t mnemo_vector__meta_scans(mnemo_db *db)
{
    mirror *m = mnemo_db__module_peek(db, &mirror_module);
    if (!m)
        return 0;
    pthread_rwlock_rdlock(&m->rw);
    uint64_t n = m->scans;
    pthread_rwlock_unlock(&m->rw);
    return n;
}

size_t mnemo_vector__meta_size(mnemo_db *db, size_t *entries)
{
    mirror *m = mnemo_db__module_peek(db, &mirror_module);
    *entries = 0;
    if (!m)
        return 0;
    pthread_rwlock_rdlock(&m->rw);
    size_t b = m->bytes + m->cap * sizeof *m->ent + m->cap_dirty * sizeof *m->dirty;
    for (size_t i = 0; i < m->cap; i++)
        *entries += m->ent[i] != NULL;
    for (size_t i = 0; i < COLUMNS; i++) {
        column *c = atomic_load_explicit(&m->col[i], memory_order_acquire);
        b += c ? c->cap * (sizeof *c->v + 1 + sizeof *c->cell) : 0;
    }
    pthread_mutex_lock(&m->cache_mu);
    for (size_t i = 0; i < CACHED_BITS; i++)
        if (m->cache[i])
            b += sizeof *m->cache[i] + (m->cache[i]->nbits / 64 + 1) * 8 + strlen(m->cache[i]->text) + 1;
    pthread_mutex_unlock(&m->cache_mu);
    pthread_rwlock_unlock(&m->rw);
    return b;
}
