/* Fixed-width big-endian integers for keys (so byte order = numeric order in RocksDB scans),
 * and crc32c for the checksums every decoded value carries. */
#ifndef MNEMO_CORE_CODING_H
#define MNEMO_CORE_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void mnemo__put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint32_t mnemo__get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void mnemo__put_be64(unsigned char *p, uint64_t v)
{
    mnemo__put_be32(p, (uint32_t)(v >> 32));
    mnemo__put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t mnemo__get_be64(const unsigned char *p)
{
    return ((uint64_t)mnemo__get_be32(p) << 32) | mnemo__get_be32(p + 4);
}

/* A double as its IEEE-754 bits, big-endian (stored values keep doubles bit for bit). */
static inline void mnemo__put_f64(unsigned char *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    mnemo__put_be64(p, bits);
}

static inline double mnemo__get_f64(const unsigned char *p)
{
    uint64_t bits = mnemo__get_be64(p);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* crc32c (Castagnoli); uses the SSE4.2 instruction when the CPU has it. crc is the running value
 * (0 to start). */
uint32_t mnemo__crc32c(uint32_t crc, const void *data, size_t len);

/* Small stored values (ids in metadata entries, counters, label names) are sealed: a version
 * byte, the payload, a crc32c (BE) over both. MNEMO_SEAL_OVERHEAD bytes more than the payload. */
#define MNEMO_SEAL_VERSION 1
#define MNEMO_SEAL_OVERHEAD 5
/* Writes the sealed form of payload into out (len + MNEMO_SEAL_OVERHEAD bytes); returns its length. */
size_t mnemo__seal(unsigned char *out, const void *payload, size_t len);
/* 0 and the payload slice inside val when val is a sealed value, -1 when it fails its checks. */
int mnemo__unseal(const void *val, size_t len, const void **payload, size_t *plen);

/* Smallest byte string greater than every string with this prefix, written into out (same length
 * as the prefix or shorter). Returns its length; 0 means "no upper bound" (prefix is all 0xff). */
size_t mnemo__prefix_successor(const unsigned char *prefix, size_t len, unsigned char *out);

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF, no NUL): 1, else 0. */
int mnemo__utf8_valid(const char *s, size_t len);

#endif
