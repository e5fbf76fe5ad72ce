/* Query text -> clauses: words (each its own clause, OR-ed), "quoted phrases", and -excluded
 * words or phrases. Every piece goes through the same tokenizer as record content, so a query
 * matches what was indexed under the database's settings. */
#include <string.h>
#include <unistr.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/text.h"

typedef struct collect {
    char **terms;
    uint32_t *pos;
    size_t n, cap;
} collect;

static int collect_term(void *arg, const char *term, size_t len, uint32_t pos)
{
    collect *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        char **t = mnemo__realloc(c->terms, cap * sizeof *t);
        if (!t)
            return mnemo__err_nomem("query");
        c->terms = t;
        uint32_t *p = mnemo__realloc(c->pos, cap * sizeof *p);
        if (!p)
            return mnemo__err_nomem("query");
        c->pos = p;
        c->cap = cap;
    }
    if (!(c->terms[c->n] = mnemo__memdup(term, len)))
        return mnemo__err_nomem("query");
    c->pos[c->n++] = pos;
    return 0;
}

static void collect_free(collect *c)
{
    for (size_t i = 0; i < c->n; i++)
        mnemo__free(c->terms[i]);
    mnemo__free(c->terms);
    mnemo__free(c->pos);
    memset(c, 0, sizeof *c);
}

void mnemo_text__query_free(text_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        for (size_t j = 0; j < q->c[i].n; j++)
            mnemo__free(q->c[i].terms[j]);
        mnemo__free(q->c[i].terms);
        mnemo__free(q->c[i].offsets);
    }
    mnemo__free(q->c);
    memset(q, 0, sizeof *q);
}

static int has_term_clause(const text_query *q, const char *term)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->c[i].n == 1 && !q->c[i].excluded && !strcmp(q->c[i].terms[0], term))
            return 1;
    return 0;
}

/* Counts term in the query's set of distinct terms (open addressing over the clauses' strings). */
static int note_distinct(text_query *q, const char *term)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = term; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (size_t i = h % TEXT_QUERY_SET;; i = (i + 1) % TEXT_QUERY_SET) {
        if (!q->distinct[i]) {
            if (q->n_distinct == MNEMO_TEXT_MAX_QUERY_TERMS)
                return mnemo__err(MNEMO_EINVAL, "mnemo_text_search: query has more than %u distinct terms",
                                  MNEMO_TEXT_MAX_QUERY_TERMS);
            q->distinct[i] = term;
            q->n_distinct++;
            return 0;
        }
        if (!strcmp(q->distinct[i], term))
            return 0;
    }
}

/* Moves terms [from, to) of c into a new clause of q (the clause takes the strings). */
static int add_clause(text_query *q, collect *c, size_t from, size_t to, int excluded)
{
    if (q->n == MNEMO_TEXT_MAX_QUERY_TERMS)
        return mnemo__err(MNEMO_EINVAL, "mnemo_text_search: query has more than %u terms and phrases",
                          MNEMO_TEXT_MAX_QUERY_TERMS);
    text_clause *nc = mnemo__realloc(q->c, (q->n + 1) * sizeof *nc);
    if (!nc)
        return mnemo__err_nomem("query");
    q->c = nc;
    text_clause *cl = &q->c[q->n];
    size_t n = to - from;
    cl->terms = mnemo__malloc(n * sizeof *cl->terms);
    cl->offsets = mnemo__malloc(n * sizeof *cl->offsets);
    if (!cl->terms || !cl->offsets) {
        mnemo__free(cl->terms);
        mnemo__free(cl->offsets);
        return mnemo__err_nomem("query");
    }
    for (size_t i = 0; i < n; i++) {
        cl->terms[i] = c->terms[from + i];
        c->terms[from + i] = NULL;
        cl->offsets[i] = c->pos[from + i] - c->pos[from];
    }
    cl->n = n;
    cl->excluded = excluded;
    q->n++;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = note_distinct(q, cl->terms[i]);
    return rc;
}

/* One piece of the query (a word chunk or a phrase's inside). */
static int add_piece(text_query *q, const char *s, size_t len, const mnemo_text_cfg *cfg, int phrase, int excluded)
{
    collect c = {0};
    int rc = mnemo_text__tokenize(s, len, cfg, collect_term, &c, NULL, "mnemo_text_search: query");
    if (!rc && c.n && (phrase || excluded)) {
        rc = add_clause(q, &c, 0, c.n, excluded);
    } else if (!rc) { /* words of a chunk such as "x-15" are separate OR-ed terms */
        for (size_t i = 0; i < c.n && !rc; i++)
            if (!has_term_clause(q, c.terms[i]))
                rc = add_clause(q, &c, i, i + 1, 0);
    }
    collect_free(&c);
    return rc;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

int mnemo_text__parse_query(text_query *q, const char *text, size_t len, const mnemo_text_cfg *cfg)
{
    memset(q, 0, sizeof *q);
    if (len > MNEMO_TEXT_MAX_QUERY)
        return mnemo__err(MNEMO_EINVAL, "mnemo_text_search: query of %zu bytes is longer than %u", len,
                          MNEMO_TEXT_MAX_QUERY);
    const uint8_t *bad = u8_check((const uint8_t *)text, len);
    if (bad)
        return mnemo__err(MNEMO_EINVAL, "mnemo_text_search: query: invalid UTF-8 at byte %zu",
                          (size_t)(bad - (const uint8_t *)text));
    int rc = 0;
    size_t i = 0;
    while (i < len && !rc) {
        while (i < len && is_space(text[i]))
            i++;
        if (i == len)
            break;
        int excluded = 0;
        if (text[i] == '-' && i + 1 < len && !is_space(text[i + 1])) {
            excluded = 1;
            i++;
        }
        size_t start, end;
        int phrase = text[i] == '"';
        if (phrase) {
            start = ++i;
            while (i < len && text[i] != '"')
                i++;
            end = i;
            if (i < len)
                i++; /* the closing quote; an unclosed phrase runs to the end */
        } else {
            start = i;
            while (i < len && !is_space(text[i]) && text[i] != '"')
                i++;
            end = i;
        }
        rc = add_piece(q, text + start, end - start, cfg, phrase, excluded);
    }
    if (rc)
        mnemo_text__query_free(q);
    return rc;
}
