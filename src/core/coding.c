#include "core/coding.h"

#include <pthread.h>
#include <string.h>

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

static uint32_t crc32c_soft(uint32_t crc, const unsigned char *p, size_t len)
{
    pthread_once(&crc_table_once, crc_table_init);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^ crc_table[5][(w >> 16) & 0xff] ^
              crc_table[4][(w >> 24) & 0xff] ^ crc_table[3][(w >> 32) & 0xff] ^
              crc_table[2][(w >> 40) & 0xff] ^ crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t mnemo__crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    crc = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("sse4.2"))
        return ~crc32c_hw(crc, p, len);
#endif
    return ~crc32c_soft(crc, p, len);
}

size_t mnemo__prefix_successor(const unsigned char *prefix, size_t len, unsigned char *out)
{
    while (len > 0 && prefix[len - 1] == 0xff)
        len--;
    if (len == 0)
        return 0;
    memcpy(out, prefix, len);
    out[len - 1]++;
    return len;
}

size_t mnemo__seal(unsigned char *out, const void *payload, size_t len)
{
    out[0] = MNEMO_SEAL_VERSION;
    memcpy(out + 1, payload, len);
    mnemo__put_be32(out + 1 + len, mnemo__crc32c(0, out, 1 + len));
    return len + MNEMO_SEAL_OVERHEAD;
}

int mnemo__unseal(const void *val, size_t len, const void **payload, size_t *plen)
{
    const unsigned char *v = val;
    if (len < MNEMO_SEAL_OVERHEAD || v[0] != MNEMO_SEAL_VERSION ||
        mnemo__get_be32(v + len - 4) != mnemo__crc32c(0, v, len - 4))
        return -1;
    *payload = v + 1;
    *plen = len - MNEMO_SEAL_OVERHEAD;
    return 0;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF, no NUL. */
int mnemo__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len) /* the sequence runs past the end */
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}
