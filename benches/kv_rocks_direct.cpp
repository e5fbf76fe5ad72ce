/* bench_kv's RocksDB peer on RocksDB's C++ API: the options of build_options() in
 * src/store/rocksdb/rocksdb.cc with mnemo's defaults (64 MiB write buffer and block cache, bloom
 * 10 bits, LZ4), the eight column families, a plain DB (mnemo's is an OptimisticTransactionDB:
 * the difference is part of what bench_kv measures). "memory" is the same on a MemEnv, as the
 * memory engine is. */
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kv_direct.h"

struct kd_rocks {
    std::unique_ptr<rocksdb::Env> mem_env;
    rocksdb::Options opts;
    rocksdb::DB *db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle *> cf;
    rocksdb::WriteOptions wo; /* sync off, as mnemo's default */
    rocksdb::ReadOptions ro;
};

static const char *const CF_NAMES[] = {"default",     "records",      "graph_forward", "graph_backward",
                                       "vector_data", "vector_index", "metadata",      "text_index"};

static void check(const rocksdb::Status &st, const char *what)
{
    if (!st.ok()) {
        std::fprintf(stderr, "bench_kv: rocksdb %s: %s\n", what, st.ToString().c_str());
        std::exit(1);
    }
}

extern "C" void *kd_rocks_open(const char *path, int in_memory)
{
    kd_rocks *r = new kd_rocks;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(64u << 20);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.format_version = 5;
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    rocksdb::Options &o = r->opts;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    o.IncreaseParallelism(2);
    o.max_background_jobs = 2;
    o.compression = rocksdb::kLZ4Compression;
    o.write_buffer_size = 64u << 20;
    o.db_write_buffer_size = 4 * (64u << 20);
    o.max_write_buffer_size_to_maintain = (int64_t)(64u << 20);
    o.level_compaction_dynamic_level_bytes = true;
    o.bytes_per_sync = 1u << 20;
    o.keep_log_file_num = 4;
    o.info_log_level = rocksdb::WARN_LEVEL;
    if (in_memory) {
        r->mem_env.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
        o.env = r->mem_env.get();
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> fams;
    for (const char *n : CF_NAMES)
        fams.emplace_back(n, rocksdb::ColumnFamilyOptions(o));
    check(rocksdb::DB::Open(rocksdb::DBOptions(o), path, fams, &r->cf, &r->db), "open");
    return r;
}

extern "C" void kd_rocks_close(void *p)
{
    kd_rocks *r = static_cast<kd_rocks *>(p);
    for (auto *h : r->cf)
        check(r->db->DestroyColumnFamilyHandle(h), "close");
    check(r->db->Close(), "close");
    delete r->db;
    delete r;
}

extern "C" void kd_rocks_put(void *p, const void *key, size_t klen, const void *val, size_t vlen)
{
    kd_rocks *r = static_cast<kd_rocks *>(p);
    check(r->db->Put(r->wo, r->cf[0], rocksdb::Slice((const char *)key, klen), rocksdb::Slice((const char *)val, vlen)),
          "Put");
}

extern "C" void kd_rocks_put_batch(void *p, const char *keys, size_t klen, size_t n,
                                   const char *(*val)(size_t, const void *), const void *arg, size_t vlen)
{
    kd_rocks *r = static_cast<kd_rocks *>(p);
    rocksdb::WriteBatch wb;
    for (size_t i = 0; i < n; i++)
        check(wb.Put(r->cf[0], rocksdb::Slice(keys + i * klen, klen), rocksdb::Slice(val(i, arg), vlen)), "WriteBatch");
    check(r->db->Write(r->wo, &wb), "Write");
}

extern "C" int kd_rocks_get(void *p, const void *key, size_t klen, int copy, size_t *vlen, unsigned char *first)
{
    kd_rocks *r = static_cast<kd_rocks *>(p);
    rocksdb::Slice k((const char *)key, klen);
    rocksdb::Status st;
    if (copy) {
        std::string v;
        st = r->db->Get(r->ro, r->cf[0], k, &v);
        if (st.ok()) {
            *vlen = v.size();
            *first = v.empty() ? 0 : (unsigned char)v[0];
        }
    } else {
        rocksdb::PinnableSlice v;
        st = r->db->Get(r->ro, r->cf[0], k, &v);
        if (st.ok()) {
            *vlen = v.size();
            *first = v.empty() ? 0 : (unsigned char)v.data()[0];
        }
    }
    if (st.IsNotFound())
        return 0;
    check(st, "Get");
    return 1;
}

extern "C" size_t kd_rocks_scan(void *p, const void *lower, size_t llen, const void *upper, size_t ulen,
                                size_t *bytes)
{
    kd_rocks *r = static_cast<kd_rocks *>(p);
    rocksdb::ReadOptions ro;
    rocksdb::Slice ub((const char *)upper, ulen);
    ro.iterate_upper_bound = &ub;
    std::unique_ptr<rocksdb::Iterator> it(r->db->NewIterator(ro, r->cf[0]));
    size_t seen = 0, sum = 0;
    for (it->Seek(rocksdb::Slice((const char *)lower, llen)); it->Valid(); it->Next()) {
        rocksdb::Slice k = it->key(), v = it->value();
        sum += k.size() + v.size() + (unsigned char)k.data()[0] + (unsigned char)v.data()[0];
        seen++;
    }
    check(it->status(), "Iterator");
    *bytes += sum;
    return seen;
}

extern "C" void kd_rocks_flush(void *p)
{
    kd_rocks *r = static_cast<kd_rocks *>(p);
    rocksdb::FlushOptions fo;
    fo.wait = true;
    check(r->db->Flush(fo, r->cf), "Flush");
}
