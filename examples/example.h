/* Shared by the example programs: stop with the engine's message when a call fails, and a
 * temporary database directory removed at the end. */
#ifndef MNEMO_EXAMPLE_H
#define MNEMO_EXAMPLE_H

#define _POSIX_C_SOURCE 200809L /* mkdtemp, nftw */
#include <mnemo/mnemo.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                        \
    do {                                                                                                   \
        int rc_ = (call);                                                                                  \
        if (rc_ < 0) {                                                                                     \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, mnemo_strerror(rc_), mnemo_errmsg());          \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

/* A result that is not what the example expects: exit 1. */
#define EXPECT(cond)                                                                                       \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "%s:%d: unexpected result: %s\n", __FILE__, __LINE__, #cond);                 \
            exit(1);                                                                                       \
        }                                                                                                  \
    } while (0)

static int example_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Remove a directory tree (the temporary database). */
static inline void example_rmtree(const char *dir) { nftw(dir, example_rm, 16, FTW_DEPTH | FTW_PHYS); }

/* Open (creating) the database in argv[k] when given, else in a new temporary directory made from
 * the template tmp ("/tmp/...-XXXXXX"), which example_close removes. */
static inline mnemo_db *example_open(int argc, char **argv, int k, char *tmp, mnemo_options *o)
{
    const char *dir = argc > k ? argv[k] : mkdtemp(tmp);
    if (!dir) {
        perror("mkdtemp");
        exit(1);
    }
    if (argc > k)
        tmp[0] = '\0'; /* nothing to remove */
    o->create_if_missing = 1;
    mnemo_db *db;
    CHECK(mnemo_open(&db, dir, o));
    return db;
}

/* Close the database, remove the temporary directory (if any) and say "ok". */
static inline int example_close(mnemo_db *db, const char *tmp)
{
    CHECK(mnemo_close(db));
    if (tmp[0])
        example_rmtree(tmp);
    printf("ok\n");
    return 0;
}

#endif
