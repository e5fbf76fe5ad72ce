/* Hybrid recall: the fused ranking against a reference fusion of the two searches' rankings,
 * recency and importance by hand-computed cases, restrictions, transactions, expiry, bad input,
 * and nDCG@10 on Cranfield (data/cranfield, with its GloVe embeddings). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cranfield.h"
#include "testutil.h"

static void setup(void) { tu_mkdtemp(); }
static void teardown(void) { tu_cleanup(); }
TestSuite(recall, .init = setup, .fini = teardown);

#define NOW 1000000000000 /* a fixed "now" for recency (ms) */
#define HOUR 3600000.0

/* A database with full text (no stemming) and a vector space of dim, metric m. */
static mnemo_db *open_hybrid(const char *name, uint32_t dim, mnemo_metric m)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = dim;
    o.vector_metric = m;
    mnemo_db *db;
    TU_OK(tu_open_with(&db, name, &o));
    TU_OK(mnemo_text_enable(db, NULL));
    return db;
}

typedef struct mem {
    const char *id, *content, *meta;
    float v[2];
    double importance;
    int64_t updated_at;
} mem;

static void put_mem(mnemo_db *db, mnemo_txn *txn, const mem *m)
{
    mnemo_record r = {.id = m->id, .content = m->content, .metadata = m->meta, .importance = m->importance,
                      .created_at = m->updated_at, .updated_at = m->updated_at};
    TU_OK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
    if (m->v[0] || m->v[1])
        TU_OK(mnemo_vector_put(db, txn, m->id, m->v, 2));
}

/* Hit ids joined by spaces (static buffer). */
static const char *ids(const mnemo_recall_hits *h)
{
    static char buf[2048];
    buf[0] = 0;
    for (size_t i = 0; i < h->count; i++) {
        strcat(buf, i ? " " : "");
        strcat(buf, h->hits[i].id);
    }
    return buf;
}

static const char *recall_ids(mnemo_db *db, mnemo_txn *txn, const mnemo_recall_query *q, size_t k)
{
    static char buf[2048];
    mnemo_recall_hits *h;
    TU_OK(mnemo_recall(&h, db, txn, q, k));
    snprintf(buf, sizeof buf, "%s", ids(h));
    mnemo_recall_hits_free(h);
    return buf;
}

/* Six memories on a 2-d plane: text and vector disagree on purpose. */
static const mem small[] = {
    {"wing1", "wing flutter at high speed", "{\"topic\": \"aero\"}", {1, 0}, 0.5, NOW},
    {"wing2", "wing wing wing", "{\"topic\": \"aero\"}", {0, 1}, 0.5, NOW},
    {"heat1", "heat transfer in a boundary layer", "{\"topic\": \"heat\"}", {0.9f, 0.1f}, 0.5, NOW},
    {"heat2", "boundary layer heat", "{\"topic\": \"heat\"}", {0.2f, 0.8f}, 0.5, NOW},
    {"plain", "nothing about it", "{\"topic\": \"misc\"}", {0, 0}, 0.5, NOW},
    {"near1", "a wing near heat", "{\"topic\": \"misc\"}", {0.95f, 0.05f}, 0.5, NOW},
};

static mnemo_db *small_db(const char *name)
{
    mnemo_db *db = open_hybrid(name, 2, MNEMO_METRIC_L2);
    for (size_t i = 0; i < sizeof small / sizeof *small; i++)
        put_mem(db, NULL, &small[i]);
    return db;
}

static mnemo_recall_query base_query(void)
{
    mnemo_recall_query q = MNEMO_RECALL_QUERY_INIT;
    q.now = NOW;
    return q;
}

TU_TEST(recall, text_only_vector_only_and_both)
{
    mnemo_db *db = small_db("s");
    static const float east[2] = {1, 0};
    mnemo_recall_query q = base_query();
    q.text = "wing";
    /* text only: BM25 order (wing2 has tf 3); every part reported */
    mnemo_recall_hits *h;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 10));
    cr_assert_eq(h->count, 3, "%s", ids(h));
    cr_assert_str_eq(h->hits[0].id, "wing2");
    for (size_t i = 0; i < h->count; i++) {
        cr_assert_eq(h->hits[i].text_rank, i + 1);
        cr_assert(h->hits[i].text_score > 0);
        cr_assert_eq(h->hits[i].vector_rank, 0);
        cr_assert(isnan(h->hits[i].distance));
        cr_assert_float_eq(h->hits[i].recency, 1.0, 1e-12);
        cr_assert_float_eq(h->hits[i].importance, 0.5, 1e-12);
        cr_assert_eq(h->hits[i].time, NOW);
        cr_assert_float_eq(h->hits[i].relevance, 61.0 / (60.0 + (double)(i + 1)), 1e-12);
        cr_assert_float_eq(h->hits[i].score, h->hits[i].relevance + 1.0 + 0.5, 1e-12);
    }
    mnemo_recall_hits_free(h);
    /* vector only: nearest first, records without an embedding never come */
    q.text = NULL;
    q.vector = east;
    q.dim = 2;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 10));
    cr_assert_str_eq(ids(h), "wing1 near1 heat1 heat2 wing2");
    for (size_t i = 0; i < h->count; i++) {
        cr_assert_eq(h->hits[i].vector_rank, i + 1);
        cr_assert_eq(h->hits[i].text_rank, 0);
        cr_assert(isnan(h->hits[i].text_score));
        cr_assert(!isnan(h->hits[i].distance));
    }
    cr_assert_float_eq(h->hits[0].distance, 0.0, 1e-6);
    mnemo_recall_hits_free(h);
    /* both: near1 is 2nd by vector and 3rd by text, wing1 1st by vector and 2nd by text */
    q.text = "wing";
    TU_OK(mnemo_recall(&h, db, NULL, &q, 3));
    cr_assert_eq(h->count, 3);
    cr_assert_str_eq(h->hits[0].id, "wing1");
    cr_assert_eq(h->hits[0].vector_rank, 1);
    cr_assert(h->hits[0].text_rank > 0);
    cr_assert_float_eq(h->hits[0].relevance, 1.0 + 61.0 / (60.0 + h->hits[0].text_rank), 1e-12);
    mnemo_recall_hits_free(h);
    /* a text of no searchable term adds no candidate: the vector ranking alone */
    q.text = "?!";
    cr_assert_str_eq(recall_ids(db, NULL, &q, 10), "wing1 near1 heat1 heat2 wing2");
    q.vector = NULL;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 10));
    cr_assert_eq(h->count, 0);
    mnemo_recall_hits_free(h);
    TU_OK(mnemo_close(db));
}

TU_TEST(recall, recency_and_importance_move_hits_as_the_formula_says)
{
    mnemo_db *db = open_hybrid("t", 2, MNEMO_METRIC_L2);
    /* same words, same length: equal BM25 */
    const mem m[] = {
        {"old", "glider memory", NULL, {0, 0}, 0.2, NOW - (int64_t)(2 * HOUR)},
        {"new", "glider memory", NULL, {0, 0}, 0.2, NOW},
        {"vip", "glider memory", NULL, {0, 0}, 0.9, NOW - (int64_t)(6 * HOUR)},
        {"odd", "glider memory", NULL, {0, 0}, 7.0, NOW + (int64_t)HOUR}, /* future, importance > 1 */
    };
    for (size_t i = 0; i < 4; i++)
        put_mem(db, NULL, &m[i]);
    mnemo_recall_query q = base_query();
    q.text = "glider";
    q.half_life_ms = 2 * HOUR;
    q.recency_weight = 1;
    /* recency alone: R = 2^(-age / half-life): new 1 (and odd: a future time counts as now), old 0.5, vip 0.125 */
    mnemo_recall_hits *h;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 4));
    cr_assert_str_eq(ids(h), "new odd old vip");
    double want_r[] = {1, 1, 0.5, 0.125};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(h->hits[i].recency, want_r[i], "%s: %.17g", h->hits[i].id, h->hits[i].recency);
        cr_assert_eq(h->hits[i].score, want_r[i]);
        cr_assert_eq(h->hits[i].relevance, 0);
    }
    mnemo_recall_hits_free(h);
    /* recency 1 + importance 1: new 1 + 0.2, old 0.5 + 0.2, vip 0.125 + 0.9, odd 1 + 1 (clamped) */
    q.importance_weight = 1;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 4));
    cr_assert_str_eq(ids(h), "odd new vip old");
    cr_assert_float_eq(h->hits[0].score, 2.0, 1e-12);
    cr_assert_float_eq(h->hits[0].importance, 7.0, 0);
    cr_assert_float_eq(h->hits[1].score, 1.2, 1e-12);
    cr_assert_float_eq(h->hits[2].score, 1.025, 1e-12);
    cr_assert_float_eq(h->hits[3].score, 0.7, 1e-12);
    mnemo_recall_hits_free(h);
    /* a longer half-life lifts the old ones: at 12 h vip has 0.9 + 2^-0.5 > new's 1.2 */
    q.half_life_ms = 12 * HOUR;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 4));
    cr_assert_str_eq(ids(h), "odd vip new old");
    cr_assert_float_eq(h->hits[1].score, 0.9 + pow(2, -0.5), 1e-12);
    mnemo_recall_hits_free(h);
    /* created_at instead of updated_at: an update makes "old" new by updated_at only */
    mnemo_record_changes c = MNEMO_RECORD_CHANGES_INIT;
    c.fields = MNEMO_UPDATE_IMPORTANCE;
    c.importance = 0.2;
    TU_OK(mnemo_record_update(db, NULL, "old", &c)); /* updated_at: the clock, far after NOW */
    q.half_life_ms = 2 * HOUR;
    q.importance_weight = 0;
    q.clock = MNEMO_RECALL_UPDATED_AT;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 4));
    cr_assert_eq(h->hits[0].recency, 1); /* old or new or odd: all now or later */
    cr_assert(strstr(ids(h), "vip") == ids(h) + strlen(ids(h)) - 3, "%s", ids(h));
    mnemo_recall_hits_free(h);
    q.clock = MNEMO_RECALL_CREATED_AT;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 4));
    cr_assert_str_eq(ids(h), "new odd old vip");
    cr_assert_eq(h->hits[2].recency, 0.5);
    cr_assert_eq(h->hits[2].time, NOW - (int64_t)(2 * HOUR));
    mnemo_recall_hits_free(h);
    /* fused with relevance: RRF parts (61/61, 61/62, ...) plus recency */
    q.clock = MNEMO_RECALL_UPDATED_AT;
    q.text_weight = 1;
    q.recency_weight = 0;
    TU_OK(mnemo_recall(&h, db, NULL, &q, 4));
    for (size_t i = 0; i < 4; i++)
        cr_assert_float_eq(h->hits[i].score, 61.0 / (60.0 + (double)h->hits[i].text_rank), 1e-12);
    mnemo_recall_hits_free(h);
    TU_OK(mnemo_close(db));
}

TU_TEST(recall, filter_and_near_restrict_both_rankings)
{
    mnemo_db *db = small_db("f");
    static const float east[2] = {1, 0};
    mnemo_recall_query q = base_query();
    q.text = "wing heat boundary";
    q.vector = east;
    q.dim = 2;
    q.filter = "{\"topic\": \"heat\"}";
    cr_assert_str_eq(recall_ids(db, NULL, &q, 10), "heat1 heat2");
    q.filter = "{\"topic\": {\"$ne\": \"heat\"}}";
    const char *got = recall_ids(db, NULL, &q, 10);
    cr_assert(!strstr(got, "heat1") && !strstr(got, "heat2") && strstr(got, "wing1"), "%s", got);
    /* near: wing2 -> heat2 -> plain; one hop from wing2 is wing2 and heat2 */
    mnemo_graph_edge e = {.from = "wing2", .label = "cites", .to = "heat2", .weight = 1};
    TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    e = (mnemo_graph_edge){.from = "heat2", .label = "cites", .to = "plain", .weight = 1};
    TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    q.filter = NULL;
    q.near = "wing2";
    cr_assert_str_eq(recall_ids(db, NULL, &q, 10), "heat2 wing2"); /* heat2: nearer, and two rarer terms */
    q.hops = 2;
    q.near_dir = MNEMO_DIR_OUT;
    q.text = "nothing heat wing";
    got = recall_ids(db, NULL, &q, 10);
    cr_assert(strstr(got, "plain") && strstr(got, "heat2") && strstr(got, "wing2") && !strstr(got, "wing1"), "%s",
              got);
    q.near = "nobody";
    mnemo_recall_hits *h;
    TU_RC(mnemo_recall(&h, db, NULL, &q, 10), MNEMO_ENOTFOUND);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_recall: ") && strstr(mnemo_errmsg(), "nobody"), "%s", mnemo_errmsg());
    q.text = "zeppelin"; /* matches nothing: near is still checked */
    q.vector = NULL;
    TU_RC(mnemo_recall(&h, db, NULL, &q, 10), MNEMO_ENOTFOUND);
    cr_assert(strstr(mnemo_errmsg(), "nobody"), "%s", mnemo_errmsg());
    TU_OK(mnemo_close(db));
}

TU_TEST(recall, a_transaction_sees_its_own_writes)
{
    mnemo_db *db = small_db("x");
    static const float north[2] = {0, 1};
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    mem fresh = {"fresh", "zeppelin wing", NULL, {0.01f, 1}, 1.0, NOW};
    put_mem(db, txn, &fresh);
    TU_OK(mnemo_record_delete(db, txn, "wing2"));
    mnemo_recall_query q = base_query();
    q.text = "zeppelin wing";
    q.vector = north;
    q.dim = 2;
    const char *in = recall_ids(db, txn, &q, 10);
    cr_assert(strncmp(in, "fresh ", 6) == 0 && !strstr(in, "wing2"), "%s", in);
    const char *out = recall_ids(db, NULL, &q, 10);
    cr_assert(!strstr(out, "fresh") && strstr(out, "wing2"), "%s", out);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    out = recall_ids(db, NULL, &q, 10);
    cr_assert(strncmp(out, "fresh ", 6) == 0 && !strstr(out, "wing2"), "%s", out);
    TU_OK(mnemo_close(db));
}

TU_TEST(recall, is_not_validated_at_commit)
{
    mnemo_db *db = small_db("v");
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    mnemo_recall_query q = base_query();
    q.text = "wing";
    cr_assert(strstr(recall_ids(db, txn, &q, 10), "wing2"));
    /* another writer changes a hit the recall read; this txn's unrelated write still commits */
    mnemo_record_changes c = MNEMO_RECORD_CHANGES_INIT;
    c.fields = MNEMO_UPDATE_IMPORTANCE;
    c.importance = 0.9;
    TU_OK(mnemo_record_update(db, NULL, "wing2", &c));
    mem other = {"other", "unrelated", NULL, {0, 0}, 0, NOW};
    put_mem(db, txn, &other);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    TU_OK(mnemo_close(db));
}

TU_TEST(recall, expired_records_never_come_back)
{
    tu_fake_clock_start();
    mnemo_db *db = small_db("e");
    static const float east[2] = {1, 0};
    mnemo_record r = {.id = "short", .content = "wing wing wing wing", .expires_at = tu_now + 1000};
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    TU_OK(mnemo_vector_put(db, NULL, "short", east, 2));
    mnemo_recall_query q = base_query();
    q.text = "wing";
    q.vector = east;
    q.dim = 2;
    cr_assert(strstr(recall_ids(db, NULL, &q, 10), "short"));
    tu_now += 2000;
    cr_assert(!strstr(recall_ids(db, NULL, &q, 10), "short"));
    q.vector = NULL;
    cr_assert(!strstr(recall_ids(db, NULL, &q, 10), "short"));
    TU_OK(mnemo_close(db));
    tu_fake_clock_stop();
}

/* ---- bad input ---- */

static void refused(mnemo_db *db, const mnemo_recall_query *q, size_t k, int code, const char *says)
{
    mnemo_recall_hits *h = (mnemo_recall_hits *)&h; /* untouched on failure */
    mnemo_recall_hits *const before = h;
    TU_RC(mnemo_recall(&h, db, NULL, q, k), code);
    cr_assert_eq(h, before);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_recall: ") == mnemo_errmsg(), "%s", mnemo_errmsg());
    cr_assert(strstr(mnemo_errmsg(), says), "'%s' does not say '%s'", mnemo_errmsg(), says);
}

TU_TEST(recall, bad_input_is_refused_with_a_message)
{
    mnemo_db *db = small_db("b");
    static const float east[2] = {1, 0}, nan2[2] = {NAN, 0}, three[3] = {1, 0, 0};
    mnemo_recall_query q = base_query();
    refused(db, &q, 10, MNEMO_EINVAL, "neither text nor vector");
    q.text = "wing";
    refused(db, &q, 0, MNEMO_EINVAL, "k 0 is not in 1..100000");
    refused(db, &q, 100001, MNEMO_EINVAL, "k 100001");
    const double bad[] = {-1, NAN, INFINITY, -INFINITY};
    mnemo_recall_query w;
    const struct {
        double *field;
        const char *name;
    } numbers[] = {{&w.text_weight, "text_weight"},       {&w.vector_weight, "vector_weight"},
                   {&w.recency_weight, "recency_weight"}, {&w.importance_weight, "importance_weight"},
                   {&w.rrf_k, "rrf_k"},                   {&w.half_life_ms, "half_life_ms"}};
    for (size_t i = 0; i < 4; i++)
        for (size_t f = 0; f < sizeof numbers / sizeof *numbers; f++) {
            w = q;
            *numbers[f].field = bad[i];
            refused(db, &w, 10, MNEMO_EINVAL, numbers[f].name);
        }
    w = q;
    w.now = -5;
    refused(db, &w, 10, MNEMO_EINVAL, "now -5");
    w = q;
    w.depth = 5;
    refused(db, &w, 10, MNEMO_EINVAL, "depth 5 is less than k 10");
    w = q;
    w.fusion = (mnemo_recall_fusion)7;
    refused(db, &w, 10, MNEMO_EINVAL, "fusion 7");
    w = q;
    w.clock = (mnemo_recall_clock)9;
    refused(db, &w, 10, MNEMO_EINVAL, "clock 9");
    w = q;
    w.version = MNEMO_RECALL_QUERY_VERSION + 1;
    refused(db, &w, 10, MNEMO_EINVAL, "newer");
    w = q;
    w.text = "wing \xff";
    refused(db, &w, 10, MNEMO_EINVAL, "invalid UTF-8");
    w = q;
    w.filter = "{\"topic\": {\"$bogus\": 1}}";
    refused(db, &w, 10, MNEMO_EINVAL, "$bogus");
    w = q;
    w.near = "nobody";
    refused(db, &w, 10, MNEMO_ENOTFOUND, "nobody");
    w.text = "unheard"; /* no text hit: near is checked all the same */
    refused(db, &w, 10, MNEMO_ENOTFOUND, "nobody");
    w = q;
    w.vector = three;
    w.dim = 3;
    refused(db, &w, 10, MNEMO_EDIM, "3");
    w.vector = nan2;
    w.dim = 2;
    refused(db, &w, 10, MNEMO_EINVAL, "NaN");
    mnemo_recall_hits *h;
    TU_RC(mnemo_recall(NULL, db, NULL, &q, 10), MNEMO_EINVAL);
    TU_RC(mnemo_recall(&h, db, NULL, NULL, 10), MNEMO_EINVAL);
    TU_RC(mnemo_recall(&h, NULL, NULL, &q, 10), MNEMO_EINVAL);
    TU_OK(mnemo_close(db));

    /* text given, full text off; vector given, no vector space */
    mnemo_db *plain = tu_open("p");
    mnemo_record r = {.id = "a", .content = "wing"};
    TU_OK(mnemo_record_put(plain, NULL, &r, MNEMO_PUT_UPSERT));
    refused(plain, &q, 10, MNEMO_EINVAL, "mnemo_text_enable");
    w = base_query();
    w.vector = east;
    w.dim = 2;
    refused(plain, &w, 10, MNEMO_EINVAL, "vector space");
    TU_OK(mnemo_close(plain));
}

/* ---- Cranfield: the fusion against a reference, and nDCG@10 ---- */

/* Deterministic variety for recency and importance: ages 0..99 hours, importance 0..1 in tenths. */
static int64_t doc_time(int d) { return NOW - (int64_t)((d * 37) % 100 * HOUR); }
static double doc_importance(int d) { return (double)((d * 7) % 11) / 10.0; }

static mnemo_db *cran_db(const cran *c)
{
    mnemo_db *db = open_hybrid("cran", CRAN_DIM, MNEMO_METRIC_COSINE);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    for (int d = 0; d < CRAN_DOCS; d++) {
        char id[8];
        snprintf(id, sizeof id, "%d", d + 1);
        mnemo_record r = {.id = id, .content = c->doc_text[d], .importance = doc_importance(d),
                          .created_at = doc_time(d), .updated_at = doc_time(d)};
        TU_OK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
        const float *v = c->doc_vec + (size_t)d * CRAN_DIM;
        int zero = 1;
        for (int i = 0; i < CRAN_DIM && zero; i++)
            zero = v[i] == 0;
        if (!zero) /* docs 471 and 995 are empty: no embedding */
            TU_OK(mnemo_vector_put(db, txn, id, v, CRAN_DIM));
    }
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    return db;
}

/* The reference fusion, written from docs/records.md "Recall" over the rankings the two searches
 * return: a score per document, then best first, ties by id. */
typedef struct ref_hit {
    char id[8];
    double score;
    int trank, vrank;
} ref_hit;

static int ref_cmp(const void *pa, const void *pb)
{
    const ref_hit *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

static size_t reference(ref_hit *out, mnemo_db *db, const mnemo_recall_query *q, size_t depth)
{
    mnemo_text_hits *th;
    mnemo_vector_hits *vh;
    TU_OK(mnemo_text_search(&th, db, NULL, q->text, depth, NULL));
    TU_OK(mnemo_vector_search(&vh, db, NULL, q->vector, q->dim, depth, NULL));
    size_t n = 0;
    for (size_t i = 0; i < th->count; i++) {
        snprintf(out[n].id, sizeof out[n].id, "%s", th->hits[i].id);
        out[n].trank = (int)i + 1;
        out[n++].vrank = 0;
    }
    for (size_t i = 0; i < vh->count; i++) {
        size_t j = 0;
        while (j < n && strcmp(out[j].id, vh->hits[i].id))
            j++;
        if (j == n) {
            snprintf(out[n].id, sizeof out[n].id, "%s", vh->hits[i].id);
            out[n++].trank = 0;
        }
        out[j].vrank = (int)i + 1;
    }
    double tmax = th->count ? th->hits[0].score : 0, tmin = th->count ? th->hits[th->count - 1].score : 0;
    double dmin = vh->count ? vh->hits[0].distance : 0, dmax = vh->count ? vh->hits[vh->count - 1].distance : 0;
    for (size_t j = 0; j < n; j++) {
        double t = 0, v = 0;
        if (q->fusion == MNEMO_RECALL_RRF) {
            t = out[j].trank ? (q->rrf_k + 1) / (q->rrf_k + out[j].trank) : 0;
            v = out[j].vrank ? (q->rrf_k + 1) / (q->rrf_k + out[j].vrank) : 0;
        } else {
            if (out[j].trank)
                t = tmax > tmin ? (th->hits[out[j].trank - 1].score - tmin) / (tmax - tmin) : 1;
            if (out[j].vrank)
                v = dmax > dmin ? (dmax - vh->hits[out[j].vrank - 1].distance) / (dmax - dmin) : 1;
        }
        int d = atoi(out[j].id) - 1;
        double r = exp2(-(double)(q->now - doc_time(d)) / q->half_life_ms);
        double imp = doc_importance(d) > 1 ? 1 : doc_importance(d);
        out[j].score = q->text_weight * t + q->vector_weight * v + q->recency_weight * r + q->importance_weight * imp;
    }
    qsort(out, n, sizeof *out, ref_cmp);
    mnemo_text_hits_free(th);
    mnemo_vector_hits_free(vh);
    return n;
}

static void check_against_reference(mnemo_db *db, const cran *c, mnemo_recall_fusion fusion, double wt, double wv,
                                    double wr, double wi)
{
    static ref_hit ref[200];
    for (int qi = 0; qi < CRAN_QUERIES; qi += 3) {
        mnemo_recall_query q = base_query();
        q.text = c->query[qi];
        q.vector = c->query_vec + (size_t)qi * CRAN_DIM;
        q.dim = CRAN_DIM;
        q.fusion = fusion;
        q.rrf_k = 60;
        q.text_weight = wt;
        q.vector_weight = wv;
        q.recency_weight = wr;
        q.importance_weight = wi;
        q.half_life_ms = 24 * HOUR;
        size_t n = reference(ref, db, &q, 50); /* 50: the default depth for k 10 */
        mnemo_recall_hits *h;
        TU_OK(mnemo_recall(&h, db, NULL, &q, 10));
        cr_assert_eq(h->count, n < 10 ? n : 10);
        for (size_t i = 0; i < h->count; i++) {
            cr_assert_str_eq(h->hits[i].id, ref[i].id, "query %d, fusion %d, hit %zu", qi + 1, fusion, i);
            cr_assert_float_eq(h->hits[i].score, ref[i].score, 1e-9);
            cr_assert_eq(h->hits[i].text_rank, (uint32_t)ref[i].trank);
            cr_assert_eq(h->hits[i].vector_rank, (uint32_t)ref[i].vrank);
        }
        mnemo_recall_hits_free(h);
    }
}

TU_TEST(recall, cranfield_fusion_equals_a_reference_fusion)
{
    cran *c = cran_load(1);
    mnemo_db *db = cran_db(c);
    check_against_reference(db, c, MNEMO_RECALL_RRF, 1, 1, 0, 0);
    check_against_reference(db, c, MNEMO_RECALL_RRF, 1, 1, 1, 1);
    check_against_reference(db, c, MNEMO_RECALL_RRF, 2, 0.5, 0.3, 0);
    check_against_reference(db, c, MNEMO_RECALL_WEIGHTED, 1, 1, 0, 0);
    check_against_reference(db, c, MNEMO_RECALL_WEIGHTED, 1, 1, 1, 1);
    TU_OK(mnemo_close(db));
    cran_free(c);
}

static double ndcg10(const cran *c, int q, const mnemo_recall_hits *h)
{
    int ranked[CRAN_DOCS];
    double ndcg, recall;
    for (size_t i = 0; i < h->count; i++)
        ranked[i] = atoi(h->hits[i].id) - 1;
    cran_judge(c, q, ranked, h->count, &ndcg, &recall);
    return ndcg;
}

/* Mean nDCG@10 of recall by relevance only (recency and importance are synthetic here). */
static double mean_ndcg(mnemo_db *db, const cran *c, int text, double vector, mnemo_recall_fusion fusion)
{
    double sum = 0;
    for (int qi = 0; qi < CRAN_QUERIES; qi++) {
        mnemo_recall_query q = base_query();
        q.text = text ? c->query[qi] : NULL;
        q.vector = vector ? c->query_vec + (size_t)qi * CRAN_DIM : NULL;
        q.dim = CRAN_DIM;
        q.fusion = fusion;
        q.text_weight = 1;
        q.vector_weight = vector;
        mnemo_recall_hits *h;
        TU_OK(mnemo_recall(&h, db, NULL, &q, 10));
        sum += ndcg10(c, qi, h);
        mnemo_recall_hits_free(h);
    }
    return sum / CRAN_QUERIES;
}

TU_TEST(recall, cranfield_ndcg_of_text_vector_and_fused)
{
    cran *c = cran_load(1);
    mnemo_db *db = cran_db(c);
    double text = mean_ndcg(db, c, 1, 0, MNEMO_RECALL_RRF), vec = mean_ndcg(db, c, 0, 1, MNEMO_RECALL_RRF);
    double rrf = mean_ndcg(db, c, 1, 1, MNEMO_RECALL_RRF), weighted = mean_ndcg(db, c, 1, 1, MNEMO_RECALL_WEIGHTED);
    fprintf(stderr, "cranfield nDCG@10 (225 queries, k 10, depth 50): text %.4f vector %.4f fused rrf %.4f "
            "fused weighted %.4f; vector weight 0.25: rrf %.4f weighted %.4f\n", text, vec, rrf, weighted,
            mean_ndcg(db, c, 1, 0.25, MNEMO_RECALL_RRF), mean_ndcg(db, c, 1, 0.25, MNEMO_RECALL_WEIGHTED));
    /* BM25 on Cranfield is near 0.4 in the literature; averaged GloVe vectors are weaker */
    cr_assert(text > 0.3, "%.4f", text);
    cr_assert(vec > 0.05 && vec < text, "vector %.4f, text %.4f", vec, text);
    /* a fusion of two rankings is not worse than the worse of them */
    double worse = text < vec ? text : vec;
    cr_assert(rrf >= worse && weighted >= worse, "rrf %.4f weighted %.4f, worse ranking %.4f", rrf, weighted, worse);
    TU_OK(mnemo_close(db));
    cran_free(c);
}
