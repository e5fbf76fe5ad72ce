#include "testutil.h"

#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define TU_HAVE_LSAN 1
#endif

static char tmpdir[256];
static char pathbuf[512];

const char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/mnemo-test-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
    return tmpdir;
}

const char *tu_path(const char *name)
{
    if (!tmpdir[0])
        tu_mkdtemp();
    snprintf(pathbuf, sizeof pathbuf, "%s/%s", tmpdir, name);
    return pathbuf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_leak_check(void)
{
#ifdef TU_HAVE_LSAN
    /* Criterion ends test processes without running LeakSanitizer (and ignores failures in
     * teardown), so TU_TEST asks it at the end of each test body. */
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the LeakSanitizer report above)");
#endif
}

void tu_cleanup(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}

const char *tu_engine(void)
{
    const char *e = getenv("MNEMO_TEST_ENGINE");
    return e && *e ? e : "rocksdb";
}

int tu_persistent(void) { return strcmp(tu_engine(), "memory") != 0; }

void tu_engine_options(mnemo_options *o) { o->engine = tu_persistent() ? tu_engine() : NULL; }

#ifdef MNEMO_HAVE_ETCD
#include "etcdtest.h"
static tu_etcd tu_cluster;
static void tu_cluster_stop(void) { tu_etcd_stop(&tu_cluster); }
#endif

const char *tu_db_path(const char *name)
{
#ifdef MNEMO_HAVE_ETCD
    if (!strcmp(tu_engine(), "etcd")) { /* a one-member cluster per test process; the prefix is unique */
        if (!tu_cluster.n) {
            cr_assert_eq(tu_etcd_start(&tu_cluster, 1), 0, "cannot start etcd (apt-get install etcd-server)");
            atexit(tu_cluster_stop);
        }
        static char buf[1024];
        snprintf(buf, sizeof buf, "%s", tu_etcd_path(&tu_cluster, tu_path(name)));
        return buf;
    }
#endif
    return tu_persistent() ? tu_path(name) : ":memory:";
}

const char *tu_collection(void)
{
    const char *c = getenv("MNEMO_TEST_COLLECTION");
    return c && *c ? c : NULL;
}

int tu_open_with(mnemo_db **db, const char *name, mnemo_options *o)
{
    tu_engine_options(o);
    const char *coll = tu_collection();
    if (!coll)
        return mnemo_open(db, tu_db_path(name), o);
    /* The suites on a collection: the database holds the vector space the test asks for in the
     * collection, and the test gets the collection's handle. */
    mnemo_options ro = *o;
    ro.vector_dim = 0;
    ro.vector_metric = MNEMO_METRIC_DEFAULT;
    ro.hnsw_m = ro.hnsw_ef_construction = ro.hnsw_ef_search = 0;
    mnemo_db *root;
    int rc = mnemo_open(&root, tu_db_path(name), &ro);
    if (rc)
        return rc;
    rc = mnemo_collection_open(db, root, coll);
    if (rc == MNEMO_ENOTFOUND && !o->read_only) {
        mnemo_collection_options co = {MNEMO_COLLECTION_OPTIONS_VERSION, o->vector_dim, o->vector_metric, o->hnsw_m,
                                       o->hnsw_ef_construction, o->hnsw_ef_search};
        rc = mnemo_collection_create(db, root, coll, &co);
    } else if (rc == 0 && o->vector_dim) {
        /* what mnemo_open checks for the default collection, checked against the collection */
        mnemo_vector_space sp = {MNEMO_VECTOR_SPACE_VERSION, 0, 0, 0, 0, 0};
        int src = mnemo_vector_space_get(&sp, *db);
        if (src == 0 && sp.dim != o->vector_dim)
            rc = MNEMO_EINVAL;
    }
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
        (void)mnemo_close(root);
        return mnemo__err(rc, "%s", msg);
    }
    return 0;
}

int tu_reopen(mnemo_db **db, const char *name, const mnemo_options *o)
{
    mnemo_options copy = MNEMO_OPTIONS_INIT;
    if (o)
        copy = *o;
    return tu_open_with(db, name, &copy);
}

#undef mnemo_close
int tu_close(mnemo_db *db)
{
    mnemo_db *root;
    if (db && tu_collection() && mnemo_collection_open(&root, db, "default") == 0)
        return mnemo_close(root);
    return mnemo_close(db);
}

mnemo_db *tu_open(const char *name)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db = NULL;
    TU_OK(tu_open_with(&db, name, &o));
    return db;
}

void tu_raw_open(tu_raw *r, const char *path)
{
    TU_NEEDS_DISK("damages stored values");
    TU_DEFAULT_COLLECTION_ONLY("reads or damages stored keys by their layout");
#ifdef MNEMO_HAVE_ETCD
    char epath[1024];
    if (!strcmp(tu_engine(), "etcd") && strncmp(path, "etcd://", 7) && tu_cluster.n) {
        /* tests name a database by tu_path(name); on etcd that path is its prefix (tu_db_path) */
        snprintf(epath, sizeof epath, "%s", tu_etcd_path(&tu_cluster, path));
        path = epath;
    }
#endif
    r->ops = mnemo_store__detect(path);
    cr_assert_not_null(r->ops, "raw open of %s: no engine recognises it", path);
    mnemo_store_config cfg = {path, 0, 0, 0, {MNEMO_COMPRESSION_DEFAULT, 4u << 20, 8u << 20, 10, {0, 0, 0, 0}},
                              mnemo_keyspaces, MNEMO_CF_COUNT};
    TU_OK(r->ops->open(&r->s, &cfg));
}

void tu_raw_put(tu_raw *r, int cf, const void *key, size_t klen, const void *val, size_t vlen)
{
    mnemo_store_write w = {(unsigned)cf, 0, key, klen, val, vlen};
    TU_OK(r->ops->write_batch(r->s, &w, 1, NULL));
}

char *tu_raw_get(tu_raw *r, int cf, const void *key, size_t klen, size_t *vlen)
{
    mnemo_store_value v;
    int rc = r->ops->get(r->s, NULL, (unsigned)cf, key, klen, 0, &v);
    if (rc == MNEMO_ENOTFOUND)
        return NULL;
    TU_OK(rc);
    char *copy = malloc(v.len ? v.len : 1);
    memcpy(copy, v.data, v.len);
    *vlen = v.len;
    r->ops->release_value(r->s, &v);
    return copy;
}

void tu_raw_close(tu_raw *r) { TU_OK(r->ops->close(r->s)); }

int64_t tu_now;

static int64_t tu_clock(void) { return tu_now; }

void tu_fake_clock_start(void)
{
    tu_now = 1700000000000;
    mnemo__clock_override(tu_clock);
}

void tu_fake_clock_stop(void) { mnemo__clock_override(NULL); }

void tu_check_canary(const unsigned char *canary, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(canary[i], TU_CANARY, "byte %zu after %s was written", i, what);
}
