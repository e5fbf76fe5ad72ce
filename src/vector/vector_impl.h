/* Private to src/vector/: the vector space, the index state and the stored formats.
 *
 * Storage:
 *   metadata      'V' "space"              -> u8 version | u32 dim, metric, M, ef_construction,
 *                                             ef_search | u32 crc32c            (all BE)
 *   vector_data   iid (u64 BE)             -> u8 version | u32 dim (BE) | dim float32 (LE) |
 *                                             u16 id length (BE) | record id | u32 crc32c (BE)
 *   vector_index  'H'                      -> snapshot header (see index.c)
 *                 'S' gen(u64) chunk(u32)  -> snapshot bytes, in chunks
 *                 'L' seq(u64)             -> change log entry: the iids one commit changed
 *   on a shared engine (several processes; index.c "several processes"), also:
 *                 'T'                      -> sealed u64: log entries up to it may be trimmed
 *                 'P' pid(u32)             -> sealed u64 applied, u64 ms: a live process's heartbeat
 *                 'W'                      -> sealed u32 pid, u64 ms: the snapshot lease, until then
 * Carrying the record id in vector_data makes a rebuild need nothing but vector_data. */
#ifndef MNEMO_VECTOR_IMPL_H
#define MNEMO_VECTOR_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/keys.h"
#include "core/u64map.h"
#include "vector/hnsw.h"
#include "vector/vector.h"

#define VEC_SPACE_KEY MNEMO_MKEY_VECTOR_SPACE
#define VEC_DATA_VERSION 1

struct vec_change;
/* Changes committed while a background rebuild runs, kept for replay into the fresh index. */
typedef struct vec_pending {
    struct vec_pending *next;
    struct vec_change *c;
    size_t n;
} vec_pending;

typedef struct vec_state {
    mnemo_vector_space sp;
    mnemo_db *db;
    mnemo_hnsw_kind kind;
    int read_only;
    /* the index: searches hold it shared, a commit applying its changes holds it alone */
    pthread_rwlock_t rw;
    mnemo_hnsw *hnsw;
    mnemo_u64map ids; /* iid -> record id (char *, owned); entries outlive deletes until a rebuild */
    /* a commit that changes vectors holds this from its before-hook to its after-hook, so the
     * change log's order is the commit order and the index applies commits in that order */
    pthread_mutex_t commit_lock;
    uint64_t next_seq;       /* sequence of the next change-log entry */
    uint64_t snap_gen;       /* generation of the current snapshot (0: none) */
    int stored_bad;          /* the stored snapshot or log failed to load: replace it even if its header is newer */
    uint64_t log_entries;    /* entries since that snapshot */
    uint64_t changes_since;  /* vector changes since that snapshot */
    uint64_t applied_seq;    /* last log entry the index holds (changed with rw held alone) */
    uint64_t applied_changes; /* vector changes the index took in since open (with rw alone) */
    uint64_t rebuilds;
    int lagging; /* a committed change could not be applied: never snapshot (see index.c) */
    /* Shared engines: the log is keyed by the store's commit sequence (gaps between entries) and
     * other processes add to it; before a search answers, the index replays what it lacks. */
    int shared;
    _Atomic uint64_t seen_seq; /* the store's sequence at the last catch-up that found all */
    uint64_t hb_ms, hb_applied; /* when this process last published its heartbeat, and what (commit_lock) */
    /* vector_data the index could not take in: iids whose value fails its checks, and whether a
     * stretch of vector_data could not be read at all. Searches answer MNEMO_ECORRUPT naming it
     * (never a silently shorter answer) until those vectors are put again or deleted, or an open
     * reads vector_data cleanly. Changed with rw held alone. */
    uint64_t *damaged;
    size_t n_damaged, cap_damaged;
    char unreadable[256]; /* "" or what could not be read */
    /* Background maintenance (index.c): one worker thread, started when first needed, writes
     * snapshots and rebuilds the index off the commit path; close stops and joins it. */
    pthread_mutex_t bg_lock; /* guards the bg_ fields, want_* and the pending queue */
    pthread_cond_t bg_wake;  /* the worker waits for work or stop; settle waits for idle */
    pthread_t bg_thread;
    int bg_started, bg_job; /* bg_job: the job running now (BG_* in index.c), 0 when idle */
    atomic_int bg_stop;
    int want_rebuild, want_snapshot;
    int rebuilding;      /* commits queue their changes for the rebuild (set under commit_lock) */
    int pending_lost;    /* a change could not be queued: the running rebuild is abandoned */
    /* Transactions holding a write set of this state (vec_txn): it is not evicted while any is. */
    atomic_int open_txns;
    vec_pending *pending, **pending_tail;
} vec_state;

/* The kind create() and load() take for this space: its distance, with MNEMO_HNSW_SQ8 for int8. */
static inline mnemo_hnsw_kind mnemo_vector__hnsw_kind(const vec_state *st)
{
    return (mnemo_hnsw_kind)(st->kind | (st->sp.quantization == MNEMO_QUANT_INT8 ? MNEMO_HNSW_SQ8 : 0));
}
/* The stored (true) vector of iid, from vector_data as last committed, into out (dim floats):
 * 0, MNEMO_ENOTFOUND when it is gone, MNEMO_ECORRUPT. What an int8 index re-ranks with. */
int mnemo_vector__stored(const vec_state *st, uint64_t iid, float *out);

/* ---- resident.c: which indexes are in memory ---- */
/* The state, loading the index now if it is not loaded (a collection's first call that needs it,
 * or one evicted), or MNEMO_EINVAL (message names fn) when the database has no vector space. The
 * pointer is good until the guarded call on db that asked for it returns, or for as long as a
 * transaction holds a write set of it (vec_txn): an idle index may be evicted in between. */
int mnemo_vector__state(vec_state **st, mnemo_db *db, const char *fn);
/* As mnemo_vector__state, but 0 with *st NULL when db has no vector space. */
int mnemo_vector__loaded(vec_state **st, mnemo_db *db, const char *fn);
/* mnemo_vector__open of a collection that has a vector space: its index loads at first need. */
int mnemo_vector__defer(mnemo_db *db);

/* ---- space.c ---- */
/* The state of db's vector space with its index loaded (snapshot + log, or a rebuild). */
int mnemo_vector__state_open(vec_state **out, mnemo_db *db);
/* Stops its worker, writes a last snapshot when the log has entries, frees it. */
void mnemo_vector__state_close(mnemo_db *db, vec_state *st);
/* Memory the loaded index holds (graph, vectors, record ids). Caller holds nothing. */
size_t mnemo_vector__index_bytes(vec_state *st);
/* Registers the vector room's record listener on db (vector.c; mnemo_vector__open calls it). */
int mnemo_vector__listen(mnemo_db *db);

/* Checks a vector (dimension, finite, non-zero under cosine) and copies it into out, normalised
 * under cosine. `what` names it in messages. */
int mnemo_vector__prepare(float *out, const vec_state *st, const float *vec, size_t dim, const char *fn,
                          const char *what);
/* vector_data value of (vec, record id): *out is mnemo__malloc'd. */
int mnemo_vector__encode(char **out, size_t *len, const float *vec, uint32_t dim, const char *id, size_t id_len);
/* Checks a vector_data value; on success vec (dim floats) and the id slice are filled. */
int mnemo_vector__decode(const char *val, size_t len, uint32_t dim, float *vec, const char **id, size_t *id_len,
                         uint64_t iid);
void mnemo_vector__data_key(unsigned char key[8], uint64_t iid);

/* ---- index.c ---- */
/* A transaction's vector changes (its write set), kept until its commit hook applies them. */
typedef struct vec_change {
    uint64_t iid;
    float *vec; /* NULL: the embedding is deleted */
    char *id;
} vec_change;
typedef struct vec_txn {
    vec_state *st;
    mnemo_db *db;
    vec_change *c;
    size_t n, cap;
    mnemo_u64map pos; /* iid -> index into c + 1 */
    int logged;       /* the before-hook took commit_lock and wrote the log entry */
} vec_txn;

/* The write set of txn, created (and its commit hook registered) on first use when create. */
int mnemo_vector__txn(vec_txn **out, vec_state *st, mnemo_db *db, mnemo_txn *txn, int create);
/* Records a change in the write set; vec is copied (NULL: delete). */
int mnemo_vector__txn_note(vec_txn *vt, uint64_t iid, const float *vec, const char *id);
/* The change to iid in the write set, or NULL. */
const vec_change *mnemo_vector__txn_find(const vec_txn *vt, uint64_t iid);

int mnemo_vector__load(vec_state *st, mnemo_db *db);
/* 0, or MNEMO_ECORRUPT naming the vector_data the index lacks (see vec_state.damaged). */
int mnemo_vector__usable(vec_state *st, const char *fn);
int mnemo_vector__snapshot(vec_state *st, mnemo_db *db);
/* Shared engines: brings the index up to the change log's end (other processes' commits); a
 * process that fell behind a trim rebuilds. Cheap when nothing was committed since the last call.
 * 0 elsewhere. */
int mnemo_vector__catch_up(vec_state *st);
/* Shared engines: the process leaves (close): its heartbeat key goes. */
void mnemo_vector__leave(vec_state *st);
/* How long a heartbeat or the snapshot lease holds, in ms (tests shorten it). */
extern uint64_t mnemo_vector__lease_ms;
/* Stops the background worker (a job in progress is abandoned, never half-published) and joins it. */
void mnemo_vector__bg_stop(vec_state *st);
void mnemo_vector__state_free(vec_state *st);
/* Record id of an indexed iid (borrowed; caller holds st->rw), or NULL. */
const char *mnemo_vector__id_of(vec_state *st, uint64_t iid);

/* ---- exact.c ---- */
/* Exact k nearest over the live rows of the index for nq queries (OpenBLAS sgemm per block of
 * rows). Caller holds st->rw shared. labels/dists are nq * k; counts[i] = hits of query i. accept
 * (may be NULL) filters labels. */
int mnemo_vector__exact_scan(const vec_state *st, const float *queries, size_t nq, size_t k,
                             int (*accept)(void *arg, uint64_t label), void *arg, uint64_t *labels, float *dists,
                             size_t *counts);

#endif
