/* Reliability (issue 7): damaged stored values, a full disk, a read-only directory, and failed
 * allocations along the main paths. See docs/reliability.md for what is guaranteed. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "core/alloc.h"
#include "core/coding.h"

enum { CF_DEFAULT, CF_RECORDS, CF_FORWARD, CF_BACKWARD, CF_VDATA, CF_VINDEX, CF_METADATA };

static void put_rec(mnemo_db *db, const char *id, const char *meta)
{
    mnemo_record r = {0};
    r.id = id;
    r.content = "some remembered content";
    r.importance = 0.5;
    r.metadata = meta;
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
}

static uint64_t iid_of(mnemo_db *db, const char *id)
{
    mnemo_record *r;
    TU_OK(mnemo_record_get(&r, db, NULL, id));
    uint64_t iid = r->internal_id;
    mnemo_record_free(r);
    return iid;
}

static mnemo_db *reopen(const char *name)
{
    TU_NEEDS_DISK("reopens");
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *db = NULL;
    TU_OK(mnemo_open(&db, tu_path(name), &o));
    return db;
}

static void flip(tu_raw *raw, int cf, const void *key, size_t klen, size_t at, unsigned char mask)
{
    size_t n;
    char *v = tu_raw_get(raw, cf, key, klen, &n);
    cr_assert_not_null(v, "raw value to damage is missing");
    cr_assert_lt(at, n);
    v[at] ^= (char)mask;
    tu_raw_put(raw, cf, key, klen, v, n);
    free(v);
}

/* ---- corruption: every byte of a record value, flipped, is caught and named ---- */

TU_TEST(reliability, every_damaged_byte_of_a_record_is_ecorrupt_naming_it)
{
    mnemo_db *db = tu_open("rec");
    put_rec(db, "probe", "{\"topic\": \"rust\"}");
    mnemo_close(db);
    tu_raw raw;
    tu_raw_open(&raw, tu_path("rec"));
    size_t n;
    char *v = tu_raw_get(&raw, CF_RECORDS, "probe", 5, &n);
    cr_assert_not_null(v);
    /* one copy of the record per byte position, each with that byte damaged */
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "bad%03zu", i);
        v[i] ^= 0x5a;
        tu_raw_put(&raw, CF_RECORDS, id, strlen(id), v, n);
        v[i] ^= 0x5a;
    }
    tu_raw_put(&raw, CF_RECORDS, "short", 5, v, n / 2); /* truncated */
    free(v);
    tu_raw_close(&raw);
    db = reopen("rec");
    for (size_t i = 0; i <= n; i++) {
        char id[32];
        if (i == n)
            snprintf(id, sizeof id, "short");
        else
            snprintf(id, sizeof id, "bad%03zu", i);
        mnemo_record *r = NULL;
        TU_RC(mnemo_record_get(&r, db, NULL, id), MNEMO_ECORRUPT);
        cr_assert_null(r);
        cr_assert(strstr(mnemo_errmsg(), id), "message '%s' names '%s'", mnemo_errmsg(), id);
        TU_RC(mnemo_record_delete(db, NULL, id), MNEMO_ECORRUPT);
    }
    /* the good record still reads; scans that meet a damaged one say so */
    mnemo_record *r;
    TU_OK(mnemo_record_get(&r, db, NULL, "probe"));
    cr_assert_str_eq(r->metadata, "{\"topic\":\"rust\"}");
    mnemo_record_free(r);
    mnemo_record_page *page = NULL;
    TU_RC(mnemo_record_list(&page, db, NULL, NULL), MNEMO_ECORRUPT);
    TU_RC(mnemo_record_find(&page, db, NULL, "{\"topic\": \"rust\"}", NULL), MNEMO_ECORRUPT);
    cr_assert_null(page);
    TU_OK(mnemo_close(db));
}

/* ---- corruption: edges in either direction ---- */

TU_TEST(reliability, damaged_edges_are_ecorrupt_in_reads_traversals_and_check)
{
    mnemo_db *db = tu_open("edge");
    put_rec(db, "hub", NULL);
    enum { SPOKES = 24 };
    uint64_t spoke[SPOKES];
    for (int i = 0; i < SPOKES; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%02d", i);
        put_rec(db, id, NULL);
        spoke[i] = iid_of(db, id);
        mnemo_graph_edge e = {"hub", "knows", id, 1.0 + i, "{\"since\": 2020}"};
        TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    }
    uint64_t hub = iid_of(db, "hub");
    mnemo_close(db);
    tu_raw raw;
    tu_raw_open(&raw, tu_path("edge"));
    /* label "knows" is id 1; damage byte i of forward edge i (or its backward twin for odd i) */
    for (int i = 0; i < SPOKES; i++) {
        unsigned char k[20];
        int fwd = i % 2 == 0;
        mnemo__put_be64(k, fwd ? hub : spoke[i]);
        mnemo__put_be32(k + 8, 1);
        mnemo__put_be64(k + 12, fwd ? spoke[i] : hub);
        flip(&raw, fwd ? CF_FORWARD : CF_BACKWARD, k, sizeof k, (size_t)i, 0x01);
    }
    tu_raw_close(&raw);
    db = reopen("edge");
    for (int i = 0; i < SPOKES; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%02d", i);
        mnemo_graph_edge *e = NULL;
        if (i % 2 == 0) {
            TU_RC(mnemo_graph_get(&e, db, NULL, "hub", "knows", id), MNEMO_ECORRUPT);
            cr_assert(strstr(mnemo_errmsg(), "edge forward"), "message: %s", mnemo_errmsg());
            cr_assert_null(e);
        }
        mnemo_iter *it = NULL;
        int rc = mnemo_graph_neighbors(&it, db, NULL, id, MNEMO_DIR_IN, NULL, 0);
        if (rc == 0) { /* lists may be read lazily: the damage shows at the move */
            const mnemo_graph_neighbor *nb;
            rc = tu_next_neighbor(it, &nb);
            mnemo_iter_free(it);
        }
        cr_assert_eq(rc, i % 2 ? MNEMO_ECORRUPT : 0, "in-neighbours of %s: %s", id, mnemo_strerror(rc));
    }
    mnemo_iter *it = NULL;
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "hub", MNEMO_DIR_OUT, NULL, 0), MNEMO_ECORRUPT);
    uint64_t edges;
    TU_RC(mnemo_graph_check(db, &edges), MNEMO_ECORRUPT);
    TU_OK(mnemo_close(db));
}

/* ---- corruption: metadata keys (format marker, index definitions, counters, labels) ---- */

TU_TEST(reliability, damaged_metadata_keys_are_ecorrupt)
{
    mnemo_db *db = tu_open("meta");
    put_rec(db, "a", "{\"topic\": \"x\"}");
    put_rec(db, "b", NULL);
    TU_OK(mnemo_record_index_create(db, "topic"));
    mnemo_graph_edge e = {"a", "knows", "b", 1.0, NULL};
    TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    mnemo_close(db);

    /* the format marker: open refuses */
    tu_raw raw;
    tu_raw_open(&raw, tu_path("meta"));
    flip(&raw, CF_METADATA, "\0format", 7, 10, 0x80);
    tu_raw_close(&raw);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    TU_RC(mnemo_open(&db, tu_path("meta"), &o), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "format"), "message: %s", mnemo_errmsg());
    tu_raw_open(&raw, tu_path("meta"));
    flip(&raw, CF_METADATA, "\0format", 7, 10, 0x80);

    /* the index definition of "topic": a query that would use it says so, naming the path */
    flip(&raw, CF_METADATA, "Dtopic", 6, 1, 0x04);
    tu_raw_close(&raw);
    db = reopen("meta");
    mnemo_record_page *page = NULL;
    int rc = mnemo_record_find(&page, db, NULL, "{\"topic\": \"x\"}", NULL);
    cr_assert_eq(rc, MNEMO_ECORRUPT, "find over a damaged index definition: %s", mnemo_strerror(rc));
    cr_assert(strstr(mnemo_errmsg(), "topic"), "message: %s", mnemo_errmsg());
    mnemo_close(db);

    /* counters and the label dictionary of the wrong length */
    tu_raw_open(&raw, tu_path("meta"));
    flip(&raw, CF_METADATA, "Dtopic", 6, 1, 0x04);
    tu_raw_put(&raw, CF_METADATA, "Niid_hwm", 8, "\1\2\3", 3);
    tu_raw_put(&raw, CF_METADATA, "l\0\0\0\1", 5, "", 0); /* label id 1 ("knows") has no name */
    tu_raw_close(&raw);
    db = reopen("meta");
    mnemo_record r = {0};
    r.id = "c";
    TU_RC(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "iid_hwm"), "message: %s", mnemo_errmsg());
    mnemo_graph_edge e2 = {"b", "knows", "a", 1.0, NULL};
    rc = mnemo_graph_link(db, NULL, &e2, 0);
    cr_assert_eq(rc, MNEMO_ECORRUPT, "link over a damaged label: %s", mnemo_strerror(rc));
    TU_OK(mnemo_close(db));

    /* small metadata values are sealed (version + crc32c): a flipped byte that keeps the length
     * is caught too, e.g. in the label dictionary, which would otherwise file new edges under
     * another label */
    db = tu_open("meta2");
    mnemo_graph_edge e3 = {"a", "likes", "b", 1.0, NULL};
    TU_OK(mnemo_graph_link(db, NULL, &e3, MNEMO_LINK_CREATE_MISSING));
    TU_OK(mnemo_close(db));
    tu_raw_open(&raw, tu_path("meta2"));
    flip(&raw, CF_METADATA, "l\0\0\0\1", 5, 3, 0x01); /* label id 1: "likes" */
    tu_raw_close(&raw);
    db = reopen("meta2");
    mnemo_graph_edge e4 = {"b", "likes", "a", 1.0, NULL};
    rc = mnemo_graph_link(db, NULL, &e4, 0);
    cr_assert_eq(rc, MNEMO_ECORRUPT, "link over a label entry with a flipped byte: %s", mnemo_strerror(rc));
    cr_assert(strstr(mnemo_errmsg(), "checksum"), "message: %s", mnemo_errmsg());
    TU_OK(mnemo_close(db));
}

/* ---- a full disk (RLIMIT_FSIZE in a child) and a read-only directory ---- */

static int fill_until_error(const char *path)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {256 * 1024, 256 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &rl))
        return 10;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.sync_on_commit = 1;
    mnemo_db *db;
    if (mnemo_open(&db, path, &o))
        return 11;
    static char big[16384];
    memset(big, 'x', sizeof big);
    int rc = 0;
    for (int i = 0; i < 10000 && !rc; i++) {
        char k[32];
        snprintf(k, sizeof k, "fill%05d", i);
        rc = mnemo_kv_put(db, NULL, k, strlen(k), big, sizeof big);
    }
    int ok = rc == MNEMO_EIO && strlen(mnemo_errmsg()) > 10;
    if (!ok)
        fprintf(stderr, "full disk gave %s: %s\n", mnemo_strerror(rc), mnemo_errmsg());
    mnemo_close(db); /* may fail too; the database must still open afterwards */
    return ok ? 0 : 12;
}

TU_TEST(reliability, full_disk_is_eio_and_the_database_opens_afterwards)
{
    TU_NEEDS_DISK("fills a disk");
    mnemo_db *db = tu_open("full");
    TU_OK(mnemo_kv_put(db, NULL, "before", 6, "1", 1));
    TU_OK(mnemo_close(db));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(fill_until_error(tu_path("full")));
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    db = reopen("full");
    void *v;
    size_t n;
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, "before", 6));
    mnemo_free(v);
    TU_OK(mnemo_kv_put(db, NULL, "after", 5, "2", 1));
    TU_OK(mnemo_close(db));
}

/* A really full file system (a 2 MB tmpfs; needs root, else skipped): RocksDB's info LOG writer
 * and its WAL writer both see ENOSPC. Issue 17 item 1: the LOG writer then aborted the process. */
#define TMPFS_RECS 200

static int tmpfs_batch(mnemo_db *db, int b)
{
    mnemo_txn *t;
    int rc = mnemo_txn_begin(&t, db, 0);
    static char content[101];
    memset(content, 'x', 100);
    for (int i = 0; i < TMPFS_RECS && !rc; i++) {
        char id[32];
        snprintf(id, sizeof id, "r%d_%d", b, i);
        mnemo_record r = {0};
        r.id = id;
        r.content = content;
        r.importance = 0.5;
        rc = mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT);
    }
    if (!rc)
        rc = mnemo_txn_commit(t);
    mnemo_txn_free(t);
    return rc;
}

/* The child: imports until the disk is full, then commits again and closes. Reports through fd
 * the number of batches acknowledged; exits 0 when every failure was MNEMO_EIO with a message. */
static int fill_tmpfs(const char *path, int fd)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db;
    if (mnemo_open(&db, path, &o)) {
        fprintf(stderr, "open on tmpfs: %s\n", mnemo_errmsg());
        return 10;
    }
    int acked = 0, rc = 0;
    while (acked < 10000 && (rc = tmpfs_batch(db, acked)) == 0)
        acked++;
    if (write(fd, &acked, sizeof acked) != sizeof acked)
        return 11;
    if (rc != MNEMO_EIO || !strstr(mnemo_errmsg(), "space")) {
        fprintf(stderr, "full tmpfs gave %s: %s\n", mnemo_strerror(rc), mnemo_errmsg());
        return 12;
    }
    for (int i = 0; i < 3; i++) /* later commits fail the same way: no abort */
        if ((rc = tmpfs_batch(db, 20000 + i)) != MNEMO_EIO) {
            fprintf(stderr, "commit after a full disk gave %s: %s\n", mnemo_strerror(rc), mnemo_errmsg());
            return 13;
        }
    if ((rc = mnemo_kv_put(db, NULL, "k", 1, "v", 1)) != MNEMO_EIO) { /* an auto-commit write too */
        fprintf(stderr, "put after a full disk gave %s: %s\n", mnemo_strerror(rc), mnemo_errmsg());
        return 13;
    }
    rc = mnemo_close(db);
    if (rc && rc != MNEMO_EIO) {
        fprintf(stderr, "close after a full disk gave %s: %s\n", mnemo_strerror(rc), mnemo_errmsg());
        return 14;
    }
    return 0;
}

TU_TEST(reliability, full_tmpfs_is_eio_never_an_abort_and_everything_acknowledged_survives)
{
    if (strcmp(tu_engine(), "rocksdb")) {
        tu_cleanup();
        cr_skip_test("the full-disk abort was RocksDB's; engine %s", tu_engine());
    }
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", tu_path("tmpfs"));
    snprintf(path, sizeof path, "%s/db", dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=2m")) {
        tu_cleanup();
        cr_skip_test("cannot mount a tmpfs (%s): needs root", strerror(errno));
    }
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        _exit(fill_tmpfs(path, fds[1]));
    }
    close(fds[1]);
    int acked = -1;
    ssize_t got = read(fds[0], &acked, sizeof acked);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    /* space comes back */
    int remounted = mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=64m");
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok || remounted) {
        umount2(dir, MNT_DETACH);
        cr_assert(ok, "child: %s %d", WIFSIGNALED(status) ? "killed by signal" : "exit",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        cr_assert_eq(remounted, 0, "remount: %s", strerror(errno));
    }
    cr_assert(got == sizeof acked && acked > 0, "acknowledged batches: %d", acked);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *db = NULL;
    int rc = mnemo_open(&db, path, &o);
    int missing = -1;
    if (!rc) {
        missing = 0;
        for (int b = 0; b < acked; b++)
            for (int i = 0; i < TMPFS_RECS; i += 37) {
                char id[32];
                snprintf(id, sizeof id, "r%d_%d", b, i);
                mnemo_record *r;
                if (mnemo_record_get(&r, db, NULL, id))
                    missing++;
                else
                    mnemo_record_free(r);
            }
        if (tmpfs_batch(db, 30000))
            missing = -2; /* writes work again */
        mnemo_close(db);
    }
    umount2(dir, MNT_DETACH);
    cr_assert_eq(rc, 0, "reopen after space came back: %s: %s", mnemo_strerror(rc), mnemo_errmsg());
    cr_assert_eq(missing, 0, "%d acknowledged records missing (-2: a write after reopen failed)", missing);
}

TU_TEST(reliability, read_only_directory_is_an_error_with_a_message)
{
    TU_NEEDS_DISK("a read-only directory");
    mnemo_db *db = tu_open("ro");
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "v", 1));
    TU_OK(mnemo_close(db));
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_path("ro"));
    *strrchr(dir, '/') = '\0';
    chmod(dir, 0755);
    chmod(tu_path("ro"), 0555);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* root ignores permissions: drop to nobody first */
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(20);
        mnemo_options o = MNEMO_OPTIONS_INIT;
        mnemo_db *d = NULL;
        int rc = mnemo_open(&d, tu_path("ro"), &o);
        if (rc == 0 || !*mnemo_errmsg()) {
            mnemo_close(d);
            _exit(21);
        }
        fprintf(stderr, "read-only directory: %s: %s\n", mnemo_strerror(rc), mnemo_errmsg());
        _exit(rc == MNEMO_EIO ? 0 : 22);
    }
    int status;
    waitpid(pid, &status, 0);
    chmod(tu_path("ro"), 0755);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", WEXITSTATUS(status));
    db = reopen("ro");
    void *v;
    size_t n;
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, "k", 1));
    mnemo_free(v);
    TU_OK(mnemo_close(db));
}

/* ---- allocation failure: fail the N-th allocation, N = 1, 2, ... until the call succeeds ---- */

typedef struct alloc_case {
    const char *name;
    int (*run)(mnemo_db *db); /* the operation under test; 0 once it succeeded */
} alloc_case;

static int mk_rec(mnemo_db *db, const char *id, const char *meta)
{
    mnemo_record r = {0};
    r.id = id;
    r.content = "content";
    r.metadata = meta;
    return mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT);
}

static int run_kv_put(mnemo_db *db) { return mnemo_kv_put(db, NULL, "key", 3, "value", 5); }
static int run_kv_get(mnemo_db *db)
{
    void *v = NULL;
    size_t n;
    int rc = mnemo_kv_get(&v, &n, db, NULL, "seed", 4);
    mnemo_free(v);
    return rc;
}
static int run_record_put(mnemo_db *db) { return mk_rec(db, "new", "{\"topic\": \"rust\", \"n\": [1, 2]}"); }
static int run_record_get(mnemo_db *db)
{
    mnemo_record *r = NULL;
    int rc = mnemo_record_get(&r, db, NULL, "s1");
    mnemo_record_free(r);
    return rc;
}
static int run_record_find(mnemo_db *db)
{
    mnemo_record_page *p = NULL;
    int rc = mnemo_record_find(&p, db, NULL, "{\"topic\": \"go\", \"n\": {\"$gte\": 1}}", NULL);
    if (!rc && p->count != 1)
        rc = MNEMO_ERROR;
    mnemo_record_page_free(p);
    return rc;
}
static int run_record_delete(mnemo_db *db) { return mnemo_record_delete(db, NULL, "s2"); }
static int run_link(mnemo_db *db)
{
    mnemo_graph_edge e = {"s1", "likes", "s3", 2.0, "{\"w\": 1}"};
    return mnemo_graph_link(db, NULL, &e, 0);
}
static int run_neighbors(mnemo_db *db)
{
    mnemo_iter *it = NULL;
    int rc = mnemo_graph_neighbors(&it, db, NULL, "s1", MNEMO_DIR_BOTH, NULL, 0);
    const mnemo_graph_neighbor *n;
    while (!rc && (rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &n)) == 0)
        ;
    mnemo_iter_free(it);
    return rc == MNEMO_ITEROVER ? 0 : rc;
}
static int count_visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)id, (void)depth, (void)via, (void)via_label;
    ++*(int *)arg;
    return 0;
}
static int run_traverse(mnemo_db *db)
{
    const char *starts[] = {"s1"};
    int n = 0;
    int rc = mnemo_graph_traverse(db, NULL, starts, 1, NULL, count_visit, &n);
    return rc ? rc : n >= 2 ? 0 : MNEMO_ERROR;
}
static int run_txn(mnemo_db *db)
{
    mnemo_txn *t;
    int rc = mnemo_txn_begin(&t, db, 0);
    if (rc)
        return rc;
    mnemo_record r = {0};
    r.id = "t1";
    r.metadata = "{\"topic\": \"txn\"}";
    mnemo_graph_edge e = {"t1", "knows", "s1", 1.0, NULL};
    if (!(rc = mnemo_kv_put(db, t, "tk", 2, "v", 1)) && !(rc = mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT)) &&
        !(rc = mnemo_graph_link(db, t, &e, 0)))
        rc = mnemo_txn_commit(t);
    mnemo_txn_free(t);
    return rc;
}

static const alloc_case alloc_cases[] = {
    {"kv_put", run_kv_put},
    {"kv_get", run_kv_get},
    {"record_put", run_record_put},
    {"record_get", run_record_get},
    {"record_find", run_record_find},
    {"record_delete", run_record_delete},
    {"graph_link", run_link},
    {"graph_neighbors", run_neighbors},
    {"graph_traverse", run_traverse},
    {"txn_commit", run_txn},
};

static void seed_db(mnemo_db *db)
{
    TU_OK(mnemo_kv_put(db, NULL, "seed", 4, "v", 1));
    TU_OK(mnemo_record_index_create(db, "topic"));
    TU_OK(mk_rec(db, "s1", "{\"topic\": \"go\", \"n\": 1}"));
    TU_OK(mk_rec(db, "s2", "{\"topic\": \"rust\"}"));
    TU_OK(mk_rec(db, "s3", NULL));
    mnemo_graph_edge e1 = {"s1", "knows", "s2", 1.0, NULL}, e2 = {"s2", "knows", "s3", 1.0, NULL};
    TU_OK(mnemo_graph_link(db, NULL, &e1, 0));
    TU_OK(mnemo_graph_link(db, NULL, &e2, 0));
}

/* The state the case's operation leaves must be all or nothing; checked after every failure. */
static void check_consistent(mnemo_db *db, const char *name, unsigned long n)
{
    uint64_t edges;
    int rc = mnemo_graph_check(db, &edges);
    cr_assert_eq(rc, 0, "%s, allocation %lu failed: graph check %s %s", name, n, mnemo_strerror(rc), mnemo_errmsg());
    int t1 = mnemo_record_exists(db, NULL, "t1"), tk = mnemo_kv_exists(db, NULL, "tk", 2);
    int te = mnemo_graph_exists(db, NULL, "t1", "knows", "s1");
    cr_assert(t1 == tk && (t1 == 0 || te == 1) && (t1 == 1 || te <= 0), "%s: txn half applied (%d %d %d)", name, t1,
              tk, te);
    int s2 = mnemo_record_exists(db, NULL, "s2"), e12 = mnemo_graph_exists(db, NULL, "s1", "knows", "s2");
    cr_assert(s2 == 1 || e12 <= 0, "%s: s2 deleted but its edge stayed", name);
}

TU_TEST(reliability, every_failed_allocation_is_enomem_and_leaves_a_consistent_db)
{
    mnemo_db *db = tu_open("alloc");
    seed_db(db);
    TU_OK(mnemo_close(db));
    db = NULL;
    unsigned long total_failures = 0;
    for (size_t c = 0; c < sizeof alloc_cases / sizeof alloc_cases[0]; c++) {
        const alloc_case *ac = &alloc_cases[c];
        /* a fresh handle each case, so caches and lazily made state are cold again */
        db = reopen("alloc");
        unsigned long n;
        int rc = MNEMO_ENOMEM;
        for (n = 1; n < 5000; n++) {
            mnemo__alloc_fail_after(n);
            rc = ac->run(db);
            mnemo__alloc_fail_after(0);
            if (rc == 0)
                break;
            cr_assert(rc == MNEMO_ENOMEM || rc == MNEMO_ERROR || rc == MNEMO_EIO,
                      "%s, allocation %lu failed: %s (%s)", ac->name, n, mnemo_strerror(rc), mnemo_errmsg());
            cr_assert(*mnemo_errmsg(), "%s: no message", ac->name);
            check_consistent(db, ac->name, n);
            total_failures++;
        }
        cr_assert_eq(rc, 0, "%s never succeeded", ac->name);
        check_consistent(db, ac->name, 0);
        TU_OK(mnemo_close(db));
    }
    cr_assert_gt(total_failures, 10);
    /* open itself */
    unsigned long n;
    int rc = MNEMO_ENOMEM;
    for (n = 1; n < 5000; n++) {
        mnemo_options o = MNEMO_OPTIONS_INIT;
        TU_NEEDS_DISK("reopens");
        mnemo__alloc_fail_after(n);
        rc = mnemo_open(&db, tu_path("alloc"), &o);
        mnemo__alloc_fail_after(0);
        if (rc == 0)
            break;
        cr_assert(rc == MNEMO_ENOMEM || rc == MNEMO_ERROR, "open, allocation %lu failed: %s (%s)", n,
                  mnemo_strerror(rc), mnemo_errmsg());
    }
    cr_assert_eq(rc, 0);
    check_consistent(db, "open", n);
    TU_OK(mnemo_close(db));
}

/* ---- vectors: damaged index keys rebuild, damaged vector_data is ECORRUPT for that vector ---- */

#include "txn/txn.h"
#include "vector/hnsw.h"

#define VD 4

static mnemo_db *open_vec(const char *name, int create)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = create;
    o.vector_dim = VD;
    mnemo_db *db = NULL;
    if (!create)
        TU_NEEDS_DISK("reopens");
    TU_OK(tu_open_with(&db, name, &o));
    return db;
}

static void vec_of(float *v, int i)
{
    for (int d = 0; d < VD; d++)
        v[d] = (float)(i * VD + d) / 8.0f;
}

/* 40 records with vectors, closed (snapshot saved); with_log: then changes committed by a process
 * that dies without closing, so log entries follow the snapshot. */
static void make_vec_db(const char *name, int with_log)
{
    mnemo_db *db = open_vec(name, 1);
    for (int i = 0; i < 40; i++) {
        char id[16];
        float v[VD];
        snprintf(id, sizeof id, "v%02d", i);
        vec_of(v, i);
        TU_OK(mk_rec(db, id, NULL));
        TU_OK(mnemo_vector_put(db, NULL, id, v, VD));
    }
    TU_OK(mnemo_close(db));
    if (with_log) { /* a change after the snapshot left in the log: a child commits and dies */
        pid_t pid = fork();
        if (pid == 0) {
            mnemo_options o = MNEMO_OPTIONS_INIT;
            float v[VD] = {9, 9, 9, 9};
            if (mnemo_open(&db, tu_path(name), &o) || mnemo_vector_put(db, NULL, "v00", v, VD))
                _exit(1);
            vec_of(v, 0);
            _exit(mnemo_vector_put(db, NULL, "v00", v, VD) ? 1 : 0); /* no close: no snapshot */
        }
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* Opens, checks every vector is back exactly and the index agrees; returns the rebuild count. */
static uint64_t reopen_and_verify(const char *name)
{
    mnemo_db *db = open_vec(name, 0);
    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&st, db));
    uint64_t n = 0;
    TU_OK(mnemo_vector_check(db, &n));
    cr_assert_eq(n, 40);
    for (int i = 0; i < 40; i++) {
        char id[16];
        float v[VD], *got = NULL;
        snprintf(id, sizeof id, "v%02d", i);
        vec_of(v, i);
        TU_OK(mnemo_vector_get(&got, NULL, db, NULL, id));
        cr_assert(!memcmp(got, v, sizeof v), "%s differs", id);
        mnemo_free(got);
        mnemo_vector_hits *h;
        mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
        o.exact = 1;
        TU_OK(mnemo_vector_search(&h, db, NULL, v, VD, 1, &o));
        cr_assert(h->count == 1 && !strcmp(h->hits[0].id, id) && h->hits[0].distance == 0.0f);
        mnemo_vector_hits_free(h);
    }
    TU_OK(mnemo_close(db));
    return st.rebuilds;
}

/* The first key of vector_index with this tag (and its length). */
static char *first_key(unsigned char tag, size_t *kl, const char *name)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1; /* a read-write handle would replay the log and fold it into a snapshot */
    mnemo_db *db = NULL;
    TU_OK(mnemo_open(&db, tu_path(name), &o));
    mnemo_cursor *c;
    unsigned char lo = tag, hi = (unsigned char)(tag + 1);
    TU_OK(mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, &lo, 1, &hi, 1));
    mnemo_cursor__first(c);
    char *k = NULL;
    if (mnemo_cursor__valid(c)) {
        const unsigned char *p = mnemo_cursor__key(c, kl);
        k = malloc(*kl);
        memcpy(k, p, *kl);
    }
    mnemo_cursor__close(c);
    TU_OK(mnemo_close(db));
    return k;
}

TU_TEST(reliability, damaged_vector_index_keys_are_rebuilt_never_trusted)
{
    TU_NEEDS_DISK("damages stored keys and reopens");
    enum { HEADER, CHUNK, CHUNK_TRUNCATED, CHUNK_DELETED, HEADER_COUNT, LOG, CASES };
    static const char *const names[CASES] = {"header byte", "chunk byte", "truncated chunk", "deleted chunk",
                                             "header element count", "log entry byte"};
    for (int c = 0; c < CASES; c++) {
        char name[32];
        snprintf(name, sizeof name, "vidx%d", c);
        make_vec_db(name, c == LOG);
        size_t kl = 0;
        char *k = first_key(c == LOG ? 'L' : c == HEADER || c == HEADER_COUNT ? 'H' : 'S', &kl, name);
        cr_assert_not_null(k, "%s: no key to damage", names[c]);
        tu_raw raw;
        tu_raw_open(&raw, tu_path(name));
        size_t n;
        char *v = tu_raw_get(&raw, MNEMO_CF_VECTOR_INDEX, k, kl, &n);
        cr_assert_not_null(v);
        if (c == HEADER || c == CHUNK || c == LOG) {
            v[n / 2] ^= 0x10;
            tu_raw_put(&raw, MNEMO_CF_VECTOR_INDEX, k, kl, v, n);
        } else if (c == CHUNK_TRUNCATED) {
            tu_raw_put(&raw, MNEMO_CF_VECTOR_INDEX, k, kl, v, n - 7);
        } else if (c == CHUNK_DELETED) {
            tu_raw_put(&raw, MNEMO_CF_VECTOR_INDEX, k, kl, "", 0); /* an empty chunk */
        } else { /* live count + 1, header crc made right again: the counts must still disagree */
            mnemo__put_be64((unsigned char *)v + 1 + 24, mnemo__get_be64((unsigned char *)v + 1 + 24) + 1);
            mnemo__put_be32((unsigned char *)v + n - 4, mnemo__crc32c(0, v, n - 4));
            tu_raw_put(&raw, MNEMO_CF_VECTOR_INDEX, k, kl, v, n);
        }
        free(v);
        free(k);
        tu_raw_close(&raw);
        cr_assert_eq(reopen_and_verify(name), 1, "%s: no rebuild", names[c]);
        cr_assert_eq(reopen_and_verify(name), 0, "%s: the rebuilt snapshot was not saved", names[c]);
    }
}

/* Makes the vector database `name`, flips a bit of the first component of v07's vector_data value
 * and, when and_header, a bit of the snapshot header (so the open rebuilds from the damaged data);
 * returns v07's internal id. */
static uint64_t damage_v07(const char *name, int and_header)
{
    make_vec_db(name, 0);
    mnemo_db *db = open_vec(name, 0);
    uint64_t iid = iid_of(db, "v07");
    TU_OK(mnemo_close(db));
    unsigned char key[8];
    mnemo__put_be64(key, iid);
    tu_raw raw;
    tu_raw_open(&raw, tu_path(name));
    flip(&raw, MNEMO_CF_VECTOR_DATA, key, 8, 9, 0x01);
    if (and_header)
        flip(&raw, MNEMO_CF_VECTOR_INDEX, "H", 1, 3, 0x01);
    tu_raw_close(&raw);
    return iid;
}

TU_TEST(reliability, damaged_vector_data_is_ecorrupt_for_that_vector_only)
{
    damage_v07("vdata", 0);
    mnemo_db *db = open_vec("vdata", 0);
    float *got = NULL;
    TU_RC(mnemo_vector_get(&got, NULL, db, NULL, "v07"), MNEMO_ECORRUPT);
    cr_assert_null(got);
    TU_RC(mnemo_vector_check(db, NULL), MNEMO_ECORRUPT);
    float v[VD], *ok = NULL;
    vec_of(v, 8);
    TU_OK(mnemo_vector_get(&ok, NULL, db, NULL, "v08"));
    cr_assert(!memcmp(ok, v, sizeof v));
    mnemo_free(ok);
    TU_OK(mnemo_close(db));
}

/* Regression (fuzz_snapshot): hnswlib bytes that passed the structural check but were unsafe. */
TU_TEST(reliability, hnsw_load_refuses_unsafe_structures)
{
    mnemo_hnsw *h;
    TU_OK(mnemo_hnsw__create(&h, MNEMO_HNSW_L2, VD, 8, 4, 50, 1));
    char *empty;
    size_t el;
    TU_OK(mnemo_hnsw__save(h, &empty, &el));
    for (int i = 0; i < 3; i++) {
        float v[VD];
        vec_of(v, i);
        TU_OK(mnemo_hnsw__add(h, v, (uint64_t)i + 1));
    }
    char *full;
    size_t fl;
    TU_OK(mnemo_hnsw__save(h, &full, &fl));
    mnemo_hnsw__free(h);
    mnemo_hnsw *got = NULL;
    /* an empty index naming an entry point on level 3: an add would read element 5 */
    int maxlevel = 3;
    unsigned ep = 5;
    memcpy(empty + 48, &maxlevel, 4);
    memcpy(empty + 52, &ep, 4);
    TU_RC(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, VD, 4, empty, el), MNEMO_ECORRUPT);
    /* a huge saved capacity is not allocated: the index holds room for its elements */
    size_t cap = (size_t)1 << 40;
    memcpy(full + 8, &cap, 8);
    TU_OK(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, VD, 4, full, fl));
    cr_assert_eq(mnemo_hnsw__capacity(got), 3);
    mnemo_hnsw__free(got);
    /* two elements with one label */
    size_t per_el, label_off, data_off;
    memcpy(&per_el, full + 24, 8);
    memcpy(&label_off, full + 32, 8);
    memcpy(&data_off, full + 40, 8);
    size_t base = 8 * 6 + 4 + 4 + 8 * 3 + 8 + 8; /* header of hnswlib 0.6.2 */
    char *dup = malloc(fl);
    memcpy(dup, full, fl);
    memcpy(dup + base + per_el + label_off, dup + base + label_off, 8);
    TU_RC(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, VD, 4, dup, fl), MNEMO_ECORRUPT);
    /* a NaN component */
    memcpy(dup, full, fl);
    float nan = NAN;
    memcpy(dup + base + per_el + data_off, &nan, 4);
    TU_RC(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, VD, 4, dup, fl), MNEMO_ECORRUPT);
    /* a level multiplier that is negative, NaN or huge (the next insert sized its link block from
     * it: fuzz_snapshot's bad-level-multiplier), and an ef_construction of 0 */
    static const double mults[] = {-6.2, NAN, 1e300};
    for (size_t i = 0; i < 3; i++) {
        memcpy(dup, full, fl);
        memcpy(dup + 80, &mults[i], 8);
        TU_RC(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, VD, 4, dup, fl), MNEMO_ECORRUPT);
    }
    memcpy(dup, full, fl);
    memset(dup + 88, 0, 8);
    TU_RC(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, VD, 4, dup, fl), MNEMO_ECORRUPT);
    free(dup);
    mnemo__free(empty);
    mnemo__free(full);
}

/* ---- vectors under allocation failure: each failing call is ENOMEM (or fails cleanly), leaks
 * nothing, and the index still agrees with the data (a committed change the index could not take
 * makes it rebuild from vector_data) ---- */

#define N_ALLOC_VEC 1100 /* above the size below which every search is exact: HNSW is exercised */

static int run_vput(mnemo_db *db)
{
    float v[VD] = {0.5f, 1.5f, 2.5f, 3.5f};
    return mnemo_vector_put(db, NULL, "v0001", v, VD);
}
static int run_vbatch(mnemo_db *db)
{
    const char *ids[3] = {"v0002", "v0003", "v0004"};
    float v[3 * VD] = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};
    return mnemo_vector_put_batch(db, NULL, ids, v, 3, VD);
}
static int run_vdelete(mnemo_db *db) { return mnemo_vector_delete(db, NULL, "v0005"); }
static int search_with(mnemo_db *db, int exact, const char *filter)
{
    float q[VD] = {10, 10, 10, 10};
    mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    o.exact = exact;
    o.filter = filter;
    mnemo_vector_hits *h = NULL;
    int rc = mnemo_vector_search(&h, db, NULL, q, VD, 5, &o);
    if (!rc && h->count != 5)
        rc = MNEMO_ERROR;
    mnemo_vector_hits_free(h);
    return rc;
}
static int run_vsearch(mnemo_db *db) { return search_with(db, 0, NULL); }
static int run_vexact(mnemo_db *db) { return search_with(db, 1, NULL); }
static int run_vfiltered(mnemo_db *db) { return search_with(db, 0, "{\"even\": true}"); }

static const alloc_case vec_alloc_cases[] = {
    {"vector_put", run_vput},         {"vector_put_batch", run_vbatch}, {"vector_delete", run_vdelete},
    {"vector_search", run_vsearch},   {"vector_exact", run_vexact},     {"vector_filtered", run_vfiltered},
};

TU_TEST(reliability, vector_calls_under_failed_allocations_stay_consistent)
{
    mnemo_db *db = open_vec("valloc", 1);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    for (int i = 0; i < N_ALLOC_VEC; i++) {
        char id[16];
        float v[VD];
        snprintf(id, sizeof id, "v%04d", i);
        mnemo_record r = {0};
        r.id = id;
        r.metadata = i % 2 ? "{\"even\": false}" : "{\"even\": true}";
        TU_OK(mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT));
        vec_of(v, i);
        TU_OK(mnemo_vector_put(db, t, id, v, VD));
    }
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    TU_OK(mnemo_close(db));
    unsigned long failures = 0;
    for (size_t c = 0; c < sizeof vec_alloc_cases / sizeof *vec_alloc_cases; c++) {
        const alloc_case *ac = &vec_alloc_cases[c];
        db = open_vec("valloc", 0);
        int rc = MNEMO_ENOMEM;
        for (unsigned long n = 1; n < 5000; n++) {
            mnemo__alloc_fail_after(n);
            rc = ac->run(db);
            mnemo__alloc_fail_after(0);
            if (rc == 0)
                break;
            cr_assert(rc == MNEMO_ENOMEM || rc == MNEMO_ERROR, "%s, allocation %lu failed: %s (%s)", ac->name, n,
                      mnemo_strerror(rc), mnemo_errmsg());
            cr_assert(*mnemo_errmsg(), "%s: no message", ac->name);
            int crc = mnemo_vector_check(db, NULL);
            cr_assert_eq(crc, 0, "%s, allocation %lu failed: index and data disagree: %s", ac->name, n,
                         mnemo_errmsg());
            failures++;
        }
        cr_assert_eq(rc, 0, "%s never succeeded", ac->name);
        TU_OK(mnemo_vector_check(db, NULL));
        TU_OK(mnemo_close(db));
    }
    cr_assert_gt(failures, 10);
    /* open with a vector space: loading the snapshot */
    int rc = MNEMO_ENOMEM;
    for (unsigned long n = 1; n < 5000 && rc; n++) {
        mnemo_options o = MNEMO_OPTIONS_INIT;
        TU_NEEDS_DISK("reopens");
        mnemo__alloc_fail_after(n);
        rc = mnemo_open(&db, tu_path("valloc"), &o);
        mnemo__alloc_fail_after(0);
        cr_assert(rc == 0 || rc == MNEMO_ENOMEM || rc == MNEMO_ERROR, "open, allocation %lu failed: %s (%s)", n,
                  mnemo_strerror(rc), mnemo_errmsg());
    }
    cr_assert_eq(rc, 0);
    TU_OK(mnemo_vector_check(db, NULL));
    TU_OK(mnemo_close(db));
}

/* A commit succeeds in the store but applying it to the index runs out of memory: the index is
 * rebuilt from vector_data, so the commit is searchable anyway and index and data agree. Every
 * allocation of the put fails once in turn (on a shared engine the first after the commit may be
 * the catch-up's, which leaves the entry for the next search to replay): whatever failed, a put
 * that returned 0 is searchable and the index agrees with the data. */
TU_TEST(reliability, a_commit_the_index_cannot_apply_rebuilds_it_from_the_data)
{
    mnemo_db *db = open_vec("lag", 1);
    TU_OK(mk_rec(db, "a", NULL));
    float v[VD] = {1, 2, 3, 4};
    TU_OK(mnemo_vector_put(db, NULL, "a", v, VD));
    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&st, db));
    uint64_t before = st.rebuilds;
    int pending = 0;
    for (unsigned long n = 1; n < 5000 && !pending; n++) {
        v[0] = (float)(n + 1);
        mnemo__alloc_fail_after(n);
        int rc = mnemo_vector_put(db, NULL, "a", v, VD);
        pending = mnemo__alloc_fail_pending(); /* no allocation failed: every one has had its turn */
        mnemo__alloc_fail_after(0);
        cr_assert(rc == 0 || rc == MNEMO_ENOMEM, "put with allocation %lu failing: %s", n, mnemo_strerror(rc));
        if (rc != 0)
            continue;
        TU_OK(mnemo_vector_check(db, NULL));
        mnemo_vector_hits *h;
        TU_OK(mnemo_vector_search(&h, db, NULL, v, VD, 1, NULL));
        cr_assert(h->count == 1 && h->hits[0].distance == 0.0f, "allocation %lu: the committed vector is searchable",
                  n);
        mnemo_vector_hits_free(h);
    }
    cr_assert(pending, "the put still failed an allocation after 5000");
    TU_OK(mnemo_vector_stats_get(&st, db));
    cr_assert_gt(st.rebuilds, before, "no allocation failure hit the index update of a committed put");
    TU_OK(mnemo_close(db));
}

/* Child of damaged_log_entry_of_another_process...: commits record b with a vector through its
 * own handle, closes it, then flips a byte of the newest change-log entry through the engine
 * directly. Exit 0 when all of that worked. */
static int damage_newest_log_entry(const char *name)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_dim = VD;
    mnemo_db *db = NULL;
    float v[VD];
    vec_of(v, 7);
    if (tu_open_with(&db, name, &o) || mk_rec(db, "b", NULL) || mnemo_vector_put(db, NULL, "b", v, VD) ||
        mnemo_close(db)) {
        fprintf(stderr, "other process: %s\n", mnemo_errmsg());
        return 1;
    }
    const mnemo_store_ops *ops = mnemo_store__detect(tu_path(name));
    mnemo_store_config cfg = {tu_path(name), 0, 0, 0, {MNEMO_COMPRESSION_DEFAULT, 4u << 20, 8u << 20, 10, {0, 0, 0, 0}},
                              mnemo_keyspaces, MNEMO_CF_COUNT};
    mnemo_store *st;
    mnemo_store_cursor *c;
    if (!ops || ops->open(&st, &cfg) || ops->cursor_open(&c, st, NULL, MNEMO_CF_VECTOR_INDEX, "L", 1, "M", 1))
        return 2;
    ops->cursor_last(c);
    int rc = 3;
    if (ops->cursor_valid(c)) {
        size_t kl, vl;
        const void *k = ops->cursor_key(c, &kl), *val = ops->cursor_value(c, &vl);
        unsigned char key[16], bad[256];
        if (kl == 9 && vl <= sizeof bad) {
            memcpy(key, k, kl);
            memcpy(bad, val, vl);
            bad[vl / 2] ^= 0x10;
            mnemo_store_write w = {MNEMO_CF_VECTOR_INDEX, 0, key, kl, bad, vl};
            ops->cursor_close(c);
            c = NULL;
            rc = ops->write_batch(st, &w, 1, NULL) ? 4 : 0;
        }
    }
    if (c)
        ops->cursor_close(c);
    return ops->close(st) ? 5 : rc;
}

/* Several processes on lmdb: a change-log entry another process wrote is damaged before this one
 * catches up. The log is the index's bookkeeping, as the snapshot is: this process rebuilds its
 * index from vector_data and answers, instead of failing every search from then on. */
TU_TEST(reliability, damaged_log_entry_of_another_process_is_rebuilt_from_the_data)
{
    if (strcmp(tu_engine(), "lmdb") != 0)
        cr_skip_test("several processes share a database on lmdb only");
    mnemo_db *db = open_vec("shared_log", 1);
    float v[VD];
    vec_of(v, 3);
    TU_OK(mk_rec(db, "a", NULL));
    TU_OK(mnemo_vector_put(db, NULL, "a", v, VD));
    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&st, db));
    uint64_t before = st.rebuilds;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        _exit(damage_newest_log_entry("shared_log"));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the other process: exit %d", WEXITSTATUS(status));
    vec_of(v, 7);
    mnemo_vector_hits *h;
    TU_OK(mnemo_vector_search(&h, db, NULL, v, VD, 1, NULL));
    cr_assert(h->count == 1 && strcmp(h->hits[0].id, "b") == 0 && h->hits[0].distance == 0.0f,
              "the other process's vector is found");
    mnemo_vector_hits_free(h);
    TU_OK(mnemo_vector_stats_get(&st, db));
    cr_assert_gt(st.rebuilds, before, "the damaged entry was not met (no rebuild)");
    TU_OK(mnemo_vector_check(db, NULL));
    TU_OK(mnemo_close(db));
}

/* ---- issue 17 items 2 and 12: vector_index is a cache; no damage to it, and no damage to
 * vector_data, makes a database unopenable ---- */

#define N_BIG 3000

/* A fresh random-looking but reproducible vector. */
static void big_vec(float *v, int i)
{
    uint32_t x = (uint32_t)i * 2654435761u + 12345u;
    for (int d = 0; d < VD; d++) {
        x = x * 1103515245u + 12345u;
        v[d] = (float)(x >> 8) / (float)(1u << 24);
    }
}

/* N_BIG records with vectors, uncompressed (so tests find stored bytes in the files), closed
 * (snapshot saved) and compacted, so each keyspace sits in its own file. */
static void make_big_vec_db(const char *name)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = VD;
    o.storage.compression = MNEMO_COMPRESSION_NONE;
    mnemo_db *db = NULL;
    TU_OK(mnemo_open(&db, tu_path(name), &o));
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    for (int i = 0; i < N_BIG; i++) {
        char id[16];
        float v[VD];
        snprintf(id, sizeof id, "b%04d", i);
        big_vec(v, i);
        mnemo_record r = {0};
        r.id = id;
        TU_OK(mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT));
        TU_OK(mnemo_vector_put(db, t, id, v, VD));
    }
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    TU_OK(mnemo_close(db));
    TU_OK(mnemo_open(&db, tu_path(name), &o)); /* uncompressed: compact rewrites every file */
    TU_OK(mnemo_compact(db));
    TU_OK(mnemo_close(db));
}

/* Position of needle in hay + 1, or 0. */
static size_t find_bytes(const char *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m))
            return i + 1;
    return 0;
}

/* Flips a byte of the one .sst file of the database holding `needle`: in the middle of the file,
 * or in the needle itself when at_needle. Returns that file's size. */
static size_t flip_in_sst(const char *name, const void *needle, size_t m, int at_needle)
{
    char cmd[512], path[600];
    snprintf(cmd, sizeof cmd, "ls %s/*.sst", tu_path(name));
    FILE *ls = popen(cmd, "r");
    cr_assert_not_null(ls);
    size_t found = 0, size = 0;
    while (fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = 0;
        FILE *f = fopen(path, "r+b");
        cr_assert_not_null(f, "%s", path);
        fseek(f, 0, SEEK_END);
        size_t n = (size_t)ftell(f);
        char *b = malloc(n);
        fseek(f, 0, SEEK_SET);
        cr_assert_eq(fread(b, 1, n, f), n);
        size_t at = find_bytes(b, n, needle, m);
        if (at) {
            found++;
            size = n;
            b[at_needle ? at - 1 + m / 2 : n / 2] ^= 0x10;
            fseek(f, 0, SEEK_SET);
            cr_assert_eq(fwrite(b, 1, n, f), n);
        }
        free(b);
        fclose(f);
    }
    pclose(ls);
    cr_assert_eq(found, 1, "%zu files hold the bytes to damage", found);
    return size;
}

/* The exact and the HNSW answers agree (recall of the top 10 over 20 queries). */
static void search_agrees_with_exact(mnemo_db *db)
{
    size_t same = 0, total = 0;
    for (int q = 0; q < 20; q++) {
        float v[VD];
        big_vec(v, 100000 + q);
        mnemo_vector_hits *h, *e;
        mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
        TU_OK(mnemo_vector_search(&h, db, NULL, v, VD, 10, &o));
        o.exact = 1;
        TU_OK(mnemo_vector_search(&e, db, NULL, v, VD, 10, &o));
        cr_assert_eq(h->count, 10);
        cr_assert_eq(e->count, 10);
        for (size_t i = 0; i < e->count; i++) {
            total++;
            for (size_t j = 0; j < h->count; j++)
                same += !strcmp(e->hits[i].id, h->hits[j].id);
        }
        mnemo_vector_hits_free(h);
        mnemo_vector_hits_free(e);
    }
    cr_assert_geq(same * 100, total * 95, "recall %zu/%zu", same, total);
}

/* Every record and vector reads back; the index agrees with the data; returns the rebuilds. */
static uint64_t verify_big(mnemo_db *db)
{
    for (int i = 0; i < N_BIG; i += 7) {
        char id[16];
        float v[VD], *got = NULL;
        snprintf(id, sizeof id, "b%04d", i);
        big_vec(v, i);
        mnemo_record *r;
        TU_OK(mnemo_record_get(&r, db, NULL, id));
        mnemo_record_free(r);
        TU_OK(mnemo_vector_get(&got, NULL, db, NULL, id));
        cr_assert(!memcmp(got, v, sizeof v), "%s differs", id);
        mnemo_free(got);
    }
    uint64_t n = 0;
    TU_OK(mnemo_vector_check(db, &n));
    cr_assert_eq(n, N_BIG);
    search_agrees_with_exact(db);
    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&st, db));
    return st.rebuilds;
}

/* The header key's generation names the first chunk's key, which lives only in vector_index. */
static void first_chunk_key(unsigned char key[13], const char *name)
{
    tu_raw raw;
    tu_raw_open(&raw, tu_path(name));
    size_t n;
    char *h = tu_raw_get(&raw, CF_VINDEX, "H", 1, &n);
    cr_assert_not_null(h, "no snapshot header");
    key[0] = 'S';
    memcpy(key + 1, h + 1, 8); /* generation */
    memset(key + 9, 0, 4);
    free(h);
    tu_raw_close(&raw);
}

TU_TEST(reliability, a_flipped_byte_in_the_vector_index_file_is_rebuilt_from_vector_data)
{
    make_big_vec_db("vfile");
    unsigned char key[13];
    first_chunk_key(key, "vfile");
    size_t size = flip_in_sst("vfile", key, sizeof key, 0);
    cr_assert_gt(size, (size_t)N_BIG * 100, "the snapshot should dominate its file (%zu bytes)", size);
    /* a read-only open and a read-write open (which saves a new snapshot), twice */
    for (int round = 0; round < 3; round++) {
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.read_only = round == 0;
        mnemo_db *db = NULL;
        TU_OK(mnemo_open(&db, tu_path("vfile"), &o));
        uint64_t rebuilds = verify_big(db);
        cr_assert_eq(rebuilds, round < 2 ? 1 : 0, "round %d: %llu rebuilds", round, (unsigned long long)rebuilds);
        if (round == 1) { /* new changes go on after the rebuild and survive a reopen */
            float v[VD] = {0.5f, 0.5f, 0.5f, 0.5f};
            TU_OK(mnemo_vector_put(db, NULL, "b0001", v, VD));
            TU_OK(mnemo_vector_delete(db, NULL, "b0001"));
            big_vec(v, 1);
            TU_OK(mnemo_vector_put(db, NULL, "b0001", v, VD));
        }
        (void)mnemo_close(db); /* see docs/reliability.md: RocksDB may still meet the damaged block */
    }
}

TU_TEST(reliability, a_flipped_byte_in_the_vector_data_file_leaves_the_rest_working)
{
    make_big_vec_db("dfile");
    /* the bytes of one stored vector value: floats, id length, id (only vector_data has them) */
    unsigned char needle[VD * 4 + 2 + 5];
    float v[VD];
    big_vec(v, 1500);
    memcpy(needle, v, sizeof v);
    needle[VD * 4] = 0;
    needle[VD * 4 + 1] = 5;
    memcpy(needle + VD * 4 + 2, "b1500", 5);
    unsigned char key[13];
    first_chunk_key(key, "dfile");
    flip_in_sst("dfile", needle, sizeof needle, 1);
    flip_in_sst("dfile", key, sizeof key, 0); /* and the snapshot: the index must be rebuilt */
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *db = NULL;
    TU_OK(mnemo_open(&db, tu_path("dfile"), &o));
    mnemo_record *r;
    for (int i = 0; i < N_BIG; i += 97) {
        char id[16];
        snprintf(id, sizeof id, "b%04d", i);
        TU_OK(mnemo_record_get(&r, db, NULL, id));
        mnemo_record_free(r);
    }
    TU_RC(mnemo_vector_check(db, NULL), MNEMO_ECORRUPT);
    mnemo_vector_hits *h = NULL;
    TU_RC(mnemo_vector_search(&h, db, NULL, v, VD, 5, NULL), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "vector_data after key"), "%s", mnemo_errmsg());
    cr_assert_null(h);
    float *got = NULL;
    TU_RC(mnemo_vector_get(&got, NULL, db, NULL, "b1500"), MNEMO_ECORRUPT);
    TU_OK(mnemo_vector_get(&got, NULL, db, NULL, "b0000")); /* outside the damaged block */
    mnemo_free(got);
    (void)mnemo_close(db);
}

TU_TEST(reliability, a_damaged_vector_is_named_by_searches_until_it_is_put_again)
{
    uint64_t iid = damage_v07("vnamed", 1);
    mnemo_db *db = open_vec("vnamed", 0);
    float v[VD];
    vec_of(v, 7);
    mnemo_vector_hits *h = NULL;
    TU_RC(mnemo_vector_search(&h, db, NULL, v, VD, 3, NULL), MNEMO_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "internal id %llu", (unsigned long long)iid);
    cr_assert(strstr(mnemo_errmsg(), want), "%s", mnemo_errmsg());
    TU_OK(mnemo_close(db)); /* no snapshot while damaged: the next open finds it again */
    db = open_vec("vnamed", 0);
    TU_RC(mnemo_vector_search(&h, db, NULL, v, VD, 3, NULL), MNEMO_ECORRUPT);
    TU_OK(mnemo_vector_put(db, NULL, "v07", v, VD));
    TU_OK(mnemo_vector_search(&h, db, NULL, v, VD, 3, NULL));
    cr_assert(h->count == 3 && !strcmp(h->hits[0].id, "v07"));
    mnemo_vector_hits_free(h);
    TU_OK(mnemo_vector_check(db, NULL));
    TU_OK(mnemo_close(db));
}

/* In a child whose files may not grow past `limit` bytes (SIGXFSZ ignored: writes get EFBIG):
 * the open works, searches agree with exact, and nothing the child wrote is a bad snapshot. */
static void open_under_fsize_limit(const char *name, rlim_t limit)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_FSIZE, &rl))
            _exit(2);
        /* a save writes into memory (no file, no limit); a load through a memfd past the limit is
         * an error, never an index from short bytes */
        mnemo_hnsw *hn, *back = NULL;
        char *bytes = NULL;
        size_t len;
        if (mnemo_hnsw__create(&hn, MNEMO_HNSW_L2, VD, N_BIG, 16, 50, 1))
            _exit(3);
        for (int i = 0; i < N_BIG; i++) {
            float v[VD];
            big_vec(v, i);
            if (mnemo_hnsw__add(hn, v, (uint64_t)i + 1))
                _exit(3);
        }
        if (mnemo_hnsw__save(hn, &bytes, &len) || len < (size_t)limit || mnemo_hnsw__load(&back, MNEMO_HNSW_L2, VD, 16, bytes, len) == 0)
            _exit(4);
        mnemo__free(bytes);
        mnemo_hnsw__free(hn);
        mnemo_options o = MNEMO_OPTIONS_INIT;
        mnemo_db *db = NULL;
        if (mnemo_open(&db, tu_path(name), &o)) {
            fprintf(stderr, "open: %s\n", mnemo_errmsg());
            _exit(5);
        }
        mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
        uint64_t n = 0;
        if (mnemo_vector_stats_get(&st, db) || st.rebuilds != 1 || mnemo_vector_check(db, &n) || n != N_BIG)
            _exit(6);
        search_agrees_with_exact(db);
        (void)mnemo_close(db); /* its snapshot fails too: best effort */
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
    mnemo_db *db = reopen(name);
    cr_assert_leq(verify_big(db), 1);
    TU_OK(mnemo_close(db));
}

TU_TEST(reliability, a_snapshot_above_the_file_size_limit_is_rebuilt_and_the_open_works)
{
    make_big_vec_db("fsize");
    open_under_fsize_limit("fsize", 128 << 10); /* the snapshot is ~470 KB */
    /* after a rebuild forced by a damaged header, the snapshot write fails: the open still works */
    make_big_vec_db("fsize2");
    tu_raw raw;
    tu_raw_open(&raw, tu_path("fsize2"));
    flip(&raw, CF_VINDEX, "H", 1, 3, 0x01);
    tu_raw_close(&raw);
    open_under_fsize_limit("fsize2", 128 << 10);
}
