/* Graph neighbourhoods for restricted searches (vector and text): the records within a number of
 * hops of a start record. */
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "graph/graph.h"

/* The next frontier of a breadth-first walk. */
typedef struct bfs {
    mnemo_u64map *seen;
    uint64_t *next;
    size_t n, cap;
} bfs;

static int bfs_edge(void *arg, const mnemo_graph_edge_view *e)
{
    bfs *b = arg;
    if (mnemo_graph__qualified(e->other_id, e->other_id_len)) /* into another collection: not followed */
        return 0;
    int rc = mnemo_u64map__add(b->seen, e->other, 0);
    if (rc <= 0)
        return rc;
    if ((rc = mnemo__grow(&b->next, &b->cap, b->n + 1, sizeof *b->next, 64)) == 0)
        b->next[b->n++] = e->other;
    return rc;
}

int mnemo_graph__check_near(const char *fn, const char *near, mnemo_direction dir, const char *label_name)
{
    if (near && !*near)
        return mnemo__err(MNEMO_EINVAL, "%s: near is empty", fn);
    if ((unsigned)dir > MNEMO_DIR_BOTH)
        return mnemo__err(MNEMO_EINVAL, "%s: near_dir %d is not 0 (both), MNEMO_DIR_OUT, _IN or _BOTH", fn, (int)dir);
    if (label_name && (!*label_name || strnlen(label_name, MNEMO_LABEL_MAX + 1) > MNEMO_LABEL_MAX))
        return mnemo__err(MNEMO_EINVAL, "%s: near_label must be 1..%u bytes (NULL for every label)", fn,
                          MNEMO_LABEL_MAX);
    return 0;
}

int mnemo_graph__neighbourhood(mnemo_u64map *set, mnemo_db *db, mnemo_txn *txn, uint64_t start, uint32_t hops,
                               mnemo_direction dir, const char *label_name)
{
    uint32_t label = 0;
    int rc = mnemo_u64map__add(set, start, 0);
    if (rc < 0)
        return rc;
    if (label_name && (rc = mnemo_graph__label_id(&label, db, txn, label_name, 0)) != 0)
        return rc == MNEMO_ENOTFOUND ? 0 : rc; /* no edge has that label: just the record itself */
    uint64_t *frontier = mnemo__malloc(sizeof *frontier);
    if (!frontier)
        return mnemo__err_nomem("graph neighbourhood");
    frontier[0] = start;
    size_t nf = 1;
    rc = 0;
    for (uint32_t h = 0; h < hops && nf && !rc; h++) {
        bfs b = {set, NULL, 0, 0};
        for (size_t i = 0; i < nf && !rc; i++)
            rc = mnemo_graph__scan(db, txn, frontier[i], dir ? dir : MNEMO_DIR_BOTH, label, bfs_edge, &b);
        mnemo__free(frontier);
        frontier = b.next;
        nf = b.n;
    }
    mnemo__free(frontier);
    return rc < 0 ? rc : 0;
}
