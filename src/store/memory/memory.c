/* The `memory` engine (path ":memory:"): the rocksdb engine with every file in a private in-memory
 * Env, so nothing touches disk and the database is gone on close. */
#include "core/error.h"
#include "store/rocksdb/rocksdb.h"

/* A memory database is never found in a directory. */
static int memory_probe(const char *path)
{
    (void)path;
    return 0;
}

static int memory_open(mnemo_store **out, const mnemo_store_config *cfg)
{
    if (cfg->read_only)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: a memory database cannot be opened read-only (it starts empty)");
    return mnemo_rocksdb__open(out, cfg, 1);
}

/* Its files live in process memory, where a copy would vanish with the process too. */
static int memory_checkpoint(mnemo_store *s, const char *dir)
{
    (void)s;
    return mnemo__err(MNEMO_ENOTSUP, "mnemo_checkpoint: a memory database has no files to copy into '%s'; "
                                     "export it instead", dir);
}

const mnemo_store_ops mnemo_store__memory =
    MNEMO_ROCKSDB_OPS("memory", memory_probe, memory_open, memory_checkpoint);
