#include "testutil.h"

#include "core/clock.h"

#include <rocksdb/c.h>

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

mnemo_db *tu_open(const char *name)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db = NULL;
    TU_OK(mnemo_open(&db, tu_path(name), &o));
    return db;
}

void tu_raw_open(tu_raw *r, const char *path)
{
    static const char *names[TU_RAW_CFS] = {"default", "records", "graph_forward", "graph_backward",
                                            "vector_data", "vector_index", "metadata", "text_index"};
    const rocksdb_options_t *cfo[TU_RAW_CFS];
    r->opts = rocksdb_options_create();
    for (int i = 0; i < TU_RAW_CFS; i++)
        cfo[i] = r->opts;
    /* A format-2 database has no text_index: open the families that exist (RocksDB wants all). */
    char *err = NULL;
    size_t n = 0;
    char **present = rocksdb_list_column_families(r->opts, path, &n, &err);
    cr_assert_null(err, "raw list of %s: %s", path, err);
    r->n = n < TU_RAW_CFS ? (int)n : TU_RAW_CFS;
    rocksdb_list_column_families_destroy(present, n);
    memset(r->cf, 0, sizeof r->cf);
    r->db = rocksdb_open_column_families(r->opts, path, r->n, names, cfo, r->cf, &err);
    cr_assert_null(err, "raw open of %s: %s", path, err);
}

void tu_raw_drop_text_index(tu_raw *r)
{
    char *err = NULL;
    cr_assert_eq(r->n, TU_RAW_CFS);
    rocksdb_drop_column_family(r->db, r->cf[TU_RAW_CFS - 1], &err);
    cr_assert_null(err, "raw drop: %s", err);
}

void tu_raw_put(tu_raw *r, int cf, const void *key, size_t klen, const void *val, size_t vlen)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_put_cf(r->db, wo, r->cf[cf], key, klen, val, vlen, &err);
    rocksdb_writeoptions_destroy(wo);
    cr_assert_null(err, "raw put: %s", err);
}

char *tu_raw_get(tu_raw *r, int cf, const void *key, size_t klen, size_t *vlen)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *err = NULL;
    char *v = rocksdb_get_cf(r->db, ro, r->cf[cf], key, klen, vlen, &err);
    rocksdb_readoptions_destroy(ro);
    cr_assert_null(err, "raw get: %s", err);
    if (!v)
        return NULL;
    char *copy = malloc(*vlen ? *vlen : 1);
    memcpy(copy, v, *vlen);
    rocksdb_free(v);
    return copy;
}

void tu_raw_close(tu_raw *r)
{
    for (int i = 0; i < r->n; i++)
        rocksdb_column_family_handle_destroy(r->cf[i]);
    rocksdb_close(r->db);
    rocksdb_options_destroy(r->opts);
}

int64_t tu_now;

static int64_t tu_clock(void) { return tu_now; }

void tu_fake_clock_start(void)
{
    tu_now = 1700000000000;
    mnemo__clock_override(tu_clock);
}

void tu_fake_clock_stop(void) { mnemo__clock_override(NULL); }
