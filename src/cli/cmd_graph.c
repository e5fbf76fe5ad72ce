/* Graph commands: neighbors, traverse, path. */
#include "cli/cli.h"

#include <string.h>

static const char *dir_name(mnemo_direction d) { return d == MNEMO_DIR_IN ? "in" : "out"; }

static int run_neighbors(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_direction dir;
    uint64_t limit = 0;
    if (cli_opt_dir(&dir, cmd, a, MNEMO_DIR_OUT) || cli_opt_uint(&limit, cmd, a, "limit", 1, SIZE_MAX))
        return CLI_EXIT_USAGE;
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    mnemo_iter *it;
    int rc = mnemo_graph_neighbors(&it, db, NULL, a->pos[1], dir, cli_opt(cmd, a, "label"), (size_t)limit);
    if (rc)
        return cli_close(db, cmd, cli_engine(cmd, rc, "neighbours of '%s'", a->pos[1]));
    jout j = {0};
    const mnemo_graph_neighbor *n;
    while ((rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &n)) == 0) {
        jo_begin(&j);
        jo_str(&j, "id", n->id);
        if (n->collection)
            jo_str(&j, "collection", n->collection);
        jo_str(&j, "direction", dir_name(n->direction));
        jo_str(&j, "label", n->label);
        jo_real(&j, "weight", n->weight);
        if (n->props)
            jo_json_text(&j, "props", n->props);
        jo_line(&j, stdout);
    }
    rc = rc == MNEMO_ITEROVER ? 0 : cli_engine(cmd, rc, "neighbours of '%s'", a->pos[1]);
    jo_free(&j);
    mnemo_iter_free(it);
    return cli_close(db, cmd, rc);
}

static int visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    jout *j = arg;
    jo_begin(j);
    jo_str(j, "id", id);
    jo_uint(j, "depth", depth);
    jo_str(j, "via", via);
    jo_str(j, "via_label", via_label);
    jo_line(j, stdout);
    return 0;
}

static int run_traverse(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    uint64_t depth = 0, max_nodes = 0;
    if (cli_opt_dir(&o.dir, cmd, a, MNEMO_DIR_OUT) || cli_opt_uint(&depth, cmd, a, "depth", 1, UINT32_MAX) ||
        cli_opt_uint(&max_nodes, cmd, a, "max-nodes", 1, SIZE_MAX))
        return CLI_EXIT_USAGE;
    o.max_depth = (unsigned)depth;
    o.max_nodes = (size_t)max_nodes;
    o.label = cli_opt(cmd, a, "label");
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    jout j = {0};
    const char *start = a->pos[1];
    int rc = mnemo_graph_traverse(db, NULL, &start, 1, &o, visit, &j);
    if (rc)
        rc = cli_engine(cmd, rc, "traversal from '%s'", start);
    jo_free(&j);
    return cli_close(db, cmd, rc);
}

static int run_path(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    uint64_t max_hops = 0;
    if (cli_opt_dir(&o.dir, cmd, a, MNEMO_DIR_OUT) || cli_opt_uint(&max_hops, cmd, a, "max-hops", 1, UINT32_MAX))
        return CLI_EXIT_USAGE;
    o.weighted = cli_opt(cmd, a, "weighted") != NULL;
    if (o.weighted && max_hops)
        return cli_usage(cmd, "--max-hops bounds fewest-hop searches only, not --weighted");
    o.max_hops = (unsigned)max_hops;
    o.label = cli_opt(cmd, a, "label");
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    mnemo_graph_path *p;
    int rc = mnemo_graph_shortest_path(&p, db, NULL, a->pos[1], a->pos[2], &o);
    if (rc)
        return cli_close(db, cmd, cli_engine(cmd, rc, "path from '%s' to '%s'", a->pos[1], a->pos[2]));
    jout j = {0};
    jo_begin(&j);
    jo_str(&j, "from", a->pos[1]);
    jo_str(&j, "to", a->pos[2]);
    jo_uint(&j, "hops", p->hops);
    jo_real(&j, "weight", p->weight);
    jo_arr(&j, "nodes");
    for (size_t i = 0; i <= p->hops; i++)
        jo_str(&j, NULL, p->nodes[i]);
    jo_arr_end(&j);
    jo_arr(&j, "labels");
    for (size_t i = 0; i < p->hops; i++)
        jo_str(&j, NULL, p->labels[i]);
    jo_arr_end(&j);
    jo_line(&j, stdout);
    jo_free(&j);
    mnemo_graph_path_free(p);
    return cli_close(db, cmd, 0);
}

const cli_cmd cli_graph_cmds[] = {
    {"neighbors", "DB ID [--dir out|in|both] [--label L] [--limit N]", "print a node's neighbours",
     "One line per edge: {\"id\",\"direction\":\"out\"|\"in\",\"label\",\"weight\",\"props\"} (props only\n"
     "when the edge has some; \"collection\" after \"id\" when the neighbour is in another collection).\n"
     "Out-edges first, each direction ordered by label then neighbour.\n"
     "Default --dir out. Exit 1 with MNEMO_ENOTFOUND when there is no live record ID.\n",
     {{"dir", 1}, {"label", 1}, {"limit", 1}, {NULL, 0}}, 2, 2, run_neighbors},
    {"traverse", "DB ID [--depth K] [--dir D] [--label L] [--max-nodes N]", "breadth-first walk from a node",
     "One line per visited node, in breadth-first order: {\"id\",\"depth\",\"via\",\"via_label\"}\n"
     "(via and via_label are null for the start). --depth K stops K hops out (default: no limit);\n"
     "--dir out|in|both (default out); --label follows one label only; --max-nodes stops early.\n",
     {{"depth", 1}, {"dir", 1}, {"label", 1}, {"max-nodes", 1}, {NULL, 0}}, 2, 2, run_traverse},
    {"path", "DB FROM TO [--weighted] [--dir D] [--label L] [--max-hops N]", "shortest path between two nodes",
     "Prints {\"from\",\"to\",\"hops\",\"weight\",\"nodes\":[..],\"labels\":[..]}: fewest hops, or with\n"
     "--weighted least total weight (Dijkstra; weights must not be negative). weight is the sum of\n"
     "the path's edge weights. Exit 1 with MNEMO_ENOTFOUND when TO is unreachable.\n",
     {{"weighted", 0}, {"dir", 1}, {"label", 1}, {"max-hops", 1}, {NULL, 0}}, 3, 3, run_path},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
