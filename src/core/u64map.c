#include "core/u64map.h"

#include "core/alloc.h"
#include "core/error.h"

static size_t slot_of(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static int grow(mnemo_u64map *m)
{
    size_t cap = m->cap ? 2 * m->cap : 64;
    uint64_t *keys = mnemo__calloc(cap, sizeof *keys);
    size_t *vals = mnemo__malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        mnemo__free(keys);
        mnemo__free(vals);
        return mnemo__err_nomem("id map");
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(m->keys[i], cap);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = m->keys[i];
            vals[j] = m->vals[i];
        }
    mnemo__free(m->keys);
    mnemo__free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int mnemo_u64map__find_or_add(mnemo_u64map *m, uint64_t key, size_t val, size_t *found)
{
    if ((m->n + 1) * 2 > m->cap) {
        int rc = grow(m);
        if (rc)
            return rc;
    }
    size_t j = slot_of(key, m->cap);
    while (m->keys[j]) {
        if (m->keys[j] == key) {
            if (found)
                *found = m->vals[j];
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->vals[j] = val;
    m->n++;
    return 1;
}

int mnemo_u64map__add(mnemo_u64map *m, uint64_t key, size_t val)
{
    return mnemo_u64map__find_or_add(m, key, val, NULL);
}

int mnemo_u64map__get(const mnemo_u64map *m, uint64_t key, size_t *val)
{
    if (!m->cap)
        return 0;
    for (size_t j = slot_of(key, m->cap); m->keys[j]; j = (j + 1) & (m->cap - 1))
        if (m->keys[j] == key) {
            if (val)
                *val = m->vals[j];
            return 1;
        }
    return 0;
}

void mnemo_u64map__free(mnemo_u64map *m)
{
    mnemo__free(m->keys);
    mnemo__free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}
