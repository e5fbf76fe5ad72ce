/* The keyspace table (keyspace.h): one line per keyspace, in MNEMO_KEYSPACES. */
#include "store/keyspace.h"

const mnemo_keyspace_def mnemo_keyspaces[MNEMO_CF_COUNT] = {
#define MNEMO_KS_DEF(id, name, hints) {name, hints},
    MNEMO_KEYSPACES(MNEMO_KS_DEF)
#undef MNEMO_KS_DEF
};
