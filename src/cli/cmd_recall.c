/* Hybrid recall: `mnemo recall` (mnemo_recall): text and/or a vector, fused, with recency and
 * importance; prints every hit with the parts of its score. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A finite number >= 0 from s (the whole string). @return 0 or -1. */
static int parse_weight(double *out, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* --weights text=1,vector=1,recency=0.5,importance=1: named weights; the ones not named are 0.
 * @return 0 or CLI_EXIT_USAGE. */
static int parse_weights(mnemo_recall_query *q, const cli_cmd *cmd, const char *s)
{
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return cli_usage(cmd, "--weights is too long");
    strcpy(buf, s);
    q->text_weight = q->vector_weight = q->recency_weight = q->importance_weight = 0;
    int any = 0;
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(it, '=');
        double *w = NULL;
        if (eq) {
            *eq = 0;
            w = !strcmp(it, "text") ? &q->text_weight : !strcmp(it, "vector") ? &q->vector_weight
              : !strcmp(it, "recency") ? &q->recency_weight : !strcmp(it, "importance") ? &q->importance_weight
              : NULL;
        }
        if (!w)
            return cli_usage(cmd, "--weights wants NAME=X,.. with NAME text, vector, recency or importance, "
                                  "not '%s'", it);
        if (parse_weight(w, eq + 1))
            return cli_usage(cmd, "--weights: %s wants a finite number >= 0, not '%s'", it, eq + 1);
        any |= *w != 0;
    }
    if (!any)
        return cli_usage(cmd, "--weights: at least one weight must be above 0");
    return 0;
}

/* --half-life 7d: a positive number with a unit ms, s, m, h or d (none: ms). @return 0 or CLI_EXIT_USAGE. */
static int parse_half_life(double *out, const cli_cmd *cmd, const char *s)
{
    static const struct { const char *unit; double ms; } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}, {"d", 86400e3}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    for (size_t i = 0; *s && !errno && isfinite(v) && v > 0 && i < sizeof units / sizeof *units; i++)
        if (!strcmp(end, units[i].unit) && isfinite(v * units[i].ms)) {
            *out = v * units[i].ms;
            return 0;
        }
    return cli_usage(cmd, "--half-life wants a positive number with a unit ms, s, m, h or d (e.g. 7d), not '%s'", s);
}

/* The query vector: --vector JSON_ARRAY, or row --row of --vector-file F.fvecs. @return 0 or an exit code. */
static int read_vector(float **v, size_t *dim, const cli_cmd *cmd, const cli_args *a)
{
    const char *vec = cli_opt(cmd, a, "vector"), *file = cli_opt(cmd, a, "vector-file");
    uint64_t row = 0;
    char err[300];
    *v = NULL;
    *dim = 0;
    if (vec && file)
        return cli_usage(cmd, "give one of --vector and --vector-file");
    if (cli_opt_uint(&row, cmd, a, "row", 0, UINT32_MAX))
        return CLI_EXIT_USAGE;
    if (cli_opt(cmd, a, "row") && !file)
        return cli_usage(cmd, "--row applies with --vector-file");
    if (vec) {
        json_t *arr;
        if (cli_json_arg(&arr, cmd, "--vector", vec, JSON_ARRAY))
            return CLI_EXIT_USAGE;
        *v = cli_floats_from_json(dim, arr, "--vector", err, sizeof err);
        json_decref(arr);
        return *v ? 0 : cli_usage(cmd, "%s", err);
    }
    if (!file)
        return 0;
    FILE *f = fopen(file, "rb");
    if (!f)
        return cli_fail(cmd, "cannot open '%s': %s", file, strerror(errno));
    size_t cap = 0;
    int got = 0;
    for (uint64_t i = 0; i <= row; i++) /* the row's vector ends up first in *v */
        if ((got = cli_fvecs_next(f, dim, v, &cap, 0, err, sizeof err)) <= 0)
            break;
    fclose(f);
    if (got > 0)
        return 0;
    free(*v);
    *v = NULL;
    return got < 0 ? cli_fail(cmd, "%s: %s", file, err)
                   : cli_fail(cmd, "%s: no vector at row %llu", file, (unsigned long long)row);
}

static void print_hits(const mnemo_recall_hits *h)
{
    jout j = {0};
    jo_begin(&j);
    jo_arr(&j, "hits");
    for (size_t i = 0; i < h->count; i++) {
        const mnemo_recall_hit *x = &h->hits[i];
        jo_obj(&j, NULL);
        jo_str(&j, "id", x->id);
        jo_real(&j, "score", x->score);
        jo_real(&j, "relevance", x->relevance);
        if (x->text_rank)
            jo_uint(&j, "text_rank", x->text_rank);
        else
            jo_null(&j, "text_rank");
        jo_real(&j, "text_score", x->text_score);
        if (x->vector_rank)
            jo_uint(&j, "vector_rank", x->vector_rank);
        else
            jo_null(&j, "vector_rank");
        jo_float(&j, "distance", x->distance);
        jo_real(&j, "recency", x->recency);
        jo_real(&j, "importance", x->importance);
        jo_int(&j, "time", x->time);
        jo_obj_end(&j);
    }
    jo_arr_end(&j);
    jo_line(&j, stdout);
    jo_free(&j);
}

static int run_recall(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_recall_query q = MNEMO_RECALL_QUERY_INIT;
    uint64_t k = 10, hops = 0, depth = 0, now = 0;
    const char *s;
    if (cli_opt_uint(&k, cmd, a, "k", 1, CLI_SEARCH_K_MAX) || cli_opt_uint(&hops, cmd, a, "hops", 1, 1000000) ||
        cli_opt_uint(&depth, cmd, a, "depth", 1, CLI_SEARCH_K_MAX) ||
        cli_opt_uint(&now, cmd, a, "now", 1, INT64_MAX) || cli_opt_dir(&q.near_dir, cmd, a, MNEMO_DIR_BOTH))
        return CLI_EXIT_USAGE;
    if (depth && depth < k)
        return cli_usage(cmd, "--depth %llu is less than -k %llu", (unsigned long long)depth, (unsigned long long)k);
    if ((s = cli_opt(cmd, a, "weights")) && parse_weights(&q, cmd, s))
        return CLI_EXIT_USAGE;
    if ((s = cli_opt(cmd, a, "half-life")) && parse_half_life(&q.half_life_ms, cmd, s))
        return CLI_EXIT_USAGE;
    if ((s = cli_opt(cmd, a, "rrf-k")) && (parse_weight(&q.rrf_k, s) || q.rrf_k == 0))
        return cli_usage(cmd, "--rrf-k wants a finite number > 0, not '%s'", s);
    if ((s = cli_opt(cmd, a, "fusion")) && strcmp(s, "rrf") && strcmp(s, "weighted"))
        return cli_usage(cmd, "--fusion wants rrf or weighted, not '%s'", s);
    q.fusion = s && !strcmp(s, "weighted") ? MNEMO_RECALL_WEIGHTED : MNEMO_RECALL_RRF;
    if ((s = cli_opt(cmd, a, "clock")) && strcmp(s, "updated") && strcmp(s, "created"))
        return cli_usage(cmd, "--clock wants updated or created, not '%s'", s);
    q.clock = s && !strcmp(s, "created") ? MNEMO_RECALL_CREATED_AT : MNEMO_RECALL_UPDATED_AT;
    if (cli_search_restriction(cmd, a, hops, &q.filter, &q.near, &q.near_label))
        return CLI_EXIT_USAGE;
    q.hops = (uint32_t)hops;
    q.depth = (size_t)depth;
    q.now = (int64_t)now;
    q.text = cli_opt(cmd, a, "text");
    float *v;
    int rc = read_vector(&v, &q.dim, cmd, a);
    if (rc)
        return rc;
    q.vector = v;
    if (!q.text && !q.vector) {
        free(v);
        return cli_usage(cmd, "give --text QUERY and/or --vector JSON_ARRAY / --vector-file F.fvecs");
    }
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO)) {
        free(v);
        return CLI_EXIT_FAIL;
    }
    mnemo_recall_hits *h;
    rc = mnemo_recall(&h, db, NULL, &q, (size_t)k);
    if (rc) {
        rc = cli_engine(cmd, rc, "recall");
    } else {
        print_hits(h);
        mnemo_recall_hits_free(h);
    }
    free(v);
    return cli_close(db, cmd, rc);
}

const cli_cmd cli_recall_cmds[] = {
    {"recall", "DB (--text QUERY | --vector JSON_ARRAY | --vector-file F.fvecs [--row N])... [-k 10] [OPTIONS]",
     "hybrid recall: full text and vectors fused, with recency and importance",
     "Prints {\"hits\":[{\"id\",\"score\",\"relevance\",\"text_rank\",\"text_score\",\"vector_rank\",\"distance\",\n"
     "\"recency\",\"importance\",\"time\"},..]}, best first; a part a hit lacks is null (docs/records.md, Recall).\n"
     "  --text QUERY             BM25 query (needs text-enable): words OR-ed, \"phrases\", -excluded\n"
     "  --vector '[0.1,..]'      query embedding; or --vector-file F.fvecs [--row N] (default row 0)\n"
     "  -k N                     hits (default 10, 1.." CLI_STR(CLI_SEARCH_K_MAX) ")\n"
     "  --depth N                candidates per ranking (default max(4k, 50), >= k)\n"
     "  --fusion rrf|weighted    reciprocal rank fusion (default; --rrf-k X, default 60) or min-max\n"
     "                           normalised scores\n"
     "  --weights text=1,vector=1,recency=1,importance=1   the default; weights not named are 0\n"
     "  --half-life 7d           recency halves every (units ms, s, m, h, d; default 7d)\n"
     "  --clock updated|created  the timestamp recency decays from (default updated)\n"
     "  --now MS                 the time ages are measured at (ms since the epoch; default the clock)\n"
     "  --where FILTER           only records whose metadata match (as `find`)\n"
     "  --near ID --hops H       only records within H hops of ID; --dir out|in|both, --label L\n"
     "Exit 1 with MNEMO_EINVAL when the text needs full text that is not enabled, or the vector a\n"
     "vector space the database lacks; MNEMO_EDIM for a vector of another dimension.\n",
     {{"text", 1}, {"vector", 1}, {"vector-file", 1}, {"row", 1}, {"k", 1}, {"depth", 1}, {"fusion", 1},
      {"rrf-k", 1}, {"weights", 1}, {"half-life", 1}, {"clock", 1}, {"now", 1}, {"where", 1}, {"near", 1},
      {"hops", 1}, {"dir", 1}, {"label", 1}, {NULL, 0}},
     1, 1, run_recall},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
