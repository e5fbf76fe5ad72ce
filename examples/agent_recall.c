/* An agent that remembers and recalls by meaning, keywords and time (mnemo_recall): full-text
 * (BM25) and vector rankings fused, with recency and importance, as the "Generative Agents"
 * retrieval score. Every hit says why it ranks where it does.
 * Run: agent_recall [DIR]   (default: a temporary directory, removed afterwards). */
#include "example.h"

#include <string.h>

#define DIM 5 /* toy embeddings: how much a memory is about (food, pets, work, travel, home) */
#define DAY (24 * 3600 * 1000LL)
#define NOW (1767225600000LL) /* 2026-01-01: a fixed "now", so the ages below are exact */

static const struct {
    const char *id, *content, *meta;
    float emb[DIM];
    double importance;
    int days_ago;
} memories[] = {
    {"home-old", "The user lives at home in Porto", "{\"kind\":\"fact\"}", {0, 0, 0, 0, 1}, 0.6, 200},
    {"home-new", "The user moved to Lisbon, a new home", "{\"kind\":\"fact\"}", {0, 0, 0, 0.3f, 1}, 0.6, 2},
    {"cat", "The user's cat is called Miso", "{\"kind\":\"fact\"}", {0.1f, 0.9f, 0, 0, 0}, 0.8, 30},
    {"food", "Miso only eats salmon pate", "{\"kind\":\"fact\"}", {0.7f, 0.7f, 0, 0, 0}, 0.3, 10},
    {"meeting", "Meeting with Dana moved to Friday", "{\"kind\":\"event\"}", {0, 0, 1, 0.1f, 0}, 0.5, 1},
    {"flight", "Flight to Lisbon on the 12th", "{\"kind\":\"event\"}", {0, 0, 0.3f, 0.9f, 0}, 0.9, 3},
    {"sitter", "Book a cat sitter while in Lisbon", "{\"kind\":\"task\"}", {0, 0.7f, 0, 0.7f, 0}, 0.7, 3},
};

static void remember(mnemo_db *db, mnemo_txn *txn, size_t i)
{
    mnemo_record r = {0};
    r.id = memories[i].id;
    r.content = memories[i].content;
    r.importance = memories[i].importance;
    r.metadata = memories[i].meta;
    r.created_at = r.updated_at = NOW - memories[i].days_ago * DAY;
    CHECK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
    CHECK(mnemo_vector_put(db, txn, r.id, memories[i].emb, DIM));
}

static void show(const char *what, const mnemo_recall_hits *h)
{
    printf("%s\n", what);
    for (size_t i = 0; i < h->count; i++) {
        const mnemo_recall_hit *x = &h->hits[i];
        printf("  %-9s score %.3f: relevance %.3f (text rank %u, vector rank %u), recency %.3f, importance %.1f\n",
               x->id, x->score, x->relevance, x->text_rank, x->vector_rank, x->recency, x->importance);
    }
}

static int is(const mnemo_recall_hits *h, size_t i, const char *id)
{
    return i < h->count && !strcmp(h->hits[i].id, id);
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/mnemo-recall-XXXXXX";
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_dim = DIM;
    o.vector_metric = MNEMO_METRIC_COSINE;
    mnemo_db *db = example_open(argc, argv, 1, tmp, &o);
    CHECK(mnemo_text_enable(db, NULL)); /* index record content for keyword recall */

    mnemo_txn *txn;
    CHECK(mnemo_txn_begin(&txn, db, 0));
    for (size_t i = 0; i < sizeof memories / sizeof *memories; i++)
        remember(db, txn, i);
    CHECK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    printf("remembered %zu memories\n", sizeof memories / sizeof *memories);

    mnemo_recall_hits *h;
    mnemo_recall_query q = MNEMO_RECALL_QUERY_INIT;
    q.now = NOW;

    /* by meaning: "what does the cat eat?" is mostly about pets, a bit about food */
    const float cat_food[DIM] = {0.5f, 0.8f, 0, 0, 0};
    q.vector = cat_food;
    q.dim = DIM;
    q.vector_weight = 1; /* meaning only: the other weights are 0 */
    CHECK(mnemo_recall(&h, db, NULL, &q, 2));
    show("by meaning (what does the cat eat?):", h);
    EXPECT(is(h, 0, "food") && is(h, 1, "cat") && h->hits[0].text_rank == 0);
    mnemo_recall_hits_free(h);

    /* by keyword: every memory that says "Lisbon", and only those */
    q = (mnemo_recall_query)MNEMO_RECALL_QUERY_INIT;
    q.now = NOW;
    q.text = "Lisbon";
    q.text_weight = 1;
    CHECK(mnemo_recall(&h, db, NULL, &q, 10));
    show("by keyword (Lisbon):", h);
    EXPECT(h->count == 3);
    for (size_t i = 0; i < h->count; i++)
        EXPECT((is(h, i, "flight") || is(h, i, "sitter") || is(h, i, "home-new")) && h->hits[i].text_rank == i + 1);
    mnemo_recall_hits_free(h);

    /* by time: "where is the user's home?" Both words and meaning favour the old memory; with
     * the default weights recency (half-life 7 days) lets the move two days ago win, and the
     * 200-day-old memory drops behind a recent, important one. */
    const float home[DIM] = {0, 0, 0, 0, 1};
    q = (mnemo_recall_query)MNEMO_RECALL_QUERY_INIT;
    q.now = NOW;
    q.text = "user home";
    q.vector = home;
    q.dim = DIM;
    q.text_weight = q.vector_weight = 1;
    CHECK(mnemo_recall(&h, db, NULL, &q, 2));
    show("relevance only (where is the user's home?):", h);
    EXPECT(is(h, 0, "home-old") && h->hits[0].text_rank == 1 && h->hits[0].vector_rank == 1);
    mnemo_recall_hits_free(h);
    q.text_weight = q.vector_weight = 0; /* all four 0: the defaults, 1 each */
    CHECK(mnemo_recall(&h, db, NULL, &q, 2));
    show("with recency and importance (the defaults):", h);
    EXPECT(is(h, 0, "home-new") && !is(h, 1, "home-old") && h->hits[0].recency > 0.8);
    mnemo_recall_hits_free(h);

    /* restricted by metadata, and a memory recalled in the transaction that writes it */
    CHECK(mnemo_txn_begin(&txn, db, 0));
    mnemo_record r = {0};
    r.id = "vet";
    r.content = "Take Miso the cat to the vet before the Lisbon flight";
    r.importance = 1;
    r.metadata = "{\"kind\":\"task\"}";
    r.created_at = r.updated_at = NOW;
    CHECK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
    q = (mnemo_recall_query)MNEMO_RECALL_QUERY_INIT;
    q.now = NOW;
    q.text = "cat Lisbon";
    q.filter = "{\"kind\":\"task\"}";
    CHECK(mnemo_recall(&h, db, txn, &q, 10));
    show("tasks about the cat and Lisbon (inside the writing transaction):", h);
    EXPECT(h->count == 2 && is(h, 0, "vet") && is(h, 1, "sitter"));
    mnemo_recall_hits_free(h);
    CHECK(mnemo_txn_rollback(txn)); /* forgotten again */
    mnemo_txn_free(txn);
    CHECK(mnemo_recall(&h, db, NULL, &q, 10));
    EXPECT(h->count == 1 && is(h, 0, "sitter"));
    mnemo_recall_hits_free(h);

    return example_close(db, tmp);
}
