/* Internal allocation entry points. Every allocation in the library goes through these so that a
 * test hook can fail the N-th one (allocation-failure tests) without touching each call site. */
#ifndef MNEMO_CORE_ALLOC_H
#define MNEMO_CORE_ALLOC_H

#include <stddef.h>

void *mnemo__malloc(size_t size);
void *mnemo__calloc(size_t n, size_t size);
void *mnemo__realloc(void *p, size_t size);
void mnemo__free(void *p);
/* Copy of len bytes plus a terminating NUL (so text stays printable); NULL on failure. */
void *mnemo__memdup(const void *p, size_t len);

/* Makes room for `need` elements of `size` bytes in the array *p of capacity *cap (doubling from
 * `first`): 0, or MNEMO_ENOMEM (message set) with *p and *cap unchanged. p is a T ** passed as void *. */
int mnemo__grow(void *p, size_t *cap, size_t need, size_t size, size_t first);

/* Test hook: fail the n-th allocation from now on (1 = the next one); 0 turns it off. */
void mnemo__alloc_fail_after(unsigned long n);
/* Test hook: 1 while the failure set by mnemo__alloc_fail_after has not happened yet. */
int mnemo__alloc_fail_pending(void);

#endif
