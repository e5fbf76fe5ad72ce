/* Nearest-neighbour search: plain (HNSW), exact (OpenBLAS), restricted by a metadata filter
 * and/or a graph neighbourhood (planned by candidate count), merged with a transaction's own
 * uncommitted vectors, and expanded along the graph. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "graph/graph.h"
#include "filter/filter.h"
#include "record/record.h"
#include "vector/meta.h"
#include "vector/vector_impl.h"

#define MAX_K 100000
/* Restricted searches take exact distances over the candidates when there are at most this many,
 * or at most 1/EXACT_SHARE of the index: cheaper than a filtered walk and never misses. */
#define EXACT_CANDIDATES 2048
#define EXACT_SHARE 10
#define SMALL_INDEX 1024 /* below this many slots every search is exact */
/* An int8 index re-reads a candidate unless its code distance is this many standard deviations of
 * coding error beyond the k-th true distance (docs/vectors.md "Quantization"). */
#define RERANK_SIGMAS 4.0
#define SAMPLE 256           /* records tested to estimate a filter's selectivity */
#define LAZY_MIN_SHARE 0.05  /* below this share, a lazily filtered walk would wander too long */
#define COLUMN_LAZY_SHARE 0.3 /* the same when a column answers the filter (mirror_restriction) */
#define CHEAP_BITSET_TESTS 4096 /* whole-filter tests on cells a bitset may cost (mirror_restriction) */

typedef struct search_ctx {
    mnemo_db *db;
    mnemo_txn *txn;
    vec_state *st;
    vec_txn *vt;          /* the txn's write set, or NULL */
    mnemo_u64map *cand;   /* restriction (filter and/or neighbourhood), or NULL */
    const struct mnemo_filter *lazy; /* a filter tested record by record as the walk meets them */
    const meta_bits *bits; /* or the filter's answer for every record, from the mirror (meta.h) */
    meta_mirror *mirror;   /* when set, the lazy filter is tested on the mirror, not the records */
    meta_pred *col;        /* through a numeric column and its paths' cells (meta.h) */
    mnemo_u64map memo;    /* lazy filter answers: iid -> 1 match, 2 no match */
    int any_expiring;     /* some record has an expiry: hits need a liveness check */
    int error;            /* first error met inside a callback */
    float *scratch;       /* int8 index: one stored vector read back (dim floats), or NULL */
} search_ctx;

/* Is the record iid live for this search (not expired)? Records without expiry always are. */
static int is_live(search_ctx *s, uint64_t iid)
{
    if (!mnemo_record__may_expire(s->db, iid))
        return 1;
    char *id;
    if (mnemo_record__id_of(&id, s->db, s->txn, iid) != 0)
        return 0;
    uint64_t live;
    int rc = mnemo_record__resolve(&live, s->db, s->txn, id);
    mnemo__free(id);
    return rc == 0 && live == iid;
}

/* The lazy filter's answer for iid, remembered for the rest of the call. */
static int lazy_match(search_ctx *s, uint64_t iid)
{
    size_t v;
    if (s->mirror) { /* no record read: cheaper than remembering the answer */
        int m = mnemo_vector__meta_test(s->mirror, s->col, s->lazy, iid);
        if (m < 0 && !s->error)
            s->error = m;
        return m > 0;
    }
    if (mnemo_u64map__get(&s->memo, iid, &v))
        return v == 1;
    int m = mnemo_record__match_iid(s->db, s->txn, s->lazy, iid);
    if (m < 0) {
        if (!s->error)
            s->error = m;
        return 0;
    }
    if (mnemo_u64map__add(&s->memo, iid, m ? 1 : 2) < 0 && !s->error)
        s->error = MNEMO_ENOMEM;
    return m;
}

static int in_restriction(search_ctx *s, uint64_t iid)
{
    if (s->bits)
        return mnemo_vector__meta_has(s->bits, iid);
    if (s->cand)
        return mnemo_u64map__get(s->cand, iid, NULL);
    return !s->lazy || lazy_match(s, iid);
}

/* Filter for index results: in the restriction, not changed by the txn (its version is scored
 * separately), live. */
static int accept(void *arg, uint64_t iid)
{
    search_ctx *s = arg;
    if (!in_restriction(s, iid))
        return 0;
    if (s->vt && mnemo_vector__txn_find(s->vt, iid))
        return 0;
    return !s->any_expiring || is_live(s, iid);
}

static int needs_filter(const search_ctx *s)
{
    return s->bits || s->cand || s->lazy || (s->vt && s->vt->n) || s->any_expiring;
}

/* ---- results under construction ---- */

typedef struct hit_ent {
    uint64_t iid;
    float dist;
    uint32_t hops;
    size_t via;     /* index of the nearest hit an expansion came from, or SIZE_MAX */
    const char *id; /* owned when own (expansions); borrowed from the index's id table otherwise */
    size_t id_len;
    int own;
} hit_ent;

/* Hits of one query; the first few live inside the struct, so a plain search allocates nothing
 * here. */
typedef struct hit_buf {
    hit_ent *e;
    size_t n, cap;
    hit_ent inline_e[32];
} hit_buf;

static void hb_init(hit_buf *b)
{
    b->e = b->inline_e;
    b->n = 0;
    b->cap = sizeof b->inline_e / sizeof *b->inline_e;
}

static int hb_push(hit_buf *b, hit_ent e)
{
    if (b->n == b->cap) {
        size_t cap = 2 * b->cap;
        hit_ent *ne = mnemo__malloc(cap * sizeof *ne);
        if (!ne)
            return mnemo__err_nomem("search results");
        memcpy(ne, b->e, b->n * sizeof *ne);
        if (b->e != b->inline_e)
            mnemo__free(b->e);
        b->e = ne;
        b->cap = cap;
    }
    b->e[b->n++] = e;
    return 0;
}

/* A nearest hit: its id is borrowed (the caller holds st->rw until hb_finish). */
static int hb_add_borrowed(hit_buf *b, uint64_t iid, float dist, const char *id)
{
    return hb_push(b, (hit_ent){iid, dist, 0, SIZE_MAX, id, strlen(id), 0});
}

/* An expansion: its id (a transient slice) is copied. */
static int hb_add(hit_buf *b, uint64_t iid, float dist, uint32_t hops, size_t via, const char *id, size_t id_len)
{
    char *copy = mnemo__malloc(id_len + 1);
    if (!copy)
        return mnemo__err_nomem("search results");
    memcpy(copy, id, id_len);
    copy[id_len] = '\0';
    int rc = hb_push(b, (hit_ent){iid, dist, hops, via, copy, id_len, 1});
    if (rc)
        mnemo__free(copy);
    return rc;
}

/* Empties b for the next query, keeping its storage. */
static void hb_reset(hit_buf *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].own)
            mnemo__free((char *)b->e[i].id);
    b->n = 0;
}

static void hb_free(hit_buf *b)
{
    hb_reset(b);
    if (b->e != b->inline_e)
        mnemo__free(b->e);
    hb_init(b);
}

/* One allocation: the struct, the hits, then the id strings. */
static int hb_finish(mnemo_vector_hits **out, const hit_buf *b)
{
    size_t bytes = sizeof(mnemo_vector_hits) + b->n * sizeof(mnemo_vector_hit);
    for (size_t i = 0; i < b->n; i++)
        bytes += b->e[i].id_len + 1;
    mnemo_vector_hits *h = mnemo__malloc(bytes);
    if (!h)
        return mnemo__err_nomem("search results");
    h->count = b->n;
    h->hits = (mnemo_vector_hit *)(h + 1);
    char *p = (char *)(h->hits + b->n);
    for (size_t i = 0; i < b->n; i++) {
        const hit_ent *e = &b->e[i];
        memcpy(p, e->id, e->id_len);
        p[e->id_len] = '\0';
        h->hits[i] = (mnemo_vector_hit){p, e->dist, e->hops, NULL};
        p += e->id_len + 1;
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].via != SIZE_MAX)
            h->hits[i].via = h->hits[b->e[i].via].id;
    *out = h;
    return 0;
}

void mnemo_vector_hits_free(mnemo_vector_hits *hits) { mnemo__free(hits); }

/* ---- restrictions ---- */

static int add_to_set(void *arg, uint64_t iid)
{
    int rc = mnemo_u64map__add(arg, iid, 0);
    return rc < 0 ? rc : 0;
}

/* The next frontier of a breadth-first walk. */
typedef struct frontier {
    uint64_t *ids;
    size_t n, cap;
} frontier;

static int frontier_push(frontier *f, uint64_t iid)
{
    int rc = mnemo__grow(&f->ids, &f->cap, f->n + 1, sizeof *f->ids, 64);
    if (!rc)
        f->ids[f->n++] = iid;
    return rc;
}

/* Records within `hops` of `near` (itself included) into set. */
static int neighbourhood(mnemo_u64map *set, search_ctx *s, const mnemo_vector_search_options *o, const char *fn)
{
    uint64_t start;
    int rc = mnemo_record__resolve(&start, s->db, s->txn, o->near);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: near names no record '%s'", fn, o->near);
    if (rc)
        return rc;
    return mnemo_graph__neighbourhood(set, s->db, s->txn, start, o->hops ? o->hops : 1, o->near_dir, o->near_label);
}

/* Share of a sample of the index's live vectors whose records pass the lazy filter. */
static double sample_selectivity(search_ctx *s)
{
    size_t slots = mnemo_hnsw__slots(s->st->hnsw), n = slots < SAMPLE ? slots : SAMPLE, seen = 0, hit = 0;
    int deletes = mnemo_hnsw__deleted(s->st->hnsw) != 0; /* else every row is live: no cache miss to ask */
    /* pseudo-random rows (splitmix64 of i, the same every call): a fixed stride, or golden-ratio
     * steps when the row count is a multiple of a Fibonacci number, would see only a few phases of
     * records put in a periodic pattern (the first chunk of every document of 40) */
    for (size_t i = 0; i < n && !s->error; i++) {
        uint64_t z = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ z >> 27) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        size_t r = slots <= SAMPLE ? i : (size_t)((double)(z >> 11) * 0x1p-53 * (double)slots);
        r = r < slots ? r : slots - 1; /* the product may round up to slots */
        if (!deletes || mnemo_hnsw__row_live(s->st->hnsw, r)) {
            seen++;
            hit += lazy_match(s, mnemo_hnsw__row_label(s->st->hnsw, r));
        }
    }
    return seen ? (double)hit / (double)seen : 0;
}

/* Sets up the restriction: a set of candidates (a neighbourhood, or a filter that passes few
 * records: exact search over them follows), or the filter itself, tested lazily on the records
 * the walk meets (a filter that passes many: collecting its matches would read them all). The
 * share passing comes from an index count when an index answers the filter, else from a sample.
 * Caller holds st->rw shared (the sample reads the index). */
static int restriction(mnemo_u64map *set, search_ctx *s, const mnemo_vector_search_options *o, struct mnemo_filter *f,
                       const char *fn)
{
    int rc = 0;
    if (o->near) {
        if ((rc = neighbourhood(set, s, o, fn)) != 0 || !f)
            return rc;
        mnemo_u64map kept = MNEMO_U64MAP_INIT; /* a neighbourhood is small: test each record */
        s->lazy = f;
        for (size_t i = 0; i < set->cap && !rc; i++)
            if (set->keys[i] && lazy_match(s, set->keys[i]))
                rc = add_to_set(&kept, set->keys[i]);
        if (!rc)
            rc = s->error;
        s->lazy = NULL;
        mnemo_u64map__free(set);
        *set = kept;
        return rc;
    }
    /* the share of records that pass: from the index's count (counting stops once the answer
     * is clear), or from a sample */
    size_t live = mnemo_hnsw__slots(s->st->hnsw) - mnemo_hnsw__deleted(s->st->hnsw);
    double lazy_from = (double)live * LAZY_MIN_SHARE;
    uint64_t est, cap = (uint64_t)(lazy_from > EXACT_CANDIDATES ? lazy_from : EXACT_CANDIDATES) + 1;
    int indexed;
    if ((rc = mnemo_record__estimate(&est, &indexed, cap, s->db, s->txn, f)) != 0)
        return rc;
    s->lazy = f;
    double p = indexed ? (live ? (double)est / (double)live : 0) : sample_selectivity(s);
    if (s->error)
        return s->error;
    /* collecting matches costs a read of every record unless an index answers, and then a
     * read per match */
    if (p >= LAZY_MIN_SHARE && (!indexed || p * (double)live > EXACT_CANDIDATES))
        return 0; /* lazy */
    s->lazy = NULL;
    return mnemo_record__match_ids(s->db, s->txn, f, add_to_set, set);
}

typedef struct id_list {
    uint64_t *ids;
    size_t n, cap, limit;
} id_list;

static int add_to_list(void *arg, uint64_t iid)
{
    id_list *l = arg;
    if (l->n == l->limit)
        return 1; /* enough: stop */
    int rc = mnemo__grow(&l->ids, &l->cap, l->n + 1, sizeof *l->ids, 256);
    if (!rc)
        l->ids[l->n++] = iid;
    return rc;
}

_Thread_local int mnemo_vector__last_plan;

/* The restriction of a filter the mirror answers (no record read): the filter's bitset when it
 * is cached, when an index answers the filter with few entries (the filter tested on the mirror
 * entries of their ids), when the text was asked for before, or when a sample says few pass;
 * otherwise the filter tested on the mirror as the walk meets nodes. A numeric column (meta.h)
 * makes a test a few ns instead of ~100: then the bitset over every record pays off up to
 * COLUMN_LAZY_SHARE passing, and an index only for fewer entries than 1/150 of the records (an
 * entry read costs ~150 column tests); a filter tested on its paths' cells (meta_pred_cheap) is
 * sampled first, and its bitset is made while it costs few whole-filter tests. Caller holds
 * st->rw shared. */
static int mirror_restriction(meta_bits **bits, search_ctx *s, struct mnemo_filter *f, const char *text)
{
    int seen = mnemo_vector__meta_cached(bits, s->mirror, text);
    if (*bits) {
        mnemo_vector__last_plan = MNEMO_VPLAN_CACHED;
        return 0;
    }
    int exact, rc;
    if ((rc = mnemo_vector__meta_pred(&s->col, &exact, s->mirror, f, text)) != 0)
        return rc;
    size_t live = mnemo_hnsw__slots(s->st->hnsw) - mnemo_hnsw__deleted(s->st->hnsw);
    double lazy_from = (double)live * LAZY_MIN_SHARE;
    int numeric = mnemo_vector__meta_pred_numeric(s->col);
    id_list l = {NULL, 0, 0, numeric ? live / 150 : (size_t)(lazy_from > EXACT_CANDIDATES ? lazy_from : EXACT_CANDIDATES)};
    int cells = mnemo_vector__meta_pred_cheap(s->col);
    double p = -1;
    s->lazy = f;
    if (cells) { /* a sample costs ~256 tests on cells: it tells whether the index is worth a read */
        p = sample_selectivity(s);
        if (s->error)
            return s->error;
    }
    /* an index holds at least the matches: past its limit by the sample, it is not read */
    rc = p * (double)live > (double)l.limit ? 1 : mnemo_record__index_iids(s->db, NULL, f, add_to_list, &l);
    if (rc == 0) { /* an index answered with few entries: test only those */
        rc = mnemo_vector__meta_compute(bits, s->mirror, text, f, l.ids, l.n);
        mnemo_vector__last_plan = MNEMO_VPLAN_INDEX;
    }
    mnemo__free(l.ids);
    if (rc == 0 || (rc != 1 && rc != MNEMO_ENOTFOUND)) {
        s->lazy = NULL;
        return rc;
    }
    int indexed = rc == 1; /* an index has many entries (or was not read) */
    if (p < 0)
        p = indexed && !numeric ? 1 : sample_selectivity(s);
    if (s->error)
        return s->error;
    /* a bitset costs the column (~1 ns a record) where it answers alone, and a test of the whole
     * filter (~40 ns on cells) per record it lets through otherwise: past CHEAP_BITSET_TESTS of
     * those the walk's own tests cost less */
    int cheap = exact || (cells && p * (double)live <= CHEAP_BITSET_TESTS);
    if (!seen && p >= (cheap ? COLUMN_LAZY_SHARE : LAZY_MIN_SHARE)) {
        mnemo_vector__last_plan = MNEMO_VPLAN_LAZY;
        return 0; /* lazy */
    }
    s->lazy = NULL;
    mnemo_vector__last_plan = MNEMO_VPLAN_BITSET;
    return mnemo_vector__meta_compute(bits, s->mirror, text, f, NULL, 0);
}

/* ---- one query ---- */

/* Inserts (iid, d) into hits kept sorted by distance (*n of at most k), if it is among the k best. */
static void top_insert(uint64_t *labels, float *dists, size_t *n, size_t k, uint64_t iid, float d)
{
    if (*n == k && d >= dists[k - 1])
        return;
    size_t j = *n < k ? (*n)++ : k - 1;
    while (j > 0 && dists[j - 1] > d) {
        dists[j] = dists[j - 1];
        labels[j] = labels[j - 1];
        j--;
    }
    dists[j] = d;
    labels[j] = iid;
}

/* The true vector of live iid for exact distances: the index's floats, or (int8 index, which holds
 * only codes) the stored vector read into s->scratch, valid until the next call. NULL when iid is
 * not in the index or is gone from vector_data; a read error is kept in s->error. */
static const float *index_vec(search_ctx *s, uint64_t iid)
{
    mnemo_hnsw *h = s->st->hnsw;
    if (!mnemo_hnsw__quantized(h))
        return mnemo_hnsw__vector(h, iid);
    if (!mnemo_hnsw__has(h, iid))
        return NULL;
    if (!s->scratch && !(s->scratch = mnemo__malloc(s->st->sp.dim * sizeof(float)))) {
        s->error = s->error ? s->error : mnemo__err_nomem("vector search");
        return NULL;
    }
    int rc = mnemo_vector__stored(s->st, iid, s->scratch);
    if (rc && rc != MNEMO_ENOTFOUND && !s->error)
        s->error = rc;
    return rc ? NULL : s->scratch;
}

/* The k nearest of m candidates of an int8 index given in ascending code distance (cl, cd): they
 * are read from vector_data in that order and ranked by their true distances, skipping every one
 * whose code distance exceeds the k-th true distance found so far by more than RERANK_SIGMAS
 * standard deviations of its coding error. */
static int rerank(search_ctx *s, const float *q, size_t k, const uint64_t *cl, const float *cd, size_t m,
                  uint64_t *labels, float *dists, size_t *n)
{
    mnemo_hnsw *h = s->st->hnsw;
    int l2 = s->st->kind == MNEMO_HNSW_L2, rc = 0;
    double qn = 0;
    for (size_t i = 0; i < s->st->sp.dim && !l2; i++)
        qn += (double)q[i] * q[i];
    qn = sqrt(qn);
    *n = 0;
    for (size_t i = 0; i < m && !rc; i++) {
        if (*n == k) {
            /* the coding error of each component is within +-s/2, near uniform: the true distance
             * is the code distance plus 2e.(x^-q) (+|e|^2 >= 0) under L2, -e.q under IP, whose
             * standard deviation is 2|x^-q| s/sqrt(12), |q| s/sqrt(12) */
            double sd = mnemo_hnsw__step(h, cl[i]) / sqrt(12.0) * (l2 ? 2 * sqrt(cd[i] > 0 ? cd[i] : 0) : qn);
            if (cd[i] - RERANK_SIGMAS * sd >= dists[k - 1])
                continue; /* too far to be among the k nearest */
        }
        const float *v = index_vec(s, cl[i]);
        if (v)
            top_insert(labels, dists, n, k, cl[i], mnemo_hnsw__distance(h, q, v));
        rc = s->error;
    }
    return rc;
}

/* A filtered walk steps over refused nodes (hnsw.h two_hop) when the filter is a bitset (a bit
 * test per node) passing at most this share of the index, and no record expires (a refused node
 * met again is asked again: with expiring records, a record read each time). Recall falls as the
 * share grows: on 50,000 random 16-d vectors 0.97 at 1 in 10 passing, 0.95 at 1 in 6, 0.94 at 1
 * in 4 (the plain walk: 1.0); vector::review_lazy_filters_keep_recall checks 1 in 10 on 30,000. */
#define TWO_HOP_SHARE 0.12

static int two_hop(const search_ctx *s)
{
    size_t slots = mnemo_hnsw__slots(s->st->hnsw);
    return s->bits && !s->lazy && !s->any_expiring && slots && (double)s->bits->count <= TWO_HOP_SHARE * (double)slots;
}

/* mnemo_hnsw__search, and with an int8 index the re-ranking of the whole beam (the codes rank it:
 * the query is not coded, so only the stored side carries error). */
static int hnsw_query(search_ctx *s, const float *q, size_t k, size_t beam, mnemo_hnsw_filter filter,
                      uint64_t *labels, float *dists, size_t *n)
{
    mnemo_hnsw *h = s->st->hnsw;
    if (!mnemo_hnsw__quantized(h))
        return mnemo_hnsw__search(h, q, k, beam, filter, s, two_hop(s), labels, dists, n);
    size_t r = beam < k ? k : beam, m = 0;
    uint64_t l_buf[256];
    float d_buf[256];
    uint64_t *cl = r <= 256 ? l_buf : mnemo__malloc(r * sizeof *cl);
    float *cd = r <= 256 ? d_buf : mnemo__malloc(r * sizeof *cd);
    int rc = cl && cd ? 0 : mnemo__err_nomem("vector search");
    if (!rc)
        rc = mnemo_hnsw__search(h, q, r, beam, filter, s, two_hop(s), cl, cd, &m);
    if (!rc)
        rc = rerank(s, q, k, cl, cd, m, labels, dists, n);
    if (cl != l_buf)
        mnemo__free(cl);
    if (cd != d_buf)
        mnemo__free(cd);
    return rc;
}

typedef struct code_hit {
    float d;
    uint64_t iid;
} code_hit;

static int by_code_distance(const void *a, const void *b)
{
    float x = ((const code_hit *)a)->d, y = ((const code_hit *)b)->d;
    return x < y ? -1 : x > y;
}

/* An int8 index's answer over a candidate list (m iids, freed here): every candidate ranked by its
 * code distance, then re-ranked (rerank) with the true vectors. */
static int code_rank(search_ctx *s, const float *q, size_t k, uint64_t *iids, size_t m, uint64_t *labels,
                     float *dists, size_t *n)
{
    float *cd = mnemo__malloc((m ? m : 1) * sizeof *cd);
    code_hit *hits = mnemo__malloc((m ? m : 1) * sizeof *hits);
    int rc = cd && hits ? 0 : mnemo__err_nomem("vector search");
    if (!rc)
        rc = mnemo_hnsw__code_distances(s->st->hnsw, q, iids, m, cd);
    size_t live = 0;
    for (size_t i = 0; i < m && !rc; i++)
        if (cd[i] != INFINITY)
            hits[live++] = (code_hit){cd[i], iids[i]};
    if (!rc) {
        qsort(hits, live, sizeof *hits, by_code_distance);
        for (size_t i = 0; i < live; i++) {
            iids[i] = hits[i].iid;
            cd[i] = hits[i].d;
        }
        rc = rerank(s, q, k, iids, cd, live, labels, dists, n);
    }
    mnemo__free(cd);
    mnemo__free(hits);
    mnemo__free(iids);
    return rc;
}

/* Appends iid to the list (*v, *m of *cap); 0 or MNEMO_ENOMEM. */
static int iid_push(uint64_t **v, size_t *m, size_t *cap, uint64_t iid)
{
    int rc = mnemo__grow(v, cap, *m + 1, sizeof **v, 256);
    if (!rc)
        (*v)[(*m)++] = iid;
    return rc;
}

/* int8 index: the candidates of the restriction (s->cand, s->bits) or every live row (accepted
 * when filtered), ranked by code_rank. */
static int code_rank_rows(search_ctx *s, const float *q, size_t k, int filtered, uint64_t *labels, float *dists,
                          size_t *n)
{
    uint64_t *iids = NULL;
    size_t m = 0, cap = 0;
    int rc = 0;
    if (s->bits) {
        for (size_t w = 0; w <= s->bits->nbits / 64 && !rc; w++)
            for (uint64_t word = s->bits->w[w]; word && !rc; word &= word - 1) {
                uint64_t iid = s->bits->base + w * 64 + (uint64_t)__builtin_ctzll(word);
                if (!s->any_expiring || is_live(s, iid))
                    rc = iid_push(&iids, &m, &cap, iid);
            }
    } else if (s->cand) {
        for (size_t i = 0; i < s->cand->cap && !rc; i++)
            if (s->cand->keys[i] && accept(s, s->cand->keys[i]))
                rc = iid_push(&iids, &m, &cap, s->cand->keys[i]);
    } else {
        size_t slots = mnemo_hnsw__slots(s->st->hnsw);
        for (size_t r = 0; r < slots && !rc; r++) {
            uint64_t iid = mnemo_hnsw__row_label(s->st->hnsw, r);
            if (mnemo_hnsw__row_live(s->st->hnsw, r) && (!filtered || accept(s, iid)))
                rc = iid_push(&iids, &m, &cap, iid);
        }
    }
    if (!rc && s->error)
        rc = s->error;
    if (rc) {
        mnemo__free(iids);
        return rc;
    }
    return code_rank(s, q, k, iids, m, labels, dists, n);
}

/* Exact distances over the candidate set, read from the index. Caller holds st->rw shared. */
static int exact_candidates(search_ctx *s, const float *q, size_t k, uint64_t *labels, float *dists, size_t *n)
{
    if (mnemo_hnsw__quantized(s->st->hnsw))
        return code_rank_rows(s, q, k, 1, labels, dists, n);
    *n = 0;
    for (size_t i = 0; i < s->cand->cap; i++) {
        uint64_t iid = s->cand->keys[i];
        const float *v;
        if (!iid || !accept(s, iid) || !(v = index_vec(s, iid)))
            continue;
        top_insert(labels, dists, n, k, iid, mnemo_hnsw__distance(s->st->hnsw, q, v));
    }
    return 0;
}

/* Exact distances over the ids of the filter's bitset, in batches: the vectors of a batch are
 * looked up and prefetched first, so their cache misses overlap. Caller holds st->rw shared. */
static int exact_bits(search_ctx *s, const float *q, size_t k, uint64_t *labels, float *dists, size_t *n)
{
    enum { BATCH = 32 };
    const float *vec[BATCH];
    uint64_t ids[BATCH];
    size_t nb = 0, row_bytes = s->st->sp.dim * sizeof(float);
    *n = 0;
    const meta_bits *b = s->bits;
    if (mnemo_hnsw__quantized(s->st->hnsw))
        return code_rank_rows(s, q, k, 1, labels, dists, n);
    for (size_t w = 0; w <= b->nbits / 64; w++) {
        for (uint64_t word = b->w[w]; word; word &= word - 1) {
            uint64_t iid = b->base + w * 64 + (uint64_t)__builtin_ctzll(word);
            const float *v = mnemo_hnsw__vector(s->st->hnsw, iid);
            if (!v)
                continue;
            for (size_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch((const char *)v + off);
            vec[nb] = v;
            ids[nb++] = iid;
            if (nb < BATCH)
                continue;
            for (size_t i = 0; i < nb; i++)
                if (!s->any_expiring || is_live(s, ids[i]))
                    top_insert(labels, dists, n, k, ids[i], mnemo_hnsw__distance(s->st->hnsw, q, vec[i]));
            nb = 0;
        }
    }
    for (size_t i = 0; i < nb; i++)
        if (!s->any_expiring || is_live(s, ids[i]))
            top_insert(labels, dists, n, k, ids[i], mnemo_hnsw__distance(s->st->hnsw, q, vec[i]));
    return 0;
}

/* The k nearest committed (index) vectors for one query. Caller holds st->rw shared. */
static int index_query(search_ctx *s, const float *q, size_t k, size_t ef, int exact, size_t n_cand,
                       uint64_t *labels, float *dists, size_t *n)
{
    size_t slots = mnemo_hnsw__slots(s->st->hnsw);
    if (s->bits && s->bits->count <= EXACT_CANDIDATES)
        return exact_bits(s, q, k, labels, dists, n);
    if (s->bits)
        n_cand = s->bits->count;
    if (s->cand && (n_cand <= EXACT_CANDIDATES || n_cand * EXACT_SHARE <= slots))
        return exact_candidates(s, q, k, labels, dists, n);
    if (!exact && slots <= SMALL_INDEX && mnemo_hnsw__quantized(s->st->hnsw)) /* no store scan */
        return code_rank_rows(s, q, k, needs_filter(s), labels, dists, n);
    if (exact || slots <= SMALL_INDEX)
        return mnemo_vector__exact_scan(s->st, q, 1, k, needs_filter(s) ? accept : NULL, s, labels, dists, n);
    int rc;
    if (!needs_filter(s))
        return hnsw_query(s, q, k, ef, NULL, labels, dists, n);
    /* A restricted walk admits only accepted nodes; if it still finds fewer than k while more
     * qualify, widen the beam, and past the index size fall back to exact. */
    size_t want = (s->cand || s->bits) && n_cand < k ? n_cand : k;
    int restricted = s->cand || s->lazy || s->bits;
    for (size_t beam = ef < 2 * k ? 2 * k : ef;; beam *= 4) {
        if ((rc = hnsw_query(s, q, k, beam, accept, labels, dists, n)) != 0 || s->error)
            return rc ? rc : s->error;
        if (*n >= want || !restricted)
            return 0;
        if (beam >= slots)
            return mnemo_vector__exact_scan(s->st, q, 1, k, accept, s, labels, dists, n);
    }
}

/* Adds the txn's own vectors (exact) to the sorted hits (labels, dists, n <= k). */
static void merge_own(search_ctx *s, const float *q, size_t k, uint64_t *labels, float *dists, size_t *n)
{
    if (!s->vt)
        return;
    for (size_t i = 0; i < s->vt->n; i++) {
        const vec_change *c = &s->vt->c[i];
        if (!c->vec || !in_restriction(s, c->iid) || (s->any_expiring && !is_live(s, c->iid)))
            continue;
        top_insert(labels, dists, n, k, c->iid, mnemo_hnsw__distance(s->st->hnsw, q, c->vec));
    }
}

static const char *hit_id(search_ctx *s, uint64_t iid)
{
    const vec_change *c = mnemo_vector__txn_find(s->vt, iid);
    return c ? c->id : mnemo_vector__id_of(s->st, iid);
}

/* ---- expansion along the graph ---- */

typedef struct expand_ctx {
    search_ctx *s;
    hit_buf *b;
    mnemo_u64map *seen;
    const float *q;
    uint32_t depth;
    size_t via;
    frontier next;
} expand_ctx;

static int expand_edge(void *arg, const mnemo_graph_edge_view *e)
{
    expand_ctx *x = arg;
    int rc = mnemo_u64map__add(x->seen, e->other, 0);
    if (rc <= 0)
        return rc;
    const vec_change *c = mnemo_vector__txn_find(x->s->vt, e->other);
    const float *v = c ? c->vec : index_vec(x->s, e->other);
    if (x->s->error)
        return x->s->error;
    float d = v ? mnemo_hnsw__distance(x->s->st->hnsw, x->q, v) : NAN;
    if ((rc = hb_add(x->b, e->other, d, x->depth, x->via, e->other_id, e->other_id_len)) != 0)
        return rc;
    return frontier_push(&x->next, e->other);
}

/* Appends the neighbourhood of the first n_hits hits, nearest hit first, ordered by (hops,
 * distance) with NaN distances last. Caller holds st->rw shared. */
static int expand(search_ctx *s, hit_buf *b, const float *q, uint32_t hops, mnemo_direction dir)
{
    size_t n_hits = b->n;
    mnemo_u64map seen = MNEMO_U64MAP_INIT;
    int rc = 0;
    for (size_t i = 0; i < n_hits && !rc; i++)
        rc = add_to_set(&seen, b->e[i].iid);
    for (size_t i = 0; i < n_hits && !rc; i++) {
        uint64_t *frontier = mnemo__malloc(sizeof *frontier);
        if (!frontier) {
            rc = mnemo__err_nomem("search expansion");
            break;
        }
        frontier[0] = b->e[i].iid;
        size_t nf = 1;
        for (uint32_t h = 1; h <= hops && nf && !rc; h++) {
            expand_ctx x = {s, b, &seen, q, h, i, {NULL, 0, 0}};
            for (size_t f = 0; f < nf && !rc; f++)
                rc = mnemo_graph__scan(s->db, s->txn, frontier[f], dir, 0, expand_edge, &x);
            mnemo__free(frontier);
            frontier = x.next.ids;
            nf = x.next.n;
        }
        mnemo__free(frontier);
    }
    mnemo_u64map__free(&seen);
    if (rc < 0)
        return rc;
    /* insertion sort of the expansions by (hops, distance), NaN last; lists are small */
    for (size_t i = n_hits + 1; i < b->n; i++)
        for (size_t j = i; j > n_hits; j--) {
            const hit_ent *x = &b->e[j - 1], *y = &b->e[j];
            int later = x->hops > y->hops ||
                        (x->hops == y->hops && (isnan(x->dist) ? !isnan(y->dist) : !isnan(y->dist) && x->dist > y->dist));
            if (!later)
                break;
            hit_ent t = b->e[j - 1];
            b->e[j - 1] = b->e[j];
            b->e[j] = t;
        }
    return 0;
}

/* ---- entry points ---- */

static int run(mnemo_guard *guard, mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *queries,
               size_t nq, size_t dim, size_t k, const mnemo_vector_search_options *opts, uint32_t hops,
               mnemo_direction dir, const char *fn)
{
    vec_state *st;
    int rc = mnemo_guard__txn(guard, db, txn, fn);
    if (!rc)
        rc = mnemo_vector__state(&st, db, fn);
    if (!rc)
        rc = mnemo_vector__usable(st, fn);
    if (rc)
        return rc;
    static const mnemo_vector_search_options defaults = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    const mnemo_vector_search_options *o = opts ? opts : &defaults;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    if (!queries)
        return mnemo__err(MNEMO_EINVAL, "%s: query is NULL", fn);
    if (nq == 0)
        return mnemo__err(MNEMO_EINVAL, "%s: no queries (n is 0)", fn);
    if (k == 0 || k > MAX_K)
        return mnemo__err(MNEMO_EINVAL, "%s: k must be 1..%u, not %zu", fn, MAX_K, k);
    if (o->version > MNEMO_VECTOR_SEARCH_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: search options version %u is newer than this library", fn, o->version);
    if ((rc = mnemo_graph__check_near(fn, o->near, o->near_dir, o->near_label)) != 0)
        return rc;
    if (dir & ~(unsigned)MNEMO_DIR_BOTH)
        return mnemo__err(MNEMO_EINVAL, "%s: unknown direction", fn);
    if (dim != st->sp.dim)
        return mnemo__err(MNEMO_EDIM, "%s: query has dimension %zu, the vector space has %u", fn, dim, st->sp.dim);
    /* every buffer below is sized by nq * dim floats and nq * k hits: refuse counts that wrap */
    if (nq > SIZE_MAX / sizeof(float) / (dim ? dim : 1) || nq > SIZE_MAX / sizeof(uint64_t) / k)
        return mnemo__err(MNEMO_EINVAL, "%s: n %zu queries of dimension %zu with k %zu cannot be addressed", fn, nq,
                          dim, k);
    /* one query of usual size runs without heap buffers */
    float q_buf[512], d_buf[64];
    uint64_t l_buf[64];
    size_t c_buf[1] = {0};
    mnemo_vector_hits *r_buf[1] = {NULL};
    int small = nq == 1 && dim <= 512 && k <= 64;
    float *q = small ? q_buf : mnemo__malloc(nq * dim * sizeof *q);
    uint64_t *labels = small ? l_buf : mnemo__malloc(nq * k * sizeof *labels);
    float *dists = small ? d_buf : mnemo__malloc(nq * k * sizeof *dists);
    size_t *counts = small ? c_buf : mnemo__calloc(nq, sizeof *counts);
    mnemo_vector_hits **res = small ? r_buf : mnemo__calloc(nq, sizeof *res);
    if (!q || !labels || !dists || !counts || !res)
        rc = mnemo__err_nomem(fn);
    char what[40];
    for (size_t i = 0; i < nq && !rc; i++) {
        snprintf(what, sizeof what, nq > 1 ? "query %zu" : "query", i);
        rc = mnemo_vector__prepare(q + i * dim, st, queries + i * dim, dim, fn, what);
    }
    search_ctx s = {.db = db, .txn = txn, .st = st, .memo = MNEMO_U64MAP_INIT,
                    .any_expiring = mnemo_record__any_expiring(db)};
    mnemo_u64map cand = MNEMO_U64MAP_INIT;
    struct mnemo_filter *f = NULL;
    if (!rc && txn && mnemo_vector__txn(&s.vt, st, db, txn, 0))
        s.vt = NULL;
    if (!rc && o->filter && (rc = mnemo_filter__compile(&f, o->filter)) != 0)
        rc = mnemo__err(rc, "%s: filter: %s", fn, mnemo_errmsg());
    size_t ef = o->ef ? o->ef : st->sp.hnsw_ef_search;
    /* outside a transaction a filter is tested on the mirror of the records' metadata (meta.h),
     * not by reading records */
    meta_bits *bits = NULL;
    mnemo_vector__last_plan = 0; /* set by mirror_restriction alone */
    if (!rc && f && !txn && !o->near && (rc = mnemo_vector__meta_begin(&s.mirror, db, o->filter)) != 0)
        rc = mnemo__err(rc, "%s: filter: %s", fn, mnemo_errmsg());
    hit_buf b;
    hb_init(&b);
    pthread_rwlock_rdlock(&st->rw);
    if (!rc && (f || o->near)) {
        rc = s.mirror ? mirror_restriction(&bits, &s, f, o->filter) : restriction(&cand, &s, o, f, fn);
        s.bits = bits;
        if (!s.lazy && !s.bits)
            s.cand = &cand;
    }
    /* An exact batch with no restriction is one matrix product per block for all queries. */
    int batched = !rc && o->exact && !s.cand && !s.lazy && !s.bits && nq > 1;
    if (batched)
        rc = mnemo_vector__exact_scan(st, q, nq, k, needs_filter(&s) ? accept : NULL, &s, labels, dists, counts);
    for (size_t i = 0; i < nq && !rc; i++) {
        uint64_t *ql = labels + i * k;
        float *qd = dists + i * k;
        size_t n = counts[i];
        if (!batched)
            rc = index_query(&s, q + i * dim, k, ef, o->exact, cand.n, ql, qd, &n);
        if (!rc && s.error)
            rc = s.error;
        if (!rc)
            merge_own(&s, q + i * dim, k, ql, qd, &n);
        hb_reset(&b);
        for (size_t j = 0; j < n && !rc; j++) {
            const char *id = hit_id(&s, ql[j]);
            if (!id)
                rc = mnemo__err(MNEMO_ECORRUPT, "%s: the index holds internal id %llu with no record id", fn,
                                (unsigned long long)ql[j]);
            else
                rc = hb_add_borrowed(&b, ql[j], qd[j], id);
        }
        if (!rc && hops)
            rc = expand(&s, &b, q + i * dim, hops, dir ? dir : MNEMO_DIR_BOTH);
        if (!rc)
            rc = hb_finish(&res[i], &b);
    }
    hb_free(&b);
    pthread_rwlock_unlock(&st->rw);
    mnemo_u64map__free(&cand);
    mnemo_u64map__free(&s.memo);
    mnemo__free(s.scratch);
    mnemo_vector__meta_release(bits);
    mnemo_vector__meta_pred_free(s.col);
    mnemo_vector__meta_end(s.mirror);
    mnemo_filter__free(f);
    if (!rc)
        memcpy(out, res, nq * sizeof *res);
    else if (res)
        for (size_t i = 0; i < nq; i++)
            mnemo__free(res[i]);
    if (!small) {
        mnemo__free(res);
        mnemo__free(q);
        mnemo__free(labels);
        mnemo__free(dists);
        mnemo__free(counts);
    }
    return rc;
}

int mnemo_vector_search(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *query, size_t dim, size_t k,
                        const mnemo_vector_search_options *opts)
{
    MNEMO_GUARD(guard);
    return run(&guard, out, db, txn, query, 1, dim, k, opts, 0, 0, "mnemo_vector_search");
}

int mnemo_vector_search_batch(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *queries, size_t n,
                              size_t dim, size_t k, const mnemo_vector_search_options *opts)
{
    MNEMO_GUARD(guard);
    return run(&guard, out, db, txn, queries, n, dim, k, opts, 0, 0, "mnemo_vector_search_batch");
}

int mnemo_vector_search_expand(mnemo_vector_hits **out, mnemo_db *db, mnemo_txn *txn, const float *query, size_t dim,
                               size_t k, const mnemo_vector_search_options *opts, uint32_t hops, mnemo_direction dir)
{
    if (hops == 0)
        return mnemo__err(MNEMO_EINVAL, "mnemo_vector_search_expand: hops must be at least 1");
    MNEMO_GUARD(guard);
    return run(&guard, out, db, txn, query, 1, dim, k, opts, hops, dir, "mnemo_vector_search_expand");
}
