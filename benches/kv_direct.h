/* The storage engines used directly (no mnemo): the peers of bench_kv, each opened with the
 * settings mnemo's engine of the same name uses (src/store/<engine>/), the eight keyspaces
 * created, every operation on the `default` keyspace. Errors end the process (exit 1). */
#ifndef MNEMO_BENCH_KV_DIRECT_H
#define MNEMO_BENCH_KV_DIRECT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct kd_db kd_db;
/* engine: "rocksdb" (RocksDB's C++ API, a plain DB), "memory" (the same on RocksDB's MemEnv:
 * path is only a name), "lmdb" (LMDB's C API: one environment, a named database per keyspace). */
kd_db *kd_open(const char *engine, const char *path);
void kd_close(kd_db *d);
const char *kd_describe(const kd_db *d); /* the calls measured, for the JSON line */
void kd_put(kd_db *d, const void *key, size_t klen, const void *val, size_t vlen); /* one commit */
/* One atomic batch of n puts: key i at keys + i * klen, its value vals(i, arg). */
void kd_put_batch(kd_db *d, const char *keys, size_t klen, size_t n, const char *(*val)(size_t i, const void *arg),
                  const void *arg, size_t vlen);
/* Point read at the latest state: 1 and *vlen / *first (the value's first byte) when found.
 * copy != 0: into memory the caller owns, as mnemo_kv_get returns (rocksdb, memory: a std::string;
 * lmdb: malloc + memcpy); else borrowed (a pinned slice; the page in the read transaction). */
int kd_get(kd_db *d, const void *key, size_t klen, int copy, size_t *vlen, unsigned char *first);
/* Every entry in [lower, upper): the count; *bytes sums key and value sizes and first bytes. */
size_t kd_scan(kd_db *d, const void *lower, size_t llen, const void *upper, size_t ulen, size_t *bytes);
void kd_flush(kd_db *d); /* write buffers to files (rocksdb), sync the map (lmdb) */
#ifdef __cplusplus
}
#endif
#endif
