/* The public mnemo_iter is a small vtable so each module (kv, graph neighbours) hands out
 * iterators of its own kind behind one set of public functions. An operation a kind has not
 * (seek, key, value of a neighbour iterator) is NULL: the call is MNEMO_EINVAL naming the kind. */
#ifndef MNEMO_CORE_ITER_H
#define MNEMO_CORE_ITER_H

#include "core/slice.h"
#include "mnemo/iter.h"

typedef struct mnemo_iter_ops {
    const char *kind; /* for messages: "key-value", "neighbour" */
    int (*next)(mnemo_iter *it);
    int (*seek)(mnemo_iter *it, const void *key, size_t klen);
    int (*key)(mnemo_iter *it, const void **key, size_t *klen);
    int (*value)(mnemo_iter *it, const void **val, size_t *vlen);
    void (*free)(mnemo_iter *it);
} mnemo_iter_ops;

/* Every module's iterator struct starts with this. A module whose entries are slices it can hand
 * out (kv) sets `live` and keeps the current entry here: then mnemo_iter_key and _value answer
 * without calling the module, and mnemo_iter_next serves a run (entries taken from the engine at
 * once) without calling it either, the way a scan of an in-memory array would: per entry a call
 * into the module, a guard and an engine move cost more than LMDB's own cursor step. The slices
 * are valid while *live is non-zero: the module's cursor clears it (before freeing them) when its
 * transaction finishes or its database closes, which is why no guard is needed to read them. */
struct mnemo_iter {
    const mnemo_iter_ops *ops;
    const int *live;      /* NULL: every call goes through ops */
    int on_entry;         /* cur_k / cur_v hold an entry */
    mnemo_slice cur_k, cur_v;
    const mnemo_slice *run_k, *run_v; /* the run; run_i < run_n: entries left to serve */
    size_t run_i, run_n;
};

#endif
