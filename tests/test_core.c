/* The core room's small containers (src/core/): the u64 map the graph and vector rooms keep their
 * visited sets and id tables in. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>

#include "core/u64map.h"
#include "testutil.h"

/* Random keys against a plain reference: every add, find_or_add and get agrees with it, through
 * the map's growth from empty to 50,000 keys. */
TU_TEST(core, u64map_matches_a_reference)
{
    enum { N = 50000, RANGE = 80000 };
    size_t *ref = calloc(RANGE + 1, sizeof *ref); /* key -> value + 1, 0 = absent */
    cr_assert_not_null(ref);
    mnemo_u64map m = MNEMO_U64MAP_INIT;
    unsigned seed = 11;
    size_t present = 0;
    for (int i = 0; i < N; i++) {
        uint64_t k = 1 + (uint64_t)(rand_r(&seed) % RANGE);
        size_t v = (size_t)rand_r(&seed), found = (size_t)-1;
        int rc = i % 2 ? mnemo_u64map__find_or_add(&m, k, v, &found) : mnemo_u64map__add(&m, k, v);
        if (ref[k]) {
            cr_assert_eq(rc, 0, "key %llu is present", (unsigned long long)k);
            if (i % 2)
                cr_assert_eq(found, ref[k] - 1, "find_or_add gives the value present, unchanged");
        } else {
            cr_assert_eq(rc, 1);
            cr_assert_eq(found, (size_t)-1, "nothing found: *found untouched");
            ref[k] = v + 1;
            present++;
        }
        cr_assert_eq(m.n, present);
    }
    for (uint64_t k = 1; k <= RANGE; k++) {
        size_t v;
        int got = mnemo_u64map__get(&m, k, &v);
        cr_assert_eq(got, ref[k] != 0, "key %llu", (unsigned long long)k);
        if (got)
            cr_assert_eq(v, ref[k] - 1);
    }
    cr_assert_eq(mnemo_u64map__find_or_add(&m, 1, 7, NULL), ref[1] ? 0 : 1, "found may be NULL");
    mnemo_u64map__free(&m);
    cr_assert_eq(mnemo_u64map__get(&m, 1, NULL), 0, "a freed map is empty");
    free(ref);
}
