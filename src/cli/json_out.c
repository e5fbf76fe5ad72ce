/* JSON lines on stdout: a small writer that keeps fields in the order they are added, prints
 * numbers in their shortest exact form, and embeds JSON text the engine already returns compact
 * (metadata, props) without parsing it again. Also base64 and a UTF-8 check for binary KV data. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put(jout *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (j->len + n + 1 > cap)
            cap *= 2;
        j->buf = cli_xrealloc(j->buf, cap);
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void putc1(jout *j, char c) { put(j, &c, 1); }

static void put_string(jout *j, const char *s, size_t n)
{
    putc1(j, '"');
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(hex, sizeof hex, "\\u%04x", c);
            esc = hex;
        }
        if (esc) {
            put(j, s + i - run, run);
            run = 0;
            put(j, esc, strlen(esc));
        } else {
            run++;
        }
    }
    put(j, s + n - run, run);
    putc1(j, '"');
}

/* The separator and key of a new member (or element, when k is NULL). */
static void member(jout *j, const char *k)
{
    if (!j->first[j->depth])
        putc1(j, ',');
    j->first[j->depth] = 0;
    if (k) {
        put_string(j, k, strlen(k));
        putc1(j, ':');
    }
}

void jo_begin(jout *j)
{
    j->len = 0;
    j->depth = 0;
    put(j, "{", 1);
    j->first[0] = 1;
}

void jo_strn(jout *j, const char *k, const char *v, size_t n)
{
    member(j, k);
    put_string(j, v, n);
}

void jo_str(jout *j, const char *k, const char *v)
{
    if (!v)
        jo_null(j, k);
    else
        jo_strn(j, k, v, strlen(v));
}

void jo_int(jout *j, const char *k, int64_t v)
{
    char b[32];
    member(j, k);
    put(j, b, (size_t)snprintf(b, sizeof b, "%lld", (long long)v));
}

void jo_uint(jout *j, const char *k, uint64_t v)
{
    char b[32];
    member(j, k);
    put(j, b, (size_t)snprintf(b, sizeof b, "%llu", (unsigned long long)v));
}

/* Shortest text of v that reads back as v, laid out as JavaScript does (fixed notation for
 * exponents -6..20, else 2.5e-7 / 1e+21) and kept a real (1 -> 1.0). Reading back is monotonic in
 * the number of digits (a rounding to p+1 digits is never further than one to p), so a binary
 * search over 1..hi finds it (hi: 17 for a double, 9 for a float, always enough). A float must
 * also read back through strtod and a cast, as jansson parses it. */
static int shortest(char *b, size_t cap, double v, int is_float)
{
    int lo = 1, hi = is_float ? 9 : 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(b, cap, "%.*e", mid - 1, v);
        double back = strtod(b, NULL);
        if (is_float ? (strtof(b, NULL) == (float)v && (float)back == (float)v) : back == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    int n = snprintf(b, cap, "%.*e", lo - 1, v);
    char *e = strchr(b, 'e');
    int x = atoi(e + 1);
    if (x > -7 && x < 21) { /* the same digits with the point placed: 4.2e+03 -> 4200.0 */
        char d[24], *o = b; /* the lo digits of the mantissa, then the layout (at most 25 chars) */
        int nd = 0;
        for (const char *c = b; c < e; c++)
            if (*c >= '0' && *c <= '9')
                d[nd++] = *c;
        if (*b == '-')
            *o++ = '-';
        if (x < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int z = 0; z < -x - 1; z++)
                *o++ = '0';
            memcpy(o, d, (size_t)nd);
            o += nd;
        } else {
            for (int i = 0; i <= x; i++)
                *o++ = i < nd ? d[i] : '0';
            *o++ = '.';
            for (int i = x + 1; i < nd; i++)
                *o++ = d[i];
            if (nd <= x + 1)
                *o++ = '0';
        }
        *o = '\0';
        n = (int)(o - b);
    } else { /* the exponent without printf's padding: 2.5e-07 -> 2.5e-7 */
        char *d = e + 2, *z = d;
        while (*z == '0' && z[1])
            z++;
        memmove(d, z, strlen(z) + 1);
        n -= (int)(z - d);
    }
    return n;
}

static void jo_number(jout *j, const char *k, double v, int is_float)
{
    if (!isfinite(v)) {
        jo_null(j, k);
        return;
    }
    char b[48];
    int n = shortest(b, sizeof b, v, is_float);
    member(j, k);
    put(j, b, (size_t)n);
}

void jo_real(jout *j, const char *k, double v) { jo_number(j, k, v, 0); }
void jo_float(jout *j, const char *k, float v) { jo_number(j, k, v, 1); }

void jo_bool(jout *j, const char *k, int v)
{
    member(j, k);
    put(j, v ? "true" : "false", v ? 4 : 5);
}

void jo_null(jout *j, const char *k)
{
    member(j, k);
    put(j, "null", 4);
}

void jo_raw(jout *j, const char *k, const char *json)
{
    member(j, k);
    put(j, json, strlen(json));
}

/* One member of an object being written by put_value, for sorting by key. */
typedef struct kv_ref {
    const char *key;
    size_t len;
    json_t *value;
} kv_ref;

static int kv_cmp(const void *a, const void *b)
{
    const kv_ref *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* A jansson value, compact, keys sorted (as the engine stores them), numbers through shortest():
 * separators are written here, not through j->first, so any depth works. */
static void put_value(jout *j, json_t *v)
{
    char b[48];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        kv_ref *m = cli_xmalloc(n * sizeof *m);
        for (void *it = json_object_iter(v); it && i < n; it = json_object_iter_next(v, it), i++)
            m[i] = (kv_ref){json_object_iter_key(it), json_object_iter_key_len(it), json_object_iter_value(it)};
        qsort(m, i, sizeof *m, kv_cmp);
        putc1(j, '{');
        for (size_t x = 0; x < i; x++) {
            if (x)
                putc1(j, ',');
            put_string(j, m[x].key, m[x].len);
            putc1(j, ':');
            put_value(j, m[x].value);
        }
        putc1(j, '}');
        free(m);
        break;
    }
    case JSON_ARRAY:
        putc1(j, '[');
        for (size_t x = 0; x < json_array_size(v); x++) {
            if (x)
                putc1(j, ',');
            put_value(j, json_array_get(v, x));
        }
        putc1(j, ']');
        break;
    case JSON_STRING: put_string(j, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
        put(j, b, (size_t)snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
        break;
    case JSON_REAL: put(j, b, (size_t)shortest(b, sizeof b, json_real_value(v), 0)); break;
    case JSON_TRUE: put(j, "true", 4); break;
    case JSON_FALSE: put(j, "false", 5); break;
    default: put(j, "null", 4); break;
    }
}

void jo_json(jout *j, const char *k, json_t *v)
{
    member(j, k);
    put_value(j, v);
}

void jo_json_text(jout *j, const char *k, const char *json)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!v) { /* not expected from the engine: show it as it is rather than lose it */
        jo_raw(j, k, json);
        return;
    }
    jo_json(j, k, v);
    json_decref(v);
}

char *cli_json_dump(json_t *v)
{
    jout j = {0};
    put(&j, "", 0);
    put_value(&j, v);
    return j.buf;
}

void jo_members(jout *j, const jout *other)
{
    if (other->len <= 1) /* "{" alone: no members */
        return;
    member(j, NULL);
    put(j, other->buf + 1, other->len - 1);
}

static void open_nested(jout *j, const char *k, char c)
{
    member(j, k);
    putc1(j, c);
    if (j->depth + 1 < (int)sizeof j->first)
        j->depth++;
    j->first[j->depth] = 1;
}

void jo_obj(jout *j, const char *k) { open_nested(j, k, '{'); }
void jo_arr(jout *j, const char *k) { open_nested(j, k, '['); }

void jo_obj_end(jout *j)
{
    putc1(j, '}');
    if (j->depth > 0)
        j->depth--;
}

void jo_arr_end(jout *j)
{
    putc1(j, ']');
    if (j->depth > 0)
        j->depth--;
}

void jo_line(jout *j, FILE *f)
{
    put(j, "}\n", 2);
    fwrite(j->buf, 1, j->len, f);
}

void jo_free(jout *j)
{
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}

int cli_has_vectors(mnemo_db *db)
{
    mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
    int rc = mnemo_vector_space_get(&sp, db);
    return rc == 0 ? 1 : rc == MNEMO_ENOTFOUND ? 0 : rc;
}

int jo_record(jout *j, mnemo_db *db, mnemo_txn *txn, const mnemo_record *r, int vectors)
{
    jo_begin(j);
    jo_str(j, "type", "record");
    jo_str(j, "id", r->id);
    jo_strn(j, "content", r->content ? r->content : "", r->content ? r->content_len : 0);
    jo_real(j, "importance", r->importance);
    jo_int(j, "created_at", r->created_at);
    jo_int(j, "updated_at", r->updated_at);
    jo_int(j, "expires_at", r->expires_at);
    jo_json_text(j, "metadata", r->metadata && *r->metadata ? r->metadata : "{}");
    if (!vectors)
        return 0;
    float *v;
    size_t dim;
    int rc = mnemo_vector_get(&v, &dim, db, txn, r->id);
    if (rc == MNEMO_ENOTFOUND) /* no embedding */
        return 0;
    if (rc)
        return rc;
    jo_arr(j, "embedding");
    for (size_t i = 0; i < dim; i++)
        jo_float(j, NULL, v[i]);
    jo_arr_end(j);
    mnemo_free(v);
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cli_b64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = cli_xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

unsigned char *cli_b64_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4)
        return NULL;
    unsigned char *out = cli_xmalloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int pad = (s[i + 2] == '=') + (s[i + 3] == '=');
        int a = b64_val(s[i]), b = b64_val(s[i + 1]);
        int c = pad >= 2 ? 0 : b64_val(s[i + 2]), d = pad >= 1 ? 0 : b64_val(s[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0 || (pad && i + 4 != n) || (pad == 1 && s[i + 2] == '=')) {
            free(out);
            return NULL;
        }
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

int cli_is_text(const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        /* overlong forms, surrogates and values past U+10FFFF are not text */
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += len;
    }
    return 1;
}
