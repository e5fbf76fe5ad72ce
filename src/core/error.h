/* Internal error reporting: set the thread-local message and return the code in one statement,
 * e.g. `return mnemo__err(MNEMO_EINVAL, "kv_put: key is empty");`. */
#ifndef MNEMO_CORE_ERROR_H
#define MNEMO_CORE_ERROR_H

#include "mnemo/common.h"

#if defined(__GNUC__)
#define MNEMO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MNEMO_PRINTF(a, b)
#endif

/* Sets the message (printf-style) and returns code. An argument may point into the message
 * itself (mnemo_errmsg(), to quote the error before it): it is read before it is replaced. */
int mnemo__err(int code, const char *fmt, ...) MNEMO_PRINTF(2, 3);

/* ENOMEM with the message naming what was being allocated. */
int mnemo__err_nomem(const char *what);

/* A struct the library fills (mnemo_stats, ...) starts with `unsigned version`, set by the caller
 * to the version its header had. sizes[v - 1] is the bytes of version v (offsetof the first field
 * version v + 1 added, or sizeof for the newest): *bytes gets what the caller's struct holds, so
 * that the library never writes past it. Version 0 or unknown: MNEMO_EINVAL naming fn and type. */
int mnemo__filled_size(size_t *bytes, const char *fn, const char *type, unsigned version, const size_t *sizes,
                       unsigned n_versions);

#endif
