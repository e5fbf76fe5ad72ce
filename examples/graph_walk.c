/* A walk over links: a small "who knows whom" graph, breadth-first traversal with depths, the
 * neighbours of a node, and the shortest path by hops and by weight.
 * Run: graph_walk [DIR]   (default: a temporary directory, removed afterwards). */
#include "example.h"

#include <string.h>

typedef struct walk {
    char order[256];
    unsigned depth_of_eve;
} walk;

static int visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    walk *w = arg;
    printf("  %*s%s%s%s%s\n", (int)depth * 2, "", id, via ? " (via " : "", via ? via : "", via ? ")" : "");
    (void)via_label;
    strncat(w->order, id, sizeof w->order - strlen(w->order) - 1);
    if (!strcmp(id, "eve"))
        w->depth_of_eve = depth;
    return 0;
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/mnemo-walk-XXXXXX";
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *db = example_open(argc, argv, 1, tmp, &o);

    /* weight = how long it takes to get a message through */
    const struct {
        const char *from, *to;
        double w;
    } links[] = {{"ann", "bob", 1}, {"ann", "cat", 5}, {"bob", "dan", 1}, {"cat", "eve", 1},
                 {"dan", "cat", 1}, {"dan", "eve", 7}, {"eve", "fay", 2}};
    mnemo_txn *txn;
    CHECK(mnemo_txn_begin(&txn, db, 0));
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        mnemo_graph_edge e = {links[i].from, "knows", links[i].to, links[i].w, NULL};
        CHECK(mnemo_graph_link(db, txn, &e, MNEMO_LINK_CREATE_MISSING)); /* people get empty records */
    }
    CHECK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);

    printf("breadth-first from ann:\n");
    walk w = {{0}, 0};
    const char *start = "ann";
    mnemo_graph_traverse_options to = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    CHECK(mnemo_graph_traverse(db, NULL, &start, 1, &to, visit, &w));
    EXPECT(!strcmp(w.order, "annbobcatdanevefay") && w.depth_of_eve == 2);

    uint64_t deg;
    CHECK(mnemo_graph_degree(&deg, db, NULL, "cat", MNEMO_DIR_IN, "knows"));
    printf("cat is known by %llu people\n", (unsigned long long)deg);
    EXPECT(deg == 2);

    mnemo_graph_path_options po = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    mnemo_graph_path *p;
    CHECK(mnemo_graph_shortest_path(&p, db, NULL, "ann", "fay", &po));
    printf("fewest hops ann -> fay: %zu hops, weight %.0f\n", p->hops, p->weight);
    EXPECT(p->hops == 3 && p->weight == 8); /* ann cat eve fay */
    mnemo_graph_path_free(p);
    po.weighted = 1;
    CHECK(mnemo_graph_shortest_path(&p, db, NULL, "ann", "fay", &po));
    printf("least weight ann -> fay:");
    for (size_t i = 0; i <= p->hops; i++)
        printf(" %s", p->nodes[i]);
    printf(" (weight %.0f)\n", p->weight);
    EXPECT(p->hops == 5 && p->weight == 6 && !strcmp(p->nodes[2], "dan")); /* ann bob dan cat eve fay */
    mnemo_graph_path_free(p);

    int rc = mnemo_graph_shortest_path(&p, db, NULL, "fay", "ann", NULL);
    printf("fay -> ann: %s\n", mnemo_strerror(rc));
    EXPECT(rc == MNEMO_ENOTFOUND); /* edges are directed */

    CHECK(mnemo_graph_check(db, NULL));
    return example_close(db, tmp);
}
