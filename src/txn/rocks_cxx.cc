/* What RocksDB 7.8's C API cannot do, done with its C++ API and handed back as C API handles.
 *
 * Opening the OptimisticTransactionDB with validate_policy = kValidateSerial: commit validation
 * then runs inside RocksDB's write queue, where plain writes also go, so an auto-commit
 * rocksdb_write cannot land between a transaction's validation and its write (see
 * docs/transactions.md). The C API has no setter for the policy.
 *
 * The handle structs below mirror the private ones in RocksDB's db/c.cc. Checked for 7.8.3
 * against Debian's librocksdb.so.7.8 itself (disassembly): rocksdb_options_create allocates
 * 0x590 = sizeof(rocksdb::Options) bytes and builds the Options at offset 0;
 * rocksdb_column_family_handle_destroy, rocksdb_optimistictransactiondb_close and
 * rocksdb_transaction_destroy read their object pointer at offset 0, delete it and free the
 * wrapper with a sized delete of 8 bytes (so no `bool immortal` after the pointer: that member
 * came with later releases). Hence the version check: another RocksDB must be checked again. */
#include <rocksdb/c.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/utilities/optimistic_transaction_db.h>
#include <rocksdb/utilities/transaction.h>
#include <rocksdb/version.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "txn/rocks_cxx.h"

#if ROCKSDB_MAJOR != 7 || ROCKSDB_MINOR != 8
#error "src/txn/rocks_cxx.cc mirrors RocksDB 7.8's C API handle layouts; check db/c.cc of this version"
#endif

extern "C" {
struct rocksdb_options_t {
    rocksdb::Options rep;
};
struct rocksdb_column_family_handle_t {
    rocksdb::ColumnFamilyHandle *rep;
};
struct rocksdb_optimistictransactiondb_t {
    rocksdb::OptimisticTransactionDB *rep;
};
struct rocksdb_transaction_t {
    rocksdb::Transaction *rep;
};
}

static_assert(sizeof(rocksdb_options_t) == 0x590, "rocksdb::Options differs from the one librocksdb 7.8.3 was built with");
static_assert(sizeof(rocksdb_column_family_handle_t) == 8 && sizeof(rocksdb_optimistictransactiondb_t) == 8 &&
                  sizeof(rocksdb_transaction_t) == 8,
              "C API handles are one pointer in RocksDB 7.8");

/* Errors are returned like the C API does: a malloc'd string the caller frees with rocksdb_free. */
static bool save_error(char **errptr, const rocksdb::Status &s)
{
    if (s.ok())
        return false;
    *errptr = strdup(s.ToString().c_str());
    return true;
}

static void save_exception(char **errptr, const char *what)
{
    std::string m = std::string("Operation failed: ") + what;
    *errptr = strdup(m.c_str());
}

extern "C" rocksdb_optimistictransactiondb_t *mnemo_txn__open_serial(
    const rocksdb_options_t *db_options, const char *name, int n, const char *const *cf_names,
    const rocksdb_options_t *const *cf_options, unsigned sorted_cfs, rocksdb_column_family_handle_t **cf_handles,
    char **errptr)
{
    try {
        std::vector<rocksdb::ColumnFamilyDescriptor> families;
        families.reserve((size_t)n);
        for (int i = 0; i < n; i++) {
            rocksdb::ColumnFamilyOptions cf(cf_options[i]->rep);
            /* One insert hint for the whole memtable (the prefix of every key is empty): a write
             * batch's keys that come in key order then fix the skip list splice of the previous
             * insert from the bottom level up, instead of searching from the top every time the
             * memtable holds keys between two of them. */
            if (i < 32 && (sorted_cfs >> i & 1u))
                cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(0));
            families.emplace_back(std::string(cf_names[i]), cf);
        }
        rocksdb::OptimisticTransactionDBOptions occ;
        occ.validate_policy = rocksdb::OccValidationPolicy::kValidateSerial;
        rocksdb::OptimisticTransactionDB *otxn = nullptr;
        std::vector<rocksdb::ColumnFamilyHandle *> handles;
        if (save_error(errptr, rocksdb::OptimisticTransactionDB::Open(rocksdb::DBOptions(db_options->rep), occ,
                                                                      std::string(name), families, &handles,
                                                                      &otxn)))
            return nullptr;
        /* Wrappers made with new, as c.cc does: rocksdb_column_family_handle_destroy and
         * rocksdb_optimistictransactiondb_close delete them. */
        for (size_t i = 0; i < handles.size(); i++) {
            cf_handles[i] = new rocksdb_column_family_handle_t;
            cf_handles[i]->rep = handles[i];
        }
        rocksdb_optimistictransactiondb_t *result = new rocksdb_optimistictransactiondb_t;
        result->rep = otxn;
        return result;
    } catch (const std::exception &e) {
        save_exception(errptr, e.what());
        return nullptr;
    }
}

extern "C" void mnemo_txn__put_untracked_rocks(rocksdb_transaction_t *txn, rocksdb_column_family_handle_t *cf,
                                               const char *key, size_t klen, const char *val, size_t vlen,
                                               char **errptr)
{
    try {
        /* Unindexed: the write goes straight into the transaction's WriteBatch, skipping the
         * per-transaction skip list; untracked: not validated at commit. */
        txn->rep->DisableIndexing();
        rocksdb::Status s = txn->rep->PutUntracked(cf->rep, rocksdb::Slice(key, klen), rocksdb::Slice(val, vlen));
        txn->rep->EnableIndexing();
        save_error(errptr, s);
    } catch (const std::exception &e) {
        txn->rep->EnableIndexing();
        save_exception(errptr, e.what());
    }
}
