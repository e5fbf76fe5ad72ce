/* Hybrid recall (mnemo/recall.h): the text ranking (mnemo_text_search) and the vector ranking
 * (mnemo_vector_search), read in one transaction, fused into one list with recency and importance:
 *
 *   score = wt * T + wv * V + wr * R + wi * I            (docs/records.md "Recall")
 *
 * This room sits above text and vector and calls only their public searches, so a recall ranks
 * exactly what those searches return. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo/recall.h"
#include "mnemo/text.h"
#include "mnemo/vector.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "record/record.h"
#include "txn/txn.h"

#define MAX_K 100000 /* as text and vector search */

static const char fn[] = "mnemo_recall";

/* One candidate: a record of either ranking (ids borrowed from the search results). */
typedef struct cand {
    const char *id;
    uint32_t text_rank, vector_rank;
    double text_score;
    float distance;
    double relevance, recency, importance, score;
    int64_t time;
} cand;

void mnemo_recall_hits_free(mnemo_recall_hits *hits) { mnemo__free(hits); }

static int bad_number(const char *name, double v, int zero_ok)
{
    if (isnan(v) || isinf(v) || v < 0 || (!zero_ok && v == 0))
        return mnemo__err(MNEMO_EINVAL, "%s: %s %g is not a %s finite number", fn, name, v,
                          zero_ok ? "non-negative" : "positive");
    return 0;
}

/* The query with its defaults filled in, after checking every field that needs no reading. */
static int resolve_query(mnemo_recall_query *o, const mnemo_recall_query *q, size_t k)
{
    if (q->version > MNEMO_RECALL_QUERY_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: query version %u is newer than this library (%u)", fn, q->version,
                          MNEMO_RECALL_QUERY_VERSION);
    *o = *q;
    if (!o->text && !o->vector)
        return mnemo__err(MNEMO_EINVAL, "%s: neither text nor vector given: nothing to recall by", fn);
    if (k == 0 || k > MAX_K)
        return mnemo__err(MNEMO_EINVAL, "%s: k %zu is not in 1..%d", fn, k, MAX_K);
    if (o->fusion != MNEMO_RECALL_RRF && o->fusion != MNEMO_RECALL_WEIGHTED)
        return mnemo__err(MNEMO_EINVAL, "%s: unknown fusion %d", fn, (int)o->fusion);
    if (o->clock != MNEMO_RECALL_UPDATED_AT && o->clock != MNEMO_RECALL_CREATED_AT)
        return mnemo__err(MNEMO_EINVAL, "%s: unknown clock %d", fn, (int)o->clock);
    int rc;
    if ((rc = bad_number("rrf_k", o->rrf_k, 1)) || (rc = bad_number("text_weight", o->text_weight, 1)) ||
        (rc = bad_number("vector_weight", o->vector_weight, 1)) ||
        (rc = bad_number("recency_weight", o->recency_weight, 1)) ||
        (rc = bad_number("importance_weight", o->importance_weight, 1)) ||
        (rc = bad_number("half_life_ms", o->half_life_ms, 1)))
        return rc;
    if (o->now < 0)
        return mnemo__err(MNEMO_EINVAL, "%s: now %lld is before the epoch", fn, (long long)o->now);
    if (o->depth && o->depth < k)
        return mnemo__err(MNEMO_EINVAL, "%s: depth %zu is less than k %zu", fn, o->depth, k);
    if (o->depth > MAX_K)
        return mnemo__err(MNEMO_EINVAL, "%s: depth %zu is more than %d", fn, o->depth, MAX_K);
    if (o->rrf_k == 0)
        o->rrf_k = MNEMO_RECALL_DEFAULT_RRF_K;
    if (o->text_weight == 0 && o->vector_weight == 0 && o->recency_weight == 0 && o->importance_weight == 0)
        o->text_weight = o->vector_weight = o->recency_weight = o->importance_weight = 1;
    if (o->half_life_ms == 0)
        o->half_life_ms = MNEMO_RECALL_DEFAULT_HALF_LIFE_MS;
    if (o->now == 0)
        o->now = mnemo__now_ms();
    if (o->depth == 0) {
        size_t d = k > MAX_K / 4 ? MAX_K : 4 * k;
        o->depth = d > MNEMO_RECALL_DEFAULT_DEPTH ? d : MNEMO_RECALL_DEFAULT_DEPTH;
    }
    return 0;
}

/* A search's error, its message prefixed with ours (it names the search and, for text not
 * enabled, mnemo_text_enable). */
static int nested(int rc) { return mnemo__err(rc, "%s: %s", fn, mnemo_errmsg()); }

static int id_cmp(const void *a, const void *b) { return strcmp(((const cand *)a)->id, ((const cand *)b)->id); }

static int score_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* The union of both rankings, one candidate per id, sorted by id. */
static int gather(cand **out, size_t *n_out, const mnemo_text_hits *th, const mnemo_vector_hits *vh)
{
    size_t nt = th ? th->count : 0, nv = vh ? vh->count : 0;
    cand *c = mnemo__calloc(nt + nv ? nt + nv : 1, sizeof *c);
    if (!c)
        return mnemo__err_nomem("mnemo_recall: candidates");
    for (size_t i = 0; i < nt; i++)
        c[i] = (cand){.id = th->hits[i].id, .text_rank = (uint32_t)i + 1, .text_score = th->hits[i].score,
                      .distance = NAN};
    qsort(c, nt, sizeof *c, id_cmp);
    size_t n = nt;
    for (size_t i = 0; i < nv; i++) {
        cand key = {.id = vh->hits[i].id};
        cand *hit = bsearch(&key, c, nt, sizeof *c, id_cmp);
        if (!hit) {
            hit = &c[n++];
            *hit = (cand){.id = vh->hits[i].id, .text_score = NAN};
        }
        hit->vector_rank = (uint32_t)i + 1;
        hit->distance = vh->hits[i].distance;
    }
    *out = c;
    *n_out = n;
    return 0;
}

/* Min-max normalisation onto [0, 1]; every value 1 when they are all equal. */
static double minmax(double v, double lo, double hi) { return hi > lo ? (v - lo) / (hi - lo) : 1.0; }

/* T and V of every candidate, then relevance = wt * T + wv * V. */
static void fuse(cand *c, size_t n, const mnemo_recall_query *o, const mnemo_text_hits *th, const mnemo_vector_hits *vh)
{
    double tlo = 0, thi = 0, vlo = 0, vhi = 0;
    if (th && th->count) {
        thi = th->hits[0].score;
        tlo = th->hits[th->count - 1].score;
    }
    if (vh && vh->count) {
        vlo = vh->hits[0].distance;
        vhi = vh->hits[vh->count - 1].distance;
    }
    for (size_t i = 0; i < n; i++) {
        double t = 0, v = 0;
        if (o->fusion == MNEMO_RECALL_RRF) {
            if (c[i].text_rank)
                t = (o->rrf_k + 1) / (o->rrf_k + c[i].text_rank);
            if (c[i].vector_rank)
                v = (o->rrf_k + 1) / (o->rrf_k + c[i].vector_rank);
        } else {
            if (c[i].text_rank)
                t = minmax(c[i].text_score, tlo, thi);
            if (c[i].vector_rank) /* nearest 1, farthest 0 */
                v = minmax(vhi - (double)c[i].distance, 0, vhi - vlo);
        }
        c[i].relevance = o->text_weight * t + o->vector_weight * v;
    }
}

/* Recency and importance from each record as the transaction sees it, then the final score.
 * A candidate whose record is gone (cannot happen inside one view; kept safe) scores -inf. */
static int add_memory(cand *c, size_t n, mnemo_db *db, mnemo_txn *txn, const mnemo_recall_query *o)
{
    for (size_t i = 0; i < n; i++) {
        mnemo_record *r;
        /* untracked: a recall, like the searches it runs, is not validated at commit */
        int rc = mnemo_record__load(&r, db, txn, c[i].id, strlen(c[i].id), 0);
        if (rc == MNEMO_ENOTFOUND) {
            c[i].score = -INFINITY;
            continue;
        }
        if (rc)
            return rc;
        int64_t t = o->clock == MNEMO_RECALL_CREATED_AT ? r->created_at : r->updated_at;
        double age = o->now > t ? (double)(o->now - t) : 0; /* a future timestamp counts as now */
        double imp = r->importance < 0 ? 0 : r->importance > 1 ? 1 : r->importance;
        c[i].time = t;
        c[i].recency = exp2(-age / o->half_life_ms);
        c[i].importance = r->importance;
        c[i].score = c[i].relevance + o->recency_weight * c[i].recency + o->importance_weight * imp;
        mnemo_record_free(r);
    }
    return 0;
}

static int finish(mnemo_recall_hits **out, const cand *c, size_t n)
{
    size_t bytes = sizeof(mnemo_recall_hits) + n * sizeof(mnemo_recall_hit);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(c[i].id) + 1;
    mnemo_recall_hits *h = mnemo__malloc(bytes);
    if (!h)
        return mnemo__err_nomem("mnemo_recall: results");
    h->count = n;
    h->hits = (mnemo_recall_hit *)(h + 1);
    char *p = (char *)(h->hits + n);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(c[i].id) + 1;
        memcpy(p, c[i].id, l);
        h->hits[i] = (mnemo_recall_hit){p, c[i].score, c[i].relevance, c[i].text_rank, c[i].text_score,
                                        c[i].vector_rank, c[i].distance, c[i].recency, c[i].importance, c[i].time};
        p += l;
    }
    *out = h;
    return 0;
}

/* The same restriction for both searches (their option structs differ, the fields do not). */
#define SET_RESTRICTION(so, o)                                                                              \
    ((so).filter = (o)->filter, (so).near = (o)->near, (so).hops = (o)->hops, (so).near_dir = (o)->near_dir, \
     (so).near_label = (o)->near_label)

/* Both rankings and the records, in txn t. */
static int run(mnemo_recall_hits **out, mnemo_db *db, mnemo_txn *t, const mnemo_recall_query *o, size_t k)
{
    mnemo_text_hits *th = NULL;
    mnemo_vector_hits *vh = NULL;
    cand *c = NULL;
    size_t n = 0;
    int rc = 0;
    if (o->text) {
        mnemo_text_search_options to = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
        SET_RESTRICTION(to, o);
        if ((rc = mnemo_text_search(&th, db, t, o->text, o->depth, &to)) != 0)
            rc = nested(rc);
    }
    if (!rc && o->vector) {
        mnemo_vector_search_options vo = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
        SET_RESTRICTION(vo, o);
        if ((rc = mnemo_vector_search(&vh, db, t, o->vector, o->dim, o->depth, &vo)) != 0)
            rc = nested(rc);
    }
    if (!rc)
        rc = gather(&c, &n, th, vh);
    if (!rc) {
        fuse(c, n, o, th, vh);
        rc = add_memory(c, n, db, t, o);
    }
    if (!rc) {
        qsort(c, n, sizeof *c, score_cmp);
        while (n && c[n - 1].score == -INFINITY) /* records gone */
            n--;
        rc = finish(out, c, n < k ? n : k);
    }
    mnemo__free(c);
    mnemo_text_hits_free(th);
    mnemo_vector_hits_free(vh);
    return rc;
}

int mnemo_recall(mnemo_recall_hits **out, mnemo_db *db, mnemo_txn *txn, const mnemo_recall_query *q, size_t k)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (rc)
        return rc;
    if (!out || !q)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, out ? "q" : "out");
    mnemo_recall_query o;
    if ((rc = resolve_query(&o, q, k)) != 0)
        return rc;
    if (txn)
        return run(out, db, txn, &o, k);
    /* one snapshot for both rankings and the records */
    mnemo_txn *t;
    if ((rc = mnemo_txn_begin(&t, db, MNEMO_TXN_READONLY)) != 0)
        return nested(rc);
    rc = run(out, db, t, &o, k);
    mnemo_txn_rollback(t);
    mnemo_txn_free(t);
    return rc;
}
