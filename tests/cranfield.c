/* The Cranfield collection for the quality tests (cranfield.h). */
#include "cranfield.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *data_path(const char *file)
{
    static char buf[1024];
    const char *dir = getenv("MNEMO_DATA_DIR");
    cr_assert_not_null(dir, "MNEMO_DATA_DIR is set by meson");
    snprintf(buf, sizeof buf, "%s/cranfield/%s", dir, file);
    return buf;
}

/* One "text" per line of a jsonl file whose ids are 1..n in order. */
static void read_jsonl(char **out, size_t n, const char *file)
{
    FILE *f = fopen(data_path(file), "r");
    cr_assert_not_null(f, "%s", data_path(file));
    char *line = NULL;
    size_t cap = 0, i = 0;
    while (getline(&line, &cap, f) > 0 && i < n) {
        json_t *j = json_loads(line, 0, NULL);
        cr_assert_not_null(j);
        cr_assert_eq(atoi(json_string_value(json_object_get(j, "id"))), (int)i + 1);
        out[i++] = strdup(json_string_value(json_object_get(j, "text")));
        json_decref(j);
    }
    free(line);
    fclose(f);
    cr_assert_eq(i, n);
}

/* texmex fvecs: per row int32 dim then dim float32, little-endian (the machine's order here). */
static float *read_fvecs(const char *file, size_t n)
{
    FILE *f = fopen(data_path(file), "rb");
    cr_assert_not_null(f, "%s", data_path(file));
    float *v = malloc(n * CRAN_DIM * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        int32_t d;
        cr_assert_eq(fread(&d, 4, 1, f), 1);
        cr_assert_eq(d, CRAN_DIM);
        cr_assert_eq(fread(v + i * CRAN_DIM, sizeof *v, CRAN_DIM, f), CRAN_DIM);
    }
    cr_assert_eq(fgetc(f), EOF);
    fclose(f);
    return v;
}

cran *cran_load(int vectors)
{
    cran *c = calloc(1, sizeof *c);
    read_jsonl(c->doc_text, CRAN_DOCS, "corpus.jsonl");
    read_jsonl(c->query, CRAN_QUERIES, "queries.jsonl");
    if (vectors) {
        c->doc_vec = read_fvecs("corpus.fvecs", CRAN_DOCS);
        c->query_vec = read_fvecs("queries.fvecs", CRAN_QUERIES);
    }
    FILE *f = fopen(data_path("qrels.tsv"), "r");
    cr_assert_not_null(f);
    char line[128];
    int q, d, s, rows = 0;
    cr_assert_not_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%d %d %d", &q, &d, &s) == 3 && q >= 1 && q <= CRAN_QUERIES && d >= 1 && d <= CRAN_DOCS) {
            c->rel[q - 1][d - 1] = s;
            rows++;
        }
    fclose(f);
    cr_assert_eq(rows, 1612);
    return c;
}

void cran_free(cran *c)
{
    for (int i = 0; i < CRAN_DOCS; i++)
        free(c->doc_text[i]);
    for (int i = 0; i < CRAN_QUERIES; i++)
        free(c->query[i]);
    free(c->doc_vec);
    free(c->query_vec);
    free(c);
}

void cran_judge(const cran *c, int q, const int *ranked, size_t n, double *ndcg, double *recall)
{
    double dcg = 0, idcg = 0;
    int found = 0, relevant = 0, grades[CRAN_DOCS], ng = 0;
    for (size_t i = 0; i < n && i < 100; i++) {
        int g = c->rel[q][ranked[i]];
        if (i < 10)
            dcg += g / log2((double)i + 2);
        found += g > 0;
    }
    for (int d = 0; d < CRAN_DOCS; d++)
        if (c->rel[q][d] > 0) {
            relevant++;
            grades[ng++] = c->rel[q][d];
        }
    for (int i = 0; i < ng; i++) /* ideal order: grades descending */
        for (int j = i + 1; j < ng; j++)
            if (grades[j] > grades[i]) {
                int t = grades[i];
                grades[i] = grades[j];
                grades[j] = t;
            }
    for (int i = 0; i < ng && i < 10; i++)
        idcg += grades[i] / log2((double)i + 2);
    *ndcg = idcg > 0 ? dcg / idcg : 0;
    *recall = relevant ? (double)found / relevant : 0;
}
