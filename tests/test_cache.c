/* Tests for the sharded LRU cache (src/cache). */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "mnemo/common.h"
#include "testutil.h"

/* Under AddressSanitizer a leak in a test's child process does not fail the test (nor does an
 * assertion in .fini), so each test body ends with an explicit leak check: entries and tables are
 * allocated inside the cache, out of reach of the value counters below. */
#define assert_no_leaks tu_leak_check

/* ---- tracked values: every value is counted so leaks and double frees show up ---- */

typedef struct tval {
    unsigned key;
    uint64_t version;
} tval;

static atomic_long live_values;   /* created and not yet deleted */
static atomic_long deleter_calls; /* total deleter invocations */

static tval *mkval(unsigned key, uint64_t version)
{
    tval *v = malloc(sizeof(*v));
    cr_assert_not_null(v);
    v->key = key;
    v->version = version;
    atomic_fetch_add(&live_values, 1);
    return v;
}

static void tval_delete(void *p)
{
    atomic_fetch_add(&deleter_calls, 1);
    atomic_fetch_sub(&live_values, 1);
    free(p);
}

static void reset_counters(void)
{
    atomic_store(&live_values, 0);
    atomic_store(&deleter_calls, 0);
}

static size_t mkkey(char *buf, unsigned k) { return (size_t)sprintf(buf, "key:%u", k); }

static int put(mnemo_cache *c, unsigned k, uint64_t version, size_t charge, uint64_t epoch)
{
    char kb[32];
    size_t kl = mkkey(kb, k);
    return mnemo_cache__insert(c, kb, kl, mkval(k, version), charge, tval_delete, epoch);
}

static mnemo_cache_handle *get(mnemo_cache *c, unsigned k)
{
    char kb[32];
    size_t kl = mkkey(kb, k);
    return mnemo_cache__lookup(c, kb, kl);
}

static void del(mnemo_cache *c, unsigned k)
{
    char kb[32];
    size_t kl = mkkey(kb, k);
    mnemo_cache__erase(c, kb, kl);
}

static uint64_t epoch_of(mnemo_cache *c, unsigned k)
{
    char kb[32];
    size_t kl = mkkey(kb, k);
    return mnemo_cache__epoch(c, kb, kl);
}

/* 1 if k is present with the given version (handle released), 0 if absent; fails on a mismatch. */
static int has(mnemo_cache *c, unsigned k, uint64_t version)
{
    mnemo_cache_handle *h = get(c, k);
    if (!h)
        return 0;
    tval *v = mnemo_cache__value(h);
    cr_assert_eq(v->key, k);
    cr_assert_eq(v->version, version, "key %u: version %llu, expected %llu", k,
                 (unsigned long long)v->version, (unsigned long long)version);
    mnemo_cache__release(c, h);
    return 1;
}

static mnemo_cache_stats stats(mnemo_cache *c)
{
    mnemo_cache_stats st;
    mnemo_cache__stats(c, &st);
    return st;
}

/* Charge of an entry made by put() for key k (all keys "key:N" with N < 10 have length 5). */
static size_t charge_of(unsigned k, size_t charge)
{
    char kb[32];
    return mnemo_cache__entry_charge(mkkey(kb, k), charge);
}

/* xorshift64*: deterministic per test */
static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- disabled cache ---- */

Test(cache, disabled_null_cache)
{
    reset_counters();
    mnemo_cache *c = (mnemo_cache *)0x1;
    cr_assert_eq(mnemo_cache__create(&c, 0, 0), 0);
    cr_assert_null(c);
    cr_assert_eq(mnemo_cache__create(NULL, 100, 0), MNEMO_EINVAL);

    cr_assert_null(get(NULL, 1));
    cr_assert_eq(put(NULL, 1, 1, 10, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(atomic_load(&deleter_calls), 1);
    cr_assert_eq(put(NULL, 1, 1, 10, epoch_of(NULL, 1)), 0);
    cr_assert_eq(atomic_load(&deleter_calls), 2);
    cr_assert_eq(mnemo_cache__insert(NULL, "k", 1, NULL, 1, NULL, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(epoch_of(NULL, 1), 0);
    del(NULL, 1);
    mnemo_cache__clear(NULL);
    mnemo_cache__release(NULL, NULL);
    cr_assert_null(mnemo_cache__value(NULL));

    mnemo_cache_stats st;
    memset(&st, 0xab, sizeof(st));
    mnemo_cache__stats(NULL, &st);
    mnemo_cache_stats zero;
    memset(&zero, 0, sizeof(zero));
    cr_assert_eq(memcmp(&st, &zero, sizeof(st)), 0);
    mnemo_cache__stats(NULL, NULL);
    mnemo_cache__destroy(NULL);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- basics ---- */

Test(cache, insert_lookup_replace_erase)
{
    reset_counters();
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 1 << 20, 0), 0);
    cr_assert_not_null(c);

    cr_assert_eq(put(c, 1, 10, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 2, 20, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert(has(c, 1, 10));
    cr_assert(has(c, 2, 20));
    cr_assert_not(has(c, 3, 0));

    /* replace */
    cr_assert_eq(put(c, 1, 11, 200, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(atomic_load(&deleter_calls), 1);
    cr_assert(has(c, 1, 11));
    mnemo_cache_stats st = stats(c);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.bytes_used, charge_of(1, 200) + charge_of(2, 100));
    cr_assert_eq(st.capacity, 1 << 20);

    /* erase, erase of an absent key */
    del(c, 1);
    cr_assert_eq(atomic_load(&deleter_calls), 2);
    cr_assert_not(has(c, 1, 0));
    del(c, 1);
    del(c, 99);
    cr_assert_eq(atomic_load(&deleter_calls), 2);
    st = stats(c);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.bytes_used, charge_of(2, 100));
    cr_assert_eq(st.erases, 1);

    /* binary keys, the empty key and a NULL deleter */
    const unsigned char bin[] = {0, 1, 0, 2, 0xff, 0, 0, 0, 0, 7};
    int payload = 42;
    cr_assert_eq(mnemo_cache__insert(c, bin, sizeof(bin), &payload, 1, NULL, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(mnemo_cache__insert(c, "", 0, mkval(0, 5), 1, tval_delete, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache_handle *h = mnemo_cache__lookup(c, bin, sizeof(bin));
    cr_assert_not_null(h);
    cr_assert_eq(mnemo_cache__value(h), &payload);
    mnemo_cache__release(c, h);
    cr_assert_null(mnemo_cache__lookup(c, bin, sizeof(bin) - 1));
    h = mnemo_cache__lookup(c, NULL, 0);
    cr_assert_not_null(h);
    cr_assert_eq(((tval *)mnemo_cache__value(h))->version, 5);
    mnemo_cache__release(c, h);

    mnemo_cache__clear(c);
    st = stats(c);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.bytes_used, 0);
    cr_assert_eq(atomic_load(&live_values), 0);
    cr_assert_not(has(c, 2, 0));

    cr_assert_eq(put(c, 5, 50, 10, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

Test(cache, many_keys_grow_table)
{
    reset_counters();
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, (size_t)1 << 30, 0), 0);
    const unsigned n = 20000;
    for (unsigned k = 0; k < n; k++)
        cr_assert_eq(put(c, k, k * 3u, 16, MNEMO_CACHE_NO_EPOCH), 0);
    for (unsigned k = 0; k < n; k++)
        cr_assert(has(c, k, k * 3u), "key %u missing", k);
    cr_assert_eq(stats(c).entries, n);
    for (unsigned k = 0; k < n; k += 2)
        del(c, k);
    for (unsigned k = 0; k < n; k++)
        cr_assert_eq(has(c, k, k * 3u), (int)(k & 1));
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- LRU and byte accounting ---- */

Test(cache, lru_eviction_order)
{
    reset_counters();
    const size_t one = charge_of(1, 100);
    mnemo_cache *c;
    /* small enough for the default to pick a single shard */
    cr_assert_eq(mnemo_cache__create(&c, 3 * one, 0), 0);
    cr_assert_eq(stats(c).capacity, 3 * one);

    cr_assert_eq(put(c, 1, 1, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 2, 2, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 3, 3, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(stats(c).bytes_used, 3 * one);
    cr_assert_eq(stats(c).evictions, 0);

    cr_assert(has(c, 1, 1)); /* LRU order now (old -> new): 2 3 1 */
    cr_assert_eq(put(c, 4, 4, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_not(has(c, 2, 0));
    cr_assert_eq(stats(c).evictions, 1);
    cr_assert_eq(atomic_load(&deleter_calls), 1);
    /* 3 1 4 */
    cr_assert_eq(put(c, 5, 5, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_not(has(c, 3, 0));
    /* has() of absent keys doesn't touch order: 1 4 5. Replacing 1 makes it MRU: 4 5 1 */
    cr_assert_eq(put(c, 1, 11, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 6, 6, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_not(has(c, 4, 0));
    cr_assert(has(c, 5, 5));
    cr_assert(has(c, 1, 11));
    cr_assert(has(c, 6, 6));

    /* one entry twice the size pushes out the two least recent: order 5 1 6 -> 6 + big */
    cr_assert_eq(put(c, 7, 7, 100 + one, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_not(has(c, 5, 0));
    cr_assert_not(has(c, 1, 0));
    cr_assert(has(c, 6, 6));
    cr_assert(has(c, 7, 7));
    mnemo_cache_stats st = stats(c);
    cr_assert_eq(st.bytes_used, 3 * one);
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.evictions, 5);
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

Test(cache, bytes_used_never_exceeds_capacity)
{
    reset_counters();
    uint64_t seed = 0x1234567;
    for (unsigned bits = 0; bits <= 3; bits++) {
        mnemo_cache *c;
        const size_t cap = 64 * 1024 + 17;
        cr_assert_eq(mnemo_cache__create(&c, cap, bits), 0);
        cr_assert_eq(stats(c).capacity, cap);
        for (int i = 0; i < 5000; i++) {
            unsigned k = (unsigned)(rnd(&seed) % 2000);
            size_t charge = (size_t)(rnd(&seed) % 3000);
            int rc = put(c, k, (uint64_t)i, charge, MNEMO_CACHE_NO_EPOCH);
            cr_assert(rc == 0 || rc == 1);
            mnemo_cache_stats st = stats(c);
            cr_assert_leq(st.bytes_used, st.capacity, "bits %u op %d: %zu > %zu", bits, i,
                          st.bytes_used, st.capacity);
            cr_assert_eq(st.entries, (size_t)atomic_load(&live_values)); /* no handles held */
        }
        mnemo_cache__destroy(c);
        cr_assert_eq(atomic_load(&live_values), 0);
    }
    assert_no_leaks();
}

Test(cache, default_shard_count)
{
    /* Tiny caches get one shard, so their whole capacity is usable by one entry. */
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 100000, 0), 0);
    reset_counters();
    cr_assert_eq(put(c, 1, 1, 90000, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert(has(c, 1, 1));
    mnemo_cache__destroy(c);
    /* A large cache with 16 shards cannot hold an entry over a sixteenth of it. */
    cr_assert_eq(mnemo_cache__create(&c, 16 << 20, 0), 0);
    cr_assert_eq(put(c, 1, 1, (2 << 20), MNEMO_CACHE_NO_EPOCH), 1);
    cr_assert_eq(put(c, 1, 1, (1 << 20) - 200, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- handles ---- */

Test(cache, handle_survives_eviction)
{
    reset_counters();
    const size_t one = charge_of(1, 100);
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 2 * one, 0), 0);
    cr_assert_eq(put(c, 1, 1, 100, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache_handle *h1 = get(c, 1);
    mnemo_cache_handle *h2 = get(c, 1);
    cr_assert_not_null(h1);
    cr_assert_eq(h1, h2);

    cr_assert_eq(put(c, 2, 2, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 3, 3, 100, MNEMO_CACHE_NO_EPOCH), 0); /* evicts 1 even though referenced */
    cr_assert_not(has(c, 1, 0));
    mnemo_cache_stats st = stats(c);
    cr_assert_eq(st.bytes_used, 2 * one); /* the evicted entry no longer counts */
    cr_assert_eq(st.entries, 2);
    cr_assert_eq(st.evictions, 1);
    cr_assert_eq(atomic_load(&deleter_calls), 0);
    cr_assert_eq(((tval *)mnemo_cache__value(h1))->version, 1);

    mnemo_cache__release(c, h1);
    cr_assert_eq(atomic_load(&deleter_calls), 0);
    cr_assert_eq(((tval *)mnemo_cache__value(h2))->version, 1);
    mnemo_cache__release(c, h2);
    cr_assert_eq(atomic_load(&deleter_calls), 1);
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&deleter_calls), 3);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

Test(cache, handle_survives_erase_replace_clear)
{
    reset_counters();
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 1 << 20, 0), 0);
    cr_assert_eq(put(c, 1, 1, 10, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 2, 2, 10, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 3, 3, 10, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache_handle *h1 = get(c, 1), *h2 = get(c, 2), *h3 = get(c, 3);

    del(c, 1);
    cr_assert_eq(put(c, 2, 22, 10, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache__clear(c);
    cr_assert_eq(atomic_load(&deleter_calls), 1); /* only version 22, unreferenced */
    cr_assert_eq(stats(c).entries, 0);
    cr_assert_eq(stats(c).bytes_used, 0);
    cr_assert_eq(((tval *)mnemo_cache__value(h1))->version, 1);
    cr_assert_eq(((tval *)mnemo_cache__value(h2))->version, 2);
    cr_assert_eq(((tval *)mnemo_cache__value(h3))->version, 3);

    /* a value inserted again under the key is independent of the old handle */
    cr_assert_eq(put(c, 1, 100, 10, MNEMO_CACHE_NO_EPOCH), 0);
    mnemo_cache__release(c, h1);
    cr_assert_eq(atomic_load(&deleter_calls), 2);
    cr_assert(has(c, 1, 100));
    mnemo_cache__release(c, h2);
    mnemo_cache__release(c, h3);
    cr_assert_eq(atomic_load(&deleter_calls), 4);
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&deleter_calls), 5);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- oversized entries ---- */

Test(cache, oversized_entry_rejected)
{
    reset_counters();
    const size_t cap = 4096;
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, cap, 0), 0);
    cr_assert_eq(put(c, 1, 1, 100, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 2, 2, 100, MNEMO_CACHE_NO_EPOCH), 0);

    cr_assert_eq(put(c, 3, 3, cap, MNEMO_CACHE_NO_EPOCH), 1);
    cr_assert_eq(atomic_load(&deleter_calls), 1);
    cr_assert_not(has(c, 3, 0));
    cr_assert(has(c, 1, 1)); /* nothing was evicted for it */
    cr_assert(has(c, 2, 2));

    /* an oversized replacement drops the old value: it is stale now */
    cr_assert_eq(put(c, 1, 11, SIZE_MAX, MNEMO_CACHE_NO_EPOCH), 1);
    cr_assert_not(has(c, 1, 0));
    cr_assert(has(c, 2, 2));

    /* the largest entry that fits exactly is kept and takes the whole cache */
    size_t fit = cap - charge_of(4, 0);
    cr_assert_eq(put(c, 4, 4, fit + 1, MNEMO_CACHE_NO_EPOCH), 1);
    cr_assert_eq(put(c, 4, 4, fit, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(stats(c).bytes_used, cap);
    cr_assert_eq(stats(c).entries, 1);
    cr_assert_not(has(c, 2, 0));
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- epoch protocol ---- */

Test(cache, epoch_stale_fill_dropped)
{
    reset_counters();
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 1 << 20, 0), 0);

    /* reader takes the epoch, a writer erases, the reader's fill is stale */
    uint64_t e = epoch_of(c, 1);
    del(c, 1);
    cr_assert_eq(put(c, 1, 1, 10, e), 1);
    cr_assert_eq(atomic_load(&deleter_calls), 1);
    cr_assert_not(has(c, 1, 0));

    /* a fresh epoch is kept */
    e = epoch_of(c, 1);
    cr_assert_eq(put(c, 1, 2, 10, e), 0);
    cr_assert(has(c, 1, 2));
    /* the same epoch stays valid for further fills while nothing is written */
    cr_assert_eq(put(c, 1, 3, 10, e), 0);
    cr_assert(has(c, 1, 3));
    /* lookups don't invalidate */
    cr_assert_eq(epoch_of(c, 1), e);

    /* a writer-side insert also invalidates: the reader read before the write */
    e = epoch_of(c, 1);
    cr_assert_eq(put(c, 1, 4, 10, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 1, 3, 10, e), 1);
    cr_assert(has(c, 1, 4));

    /* a stale fill leaves the current entry alone */
    e = epoch_of(c, 1);
    del(c, 1);
    cr_assert_eq(put(c, 1, 5, 10, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert_eq(put(c, 1, 4, 10, e), 1);
    cr_assert(has(c, 1, 5));

    /* clear bumps every shard */
    uint64_t ep[64];
    for (unsigned k = 0; k < 64; k++)
        ep[k] = epoch_of(c, k);
    mnemo_cache__clear(c);
    for (unsigned k = 0; k < 64; k++)
        cr_assert_eq(put(c, k, k, 10, ep[k]), 1);
    cr_assert_eq(stats(c).entries, 0);

    /* an erase of another key in the same shard is (conservatively) enough: single-shard cache */
    mnemo_cache *one;
    cr_assert_eq(mnemo_cache__create(&one, 4096, 0), 0);
    e = epoch_of(one, 1);
    del(one, 2);
    cr_assert_eq(put(one, 1, 1, 10, e), 1);
    mnemo_cache__destroy(one);

    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- exact stats ---- */

Test(cache, stats_exact)
{
    reset_counters();
    const size_t one = charge_of(1, 50);
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 2 * one, 0), 0);

    cr_assert_eq(put(c, 1, 1, 50, MNEMO_CACHE_NO_EPOCH), 0); /* inserts 1 */
    cr_assert_eq(put(c, 2, 2, 50, MNEMO_CACHE_NO_EPOCH), 0); /* inserts 2 */
    cr_assert(has(c, 1, 1));                                 /* hits 1 */
    cr_assert(has(c, 2, 2));                                 /* hits 2 */
    cr_assert_not(has(c, 3, 0));                             /* misses 1 */
    cr_assert_eq(put(c, 3, 3, 50, MNEMO_CACHE_NO_EPOCH), 0); /* inserts 3, evicts 1 */
    cr_assert_not(has(c, 1, 0));                             /* misses 2 */
    cr_assert_eq(put(c, 3, 33, 50, MNEMO_CACHE_NO_EPOCH), 0); /* inserts 4 (replace) */
    del(c, 2);                                               /* erases 1 */
    del(c, 2);                                               /* nothing */
    uint64_t e = epoch_of(c, 4);
    del(c, 4);
    cr_assert_eq(put(c, 4, 4, 50, e), 1);                    /* dropped: not counted */
    cr_assert_eq(put(c, 5, 5, 1 << 20, MNEMO_CACHE_NO_EPOCH), 1); /* oversized: not counted */
    cr_assert(has(c, 3, 33));                                /* hits 3 */

    mnemo_cache_stats st = stats(c);
    cr_assert_eq(st.hits, 3);
    cr_assert_eq(st.misses, 2);
    cr_assert_eq(st.inserts, 4);
    cr_assert_eq(st.evictions, 1);
    cr_assert_eq(st.erases, 1);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.bytes_used, one);
    cr_assert_eq(st.capacity, 2 * one);

    mnemo_cache__clear(c); /* erases 2 */
    st = stats(c);
    cr_assert_eq(st.erases, 2);
    cr_assert_eq(st.entries, 0);
    cr_assert_eq(st.bytes_used, 0);
    cr_assert_eq(st.hits, 3);
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    cr_assert_eq(atomic_load(&deleter_calls), 6); /* every value exactly once */
    assert_no_leaks();
}

/* ---- allocation failure ---- */

Test(cache, alloc_failure_insert)
{
    reset_counters();
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 1 << 20, 0), 0);
    cr_assert_eq(put(c, 1, 1, 10, MNEMO_CACHE_NO_EPOCH), 0);

    tval *v = mkval(1, 2);
    mnemo__alloc_fail_after(1);
    int rc = mnemo_cache__insert(c, "key:1", 5, v, 10, tval_delete, MNEMO_CACHE_NO_EPOCH);
    mnemo__alloc_fail_after(0);
    cr_assert_eq(rc, MNEMO_ENOMEM);
    cr_assert_eq(atomic_load(&live_values), 0); /* new value freed, old one dropped as stale */
    cr_assert_not(has(c, 1, 0));

    /* recovers */
    cr_assert_eq(put(c, 1, 3, 10, MNEMO_CACHE_NO_EPOCH), 0);
    cr_assert(has(c, 1, 3));
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

Test(cache, alloc_failure_create)
{
    /* Fail each allocation of create in turn; every failure must clean up (ASan checks leaks). */
    int failures = 0;
    for (unsigned long n = 1; n < 100; n++) {
        mnemo_cache *c = (mnemo_cache *)0x1;
        mnemo__alloc_fail_after(n);
        int rc = mnemo_cache__create(&c, 1 << 20, 3);
        mnemo__alloc_fail_after(0);
        if (rc == 0) {
            cr_assert_not_null(c);
            mnemo_cache__destroy(c);
            break;
        }
        cr_assert_eq(rc, MNEMO_ENOMEM);
        cr_assert_null(c);
        failures++;
    }
    cr_assert_geq(failures, 3);
    assert_no_leaks();
}

Test(cache, alloc_failure_during_growth)
{
    /* table growth failures only lengthen chains; lookups still work */
    reset_counters();
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 1 << 20, 0), 0);
    for (unsigned k = 0; k < 200; k++) {
        if (k % 2 == 0)
            cr_assert_eq(put(c, k, k, 1, MNEMO_CACHE_NO_EPOCH), 0);
        else {
            char kb[32];
            size_t kl = mkkey(kb, k);
            tval *v = mkval(k, k);
            /* entry allocation succeeds, a growth (if any) in this insert fails */
            mnemo__alloc_fail_after(2);
            int rc = mnemo_cache__insert(c, kb, kl, v, 1, tval_delete, MNEMO_CACHE_NO_EPOCH);
            mnemo__alloc_fail_after(0);
            cr_assert_eq(rc, 0);
        }
    }
    for (unsigned k = 0; k < 200; k++)
        cr_assert(has(c, k, k));
    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- concurrency ---- */

#define MT_THREADS 4
#define MT_OPS 100000
#define MT_KEYS 512
#define MT_CHARGE(r) ((size_t)(((r) >> 32) % 2000))

typedef struct mt_arg {
    mnemo_cache *c;
    uint64_t seed;
    uint64_t lookups, hits, kept;
} mt_arg;

static void *mt_worker(void *p)
{
    mt_arg *a = p;
    mnemo_cache_handle *held[8] = {0};
    for (int i = 0; i < MT_OPS; i++) {
        uint64_t r = rnd(&a->seed);
        unsigned k = (unsigned)((r >> 8) % MT_KEYS);
        char kb[32];
        size_t kl = mkkey(kb, k);
        switch (r % 10) {
        case 0:
        case 1:
        case 2: {
            uint64_t ep = (r & 0x100000) ? MNEMO_CACHE_NO_EPOCH : mnemo_cache__epoch(a->c, kb, kl);
            int rc = mnemo_cache__insert(a->c, kb, kl, mkval(k, r), MT_CHARGE(r),
                                         tval_delete, ep);
            if (rc == 0)
                a->kept++;
            else if (rc != 1)
                return (void *)1;
            break;
        }
        case 3:
            mnemo_cache__erase(a->c, kb, kl);
            break;
        default: {
            a->lookups++;
            mnemo_cache_handle *h = mnemo_cache__lookup(a->c, kb, kl);
            if (!h)
                break;
            a->hits++;
            if (((tval *)mnemo_cache__value(h))->key != k)
                return (void *)1;
            /* keep some handles across other operations */
            unsigned slot = (unsigned)((r >> 40) % 8);
            if (held[slot]) {
                mnemo_cache__release(a->c, held[slot]);
                held[slot] = NULL;
            }
            if ((r >> 50) & 1)
                held[slot] = h;
            else
                mnemo_cache__release(a->c, h);
        }
        }
        if (i % 10007 == 0 && i % 2 == 1) /* an occasional clear */
            mnemo_cache__clear(a->c);
    }
    for (int s = 0; s < 8; s++)
        if (held[s]) {
            if (((tval *)mnemo_cache__value(held[s]))->key >= MT_KEYS)
                return (void *)1;
            mnemo_cache__release(a->c, held[s]);
        }
    return NULL;
}

Test(cache, multithreaded_consistency, .timeout = 120)
{
    reset_counters();
    mnemo_cache *c;
    /* small enough to evict constantly, 4 shards */
    cr_assert_eq(mnemo_cache__create(&c, 200 * 1024, 2), 0);
    pthread_t th[MT_THREADS];
    mt_arg args[MT_THREADS];
    for (int t = 0; t < MT_THREADS; t++) {
        args[t] = (mt_arg){.c = c, .seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(t + 1)};
        cr_assert_eq(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
    }
    uint64_t lookups = 0, hits = 0, kept = 0;
    for (int t = 0; t < MT_THREADS; t++) {
        void *res;
        pthread_join(th[t], &res);
        cr_assert_null(res, "thread %d saw a wrong value", t);
        lookups += args[t].lookups;
        hits += args[t].hits;
        kept += args[t].kept;
    }
    mnemo_cache_stats st = stats(c);
    cr_assert_eq(st.hits, hits);
    cr_assert_eq(st.hits + st.misses, lookups);
    cr_assert_eq(st.inserts, kept);
    cr_assert_leq(st.bytes_used, st.capacity);
    /* every kept insert is still in, or left through eviction/erase/replacement */
    cr_assert_leq(st.entries + st.evictions + st.erases, st.inserts);
    /* all handles are released: only cached entries remain alive */
    cr_assert_eq((size_t)atomic_load(&live_values), st.entries);

    /* bytes_used is exactly the charges of the entries present (the charge derives from version) */
    size_t sum = 0, n = 0;
    for (unsigned k = 0; k < MT_KEYS; k++) {
        char kb[32];
        size_t kl = mkkey(kb, k);
        mnemo_cache_handle *h = mnemo_cache__lookup(c, kb, kl);
        if (h) {
            n++;
            sum += mnemo_cache__entry_charge(kl, MT_CHARGE(((tval *)mnemo_cache__value(h))->version));
            mnemo_cache__release(c, h);
        }
    }
    cr_assert_eq(n, st.entries);
    cr_assert_eq(st.bytes_used, sum);

    mnemo_cache__destroy(c);
    cr_assert_eq(atomic_load(&live_values), 0);
    assert_no_leaks();
}

/* ---- randomised model test: the cache may forget, never lie ---- */

#define MODEL_KEYS 64

Test(cache, model_random_never_lies)
{
    for (uint64_t round = 0; round < 8; round++) {
        reset_counters();
        uint64_t seed = 0xdeadbeefcafeULL + round * 7919;
        /* rounds alternate between a single shard (exact capacity) and several */
        const size_t cap = 20 * charge_of(10, 100);
        mnemo_cache *c;
        cr_assert_eq(mnemo_cache__create(&c, cap, (round & 1) ? 2 : 0), 0);

        uint64_t current[MODEL_KEYS]; /* version the database holds; 0 = absent */
        memset(current, 0, sizeof(current));
        uint64_t next_version = 1;

        /* pending reader fills: epoch and the version read at that moment */
        struct {
            int active;
            unsigned key;
            uint64_t epoch, version;
        } pend[4] = {{0}};
        mnemo_cache_handle *held[4] = {0};
        uint64_t held_version[4] = {0};

        for (int i = 0; i < 20000; i++) {
            uint64_t r = rnd(&seed);
            unsigned k = (unsigned)((r >> 16) % MODEL_KEYS);
            unsigned slot = (unsigned)((r >> 24) % 4);
            size_t charge = (size_t)((r >> 32) % 400);
            switch (r % 8) {
            case 0: /* writer: new value, cache updated unconditionally */
                current[k] = next_version++;
                cr_assert_geq(put(c, k, current[k], charge, MNEMO_CACHE_NO_EPOCH), 0);
                break;
            case 1: /* writer: new value, cache invalidated */
                current[k] = (r & 0x10000000) ? next_version++ : 0;
                del(c, k);
                break;
            case 2: /* reader begins a fill: epoch first, then read the database */
                pend[slot].active = 1;
                pend[slot].key = k;
                pend[slot].epoch = epoch_of(c, k);
                pend[slot].version = current[k];
                break;
            case 3: /* reader completes a fill begun earlier (maybe long ago) */
                if (pend[slot].active && pend[slot].version != 0) {
                    int rc = put(c, pend[slot].key, pend[slot].version, charge, pend[slot].epoch);
                    cr_assert(rc == 0 || rc == 1);
                }
                pend[slot].active = 0;
                break;
            case 4: /* hold a handle for a while */
                if (held[slot]) {
                    cr_assert_eq(((tval *)mnemo_cache__value(held[slot]))->version,
                                 held_version[slot]);
                    mnemo_cache__release(c, held[slot]);
                }
                held[slot] = get(c, k);
                if (held[slot]) {
                    held_version[slot] = ((tval *)mnemo_cache__value(held[slot]))->version;
                    cr_assert_eq(held_version[slot], current[k], "stale value for key %u", k);
                }
                break;
            case 5:
                if (r % 1000 == 5)
                    mnemo_cache__clear(c);
                break;
            default: /* lookup */
                if (current[k] == 0)
                    cr_assert_not(has(c, k, 0));
                else
                    has(c, k, current[k]);
                break;
            }
            mnemo_cache_stats st = stats(c);
            cr_assert_leq(st.bytes_used, st.capacity);
        }
        /* the final state: nothing present disagrees with the model */
        for (unsigned k = 0; k < MODEL_KEYS; k++)
            if (current[k] == 0)
                cr_assert_not(has(c, k, 0));
            else
                has(c, k, current[k]);
        for (int s = 0; s < 4; s++)
            mnemo_cache__release(c, held[s]);
        mnemo_cache_stats st = stats(c);
        cr_assert_eq((size_t)atomic_load(&live_values), st.entries);
        cr_assert_gt(st.evictions, 0); /* the capacity actually constrained the run */
        cr_assert_gt(st.hits, 0);
        mnemo_cache__destroy(c);
        cr_assert_eq(atomic_load(&live_values), 0);
    }
    assert_no_leaks();
}

static int write_window_deleted;
static void count_window_delete(void *v)
{
    (void)v;
    write_window_deleted++;
}

/* The commit window: reader C read v1 before the commit, reader B read v2 after it. While the
 * write is in flight no fill lands, so C's old value cannot replace B's newer one. */
TU_TEST(cache, write_window_refuses_fills)
{
    mnemo_cache *c;
    cr_assert_eq(mnemo_cache__create(&c, 1 << 20, 0), 0);
    static int v1, v2;
    uint64_t ec = mnemo_cache__epoch(c, "k", 1); /* C takes its epoch, reads v1 */
    mnemo_cache__write_begin(c, "k", 1);         /* writer: before commit */
    uint64_t eb = mnemo_cache__epoch(c, "k", 1); /* B, after the commit, reads v2 */
    cr_assert_eq(mnemo_cache__insert(c, "k", 1, &v2, 8, count_window_delete, eb), 1, "no fill while in flight");
    cr_assert_eq(mnemo_cache__insert(c, "k", 1, &v1, 8, count_window_delete, ec), 1);
    mnemo_cache__write_end(c, "k", 1);
    cr_assert_eq(mnemo_cache__insert(c, "k", 1, &v1, 8, count_window_delete, ec), 1, "stale epoch after end");
    cr_assert_eq(mnemo_cache__insert(c, "k", 1, &v2, 8, count_window_delete, eb), 1, "epoch moved at end too");
    uint64_t fresh = mnemo_cache__epoch(c, "k", 1);
    cr_assert_eq(mnemo_cache__insert(c, "k", 1, &v2, 8, NULL, fresh), 0);
    cr_assert_eq(write_window_deleted, 4);
    mnemo_cache__write_begin(NULL, "k", 1); /* disabled cache: no-ops */
    mnemo_cache__write_end(NULL, "k", 1);
    mnemo_cache__destroy(c);
}
