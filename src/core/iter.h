/* The public mnemo_iter is a small vtable so each module (kv now, records and graph later) can
 * hand out iterators of its own kind behind one set of public functions. */
#ifndef MNEMO_CORE_ITER_H
#define MNEMO_CORE_ITER_H

#include "mnemo/iter.h"

typedef struct mnemo_iter_ops {
    int (*next)(mnemo_iter *it);
    int (*seek)(mnemo_iter *it, const void *key, size_t klen);
    int (*key)(mnemo_iter *it, const void **key, size_t *klen);
    int (*value)(mnemo_iter *it, const void **val, size_t *vlen);
    void (*free)(mnemo_iter *it);
} mnemo_iter_ops;

/* Every module's iterator struct starts with this. */
struct mnemo_iter {
    const mnemo_iter_ops *ops;
};

#endif
