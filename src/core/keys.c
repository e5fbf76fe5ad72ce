/* The metadata key prefix table (keys.h). */
#include "core/keys.h"

#include <string.h>

const char *mnemo__meta_prefix_owner(unsigned char byte)
{
    /* A switch: two table entries with one byte are duplicate case labels, a build error. */
    switch (byte) {
#define MNEMO_MK_CASE(name, b, owner, scoped) \
    case (b):                         \
        return owner;
        MNEMO_META_PREFIXES(MNEMO_MK_CASE)
#undef MNEMO_MK_CASE
    default:
        return NULL;
    }
}

int mnemo__meta_key_per_collection(const void *key, size_t klen)
{
    if (!klen)
        return 0;
    unsigned char b = *(const unsigned char *)key;
    if (b == MNEMO_MK_COUNTER)
        return klen == MNEMO_MKEY_LEN(MNEMO_MKEY_INDEX_EPOCH) && !memcmp(key, MNEMO_MKEY_INDEX_EPOCH, klen);
    switch (b) {
#define MNEMO_MK_SCOPE(name, byte, owner, scoped) \
    case (byte):                                  \
        return scoped;
        MNEMO_META_PREFIXES(MNEMO_MK_SCOPE)
#undef MNEMO_MK_SCOPE
    default:
        return 0;
    }
}
