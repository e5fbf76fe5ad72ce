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

void *mnemo__calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
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
