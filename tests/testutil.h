/* Shared helpers for the test suites: each test gets its own temporary directory. */
#ifndef MNEMO_TESTUTIL_H
#define MNEMO_TESTUTIL_H

#include <criterion/criterion.h>
#include <mnemo/mnemo.h>

/* Creates a fresh temporary directory; returns its path (static per process). */
const char *tu_mkdtemp(void);
/* Path of a not-yet-existing database directory inside the test's temporary directory. */
const char *tu_path(const char *name);
/* Fails the test if LeakSanitizer finds a leak; no-op without ASan. */
void tu_leak_check(void);
/* rm -rf of the directory created by tu_mkdtemp (safe to call twice). */
void tu_cleanup(void);
/* Open (creating) a database at tu_path(name) with default options; asserts success. */
mnemo_db *tu_open(const char *name);

#define TU_OK(call)                                                                                         \
    do {                                                                                                    \
        int tu_rc_ = (call);                                                                                \
        cr_assert_eq(tu_rc_, 0, "%s -> %s: %s", #call, mnemo_strerror(tu_rc_), mnemo_errmsg());            \
    } while (0)

#define TU_RC(call, expected)                                                                               \
    do {                                                                                                    \
        int tu_rc_ = (call);                                                                                \
        cr_assert_eq(tu_rc_, (expected), "%s -> %s (%s), expected %s", #call, mnemo_strerror(tu_rc_),        \
                     mnemo_errmsg(), mnemo_strerror(expected));                                             \
    } while (0)

/* The database at path opened with the RocksDB C API directly, every column family it has (in
 * mnemo's order: default, records, graph_forward, graph_backward, vector_data, vector_index,
 * metadata, text_index; a format-2 database lacks the last), so tests can damage stored values
 * the way a disk would. */
#define TU_RAW_CFS 8
typedef struct tu_raw {
    struct rocksdb_t *db;
    struct rocksdb_options_t *opts;
    struct rocksdb_column_family_handle_t *cf[TU_RAW_CFS];
    int n; /* families open */
} tu_raw;
void tu_raw_open(tu_raw *r, const char *path);
void tu_raw_put(tu_raw *r, int cf, const void *key, size_t klen, const void *val, size_t vlen);
/* Returns a malloc'd copy (free()) or NULL. */
char *tu_raw_get(tu_raw *r, int cf, const void *key, size_t klen, size_t *vlen);
void tu_raw_close(tu_raw *r);
/* Drops text_index, as a database of format 2 lacks it. */
void tu_raw_drop_text_index(tu_raw *r);

/* Tests that step time: tu_now is the clock mnemo reads while tu_fake_clock_start is in force. */
extern int64_t tu_now;
void tu_fake_clock_start(void); /* tu_now = 1700000000000 (ms), mnemo reads it */
void tu_fake_clock_stop(void);

/* A Criterion test whose body is followed by cleanup and a leak check that can fail it. */
#define TU_TEST(suite, name)                                                                                \
    static void tu_body_##suite##_##name(void);                                                             \
    Test(suite, name)                                                                                       \
    {                                                                                                       \
        tu_body_##suite##_##name();                                                                         \
        tu_cleanup();                                                                                       \
        tu_leak_check();                                                                                    \
    }                                                                                                       \
    static void tu_body_##suite##_##name(void)

#endif
