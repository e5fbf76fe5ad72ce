/* The LMDB engine (Debian's liblmdb): one environment in the database directory, one named
 * database per keyspace, optimistic transactions on LMDB's single writer. docs/storage-lmdb.md
 * describes the layout, the validation rule, durability, long keys and map growth. */
#include <lmdb.h>

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "store/lmdb/lmdb_test.h"
#include "store/store.h"

#define LM_DATA_FILE "data.mdb"
#define LM_LOCK_FILE "mnemo.lock" /* ours: a shared flock per opener (see lm_open) */
#define LM_DEFAULT_MAP ((size_t)64 << 20)
#define LM_DEFAULT_READERS 1024u
#define LM_GROW_WAIT_S 10 /* how long a map growth waits for open snapshots of this process */
#define LM_POOL 16        /* reset read transactions kept for reuse per store */

/* Long keys. LMDB keys are at most mdb_env_get_maxkeysize() bytes (511 in Debian's build); mnemo
 * keys may be longer. A key shorter than LM_P bytes is stored as it is. A key of LM_P bytes or
 * more lives in a bucket stored under its first LM_P bytes (so a stored key of exactly LM_P bytes
 * is always a bucket); the bucket holds the sorted (rest, value) pairs of every such key.
 *
 * Why the order is kept (stored keys compare with memcmp, a shorter prefix first): take a short
 * key s (|s| < LM_P) and a bucket b = p with |p| = LM_P holding keys p+r. s != p (lengths differ).
 * If s is a prefix of p, then s < p+r for every r and s < p as stored. Otherwise s and p differ
 * first at some i < |s|, and that byte orders s against p and against every p+r alike. Two
 * buckets p != q differ within their first LM_P bytes, which order p+r against q+r' alike. Inside
 * a bucket the order of p+r is the order of r. So walking the stored keys in order and each
 * bucket's entries in order gives every logical key in order, and a seek for k lands on the
 * stored key min(k, k[0..LM_P)) as expected (lm_b_seek_ge). */
#define LM_P 511u

/* ---------------------------------------------------------------------------------------- */
/* keys and errors */

/* Cursors compare every key they step on with their bound: eight bytes at a time inline, as a
 * call to memcmp costs more than the compare for mnemo's short keys. */
static inline int lm_kcmp(const void *a, size_t al, const void *b, size_t bl)
{
    const unsigned char *x = a, *y = b;
    size_t n = al < bl ? al : bl, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u = mnemo__get_be64(x + i), v = mnemo__get_be64(y + i);
        if (u != v)
            return u < v ? -1 : 1;
    }
    for (; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return al < bl ? -1 : al > bl;
}

struct mnemo_store {
    MDB_env *env;
    char *dir;
    char *data_file; /* dir/data.mdb, for messages */
    int lock_fd;
    int registered; /* in lm_reg (one handle per process) */
    dev_t reg_dev;
    ino_t reg_ino;
    int read_only;
    unsigned n_ks;
    MDB_dbi *dbi;
    char **ks_name;
    MDB_dbi ver_dbi; /* key versions (see lm_validate); 0 when a read-only handle found none */
    int has_ver;
    /* The gate: mdb_env_set_mapsize needs every transaction of this process in this environment
     * to be over. `active` counts open LMDB transactions (snapshots, borrowed values, cursors,
     * commits); a growth sets `resizing` (under mu), which holds back new ones, and waits for
     * active == 0. Entering and leaving are one atomic add each when no growth is pending (point
     * reads pass the gate twice: a mutex there cost more than the read's own bookkeeping). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint active;
    atomic_int resizing;
    size_t psize;
    atomic_int want_grow; /* data passed half the map: grow when the process is next quiescent */
    size_t map_size;      /* under mu */
    /* Read snapshots kept reset for reuse, a slot each (taken and given back with one atomic
     * exchange): mdb_txn_renew of a reset transaction keeps its reader slot, where mdb_txn_begin
     * under MDB_NOTLS takes the reader table's lock, searches a free slot and allocates the
     * transaction on every point read and cursor. */
    _Atomic(struct lm_snap *) pool[LM_POOL];
};

static size_t lm_test_map;
static unsigned lm_test_readers;
void mnemo_store__lmdb_test_initial_map(size_t bytes) { lm_test_map = bytes; }
void mnemo_store__lmdb_test_max_readers(unsigned n) { lm_test_readers = n; }

static const char *lm_ks(mnemo_store *s, unsigned ks) { return ks < s->n_ks ? s->ks_name[ks] : "?"; }

/* Translates an LMDB return code (or an errno) into MNEMO_E*, message "<what>: ...". */
static int lm_err(mnemo_store *s, int rc, const char *what, unsigned ks)
{
    const char *file = s ? s->data_file : LM_DATA_FILE;
    const char *ksn = s && ks < s->n_ks ? s->ks_name[ks] : "-";
    switch (rc) {
    case MDB_NOTFOUND: return mnemo__err(MNEMO_ENOTFOUND, "%s: not found (keyspace %s)", what, ksn);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return mnemo__err(MNEMO_ECORRUPT, "%s: %s is corrupt (keyspace %s): %s", what, file, ksn, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return mnemo__err(MNEMO_EVERSION, "%s: %s was written by another LMDB format: %s", what, file,
                          mdb_strerror(rc));
    case MDB_READERS_FULL:
        return mnemo__err(MNEMO_EBUSY, "%s: every LMDB reader slot of %s is taken (too many open transactions)",
                          what, file);
    case MDB_TXN_FULL:
        return mnemo__err(MNEMO_ERROR, "%s: transaction too large for LMDB (split it): %s", what, mdb_strerror(rc));
    case MDB_BAD_VALSIZE: return mnemo__err(MNEMO_EINVAL, "%s: %s (keyspace %s)", what, mdb_strerror(rc), ksn);
    case MDB_MAP_FULL: return mnemo__err(MNEMO_EIO, "%s: %s: map full", what, file);
    case ENOSPC: return mnemo__err(MNEMO_EIO, "%s: no space left on device for %s", what, file);
    case EROFS: return mnemo__err(MNEMO_EREADONLY, "%s: %s is on a read-only file system", what, file);
    case EACCES:
    case EPERM: return mnemo__err(MNEMO_EIO, "%s: permission denied on %s", what, file);
    case EIO: { /* LMDB reports a short write as EIO: on a full file system, say so */
        struct statvfs fs;
        if (s && statvfs(s->dir, &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < ((uint64_t)1 << 20))
            return mnemo__err(MNEMO_EIO, "%s: no space left on device for %s (LMDB: short write)", what, file);
        return mnemo__err(MNEMO_EIO, "%s: %s: %s", what, file, strerror(rc));
    }
    case ENOMEM: return mnemo__err(MNEMO_ENOMEM, "%s: out of memory (LMDB)", what);
    default:
        if (rc > 0)
            return mnemo__err(MNEMO_EIO, "%s: %s: %s", what, file, strerror(rc));
        return mnemo__err(MNEMO_ERROR, "%s: %s: %s", what, file, mdb_strerror(rc));
    }
}

static int lm_corrupt_bucket(mnemo_store *s, unsigned ks, const char *what)
{
    return mnemo__err(MNEMO_ECORRUPT, "%s: %s is corrupt (keyspace %s): a long-key bucket fails its check", what,
                      s->data_file, lm_ks(s, ks));
}

static int lm_check_key(mnemo_store *s, unsigned ks, size_t klen, const char *what)
{
    if (ks >= s->n_ks)
        return mnemo__err(MNEMO_EINVAL, "%s: no keyspace %u", what, ks);
    if (klen == 0)
        return mnemo__err(MNEMO_EINVAL, "%s: empty key (keyspace %s)", what, s->ks_name[ks]);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* long-key buckets: u8 version (1), u32 count, count x (u32 rest length, u32 value length, rest,
 * value) sorted by rest, u32 crc32c of everything before; all integers big-endian. */

#define LM_BUCKET_VERSION 1

typedef struct lm_entry {
    const unsigned char *rest, *val;
    size_t rlen, vlen;
} lm_entry;

/* Parses and checks a bucket; *ents (capacity *cap) receives its entries. 0 or -1 (corrupt) or
 * MNEMO_ENOMEM. */
static int lm_bucket_parse(const MDB_val *b, lm_entry **ents, size_t *cap, size_t *n)
{
    const unsigned char *p = b->mv_data;
    size_t len = b->mv_size;
    if (len < 9 || p[0] != LM_BUCKET_VERSION || mnemo__get_be32(p + len - 4) != mnemo__crc32c(0, p, len - 4))
        return -1;
    size_t count = mnemo__get_be32(p + 1), off = 5, end = len - 4;
    if (count > end / 8 || mnemo__grow(ents, cap, count ? count : 1, sizeof(lm_entry), 8))
        return count > end / 8 ? -1 : MNEMO_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        if (end - off < 8)
            return -1;
        size_t rl = mnemo__get_be32(p + off), vl = mnemo__get_be32(p + off + 4);
        off += 8;
        if (rl > end - off || vl > end - off - rl)
            return -1;
        lm_entry *e = &(*ents)[i];
        e->rest = p + off;
        e->rlen = rl;
        e->val = p + off + rl;
        e->vlen = vl;
        off += rl + vl;
        if (i && lm_kcmp((*ents)[i - 1].rest, (*ents)[i - 1].rlen, rl ? e->rest : (const unsigned char *)"", rl) >= 0)
            return -1;
    }
    *n = count;
    return off == end ? 0 : -1;
}

/* First entry whose rest is >= r (n if none). */
static size_t lm_bucket_lower(const lm_entry *e, size_t n, const void *r, size_t rl)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lm_kcmp(e[mid].rest, e[mid].rlen, r, rl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Builds the bucket `e` (n entries) with the entry for rest r replaced by v (inserted when absent;
 * removed when v is NULL). *out is malloc'd, *olen 0 when the bucket ends up empty. */
static int lm_bucket_build(const lm_entry *e, size_t n, const void *r, size_t rl, const void *v, size_t vl,
                           unsigned char **out, size_t *olen)
{
    size_t at = lm_bucket_lower(e, n, r, rl);
    int hit = at < n && lm_kcmp(e[at].rest, e[at].rlen, r, rl) == 0;
    size_t count = n - (size_t)hit + (v != NULL), size = 9;
    for (size_t i = 0; i < n; i++)
        size += (i == at && hit) ? 0 : 8 + e[i].rlen + e[i].vlen;
    if (v)
        size += 8 + rl + vl;
    *olen = 0;
    *out = NULL;
    if (count == 0)
        return 0;
    if (count > UINT32_MAX || rl > UINT32_MAX || vl > UINT32_MAX)
        return mnemo__err(MNEMO_EINVAL, "store put: long-key bucket too large");
    unsigned char *b = mnemo__malloc(size), *p = b + 5;
    if (!b)
        return mnemo__err_nomem("store put: long-key bucket");
    b[0] = LM_BUCKET_VERSION;
    mnemo__put_be32(b + 1, (uint32_t)count);
    for (size_t i = 0; i <= n; i++) {
        if (i == at && v) {
            mnemo__put_be32(p, (uint32_t)rl);
            mnemo__put_be32(p + 4, (uint32_t)vl);
            memcpy(p + 8, r, rl);
            if (vl)
                memcpy(p + 8 + rl, v, vl);
            p += 8 + rl + vl;
        }
        if (i == n || (i == at && hit))
            continue;
        mnemo__put_be32(p, (uint32_t)e[i].rlen);
        mnemo__put_be32(p + 4, (uint32_t)e[i].vlen);
        memcpy(p + 8, e[i].rest, e[i].rlen);
        if (e[i].vlen)
            memcpy(p + 8 + e[i].rlen, e[i].val, e[i].vlen);
        p += 8 + e[i].rlen + e[i].vlen;
    }
    mnemo__put_be32(p, mnemo__crc32c(0, b, size - 4));
    *out = b;
    *olen = size;
    return 0;
}

/* Point read of a logical key inside LMDB transaction t: 0 with *v pointing into the page,
 * MNEMO_ENOTFOUND (no message), or an error. */
static int lm_read(mnemo_store *s, MDB_txn *t, unsigned ks, const void *key, size_t klen, MDB_val *v,
                   const char *what)
{
    MDB_val k = {klen < LM_P ? klen : LM_P, (void *)key};
    int rc = mdb_get(t, s->dbi[ks], &k, v);
    if (rc == MDB_NOTFOUND)
        return MNEMO_ENOTFOUND;
    if (rc)
        return lm_err(s, rc, what, ks);
    if (klen < LM_P)
        return 0;
    lm_entry *e = NULL;
    size_t cap = 0, n = 0;
    rc = lm_bucket_parse(v, &e, &cap, &n);
    if (rc == 0) {
        size_t at = lm_bucket_lower(e, n, (const unsigned char *)key + LM_P, klen - LM_P);
        if (at < n && lm_kcmp(e[at].rest, e[at].rlen, (const unsigned char *)key + LM_P, klen - LM_P) == 0) {
            v->mv_data = (void *)e[at].val;
            v->mv_size = e[at].vlen;
        } else
            rc = MNEMO_ENOTFOUND;
    } else
        rc = rc == -1 ? lm_corrupt_bucket(s, ks, what) : rc;
    mnemo__free(e);
    return rc;
}

/* Writes (val != NULL) or deletes a logical key in write transaction w; counts in *changed the
 * writes that changed something (a delete of an absent key does not). Returns 0, an MNEMO_E*
 * code, or LM_FULL when the map is full. */
#define LM_FULL 1
/* An MNEMO_E* code (already translated), as opposed to an LMDB code or an errno. */
#define LM_IS_MNEMO(rc) ((rc) < 0 && (rc) >= MNEMO_ENOTSUP)
/* *same = 1 when a put finds the key holding exactly these bytes: nothing is written then, and
 * the caller records the rewrite in the key's version instead (lm_ver_bump), which is what makes
 * it conflict. A delete of an absent key writes nothing. */
static int lm_write(mnemo_store *s, MDB_txn *w, unsigned ks, const void *key, size_t klen, const void *val,
                    size_t vlen, int *changed, int *same, const char *what)
{
    MDB_val k = {klen < LM_P ? klen : LM_P, (void *)key}, v = {vlen, (void *)val}, old;
    int rc;
    *same = 0;
    if (klen < LM_P) {
        if (!val) {
            rc = mdb_del(w, s->dbi[ks], &k, NULL);
            if (rc == MDB_NOTFOUND)
                return 0;
        } else {
            /* One descent for a new key: NOOVERWRITE inserts it, or hands back the value held. */
            old = v;
            rc = mdb_put(w, s->dbi[ks], &k, &old, MDB_NOOVERWRITE);
            if (rc == MDB_KEYEXIST) {
                if (old.mv_size == vlen && !memcmp(old.mv_data, val, vlen)) {
                    *same = 1;
                    return 0;
                }
                rc = mdb_put(w, s->dbi[ks], &k, &v, 0);
            }
        }
        *changed += rc == 0;
        return rc == MDB_MAP_FULL ? LM_FULL : rc ? lm_err(s, rc, what, ks) : 0;
    }
    const unsigned char *rest = (const unsigned char *)key + LM_P;
    size_t rlen = klen - LM_P, n = 0, cap = 0, blen = 0;
    lm_entry *e = NULL;
    unsigned char *b = NULL;
    rc = mdb_get(w, s->dbi[ks], &k, &old);
    if (rc == 0) {
        rc = lm_bucket_parse(&old, &e, &cap, &n);
        if (rc == -1)
            rc = lm_corrupt_bucket(s, ks, what);
    } else
        rc = rc == MDB_NOTFOUND ? 0 : lm_err(s, rc, what, ks);
    size_t at = rc ? 0 : lm_bucket_lower(e, n, rest, rlen);
    int absent = at >= n || lm_kcmp(e[at].rest, e[at].rlen, rest, rlen) != 0;
    if (rc == 0)
        *same = !absent && val && e[at].vlen == vlen && !memcmp(e[at].val, val, vlen);
    if (rc == 0 && !*same && !(absent && !val)) { /* deleting an absent key rewrites nothing */
        rc = lm_bucket_build(e, n, rest, rlen, val, vlen, &b, &blen);
        MDB_val bv = {blen, b};
        if (rc == 0) {
            rc = blen ? mdb_put(w, s->dbi[ks], &k, &bv, 0) : mdb_del(w, s->dbi[ks], &k, NULL);
            *changed += rc == 0;
            rc = rc == MDB_MAP_FULL ? LM_FULL : rc ? lm_err(s, rc, what, ks) : 0;
        }
    }
    mnemo__free(e);
    mnemo__free(b);
    return rc;
}

/* Key versions: the id of the last write transaction that rewrote a key with the bytes it already
 * held, in the named database LM_VERSIONS under a 64-bit hash of (keyspace, key). Validation
 * compares them as well as the bytes, so such a rewrite (the record room's pin, which turns "the
 * edges of this record changed" into "this record's key changed") still conflicts with a
 * transaction that read the key. A write that changes the bytes needs no version: the bytes
 * differ, and if a later write brings them back (A->B->A), what the reader saw is again true at
 * its commit, so it may commit (serializable at that point). Two keys sharing a hash only make
 * conflicts more likely, never fewer. */
#define LM_VERSIONS "mnemo.versions"

static void lm_ver_key(unsigned ks, const void *key, size_t klen, unsigned char out[8])
{
    uint64_t h = 0xcbf29ce484222325ull ^ ks; /* FNV-1a */
    const unsigned char *p = key;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(h >> (56 - 8 * i));
}

static uint64_t lm_ver(mnemo_store *s, MDB_txn *t, unsigned ks, const void *key, size_t klen)
{
    if (!s->has_ver)
        return 0;
    unsigned char h[8];
    lm_ver_key(ks, key, klen, h);
    MDB_val k = {8, h}, v;
    uint64_t ver = 0;
    if (mdb_get(t, s->ver_dbi, &k, &v) == 0 && v.mv_size == 8)
        memcpy(&ver, v.mv_data, 8);
    return ver;
}

/* Records that write transaction w wrote the key: 0, LM_FULL, or an error. */
static int lm_ver_bump(mnemo_store *s, MDB_txn *w, int *changed, unsigned ks, const void *key, size_t klen,
                       const char *what)
{
    unsigned char h[8];
    lm_ver_key(ks, key, klen, h);
    uint64_t id = (uint64_t)mdb_txn_id(w);
    MDB_val k = {8, h}, v = {8, &id};
    int rc = mdb_put(w, s->ver_dbi, &k, &v, 0);
    *changed += rc == 0;
    return rc == MDB_MAP_FULL ? LM_FULL : rc ? lm_err(s, rc, what, ks) : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* the gate and map growth */

static void lm_gate_leave(mnemo_store *s);

/* Doubles the map; mu held, resizing set, no transaction active. */
static int lm_grow_locked(mnemo_store *s, int adopt)
{
    int rc = mdb_env_set_mapsize(s->env, adopt ? 0 : s->map_size * 2);
    MDB_envinfo info;
    if (rc == 0 && mdb_env_info(s->env, &info) == 0)
        s->map_size = info.me_mapsize;
    atomic_store(&s->want_grow, 0);
    return rc;
}

/* before_wait (if any) runs when a growth is pending, before waiting for it: a commit drops its
 * own snapshot there so that the growth does not wait for it.
 * The fast path is a Dekker pair with lm_grow: a reader adds to active, then looks at resizing;
 * a grower sets resizing, then looks at active (both sequentially consistent), so one of the two
 * sees the other. resizing only changes under mu. */
static void lm_gate_enter(mnemo_store *s, void (*before_wait)(void *), void *ctx)
{
    atomic_fetch_add(&s->active, 1);
    if (!atomic_load(&s->resizing))
        return;
    lm_gate_leave(s);
    if (before_wait)
        before_wait(ctx);
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->resizing))
        pthread_cond_wait(&s->cv, &s->mu);
    atomic_fetch_add(&s->active, 1); /* resizing cannot be set while mu is held */
    pthread_mutex_unlock(&s->mu);
}

static void lm_gate_leave(mnemo_store *s)
{
    if (atomic_fetch_sub(&s->active, 1) != 1 || (!atomic_load(&s->resizing) && !atomic_load(&s->want_grow)))
        return;
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->want_grow) && !atomic_load(&s->resizing)) { /* growing now is free: nobody waits */
        atomic_store(&s->resizing, 1);
        if (atomic_load(&s->active) == 0) /* else the last one out of those who came in tries again */
            lm_grow_locked(s, 0);
        atomic_store(&s->resizing, 0);
    }
    pthread_cond_broadcast(&s->cv); /* a growth waiting for active == 0, or readers held back */
    pthread_mutex_unlock(&s->mu);
}

static size_t lm_map_seen(mnemo_store *s)
{
    pthread_mutex_lock(&s->mu);
    size_t m = s->map_size;
    pthread_mutex_unlock(&s->mu);
    return m;
}

/* The latest commit of any process, from the meta pages (through the map: inside the gate). */
static uint64_t lm_last_seq(mnemo_store *s)
{
    MDB_envinfo info;
    lm_gate_enter(s, NULL, NULL);
    int rc = mdb_env_info(s->env, &info);
    lm_gate_leave(s);
    return rc ? 0 : (uint64_t)info.me_last_txnid;
}

/* Doubles the map (seen: the size the caller found full; 0: adopt the size another process set,
 * after MDB_MAP_RESIZED). The caller holds no transaction of this store. */
static int lm_grow(mnemo_store *s, size_t seen)
{
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->resizing) || (seen && s->map_size > seen)) { /* another thread grows or grew it */
        while (atomic_load(&s->resizing))
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    atomic_store(&s->resizing, 1);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += LM_GROW_WAIT_S;
    int rc = 0;
    while (atomic_load(&s->active) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    if (atomic_load(&s->active)) {
        rc = mnemo__err(MNEMO_EBUSY,
                        "commit: %s needs a larger map, which waits for every open transaction, cursor and "
                        "borrowed value of this database; one stayed open %d s (retry after closing it)",
                        s->data_file, LM_GROW_WAIT_S);
    } else {
        rc = lm_grow_locked(s, !seen);
        rc = rc ? lm_err(s, rc, "commit: growing the map", 0) : 0;
    }
    atomic_store(&s->resizing, 0);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int mnemo_store__lmdb_test_growth_pending(mnemo_store *s)
{
    return atomic_load(&s->resizing);
}

size_t mnemo_store__lmdb_test_map_size(mnemo_store *s) { return lm_map_seen(s); }

/* mdb_reader_list calls this once per line: a header, then "pid thread txnid" per reader. */
static int lm_count_reader(const char *msg, void *ctx)
{
    while (*msg == ' ')
        msg++;
    if (*msg >= '0' && *msg <= '9')
        (*(int *)ctx)++;
    return 0;
}

int mnemo_store__lmdb_test_readers(mnemo_store *s)
{
    int n = 0;
    mdb_reader_list(s->env, lm_count_reader, &n);
    return n;
}

/* ---------------------------------------------------------------------------------------- */
/* snapshots and pins */

enum { LM_PIN_SNAP = 1, LM_PIN_COPY = 2 };

/* A read-only LMDB transaction shared by a store transaction, its cursors and borrowed values. */
typedef struct lm_snap {
    int kind; /* LM_PIN_SNAP */
    atomic_uint refs;
    mnemo_store *s;
    MDB_txn *t;
} lm_snap;

typedef struct lm_copy {
    int kind; /* LM_PIN_COPY */
    unsigned char data[];
} lm_copy;

/* A reset snapshot from the pool, or NULL when every slot is empty. */
static lm_snap *lm_pool_take(mnemo_store *s)
{
    for (unsigned i = 0; i < LM_POOL; i++) {
        lm_snap *sn = atomic_load_explicit(&s->pool[i], memory_order_relaxed);
        if (sn && (sn = atomic_exchange(&s->pool[i], NULL)))
            return sn;
    }
    return NULL;
}

/* 1 if a free slot took sn. */
static int lm_pool_give(mnemo_store *s, lm_snap *sn)
{
    for (unsigned i = 0; i < LM_POOL; i++) {
        lm_snap *none = NULL;
        if (!atomic_load_explicit(&s->pool[i], memory_order_relaxed) &&
            atomic_compare_exchange_strong(&s->pool[i], &none, sn))
            return 1;
    }
    return 0;
}

static int lm_snap_open(lm_snap **out, mnemo_store *s, const char *what)
{
    int checked = 0;
    lm_snap *sn;
    for (;;) {
        lm_gate_enter(s, NULL, NULL);
        sn = lm_pool_take(s);
        int rc;
        if (sn) {
            if ((rc = mdb_txn_renew(sn->t)) == 0)
                break;
            mdb_txn_abort(sn->t);
            mnemo__free(sn);
            lm_gate_leave(s);
            continue; /* a fresh one says why, if it fails too */
        }
        if (!(sn = mnemo__malloc(sizeof *sn))) {
            lm_gate_leave(s);
            return mnemo__err_nomem(what);
        }
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &sn->t);
        if (rc == 0)
            break;
        mnemo__free(sn);
        lm_gate_leave(s);
        if (rc == MDB_READERS_FULL && !checked) { /* slots of dead processes? */
            int dead = 0;
            checked = 1;
            mdb_reader_check(s->env, &dead);
            if (dead)
                continue;
        }
        if (rc == MDB_MAP_RESIZED && (rc = lm_grow(s, 0)) == 0)
            continue;
        return LM_IS_MNEMO(rc) ? rc : lm_err(s, rc, what, 0);
    }
    sn->kind = LM_PIN_SNAP;
    atomic_init(&sn->refs, 1);
    sn->s = s;
    *out = sn;
    return 0;
}

static void lm_snap_ref(lm_snap *sn) { atomic_fetch_add(&sn->refs, 1); }

/* The last reference resets the snapshot and gives it back to the pool (a reset transaction
 * holds no pages: growing the map and writers never wait for it). */
static void lm_snap_unref(lm_snap *sn)
{
    if (!sn || atomic_fetch_sub(&sn->refs, 1) != 1)
        return;
    mnemo_store *s = sn->s;
    mdb_txn_reset(sn->t);
    if (!lm_pool_give(s, sn)) { /* the pool is full: the transaction goes before the gate opens for a growth */
        mdb_txn_abort(sn->t);
        mnemo__free(sn);
    }
    lm_gate_leave(s);
}

static void lm_release_value(mnemo_store *s, mnemo_store_value *v)
{
    (void)s;
    if (!v || !v->pin)
        return;
    if (*(int *)v->pin == LM_PIN_SNAP)
        lm_snap_unref(v->pin);
    else
        mnemo__free(v->pin);
    v->pin = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* the write buffer: one skip list per keyspace, ordered by key */

#define LM_SL_MAX 20
enum { LM_OP_NONE = 0, LM_OP_PUT, LM_OP_DEL };

typedef struct lm_node {
    struct lm_node *prev; /* level 0, NULL before the first */
    unsigned char *val;   /* owned; for LM_OP_PUT */
    size_t vlen;
    const unsigned char *seen; /* the value at the snapshot (into its page, or owned when seen_owned) */
    size_t seen_len;
    size_t klen;
    unsigned char op;
    unsigned char validate;   /* tracked read or written: checked at commit */
    unsigned char seen_known; /* seen/seen_present hold the key's state at the snapshot */
    unsigned char seen_present;
    unsigned char seen_owned;
    unsigned char height;
    uint64_t seen_ver; /* the key's version at the snapshot (lm_ver), with seen_known */
    unsigned char *key; /* inline, after next[] */
    struct lm_node *next[];
} lm_node;

typedef struct lm_list {
    lm_node *head; /* LM_SL_MAX levels, no key */
    lm_node *last;
    int levels;
} lm_list;

typedef struct lm_uwrite {
    unsigned ks;
    int at_commit; /* key is a prefix: the commit's id is appended (put_at_commit) */
    unsigned char *key, *val; /* one allocation: key then value */
    size_t klen, vlen;
} lm_uwrite;

struct mnemo_store_txn {
    mnemo_store *s;
    lm_snap *snap; /* NULL once the commit let it go */
    uint64_t version;
    int read_only, finished;
    int has_read; /* any get or cursor: until then its writes are blind and need no validation */
    lm_list *lists; /* n_ks, allocated at the first write or tracked read */
    uint64_t rng;
    lm_uwrite *uw;
    size_t n_uw, cap_uw;
    void **grave; /* values replaced by a later write: cursors may still point at them */
    size_t n_grave, cap_grave;
};

static lm_node *lm_node_find_ge(lm_list *l, const void *key, size_t klen, lm_node **update)
{
    lm_node *x = l->head;
    for (int i = LM_SL_MAX - 1; i >= 0; i--) {
        while (x->next[i] && lm_kcmp(x->next[i]->key, x->next[i]->klen, key, klen) < 0)
            x = x->next[i];
        if (update)
            update[i] = x;
    }
    return x->next[0];
}

static lm_node *lm_node_find(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen)
{
    if (!t->lists || !t->lists[ks].head)
        return NULL;
    lm_node *n = lm_node_find_ge(&t->lists[ks], key, klen, NULL);
    return n && lm_kcmp(n->key, n->klen, key, klen) == 0 ? n : NULL;
}

/* The node of key in keyspace ks, inserted (op NONE) if missing; NULL on ENOMEM (message set). */
static lm_node *lm_node_get(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen)
{
    if (!t->lists && !(t->lists = mnemo__calloc(t->s->n_ks, sizeof(lm_list)))) {
        mnemo__err_nomem("store txn: write buffer");
        return NULL;
    }
    lm_list *l = &t->lists[ks];
    if (!l->head && !(l->head = mnemo__calloc(1, sizeof(lm_node) + LM_SL_MAX * sizeof(lm_node *)))) {
        mnemo__err_nomem("store txn: write buffer");
        return NULL;
    }
    lm_node *update[LM_SL_MAX];
    lm_node *n = lm_node_find_ge(l, key, klen, update);
    if (n && lm_kcmp(n->key, n->klen, key, klen) == 0)
        return n;
    int h = 1;
    while (h < LM_SL_MAX) { /* p = 1/4 per level */
        t->rng ^= t->rng << 13;
        t->rng ^= t->rng >> 7;
        t->rng ^= t->rng << 17;
        if (t->rng & 3)
            break;
        h++;
    }
    n = mnemo__calloc(1, sizeof(lm_node) + (size_t)h * sizeof(lm_node *) + klen);
    if (!n) {
        mnemo__err_nomem("store txn: write buffer");
        return NULL;
    }
    n->height = (unsigned char)h;
    n->key = (unsigned char *)&n->next[h];
    memcpy(n->key, key, klen);
    n->klen = klen;
    for (int i = 0; i < h; i++) {
        n->next[i] = update[i]->next[i];
        update[i]->next[i] = n;
    }
    n->prev = update[0] == l->head ? NULL : update[0];
    if (n->next[0])
        n->next[0]->prev = n;
    else
        l->last = n;
    return n;
}

static void lm_list_free(lm_list *l)
{
    if (!l->head)
        return;
    for (lm_node *n = l->head->next[0], *nx; n; n = nx) {
        nx = n->next[0];
        mnemo__free(n->val);
        if (n->seen_owned)
            mnemo__free((void *)n->seen);
        mnemo__free(n);
    }
    mnemo__free(l->head);
}

/* ---------------------------------------------------------------------------------------- */
/* transactions */

static int lm_txn_begin(mnemo_store_txn **out, mnemo_store *s, int read_only)
{
    if (!read_only && s->read_only)
        return mnemo__err(MNEMO_EREADONLY, "store txn: %s is open read-only", s->dir);
    mnemo_store_txn *t = mnemo__calloc(1, sizeof *t);
    if (!t)
        return mnemo__err_nomem("store txn");
    int rc = lm_snap_open(&t->snap, s, "store txn begin");
    if (rc) {
        mnemo__free(t);
        return rc;
    }
    t->s = s;
    t->read_only = read_only;
    t->version = mdb_txn_id(t->snap->t);
    t->rng = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ull | 1;
    *out = t;
    return 0;
}

static uint64_t lm_txn_version(mnemo_store_txn *t) { return t->version; }

static int lm_usable(mnemo_store_txn *t, const char *what)
{
    if (!t || t->finished)
        return mnemo__err(MNEMO_EINVAL, "%s: transaction already finished", what);
    return 0;
}

static int lm_get(mnemo_store *s, mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, int track,
                  mnemo_store_value *out)
{
    int rc = lm_check_key(s, ks, klen, "store get");
    if (rc || (t && (rc = lm_usable(t, "store get"))))
        return rc;
    int writable = t && !t->read_only;
    if (t)
        t->has_read = 1;
    lm_node *n = writable ? lm_node_find(t, ks, key, klen) : NULL;
    if (n && n->op == LM_OP_DEL)
        return MNEMO_ENOTFOUND;
    if (n && n->op == LM_OP_PUT) { /* own write: a copy, since a later write replaces it */
        lm_copy *c = mnemo__malloc(sizeof *c + n->vlen + 1);
        if (!c)
            return mnemo__err_nomem("store get");
        c->kind = LM_PIN_COPY;
        if (n->vlen)
            memcpy(c->data, n->val, n->vlen);
        out->data = c->data;
        out->len = n->vlen;
        out->pin = c;
        return 0;
    }
    lm_snap *sn = t ? t->snap : NULL;
    if (!sn && (rc = lm_snap_open(&sn, s, "store get")))
        return rc;
    MDB_val v;
    rc = lm_read(s, sn->t, ks, key, klen, &v, "store get");
    if (writable && track && (rc == 0 || rc == MNEMO_ENOTFOUND)) {
        if (!n && !(n = lm_node_get(t, ks, key, klen)))
            return MNEMO_ENOMEM;
        if (!n->seen_known) {
            n->seen_known = 1;
            n->seen_ver = lm_ver(s, sn->t, ks, key, klen);
            n->seen_present = rc == 0;
            n->seen = rc == 0 ? v.mv_data : NULL;
            n->seen_len = rc == 0 ? v.mv_size : 0;
        }
        n->validate = 1;
    }
    if (rc) {
        if (!t)
            lm_snap_unref(sn);
        return rc;
    }
    if (t)
        lm_snap_ref(sn);
    out->data = v.mv_data;
    out->len = v.mv_size;
    out->pin = sn;
    return 0;
}

static int lm_prewrite(mnemo_store_txn *t, unsigned ks, size_t klen, const char *what)
{
    int rc = lm_usable(t, what);
    if (rc || (rc = lm_check_key(t->s, ks, klen, what)))
        return rc;
    if (t->read_only)
        return mnemo__err(MNEMO_EREADONLY, "%s: read-only transaction", what);
    return 0;
}

static int lm_bury(mnemo_store_txn *t, lm_node *n)
{
    if (!n->val)
        return 0;
    if (mnemo__grow(&t->grave, &t->cap_grave, t->n_grave + 1, sizeof(void *), 16))
        return MNEMO_ENOMEM;
    t->grave[t->n_grave++] = n->val;
    n->val = NULL;
    return 0;
}

static int lm_buffer(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen,
                     const char *what)
{
    int rc = lm_prewrite(t, ks, klen, what);
    if (rc)
        return rc;
    lm_node *n = lm_node_get(t, ks, key, klen);
    unsigned char *copy = val ? mnemo__memdup(vlen ? val : "", vlen) : NULL;
    if (!n || (val && !copy) || lm_bury(t, n)) {
        mnemo__free(copy);
        return mnemo__err_nomem(what);
    }
    n->val = copy;
    n->vlen = val ? vlen : 0;
    n->op = val ? LM_OP_PUT : LM_OP_DEL;
    n->validate = 1;
    return 0;
}

static int lm_put(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen)
{
    return lm_buffer(t, ks, key, klen, val ? val : "", vlen, "store put");
}

static int lm_del(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen)
{
    return lm_buffer(t, ks, key, klen, NULL, 0, "store delete");
}

static int lm_buffer_untracked(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val,
                               size_t vlen, int at_commit, const char *what)
{
    int rc = lm_prewrite(t, ks, klen, what);
    if (rc)
        return rc;
    if (at_commit && klen > LM_P - 8)
        return mnemo__err(MNEMO_EINVAL, "%s: prefix of %zu bytes is too long", what, klen);
    unsigned char *b = mnemo__malloc(klen + vlen + 1);
    if (!b || mnemo__grow(&t->uw, &t->cap_uw, t->n_uw + 1, sizeof(lm_uwrite), 16)) {
        mnemo__free(b);
        return mnemo__err_nomem(what);
    }
    memcpy(b, key, klen);
    if (vlen)
        memcpy(b + klen, val, vlen);
    t->uw[t->n_uw++] = (lm_uwrite){ks, at_commit, b, b + klen, klen, vlen};
    return 0;
}

static int lm_put_untracked(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    return lm_buffer_untracked(t, ks, key, klen, val, vlen, 0, "store put_untracked");
}

static int lm_put_at_commit(mnemo_store_txn *t, unsigned ks, const void *prefix, size_t plen, const void *val,
                            size_t vlen)
{
    return lm_buffer_untracked(t, ks, prefix, plen, val, vlen, 1, "store put_at_commit");
}

/* A commit body runs inside the write transaction; lm_write_txn handles the map. */
typedef int (*lm_body)(mnemo_store *s, MDB_txn *w, void *ctx, int *changed);

static int lm_write_txn(mnemo_store *s, lm_body body, void *ctx, void (*before_wait)(void *), uint64_t *seq,
                        const char *what)
{
    for (;;) {
        lm_gate_enter(s, before_wait, ctx);
        size_t seen = lm_map_seen(s);
        MDB_txn *w;
        int rc = mdb_txn_begin(s->env, NULL, 0, &w);
        if (rc) {
            lm_gate_leave(s);
            if (rc == MDB_MAP_RESIZED && (rc = lm_grow(s, 0)) == 0)
                continue;
            return LM_IS_MNEMO(rc) ? rc : lm_err(s, rc, what, 0);
        }
        int changed = 0;
        rc = body(s, w, ctx, &changed);
        if (rc == 0 && !changed) { /* LMDB would not advance its txn id: no commit of ours (0) */
            *seq = 0;
            mdb_txn_abort(w);
        } else if (rc == 0) {
            uint64_t id = mdb_txn_id(w);
            MDB_envinfo info;
            int mrc = mdb_txn_commit(w);
            if (mrc == MDB_MAP_FULL)
                rc = LM_FULL;
            else if (mrc)
                rc = lm_err(s, mrc, what, 0);
            else
                *seq = id;
            if (!mrc && mdb_env_info(s->env, &info) == 0 && (info.me_last_pgno + 1) * s->psize > seen / 2) {
                pthread_mutex_lock(&s->mu);
                atomic_store(&s->want_grow, s->map_size == seen);
                pthread_mutex_unlock(&s->mu);
            }
        } else
            mdb_txn_abort(w);
        lm_gate_leave(s);
        if (rc != LM_FULL)
            return rc;
        if (before_wait)
            before_wait(ctx);
        if ((rc = lm_grow(s, seen)))
            return rc;
    }
}

/* Drops the transaction's snapshot, copying the snapshot values validation compares against
 * (so a map growth never waits for the committing transaction itself). */
static void lm_txn_freeze(void *ctx)
{
    mnemo_store_txn *t = ctx;
    if (!t->snap)
        return;
    for (unsigned ks = 0; t->lists && ks < t->s->n_ks; ks++) {
        if (!t->lists[ks].head)
            continue;
        for (lm_node *n = t->lists[ks].head->next[0]; n; n = n->next[0]) {
            if (!n->validate || !n->seen_present || n->seen_owned)
                continue;
            unsigned char *c = mnemo__memdup(n->seen_len ? n->seen : (const unsigned char *)"", n->seen_len);
            if (!c)
                return; /* keep the snapshot: the growth waits for it, then times out */
            n->seen = c;
            n->seen_owned = 1;
        }
    }
    lm_snap_unref(t->snap);
    t->snap = NULL;
}

/* Validation rule: every key the transaction tracked or wrote must hold, in the write
 * transaction, the same value bytes (or the same absence) it had at the snapshot. LMDB's single
 * writer makes validation and apply one atomic step, so a transaction whose tracked reads all
 * still hold is equivalent to running it alone at its commit point: serializable for what it
 * tracks. A value changed and changed back (A->B->A), or deleted and re-created with the same
 * bytes, passes: harmless, since the transaction's reads are still the current state. Comparing
 * bytes needs no per-key version in the stored values (zero overhead on disk, values stay
 * zero-copy) and costs a memcmp per validated key. */
static int lm_validate(mnemo_store *s, mnemo_store_txn *t, MDB_txn *w)
{
    for (unsigned ks = 0; t->lists && ks < s->n_ks; ks++) {
        if (!t->lists[ks].head)
            continue;
        for (lm_node *n = t->lists[ks].head->next[0]; n; n = n->next[0]) {
            if (!n->validate)
                continue;
            MDB_val cur;
            int rc = lm_read(s, w, ks, n->key, n->klen, &cur, "store commit");
            if (rc && rc != MNEMO_ENOTFOUND)
                return rc;
            int same = rc == 0 ? n->seen_present && cur.mv_size == n->seen_len &&
                                     (!cur.mv_size || memcmp(cur.mv_data, n->seen, cur.mv_size) == 0)
                               : !n->seen_present;
            if (same && lm_ver(s, w, ks, n->key, n->klen) != n->seen_ver)
                same = 0; /* rewritten since, even if with the same bytes */
            if (!same)
                return mnemo__err(MNEMO_EBUSY,
                                  "store commit: conflict: a key of keyspace %s (%zu bytes) changed since the "
                                  "transaction's snapshot; retry",
                                  s->ks_name[ks], n->klen);
        }
    }
    return 0;
}

static int lm_commit_body(mnemo_store *s, MDB_txn *w, void *ctx, int *changed)
{
    mnemo_store_txn *t = ctx;
    /* A transaction that never read wrote blindly: serializable at its commit point as it is
     * (as on the rocksdb engine), so two blind writers of one key both commit, in commit order. */
    int vrc = t->has_read ? lm_validate(s, t, w) : 0;
    if (vrc)
        return vrc;
    for (size_t i = 0; i < t->n_uw; i++) {
        unsigned char kb[LM_P];
        const void *key = t->uw[i].key;
        size_t klen = t->uw[i].klen;
        if (t->uw[i].at_commit) { /* klen <= LM_P - 8, checked when buffered */
            memcpy(kb, key, klen);
            mnemo__put_be64(kb + klen, (uint64_t)mdb_txn_id(w));
            key = kb;
            klen += 8;
        }
        int same, rc = lm_write(s, w, t->uw[i].ks, key, klen, t->uw[i].val, t->uw[i].vlen, changed, &same,
                                "store commit");
        if (!rc && same)
            rc = lm_ver_bump(s, w, changed, t->uw[i].ks, key, klen, "store commit");
        if (rc)
            return rc;
    }
    for (unsigned ks = 0; t->lists && ks < s->n_ks; ks++) {
        if (!t->lists[ks].head)
            continue;
        for (lm_node *n = t->lists[ks].head->next[0]; n; n = n->next[0]) {
            if (n->op == LM_OP_NONE)
                continue;
            int same, rc = lm_write(s, w, ks, n->key, n->klen,
                                    n->op == LM_OP_PUT ? (n->val ? n->val : (void *)"") : NULL, n->vlen, changed,
                                    &same, "store commit");
            if (!rc && same)
                rc = lm_ver_bump(s, w, changed, ks, n->key, n->klen, "store commit");
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int lm_txn_commit(mnemo_store_txn *t, uint64_t *seq)
{
    int rc = lm_usable(t, "store commit");
    if (rc)
        return rc;
    t->finished = 1;
    int dirty = t->n_uw > 0, tracked = 0;
    for (unsigned ks = 0; !dirty && t->lists && ks < t->s->n_ks; ks++)
        for (lm_node *n = t->lists[ks].head ? t->lists[ks].head->next[0] : NULL; n && !dirty; n = n->next[0]) {
            dirty = n->op != LM_OP_NONE;
            tracked |= n->validate;
        }
    if (!dirty) { /* nothing to write: tracked reads are checked against the latest state */
        lm_snap *now = NULL;
        *seq = t->version;
        if (tracked && !(rc = lm_snap_open(&now, t->s, "store commit")))
            rc = lm_validate(t->s, t, now->t);
        lm_snap_unref(now);
        lm_snap_unref(t->snap);
        t->snap = NULL;
        return rc;
    }
    /* The snapshot state of written keys the transaction never read, while the snapshot lives:
     * validation compares against it. A transaction that never read is not validated (see
     * lm_commit_body), so it skips these two lookups per written key. */
    for (unsigned ks = 0; t->has_read && ks < t->s->n_ks; ks++) {
        for (lm_node *n = t->lists && t->lists[ks].head ? t->lists[ks].head->next[0] : NULL; n; n = n->next[0]) {
            if (!n->validate || n->seen_known)
                continue;
            MDB_val v;
            rc = lm_read(t->s, t->snap->t, ks, n->key, n->klen, &v, "store commit");
            if (rc && rc != MNEMO_ENOTFOUND)
                return rc;
            n->seen_known = 1;
            n->seen_ver = lm_ver(t->s, t->snap->t, ks, n->key, n->klen);
            n->seen_present = rc == 0;
            n->seen = rc == 0 ? v.mv_data : NULL;
            n->seen_len = rc == 0 ? v.mv_size : 0;
        }
    }
    rc = lm_write_txn(t->s, lm_commit_body, t, lm_txn_freeze, seq, "store commit");
    if (rc == 0 && *seq == 0) /* nothing changed: the snapshot's, as for an empty transaction */
        *seq = t->version;
    lm_snap_unref(t->snap);
    t->snap = NULL;
    return rc;
}

static void lm_txn_free(mnemo_store_txn *t)
{
    if (!t)
        return;
    lm_snap_unref(t->snap);
    for (unsigned ks = 0; t->lists && ks < t->s->n_ks; ks++)
        lm_list_free(&t->lists[ks]);
    mnemo__free(t->lists);
    for (size_t i = 0; i < t->n_uw; i++)
        mnemo__free(t->uw[i].key);
    mnemo__free(t->uw);
    for (size_t i = 0; i < t->n_grave; i++)
        mnemo__free(t->grave[i]);
    mnemo__free(t->grave);
    mnemo__free(t);
}

typedef struct lm_batch {
    const mnemo_store_write *w;
    size_t n;
} lm_batch;

static int lm_batch_body(mnemo_store *s, MDB_txn *w, void *ctx, int *changed)
{
    lm_batch *b = ctx;
    for (size_t i = 0; i < b->n; i++) {
        const mnemo_store_write *x = &b->w[i];
        int same, rc = lm_write(s, w, x->ks, x->key, x->klen, x->is_delete ? NULL : (x->val ? x->val : ""),
                                x->vlen, changed, &same, "store write_batch");
        if (!rc && same)
            rc = lm_ver_bump(s, w, changed, x->ks, x->key, x->klen, "store write_batch");
        if (rc)
            return rc;
    }
    return 0;
}

static int lm_write_batch(mnemo_store *s, const mnemo_store_write *w, size_t n, uint64_t *seq)
{
    if (s->read_only)
        return mnemo__err(MNEMO_EREADONLY, "store write_batch: %s is open read-only", s->dir);
    for (size_t i = 0; i < n; i++) {
        int rc = lm_check_key(s, w[i].ks, w[i].klen, "store write_batch");
        if (rc)
            return rc;
    }
    lm_batch b = {w, n};
    uint64_t got = 0;
    int rc = lm_write_txn(s, lm_batch_body, &b, NULL, &got, "store write_batch");
    if (rc == 0 && seq) /* 0: nothing changed, no commit (store.h) */
        *seq = got;
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* cursors: the snapshot's MDB_cursor (buckets expanded) merged with the transaction's buffered
 * writes; the buffer wins on equal keys and its deletes hide the snapshot's entry. Both sides
 * stay positioned for the current direction; a change of direction re-seeks both around the
 * current key. */

struct mnemo_store_cursor {
    mnemo_store *s;
    unsigned ks;
    lm_snap *snap;
    MDB_cursor *mc;
    mnemo_store_txn *t; /* its buffered writes are merged in (NULL: none, or a read-only txn) */
    unsigned char *lower, *upper;
    size_t llen, ulen;
    int has_lower, has_upper;
    /* base side */
    int b_valid;
    MDB_val bk, bv;
    lm_entry *bucket;
    size_t bcap, bn, bi;
    int in_bucket;
    unsigned char *bkey; /* prefix + rest of the current bucket entry */
    size_t bkcap, bklen;
    /* delta side */
    lm_node *d;
    /* merged */
    int valid, fwd, from_delta, both;
    const void *kptr; /* the current key: in the map, a delta node, or bkey (moved by the next move) */
    size_t klen;
    unsigned char *ckey; /* a copy of kptr for a change of direction */
    size_t ccap;
    const void *cval;
    size_t cvlen;
    int status;
    char msg[256]; /* the message of the error in status */
};

static const void *lm_b_key(mnemo_store_cursor *c, size_t *len)
{
    if (c->in_bucket) {
        *len = c->bklen;
        return c->bkey;
    }
    *len = c->bk.mv_size;
    return c->bk.mv_data;
}

static void lm_fail(mnemo_store_cursor *c, int rc)
{
    if (!c->status) {
        c->status = rc;
        snprintf(c->msg, sizeof c->msg, "%s", mnemo_errmsg());
    }
    c->b_valid = 0;
    c->d = NULL;
    c->valid = 0;
}

/* Sets the base side on bucket entry i. */
static void lm_b_entry(mnemo_store_cursor *c, size_t i)
{
    lm_entry *e = &c->bucket[i];
    size_t need = LM_P + e->rlen;
    if (need > c->bkcap) {
        unsigned char *k = mnemo__realloc(c->bkey, need);
        if (!k) {
            lm_fail(c, mnemo__err_nomem("store cursor"));
            return;
        }
        c->bkey = k;
        c->bkcap = need;
    }
    memcpy(c->bkey, c->bk.mv_data, LM_P);
    if (e->rlen)
        memcpy(c->bkey + LM_P, e->rest, e->rlen);
    c->bklen = need;
    c->bi = i;
}

/* Moves the MDB cursor with op (key for MDB_SET_RANGE) and sets the base side on the entry it
 * lands on: for a bucket, its first entry (at_end 0) or its last (at_end 1). */
static void lm_b_landed(mnemo_store_cursor *c, int rc, int at_end);

static void lm_b_load(mnemo_store_cursor *c, MDB_cursor_op op, const void *key, size_t klen, int at_end)
{
    c->bk.mv_data = (void *)key;
    c->bk.mv_size = klen;
    lm_b_landed(c, mdb_cursor_get(c->mc, &c->bk, &c->bv, op), at_end);
}

/* Sets the base side after an MDB move (rc) that left its entry in bk/bv. */
static void lm_b_landed(mnemo_store_cursor *c, int rc, int at_end)
{
    c->in_bucket = 0;
    if (rc == MDB_NOTFOUND) {
        c->b_valid = 0;
        return;
    }
    if (rc) {
        lm_fail(c, lm_err(c->s, rc, "store cursor", c->ks));
        return;
    }
    c->b_valid = 1;
    if (c->bk.mv_size != LM_P)
        return;
    int prc = lm_bucket_parse(&c->bv, &c->bucket, &c->bcap, &c->bn);
    if (prc || c->bn == 0) {
        lm_fail(c, prc == MNEMO_ENOMEM ? prc : lm_corrupt_bucket(c->s, c->ks, "store cursor"));
        return;
    }
    c->in_bucket = 1;
    lm_b_entry(c, at_end ? c->bn - 1 : 0);
}

static void lm_b_next(mnemo_store_cursor *c)
{
    if (c->in_bucket && c->bi + 1 < c->bn)
        lm_b_entry(c, c->bi + 1);
    else
        lm_b_load(c, MDB_NEXT, NULL, 0, 0);
}

static void lm_b_prev(mnemo_store_cursor *c)
{
    if (c->in_bucket && c->bi > 0)
        lm_b_entry(c, c->bi - 1);
    else
        lm_b_load(c, MDB_PREV, NULL, 0, 1);
}

static void lm_b_seek_ge(mnemo_store_cursor *c, const void *key, size_t klen)
{
    lm_b_load(c, MDB_SET_RANGE, key, klen < LM_P ? klen : LM_P, 0);
    if (!c->b_valid || !c->in_bucket || klen < LM_P || memcmp(c->bk.mv_data, key, LM_P) != 0)
        return; /* landed past key: its first entry is the answer (see LM_P) */
    size_t at = lm_bucket_lower(c->bucket, c->bn, (const unsigned char *)key + LM_P, klen - LM_P);
    if (at < c->bn)
        lm_b_entry(c, at);
    else
        lm_b_load(c, MDB_NEXT, NULL, 0, 0);
}

static void lm_b_seek_le(mnemo_store_cursor *c, const void *key, size_t klen)
{
    lm_b_seek_ge(c, key, klen);
    if (c->status)
        return;
    if (!c->b_valid) {
        lm_b_load(c, MDB_LAST, NULL, 0, 1);
        return;
    }
    size_t bl;
    const void *bk = lm_b_key(c, &bl);
    if (lm_kcmp(bk, bl, key, klen) != 0)
        lm_b_prev(c);
}

/* The buffer of the cursor's keyspace, looked up on every move: writes made after the cursor
 * opened show from the next move on (nodes are never freed before the transaction). */
static lm_list *lm_c_list(mnemo_store_cursor *c)
{
    return c->t && c->t->lists && c->t->lists[c->ks].head ? &c->t->lists[c->ks] : NULL;
}

static lm_node *lm_d_skip(lm_node *n, int fwd)
{
    while (n && n->op == LM_OP_NONE)
        n = fwd ? n->next[0] : n->prev;
    return n;
}

static void lm_d_seek_ge(mnemo_store_cursor *c, const void *key, size_t klen)
{
    lm_list *l = lm_c_list(c);
    c->d = l ? lm_d_skip(lm_node_find_ge(l, key, klen, NULL), 1) : NULL;
}

static void lm_d_seek_le(mnemo_store_cursor *c, const void *key, size_t klen)
{
    lm_list *l = lm_c_list(c);
    if (!l) {
        c->d = NULL;
        return;
    }
    lm_node *n = lm_node_find_ge(l, key, klen, NULL);
    if (!n || lm_kcmp(n->key, n->klen, key, klen) != 0)
        n = n ? n->prev : l->last;
    c->d = lm_d_skip(n, 0);
}

/* Picks the current entry from the two sides in direction c->fwd, skipping deletes. */
static void lm_resolve(mnemo_store_cursor *c)
{
    size_t bl = 0;
    const void *bk = NULL;
    for (;;) {
        if (c->status || (!c->b_valid && !c->d)) {
            c->valid = 0;
            return;
        }
        bk = c->b_valid ? lm_b_key(c, &bl) : NULL;
        int cmp = !c->b_valid ? 1 : !c->d ? -1 : lm_kcmp(bk, bl, c->d->key, c->d->klen) * (c->fwd ? 1 : -1);
        if (cmp < 0) {
            c->from_delta = c->both = 0;
            c->cval = c->in_bucket ? c->bucket[c->bi].val : c->bv.mv_data;
            c->cvlen = c->in_bucket ? c->bucket[c->bi].vlen : c->bv.mv_size;
            bk = lm_b_key(c, &bl);
            break;
        }
        if (c->d->op == LM_OP_DEL) {
            if (cmp == 0)
                c->fwd ? lm_b_next(c) : lm_b_prev(c);
            c->d = lm_d_skip(c->fwd ? c->d->next[0] : c->d->prev, c->fwd);
            continue;
        }
        c->from_delta = 1;
        c->both = cmp == 0;
        c->cval = c->d->val ? c->d->val : (const unsigned char *)"";
        c->cvlen = c->d->vlen;
        bk = c->d->key;
        bl = c->d->klen;
        break;
    }
    const void *k = bk;
    size_t kl = bl;
    if ((c->fwd && c->has_upper && lm_kcmp(k, kl, c->upper, c->ulen) >= 0) ||
        (!c->fwd && c->has_lower && lm_kcmp(k, kl, c->lower, c->llen) < 0)) {
        c->valid = 0;
        return;
    }
    c->kptr = k;
    c->klen = kl;
    c->valid = 1;
}

/* Copies the current key to ckey before a change of direction: the seek past it moves the base
 * side, which may rewrite bkey. NULL when out of memory (the cursor failed). */
static const void *lm_key_copy(mnemo_store_cursor *c)
{
    if (c->klen > c->ccap) {
        unsigned char *n = mnemo__realloc(c->ckey, c->klen);
        if (!n) {
            lm_fail(c, mnemo__err_nomem("store cursor"));
            return NULL;
        }
        c->ckey = n;
        c->ccap = c->klen;
    }
    memcpy(c->ckey, c->kptr, c->klen);
    return c->ckey;
}

static void lm_cursor_seek(mnemo_store_cursor *c, const void *key, size_t klen)
{
    if (c->has_lower && lm_kcmp(key, klen, c->lower, c->llen) < 0) {
        key = c->lower;
        klen = c->llen;
    }
    c->fwd = 1;
    lm_b_seek_ge(c, key, klen);
    lm_d_seek_ge(c, key, klen);
    lm_resolve(c);
}

/* Both sides on the first entry > key (fwd) or the last entry < key (!fwd). */
static void lm_seek_past(mnemo_store_cursor *c, const void *key, size_t klen, int fwd)
{
    size_t bl = 0;
    fwd ? lm_b_seek_ge(c, key, klen) : lm_b_seek_le(c, key, klen);
    const void *bk = c->b_valid ? lm_b_key(c, &bl) : NULL;
    if (bk && lm_kcmp(bk, bl, key, klen) == 0)
        fwd ? lm_b_next(c) : lm_b_prev(c);
    fwd ? lm_d_seek_ge(c, key, klen) : lm_d_seek_le(c, key, klen);
    if (c->d && lm_kcmp(c->d->key, c->d->klen, key, klen) == 0)
        c->d = lm_d_skip(fwd ? c->d->next[0] : c->d->prev, fwd);
}

static void lm_cursor_seek_for_prev(mnemo_store_cursor *c, const void *key, size_t klen)
{
    c->fwd = 0;
    if (c->has_upper && lm_kcmp(key, klen, c->upper, c->ulen) >= 0)
        lm_seek_past(c, c->upper, c->ulen, 0);
    else {
        lm_b_seek_le(c, key, klen);
        lm_d_seek_le(c, key, klen);
    }
    lm_resolve(c);
}

static void lm_cursor_first(mnemo_store_cursor *c)
{
    if (c->has_lower) {
        lm_cursor_seek(c, c->lower, c->llen);
        return;
    }
    c->fwd = 1;
    lm_b_load(c, MDB_FIRST, NULL, 0, 0);
    lm_list *l = lm_c_list(c);
    c->d = l ? lm_d_skip(l->head->next[0], 1) : NULL;
    lm_resolve(c);
}

static void lm_cursor_last(mnemo_store_cursor *c)
{
    c->fwd = 0;
    if (c->has_upper)
        lm_seek_past(c, c->upper, c->ulen, 0);
    else {
        lm_b_load(c, MDB_LAST, NULL, 0, 1);
        lm_list *l = lm_c_list(c);
        c->d = l ? lm_d_skip(l->last, 0) : NULL;
    }
    lm_resolve(c);
}

static void lm_cursor_next(mnemo_store_cursor *c)
{
    if (!c->valid)
        return;
    if (c->fwd) {
        if (c->from_delta)
            c->d = lm_d_skip(c->d->next[0], 1);
        if (!c->from_delta || c->both)
            lm_b_next(c);
    } else {
        c->fwd = 1;
        const void *key = lm_key_copy(c);
        if (!key)
            return;
        lm_seek_past(c, key, c->klen, 1);
    }
    lm_resolve(c);
}

static void lm_cursor_prev(mnemo_store_cursor *c)
{
    if (!c->valid)
        return;
    if (!c->fwd) {
        if (c->from_delta)
            c->d = lm_d_skip(c->d->prev, 0);
        if (!c->from_delta || c->both)
            lm_b_prev(c);
    } else {
        c->fwd = 0;
        const void *key = lm_key_copy(c);
        if (!key)
            return;
        lm_seek_past(c, key, c->klen, 0);
    }
    lm_resolve(c);
}

static int lm_cursor_valid(mnemo_store_cursor *c) { return c->valid; }

/* store.h cursor_run. Plain entries point into the map, which the cursor's snapshot keeps for the
 * cursor's life; an entry of a long-key bucket is assembled in the cursor's buffer, so a run stops
 * at one (as at the bound) and the usual moves take it from there. */
static size_t lm_cursor_run(mnemo_store_cursor *c, mnemo_store_slice *keys, mnemo_store_slice *vals, size_t max)
{
    if (!c->valid || c->t || !c->fwd || c->in_bucket || max == 0)
        return 0;
    size_t n = 0;
    int rc;
    /* Locals: the loop's state would be reloaded from c after every call into LMDB. */
    MDB_cursor *mc = c->mc;
    MDB_val k = c->bk, v = c->bv;
    const unsigned char *upper = c->has_upper ? c->upper : NULL;
    size_t ulen = c->ulen;
    for (;;) {
        keys[n] = (mnemo_store_slice){k.mv_data, k.mv_size};
        vals[n] = (mnemo_store_slice){v.mv_data, v.mv_size};
        n++;
        if ((rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) != 0 || n == max || k.mv_size == LM_P ||
            (upper && lm_kcmp(k.mv_data, k.mv_size, upper, ulen) >= 0))
            break;
    }
    c->bk = k;
    c->bv = v;
    lm_b_landed(c, rc, 0);
    lm_resolve(c); /* the first entry not stored, or the end */
    return n;
}

static int lm_cursor_status(mnemo_store_cursor *c, const char *what)
{
    if (!c->status)
        return 0;
    return mnemo__err(c->status, "%s: %s", what ? what : "store cursor", c->msg);
}

static const void *lm_cursor_key(mnemo_store_cursor *c, size_t *len)
{
    *len = c->klen;
    return c->kptr;
}

static const void *lm_cursor_value(mnemo_store_cursor *c, size_t *len)
{
    *len = c->cvlen;
    return c->cval;
}

static void lm_cursor_close(mnemo_store_cursor *c)
{
    if (!c)
        return;
    if (c->mc)
        mdb_cursor_close(c->mc);
    lm_snap_unref(c->snap);
    mnemo__free(c->lower);
    mnemo__free(c->upper);
    mnemo__free(c->bucket);
    mnemo__free(c->bkey);
    mnemo__free(c->ckey);
    mnemo__free(c);
}

static int lm_cursor_open(mnemo_store_cursor **out, mnemo_store *s, mnemo_store_txn *t, unsigned ks,
                          const void *lower, size_t lower_len, const void *upper, size_t upper_len)
{
    if (ks >= s->n_ks)
        return mnemo__err(MNEMO_EINVAL, "store cursor: no keyspace %u", ks);
    int rc = t ? lm_usable(t, "store cursor") : 0;
    if (rc)
        return rc;
    if (t)
        t->has_read = 1;
    mnemo_store_cursor *c = mnemo__calloc(1, sizeof *c);
    if (!c)
        return mnemo__err_nomem("store cursor");
    c->s = s;
    c->ks = ks;
    if ((lower && !(c->lower = mnemo__memdup(lower, lower_len))) ||
        (upper && !(c->upper = mnemo__memdup(upper, upper_len)))) {
        lm_cursor_close(c);
        return mnemo__err_nomem("store cursor");
    }
    c->has_lower = lower != NULL;
    c->llen = lower_len;
    c->has_upper = upper != NULL;
    c->ulen = upper_len;
    if (t) {
        c->snap = t->snap;
        lm_snap_ref(c->snap);
        c->t = t->read_only ? NULL : t;
    } else if ((rc = lm_snap_open(&c->snap, s, "store cursor"))) {
        lm_cursor_close(c);
        return rc;
    }
    if ((rc = mdb_cursor_open(c->snap->t, s->dbi[ks], &c->mc))) {
        c->mc = NULL;
        lm_cursor_close(c);
        return lm_err(s, rc, "store cursor", ks);
    }
    *out = c;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* open and close */

static int lm_probe(const char *path)
{
    char buf[4096];
    struct stat st;
    snprintf(buf, sizeof buf, "%s/%s", path, LM_DATA_FILE);
    return stat(buf, &st) == 0 && S_ISREG(st.st_mode);
}

/* 1 if dir holds anything but LMDB's and our own files. */
static int lm_dir_foreign(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int foreign = 0;
    for (struct dirent *e; !foreign && (e = readdir(d));)
        foreign = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, LM_LOCK_FILE) &&
                  strcmp(e->d_name, "lock.mdb");
    closedir(d);
    return foreign;
}

/* The environments this process has open, by directory (device, inode). An entry names the
 * process that opened it: a child forked after an open inherits the list but not the right to use
 * that environment (LMDB), so it may open the database anew. */
static pthread_mutex_t lm_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lm_reg {
    dev_t dev;
    ino_t ino;
    pid_t pid;
    struct lm_reg *next;
} *lm_reg_head;

static int lm_reg_add(mnemo_store *s)
{
    struct stat st;
    if (stat(s->dir, &st) != 0)
        return mnemo__err(MNEMO_EIO, "store open: %s: %s", s->dir, strerror(errno));
    int rc = 0;
    pthread_mutex_lock(&lm_reg_mu);
    pid_t me = getpid();
    for (struct lm_reg *r = lm_reg_head; r && !rc; r = r->next)
        if (r->dev == st.st_dev && r->ino == st.st_ino && r->pid == me)
            rc = mnemo__err(MNEMO_ELOCKED,
                            "store open: '%s' is already open in this process (LMDB allows one handle per "
                            "process: share that handle between threads, or close it first)",
                            s->dir);
    struct lm_reg *r = rc ? NULL : mnemo__malloc(sizeof *r);
    if (!rc && !r)
        rc = mnemo__err_nomem("store open");
    if (r) {
        *r = (struct lm_reg){st.st_dev, st.st_ino, me, lm_reg_head};
        lm_reg_head = r;
        s->reg_dev = st.st_dev;
        s->reg_ino = st.st_ino;
        s->registered = 1;
    }
    pthread_mutex_unlock(&lm_reg_mu);
    return rc;
}

static void lm_reg_remove(mnemo_store *s)
{
    if (!s->registered)
        return;
    pthread_mutex_lock(&lm_reg_mu);
    pid_t me = getpid();
    for (struct lm_reg **p = &lm_reg_head; *p; p = &(*p)->next)
        if ((*p)->dev == s->reg_dev && (*p)->ino == s->reg_ino && (*p)->pid == me) {
            struct lm_reg *r = *p;
            *p = r->next;
            mnemo__free(r);
            break;
        }
    pthread_mutex_unlock(&lm_reg_mu);
    s->registered = 0;
}

static void lm_free_store(mnemo_store *s)
{
    for (unsigned i = 0; i < LM_POOL; i++) {
        lm_snap *sn = atomic_load(&s->pool[i]);
        if (!sn)
            continue;
        mdb_txn_abort(sn->t);
        mnemo__free(sn);
    }
    if (s->env)
        mdb_env_close(s->env);
    lm_reg_remove(s); /* after LMDB let go of its locks */
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    for (unsigned i = 0; s->ks_name && i < s->n_ks; i++)
        mnemo__free(s->ks_name[i]);
    mnemo__free(s->ks_name);
    mnemo__free(s->dbi);
    mnemo__free(s->dir);
    mnemo__free(s->data_file);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    mnemo__free(s);
}

/* Opens the named databases; checks that none is missing and none is unknown. */
static int lm_open_keyspaces(mnemo_store *s, int create)
{
    MDB_txn *t;
    int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &t);
    if (rc)
        return lm_err(s, rc, "store open", 0);
    for (unsigned i = 0; i < s->n_ks && !rc; i++) {
        rc = mdb_dbi_open(t, s->ks_name[i], create ? MDB_CREATE : 0, &s->dbi[i]);
        if (rc == MDB_NOTFOUND)
            rc = mnemo__err(MNEMO_ECORRUPT, "store open: %s has no keyspace '%s'", s->data_file, s->ks_name[i]);
        else if (rc)
            rc = lm_err(s, rc, "store open", i);
    }
    if (!rc) {
        int vrc = mdb_dbi_open(t, LM_VERSIONS, s->read_only ? 0 : MDB_CREATE, &s->ver_dbi);
        s->has_ver = vrc == 0;
        if (vrc && vrc != MDB_NOTFOUND)
            rc = lm_err(s, vrc, "store open", 0);
    }
    /* The main database holds one entry per named database and nothing else. */
    MDB_dbi main_dbi;
    MDB_cursor *mc = NULL;
    int mrc = rc ? 0 : mdb_dbi_open(t, NULL, 0, &main_dbi);
    if (!rc && !mrc && !(mrc = mdb_cursor_open(t, main_dbi, &mc))) {
        MDB_val k, v;
        for (mrc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
            unsigned i = 0;
            while (i < s->n_ks && lm_kcmp(k.mv_data, k.mv_size, s->ks_name[i], strlen(s->ks_name[i])))
                i++;
            if (i == s->n_ks && !lm_kcmp(k.mv_data, k.mv_size, LM_VERSIONS, strlen(LM_VERSIONS)))
                continue;
            if (i == s->n_ks) {
                rc = mnemo__err(MNEMO_EVERSION, "store open: %s has a keyspace '%.*s' this build does not know",
                                s->data_file, (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data);
                break;
            }
        }
        mdb_cursor_close(mc);
        mrc = mrc == MDB_NOTFOUND ? 0 : mrc;
    }
    if (!rc && mrc)
        rc = lm_err(s, mrc, "store open", 0);
    if (rc) {
        mdb_txn_abort(t);
        return rc;
    }
    rc = mdb_txn_commit(t);
    return rc ? lm_err(s, rc, "store open", 0) : 0;
}

/* LMDB trusts its meta page; a corrupt page count would make it map pages past the end of the
 * file, and touching them is SIGBUS. */
static int lm_check_size(mnemo_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st) || stat(s->data_file, &fst))
        return mnemo__err(MNEMO_EIO, "store open: cannot stat %s: %s", s->data_file, strerror(errno));
    if ((uint64_t)(info.me_last_pgno + 1) * st.ms_psize > (uint64_t)fst.st_size)
        return mnemo__err(MNEMO_ECORRUPT,
                          "store open: %s is corrupt: its meta page counts %zu pages, the file holds %lld bytes",
                          s->data_file, (size_t)info.me_last_pgno + 1, (long long)fst.st_size);
    s->map_size = info.me_mapsize;
    s->psize = st.ms_psize;
    return 0;
}

static int lm_open_env(mnemo_store *s, int existed, unsigned flags)
{
    int rc = mdb_env_create(&s->env);
    if (!rc)
        rc = mdb_env_set_maxdbs(s->env, s->n_ks + 2);
    if (!rc)
        rc = mdb_env_set_maxreaders(s->env, lm_test_readers ? lm_test_readers : LM_DEFAULT_READERS);
    if (!rc && !existed) /* an existing environment keeps the map size its meta page records */
        rc = mdb_env_set_mapsize(s->env, lm_test_map ? lm_test_map : LM_DEFAULT_MAP);
    if (!rc)
        rc = mdb_env_open(s->env, s->dir, flags, 0644);
    if (rc) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    return rc;
}

static int lm_open(mnemo_store **out, const mnemo_store_config *cfg)
{
    if (!cfg || !cfg->path || !*cfg->path || !cfg->keyspaces || !cfg->n_keyspaces)
        return mnemo__err(MNEMO_EINVAL, "store open: no path or no keyspaces");
    mnemo_store *s = mnemo__calloc(1, sizeof *s);
    if (!s)
        return mnemo__err_nomem("store open");
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->read_only = cfg->read_only;
    s->n_ks = cfg->n_keyspaces;
    size_t plen = strlen(cfg->path);
    s->dir = mnemo__memdup(cfg->path, plen);
    s->data_file = mnemo__malloc(plen + sizeof "/" LM_DATA_FILE);
    s->dbi = mnemo__calloc(s->n_ks, sizeof(MDB_dbi));
    s->ks_name = mnemo__calloc(s->n_ks, sizeof(char *));
    int rc = 0;
    if (!s->dir || !s->data_file || !s->dbi || !s->ks_name)
        rc = mnemo__err_nomem("store open");
    for (unsigned i = 0; !rc && i < s->n_ks; i++)
        if (!(s->ks_name[i] = mnemo__memdup(cfg->keyspaces[i].name, strlen(cfg->keyspaces[i].name))))
            rc = mnemo__err_nomem("store open");
    if (rc) {
        lm_free_store(s);
        return rc;
    }
    sprintf(s->data_file, "%s/%s", s->dir, LM_DATA_FILE);

    struct stat st;
    if (stat(s->dir, &st) != 0) {
        if (errno != ENOENT)
            rc = mnemo__err(MNEMO_EIO, "store open: %s: %s", s->dir, strerror(errno));
        else if (!cfg->create || s->read_only)
            rc = mnemo__err(MNEMO_ENOTFOUND, "store open: no database at '%s'", s->dir);
        else if (mkdir(s->dir, 0755) != 0)
            rc = mnemo__err(errno == EROFS ? MNEMO_EREADONLY : MNEMO_EIO, "store open: cannot create '%s': %s",
                            s->dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode))
        rc = mnemo__err(MNEMO_ENOTDB, "store open: '%s' is not a directory", s->dir);
    int existed = !rc && lm_probe(s->dir);
    if (!rc && !existed && lm_dir_foreign(s->dir))
        rc = mnemo__err(MNEMO_ENOTDB, "store open: '%s' holds files but no LMDB %s", s->dir, LM_DATA_FILE);
    else if (!rc && !existed && (!cfg->create || s->read_only))
        rc = mnemo__err(MNEMO_ENOTFOUND, "store open: no database at '%s'", s->dir);

    /* Any number of processes, one handle per process: LMDB's locks on lock.mdb are fcntl locks,
     * which a second handle of the same process would drop when it closes its descriptor. Every
     * opener takes a shared flock on our own lock file (tools that need the database to themselves
     * can take it exclusively) and registers the directory in the process (lm_reg_add). */
    if (!rc) {
        char lock[4096];
        snprintf(lock, sizeof lock, "%s/%s", s->dir, LM_LOCK_FILE);
        s->lock_fd = open(lock, (s->read_only ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0644);
        if (s->lock_fd < 0 && !(s->read_only && errno == ENOENT))
            rc = errno == EROFS || errno == EACCES
                     ? mnemo__err(errno == EROFS ? MNEMO_EREADONLY : MNEMO_EIO,
                                  "store open: '%s' is not writable (%s); open it read-only to read it", s->dir,
                                  strerror(errno))
                     : mnemo__err(MNEMO_EIO, "store open: %s: %s", lock, strerror(errno));
        else if (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_SH | LOCK_NB) != 0)
            rc = mnemo__err(MNEMO_ELOCKED, "store open: '%s' is held exclusively by another process (%s is locked); "
                                           "retry when it is done", s->dir, LM_LOCK_FILE);
        else
            rc = lm_reg_add(s);
    }
    if (rc) {
        lm_free_store(s);
        return rc;
    }
    /* MDB_NOTLS: read transactions belong to store transactions, not threads. MDB_NOMETASYNC
     * (not MDB_NOSYNC) unless sync_on_commit: docs/storage-lmdb.md, durability. */
    unsigned flags = MDB_NOTLS | (s->read_only ? MDB_RDONLY : 0) | (cfg->sync_on_commit ? 0 : MDB_NOMETASYNC);
    rc = lm_open_env(s, existed, flags);
    if (rc == EACCES && s->read_only) /* a read-only directory whose lock.mdb we cannot write */
        rc = lm_open_env(s, existed, flags | MDB_NOLOCK);
    if (rc) {
        rc = rc == EROFS || rc == EACCES
                 ? mnemo__err(rc == EROFS ? MNEMO_EREADONLY : MNEMO_EIO,
                              "store open: '%s' is not writable (%s); open it read-only to read it", s->dir,
                              strerror(rc))
                 : lm_err(s, rc, "store open", 0);
        lm_free_store(s);
        return rc;
    }
    if (mdb_env_get_maxkeysize(s->env) < (int)LM_P) {
        lm_free_store(s);
        return mnemo__err(MNEMO_ENOTSUP, "store open: this LMDB build takes keys of %d bytes, mnemo needs %u",
                          mdb_env_get_maxkeysize(s->env), LM_P);
    }
    int dead = 0;
    if (!(flags & MDB_RDONLY))
        mdb_reader_check(s->env, &dead); /* reader slots left by dead processes */
    if ((rc = lm_check_size(s)) || (rc = lm_open_keyspaces(s, !existed))) {
        lm_free_store(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int lm_close(mnemo_store *s)
{
    if (!s)
        return 0;
    int rc = s->read_only ? 0 : mdb_env_sync(s->env, 1); /* the last commit's meta page */
    rc = rc ? lm_err(s, rc, "store close", 0) : 0;
    lm_free_store(s);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* maintenance */

static uint64_t lm_estimate_keys(mnemo_store *s, unsigned ks)
{
    lm_snap *sn;
    MDB_stat st;
    if (ks >= s->n_ks || lm_snap_open(&sn, s, "store estimate_keys"))
        return 0;
    uint64_t n = mdb_stat(sn->t, s->dbi[ks], &st) == 0 ? st.ms_entries : 0;
    lm_snap_unref(sn);
    return n;
}

static int lm_flush(mnemo_store *s)
{
    if (s->read_only)
        return 0;
    int rc = mdb_env_sync(s->env, 1);
    return rc ? lm_err(s, rc, "store flush", 0) : 0;
}

/* LMDB reuses freed pages in place and never shrinks the file; a compacted copy is what
 * checkpoint writes (MDB_CP_COMPACT). Compacting in place would need every transaction closed
 * and the environment reopened, so compact is a no-op. */
static int lm_compact(mnemo_store *s)
{
    (void)s;
    return 0;
}

static int lm_checkpoint(mnemo_store *s, const char *dir)
{
    if (!dir || !*dir)
        return mnemo__err(MNEMO_EINVAL, "store checkpoint: no directory");
    if (mkdir(dir, 0755) != 0)
        return errno == EEXIST ? mnemo__err(MNEMO_EEXISTS, "store checkpoint: '%s' already exists", dir)
                               : mnemo__err(MNEMO_EIO, "store checkpoint: cannot create '%s': %s", dir, strerror(errno));
    lm_gate_enter(s, NULL, NULL); /* the copy holds a read transaction */
    int rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    lm_gate_leave(s);
    return rc ? lm_err(s, rc, "store checkpoint", 0) : 0;
}

static int lm_stats(mnemo_store *s, mnemo_store_stats *out)
{
    MDB_envinfo info;
    struct stat st;
    lm_gate_enter(s, NULL, NULL); /* mdb_env_info reads the meta pages through the map */
    int rc = mdb_env_info(s->env, &info);
    lm_gate_leave(s);
    if (rc)
        return lm_err(s, rc, "store stats", 0);
    out->disk_bytes = stat(s->data_file, &st) == 0 ? (uint64_t)st.st_size : 0;
    out->memory_bytes = 0; /* pages live in the OS page cache, shared with other processes */
    out->last_sequence = info.me_last_txnid;
    return 0;
}

const mnemo_store_ops mnemo_store__lmdb = {
    .version = MNEMO_STORE_OPS_VERSION,
    .name = "lmdb",
    .probe = lm_probe,
    .open = lm_open,
    .close = lm_close,
    .txn_begin = lm_txn_begin,
    .txn_version = lm_txn_version,
    .get = lm_get,
    .release_value = lm_release_value,
    .put = lm_put,
    .del = lm_del,
    .put_untracked = lm_put_untracked,
    .txn_commit = lm_txn_commit,
    .txn_free = lm_txn_free,
    .write_batch = lm_write_batch,
    .cursor_open = lm_cursor_open,
    .cursor_seek = lm_cursor_seek,
    .cursor_seek_for_prev = lm_cursor_seek_for_prev,
    .cursor_first = lm_cursor_first,
    .cursor_last = lm_cursor_last,
    .cursor_next = lm_cursor_next,
    .cursor_prev = lm_cursor_prev,
    .cursor_valid = lm_cursor_valid,
    .cursor_status = lm_cursor_status,
    .cursor_key = lm_cursor_key,
    .cursor_value = lm_cursor_value,
    .cursor_close = lm_cursor_close,
    .estimate_keys = lm_estimate_keys,
    .flush = lm_flush,
    .compact = lm_compact,
    .checkpoint = lm_checkpoint,
    .stats = lm_stats,
    .cursor_run = lm_cursor_run,
    .shared = 1,
    .put_at_commit = lm_put_at_commit,
    .last_seq = lm_last_seq,
};
