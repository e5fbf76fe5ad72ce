/* The HNSW index kept in step with vector_data (DESIGN.md section 4):
 *  - a transaction's vector changes wait in its write set; its before-hook takes commit_lock and
 *    writes one change-log entry ('L' seq -> iids) into the transaction, its after-hook applies the
 *    changes to the index (alone, briefly) only if RocksDB committed, then releases the lock;
 *  - now and then the index is saved as a snapshot ('S' chunks + 'H' header), the header switched
 *    and the covered log entries dropped in one atomic write;
 *  - open loads the snapshot and replays later log entries against vector_data (the truth); a
 *    missing or damaged snapshot is rebuilt from vector_data;
 *  - when deleted slots pile up the index is rebuilt from its live vectors.
 * Snapshots and rebuilds after open run on a background worker (one thread per database, started
 * when first needed): a commit only asks for them, so no commit waits for one (DESIGN 4.9). */
#define _GNU_SOURCE 1
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "vector/vector_impl.h"

#define SNAP_VERSION 1
#define SNAP_HEADER_LEN (1 + 5 * 8 + 3 * 4)
#define SNAP_CHUNK (4u << 20)
#define LOG_VERSION 1
#define SNAP_MIN_CHANGES 20000 /* snapshot after max(this, live vectors) changes */
#define REBUILD_MIN_DELETED 64 /* rebuild when deleted slots pass this and a quarter of all */
#define PARALLEL_MIN 256         /* fewer adds than this run on the calling thread */
#define COPY_ROWS 4096           /* rows a background job reads per hold of the shared lock */
#define SWAP_BELOW 16            /* queued changes a rebuild replays while commits wait (the swap) */
#define HEARTBEAT_MS 1000        /* shared engines: how often a process publishes its applied sequence */

enum { BG_REBUILD = 1, BG_SNAPSHOT = 2 };

void (*mnemo_vector__bg_probe)(const char *stage, const atomic_int *stop);

static void probe(vec_state *st, const char *stage)
{
    if (mnemo_vector__bg_probe)
        mnemo_vector__bg_probe(stage, &st->bg_stop);
}

static const unsigned char HEADER_KEY[1] = {'H'};

/* ---- the id table: iid -> record id ---- */

const char *mnemo_vector__id_of(vec_state *st, uint64_t iid)
{
    size_t v;
    return mnemo_u64map__get(&st->ids, iid, &v) ? (const char *)(uintptr_t)v : NULL;
}

static int ids_put_in(mnemo_u64map *ids, uint64_t iid, const char *id, size_t len)
{
    if (mnemo_u64map__get(ids, iid, NULL))
        return 0; /* an iid's record id never changes */
    char *copy = mnemo__memdup(id, len);
    if (!copy)
        return mnemo__err_nomem("vector index");
    int rc = mnemo_u64map__add(ids, iid, (size_t)(uintptr_t)copy);
    if (rc < 0) {
        mnemo__free(copy);
        return rc;
    }
    return 0;
}

static int ids_put(vec_state *st, uint64_t iid, const char *id, size_t len)
{
    return ids_put_in(&st->ids, iid, id, len);
}

static void ids_free(mnemo_u64map *ids)
{
    for (size_t i = 0; i < ids->cap; i++)
        if (ids->keys[i])
            mnemo__free((void *)(uintptr_t)ids->vals[i]);
    mnemo_u64map__free(ids);
}

static void free_changes(vec_change *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mnemo__free(c[i].vec);
        mnemo__free(c[i].id);
    }
    mnemo__free(c);
}

static void free_pending(vec_pending *p)
{
    while (p) {
        vec_pending *next = p->next;
        free_changes(p->c, p->n);
        mnemo__free(p);
        p = next;
    }
}

void mnemo_vector__state_free(vec_state *st)
{
    if (!st)
        return;
    mnemo_vector__bg_stop(st);
    free_pending(st->pending);
    pthread_mutex_destroy(&st->bg_lock);
    pthread_cond_destroy(&st->bg_wake);
    mnemo_hnsw__free(st->hnsw);
    ids_free(&st->ids);
    mnemo__free(st->damaged);
    pthread_rwlock_destroy(&st->rw);
    pthread_mutex_destroy(&st->commit_lock);
    mnemo__free(st);
}

size_t mnemo_vector__index_bytes(vec_state *st)
{
    pthread_rwlock_rdlock(&st->rw);
    size_t bytes = (st->hnsw ? mnemo_hnsw__memory(st->hnsw) : 0) + st->ids.cap * (sizeof(uint64_t) + sizeof(size_t));
    for (size_t i = 0; i < st->ids.cap; i++)
        if (st->ids.keys[i])
            bytes += strlen((const char *)(uintptr_t)st->ids.vals[i]) + 1;
    pthread_rwlock_unlock(&st->rw);
    return bytes;
}

static int new_index(vec_state *st, mnemo_hnsw **out, size_t capacity)
{
    return mnemo_hnsw__create(out, mnemo_vector__hnsw_kind(st), st->sp.dim, capacity < 64 ? 64 : capacity, st->sp.hnsw_m,
                              st->sp.hnsw_ef_construction, 100);
}

/* ---- adding many vectors on several threads (hnswlib allows adds in parallel) ---- */

typedef struct add_job {
    mnemo_hnsw *h;
    const uint64_t *labels;
    const float *const *vecs;
    size_t n;
    atomic_size_t next;
    atomic_int rc;
    const atomic_int *stop; /* background adds: close asks them to stop (may be NULL) */
    atomic_int running;     /* threads still adding */
} add_job;

static void *add_worker(void *p)
{
    add_job *j = p;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->rc) || (j->stop && atomic_load(j->stop))) {
            atomic_fetch_sub(&j->running, 1);
            return NULL;
        }
        int rc = mnemo_hnsw__add(j->h, j->vecs[i], j->labels[i]);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&j->rc, &zero, rc);
        }
    }
}

/* Adds n vectors (distinct labels) on up to max_threads threads; room must have been reserved. */
static int add_many_on(mnemo_hnsw *h, const uint64_t *labels, const float *const *vecs, size_t n, long max_threads)
{
    add_job j = {h, labels, vecs, n, 0, 0, NULL, 0};
    if (n < PARALLEL_MIN) /* most commits: no thread, and no sysconf (it reads /sys: 3% of a commit) */
        return (add_worker(&j), atomic_load(&j.rc));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpus = cpus < max_threads ? cpus : max_threads;
    size_t nthreads = cpus < 2 ? 1 : cpus > 8 ? 8 : (size_t)cpus;
    pthread_t th[8];
    size_t started = 0;
    for (size_t t = 1; t < nthreads; t++)
        if (pthread_create(&th[started], NULL, add_worker, &j) == 0)
            started++;
    add_worker(&j);
    for (size_t t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    return atomic_load(&j.rc);
}

/* An add thread of a rebuild: idle priority (SCHED_IDLE, else nice 19), so that commits and
 * searches get the cores first. It holds no lock a commit or a search waits for. */
static void *add_worker_idle(void *p)
{
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    return add_worker(p);
}

static int add_many(mnemo_hnsw *h, const uint64_t *labels, const float *const *vecs, size_t n)
{
    return add_many_on(h, labels, vecs, n, 8);
}

static int reserve_for(mnemo_hnsw *h, size_t more)
{
    size_t need = mnemo_hnsw__slots(h) + more, cap = mnemo_hnsw__capacity(h);
    if (need <= cap)
        return 0;
    size_t grown = cap + cap / 2;
    return mnemo_hnsw__reserve(h, need > grown ? need : grown);
}

/* ---- the write set of a transaction and its commit hooks ---- */

static const char txn_owner = 'v';

static void vt_free(vec_txn *vt)
{
    free_changes(vt->c, vt->n);
    mnemo_u64map__free(&vt->pos);
    mnemo__free(vt);
}

/* Writes the change-log entry of the commit about to happen: one key, the changed iids. */
static int write_log(vec_txn *vt, mnemo_txn *txn, uint64_t seq)
{
    size_t len = 1 + 4 + vt->n * 8 + 4;
    unsigned char *v = mnemo__malloc(len), key[9];
    if (!v)
        return mnemo__err_nomem("vector change log");
    v[0] = LOG_VERSION;
    mnemo__put_be32(v + 1, (uint32_t)vt->n);
    for (size_t i = 0; i < vt->n; i++)
        mnemo__put_be64(v + 5 + i * 8, vt->c[i].iid);
    mnemo__put_be32(v + len - 4, mnemo__crc32c(0, v, len - 4));
    key[0] = 'L';
    mnemo__put_be64(key + 1, seq);
    /* shared: keyed by the commit's own sequence, so two processes never write the same key */
    int rc = vt->st->shared ? mnemo_txn__put_at_commit(vt->db, txn, MNEMO_CF_VECTOR_INDEX, key, 1, v, len)
                            : mnemo_txn__put(vt->db, txn, MNEMO_CF_VECTOR_INDEX, key, 9, v, len);
    mnemo__free(v);
    return rc;
}

static int before_commit(mnemo_txn *txn, void *arg)
{
    vec_txn *vt = arg;
    if (vt->n == 0)
        return 0;
    pthread_mutex_lock(&vt->st->commit_lock);
    vt->logged = 1;
    return write_log(vt, txn, vt->st->next_seq);
}

static void prune_ids(vec_state *st);

/* A damaged vector that was put again or deleted is damaged no more. Caller holds rw alone. */
static void resolve_damaged(vec_state *st, uint64_t iid)
{
    for (size_t i = 0; i < st->n_damaged; i++)
        if (st->damaged[i] == iid) {
            st->damaged[i] = st->damaged[--st->n_damaged];
            return;
        }
}

int mnemo_vector__usable(vec_state *st, const char *fn)
{
    int rc = mnemo_vector__catch_up(st);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&st->rw);
    if (st->unreadable[0])
        rc = mnemo__err(MNEMO_ECORRUPT, "%s: the index lacks vectors that cannot be read (%s); run the check",
                        fn, st->unreadable);
    else if (st->n_damaged)
        rc = mnemo__err(MNEMO_ECORRUPT,
                        "%s: the index lacks %zu damaged vector(s), the first at vector_data key %016llx (internal "
                        "id %llu); put or delete them again",
                        fn, st->n_damaged, (unsigned long long)st->damaged[0], (unsigned long long)st->damaged[0]);
    pthread_rwlock_unlock(&st->rw);
    return rc;
}

/* Applies changes to an index and its id table, which the caller has alone. hnswlib never links a
 * new node to a deleted one: once everything is deleted, new nodes would be unreachable from the
 * (deleted) entry point, so an index whose every slot is deleted starts afresh (*restarted). */
static int apply_to(vec_state *st, mnemo_hnsw **hp, mnemo_u64map *ids, const vec_change *c, size_t n,
                    int *restarted, long max_threads)
{
    int rc = 0;
    size_t adds = 0;
    for (size_t i = 0; i < n; i++)
        adds += c[i].vec != NULL;
    uint64_t *labels = adds ? mnemo__malloc(adds * sizeof *labels) : NULL;
    const float **vecs = adds ? mnemo__malloc(adds * sizeof *vecs) : NULL;
    if (adds && (!labels || !vecs)) {
        mnemo__free(labels);
        mnemo__free(vecs);
        return mnemo__err_nomem("vector index");
    }
    for (size_t i = 0; i < n; i++)
        if (!c[i].vec)
            (void)mnemo_hnsw__remove(*hp, c[i].iid); /* absent is fine: nothing to hide */
    mnemo_hnsw *fresh = NULL;
    if (adds && mnemo_hnsw__slots(*hp) && mnemo_hnsw__deleted(*hp) == mnemo_hnsw__slots(*hp) &&
        new_index(st, &fresh, adds) == 0) {
        mnemo_hnsw__free(*hp);
        *hp = fresh;
        *restarted = 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (c[i].vec) {
            labels[k] = c[i].iid;
            vecs[k++] = c[i].vec;
            rc = ids_put_in(ids, c[i].iid, c[i].id, strlen(c[i].id));
        }
    if (!rc)
        rc = reserve_for(*hp, k);
    if (!rc)
        rc = add_many_on(*hp, labels, vecs, k, max_threads);
    mnemo__free(labels);
    mnemo__free(vecs);
    return rc;
}

/* Applies the changes of committed log entry seq to the index. Caller holds commit_lock. */
static int apply(vec_state *st, const vec_change *c, size_t n, uint64_t seq)
{
    pthread_rwlock_wrlock(&st->rw);
    for (size_t i = 0; i < n; i++)
        resolve_damaged(st, c[i].iid);
    int restarted = 0;
    int rc = apply_to(st, &st->hnsw, &st->ids, c, n, &restarted, 8);
    if (restarted) {
        st->rebuilds++;
        prune_ids(st);
    }
    if (!rc) {
        st->applied_seq = seq;
        st->applied_changes += n;
    }
    pthread_rwlock_unlock(&st->rw);
    return rc;
}

static void bg_want(vec_state *st, int rebuild, int snapshot);

/* A rebuild is running: the commit's changes wait for it (ownership moves to the queue). Caller
 * holds commit_lock. */
static void queue_for_rebuild(vec_state *st, vec_txn *vt)
{
    vec_pending *p = mnemo__malloc(sizeof *p);
    pthread_mutex_lock(&st->bg_lock);
    if (!p) {
        st->pending_lost = 1; /* the rebuild cannot know this change: it is abandoned */
    } else {
        *p = (vec_pending){NULL, vt->c, vt->n};
        *st->pending_tail = p;
        st->pending_tail = &p->next;
        vt->c = NULL;
        vt->n = vt->cap = 0;
    }
    pthread_mutex_unlock(&st->bg_lock);
}

static int rebuild_from_data(vec_state *st, mnemo_db *db);

/* The index takes in the changes of committed log entry seq. Caller holds commit_lock. */
static void apply_logged(vec_state *st, vec_txn *vt, uint64_t seq)
{
    st->log_entries++;
    st->changes_since += vt->n;
    /* The commit is durable; the index is a cache of it. If applying fails (memory),
     * rebuild it from vector_data; if even that fails, the index lags: no snapshot may
     * then cover this commit, so the next open replays its log entry. */
    if (apply(st, vt->c, vt->n, seq) != 0) {
        pthread_rwlock_wrlock(&st->rw);
        if (rebuild_from_data(st, vt->db) != 0) {
            st->lagging = 1;
        } else {
            st->applied_seq = seq;
            st->applied_changes += vt->n;
        }
        pthread_rwlock_unlock(&st->rw);
    }
    if (st->rebuilding)
        queue_for_rebuild(st, vt);
    /* Snapshots and rebuilds are asked of the background worker, never done here. */
    size_t slots = mnemo_hnsw__slots(st->hnsw), del = mnemo_hnsw__deleted(st->hnsw);
    bg_want(st, del > REBUILD_MIN_DELETED && del * 4 > slots,
            !st->read_only && st->changes_since >= SNAP_MIN_CHANGES && st->changes_since >= slots - del);
}

static int catch_up_locked(vec_state *st, mnemo_db *db, uint64_t below);
static void heartbeat(vec_state *st, int force);
static uint64_t heartbeat_every(void);

static void after_commit(mnemo_txn *txn, void *arg, int committed)
{
    vec_txn *vt = arg;
    vec_state *st = vt->st;
    if (vt->logged) {
        if (committed && st->shared) {
            /* other processes' entries before this commit first, then this one (its own commit
             * is visible to this process when the commit returns) */
            uint64_t seq = mnemo_txn__commit_seq(txn);
            int crc = catch_up_locked(st, vt->db, seq);
            uint64_t caught = st->applied_seq;
            apply_logged(st, vt, seq);
            if (crc) { /* entries before this one are still missing: the next search replays them */
                pthread_rwlock_wrlock(&st->rw);
                st->applied_seq = caught;
                pthread_rwlock_unlock(&st->rw);
            }
            heartbeat(st, 0);
        } else if (committed) {
            apply_logged(st, vt, st->next_seq++);
        }
        pthread_mutex_unlock(&st->commit_lock);
    }
    vt_free(vt);
    atomic_fetch_sub(&st->open_txns, 1); /* the last touch of st: it may be evicted from here on */
}

int mnemo_vector__txn(vec_txn **out, vec_state *st, mnemo_db *db, mnemo_txn *txn, int create)
{
    vec_txn *vt = mnemo_txn__hook_arg(txn, db, &txn_owner);
    if (vt || !create) {
        *out = vt;
        return 0;
    }
    if (!(vt = mnemo__calloc(1, sizeof *vt)))
        return mnemo__err_nomem("vector write set");
    vt->st = st;
    vt->db = db;
    mnemo_txn_hook hook = {&txn_owner, before_commit, after_commit, vt, db};
    int rc = mnemo_txn__add_hook(txn, &hook);
    if (rc) {
        vt_free(vt);
        return rc;
    }
    atomic_fetch_add(&st->open_txns, 1); /* until after_commit: the state is not evicted meanwhile */
    *out = vt;
    return 0;
}

const vec_change *mnemo_vector__txn_find(const vec_txn *vt, uint64_t iid)
{
    size_t p;
    return vt && mnemo_u64map__get(&vt->pos, iid, &p) ? &vt->c[p - 1] : NULL;
}

int mnemo_vector__txn_note(vec_txn *vt, uint64_t iid, const float *vec, const char *id)
{
    size_t dim = vt->st->sp.dim, p;
    float *copy = NULL;
    char *idc = mnemo__memdup(id, strlen(id));
    if (!idc || (vec && !(copy = mnemo__malloc(dim * sizeof *copy)))) {
        mnemo__free(idc);
        return mnemo__err_nomem("vector write set");
    }
    if (vec)
        memcpy(copy, vec, dim * sizeof *copy);
    if (mnemo_u64map__get(&vt->pos, iid, &p)) { /* a later change of the same vector wins */
        vec_change *c = &vt->c[p - 1];
        mnemo__free(c->vec);
        mnemo__free(c->id);
        c->vec = copy;
        c->id = idc;
        return 0;
    }
    int rc = mnemo__grow(&vt->c, &vt->cap, vt->n + 1, sizeof *vt->c, 8);
    if (!rc)
        rc = mnemo_u64map__add(&vt->pos, iid, vt->n + 1);
    if (rc < 0) {
        mnemo__free(copy);
        mnemo__free(idc);
        return rc;
    }
    vt->c[vt->n++] = (vec_change){iid, copy, idc};
    return 0;
}

/* ---- rebuilding ---- */

/* Drops the id-table entries of vectors no longer in the index (caller holds st->rw alone). On
 * failure to allocate, the table just stays as it was. */
static void prune_ids(vec_state *st)
{
    mnemo_u64map kept = MNEMO_U64MAP_INIT;
    for (size_t i = 0; i < st->ids.cap; i++)
        if (st->ids.keys[i] && mnemo_hnsw__has(st->hnsw, st->ids.keys[i]) &&
            mnemo_u64map__add(&kept, st->ids.keys[i], st->ids.vals[i]) < 0) {
            mnemo_u64map__free(&kept);
            return;
        }
    for (size_t i = 0; i < st->ids.cap; i++)
        if (st->ids.keys[i] && !mnemo_u64map__get(&kept, st->ids.keys[i], NULL))
            mnemo__free((void *)(uintptr_t)st->ids.vals[i]);
    mnemo_u64map__free(&st->ids);
    st->ids = kept;
}

static void progress(mnemo_db *db, uint64_t done, uint64_t total)
{
    const mnemo_options *o = mnemo_db__options(db);
    if (o->progress)
        o->progress(done, total < done ? done : total, o->progress_arg);
}

static int seek_reads(mnemo_cursor *c, uint64_t key)
{
    unsigned char k[8];
    mnemo__put_be64(k, key);
    mnemo_cursor__seek(c, k, 8);
    return mnemo_cursor__valid(c) || mnemo_cursor__status(c, "vector index rebuild") == 0;
}

/* The cursor stopped on a stretch of vector_data it cannot read (a damaged file block) just past
 * key `from` - 1. Positions it on the first key past the stretch that reads: the smallest seek
 * target that reads cleanly, found by doubling then bisecting over the u64 keys (a seek reads only
 * the block that may hold its target). Returns 0 when nothing past it reads. */
static int skip_unreadable(mnemo_cursor *c, uint64_t from)
{
    if (seek_reads(c, from))
        return 1;
    uint64_t bad = from, good = 0, step = 1; /* seek(bad) fails; seek(good) reads once found */
    while (!good) {
        uint64_t next = bad + step < bad ? UINT64_MAX : bad + step;
        if (seek_reads(c, next))
            good = next;
        else if (next == UINT64_MAX)
            return 0;
        else
            bad = next, step *= 2;
    }
    while (good - bad > 1) {
        uint64_t mid = bad + (good - bad) / 2;
        if (seek_reads(c, mid))
            good = mid;
        else
            bad = mid;
    }
    return seek_reads(c, good);
}

/* A whole new index from vector_data, the truth. Values that fail their checks are left out and
 * noted in st->damaged; a stretch the store cannot read at all (a damaged file block) is skipped
 * and noted in st->unreadable: searches then answer ECORRUPT (mnemo_vector__usable), the vector
 * check reports it, and everything else works. */
static int rebuild_from_data(vec_state *st, mnemo_db *db)
{
    uint64_t total = mnemo_db__estimate_keys(db, MNEMO_CF_VECTOR_DATA), done = 0;
    mnemo_hnsw *h = NULL;
    int rc = new_index(st, &h, total + 16);
    mnemo_u64map ids = MNEMO_U64MAP_INIT;
    enum { BATCH = 4096 };
    size_t dim = st->sp.dim, n = 0, n_damaged = 0, cap_damaged = 0;
    uint64_t *damaged = NULL;
    char unreadable[sizeof st->unreadable] = "";
    float *buf = rc ? NULL : mnemo__malloc(BATCH * dim * sizeof *buf);
    uint64_t labels[BATCH], last = 0;
    const float *vecs[BATCH];
    int have_last = 0;
    if (!rc && !buf)
        rc = mnemo__err_nomem("vector index rebuild");
    mnemo_cursor *c = NULL;
    if (!rc)
        rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_DATA, NULL, 0, NULL, 0);
    mnemo_u64map saved = st->ids;
    st->ids = ids;
    progress(db, 0, total);
    if (c)
        mnemo_cursor__first(c);
    while (!rc && c) {
        if (!mnemo_cursor__valid(c)) {
            int src = mnemo_cursor__status(c, "vector_data");
            if (src != MNEMO_ECORRUPT && src != MNEMO_EIO) {
                rc = src;
                break;
            }
            if (!unreadable[0])
                snprintf(unreadable, sizeof unreadable, "vector_data after key %016llx: %s",
                         (unsigned long long)(have_last ? last : 0), mnemo_errmsg());
            if (!skip_unreadable(c, have_last ? last + 1 : 0) || !mnemo_cursor__valid(c))
                break;
        }
        size_t kl, vl, il;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const char *v = mnemo_cursor__value(c, &vl), *id;
        if (kl == 8) {
            uint64_t iid = mnemo__get_be64(k);
            last = iid;
            have_last = 1;
            if (mnemo_vector__decode(v, vl, (uint32_t)dim, buf + n * dim, &id, &il, iid) != 0) {
                if (!(rc = mnemo__grow(&damaged, &cap_damaged, n_damaged + 1, sizeof *damaged, 4)))
                    damaged[n_damaged++] = iid;
            } else {
                labels[n] = iid;
                vecs[n] = buf + n * dim;
                rc = ids_put(st, iid, id, il);
                if (!rc && ++n == BATCH) {
                    if (!(rc = reserve_for(h, n)))
                        rc = add_many(h, labels, vecs, n);
                    done += n;
                    n = 0;
                    progress(db, done, total);
                }
            }
        }
        if (!rc)
            mnemo_cursor__next(c);
    }
    if (!rc && n) {
        if (!(rc = reserve_for(h, n)))
            rc = add_many(h, labels, vecs, n);
        done += n;
        progress(db, done, total);
    }
    mnemo_cursor__close(c);
    mnemo__free(buf);
    ids = st->ids;
    st->ids = saved;
    if (rc) {
        ids_free(&ids);
        mnemo_hnsw__free(h);
        mnemo__free(damaged);
        return rc;
    }
    ids_free(&st->ids);
    st->ids = ids;
    mnemo_hnsw__free(st->hnsw);
    st->hnsw = h;
    st->rebuilds++;
    mnemo__free(st->damaged);
    st->damaged = damaged;
    st->n_damaged = n_damaged;
    st->cap_damaged = cap_damaged;
    memcpy(st->unreadable, unreadable, sizeof unreadable);
    return 0;
}

/* ---- snapshots ---- */

static void put_be64(unsigned char **p, uint64_t v)
{
    mnemo__put_be64(*p, v);
    *p += 8;
}

/* An image of the index for a snapshot: u64 length + hnswlib's serialisation, then u64 count +
 * (u64 iid, u16 length, record id) for every live vector, and what it covers. */
typedef struct snap_image {
    unsigned char *data;
    size_t len;
    uint64_t applied, slots, live, changes;
} snap_image;

/* Takes the image. Writers are held off only while the graph is copied: the buffers are allocated
 * and faulted in beforehand (for 100k 64-d vectors, 40 MB of fresh pages cost as much as the copy);
 * the record ids are then read COPY_ROWS at a time (an iid's record id never changes, so later
 * commits cannot make them disagree with the copied graph). */
static int snapshot_capture(vec_state *st, snap_image *img)
{
    size_t cap = 0, cap_l = 0, hl = 0, n = 0, len = 0;
    unsigned char *b = NULL;
    uint64_t *labels = NULL;
    enum { AGAIN = 1 };
    int rc = AGAIN;
    for (int attempt = 0; rc == AGAIN && attempt < 8; attempt++) {
        pthread_rwlock_rdlock(&st->rw);
        size_t need = mnemo_hnsw__save_size(st->hnsw), slots = mnemo_hnsw__slots(st->hnsw);
        pthread_rwlock_unlock(&st->rw);
        mnemo__free(b);
        mnemo__free(labels);
        cap = 16 + need + need / 8 + 65536 + (slots + 1024) * 24; /* room for growth and the ids */
        cap_l = slots + slots / 8 + 1024;
        b = mnemo__malloc(cap);
        labels = mnemo__malloc(cap_l * sizeof *labels);
        if (!b || !labels) {
            rc = mnemo__err_nomem("vector snapshot");
            break;
        }
        memset(b, 0, cap);
        memset(labels, 0, cap_l * sizeof *labels);
        pthread_rwlock_rdlock(&st->rw);
        slots = mnemo_hnsw__slots(st->hnsw);
        rc = 0;
        if (st->lagging)
            rc = mnemo__err(MNEMO_ENOMEM, "vector index: lagging behind the data since a failed update; "
                                          "the next open replays the change log");
        else if (st->n_damaged || st->unreadable[0]) /* so each open rebuilds and finds the damage again */
            rc = mnemo__err(MNEMO_ECORRUPT, "vector index: no snapshot while vector_data is damaged");
        else if (slots > cap_l || mnemo_hnsw__save_into(st->hnsw, (char *)b + 8, cap - 16, &hl) != 0)
            rc = AGAIN; /* grew meanwhile: again, with room for the new size */
        if (!rc) {
            img->applied = st->applied_seq;
            img->changes = st->applied_changes;
            img->slots = slots;
            for (size_t r = 0; r < slots; r++)
                if (mnemo_hnsw__row_live(st->hnsw, r))
                    labels[n++] = mnemo_hnsw__row_label(st->hnsw, r);
        }
        pthread_rwlock_unlock(&st->rw);
    }
    if (rc == AGAIN)
        rc = mnemo__err(MNEMO_EBUSY, "vector snapshot: the index kept growing while it was copied");
    if (!rc) {
        mnemo__put_be64(b, hl);
        mnemo__put_be64(b + 8 + hl, n);
        len = 16 + hl;
    }
    for (size_t i = 0; i < n && !rc;) {
        pthread_rwlock_rdlock(&st->rw);
        for (size_t end = i + COPY_ROWS < n ? i + COPY_ROWS : n; i < end && !rc; i++) {
            const char *id = mnemo_vector__id_of(st, labels[i]);
            size_t il = id ? strlen(id) : 0;
            if (!id)
                rc = mnemo__err(MNEMO_EBUSY, "vector snapshot: the index was replaced meanwhile");
            else if (!(rc = mnemo__grow(&b, &cap, len + 10 + il, 1, 1))) {
                mnemo__put_be64(b + len, labels[i]);
                b[len + 8] = (unsigned char)(il >> 8);
                b[len + 9] = (unsigned char)il;
                memcpy(b + len + 10, id, il);
                len += 10 + il;
            }
        }
        pthread_rwlock_unlock(&st->rw);
    }
    mnemo__free(labels);
    if (rc) {
        mnemo__free(b);
        return rc;
    }
    img->data = b;
    img->len = len;
    img->live = n;
    return 0;
}

static void chunk_key(unsigned char key[13], uint64_t gen, uint32_t chunk)
{
    key[0] = 'S';
    mnemo__put_be64(key + 1, gen);
    mnemo__put_be32(key + 9, chunk);
}

/* Deletes, into b, every key of prefix `tag` in vector_index whose 8 bytes after the tag are
 * below `limit` (log entries up to a sequence) or differ from `keep` (chunks of other snapshots).
 * Keys it cannot read (a damaged file block) are left: nothing reads them once the header has
 * switched (chunks of another generation, entries at or below the applied sequence). */
static int drop_keys(mnemo_batch *b, mnemo_db *db, unsigned char tag, uint64_t limit, uint64_t keep)
{
    unsigned char lo = tag, hi = (unsigned char)(tag + 1);
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, &lo, 1, &hi, 1);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        uint64_t v = kl >= 9 ? mnemo__get_be64(k + 1) : 0;
        if (tag == 'L' && kl == 9 && v >= limit)
            break;
        if (tag == 'L' || v != keep)
            mnemo_batch__delete(b, MNEMO_CF_VECTOR_INDEX, k, kl);
    }
    rc = mnemo_cursor__status(c, "vector snapshot");
    mnemo_cursor__close(c);
    return rc == MNEMO_ECORRUPT || rc == MNEMO_EIO ? 0 : rc;
}

/* Writes img as the next snapshot: chunks first (invisible until the header names their
 * generation), then the switch in one write. With background set, a stop request abandons it
 * between chunks: the header still names the previous snapshot, and the next snapshot overwrites
 * or drops the stray chunks. */
static int lease(mnemo_db *db, int release);
static int live_min_applied(uint64_t *out, mnemo_batch *b, mnemo_db *db, uint64_t limit);
static int get_mark(uint64_t *out, mnemo_db *db, unsigned char tag);

/* Shared engines: the generation and applied sequence of the stored snapshot header (0 if none). */
static void stored_header(mnemo_db *db, uint64_t *gen, uint64_t *applied)
{
    char *hv;
    size_t hl;
    *gen = *applied = 0;
    if (mnemo_txn__get(&hv, &hl, db, NULL, MNEMO_CF_VECTOR_INDEX, HEADER_KEY, 1, 0) != 0)
        return;
    const unsigned char *h = (const unsigned char *)hv;
    if (hl == SNAP_HEADER_LEN && h[0] == SNAP_VERSION &&
        mnemo__get_be32(h + SNAP_HEADER_LEN - 4) == mnemo__crc32c(0, h, SNAP_HEADER_LEN - 4)) {
        *gen = mnemo__get_be64(h + 1);
        *applied = mnemo__get_be64(h + 9);
    }
    mnemo__free(hv);
}

static int snapshot_write(vec_state *st, mnemo_db *db, const snap_image *img, int background)
{
    uint64_t gen = st->snap_gen + 1;
    uint32_t chunks = (uint32_t)((img->len + SNAP_CHUNK - 1) / SNAP_CHUNK);
    unsigned char key[13];
    int rc = 0;
    if (st->shared) { /* one process at a time, and never back to an older snapshot */
        uint64_t sgen, sapplied;
        if ((rc = lease(db, 0)) != 0)
            return rc;
        stored_header(db, &sgen, &sapplied);
        if (sapplied >= img->applied && sgen && !st->stored_bad) {
            pthread_mutex_lock(&st->commit_lock);
            st->snap_gen = sgen;
            st->log_entries = 0;
            st->changes_since = 0;
            pthread_mutex_unlock(&st->commit_lock);
            return lease(db, 1);
        }
        gen = (sgen > st->snap_gen ? sgen : st->snap_gen) + 1;
    }
    for (uint32_t i = 0; i < chunks && !rc; i++) {
        size_t off = (size_t)i * SNAP_CHUNK, n = img->len - off < SNAP_CHUNK ? img->len - off : SNAP_CHUNK;
        chunk_key(key, gen, i);
        rc = mnemo_txn__put(db, NULL, MNEMO_CF_VECTOR_INDEX, key, sizeof key, img->data + off, n);
        if (background) {
            probe(st, "snapshot_chunk");
            if (!rc && atomic_load(&st->bg_stop))
                rc = mnemo__err(MNEMO_EBUSY, "vector snapshot: abandoned (closing)");
        }
    }
    unsigned char hdr[SNAP_HEADER_LEN], *p = hdr + 1;
    hdr[0] = SNAP_VERSION;
    put_be64(&p, gen);
    put_be64(&p, img->applied);
    put_be64(&p, img->slots);
    put_be64(&p, img->live);
    put_be64(&p, img->len);
    mnemo__put_be32(p, chunks);
    mnemo__put_be32(p + 4, mnemo__crc32c(0, img->data, img->len));
    mnemo__put_be32(p + 8, mnemo__crc32c(0, hdr, SNAP_HEADER_LEN - 4));
    mnemo_batch *b = NULL;
    if (!rc)
        rc = mnemo_batch__create(&b, db);
    if (!rc) {
        mnemo_batch__put(b, MNEMO_CF_VECTOR_INDEX, HEADER_KEY, 1, hdr, sizeof hdr);
        rc = drop_keys(b, db, 'S', 0, gen);
        uint64_t trim = img->applied;
        if (!rc && st->shared) /* never past what a live process has applied */
            rc = live_min_applied(&trim, b, db, img->applied);
        if (!rc) /* entries after img->applied, written by commits meanwhile, stay */
            rc = drop_keys(b, db, 'L', trim + 1, 0);
        if (!rc) { /* on every engine: a follower of a rocksdb writer reads it too */
            unsigned char mark[8 + MNEMO_SEAL_OVERHEAD], t8[8], tk = 'T';
            uint64_t old;
            if ((rc = get_mark(&old, db, 'T')) == MNEMO_ECORRUPT)
                rc = 0; /* damaged: replaced by this trim's */
            if (!rc) {
                mnemo__put_be64(t8, trim > old ? trim : old);
                mnemo_batch__put(b, MNEMO_CF_VECTOR_INDEX, &tk, 1, mark, mnemo__seal(mark, t8, 8));
            }
        }
        if (!rc)
            rc = mnemo_batch__write(b);
        mnemo_batch__free(b);
    }
    if (st->shared)
        (void)lease(db, 1);
    if (!rc) { /* commits went on meanwhile: count what the snapshot does not cover */
        pthread_mutex_lock(&st->commit_lock);
        st->snap_gen = gen;
        st->stored_bad = 0;
        st->log_entries = st->shared ? 0 : st->next_seq - 1 - img->applied;
        st->changes_since = st->applied_changes - img->changes;
        pthread_mutex_unlock(&st->commit_lock);
    }
    return rc;
}

int mnemo_vector__snapshot(vec_state *st, mnemo_db *db)
{
    snap_image img;
    int rc = snapshot_capture(st, &img);
    if (rc)
        return rc;
    rc = snapshot_write(st, db, &img, 0);
    mnemo__free(img.data);
    return rc;
}

/* ---- the background worker: snapshots and rebuilds off the commit path ---- */

static vec_pending *take_pending(vec_state *st, int *lost, size_t *changes)
{
    pthread_mutex_lock(&st->bg_lock);
    vec_pending *p = st->pending;
    st->pending = NULL;
    st->pending_tail = &st->pending;
    *lost = st->pending_lost;
    pthread_mutex_unlock(&st->bg_lock);
    *changes = 0;
    for (vec_pending *q = p; q; q = q->next)
        *changes += q->n;
    return p;
}

/* Replays the queued changes, in commit order, into the fresh index the rebuild owns. */
static int replay_pending(vec_state *st, mnemo_hnsw **h, mnemo_u64map *ids, int *more)
{
    int lost, rc = 0;
    size_t changes;
    vec_pending *p = take_pending(st, &lost, &changes);
    if (lost)
        rc = mnemo__err(MNEMO_ENOMEM, "vector index rebuild: a change could not be queued; abandoned");
    for (vec_pending *q = p; q && !rc; q = q->next) {
        int restarted = 0;
        rc = apply_to(st, h, ids, q->c, q->n, &restarted, 1);
    }
    free_pending(p);
    *more = changes >= SWAP_BELOW;
    return rc;
}

static int stopping(vec_state *st)
{
    return atomic_load(&st->bg_stop) ? mnemo__err(MNEMO_EBUSY, "vector index rebuild: abandoned (closing)") : 0;
}

static int bg_snapshot(vec_state *st);

static void snapshot_if_wanted(vec_state *st)
{
    pthread_mutex_lock(&st->bg_lock);
    int want = st->want_snapshot;
    st->want_snapshot = 0;
    pthread_mutex_unlock(&st->bg_lock);
    if (want)
        (void)bg_snapshot(st);
}

/* A fresh index from the live vectors of the current one, built on the worker while
 * commits and searches go on; commits meanwhile queue their changes (queue_for_rebuild), which are
 * replayed into it; commits wait only for the last few of them and the swap. */
static int bg_rebuild(vec_state *st)
{
    pthread_mutex_lock(&st->commit_lock);
    st->rebuilding = 1; /* every commit from here on is queued; every one before is in the index */
    pthread_mutex_unlock(&st->commit_lock);
    size_t dim = st->sp.dim, n = 0, cap_l = 0, cap_v = 0;
    uint64_t *labels = NULL;
    float *vecs = NULL;
    mnemo_u64map ids = MNEMO_U64MAP_INIT, old_ids = MNEMO_U64MAP_INIT;
    mnemo_hnsw *fresh = NULL, *old = NULL;
    int rc = 0;
    /* 1. the live vectors and their record ids, COPY_ROWS at a time under the shared lock (a
     * slice may see commits after the start: they are queued too, and replaying them is harmless) */
    for (size_t r = 0, slots = 1; r < slots && !(rc = stopping(st));) {
        pthread_rwlock_rdlock(&st->rw);
        size_t stride;
        const float *norms, *rows = mnemo_hnsw__rows(st->hnsw, &stride, &norms);
        slots = mnemo_hnsw__slots(st->hnsw);
        size_t end = r + COPY_ROWS < slots ? r + COPY_ROWS : slots;
        if (end > r && !(rc = mnemo__grow(&labels, &cap_l, n + end - r, sizeof *labels, 1024)))
            rc = mnemo__grow(&vecs, &cap_v, n + end - r, dim * sizeof *vecs, 1024);
        for (; r < end && !rc; r++)
            if (mnemo_hnsw__row_live(st->hnsw, r)) {
                uint64_t iid = mnemo_hnsw__row_label(st->hnsw, r);
                const char *id = mnemo_vector__id_of(st, iid);
                if (!id) {
                    rc = mnemo__err(MNEMO_ERROR, "vector index rebuild: no record id for internal id %llu",
                                    (unsigned long long)iid);
                    break;
                }
                if (!rows) { /* int8 codes: the true vector from vector_data (gone: its delete is queued) */
                    int sr = mnemo_vector__stored(st, iid, vecs + n * dim);
                    if (sr == MNEMO_ENOTFOUND)
                        continue;
                    if ((rc = sr) != 0)
                        break;
                } else {
                    memcpy(vecs + n * dim, rows + r * stride, dim * sizeof *vecs);
                }
                rc = ids_put_in(&ids, iid, id, strlen(id));
                labels[n++] = iid;
            }
        pthread_rwlock_unlock(&st->rw);
    }
    probe(st, "rebuild_copied");
    /* 2. the graph, on every core at idle priority (commits and searches get the cores first);
     * meanwhile this thread writes a snapshot asked for (of the current index: a rebuild must not
     * hold snapshots back); close stops the adds between two of them */
    const float **ptrs = rc ? NULL : mnemo__malloc((n ? n : 1) * sizeof *ptrs);
    if (!rc && !ptrs)
        rc = mnemo__err_nomem("vector index rebuild");
    if (!rc)
        rc = new_index(st, &fresh, n + n / 2);
    for (size_t i = 0; i < n && !rc; i++)
        ptrs[i] = vecs + i * dim;
    if (!rc && n) {
        add_job j = {fresh, labels, ptrs, n, 0, 0, &st->bg_stop, 0};
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t nthreads = cpus < 2 ? 1 : cpus > 8 ? 8 : (size_t)cpus, started = 0;
        pthread_t th[8];
        atomic_store(&j.running, (int)nthreads);
        for (size_t t = 0; t < nthreads; t++)
            if (pthread_create(&th[started], NULL, add_worker_idle, &j) == 0)
                started++;
        atomic_fetch_sub(&j.running, (int)(nthreads - started));
        if (!started) { /* no thread: on this one */
            atomic_store(&j.running, 1);
            add_worker(&j);
        }
        while (atomic_load(&j.running) > 0) {
            snapshot_if_wanted(st);
            usleep(20000);
        }
        for (size_t t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        rc = atomic_load(&j.rc);
        if (!rc)
            rc = stopping(st);
    }
    mnemo__free(ptrs);
    mnemo__free(labels);
    mnemo__free(vecs);
    /* 3. the changes committed meanwhile, until few are left */
    for (int more = 1; more && !rc;)
        if (!(rc = stopping(st)))
            rc = replay_pending(st, &fresh, &ids, &more);
    probe(st, "rebuild_swap");
    /* 4. the last few and the swap, with commits held off */
    pthread_mutex_lock(&st->commit_lock);
    int more;
    if (!rc)
        rc = replay_pending(st, &fresh, &ids, &more);
    if (!rc) {
        pthread_rwlock_wrlock(&st->rw);
        old = st->hnsw;
        old_ids = st->ids;
        st->hnsw = fresh;
        st->ids = ids;
        st->rebuilds++;
        pthread_rwlock_unlock(&st->rw);
        fresh = NULL;
        ids = (mnemo_u64map)MNEMO_U64MAP_INIT;
    }
    st->rebuilding = 0;
    int lost;
    size_t dropped;
    free_pending(take_pending(st, &lost, &dropped));
    pthread_mutex_lock(&st->bg_lock);
    st->pending_lost = 0;
    pthread_mutex_unlock(&st->bg_lock);
    pthread_mutex_unlock(&st->commit_lock);
    mnemo_hnsw__free(old); /* no lock held: searches and commits go on while it is freed */
    ids_free(&old_ids);
    mnemo_hnsw__free(fresh);
    ids_free(&ids);
    if (rc)
        probe(st, "abandoned");
    return rc;
}

static int bg_snapshot(vec_state *st)
{
    snap_image img;
    int rc = snapshot_capture(st, &img);
    if (!rc) {
        rc = snapshot_write(st, st->db, &img, 1);
        mnemo__free(img.data);
    }
    if (rc && atomic_load(&st->bg_stop))
        probe(st, "abandoned");
    else if (rc) { /* try again after as many changes again, not at every commit */
        pthread_mutex_lock(&st->commit_lock);
        st->changes_since = 0;
        pthread_mutex_unlock(&st->commit_lock);
    }
    return rc;
}

static void *bg_main(void *arg)
{
    vec_state *st = arg;
    pthread_mutex_lock(&st->bg_lock);
    while (!atomic_load(&st->bg_stop)) {
        int job = st->want_snapshot ? BG_SNAPSHOT : st->want_rebuild ? BG_REBUILD : 0;
        if (!job && st->shared) { /* idle: the heartbeat goes on, so no trim passes this process */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + heartbeat_every() * 1000000u;
            until.tv_sec += (time_t)(ns / 1000000000u);
            until.tv_nsec = (long)(ns % 1000000000u);
            if (pthread_cond_timedwait(&st->bg_wake, &st->bg_lock, &until) == ETIMEDOUT) {
                pthread_mutex_unlock(&st->bg_lock);
                pthread_mutex_lock(&st->commit_lock);
                heartbeat(st, 0);
                pthread_mutex_unlock(&st->commit_lock);
                pthread_mutex_lock(&st->bg_lock);
            }
            continue;
        }
        if (!job) {
            pthread_cond_wait(&st->bg_wake, &st->bg_lock);
            continue;
        }
        *(job == BG_REBUILD ? &st->want_rebuild : &st->want_snapshot) = 0;
        st->bg_job = job;
        pthread_mutex_unlock(&st->bg_lock);
        (void)(job == BG_REBUILD ? bg_rebuild(st) : bg_snapshot(st));
        pthread_mutex_lock(&st->bg_lock);
        st->bg_job = 0;
        pthread_cond_broadcast(&st->bg_wake); /* mnemo_vector__settle */
    }
    pthread_mutex_unlock(&st->bg_lock);
    return NULL;
}

/* Asks the worker for a rebuild and/or a snapshot, starting it on first need; a job already asked
 * for or running is not asked again. Cheap: called by every vector commit. */
static void bg_want(vec_state *st, int rebuild, int snapshot)
{
    if (!rebuild && !snapshot)
        return;
    pthread_mutex_lock(&st->bg_lock);
    if (!atomic_load(&st->bg_stop)) {
        int wake = 0;
        if (rebuild && !st->want_rebuild && st->bg_job != BG_REBUILD)
            st->want_rebuild = wake = 1;
        if (snapshot && !st->want_snapshot && st->bg_job != BG_SNAPSHOT)
            st->want_snapshot = wake = 1;
        if (!st->bg_started && (st->want_rebuild || st->want_snapshot))
            st->bg_started = pthread_create(&st->bg_thread, NULL, bg_main, st) == 0;
        if (wake)
            pthread_cond_broadcast(&st->bg_wake);
    }
    pthread_mutex_unlock(&st->bg_lock);
}

/* Shared engines: the worker runs from open on, to send the heartbeat while the process idles. */
static void bg_start_heartbeat(vec_state *st)
{
    if (!st->shared || st->read_only)
        return;
    pthread_mutex_lock(&st->bg_lock);
    if (!st->bg_started && !atomic_load(&st->bg_stop))
        st->bg_started = pthread_create(&st->bg_thread, NULL, bg_main, st) == 0;
    pthread_mutex_unlock(&st->bg_lock);
}

void mnemo_vector__bg_stop(vec_state *st)
{
    pthread_mutex_lock(&st->bg_lock);
    atomic_store(&st->bg_stop, 1);
    pthread_cond_broadcast(&st->bg_wake);
    int started = st->bg_started;
    st->bg_started = 0;
    pthread_mutex_unlock(&st->bg_lock);
    if (started)
        pthread_join(st->bg_thread, NULL);
}

int mnemo_vector__settle(mnemo_db *db)
{
    vec_state *st;
    int rc = mnemo_vector__state(&st, db, "mnemo_vector__settle");
    if (rc)
        return rc;
    pthread_mutex_lock(&st->bg_lock);
    while (st->bg_started && !atomic_load(&st->bg_stop) && (st->bg_job || st->want_rebuild || st->want_snapshot))
        pthread_cond_wait(&st->bg_wake, &st->bg_lock);
    pthread_mutex_unlock(&st->bg_lock);
    return 0;
}

/* ---- open: snapshot + log, or a rebuild ---- */

static uint64_t get_be64(const unsigned char **p)
{
    uint64_t v = mnemo__get_be64(*p);
    *p += 8;
    return v;
}

/* Loads the snapshot named by the header; *applied is the header's sequence as soon as the header
 * reads (even when the snapshot then fails). Any failure means "rebuild". */
static int load_snapshot(vec_state *st, mnemo_db *db, uint64_t *applied)
{
    char *hv;
    size_t hl;
    int rc = mnemo_txn__get(&hv, &hl, db, NULL, MNEMO_CF_VECTOR_INDEX, HEADER_KEY, 1, 0);
    if (rc)
        return rc;
    const unsigned char *h = (const unsigned char *)hv, *p = h + 1;
    if (hl != SNAP_HEADER_LEN || h[0] != SNAP_VERSION ||
        mnemo__get_be32(h + SNAP_HEADER_LEN - 4) != mnemo__crc32c(0, h, SNAP_HEADER_LEN - 4)) {
        mnemo__free(hv);
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot header is damaged");
    }
    uint64_t gen = get_be64(&p), seq = get_be64(&p), slots = get_be64(&p), live = get_be64(&p);
    uint64_t len = get_be64(&p);
    uint32_t chunks = mnemo__get_be32(p), crc = mnemo__get_be32(p + 4);
    mnemo__free(hv);
    *applied = seq;
    if (len > ((uint64_t)1 << 40) || chunks != (len + SNAP_CHUNK - 1) / SNAP_CHUNK)
        return mnemo__err(MNEMO_ECORRUPT, "vector index snapshot header is damaged");
    char *data = mnemo__malloc(len ? len : 1);
    if (!data)
        return mnemo__err_nomem("vector snapshot");
    unsigned char key[13];
    for (uint32_t i = 0; i < chunks && !rc; i++) {
        size_t off = (size_t)i * SNAP_CHUNK, want = len - off < SNAP_CHUNK ? len - off : SNAP_CHUNK, n;
        char *v;
        chunk_key(key, gen, i);
        rc = mnemo_txn__get(&v, &n, db, NULL, MNEMO_CF_VECTOR_INDEX, key, sizeof key, 0);
        if (rc == MNEMO_ENOTFOUND)
            rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot is truncated (chunk %u missing)", i);
        if (rc)
            break;
        if (n != want)
            rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot is truncated (chunk %u)", i);
        else
            memcpy(data + off, v, n);
        mnemo__free(v);
    }
    if (!rc && mnemo__crc32c(0, data, len) != crc)
        rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot fails its checksum");
    const unsigned char *d = (const unsigned char *)data, *end = d + len;
    uint64_t hnsw_len = 0;
    if (!rc && (len < 16 || (hnsw_len = get_be64(&d)) > len - 16))
        rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot is damaged");
    mnemo_hnsw *hn = NULL;
    if (!rc)
        rc = mnemo_hnsw__load(&hn, mnemo_vector__hnsw_kind(st), st->sp.dim, st->sp.hnsw_m, (const char *)d, hnsw_len);
    if (!rc && (mnemo_hnsw__slots(hn) != slots || mnemo_hnsw__slots(hn) - mnemo_hnsw__deleted(hn) != live))
        rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot holds %zu vectors, its header says %llu",
                        mnemo_hnsw__slots(hn) - mnemo_hnsw__deleted(hn), (unsigned long long)live);
    if (!rc) {
        d += hnsw_len;
        uint64_t n = get_be64(&d);
        if (n != live)
            rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: id table has %llu entries for %llu vectors",
                            (unsigned long long)n, (unsigned long long)live);
        for (uint64_t i = 0; i < n && !rc; i++) {
            if (end - d < 10) {
                rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: id table truncated");
                break;
            }
            uint64_t iid = get_be64(&d);
            size_t il = ((size_t)d[0] << 8) | d[1];
            d += 2;
            if ((size_t)(end - d) < il || il == 0 || !mnemo_hnsw__has(hn, iid))
                rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: id table damaged");
            else
                rc = ids_put(st, iid, (const char *)d, il);
            d += il;
        }
        if (!rc && d != end)
            rc = mnemo__err(MNEMO_ECORRUPT, "vector index snapshot: stray bytes");
    }
    mnemo__free(data);
    if (rc) {
        mnemo_hnsw__free(hn);
        ids_free(&st->ids);
        return rc;
    }
    st->hnsw = hn;
    st->snap_gen = gen;
    return 0;
}

/* Brings iid in the index in line with vector_data. */
static int sync_one(vec_state *st, mnemo_db *db, uint64_t iid, float *buf)
{
    unsigned char key[8];
    char *v;
    size_t n, il;
    const char *id;
    mnemo_vector__data_key(key, iid);
    int rc = mnemo_txn__get(&v, &n, db, NULL, MNEMO_CF_VECTOR_DATA, key, 8, 0);
    if (rc == MNEMO_ENOTFOUND) {
        (void)mnemo_hnsw__remove(st->hnsw, iid);
        resolve_damaged(st, iid);
        return 0;
    }
    if (rc)
        return rc;
    rc = mnemo_vector__decode(v, n, st->sp.dim, buf, &id, &il, iid);
    if (!rc)
        rc = ids_put(st, iid, id, il);
    if (!rc && !(rc = reserve_for(st->hnsw, 1)))
        rc = mnemo_hnsw__add(st->hnsw, buf, iid);
    mnemo__free(v);
    if (rc == MNEMO_ECORRUPT) { /* left out of the index and noted, like a rebuild does */
        (void)mnemo_hnsw__remove(st->hnsw, iid);
        resolve_damaged(st, iid);
        if (!(rc = mnemo__grow(&st->damaged, &st->cap_damaged, st->n_damaged + 1, sizeof *st->damaged, 4)))
            st->damaged[st->n_damaged++] = iid;
    } else if (!rc) {
        resolve_damaged(st, iid);
    }
    return rc;
}

/* A change-log value: version, count, count iids, crc32c. */
static int log_entry_ok(const unsigned char *v, size_t vl)
{
    return vl >= 9 && v[0] == LOG_VERSION && mnemo__get_be32(v + vl - 4) == mnemo__crc32c(0, v, vl - 4) &&
           vl == 9 + (size_t)mnemo__get_be32(v + 1) * 8;
}

static void log_key(unsigned char key[9], uint64_t seq)
{
    key[0] = 'L';
    mnemo__put_be64(key + 1, seq);
}

/* Replays the log entries after `applied`; ECORRUPT when one is damaged. Entries are numbered
 * without gaps (a sequence is used only by a commit that succeeded, and a snapshot keeps the
 * numbering), so they are read by point reads, in order, until one is missing: a damaged block
 * holding only older keys of vector_index is never read. */
static int replay_shared(vec_state *st, mnemo_db *db, uint64_t applied, float *buf);

static int replay(vec_state *st, mnemo_db *db, uint64_t applied)
{
    float *buf = mnemo__malloc(st->sp.dim * sizeof *buf);
    if (!buf)
        return mnemo__err_nomem("vector log replay");
    if (st->shared) {
        int src = replay_shared(st, db, applied, buf);
        mnemo__free(buf);
        return src;
    }
    int rc = 0;
    unsigned char key[9];
    for (st->next_seq = applied + 1; !rc; st->next_seq++, st->log_entries++) {
        char *val;
        size_t vl;
        log_key(key, st->next_seq);
        if ((rc = mnemo_txn__get(&val, &vl, db, NULL, MNEMO_CF_VECTOR_INDEX, key, 9, 0)) != 0)
            break;
        const unsigned char *v = (const unsigned char *)val;
        if (!log_entry_ok(v, vl))
            rc = mnemo__err(MNEMO_ECORRUPT, "vector change log entry %llu is damaged",
                            (unsigned long long)st->next_seq);
        for (uint32_t i = 0; !rc && i < mnemo__get_be32(v + 1); i++)
            rc = sync_one(st, db, mnemo__get_be64(v + 5 + (size_t)i * 8), buf);
        mnemo__free(val);
    }
    mnemo__free(buf);
    return rc == MNEMO_ENOTFOUND ? 0 : rc;
}

/* Shared engines: the entries after `applied` in key order (commit sequences, with gaps). */
static int replay_shared(vec_state *st, mnemo_db *db, uint64_t applied, float *buf)
{
    unsigned char lo[9], hi = 'M';
    log_key(lo, applied + 1);
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, lo, 9, &hi, 1);
    st->next_seq = applied + 1;
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl;
        const unsigned char *k = mnemo_cursor__key(c, &kl), *v = mnemo_cursor__value(c, &vl);
        if (kl != 9)
            continue;
        uint64_t seq = mnemo__get_be64(k + 1);
        if (!log_entry_ok(v, vl))
            rc = mnemo__err(MNEMO_ECORRUPT, "vector change log entry %llu is damaged", (unsigned long long)seq);
        for (uint32_t i = 0; !rc && i < mnemo__get_be32(v + 1); i++)
            rc = sync_one(st, db, mnemo__get_be64(v + 5 + (size_t)i * 8), buf);
        st->next_seq = seq + 1;
        st->log_entries++;
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "vector change log");
    mnemo_cursor__close(c);
    return rc;
}

/* The sequence a rebuilt index continues the log from: past the header's and every entry that can
 * still be found, by a scan or, when the scan meets a damaged block, by point reads. (A stale
 * entry replayed later would be harmless anyway: an entry only names vectors to read again.) */
static uint64_t next_seq_after(mnemo_db *db, uint64_t applied)
{
    unsigned char lo = 'L', hi = 'M', key[9];
    uint64_t seq = applied;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, &lo, 1, &hi, 1);
    if (!rc) {
        mnemo_cursor__last(c);
        size_t kl;
        const unsigned char *k = mnemo_cursor__valid(c) ? mnemo_cursor__key(c, &kl) : NULL;
        if (k && kl == 9 && mnemo__get_be64(k + 1) > seq)
            seq = mnemo__get_be64(k + 1);
        rc = mnemo_cursor__status(c, "vector index");
        mnemo_cursor__close(c);
    }
    for (; rc; seq++) {
        char *v;
        size_t vl;
        log_key(key, seq + 1);
        if ((rc = mnemo_txn__get(&v, &vl, db, NULL, MNEMO_CF_VECTOR_INDEX, key, 9, 0)) == 0)
            mnemo__free(v);
        else if (rc == MNEMO_ENOTFOUND)
            break;
    }
    return seq + 1;
}

/* ---- several processes (shared engines, DESIGN 4.8) ----
 * Each process keeps its own index, a cache of vector_data ordered by the change log. Log keys
 * are the store's commit sequences (gaps between them), so a process finds what it lacks by a
 * seek past its applied sequence. Each process publishes its applied sequence in a heartbeat key
 * ('P' token: a random 64-bit id of the process, since processes on other hosts share the store and
 * pids collide across hosts); a process counts as live while its heartbeat is younger than the
 * lease (no pid test: a pid means nothing on another host). The snapshot writer (one at a time: the lease 'W') trims the log only up to the
 * lowest applied sequence of the live processes and records how far it trimmed ('T'). A process
 * whose applied sequence is below 'T' (stopped past its heartbeat's lease, or dead and back, or a
 * follower, which sends no heartbeat) missed entries: it reloads the stored snapshot and the log
 * after it, as open does (or rebuilds from vector_data when that fails). */

uint64_t mnemo_vector__lease_ms = 10000;

/* How often a heartbeat may be written: once a second, more often under a short lease (tests). */
static uint64_t heartbeat_every(void)
{
    uint64_t third = mnemo_vector__lease_ms / 3;
    return third < HEARTBEAT_MS ? (third ? third : 1) : HEARTBEAT_MS;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* This process's id in heartbeats and the snapshot lease: random, drawn again in a forked child. */
static uint64_t proc_token(void)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t token;
    static pid_t token_pid;
    pthread_mutex_lock(&mu);
    if (token_pid != getpid()) {
        if (getrandom(&token, sizeof token, 0) != (ssize_t)sizeof token) { /* no entropy yet: time and pid */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            token = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
        }
        token |= 1; /* never 0 (0: no holder) */
        token_pid = getpid();
    }
    uint64_t t = token;
    pthread_mutex_unlock(&mu);
    return t;
}

#define PROC_KEY_LEN 9
static void proc_key(unsigned char k[PROC_KEY_LEN], uint64_t token)
{
    k[0] = 'P';
    mnemo__put_be64(k + 1, token);
}

/* Heartbeats older than this are of processes gone (killed, or of an older format): deleted. */
#define HEARTBEAT_GONE_LEASES 10

/* Publishes the applied sequence, at most once per HEARTBEAT_MS unless forced. Caller holds
 * commit_lock. Best effort: a missed heartbeat only lets a trim pass this process, which it then
 * notices and repairs (catch_up_locked). */
static void heartbeat(vec_state *st, int force)
{
    if (!st->shared || st->read_only)
        return;
    uint64_t now = now_ms();
    /* unchanged, it only needs refreshing well within the lease (each write is a commit) */
    if (!force && (now - st->hb_ms < heartbeat_every() ||
                   (st->applied_seq == st->hb_applied && now - st->hb_ms < mnemo_vector__lease_ms / 3)))
        return;
    st->hb_ms = now;
    st->hb_applied = st->applied_seq;
    unsigned char k[PROC_KEY_LEN], v[16];
    proc_key(k, proc_token());
    mnemo__put_be64(v, st->applied_seq);
    mnemo__put_be64(v + 8, now);
    (void)mnemo_txn__put_sealed(st->db, NULL, MNEMO_CF_VECTOR_INDEX, k, PROC_KEY_LEN, v, 16);
}

void mnemo_vector__leave(vec_state *st)
{
    if (!st->shared || st->read_only)
        return;
    unsigned char k[PROC_KEY_LEN];
    proc_key(k, proc_token());
    (void)mnemo_txn__delete(st->db, NULL, MNEMO_CF_VECTOR_INDEX, k, PROC_KEY_LEN);
}

/* A sealed u64 of vector_index (0 when absent or unreadable). */
/* *out = the mark (0: none). A read that fails is an error, never "no mark": catching up from
 * below a trim it did not see would skip the trimmed entries. */
static int get_mark(uint64_t *out, mnemo_db *db, unsigned char tag)
{
    char *v;
    size_t n;
    *out = 0;
    int rc = mnemo_txn__get_sealed(&v, &n, db, NULL, MNEMO_CF_VECTOR_INDEX, &tag, 1, 0, "vector log trim mark");
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (n == 8)
        *out = mnemo__get_be64((unsigned char *)v);
    else
        rc = mnemo__err(MNEMO_ECORRUPT, "vector log trim mark is damaged (%zu bytes, expected 8)", n);
    mnemo__free(v);
    return rc;
}

/* The lowest applied sequence of the other live processes (a heartbeat younger than the lease), at
 * most `limit`; heartbeats long gone are deleted into b. */
static int live_min_applied(uint64_t *out, mnemo_batch *b, mnemo_db *db, uint64_t limit)
{
    unsigned char lo = 'P', hi = 'Q', me[PROC_KEY_LEN];
    proc_key(me, proc_token());
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, &lo, 1, &hi, 1);
    if (rc)
        return rc;
    uint64_t now = now_ms();
    for (mnemo_cursor__first(c); mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl, pl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const char *v = mnemo_cursor__value(c, &vl), *p;
        if (kl == PROC_KEY_LEN && !memcmp(k, me, kl))
            continue;
        if (mnemo_txn__unseal(v, vl, &p, &pl, "vector heartbeat") != 0 || pl != 16)
            continue;
        uint64_t applied = mnemo__get_be64((const unsigned char *)p), ms = mnemo__get_be64((const unsigned char *)p + 8);
        if (now >= ms + HEARTBEAT_GONE_LEASES * mnemo_vector__lease_ms)
            mnemo_batch__delete(b, MNEMO_CF_VECTOR_INDEX, k, kl);
        else if (now < ms + mnemo_vector__lease_ms && applied < limit)
            limit = applied;
    }
    rc = mnemo_cursor__status(c, "vector heartbeats");
    mnemo_cursor__close(c);
    *out = limit;
    return rc;
}

typedef struct lease_arg {
    uint64_t token;
    int release;
} lease_arg;

/* Takes (or with release gives back) the snapshot lease: 1 when another process holds it unexpired.
 * Value: holder token (8) | expiry ms (8). */
static int lease_fn(void *p, const void *cur, size_t clen, void **out, size_t *olen)
{
    lease_arg *a = p;
    const void *pl = NULL;
    size_t n = 0;
    uint64_t now = now_ms(), holder = 0;
    if (cur && mnemo__unseal(cur, clen, &pl, &n) == 0 && n == 16) {
        holder = mnemo__get_be64(pl);
        if (holder != a->token && now < mnemo__get_be64((const unsigned char *)pl + 8))
            return 1;
    }
    if (a->release) /* only a lease of this process: delete it */
        return holder == a->token ? 0 : 1;
    unsigned char v[16];
    mnemo__put_be64(v, a->token);
    mnemo__put_be64(v + 8, now + mnemo_vector__lease_ms);
    if (!(*out = mnemo__malloc(sizeof v + MNEMO_SEAL_OVERHEAD)))
        return mnemo__err_nomem("vector snapshot lease");
    *olen = mnemo__seal(*out, v, sizeof v);
    return 0;
}

static int lease(mnemo_db *db, int release)
{
    lease_arg a = {proc_token(), release};
    unsigned char k = 'W';
    int rc = mnemo_txn__update_one(db, MNEMO_CF_VECTOR_INDEX, &k, 1, lease_fn, &a);
    if (rc == 1)
        return release ? 0 : mnemo__err(MNEMO_EBUSY, "vector snapshot: another process holds the snapshot lease");
    return rc;
}

/* The changes named by a log entry, read from vector_data (the truth, as it is now: later
 * entries naming the same vectors are replayed after, so the index ends at the latest state). */
static int entry_changes(vec_state *st, mnemo_db *db, const unsigned char *v, size_t vl, uint64_t seq, vec_txn *vt)
{
    if (!log_entry_ok(v, vl))
        return mnemo__err(MNEMO_ECORRUPT, "vector change log entry %llu is damaged", (unsigned long long)seq);
    uint32_t n = mnemo__get_be32(v + 1);
    float *buf = mnemo__malloc(st->sp.dim * sizeof *buf);
    int rc = buf ? 0 : mnemo__err_nomem("vector log replay");
    for (uint32_t i = 0; i < n && !rc; i++) {
        uint64_t iid = mnemo__get_be64(v + 5 + (size_t)i * 8);
        unsigned char key[8];
        char *d;
        size_t dl, il;
        const char *id;
        mnemo_vector__data_key(key, iid);
        rc = mnemo_txn__get(&d, &dl, db, NULL, MNEMO_CF_VECTOR_DATA, key, 8, 0);
        if (rc == MNEMO_ENOTFOUND) {
            rc = mnemo_vector__txn_note(vt, iid, NULL, "");
            continue;
        }
        if (rc)
            break;
        rc = mnemo_vector__decode(d, dl, st->sp.dim, buf, &id, &il, iid);
        if (rc == MNEMO_ECORRUPT) /* left out, as a rebuild leaves it out; the check names it */
            rc = mnemo_vector__txn_note(vt, iid, NULL, "");
        else if (!rc) {
            char *idc = mnemo__memdup(id, il);
            rc = idc ? mnemo_vector__txn_note(vt, iid, buf, idc) : mnemo__err_nomem("vector log replay");
            mnemo__free(idc);
        }
        mnemo__free(d);
    }
    mnemo__free(buf);
    return rc;
}

/* The stored snapshot and the log entries after it, as open loads them: much cheaper than a
 * rebuild (no graph is built). A snapshot covers every trimmed entry (the trim never passes the
 * snapshot it is written with). 0 with applied_seq set and the reload counted as a rebuild, or an
 * error with the index as it was. Caller holds commit_lock and rw alone. */
static int reload_snapshot(vec_state *st, mnemo_db *db, uint64_t trimmed)
{
    if (st->n_damaged || st->unreadable[0])
        return MNEMO_ECORRUPT; /* a rebuild looks for the damage again */
    mnemo_hnsw *old = st->hnsw;
    mnemo_u64map old_ids = st->ids, none = MNEMO_U64MAP_INIT;
    uint64_t gen = st->snap_gen, next = st->next_seq, applied = 0;
    size_t entries = st->log_entries;
    st->hnsw = NULL;
    st->ids = none;
    int rc = load_snapshot(st, db, &applied);
    if (!rc && applied < trimmed)
        rc = MNEMO_ECORRUPT; /* older than the trim (replaced meanwhile?): entries in between are gone */
    if (!rc)
        probe(st, "reload_loaded");
    if (!rc)
        rc = replay(st, db, applied);
    /* a follower's every read is a catch-up point: a snapshot written between the load and the
     * replay trimmed entries after this one, which the replay then never saw (as at open):
     * EBUSY, and the caller loads that newer snapshot */
    uint64_t after;
    if (!rc && (rc = get_mark(&after, db, 'T')) == 0 && after > applied)
        rc = MNEMO_EBUSY;
    if (rc) {
        mnemo_hnsw__free(st->hnsw);
        ids_free(&st->ids);
        st->hnsw = old;
        st->ids = old_ids;
        st->snap_gen = gen;
        st->next_seq = next;
        st->log_entries = entries;
        return rc;
    }
    mnemo_hnsw__free(old);
    ids_free(&old_ids);
    st->applied_seq = st->next_seq - 1;
    st->rebuilds++;
    return 0;
}

/* A process that missed trimmed entries (or met a damaged one): the stored snapshot and the log
 * after it, or failing that a new index from vector_data, continuing after the last entry logged
 * before it started. Caller holds commit_lock. */
static int reload_locked(vec_state *st, mnemo_db *db, uint64_t trimmed)
{
    /* every entry up to the last one still logged, and at least every trimmed one: the rebuild
     * reads vector_data as it is after both */
    uint64_t last = next_seq_after(db, trimmed) - 1;
    pthread_rwlock_wrlock(&st->rw);
    int rc = reload_snapshot(st, db, trimmed);
    /* another snapshot trimmed past the loaded one meanwhile: load that one, rather than
     * rebuild (seconds at 100k vectors), unless the writer keeps outrunning the load */
    for (int again = 0; rc == MNEMO_EBUSY && again < 3; again++)
        if ((rc = get_mark(&trimmed, db, 'T')) == 0)
            rc = reload_snapshot(st, db, trimmed);
    if (rc && (rc = rebuild_from_data(st, db)) == 0)
        st->applied_seq = last;
    pthread_rwlock_unlock(&st->rw);
    if (!rc && st->rebuilding) { /* the background rebuild started from the old index: abandon it */
        pthread_mutex_lock(&st->bg_lock);
        st->pending_lost = 1;
        pthread_mutex_unlock(&st->bg_lock);
    }
    return rc;
}

static int catch_up_from_log(vec_state *st, mnemo_db *db, uint64_t below);

/* Applies every log entry after applied_seq and below `below`. Caller holds commit_lock. The log
 * and its trim mark are a cache's bookkeeping, like the snapshot: a damaged one makes the process
 * rebuild its index from vector_data (as open does), never fail its searches from then on. */
static int catch_up_locked(vec_state *st, mnemo_db *db, uint64_t below)
{
    int rc = catch_up_from_log(st, db, below);
    return rc == MNEMO_ECORRUPT ? reload_locked(st, db, st->applied_seq) : rc;
}

static int catch_up_from_log(vec_state *st, mnemo_db *db, uint64_t below)
{
    uint64_t trimmed;
    int mrc = get_mark(&trimmed, db, 'T');
    if (mrc)
        return mrc;
    if (trimmed > st->applied_seq)
        return reload_locked(st, db, trimmed);
    probe(st, "catch_up_marked");
    uint64_t from = st->applied_seq;
    unsigned char lo[9], hi[9];
    log_key(lo, st->applied_seq + 1);
    log_key(hi, below);
    if (below == UINT64_MAX)
        hi[0] = 'M'; /* every entry: up to the end of the 'L' keys */
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, lo, 9, hi, below == UINT64_MAX ? 1 : 9);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const unsigned char *v = mnemo_cursor__value(c, &vl);
        if (kl != 9)
            continue;
        uint64_t seq = mnemo__get_be64(k + 1);
        vec_txn *vt = mnemo__calloc(1, sizeof *vt);
        if (!vt) {
            rc = mnemo__err_nomem("vector log replay");
            break;
        }
        vt->st = st;
        vt->db = db;
        if (!(rc = entry_changes(st, db, v, vl, seq, vt)))
            apply_logged(st, vt, seq);
        vt_free(vt);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "vector change log");
    mnemo_cursor__close(c);
    /* A follower's every read is a catch-up point: a snapshot written between the mark's read and
     * the cursor's may have trimmed entries after `from`, which the scan then never saw (a follower
     * sends no heartbeat to hold trims back). The mark read again says whether to reload. */
    if (!rc && (rc = get_mark(&trimmed, db, 'T')) == 0 && trimmed > from)
        rc = reload_locked(st, db, trimmed);
    return rc;
}

int mnemo_vector__catch_up(vec_state *st)
{
    if (!st->shared)
        return 0;
    uint64_t now = mnemo_db__last_seq(st->db);
    if (now == atomic_load(&st->seen_seq))
        return 0;
    pthread_mutex_lock(&st->commit_lock);
    int rc = catch_up_locked(st, st->db, UINT64_MAX);
    if (!rc)
        atomic_store(&st->seen_seq, now);
    heartbeat(st, 0);
    pthread_mutex_unlock(&st->commit_lock);
    return rc;
}

int mnemo_vector__load(vec_state *st, mnemo_db *db)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* glibc lets readers starve a writer by default; commits must get in between searches */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_destroy(&st->rw);
    pthread_rwlock_init(&st->rw, &attr);
    pthread_rwlockattr_destroy(&attr);

    uint64_t applied = 0;
    int rc = load_snapshot(st, db, &applied);
    if (!rc)
        probe(st, "load_snapshot_read");
    if (!rc)
        rc = replay(st, db, applied);
    if (!rc && st->shared) {
        /* Another process may have snapshotted and trimmed the log between the snapshot read and
         * the replay (this one has no heartbeat while it loads: at open, or after an eviction):
         * the replay then found only the entries after the trim. The trim mark, read after the
         * replay, says whether entries after this snapshot are gone: then start from the data,
         * which holds them (and continue the log past the trim, as reload_locked does). */
        uint64_t trimmed;
        if ((rc = get_mark(&trimmed, db, 'T')) == 0 && trimmed > applied) {
            applied = trimmed;
            rc = MNEMO_EBUSY;
        }
    }
    if (rc) {
        mnemo_hnsw__free(st->hnsw);
        st->hnsw = NULL;
        ids_free(&st->ids);
    }
    if (!rc) {
        st->applied_seq = st->next_seq - 1;
        heartbeat(st, 1); /* so that no trim passes this process from now on */
        bg_start_heartbeat(st);
        return 0;
    }
    /* vector_index is a cache of vector_data: whatever part of it is missing, damaged or cannot
     * be read or loaded (a snapshot above RLIMIT_FSIZE cannot go through the memfd), start again
     * from the truth. */
    st->log_entries = 0;
    st->stored_bad = 1; /* a header that claims to cover this does not: the next snapshot replaces it */
    /* The data holds every trimmed entry: the rebuilt index has applied at least up to the trim
     * mark (with a damaged snapshot and a log trimmed empty, `applied` is 0 here, and an index
     * that claims less than the mark would be rebuilt again at every open). A damaged mark is
     * replaced by the next snapshot's. */
    uint64_t trimmed;
    if (get_mark(&trimmed, db, 'T') == 0 && trimmed > applied)
        applied = trimmed;
    /* The log's end first, then the data: where other processes commit meanwhile, the data read
     * is at least as new as that end (reading the end after would skip commits in between). */
    uint64_t next = next_seq_after(db, applied);
    if ((rc = rebuild_from_data(st, db)) != 0)
        return rc;
    st->next_seq = next;
    st->applied_seq = st->next_seq - 1;
    st->log_entries = st->next_seq > 1; /* stale keys: the snapshot below drops what it can read */
    /* Best effort, as at close: the index is sound; without a snapshot the next open rebuilds. */
    if (!st->read_only && (st->log_entries || mnemo_hnsw__slots(st->hnsw)))
        (void)mnemo_vector__snapshot(st, db);
    heartbeat(st, 1);
    bg_start_heartbeat(st);
    return 0;
}
