#include "cache/cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "mnemo/common.h"

#define DEFAULT_SHARD_BITS 4u
#define MAX_SHARD_BITS 16u
#define MIN_DEFAULT_SHARD_BYTES ((size_t)64 * 1024)
#define INITIAL_BUCKETS 16u

struct cache_shard;

struct lru_link {
    struct lru_link *prev, *next;
};

/* The handle given out is the entry itself; refs counts outstanding handles only, so an entry is
 * freed once it is both out of the cache and unreferenced. */
struct mnemo_cache_handle {
    struct lru_link lru; /* first member: a link pointer converts back to the entry */
    struct mnemo_cache_handle *next_hash; /* bucket chain; reused as the free list once detached */
    struct cache_shard *shard;            /* so release needs no hashing */
    void *value;
    void (*deleter)(void *value);
    size_t charge; /* total, including key and overhead */
    uint64_t hash;
    size_t klen;
    uint32_t refs;
    bool in_cache;
    unsigned char key[];
};

typedef struct mnemo_cache_handle entry;

typedef struct cache_shard {
    pthread_mutex_t mu;
    entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    struct lru_link lru; /* sentinel: next = most recently used, prev = least */
    size_t usage;
    size_t capacity;
    uint64_t epoch;
    unsigned inflight; /* writes between write_begin and write_end: reader fills are refused */
    uint64_t hits, misses, inserts, evictions, erases;
    char pad[64]; /* keeps hot shards off each other's cache lines */
} cache_shard;

struct mnemo_cache {
    unsigned shard_bits;
    size_t nshards;
    cache_shard *shards;
};

/* ---- hashing ---- */

static uint64_t fmix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t rotl64(uint64_t x, unsigned r) { return (x << r) | (x >> (64 - r)); }

/* Murmur3-style: 8 bytes per round, then a full avalanche so the high bits (shard choice) and
 * the low bits (bucket choice) are both well mixed. */
static uint64_t hash_key(const void *key, size_t len)
{
    const unsigned char *p = key;
    const uint64_t m1 = 0x87c37b91114253d5ULL, m2 = 0x4cf5ad432745937fULL;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * m1);
    size_t n = len;
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        k *= m1;
        k = rotl64(k, 31);
        k *= m2;
        h ^= k;
        h = rotl64(h, 27) * 5 + 0x52dce729;
        p += 8;
        n -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k |= (uint64_t)p[i] << (8 * i);
    k *= m1;
    k = rotl64(k, 31);
    k *= m2;
    h ^= k;
    return fmix64(h);
}

static cache_shard *shard_for(mnemo_cache *c, uint64_t hash)
{
    return &c->shards[c->shard_bits ? (size_t)(hash >> (64 - c->shard_bits)) : 0];
}

/* ---- per-shard structures (caller holds the shard mutex) ---- */

static void lru_unlink(entry *e)
{
    e->lru.prev->next = e->lru.next;
    e->lru.next->prev = e->lru.prev;
    e->lru.prev = e->lru.next = NULL;
}

static void lru_push_front(cache_shard *s, entry *e)
{
    e->lru.next = s->lru.next;
    e->lru.prev = &s->lru;
    s->lru.next->prev = &e->lru;
    s->lru.next = &e->lru;
}

static entry **find_slot(cache_shard *s, const void *key, size_t klen, uint64_t hash)
{
    entry **pp = &s->buckets[hash & (s->nbuckets - 1)];
    while (*pp) {
        entry *e = *pp;
        if (e->hash == hash && e->klen == klen && (klen == 0 || memcmp(e->key, key, klen) == 0))
            return pp;
        pp = &e->next_hash;
    }
    return pp;
}

/* Growth is an optimisation: on allocation failure the chains just get longer. */
static void maybe_grow(cache_shard *s)
{
    if (s->count <= s->nbuckets || s->nbuckets > SIZE_MAX / 2 / sizeof(entry *))
        return;
    size_t nb = s->nbuckets * 2;
    entry **nbuckets = mnemo__calloc(nb, sizeof(entry *));
    if (!nbuckets)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        entry *e = s->buckets[i];
        while (e) {
            entry *next = e->next_hash;
            entry **head = &nbuckets[e->hash & (nb - 1)];
            e->next_hash = *head;
            *head = e;
            e = next;
        }
    }
    mnemo__free(s->buckets);
    s->buckets = nbuckets;
    s->nbuckets = nb;
}

/* Takes the entry at *pp out of the table and the LRU list. If nothing references it, it goes on
 * *to_free so its deleter can run after the mutex is dropped. */
static void detach(cache_shard *s, entry **pp, entry **to_free)
{
    entry *e = *pp;
    *pp = e->next_hash;
    lru_unlink(e);
    e->in_cache = false;
    s->usage -= e->charge;
    s->count--;
    e->next_hash = NULL;
    if (e->refs == 0) {
        e->next_hash = *to_free;
        *to_free = e;
    }
}

static void detach_key(cache_shard *s, const void *key, size_t klen, uint64_t hash,
                       entry **to_free, uint64_t *counter)
{
    entry **pp = find_slot(s, key, klen, hash);
    if (*pp) {
        detach(s, pp, to_free);
        if (counter)
            (*counter)++;
    }
}

static void evict_to_fit(cache_shard *s, entry **to_free)
{
    while (s->usage > s->capacity && s->lru.prev != &s->lru) {
        entry *victim = (entry *)s->lru.prev;
        detach(s, find_slot(s, victim->key, victim->klen, victim->hash), to_free);
        s->evictions++;
    }
}

static void free_entries(entry *list)
{
    while (list) {
        entry *next = list->next_hash;
        if (list->deleter)
            list->deleter(list->value);
        mnemo__free(list);
        list = next;
    }
}

/* ---- public (internal) API ---- */

size_t mnemo_cache__entry_charge(size_t klen, size_t charge)
{
    size_t fixed = sizeof(entry);
    if (klen > SIZE_MAX - fixed || charge > SIZE_MAX - fixed - klen)
        return SIZE_MAX;
    return charge + klen + fixed;
}

int mnemo_cache__create(mnemo_cache **out, size_t capacity_bytes, unsigned shard_bits)
{
    if (!out)
        return MNEMO_EINVAL;
    *out = NULL;
    if (capacity_bytes == 0)
        return 0;

    unsigned bits;
    if (shard_bits == 0) {
        bits = DEFAULT_SHARD_BITS;
        while (bits > 0 && (capacity_bytes >> bits) < MIN_DEFAULT_SHARD_BYTES)
            bits--;
    } else {
        bits = shard_bits > MAX_SHARD_BITS ? MAX_SHARD_BITS : shard_bits;
    }

    mnemo_cache *c = mnemo__calloc(1, sizeof(*c));
    if (!c)
        return MNEMO_ENOMEM;
    c->shard_bits = bits;
    c->nshards = (size_t)1 << bits;
    c->shards = mnemo__calloc(c->nshards, sizeof(cache_shard));
    if (!c->shards) {
        mnemo__free(c);
        return MNEMO_ENOMEM;
    }

    size_t per = capacity_bytes / c->nshards, extra = capacity_bytes % c->nshards;
    size_t i;
    int rc = 0;
    for (i = 0; i < c->nshards; i++) {
        cache_shard *s = &c->shards[i];
        s->buckets = mnemo__calloc(INITIAL_BUCKETS, sizeof(entry *));
        if (!s->buckets) {
            rc = MNEMO_ENOMEM;
            break;
        }
        if (pthread_mutex_init(&s->mu, NULL) != 0) {
            mnemo__free(s->buckets);
            rc = MNEMO_ENOMEM; /* EAGAIN/ENOMEM: a resource shortage */
            break;
        }
        s->nbuckets = INITIAL_BUCKETS;
        s->lru.next = s->lru.prev = &s->lru;
        /* Spreads the remainder so the shard capacities add up to exactly capacity_bytes. */
        s->capacity = per + (i < extra ? 1 : 0);
    }
    if (rc != 0) {
        while (i-- > 0) {
            pthread_mutex_destroy(&c->shards[i].mu);
            mnemo__free(c->shards[i].buckets);
        }
        mnemo__free(c->shards);
        mnemo__free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void mnemo_cache__destroy(mnemo_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nshards; i++) {
        cache_shard *s = &c->shards[i];
        entry *to_free = NULL;
        for (size_t b = 0; b < s->nbuckets; b++) {
            entry *e = s->buckets[b];
            while (e) {
                entry *next = e->next_hash;
                e->next_hash = to_free;
                to_free = e;
                e = next;
            }
        }
        free_entries(to_free);
        mnemo__free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    mnemo__free(c->shards);
    mnemo__free(c);
}

mnemo_cache_handle *mnemo_cache__lookup(mnemo_cache *c, const void *key, size_t klen)
{
    if (!c)
        return NULL;
    uint64_t hash = hash_key(key, klen);
    cache_shard *s = shard_for(c, hash);
    pthread_mutex_lock(&s->mu);
    entry *e = *find_slot(s, key, klen, hash);
    if (e) {
        e->refs++;
        lru_unlink(e);
        lru_push_front(s, e);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

void *mnemo_cache__value(mnemo_cache_handle *h) { return h ? h->value : NULL; }

void mnemo_cache__release(mnemo_cache *c, mnemo_cache_handle *h)
{
    (void)c; /* the entry knows its shard; c may be NULL only when h is */
    if (!h)
        return;
    cache_shard *s = h->shard;
    pthread_mutex_lock(&s->mu);
    bool last = --h->refs == 0 && !h->in_cache;
    pthread_mutex_unlock(&s->mu);
    if (last) {
        h->next_hash = NULL;
        free_entries(h);
    }
}

uint64_t mnemo_cache__epoch(mnemo_cache *c, const void *key, size_t klen)
{
    if (!c)
        return 0;
    cache_shard *s = shard_for(c, hash_key(key, klen));
    pthread_mutex_lock(&s->mu);
    uint64_t ep = s->epoch;
    pthread_mutex_unlock(&s->mu);
    return ep;
}

int mnemo_cache__insert(mnemo_cache *c, const void *key, size_t klen, void *value, size_t charge,
                        void (*deleter)(void *value), uint64_t epoch)
{
    if (!c) {
        if (deleter)
            deleter(value);
        return 0;
    }
    uint64_t hash = hash_key(key, klen);
    cache_shard *s = shard_for(c, hash);
    size_t total = mnemo_cache__entry_charge(klen, charge);

    /* Allocate before locking to keep the critical section short. */
    entry *e = NULL;
    if (klen <= SIZE_MAX - sizeof(entry))
        e = mnemo__malloc(sizeof(entry) + klen);

    entry *to_free = NULL;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (epoch != MNEMO_CACHE_NO_EPOCH && (epoch != s->epoch || s->inflight)) {
        rc = 1;
    } else {
        if (epoch == MNEMO_CACHE_NO_EPOCH)
            s->epoch++;
        if (!e || total > s->capacity) {
            /* The old value may be stale now; dropping it keeps the cache from lying. */
            detach_key(s, key, klen, hash, &to_free, e ? &s->evictions : NULL);
            rc = e ? 1 : MNEMO_ENOMEM;
        } else {
            detach_key(s, key, klen, hash, &to_free, NULL);
            e->shard = s;
            e->value = value;
            e->deleter = deleter;
            e->charge = total;
            e->hash = hash;
            e->klen = klen;
            e->refs = 0;
            e->in_cache = true;
            if (klen)
                memcpy(e->key, key, klen);
            entry **head = &s->buckets[hash & (s->nbuckets - 1)];
            e->next_hash = *head;
            *head = e;
            lru_push_front(s, e);
            s->usage += total;
            s->count++;
            s->inserts++;
            maybe_grow(s);
            evict_to_fit(s, &to_free); /* never evicts e: it alone fits and sits at the head */
        }
    }
    pthread_mutex_unlock(&s->mu);

    free_entries(to_free);
    if (rc != 0) {
        mnemo__free(e);
        if (deleter)
            deleter(value);
    }
    return rc;
}

/* Around a commit: no reader fill may land between the database changing and the erase that
 * follows, or a reader that read the old value could put it back over a newer fill. */
/* Erases key and bumps its shard's epoch; inflight_delta opens (+1) or closes (-1) a write. */
static void write_mark(mnemo_cache *c, const void *key, size_t klen, int inflight_delta)
{
    if (!c)
        return;
    uint64_t hash = hash_key(key, klen);
    cache_shard *s = shard_for(c, hash);
    entry *to_free = NULL;
    pthread_mutex_lock(&s->mu);
    s->inflight = (unsigned)((int)s->inflight + inflight_delta);
    s->epoch++;
    detach_key(s, key, klen, hash, &to_free, &s->erases);
    pthread_mutex_unlock(&s->mu);
    free_entries(to_free);
}

void mnemo_cache__erase(mnemo_cache *c, const void *key, size_t klen) { write_mark(c, key, klen, 0); }

void mnemo_cache__write_begin(mnemo_cache *c, const void *key, size_t klen) { write_mark(c, key, klen, 1); }

void mnemo_cache__write_end(mnemo_cache *c, const void *key, size_t klen) { write_mark(c, key, klen, -1); }

void mnemo_cache__clear(mnemo_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nshards; i++) {
        cache_shard *s = &c->shards[i];
        entry *to_free = NULL;
        pthread_mutex_lock(&s->mu);
        s->epoch++;
        for (size_t b = 0; b < s->nbuckets; b++) {
            while (s->buckets[b]) {
                detach(s, &s->buckets[b], &to_free);
                s->erases++;
            }
        }
        pthread_mutex_unlock(&s->mu);
        free_entries(to_free);
    }
}

void mnemo_cache__stats(mnemo_cache *c, mnemo_cache_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    for (size_t i = 0; i < c->nshards; i++) {
        cache_shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        out->hits += s->hits;
        out->misses += s->misses;
        out->inserts += s->inserts;
        out->evictions += s->evictions;
        out->erases += s->erases;
        out->bytes_used += s->usage;
        out->capacity += s->capacity;
        out->entries += s->count;
        pthread_mutex_unlock(&s->mu);
    }
}
