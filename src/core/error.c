#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static _Thread_local char last_message[512];

const char *mnemo_errmsg(void) { return last_message[0] ? last_message : "no error"; }

int mnemo__err(int code, const char *fmt, ...)
{
    /* Format aside first: an argument may be mnemo_errmsg() itself (a message quoting the one
     * before it), and vsnprintf into the buffer it reads from overlaps (undefined, garbled). */
    char msg[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_message, msg, strlen(msg) + 1);
    return code;
}

int mnemo__err_nomem(const char *what) { return mnemo__err(MNEMO_ENOMEM, "%s: out of memory", what); }

const char *mnemo_strerror(int code)
{
    switch (code) {
    case MNEMO_OK: return "MNEMO_OK";
    case MNEMO_ERROR: return "MNEMO_ERROR";
    case MNEMO_EINVAL: return "MNEMO_EINVAL";
    case MNEMO_ENOTFOUND: return "MNEMO_ENOTFOUND";
    case MNEMO_EEXISTS: return "MNEMO_EEXISTS";
    case MNEMO_EBUSY: return "MNEMO_EBUSY";
    case MNEMO_ECORRUPT: return "MNEMO_ECORRUPT";
    case MNEMO_EIO: return "MNEMO_EIO";
    case MNEMO_ENOMEM: return "MNEMO_ENOMEM";
    case MNEMO_EDIM: return "MNEMO_EDIM";
    case MNEMO_ITEROVER: return "MNEMO_ITEROVER";
    case MNEMO_ENOTDB: return "MNEMO_ENOTDB";
    case MNEMO_EVERSION: return "MNEMO_EVERSION";
    case MNEMO_ELOCKED: return "MNEMO_ELOCKED";
    case MNEMO_EREADONLY: return "MNEMO_EREADONLY";
    case MNEMO_ENOTSUP: return "MNEMO_ENOTSUP";
    case MNEMO_EFULL: return "MNEMO_EFULL";
    case MNEMO_EUNKNOWN: return "MNEMO_EUNKNOWN";
    default: return "MNEMO_E?";
    }
}

const char *mnemo_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = MNEMO_VERSION_MAJOR;
    if (minor)
        *minor = MNEMO_VERSION_MINOR;
    if (patch)
        *patch = MNEMO_VERSION_PATCH;
    return MNEMO_VERSION_STRING;
}

void mnemo_free(void *p) { mnemo__free(p); }

int mnemo__filled_size(size_t *bytes, const char *fn, const char *type, unsigned version, const size_t *sizes,
                       unsigned n_versions)
{
    if (version == 0 || version > n_versions)
        return mnemo__err(MNEMO_EINVAL, "%s: %s version %u is %s (set it to the header's %s version, %u, or "
                          "start from its _INIT)", fn, type, version, version ? "newer than this library" : "not set",
                          type, n_versions);
    *bytes = sizes[version - 1];
    return 0;
}
