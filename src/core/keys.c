/* The metadata key prefix table (keys.h). */
#include "core/keys.h"

const char *mnemo__meta_prefix_owner(unsigned char byte)
{
    /* A switch: two table entries with one byte are duplicate case labels, a build error. */
    switch (byte) {
#define MNEMO_MK_CASE(name, b, owner) \
    case (b):                         \
        return owner;
        MNEMO_META_PREFIXES(MNEMO_MK_CASE)
#undef MNEMO_MK_CASE
    default:
        return NULL;
    }
}
