#include "testutil.h"

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
