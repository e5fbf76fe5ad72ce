/**
 * @file mnemo/kv.h
 * Raw key-value pairs (the `default` column family).
 *
 * Every function takes an optional transaction: NULL runs the operation alone and commits it at
 * once (auto-commit); a transaction makes it part of that transaction (see mnemo/txn.h).
 * Keys are 1..MNEMO_KV_MAX_KEY bytes of anything; values 0..MNEMO_KV_MAX_VALUE bytes.
 * Threads: thread-safe on the db; a transaction belongs to one thread at a time.
 */
#ifndef MNEMO_KV_H
#define MNEMO_KV_H

#include "mnemo/iter.h"
#include "mnemo/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_KV_MAX_KEY 4096u
#define MNEMO_KV_MAX_VALUE (64u * 1024u * 1024u)

/** Store a pair, replacing any value the key had.
 * @return 0; MNEMO_EINVAL (NULL/closed db, empty or oversized key, NULL value with vlen > 0,
 *         oversized value, finished txn); MNEMO_EREADONLY; MNEMO_EBUSY (write conflict inside a txn
 *         is only reported at commit; auto-commit never conflicts); MNEMO_EIO. */
MNEMO_API int mnemo_kv_put(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen,
                           const void *val, size_t vlen);

/** Read a value.
 * @param[out] val   a copy of the value (NUL-terminated for convenience, not counted in vlen);
 *                   free it with mnemo_free(). Untouched on failure.
 * @param[out] vlen  its length.
 * @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL; MNEMO_EIO; MNEMO_ENOMEM. Inside a transaction the read
 *         is validated at commit. */
MNEMO_API int mnemo_kv_get(void **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, const void *key,
                           size_t klen);

/** A borrowed value: a zero-copy read (mnemo_kv_view). `data` and `len` are the value; the rest
 * is the library's. A zeroed view (MNEMO_VIEW_INIT) holds nothing; do not copy a view that holds a
 * value (release the one the library filled). */
typedef struct mnemo_view {
    const void *data; /**< the value's bytes (not NUL-terminated); NULL when the view holds nothing */
    size_t len;       /**< its length */
    void *internal_;  /**< private: what keeps the bytes alive */
} mnemo_view;
#define MNEMO_VIEW_INIT {NULL, 0, NULL}

/** Read a value without copying it.
 *
 * Lifetime: view->data stays valid and unchanged until mnemo_view_release(view) or
 * mnemo_close(db), whichever comes first, whatever else happens meanwhile: the transaction may
 * write the key again, commit or be freed, other transactions may overwrite or delete the key,
 * the database may flush or compact. The bytes are the engine's own where it can lend them (LMDB:
 * the page inside the read snapshot; RocksDB: the block pinned in its cache; a value the
 * transaction wrote itself is a copy). A held view pins what it reads: on LMDB its snapshot's
 * pages cannot be reused and the map cannot grow until it is released, so release it promptly.
 * Any thread may release a view.
 *
 * @param[out] view  filled on success (data, len); untouched on failure.
 * @return 0; MNEMO_ENOTFOUND; MNEMO_EINVAL (NULL view, NULL/closed db, bad key, finished txn);
 *         MNEMO_EIO; MNEMO_ENOMEM. Inside a transaction the read is validated at commit, as
 *         mnemo_kv_get's is. */
MNEMO_API int mnemo_kv_view(mnemo_view *view, mnemo_db *db, mnemo_txn *txn, const void *key,
                            size_t klen);

/** Give back what a view holds and zero it. Accepts NULL, a zeroed view, a view already released,
 * and a view whose database was closed (mnemo_close already gave its bytes back). */
MNEMO_API void mnemo_view_release(mnemo_view *view);

/** Delete a key. Deleting an absent key is not an error.
 * @return 0; MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_EIO. */
MNEMO_API int mnemo_kv_delete(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen);

/** Whether a key is present.
 * @return 1 present, 0 absent, or a negative MNEMO_E* code (MNEMO_EINVAL, MNEMO_EIO). */
MNEMO_API int mnemo_kv_exists(mnemo_db *db, mnemo_txn *txn, const void *key, size_t klen);

/** One operation of a batch. */
typedef enum mnemo_kv_op_type { MNEMO_KV_PUT = 1, MNEMO_KV_DELETE = 2 } mnemo_kv_op_type;
typedef struct mnemo_kv_op {
    mnemo_kv_op_type type;
    const void *key;
    size_t klen;
    const void *val; /**< ignored for MNEMO_KV_DELETE */
    size_t vlen;
} mnemo_kv_op;

/** Apply many puts and deletes atomically (in order; a later op on the same key wins). Every op is
 * checked before any is applied: one bad op leaves the database untouched. Inside a transaction,
 * a failure while writing after some ops were written poisons it: its commit fails and keeps none.
 * @return 0; MNEMO_EINVAL (names the bad op's index); MNEMO_EREADONLY; MNEMO_EIO. */
MNEMO_API int mnemo_kv_batch(mnemo_db *db, mnemo_txn *txn, const mnemo_kv_op *ops, size_t n);

#define MNEMO_KV_ITER_OPTIONS_VERSION 1
/** What a key-value iterator visits. All-zero: every key, ascending. prefix and start/end may be
 * combined (the intersection is visited). */
typedef struct mnemo_kv_iter_options {
    unsigned version;   /**< MNEMO_KV_ITER_OPTIONS_VERSION (0 is taken as 1) */
    const void *prefix; /**< only keys starting with these bytes */
    size_t prefix_len;
    const void *start;  /**< only keys >= start (NULL: no lower bound) */
    size_t start_len;
    const void *end;    /**< only keys < end (NULL: no upper bound) */
    size_t end_len;
    int reverse;        /**< visit in descending key order */
} mnemo_kv_iter_options;
#define MNEMO_KV_ITER_OPTIONS_INIT {MNEMO_KV_ITER_OPTIONS_VERSION, NULL, 0, NULL, 0, NULL, 0, 0}

/** Create an iterator over key-value pairs. Without a transaction it reads one implicit snapshot
 * taken now; inside one it sees the transaction's snapshot plus its uncommitted writes.
 * @param[out] out  set only on success; free with mnemo_iter_free().
 * @param[in]  opts NULL for every key ascending.
 * @return 0; MNEMO_EINVAL; MNEMO_ENOMEM. */
MNEMO_API int mnemo_kv_iter(mnemo_iter **out, mnemo_db *db, mnemo_txn *txn,
                            const mnemo_kv_iter_options *opts);

#ifdef __cplusplus
}
#endif
#endif
