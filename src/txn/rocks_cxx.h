/* Private to src/txn/: RocksDB calls the 7.8 C API lacks, implemented in rocks_cxx.cc with the
 * C++ API and handed back as C API handles. */
#ifndef MNEMO_TXN_ROCKS_CXX_H
#define MNEMO_TXN_ROCKS_CXX_H

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* rocksdb_optimistictransactiondb_open_column_families with validate_policy = kValidateSerial:
 * commits validate inside the write queue, so plain writes (rocksdb_write on the base DB) are
 * ordered with them and cannot slip between a commit's validation and its write. Column family i
 * with bit i of sorted_cfs set gets a memtable insert hint (for bulk loads that write in key order). */
rocksdb_optimistictransactiondb_t *mnemo_txn__open_serial(const rocksdb_options_t *db_options, const char *name,
                                                          int n, const char *const *cf_names,
                                                          const rocksdb_options_t *const *cf_options,
                                                          unsigned sorted_cfs,
                                                          rocksdb_column_family_handle_t **cf_handles,
                                                          char **errptr);

/* Transaction::PutUntracked with indexing disabled for that one write: the key is neither
 * validated at commit nor visible to the transaction's own reads (see mnemo_txn__put_untracked). */
void mnemo_txn__put_untracked_rocks(rocksdb_transaction_t *txn, rocksdb_column_family_handle_t *cf, const char *key,
                                    size_t klen, const char *val, size_t vlen, char **errptr);

#ifdef __cplusplus
}
#endif

#endif
