/* Shared by the fuzz targets that need a database: a scratch directory (on /dev/shm when there is
 * one, so an input costs no disk I/O) and checks that turn a broken invariant into a crash. */
#ifndef MNEMO_FUZZ_COMMON_H
#define MNEMO_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

static char fz_dir[256];

static void fz_rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

static void fz_cleanup(void)
{
    if (fz_dir[0])
        fz_rm_rf(fz_dir);
}

/* Creates the scratch directory once per process; returns it. */
static const char *fz_scratch(void)
{
    if (!fz_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%s/mnemo-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fz_dir))
            abort();
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* A code no call may return on a healthy database with no injected faults. */
static void fz_check_rc(int rc, const char *what)
{
    if (rc > 1 || rc < MNEMO_EFULL || rc == MNEMO_ECORRUPT || rc == MNEMO_EIO || rc == MNEMO_ERROR ||
        rc == MNEMO_ENOMEM) {
        fprintf(stderr, "%s returned %d %s: %s\n", what, rc, mnemo_strerror(rc), mnemo_errmsg());
        abort();
    }
}

static void fz_graph_check(mnemo_db *db)
{
    uint64_t edges;
    int rc = mnemo_graph_check(db, &edges);
    if (rc) {
        fprintf(stderr, "graph check: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
        abort();
    }
}

#endif
