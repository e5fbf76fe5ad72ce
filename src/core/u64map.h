/* Open-addressing hash map from non-zero u64 keys (internal ids) to size_t values: visited sets,
 * parent tables and id sets of the graph and vector rooms. Not thread-safe. */
#ifndef MNEMO_CORE_U64MAP_H
#define MNEMO_CORE_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct mnemo_u64map {
    uint64_t *keys; /* 0 = empty slot */
    size_t *vals;
    size_t cap, n;
} mnemo_u64map;

#define MNEMO_U64MAP_INIT {NULL, NULL, 0, 0}

/* Inserts key -> val if absent: 1 inserted, 0 already present (value unchanged), MNEMO_ENOMEM. */
int mnemo_u64map__add(mnemo_u64map *m, uint64_t key, size_t val);
/* One probe for both: inserts key -> val and returns 1 when absent; returns 0 with *found set to
 * the value present (found may be NULL) when not; MNEMO_ENOMEM. */
int mnemo_u64map__find_or_add(mnemo_u64map *m, uint64_t key, size_t val, size_t *found);
/* 1 and *val set when present (val may be NULL), 0 when absent. */
int mnemo_u64map__get(const mnemo_u64map *m, uint64_t key, size_t *val);
void mnemo_u64map__free(mnemo_u64map *m);

#endif
