/**
 * @file mnemo/txn.h
 * Transactions spanning every model (key-value, records, graph, vectors).
 *
 * Optimistic concurrency: a transaction reads from one snapshot of the whole database taken at
 * begin, plus its own writes. Every key it writes and every key it reads with a point read is
 * checked at commit; if another transaction changed one of them since the snapshot, the commit
 * fails with MNEMO_EBUSY and nothing of it is applied. Scans are snapshot-consistent but not
 * validated (a concurrent insert into a scanned range is not a conflict).
 *
 * Threads: a mnemo_txn and its iterators belong to one thread at a time. A call that uses a
 * transaction while another thread's call uses it returns MNEMO_EINVAL ("in use by another
 * thread") and changes nothing; mnemo_txn_free waits for the other thread's call to return.
 */
#ifndef MNEMO_TXN_H
#define MNEMO_TXN_H

#include "mnemo/db.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A transaction (opaque). */
typedef struct mnemo_txn mnemo_txn;

/** Flags for mnemo_txn_begin. */
enum mnemo_txn_flags {
    MNEMO_TXN_READONLY = 1 << 0, /**< reads only: no conflict tracking, writes give MNEMO_EREADONLY */
};

/** Begin a transaction.
 * @param[out] out  the transaction, set only on success; release with mnemo_txn_free().
 * @param[in]  flags  0 or MNEMO_TXN_READONLY (implied on a read-only database).
 * @return 0; MNEMO_EINVAL (NULL or closed db, unknown flag); MNEMO_ENOMEM. Thread-safe. */
MNEMO_API int mnemo_txn_begin(mnemo_txn **out, mnemo_db *db, unsigned flags);

/** Commit. Whatever the result, the transaction is finished afterwards (further calls with it
 * return MNEMO_EINVAL until it is freed), except when the call was refused before it started:
 * MNEMO_EINVAL because txn is NULL, finished, of a closed database, or in use by another thread
 * at that moment (the transaction is then left as it was).
 * @return 0; MNEMO_EBUSY (conflict: nothing was applied, run the work again in a new
 *         transaction); MNEMO_EINVAL (as above); MNEMO_EIO. */
MNEMO_API int mnemo_txn_commit(mnemo_txn *txn);

/** Discard every write of the transaction and finish it.
 * @return 0; MNEMO_EINVAL (NULL, already finished or its database closed). */
MNEMO_API int mnemo_txn_rollback(mnemo_txn *txn);

/** Release a transaction, rolling it back if it is still open. Accepts NULL. */
MNEMO_API void mnemo_txn_free(mnemo_txn *txn);

/** Work to run in a transaction: return 0 to commit, any other value to roll back (mnemo's codes
 * are negative; a positive value of the caller's own is returned as it is). */
typedef int (*mnemo_txn_fn)(mnemo_txn *txn, void *arg);

#define MNEMO_TXN_RETRY_VERSION 1
/** How mnemo_txn_run retries. All-zero means the defaults. */
typedef struct mnemo_txn_retry {
    unsigned version;           /**< MNEMO_TXN_RETRY_VERSION (0 is taken as 1) */
    unsigned max_attempts;      /**< default 100 */
    unsigned initial_backoff_us;/**< sleep before the second attempt (default 50 us); doubles each
                                     time, with random jitter */
    unsigned max_backoff_us;    /**< cap on one sleep (default 20000 us) */
} mnemo_txn_retry;
#define MNEMO_TXN_RETRY_INIT {MNEMO_TXN_RETRY_VERSION, 0, 0, 0}

/** Run fn in a fresh transaction and commit it; on MNEMO_EBUSY (from fn or from the commit) roll
 * back, wait with bounded exponential backoff and run fn again, up to max_attempts times. fn may
 * run several times, so it must not have effects outside the transaction that matter.
 * @param[in] retry  NULL for defaults.
 * @return 0 once a run committed; fn's own non-zero value other than MNEMO_EBUSY (rolled back,
 *         returned as fn gave it); MNEMO_EBUSY when every
 *         attempt conflicted; MNEMO_EINVAL; MNEMO_EIO. Thread-safe. */
MNEMO_API int mnemo_txn_run(mnemo_db *db, unsigned flags, mnemo_txn_fn fn, void *arg,
                            const mnemo_txn_retry *retry);

#ifdef __cplusplus
}
#endif
#endif
