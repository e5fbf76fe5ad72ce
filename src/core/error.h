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

#endif
