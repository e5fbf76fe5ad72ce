/* Test hooks of the LMDB engine (tests/test_store.c): not part of the store interface. */
#ifndef MNEMO_STORE_LMDB_TEST_H
#define MNEMO_STORE_LMDB_TEST_H

#include <stddef.h>

#include "store/store.h"

/* Map size given to environments created from now on (0: the default, 64 MiB); small values
 * make tests grow the map often. */
void mnemo_store__lmdb_test_initial_map(size_t bytes);
/* Reader slots of environments opened from now on (0: the default). */
void mnemo_store__lmdb_test_max_readers(unsigned n);
/* 1 while a commit of this store waits for open snapshots to end before growing the map. */
int mnemo_store__lmdb_test_growth_pending(mnemo_store *s);
/* Current map size in bytes. */
size_t mnemo_store__lmdb_test_map_size(mnemo_store *s);
/* Reader slots in use in the environment's lock file (all processes, stale ones included). */
int mnemo_store__lmdb_test_readers(mnemo_store *s);

#endif
