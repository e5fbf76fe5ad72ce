/* libFuzzer target: the decoders of stored values (records, edges). Bytes from disk must decode
 * or give MNEMO_ECORRUPT, never crash or read out of bounds. The first input byte selects the
 * decoder and whether the crc32c is fixed up first (so the checks behind the checksum are reached
 * too). Add a row to `decoders` for each new stored value type (the persisted vector index has its
 * own target, fuzz_snapshot). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "graph/graph_impl.h"
#include "record/record.h"
#include "vector/vector_impl.h"

static void decode_record(const unsigned char *v, size_t n)
{
    mnemo_record *r = NULL;
    int rc = mnemo_record__decode(&r, "fuzz/id", 7, (const char *)v, n);
    if (rc == 0) {
        /* everything the blob hands out must be readable and NUL-terminated */
        if (strlen(r->id) != 7 || r->content[r->content_len] != '\0' || strlen(r->metadata) > n)
            abort();
        mnemo_record *c = mnemo_record__blob_copy(r);
        if (!c)
            abort();
        mnemo_record_free(c);
        mnemo_record_free(r);
    } else if (rc != MNEMO_ECORRUPT && rc != MNEMO_ENOMEM) {
        abort();
    }
}

static void decode_edge(const unsigned char *v, size_t n)
{
    static const unsigned char key[EDGE_KEY_LEN] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
    edge_value e;
    int rc = mnemo_graph__decode_value(&e, (const char *)v, n, key, 1);
    if (rc == 0) {
        const char *end = (const char *)v + n;
        if (e.other_id + e.other_id_len > end || (e.props_len && e.props + e.props_len > end))
            abort();
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < e.other_id_len; i++)
            sink ^= (unsigned char)e.other_id[i];
        for (size_t i = 0; i < e.props_len; i++)
            sink ^= (unsigned char)e.props[i];
        (void)sink;
    } else if (rc != MNEMO_ECORRUPT) {
        abort();
    }
}

/* A vector_data value, for a space of 1..8 dimensions (the value's second byte picks it, so the
 * fuzzer's values can fit or not fit the dimension). */
static void decode_vector(const unsigned char *v, size_t n)
{
    uint32_t dim = n > 1 ? 1 + v[1] % 8 : 3;
    float vec[8];
    const char *id;
    size_t il;
    int rc = mnemo_vector__decode((const char *)v, n, dim, vec, &id, &il, 42);
    if (rc == 0) {
        if (il == 0 || id < (const char *)v || id + il > (const char *)v + n)
            abort();
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < il; i++)
            sink ^= (unsigned char)id[i];
        (void)sink;
    } else if (rc != MNEMO_ECORRUPT) {
        abort();
    }
}

static void (*const decoders[])(const unsigned char *, size_t) = {decode_record, decode_edge, decode_vector};
#define N_DECODERS (sizeof decoders / sizeof decoders[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    data++;
    size--;
    /* a private copy of exactly size bytes, so ASan sees any read past the value */
    unsigned char *v = malloc(size ? size : 1);
    if (!v)
        return 0;
    if (size)
        memcpy(v, data, size);
    if ((sel & 0x80) && size >= 4) /* make the checksum right: reach the length checks behind it */
        mnemo__put_be32(v + size - 4, mnemo__crc32c(0, v, size - 4));
    decoders[(sel & 0x7f) % N_DECODERS](v, size);
    free(v);
    return 0;
}
