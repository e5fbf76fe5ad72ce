/* The vector space: creation and checking at open, vector validation, the vector_data format. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "vector/vector_impl.h"

/* Version 1 had no quantization (read as none); version 2 adds it after ef_search. */
#define SPACE_VERSION 2
#define SPACE_LEN_V1 (1 + 5 * 4 + 4)
#define SPACE_LEN (1 + 6 * 4 + 4)

static const char *metric_name(mnemo_metric m)
{
    switch (m) {
    case MNEMO_METRIC_L2: return "l2";
    case MNEMO_METRIC_COSINE: return "cosine";
    case MNEMO_METRIC_IP: return "ip";
    default: return "?";
    }
}

static const char *quant_name(mnemo_quantization q)
{
    switch (q) {
    case MNEMO_QUANT_NONE: return "none";
    case MNEMO_QUANT_INT8: return "int8";
    default: return "?";
    }
}

static void encode_space(unsigned char out[SPACE_LEN], const mnemo_vector_space *sp)
{
    out[0] = SPACE_VERSION;
    mnemo__put_be32(out + 1, sp->dim);
    mnemo__put_be32(out + 5, (uint32_t)sp->metric);
    mnemo__put_be32(out + 9, sp->hnsw_m);
    mnemo__put_be32(out + 13, sp->hnsw_ef_construction);
    mnemo__put_be32(out + 17, sp->hnsw_ef_search);
    mnemo__put_be32(out + 21, (uint32_t)sp->quantization);
    mnemo__put_be32(out + 25, mnemo__crc32c(0, out, 25));
}

static int decode_space(mnemo_vector_space *sp, const unsigned char *v, size_t len)
{
    size_t body = len == SPACE_LEN_V1 && v[0] == 1 ? 21 : 25;
    if ((len != SPACE_LEN_V1 || v[0] != 1) && (len != SPACE_LEN || v[0] != SPACE_VERSION))
        body = 0;
    if (!body || mnemo__get_be32(v + body) != mnemo__crc32c(0, v, body))
        return mnemo__err(MNEMO_ECORRUPT, "mnemo_open: the vector space (metadata key %s) is damaged", VEC_SPACE_KEY);
    sp->dim = mnemo__get_be32(v + 1);
    sp->metric = (mnemo_metric)mnemo__get_be32(v + 5);
    sp->hnsw_m = mnemo__get_be32(v + 9);
    sp->hnsw_ef_construction = mnemo__get_be32(v + 13);
    sp->hnsw_ef_search = mnemo__get_be32(v + 17);
    sp->quantization = body == 21 ? MNEMO_QUANT_NONE : (mnemo_quantization)mnemo__get_be32(v + 21);
    if (sp->quantization < MNEMO_QUANT_NONE || sp->quantization > MNEMO_QUANT_INT8 || sp->dim == 0 || sp->dim > MNEMO_VECTOR_MAX_DIM || sp->metric < MNEMO_METRIC_L2 ||
        sp->metric > MNEMO_METRIC_IP || sp->hnsw_m < 2 || sp->hnsw_m > 1024 || sp->hnsw_ef_construction == 0 ||
        sp->hnsw_ef_search == 0)
        return mnemo__err(MNEMO_ECORRUPT, "mnemo_open: the vector space (metadata key %s) holds impossible values",
                          VEC_SPACE_KEY);
    return 0;
}

/* The space the options ask for, defaults filled in. */
static int space_from_options(mnemo_vector_space *sp, const mnemo_options *o)
{
    sp->dim = o->vector_dim;
    sp->metric = o->vector_metric ? o->vector_metric : MNEMO_METRIC_L2;
    sp->hnsw_m = o->hnsw_m ? o->hnsw_m : 16;
    sp->hnsw_ef_construction = o->hnsw_ef_construction ? o->hnsw_ef_construction : 200;
    sp->hnsw_ef_search = o->hnsw_ef_search ? o->hnsw_ef_search : 64;
    sp->quantization = o->vector_quantization ? o->vector_quantization : MNEMO_QUANT_NONE;
    if ((int)sp->quantization < MNEMO_QUANT_NONE || sp->quantization > MNEMO_QUANT_INT8)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: unknown vector_quantization %d (none %d, int8 %d)",
                          (int)o->vector_quantization, MNEMO_QUANT_NONE, MNEMO_QUANT_INT8);
    if (sp->dim > MNEMO_VECTOR_MAX_DIM)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: vector_dim %u is above %u", sp->dim, MNEMO_VECTOR_MAX_DIM);
    if ((int)sp->metric < MNEMO_METRIC_L2 || sp->metric > MNEMO_METRIC_IP)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: unknown vector_metric %d", (int)o->vector_metric);
    if (sp->hnsw_m < 2 || sp->hnsw_m > 1024)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: hnsw_m %u is outside 2..1024", sp->hnsw_m);
    if (sp->hnsw_ef_construction > 100000 || sp->hnsw_ef_search > 100000)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: hnsw ef values above 100000 are refused");
    return 0;
}

/* A non-zero option that differs from the stored space. */
static int check_against(const mnemo_vector_space *stored, const mnemo_options *o)
{
#define DIFFERS(field, opt, fmt)                                                                             \
    if (o->opt && (uint32_t)o->opt != (uint32_t)stored->field)                                               \
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: the database's vector space has " #field " " fmt         \
                                        ", the options ask for " fmt " (a space cannot change once created)", \
                          stored->field, o->opt);
    DIFFERS(dim, vector_dim, "%u")
    DIFFERS(hnsw_m, hnsw_m, "%u")
    DIFFERS(hnsw_ef_construction, hnsw_ef_construction, "%u")
    DIFFERS(hnsw_ef_search, hnsw_ef_search, "%u")
#undef DIFFERS
    if (o->vector_metric && o->vector_metric != stored->metric)
        return mnemo__err(MNEMO_EINVAL, "mnemo_open: the database's vector space has metric %s, the options ask for %s",
                          metric_name(stored->metric), metric_name(o->vector_metric));
    if (o->vector_quantization && o->vector_quantization != stored->quantization)
        return mnemo__err(MNEMO_EINVAL,
                          "mnemo_open: the database's vector space has quantization %s, the options ask for %s "
                          "(a space cannot change once created)",
                          quant_name(stored->quantization), quant_name(o->vector_quantization));
    return 0;
}

int mnemo_vector__state_open(vec_state **out, mnemo_db *db)
{
    vec_state *st = mnemo__calloc(1, sizeof *st);
    if (!st)
        return mnemo__err_nomem("vectors");
    char *v;
    size_t n;
    int rc = mnemo_txn__get(&v, &n, db, NULL, MNEMO_CF_METADATA, VEC_SPACE_KEY, strlen(VEC_SPACE_KEY), 0);
    if (rc == MNEMO_ENOTFOUND)
        rc = mnemo__err(MNEMO_EINVAL, "the database has no vector space (open it with vector_dim set)");
    if (!rc) {
        rc = decode_space(&st->sp, (const unsigned char *)v, n);
        mnemo__free(v);
    }
    if (rc) {
        mnemo__free(st);
        return rc;
    }
    st->kind = st->sp.metric == MNEMO_METRIC_L2 ? MNEMO_HNSW_L2 : MNEMO_HNSW_IP;
    st->read_only = mnemo_db__options(db)->read_only;
    st->db = db;
    pthread_rwlock_init(&st->rw, NULL);
    pthread_mutex_init(&st->commit_lock, NULL);
    pthread_mutex_init(&st->bg_lock, NULL);
    pthread_cond_init(&st->bg_wake, NULL);
    st->pending_tail = &st->pending;
    st->shared = mnemo_db__shared(db);
    if ((rc = mnemo_vector__load(st, db)) != 0) {
        mnemo_vector__state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

void mnemo_vector__state_close(mnemo_db *db, vec_state *st)
{
    mnemo_vector__bg_stop(st); /* before the last snapshot: nothing else writes one meanwhile */
    if (!st->read_only && st->log_entries)
        (void)mnemo_vector__snapshot(st, db); /* else the next open replays the log */
    mnemo_vector__leave(st);
    mnemo_vector__state_free(st);
}

int mnemo_vector__open(mnemo_db *db)
{
    const mnemo_options *o = mnemo_db__options(db);
    mnemo_vector_space want;
    int rc = mnemo_vector__listen(db);
    if (!rc)
        rc = space_from_options(&want, o);
    if (rc)
        return rc;
    char *v;
    size_t n;
    rc = mnemo_txn__get(&v, &n, db, NULL, MNEMO_CF_METADATA, VEC_SPACE_KEY, strlen(VEC_SPACE_KEY), 0);
    if (rc == 0) {
        mnemo_vector_space stored;
        rc = decode_space(&stored, (const unsigned char *)v, n);
        mnemo__free(v);
        if (!rc)
            rc = check_against(&stored, o);
    } else if (rc == MNEMO_ENOTFOUND) {
        if (!o->vector_dim)
            return 0; /* no vector space, none asked for */
        if (o->read_only)
            return mnemo__err(MNEMO_EREADONLY, "mnemo_open: cannot create a vector space in a read-only open");
        unsigned char val[SPACE_LEN];
        encode_space(val, &want);
        rc = mnemo_txn__put(db, NULL, MNEMO_CF_METADATA, VEC_SPACE_KEY, strlen(VEC_SPACE_KEY), val, sizeof val);
    }
    if (rc)
        return rc;
    if (mnemo_db__collection_id(db)) /* a collection: at the first call that needs it */
        return mnemo_vector__defer(db);
    vec_state *st;
    return mnemo_vector__state(&st, db, "mnemo_open"); /* loads the index now, not at the first search */
}

int mnemo_vector_space_get(mnemo_vector_space *out, mnemo_db *db)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__db(&guard, db, "mnemo_vector_space_get");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_vector_space_get: out is NULL");
    static const size_t sizes[] = {offsetof(mnemo_vector_space, quantization), sizeof(mnemo_vector_space)};
    size_t bytes;
    if ((rc = mnemo__filled_size(&bytes, "mnemo_vector_space_get", "mnemo_vector_space", out->version, sizes,
                                 MNEMO_VECTOR_SPACE_VERSION)) != 0)
        return rc;
    char *v;
    size_t n;
    rc = mnemo_txn__get(&v, &n, db, NULL, MNEMO_CF_METADATA, VEC_SPACE_KEY, strlen(VEC_SPACE_KEY), 0);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_vector_space_get: the database has no vector space");
    if (rc)
        return rc;
    mnemo_vector_space sp;
    rc = decode_space(&sp, (const unsigned char *)v, n);
    mnemo__free(v);
    if (!rc) {
        sp.version = out->version;
        memcpy(out, &sp, bytes);
    }
    return rc;
}

int mnemo_vector__prepare(float *out, const vec_state *st, const float *vec, size_t dim, const char *fn,
                          const char *what)
{
    if (!vec)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, what);
    if (dim != st->sp.dim)
        return mnemo__err(MNEMO_EDIM, "%s: %s has dimension %zu, the vector space has %u", fn, what, dim, st->sp.dim);
    double norm = 0;
    for (size_t i = 0; i < dim; i++) {
        if (!isfinite(vec[i]))
            return mnemo__err(MNEMO_EINVAL, "%s: %s component %zu is %s", fn, what, i, isnan(vec[i]) ? "NaN" : "infinite");
        norm += (double)vec[i] * vec[i];
    }
    if (st->sp.metric == MNEMO_METRIC_COSINE) {
        /* In double the squared length of finite floats is never 0 unless all are 0 (the least
         * subnormal squared is 2e-90) and never overflows (dim * 3.4e38^2 < 1e83). */
        if (norm == 0)
            return mnemo__err(MNEMO_EINVAL, "%s: %s is the zero vector, which has no direction (cosine space)", fn, what);
        if (!isfinite(norm))
            return mnemo__err(MNEMO_EINVAL, "%s: %s has a length that overflows, it cannot be normalised (cosine space)",
                              fn, what);
        /* A vector already of unit length (one read back from mnemo) is kept bit for bit:
         * scaling it again could move components by a unit in the last place. */
        if (fabs(norm - 1.0) <= 4 * FLT_EPSILON * (double)dim) {
            if (out != vec)
                memcpy(out, vec, dim * sizeof *out);
            return 0;
        }
        /* Divide in double: 1/length in float overflows for tiny vectors ([1e-45,0,0] gave NaNs)
         * and is subnormal, losing bits, for huge ones. Every quotient is within [-1, 1]. */
        double len = sqrt(norm);
        for (size_t i = 0; i < dim; i++)
            out[i] = (float)(vec[i] / len);
    } else {
        /* hnswlib (SIMD) and the exact scan (sgemm) compute distances in float: refuse what could
         * overflow them rather than answer with infinities that drop or misorder hits. */
        if (norm > MNEMO_VECTOR_MAX_NORM * MNEMO_VECTOR_MAX_NORM)
            return mnemo__err(MNEMO_EINVAL,
                              "%s: %s is longer than %g (length %g): its distances would overflow float (%s space)",
                              fn, what, MNEMO_VECTOR_MAX_NORM, sqrt(norm), metric_name(st->sp.metric));
        if (out != vec)
            memcpy(out, vec, dim * sizeof *out);
    }
    return 0;
}

void mnemo_vector__data_key(unsigned char key[8], uint64_t iid) { mnemo__put_be64(key, iid); }

int mnemo_vector__encode(char **out, size_t *len, const float *vec, uint32_t dim, const char *id, size_t id_len)
{
    size_t n = 1 + 4 + (size_t)dim * 4 + 2 + id_len + 4;
    unsigned char *b = mnemo__malloc(n);
    if (!b)
        return mnemo__err_nomem("vector");
    b[0] = VEC_DATA_VERSION;
    mnemo__put_be32(b + 1, dim);
    memcpy(b + 5, vec, (size_t)dim * 4); /* little-endian hosts: stored as in memory */
    size_t p = 5 + (size_t)dim * 4;
    b[p] = (unsigned char)(id_len >> 8);
    b[p + 1] = (unsigned char)id_len;
    memcpy(b + p + 2, id, id_len);
    mnemo__put_be32(b + n - 4, mnemo__crc32c(0, b, n - 4));
    *out = (char *)b;
    *len = n;
    return 0;
}

int mnemo_vector__decode(const char *val, size_t len, uint32_t dim, float *vec, const char **id, size_t *id_len,
                         uint64_t iid)
{
    const unsigned char *b = (const unsigned char *)val;
    size_t fixed = 1 + 4 + (size_t)dim * 4 + 2 + 4;
    if (len < fixed || b[0] != VEC_DATA_VERSION || mnemo__get_be32(b + len - 4) != mnemo__crc32c(0, b, len - 4))
        return mnemo__err(MNEMO_ECORRUPT, "vector of internal id %llu (vector_data) fails its checksum",
                          (unsigned long long)iid);
    size_t p = 5 + (size_t)dim * 4;
    size_t il = ((size_t)b[p] << 8) | b[p + 1];
    if (mnemo__get_be32(b + 1) != dim || len != fixed + il || il == 0)
        return mnemo__err(MNEMO_ECORRUPT, "vector of internal id %llu (vector_data) does not fit the space",
                          (unsigned long long)iid);
    if (vec)
        memcpy(vec, b + 5, (size_t)dim * 4);
    *id = val + p + 2;
    *id_len = il;
    return 0;
}
