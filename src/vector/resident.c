/* Which vector indexes are in memory. Each handle's index is reached through a holder that lives
 * as long as the handle, while the index itself (a vec_state) may come and go: a collection's
 * loads at the first call that needs it, and with mnemo_options.index_memory_limit set, loading
 * one evicts the least recently used idle ones of the database's other collections until the
 * loaded ones fit again (docs/collections.md "Memory"). The default collection's index loads at
 * open and stays.
 *
 * Calls read a holder's state without a lock, so an index is evicted only when nothing can hold a
 * pointer to it: no guarded call is in flight on its handle (the pointer lives no longer than the
 * call that asked for it) and no transaction holds a write set of it (vec_state.open_txns). The
 * evictor unpublishes the state, passes a barrier, and then looks for calls on the handle
 * (txn.h mnemo_guard__busy): a call entered later sees the state gone and loads it again. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "vector/vector_impl.h"

typedef struct vec_budget vec_budget;

typedef struct vec_holder {
    _Atomic(vec_state *) st; /* NULL: evicted (loads again at the next call that needs it) */
    pthread_mutex_t lock;    /* loading and evicting st */
    mnemo_db *db;
    atomic_int loaded_now;     /* a load that has not yet made room for itself (see holder_get) */
    _Atomic uint64_t last_use; /* budget->clock at the last call that asked for st */
    _Atomic size_t bytes;      /* the index's memory when it was loaded */
    vec_budget *budget;        /* the database's, for a collection's index; NULL for the default's */
    struct vec_holder *prev, *next; /* in budget->ring */
} vec_holder;

/* The loaded collection indexes of one database, kept on its own handle (mnemo_db__root). */
struct vec_budget {
    pthread_mutex_t lock; /* the ring; held while evicting */
    vec_holder ring;      /* sentinel */
    size_t limit;         /* mnemo_options.index_memory_limit (0: none) */
    _Atomic uint64_t clock; /* ticks once per call that asks for a collection's index (a timer's
                             * milliseconds tie between calls, and least recent must be exact) */
    _Atomic size_t loaded_bytes; /* the loaded ones' bytes, for the calls' cheap look */
    _Atomic uint64_t retry_at;   /* the clock from which a call over the limit tries again */
    uint64_t evictions;
};

/* Calls between two tries to get under the limit when a try left it exceeded (everything else
 * busy): each try scans and sorts the loaded indexes. */
#define RETRY_TICKS 64

static int budget_init(mnemo_db *db, void **out)
{
    vec_budget *b = mnemo__calloc(1, sizeof *b);
    if (!b)
        return mnemo__err_nomem("vector index budget");
    pthread_mutex_init(&b->lock, NULL);
    b->ring.prev = b->ring.next = &b->ring;
    b->limit = mnemo_db__options(db)->index_memory_limit;
    *out = b;
    return 0;
}

/* The root's modules go after every collection's (db room: collections close first), so the ring
 * is empty here. */
static void budget_destroy(mnemo_db *db, void *p)
{
    (void)db;
    vec_budget *b = p;
    pthread_mutex_destroy(&b->lock);
    mnemo__free(b);
}

static const mnemo_module_ops budget_module = {budget_init, budget_destroy};

static int holder_init(mnemo_db *db, void **out)
{
    vec_budget *b = NULL;
    int rc = mnemo_db__collection_id(db) ? mnemo_db__module((void **)&b, mnemo_db__root(db), &budget_module) : 0;
    vec_holder *h = rc ? NULL : mnemo__calloc(1, sizeof *h);
    if (!rc && !h)
        rc = mnemo__err_nomem("vector index");
    vec_state *st = NULL;
    if (!rc && (rc = mnemo_vector__state_open(&st, db)) != 0)
        mnemo__free(h);
    if (rc)
        return rc;
    pthread_mutex_init(&h->lock, NULL);
    h->db = db;
    h->budget = b;
    h->bytes = b ? mnemo_vector__index_bytes(st) : 0;
    atomic_store(&h->st, st);
    atomic_store(&h->loaded_now, 1);
    if (b) {
        pthread_mutex_lock(&b->lock);
        h->next = &b->ring;
        h->prev = b->ring.prev;
        b->ring.prev->next = h;
        b->ring.prev = h;
        atomic_fetch_add(&b->loaded_bytes, h->bytes);
        pthread_mutex_unlock(&b->lock);
    }
    *out = h;
    return 0;
}

static void holder_destroy(mnemo_db *db, void *p)
{
    vec_holder *h = p;
    if (h->budget) {
        pthread_mutex_lock(&h->budget->lock);
        h->prev->next = h->next;
        h->next->prev = h->prev;
        pthread_mutex_unlock(&h->budget->lock);
    }
    pthread_mutex_lock(&h->lock); /* waits for an eviction of this one that is closing its state */
    vec_state *st = atomic_load(&h->st);
    pthread_mutex_unlock(&h->lock);
    if (st && h->budget)
        atomic_fetch_sub(&h->budget->loaded_bytes, h->bytes);
    if (st)
        mnemo_vector__state_close(db, st);
    pthread_mutex_destroy(&h->lock);
    mnemo__free(h);
}

static const mnemo_module_ops vector_module = {holder_init, holder_destroy};

/* Neither a transaction's write set nor background work holds it. */
static int idle(vec_state *st)
{
    if (atomic_load(&st->open_txns))
        return 0;
    pthread_mutex_lock(&st->bg_lock);
    int busy = st->bg_job || st->want_rebuild || st->want_snapshot;
    pthread_mutex_unlock(&st->bg_lock);
    return !busy;
}

typedef struct victim {
    uint64_t last_use;
    vec_holder *h;
    vec_state *st;
} victim;

static int older_first(const void *a, const void *b)
{
    uint64_t x = ((const victim *)a)->last_use, y = ((const victim *)b)->last_use;
    return x < y ? -1 : x > y;
}

/* After self's index loaded, or a call found the limit exceeded: while the loaded indexes hold more
 * than the limit, the least recently used idle ones other than self are evicted, down to 7/8 of it
 * so that the next loads do not each evict again. What is busy now is passed over (the limit is
 * then exceeded until a call RETRY_TICKS later tries again). The victims' last snapshots are
 * written after the budget's lock is let go: other loads wait only for the choice. */
static void make_room(vec_holder *self, uint64_t now)
{
    vec_budget *b = self->budget;
    if (!b || !b->limit)
        return;
    pthread_mutex_lock(&b->lock);
    /* n counts every holder, loaded or not: the ring changes only under b->lock, but other
     * handles' loads (holder_get, under their own locks) go on meanwhile, so the loaded ones the
     * next loop finds can be more than this one counted */
    size_t total = 0, n = 0;
    for (vec_holder *h = b->ring.next; h != &b->ring; h = h->next, n++)
        if (atomic_load(&h->st))
            total += h->bytes;
    victim *v = total > b->limit ? mnemo__malloc(n * sizeof *v) : NULL; /* none: try at the next load */
    size_t nv = 0, chosen = 0;
    for (vec_holder *h = b->ring.next; v && h != &b->ring; h = h->next)
        if (h != self && atomic_load(&h->st))
            v[nv++] = (victim){atomic_load_explicit(&h->last_use, memory_order_relaxed), h, NULL};
    if (v)
        qsort(v, nv, sizeof *v, older_first);
    size_t target = b->limit - b->limit / 8;
    /* 1. unpublish the states of the oldest idle ones, keeping their holders locked */
    for (size_t i = 0; i < nv && total > target; i++) {
        vec_holder *h = v[i].h;
        if (pthread_mutex_trylock(&h->lock))
            continue; /* loading or being closed: in use */
        vec_state *st = atomic_load(&h->st);
        if (st && idle(st)) {
            atomic_store(&h->st, NULL);
            total -= h->bytes;
            v[chosen++] = (victim){0, h, st};
        } else {
            pthread_mutex_unlock(&h->lock);
        }
    }
    /* 2. one barrier, then a call found on a handle puts its state back; the others go */
    if (chosen)
        mnemo_guard__barrier();
    size_t going = 0;
    for (size_t i = 0; i < chosen; i++) {
        vec_holder *h = v[i].h;
        if (mnemo_guard__busy(h->db) || atomic_load(&v[i].st->open_txns)) {
            atomic_store(&h->st, v[i].st);
            total += h->bytes;
            pthread_mutex_unlock(&h->lock);
        } else {
            atomic_fetch_sub(&b->loaded_bytes, h->bytes);
            b->evictions++;
            v[going++] = v[i];
        }
    }
    if (total > b->limit)
        atomic_store(&b->retry_at, now + RETRY_TICKS);
    pthread_mutex_unlock(&b->lock);
    /* 3. each victim's holder stays locked until its state is gone (holder_destroy waits for it) */
    for (size_t i = 0; i < going; i++) {
        mnemo_vector__state_close(v[i].h->db, v[i].st);
        pthread_mutex_unlock(&v[i].h->lock);
    }
    mnemo__free(v);
}

/* h's state, loaded again if it was evicted; a load makes room for itself. */
static int holder_get(vec_state **out, vec_holder *h)
{
    vec_state *st = atomic_load(&h->st);
    if (!st) {
        pthread_mutex_lock(&h->lock);
        int rc = 0;
        if (!(st = atomic_load(&h->st)) && (rc = mnemo_vector__state_open(&st, h->db)) == 0) {
            h->bytes = mnemo_vector__index_bytes(st);
            if (h->budget)
                atomic_fetch_add(&h->budget->loaded_bytes, h->bytes);
            atomic_store(&h->st, st);
            atomic_store(&h->loaded_now, 1);
        }
        pthread_mutex_unlock(&h->lock);
        if (rc)
            return rc;
    }
    vec_budget *b = h->budget;
    if (b) {
        uint64_t now = atomic_fetch_add_explicit(&b->clock, 1, memory_order_relaxed) + 1;
        atomic_store_explicit(&h->last_use, now, memory_order_relaxed);
        int fresh = atomic_load_explicit(&h->loaded_now, memory_order_relaxed) && atomic_exchange(&h->loaded_now, 0);
        if (fresh || (b->limit && atomic_load_explicit(&b->loaded_bytes, memory_order_relaxed) > b->limit &&
                      now >= atomic_load_explicit(&b->retry_at, memory_order_relaxed)))
            make_room(h, now);
    }
    *out = st;
    return 0;
}

int mnemo_vector__state(vec_state **st, mnemo_db *db, const char *fn)
{
    void *p;
    int rc = mnemo_db__module(&p, db, &vector_module);
    if (rc == MNEMO_EINVAL)
        return mnemo__err(MNEMO_EINVAL, "%s: the database has no vector space (open it with vector_dim set)", fn);
    return rc ? rc : holder_get(st, p);
}

/* A collection whose index has not been loaded yet has this module's state (no data): there is a
 * vector space to load (docs/collections.md: a database of many collections pays only for those
 * it searches). */
static int space_flag_init(mnemo_db *db, void **state)
{
    (void)db;
    static const char present = 1;
    *state = (void *)&present;
    return 0;
}
static const mnemo_module_ops space_flag_module = {space_flag_init, NULL};

int mnemo_vector__defer(mnemo_db *db)
{
    void *flag;
    return mnemo_db__module(&flag, db, &space_flag_module);
}

int mnemo_vector__loaded(vec_state **st, mnemo_db *db, const char *fn)
{
    vec_holder *h = mnemo_db__module_peek(db, &vector_module);
    if (h)
        return holder_get(st, h);
    *st = NULL;
    if (!mnemo_db__module_peek(db, &space_flag_module))
        return 0;
    return mnemo_vector__state(st, db, fn);
}

void mnemo_vector__residency(mnemo_db *db, size_t *loaded, size_t *bytes, uint64_t *evictions)
{
    vec_budget *b = mnemo_db__module_peek(mnemo_db__root(db), &budget_module);
    *loaded = *bytes = 0;
    *evictions = 0;
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    for (vec_holder *h = b->ring.next; h != &b->ring; h = h->next)
        if (atomic_load(&h->st)) {
            ++*loaded;
            *bytes += h->bytes;
        }
    *evictions = b->evictions;
    pthread_mutex_unlock(&b->lock);
}
