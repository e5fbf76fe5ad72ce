/* Id allocation: counters in the `metadata` keyspace that hand out ids never reused, even after a
 * crash. One allocator for every kind of id (record internal ids, graph label ids).
 *
 * A counter key holds the next id never handed out (sealed, big-endian, 4 or 8 bytes). Ids are
 * claimed from it inside a transaction: a tracked read of the counter, then a write of the counter
 * moved past the claim. Two transactions claiming at once conflict on the counter key, so one of
 * them retries from the other's value; this is what keeps a second process (issue 12: several
 * processes on one LMDB environment, or a distributed store) from handing out an id another
 * already has: every id of a process comes from a claim committed by the store, never from
 * process memory alone.
 *
 * - mnemo_idalloc__claim claims n ids inside the caller's transaction (labels: one at a time, so a
 *   rollback gives the id back and two creators conflict).
 * - mnemo_idblock claims a block of ids in a short transaction of its own and hands them out from
 *   memory (record internal ids: inserts never conflict on the counter; a crash or a close loses at
 *   most the rest of a block). */
#ifndef MNEMO_TXN_IDALLOC_H
#define MNEMO_TXN_IDALLOC_H

#include <pthread.h>
#include <stdint.h>

#include "txn/txn.h"

typedef struct mnemo_idcounter {
    const char *key;  /* in the metadata keyspace (core/keys.h) */
    unsigned width;   /* 4 or 8: bytes of the stored big-endian value */
    uint64_t max;     /* the largest id that may be handed out */
    const char *what; /* names the ids in messages: "record internal ids" */
} mnemo_idcounter;

/* Claims ids [*first, *first + n) in txn (not NULL): 0, MNEMO_EFULL when they would pass c->max,
 * MNEMO_ECORRUPT for a damaged counter, or the store's error. Id 0 is never handed out. */
int mnemo_idalloc__claim(uint64_t *first, mnemo_db *db, mnemo_txn *txn, const mnemo_idcounter *c, uint64_t n);

/* Sets the counter (txn NULL: alone), for tests that start near the end of an id range. */
int mnemo_idalloc__set(mnemo_db *db, mnemo_txn *txn, const mnemo_idcounter *c, uint64_t next);

/* Ids handed out from blocks claimed in their own transactions (retried on conflicts). */
typedef struct mnemo_idblock {
    const mnemo_idcounter *counter;
    uint64_t block; /* ids claimed at once */
    pthread_mutex_t lock;
    uint64_t next, limit; /* this process owns [next, limit) */
} mnemo_idblock;

void mnemo_idblock__init(mnemo_idblock *b, const mnemo_idcounter *c, uint64_t block);
void mnemo_idblock__destroy(mnemo_idblock *b);
/* The next id: 0 or an error of mnemo_idalloc__claim. Thread-safe. */
int mnemo_idblock__take(uint64_t *id, mnemo_db *db, mnemo_idblock *b);

#endif
