/* The Cranfield collection (data/cranfield, found through $MNEMO_DATA_DIR) for the quality tests
 * of full text and recall: documents, queries, their embeddings and the graded judgments. */
#ifndef MNEMO_TEST_CRANFIELD_H
#define MNEMO_TEST_CRANFIELD_H

#include <stddef.h>

#define CRAN_DOCS 1400
#define CRAN_QUERIES 225
#define CRAN_DIM 100 /* corpus.fvecs / queries.fvecs: averaged GloVe 100d, unit length (or zero) */

typedef struct cran {
    char *doc_text[CRAN_DOCS];
    char *query[CRAN_QUERIES];
    float *doc_vec, *query_vec;       /* CRAN_DIM floats a row; NULL unless loaded with vectors */
    int rel[CRAN_QUERIES][CRAN_DOCS]; /* graded relevance, 0 = not judged relevant */
} cran;

/* Loads the collection (vectors too when non-zero); asserts on any problem. */
cran *cran_load(int vectors);
void cran_free(cran *c);
/* nDCG@10 (linear gains, log2 discount) and recall@100 of one ranking (0-based doc indexes). */
void cran_judge(const cran *c, int q, const int *ranked, size_t n, double *ndcg, double *recall);

#endif
