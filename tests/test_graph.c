/* Graph: every operation and error path, twin agreement after random and concurrent sequences,
 * traversal and paths against an independent in-memory BFS / Dijkstra on a real graph
 * (data/graphs/ca-GrQc.txt) and on random graphs, the importer. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/coding.h"
#include "graph/graph.h"
#include "testutil.h"

static mnemo_db *db;
#define fake_now tu_now

static void setup(void)
{
    tu_mkdtemp();
    tu_fake_clock_start();
    db = tu_open("g");
}
static void teardown(void)
{
    mnemo_close(db);
    tu_fake_clock_stop();
    tu_cleanup();
}
TestSuite(graph, .init = setup, .fini = teardown);

static void close_db(void)
{
    TU_OK(mnemo_close(db));
    db = NULL;
}

static void node(const char *id)
{
    mnemo_record r = {0};
    r.id = id;
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
}

static int link_w(mnemo_txn *txn, const char *a, const char *label, const char *b, double w)
{
    mnemo_graph_edge e = {a, label, b, w, NULL};
    return mnemo_graph_link(db, txn, &e, 0);
}

static void check_ok(uint64_t want_edges)
{
    uint64_t n = 0;
    TU_OK(mnemo_graph_check(db, &n));
    if (want_edges != (uint64_t)-1)
        cr_assert_eq(n, want_edges, "check counted %llu edges, expected %llu", (unsigned long long)n,
                     (unsigned long long)want_edges);
}

/* Neighbour ids (with direction marks) of a node, sorted, as one string. */
static void neighbors_str(mnemo_txn *txn, const char *id, mnemo_direction dir, const char *label, char *out,
                          size_t cap)
{
    mnemo_iter *it;
    TU_OK(mnemo_graph_neighbors(&it, db, txn, id, dir, label, 0));
    const mnemo_graph_neighbor *n;
    out[0] = '\0';
    int rc;
    while ((rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &n)) == 0) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s%s:%s:%g", len ? " " : "", n->direction == MNEMO_DIR_OUT ? ">" : "<",
                 n->id, n->label, n->weight);
    }
    TU_RC(rc, MNEMO_ITEROVER);
    mnemo_iter_free(it);
}

TU_TEST(graph, link_get_unlink_and_neighbors)
{
    node("a");
    node("b");
    node("c");
    TU_OK(link_w(NULL, "a", "knows", "b", 2.5));
    mnemo_graph_edge props = {"a", "cites", "c", 0, "{\"page\": 3, \"note\": \"x\"}"};
    TU_OK(mnemo_graph_link(db, NULL, &props, MNEMO_LINK_DEFAULT_WEIGHT));
    TU_OK(link_w(NULL, "a", "knows", "a", 1)); /* self-loop */
    TU_OK(link_w(NULL, "c", "knows", "a", 4));
    mnemo_graph_edge *e;
    TU_OK(mnemo_graph_get(&e, db, NULL, "a", "cites", "c"));
    cr_assert_eq(e->weight, 1.0, "MNEMO_LINK_DEFAULT_WEIGHT gives 1");
    cr_assert_str_eq(e->props, "{\"note\":\"x\",\"page\":3}");
    cr_assert_str_eq(e->from, "a");
    cr_assert_str_eq(e->label, "cites");
    cr_assert_str_eq(e->to, "c");
    mnemo_graph_edge_free(e);
    TU_OK(link_w(NULL, "a", "knows", "b", 7)); /* update */
    TU_OK(mnemo_graph_get(&e, db, NULL, "a", "knows", "b"));
    cr_assert_eq(e->weight, 7);
    cr_assert_null(e->props);
    mnemo_graph_edge_free(e);
    char s[512];
    neighbors_str(NULL, "a", MNEMO_DIR_OUT, NULL, s, sizeof s);
    cr_assert_str_eq(s, ">a:knows:1 >b:knows:7 >c:cites:1", "%s", s);
    neighbors_str(NULL, "a", MNEMO_DIR_IN, NULL, s, sizeof s);
    cr_assert_str_eq(s, "<a:knows:1 <c:knows:4", "%s", s);
    neighbors_str(NULL, "a", MNEMO_DIR_BOTH, "cites", s, sizeof s);
    cr_assert_str_eq(s, ">c:cites:1", "%s", s);
    neighbors_str(NULL, "a", MNEMO_DIR_BOTH, "no-such-label", s, sizeof s);
    cr_assert_str_eq(s, "");
    uint64_t d;
    TU_OK(mnemo_graph_degree(&d, db, NULL, "a", MNEMO_DIR_OUT, NULL));
    cr_assert_eq(d, 3);
    mnemo_iter *lim;
    TU_OK(mnemo_graph_neighbors(&lim, db, NULL, "a", MNEMO_DIR_BOTH, NULL, 2));
    const mnemo_graph_neighbor *nb;
    int seen = 0;
    while (tu_next_neighbor(lim, &nb) == 0)
        seen++;
    cr_assert_eq(seen, 2, "limit caps what is read");
    mnemo_iter_free(lim);
    TU_OK(mnemo_graph_degree(&d, db, NULL, "a", MNEMO_DIR_BOTH, "knows"));
    cr_assert_eq(d, 4);
    TU_RC(mnemo_graph_exists(db, NULL, "b", "knows", "a"), 0);
    TU_OK(mnemo_graph_unlink(db, NULL, "a", "knows", "b"));
    TU_RC(mnemo_graph_exists(db, NULL, "a", "knows", "b"), 0);
    TU_RC(mnemo_graph_unlink(db, NULL, "a", "knows", "b"), MNEMO_ENOTFOUND);
    neighbors_str(NULL, "b", MNEMO_DIR_BOTH, NULL, s, sizeof s);
    cr_assert_str_eq(s, "", "no backward edge left behind");
    check_ok(3);
    close_db();
}

TU_TEST(graph, bad_arguments_and_missing_endpoints)
{
    node("a");
    mnemo_graph_edge e = {"a", "l", "ghost", 1, NULL};
    TU_RC(mnemo_graph_link(db, NULL, &e, 0), MNEMO_ENOTFOUND);
    cr_assert(strstr(mnemo_errmsg(), "ghost"), "%s", mnemo_errmsg());
    TU_OK(mnemo_graph_link(db, NULL, &e, MNEMO_LINK_CREATE_MISSING));
    TU_RC(mnemo_record_exists(db, NULL, "ghost"), 1);
    TU_RC(mnemo_graph_link(db, NULL, NULL, 0), MNEMO_EINVAL);
    TU_RC(mnemo_graph_link(db, NULL, &e, 0x80), MNEMO_EINVAL);
    mnemo_graph_edge bad = e;
    bad.label = "";
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    bad.label = NULL;
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    char longlabel[MNEMO_LABEL_MAX + 2];
    memset(longlabel, 'x', sizeof longlabel - 1);
    longlabel[sizeof longlabel - 1] = '\0';
    bad.label = longlabel;
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    bad = e;
    bad.from = NULL;
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    bad = e;
    bad.weight = NAN;
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    bad.weight = INFINITY;
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    bad = e;
    bad.props = "[1]";
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "props must be a JSON object"), "%s", mnemo_errmsg());
    static char longprops[MNEMO_RECORD_MAX_METADATA + 16];
    memset(longprops, ' ', sizeof longprops - 1);
    memcpy(longprops, "{}", 2);
    bad.props = longprops;
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "props is longer than"), "%s", mnemo_errmsg());
    bad.props = "{oops";
    TU_RC(mnemo_graph_link(db, NULL, &bad, 0), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "props"), "%s", mnemo_errmsg());
    mnemo_iter *it;
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "nobody", MNEMO_DIR_OUT, NULL, 0), MNEMO_ENOTFOUND);
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "a", (mnemo_direction)9, NULL, 0), MNEMO_EINVAL);
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "a", MNEMO_DIR_OUT, "", 0), MNEMO_EINVAL);
    TU_RC(mnemo_graph_neighbors(NULL, db, NULL, "a", MNEMO_DIR_OUT, NULL, 0), MNEMO_EINVAL);
    uint64_t d;
    TU_RC(mnemo_graph_degree(NULL, db, NULL, "a", MNEMO_DIR_OUT, NULL), MNEMO_EINVAL);
    TU_RC(mnemo_graph_degree(&d, db, NULL, NULL, MNEMO_DIR_OUT, NULL), MNEMO_EINVAL);
    mnemo_graph_edge *got;
    TU_RC(mnemo_graph_get(&got, db, NULL, "a", "l", "nobody"), MNEMO_ENOTFOUND);
    TU_RC(mnemo_graph_get(&got, db, NULL, "a", "nolabel", "ghost"), MNEMO_ENOTFOUND);
    TU_RC(mnemo_graph_unlink(db, NULL, "a", "l", NULL), MNEMO_EINVAL);
    mnemo_graph_path *p;
    TU_RC(mnemo_graph_shortest_path(&p, db, NULL, "a", "nobody", NULL), MNEMO_ENOTFOUND);
    TU_RC(mnemo_graph_shortest_path(NULL, db, NULL, "a", "ghost", NULL), MNEMO_EINVAL);
    TU_RC(mnemo_graph_traverse(db, NULL, NULL, 1, NULL, NULL, NULL), MNEMO_EINVAL);
    TU_RC(mnemo_iter_neighbor(NULL, NULL), MNEMO_EINVAL);
    mnemo_iter_free(NULL);
    mnemo_graph_path_free(NULL);
    mnemo_graph_edge_free(NULL);
    TU_RC(mnemo_graph_check(NULL, NULL), MNEMO_EINVAL);
    check_ok(1);
    close_db();
}

TU_TEST(graph, deleting_or_expiring_a_record_takes_its_edges)
{
    node("hub");
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "n%d", i);
        node(id);
        TU_OK(link_w(NULL, "hub", "to", id, 1));
        TU_OK(link_w(NULL, id, "back", "hub", 1));
    }
    TU_OK(link_w(NULL, "hub", "self", "hub", 1));
    check_ok(41);
    TU_OK(mnemo_record_delete(db, NULL, "hub"));
    check_ok(0);
    char s[256];
    neighbors_str(NULL, "n3", MNEMO_DIR_BOTH, NULL, s, sizeof s);
    cr_assert_str_eq(s, "");

    /* an expired node's edges are invisible at once, and purge removes them */
    mnemo_record r = {0};
    r.id = "temp";
    r.expires_at = fake_now + 10;
    TU_OK(mnemo_record_put(db, NULL, &r, 0));
    TU_OK(link_w(NULL, "n1", "to", "temp", 1));
    TU_OK(link_w(NULL, "temp", "to", "n2", 1));
    uint64_t d;
    TU_OK(mnemo_graph_degree(&d, db, NULL, "n1", MNEMO_DIR_OUT, NULL));
    cr_assert_eq(d, 1);
    fake_now += 10;
    TU_OK(mnemo_graph_degree(&d, db, NULL, "n1", MNEMO_DIR_OUT, NULL));
    cr_assert_eq(d, 0, "the edge to an expired record is gone at once");
    TU_OK(mnemo_graph_degree(&d, db, NULL, "n2", MNEMO_DIR_IN, NULL));
    cr_assert_eq(d, 0);
    TU_RC(mnemo_graph_exists(db, NULL, "n1", "to", "temp"), 0);
    size_t purged;
    TU_OK(mnemo_record_purge_expired(db, &purged));
    cr_assert_eq(purged, 1);
    check_ok(0);

    /* the expiring set survives a reopen */
    r.id = "temp2";
    r.expires_at = fake_now + 10;
    TU_OK(mnemo_record_put(db, NULL, &r, 0));
    TU_OK(link_w(NULL, "n1", "to", "temp2", 1));
    close_db();
    TU_NEEDS_DISK("reopens");
    TU_OK(tu_reopen(&db, "g", NULL));
    fake_now += 10;
    TU_OK(mnemo_graph_degree(&d, db, NULL, "n1", MNEMO_DIR_OUT, NULL));
    cr_assert_eq(d, 0);
    close_db();
}

TU_TEST(graph, transactions_see_their_edges_and_rollback_leaves_none)
{
    node("a");
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    mnemo_graph_edge e = {"a", "brand-new-label", "b", 3, NULL};
    TU_OK(mnemo_graph_link(db, t, &e, MNEMO_LINK_CREATE_MISSING));
    char s[256];
    neighbors_str(t, "a", MNEMO_DIR_OUT, NULL, s, sizeof s);
    cr_assert_str_eq(s, ">b:brand-new-label:3", "a txn sees its own edge and new label: %s", s);
    mnemo_iter *it;
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "b", MNEMO_DIR_IN, NULL, 0), MNEMO_ENOTFOUND); /* b not committed */
    TU_OK(mnemo_txn_rollback(t));
    mnemo_txn_free(t);
    TU_RC(mnemo_record_exists(db, NULL, "b"), 0);
    check_ok(0);
    neighbors_str(NULL, "a", MNEMO_DIR_OUT, NULL, s, sizeof s);
    cr_assert_str_eq(s, "");
    TU_OK(mnemo_graph_link(db, NULL, &e, MNEMO_LINK_CREATE_MISSING)); /* the label id is reusable */
    neighbors_str(NULL, "b", MNEMO_DIR_IN, "brand-new-label", s, sizeof s);
    cr_assert_str_eq(s, "<a:brand-new-label:3");
    check_ok(1);
    close_db();
}

/* ---- random sequences against an in-memory reference ---- */

#define RN 12
#define RL 3
static double ref_w[RN][RL][RN]; /* NAN = no edge */

TU_TEST(graph, random_sequences_keep_twins_and_match_a_reference)
{
    const char *labels[RL] = {"x", "y", "z"};
    char ids[RN][8];
    for (int i = 0; i < RN; i++) {
        snprintf(ids[i], sizeof ids[i], "v%d", i);
        node(ids[i]);
    }
    for (int a = 0; a < RN; a++)
        for (int l = 0; l < RL; l++)
            for (int b = 0; b < RN; b++)
                ref_w[a][l][b] = NAN;
    unsigned seed = 77;
    for (int step = 0; step < 1500; step++) {
        int a = rand_r(&seed) % RN, b = rand_r(&seed) % RN, l = rand_r(&seed) % RL, op = rand_r(&seed) % 10;
        if (op < 6) {
            double w = rand_r(&seed) % 100;
            TU_OK(link_w(NULL, ids[a], labels[l], ids[b], w));
            ref_w[a][l][b] = w;
        } else if (op < 9) {
            int rc = mnemo_graph_unlink(db, NULL, ids[a], labels[l], ids[b]);
            cr_assert_eq(rc, isnan(ref_w[a][l][b]) ? MNEMO_ENOTFOUND : 0);
            ref_w[a][l][b] = NAN;
        } else { /* delete and recreate a node: its edges go */
            TU_OK(mnemo_record_delete(db, NULL, ids[a]));
            node(ids[a]);
            for (int x = 0; x < RN; x++)
                for (int y = 0; y < RL; y++)
                    ref_w[a][y][x] = ref_w[x][y][a] = NAN;
        }
        if (step % 100 == 99) {
            uint64_t want = 0;
            for (int x = 0; x < RN; x++)
                for (int y = 0; y < RL; y++)
                    for (int z = 0; z < RN; z++)
                        want += !isnan(ref_w[x][y][z]);
            check_ok(want);
            for (int x = 0; x < RN; x++) {
                uint64_t dout, din, want_out = 0, want_in = 0;
                for (int y = 0; y < RL; y++)
                    for (int z = 0; z < RN; z++) {
                        want_out += !isnan(ref_w[x][y][z]);
                        want_in += !isnan(ref_w[z][y][x]);
                    }
                TU_OK(mnemo_graph_degree(&dout, db, NULL, ids[x], MNEMO_DIR_OUT, NULL));
                TU_OK(mnemo_graph_degree(&din, db, NULL, ids[x], MNEMO_DIR_IN, NULL));
                cr_assert_eq(dout, want_out);
                cr_assert_eq(din, want_in);
            }
        }
    }
    close_db();
}

/* ---- concurrent link/unlink on one hub never loses an edge ---- */

#define CT 4
#define PER 150
static void *hub_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PER; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", t, i);
        mnemo_graph_edge e = {"hub", "has", id, 1, NULL};
        int rc = mnemo_graph_link(db, NULL, &e, MNEMO_LINK_CREATE_MISSING);
        if (!rc && i % 3 == 0)
            rc = mnemo_graph_unlink(db, NULL, "hub", "has", id);
        if (rc)
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

TU_TEST(graph, concurrent_links_on_one_node_lose_nothing)
{
    node("hub");
    pthread_t th[CT];
    for (int i = 0; i < CT; i++)
        pthread_create(&th[i], NULL, hub_worker, (void *)(intptr_t)i);
    for (int i = 0; i < CT; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "worker failed: %s", mnemo_strerror((int)(intptr_t)res));
    }
    uint64_t d;
    TU_OK(mnemo_graph_degree(&d, db, NULL, "hub", MNEMO_DIR_OUT, "has"));
    cr_assert_eq(d, CT * (PER - (PER + 2) / 3));
    check_ok(d);
    close_db();
}

/* ---- traversal and paths against a reference on ca-GrQc and random graphs ---- */

#define MAXN 100000
static int *adj_start, *adj_list, *adj_deg; /* reference CSR: adj_list[adj_start[v] .. + adj_deg[v]] */
static double *adj_w;
static int n_nodes;

static const char *data_path(const char *name)
{
    static char p[1024];
    const char *dir = getenv("MNEMO_DATA_DIR");
    snprintf(p, sizeof p, "%s/%s", dir ? dir : "data", name);
    return p;
}

/* Reference adjacency of a directed edge list "a b" per line. */
static void load_reference(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s (set MNEMO_DATA_DIR)", path);
    int (*pairs)[2] = malloc(40000 * sizeof *pairs);
    int n = 0, a, b;
    char line[256];
    n_nodes = 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%d %d", &a, &b) == 2 && a < MAXN && b < MAXN && n < 40000) {
            pairs[n][0] = a;
            pairs[n][1] = b;
            n++;
            n_nodes = a >= n_nodes ? a + 1 : n_nodes;
            n_nodes = b >= n_nodes ? b + 1 : n_nodes;
        }
    fclose(f);
    adj_deg = calloc((size_t)n_nodes, sizeof *adj_deg);
    adj_start = calloc((size_t)n_nodes + 1, sizeof *adj_start);
    adj_list = malloc((size_t)n * sizeof *adj_list);
    for (int i = 0; i < n; i++)
        adj_deg[pairs[i][0]]++;
    for (int v = 0; v < n_nodes; v++)
        adj_start[v + 1] = adj_start[v] + adj_deg[v];
    int *fill = calloc((size_t)n_nodes, sizeof *fill);
    for (int i = 0; i < n; i++) /* duplicate lines collapse to one edge in mnemo: keep them, BFS does not care */
        adj_list[adj_start[pairs[i][0]] + fill[pairs[i][0]]++] = pairs[i][1];
    free(fill);
    free(pairs);
}

static void free_reference(void)
{
    free(adj_deg);
    free(adj_start);
    free(adj_list);
    free(adj_w);
    adj_w = NULL;
}

static void ref_bfs(int src, int *dist)
{
    for (int v = 0; v < n_nodes; v++)
        dist[v] = -1;
    int *q = malloc((size_t)n_nodes * sizeof *q), head = 0, tail = 0;
    dist[src] = 0;
    q[tail++] = src;
    while (head < tail) {
        int v = q[head++];
        for (int k = adj_start[v]; k < adj_start[v + 1]; k++)
            if (dist[adj_list[k]] < 0) {
                dist[adj_list[k]] = dist[v] + 1;
                q[tail++] = adj_list[k];
            }
    }
    free(q);
}

typedef struct visit_log {
    int *depth; /* by node number, -1 unvisited */
    int count, dup, bad_via;
} visit_log;

static int log_visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    visit_log *l = arg;
    int v = atoi(id);
    if (l->depth[v] >= 0)
        l->dup++;
    l->depth[v] = (int)depth;
    l->count++;
    if ((depth == 0) != (via == NULL) || (via && strcmp(via_label, "link")))
        l->bad_via++;
    return 0;
}

TU_TEST(graph, traversal_and_paths_match_reference_bfs_on_ca_grqc)
{
    mnemo_graph_import_stats st = MNEMO_GRAPH_IMPORT_STATS_INIT;
    TU_OK(mnemo_graph_import_edgelist(db, data_path("graphs/ca-GrQc.txt"), NULL, &st));
    cr_assert_gt(st.edges, 20000);
    load_reference(data_path("graphs/ca-GrQc.txt"));
    int *dist = malloc((size_t)n_nodes * sizeof *dist);
    visit_log l = {malloc((size_t)n_nodes * sizeof(int)), 0, 0, 0};
    unsigned seed = 5;
    int checked = 0;
    int *present = malloc((size_t)n_nodes * sizeof *present), n_present = 0; /* ids are sparse */
    for (int v = 0; v < n_nodes; v++)
        if (adj_deg[v])
            present[n_present++] = v;
    for (int q = 0; q < 30; q++) {
        int src = present[rand_r(&seed) % n_present];
        char sid[16];
        snprintf(sid, sizeof sid, "%d", src);
        ref_bfs(src, dist);
        for (int v = 0; v < n_nodes; v++)
            l.depth[v] = -1;
        l.count = l.dup = l.bad_via = 0;
        mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
        o.max_depth = 3;
        const char *starts[] = {sid};
        TU_OK(mnemo_graph_traverse(db, NULL, starts, 1, &o, log_visit, &l));
        int want = 0;
        for (int v = 0; v < n_nodes; v++) {
            int expect = dist[v] >= 0 && dist[v] <= 3 ? dist[v] : -1;
            want += expect >= 0;
            cr_assert_eq(l.depth[v], expect, "from %d: node %d at depth %d, reference %d", src, v, l.depth[v], expect);
        }
        cr_assert_eq(l.count, want);
        cr_assert_eq(l.dup, 0, "each node is visited once");
        cr_assert_eq(l.bad_via, 0);
        /* shortest path by hops to a random node */
        int dst = present[rand_r(&seed) % n_present];
        char did[16];
        snprintf(did, sizeof did, "%d", dst);
        mnemo_graph_path *p;
        int rc = mnemo_graph_shortest_path(&p, db, NULL, sid, did, NULL);
        if (dist[dst] < 0) {
            TU_RC(rc, MNEMO_ENOTFOUND);
            continue;
        }
        TU_OK(rc);
        cr_assert_eq((int)p->hops, dist[dst], "path %d -> %d: %zu hops, reference %d", src, dst, p->hops, dist[dst]);
        for (size_t h = 0; h < p->hops; h++)
            TU_RC(mnemo_graph_exists(db, NULL, p->nodes[h], p->labels[h], p->nodes[h + 1]), 1);
        mnemo_graph_path_free(p);
        checked++;
    }
    cr_assert_gt(checked, 10);
    /* max_nodes stops early */
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    o.max_nodes = 5;
    for (int v = 0; v < n_nodes; v++)
        l.depth[v] = -1;
    l.count = 0;
    int hub = present[0];
    for (int i = 1; i < n_present; i++)
        hub = adj_deg[present[i]] > adj_deg[hub] ? present[i] : hub;
    char first[16];
    snprintf(first, sizeof first, "%d", hub);
    const char *starts[] = {first};
    TU_OK(mnemo_graph_traverse(db, NULL, starts, 1, &o, log_visit, &l));
    cr_assert_eq(l.count, 5, "max_nodes stops the walk after that many visits");
    free(present);
    free(l.depth);
    free(dist);
    free_reference();
    check_ok(st.edges);
    close_db();
}

/* Reference Dijkstra, O(n^2): fine for a few hundred nodes. */
static void ref_dijkstra(int src, double *d, int n, const double *w /* n*n, NAN = no edge */)
{
    int *done = calloc((size_t)n, sizeof *done);
    for (int v = 0; v < n; v++)
        d[v] = INFINITY;
    d[src] = 0;
    for (;;) {
        int u = -1;
        for (int v = 0; v < n; v++)
            if (!done[v] && d[v] < INFINITY && (u < 0 || d[v] < d[u]))
                u = v;
        if (u < 0)
            break;
        done[u] = 1;
        for (int v = 0; v < n; v++)
            if (!isnan(w[u * n + v]) && d[u] + w[u * n + v] < d[v])
                d[v] = d[u] + w[u * n + v];
    }
    free(done);
}

TU_TEST(graph, weighted_paths_match_reference_dijkstra_on_random_graphs)
{
    enum { N = 120, M = 500 };
    double *w = malloc(N * N * sizeof *w);
    for (int i = 0; i < N * N; i++)
        w[i] = NAN;
    unsigned seed = 31;
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    for (int i = 0; i < M; i++) {
        int a = rand_r(&seed) % N, b = rand_r(&seed) % N;
        double x = (rand_r(&seed) % 1000) / 100.0;
        char sa[16], sb[16];
        snprintf(sa, sizeof sa, "%d", a);
        snprintf(sb, sizeof sb, "%d", b);
        mnemo_graph_edge e = {sa, "road", sb, x, NULL};
        TU_OK(mnemo_graph_link(db, t, &e, MNEMO_LINK_CREATE_MISSING));
        w[a * N + b] = x; /* a later link of the same pair replaces the weight */
    }
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    double d[N];
    for (int q = 0; q < 40; q++) {
        int src = rand_r(&seed) % N, dst = rand_r(&seed) % N;
        char sa[16], sb[16];
        snprintf(sa, sizeof sa, "%d", src);
        snprintf(sb, sizeof sb, "%d", dst);
        if (mnemo_record_exists(db, NULL, sa) != 1 || mnemo_record_exists(db, NULL, sb) != 1)
            continue;
        ref_dijkstra(src, d, N, w);
        mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
        o.weighted = 1;
        mnemo_graph_path *p;
        int rc = mnemo_graph_shortest_path(&p, db, NULL, sa, sb, &o);
        if (isinf(d[dst])) {
            TU_RC(rc, MNEMO_ENOTFOUND);
            continue;
        }
        TU_OK(rc);
        cr_assert(fabs(p->weight - d[dst]) < 1e-9, "%d -> %d: weight %g, reference %g", src, dst, p->weight, d[dst]);
        double sum = 0;
        for (size_t h = 0; h < p->hops; h++) {
            mnemo_graph_edge *e;
            TU_OK(mnemo_graph_get(&e, db, NULL, p->nodes[h], p->labels[h], p->nodes[h + 1]));
            sum += e->weight;
            mnemo_graph_edge_free(e);
        }
        cr_assert(fabs(sum - p->weight) < 1e-9, "the path's edges add up to its weight");
        mnemo_graph_path_free(p);
    }
    free(w);
    /* a negative weight met by a weighted search is refused, naming the edge */
    TU_OK(link_w(NULL, "0", "road", "1", -2));
    mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    o.weighted = 1;
    mnemo_graph_path *p;
    TU_RC(mnemo_graph_shortest_path(&p, db, NULL, "0", "119", &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "negative"), "%s", mnemo_errmsg());
    close_db();
}

/* ---- check finds damage ---- */

TU_TEST(graph, check_detects_a_missing_twin_and_a_damaged_value)
{
    node("a");
    node("b");
    TU_OK(link_w(NULL, "a", "l", "b", 1));
    mnemo_record *ra, *rb;
    TU_OK(mnemo_record_get(&ra, db, NULL, "a"));
    TU_OK(mnemo_record_get(&rb, db, NULL, "b"));
    unsigned char bk[20];
    mnemo__put_be64(bk, rb->internal_id);
    mnemo__put_be32(bk + 8, 1);
    mnemo__put_be64(bk + 12, ra->internal_id);
    mnemo_record_free(ra);
    mnemo_record_free(rb);
    close_db();
    tu_raw r;
    tu_raw_open(&r, tu_path("g"));
    size_t n;
    char *v = tu_raw_get(&r, 3, bk, sizeof bk, &n);
    cr_assert_not_null(v, "backward key layout as documented");
    v[1] ^= 1; /* flip a bit of the weight */
    tu_raw_put(&r, 3, bk, sizeof bk, v, n);
    free(v);
    tu_raw_close(&r);
    TU_NEEDS_DISK("reopens");
    TU_OK(tu_reopen(&db, "g", NULL));
    uint64_t edges;
    TU_RC(mnemo_graph_check(db, &edges), MNEMO_ECORRUPT);
    mnemo_iter *it;
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "b", MNEMO_DIR_IN, NULL, 0), MNEMO_ECORRUPT);
    close_db();
}

/* ---- importer ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

TU_TEST(graph, importer_formats_errors_and_batches)
{
    char path[600];
    snprintf(path, sizeof path, "%s.txt", tu_path("edges"));
    write_file(path, "# a comment\r\n1\t2\r\n2 3 2.5\r\n\r\n  3   1\n");
    mnemo_graph_import_options o = MNEMO_GRAPH_IMPORT_OPTIONS_INIT;
    o.undirected = 1;
    o.label = "friend";
    mnemo_graph_import_stats st = MNEMO_GRAPH_IMPORT_STATS_INIT;
    TU_OK(mnemo_graph_import_edgelist(db, path, &o, &st));
    cr_assert_eq(st.lines, 5);
    cr_assert_eq(st.edges, 6);
    cr_assert_eq(st.nodes_created, 3);
    mnemo_graph_edge *e;
    TU_OK(mnemo_graph_get(&e, db, NULL, "3", "friend", "2"));
    cr_assert_eq(e->weight, 2.5);
    mnemo_graph_edge_free(e);
    check_ok(6);

    write_file(path, "10 11\n11 12\n12\n13 14\n");
    o = (mnemo_graph_import_options)MNEMO_GRAPH_IMPORT_OPTIONS_INIT;
    o.batch = 1; /* batches of one line: the two before the bad one commit */
    TU_RC(mnemo_graph_import_edgelist(db, path, &o, &st), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "line 3"), "the message names the bad line: %s", mnemo_errmsg());
    cr_assert_eq(st.edges, 2, "batches before the bad line are kept");
    TU_RC(mnemo_graph_exists(db, NULL, "11", "link", "12"), 1);
    TU_RC(mnemo_record_exists(db, NULL, "13"), 0);

    write_file(path, "20 21\n21 22\n22 x y z\n");
    o.batch = 100; /* one batch: the bad line fails all of it */
    TU_RC(mnemo_graph_import_edgelist(db, path, &o, &st), MNEMO_EINVAL);
    cr_assert_eq(st.edges, 0);
    TU_RC(mnemo_record_exists(db, NULL, "20"), 0);
    write_file(path, "1 2 notanumber\n");
    TU_RC(mnemo_graph_import_edgelist(db, path, &o, &st), MNEMO_EINVAL);
    TU_RC(mnemo_graph_import_edgelist(db, tu_path("missing.txt"), &o, &st), MNEMO_ENOTFOUND);
    TU_RC(mnemo_graph_import_edgelist(db, NULL, &o, &st), MNEMO_EINVAL);
    check_ok((uint64_t)-1);
    close_db();
}

/* ---- the adjacency cache never changes what a read returns ---- */

static void neighbors_of(mnemo_db *d, mnemo_txn *txn, const char *id, mnemo_direction dir, char *out, size_t cap)
{
    mnemo_iter *it;
    int rc = mnemo_graph_neighbors(&it, d, txn, id, dir, NULL, 0);
    if (rc) {
        snprintf(out, cap, "%s", mnemo_strerror(rc));
        return;
    }
    const mnemo_graph_neighbor *n;
    out[0] = '\0';
    while (tu_next_neighbor(it, &n) == 0) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, " %d%s:%s:%g", n->direction, n->id, n->label, n->weight);
    }
    mnemo_iter_free(it);
}

TU_TEST(graph, adjacency_cache_on_and_off_give_the_same_answers)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.cache_size = 1 << 20;
    mnemo_db *on, *off;
    TU_OK(tu_open_with(&on, "cached", &o));
    o.cache_size = MNEMO_CACHE_OFF;
    TU_OK(tu_open_with(&off, "uncached", &o));
    mnemo_db *dbs[2] = {on, off};
    const char *labels[] = {"p", "q"};
    unsigned seed = 9;
    char a[4096], b[4096];
    for (int step = 0; step < 2500; step++) {
        int op = rand_r(&seed) % 20;
        char x[8], y[8];
        snprintf(x, sizeof x, "n%d", rand_r(&seed) % 10);
        snprintf(y, sizeof y, "n%d", rand_r(&seed) % 10);
        const char *l = labels[rand_r(&seed) % 2];
        double w = rand_r(&seed) % 5;
        int in_txn = rand_r(&seed) % 5 == 0, rollback = rand_r(&seed) % 2;
        int64_t expires = fake_now + 1 + rand_r(&seed) % 3; /* drawn once: both databases get the same */
        int rcs[2];
        for (int k = 0; k < 2; k++) {
            mnemo_txn *t = NULL;
            if (in_txn)
                TU_OK(mnemo_txn_begin(&t, dbs[k], 0));
            mnemo_graph_edge e = {x, l, y, w, NULL};
            if (op < 8) {
                rcs[k] = mnemo_graph_link(dbs[k], t, &e, MNEMO_LINK_CREATE_MISSING);
            } else if (op < 13) {
                rcs[k] = mnemo_graph_unlink(dbs[k], t, x, l, y);
            } else if (op < 14) {
                rcs[k] = mnemo_record_delete(dbs[k], t, x);
            } else if (op < 15) {
                mnemo_record r = {0};
                r.id = x;
                r.expires_at = expires;
                rcs[k] = mnemo_record_put(dbs[k], t, &r, MNEMO_PUT_UPSERT);
            } else {
                neighbors_of(dbs[k], t, x, MNEMO_DIR_BOTH, k ? b : a, sizeof a);
                rcs[k] = 0;
            }
            if (t) {
                if (rollback)
                    TU_OK(mnemo_txn_rollback(t));
                else if (!rcs[k])
                    rcs[k] = mnemo_txn_commit(t);
                mnemo_txn_free(t);
            }
        }
        if (op == 14) /* both wrote the same expiry times: make time move now and then */
            fake_now += rand_r(&seed) % 2;
        cr_assert_eq(rcs[0], rcs[1], "step %d op %d: %s vs %s", step, op, mnemo_strerror(rcs[0]), mnemo_strerror(rcs[1]));
        if (op >= 15)
            cr_assert_str_eq(a, b, "step %d (txn %d): neighbours of %s differ with the cache: [%s] vs [%s]", step, in_txn, x, a, b);
    }
    mnemo_stats st = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&st, on));
    cr_assert_gt(st.cache_hits, 50, "the adjacency cache was used (%llu hits)", (unsigned long long)st.cache_hits);
    TU_OK(mnemo_stats_get(&st, off));
    cr_assert_eq(st.cache_capacity + st.cache_hits, 0, "MNEMO_CACHE_OFF turns the cache off");
    TU_OK(mnemo_close(on));
    TU_OK(mnemo_close(off));
}

/* ---- regressions from review ---- */

TU_TEST(graph, dijkstra_settles_nodes_in_distance_order)
{
    const char *order[] = {"s", "x", "a", "b", "t"}; /* creation order matters for the old heap bug */
    for (int i = 0; i < 5; i++)
        node(order[i]);
    TU_OK(link_w(NULL, "s", "r", "a", 1));
    TU_OK(link_w(NULL, "s", "r", "b", 8));
    TU_OK(link_w(NULL, "s", "r", "t", 6));
    TU_OK(link_w(NULL, "a", "r", "x", 5));
    TU_OK(link_w(NULL, "a", "r", "b", 1));
    TU_OK(link_w(NULL, "b", "r", "t", 0));
    mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    o.weighted = 1;
    mnemo_graph_path *p;
    TU_OK(mnemo_graph_shortest_path(&p, db, NULL, "s", "t", &o));
    cr_assert_eq(p->weight, 2, "s a b t weighs 2, got %g", p->weight);
    cr_assert_eq(p->hops, 3);
    mnemo_graph_path_free(p);
    o.weighted = 0; /* fewest hops: s t, and its weight is the edge's, not the hop count */
    TU_OK(mnemo_graph_shortest_path(&p, db, NULL, "s", "t", &o));
    cr_assert_eq(p->hops, 1);
    cr_assert_eq(p->weight, 6);
    mnemo_graph_path_free(p);
    o.weighted = 1;
    o.max_hops = 2;
    TU_RC(mnemo_graph_shortest_path(&p, db, NULL, "s", "t", &o), MNEMO_EINVAL);
    char longlabel[300];
    memset(longlabel, 'q', sizeof longlabel - 1);
    longlabel[sizeof longlabel - 1] = '\0';
    mnemo_iter *it;
    uint64_t d;
    TU_RC(mnemo_graph_neighbors(&it, db, NULL, "s", MNEMO_DIR_OUT, longlabel, 0), MNEMO_EINVAL);
    TU_RC(mnemo_graph_degree(&d, db, NULL, "s", MNEMO_DIR_OUT, longlabel), MNEMO_EINVAL);
    o = (mnemo_graph_path_options)MNEMO_GRAPH_PATH_OPTIONS_INIT;
    o.label = longlabel;
    TU_RC(mnemo_graph_shortest_path(&p, db, NULL, "s", "t", &o), MNEMO_EINVAL);
    close_db();
}

TU_TEST(graph, link_and_delete_of_the_same_record_conflict_in_either_order)
{
    for (int delete_first = 0; delete_first < 2; delete_first++) {
        node("a");
        node("b");
        mnemo_txn *del, *lnk;
        TU_OK(mnemo_txn_begin(&del, db, 0));
        TU_OK(mnemo_record_delete(db, del, "b"));
        TU_OK(mnemo_txn_begin(&lnk, db, 0));
        TU_OK(link_w(lnk, "a", "y", "b", 1));
        TU_OK(link_w(lnk, "b", "x", "a", 1));
        mnemo_txn *first = delete_first ? del : lnk, *second = delete_first ? lnk : del;
        TU_OK(mnemo_txn_commit(first));
        TU_RC(mnemo_txn_commit(second), MNEMO_EBUSY);
        mnemo_txn_free(del);
        mnemo_txn_free(lnk);
        check_ok((uint64_t)-1); /* no edge to a deleted record either way */
        TU_OK(mnemo_record_delete(db, NULL, delete_first ? "a" : "b"));
        mnemo_record_delete(db, NULL, "a");
        mnemo_record_delete(db, NULL, "b");
        check_ok(0);
    }
    close_db();
}

/* "Never both a -[x]-> b and c -[x]-> d": each txn checks the other edge with a point read
 * (mnemo_graph_exists / mnemo_graph_get), then links its own (no node in common, so the links
 * themselves touch no common key). The point read is validated at commit, so exactly one commits
 * (docs/transactions.md, table of reads). */
TU_TEST(graph, an_edge_read_in_a_transaction_is_validated_at_commit)
{
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++)
        node(ids[i]);
    TU_OK(link_w(NULL, "e", "x", "e", 1)); /* the label exists: creating it is no conflict here */
    mnemo_txn *t1, *t2;
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    TU_OK(mnemo_txn_begin(&t2, db, 0));
    TU_RC(mnemo_graph_exists(db, t1, "c", "x", "d"), 0);
    mnemo_graph_edge *e;
    TU_RC(mnemo_graph_get(&e, db, t2, "a", "x", "b"), MNEMO_ENOTFOUND);
    TU_OK(link_w(t1, "a", "x", "b", 1));
    TU_OK(link_w(t2, "c", "x", "d", 1));
    TU_OK(mnemo_txn_commit(t1));
    TU_RC(mnemo_txn_commit(t2), MNEMO_EBUSY);
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);
    TU_RC(mnemo_graph_exists(db, NULL, "a", "x", "b"), 1);
    TU_RC(mnemo_graph_exists(db, NULL, "c", "x", "d"), 0);
    check_ok(2);
}

/* A weighted path whose total overflows a double (issue 17 item 8: three edges of 1e308 said "not
 * reachable"): a lighter finite path still wins; when every path overflows the search says so. */
TU_TEST(graph, weighted_paths_whose_total_overflows_are_not_unreachable)
{
    const char *ids[] = {"a", "b", "c", "d", "x", "y"};
    for (size_t i = 0; i < 6; i++)
        node(ids[i]);
    TU_OK(link_w(NULL, "a", "w", "b", 1e308));
    TU_OK(link_w(NULL, "b", "w", "c", 1e308));
    TU_OK(link_w(NULL, "c", "w", "d", 1e308));
    mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    o.weighted = 1;
    mnemo_graph_path *p;
    TU_OK(mnemo_graph_shortest_path(&p, db, NULL, "a", "b", &o));
    cr_assert_eq(p->weight, 1e308);
    mnemo_graph_path_free(p);
    for (int i = 0; i < 2; i++) {
        const char *to = i ? "d" : "c";
        TU_RC(mnemo_graph_shortest_path(&p, db, NULL, "a", to, &o), MNEMO_EINVAL);
        cr_assert(strstr(mnemo_errmsg(), "is reachable") && strstr(mnemo_errmsg(), "overflows"), "%s", mnemo_errmsg());
    }
    /* fewest hops finds the path; its weight is the sum, which is infinite */
    o.weighted = 0;
    TU_OK(mnemo_graph_shortest_path(&p, db, NULL, "a", "d", &o));
    cr_assert_eq(p->hops, 3);
    cr_assert(isinf(p->weight));
    mnemo_graph_path_free(p);
    /* a lighter path with more hops is the answer, overflowing ones around it or not */
    TU_OK(link_w(NULL, "a", "w", "x", 5));
    TU_OK(link_w(NULL, "x", "w", "y", 5));
    TU_OK(link_w(NULL, "y", "w", "d", 5));
    TU_OK(link_w(NULL, "b", "w", "y", 1e308));
    o.weighted = 1;
    TU_OK(mnemo_graph_shortest_path(&p, db, NULL, "a", "d", &o));
    cr_assert_eq(p->hops, 3);
    cr_assert_str_eq(p->nodes[1], "x");
    cr_assert_eq(p->weight, 15);
    mnemo_graph_path_free(p);
    TU_RC(mnemo_graph_shortest_path(&p, db, NULL, "a", "c", &o), MNEMO_EINVAL);
}

/* Issue 17 item 20b: a neighbour iterator made in a transaction is invalidated when it ends
 * (rollback or commit), as its header promises, also when it outlives the transaction handle. */
TU_TEST(graph, neighbor_iterator_invalid_after_its_txn_ends)
{
    node("a");
    node("b");
    node("c");
    mnemo_graph_edge e = {"a", "knows", "b", 1.0, NULL};
    for (int commit = 0; commit < 2; commit++) {
        mnemo_txn *txn;
        TU_OK(mnemo_txn_begin(&txn, db, 0));
        TU_OK(mnemo_graph_link(db, txn, &e, 0));
        mnemo_iter *it, *it2, *early;
        TU_OK(mnemo_graph_neighbors(&it, db, txn, "a", MNEMO_DIR_OUT, NULL, 0));
        TU_OK(mnemo_graph_neighbors(&it2, db, txn, "a", MNEMO_DIR_OUT, NULL, 0));
        TU_OK(mnemo_graph_neighbors(&early, db, txn, "b", MNEMO_DIR_IN, NULL, 0));
        mnemo_iter_free(early); /* freed before its txn ends: the end must not touch it */
        const mnemo_graph_neighbor *n;
        TU_OK(tu_next_neighbor(it, &n));
        cr_assert_str_eq(n->id, e.to);
        TU_OK(commit ? mnemo_txn_commit(txn) : mnemo_txn_rollback(txn));
        TU_RC(tu_next_neighbor(it2, &n), MNEMO_EINVAL);
        mnemo_txn_free(txn);
        TU_RC(tu_next_neighbor(it, &n), MNEMO_EINVAL);
        mnemo_iter_free(it);
        mnemo_iter_free(it2);
        e.to = "c";
    }
    /* without a transaction it reads a committed state and stays usable */
    mnemo_iter *it;
    TU_OK(mnemo_graph_neighbors(&it, db, NULL, "a", MNEMO_DIR_OUT, NULL, 0));
    const mnemo_graph_neighbor *n;
    TU_OK(tu_next_neighbor(it, &n));
    cr_assert_str_eq(n->id, "c");
    TU_RC(tu_next_neighbor(it, &n), MNEMO_ITEROVER);
    mnemo_iter_free(it);
    close_db();
}

/* Issue 17 item 5: label ids are allocated in the creating transaction. */
static uint32_t label_id(const char *label)
{
    uint32_t id = 0;
    TU_OK(mnemo_graph__label_id(&id, db, NULL, label, 0));
    return id;
}

TU_TEST(graph, rolled_back_label_creations_use_up_no_id)
{
    TU_NEEDS_DISK("reopens the database");
    node("a");
    node("b");
    TU_OK(link_w(NULL, "a", "first", "b", 1));
    uint32_t first = label_id("first");
    char label[32];
    for (int i = 0; i < 300; i++) { /* rolled back: more than a 64-id block */
        mnemo_txn *txn;
        TU_OK(mnemo_txn_begin(&txn, db, 0));
        snprintf(label, sizeof label, "gone%d", i);
        TU_OK(link_w(txn, "a", label, "b", 1));
        TU_OK(mnemo_txn_rollback(txn));
        mnemo_txn_free(txn);
    }
    TU_OK(link_w(NULL, "a", "second", "b", 1));
    cr_assert_eq(label_id("second"), first + 1, "rolled-back attempts used up ids: %u after %u",
                 label_id("second"), first);
    TU_RC(mnemo_graph__label_id(&(uint32_t){0}, db, NULL, "gone7", 0), MNEMO_ENOTFOUND);
    /* a restart does not skip the rest of a block */
    close_db();
    TU_OK(tu_reopen(&db, "g", NULL));
    TU_OK(link_w(NULL, "a", "third", "b", 1));
    cr_assert_eq(label_id("third"), first + 2, "the reopen skipped ids: %u", label_id("third"));
    /* two transactions creating the same new label: one id, the later commit conflicts */
    mnemo_txn *t1, *t2;
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    TU_OK(mnemo_txn_begin(&t2, db, 0));
    TU_OK(link_w(t1, "a", "same", "b", 1));
    TU_OK(link_w(t2, "b", "same", "a", 1));
    TU_OK(mnemo_txn_commit(t1));
    TU_RC(mnemo_txn_commit(t2), MNEMO_EBUSY);
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);
    TU_OK(link_w(NULL, "b", "same", "a", 1));
    cr_assert_eq(label_id("same"), first + 3);
    check_ok(5);
    close_db();
}

TU_TEST(graph, label_id_limit_is_a_clear_error_and_the_graph_keeps_working)
{
    TU_NEEDS_DISK("reopens the database");
    node("a");
    node("b");
    TU_OK(link_w(NULL, "a", "old", "b", 1));
    TU_OK(mnemo_graph__set_next_label(db, MNEMO_GRAPH_LABEL_ID_MAX));
    TU_OK(link_w(NULL, "a", "last", "b", 1));
    cr_assert_eq(label_id("last"), MNEMO_GRAPH_LABEL_ID_MAX);
    TU_RC(link_w(NULL, "a", "over", "b", 1), MNEMO_EFULL);
    cr_assert(strstr(mnemo_errmsg(), "label"), "message names the limit: %s", mnemo_errmsg());
    mnemo_txn *txn; /* in a caller's txn: refused before writing, the txn stays usable */
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_RC(link_w(txn, "a", "over", "b", 1), MNEMO_EFULL);
    TU_OK(link_w(txn, "b", "old", "a", 1));
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    check_ok(3);
    close_db();
    TU_OK(tu_reopen(&db, "g", NULL));
    TU_OK(link_w(NULL, "b", "last", "a", 1));
    TU_RC(link_w(NULL, "b", "over2", "a", 1), MNEMO_EFULL);
    mnemo_iter *it;
    TU_OK(mnemo_graph_neighbors(&it, db, NULL, "a", MNEMO_DIR_BOTH, NULL, 0));
    size_t n = 0;
    const mnemo_graph_neighbor *nb;
    while (tu_next_neighbor(it, &nb) == 0)
        n++;
    mnemo_iter_free(it);
    cr_assert_eq(n, 4);
    check_ok(4);
    /* an edge whose label id is beyond the limit is damage the check reports */
    mnemo_record *ra, *rb;
    TU_OK(mnemo_record_get(&ra, db, NULL, "a"));
    TU_OK(mnemo_record_get(&rb, db, NULL, "b"));
    unsigned char fk[20], bk[20], fk2[20], bk2[20];
    mnemo__put_be64(fk, ra->internal_id);
    mnemo__put_be32(fk + 8, label_id("old"));
    mnemo__put_be64(fk + 12, rb->internal_id);
    mnemo__put_be64(bk, rb->internal_id);
    mnemo__put_be32(bk + 8, label_id("old"));
    mnemo__put_be64(bk + 12, ra->internal_id);
    memcpy(fk2, fk, 20);
    memcpy(bk2, bk, 20);
    mnemo__put_be32(fk2 + 8, MNEMO_GRAPH_LABEL_ID_MAX + 1);
    mnemo__put_be32(bk2 + 8, MNEMO_GRAPH_LABEL_ID_MAX + 1);
    mnemo_record_free(ra);
    mnemo_record_free(rb);
    close_db();
    tu_raw r;
    tu_raw_open(&r, tu_path("g"));
    size_t fl, bl;
    char *fv = tu_raw_get(&r, 2, fk, sizeof fk, &fl), *bv = tu_raw_get(&r, 3, bk, sizeof bk, &bl);
    cr_assert(fv && bv);
    tu_raw_put(&r, 2, fk2, sizeof fk2, fv, fl);
    tu_raw_put(&r, 3, bk2, sizeof bk2, bv, bl);
    free(fv);
    free(bv);
    tu_raw_close(&r);
    TU_OK(tu_reopen(&db, "g", NULL));
    TU_RC(mnemo_graph_check(db, NULL), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "label"), "%s", mnemo_errmsg());
    close_db();
}

/* The import figures: the caller's version bounds what is written, an unset one is refused before
 * the file is read (nothing imported). */
TU_TEST(graph, import_stats_respect_the_callers_version)
{
    char path[600];
    snprintf(path, sizeof path, "%s.txt", tu_path("ver"));
    write_file(path, "1 2\n");
    TU_CANARIED(mnemo_graph_import_stats) a;
    TU_CANARY_FILL(a, 1);
    TU_OK(mnemo_graph_import_edgelist(db, path, NULL, &a.s));
    cr_assert_eq(a.s.edges, 1);
    cr_assert_eq(a.s.version, 1);
    tu_check_canary(a.canary, sizeof a.canary, "the stats");
    write_file(path, "3 4\n");
    mnemo_graph_import_stats st;
    memset(&st, 0, sizeof st);
    TU_RC(mnemo_graph_import_edgelist(db, path, NULL, &st), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_graph_import_stats version 0"), "%s", mnemo_errmsg());
    TU_RC(mnemo_record_exists(db, NULL, "3"), 0);
    st.version = MNEMO_GRAPH_IMPORT_STATS_VERSION + 1;
    TU_RC(mnemo_graph_import_edgelist(db, path, NULL, &st), MNEMO_EINVAL);
    TU_OK(mnemo_graph_import_edgelist(db, path, NULL, NULL));
}

/* Neighbours come through the one iterator of mnemo/iter.h: the calls a neighbour iterator has not
 * (seek, key, value) and a neighbour asked of the wrong kind or position are MNEMO_EINVAL. */
TU_TEST(graph, neighbors_use_the_common_iterator)
{
    node("a");
    node("b");
    TU_OK(link_w(NULL, "a", "knows", "b", 2.0));
    mnemo_iter *it;
    TU_OK(mnemo_graph_neighbors(&it, db, NULL, "a", MNEMO_DIR_OUT, NULL, 0));
    const mnemo_graph_neighbor *n;
    TU_RC(mnemo_iter_neighbor(it, &n), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "not on a neighbour"), "%s", mnemo_errmsg());
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_neighbor(it, &n));
    cr_assert_str_eq(n->id, "b");
    cr_assert_eq(n->weight, 2.0);
    const void *k;
    size_t kl;
    TU_RC(mnemo_iter_key(it, &k, &kl), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "a neighbour iterator has no such operation"), "%s", mnemo_errmsg());
    TU_RC(mnemo_iter_value(it, &k, &kl), MNEMO_EINVAL);
    TU_RC(mnemo_iter_seek(it, "b", 1), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    TU_RC(mnemo_iter_neighbor(it, &n), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    mnemo_iter_free(it);
    mnemo_iter *kv;
    TU_OK(mnemo_kv_iter(&kv, db, NULL, NULL));
    TU_RC(mnemo_iter_neighbor(kv, &n), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "a key-value iterator has no neighbours"), "%s", mnemo_errmsg());
    mnemo_iter_free(kv);
}

/* Closing the database invalidates every iterator (architecture.md), also a neighbour iterator made
 * without a transaction: its next and its neighbour are MNEMO_EINVAL afterwards, and it frees. */
TU_TEST(graph, neighbors_without_txn_are_invalid_after_close)
{
    node("a");
    node("b");
    TU_OK(link_w(NULL, "a", "knows", "b", 1.0));
    mnemo_iter *it, *fresh;
    TU_OK(mnemo_graph_neighbors(&it, db, NULL, "a", MNEMO_DIR_OUT, NULL, 0));
    TU_OK(mnemo_graph_neighbors(&fresh, db, NULL, "a", MNEMO_DIR_OUT, NULL, 0));
    TU_OK(mnemo_iter_next(it));
    close_db();
    const mnemo_graph_neighbor *n;
    TU_RC(mnemo_iter_neighbor(it, &n), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "database was closed"), "%s", mnemo_errmsg());
    TU_RC(mnemo_iter_next(it), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next(fresh), MNEMO_EINVAL);
    mnemo_iter_free(it);
    db = tu_open("g2"); /* may reuse the closed handle's memory: the old iterator stays invalid */
    TU_RC(mnemo_iter_next(fresh), MNEMO_EINVAL);
    mnemo_iter_free(fresh);
}

/* Review: neighbour lists read in runs outside transactions, with edge values (props) on both sides
 * of rocksdb's 64 KiB run buffer and of lmdb's overflow pages, small ones between them: every
 * neighbour comes back once, in order, with its whole props. */
TU_TEST(graph, review_neighbour_runs_with_props_around_64_kib)
{
    enum { N = 40 };
    size_t sizes[N];
    char *props = malloc(70000);
    mnemo_record r = {0};
    r.id = "a";
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    for (int i = 0; i < N; i++) {
        char to[8];
        snprintf(to, sizeof to, "n%02d", i);
        r.id = to;
        TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
        sizes[i] = i % 3 == 0 ? 10 : (size_t)(65536 - 60 + (i * 7) % 120); /* text bytes of "x...x" */
        memcpy(props, "{\"p\":\"", 6);
        memset(props + 6, 'a' + i % 26, sizes[i]);
        memcpy(props + 6 + sizes[i], "\"}", 3);
        mnemo_graph_edge e = {"a", "l", to, 1.0 + i, props};
        TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    }
    free(props);
    for (int round = 0; round < 2; round++) { /* the second from the cache, when there is one */
        mnemo_iter *it;
        TU_OK(mnemo_graph_neighbors(&it, db, NULL, "a", MNEMO_DIR_OUT, NULL, 0));
        int n = 0, rc;
        while ((rc = mnemo_iter_next(it)) == 0) {
            const mnemo_graph_neighbor *nb;
            TU_OK(mnemo_iter_neighbor(it, &nb));
            cr_assert_lt(n, N);
            char to[16];
            snprintf(to, sizeof to, "n%02d", n);
            cr_assert_str_eq(nb->id, to);
            cr_assert_float_eq(nb->weight, 1.0 + n, 1e-9);
            cr_assert_not_null(nb->props);
            cr_assert_eq(strlen(nb->props), sizes[n] + 8, "%s: props of %zu bytes", to, strlen(nb->props));
            cr_assert_eq(nb->props[6 + sizes[n] - 1], 'a' + n % 26);
            n++;
        }
        cr_assert_eq(rc, MNEMO_ITEROVER);
        cr_assert_eq(n, N);
        mnemo_iter_free(it);
    }
}

typedef struct nested {
    int outer, inner_total;
} nested;

static int count_only(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)id;
    (void)depth;
    (void)via;
    (void)via_label;
    ++*(int *)arg;
    return 0;
}

/* Each visit of the outer walk runs a whole walk of its own from the same node. */
static int visit_and_walk(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)depth;
    (void)via;
    (void)via_label;
    nested *n = arg;
    n->outer++;
    int inner = 0;
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    o.max_depth = 1;
    const char *starts[] = {id};
    int rc = mnemo_graph_traverse(db, NULL, starts, 1, &o, count_only, &inner);
    n->inner_total += inner;
    return rc;
}

/* Walks keep their visited tables between calls on one thread (traverse.c): a walk started from a
 * walk's callback, and walks of other sizes after it, each see only their own nodes. */
TU_TEST(graph, walks_inside_walks_and_walks_after_walks)
{
    /* a chain a - b - c - d - e (out edges), plus a -> c */
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        node(ids[i]);
    for (int i = 0; i < 4; i++)
        TU_OK(link_w(NULL, ids[i], "next", ids[i + 1], 1));
    TU_OK(link_w(NULL, "a", "skip", "c", 1));
    for (int round = 0; round < 3; round++) {
        nested n = {0, 0};
        mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
        const char *starts[] = {"a"};
        TU_OK(mnemo_graph_traverse(db, NULL, starts, 1, &o, visit_and_walk, &n));
        cr_assert_eq(n.outer, 5, "the outer walk reaches a..e");
        /* 1-hop walks from a, b, c, d, e: 3 + 2 + 2 + 2 + 1 nodes */
        cr_assert_eq(n.inner_total, 10, "round %d: inner walks saw %d nodes", round, n.inner_total);
        int small = 0;
        const char *from_e[] = {"e"};
        TU_OK(mnemo_graph_traverse(db, NULL, from_e, 1, &o, count_only, &small));
        cr_assert_eq(small, 1, "a walk after a bigger one sees no node of it");
        mnemo_graph_path *p;
        TU_OK(mnemo_graph_shortest_path(&p, db, NULL, "a", "e", NULL));
        cr_assert_eq(p->hops, 3, "a -> c -> d -> e");
        mnemo_graph_path_free(p);
    }
    close_db();
}

/* A walk that fails before it reaches any node leaves an empty table for the next walk. */
TU_TEST(graph, a_walk_after_a_failed_walk)
{
    node("a");
    node("b");
    TU_OK(link_w(NULL, "a", "x", "b", 1));
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    int n = 0;
    const char *none[] = {"nobody"};
    TU_RC(mnemo_graph_traverse(db, NULL, none, 1, &o, count_only, &n), MNEMO_ENOTFOUND);
    const char *empty[1] = {NULL};
    TU_OK(mnemo_graph_traverse(db, NULL, empty, 0, &o, count_only, &n));
    cr_assert_eq(n, 0);
    const char *from_a[] = {"a"};
    TU_OK(mnemo_graph_traverse(db, NULL, from_a, 1, &o, count_only, &n));
    cr_assert_eq(n, 2);
    close_db();
}
