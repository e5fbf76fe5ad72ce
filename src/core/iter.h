/* The public mnemo_iter is a small vtable so each module (kv, graph neighbours) hands out
 * iterators of its own kind behind one set of public functions. An operation a kind has not
 * (seek, key, value of a neighbour iterator) is NULL: the call is MNEMO_EINVAL naming the kind. */
#ifndef MNEMO_CORE_ITER_H
#define MNEMO_CORE_ITER_H

#include "mnemo/iter.h"

typedef struct mnemo_iter_ops {
    const char *kind; /* for messages: "key-value", "neighbour" */
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
