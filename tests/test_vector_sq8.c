/* The int8 quantized vector space (docs/vectors.md "Quantization"): recall on the whole of
 * siftsmall against its published ground truth, the option's life (stored, reported, reopened, an
 * old space value read as none, bad values refused), extreme floats, and the index kept in step
 * with the data through snapshots, log replay, deletes and rebuilds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/coding.h"
#include "core/keys.h"
#include "core/alloc.h"
#include "testutil.h"
#include "vector/hnsw.h"
#include "vector/vector.h"

#define DIM 128
#define NB 10000
#define NQ 100

static mnemo_db *db;

static void setup(void) { tu_mkdtemp(); }
static void teardown(void)
{
    mnemo_close(db);
    db = NULL;
    tu_cleanup();
}
TestSuite(vector_sq8, .init = setup, .fini = teardown);

static mnemo_db *open_q(const char *name, uint32_t dim, mnemo_metric metric, mnemo_quantization q)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = dim;
    o.vector_metric = metric;
    o.vector_quantization = q;
    mnemo_db *d;
    TU_OK(tu_open_with(&d, name, &o));
    return d;
}

/* n vectors of an .fvecs or .ivecs file of siftsmall (4-byte values after a 4-byte dimension). */
static void *read_vecs(const char *file, size_t n, size_t dim)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/siftsmall/%s", getenv("MNEMO_DATA_DIR"), file);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    uint32_t *v = malloc(n * dim * 4);
    for (size_t i = 0; i < n; i++) {
        int32_t d;
        cr_assert_eq(fread(&d, 4, 1, f), 1);
        cr_assert_eq((size_t)d, dim);
        cr_assert_eq(fread(v + i * dim, 4, dim, f), dim);
    }
    fclose(f);
    return v;
}

static void load(mnemo_db *d, const float *v, size_t n, size_t dim)
{
    char **ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        ids[i] = malloc(24);
        snprintf(ids[i], 24, "v%zu", i);
        mnemo_record r = {0};
        r.id = ids[i];
        TU_OK(mnemo_record_put(d, NULL, &r, MNEMO_PUT_UPSERT));
    }
    TU_OK(mnemo_vector_put_batch(d, NULL, (const char *const *)ids, v, n, dim));
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Mean recall@10 of approximate searches at ef 64 for the siftsmall queries against the
 * published ground truth (the true neighbours among all 10000 base vectors). */
static double sift_recall(mnemo_db *d, const float *q, const int32_t *gt)
{
    mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    o.ef = 64;
    size_t found = 0;
    for (size_t i = 0; i < NQ; i++) {
        mnemo_vector_hits *h;
        TU_OK(mnemo_vector_search(&h, d, NULL, q + i * DIM, DIM, 10, &o));
        for (size_t j = 0; j < h->count; j++) {
            if (j)
                cr_assert_leq(h->hits[j - 1].distance, h->hits[j].distance, "ascending distances");
            for (size_t t = 0; t < 10; t++)
                found += (size_t)strtoul(h->hits[j].id + 1, NULL, 10) == (size_t)gt[i * 100 + t];
        }
        mnemo_vector_hits_free(h);
    }
    return (double)found / (NQ * 10);
}

TU_TEST(vector_sq8, recall_on_siftsmall_at_ef_64_and_after_reopen)
{
    db = open_q("s", DIM, MNEMO_METRIC_L2, MNEMO_QUANT_INT8);
    float *base = read_vecs("siftsmall_base.fvecs", NB, DIM), *q = read_vecs("siftsmall_query.fvecs", NQ, DIM);
    int32_t *gt = read_vecs("siftsmall_groundtruth.ivecs", NQ, 100);
    load(db, base, NB, DIM);
    double r = sift_recall(db, q, gt);
    cr_assert_geq(r, 0.98, "int8 recall@10 at ef 64: %.4f", r);

    /* distances are the true ones (re-ranked with the stored floats), not the codes' */
    mnemo_vector_hits *h;
    TU_OK(mnemo_vector_search(&h, db, NULL, q, DIM, 1, NULL));
    size_t id = (size_t)strtoul(h->hits[0].id + 1, NULL, 10);
    float want = 0;
    for (size_t d = 0; d < DIM; d++)
        want += (base[id * DIM + d] - q[d]) * (base[id * DIM + d] - q[d]);
    cr_assert_float_eq(h->hits[0].distance, want, 1e-5f * want, "distance %g, true %g", h->hits[0].distance, want);
    mnemo_vector_hits_free(h);

    /* the index holds codes: well under the float index's memory (both carry hnswlib's fixed
     * 65,536 update locks of 40 bytes) */
    mnemo_vector_stats vs = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&vs, db));
    cr_assert_lt(vs.index_bytes, (uint64_t)NB * (DIM * 4 + 128) + 65536 * 40, "index_bytes %llu",
                 (unsigned long long)vs.index_bytes);
    uint64_t n;
    TU_OK(mnemo_vector_check(db, &n));
    cr_assert_eq(n, NB);

    if (tu_persistent()) { /* the snapshot comes back as int8, with the same recall */
        mnemo_close(db);
        mnemo_options o = MNEMO_OPTIONS_INIT;
        TU_OK(tu_open_with(&db, "s", &o));
        mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
        TU_OK(mnemo_vector_space_get(&sp, db));
        cr_assert_eq(sp.quantization, MNEMO_QUANT_INT8);
        double r2 = sift_recall(db, q, gt);
        cr_assert_geq(r2, 0.98, "int8 recall@10 after reopen: %.4f", r2);
        TU_OK(mnemo_vector_check(db, &n));
    }
    free(base);
    free(q);
    free(gt);
}

TU_TEST(vector_sq8, the_quantization_is_stored_reported_and_fixed)
{
    TU_DEFAULT_COLLECTION_ONLY("mnemo_open's vector options; a collection's are given at its creation");
    db = open_q("q", 8, MNEMO_METRIC_COSINE, MNEMO_QUANT_INT8);
    mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
    TU_OK(mnemo_vector_space_get(&sp, db));
    cr_assert_eq(sp.quantization, MNEMO_QUANT_INT8);
    cr_assert_eq(sp.metric, MNEMO_METRIC_COSINE);
    /* a caller of version 1 gets no quantization field written */
    struct {
        mnemo_vector_space sp;
        unsigned char canary[16];
    } old;
    memset(&old, TU_CANARY, sizeof old);
    old.sp.version = 1;
    TU_OK(mnemo_vector_space_get(&old.sp, db));
    cr_assert_eq(old.sp.dim, 8);
    for (size_t i = offsetof(mnemo_vector_space, quantization); i < sizeof old; i++)
        cr_assert_eq(((unsigned char *)&old)[i], TU_CANARY, "byte %zu written", i);
    TU_NEEDS_DISK("reopens");
    mnemo_close(db);
    db = NULL;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_quantization = MNEMO_QUANT_NONE;
    TU_RC(mnemo_open(&db, tu_path("q"), &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "quantization int8") && strstr(mnemo_errmsg(), "ask for none"), "%s",
              mnemo_errmsg());
    o.vector_quantization = MNEMO_QUANT_INT8;
    TU_OK(mnemo_open(&db, tu_path("q"), &o));
    mnemo_close(db);
    /* a version-4 options struct (1.0's, without vector_quantization) opens as stored */
    o.version = 4;
    o.vector_quantization = (mnemo_quantization)77; /* beyond a version-4 struct: never read */
    TU_OK(mnemo_open(&db, tu_path("q"), &o));
    TU_OK(mnemo_vector_space_get(&sp, db));
    cr_assert_eq(sp.quantization, MNEMO_QUANT_INT8);
}

TU_TEST(vector_sq8, an_unknown_quantization_is_refused)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = 4;
    o.vector_quantization = (mnemo_quantization)9;
    TU_RC(tu_open_with(&db, "u", &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "unknown vector_quantization 9"), "%s", mnemo_errmsg());
    o.vector_quantization = (mnemo_quantization)-1;
    TU_RC(tu_open_with(&db, "u", &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "vector_quantization"), "%s", mnemo_errmsg());
}

TU_TEST(vector_sq8, a_space_stored_before_quantization_reads_as_none)
{
    TU_NEEDS_DISK("writes the stored space");
    db = open_q("old", 4, MNEMO_METRIC_L2, MNEMO_QUANT_DEFAULT);
    mnemo_close(db);
    db = NULL;
    /* the version-1 value: u8 1 | dim, metric, M, ef_construction, ef_search | crc32c */
    unsigned char v[25];
    uint32_t fields[5] = {4, MNEMO_METRIC_L2, 16, 200, 64};
    v[0] = 1;
    for (int i = 0; i < 5; i++)
        mnemo__put_be32(v + 1 + 4 * i, fields[i]);
    mnemo__put_be32(v + 21, mnemo__crc32c(0, v, 21));
    tu_raw r;
    tu_raw_open(&r, tu_path("old"));
    tu_raw_put(&r, 6, MNEMO_MKEY_VECTOR_SPACE, strlen(MNEMO_MKEY_VECTOR_SPACE), v, sizeof v);
    tu_raw_close(&r);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    TU_OK(mnemo_open(&db, tu_path("old"), &o));
    mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
    TU_OK(mnemo_vector_space_get(&sp, db));
    cr_assert_eq(sp.quantization, MNEMO_QUANT_NONE);
    cr_assert_eq(sp.dim, 4);
    mnemo_close(db);
    o.vector_quantization = MNEMO_QUANT_INT8;
    TU_RC(mnemo_open(&db, tu_path("old"), &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "quantization none"), "%s", mnemo_errmsg());
}

static void put(mnemo_db *d, const char *id, const float *v, size_t dim)
{
    mnemo_record r = {0};
    r.id = id;
    TU_OK(mnemo_record_put(d, NULL, &r, MNEMO_PUT_UPSERT));
    TU_OK(mnemo_vector_put(d, NULL, id, v, dim));
}

/* The nearest hit of q is `id` at distance `want` (relative tolerance). */
static void nearest_is(mnemo_db *d, const float *q, size_t dim, const char *id, float want, int exact)
{
    mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    o.exact = exact;
    mnemo_vector_hits *h;
    TU_OK(mnemo_vector_search(&h, d, NULL, q, dim, 1, &o));
    cr_assert_eq(h->count, 1);
    cr_assert_str_eq(h->hits[0].id, id);
    cr_assert(isfinite(h->hits[0].distance));
    cr_assert_float_eq(h->hits[0].distance, want, 1e-6f * (want > 1 ? want : 1), "%s: %g, want %g", id,
                       h->hits[0].distance, want);
    mnemo_vector_hits_free(h);
}

TU_TEST(vector_sq8, extreme_floats_code_and_rank_right)
{
    enum { D = 16 };
    db = open_q("x", D, MNEMO_METRIC_L2, MNEMO_QUANT_INT8);
    float tiny[D], big[D], negz[D], flat[D], mixed[D], huge[D];
    for (size_t i = 0; i < D; i++) {
        tiny[i] = i % 2 ? 1e-45f : 0; /* subnormal: its step underflows to 0 */
        big[i] = i % 2 ? 2e17f : -2e17f;  /* within MNEMO_VECTOR_MAX_NORM (1e18) */
        negz[i] = -0.0f;
        flat[i] = 7.25f; /* max == min */
        mixed[i] = i % 3 ? 1e-30f : 1e3f;
        huge[i] = 3e38f;
    }
    put(db, "tiny", tiny, D);
    put(db, "big", big, D);
    put(db, "negz", negz, D);
    put(db, "flat", flat, D);
    put(db, "mixed", mixed, D);
    TU_RC(mnemo_vector_put(db, NULL, "flat", huge, D), MNEMO_EINVAL); /* beyond MAX_NORM, as in float */
    cr_assert(strstr(mnemo_errmsg(), "longer than"), "%s", mnemo_errmsg());
    uint64_t n;
    TU_OK(mnemo_vector_check(db, &n));
    cr_assert_eq(n, 5);
    for (int exact = 0; exact < 2; exact++) {
        nearest_is(db, flat, D, "flat", 0, exact);
        nearest_is(db, mixed, D, "mixed", 0, exact);
        nearest_is(db, big, D, "big", 0, exact);
        float nearly_flat[D];
        for (size_t i = 0; i < D; i++)
            nearly_flat[i] = 7.0f;
        nearest_is(db, nearly_flat, D, "flat", D * 0.25f * 0.25f, exact);
    }
    /* exact 0 ranked every row of the small index by its codes and re-ranked (SMALL_INDEX); exact 1
     * read every stored vector; the HNSW walk is in the recall test */
    TU_RC(mnemo_vector_search(&(mnemo_vector_hits *){NULL}, db, NULL, huge, D, 1, NULL), MNEMO_EINVAL);
}

TU_TEST(vector_sq8, cosine_and_ip_spaces_find_the_true_neighbours)
{
    float *base = read_vecs("siftsmall_base.fvecs", 3000, DIM);
    for (int m = 0; m < 2; m++) {
        const char *name = m ? "ip" : "cos";
        mnemo_db *d = open_q(name, DIM, m ? MNEMO_METRIC_IP : MNEMO_METRIC_COSINE, MNEMO_QUANT_INT8);
        float *v = malloc(3000 * DIM * sizeof *v);
        memcpy(v, base, 3000 * DIM * sizeof *v);
        if (m) /* unit vectors, so 1 - dot ranks like cosine and the truth is easy */
            for (size_t i = 0; i < 3000; i++) {
                double s = 0;
                for (size_t j = 0; j < DIM; j++)
                    s += (double)v[i * DIM + j] * v[i * DIM + j];
                for (size_t j = 0; j < DIM; j++)
                    v[i * DIM + j] = (float)(v[i * DIM + j] / sqrt(s));
            }
        load(d, v, 3000, DIM);
        size_t hit = 0;
        for (size_t qi = 0; qi < 50; qi++) {
            const float *q = v + (qi * 59 % 3000) * DIM;
            mnemo_vector_hits *h;
            TU_OK(mnemo_vector_search(&h, d, NULL, q, DIM, 1, NULL));
            hit += strtoul(h->hits[0].id + 1, NULL, 10) == qi * 59 % 3000;
            cr_assert_lt(fabsf(h->hits[0].distance), 1e-5f, "%s: self distance %g", name, h->hits[0].distance);
            mnemo_vector_hits_free(h);
        }
        cr_assert_geq(hit, 49, "%s: %zu of 50 queries found themselves", name, hit);
        uint64_t n;
        TU_OK(mnemo_vector_check(d, &n));
        mnemo_close(d);
        free(v);
    }
    free(base);
}

TU_TEST(vector_sq8, deletes_rebuilds_and_replays_keep_index_and_data_agreeing)
{
    db = open_q("d", DIM, MNEMO_METRIC_L2, MNEMO_QUANT_INT8);
    float *base = read_vecs("siftsmall_base.fvecs", 4000, DIM);
    load(db, base, 4000, DIM);
    char id[24];
    for (size_t i = 0; i < 4000; i += 2) { /* half deleted: past the tombstone threshold, a rebuild */
        snprintf(id, sizeof id, "v%zu", i);
        TU_OK(mnemo_vector_delete(db, NULL, id));
    }
    for (size_t i = 1; i < 200; i += 2) { /* replaced vectors are coded again */
        snprintf(id, sizeof id, "v%zu", i);
        TU_OK(mnemo_vector_put(db, NULL, id, base + (i + 1) * DIM, DIM));
    }
    TU_OK(mnemo_vector__settle(db));
    uint64_t n;
    TU_OK(mnemo_vector_check(db, &n));
    cr_assert_eq(n, 2000);
    mnemo_vector_stats vs = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&vs, db));
    cr_assert_eq(vs.vectors, 2000);
    nearest_is(db, base + 201 * DIM, DIM, "v201", 0, 0);
    nearest_is(db, base + 2 * DIM, DIM, "v1", 0, 0); /* v1 now holds vector 2 */
    if (tu_persistent()) { /* the log after the snapshot replays into the loaded int8 index */
        mnemo_close(db);
        TU_OK(tu_reopen(&db, "d", NULL));
        TU_OK(mnemo_vector_check(db, &n));
        cr_assert_eq(n, 2000);
        nearest_is(db, base + 2 * DIM, DIM, "v1", 0, 0);
    }
    free(base);
}

/* The shim's int8 snapshot bytes: they load back as int8 with the same codes, are refused as a
 * float index's (and the reverse), and a damaged header float (NaN step) is refused. */
TU_TEST(vector_sq8, int8_snapshots_are_checked_against_the_space)
{
    enum { D = 7 }; /* not a multiple of 4: the padding keeps elements aligned */
    mnemo_hnsw *h, *got = NULL;
    mnemo_hnsw_kind sq8 = (mnemo_hnsw_kind)(MNEMO_HNSW_L2 | MNEMO_HNSW_SQ8);
    TU_OK(mnemo_hnsw__create(&h, sq8, D, 8, 4, 50, 1));
    float v[3][D];
    for (int i = 0; i < 3; i++) {
        for (int d = 0; d < D; d++)
            v[i][d] = (float)(i * 10 + d) - 0.5f * (float)d * (float)d;
        TU_OK(mnemo_hnsw__add(h, v[i], (uint64_t)i + 1));
    }
    cr_assert(mnemo_hnsw__quantized(h));
    cr_assert_null(mnemo_hnsw__vector(h, 1), "an int8 index has no floats to lend");
    char *buf;
    size_t len;
    TU_OK(mnemo_hnsw__save(h, &buf, &len));
    TU_OK(mnemo_hnsw__load(&got, sq8, D, 4, buf, len));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mnemo_hnsw__same(got, (uint64_t)i + 1, v[i]), 1, "vector %d", i);
    v[0][0] += 1;
    cr_assert_eq(mnemo_hnsw__same(got, 1, v[0]), 0);
    cr_assert_eq(mnemo_hnsw__same(got, 9, v[0]), -1);
    mnemo_hnsw__free(got);
    TU_RC(mnemo_hnsw__load(&got, MNEMO_HNSW_L2, D, 4, buf, len), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "does not fit the vector space"), "%s", mnemo_errmsg());
    /* the step of element 0 is NaN */
    size_t per_el, data_off;
    memcpy(&per_el, buf + 24, 8);
    memcpy(&data_off, buf + 40, 8);
    size_t base = 8 * 6 + 4 + 4 + 8 * 3 + 8 + 8; /* header of hnswlib 0.6.2 */
    float nan = NAN;
    memcpy(buf + base + data_off + 4, &nan, 4);
    TU_RC(mnemo_hnsw__load(&got, sq8, D, 4, buf, len), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "not finite"), "%s", mnemo_errmsg());
    mnemo__free(buf);
    mnemo_hnsw__free(h);
    /* a float index's bytes are not an int8 one's */
    TU_OK(mnemo_hnsw__create(&h, MNEMO_HNSW_L2, D, 8, 4, 50, 1));
    TU_OK(mnemo_hnsw__add(h, v[1], 1));
    TU_OK(mnemo_hnsw__save(h, &buf, &len));
    TU_RC(mnemo_hnsw__load(&got, sq8, D, 4, buf, len), MNEMO_ECORRUPT);
    mnemo__free(buf);
    mnemo_hnsw__free(h);
}
