/* bench_kv's peers (kv_direct.h): LMDB through its C API here, RocksDB through its C++ API in
 * kv_rocks_direct.cpp. The LMDB peer opens the environment as src/store/lmdb does (MDB_NOTLS,
 * MDB_NOMETASYNC, a 64 MiB map doubled when full, 1024 readers, a named database per keyspace)
 * and reads through one read-only transaction renewed per operation, as a direct user would. */
#include "kv_direct.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* kv_rocks_direct.cpp */
void *kd_rocks_open(const char *path, int in_memory);
void kd_rocks_close(void *p);
void kd_rocks_put(void *p, const void *key, size_t klen, const void *val, size_t vlen);
void kd_rocks_put_batch(void *p, const char *keys, size_t klen, size_t n, const char *(*val)(size_t, const void *),
                        const void *arg, size_t vlen);
int kd_rocks_get(void *p, const void *key, size_t klen, int copy, size_t *vlen, unsigned char *first);
size_t kd_rocks_scan(void *p, const void *lower, size_t llen, const void *upper, size_t ulen, size_t *bytes);
void kd_rocks_flush(void *p);

#define LMDB_MAP ((size_t)64 << 20)
#define N_KS 8

static const char *const KS_NAMES[N_KS] = {"default",     "records",      "graph_forward", "graph_backward",
                                           "vector_data", "vector_index", "metadata",      "text_index"};

struct kd_db {
    void *rocks; /* rocksdb and memory */
    MDB_env *env;
    MDB_dbi dbi[N_KS];
    size_t map;
    MDB_txn *rtxn; /* reset between reads */
    MDB_cursor *rcur;
};

static void lm_check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "bench_kv: lmdb %s: %s\n", what, mdb_strerror(rc));
        exit(1);
    }
}

static void lm_open(kd_db *d, const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        lm_check(errno, "mkdir");
    lm_check(mdb_env_create(&d->env), "env_create");
    lm_check(mdb_env_set_maxdbs(d->env, N_KS + 2), "set_maxdbs");
    lm_check(mdb_env_set_maxreaders(d->env, 1024), "set_maxreaders");
    d->map = LMDB_MAP;
    lm_check(mdb_env_set_mapsize(d->env, d->map), "set_mapsize");
    lm_check(mdb_env_open(d->env, path, MDB_NOTLS | MDB_NOMETASYNC, 0644), "env_open");
    MDB_txn *t;
    lm_check(mdb_txn_begin(d->env, NULL, 0, &t), "txn_begin");
    for (int i = 0; i < N_KS; i++)
        lm_check(mdb_dbi_open(t, KS_NAMES[i], MDB_CREATE, &d->dbi[i]), "dbi_open");
    lm_check(mdb_txn_commit(t), "txn_commit");
    lm_check(mdb_txn_begin(d->env, NULL, MDB_RDONLY, &d->rtxn), "txn_begin (read)");
    lm_check(mdb_cursor_open(d->rtxn, d->dbi[0], &d->rcur), "cursor_open");
    mdb_txn_reset(d->rtxn);
}

/* One write transaction of n puts; a full map is doubled and the transaction run again. */
static void lm_write(kd_db *d, const char *keys, size_t klen, size_t n, const char *(*val)(size_t, const void *),
                     const void *arg, const void *one_val, size_t vlen)
{
    for (;;) {
        MDB_txn *w;
        lm_check(mdb_txn_begin(d->env, NULL, 0, &w), "txn_begin (write)");
        int rc = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            MDB_val k = {klen, (void *)(keys + i * klen)}, v = {vlen, (void *)(val ? val(i, arg) : one_val)};
            rc = mdb_put(w, d->dbi[0], &k, &v, 0);
        }
        if (rc) {
            mdb_txn_abort(w);
        } else {
            rc = mdb_txn_commit(w);
        }
        if (rc != MDB_MAP_FULL) {
            lm_check(rc, "put");
            return;
        }
        d->map *= 2;
        lm_check(mdb_env_set_mapsize(d->env, d->map), "set_mapsize (grow)");
    }
}

kd_db *kd_open(const char *engine, const char *path)
{
    kd_db *d = calloc(1, sizeof *d);
    if (!d) {
        fprintf(stderr, "bench_kv: out of memory\n");
        exit(1);
    }
    if (!strcmp(engine, "lmdb"))
        lm_open(d, path);
    else
        d->rocks = kd_rocks_open(path, !strcmp(engine, "memory"));
    return d;
}

void kd_close(kd_db *d)
{
    if (d->rocks) {
        kd_rocks_close(d->rocks);
    } else {
        mdb_cursor_close(d->rcur);
        mdb_txn_abort(d->rtxn);
        mdb_env_close(d->env);
    }
    free(d);
}

const char *kd_describe(const kd_db *d)
{
    return d->rocks ? "rocksdb C++ API (DB, not transactional)" : "lmdb C API (txn renew per read)";
}

void kd_put(kd_db *d, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (d->rocks)
        kd_rocks_put(d->rocks, key, klen, val, vlen);
    else
        lm_write(d, key, klen, 1, NULL, NULL, val, vlen);
}

void kd_put_batch(kd_db *d, const char *keys, size_t klen, size_t n, const char *(*val)(size_t i, const void *arg),
                  const void *arg, size_t vlen)
{
    if (d->rocks)
        kd_rocks_put_batch(d->rocks, keys, klen, n, val, arg, vlen);
    else
        lm_write(d, keys, klen, n, val, arg, NULL, vlen);
}

int kd_get(kd_db *d, const void *key, size_t klen, int copy, size_t *vlen, unsigned char *first)
{
    if (d->rocks)
        return kd_rocks_get(d->rocks, key, klen, copy, vlen, first);
    lm_check(mdb_txn_renew(d->rtxn), "txn_renew");
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(d->rtxn, d->dbi[0], &k, &v);
    unsigned char *own = NULL; /* copy: the value outlives the read transaction, as mnemo_kv_get's */
    if (rc == 0 && copy) {
        if (!(own = malloc(v.mv_size + 1)))
            lm_check(ENOMEM, "malloc");
        memcpy(own, v.mv_data, v.mv_size);
        own[v.mv_size] = 0;
        v.mv_data = own;
    }
    if (rc == 0) {
        *vlen = v.mv_size;
        *first = v.mv_size ? *(const unsigned char *)v.mv_data : 0;
    }
    mdb_txn_reset(d->rtxn);
    free(own);
    if (rc == MDB_NOTFOUND)
        return 0;
    lm_check(rc, "get");
    return 1;
}

static int below(const MDB_val *k, const void *upper, size_t ulen)
{
    size_t n = k->mv_size < ulen ? k->mv_size : ulen;
    int c = memcmp(k->mv_data, upper, n);
    return c < 0 || (c == 0 && k->mv_size < ulen);
}

size_t kd_scan(kd_db *d, const void *lower, size_t llen, const void *upper, size_t ulen, size_t *bytes)
{
    if (d->rocks)
        return kd_rocks_scan(d->rocks, lower, llen, upper, ulen, bytes);
    lm_check(mdb_txn_renew(d->rtxn), "txn_renew");
    lm_check(mdb_cursor_renew(d->rtxn, d->rcur), "cursor_renew");
    MDB_val k = {llen, (void *)lower}, v;
    size_t seen = 0, sum = 0;
    int rc;
    for (rc = mdb_cursor_get(d->rcur, &k, &v, MDB_SET_RANGE); rc == 0 && below(&k, upper, ulen);
         rc = mdb_cursor_get(d->rcur, &k, &v, MDB_NEXT)) {
        sum += k.mv_size + v.mv_size + *(const unsigned char *)k.mv_data + *(const unsigned char *)v.mv_data;
        seen++;
    }
    mdb_txn_reset(d->rtxn);
    if (rc && rc != MDB_NOTFOUND)
        lm_check(rc, "cursor_get");
    *bytes += sum;
    return seen;
}

void kd_flush(kd_db *d)
{
    if (d->rocks)
        kd_rocks_flush(d->rocks);
    else
        lm_check(mdb_env_sync(d->env, 1), "env_sync");
}
