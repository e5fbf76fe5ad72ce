/* Sharded LRU cache of decoded objects (records, adjacency lists), charged in bytes.
 * Modelled on RocksDB's LRUCache; knows nothing of the storage engine.
 *
 * A NULL cache is a valid, disabled cache: every function accepts it (lookups miss, inserts free
 * the value through the deleter and return 0, stats are all zero).
 *
 * Thread safety: every function may be called concurrently. Deleters run outside the cache's
 * locks, so a deleter may call back into the cache. All handles must be released before destroy. */
#ifndef MNEMO_CACHE_CACHE_H
#define MNEMO_CACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mnemo_cache mnemo_cache;
typedef struct mnemo_cache_handle mnemo_cache_handle;

typedef struct mnemo_cache_stats {
    uint64_t hits;      /* lookups that found the key */
    uint64_t misses;    /* lookups that did not */
    uint64_t inserts;   /* inserts that were kept (returned 0) */
    uint64_t evictions; /* entries pushed out to make room (or replaced by an oversized insert) */
    uint64_t erases;    /* entries removed by erase() or clear() */
    size_t bytes_used;  /* sum of the charges of the entries currently in the cache */
    size_t capacity;    /* total capacity in bytes (sum over shards) */
    size_t entries;     /* entries currently in the cache */
} mnemo_cache_stats;

/* Passed as the epoch of an insert from the writer side: insert unconditionally. */
#define MNEMO_CACHE_NO_EPOCH UINT64_MAX

/* capacity_bytes 0 => *out = NULL and return 0 (disabled cache).
 * shard_bits 0 => default: 16 shards, fewer so that each shard holds at least 64 KiB (a cache
 * under 128 KiB has a single shard). Explicit shard_bits are clamped to 16.
 * Capacity is split evenly across shards. Returns 0, MNEMO_EINVAL (out NULL), MNEMO_ENOMEM. */
int mnemo_cache__create(mnemo_cache **out, size_t capacity_bytes, unsigned shard_bits);
/* Frees every entry (deleters run). Outstanding handles must have been released. */
void mnemo_cache__destroy(mnemo_cache *c);

/* Reference-counted handle on the entry, or NULL on a miss. The value stays alive until the handle
 * is released, even if the entry is evicted, erased or replaced meanwhile. */
mnemo_cache_handle *mnemo_cache__lookup(mnemo_cache *c, const void *key, size_t klen);
void *mnemo_cache__value(mnemo_cache_handle *h); /* NULL for a NULL handle */
void mnemo_cache__release(mnemo_cache *c, mnemo_cache_handle *h); /* accepts NULL handle */

/* Fill protocol against stale fills: a reader calls epoch() BEFORE reading the database, then
 * insert(..., epoch). The insert is dropped (deleter called, returns 1) if the key's shard saw an
 * erase, a clear or a writer-side insert since that epoch. Writer-side inserts pass
 * MNEMO_CACHE_NO_EPOCH and are unconditional; they also bump the shard's epoch, because a reader
 * that read the old value before the write must not overwrite the writer's newer value.
 * NULL cache: returns 0. */
uint64_t mnemo_cache__epoch(mnemo_cache *c, const void *key, size_t klen);

/* Inserts value under a copy of key, replacing any entry for the key. charge = bytes the value
 * accounts for; the key length and a per-entry overhead are added (see entry_charge).
 * Returns 0 kept; 1 not inserted (stale epoch; or entry larger than a shard's capacity);
 * MNEMO_ENOMEM. Unless the epoch was stale, a failed insert still removes any previous entry for
 * the key, so the cache never keeps serving a value the caller meant to replace. Whenever the
 * result is not 0, deleter(value) has been called before returning. deleter may be NULL.
 * Eviction runs from the LRU tail until the shard fits; evicted entries still referenced by
 * handles are freed on their last release but no longer count towards bytes_used. */
int mnemo_cache__insert(mnemo_cache *c, const void *key, size_t klen, void *value, size_t charge,
                        void (*deleter)(void *value), uint64_t epoch);

/* Removes the key if present; always bumps the epoch of the key's shard. */
void mnemo_cache__erase(mnemo_cache *c, const void *key, size_t klen);
/* Bracket a write of key that commits between the two calls (e.g. a transaction commit): both
 * erase the key and bump the shard's epoch, and while any write of the shard is between begin and
 * end, epoch-checked inserts are refused. Every begin needs exactly one end. */
void mnemo_cache__write_begin(mnemo_cache *c, const void *key, size_t klen);
void mnemo_cache__write_end(mnemo_cache *c, const void *key, size_t klen);
/* Removes every entry and bumps every shard's epoch. */
void mnemo_cache__clear(mnemo_cache *c);
/* Counters summed over shards; all zero for a NULL cache. */
void mnemo_cache__stats(mnemo_cache *c, mnemo_cache_stats *out);

/* The number of bytes an entry with this key length and caller charge accounts for
 * (saturates at SIZE_MAX). */
size_t mnemo_cache__entry_charge(size_t klen, size_t charge);

#endif
