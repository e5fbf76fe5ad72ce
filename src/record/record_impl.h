/* Private to src/record/: per-database state of the record room. */
#ifndef MNEMO_RECORD_IMPL_H
#define MNEMO_RECORD_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/u64map.h"
#include "record/record.h"
#include "txn/idalloc.h"

typedef struct record_index_def {
    char *path;
    int ready; /* built for every record; only ready indexes answer queries */
} record_index_def;

typedef struct record_state {
    mnemo_idblock iids; /* internal ids, claimed in blocks (txn/idalloc.h) */

    pthread_rwlock_t idx_lock; /* guards the fields below (index.c) */
    uint64_t idx_epoch;        /* value of 'N' "index_epoch" the definitions were loaded at */
    record_index_def *idx;
    size_t n_idx;

    /* records that have or had an expiry: a superset, so "not here" means "never expires" */
    pthread_mutex_t exp_lock;
    mnemo_u64map expiring;
    atomic_size_t n_expiring; /* lets readers skip the lock while nothing ever expired */
} record_state;

int mnemo_record__state(record_state **st, mnemo_db *db);
int mnemo_record__index_load(record_state *st, mnemo_db *db);
void mnemo_record__index_free(record_state *st);
/* Reads the index epoch inside txn (tracked, so a put racing an index change conflicts) and
 * reloads the definitions when they changed. */
int mnemo_record__index_sync(record_state *st, mnemo_db *db, mnemo_txn *txn);


/* Deletes a stored record (live or expired) and everything that hangs on it, inside txn. */
int mnemo_record__remove(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old);

#define MAX_PATH 256
#define MAX_SCALAR 1024 /* longer scalars are not indexed (find still scans them correctly) */
#define ENTRY_KEY_MAX (2 + MAX_PATH + MAX_SCALAR + 8)

enum { DEF_MISSING = 0, DEF_BUILDING = 1, DEF_READY = 2 };
/* State of the index definition on path as txn sees it (a DEF_* value or a negative code). */
int mnemo_record__index_def_state(mnemo_db *db, mnemo_txn *txn, const char *path, int track);

/* 1 when a ready index covers this metadata path. */
int mnemo_record__index_ready(record_state *st, const char *path);
/* Index entry key 'X' path 0x00 enc, plus the iid when with_iid. */
size_t mnemo_record__entry_key(unsigned char *out, const char *path, const unsigned char *enc, size_t enc_len,
                               uint64_t iid, int with_iid);
/* The encoded scalars a record contributes to the index on path: every value the path reaches
 * (through arrays of objects, as filters read it), each element of an array value once; sorted,
 * without duplicates. Free with mnemo_record__enc_set_free. */
typedef struct enc_item {
    const unsigned char *p;
    size_t len;
} enc_item;
typedef struct enc_set {
    unsigned char *buf;
    enc_item *items;
    size_t n;
} enc_set;
int mnemo_record__index_values(enc_set *s, const json_t *meta, const char *path);
void mnemo_record__enc_set_free(enc_set *s);

#define RECORD_COUNTER_IID_HWM MNEMO_MKEY_IID_HWM
#define RECORD_COUNTER_INDEX_EPOCH MNEMO_MKEY_INDEX_EPOCH

#endif
