#include "core/alloc.h"
#include "core/error.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* 0 = off; otherwise the number of allocations still allowed to succeed plus one. */
static atomic_ulong fail_countdown;

static int should_fail(void)
{
    unsigned long left = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (left == 0)
        return 0;
    left = atomic_fetch_sub(&fail_countdown, 1);
    if (left == 1)
        return 1; /* the chosen allocation: fail it, counter is now 0 (off) */
    return 0;
}

void mnemo__alloc_fail_after(unsigned long n) { atomic_store(&fail_countdown, n); }

int mnemo__alloc_fail_pending(void) { return atomic_load(&fail_countdown) != 0; }

void *mnemo__malloc(size_t size) { return should_fail() ? NULL : malloc(size ? size : 1); }

/* glibc's calloc skips the thread cache malloc serves small blocks from (~450 instructions
 * against ~50): small blocks are malloc + memset; large ones stay calloc, whose fresh pages come
 * zeroed. 1024: about the largest block the cache holds. */
#define CALLOC_VIA_MALLOC 1024

/* Called through a volatile pointer: GCC would fold malloc + memset back into calloc. */
static void *(*volatile const zero_bytes)(void *, int, size_t) = memset;

void *mnemo__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    n = n ? n : 1;
    size = size ? size : 1;
    size_t bytes;
    if (!__builtin_mul_overflow(n, size, &bytes) && bytes <= CALLOC_VIA_MALLOC) {
        void *p = malloc(bytes);
        return p ? zero_bytes(p, 0, bytes) : NULL;
    }
    return calloc(n, size);
}

void *mnemo__realloc(void *p, size_t size) { return should_fail() ? NULL : realloc(p, size ? size : 1); }

void mnemo__free(void *p) { free(p); }

void *mnemo__memdup(const void *p, size_t len)
{
    char *copy = mnemo__malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, p, len);
    copy[len] = '\0';
    return copy;
}

int mnemo__grow(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    void *q = mnemo__realloc(*(void **)p, c * size);
    if (!q)
        return mnemo__err_nomem("growing an array");
    *(void **)p = q;
    *cap = c;
    return 0;
}
