/* Transactions over the store interface (src/store/store.h): point reads and writes for every
 * module, commit hooks, poisoning, the retry helper. Engine-neutral: the engine is db->ops. */
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/error.h"
#include "txn/txn_impl.h"

#define TDB(db) MNEMO_TXN_DB(db)

static void sleep_us(unsigned us);

const char *mnemo_cf__name(mnemo_cf cf) { return (unsigned)cf < MNEMO_CF_COUNT ? mnemo_keyspaces[cf].name : "?"; }

void mnemo_res__init_list(mnemo_res *s) { s->prev = s->next = s; }

void mnemo_res__link(mnemo_res *s, mnemo_res *r)
{
    r->next = s->next;
    r->prev = s;
    s->next->prev = r;
    s->next = r;
}

void mnemo_res__unlink(mnemo_res *r)
{
    if (r->next) {
        r->prev->next = r->next;
        r->next->prev = r->prev;
    }
    r->prev = r->next = NULL;
}

const mnemo_options *mnemo_db__options(mnemo_db *db) { return &TDB(db)->opts; }

struct mnemo_cache *mnemo_db__cache(mnemo_db *db) { return TDB(db)->cache; }

int mnemo_db__shared(mnemo_db *db) { return TDB(db)->shared; }

uint64_t mnemo_db__last_seq(mnemo_db *db)
{
    return TDB(db)->ops->last_seq ? TDB(db)->ops->last_seq(TDB(db)->store) : 0;
}

struct mnemo_cache *mnemo_db__cache_read(mnemo_db *db)
{
    mnemo_txn_db *t = TDB(db);
    if (!t->cache || !t->shared)
        return t->cache;
    uint64_t now = t->ops->last_seq(t->store), known = atomic_load(&t->cache_seq);
    if (now != known) {
        /* Someone committed since: clearing bumps every fill epoch, so a fill that read before
         * the clear is refused too. Only then is the new sequence published. */
        mnemo_cache__clear(t->cache);
        while (known < now && !atomic_compare_exchange_weak(&t->cache_seq, &known, now))
            ;
    }
    return t->cache;
}

/* A commit of this process that wrote seq (a transaction's, or an auto-commit write's): when
 * nothing else committed since the cache was last known current, its own invalidation (the write
 * brackets) kept the cache current. */
static void cache_seq_own_commit(mnemo_txn_db *t, uint64_t seq)
{
    if (!t->ops->shared)
        return;
    uint64_t prev = seq - 1;
    if (t->cache)
        atomic_compare_exchange_strong(&t->cache_seq, &prev, seq);
    /* The run of own sequences grows by one that follows it; a gap means another process (or an
     * own commit whose report comes later: counted as foreign, which only costs a rescan). */
    mnemo_txn_db *r = TDB(t->root);
    pthread_mutex_lock(&r->own_lock);
    if (seq == r->own_to + 1) {
        r->own_to = seq;
    } else if (seq > r->own_to) {
        r->own_from = seq - 1;
        r->own_to = seq;
    }
    pthread_mutex_unlock(&r->own_lock);
}

int mnemo_db__own_since(mnemo_db *db, uint64_t from, uint64_t to)
{
    mnemo_txn_db *r = TDB(TDB(db)->root);
    if (!r->ops->shared)
        return 0;
    pthread_mutex_lock(&r->own_lock);
    int own = r->own_from <= from && to <= r->own_to;
    pthread_mutex_unlock(&r->own_lock);
    return own;
}

uint64_t mnemo_txn__commit_seq(mnemo_txn *txn) { return txn->commit_seq; }

/* A write outside a transaction on the handle of a dropped collection (a module's bookkeeping after
 * the drop, e.g. at close, or an index's snapshot when index_memory_limit evicts it): refused, so
 * nothing lands under a prefix its reclaim has emptied. Where other processes share the store, a
 * drop there is looked up first: this process may have made no call on the handle since. */
static int dropped_refuses(mnemo_db *db, const char *what)
{
    if (TDB(db)->kprefix_len && TDB(db)->shared && !TDB(db)->reclaiming)
        mnemo_txn__collection_recheck(TDB(db));
    if (atomic_load(&TDB(db)->dropped) && !TDB(db)->reclaiming)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: the collection of this handle was dropped", what);
    return 0;
}

int mnemo_txn__update_one(mnemo_db *db, mnemo_cf cf, const void *key, size_t klen, mnemo_update_fn fn, void *arg)
{
    const mnemo_store_ops *ops = TDB(db)->ops;
    mnemo_store *s = TDB(db)->store;
    int drc = dropped_refuses(db, "update");
    if (drc)
        return drc;
    mnemo_scoped_key sk;
    int src = mnemo_txn__scope(&sk, TDB(db), cf, key, klen);
    if (src)
        return src;
    key = sk.p;
    klen = sk.n;
    int rc = MNEMO_EBUSY;
    for (unsigned attempt = 1; attempt <= 100 && rc == MNEMO_EBUSY; attempt++) {
        mnemo_store_txn *t;
        if ((rc = ops->txn_begin(&t, s, 0)) != 0)
            break;
        mnemo_store_value v = {0};
        rc = ops->get(s, t, (unsigned)cf, key, klen, 1, &v);
        void *out = NULL;
        size_t olen = 0;
        if (rc == 0 || rc == MNEMO_ENOTFOUND) {
            int found = rc == 0;
            rc = fn(arg, found ? v.data : NULL, found ? v.len : 0, &out, &olen);
            if (found)
                ops->release_value(s, &v);
        }
        if (rc == 0) {
            uint64_t seq, snap = ops->txn_version(t);
            rc = out ? ops->put(t, (unsigned)cf, key, klen, out, olen) : ops->del(t, (unsigned)cf, key, klen);
            /* a commit that changed nothing reports its snapshot's sequence: maybe another's */
            if (rc == 0 && (rc = ops->txn_commit(t, &seq)) == 0 && seq > snap)
                cache_seq_own_commit(TDB(db), seq);
        }
        mnemo__free(out);
        ops->txn_free(t);
        if (rc == MNEMO_EBUSY)
            sleep_us(100u * attempt);
    }
    mnemo_scoped_key__free(&sk);
    if (rc == MNEMO_EBUSY)
        return mnemo__err(MNEMO_EBUSY, "update of a key in %s: still conflicting after 100 attempts", mnemo_cf__name(cf));
    return rc;
}

int mnemo_txn__put_at_commit(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *prefix, size_t plen,
                             const void *val, size_t vlen)
{
    if (!TDB(db)->ops->put_at_commit)
        return mnemo__err(MNEMO_ENOTSUP, "put_at_commit: the %s engine has none", TDB(db)->ops->name);
    mnemo_scoped_key sk;
    int rc = mnemo_txn__per_collection(cf, prefix, plen) ? mnemo_txn__collection_live(db, txn) : 0;
    if (rc || (rc = mnemo_txn__scope(&sk, TDB(db), cf, prefix, plen)) != 0)
        return rc;
    txn->writes++;
    rc = TDB(db)->ops->put_at_commit(txn->st, (unsigned)cf, sk.p, sk.n, val, vlen);
    mnemo_scoped_key__free(&sk);
    return rc;
}

/* Keys a collection's estimate counts before it takes the store's (whole keyspace's) instead. */
#define COLLECTION_COUNT_CAP 4096

uint64_t mnemo_db__estimate_keys(mnemo_db *db, mnemo_cf cf)
{
    uint64_t all = TDB(db)->ops->estimate_keys(TDB(db)->store, (unsigned)cf);
    if (!TDB(db)->kprefix_len || !(mnemo_keyspaces[cf].hints & MNEMO_KS_PER_COLLECTION))
        return all;
    /* The store knows keyspaces, not collections: a small collection's keys are counted (a new
     * collection's index sized for the whole database's vectors faulted in memory for all of them:
     * a third of a many-collection build), a large one's estimate stays the keyspace's. */
    mnemo_cursor *c;
    if (mnemo_cursor__open(&c, db, NULL, cf, NULL, 0, NULL, 0))
        return all;
    uint64_t n = 0;
    for (mnemo_cursor__first(c); n < COLLECTION_COUNT_CAP && mnemo_cursor__valid(c); mnemo_cursor__next(c))
        n++;
    mnemo_cursor__close(c);
    return n < COLLECTION_COUNT_CAP ? n : all;
}

void *mnemo_db__module_peek(mnemo_db *db, const mnemo_module_ops *ops)
{
    mnemo_txn_db *t = TDB(db);
    unsigned n = atomic_load_explicit(&t->n_modules, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (t->modules[i].ops == ops)
            return t->modules[i].state;
    return NULL;
}

int mnemo_db__module(void **state, mnemo_db *db, const mnemo_module_ops *ops)
{
    void *s = mnemo_db__module_peek(db, ops);
    if (s) {
        *state = s;
        return 0;
    }
    mnemo_txn_db *t = TDB(db);
    int rc = 0;
    pthread_mutex_lock(&t->module_lock);
    s = mnemo_db__module_peek(db, ops);
    if (!s) {
        unsigned n = atomic_load_explicit(&t->n_modules, memory_order_relaxed);
        if (n == MNEMO_DB_MAX_MODULES)
            rc = mnemo__err(MNEMO_EFULL, "module state: more than %d modules", MNEMO_DB_MAX_MODULES);
        else if ((rc = ops->init(db, &s)) == 0) {
            t->modules[n].ops = ops;
            t->modules[n].state = s;
            atomic_store_explicit(&t->n_modules, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&t->module_lock);
    if (!rc)
        *state = s;
    return rc;
}

void mnemo_txn__modules_destroy(mnemo_txn_db *tdb)
{
    for (unsigned i = atomic_load(&tdb->n_modules); i-- > 0;) {
        mnemo_module_slot *m = &tdb->modules[i];
        if (m->ops->destroy)
            m->ops->destroy((mnemo_db *)(void *)tdb, m->state);
        m->ops = NULL;
        m->state = NULL;
    }
    atomic_store(&tdb->n_modules, 0);
}

void mnemo_txn__close_all(mnemo_txn_db *tdb)
{
    pthread_mutex_lock(&tdb->res_lock);
    while (tdb->res.next != &tdb->res) {
        mnemo_res *r = tdb->res.next;
        mnemo_res__unlink(r);
        r->invalidate(r);
    }
    pthread_mutex_unlock(&tdb->res_lock);
}

mnemo_db *mnemo_txn__db(mnemo_txn *txn) { return txn ? txn->db : NULL; }

static const char *state_name(enum mnemo_txn_state s)
{
    switch (s) {
    case TXN_OPEN: return "open";
    case TXN_COMMITTED: return "already committed";
    case TXN_ROLLED_BACK: return "already rolled back";
    case TXN_FAILED: return "finished by a failed commit";
    case TXN_DB_CLOSED: return "dead: its database was closed";
    }
    return "?";
}

static int check_open(mnemo_txn *txn, const char *fn)
{
    if (!txn)
        return mnemo__err(MNEMO_EINVAL, "%s: transaction is NULL", fn);
    if (txn->state != TXN_OPEN)
        return mnemo__err(MNEMO_EINVAL, "%s: transaction is %s", fn, state_name(txn->state));
    return 0;
}

static int check_write(mnemo_db *db, mnemo_txn *txn, const char *fn)
{
    if (TDB(db)->follower)
        return mnemo__err(MNEMO_EREADONLY, "%s: database '%s' is open read-only as a follower of the process that "
                          "holds it for writing; write through that process (or use the lmdb engine, which several "
                          "processes can open read-write)", fn, TDB(db)->path);
    if (TDB(db)->opts.read_only)
        return mnemo__err(MNEMO_EREADONLY, "%s: database '%s' is open read-only", fn, TDB(db)->path);
    if (txn && txn->read_only)
        return mnemo__err(MNEMO_EREADONLY, "%s: transaction is read-only", fn);
    return 0;
}

/* ---- guards (txn.h) ---- */

static _Thread_local mnemo_guard *guard_top; /* this thread's innermost guard */
static _Thread_local char thread_token;      /* its address names this thread */

static uintptr_t this_thread(void) { return (uintptr_t)&thread_token; }

int mnemo_guard__held(mnemo_db *db)
{
    /* A call on one of db's collections counts: closing db closes them. */
    for (mnemo_guard *g = guard_top; g; g = g->up)
        if (g->db == db || TDB(g->db)->root == db)
            return 1;
    return 0;
}

/* Counting calls in. A call must be seen by a closer that has set the magic, or see the magic:
 * a store of "in a call" and a load of the magic on one side, a store of the magic and a load of
 * the calls on the other, each pair ordered. With one shared counter that is a locked
 * read-modify-write per call, and two per call cost more than an LMDB cursor move. So a thread
 * marks its calls in slots of its own record, with plain stores, and a closer makes every thread
 * of the process pass a full barrier (membarrier, private expedited) before it reads the slots:
 * a thread then either has its mark visible or sees the magic. Without membarrier (an old
 * kernel, a seccomp filter), nested deeper than GUARD_SLOTS, or before the thread's record exists,
 * calls are counted in db's counter as before. */
#define GUARD_SLOTS 8
typedef struct guard_rec {
    struct guard_rec *next, *prev;
    _Atomic(mnemo_db *) slot[GUARD_SLOTS];
} guard_rec;

static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;
static guard_rec recs = {&recs, &recs, {NULL}}; /* every thread's record, a ring */
static pthread_once_t recs_once = PTHREAD_ONCE_INIT;
static pthread_key_t rec_key;
static int slots_on; /* membarrier registered and rec_key made: set once, in recs_init */
static _Thread_local guard_rec *my_rec;
static _Thread_local unsigned my_depth; /* slots below it may be in use */

/* libc's allocator, not mnemo's hook: a record outlives any database and is freed at thread exit.
 * Key destructors run on the exiting thread, and a later one (the application's) may still call
 * mnemo: my_rec forgets the record, so such a call makes a new one (freed by the next round of
 * destructors) instead of writing into this one after it is freed. */
static void rec_free(void *p)
{
    guard_rec *r = p;
    if (my_rec == r)
        my_rec = NULL;
    pthread_mutex_lock(&recs_lock);
    r->prev->next = r->next;
    r->next->prev = r->prev;
    pthread_mutex_unlock(&recs_lock);
    free(r);
}

static int membarrier_register(void)
{
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

/* A forked child is a new process to membarrier: register it again (a no-op if inherited). */
static void recs_atfork_child(void) { (void)membarrier_register(); }

static void recs_init(void)
{
    slots_on = membarrier_register() && pthread_key_create(&rec_key, rec_free) == 0 &&
               pthread_atfork(NULL, NULL, recs_atfork_child) == 0;
}

static guard_rec *rec_of_thread(void)
{
    if (my_rec)
        return my_rec;
    pthread_once(&recs_once, recs_init);
    guard_rec *r = slots_on ? calloc(1, sizeof *r) : NULL;
    if (!r)
        return NULL;
    if (pthread_setspecific(rec_key, r)) {
        free(r);
        return NULL;
    }
    pthread_mutex_lock(&recs_lock);
    r->next = recs.next;
    r->prev = &recs;
    recs.next->prev = r;
    recs.next = r;
    pthread_mutex_unlock(&recs_lock);
    return my_rec = r;
}

static void mark_in(mnemo_guard *g, mnemo_db *db)
{
    guard_rec *r = my_depth < GUARD_SLOTS ? rec_of_thread() : NULL;
    if (r) {
        atomic_store_explicit(&r->slot[my_depth], db, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the CPU's part is the closer's membarrier */
        g->slot = ++my_depth;
    } else {
        atomic_fetch_add(&TDB(db)->calls, 1);
        g->slot = 0;
    }
}

static void mark_out(mnemo_guard *g, mnemo_db *db)
{
    if (!g->slot) {
        atomic_fetch_sub(&TDB(db)->calls, 1);
        return;
    }
    atomic_store_explicit(&my_rec->slot[g->slot - 1], NULL, memory_order_release);
    while (my_depth && !atomic_load_explicit(&my_rec->slot[my_depth - 1], memory_order_relaxed))
        my_depth--; /* guards end in reverse order, but a hole would only cost a slot */
    g->slot = 0;
}

static int slots_hold(mnemo_db *db)
{
    int held = 0;
    pthread_mutex_lock(&recs_lock);
    for (guard_rec *r = recs.next; r != &recs && !held; r = r->next)
        for (unsigned i = 0; i < GUARD_SLOTS && !held; i++)
            held = atomic_load_explicit(&r->slot[i], memory_order_acquire) == db;
    pthread_mutex_unlock(&recs_lock);
    return held;
}

void mnemo_guard__barrier(void)
{
    pthread_once(&recs_once, recs_init);
    if (slots_on)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    else
        atomic_thread_fence(memory_order_seq_cst); /* the counters are seq_cst read-modify-writes */
}

int mnemo_guard__busy(mnemo_db *db)
{
    return atomic_load(&TDB(db)->calls) != 0 || (slots_on && slots_hold(db));
}

void mnemo_guard__wait_calls(mnemo_db *db)
{
    mnemo_guard__barrier();
    while (mnemo_guard__busy(db)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

/* Counts the call in, then looks at the magic (see above): either the call sees the db closing or
 * close sees the call and waits for it. 0: entered; else *magic says what kept the call out. */
static int try_enter_db(mnemo_guard *g, mnemo_db *db, unsigned *magic)
{
    mark_in(g, db);
    *magic = g->slot ? atomic_load_explicit(&TDB(db)->magic, memory_order_relaxed) : atomic_load(&TDB(db)->magic);
    /* A call nested in one this thread has in flight finishes its work: close waits for both. */
    if (*magic != MNEMO_DB_MAGIC_OPEN && !(*magic == MNEMO_DB_MAGIC_CLOSING && mnemo_guard__held(db))) {
        mark_out(g, db);
        return -1;
    }
    g->db = db;
    g->txn = NULL;
    g->up = guard_top;
    guard_top = g;
    return 0;
}

static int enter_db(mnemo_guard *g, mnemo_db *db, const char *fn)
{
    unsigned magic;
    if (!db)
        return mnemo__err(MNEMO_EINVAL, "%s: database handle is NULL", fn);
    if (try_enter_db(g, db, &magic))
        return mnemo__err(MNEMO_EINVAL, "%s: database handle is closed", fn);
    return 0;
}

static int claim_txn(mnemo_guard *g, mnemo_txn *txn)
{
    uintptr_t me = this_thread(), none = 0;
    if (atomic_load(&txn->owner) == me)
        txn->depth++;
    else if (atomic_compare_exchange_strong(&txn->owner, &none, me))
        txn->depth = 1;
    else
        return 0;
    g->txn = txn;
    return 1;
}

void mnemo_guard__leave(mnemo_guard *g)
{
    if (!g->db)
        return;
    if (g->txn && --g->txn->depth == 0)
        atomic_store(&g->txn->owner, (uintptr_t)0);
    guard_top = g->up;
    mark_out(g, g->db);
    g->db = NULL;
    g->txn = NULL;
}

static int enter(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn, int write, const char *fn)
{
    int rc = enter_db(g, db, fn);
    if (!rc && TDB(db)->kprefix_len && TDB(db)->shared && !TDB(db)->reclaiming)
        mnemo_txn__collection_recheck(TDB(db));
    if (!rc && atomic_load_explicit(&TDB(db)->dropped, memory_order_acquire) && !TDB(db)->reclaiming) {
        rc = mnemo__err(MNEMO_ENOTFOUND, "%s: the collection of this handle was dropped", fn);
        mnemo_guard__leave(g);
    }
    if (rc || (!txn && !write))
        return rc;
    if (txn && txn->db != db && TDB(txn->db)->root != TDB(db)->root)
        rc = mnemo__err(MNEMO_EINVAL, "%s: transaction belongs to another database", fn);
    else if (txn && !claim_txn(g, txn))
        rc = mnemo__err(MNEMO_EINVAL, "%s: transaction is in use by another thread (a transaction belongs to one "
                                      "thread at a time)", fn);
    else if (txn)
        rc = check_open(txn, fn);
    if (!rc && write)
        rc = check_write(db, txn, fn);
    if (rc)
        mnemo_guard__leave(g);
    return rc;
}

int mnemo_guard__db(mnemo_guard *g, mnemo_db *db, const char *fn) { return enter(g, db, NULL, 0, fn); }

int mnemo_guard__txn(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn, const char *fn)
{
    return enter(g, db, txn, 0, fn);
}

int mnemo_guard__write(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn, const char *fn)
{
    return enter(g, db, txn, 1, fn);
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

int mnemo_guard__free(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn)
{
    for (;;) {
        unsigned magic;
        if (try_enter_db(g, db, &magic) == 0) {
            if (!txn || claim_txn(g, txn))
                return 0;
            mnemo_guard__leave(g);
        } else if (magic == MNEMO_DB_MAGIC_CLOSED) {
            return 1; /* close has invalidated everything: nothing of db is touched any more */
        }
        pause_briefly(); /* a close under way, or another thread's call on txn */
    }
}

/* ---- lifecycle ---- */

static void release_store_txn(mnemo_txn *txn, mnemo_db *db)
{
    mnemo_txn__invalidate_cursors(txn);
    if (txn->st)
        TDB(db)->ops->txn_free(txn->st); /* rolls back what was not committed */
    txn->st = NULL;
}

static void run_after_hooks(mnemo_txn *txn, int committed)
{
    /* Detach first: a hook may not re-enter, and each runs exactly once. */
    mnemo_txn_hook *hooks = txn->hooks;
    size_t n = txn->n_hooks;
    txn->hooks = NULL;
    txn->n_hooks = txn->cap_hooks = 0;
    for (size_t i = 0; i < n; i++)
        if (hooks[i].after)
            hooks[i].after(txn, hooks[i].arg, committed);
    mnemo__free(hooks);
}

/* Called by mnemo_close with the db's res_lock held. */
static void txn_invalidate(mnemo_res *res)
{
    mnemo_txn *txn = (mnemo_txn *)res;
    release_store_txn(txn, txn->db);
    txn->state = TXN_DB_CLOSED; /* before the hooks, which must not see a usable txn */
    run_after_hooks(txn, 0);
}

int mnemo_txn_begin(mnemo_txn **out, mnemo_db *db, unsigned flags)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__db(&g, db, "mnemo_txn_begin");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_txn_begin: out is NULL");
    if (flags & ~(unsigned)MNEMO_TXN_READONLY)
        return mnemo__err(MNEMO_EINVAL, "mnemo_txn_begin: unknown flags 0x%x", flags & ~(unsigned)MNEMO_TXN_READONLY);
    mnemo_txn *txn = mnemo__calloc(1, sizeof *txn);
    if (!txn)
        return mnemo__err_nomem("mnemo_txn_begin");
    txn->db = db;
    txn->flags = flags;
    txn->read_only = (flags & MNEMO_TXN_READONLY) || TDB(db)->opts.read_only;
    txn->res.invalidate = txn_invalidate;
    mnemo_res__init_list(&txn->cursors);
    if ((rc = TDB(db)->ops->txn_begin(&txn->st, TDB(db)->store, txn->read_only)) != 0) {
        mnemo__free(txn);
        return rc;
    }
    txn->state = TXN_OPEN;
    pthread_mutex_lock(&TDB(db)->res_lock);
    mnemo_res__link(&TDB(db)->res, &txn->res);
    pthread_mutex_unlock(&TDB(db)->res_lock);
    *out = txn;
    return 0;
}

/* Ends an open transaction: the store's transaction released, hooks told, unlinked from its db. */
static void finish(mnemo_txn *txn, enum mnemo_txn_state state, int committed)
{
    mnemo_db *db = txn->db;
    release_store_txn(txn, db);
    txn->state = state;
    run_after_hooks(txn, committed);
    pthread_mutex_lock(&TDB(db)->res_lock);
    mnemo_res__unlink(&txn->res);
    pthread_mutex_unlock(&TDB(db)->res_lock);
}

uint64_t mnemo_txn__writes(mnemo_txn *txn) { return txn->writes; }

void mnemo_txn__poison(mnemo_txn *txn, int rc)
{
    if (txn->poison_rc)
        return; /* the first failure is the one to report */
    txn->poison_rc = rc;
    snprintf(txn->poison_msg, sizeof txn->poison_msg, "%s", mnemo_errmsg());
}

int mnemo_txn__run_op(mnemo_db *db, mnemo_txn *txn, mnemo_txn_fn op, void *arg)
{
    if (!txn)
        return mnemo_txn_run(db, 0, op, arg, NULL);
    uint64_t before = txn->writes;
    int rc = op(txn, arg);
    if (rc && txn->writes != before)
        mnemo_txn__poison(txn, rc);
    return rc;
}

int mnemo_txn_commit(mnemo_txn *txn)
{
    MNEMO_GUARD(g);
    int rc = txn ? mnemo_guard__txn(&g, txn->db, txn, "mnemo_txn_commit") : check_open(txn, "mnemo_txn_commit");
    if (rc)
        return rc;
    if (txn->poison_rc)
        rc = mnemo__err(txn->poison_rc, "mnemo_txn_commit: rolled back, an operation of this transaction failed "
                                        "after writing part of its work (%s)", txn->poison_msg);
    for (size_t i = 0; i < txn->n_hooks && !rc; i++)
        if (txn->hooks[i].before)
            rc = txn->hooks[i].before(txn, txn->hooks[i].arg);
    if (!rc) {
        mnemo_txn__invalidate_cursors(txn); /* engines want cursors gone before the commit */
        uint64_t snap = TDB(txn->db)->ops->txn_version(txn->st);
        if ((rc = TDB(txn->db)->ops->txn_commit(txn->st, &txn->commit_seq)) != 0) {
            char msg[512]; /* copied: the message is formatted into the buffer it comes from */
            snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
            mnemo__err(rc, "mnemo_txn_commit: %s", msg);
            if (rc == MNEMO_EUNKNOWN && TDB(txn->db)->ops->txn_resolve) {
                /* Ask the store now, before the hooks: an applied commit is then this process's
                 * own commit like any other (index and cache see it when the commit returns). */
                int rrc = TDB(txn->db)->ops->txn_resolve(txn->st, &txn->commit_seq);
                if (rrc == 0)
                    rc = 0;
                else if (rrc == MNEMO_EBUSY)
                    rc = mnemo__err(MNEMO_EBUSY, "mnemo_txn_commit: %.300s; resolved: not applied, retry", msg);
                else if (rrc == MNEMO_EUNKNOWN) { /* kept for mnemo_txn__resolve (mnemo_txn_run) */
                    rc = mnemo__err(MNEMO_EUNKNOWN, "mnemo_txn_commit: %.300s", msg);
                    txn->unknown = txn->st;
                    txn->st = NULL;
                } else {
                    rc = rrc;
                }
            }
        }
        if (rc == 0 && txn->commit_seq > snap) { /* a commit that wrote (an empty one reports snap) */
            cache_seq_own_commit(TDB(txn->db), txn->commit_seq);
        }
    }
    finish(txn, rc ? TXN_FAILED : TXN_COMMITTED, rc == 0);
    return rc;
}

int mnemo_txn_rollback(mnemo_txn *txn)
{
    MNEMO_GUARD(g);
    int rc = txn ? mnemo_guard__txn(&g, txn->db, txn, "mnemo_txn_rollback") : check_open(txn, "mnemo_txn_rollback");
    if (rc)
        return rc;
    finish(txn, TXN_ROLLED_BACK, 0);
    return 0;
}

void mnemo_txn_free(mnemo_txn *txn)
{
    if (!txn)
        return;
    mnemo_guard g = {0}; /* left by hand: it must not touch txn once freed */
    if (mnemo_guard__free(&g, txn->db, txn) == 0) {
        if (txn->state == TXN_OPEN)
            finish(txn, TXN_ROLLED_BACK, 0);
        mnemo_guard__leave(&g);
    }
    if (txn->unknown) /* engine memory only: freeing it touches no store, closed or not */
        TDB(txn->db)->ops->txn_free(txn->unknown);
    mnemo__free(txn->live);
    mnemo__free(txn);
}

int mnemo_txn__resolve(mnemo_txn *txn)
{
    if (!txn || !txn->unknown)
        return mnemo__err(MNEMO_EINVAL, "resolve: the transaction has no commit of unknown outcome");
    uint64_t seq = 0;
    int rc = TDB(txn->db)->ops->txn_resolve(txn->unknown, &seq);
    if (rc != MNEMO_EUNKNOWN) { /* decided: nothing more to ask */
        TDB(txn->db)->ops->txn_free(txn->unknown);
        txn->unknown = NULL;
    }
    if (rc == 0)
        txn->commit_seq = seq;
    return rc;
}

/* ---- hooks ---- */

int mnemo_txn__add_hook(mnemo_txn *txn, const mnemo_txn_hook *hook)
{
    int rc = check_open(txn, "mnemo_txn__add_hook");
    if (rc)
        return rc;
    if (mnemo_txn__hook_arg(txn, hook->db, hook->owner))
        return MNEMO_EEXISTS;
    if (txn->n_hooks == txn->cap_hooks) {
        size_t cap = txn->cap_hooks ? 2 * txn->cap_hooks : 4;
        mnemo_txn_hook *h = mnemo__realloc(txn->hooks, cap * sizeof *h);
        if (!h)
            return mnemo__err_nomem("transaction hook");
        txn->hooks = h;
        txn->cap_hooks = cap;
    }
    txn->hooks[txn->n_hooks++] = *hook;
    return 0;
}

void *mnemo_txn__hook_arg(mnemo_txn *txn, mnemo_db *db, const void *owner)
{
    for (size_t i = 0; txn && i < txn->n_hooks; i++)
        if (txn->hooks[i].owner == owner && txn->hooks[i].db == db)
            return txn->hooks[i].arg;
    return NULL;
}

/* ---- point reads and writes ---- */

int mnemo_txn__get(char **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key,
                   size_t klen, int track)
{
    mnemo_txn_db *t = TDB(db);
    mnemo_store_value v;
    mnemo_scoped_key sk;
    int rc = mnemo_txn__scope(&sk, t, cf, key, klen);
    if (rc)
        return rc;
    rc = t->ops->get(t->store, txn ? txn->st : NULL, (unsigned)cf, sk.p, sk.n, track, &v);
    mnemo_scoped_key__free(&sk);
    if (rc)
        return rc;
    char *copy = mnemo__memdup(v.data, v.len);
    size_t len = v.len;
    t->ops->release_value(t->store, &v);
    if (!copy)
        return mnemo__err_nomem("read");
    *val = copy;
    *vlen = len;
    return 0;
}

/* What a view holds. `db` is NULL once mnemo_close gave the value back (invalidate, under the
 * db's res_lock, after every guarded call ended); it is read without the lock by a release. */
typedef struct view_node {
    mnemo_res res;
    mnemo_db *_Atomic db;
    mnemo_store_value v;
} view_node;

static void view_invalidate(mnemo_res *res)
{
    view_node *n = (view_node *)res;
    mnemo_db *db = atomic_load_explicit(&n->db, memory_order_relaxed);
    TDB(db)->ops->release_value(TDB(db)->store, &n->v);
    /* release: a release that sees NULL reuses the node (view_node_give) only after this */
    atomic_store_explicit(&n->db, NULL, memory_order_release);
}

/* One spare view node per thread, kept at release for the thread's next view: a borrowed read
 * otherwise pays a malloc and a free (~140 of ~3,400 instructions of an lmdb point read). It is a
 * thread-local (pthread_getspecific + setspecific per view cost ~100 more); a key registered once
 * per thread only gets its destructor to free the spare of a thread that ends. */
static _Thread_local view_node *spare_view;
static _Thread_local int spare_view_registered;
static pthread_key_t spare_view_key;
static pthread_once_t spare_view_once = PTHREAD_ONCE_INIT;

static void spare_view_free(void *unused)
{
    (void)unused;
    mnemo__free(spare_view);
    spare_view = NULL;
    /* glibc cleared the key: a view given back by a later destructor of this thread registers
     * again, which runs this again (found by review: the node was lost) */
    spare_view_registered = 0;
}

static void spare_view_init(void) { (void)pthread_key_create(&spare_view_key, spare_view_free); }

static view_node *view_node_take(void)
{
    view_node *n = spare_view;
    if (!n || mnemo__alloc_fail_pending()) /* tests that fail allocations still reach malloc */
        return mnemo__malloc(sizeof *n);
    spare_view = NULL;
    return n;
}

static void view_node_give(view_node *n)
{
    if (!spare_view_registered) {
        pthread_once(&spare_view_once, spare_view_init);
        spare_view_registered = pthread_setspecific(spare_view_key, &spare_view_registered) == 0;
    }
    if (spare_view || !spare_view_registered) {
        mnemo__free(n);
        return;
    }
    spare_view = n;
}

int mnemo_txn__view(mnemo_view *out, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen,
                    int track)
{
    mnemo_txn_db *t = TDB(db);
    view_node *n = view_node_take(); /* not zeroed: every field is set below */
    if (!n)
        return mnemo__err_nomem("view");
    mnemo_scoped_key sk;
    int rc = mnemo_txn__scope(&sk, t, cf, key, klen);
    if (!rc) {
        rc = t->ops->get(t->store, txn ? txn->st : NULL, (unsigned)cf, sk.p, sk.n, track, &n->v);
        mnemo_scoped_key__free(&sk);
    }
    if (rc) {
        view_node_give(n);
        return rc;
    }
    atomic_store_explicit(&n->db, db, memory_order_relaxed);
    n->res.invalidate = view_invalidate;
    pthread_mutex_lock(&t->res_lock);
    mnemo_res__link(&t->res, &n->res);
    pthread_mutex_unlock(&t->res_lock);
    out->data = n->v.len ? n->v.data : "";
    out->len = n->v.len;
    out->internal_ = n;
    return 0;
}

void mnemo_txn__view_release(mnemo_view *v)
{
    view_node *n = v ? v->internal_ : NULL;
    if (!n)
        return;
    v->data = NULL;
    v->len = 0;
    v->internal_ = NULL;
    /* No guard (a borrowed read's release is on the hot path): the shell's res_lock lives as long as
     * the process (closed shells are never freed, their res_lock never destroyed: txn_db.h). Under
     * it, n->db still set means close has not reached this view, and cannot (close_all takes the
     * lock), so the store is open while the value goes back; NULL means close gave it back already,
     * whether or not the shell has been reopened since. */
    mnemo_db *db = atomic_load_explicit(&n->db, memory_order_acquire);
    if (db) {
        pthread_mutex_lock(&TDB(db)->res_lock);
        if (atomic_load_explicit(&n->db, memory_order_relaxed) == db) {
            mnemo_res__unlink(&n->res);
            TDB(db)->ops->release_value(TDB(db)->store, &n->v);
        }
        pthread_mutex_unlock(&TDB(db)->res_lock);
    }
    view_node_give(n);
}

/* One write alone, at once (auto-commit). */
static int write_one(mnemo_db *db, mnemo_cf cf, int is_delete, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    mnemo_scoped_key sk;
    int rc = dropped_refuses(db, "write");
    if (rc || (rc = mnemo_txn__scope(&sk, TDB(db), cf, key, klen)) != 0)
        return rc;
    mnemo_store_write w = {(unsigned)cf, is_delete, sk.p, sk.n, val, vlen};
    uint64_t seq = 0; /* asked only where other processes commit too (cache_seq_own_commit) */
    rc = TDB(db)->ops->write_batch(TDB(db)->store, &w, 1, TDB(db)->ops->shared ? &seq : NULL);
    mnemo_scoped_key__free(&sk);
    if (!rc && seq)
        cache_seq_own_commit(TDB(db), seq);
    return rc;
}

/* A write into txn through the store op `op` (put, put_untracked, del): the key scoped to db's
 * collection, which must still be live. */
#define TXN_WRITE(db, txn, cf, key, klen, CALL)                             \
    do {                                                                   \
        mnemo_scoped_key sk;                                               \
        int rc_ = TDB(db)->kprefix_len && mnemo_txn__per_collection(cf, key, klen) ? mnemo_txn__collection_live(db, txn) : 0; \
        if (rc_ || (rc_ = mnemo_txn__scope(&sk, TDB(db), cf, key, klen)))  \
            return rc_;                                                    \
        txn->writes++;                                                     \
        rc_ = CALL;                                                        \
        mnemo_scoped_key__free(&sk);                                       \
        return rc_;                                                        \
    } while (0)

int mnemo_txn__put(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen, const void *val,
                   size_t vlen)
{
    if (!txn)
        return write_one(db, cf, 0, key, klen, val, vlen);
    TXN_WRITE(db, txn, cf, key, klen, TDB(db)->ops->put(txn->st, (unsigned)cf, sk.p, sk.n, val, vlen));
}

int mnemo_txn__put_untracked(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen,
                             const void *val, size_t vlen)
{
    TXN_WRITE(db, txn, cf, key, klen, TDB(db)->ops->put_untracked(txn->st, (unsigned)cf, sk.p, sk.n, val, vlen));
}

int mnemo_txn__delete(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen)
{
    if (!txn)
        return write_one(db, cf, 1, key, klen, NULL, 0);
    TXN_WRITE(db, txn, cf, key, klen, TDB(db)->ops->del(txn->st, (unsigned)cf, sk.p, sk.n));
}

/* ---- write batches (auto-commit, several keys at once) ---- */

/* Keys and values are copied into one growing buffer (callers may free theirs at once); entries
 * hold offsets into it until the write turns them into pointers. */
typedef struct batch_entry {
    unsigned cf;
    int is_delete;
    size_t key_off, klen, val_off, vlen;
} batch_entry;

struct mnemo_batch {
    mnemo_db *db;
    char *bytes;
    size_t n_bytes, cap_bytes;
    batch_entry *e;
    size_t n, cap;
    int rc; /* the first failure to grow: reported by write */
};

int mnemo_batch__create(mnemo_batch **out, mnemo_db *db)
{
    mnemo_batch *b = mnemo__calloc(1, sizeof *b);
    if (!b)
        return mnemo__err_nomem("write batch");
    b->db = db;
    *out = b;
    return 0;
}

static void batch_add(mnemo_batch *b, mnemo_cf cf, int is_delete, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    if (b->rc)
        return;
    mnemo_scoped_key sk;
    if ((b->rc = mnemo_txn__scope(&sk, TDB(b->db), cf, key, klen)) != 0)
        return;
    key = sk.p;
    klen = sk.n;
    if ((b->rc = mnemo__grow(&b->e, &b->cap, b->n + 1, sizeof *b->e, 16)) != 0 ||
        (b->rc = mnemo__grow(&b->bytes, &b->cap_bytes, b->n_bytes + klen + vlen, 1, 4096)) != 0) {
        mnemo_scoped_key__free(&sk);
        return;
    }
    batch_entry *e = &b->e[b->n++];
    e->cf = (unsigned)cf;
    e->is_delete = is_delete;
    e->key_off = b->n_bytes;
    e->klen = klen;
    memcpy(b->bytes + b->n_bytes, key, klen);
    b->n_bytes += klen;
    mnemo_scoped_key__free(&sk);
    e->val_off = b->n_bytes;
    e->vlen = vlen;
    if (vlen)
        memcpy(b->bytes + b->n_bytes, val, vlen);
    b->n_bytes += vlen;
}

void mnemo_batch__put(mnemo_batch *b, mnemo_cf cf, const void *key, size_t klen, const void *val, size_t vlen)
{
    batch_add(b, cf, 0, key, klen, val, vlen);
}

void mnemo_batch__delete(mnemo_batch *b, mnemo_cf cf, const void *key, size_t klen)
{
    batch_add(b, cf, 1, key, klen, NULL, 0);
}

int mnemo_batch__write(mnemo_batch *b)
{
    if (b->rc)
        return mnemo__err(b->rc, "batch write: out of memory collecting %zu writes", b->n);
    if (b->n == 0)
        return 0;
    mnemo_store_write *w = mnemo__malloc(b->n * sizeof *w);
    if (!w)
        return mnemo__err_nomem("batch write");
    for (size_t i = 0; i < b->n; i++) {
        const batch_entry *e = &b->e[i];
        w[i] = (mnemo_store_write){e->cf, e->is_delete, b->bytes + e->key_off, e->klen, b->bytes + e->val_off,
                                   e->vlen};
    }
    uint64_t seq = 0;
    int rc = TDB(b->db)->ops->write_batch(TDB(b->db)->store, w, b->n, TDB(b->db)->ops->shared ? &seq : NULL);
    if (!rc && seq)
        cache_seq_own_commit(TDB(b->db), seq);
    mnemo__free(w);
    return rc;
}

void mnemo_batch__free(mnemo_batch *b)
{
    if (!b)
        return;
    mnemo__free(b->bytes);
    mnemo__free(b->e);
    mnemo__free(b);
}

/* ---- auto-commit helpers and the retry loop ---- */

int mnemo_txn__auto_begin(mnemo_txn **t, int *own, mnemo_db *db, mnemo_txn *txn)
{
    if (txn) {
        *t = txn;
        *own = 0;
        return 0;
    }
    *own = 1;
    return mnemo_txn_begin(t, db, 0);
}

int mnemo_txn__auto_end(mnemo_txn *t, int own, int rc)
{
    if (!own)
        return rc;
    if (rc == 0)
        rc = mnemo_txn_commit(t);
    mnemo_txn_free(t);
    return rc;
}

static unsigned jitter(unsigned max)
{
    static _Thread_local uint64_t state;
    if (!state)
        state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return max ? (unsigned)(state % max) : 0;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

int mnemo_txn_run(mnemo_db *db, unsigned flags, mnemo_txn_fn fn, void *arg, const mnemo_txn_retry *retry)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__db(&g, db, "mnemo_txn_run");
    if (rc)
        return rc;
    if (!fn)
        return mnemo__err(MNEMO_EINVAL, "mnemo_txn_run: callback is NULL");
    mnemo_txn_retry r = {MNEMO_TXN_RETRY_VERSION, 100, 50, 20000};
    if (retry) {
        if (retry->version > MNEMO_TXN_RETRY_VERSION)
            return mnemo__err(MNEMO_EINVAL, "mnemo_txn_run: retry version %u is newer than this library",
                              retry->version);
        if (retry->max_attempts)
            r.max_attempts = retry->max_attempts;
        if (retry->initial_backoff_us)
            r.initial_backoff_us = retry->initial_backoff_us;
        if (retry->max_backoff_us)
            r.max_backoff_us = retry->max_backoff_us;
    }
    uint64_t backoff = r.initial_backoff_us < r.max_backoff_us ? r.initial_backoff_us : r.max_backoff_us;
    for (unsigned attempt = 1;; attempt++) {
        mnemo_txn *txn;
        if ((rc = mnemo_txn_begin(&txn, db, flags)) != 0)
            return rc;
        rc = fn(txn, arg);
        if (rc == 0)
            rc = mnemo_txn_commit(txn);
        /* Outcome still unknown (the commit's own resolve could not reach the store either): ask
         * again, by the marker the commit wrote. Applied: done (this process's index and cache
         * catch up from the store, as after another process's commit); not applied: the store
         * fenced it, so it never will be; retry like a conflict. */
        for (unsigned k = 0; rc == MNEMO_EUNKNOWN && txn->unknown && k < r.max_attempts; k++) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
            if ((rc = mnemo_txn__resolve(txn)) == MNEMO_EUNKNOWN) {
                mnemo__err(rc, "%s (not resolved: %.200s)", msg, mnemo_errmsg());
                sleep_us((unsigned)backoff);
            }
        }
        mnemo_txn_free(txn); /* rolls back when fn failed */
        if (rc != MNEMO_EBUSY)
            return rc;
        if (attempt >= r.max_attempts)
            return mnemo__err(MNEMO_EBUSY, "mnemo_txn_run: still conflicting after %u attempts", attempt);
        sleep_us((unsigned)(backoff / 2 + jitter((unsigned)(backoff / 2 + 1))));
        backoff = backoff * 2 > r.max_backoff_us ? r.max_backoff_us : backoff * 2;
    }
}

/* ---- cache invalidation around commits ---- */

typedef struct forget_hook {
    struct mnemo_cache *cache;
    char **keys; /* each: 4-byte length, then the key */
    size_t n, cap;
    int began;
} forget_hook;

static int forget_owner;

static void forget_each(forget_hook *h, void (*fn)(struct mnemo_cache *, const void *, size_t))
{
    for (size_t i = 0; i < h->n; i++) {
        uint32_t len;
        memcpy(&len, h->keys[i], 4);
        fn(h->cache, h->keys[i] + 4, len);
    }
}

static int forget_before(mnemo_txn *txn, void *arg)
{
    (void)txn;
    forget_hook *h = arg;
    forget_each(h, mnemo_cache__write_begin);
    h->began = 1;
    return 0;
}

static void forget_after(mnemo_txn *txn, void *arg, int committed)
{
    (void)txn;
    (void)committed; /* a failed commit changed nothing, but every begin needs its end */
    forget_hook *h = arg;
    if (h->began)
        forget_each(h, mnemo_cache__write_end);
    for (size_t i = 0; i < h->n; i++)
        mnemo__free(h->keys[i]);
    mnemo__free(h->keys);
    mnemo__free(h);
}

int mnemo_txn__cache_forget(mnemo_txn *txn, const void *key, size_t klen)
{
    struct mnemo_cache *cache = mnemo_db__cache(txn->db);
    if (!cache)
        return 0;
    forget_hook *h = mnemo_txn__hook_arg(txn, NULL, &forget_owner);
    if (!h) {
        if (!(h = mnemo__calloc(1, sizeof *h)))
            return mnemo__err_nomem("cache invalidation");
        h->cache = cache;
        mnemo_txn_hook hook = {&forget_owner, forget_before, forget_after, h, NULL};
        int rc = mnemo_txn__add_hook(txn, &hook);
        if (rc) {
            mnemo__free(h);
            return rc;
        }
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        char **k = mnemo__realloc(h->keys, cap * sizeof *k);
        if (!k)
            return mnemo__err_nomem("cache invalidation");
        h->keys = k;
        h->cap = cap;
    }
    char *k = mnemo__malloc(4 + klen);
    if (!k)
        return mnemo__err_nomem("cache invalidation");
    uint32_t len = (uint32_t)klen;
    memcpy(k, &len, 4);
    memcpy(k + 4, key, klen);
    h->keys[h->n++] = k;
    return 0;
}
