/* Private to src/store/rocksdb/ and src/store/memory/: the rocksdb engine's operations, shared by
 * the memory engine (the same engine on RocksDB's in-memory Env). */
#ifndef MNEMO_STORE_ROCKSDB_H
#define MNEMO_STORE_ROCKSDB_H

#include "store/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the store; in_memory != 0 puts every file into a private rocksdb::NewMemEnv, so nothing
 * touches disk and everything is gone on close. */
int mnemo_rocksdb__open(mnemo_store **out, const mnemo_store_config *cfg, int in_memory);

int mnemo_rocksdb__close(mnemo_store *s);
int mnemo_rocksdb__txn_begin(mnemo_store_txn **out, mnemo_store *s, int read_only);
uint64_t mnemo_rocksdb__txn_version(mnemo_store_txn *t);
int mnemo_rocksdb__get(mnemo_store *s, mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, int track,
                       mnemo_store_value *out);
void mnemo_rocksdb__release_value(mnemo_store *s, mnemo_store_value *v);
int mnemo_rocksdb__put(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen);
int mnemo_rocksdb__del(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen);
int mnemo_rocksdb__put_untracked(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val,
                                 size_t vlen);
int mnemo_rocksdb__txn_commit(mnemo_store_txn *t, uint64_t *seq);
void mnemo_rocksdb__txn_free(mnemo_store_txn *t);
int mnemo_rocksdb__write_batch(mnemo_store *s, const mnemo_store_write *w, size_t n, uint64_t *seq);
int mnemo_rocksdb__cursor_open(mnemo_store_cursor **out, mnemo_store *s, mnemo_store_txn *t, unsigned ks,
                               const void *lower, size_t lower_len, const void *upper, size_t upper_len);
void mnemo_rocksdb__cursor_seek(mnemo_store_cursor *c, const void *key, size_t klen);
void mnemo_rocksdb__cursor_seek_for_prev(mnemo_store_cursor *c, const void *key, size_t klen);
void mnemo_rocksdb__cursor_first(mnemo_store_cursor *c);
void mnemo_rocksdb__cursor_last(mnemo_store_cursor *c);
void mnemo_rocksdb__cursor_next(mnemo_store_cursor *c);
void mnemo_rocksdb__cursor_prev(mnemo_store_cursor *c);
int mnemo_rocksdb__cursor_valid(mnemo_store_cursor *c);
int mnemo_rocksdb__cursor_status(mnemo_store_cursor *c, const char *what);
const void *mnemo_rocksdb__cursor_key(mnemo_store_cursor *c, size_t *len);
const void *mnemo_rocksdb__cursor_value(mnemo_store_cursor *c, size_t *len);
void mnemo_rocksdb__cursor_close(mnemo_store_cursor *c);
size_t mnemo_rocksdb__cursor_run(mnemo_store_cursor *c, mnemo_store_slice *keys, mnemo_store_slice *vals, size_t max);
uint64_t mnemo_rocksdb__estimate_keys(mnemo_store *s, unsigned ks);
int mnemo_rocksdb__flush(mnemo_store *s);
int mnemo_rocksdb__compact(mnemo_store *s);
int mnemo_rocksdb__stats(mnemo_store *s, mnemo_store_stats *out);
uint64_t mnemo_rocksdb__last_seq(mnemo_store *s);
int mnemo_rocksdb__follower(mnemo_store *s);

/* Followers: the least time between two catch-ups with the writer, in microseconds (tests and
 * benchmarks change it; default MNEMO_ROCKSDB_FOLLOW_US). */
#define MNEMO_ROCKSDB_FOLLOW_US 1000
extern unsigned mnemo_rocksdb__follow_us;
/* Tests: when set, a catch-up point calls it between its freshness test and its claim of the
 * catch-up (where another thread's catch-up may end). */
extern void (*mnemo_rocksdb__catch_up_probe)(void);

/* The operations table of an engine built on this code: only its name, probe, open and checkpoint
 * differ (positional, in the order of struct mnemo_store_ops, so it reads the same in C and C++). */
#define MNEMO_ROCKSDB_OPS(name, probe, open, checkpoint)                                                    \
    {MNEMO_STORE_OPS_VERSION, name, probe, open, mnemo_rocksdb__close, mnemo_rocksdb__txn_begin,             \
     mnemo_rocksdb__txn_version, mnemo_rocksdb__get, mnemo_rocksdb__release_value, mnemo_rocksdb__put,      \
     mnemo_rocksdb__del, mnemo_rocksdb__put_untracked, mnemo_rocksdb__txn_commit, mnemo_rocksdb__txn_free,  \
     mnemo_rocksdb__write_batch, mnemo_rocksdb__cursor_open, mnemo_rocksdb__cursor_seek,                    \
     mnemo_rocksdb__cursor_seek_for_prev, mnemo_rocksdb__cursor_first, mnemo_rocksdb__cursor_last,          \
     mnemo_rocksdb__cursor_next, mnemo_rocksdb__cursor_prev, mnemo_rocksdb__cursor_valid,                   \
     mnemo_rocksdb__cursor_status, mnemo_rocksdb__cursor_key, mnemo_rocksdb__cursor_value,                  \
     mnemo_rocksdb__cursor_close, mnemo_rocksdb__estimate_keys, mnemo_rocksdb__flush,                       \
     mnemo_rocksdb__compact, checkpoint, mnemo_rocksdb__stats, mnemo_rocksdb__cursor_run, 0 /* one writer */, \
     NULL, mnemo_rocksdb__last_seq, mnemo_rocksdb__follower, NULL /* txn_resolve */}

#ifdef __cplusplus
}
#endif

#endif
