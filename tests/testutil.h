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
/* The engine the tests run on: $MNEMO_TEST_ENGINE, default "rocksdb" (meson test setups
 * `--setup lmdb` / `--setup memory` set it). */
const char *tu_engine(void);
/* 1 when the engine keeps data across close (every engine but memory). */
int tu_persistent(void);
/* What a test that reopens, damages files or looks at them needs: skipped on the memory engine. */
#define TU_NEEDS_DISK(why)                                                                                  \
    do {                                                                                                    \
        if (!tu_persistent()) {                                                                             \
            tu_cleanup();                                                                                   \
            cr_skip_test("needs a database on disk (%s); engine %s", why, tu_engine());                     \
        }                                                                                                   \
    } while (0)
/* Sets o->engine to the test engine (NULL for memory: the path says it). */
void tu_engine_options(mnemo_options *o);
/* Where database `name` lives: tu_path(name), or ":memory:" on the memory engine. */
const char *tu_db_path(const char *name);
/* mnemo_open of database `name` with *o (engine set as above); returns mnemo_open's code. */
int tu_open_with(mnemo_db **db, const char *name, mnemo_options *o);
/* Open (creating) a database `name` with default options on the test engine; asserts success. */
mnemo_db *tu_open(const char *name);
/* The collection the suites run on: $MNEMO_TEST_COLLECTION (meson test setup `collection`), or NULL
 * for the default collection. With one, tu_open gives that collection's handle (created with the
 * vector space of the options) and mnemo_close below closes its database. */
const char *tu_collection(void);
int tu_close(mnemo_db *db);
/* mnemo_open of an existing database `name` with *o (NULL: defaults), as tu_open_with. */
int tu_reopen(mnemo_db **db, const char *name, const mnemo_options *o);
/* For a test of what only the default collection has (the raw layout of its keys, options of
 * mnemo_open itself): skipped when the suites run on a collection. */
#define TU_DEFAULT_COLLECTION_ONLY(why)                                                                     \
    do {                                                                                                    \
        if (tu_collection()) {                                                                              \
            tu_cleanup();                                                                                   \
            cr_skip_test("looks at the default collection only (%s)", why);                                 \
        }                                                                                                   \
    } while (0)
#define mnemo_close(db) tu_close(db)

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

/* The closed database at path opened through the store interface of its engine (no mnemo layer
 * above it), every keyspace (numbers: store/keyspace.h, e.g. 1 = records, 6 = metadata), so tests
 * can damage stored values the way a disk would, on every engine that keeps files. */
typedef struct tu_raw {
    const struct mnemo_store_ops *ops;
    struct mnemo_store *s;
} tu_raw;
void tu_raw_open(tu_raw *r, const char *path);
void tu_raw_put(tu_raw *r, int cf, const void *key, size_t klen, const void *val, size_t vlen);
/* Returns a malloc'd copy (free()) or NULL. */
char *tu_raw_get(tu_raw *r, int cf, const void *key, size_t klen, size_t *vlen);
void tu_raw_close(tu_raw *r);
/* Drops text_index, as a database of format 2 lacks it. */

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

/* One step of a neighbour iterator: mnemo_iter_next, then mnemo_iter_neighbor. */
static inline int tu_next_neighbor(mnemo_iter *it, const mnemo_graph_neighbor **n)
{
    int rc = mnemo_iter_next(it);
    return rc ? rc : mnemo_iter_neighbor(it, n);
}

/* Filled structs and canaries: a test puts TU_CANARY bytes after a struct the library fills and
 * checks that every one is still there afterwards (the library wrote only the caller's version). */
#define TU_CANARY 0xA5
/* A struct of `type` (member s) with canary bytes after it; fill sets every byte to TU_CANARY and
 * the struct's version to v. */
#define TU_CANARIED(type) struct { type s; unsigned char canary[32]; }
#define TU_CANARY_FILL(x, v) (memset(&(x), TU_CANARY, sizeof(x)), (x).s.version = (v))
void tu_check_canary(const unsigned char *canary, size_t n, const char *what);

#endif
