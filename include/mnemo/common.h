/**
 * @file mnemo/common.h
 * Export macro, version, error codes and error messages shared by every mnemo module.
 */
#ifndef MNEMO_COMMON_H
#define MNEMO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MNEMO_BUILDING) && defined(__GNUC__)
#define MNEMO_API __attribute__((visibility("default")))
#else
#define MNEMO_API
#endif

#define MNEMO_VERSION_MAJOR 1
#define MNEMO_VERSION_MINOR 0
#define MNEMO_VERSION_PATCH 0
#define MNEMO_VERSION_STRING "1.0.0" /* meson.build's version must be the same (checked at setup) */
/** Single number for compile-time comparisons: major*10000 + minor*100 + patch. */
#define MNEMO_VERSION_NUMBER \
    (MNEMO_VERSION_MAJOR * 10000 + MNEMO_VERSION_MINOR * 100 + MNEMO_VERSION_PATCH)

/** Error codes. Every function returns 0 on success or one of these (negative). */
enum mnemo_error {
    MNEMO_OK = 0,
    MNEMO_ERROR = -1,     /**< an error that fits no other code (the message says what) */
    MNEMO_EINVAL = -2,    /**< bad argument: NULL, empty, too long, closed handle, bad option */
    MNEMO_ENOTFOUND = -3, /**< no such key, record, edge or database */
    MNEMO_EEXISTS = -4,   /**< already exists */
    MNEMO_EBUSY = -5,     /**< transaction conflict: roll back and retry */
    MNEMO_ECORRUPT = -6,  /**< a stored value or file failed its checks */
    MNEMO_EIO = -7,       /**< the file system failed (full disk, permissions, ...) */
    MNEMO_ENOMEM = -8,    /**< out of memory */
    MNEMO_EDIM = -9,      /**< vector of the wrong dimension */
    MNEMO_ITEROVER = -10, /**< an iterator has no more entries (not an error) */
    MNEMO_ENOTDB = -11,   /**< the path holds something that is not a mnemo database */
    MNEMO_EVERSION = -12, /**< the database has an on-disk format this library does not know */
    MNEMO_ELOCKED = -13,  /**< the database is held open by another process or handle */
    MNEMO_EREADONLY = -14,/**< a write on a database or transaction opened read-only */
    MNEMO_ENOTSUP = -15,  /**< not supported by this build (e.g. a compression library) */
    MNEMO_EFULL = -16,    /**< a fixed limit of the database is reached (e.g. every label id is used) */
    MNEMO_EUNKNOWN = -17, /**< a commit's outcome is unknown (the connection to a distributed store was lost after
                               sending it); mnemo_txn_run resolves it, see docs/errors.md */
};

/** Which edges of a node: the graph's walks, and the `near` restriction of vector, text and
 * recall searches. */
typedef enum mnemo_direction {
    MNEMO_DIR_OUT = 1,  /**< edges from the node */
    MNEMO_DIR_IN = 2,   /**< edges to the node */
    MNEMO_DIR_BOTH = 3, /**< both (a self-loop shows once in each direction) */
} mnemo_direction;

/** Version of the library actually linked (may differ from MNEMO_VERSION_* of the header).
 * @param[out] major, minor, patch  may each be NULL.
 * @return the version string, e.g. "1.0.0"; static storage. */
MNEMO_API const char *mnemo_version(int *major, int *minor, int *patch);

/** Name of an error code, e.g. "MNEMO_EBUSY"; "MNEMO_E?" for an unknown code. Static storage. */
MNEMO_API const char *mnemo_strerror(int code);

/** Message describing the last error returned to this thread (what failed and where).
 * Only meaningful right after a call returned a negative code; thread-local, never NULL. */
MNEMO_API const char *mnemo_errmsg(void);

/** Free memory that mnemo returned to the caller (values, copied strings). Accepts NULL. */
MNEMO_API void mnemo_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
