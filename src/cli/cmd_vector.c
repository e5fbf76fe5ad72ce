/* Vector commands: search (nearest neighbours of a vector or of every vector of an fvecs file,
 * optionally restricted by a metadata filter and/or to the graph neighbourhood of a record). Also
 * the fvecs reader shared with `import --format fvecs`. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_BATCH 256 /* queries per mnemo_vector_search_batch call */

int cli_fvecs_next(FILE *f, size_t *dim, float **buf, size_t *cap, size_t at, char *err, size_t errlen)
{
    int32_t d;
    size_t got = fread(&d, 1, sizeof d, f);
    if (got == 0 && !ferror(f))
        return 0;
    if (got != sizeof d) {
        snprintf(err, errlen, ferror(f) ? "read error: %s" : "the file ends inside the dimension%.0s",
                 strerror(errno));
        return -1;
    }
    if (d < 1 || (uint32_t)d > MNEMO_VECTOR_MAX_DIM || (*dim && (size_t)d != *dim)) {
        if (*dim)
            snprintf(err, errlen, "dimension %ld, earlier vectors have %zu", (long)d, *dim);
        else
            snprintf(err, errlen, "dimension %ld is not in 1..%u", (long)d, MNEMO_VECTOR_MAX_DIM);
        return -1;
    }
    *dim = (size_t)d;
    if (at + *dim > *cap) {
        *cap = (at + *dim) * 2;
        *buf = cli_xrealloc(*buf, *cap * sizeof **buf);
    }
    float *v = *buf + at;
    if (fread(v, sizeof *v, *dim, f) != *dim) {
        snprintf(err, errlen, ferror(f) ? "read error: %s" : "the file ends inside the vector (truncated)%.0s",
                 strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < *dim; i++)
        if (!isfinite(v[i])) {
            snprintf(err, errlen, "component %zu is %s", i, isnan(v[i]) ? "NaN" : "infinite");
            return -1;
        }
    return 1;
}

static void print_hits(jout *j, uint64_t query, const mnemo_vector_hits *h)
{
    jo_begin(j);
    jo_uint(j, "query", query);
    jo_arr(j, "hits");
    for (size_t i = 0; i < h->count; i++) {
        jo_obj(j, NULL);
        jo_str(j, "id", h->hits[i].id);
        jo_float(j, "distance", h->hits[i].distance);
        jo_obj_end(j);
    }
    jo_arr_end(j);
    jo_line(j, stdout);
}

/* The queries: from --vector (one) or --query-file (all of it). @return 0 or an exit code. */
static int read_queries(float **q, size_t *n, size_t *dim, const cli_cmd *cmd, const cli_args *a)
{
    const char *vec = cli_opt(cmd, a, "vector"), *file = cli_opt(cmd, a, "query-file");
    char err[300];
    if (!vec == !file)
        return cli_usage(cmd, "give exactly one of --vector JSON_ARRAY and --query-file FILE");
    if (vec) {
        json_t *arr;
        if (cli_json_arg(&arr, cmd, "--vector", vec, JSON_ARRAY))
            return CLI_EXIT_USAGE;
        *q = cli_floats_from_json(dim, arr, "--vector", err, sizeof err);
        json_decref(arr);
        if (!*q)
            return cli_usage(cmd, "%s", err);
        *n = 1;
        return 0;
    }
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f)
        return cli_fail(cmd, "cannot open '%s': %s", file, strerror(errno));
    size_t cap = 0;
    int got;
    *q = NULL;
    *n = *dim = 0;
    while ((got = cli_fvecs_next(f, dim, q, &cap, *n * *dim, err, sizeof err)) > 0)
        ++*n;
    if (f != stdin)
        fclose(f);
    if (got < 0 || !*n) {
        free(*q);
        *q = NULL;
        return got < 0 ? cli_fail(cmd, "%s: record %zu: %s", file, *n, err)
                       : cli_fail(cmd, "%s: no vectors in the file", file);
    }
    return 0;
}

int cli_search_restriction(const cli_cmd *cmd, const cli_args *a, uint64_t hops, const char **filter,
                           const char **near, const char **label)
{
    *filter = cli_opt(cmd, a, "where");
    *near = cli_opt(cmd, a, "near");
    *label = cli_opt(cmd, a, "label");
    if (!*near && (hops || cli_opt(cmd, a, "dir") || *label))
        return cli_usage(cmd, "--hops, --dir and --label apply with --near ID");
    json_t *fj;
    if (*filter && cli_json_arg(&fj, cmd, "--where", *filter, JSON_OBJECT))
        return CLI_EXIT_USAGE;
    if (*filter)
        json_decref(fj); /* only checked: the engine parses the text itself */
    return 0;
}

static int run_search(const cli_cmd *cmd, const cli_args *a)
{
    if (cli_opt(cmd, a, "text"))
        return cli_text_search(cmd, a);
    uint64_t k = 10, ef = 0, hops = 0;
    mnemo_direction dir;
    if (cli_opt_uint(&k, cmd, a, "k", 1, CLI_SEARCH_K_MAX) || cli_opt_uint(&ef, cmd, a, "ef", 1, UINT32_MAX) ||
        cli_opt_uint(&hops, cmd, a, "hops", 1, 1000000) || cli_opt_dir(&dir, cmd, a, MNEMO_DIR_BOTH))
        return CLI_EXIT_USAGE;
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.ef = (uint32_t)ef;
    so.exact = cli_opt(cmd, a, "exact") != NULL;
    if (cli_search_restriction(cmd, a, hops, &so.filter, &so.near, &so.near_label))
        return CLI_EXIT_USAGE;
    so.hops = (uint32_t)hops;
    so.near_dir = dir;
    float *q = NULL;
    size_t n = 0, dim = 0;
    int rc = read_queries(&q, &n, &dim, cmd, a);
    if (rc)
        return rc;
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO)) {
        free(q);
        return CLI_EXIT_FAIL;
    }
    jout j = {0};
    mnemo_vector_hits *hits[QUERY_BATCH];
    for (size_t first = 0; first < n && !rc; first += QUERY_BATCH) {
        size_t m = n - first < QUERY_BATCH ? n - first : QUERY_BATCH;
        int erc = m == 1 ? mnemo_vector_search(&hits[0], db, NULL, q + first * dim, dim, (size_t)k, &so)
                         : mnemo_vector_search_batch(hits, db, NULL, q + first * dim, m, dim, (size_t)k, &so);
        if (erc) {
            rc = n == 1 ? cli_engine(cmd, erc, "search")
                        : cli_engine(cmd, erc, "search of queries %zu-%zu", first, first + m - 1);
            break;
        }
        for (size_t i = 0; i < m; i++) {
            print_hits(&j, first + i, hits[i]);
            mnemo_vector_hits_free(hits[i]);
        }
    }
    jo_free(&j);
    free(q);
    return cli_close(db, cmd, rc);
}

const cli_cmd cli_vector_cmds[] = {
    {"search", "DB (--vector JSON_ARRAY | --query-file Q.fvecs | --text QUERY) [-k 10] [OPTIONS]",
     "nearest records to a vector (or to each vector of an fvecs file)",
     "Prints one line per query: {\"query\":i,\"hits\":[{\"id\",\"distance\"},..]}, nearest first\n"
     "(distance in the space's metric: squared L2, 1 - cosine, or 1 - dot product).\n"
     "  --vector '[0.1,0.2,..]'  one query\n"
     "  --query-file Q.fvecs     every vector of the file ('-': standard input), queries 0, 1, ..\n"
     "  -k N                     hits per query (default 10, 1.." CLI_STR(CLI_SEARCH_K_MAX) ")\n"
     "  --ef N                   HNSW beam for these queries (default: the space's ef_search)\n"
     "  --exact                  exact distances over every candidate instead of HNSW\n"
     "  --where FILTER           only records whose metadata match the filter (as `find`)\n"
     "  --near ID --hops H       only records within H graph hops of record ID (itself included;\n"
     "                           H default 1); --dir out|in|both (default both), --label L\n"
     "A query of the wrong dimension is exit 1 with MNEMO_EDIM; a --vector or --where that is not\n"
     "valid JSON (or not an array / object) is exit 2.\n"
     "  --text \"QUERY\"           full-text search instead (BM25; needs text-enable): words OR-ed,\n"
     "                           \"quoted phrases\", -excluded; prints {\"query\":0,\"hits\":[{\"id\",\"score\"},..]},\n"
     "                           best first; --k1 X and --b X override the database's BM25 parameters\n",
     {{"vector", 1}, {"query-file", 1}, {"k", 1}, {"ef", 1}, {"exact", 0}, {"where", 1}, {"near", 1}, {"hops", 1},
      {"dir", 1}, {"label", 1}, {"text", 1}, {"k1", 1}, {"b", 1}, {NULL, 0}},
     1, 1, run_search},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
