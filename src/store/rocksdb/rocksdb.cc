/* The `rocksdb` engine: the store interface (store.h) on RocksDB's C++ API.
 *
 * Transactions run on an OptimisticTransactionDB opened with OccValidationPolicy::kValidateSerial:
 * commits validate inside RocksDB's write queue, the queue plain writes (auto-commit batches, blind
 * transactions) also go through, so a plain write lands before or after a whole commit, never
 * between its validation and its write (docs/transactions.md).
 *
 * Until its first read a read-write transaction only buffers blind writes in a plain WriteBatch:
 * it commits without validation (serializable: blind writes order by commit). The first read or
 * cursor replays them into the RocksDB transaction, which tracks everything from then on.
 *
 * A read-only open of a database another process holds for writing is a follower: after a plain
 * read-only open has found every file of the current version (become_follower), a RocksDB
 * secondary instance (DB::OpenAsSecondary, with a directory of its own removed at close) that
 * catches up with the writer (TryCatchUpWithPrimary) at its catch-up points (store.h "followers"),
 * at most every mnemo_rocksdb__follow_us. A secondary supports no snapshots (point reads ignore
 * them, iterators refuse them), so a follower's transaction keeps its one state by holding off
 * catch-ups from its begin to its end instead (follow_enter / follow_exit).
 *
 * Every function catches every C++ exception and returns an MNEMO_E* code; RocksDB statuses are
 * translated here and nowhere else. Built against RocksDB 7.8 (Debian 12); only public API. */
#include <rocksdb/cache.h>
#if __has_include(<rocksdb/advanced_cache.h>)
#include <rocksdb/advanced_cache.h> /* RocksDB 8 moved the Cache class (GetUsage) out of cache.h */
#endif
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/utilities/optimistic_transaction_db.h>
#include <rocksdb/utilities/transaction.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cstdarg>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "core/error.h"
#include "store/store.h"
}
#include "store/rocksdb/rocksdb.h"

/* RocksDB's info LOG, written with plain write(2), write errors ignored. RocksDB's own logger
 * writes through a WritableFileWriter that, in Debian's 7.8 (assertions on), aborts on the write
 * after a failed one: a full disk killed the process (issue 17 item 1; fixed upstream in RocksDB
 * PR #10555/#12448). A log line lost on a full disk is fine. */
class PlainLogger : public rocksdb::Logger {
  public:
    explicit PlainLogger(std::string file) : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), file_(std::move(file))
    {
    }
    ~PlainLogger() override { PlainLogger::CloseImpl(); }

    using rocksdb::Logger::Logv;
    void Logv(const char *format, va_list ap) override
    {
        if (fd_ < 0 && !open_file())
            return;
        char buf[4096];
        struct timeval tv;
        gettimeofday(&tv, nullptr);
        struct tm tm;
        localtime_r(&tv.tv_sec, &tm);
        size_t n = strftime(buf, sizeof buf, "%Y/%m/%d-%H:%M:%S", &tm);
        n += (size_t)snprintf(buf + n, sizeof buf - n, ".%06ld ", (long)tv.tv_usec);
        va_list copy;
        va_copy(copy, ap);
        int m = vsnprintf(buf + n, sizeof buf - n - 1, format, copy);
        va_end(copy);
        if (m < 0)
            return;
        n = std::min(n + (size_t)m, sizeof buf - 2); /* a longer line is cut */
        if (buf[n - 1] != '\n')
            buf[n++] = '\n';
        (void)!::write(fd_, buf, n); /* one append per line; an error loses the line, nothing else */
    }

  protected:
    rocksdb::Status CloseImpl() override
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
        return rocksdb::Status::OK();
    }

  private:
    /* Opened at the first line, not at construction: RocksDB creates a new database's directory
     * after the options are built. Appended to by every open (readers too); one past 1 MiB starts
     * over instead of rotating. */
    bool open_file()
    {
        std::lock_guard<std::mutex> g(mu_);
        if (fd_ >= 0)
            return true;
        struct stat st;
        int trunc = ::stat(file_.c_str(), &st) == 0 && st.st_size > (1 << 20) ? O_TRUNC : 0;
        fd_ = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | trunc, 0644);
        return fd_ >= 0;
    }

    std::string file_;
    std::mutex mu_;
    std::atomic<int> fd_{-1};
};

struct mnemo_store {
    std::unique_ptr<rocksdb::Env> mem_env; /* memory engine: holds every file */
    std::shared_ptr<rocksdb::Cache> block_cache;
    rocksdb::Options opts;
    rocksdb::OptimisticTransactionDB *otxn = nullptr; /* NULL when read-only */
    rocksdb::DB *db = nullptr;                        /* the base DB: plain reads and writes */
    std::vector<rocksdb::ColumnFamilyHandle *> cf;
    std::vector<std::string> ks_names;
    std::vector<unsigned> absent; /* ADDED_LATER keyspaces an older database lacks */
    rocksdb::WriteOptions wo;
    rocksdb::ReadOptions ro;
    rocksdb::OptimisticTransactionOptions txn_opts;
    std::string path;
    bool read_only = false;
    bool in_memory = false;
    bool missing_file = false; /* the last open failed on a file that was not there */

    /* Followers: a catch-up runs alone. Transactions (for their whole life) and point reads and
     * iterator creations of no transaction (for the call) count themselves in `readers`, the
     * transactions also in `txn_readers`, and wait while `catching` is set. */
    bool follower = false;
    std::string secondary_dir;          /* RocksDB's directory for the secondary, removed at close */
    std::atomic<int> readers{0}, txn_readers{0};
    std::atomic<bool> catching{false};
    std::atomic<uint64_t> caught_us{0}; /* monotonic time of the last catch-up */
    std::mutex follow_mu;
    std::condition_variable follow_cv;
};

struct mnemo_store_txn {
    mnemo_store *s = nullptr;
    rocksdb::Transaction *t = nullptr;        /* NULL for read-only transactions */
    const rocksdb::Snapshot *snap = nullptr;  /* what every read sees (t's own, or ours); NULL on a follower */
    uint64_t follow_seq = 0;                  /* a follower's: the sequence it reads at (catch-ups held off) */
    rocksdb::ReadOptions ro;
    rocksdb::WriteBatch blind; /* writes before the first read (see the top of this file) */
    bool tracking = false;
    bool finished = false;
    int failed_rc = 0; /* replaying the blind writes failed: they are lost, commit must refuse */
    std::string failed_msg;
};

struct mnemo_store_cursor {
    mnemo_store_txn *t = nullptr;
    rocksdb::ReadOptions ro;
    std::string lower, upper; /* owned copies: RocksDB keeps pointers to the bounds */
    rocksdb::Slice lower_s, upper_s;
    bool has_lower = false, has_upper = false;
    bool check_bounds = false; /* only a read-write txn's iterator (its write-batch side) needs it */
    rocksdb::ColumnFamilyHandle *cf = nullptr; /* to make the iterator anew (seek_for_prev) */
    std::unique_ptr<rocksdb::Iterator> it;
    int exc_rc = 0; /* an exception thrown by a move */
    std::unique_ptr<char[]> run; /* copies of a run's entries (cursor_run) */
    size_t run_cap = 0;
};

/* ---- errors ---- */

/* RocksDB's locking failures are IOErrors; their text is the only way to tell them apart. */
static bool is_lock_error(const std::string &m)
{
    return m.find("lock hold by current process") != std::string::npos ||
           m.find("While lock file") != std::string::npos ||
           m.find("LOCK: Resource temporarily unavailable") != std::string::npos;
}

/* A file the open was reading is gone: a reader lost a race with its writer's compaction, or
 * (with no writer) the database lost a file. */
static bool is_missing_file(const rocksdb::Status &s)
{
    return s.IsPathNotFound() || s.ToString().find("No such file or directory") != std::string::npos;
}

static int status_code(const rocksdb::Status &s, const std::string &m)
{
    if (s.IsBusy() || s.IsTimedOut() || s.IsExpired() || s.IsTryAgain())
        return MNEMO_EBUSY;
    if (s.IsCorruption())
        return MNEMO_ECORRUPT;
    if (s.IsNotFound())
        return MNEMO_ENOTFOUND;
    if (is_lock_error(m))
        return MNEMO_ELOCKED;
    if (s.IsNotSupported() || m.find("not linked with the binary") != std::string::npos)
        return MNEMO_ENOTSUP;
    if (s.IsIOError())
        return MNEMO_EIO;
    if (s.IsMemoryLimit())
        return MNEMO_ENOMEM;
    if (s.IsInvalidArgument())
        return MNEMO_EINVAL;
    return MNEMO_ERROR;
}

/* Sets "<what>: <RocksDB's text>" and returns the code. */
static int err_status(const rocksdb::Status &s, const char *what)
{
    std::string m = s.ToString();
    return mnemo__err(status_code(s, m), "%s: %s", what, m.c_str());
}

/* Inside a catch (...): the exception as a code and a message. */
static int on_exception(const char *what)
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return mnemo__err_nomem(what);
    } catch (const std::exception &e) {
        return mnemo__err(MNEMO_ERROR, "%s: RocksDB threw: %s", what, e.what());
    } catch (...) {
        return mnemo__err(MNEMO_ERROR, "%s: RocksDB threw an unknown exception", what);
    }
}

static rocksdb::Slice slice(const void *p, size_t n) { return rocksdb::Slice(p ? (const char *)p : "", n); }

static const char *ks_name(mnemo_store *s, unsigned ks)
{
    return ks < s->ks_names.size() ? s->ks_names[ks].c_str() : "?";
}

/* ---- followers (see the top of this file) ---- */

unsigned mnemo_rocksdb__follow_us = MNEMO_ROCKSDB_FOLLOW_US;
void (*mnemo_rocksdb__catch_up_probe)(void);

static uint64_t mono_us()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Counts a reader in, after any catch-up under way. A transaction counts itself first, so that a
 * catch-up starting meanwhile sees it and gives way (seq_cst: one of the two sees the other). */
static void follow_enter(mnemo_store *s, bool txn)
{
    if (txn)
        s->txn_readers.fetch_add(1);
    for (;;) {
        s->readers.fetch_add(1);
        if (!s->catching.load())
            return;
        s->readers.fetch_sub(1);
        std::unique_lock<std::mutex> l(s->follow_mu);
        s->follow_cv.wait(l, [s] { return !s->catching.load(); });
    }
}

static void follow_exit(mnemo_store *s, bool txn)
{
    s->readers.fetch_sub(1);
    if (txn)
        s->txn_readers.fetch_sub(1);
}

/* A read outside a transaction: no catch-up while RocksDB picks the state it reads. */
struct FollowRead {
    mnemo_store *s;
    explicit FollowRead(mnemo_store *st) : s(st && st->follower ? st : nullptr)
    {
        if (s)
            follow_enter(s, false);
    }
    ~FollowRead()
    {
        if (s)
            follow_exit(s, false);
    }
    FollowRead(const FollowRead &) = delete;
    FollowRead &operator=(const FollowRead &) = delete;
};

/* A catch-up point: brings a follower up to the writer's latest commit if the last catch-up is
 * older than mnemo_rocksdb__follow_us and no transaction of this handle is open (it keeps its
 * state; a later point tries again). Reads outside transactions are short: the catch-up waits for
 * them. A secondary applies whole write batches and publishes their sequence after each, so a
 * commit is seen whole or not at all. */
static int catch_up(mnemo_store *s)
{
    if (!s->follower)
        return 0;
    /* Done when a catch-up began at most follow_us before this point; one under way in another
     * thread may have begun earlier: wait for it and look again. */
    uint64_t now = mono_us();
    for (;;) {
        if (s->caught_us.load() + mnemo_rocksdb__follow_us > now)
            return 0;
        if (mnemo_rocksdb__catch_up_probe)
            mnemo_rocksdb__catch_up_probe();
        if (!s->catching.exchange(true))
            break;
        std::unique_lock<std::mutex> l(s->follow_mu);
        s->follow_cv.wait(l, [s] { return !s->catching.load(); });
    }
    /* This thread holds `catching` until it lets it go below, whatever happens: a catch-up that
     * ended between the test and the exchange may have done the work already (returning here
     * without letting go left every reader of the handle waiting forever). */
    bool fresh = s->caught_us.load() + mnemo_rocksdb__follow_us > now;
    uint64_t began = mono_us();
    rocksdb::Status st;
    bool ran = false;
    try {
        if (!fresh && s->txn_readers.load() == 0) {
            while (s->readers.load() != 0) /* point reads and iterator creations: a few microseconds */
                std::this_thread::yield();
            st = s->db->TryCatchUpWithPrimary();
            ran = true;
        }
    } catch (...) {
        st = rocksdb::Status::Aborted("TryCatchUpWithPrimary threw");
    }
    {
        std::lock_guard<std::mutex> g(s->follow_mu);
        s->catching.store(false);
        if (ran && st.ok())
            s->caught_us.store(began);
    }
    s->follow_cv.notify_all();
    if (st.ok())
        return 0;
    std::string m = st.ToString();
    return mnemo__err(status_code(st, m) == MNEMO_ECORRUPT ? MNEMO_ECORRUPT : MNEMO_EIO,
                      "follower of '%s': catching up with its writer failed (%s); it still reads the state it "
                      "had", s->path.c_str(), m.c_str());
}

uint64_t mnemo_rocksdb__last_seq(mnemo_store *s)
{
    try {
        (void)catch_up(s); /* a failure shows at the next read, which can report it */
        return s->db->GetLatestSequenceNumber();
    } catch (...) {
        (void)on_exception("last sequence");
        return 0;
    }
}

int mnemo_rocksdb__follower(mnemo_store *s) { return s->follower; }

/* ---- open and close ---- */

static rocksdb::CompressionType compression(mnemo_compression c)
{
    switch (c) {
    case MNEMO_COMPRESSION_NONE: return rocksdb::kNoCompression;
    case MNEMO_COMPRESSION_SNAPPY: return rocksdb::kSnappyCompression;
    case MNEMO_COMPRESSION_ZLIB: return rocksdb::kZlibCompression;
    case MNEMO_COMPRESSION_BZIP2: return rocksdb::kBZip2Compression;
    case MNEMO_COMPRESSION_ZSTD: return rocksdb::kZSTD;
    case MNEMO_COMPRESSION_DEFAULT:
    case MNEMO_COMPRESSION_LZ4: break;
    }
    return rocksdb::kLZ4Compression;
}

/* Tuned for mixed read/write on small machines; see docs/storage.md for what was measured. */
static void build_options(mnemo_store *s, const mnemo_store_config *cfg, bool create)
{
    rocksdb::BlockBasedTableOptions table;
    s->block_cache = rocksdb::NewLRUCache(cfg->storage.read_cache_bytes);
    table.block_cache = s->block_cache;
    if (cfg->storage.key_filter_bits > 0)
        table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(cfg->storage.key_filter_bits));
    table.format_version = 5;
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;

    rocksdb::Options &o = s->opts;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    o.create_if_missing = create;
    o.create_missing_column_families = create;
    o.IncreaseParallelism(2);
    o.max_background_jobs = 2;
    o.compression = compression(cfg->storage.compression);
    o.write_buffer_size = cfg->storage.write_buffer_bytes;
    /* Every keyspace shares one memtable budget. */
    o.db_write_buffer_size = 4 * cfg->storage.write_buffer_bytes;
    /* Optimistic commit validation needs the memtable history since the txn's snapshot; keeping
     * some after a flush turns would-be "try again" failures into real validation. */
    o.max_write_buffer_size_to_maintain = (int64_t)cfg->storage.write_buffer_bytes;
    o.level_compaction_dynamic_level_bytes = true;
    o.bytes_per_sync = 1u << 20;
    o.keep_log_file_num = 4;
    /* RocksDB's default (-1) opens every table file and reads its index at DB::Open: a database of
     * 10,000 small collections (624 MB, 308 files) took 37 ms to open against 15 ms for one of
     * them. A bound makes the open read a share of the files and the rest at their first read;
     * 512 files (32 GB at 64 MB a file) stay open once read, under Debian's default limit of
     * 1,024 file descriptors, which -1 passes on a database of 64 GB. */
    o.max_open_files = 512;
    o.info_log_level = rocksdb::WARN_LEVEL;
    if (s->mem_env)
        o.env = s->mem_env.get();
    else
        o.info_log = std::make_shared<PlainLogger>(s->path + "/LOG");

    s->wo.sync = cfg->sync_on_commit != 0;
    s->txn_opts.set_snapshot = true;
}

/* An existing database must carry every keyspace of the table, and no other. */
static int check_keyspaces(mnemo_store *s, const mnemo_store_config *cfg)
{
    std::vector<std::string> names;
    rocksdb::Status st = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(s->opts), s->path, &names);
    if (!st.ok()) {
        s->missing_file = is_missing_file(st);
        return err_status(st, "mnemo_open: listing column families");
    }
    std::vector<bool> found(cfg->n_keyspaces, false);
    const char *unknown = nullptr;
    unsigned n_found = 0;
    for (const std::string &n : names) {
        bool known = false;
        for (unsigned k = 0; k < cfg->n_keyspaces; k++)
            if (n == cfg->keyspaces[k].name) {
                known = true;
                n_found += !found[k];
                found[k] = true;
            }
        if (!known && !unknown)
            unknown = n.c_str();
    }
    /* "default" exists in every RocksDB database: a mnemo one has the others too. */
    if (n_found <= (found[0] ? 1u : 0u))
        return mnemo__err(MNEMO_ENOTDB, "mnemo_open: '%s' is a RocksDB database but not a mnemo database "
                                        "(none of mnemo's column families)", s->path.c_str());
    if (unknown)
        return mnemo__err(MNEMO_EVERSION, "mnemo_open: '%s' has column family '%s' that this version of "
                                          "mnemo does not know", s->path.c_str(), unknown);
    for (unsigned k = 0; k < cfg->n_keyspaces; k++)
        if (!found[k] && (cfg->keyspaces[k].hints & MNEMO_KS_ADDED_LATER))
            s->absent.push_back(k); /* an older format: created by a read-write open */
        else if (!found[k])
            return mnemo__err(MNEMO_ECORRUPT, "mnemo_open: '%s' lacks column family '%s'", s->path.c_str(),
                              cfg->keyspaces[k].name);
    return 0;
}

static bool writer_alive(const std::string &path);

static int open_db(mnemo_store *s, const mnemo_store_config *cfg)
{
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    std::vector<unsigned> opened; /* keyspace of each family handed to RocksDB */
    for (unsigned k = 0; k < cfg->n_keyspaces; k++) {
        bool absent = std::find(s->absent.begin(), s->absent.end(), k) != s->absent.end();
        if (absent && s->read_only)
            continue; /* a read-only open cannot create it: reads see it empty */
        opened.push_back(k);
        rocksdb::ColumnFamilyOptions cf(s->opts);
        /* One insert hint for the whole memtable (the prefix of every key is empty): a write
         * batch's keys that come in key order then fix the skip list splice of the previous
         * insert from the bottom level up, instead of searching from the top every time. */
        if (cfg->keyspaces[k].hints & MNEMO_KS_SORTED_LOADS)
            cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(0));
        if ((cfg->keyspaces[k].hints & MNEMO_KS_DENSE) && cfg->storage.compression == MNEMO_COMPRESSION_DEFAULT) {
            cf.bottommost_compression = rocksdb::kZSTD; /* full-text postings: 0.77x of LZ4's bytes */
            cf.bottommost_compression_opts.enabled = true;
            cf.bottommost_compression_opts.level = 1; /* ZSTD's fastest: compactions share 2 cores with writers */
        }
        families.emplace_back(cfg->keyspaces[k].name, cf);
    }
    rocksdb::Status st;
    std::vector<rocksdb::ColumnFamilyHandle *> handles;
    if (s->follower) {
        rocksdb::DBOptions dbo(s->opts);
        dbo.max_open_files = -1; /* every table file kept open: the writer may delete one it compacted */
        /* More than one makes every catch-up start threads to open tables (0.8 ms instead of 20 us
         * when nothing changed). */
        dbo.max_file_opening_threads = 1;
#if ROCKSDB_MAJOR >= 11
        std::unique_ptr<rocksdb::DB> sec;
        st = rocksdb::DB::OpenAsSecondary(dbo, s->path, s->secondary_dir, families, &handles, &sec);
        s->db = sec.release();
#else
        st = rocksdb::DB::OpenAsSecondary(dbo, s->path, s->secondary_dir, families, &handles, &s->db);
#endif
        s->caught_us.store(mono_us());
    } else if (s->read_only) {
#if ROCKSDB_MAJOR >= 11 /* 11 removed the opens that return a raw DB pointer */
        std::unique_ptr<rocksdb::DB> ro;
        st = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(s->opts), s->path, families, &handles, &ro);
        s->db = ro.release();
#else
        st = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(s->opts), s->path, families, &handles, &s->db);
#endif
    } else {
        rocksdb::OptimisticTransactionDBOptions occ;
        occ.validate_policy = rocksdb::OccValidationPolicy::kValidateSerial;
        rocksdb::DBOptions dbo(s->opts);
        if (!s->absent.empty())
            dbo.create_missing_column_families = true; /* only ADDED_LATER ones are missing here */
        st = rocksdb::OptimisticTransactionDB::Open(dbo, occ, s->path, families, &handles, &s->otxn);
        if (st.ok())
            s->db = s->otxn->GetBaseDB();
    }
    if (st.ok()) {
        s->cf.assign(cfg->n_keyspaces, nullptr);
        for (size_t i = 0; i < handles.size(); i++)
            s->cf[opened[i]] = handles[i];
        return 0;
    }
    s->cf.clear();
    s->missing_file = is_missing_file(st);
    std::string m = st.ToString();
    if (is_lock_error(m))
        return mnemo__err(MNEMO_ELOCKED, "mnemo_open: '%s' is already open for writing in another process or "
                                         "handle; close that one first, open it read-only from another process "
                                         "to follow that writer (a follower sees its commits), or use the lmdb "
                                         "engine, which several processes can open read-write (%s)",
                          s->path.c_str(), m.c_str());
    return err_status(st, "mnemo_open");
}

/* 1 if another process holds the database's LOCK (RocksDB takes it with fcntl). */
static bool writer_alive(const std::string &path)
{
    int fd = ::open((path + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    bool held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    ::close(fd);
    return held;
}

/* A read-only open lists the files of the current version, then opens them: a compaction of the
 * writer in another process can delete one in between (issue 17 item 11). The database is
 * healthy, so try again on the newer version; a missing file with no writer is reported as is. */
static int reopen_read_only(mnemo_store *s, const mnemo_store_config *cfg)
{
    int rc = MNEMO_ERROR;
    for (int attempt = 1; attempt <= 5 && s->missing_file; attempt++) {
        usleep(10000u * (unsigned)attempt);
        s->missing_file = false;
        s->absent.clear();
        rc = check_keyspaces(s, cfg);
        if (!rc)
            rc = open_db(s, cfg);
        if (!rc)
            return 0;
    }
    if (!s->missing_file || !writer_alive(s->path))
        return rc;
    std::string was = mnemo_errmsg();
    return mnemo__err(MNEMO_EBUSY, "mnemo_open: '%s' is being rewritten by its writer (a compaction removed files "
                                   "while this read-only open read them: %s); retry", s->path.c_str(), was.c_str());
}

/* A follower's directory for RocksDB (it may hold nothing: the info log goes to the database's). */
static int make_secondary_dir(mnemo_store *s)
{
    const char *tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/mnemo-follower-XXXXXX";
    std::vector<char> b(tmpl.begin(), tmpl.end());
    b.push_back('\0');
    if (!mkdtemp(b.data()))
        return mnemo__err(MNEMO_EIO, "mnemo_open: '%s' is held by a writer; following it needs a directory of "
                                     "its own, and '%s' cannot be made: %s", s->path.c_str(), tmpl.c_str(),
                          strerror(errno));
    s->secondary_dir = b.data();
    return 0;
}

static void remove_secondary_dir(mnemo_store *s)
{
    if (s->secondary_dir.empty())
        return;
    if (DIR *d = opendir(s->secondary_dir.c_str())) {
        for (struct dirent *e; (e = readdir(d)) != nullptr;)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                (void)unlink((s->secondary_dir + "/" + e->d_name).c_str());
        closedir(d);
    }
    (void)rmdir(s->secondary_dir.c_str());
    s->secondary_dir.clear();
}

static void close_handles(mnemo_store *s)
{
    for (rocksdb::ColumnFamilyHandle *h : s->cf)
        if (h)
            s->db->DestroyColumnFamilyHandle(h);
    s->cf.clear();
    if (s->otxn)
        delete s->otxn; /* closes the base DB too */
    else
        delete s->db;
    s->otxn = nullptr;
    s->db = nullptr;
}

/* A read-only open that worked (so every file of the current version was there: a secondary
 * would instead go back silently to the latest state whose files all exist) becomes a follower. */
static int become_follower(mnemo_store *s, const mnemo_store_config *cfg)
{
    close_handles(s);
    s->follower = true;
    int rc = make_secondary_dir(s);
    return rc ? rc : open_db(s, cfg);
}

static void release(mnemo_store *s)
{
    close_handles(s);
    remove_secondary_dir(s);
    delete s; /* the memory Env goes last: the DB's files live in it */
}

int mnemo_rocksdb__open(mnemo_store **out, const mnemo_store_config *cfg, int in_memory)
{
    mnemo_store *s = nullptr;
    try {
        s = new mnemo_store;
        s->in_memory = in_memory != 0;
        s->read_only = cfg->read_only != 0;
        if (in_memory) {
            static std::atomic<unsigned long> serial{0};
            s->mem_env.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
            s->path = "/mnemo-memory-" + std::to_string(++serial);
        } else {
            s->path = cfg->path;
        }
        for (unsigned k = 0; k < cfg->n_keyspaces; k++)
            s->ks_names.emplace_back(cfg->keyspaces[k].name);
        bool create = in_memory || cfg->create;
        build_options(s, cfg, create);
        /* Another process's writer (RocksDB's LOCK, an fcntl lock, shows only to other processes):
         * follow it. Nobody's: read the files as they are, as a plain read-only open. */
        bool follow = s->read_only && !in_memory && writer_alive(s->path);
        int rc = create ? 0 : check_keyspaces(s, cfg);
        if (!rc)
            rc = open_db(s, cfg);
        if (rc && s->read_only && s->missing_file)
            rc = reopen_read_only(s, cfg);
        if (!rc && follow)
            rc = become_follower(s, cfg);
        if (rc) {
            release(s);
            return rc;
        }
        *out = s;
        return 0;
    } catch (...) {
        int rc = on_exception("mnemo_open");
        if (s)
            release(s);
        return rc;
    }
}

int mnemo_rocksdb__close(mnemo_store *s)
{
    int rc = 0;
    try {
        if (!s->read_only)
            rc = mnemo_rocksdb__flush(s);
        for (rocksdb::ColumnFamilyHandle *h : s->cf)
            if (h)
                s->db->DestroyColumnFamilyHandle(h);
        s->cf.clear();
        rocksdb::Status st = s->otxn ? s->otxn->Close() : s->db->Close();
        if (!st.ok() && !rc)
            rc = err_status(st, "mnemo_close");
    } catch (...) {
        if (!rc)
            rc = on_exception("mnemo_close");
    }
    try {
        release(s);
    } catch (...) {
        if (!rc)
            rc = on_exception("mnemo_close");
    }
    return rc;
}

/* ---- transactions ---- */

int mnemo_rocksdb__txn_begin(mnemo_store_txn **out, mnemo_store *s, int read_only)
{
    mnemo_store_txn *t = nullptr;
    try {
        int rc = catch_up(s);
        if (rc)
            return rc;
        t = new mnemo_store_txn;
        t->s = s;
        if (s->follower) {
            follow_enter(s, true); /* held until txn_free: no catch-up changes what t reads */
            t->follow_seq = s->db->GetLatestSequenceNumber();
        } else if (read_only || s->read_only) {
            t->snap = s->db->GetSnapshot();
        } else {
            t->t = s->otxn->BeginTransaction(s->wo, s->txn_opts);
            t->snap = t->t->GetSnapshot();
        }
        t->ro.snapshot = t->snap;
        *out = t;
        return 0;
    } catch (...) {
        int rc = on_exception("transaction begin");
        mnemo_rocksdb__txn_free(t);
        return rc;
    }
}

uint64_t mnemo_rocksdb__txn_version(mnemo_store_txn *t)
{
    return t->snap ? t->snap->GetSequenceNumber() : t->follow_seq;
}

/* Before any read in a read-write txn: from here on reads see its writes and are validated. */
static int start_tracking(mnemo_store_txn *t)
{
    if (t->failed_rc)
        return mnemo__err(t->failed_rc, "%s", t->failed_msg.c_str());
    if (t->tracking || !t->t)
        return 0;
    t->tracking = true;
    if (t->blind.Count() == 0)
        return 0;
    rocksdb::Status st = t->t->RebuildFromWriteBatch(&t->blind);
    t->blind.Clear();
    if (st.ok())
        return 0;
    t->failed_rc = err_status(st, "transaction: replaying its first writes");
    t->failed_msg = mnemo_errmsg();
    return t->failed_rc;
}

int mnemo_rocksdb__get(mnemo_store *s, mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, int track,
                       mnemo_store_value *out)
{
    rocksdb::PinnableSlice *ps = nullptr;
    try {
        ps = new rocksdb::PinnableSlice;
        rocksdb::ColumnFamilyHandle *cf = s->cf[ks];
        if (!cf) { /* an ADDED_LATER keyspace absent from a read-only older database: empty */
            delete ps;
            return MNEMO_ENOTFOUND;
        }
        rocksdb::Slice k = slice(key, klen);
        rocksdb::Status st;
        int rc;
        if (!t && (rc = catch_up(s)) != 0) {
            delete ps;
            return rc;
        }
        if (!t) {
            FollowRead fr(s);
            st = s->db->Get(s->ro, cf, k, ps);
        }
        else if (!t->t)
            st = s->db->Get(t->ro, cf, k, ps);
        else if ((rc = start_tracking(t)) != 0) {
            delete ps;
            return rc;
        } else if (track)
            st = t->t->GetForUpdate(t->ro, cf, k, ps);
        else
            st = t->t->Get(t->ro, cf, k, ps);
        if (st.IsNotFound()) {
            delete ps;
            return MNEMO_ENOTFOUND;
        }
        if (!st.ok()) {
            delete ps;
            char what[64];
            snprintf(what, sizeof what, "read of '%s'", ks_name(s, ks));
            return err_status(st, what);
        }
        out->data = ps->data();
        out->len = ps->size();
        out->pin = ps;
        return 0;
    } catch (...) {
        delete ps;
        return on_exception("read");
    }
}

void mnemo_rocksdb__release_value(mnemo_store *s, mnemo_store_value *v)
{
    (void)s;
    delete static_cast<rocksdb::PinnableSlice *>(v->pin);
    v->pin = nullptr;
    v->data = nullptr;
    v->len = 0;
}

static int check_writable(mnemo_store_txn *t, const char *what)
{
    if (!t->t)
        return mnemo__err(MNEMO_EREADONLY, "%s: transaction is read-only", what);
    if (t->failed_rc)
        return mnemo__err(t->failed_rc, "%s", t->failed_msg.c_str());
    return 0;
}

static int write_status(mnemo_store_txn *t, unsigned ks, const rocksdb::Status &st, const char *verb)
{
    if (st.ok())
        return 0;
    char what[64];
    snprintf(what, sizeof what, "%s in '%s'", verb, ks_name(t->s, ks));
    return err_status(st, what);
}

int mnemo_rocksdb__put(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen)
{
    try {
        int rc = check_writable(t, "write");
        if (rc)
            return rc;
        rocksdb::ColumnFamilyHandle *cf = t->s->cf[ks];
        rocksdb::Status st = t->tracking ? t->t->Put(cf, slice(key, klen), slice(val, vlen))
                                         : t->blind.Put(cf, slice(key, klen), slice(val, vlen));
        return write_status(t, ks, st, "write");
    } catch (...) {
        return on_exception("write");
    }
}

int mnemo_rocksdb__del(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen)
{
    try {
        int rc = check_writable(t, "delete");
        if (rc)
            return rc;
        rocksdb::ColumnFamilyHandle *cf = t->s->cf[ks];
        rocksdb::Status st = t->tracking ? t->t->Delete(cf, slice(key, klen)) : t->blind.Delete(cf, slice(key, klen));
        return write_status(t, ks, st, "delete");
    } catch (...) {
        return on_exception("delete");
    }
}

int mnemo_rocksdb__put_untracked(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val,
                                 size_t vlen)
{
    if (!t->tracking) /* still a blind buffer: nothing is indexed or tracked there anyway */
        return mnemo_rocksdb__put(t, ks, key, klen, val, vlen);
    try {
        int rc = check_writable(t, "write");
        if (rc)
            return rc;
        /* Unindexed: the write goes straight into the transaction's WriteBatch, skipping the
         * per-transaction skip list; untracked: not validated at commit. */
        t->t->DisableIndexing();
        rocksdb::Status st = t->t->PutUntracked(t->s->cf[ks], slice(key, klen), slice(val, vlen));
        t->t->EnableIndexing();
        return write_status(t, ks, st, "write");
    } catch (...) {
        t->t->EnableIndexing();
        return on_exception("write");
    }
}

int mnemo_rocksdb__txn_commit(mnemo_store_txn *t, uint64_t *seq)
{
    try {
        mnemo_store *s = t->s;
        if (t->finished)
            return mnemo__err(MNEMO_EINVAL, "commit: transaction already finished");
        t->finished = true;
        if (t->failed_rc)
            return mnemo__err(t->failed_rc, "%s", t->failed_msg.c_str());
        if (!t->t || (!t->tracking && t->blind.Count() == 0)) {
            *seq = mnemo_rocksdb__txn_version(t);
            return 0;
        }
        rocksdb::Status st;
        if (!t->tracking) {
            /* Blind writes: one plain batch, ordered with commits by the write queue. */
            st = s->db->Write(s->wo, &t->blind);
        } else {
            st = t->t->Commit();
            if (st.IsBusy() || st.IsTryAgain()) {
                std::string m = st.ToString();
                return mnemo__err(MNEMO_EBUSY, "commit: conflict, another transaction changed a key this one read "
                                               "or wrote (%s); nothing was applied, retry", m.c_str());
            }
        }
        if (!st.ok())
            return err_status(st, "commit");
        *seq = s->db->GetLatestSequenceNumber();
        return 0;
    } catch (...) {
        return on_exception("commit");
    }
}

void mnemo_rocksdb__txn_free(mnemo_store_txn *t)
{
    if (!t)
        return;
    try {
        if (t->t)
            delete t->t; /* rolls back what was not committed; owns its snapshot */
        else if (t->snap)
            t->s->db->ReleaseSnapshot(t->snap);
        else if (t->s->follower)
            follow_exit(t->s, true);
    } catch (...) {
        (void)on_exception("transaction free");
    }
    delete t;
}

int mnemo_rocksdb__write_batch(mnemo_store *s, const mnemo_store_write *w, size_t n, uint64_t *seq)
{
    try {
        if (s->read_only)
            return mnemo__err(MNEMO_EREADONLY, "write: database '%s' is open read-only", s->path.c_str());
        for (size_t i = 0; i < n; i++) /* all or nothing: refuse before anything is written */
            if (w[i].ks >= s->cf.size() || !s->cf[w[i].ks])
                return mnemo__err(MNEMO_EINVAL, "store write_batch: no keyspace %u", w[i].ks);
        rocksdb::Status st;
        if (n == 1 && w[0].is_delete) {
            st = s->db->Delete(s->wo, s->cf[w[0].ks], slice(w[0].key, w[0].klen));
        } else if (n == 1) {
            st = s->db->Put(s->wo, s->cf[w[0].ks], slice(w[0].key, w[0].klen), slice(w[0].val, w[0].vlen));
        } else if (n) {
            rocksdb::WriteBatch wb;
            for (size_t i = 0; i < n && st.ok(); i++)
                st = w[i].is_delete ? wb.Delete(s->cf[w[i].ks], slice(w[i].key, w[i].klen))
                                    : wb.Put(s->cf[w[i].ks], slice(w[i].key, w[i].klen), slice(w[i].val, w[i].vlen));
            if (st.ok())
                st = s->db->Write(s->wo, &wb);
        }
        if (!st.ok())
            return err_status(st, n == 1 ? (w[0].is_delete ? "delete" : "write") : "batch write");
        if (seq) /* an empty batch commits nothing (store.h) */
            *seq = n ? s->db->GetLatestSequenceNumber() : 0;
        return 0;
    } catch (...) {
        return on_exception("batch write");
    }
}

/* ---- cursors ---- */

int mnemo_rocksdb__cursor_open(mnemo_store_cursor **out, mnemo_store *s, mnemo_store_txn *t, unsigned ks,
                               const void *lower, size_t lower_len, const void *upper, size_t upper_len)
{
    mnemo_store_cursor *c = nullptr;
    try {
        int rc;
        if (t && (rc = start_tracking(t)) != 0)
            return rc;
        c = new mnemo_store_cursor;
        c->t = t;
        if (t)
            c->ro.snapshot = t->snap;
        if (lower) {
            c->lower.assign((const char *)lower, lower_len);
            c->lower_s = rocksdb::Slice(c->lower);
            c->ro.iterate_lower_bound = &c->lower_s;
            c->has_lower = true;
        }
        if (upper) {
            c->upper.assign((const char *)upper, upper_len);
            c->upper_s = rocksdb::Slice(c->upper);
            c->ro.iterate_upper_bound = &c->upper_s;
            c->has_upper = true;
        }
        c->check_bounds = t && t->t;
        c->cf = s->cf[ks];
        if (!t && (rc = catch_up(s)) != 0) {
            delete c;
            return rc;
        }
        if (!s->cf[ks]) { /* an ADDED_LATER keyspace absent from a read-only older database: empty */
            c->it.reset(rocksdb::NewEmptyIterator());
        } else if (t && t->t) {
            c->it.reset(t->t->GetIterator(c->ro, s->cf[ks]));
        } else {
            FollowRead fr(t ? nullptr : s); /* an iterator keeps the state it was made on */
            c->it.reset(s->db->NewIterator(c->ro, s->cf[ks]));
        }
        *out = c;
        return 0;
    } catch (...) {
        delete c;
        return on_exception("cursor");
    }
}

static int key_cmp(const rocksdb::Slice &a, const rocksdb::Slice &b) { return a.compare(b); }

/* The write-batch side of a transaction iterator has been known to ignore read bounds, so the
 * bounds are enforced here as well. */
static bool in_bounds(mnemo_store_cursor *c)
{
    rocksdb::Slice k = c->it->key();
    return (!c->has_lower || key_cmp(k, c->lower_s) >= 0) && (!c->has_upper || key_cmp(k, c->upper_s) < 0);
}

/* Runs a cursor move, keeping an exception for cursor_status. */
template <typename F> static void guarded(mnemo_store_cursor *c, F move)
{
    if (c->exc_rc)
        return;
    try {
        move();
    } catch (...) {
        c->exc_rc = on_exception("cursor");
    }
}

/* Seeks are clamped into [lower, upper) by hand for the same reason. */
void mnemo_rocksdb__cursor_seek(mnemo_store_cursor *c, const void *key, size_t klen)
{
    guarded(c, [&] {
        rocksdb::Slice k = slice(key, klen);
        if (c->has_lower && key_cmp(k, c->lower_s) < 0)
            k = c->lower_s;
        c->it->Seek(k);
    });
}

void mnemo_rocksdb__cursor_seek_for_prev(mnemo_store_cursor *c, const void *key, size_t klen)
{
    guarded(c, [&] {
        rocksdb::Slice k = slice(key, klen);
        if (c->has_upper && key_cmp(k, c->upper_s) >= 0) {
            /* A write transaction's write-batch side (RocksDB 7.8) answers SeekForPrev(upper)
             * with nothing when the batch holds the key `upper` itself (a reverse scan of a prefix
             * came back empty once the transaction wrote the prefix's successor). Such a cursor
             * goes on without RocksDB's upper bound, in_bounds() keeping it; forward cursors keep
             * the bound, which spares scans the tombstones past it. */
            if (c->check_bounds && c->ro.iterate_upper_bound && c->cf) {
                c->ro.iterate_upper_bound = nullptr;
                c->it.reset(c->t->t->GetIterator(c->ro, c->cf));
            }
            c->it->SeekForPrev(c->upper_s);
            if (c->it->Valid() && key_cmp(c->it->key(), c->upper_s) >= 0)
                c->it->Prev();
            return;
        }
        c->it->SeekForPrev(k);
    });
}

void mnemo_rocksdb__cursor_first(mnemo_store_cursor *c)
{
    guarded(c, [&] {
        if (c->has_lower)
            c->it->Seek(c->lower_s);
        else
            c->it->SeekToFirst();
    });
}

void mnemo_rocksdb__cursor_last(mnemo_store_cursor *c)
{
    if (c->has_upper)
        mnemo_rocksdb__cursor_seek_for_prev(c, c->upper.data(), c->upper.size());
    else
        guarded(c, [&] { c->it->SeekToLast(); });
}

void mnemo_rocksdb__cursor_next(mnemo_store_cursor *c)
{
    guarded(c, [&] { c->it->Next(); });
}

void mnemo_rocksdb__cursor_prev(mnemo_store_cursor *c)
{
    guarded(c, [&] { c->it->Prev(); });
}

int mnemo_rocksdb__cursor_valid(mnemo_store_cursor *c)
{
    if (c->exc_rc)
        return 0;
    try {
        return c->it->Valid() && (!c->check_bounds || in_bounds(c));
    } catch (...) {
        c->exc_rc = on_exception("cursor");
        return 0;
    }
}

int mnemo_rocksdb__cursor_status(mnemo_store_cursor *c, const char *what)
{
    if (c->exc_rc)
        return c->exc_rc;
    try {
        rocksdb::Status st = c->it->status();
        return st.ok() ? 0 : err_status(st, what);
    } catch (...) {
        return on_exception(what);
    }
}

const void *mnemo_rocksdb__cursor_key(mnemo_store_cursor *c, size_t *len)
{
    rocksdb::Slice k = c->it->key();
    *len = k.size();
    return k.data();
}

const void *mnemo_rocksdb__cursor_value(mnemo_store_cursor *c, size_t *len)
{
    rocksdb::Slice v = c->it->value();
    *len = v.size();
    return v.data();
}

/* store.h cursor_run. An iterator's slices die at its next move, so a run copies its entries: a
 * memcpy of each costs less than the calls per entry it saves. The buffer starts small (a run of
 * short entries fits in a few KiB; a large block allocated and freed per scan is a cost of its
 * own) and grows to hold a first entry up to RUN_MAX; a longer one is read as usual. */
static const size_t RUN_FIRST = 4096, RUN_MAX = 64 * 1024;

size_t mnemo_rocksdb__cursor_run(mnemo_store_cursor *c, mnemo_store_slice *keys, mnemo_store_slice *vals, size_t max)
{
    if (c->exc_rc || c->t)
        return 0;
    size_t n = 0, used = 0;
    try {
        while (n < max && c->it->Valid()) {
            rocksdb::Slice k = c->it->key(), v = c->it->value();
            size_t need = k.size() + v.size();
            if (need > c->run_cap - used) {
                if (n || need > RUN_MAX)
                    break;
                size_t cap = c->run_cap ? c->run_cap : RUN_FIRST;
                while (cap < need)
                    cap *= 2;
                c->run.reset(new char[cap]);
                c->run_cap = cap;
            }
            char *p = c->run.get() + used;
            memcpy(p, k.data(), k.size());
            if (v.size())
                memcpy(p + k.size(), v.data(), v.size());
            used += need;
            keys[n] = mnemo_store_slice{p, k.size()};
            vals[n] = mnemo_store_slice{p + k.size(), v.size()};
            n++;
            c->it->Next();
        }
    } catch (...) {
        c->exc_rc = on_exception("cursor"); /* the entries stored are good; status says what stopped it */
    }
    return n;
}

void mnemo_rocksdb__cursor_close(mnemo_store_cursor *c)
{
    try {
        delete c;
    } catch (...) {
        (void)on_exception("cursor close");
    }
}

/* ---- maintenance ---- */

uint64_t mnemo_rocksdb__estimate_keys(mnemo_store *s, unsigned ks)
{
    try {
        uint64_t n = 0;
        return s->cf[ks] && s->db->GetIntProperty(s->cf[ks], "rocksdb.estimate-num-keys", &n) ? n : 0;
    } catch (...) {
        (void)on_exception("estimate keys");
        return 0;
    }
}

/* Writes every keyspace's memtable to a file and waits for it. */
int mnemo_rocksdb__flush(mnemo_store *s)
{
    try {
        rocksdb::FlushOptions fo;
        fo.wait = true;
        for (rocksdb::ColumnFamilyHandle *h : s->cf) {
            if (!h)
                continue; /* an ADDED_LATER keyspace absent from a read-only older database */
            rocksdb::Status st = s->db->Flush(fo, h);
            if (!st.ok())
                return err_status(st, "flush");
        }
        return 0;
    } catch (...) {
        return on_exception("flush");
    }
}

int mnemo_rocksdb__compact(mnemo_store *s)
{
    try {
        rocksdb::CompactRangeOptions co;
        /* Rewrite the last level too: a file moved there whole keeps its tombstones (and what they
         * hide in other files), so a compaction after many deletes would reclaim nothing. */
        co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
        for (rocksdb::ColumnFamilyHandle *h : s->cf) {
            if (!h)
                continue;
            rocksdb::Status st = s->db->CompactRange(co, h, nullptr, nullptr);
            if (!st.ok())
                return err_status(st, "compact");
        }
        return 0;
    } catch (...) {
        return on_exception("compact");
    }
}

static int rocksdb_checkpoint(mnemo_store *s, const char *dir)
{
    rocksdb::Checkpoint *cp = nullptr;
    try {
        rocksdb::Status st = rocksdb::Checkpoint::Create(s->db, &cp);
        if (st.ok())
            st = cp->CreateCheckpoint(dir);
        delete cp;
        cp = nullptr;
        if (st.ok())
            return 0;
        int rc = err_status(st, "mnemo_checkpoint");
        if (rc != MNEMO_ENOMEM && rc != MNEMO_EEXISTS) {
            std::string m = st.ToString();
            rc = mnemo__err(MNEMO_EIO, "mnemo_checkpoint: cannot write '%s': %s", dir, m.c_str());
        }
        return rc;
    } catch (...) {
        delete cp;
        return on_exception("mnemo_checkpoint");
    }
}

static uint64_t sum_property(mnemo_store *s, const char *name)
{
    uint64_t total = 0;
    for (rocksdb::ColumnFamilyHandle *h : s->cf) {
        uint64_t v = 0;
        if (h && s->db->GetIntProperty(h, name, &v))
            total += v;
    }
    return total;
}

int mnemo_rocksdb__stats(mnemo_store *s, mnemo_store_stats *out)
{
    try {
        uint64_t files = sum_property(s, "rocksdb.total-sst-files-size");
        uint64_t mem = sum_property(s, "rocksdb.cur-size-all-mem-tables") + s->block_cache->GetUsage();
        out->disk_bytes = s->in_memory ? 0 : files;
        out->memory_bytes = s->in_memory ? mem + files : mem;
        out->last_sequence = s->db->GetLatestSequenceNumber();
        return 0;
    } catch (...) {
        return on_exception("stats");
    }
}

/* ---- the engine ---- */

/* RocksDB's own files: CURRENT names the manifest, OPTIONS-<n> records the options. */
static int rocksdb_probe(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    bool current = false, options = false;
    for (struct dirent *e; (e = readdir(dir)) != nullptr;) {
        current = current || !strcmp(e->d_name, "CURRENT");
        options = options || !strncmp(e->d_name, "OPTIONS-", 8);
    }
    closedir(dir);
    return current && options;
}

static int rocksdb_open(mnemo_store **out, const mnemo_store_config *cfg) { return mnemo_rocksdb__open(out, cfg, 0); }

extern "C" const mnemo_store_ops mnemo_store__rocksdb =
    MNEMO_ROCKSDB_OPS("rocksdb", rocksdb_probe, rocksdb_open, rocksdb_checkpoint);
