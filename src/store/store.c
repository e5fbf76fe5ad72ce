/* The engine registry: every engine this build has, by name, and detection by probing. */
#include <string.h>

#include "store/store.h"

static const mnemo_store_ops *const ENGINES[] = {
    &mnemo_store__rocksdb,
    &mnemo_store__lmdb,
    &mnemo_store__memory,
#ifdef MNEMO_HAVE_ETCD
    &mnemo_store__etcd,
#endif
};
#define N_ENGINES (sizeof ENGINES / sizeof ENGINES[0])

const mnemo_store_ops *mnemo_store__engine(const char *name)
{
    for (size_t i = 0; name && i < N_ENGINES; i++)
        if (!strcmp(ENGINES[i]->name, name))
            return ENGINES[i];
    return NULL;
}

const mnemo_store_ops *mnemo_store__detect(const char *path)
{
    for (size_t i = 0; i < N_ENGINES; i++)
        if (ENGINES[i]->probe && ENGINES[i]->probe(path))
            return ENGINES[i];
    return NULL;
}
