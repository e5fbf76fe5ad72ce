/* The stored form of a record, and the in-memory blob every read hands out.
 *
 * Value layout (version 1), all integers big-endian:
 *   u8 version | u64 iid | f64 importance | i64 created_at | i64 updated_at | i64 expires_at |
 *   u32 content_len | content | u32 metadata_len | metadata JSON | u32 crc32c(everything before) */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "record/record.h"

#define RECORD_VERSION 1
#define FIXED_LEN (1 + 8 + 8 + 8 + 8 + 8 + 4)

mnemo_record *mnemo_record__blob(const char *id, size_t id_len, const char *content, size_t content_len,
                                 const char *meta, size_t meta_len)
{
    size_t size = sizeof(mnemo_record) + id_len + 1 + content_len + 1 + meta_len + 1;
    mnemo_record *r = mnemo__calloc(1, size);
    if (!r)
        return NULL;
    char *p = (char *)(r + 1);
    memcpy(p, id, id_len);
    r->id = p;
    p += id_len + 1;
    if (content_len)
        memcpy(p, content, content_len);
    r->content = p;
    r->content_len = content_len;
    p += content_len + 1;
    if (meta_len)
        memcpy(p, meta, meta_len);
    r->metadata = p;
    return r;
}

size_t mnemo_record__blob_size(const mnemo_record *r)
{
    return sizeof(mnemo_record) + strlen(r->id) + 1 + r->content_len + 1 + strlen(r->metadata) + 1;
}

mnemo_record *mnemo_record__blob_copy(const mnemo_record *r)
{
    mnemo_record *c = mnemo_record__blob(r->id, strlen(r->id), r->content, r->content_len, r->metadata,
                                         strlen(r->metadata));
    if (!c)
        return NULL;
    c->importance = r->importance;
    c->created_at = r->created_at;
    c->updated_at = r->updated_at;
    c->expires_at = r->expires_at;
    c->internal_id = r->internal_id;
    return c;
}

void mnemo_record_free(mnemo_record *rec) { mnemo__free(rec); }

int mnemo_record__encode(char **out, size_t *out_len, const mnemo_record *r)
{
    size_t meta_len = strlen(r->metadata);
    size_t len = FIXED_LEN + r->content_len + 4 + meta_len + 4;
    unsigned char *v = mnemo__malloc(len);
    if (!v)
        return mnemo__err_nomem("record encode");
    unsigned char *p = v;
    *p++ = RECORD_VERSION;
    mnemo__put_be64(p, r->internal_id);
    mnemo__put_f64(p + 8, r->importance);
    mnemo__put_be64(p + 16, (uint64_t)r->created_at);
    mnemo__put_be64(p + 24, (uint64_t)r->updated_at);
    mnemo__put_be64(p + 32, (uint64_t)r->expires_at);
    mnemo__put_be32(p + 40, (uint32_t)r->content_len);
    p += 44;
    memcpy(p, r->content, r->content_len);
    p += r->content_len;
    mnemo__put_be32(p, (uint32_t)meta_len);
    memcpy(p + 4, r->metadata, meta_len);
    p += 4 + meta_len;
    mnemo__put_be32(p, mnemo__crc32c(0, v, (size_t)(p - v)));
    *out = (char *)v;
    *out_len = len;
    return 0;
}

int mnemo_record__decode(mnemo_record **out, const char *id, size_t id_len, const char *val, size_t len)
{
    const unsigned char *v = (const unsigned char *)val;
#define CORRUPT(why) \
    mnemo__err(MNEMO_ECORRUPT, "record '%.*s': stored value %s", (int)(id_len > 200 ? 200 : id_len), id, why)
    if (len < FIXED_LEN + 4 + 4)
        return CORRUPT("is truncated");
    if (mnemo__get_be32(v + len - 4) != mnemo__crc32c(0, v, len - 4))
        return CORRUPT("failed its checksum");
    if (v[0] != RECORD_VERSION)
        return CORRUPT("has an unknown encoding version");
    size_t content_len = mnemo__get_be32(v + 41);
    if (content_len > len - FIXED_LEN - 8)
        return CORRUPT("has a content length beyond its end");
    const unsigned char *p = v + FIXED_LEN + content_len;
    size_t meta_len = mnemo__get_be32(p);
    if (FIXED_LEN + content_len + 4 + meta_len + 4 != len)
        return CORRUPT("has inconsistent lengths");
#undef CORRUPT
    mnemo_record *r = mnemo_record__blob(id, id_len, (const char *)v + FIXED_LEN, content_len, (const char *)p + 4,
                                         meta_len);
    if (!r)
        return mnemo__err_nomem("record decode");
    r->internal_id = mnemo__get_be64(v + 1);
    r->importance = mnemo__get_f64(v + 9);
    r->created_at = (int64_t)mnemo__get_be64(v + 17);
    r->updated_at = (int64_t)mnemo__get_be64(v + 25);
    r->expires_at = (int64_t)mnemo__get_be64(v + 33);
    *out = r;
    return 0;
}

int mnemo_record__is_expired(const mnemo_record *r, int64_t now) { return r->expires_at > 0 && r->expires_at <= now; }

void mnemo_record__encode_time(unsigned char out[8], int64_t t) { mnemo__put_be64(out, (uint64_t)t ^ (1ull << 63)); }

