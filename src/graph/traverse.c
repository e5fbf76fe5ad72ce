/* Breadth-first traversal and shortest paths (fewest hops by BFS, least weight by Dijkstra).
 * Every reached node is one entry of a table (internal id, parent entry, label, record id) found
 * through an id map, so memory grows with the nodes reached, never with their records. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/u64map.h"
#include "graph/graph_impl.h"
#include "record/record.h"

#define NO_PARENT ((size_t)-1)

typedef struct node {
    uint64_t iid;
    size_t parent;
    uint32_t label;
    unsigned depth;
    double dist;  /* what the search minimises: hops (BFS) or weight (Dijkstra) */
    double wsum;  /* sum of edge weights along the path that reached it */
    int done; /* Dijkstra: settled */
    size_t id_off; /* the record id: NUL-terminated, at this offset of the table's arena */
} node;

/* Record ids live in one growing arena (offsets, since it moves), not an allocation per node. */
typedef struct table {
    node *nodes;
    size_t n, cap;
    mnemo_u64map index;
    char *arena;
    size_t arena_used, arena_cap;
} table;

#define NODE_ID(t, i) ((t)->arena + (t)->nodes[i].id_off)

static void table_free(table *t)
{
    mnemo__free(t->nodes);
    mnemo__free(t->arena);
    mnemo_u64map__free(&t->index);
}

/* Each thread keeps the arrays of its last table for its next traversal: a facebook 2-hop reaches
 * ~700 nodes, and growing a fresh id map to them (six allocations, five rehashes) was a fifth of
 * a cached traversal. Emptying one costs a memset of its map's keys. A callback's own traversal
 * finds none kept and makes its own. Tables above SPARE_MAX nodes are not kept. */
#define SPARE_MAX 65536
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static int spare_ok;

static void spare_destroy(void *p)
{
    table_free(p);
    mnemo__free(p);
}

static void spare_init(void) { spare_ok = pthread_key_create(&spare_key, spare_destroy) == 0; }

static table table_take(void)
{
    table t = {NULL, 0, 0, MNEMO_U64MAP_INIT, NULL, 0, 0};
    pthread_once(&spare_once, spare_init);
    table *kept = spare_ok ? pthread_getspecific(spare_key) : NULL;
    if (kept && pthread_setspecific(spare_key, NULL) == 0) {
        t = *kept;
        mnemo__free(kept);
        t.n = t.arena_used = 0;
        if (t.index.keys) /* a walk that reached no node never made its map */
            memset(t.index.keys, 0, t.index.cap * sizeof *t.index.keys);
        t.index.n = 0;
    }
    return t;
}

static void table_give(table *t)
{
    table *kept = NULL;
    if (spare_ok && t->cap <= SPARE_MAX && !pthread_getspecific(spare_key) && (kept = mnemo__malloc(sizeof *kept))) {
        *kept = *t;
        if (pthread_setspecific(spare_key, kept) == 0)
            return;
        mnemo__free(kept);
    }
    table_free(t);
}

/* Adds a node unless known: 1 added (*at = its entry), 0 known (*at = its entry), < 0 error. Room
 * for a new entry is made before the id map is probed, once for both questions. */
static int table_add(table *t, uint64_t iid, const char *id, size_t id_len, size_t parent, uint32_t label,
                     unsigned depth, size_t *at)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        node *p = mnemo__realloc(t->nodes, cap * sizeof *p);
        if (!p)
            return mnemo__err_nomem("graph traversal");
        t->nodes = p;
        t->cap = cap;
    }
    if (t->arena_used + id_len + 1 > t->arena_cap) {
        int rc = mnemo__grow(&t->arena, &t->arena_cap, t->arena_used + id_len + 1, 1, 4096);
        if (rc)
            return rc;
    }
    int rc = mnemo_u64map__find_or_add(&t->index, iid, t->n, at);
    if (rc <= 0)
        return rc;
    memcpy(t->arena + t->arena_used, id, id_len);
    t->arena[t->arena_used + id_len] = '\0';
    t->nodes[t->n] = (node){iid, parent, label, depth, INFINITY, 0, 0, t->arena_used};
    t->arena_used += id_len + 1;
    *at = t->n++;
    return 1;
}

static int check_dir(const char *fn, mnemo_direction *dir)
{
    if (*dir == 0)
        *dir = MNEMO_DIR_OUT;
    if (*dir != MNEMO_DIR_OUT && *dir != MNEMO_DIR_IN && *dir != MNEMO_DIR_BOTH)
        return mnemo__err(MNEMO_EINVAL, "%s: direction %d is not MNEMO_DIR_OUT, _IN or _BOTH", fn, (int)*dir);
    return 0;
}

/* Label filter: 0 = every label; rc 1 = the label does not exist (nothing to follow). */
static int label_filter(uint32_t *lid, mnemo_db *db, mnemo_txn *txn, const char *label, const char *fn)
{
    *lid = 0;
    if (!label)
        return 0;
    if (!*label || strnlen(label, MNEMO_LABEL_MAX + 1) > MNEMO_LABEL_MAX)
        return mnemo__err(MNEMO_EINVAL, "%s: label must be 1..%u bytes (pass NULL for every label)", fn,
                          MNEMO_LABEL_MAX);
    int rc = mnemo_graph__label_id(lid, db, txn, label, 0);
    return rc == MNEMO_ENOTFOUND ? 1 : rc;
}

static int start_node(uint64_t *iid, mnemo_db *db, mnemo_txn *txn, const char *id, const char *fn)
{
    if (!id || !*id)
        return mnemo__err(MNEMO_EINVAL, "%s: a node id is %s", fn, id ? "empty" : "NULL");
    int rc = mnemo_record__resolve(iid, db, txn, id);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no record '%s'", fn, id);
    return rc;
}

/* ---- traversal ---- */

typedef struct bfs {
    mnemo_db *db;
    mnemo_txn *txn;
    table t;
    size_t expanding; /* entry whose edges are being scanned */
    mnemo_graph_scratch scratch;
    unsigned depth;
    size_t max_nodes;
    mnemo_graph_visit_fn visit;
    void *arg;
    int stopped;
    uint32_t last_label; /* most traversals follow one label: look its name up once */
    const char *last_label_name;
} bfs;

static int visit_node(bfs *b, size_t at)
{
    node *n = &b->t.nodes[at];
    const char *via = n->parent == NO_PARENT ? NULL : NODE_ID(&b->t, n->parent);
    const char *via_label = NULL;
    if (n->parent != NO_PARENT) {
        /* Outside a txn names come from the committed table and stay put; inside one a name may
         * sit in a thread-local buffer that a callback's own graph calls can overwrite. */
        if (b->txn || !b->last_label_name || b->last_label != n->label) {
            b->last_label = n->label;
            b->last_label_name = mnemo_graph__label_name(b->db, b->txn, n->label);
        }
        via_label = b->last_label_name;
    }
    int rc = b->visit(NODE_ID(&b->t, at), n->depth, via, via_label, b->arg);
    if (rc > 0 || (b->max_nodes && b->t.n >= b->max_nodes)) {
        b->stopped = 1;
        return 1;
    }
    return rc;
}

static int bfs_edge(void *arg, const mnemo_graph_edge_view *e)
{
    bfs *b = arg;
    size_t at;
    if (mnemo_graph__qualified(e->other_id, e->other_id_len)) /* into another collection: not followed */
        return 0;
    int rc = table_add(&b->t, e->other, e->other_id, e->other_id_len, b->expanding, e->label, b->depth + 1, &at);
    if (rc <= 0)
        return rc;
    return visit_node(b, at);
}

/* A node already in the table needs nothing of its edge (bfs_edge would drop it). */
static int bfs_seen(void *arg, uint64_t other)
{
    bfs *b = arg;
    return mnemo_u64map__get(&b->t.index, other, NULL);
}

int mnemo_graph_traverse(mnemo_db *db, mnemo_txn *txn, const char *const *starts, size_t n_starts,
                         const mnemo_graph_traverse_options *opts, mnemo_graph_visit_fn visit, void *arg)
{
    static const char fn[] = "mnemo_graph_traverse";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (rc)
        return rc;
    if (!visit || (!starts && n_starts))
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, visit ? "starts" : "visit");
    static const mnemo_graph_traverse_options defaults = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    mnemo_graph_traverse_options o = opts ? *opts : defaults;
    if (o.version > MNEMO_GRAPH_TRAVERSE_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library", fn, o.version);
    uint32_t lid;
    if ((rc = check_dir(fn, &o.dir)) != 0 || (rc = label_filter(&lid, db, txn, o.label, fn)) < 0)
        return rc;
    int no_edges = rc == 1;
    bfs b = {db, txn, table_take(), 0, {NULL, NULL, NULL}, 0, o.max_nodes, visit, arg, 0, 0, NULL};
    b.scratch.skip = bfs_seen;
    b.scratch.skip_arg = &b;
    rc = 0;
    for (size_t i = 0; i < n_starts && !rc && !b.stopped; i++) {
        uint64_t iid;
        size_t at;
        if ((rc = start_node(&iid, db, txn, starts[i], fn)) != 0)
            break;
        if ((rc = table_add(&b.t, iid, starts[i], strlen(starts[i]), NO_PARENT, 0, 0, &at)) == 1)
            rc = visit_node(&b, at);
    }
    /* the table is the queue: entries are appended in discovery order, expanded in that order */
    for (size_t next = 0; rc == 0 && !b.stopped && !no_edges && next < b.t.n; next++) {
        if (o.max_depth && b.t.nodes[next].depth >= o.max_depth)
            continue;
        b.expanding = next;
        b.depth = b.t.nodes[next].depth;
        rc = mnemo_graph__scan_with(&b.scratch, db, txn, b.t.nodes[next].iid, o.dir, lid, bfs_edge, &b);
    }
    mnemo_graph__scratch_free(&b.scratch);
    table_give(&b.t);
    return rc > 0 ? 0 : rc;
}

/* ---- shortest paths ---- */

typedef struct search {
    mnemo_db *db;
    mnemo_txn *txn;
    table t;
    size_t from_at; /* entry being expanded */
    uint64_t target;
    int weighted, found;
    struct heap_item {
        double dist; /* the distance when pushed: a node's dist only ever drops, leaving stale items */
        size_t at;
    } *heap;
    size_t heap_n, heap_cap;
    mnemo_graph_scratch scratch;
} search;

static int heap_push(search *s, size_t at)
{
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? 2 * s->heap_cap : 64;
        struct heap_item *h = mnemo__realloc(s->heap, cap * sizeof *h);
        if (!h)
            return mnemo__err_nomem("shortest path");
        s->heap = h;
        s->heap_cap = cap;
    }
    struct heap_item item = {s->t.nodes[at].dist, at};
    size_t i = s->heap_n++;
    while (i > 0 && s->heap[(i - 1) / 2].dist > item.dist) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = item;
    return 0;
}

static struct heap_item heap_pop(search *s)
{
    struct heap_item top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_n)
            break;
        if (c + 1 < s->heap_n && s->heap[c + 1].dist < s->heap[c].dist)
            c++;
        if (s->heap[c].dist >= last.dist)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_n)
        s->heap[i] = last;
    return top;
}

static int path_edge(void *arg, const mnemo_graph_edge_view *e)
{
    search *s = arg;
    const node *from = &s->t.nodes[s->from_at];
    if (mnemo_graph__qualified(e->other_id, e->other_id_len)) /* into another collection: not followed */
        return 0;
    if (s->weighted && e->weight < 0) {
        const char *label = mnemo_graph__label_name(s->db, s->txn, e->label);
        return mnemo__err(MNEMO_EINVAL, "mnemo_graph_shortest_path: edge '%s' -[%s]-> '%.*s' has negative weight %g; "
                                        "weighted search needs weights >= 0",
                          NODE_ID(&s->t, s->from_at), label ? label : "?", (int)e->other_id_len, e->other_id, e->weight);
    }
    size_t at;
    /* everything needed from `from` is copied now: table_add may move the table */
    double dist = from->dist + (s->weighted ? e->weight : 1.0);
    double wsum = from->wsum + e->weight;
    unsigned depth = from->depth + 1;
    size_t parent = s->from_at;
    int rc = table_add(&s->t, e->other, e->other_id, e->other_id_len, parent, e->label, depth, &at);
    if (rc < 0)
        return rc;
    node *n = &s->t.nodes[at];
    if (!s->weighted) {
        if (rc == 1) {
            n->dist = dist;
            n->wsum = wsum;
            if (e->other == s->target) {
                s->found = 1;
                return 1;
            }
        }
        return 0;
    }
    /* rc == 1: first reached. Its dist may be infinite (finite weights whose sum overflows a
     * double): it is still reached, settles after every finite node, and is reported at the end. */
    if (n->done || (rc != 1 && dist >= n->dist))
        return 0;
    n->dist = dist;
    n->wsum = dist;
    n->parent = parent;
    n->label = e->label;
    n->depth = depth;
    return heap_push(s, at); /* the older, larger item of this node is skipped when popped */
}

/* Fewest hops: a node already reached is reached no sooner again (path_edge would drop it). Not for
 * weighted searches, which may still shorten a reached node's distance and must see every edge's
 * weight (a negative one is an error). */
static int path_seen(void *arg, uint64_t other)
{
    search *s = arg;
    return mnemo_u64map__get(&s->t.index, other, NULL);
}

void mnemo_graph_path_free(mnemo_graph_path *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->nodes && i <= p->hops; i++)
        mnemo__free(p->nodes[i]);
    for (size_t i = 0; p->labels && i < p->hops; i++)
        mnemo__free(p->labels[i]);
    mnemo__free(p->nodes);
    mnemo__free(p->labels);
    mnemo__free(p);
}

static int build_path(mnemo_graph_path **out, search *s, size_t target_at)
{
    size_t hops = 0;
    for (size_t i = target_at; s->t.nodes[i].parent != NO_PARENT; i = s->t.nodes[i].parent)
        hops++;
    mnemo_graph_path *p = mnemo__calloc(1, sizeof *p);
    if (!p)
        return mnemo__err_nomem("shortest path");
    p->hops = hops;
    p->nodes = mnemo__calloc(hops + 1, sizeof *p->nodes);
    p->labels = mnemo__calloc(hops ? hops : 1, sizeof *p->labels);
    int rc = p->nodes && p->labels ? 0 : mnemo__err_nomem("shortest path");
    double weight = 0;
    size_t i = target_at;
    for (size_t k = hops + 1; !rc && k-- > 0; i = s->t.nodes[i].parent) {
        const node *n = &s->t.nodes[i];
        if (!(p->nodes[k] = mnemo__memdup(NODE_ID(&s->t, i), strlen(NODE_ID(&s->t, i)))))
            rc = mnemo__err_nomem("shortest path");
        if (!rc && k > 0) {
            const char *label = mnemo_graph__label_name(s->db, s->txn, n->label);
            if (!label || !(p->labels[k - 1] = mnemo__memdup(label, strlen(label))))
                rc = label ? mnemo__err_nomem("shortest path") : mnemo__err(MNEMO_ECORRUPT, "label %u missing", n->label);
        }
    }
    weight = s->t.nodes[target_at].wsum;
    if (rc) {
        mnemo_graph_path_free(p);
        return rc;
    }
    p->weight = weight;
    *out = p;
    return 0;
}

int mnemo_graph_shortest_path(mnemo_graph_path **out, mnemo_db *db, mnemo_txn *txn, const char *from, const char *to,
                              const mnemo_graph_path_options *opts)
{
    static const char fn[] = "mnemo_graph_shortest_path";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    static const mnemo_graph_path_options defaults = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    mnemo_graph_path_options o = opts ? *opts : defaults;
    if (o.version > MNEMO_GRAPH_PATH_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library", fn, o.version);
    if (o.weighted && o.max_hops) /* the least-weight path may be longer than a lighter short one */
        return mnemo__err(MNEMO_EINVAL, "%s: max_hops is not supported with weighted search", fn);
    uint32_t lid;
    uint64_t src, dst;
    if ((rc = check_dir(fn, &o.dir)) != 0 || (rc = start_node(&src, db, txn, from, fn)) != 0 ||
        (rc = start_node(&dst, db, txn, to, fn)) != 0 || (rc = label_filter(&lid, db, txn, o.label, fn)) < 0)
        return rc;
    int no_edges = rc == 1;
    search s = {db, txn, table_take(), 0, dst, o.weighted != 0, 0, NULL, 0, 0, {NULL, NULL, NULL}};
    size_t at;
    rc = table_add(&s.t, src, from, strlen(from), NO_PARENT, 0, 0, &at);
    if (rc == 1) {
        s.t.nodes[at].dist = 0;
        rc = 0;
    }
    size_t target_at = (size_t)-1;
    if (!rc && src == dst) {
        target_at = at;
    } else if (!rc && !no_edges && !s.weighted) {
        s.scratch.skip = path_seen;
        s.scratch.skip_arg = &s;
        for (size_t next = 0; !rc && !s.found && next < s.t.n; next++) {
            if (o.max_hops && s.t.nodes[next].depth >= o.max_hops)
                continue;
            s.from_at = next;
            rc = mnemo_graph__scan_with(&s.scratch, db, txn, s.t.nodes[next].iid, o.dir, lid, path_edge, &s);
        }
        if (rc == 1)
            rc = 0;
        if (s.found)
            mnemo_u64map__get(&s.t.index, dst, &target_at);
    } else if (!rc && !no_edges) {
        rc = heap_push(&s, at);
        while (!rc && s.heap_n) {
            struct heap_item item = heap_pop(&s);
            size_t cur = item.at;
            if (s.t.nodes[cur].done || item.dist > s.t.nodes[cur].dist)
                continue; /* settled already, or a stale item */
            s.t.nodes[cur].done = 1;
            if (s.t.nodes[cur].iid == dst) {
                target_at = cur;
                break;
            }
            if (o.max_hops && s.t.nodes[cur].depth >= o.max_hops)
                continue;
            s.from_at = cur;
            rc = mnemo_graph__scan_with(&s.scratch, db, txn, s.t.nodes[cur].iid, o.dir, lid, path_edge, &s);
        }
    }
    if (!rc && target_at == (size_t)-1)
        rc = mnemo__err(MNEMO_ENOTFOUND, "%s: '%s' is not reachable from '%s'%s", fn, to, from,
                        o.max_hops ? " within max_hops" : "");
    if (!rc && s.weighted && isinf(s.t.nodes[target_at].dist)) /* every path to it overflows */
        rc = mnemo__err(MNEMO_EINVAL, "%s: '%s' is reachable from '%s', but the total weight of every path overflows "
                        "a double (> %g): no least-weight path can be told", fn, to, from, DBL_MAX);
    if (!rc)
        rc = build_path(out, &s, target_at);
    mnemo__free(s.heap);
    mnemo_graph__scratch_free(&s.scratch);
    table_give(&s.t);
    return rc;
}
