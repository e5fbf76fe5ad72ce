/* Internal API of the transaction room: mnemo_txn over the store interface (src/store/store.h).
 * Other modules read and write keyspaces, open cursors and register commit hooks through this
 * header; none of them sees the store or its engine. */
#ifndef MNEMO_TXN_INTERNAL_H
#define MNEMO_TXN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mnemo/db.h"
#include "mnemo/kv.h"
#include "mnemo/txn.h"
#include "store/keyspace.h"
#include "store/store.h"

/* The stored name of a keyspace (keyspace.h), "?" when out of range. */
const char *mnemo_cf__name(mnemo_cf cf);

/* Guards: every public call holds one on its database from its checks to its return, so that
 * mnemo_close (another thread, a misuse) waits for it instead of freeing what it reads, and a
 * transaction is claimed by one thread at a time: a second thread gets MNEMO_EINVAL. The same
 * thread nests (a public call from a mnemo_txn_run callback). Declare with MNEMO_GUARD(g) at the
 * top of the public function, then enter with one of the three below; the guard is left when g
 * goes out of scope, also when entering failed. */
typedef struct mnemo_guard {
    mnemo_db *db;            /* NULL: not entered */
    mnemo_txn *txn;          /* the transaction this guard claimed, or NULL */
    struct mnemo_guard *up;  /* this thread's enclosing guard */
    unsigned slot;           /* 1 + its slot in this thread's record; 0: counted in db's calls */
} mnemo_guard;
void mnemo_guard__leave(mnemo_guard *g);
#define MNEMO_GUARD(g) mnemo_guard g __attribute__((cleanup(mnemo_guard__leave))) = {0}

/* EINVAL naming `fn` when db is NULL or closed. */
int mnemo_guard__db(mnemo_guard *g, mnemo_db *db, const char *fn);
/* As above, and txn when not NULL: open, belongs to db, not in use by another thread. */
int mnemo_guard__txn(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn, const char *fn);
/* As above plus that writing is allowed (EREADONLY otherwise). */
int mnemo_guard__write(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn, const char *fn);
/* For the _free functions, which cannot fail: 0 with the guard entered (db open, txn claimed,
 * waiting for another thread's call on it to end), or nonzero once db is closed and its close has
 * finished invalidating its transactions and cursors (then nothing is entered). */
int mnemo_guard__free(mnemo_guard *g, mnemo_db *db, mnemo_txn *txn);
/* For mnemo_close, after it set the magic to closing: returns once no guarded call on db is in
 * flight on any thread (new ones see the magic and refuse). */
void mnemo_guard__wait_calls(mnemo_db *db);
/* Whether this thread is inside a guarded call on db (mnemo_close refuses then). */
int mnemo_guard__held(mnemo_db *db);
/* For taking away something that calls on db read without a lock (vector/resident.c evicts an
 * index): first unpublish it (a seq_cst store), then mnemo_guard__barrier() once, then
 * mnemo_guard__busy(db) for each db. 0 means no guarded call on db is in flight, and every call
 * entered from now on sees the unpublished state; 1 means put it back. */
void mnemo_guard__barrier(void);
int mnemo_guard__busy(mnemo_db *db);

const mnemo_options *mnemo_db__options(mnemo_db *db);

/* Per-database state of a module (records, graph, vectors...), created by ops->init on first use
 * and keyed by the address of ops, so the rooms below the modules name none of them. destroy runs
 * in mnemo_close after open transactions were rolled back and before the store closes, so it may
 * still write (without a transaction); the last created goes first. */
typedef struct mnemo_module_ops {
    int (*init)(mnemo_db *db, void **state);
    void (*destroy)(mnemo_db *db, void *state);
} mnemo_module_ops;
int mnemo_db__module(void **state, mnemo_db *db, const mnemo_module_ops *ops);
/* The module's state if it was created, else NULL (never creates it). */
void *mnemo_db__module_peek(mnemo_db *db, const mnemo_module_ops *ops);

/* Point read. txn NULL reads the latest committed state. track != 0 inside a read-write txn makes
 * the key part of the commit-time conflict check. On success *val is a mnemo__malloc'd copy with a
 * trailing NUL (not counted in *vlen). Returns 0, MNEMO_ENOTFOUND or an error. */
int mnemo_txn__get(char **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key,
                   size_t klen, int track);

/* A borrowed point read for mnemo_kv_view: the store's value, kept alive by a node linked into
 * the db's resources so that mnemo_close gives it back if the caller did not. */
int mnemo_txn__view(mnemo_view *out, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen,
                    int track);
void mnemo_txn__view_release(mnemo_view *v);

/* Writes; txn NULL writes alone and at once. Callers have validated handles and arguments. */
int mnemo_txn__put(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen,
                   const void *val, size_t vlen);
int mnemo_txn__delete(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen);
/* Small stored values (ids in index entries, counters, label names, text settings and postings)
 * are sealed (core/coding.h: version byte + crc32c; sealed.c). put_sealed seals and writes;
 * get_sealed reads, checks and returns the payload (mnemo__malloc'd, NUL-terminated; ENOTFOUND, or
 * ECORRUPT "<what> fails its checksum"); unseal checks a value read through a cursor. */
int mnemo_txn__put_sealed(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen, const void *payload,
                          size_t plen);
int mnemo_txn__get_sealed(char **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key,
                          size_t klen, int track, const char *what);
int mnemo_txn__unseal(const void *v, size_t vl, const char **payload, size_t *plen, const char *what);
/* A blind write for bulk loads (txn must not be NULL): not indexed in the transaction and not
 * validated at commit, so it costs about what a plain batch put does. The transaction's own
 * reads and cursors do not see it (undefined if they look): use it only for keys nothing in this
 * transaction reads, iterates or writes again. Still atomic with the rest of the transaction, and
 * serializable: a blind write needs no validation, and engines validate commits so that nothing
 * lands between the validation and the write (store.h). */
int mnemo_txn__put_untracked(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen,
                             const void *val, size_t vlen);

/* An atomic group of writes for auto-commit operations that touch several keys. */
typedef struct mnemo_batch mnemo_batch;
int mnemo_batch__create(mnemo_batch **out, mnemo_db *db);
void mnemo_batch__put(mnemo_batch *b, mnemo_cf cf, const void *key, size_t klen, const void *val,
                      size_t vlen);
void mnemo_batch__delete(mnemo_batch *b, mnemo_cf cf, const void *key, size_t klen);
int mnemo_batch__write(mnemo_batch *b);
void mnemo_batch__free(mnemo_batch *b);

/* Either the caller's transaction or, when txn is NULL, a fresh one this operation commits itself:
 *   mnemo_txn *t; int own; rc = mnemo_txn__auto_begin(&t, &own, db, txn); ... work ...
 *   return mnemo_txn__auto_end(t, own, rc);   // commits (rc == 0) or rolls back when own */
int mnemo_txn__auto_begin(mnemo_txn **t, int *own, mnemo_db *db, mnemo_txn *txn);
int mnemo_txn__auto_end(mnemo_txn *t, int own, int rc);

/* A public call that fails inside a caller's transaction after writing part of its work must
 * not let that part commit: record how many writes the txn has seen before the call and, if the
 * call failed and the count moved, poison the txn. Its commit then rolls back and returns rc. */
uint64_t mnemo_txn__writes(mnemo_txn *txn);
void mnemo_txn__poison(mnemo_txn *txn, int rc);
/* How every multi-key public operation runs: in the caller's txn (poisoned if op fails after
 * writing), or, when txn is NULL, in a fresh transaction retried on conflicts. */
int mnemo_txn__run_op(mnemo_db *db, mnemo_txn *txn, mnemo_txn_fn op, void *arg);

/* Cache entries a transaction makes stale: key is erased from mnemo's cache around the commit
 * (write_begin just before the store commits, write_end after), so no reader fill can put back a
 * value the commit replaced. Nothing happens if the cache is off. */
int mnemo_txn__cache_forget(mnemo_txn *txn, const void *key, size_t klen);

/* Commit hooks: in-memory structures change only after the store committed. `before` runs just
 * before the store commit (it may still write into txn; an error aborts the commit); `after`
 * runs exactly once when the transaction ends, committed = 1 only after a successful commit.
 * Hooks run in registration order. owner identifies the hook: adding a second hook with the same
 * owner is refused with EEXISTS so a module registers once per transaction (see hook_arg). */
typedef struct mnemo_txn_hook {
    const void *owner;
    int (*before)(mnemo_txn *txn, void *arg);
    void (*after)(mnemo_txn *txn, void *arg, int committed);
    void *arg;
    /* With owner, what identifies the hook: the handle whose module state it serves (a transaction
     * spans collections, each with its own), or NULL for a hook of the whole transaction. */
    mnemo_db *db;
} mnemo_txn_hook;
int mnemo_txn__add_hook(mnemo_txn *txn, const mnemo_txn_hook *hook);
/* The arg of the hook registered by (owner, db) in this txn, or NULL. */
void *mnemo_txn__hook_arg(mnemo_txn *txn, mnemo_db *db, const void *owner);
mnemo_db *mnemo_txn__db(mnemo_txn *txn);

/* Cursor: a raw ordered iterator over one keyspace, restricted to [lower, upper) (either may
 * be NULL/0 for unbounded). It reads the txn's snapshot plus its writes, or an implicit snapshot
 * when txn is NULL. When its txn finishes or its db closes it is invalidated: valid() is 0 and
 * status() is EINVAL. Key/value slices live until the next move. */
typedef struct mnemo_cursor mnemo_cursor;
int mnemo_cursor__open(mnemo_cursor **out, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *lower,
                       size_t lower_len, const void *upper, size_t upper_len);
void mnemo_cursor__seek(mnemo_cursor *c, const void *key, size_t klen);          /* first >= key */
void mnemo_cursor__seek_for_prev(mnemo_cursor *c, const void *key, size_t klen); /* last <= key */
void mnemo_cursor__first(mnemo_cursor *c);
void mnemo_cursor__last(mnemo_cursor *c);
void mnemo_cursor__next(mnemo_cursor *c); /* only on a cursor valid() accepted */
void mnemo_cursor__prev(mnemo_cursor *c); /* likewise */
int mnemo_cursor__valid(mnemo_cursor *c);
/* 0 once invalidated (its txn finished or its db closed); cheap, unlike status. */
int mnemo_cursor__alive(mnemo_cursor *c);
/* The flag alive() reads, for an iterator that tests it without calling in (core/iter.h `live`):
 * non-zero until the cursor is invalidated; it lives as long as the cursor. */
const int *mnemo_cursor__live_flag(const mnemo_cursor *c);
/* 0, or the error that stopped the cursor (message set). */
int mnemo_cursor__status(mnemo_cursor *c, const char *what);
const void *mnemo_cursor__key(mnemo_cursor *c, size_t *len);
const void *mnemo_cursor__value(mnemo_cursor *c, size_t *len);
/* A forward run: the current entry and up to max - 1 after it, the cursor left past them; the
 * slices live until the cursor's next call (store.h cursor_run). 0 when the engine has none or the
 * cursor is in a transaction: then read and move one by one. */
size_t mnemo_cursor__run(mnemo_cursor *c, mnemo_store_slice *keys, mnemo_store_slice *vals, size_t max);
void mnemo_cursor__close(mnemo_cursor *c);

/* mnemo's own cache of decoded objects (NULL when cache_size is 0: a disabled cache). */
struct mnemo_cache *mnemo_db__cache(mnemo_db *db);
/* The cache for a read that may be answered from it: on a shared engine, first emptied if another
 * process committed since the cache was last known current (one cheap look at the store's latest
 * sequence), so that no process keeps serving what another replaced. Call it before taking the
 * fill epoch. */
struct mnemo_cache *mnemo_db__cache_read(mnemo_db *db);

/* 1 when other processes may commit to the database while this handle is open: several processes
 * open it read-write (the lmdb engine), or this handle follows another process's writer (a
 * read-only open of a held rocksdb database; store.h "followers"). Caches compare
 * mnemo_db__last_seq before they answer. */
int mnemo_db__shared(mnemo_db *db);
/* The store's latest commit sequence (any process); 0 where the engine cannot tell cheaply. */
uint64_t mnemo_db__last_seq(mnemo_db *db);
/* Shared engines: 1 when every commit after sequence `from` up to `to` was this process's own
 * (through any handle of the database), so a cache kept in step by this process's commit hooks is
 * still current at `to`; 0 when another process may have committed in between (or cannot tell). */
int mnemo_db__own_since(mnemo_db *db, uint64_t from, uint64_t to);
/* A put into txn (not NULL) whose key is prefix + the commit's own sequence number (8 bytes
 * big-endian): entries of commits of several processes keyed in commit order. Shared engines
 * only (MNEMO_ENOTSUP elsewhere). The transaction does not see it. */
/* After mnemo_txn_commit returned MNEMO_EUNKNOWN (engines with txn_resolve): 0 if the commit was
 * applied, MNEMO_EBUSY if it was not (and never will be), MNEMO_EUNKNOWN if the store cannot tell
 * yet (ask again). mnemo_txn_run calls it. */
int mnemo_txn__resolve(mnemo_txn *txn);
int mnemo_txn__put_at_commit(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *prefix, size_t plen,
                             const void *val, size_t vlen);
/* A read-modify-write of one key in a store transaction of its own, retried on conflicts, and
 * without the handle's guard: for a module's bookkeeping, also while the handle closes (the
 * vector room's snapshot lease). fn sees the current value (cur NULL: absent) and returns 0 with
 * *out (mnemo__malloc'd, taken over; NULL: delete the key) and *olen set, 1 to write nothing (then
 * returned as 1), or an error (returned). */
typedef int (*mnemo_update_fn)(void *arg, const void *cur, size_t clen, void **out, size_t *olen);
int mnemo_txn__update_one(mnemo_db *db, mnemo_cf cf, const void *key, size_t klen, mnemo_update_fn fn, void *arg);
/* The store's sequence number of txn's commit (an after-hook with committed set may ask). */
uint64_t mnemo_txn__commit_seq(mnemo_txn *txn);

/* The key prefix of db's collection (txn/scope.c adds it to the collection's keys by itself), for
 * the values that name a record of any collection (the record room's internal-id map) and the keys
 * of mnemo's cache, which every collection of the database shares. Empty for the default one. */
const unsigned char *mnemo_db__key_prefix(mnemo_db *db, size_t *len);
/* db's collection id (0: the default collection). */
uint32_t mnemo_db__collection_id(mnemo_db *db);
/* The handle mnemo_open returned for db's database (db itself for the default collection): what
 * every collection's handle shares. Open as long as any of its collections' handles is. */
mnemo_db *mnemo_db__root(mnemo_db *db);
/* 1 when a and b are handles of one database (collections of it). */
int mnemo_db__same_database(mnemo_db *a, mnemo_db *b);

/* The engine's estimate of the number of keys in a keyspace (cheap, approximate); on a collection's
 * handle, of the collection's keys (counted while there are fewer than a few thousand). */
uint64_t mnemo_db__estimate_keys(mnemo_db *db, mnemo_cf cf);

#endif
