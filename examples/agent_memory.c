/* An agent's memory: remember records with metadata and embeddings, recall the nearest ones by
 * similarity (restricted by a metadata filter), and follow the links between memories.
 * Run: agent_memory [DIR]   (default: a temporary directory, removed afterwards). */
#include "example.h"

#include <string.h>

#define DIM 4 /* toy embeddings: how much a memory is about (food, pets, work, travel) */

static const struct {
    const char *id, *content, *meta;
    float emb[DIM];
} memories[] = {
    {"m1", "The user's cat is called Miso", "{\"kind\":\"fact\",\"topic\":\"pets\"}", {0.1f, 0.9f, 0, 0}},
    {"m2", "Miso only eats salmon pate", "{\"kind\":\"fact\",\"topic\":\"pets\"}", {0.7f, 0.7f, 0, 0}},
    {"m3", "Meeting with Dana moved to Friday", "{\"kind\":\"event\",\"topic\":\"work\"}", {0, 0, 1, 0.1f}},
    {"m4", "Flight to Lisbon on the 12th", "{\"kind\":\"event\",\"topic\":\"travel\"}", {0, 0, 0.3f, 0.9f}},
    {"m5", "The user prefers short answers", "{\"kind\":\"preference\",\"topic\":\"style\"}", {0.2f, 0.2f, 0.2f, 0.2f}},
    {"m6", "Book a cat sitter while in Lisbon", "{\"kind\":\"task\",\"topic\":\"pets\"}", {0, 0.7f, 0, 0.7f}},
};

/* Remember one memory: the record and its embedding commit together or not at all. */
static void remember(mnemo_db *db, size_t i)
{
    mnemo_txn *txn;
    CHECK(mnemo_txn_begin(&txn, db, 0));
    mnemo_record r = {0};
    r.id = memories[i].id;
    r.content = memories[i].content;
    r.importance = 0.5;
    r.metadata = memories[i].meta;
    CHECK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
    CHECK(mnemo_vector_put(db, txn, r.id, memories[i].emb, DIM));
    CHECK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
}

static void add_link(mnemo_db *db, const char *from, const char *label, const char *to)
{
    mnemo_graph_edge e = {from, label, to, 1.0, NULL};
    CHECK(mnemo_graph_link(db, NULL, &e, 0));
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/mnemo-agent-XXXXXX";
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_dim = DIM; /* the first open with vector_dim creates the vector space */
    o.vector_metric = MNEMO_METRIC_COSINE;
    mnemo_db *db = example_open(argc, argv, 1, tmp, &o);

    for (size_t i = 0; i < sizeof memories / sizeof *memories; i++)
        remember(db, i);
    add_link(db, "m2", "about", "m1");
    add_link(db, "m6", "about", "m1");
    add_link(db, "m6", "during", "m4");
    printf("remembered %zu memories and 3 links\n", sizeof memories / sizeof *memories);

    /* recall: "what does the cat eat?" is mostly about pets, a bit about food */
    const float query[DIM] = {0.5f, 0.8f, 0, 0};
    mnemo_vector_hits *hits;
    CHECK(mnemo_vector_search(&hits, db, NULL, query, DIM, 3, NULL));
    printf("nearest to the question:\n");
    for (size_t i = 0; i < hits->count; i++)
        printf("  %s  %.3f\n", hits->hits[i].id, hits->hits[i].distance);
    EXPECT(hits->count == 3 && !strcmp(hits->hits[0].id, "m2") && !strcmp(hits->hits[1].id, "m1"));
    mnemo_vector_hits_free(hits);

    /* the same, only facts (a metadata filter) */
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.filter = "{\"kind\":\"fact\"}";
    CHECK(mnemo_vector_search(&hits, db, NULL, query, DIM, 10, &so));
    printf("only facts:");
    for (size_t i = 0; i < hits->count; i++)
        printf(" %s", hits->hits[i].id);
    printf("\n");
    EXPECT(hits->count == 2 && !strcmp(hits->hits[0].id, "m2") && !strcmp(hits->hits[1].id, "m1"));
    mnemo_vector_hits_free(hits);

    /* recall a travel memory, then follow the links that point at it and what they link to */
    const float trip[DIM] = {0, 0, 0.2f, 1};
    CHECK(mnemo_vector_search(&hits, db, NULL, trip, DIM, 1, NULL));
    EXPECT(hits->count == 1 && !strcmp(hits->hits[0].id, "m4"));
    mnemo_iter *it;
    CHECK(mnemo_graph_neighbors(&it, db, NULL, hits->hits[0].id, MNEMO_DIR_IN, NULL, 0));
    const mnemo_graph_neighbor *nb;
    int rc, seen = 0;
    while ((rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &nb)) == 0) {
        mnemo_record *r;
        CHECK(mnemo_record_get(&r, db, NULL, nb->id));
        printf("%s <-%s- %s: \"%s\"\n", hits->hits[0].id, nb->label, nb->id, r->content);
        seen += !strcmp(nb->id, "m6");
        mnemo_record_free(r);
    }
    EXPECT(rc == MNEMO_ITEROVER && seen == 1);
    mnemo_iter_free(it);
    mnemo_vector_hits_free(hits);

    /* search + expansion in one call: the nearest memory and what is linked to it */
    CHECK(mnemo_vector_search_expand(&hits, db, NULL, query, DIM, 1, NULL, 1, MNEMO_DIR_BOTH));
    printf("nearest and its neighbourhood:");
    for (size_t i = 0; i < hits->count; i++)
        printf(" %s(hops %u)", hits->hits[i].id, hits->hits[i].hops);
    printf("\n");
    EXPECT(hits->count == 2 && !strcmp(hits->hits[0].id, "m2") && !strcmp(hits->hits[1].id, "m1"));
    mnemo_vector_hits_free(hits);

    /* forgetting a memory takes its embedding and links with it */
    CHECK(mnemo_record_delete(db, NULL, "m2"));
    CHECK(mnemo_vector_search(&hits, db, NULL, query, DIM, 1, NULL));
    EXPECT(hits->count == 1 && !strcmp(hits->hits[0].id, "m1"));
    mnemo_vector_hits_free(hits);
    CHECK(mnemo_vector_check(db, NULL));
    CHECK(mnemo_graph_check(db, NULL));

    return example_close(db, tmp);
}
