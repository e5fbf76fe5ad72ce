/* BM25 search: reads the postings of the query's terms only (one prefix scan per distinct term,
 * in the transaction's view), scores terms and phrases, removes excluded records, and keeps the
 * best k that pass the restrictions (metadata filter, graph neighbourhood, liveness).
 *
 *   score(D) = sum over clauses c matching D of  idf(c) * tf(c,D) * (k1 + 1)
 *                                                 / (tf(c,D) + k1 * (1 - b + b * |D| / avgdl))
 *   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)); a phrase's idf is the sum of its words'
 *   (docs/records.md "Full text"). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/u64map.h"
#include "graph/graph.h"
#include "filter/filter.h"
#include "record/record.h"
#include "text/text_impl.h"

#define MAX_K 100000
#define EXACT_FILTER_SHARE 8 /* collect a filter's matches when an index says they are this much rarer */

/* The postings of one term: records (ascending internal id), their length and term frequency,
 * and, for phrase words, where the positions start in pos (varints). */
typedef struct plist {
    const char *term;
    uint64_t *iid;
    uint32_t *dl, *tf;
    size_t *pos_at;
    size_t n, cap;
    unsigned char *pos;
    size_t pos_len, pos_cap;
    int need_pos;
    size_t n_keys; /* unmerged blocks and kill keys read: many of them ask for a merge */
} plist;

static void plist_free(plist *p)
{
    mnemo__free(p->iid);
    mnemo__free(p->dl);
    mnemo__free(p->tf);
    mnemo__free(p->pos_at);
    mnemo__free(p->pos);
}

static int plist_push(plist *p, uint64_t iid, uint32_t dl, uint32_t tf, const unsigned char *pos, size_t pl)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        uint64_t *a = mnemo__realloc(p->iid, cap * sizeof *a);
        if (a)
            p->iid = a;
        uint32_t *b = a ? mnemo__realloc(p->dl, cap * sizeof *b) : NULL;
        if (b)
            p->dl = b;
        uint32_t *c = b ? mnemo__realloc(p->tf, cap * sizeof *c) : NULL;
        if (c)
            p->tf = c;
        size_t *d = c && p->need_pos ? mnemo__realloc(p->pos_at, cap * sizeof *d) : NULL;
        if (d)
            p->pos_at = d;
        if (!c || (p->need_pos && !d))
            return mnemo__err_nomem("mnemo_text_search: postings");
        p->cap = cap;
    }
    if (p->need_pos) {
        int rc = mnemo__grow(&p->pos, &p->pos_cap, p->pos_len + pl, 1, 1024);
        if (rc)
            return rc;
        memcpy(p->pos + p->pos_len, pos, pl);
        p->pos_at[p->n] = p->pos_len;
        p->pos_len += pl;
    }
    p->iid[p->n] = iid;
    p->dl[p->n] = dl;
    p->tf[p->n] = tf;
    p->n++;
    return 0;
}

static int push_pending(void *arg, uint64_t iid, uint32_t dl, uint32_t tf, const unsigned char *pos, size_t pl)
{
    return plist_push(arg, iid, dl, tf, pos, pl);
}

/* for iid_order: qsort passes no argument */
static _Thread_local const uint64_t *sort_iids;

static int iid_order(const void *a, const void *b)
{
    uint64_t x = sort_iids[*(const size_t *)a], y = sort_iids[*(const size_t *)b];
    return (x > y) - (x < y);
}

/* Puts the entries in ascending iid order (segments are not in iid order; phrases merge by iid). */
static int plist_sort(plist *p)
{
    int sorted = 1;
    for (size_t i = 1; i < p->n && sorted; i++)
        sorted = p->iid[i - 1] < p->iid[i];
    if (sorted)
        return 0;
    size_t *ord = mnemo__malloc(p->n * sizeof *ord);
    uint64_t *iid = mnemo__malloc(p->n * sizeof *iid);
    uint32_t *dl = mnemo__malloc(p->n * sizeof *dl), *tf = mnemo__malloc(p->n * sizeof *tf);
    size_t *pos_at = p->need_pos ? mnemo__malloc(p->n * sizeof *pos_at) : NULL;
    int rc = ord && iid && dl && tf && (pos_at || !p->need_pos) ? 0 : mnemo__err_nomem("mnemo_text_search: postings");
    if (!rc) {
        for (size_t i = 0; i < p->n; i++)
            ord[i] = i;
        sort_iids = p->iid;
        qsort(ord, p->n, sizeof *ord, iid_order);
        for (size_t i = 0; i < p->n; i++) {
            iid[i] = p->iid[ord[i]];
            dl[i] = p->dl[ord[i]];
            tf[i] = p->tf[ord[i]];
            if (pos_at)
                pos_at[i] = p->pos_at[ord[i]];
        }
        for (size_t i = 1; i < p->n && !rc; i++)
            if (iid[i - 1] == iid[i])
                rc = mnemo__err(MNEMO_ECORRUPT, "text index: term '%s' has two live postings of internal id %llu",
                                p->term, (unsigned long long)iid[i]);
    }
    if (!rc) {
#define SWAP_IN(field, v) (mnemo__free(p->field), p->field = v, v = NULL)
        SWAP_IN(iid, iid);
        SWAP_IN(dl, dl);
        SWAP_IN(tf, tf);
        if (pos_at)
            SWAP_IN(pos_at, pos_at);
#undef SWAP_IN
        p->cap = p->n;
    }
    mnemo__free(ord);
    mnemo__free(iid);
    mnemo__free(dl);
    mnemo__free(tf);
    mnemo__free(pos_at);
    return rc;
}

/* Decodes one block into p, leaving out the entries the kill keys name. */
static int load_block(plist *p, const unsigned char *v, size_t n, const text_kill *kills, size_t n_kills)
{
    text_entry en = {0};
    size_t at = 0, r = 1;
    for (int first = 1; at < n; at += r, first = 0) {
        if (!(r = mnemo_text__decode_entry(&en, v + at, n - at, first ? 0 : en.iid)) || (!first && r && en.iid == 0))
            return mnemo__err(MNEMO_ECORRUPT, "text index: a block of postings of term '%s' (key 'P' %s 0x00 + "
                                              "1, 3 or 9 bytes) is damaged", p->term, p->term);
        if (mnemo_text__killed(kills, n_kills, en.iid, en.gen))
            continue; /* dead: the record was re-indexed or removed since */
        int rc = plist_push(p, en.iid, en.dl, en.tf, en.pos, en.pos_len);
        if (rc)
            return rc;
    }
    return 0;
}

/* The live postings of the term: its blocks minus its kill keys (they sort first: tag 0 < 1),
 * plus what the transaction indexed and has not written yet; sorted by iid. */
static int load_postings(plist *p, mnemo_db *db, mnemo_txn *txn)
{
    unsigned char lo[MNEMO_TEXT_MAX_TERM + 2], hi[MNEMO_TEXT_MAX_TERM + 2];
    size_t tl = strlen(p->term), ll = mnemo_text__term_prefix(lo, p->term, tl);
    memcpy(hi, lo, ll);
    hi[ll - 1] = 1; /* 'P' term 0x01: just past every key of the term */
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_TEXT_INDEX, lo, ll, hi, ll);
    if (rc)
        return rc;
    text_kill *kills = NULL;
    size_t n_kills = 0, cap_kills = 0;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl, pl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const void *v = mnemo_cursor__value(c, &vl), *pv;
        p->n_keys += kl > ll && k[ll] != TEXT_TAG_MERGED; /* what a merge made is left out */
        if (kl == ll + TEXT_KILL_KEY_TAIL && k[ll] == TEXT_TAG_KILL) {
            if ((rc = mnemo__grow(&kills, &cap_kills, n_kills + 1, sizeof *kills, 16)) == 0)
                kills[n_kills++] = (text_kill){mnemo__get_be64(k + ll + 1), mnemo__get_be32(k + ll + 9)};
        } else if (TEXT_IS_BLOCK(k + ll, kl - ll) && !mnemo__unseal(v, vl, &pv, &pl)) {
            rc = load_block(p, pv, pl, kills, n_kills);
        } else {
            rc = mnemo__err(MNEMO_ECORRUPT, "text index: a key of term '%s' (key 'P' %s 0x00 + %zu bytes) is damaged",
                            p->term, p->term, kl - ll);
        }
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_text_search: postings");
    mnemo_cursor__close(c);
    mnemo__free(kills);
    if (!rc && txn)
        rc = mnemo_text__pending(db, txn, p->term, tl, push_pending, p);
    return rc ? rc : plist_sort(p);
}

/* Positions of entry i of p, decoded into out (tf of them). 0, or ECORRUPT. */
static int positions(const plist *p, size_t i, uint32_t *out)
{
    const unsigned char *s = p->pos + p->pos_at[i];
    size_t n = p->pos_len - p->pos_at[i], at = 0; /* entries may be out of buffer order: bound by its end */
    uint64_t cur = 0;
    for (uint32_t j = 0; j < p->tf[i]; j++) {
        uint64_t d;
        size_t r = mnemo_text__get_varint(s + at, n - at, &d);
        if (!r || cur + d > UINT32_MAX)
            return mnemo__err(MNEMO_ECORRUPT, "text index: the positions of term '%s' are damaged", p->term);
        at += r;
        cur += d;
        out[j] = (uint32_t)cur;
    }
    return 0;
}

/* ---- candidates ---- */

typedef struct cand {
    uint64_t iid;
    double score;
    uint32_t dl;
} cand;

typedef struct search {
    mnemo_db *db;
    mnemo_txn *txn;
    double k1, b, avgdl, n_docs;
    mnemo_u64map slot; /* iid -> index in c */
    cand *c;
    size_t n, cap;
    mnemo_u64map excluded;
} search;

static double idf(const search *s, size_t df)
{
    return log(1.0 + (s->n_docs - (double)df + 0.5) / ((double)df + 0.5));
}

static int add_score(search *s, uint64_t iid, uint32_t dl, double w, uint32_t tf)
{
    double norm = (double)tf * (s->k1 + 1) / ((double)tf + s->k1 * (1 - s->b + s->b * (double)dl / s->avgdl));
    size_t at;
    if (mnemo_u64map__get(&s->slot, iid, &at)) {
        s->c[at].score += w * norm;
        return 0;
    }
    int rc = mnemo__grow(&s->c, &s->cap, s->n + 1, sizeof *s->c, 256);
    if (!rc && (rc = mnemo_u64map__add(&s->slot, iid, s->n)) >= 0) {
        s->c[s->n++] = (cand){iid, w * norm, dl};
        rc = 0;
    }
    return rc;
}

/* Phrase occurrences in entry (one per word): positions of word 0 at p where word j is at
 * p + off[j] for every j. */
static int phrase_count(uint32_t *count, const text_clause *cl, plist *const *pl, const size_t *at)
{
    uint32_t max_tf = 0;
    for (size_t j = 0; j < cl->n; j++)
        if (pl[j]->tf[at[j]] > max_tf)
            max_tf = pl[j]->tf[at[j]];
    uint32_t *buf = mnemo__malloc((size_t)max_tf * 2 * sizeof *buf);
    if (!buf)
        return mnemo__err_nomem("mnemo_text_search: phrase");
    uint32_t *first = buf, *other = buf + max_tf;
    int rc = positions(pl[0], at[0], first);
    size_t n_first = rc ? 0 : pl[0]->tf[at[0]];
    for (size_t j = 1; j < cl->n && !rc && n_first; j++) {
        if ((rc = positions(pl[j], at[j], other)) != 0)
            break;
        size_t n_other = pl[j]->tf[at[j]], keep = 0, o = 0;
        for (size_t i = 0; i < n_first; i++) { /* both ascending: a merge */
            uint64_t want = (uint64_t)first[i] + cl->offsets[j];
            while (o < n_other && other[o] < want)
                o++;
            if (o < n_other && other[o] == want)
                first[keep++] = first[i];
        }
        n_first = keep;
    }
    mnemo__free(buf);
    *count = (uint32_t)n_first;
    return rc;
}

static plist *find_plist(plist *pl, size_t n, const char *term)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pl[i].term, term))
            return &pl[i];
    return NULL;
}

/* Visits the records of a phrase: every record in all its words' postings (a merge over iids). */
static int each_phrase_match(const text_clause *cl, plist *pls, size_t n_pl, search *s, int excluded)
{
    plist *pl[MNEMO_TEXT_MAX_QUERY_TERMS];
    size_t at[MNEMO_TEXT_MAX_QUERY_TERMS] = {0};
    double w = 0;
    for (size_t j = 0; j < cl->n; j++) {
        pl[j] = find_plist(pls, n_pl, cl->terms[j]);
        w += idf(s, pl[j]->n);
    }
    int rc = 0;
    while (!rc) {
        uint64_t top = 0;
        int end = 0;
        for (size_t j = 0; j < cl->n && !end; j++) {
            end = at[j] == pl[j]->n;
            if (!end && pl[j]->iid[at[j]] > top)
                top = pl[j]->iid[at[j]];
        }
        if (end)
            break;
        int all = 1;
        for (size_t j = 0; j < cl->n; j++) {
            while (at[j] < pl[j]->n && pl[j]->iid[at[j]] < top)
                at[j]++;
            all = all && at[j] < pl[j]->n && pl[j]->iid[at[j]] == top;
        }
        if (!all)
            continue;
        uint32_t count;
        if ((rc = phrase_count(&count, cl, pl, at)) != 0)
            break;
        if (count && excluded)
            rc = mnemo_u64map__add(&s->excluded, top, 0) < 0 ? MNEMO_ENOMEM : 0;
        else if (count)
            rc = add_score(s, top, pl[0]->dl[at[0]], w, count);
        for (size_t j = 0; j < cl->n; j++)
            at[j]++;
    }
    return rc;
}

/* ---- selection ---- */

static int better(const cand *a, const cand *b)
{
    return a->score > b->score || (a->score == b->score && a->iid < b->iid);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* Restores the min-heap (worst at the root) of m entries below p. */
static void sift_down(cand *h, size_t m, size_t p)
{
    for (;;) {
        size_t l = 2 * p + 1, r = l + 1, w = p;
        if (l < m && better(&h[w], &h[l]))
            w = l;
        if (r < m && better(&h[w], &h[r]))
            w = r;
        if (w == p)
            return;
        cand t = h[p];
        h[p] = h[w];
        h[w] = t;
        p = w;
    }
}

/* Moves the best m of c[from..n) to c[from..from+m), sorted best first (a heap of m, then a sort). */
static void select_best(cand *c, size_t from, size_t n, size_t m)
{
    cand *h = c + from;
    size_t len = n - from;
    if (m < len) {
        for (size_t i = m / 2; i-- > 0;)
            sift_down(h, m, i);
        for (size_t i = m; i < len; i++)
            if (better(&h[i], &h[0])) {
                cand t = h[0];
                h[0] = h[i];
                h[i] = t;
                sift_down(h, m, 0);
            }
    }
    qsort(h, m < len ? m : len, sizeof *h, cand_cmp);
}

/* ---- the call ---- */

typedef struct restrict_ctx {
    mnemo_u64map near, matches;
    int has_near, has_matches;
    mnemo_filter *lazy; /* tested record by record */
    int any_expiring;
} restrict_ctx;

static int add_to_set(void *arg, uint64_t iid)
{
    int rc = mnemo_u64map__add(arg, iid, 0);
    return rc < 0 ? rc : 0;
}

/* 1 when the candidate passes, 0 when not, < 0 on error; *id gets its record id when it passes. */
static int accept(search *s, restrict_ctx *r, uint64_t iid, char **id)
{
    if (mnemo_u64map__get(&s->excluded, iid, NULL))
        return 0;
    if (r->has_near && !mnemo_u64map__get(&r->near, iid, NULL))
        return 0;
    if (r->has_matches && !mnemo_u64map__get(&r->matches, iid, NULL))
        return 0;
    if (r->lazy) {
        int m = mnemo_record__match_iid(s->db, s->txn, r->lazy, iid);
        if (m <= 0)
            return m;
    }
    int rc = mnemo_record__id_of(id, s->db, s->txn, iid);
    if (rc == MNEMO_ENOTFOUND)
        return 0; /* no such record any more */
    if (rc)
        return rc;
    if (r->any_expiring && mnemo_record__may_expire(s->db, iid)) {
        uint64_t live;
        rc = mnemo_record__resolve(&live, s->db, s->txn, *id);
        if (rc == MNEMO_ENOTFOUND || (!rc && live != iid)) {
            mnemo__free(*id);
            return 0;
        }
        if (rc) {
            mnemo__free(*id);
            return rc;
        }
    }
    return 1;
}

void mnemo_text_hits_free(mnemo_text_hits *hits) { mnemo__free(hits); }

static int finish_hits(mnemo_text_hits **out, char **ids, const double *scores, size_t n)
{
    size_t bytes = sizeof(mnemo_text_hits) + n * sizeof(mnemo_text_hit);
    for (size_t i = 0; i < n; i++)
        bytes += strlen(ids[i]) + 1;
    mnemo_text_hits *h = mnemo__malloc(bytes);
    if (!h)
        return mnemo__err_nomem("mnemo_text_search: results");
    h->count = n;
    h->hits = (mnemo_text_hit *)(h + 1);
    char *p = (char *)(h->hits + n);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids[i]) + 1;
        memcpy(p, ids[i], l);
        h->hits[i] = (mnemo_text_hit){p, scores[i]};
        p += l;
    }
    *out = h;
    return 0;
}

/* Restrictions: the neighbourhood as a set; the filter as a set of matches when an index says it
 * passes few of the candidates, else tested on the candidates in rank order. */
static int setup_restrictions(restrict_ctx *r, search *s, const mnemo_text_search_options *o)
{
    static const char fn[] = "mnemo_text_search";
    int rc = 0;
    if (o->near) {
        uint64_t start;
        rc = mnemo_record__resolve(&start, s->db, s->txn, o->near);
        if (rc == MNEMO_ENOTFOUND)
            return mnemo__err(MNEMO_ENOTFOUND, "%s: near names no record '%s'", fn, o->near);
        if (!rc)
            rc = mnemo_graph__neighbourhood(&r->near, s->db, s->txn, start, o->hops ? o->hops : 1, o->near_dir,
                                            o->near_label);
        if (rc)
            return rc;
        r->has_near = 1;
    }
    if (o->filter) {
        if ((rc = mnemo_filter__compile(&r->lazy, o->filter)) != 0)
            return mnemo__err(rc, "%s: %s", fn, mnemo_errmsg());
        uint64_t est;
        int indexed;
        if ((rc = mnemo_record__estimate(&est, &indexed, s->n / EXACT_FILTER_SHARE + 1, s->db, s->txn, r->lazy)) != 0)
            return rc;
        if (!r->has_near && indexed && est * EXACT_FILTER_SHARE <= s->n) {
            if ((rc = mnemo_record__match_ids(s->db, s->txn, r->lazy, add_to_set, &r->matches)) != 0)
                return rc;
            r->has_matches = 1;
            mnemo_filter__free(r->lazy);
            r->lazy = NULL;
        }
    }
    r->any_expiring = mnemo_record__any_expiring(s->db);
    return 0;
}

/* The best k candidates that pass, best first. */
static int rank(mnemo_text_hits **out, search *s, restrict_ctx *r, size_t k)
{
    char **ids = mnemo__malloc(k * sizeof *ids);
    double *scores = mnemo__malloc(k * sizeof *scores);
    size_t got = 0, done = 0;
    int rc = ids && scores ? 0 : mnemo__err_nomem("mnemo_text_search: results");
    for (size_t m = k + k / 2 + 8; !rc && got < k && done < s->n; m *= 4) {
        size_t upto = done + m < s->n ? done + m : s->n;
        select_best(s->c, done, s->n, upto - done);
        for (; done < upto && got < k && !rc; done++) {
            char *id = NULL;
            int a = accept(s, r, s->c[done].iid, &id);
            if (a < 0)
                rc = a;
            else if (a) {
                ids[got] = id;
                scores[got++] = s->c[done].score;
            }
        }
    }
    if (!rc)
        rc = finish_hits(out, ids, scores, got);
    for (size_t i = 0; i < got; i++)
        mnemo__free(ids[i]);
    mnemo__free(ids);
    mnemo__free(scores);
    return rc;
}

static int check_args(mnemo_guard *guard, text_conf *conf, mnemo_text_hits **out, mnemo_db *db, mnemo_txn *txn,
                      const char *query, size_t k, const mnemo_text_search_options *o)
{
    static const char fn[] = "mnemo_text_search";
    int rc = mnemo_guard__txn(guard, db, txn, fn);
    if (rc)
        return rc;
    if (!out || !query)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, out ? "query" : "out");
    if (k == 0 || k > MAX_K)
        return mnemo__err(MNEMO_EINVAL, "%s: k %zu is not in 1..%d", fn, k, MAX_K);
    if (o->version > MNEMO_TEXT_SEARCH_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library (%u)", fn, o->version,
                          MNEMO_TEXT_SEARCH_OPTIONS_VERSION);
    if ((rc = mnemo_text__check_bm25(o->k1, o->b, fn)) != 0)
        return rc;
    if ((rc = mnemo_graph__check_near(fn, o->near, o->near_dir, o->near_label)) != 0)
        return rc;
    rc = mnemo_text__conf(conf, db, txn, 0);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_EINVAL, "%s: full text is not enabled on this database (mnemo_text_enable)", fn);
    if (!rc && conf->state != TEXT_READY)
        return mnemo__err(MNEMO_EINVAL, "%s: the full-text index is still being built (or its build was "
                                        "interrupted: run mnemo_text_enable again)", fn);
    return rc;
}

int mnemo_text_search(mnemo_text_hits **out, mnemo_db *db, mnemo_txn *txn, const char *query, size_t k,
                      const mnemo_text_search_options *opts)
{
    static const mnemo_text_search_options defaults = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    const mnemo_text_search_options *o = opts ? opts : &defaults;
    text_conf conf;
    MNEMO_GUARD(guard);
    int rc = check_args(&guard, &conf, out, db, txn, query, k, o);
    if (rc)
        return rc;
    text_query *q = mnemo__malloc(sizeof *q);
    if (!q)
        return mnemo__err_nomem("mnemo_text_search");
    if ((rc = mnemo_text__parse_query(q, query, strlen(query), &conf.cfg)) != 0) {
        mnemo__free(q);
        return rc;
    }
    search s = {db, txn, o->k1 > 0 ? o->k1 : conf.k1, o->b > 0 ? o->b : conf.b, 0, 0,
                MNEMO_U64MAP_INIT, NULL, 0, 0, MNEMO_U64MAP_INIT};
    restrict_ctx r = {MNEMO_U64MAP_INIT, MNEMO_U64MAP_INIT, 0, 0, NULL, 0};
    /* the distinct terms, each scanned once */
    plist *pl = mnemo__calloc(q->n_distinct ? q->n_distinct : 1, sizeof *pl);
    size_t n_pl = 0;
    int any_positive = 0;
    if (!pl)
        rc = mnemo__err_nomem("mnemo_text_search");
    for (size_t i = 0; i < q->n && !rc; i++) {
        any_positive |= !q->c[i].excluded;
        for (size_t j = 0; j < q->c[i].n; j++) {
            plist *p = find_plist(pl, n_pl, q->c[i].terms[j]);
            if (!p) {
                p = &pl[n_pl++];
                p->term = q->c[i].terms[j];
            }
            p->need_pos |= q->c[i].n > 1;
        }
    }
    uint64_t docs = 0, total = 0;
    if (!rc && any_positive)
        rc = mnemo_text__stats(&docs, &total, db, txn);
    s.n_docs = (double)docs;
    s.avgdl = docs && total ? (double)total / (double)docs : 1;
    for (size_t i = 0; i < n_pl && !rc && any_positive; i++)
        rc = load_postings(&pl[i], db, txn);
    for (size_t i = 0; i < q->n && !rc && any_positive; i++) {
        const text_clause *cl = &q->c[i];
        if (cl->n > 1) {
            rc = each_phrase_match(cl, pl, n_pl, &s, cl->excluded);
            continue;
        }
        plist *p = find_plist(pl, n_pl, cl->terms[0]);
        double w = idf(&s, p->n);
        for (size_t e = 0; e < p->n && !rc; e++)
            rc = cl->excluded ? (mnemo_u64map__add(&s.excluded, p->iid[e], 0) < 0 ? MNEMO_ENOMEM : 0)
                              : add_score(&s, p->iid[e], p->dl[e], w, p->tf[e]);
    }
    /* also with no candidate: an unknown near or a bad filter is an error, not an empty list */
    if (!rc)
        rc = setup_restrictions(&r, &s, o);
    if (!rc)
        rc = rank(out, &s, &r, k);
    /* terms whose blocks piled up (small commits) are merged for the next searches; only an
     * optimisation, so a failure (a read-only handle, a conflicting merge) is left for later */
    for (size_t i = 0; i < n_pl && !rc && !mnemo_db__options(db)->read_only; i++)
        if (pl[i].n_keys >= TEXT_MERGE_BLOCKS)
            (void)mnemo_text__merge_term(db, pl[i].term, strlen(pl[i].term));
    for (size_t i = 0; i < n_pl; i++)
        plist_free(&pl[i]);
    mnemo__free(pl);
    mnemo_u64map__free(&s.slot);
    mnemo_u64map__free(&s.excluded);
    mnemo__free(s.c);
    mnemo_u64map__free(&r.near);
    mnemo_u64map__free(&r.matches);
    mnemo_filter__free(r.lazy);
    mnemo_text__query_free(q);
    mnemo__free(q);
    return rc;
}
