/* Database core: open/close, options, format marker, locking, read-only, checkpoint, errors. */
#include <fcntl.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/coding.h"
#include "core/keys.h"
#include "store/keyspace.h"
#include "testutil.h"
#include "txn/txn.h"

static void setup(void) { tu_mkdtemp(); }
static void teardown(void) { tu_cleanup(); }
TestSuite(db, .init = setup, .fini = teardown);

static void put_str(mnemo_db *db, const char *k, const char *v)
{
    TU_OK(mnemo_kv_put(db, NULL, k, strlen(k), v, strlen(v)));
}

static void expect_str(mnemo_db *db, const char *k, const char *v)
{
    void *got;
    size_t n;
    TU_OK(mnemo_kv_get(&got, &n, db, NULL, k, strlen(k)));
    cr_assert_eq(n, strlen(v));
    cr_assert_eq(memcmp(got, v, n), 0);
    mnemo_free(got);
}

TU_TEST(db, create_reopen_persists)
{
    TU_NEEDS_DISK("reopens");
    char path[512];
    snprintf(path, sizeof path, "%s", tu_path("p"));
    mnemo_db *db = tu_open("p");
    cr_assert_str_eq(mnemo_path(db), path);
    put_str(db, "alpha", "one");
    TU_OK(mnemo_close(db));
    TU_OK(mnemo_open(&db, path, NULL)); /* NULL options: open existing */
    expect_str(db, "alpha", "one");
    TU_OK(mnemo_close(db));
}

TU_TEST(db, missing_without_create_is_enotfound)
{
    mnemo_db *db = (mnemo_db *)0x1;
    TU_RC(mnemo_open(&db, tu_path("nothing"), NULL), MNEMO_ENOTFOUND);
    cr_assert_eq(db, (mnemo_db *)0x1, "out must stay untouched on failure");
    cr_assert(strstr(mnemo_errmsg(), "nothing"), "message names the path: %s", mnemo_errmsg());
}

TU_TEST(db, bad_arguments)
{
    mnemo_db *db;
    TU_RC(mnemo_open(NULL, tu_path("x"), NULL), MNEMO_EINVAL);
    TU_RC(mnemo_open(&db, NULL, NULL), MNEMO_EINVAL);
    TU_RC(mnemo_open(&db, "", NULL), MNEMO_EINVAL);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.version = 99;
    TU_RC(mnemo_open(&db, tu_path("x"), &o), MNEMO_EINVAL);
    o = (mnemo_options)MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.read_only = 1;
    TU_RC(mnemo_open(&db, tu_path("x"), &o), MNEMO_EINVAL);
    o.read_only = 0;
    o.storage.compression = (mnemo_compression)42;
    TU_RC(mnemo_open(&db, tu_path("x"), &o), MNEMO_EINVAL);
    o.storage.compression = MNEMO_COMPRESSION_DEFAULT;
    o.storage.write_buffer_bytes = 1000;
    TU_RC(mnemo_open(&db, tu_path("x"), &o), MNEMO_EINVAL);
    o.storage.write_buffer_bytes = 0;
    o.storage.key_filter_bits = 1000;
    TU_RC(mnemo_open(&db, tu_path("x"), &o), MNEMO_EINVAL);
    struct stat st;
    cr_assert_neq(stat(tu_path("x"), &st), 0, "no directory is created by a refused open");
}

TU_TEST(db, all_zero_options_are_defaults)
{
    mnemo_options o;
    memset(&o, 0, sizeof o);
    o.create_if_missing = 1;
    mnemo_db *db;
    TU_OK(tu_open_with(&db, "z", &o));
    put_str(db, "k", "v");
    expect_str(db, "k", "v");
    TU_OK(mnemo_close(db));
}

TU_TEST(db, every_compression_roundtrips)
{
    TU_NEEDS_DISK("reopens");
    const mnemo_compression all[] = {MNEMO_COMPRESSION_NONE, MNEMO_COMPRESSION_SNAPPY, MNEMO_COMPRESSION_ZLIB,
                                     MNEMO_COMPRESSION_BZIP2, MNEMO_COMPRESSION_LZ4, MNEMO_COMPRESSION_ZSTD};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%zu", i);
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.create_if_missing = 1;
        o.storage.compression = all[i];
        o.storage.write_buffer_bytes = 64 << 10;
        mnemo_db *db;
        TU_OK(tu_open_with(&db, name, &o));
        char key[32], val[256];
        memset(val, 'a' + (int)i, sizeof val);
        for (int k = 0; k < 2000; k++) {
            snprintf(key, sizeof key, "key%06d", k);
            TU_OK(mnemo_kv_put(db, NULL, key, strlen(key), val, sizeof val));
        }
        TU_OK(mnemo_flush(db)); /* forces data files written with this compression */
        TU_OK(mnemo_close(db));
        TU_OK(mnemo_open(&db, tu_path(name), &o));
        void *got;
        size_t n;
        TU_OK(mnemo_kv_get(&got, &n, db, NULL, "key001234", 9));
        cr_assert_eq(n, sizeof val);
        cr_assert_eq(memcmp(got, val, n), 0);
        mnemo_free(got);
        TU_OK(mnemo_close(db));
    }
}

TU_TEST(db, a_file_is_not_a_database)
{
    FILE *f = fopen(tu_path("file"), "w");
    cr_assert_not_null(f);
    fputs("hello", f);
    fclose(f);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db;
    TU_RC(mnemo_open(&db, tu_path("file"), &o), MNEMO_ENOTDB);
}

TU_TEST(db, a_nonempty_directory_is_not_a_database)
{
    mkdir(tu_path("dir"), 0700);
    char p[600];
    snprintf(p, sizeof p, "%s/notes.txt", tu_path("dir"));
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fclose(f);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db;
    TU_RC(mnemo_open(&db, tu_path("dir"), &o), MNEMO_ENOTDB);
}

TU_TEST(db, an_empty_directory_is_created_into)
{
    TU_NEEDS_DISK("creates into a directory");
    mkdir(tu_path("empty"), 0700);
    mnemo_db *db;
    TU_RC(mnemo_open(&db, tu_path("empty"), NULL), MNEMO_ENOTFOUND);
    db = tu_open("empty");
    TU_OK(mnemo_close(db));
}

/* Made with RocksDB's C API whatever the test engine: detection finds RocksDB's files. */
TU_TEST(db, a_plain_rocksdb_is_not_a_mnemo_database)
{
    rocksdb_options_t *ro = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(ro, 1);
    char *err = NULL;
    rocksdb_t *r = rocksdb_open(ro, tu_path("plain"), &err);
    cr_assert_null(err);
    rocksdb_close(r);
    rocksdb_options_destroy(ro);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db;
    TU_RC(mnemo_open(&db, tu_path("plain"), &o), MNEMO_ENOTDB);
    cr_assert(strstr(mnemo_errmsg(), "not a mnemo database"), "%s", mnemo_errmsg());
}

/* Rewrites the format marker of a closed database through RocksDB directly. */
static void poke_marker(const char *path, const void *val, size_t len)
{
    tu_raw r;
    tu_raw_open(&r, path);
    tu_raw_put(&r, 6, "\0format", 7, val, len);
    tu_raw_close(&r);
}

TU_TEST(db, unknown_format_version_is_refused)
{
    TU_NEEDS_DISK("damages the stored marker");
    mnemo_db *db = tu_open("v");
    TU_OK(mnemo_close(db));
    unsigned char v[13];
    memcpy(v, "mnemo", 5);
    mnemo__put_be32(v + 5, 99);
    mnemo__put_be32(v + 9, mnemo__crc32c(0, v, 9));
    poke_marker(tu_path("v"), v, sizeof v);
    TU_RC(mnemo_open(&db, tu_path("v"), NULL), MNEMO_EVERSION);
    cr_assert(strstr(mnemo_errmsg(), "format 99"), "%s", mnemo_errmsg());
}

TU_TEST(db, damaged_format_marker_is_ecorrupt)
{
    TU_NEEDS_DISK("damages the stored marker");
    mnemo_db *db = tu_open("m");
    TU_OK(mnemo_close(db));
    poke_marker(tu_path("m"), "mnemo\0\0\0\1garb", 13);
    TU_RC(mnemo_open(&db, tu_path("m"), NULL), MNEMO_ECORRUPT);
}

TU_TEST(db, second_handle_in_same_process_is_elocked)
{
    TU_NEEDS_DISK("two handles on one path");
    mnemo_db *db = tu_open("l");
    mnemo_db *db2;
    TU_RC(mnemo_open(&db2, tu_path("l"), NULL), MNEMO_ELOCKED);
    TU_OK(mnemo_close(db));
    TU_OK(mnemo_open(&db2, tu_path("l"), NULL)); /* released by close */
    TU_OK(mnemo_close(db2));
}

/* rocksdb: one process at a time, refused with a message saying what to do; lmdb: any number of
 * processes, each sees the others' commits (issue 12). */
TU_TEST(db, another_process_holding_it_is_elocked_on_rocksdb_and_shared_on_lmdb)
{
    TU_NEEDS_DISK("two processes on one path");
    mnemo_db *db = tu_open("lp");
    TU_OK(mnemo_close(db));
    int ready[2], done[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(done), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* only the parent keeps done's write end: should it fail and exit, the read below sees
         * end-of-file instead of blocking for ever (and meson with it) */
        close(done[1]);
        close(ready[0]);
        mnemo_db *c;
        mnemo_options o = MNEMO_OPTIONS_INIT;
        tu_engine_options(&o);
        /* rocksdb: no write in the forked child, whose copy of RocksDB's Env has no background
         * threads (a flush would wait for them at close) */
        int lmdb = !strcmp(tu_engine(), "lmdb");
        char ok = mnemo_open(&c, tu_path("lp"), &o) == 0 && (!lmdb || mnemo_kv_put(c, NULL, "from", 4, "child", 5) == 0)
                      ? 'y'
                      : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(2);
        char b;
        if (read(done[0], &b, 1) < 0)
            _exit(2);
        mnemo_close(c);
        _exit(0);
    }
    close(done[0]);
    close(ready[1]);
    char ok;
    cr_assert_eq(read(ready[0], &ok, 1), 1);
    cr_assert_eq(ok, 'y');
    int rc = mnemo_open(&db, tu_path("lp"), NULL);
    if (!strcmp(tu_engine(), "lmdb")) {
        TU_OK(rc);
        void *v;
        size_t vl;
        TU_OK(mnemo_kv_get(&v, &vl, db, NULL, "from", 4));
        cr_assert(vl == 5 && !memcmp(v, "child", 5));
        mnemo_free(v);
        TU_OK(mnemo_kv_put(db, NULL, "from", 4, "parent", 6)); /* and writes beside it */
        TU_OK(mnemo_close(db));
    } else {
        cr_assert_eq(rc, MNEMO_ELOCKED);
        cr_assert(strstr(mnemo_errmsg(), "already open") && strstr(mnemo_errmsg(), "lmdb"), "%s", mnemo_errmsg());
    }
    cr_assert_eq(write(done[1], "x", 1), 1);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    TU_OK(mnemo_open(&db, tu_path("lp"), NULL));
    TU_OK(mnemo_close(db));
}

TU_TEST(db, closed_and_null_handles_are_einval)
{
    mnemo_db *db = tu_open("c");
    TU_OK(mnemo_close(db));
    void *v;
    size_t n;
    mnemo_txn *txn;
    mnemo_iter *it;
    TU_RC(mnemo_kv_put(db, NULL, "k", 1, "v", 1), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "closed"), "%s", mnemo_errmsg());
    TU_RC(mnemo_kv_get(&v, &n, db, NULL, "k", 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_delete(db, NULL, "k", 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_exists(db, NULL, "k", 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_iter(&it, db, NULL, NULL), MNEMO_EINVAL);
    TU_RC(mnemo_txn_begin(&txn, db, 0), MNEMO_EINVAL);
    TU_RC(mnemo_flush(db), MNEMO_EINVAL);
    TU_RC(mnemo_compact(db), MNEMO_EINVAL);
    TU_RC(mnemo_checkpoint(db, tu_path("cp")), MNEMO_EINVAL);
    TU_RC(mnemo_close(db), MNEMO_EINVAL);
    cr_assert_null(mnemo_path(db));
    TU_RC(mnemo_kv_put(NULL, NULL, "k", 1, "v", 1), MNEMO_EINVAL);
    TU_RC(mnemo_txn_begin(&txn, NULL, 0), MNEMO_EINVAL);
    TU_RC(mnemo_flush(NULL), MNEMO_EINVAL);
    TU_RC(mnemo_checkpoint(NULL, "x"), MNEMO_EINVAL);
    TU_OK(mnemo_close(NULL));
}

TU_TEST(db, close_invalidates_open_transactions_and_iterators)
{
    TU_NEEDS_DISK("reopens");
    mnemo_db *db = tu_open("ci");
    mnemo_txn *txn;
    mnemo_iter *it1, *it2;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_kv_put(db, txn, "uncommitted", 11, "x", 1));
    TU_OK(mnemo_kv_iter(&it1, db, txn, NULL));
    TU_OK(mnemo_kv_iter(&it2, db, NULL, NULL));
    TU_OK(mnemo_close(db));
    TU_RC(mnemo_txn_commit(txn), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next(it1), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next(it2), MNEMO_EINVAL);
    mnemo_iter_free(it1);
    mnemo_iter_free(it2);
    mnemo_txn_free(txn);
    TU_OK(mnemo_open(&db, tu_path("ci"), NULL));
    TU_RC(mnemo_kv_exists(db, NULL, "uncommitted", 11), 0);
    TU_OK(mnemo_close(db));
}

TU_TEST(db, read_only_reads_and_refuses_writes)
{
    TU_NEEDS_DISK("reopens read-only");
    mnemo_db *db = tu_open("ro");
    put_str(db, "k", "v");
    TU_OK(mnemo_close(db));
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    TU_OK(mnemo_open(&db, tu_path("ro"), &o));
    expect_str(db, "k", "v");
    TU_RC(mnemo_kv_put(db, NULL, "k", 1, "w", 1), MNEMO_EREADONLY);
    TU_RC(mnemo_kv_delete(db, NULL, "k", 1), MNEMO_EREADONLY);
    TU_RC(mnemo_flush(db), MNEMO_EREADONLY);
    TU_RC(mnemo_compact(db), MNEMO_EREADONLY);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_RC(mnemo_kv_put(db, txn, "k", 1, "w", 1), MNEMO_EREADONLY);
    void *v;
    size_t n;
    TU_OK(mnemo_kv_get(&v, &n, db, txn, "k", 1));
    mnemo_free(v);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    TU_OK(mnemo_iter_next(it));
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    mnemo_iter_free(it);
    TU_OK(mnemo_close(db));
    o.read_only = 1;
    TU_RC(mnemo_open(&db, tu_path("nope"), &o), MNEMO_ENOTFOUND);
}

/* Issue 17 item 11: a read-only open while the writer (another process) compacts used to fail
 * now and then with MNEMO_ECORRUPT "No such file or directory" for a file compaction had just
 * removed. A healthy database is never reported corrupt: the open works or is MNEMO_EBUSY. */
/* A child process that opens the database read-write and waits until killed; returns once it
 * holds the database. */
static pid_t fork_writer_holding(const char *name)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* the writer: holds the database (its files open) and waits */
        mnemo_db *w;
        char ok = mnemo_open(&w, tu_path(name), NULL) == 0;
        if (write(fds[1], &ok, 1) != 1 || !ok)
            _exit(1);
        pause();
        _exit(0);
    }
    char ok = 0;
    cr_assert(read(fds[0], &ok, 1) == 1 && ok, "the writer did not open");
    close(fds[0]);
    close(fds[1]);
    return pid;
}

/* lmdb (issue 12): a reader beside a writer in another process opens and reads. */
static void expect_reader_beside_writer_reads(const char *name)
{
    mnemo_db *db = tu_open(name);
    put_str(db, "k", "v");
    TU_OK(mnemo_close(db));
    pid_t pid = fork_writer_holding(name);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    mnemo_db *r = NULL;
    int rc = mnemo_open(&r, tu_path(name), &o);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
    void *v = NULL;
    size_t vl = 0;
    int grc = rc ? rc : mnemo_kv_get(&v, &vl, r, NULL, "k", 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert_eq(rc, 0, "%s engine, reader beside a writer: %s: %s", tu_engine(), mnemo_strerror(rc), msg);
    cr_assert(grc == 0 && vl == 1 && !memcmp(v, "v", 1));
    mnemo_free(v);
    TU_OK(mnemo_close(r));
}

TU_TEST(db, read_only_opens_during_compactions_never_report_corruption)
{
    TU_NEEDS_DISK("two processes share the files");
    if (strcmp(tu_engine(), "rocksdb")) {
        expect_reader_beside_writer_reads("busy");
        return;
    }
    mnemo_db *db = tu_open("busy");
    put_str(db, "k", "v");
    TU_OK(mnemo_close(db));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* the writer: small files, made and merged away all the time */
        mnemo_options wo = MNEMO_OPTIONS_INIT;
        wo.storage.write_buffer_bytes = 64 << 10;
        mnemo_db *w;
        if (mnemo_open(&w, tu_path("busy"), &wo))
            _exit(1);
        char val[1024];
        memset(val, 'v', sizeof val);
        for (unsigned i = 0;; i++) {
            char k[32];
            for (int j = 0; j < 200; j++) {
                snprintf(k, sizeof k, "w%02u_%03d", i % 50, j);
                val[0] = (char)j;
                if (mnemo_kv_put(w, NULL, k, strlen(k), val, sizeof val))
                    _exit(2);
                if (j % 40 == 39 && mnemo_flush(w)) /* several files for every compaction to remove */
                    _exit(3);
            }
            if (mnemo_compact(w))
                _exit(3);
        }
    }
    usleep(100 * 1000); /* the writer is open and compacting */
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    int opened = 0, busy = 0, other = 0, other_rc = 0;
    char other_msg[512] = "";
    for (int i = 0; i < 200; i++) {
        mnemo_db *r = NULL;
        int rc = mnemo_open(&r, tu_path("busy"), &o);
        if (rc == 0) {
            void *v = NULL;
            size_t n;
            rc = mnemo_kv_get(&v, &n, r, NULL, "k", 1);
            mnemo_free(v);
            mnemo_close(r);
            opened += rc == 0;
        } else if (rc == MNEMO_EBUSY && strstr(mnemo_errmsg(), "retry")) {
            busy++;
            continue;
        }
        if (rc && !other++) {
            other_rc = rc;
            snprintf(other_msg, sizeof other_msg, "%s", mnemo_errmsg());
        }
    }
    int status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the writer stopped early: exit %d", WEXITSTATUS(status));
    cr_log_info("read-only opens during compactions: %d worked, %d busy", opened, busy);
    cr_assert_eq(other, 0, "%d of 200 read-only opens failed, first: %s: %s", other, mnemo_strerror(other_rc),
                 other_msg);
    cr_assert_gt(opened, 0);
}

/* The same race made certain: a file the current version lists is gone while a writer holds the
 * database: the read-only open is MNEMO_EBUSY (retry), not a corruption report. Without a writer
 * the file is really lost, and that is not hidden. */
TU_TEST(db, read_only_open_missing_a_file_is_ebusy_while_a_writer_holds_the_database)
{
    TU_NEEDS_DISK("removes a file");
    if (strcmp(tu_engine(), "rocksdb")) { /* lmdb: no files come and go; the reader opens beside the writer */
        expect_reader_beside_writer_reads("gone");
        return;
    }
    mnemo_db *db = tu_open("gone");
    put_str(db, "k", "v");
    TU_OK(mnemo_close(db)); /* flushes "k" into a table file */
    pid_t pid = fork_writer_holding("gone");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*.sst", tu_path("gone"));
    int rm = system(cmd);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    mnemo_db *r = NULL;
    int rc = mnemo_open(&r, tu_path("gone"), &o);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert_eq(rm, 0);
    cr_assert_eq(rc, MNEMO_EBUSY, "with a writer: %s: %s", mnemo_strerror(rc), msg);
    cr_assert(strstr(msg, "rewritten by its writer") && strstr(msg, "retry"), "message: %s", msg);
    rc = mnemo_open(&r, tu_path("gone"), &o);
    cr_assert(rc != 0 && rc != MNEMO_EBUSY, "without a writer: %s: %s", mnemo_strerror(rc), mnemo_errmsg());
    cr_log_info("a lost file without a writer: %s: %s", mnemo_strerror(rc), mnemo_errmsg());
}

TU_TEST(db, checkpoint_opens_as_a_consistent_copy)
{
    TU_NEEDS_DISK("copies files");
    mnemo_db *db = tu_open("src");
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%04d", i);
        TU_OK(mnemo_kv_put(db, NULL, k, strlen(k), k, strlen(k)));
    }
    char cp[512];
    snprintf(cp, sizeof cp, "%s", tu_path("copy"));
    TU_OK(mnemo_checkpoint(db, cp));
    put_str(db, "after", "checkpoint");
    TU_RC(mnemo_checkpoint(db, cp), MNEMO_EEXISTS);
    TU_RC(mnemo_checkpoint(db, NULL), MNEMO_EINVAL);
    TU_RC(mnemo_checkpoint(db, ""), MNEMO_EINVAL);
    mnemo_db *copy;
    TU_OK(mnemo_open(&copy, cp, NULL));
    expect_str(copy, "k0999", "k0999");
    TU_RC(mnemo_kv_exists(copy, NULL, "after", 5), 0);
    TU_RC(mnemo_kv_exists(db, NULL, "after", 5), 1);
    TU_OK(mnemo_close(copy));
    TU_OK(mnemo_close(db));
}

TU_TEST(db, flush_and_compact_keep_data)
{
    mnemo_db *db = tu_open("fc");
    for (int i = 0; i < 500; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%04d", i);
        TU_OK(mnemo_kv_put(db, NULL, k, strlen(k), "v", 1));
    }
    for (int i = 0; i < 500; i += 2) {
        char k[16];
        snprintf(k, sizeof k, "k%04d", i);
        TU_OK(mnemo_kv_delete(db, NULL, k, strlen(k)));
    }
    TU_OK(mnemo_flush(db));
    TU_OK(mnemo_compact(db));
    TU_RC(mnemo_kv_exists(db, NULL, "k0001", 5), 1);
    TU_RC(mnemo_kv_exists(db, NULL, "k0002", 5), 0);
    TU_OK(mnemo_close(db));
}

TU_TEST(db, version_and_error_names)
{
    int ma = -1, mi = -1, pa = -1;
    cr_assert_str_eq(mnemo_version(&ma, &mi, &pa), MNEMO_VERSION_STRING);
    cr_assert_eq(ma, MNEMO_VERSION_MAJOR);
    cr_assert_eq(mi, MNEMO_VERSION_MINOR);
    cr_assert_eq(pa, MNEMO_VERSION_PATCH);
    cr_assert_str_eq(mnemo_version(NULL, NULL, NULL), MNEMO_VERSION_STRING);
    cr_assert_str_eq(mnemo_strerror(MNEMO_EBUSY), "MNEMO_EBUSY");
    cr_assert_str_eq(mnemo_strerror(MNEMO_ENOTSUP), "MNEMO_ENOTSUP");
    cr_assert_str_eq(mnemo_strerror(-1000), "MNEMO_E?");
    cr_assert_str_eq(mnemo_strerror(MNEMO_EFULL), "MNEMO_EFULL");
    for (int c = 0; c >= MNEMO_EFULL; c--)
        cr_assert_str_neq(mnemo_strerror(c), "MNEMO_E?", "code %d has a name", c);
    mnemo_free(NULL);
}

TU_TEST(db, sync_on_commit_writes_survive_reopen)
{
    TU_NEEDS_DISK("reopens");
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.sync_on_commit = 1;
    mnemo_db *db;
    TU_OK(tu_open_with(&db, "s", &o));
    put_str(db, "durable", "yes");
    TU_OK(mnemo_close(db));
    TU_OK(mnemo_open(&db, tu_path("s"), &o));
    expect_str(db, "durable", "yes");
    TU_OK(mnemo_close(db));
}

/* A child writes with sync_on_commit and is killed with SIGKILL without closing: every
 * acknowledged write must be there on reopen. */
TU_TEST(db, killed_process_loses_no_synced_write)
{
    TU_NEEDS_DISK("reopens after a kill");
    mnemo_db *db = tu_open("k9");
    TU_OK(mnemo_close(db));
    int ack[2];
    cr_assert_eq(pipe(ack), 0);
    pid_t pid = fork();
    if (pid == 0) {
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.sync_on_commit = 1;
        mnemo_db *c;
        if (mnemo_open(&c, tu_path("k9"), &o))
            _exit(2);
        for (unsigned i = 0;; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%08u", i);
            if (mnemo_kv_put(c, NULL, k, strlen(k), k, strlen(k)))
                _exit(3);
            if (write(ack[1], &i, sizeof i) != sizeof i)
                _exit(4);
        }
    }
    close(ack[1]);
    unsigned last = 0, got = 0;
    while (got < 200 && read(ack[0], &last, sizeof last) == sizeof last)
        got++;
    kill(pid, SIGKILL);
    while (read(ack[0], &last, sizeof last) == sizeof last) /* acks already in the pipe count too */
        ;
    waitpid(pid, NULL, 0);
    TU_OK(mnemo_open(&db, tu_path("k9"), NULL));
    for (unsigned i = 0; i <= last; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%08u", i);
        cr_assert_eq(mnemo_kv_exists(db, NULL, k, strlen(k)), 1, "acknowledged %s lost", k);
    }
    TU_OK(mnemo_close(db));
}

/* Format 2 (before full text) had no text_index column family; only RocksDB databases are that
 * old. Built here with RocksDB's C API from a fresh database: the family dropped and the marker
 * saying 2. */
static rocksdb_t *rocks_open_all(const char *path, rocksdb_options_t *o, rocksdb_column_family_handle_t **cf,
                                 int *n)
{
    const char *names[MNEMO_CF_COUNT];
    const rocksdb_options_t *cfo[MNEMO_CF_COUNT];
    for (int i = 0; i < MNEMO_CF_COUNT; i++) {
        names[i] = mnemo_keyspaces[i].name;
        cfo[i] = o;
    }
    char *err = NULL;
    size_t present = 0;
    char **list = rocksdb_list_column_families(o, path, &present, &err);
    cr_assert_null(err, "%s", err);
    rocksdb_list_column_families_destroy(list, present);
    *n = (int)present; /* text_index is last: a format-2 database has the others */
    rocksdb_t *r = rocksdb_open_column_families(o, path, *n, names, cfo, cf, &err);
    cr_assert_null(err, "raw open of %s: %s", path, err);
    return r;
}

static void rocks_close_all(rocksdb_t *r, rocksdb_options_t *o, rocksdb_column_family_handle_t **cf, int n)
{
    for (int i = 0; i < n; i++)
        rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(r);
    rocksdb_options_destroy(o);
}

static void make_format2(const char *path)
{
    unsigned char v[13];
    memcpy(v, "mnemo", 5);
    mnemo__put_be32(v + 5, 2);
    mnemo__put_be32(v + 9, mnemo__crc32c(0, v, 9));
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_column_family_handle_t *cf[MNEMO_CF_COUNT];
    int n;
    rocksdb_t *r = rocks_open_all(path, o, cf, &n);
    cr_assert_eq(n, MNEMO_CF_COUNT);
    char *err = NULL;
    rocksdb_drop_column_family(r, cf[MNEMO_CF_TEXT_INDEX], &err);
    cr_assert_null(err, "%s", err);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(r, wo, cf[MNEMO_CF_METADATA], "\0format", 7, (const char *)v, sizeof v, &err);
    rocksdb_writeoptions_destroy(wo);
    cr_assert_null(err, "%s", err);
    rocks_close_all(r, o, cf, n);
}

static unsigned marker_version(const char *path, int *n_cf)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_column_family_handle_t *cf[MNEMO_CF_COUNT];
    rocksdb_t *r = rocks_open_all(path, o, cf, n_cf);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *err = NULL;
    size_t len = 0;
    unsigned char *v = (unsigned char *)rocksdb_get_cf(r, ro, cf[MNEMO_CF_METADATA], "\0format", 7, &len, &err);
    rocksdb_readoptions_destroy(ro);
    rocks_close_all(r, o, cf, *n_cf);
    cr_assert(v && len == 13);
    unsigned ver = mnemo__get_be32(v + 5);
    rocksdb_free(v);
    return ver;
}

TU_TEST(db, format2_opens_read_only_and_migrates_read_write)
{
    TU_DEFAULT_COLLECTION_ONLY("the layout of the database's own keys");
    if (strcmp(tu_engine(), "rocksdb"))
        cr_skip_test("format 2 existed only on the rocksdb engine");
    mnemo_db *db = tu_open("f2");
    mnemo_record rec = {.id = "a", .content = "old words"};
    TU_OK(mnemo_record_put(db, NULL, &rec, MNEMO_PUT_UPSERT));
    TU_OK(mnemo_close(db));
    make_format2(tu_path("f2"));
    int n_cf;
    cr_assert_eq(marker_version(tu_path("f2"), &n_cf), 2);
    cr_assert_eq(n_cf, 7);

    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    TU_OK(mnemo_open(&db, tu_path("f2"), &o));
    mnemo_record *got;
    TU_OK(mnemo_record_get(&got, db, NULL, "a"));
    mnemo_record_free(got);
    mnemo_text_hits *hits;
    TU_RC(mnemo_text_search(&hits, db, NULL, "words", 10, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "not enabled"), "%s", mnemo_errmsg());
    TU_OK(mnemo_close(db));
    cr_assert_eq(marker_version(tu_path("f2"), &n_cf), 2, "a read-only open changes nothing");
    cr_assert_eq(n_cf, 7);

    TU_OK(mnemo_open(&db, tu_path("f2"), NULL));
    TU_OK(mnemo_record_get(&got, db, NULL, "a"));
    mnemo_record_free(got);
    TU_OK(mnemo_text_enable(db, NULL)); /* the migrated database takes full text */
    TU_OK(mnemo_text_search(&hits, db, NULL, "words", 10, NULL));
    cr_assert_eq(hits->count, 1);
    mnemo_text_hits_free(hits);
    TU_OK(mnemo_close(db));
    cr_assert_eq(marker_version(tu_path("f2"), &n_cf), MNEMO_FORMAT_VERSION);
    cr_assert_eq(n_cf, MNEMO_CF_COUNT);
}

/* ---- engines (issue 11) ---- */

TU_TEST(db, stats_name_the_engine)
{
    mnemo_db *db = tu_open("st");
    put_str(db, "k", "v");
    mnemo_stats st = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&st, db));
    cr_assert_eq(st.version, MNEMO_STATS_VERSION);
    cr_assert_str_eq(st.engine, tu_engine());
    cr_assert_gt(st.store_sequence, 0, "a write has a sequence number");
    TU_OK(mnemo_close(db));
}

TU_TEST(db, an_unknown_engine_is_einval)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.engine = "bdb";
    mnemo_db *db;
    TU_RC(mnemo_open(&db, tu_path("u"), &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "'bdb'"), "%s", mnemo_errmsg());
    struct stat sb;
    cr_assert_neq(stat(tu_path("u"), &sb), 0, "nothing is created");
}

/* The engine is recorded at creation: a reopen finds it, and naming another is EINVAL naming both. */
TU_TEST(db, reopen_finds_the_engine_and_refuses_another)
{
    TU_NEEDS_DISK("reopens");
    mnemo_db *db = tu_open("e");
    put_str(db, "k", "v");
    TU_OK(mnemo_close(db));
    TU_OK(mnemo_open(&db, tu_path("e"), NULL));
    mnemo_stats st = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&st, db));
    cr_assert_str_eq(st.engine, tu_engine());
    expect_str(db, "k", "v");
    TU_OK(mnemo_close(db));
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.engine = "memory";
    TU_RC(mnemo_open(&db, tu_path("e"), &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "memory"), "%s", mnemo_errmsg());
    const char *other = strcmp(tu_engine(), "rocksdb") ? "rocksdb" : "lmdb";
    o.engine = other;
    TU_RC(mnemo_open(&db, tu_path("e"), &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), other), "names the engine asked for: %s", mnemo_errmsg());
    o.engine = tu_engine();
    TU_OK(mnemo_open(&db, tu_path("e"), &o));
    TU_OK(mnemo_close(db));
}

TU_TEST(db, a_damaged_engine_marker_is_ecorrupt)
{
    TU_NEEDS_DISK("damages the stored marker");
    mnemo_db *db = tu_open("em");
    TU_OK(mnemo_close(db));
    tu_raw r;
    tu_raw_open(&r, tu_path("em"));
    tu_raw_put(&r, 6, "\0engine", 7, "\x01rocksdb\0\0\0\0", 12);
    tu_raw_close(&r);
    TU_RC(mnemo_open(&db, tu_path("em"), NULL), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "engine marker"), "%s", mnemo_errmsg());
}

TU_TEST(db, memory_databases_touch_no_disk_and_are_separate)
{
    char cwd_before[4096];
    cr_assert_not_null(getcwd(cwd_before, sizeof cwd_before));
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *a, *b;
    TU_OK(mnemo_open(&a, ":memory:", &o)); /* no create_if_missing needed: always new */
    TU_OK(mnemo_open(&b, ":memory:", &o));
    put_str(a, "k", "a");
    TU_RC(mnemo_kv_exists(b, NULL, "k", 1), 0);
    expect_str(a, "k", "a");
    TU_OK(mnemo_flush(a));
    TU_OK(mnemo_compact(a));
    expect_str(a, "k", "a");
    mnemo_stats st = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&st, a));
    cr_assert_str_eq(st.engine, "memory");
    cr_assert_eq(st.store_disk_bytes, 0);
    TU_RC(mnemo_checkpoint(a, tu_path("cp")), MNEMO_ENOTSUP);
    struct stat sb;
    cr_assert_neq(stat(":memory:", &sb), 0, "no file named :memory: in %s", cwd_before);
    cr_assert_neq(stat(tu_path("cp"), &sb), 0);
    TU_OK(mnemo_close(a));
    TU_OK(mnemo_close(b));
    TU_OK(mnemo_open(&a, ":memory:", &o));
    TU_RC(mnemo_kv_exists(a, NULL, "k", 1), 0); /* gone on close */
    TU_OK(mnemo_close(a));
    o.read_only = 1;
    TU_RC(mnemo_open(&a, ":memory:", &o), MNEMO_EINVAL);
    o.read_only = 0;
    o.engine = "rocksdb";
    TU_RC(mnemo_open(&a, ":memory:", &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "rocksdb") && strstr(mnemo_errmsg(), "memory"), "%s", mnemo_errmsg());
    o.engine = "memory";
    o.create_if_missing = 1;
    TU_RC(mnemo_open(&a, tu_path("m"), &o), MNEMO_EINVAL);
    cr_assert_neq(stat(tu_path("m"), &sb), 0);
}

/* One table of metadata key prefixes (core/keys.h): a database that every module wrote into holds
 * no key whose prefix the table does not own, and the table's whole keys use its prefixes. */
TU_TEST(db, metadata_keys_all_start_with_a_prefix_of_the_table)
{
    TU_DEFAULT_COLLECTION_ONLY("the layout of the database's own keys");
#define KEY_OWNED(k) cr_assert(mnemo__meta_prefix_owner((unsigned char)(k)[0]), "key %s has no prefix owner", (k) + !(k)[0]);
    MNEMO_META_KEYS(KEY_OWNED)
#undef KEY_OWNED
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = 4;
    mnemo_db *db;
    TU_OK(tu_open_with(&db, "meta", &o));
    TU_OK(mnemo_text_enable(db, NULL));
    TU_OK(mnemo_record_index_create(db, "topic"));
    mnemo_record r = {0};
    r.id = "a";
    r.content = "the quick brown fox";
    r.metadata = "{\"topic\": \"x\"}";
    r.expires_at = 4102444800000; /* 2100 */
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    r.id = "b";
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    float v[4] = {1, 0, 0, 0};
    TU_OK(mnemo_vector_put(db, NULL, "a", v, 4));
    mnemo_graph_edge e = {"a", "knows", "b", 1.0, NULL};
    TU_OK(mnemo_graph_link(db, NULL, &e, 0));

    mnemo_cursor *c;
    TU_OK(mnemo_cursor__open(&c, db, NULL, MNEMO_CF_METADATA, NULL, 0, NULL, 0));
    unsigned seen[256] = {0};
    for (mnemo_cursor__first(c); mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        cr_assert(kl > 0 && mnemo__meta_prefix_owner(k[0]), "metadata key with prefix 0x%02x is in no table entry",
                  kl ? k[0] : 0);
        seen[k[0]]++;
    }
    TU_OK(mnemo_cursor__status(c, "metadata"));
    mnemo_cursor__close(c);
    /* the scan saw every module's keys (else it proves little) */
    const unsigned char expect[] = {MNEMO_MK_MARKER, MNEMO_MK_IID, MNEMO_MK_CREATED, MNEMO_MK_EXPIRY, MNEMO_MK_INDEX_DEF,
                                    MNEMO_MK_INDEX, MNEMO_MK_COUNTER, MNEMO_MK_LABEL, MNEMO_MK_LABEL_ID, MNEMO_MK_VECTOR,
                                    MNEMO_MK_TEXT};
    for (size_t i = 0; i < sizeof expect; i++)
        cr_assert(seen[expect[i]], "no key with prefix '%c' (%s) was written", expect[i] ? expect[i] : '0',
                  mnemo__meta_prefix_owner(expect[i]));
    TU_OK(mnemo_close(db));
}

/* ---- structs the library fills: the caller's version bounds what is written (1.0 API pass) ---- */

/* A caller built against mnemo_stats version 1 has only the cache fields; whatever follows its
 * struct in memory is not the library's to write. */
TU_TEST(db, stats_of_an_older_smaller_struct_are_never_overrun)
{
    mnemo_db *db = tu_open("v1");
    put_str(db, "k", "v");
    typedef struct {
        unsigned version;
        uint64_t cache_hits, cache_misses, cache_inserts, cache_evictions;
        size_t cache_bytes_used, cache_capacity, cache_entries;
    } stats_v1;
    TU_CANARIED(stats_v1) mem;
    TU_CANARY_FILL(mem, 1);
    TU_OK(mnemo_stats_get((mnemo_stats *)&mem.s, db));
    tu_check_canary(mem.canary, sizeof mem.canary, "a version-1 struct");
    cr_assert_eq(mem.s.version, 1, "the caller's version is left as set");
    cr_assert_eq(mem.s.cache_capacity, MNEMO_CACHE_DEFAULT_BYTES, "the v1 fields are filled (the default cache)");
    cr_assert_eq(mem.s.cache_hits, 0);
    TU_OK(mnemo_close(db));
}

TU_TEST(db, stats_refuse_an_unset_or_newer_version)
{
    mnemo_db *db = tu_open("sv");
    mnemo_stats st;
    memset(&st, 0, sizeof st);
    TU_RC(mnemo_stats_get(&st, db), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_stats version 0 is not set"), "%s", mnemo_errmsg());
    st.version = MNEMO_STATS_VERSION + 1;
    TU_RC(mnemo_stats_get(&st, db), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "newer than this library"), "%s", mnemo_errmsg());
    cr_assert_eq(st.cache_hits, 0, "nothing written on failure");
    TU_OK(mnemo_close(db));
}

/* Options of mnemo 0.x (versions 1..3) had another layout: read as today's they would be misread. */
TU_TEST(db, options_of_mnemo_0x_and_nonzero_reserved_are_einval)
{
    mnemo_db *db;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    for (unsigned v = 1; v <= 3; v++) {
        o.version = v;
        TU_RC(mnemo_open(&db, tu_path("o"), &o), MNEMO_EINVAL);
        cr_assert(strstr(mnemo_errmsg(), "of mnemo 0.x"), "%s", mnemo_errmsg());
    }
    o.version = MNEMO_OPTIONS_VERSION;
    o.storage.reserved[2] = 1;
    TU_RC(mnemo_open(&db, tu_path("o"), &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "storage.reserved[2]"), "%s", mnemo_errmsg());
    o.storage.reserved[2] = 0;
    o.storage.key_filter_bits = -1; /* engine tuning through the nested struct */
    o.storage.read_cache_bytes = 1u << 20;
    TU_OK(tu_open_with(&db, "o", &o));
    put_str(db, "k", "v");
    expect_str(db, "k", "v");
    TU_OK(mnemo_close(db));
}
