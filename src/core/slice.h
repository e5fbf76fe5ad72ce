/* A length-delimited byte string someone else owns: a key or value handed out by an engine, or an
 * entry an iterator serves. */
#ifndef MNEMO_CORE_SLICE_H
#define MNEMO_CORE_SLICE_H

#include <stddef.h>

typedef struct mnemo_slice {
    const void *data;
    size_t len;
} mnemo_slice;

#endif
