/* Internal API of the vector room, for the db room (open). */
#ifndef MNEMO_VECTOR_INTERNAL_H
#define MNEMO_VECTOR_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "mnemo/vector.h"
#include "txn/txn.h"

/* Called by mnemo_open once the store is open: creates or checks the vector space against the
 * options and, when the database has one, loads the index (snapshot + log, or a rebuild). Registers
 * the record listener by which an embedding goes with its record (deleted, or replaced by a put). */
int mnemo_vector__open(mnemo_db *db);

/* The loaded collection indexes of db's database (resident.c; mnemo_stats_get): how many, their
 * bytes as of their loads, and how many were evicted so far under index_memory_limit. */
void mnemo_vector__residency(mnemo_db *db, size_t *loaded, size_t *bytes, uint64_t *evictions);

/* Tests: waits until the background worker (snapshots, rebuilds) has nothing asked of it. */
int mnemo_vector__settle(mnemo_db *db);
/* Tests: how the last filtered search of this thread answered from the filter mirror was
 * planned: a cached bitset, a bitset of an index's few entries, a bitset over every record, or
 * the filter tested as the walk meets nodes; 0 after any other search. */
enum { MNEMO_VPLAN_CACHED = 1, MNEMO_VPLAN_INDEX, MNEMO_VPLAN_BITSET, MNEMO_VPLAN_LAZY };
extern _Thread_local int mnemo_vector__last_plan;
/* Tests: when set, the background worker calls it at named points ("rebuild_copied",
 * "rebuild_swap", "snapshot_chunk", "abandoned") from its own thread, with the flag close sets
 * to stop it; and a load of an index calls it between its snapshot and its log
 * ("load_snapshot_read", on the loading thread), a reload likewise ("reload_loaded"), and a
 * catch-up between its read of the trim mark and its read of the log ("catch_up_marked"). */
extern void (*mnemo_vector__bg_probe)(const char *stage, const atomic_int *stop);

#endif
