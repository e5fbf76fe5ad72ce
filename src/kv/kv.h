/* Internal API of the key-value room. */
#ifndef MNEMO_KV_INTERNAL_H
#define MNEMO_KV_INTERNAL_H

#include <stddef.h>

/* Test hook: inside a transaction, mnemo_kv_batch fails with MNEMO_EIO when it reaches op n
 * (0-based), after writing ops 0..n-1, as a failing store would. (size_t)-1 turns it off. */
void mnemo_kv__fail_batch_op(size_t n);

#endif
