/* Graph benchmark: mnemo's public graph API against SQLite (recursive CTE over an edge table) and
 * against the ceiling, a plain in-memory CSR adjacency array, on the SNAP graphs of data/graphs.
 *
 *   bench_graph [--quick] [--reps R] [--data DIR] [--graph facebook|wiki|all]
 *               [--q1 N] [--q2 N] [--paths N] [--no-sqlite] [--load-only] [--engine E]
 *
 * --engine rocksdb|lmdb|memory: the engine of mnemo's databases (default rocksdb); each JSON line
 * names it.
 *
 * Graphs: facebook_combined.txt (undirected `a b`, imported with undirected = 1, so every line is
 * two directed edges) and wiki-Vote.txt (directed, tab-separated, CRLF, `#` header). DIR defaults
 * to the project's data/graphs (compiled in by meson), or $MNEMO_GRAPH_DATA when set.
 *
 * Per graph: (1) bulk load with mnemo_graph_import_edgelist into a fresh db (edges/s; SQLite's
 * load of the same directed edges in one transaction as reference); (2) 1-hop and 2-hop
 * distinct-neighbourhood counts from a seeded random list of start nodes, out-edges, with
 * mnemo_graph_traverse (max_depth 1/2, counting visited nodes in the callback, start included),
 * SQLite's recursive CTE and a CSR BFS with a visited bitmap; every count is checked against the
 * CSR's (exit 1 on any difference) and, once per query outside the timed loops, mnemo's visited
 * set is compared node by node; (3) facebook only: shortest paths between seeded random pairs,
 * BFS (fewest hops) and Dijkstra (weights in [1,10) from a temporary weighted copy of the edge
 * list), checked against the CSR's hop count / distance. --load-only stops after (1).
 *
 * stdout: one JSON line per result; progress on stderr. Exit status 0 whatever the ratios (goals
 * are reported, not asserted); 1 on an API error or a wrong result; 2 on bad arguments. */
#include <errno.h>
#include <limits.h>
#include <mnemo/mnemo.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"

#ifndef BENCH_GRAPH_DATA
#define BENCH_GRAPH_DATA "data/graphs"
#endif

#define LOAD_GOAL 200000.0 /* mnemo edges/s */
#define SQLITE_GOAL 10.0   /* mnemo 2-hop q/s over SQLite's */
#define CSR_GOAL 0.05      /* mnemo 2-hop q/s over the CSR ceiling's */

static int reps = 3, quick, no_sqlite, load_only;
static size_t n_q1 = 2000, n_q2 = 500, n_paths = 200;
static double csr_min_s = 0.25; /* the CSR loops repeat their query list for at least this long */

#define CHECK(call)                                                                                         \
    do {                                                                                                    \
        int rc_ = (call);                                                                                   \
        if (rc_ < 0)                                                                                        \
            bu_die("%s:%d: %s: %s (%s)", __FILE__, __LINE__, #call, mnemo_strerror(rc_), mnemo_errmsg());   \
    } while (0)

#define SQ(db, call)                                                                                        \
    do {                                                                                                    \
        int rc_ = (call);                                                                                   \
        if (rc_ != SQLITE_OK && rc_ != SQLITE_DONE && rc_ != SQLITE_ROW)                                    \
            bu_die("%s:%d: %s: %s", __FILE__, __LINE__, #call, sqlite3_errmsg(db));                         \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        bu_die("out of memory (%zu bytes)", n);
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        bu_die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* ---- the graph in memory: node ids, directed edge list, CSR ---- */

typedef struct graph {
    const char *name, *file;
    int undirected;
    char path[PATH_MAX];
    size_t n_lines;   /* edge lines of the file */
    size_t n;         /* distinct nodes */
    long long *ids;   /* sorted node ids; dense index = position */
    char **id_str;    /* the record id of each node (its decimal text) */
    size_t m;         /* distinct directed edges as stored (undirected: both directions) */
    uint32_t *src, *dst; /* sorted by (src, dst) */
    size_t *off;      /* CSR: out-edges of node i are adj[off[i] .. off[i+1]) */
    uint32_t *adj;
    double *w;        /* weights of the weighted copy (facebook), parallel to adj */
    char wpath[PATH_MAX];
} graph;

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int cmp_edge(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint32_t node_index(const graph *g, long long id)
{
    const long long *p = bsearch(&id, g->ids, g->n, sizeof *g->ids, cmp_ll);
    if (!p)
        bu_die("%s: node %lld is not in the graph", g->name, id);
    return (uint32_t)(p - g->ids);
}

static long long parse_id(const char *tok, const char *path, size_t lineno)
{
    char *end;
    errno = 0;
    long long v = strtoll(tok, &end, 10);
    char canon[32];
    snprintf(canon, sizeof canon, "%lld", v);
    if (*end || errno || v < 0 || strcmp(canon, tok))
        bu_die("%s:%zu: node id '%s' is not a canonical non-negative integer", path, lineno, tok);
    return v;
}

/* Reads the edge list the way mnemo's importer does (blank and `#` lines skipped, CRLF, spaces or
 * tabs) and builds the node table, the deduplicated directed edge list and the CSR. */
static void graph_load(graph *g, const char *dir)
{
    if ((size_t)snprintf(g->path, sizeof g->path, "%s/%s", dir, g->file) >= sizeof g->path)
        bu_die("data path too long");
    FILE *f = fopen(g->path, "r");
    if (!f)
        bu_die("cannot open %s: %s (pass --data DIR)", g->path, strerror(errno));
    size_t cap = 1 << 16, np = 0;
    long long *pairs = xmalloc(cap * 2 * sizeof *pairs);
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    while (getline(&line, &lcap, f) >= 0) {
        lineno++;
        char *save = NULL, *a = strtok_r(line, " \t\r\n", &save);
        if (!a || a[0] == '#')
            continue;
        char *b = strtok_r(NULL, " \t\r\n", &save);
        if (!b)
            bu_die("%s:%zu: one field", g->path, lineno);
        if (np == cap) {
            cap *= 2;
            long long *p = realloc(pairs, cap * 2 * sizeof *pairs);
            if (!p)
                bu_die("out of memory");
            pairs = p;
        }
        pairs[2 * np] = parse_id(a, g->path, lineno);
        pairs[2 * np + 1] = parse_id(b, g->path, lineno);
        np++;
    }
    free(line);
    fclose(f);
    g->n_lines = np;

    long long *ids = xmalloc(2 * np * sizeof *ids);
    memcpy(ids, pairs, 2 * np * sizeof *ids);
    qsort(ids, 2 * np, sizeof *ids, cmp_ll);
    size_t n = 0;
    for (size_t i = 0; i < 2 * np; i++)
        if (!n || ids[n - 1] != ids[i])
            ids[n++] = ids[i];
    g->ids = ids;
    g->n = n;
    g->id_str = xmalloc(n * sizeof *g->id_str);
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof buf, "%lld", ids[i]);
        g->id_str[i] = xmalloc((size_t)len + 1);
        memcpy(g->id_str[i], buf, (size_t)len + 1);
    }

    uint64_t *e = xmalloc(2 * np * sizeof *e);
    size_t m = 0;
    for (size_t i = 0; i < np; i++) {
        uint64_t a = node_index(g, pairs[2 * i]), b = node_index(g, pairs[2 * i + 1]);
        e[m++] = a << 32 | b;
        if (g->undirected && a != b)
            e[m++] = b << 32 | a;
    }
    qsort(e, m, sizeof *e, cmp_edge);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (!k || e[k - 1] != e[i])
            e[k++] = e[i];
    g->m = k;
    g->src = xmalloc(k * sizeof *g->src);
    g->dst = xmalloc(k * sizeof *g->dst);
    g->adj = xmalloc(k * sizeof *g->adj);
    g->off = xcalloc(n + 1, sizeof *g->off);
    for (size_t i = 0; i < k; i++) {
        g->src[i] = (uint32_t)(e[i] >> 32);
        g->dst[i] = (uint32_t)e[i];
        g->adj[i] = g->dst[i];
        g->off[g->src[i] + 1]++;
    }
    for (size_t i = 0; i < n; i++)
        g->off[i + 1] += g->off[i];
    free(e);
    free(pairs);
}

/* Deterministic weight of the undirected edge {a, b} in [1, 10), 3 decimals, as text. */
static void weight_text(char buf[16], long long a, long long b)
{
    uint64_t x = (uint64_t)(a < b ? a : b) << 32 | (uint64_t)(a < b ? b : a);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    snprintf(buf, 16, "%.3f", 1.0 + (double)(x % 9000) / 1000.0);
}

/* Writes the weighted copy (a b w) of the edge list and fills g->w with the same parsed values. */
static void graph_weighted_copy(graph *g)
{
    bu_run_dir(g->wpath, sizeof g->wpath, "weighted.txt");
    FILE *f = fopen(g->wpath, "w");
    if (!f)
        bu_die("cannot write %s: %s", g->wpath, strerror(errno));
    g->w = xmalloc(g->m * sizeof *g->w);
    for (size_t i = 0; i < g->m; i++) {
        char wt[16];
        long long a = g->ids[g->src[i]], b = g->ids[g->dst[i]];
        weight_text(wt, a, b);
        g->w[i] = strtod(wt, NULL);
        /* undirected import adds b -> a with the same weight: write each pair once */
        if (!g->undirected || a <= b)
            fprintf(f, "%lld %lld %s\n", a, b, wt);
    }
    if (fclose(f))
        bu_die("writing %s failed", g->wpath);
}

static void graph_free(graph *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->id_str[i]);
    free(g->id_str);
    free(g->ids);
    free(g->src);
    free(g->dst);
    free(g->off);
    free(g->adj);
    free(g->w);
}

/* ---- the CSR ceiling ---- */

typedef struct heap_entry {
    double key;
    uint32_t v;
} heap_entry;

typedef struct csr_scratch {
    uint64_t *seen; /* bitmap */
    uint32_t *queue;
    double *dist;
    heap_entry *heap;
    uint32_t *touched;
    size_t heap_n, n_touched;
} csr_scratch;

static csr_scratch csr_scratch_new(const graph *g)
{
    csr_scratch s = {xcalloc((g->n + 63) / 64, sizeof(uint64_t)), xmalloc(g->n * sizeof(uint32_t)),
                     xmalloc(g->n * sizeof(double)), xmalloc((g->m + 1) * sizeof(heap_entry)),
                     xmalloc(g->n * sizeof(uint32_t)), 0, 0};
    for (size_t i = 0; i < g->n; i++)
        s.dist[i] = -1;
    return s;
}

static void csr_scratch_free(csr_scratch *s)
{
    free(s->seen);
    free(s->queue);
    free(s->dist);
    free(s->heap);
    free(s->touched);
}

#define SEEN(s, v) ((s)->seen[(v) >> 6] >> ((v)&63) & 1)
#define MARK(s, v) ((s)->seen[(v) >> 6] |= 1ull << ((v)&63))

/* Distinct nodes within `depth` out-hops of `start`, start included; the nodes are left in
 * s->queue[0 .. count). */
static size_t csr_hood(const graph *g, csr_scratch *s, uint32_t start, unsigned depth)
{
    size_t head = 0, tail = 0;
    s->queue[tail++] = start;
    MARK(s, start);
    for (unsigned d = 0; d < depth; d++) {
        size_t level_end = tail;
        for (; head < level_end; head++) {
            uint32_t u = s->queue[head];
            for (size_t i = g->off[u]; i < g->off[u + 1]; i++) {
                uint32_t v = g->adj[i];
                if (!SEEN(s, v)) {
                    MARK(s, v);
                    s->queue[tail++] = v;
                }
            }
        }
    }
    for (size_t i = 0; i < tail; i++)
        s->seen[s->queue[i] >> 6] = 0;
    return tail;
}

/* Fewest hops from a to b (BFS stopping when b is discovered); -1 if unreachable. */
static long csr_bfs_path(const graph *g, csr_scratch *s, uint32_t a, uint32_t b)
{
    if (a == b)
        return 0;
    size_t head = 0, tail = 0;
    long found = -1;
    s->queue[tail++] = a;
    s->dist[a] = 0;
    while (head < tail && found < 0) {
        uint32_t u = s->queue[head++];
        for (size_t i = g->off[u]; i < g->off[u + 1]; i++) {
            uint32_t v = g->adj[i];
            if (s->dist[v] < 0) {
                s->dist[v] = s->dist[u] + 1;
                s->queue[tail++] = v;
                if (v == b) {
                    found = (long)s->dist[v];
                    break;
                }
            }
        }
    }
    for (size_t i = 0; i < tail; i++)
        s->dist[s->queue[i]] = -1;
    return found;
}

static void heap_push(csr_scratch *s, double key, uint32_t v)
{
    size_t i = s->heap_n++;
    while (i > 0 && s->heap[(i - 1) / 2].key > key) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = (heap_entry){key, v};
}

static heap_entry heap_pop(csr_scratch *s)
{
    heap_entry top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_n)
            break;
        if (c + 1 < s->heap_n && s->heap[c + 1].key < s->heap[c].key)
            c++;
        if (s->heap[c].key >= last.key)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_n)
        s->heap[i] = last;
    return top;
}

/* Least total weight from a to b (Dijkstra with a binary heap of (distance, node) and lazy
 * deletion, stopping when b is settled); -1 if unreachable. */
static double csr_dijkstra(const graph *g, csr_scratch *s, uint32_t a, uint32_t b)
{
    double found = -1;
    s->heap_n = s->n_touched = 0;
    s->dist[a] = 0;
    s->touched[s->n_touched++] = a;
    heap_push(s, 0, a);
    while (s->heap_n) {
        heap_entry top = heap_pop(s);
        uint32_t u = top.v;
        if (SEEN(s, u))
            continue;
        MARK(s, u);
        if (u == b) {
            found = s->dist[u];
            break;
        }
        for (size_t i = g->off[u]; i < g->off[u + 1]; i++) {
            uint32_t v = g->adj[i];
            double d = s->dist[u] + g->w[i];
            if (SEEN(s, v) || (s->dist[v] >= 0 && d >= s->dist[v]))
                continue;
            if (s->dist[v] < 0)
                s->touched[s->n_touched++] = v;
            s->dist[v] = d;
            heap_push(s, d, v); /* at most one entry per relaxation: m + 1 slots */
        }
    }
    for (size_t i = 0; i < s->n_touched; i++) {
        uint32_t v = s->touched[i];
        s->dist[v] = -1;
        s->seen[v >> 6] = 0;
    }
    return found;
}

/* ---- mnemo ---- */

static mnemo_db *mn_open(const char *dir, size_t cache_size)
{
    mnemo_options o;
    bu_create_options(&o);
    o.cache_size = cache_size;
    mnemo_db *db;
    CHECK(mnemo_open(&db, bu_db_path(dir), &o));
    return db;
}

/* Imports `file` into a fresh db; returns the seconds of the import call alone. */
static double mn_load(mnemo_db **out, const graph *g, const char *file, const char *tag, mnemo_graph_import_stats *st,
                      size_t cache_size)
{
    char dir[PATH_MAX];
    bu_run_dir(dir, sizeof dir, tag);
    mnemo_db *db = mn_open(dir, cache_size);
    mnemo_graph_import_options io = MNEMO_GRAPH_IMPORT_OPTIONS_INIT;
    io.undirected = g->undirected;
    double t0 = bu_now_s();
    CHECK(mnemo_graph_import_edgelist(db, file, &io, st));
    double t = bu_now_s() - t0;
    if (st->edges != g->m)
        bu_die("%s: mnemo imported %llu edges, the file has %zu distinct directed edges", g->name,
               (unsigned long long)st->edges, g->m);
    if (st->nodes_created != g->n)
        bu_die("%s: mnemo created %llu nodes, the file has %zu", g->name, (unsigned long long)st->nodes_created, g->n);
    *out = db;
    return t;
}

static int count_visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)id;
    (void)depth;
    (void)via;
    (void)via_label;
    (*(size_t *)arg)++;
    return 0;
}

typedef struct collect {
    const graph *g;
    uint32_t *nodes;
    size_t n;
} collect;

static int collect_visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)depth;
    (void)via;
    (void)via_label;
    collect *c = arg;
    if (c->n >= c->g->n)
        bu_die("traversal visited more nodes than the graph has");
    c->nodes[c->n++] = node_index(c->g, parse_id(id, "traverse callback", 0));
    return 0;
}

static size_t mn_hood(mnemo_db *db, const char *start, unsigned depth)
{
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    o.dir = MNEMO_DIR_OUT;
    o.max_depth = depth;
    size_t n = 0;
    const char *starts[1] = {start};
    CHECK(mnemo_graph_traverse(db, NULL, starts, 1, &o, count_visit, &n));
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Untimed: mnemo's visited set equals the CSR's, node by node. */
static void verify_hood_sets(mnemo_db *db, const graph *g, csr_scratch *s, const uint32_t *starts, size_t nq,
                             unsigned depth)
{
    collect c = {g, xmalloc(g->n * sizeof(uint32_t)), 0};
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    o.dir = MNEMO_DIR_OUT;
    o.max_depth = depth;
    for (size_t q = 0; q < nq; q++) {
        c.n = 0;
        const char *st[1] = {g->id_str[starts[q]]};
        CHECK(mnemo_graph_traverse(db, NULL, st, 1, &o, collect_visit, &c));
        size_t k = csr_hood(g, s, starts[q], depth);
        qsort(c.nodes, c.n, sizeof *c.nodes, cmp_u32);
        qsort(s->queue, k, sizeof *s->queue, cmp_u32);
        if (c.n != k || memcmp(c.nodes, s->queue, k * sizeof *c.nodes))
            bu_die("%s: %u-hop neighbourhood of %s: mnemo visited %zu nodes, the CSR %zu, or other nodes", g->name,
                   depth, g->id_str[starts[q]], c.n, k);
    }
    free(c.nodes);
}

/* ---- SQLite ---- */

typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *hood;
} sq;

static void sq_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bu_die("sqlite: %s: %s", sql, err ? err : "?");
}

/* A fresh on-disk SQLite db with the edges loaded in one transaction; returns the load seconds. */
static double sq_load(sq *out, const graph *g, const char *tag)
{
    char path[PATH_MAX];
    bu_run_dir(path, sizeof path, tag);
    if (mkdir(path, 0700))
        bu_die("mkdir %s: %s", path, strerror(errno));
    strcat(path, "/edges.db");
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        bu_die("sqlite3_open %s: %s", path, db ? sqlite3_errmsg(db) : "?");
    sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;");
    sq_exec(db, "CREATE TABLE edges(src INTEGER, dst INTEGER, PRIMARY KEY(src, dst)) WITHOUT ROWID");
    sqlite3_stmt *ins;
    SQ(db, sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO edges(src, dst) VALUES (?1, ?2)", -1, &ins, NULL));
    double t0 = bu_now_s();
    sq_exec(db, "BEGIN");
    for (size_t i = 0; i < g->m; i++) {
        sqlite3_bind_int64(ins, 1, g->ids[g->src[i]]);
        sqlite3_bind_int64(ins, 2, g->ids[g->dst[i]]);
        if (sqlite3_step(ins) != SQLITE_DONE)
            bu_die("sqlite insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(ins);
    }
    sq_exec(db, "COMMIT");
    double t = bu_now_s() - t0;
    sqlite3_finalize(ins);
    out->db = db;
    SQ(db, sqlite3_prepare_v2(db,
                              "SELECT count(*) FROM (WITH RECURSIVE r(n, d) AS (SELECT ?1, 0 UNION "
                              "SELECT e.dst, r.d + 1 FROM r JOIN edges e ON e.src = r.n WHERE r.d < ?2) "
                              "SELECT DISTINCT n FROM r)",
                              -1, &out->hood, NULL));
    return t;
}

static size_t sq_hood(sq *s, long long start, unsigned depth)
{
    sqlite3_bind_int64(s->hood, 1, start);
    sqlite3_bind_int(s->hood, 2, (int)depth);
    if (sqlite3_step(s->hood) != SQLITE_ROW)
        bu_die("sqlite neighbourhood query: %s", sqlite3_errmsg(s->db));
    size_t n = (size_t)sqlite3_column_int64(s->hood, 0);
    sqlite3_reset(s->hood);
    return n;
}

static void sq_close(sq *s)
{
    sqlite3_finalize(s->hood);
    if (sqlite3_close(s->db) != SQLITE_OK)
        bu_die("sqlite3_close: %s", sqlite3_errmsg(s->db));
}

/* ---- output ---- */

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

/* cache: mnemo's cache for this figure ("off": MNEMO_CACHE_OFF; "default_64MiB": the default
 * options). goal: NULL for none (meets is then ignored). extra: more ",\"k\":v" fields or NULL. */
static void emit(const graph *g, const char *op, const char *unit, size_t count, const char *cache, double mnemo,
                 const char *base, double base_v, double paired, const char *goal, int meets, const char *extra)
{
    printf("{\"bench\":\"graph\",\"engine\":\"%s\",\"graph\":\"%s\",\"op\":\"%s\",\"unit\":\"%s\",\"count\":%zu,"
           "\"reps\":%d,\"mnemo_cache\":\"%s\",\"mnemo_ops_s\":%.1f",
           bu_engine, g->name, op, unit, count, reps, cache, mnemo);
    if (base)
        printf(",\"baseline\":\"%s\",\"baseline_ops_s\":%.1f,\"ratio\":%.4f,\"ratio_paired\":%.4f", base, base_v,
               ratio(mnemo, base_v), paired);
    if (goal)
        printf(",\"goal\":\"%s\",\"meets_goal\":%s", goal, meets ? "true" : "false");
    else
        printf(",\"goal\":null,\"meets_goal\":null");
    if (extra)
        fputs(extra, stdout);
    printf("}\n");
    fflush(stdout);
}

/* ---- measurements ---- */

static uint32_t *random_nodes(const graph *g, size_t n)
{
    uint32_t *v = xmalloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)(bu_rand() % g->n);
    return v;
}

/* The CSR loop repeats the query list until csr_min_s has passed; returns queries/s. */
static double csr_hood_qps(const graph *g, csr_scratch *s, const uint32_t *starts, size_t nq, unsigned depth,
                           const size_t *expect)
{
    size_t done = 0;
    double t0 = bu_now_s(), t;
    do {
        for (size_t q = 0; q < nq; q++)
            if (csr_hood(g, s, starts[q], depth) != expect[q])
                bu_die("%s: CSR count changed", g->name);
        done += nq;
    } while ((t = bu_now_s() - t0) < csr_min_s);
    return (double)done / t;
}

static double mn_hood_qps(mnemo_db *db, const graph *g, const uint32_t *starts, size_t nq, unsigned depth,
                          const size_t *expect)
{
    double t0 = bu_now_s();
    for (size_t q = 0; q < nq; q++) {
        size_t k = mn_hood(db, g->id_str[starts[q]], depth);
        if (k != expect[q])
            bu_die("%s: %u-hop from %s: mnemo counts %zu nodes, the CSR %zu", g->name, depth, g->id_str[starts[q]], k,
                   expect[q]);
    }
    return (double)nq / (bu_now_s() - t0);
}

static double sq_hood_qps(sq *s, const graph *g, const uint32_t *starts, size_t nq, unsigned depth,
                          const size_t *expect)
{
    double t0 = bu_now_s();
    for (size_t q = 0; q < nq; q++) {
        size_t k = sq_hood(s, g->ids[starts[q]], depth);
        if (k != expect[q])
            bu_die("%s: %u-hop from %s: SQLite counts %zu nodes, mnemo and the CSR %zu", g->name, depth,
                   g->id_str[starts[q]], k, expect[q]);
    }
    return (double)nq / (bu_now_s() - t0);
}

/* The mnemo configurations measured: the cache off (MNEMO_CACHE_OFF: every expansion reads the
 * store), and the same data through a checkpoint opened with the default options (mnemo's cache,
 * MNEMO_CACHE_DEFAULT_BYTES, holds the adjacency lists, warmed by the verification pass). */
#define NCFG 2
static const char *const CFG_NAME[NCFG] = {"off", "default_64MiB"};

static double *reps_array(void) { return xcalloc((size_t)reps, sizeof(double)); }

static void bench_hood(mnemo_db *const dbs[NCFG], sq *s, const graph *g, csr_scratch *cs, unsigned depth, size_t nq)
{
    uint32_t *starts = random_nodes(g, nq);
    size_t *expect = xmalloc(nq * sizeof *expect);
    double sum = 0;
    for (size_t q = 0; q < nq; q++) {
        expect[q] = csr_hood(g, cs, starts[q], depth);
        sum += (double)expect[q];
    }
    fprintf(stderr, "  %u-hop: verifying mnemo's visited sets on %zu starts, warming up\n", depth, nq);
    for (int c = 0; c < NCFG; c++)
        verify_hood_sets(dbs[c], g, cs, starts, nq, depth);
    if (s) /* warm-up pass, also checks every count */
        sq_hood_qps(s, g, starts, nq, depth, expect);
    double *mn[NCFG], *p_sl[NCFG], *p_cr[NCFG], *sl = reps_array(), *cr = reps_array();
    for (int c = 0; c < NCFG; c++) {
        mn[c] = reps_array();
        p_sl[c] = reps_array();
        p_cr[c] = reps_array();
    }
    for (int r = 0; r < reps; r++) {
        /* even repetitions: mnemo (off, cached), SQLite; odd: SQLite, mnemo (cached, off); CSR last */
        if (r % 2 && s)
            sl[r] = sq_hood_qps(s, g, starts, nq, depth, expect);
        for (int k = 0; k < NCFG; k++) {
            int c = r % 2 ? NCFG - 1 - k : k;
            mn[c][r] = mn_hood_qps(dbs[c], g, starts, nq, depth, expect);
        }
        if (r % 2 == 0 && s)
            sl[r] = sq_hood_qps(s, g, starts, nq, depth, expect);
        cr[r] = csr_hood_qps(g, cs, starts, nq, depth, expect);
        for (int c = 0; c < NCFG; c++) {
            p_sl[c][r] = ratio(mn[c][r], sl[r]);
            p_cr[c][r] = ratio(mn[c][r], cr[r]);
        }
        fprintf(stderr, "  %u-hop rep %d: mnemo %.0f q/s (cache off), %.0f q/s (cache on), sqlite %.1f q/s, csr %.0f q/s\n",
                depth, r + 1, mn[0][r], mn[1][r], sl[r], cr[r]);
    }
    double sv = bu_median(sl, reps), cv = bu_median(cr, reps);
    double all = 0; /* the same mean over every node of the graph, not just the sampled starts */
    for (uint32_t v = 0; v < g->n; v++)
        all += (double)csr_hood(g, cs, v, depth);
    char extra[320], op[16], goal[32];
    snprintf(extra, sizeof extra,
             ",\"dir\":\"out\",\"avg_nodes_incl_start\":%.2f,\"avg_nodes_excl_start\":%.2f,"
             "\"all_nodes_avg_incl_start\":%.2f",
             sum / (double)nq, sum / (double)nq - 1.0, all / (double)g->n);
    snprintf(op, sizeof op, "hop%u", depth);
    snprintf(goal, sizeof goal, "ratio>=%g", SQLITE_GOAL);
    for (int c = 0; c < NCFG; c++) {
        double m = bu_median(mn[c], reps);
        if (s)
            emit(g, op, "queries", nq, CFG_NAME[c], m, "sqlite_recursive_cte_wal_disk", sv, bu_median(p_sl[c], reps),
                 depth == 2 ? goal : NULL, ratio(m, sv) >= SQLITE_GOAL, extra);
        emit(g, op, "queries", nq, CFG_NAME[c], m, "csr_in_memory_bitmap", cv, bu_median(p_cr[c], reps),
             depth == 2 ? "ratio>=0.05" : NULL, ratio(m, cv) >= CSR_GOAL, extra);
        free(mn[c]);
        free(p_sl[c]);
        free(p_cr[c]);
    }
    free(starts);
    free(expect);
    free(sl);
    free(cr);
}

typedef struct path_case {
    uint32_t a, b;
    long hops;     /* CSR BFS; -1 unreachable */
    double weight; /* CSR Dijkstra; -1 unreachable */
} path_case;

static int is_edge(const graph *g, uint32_t a, uint32_t b)
{
    return bsearch(&b, g->adj + g->off[a], g->off[a + 1] - g->off[a], sizeof b, cmp_u32) != NULL;
}

/* One pass of mnemo shortest paths over the pairs, each result checked; returns paths/s. With
 * `deep`, also checks that every step of each path is an edge and the weights add up. */
static double mn_paths(mnemo_db *db, const graph *g, const path_case *pc, size_t np, int weighted, int deep,
                       size_t *unreachable)
{
    mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    o.dir = MNEMO_DIR_OUT;
    o.weighted = weighted;
    size_t unr = 0;
    double t0 = bu_now_s();
    for (size_t i = 0; i < np; i++) {
        mnemo_graph_path *p = NULL;
        int rc = mnemo_graph_shortest_path(&p, db, NULL, g->id_str[pc[i].a], g->id_str[pc[i].b], &o);
        double want = weighted ? pc[i].weight : (double)pc[i].hops;
        if (rc == MNEMO_ENOTFOUND) {
            unr++;
            if (want >= 0)
                bu_die("%s: mnemo finds no path %s -> %s, the CSR does", g->name, g->id_str[pc[i].a],
                       g->id_str[pc[i].b]);
            continue;
        }
        CHECK(rc);
        double got = weighted ? p->weight : (double)p->hops;
        double diff = got - want, tol = 1e-9 * (want > 1 ? want : 1);
        if (want < 0 || diff > tol || diff < -tol)
            bu_die("%s: %s path %s -> %s: mnemo %.6f, the CSR %.6f", g->name, weighted ? "weighted" : "BFS",
                   g->id_str[pc[i].a], g->id_str[pc[i].b], got, want);
        if (deep) {
            double sum = 0;
            for (size_t h = 0; h < p->hops; h++) {
                uint32_t x = node_index(g, parse_id(p->nodes[h], "path", 0));
                uint32_t y = node_index(g, parse_id(p->nodes[h + 1], "path", 0));
                if (!is_edge(g, x, y))
                    bu_die("%s: path step %s -> %s is not an edge", g->name, p->nodes[h], p->nodes[h + 1]);
                if (weighted) {
                    const uint32_t *e = bsearch(&y, g->adj + g->off[x], g->off[x + 1] - g->off[x], sizeof y, cmp_u32);
                    sum += g->w[e - g->adj];
                }
            }
            if (weighted && (sum - got > 1e-9 * got || got - sum > 1e-9 * got))
                bu_die("%s: path weight %.6f but its edges add up to %.6f", g->name, got, sum);
        }
        mnemo_graph_path_free(p);
    }
    double t = bu_now_s() - t0;
    if (unreachable)
        *unreachable = unr;
    return (double)np / t;
}

static double csr_paths(const graph *g, csr_scratch *s, const path_case *pc, size_t np, int weighted)
{
    size_t done = 0;
    double t0 = bu_now_s(), t;
    do {
        for (size_t i = 0; i < np; i++) {
            double got = weighted ? csr_dijkstra(g, s, pc[i].a, pc[i].b) : (double)csr_bfs_path(g, s, pc[i].a, pc[i].b);
            if (got != (weighted ? pc[i].weight : (double)pc[i].hops))
                bu_die("%s: CSR path changed", g->name);
        }
        done += np;
    } while ((t = bu_now_s() - t0) < csr_min_s);
    return (double)done / t;
}

static void bench_paths(mnemo_db *const plain[NCFG], mnemo_db *const wdb[NCFG], const graph *g, csr_scratch *cs,
                        size_t np)
{
    path_case *pc = xmalloc(np * sizeof *pc);
    size_t unr_csr = 0;
    double hops_sum = 0;
    for (size_t i = 0; i < np; i++) {
        pc[i].a = (uint32_t)(bu_rand() % g->n);
        pc[i].b = (uint32_t)(bu_rand() % g->n);
        pc[i].hops = csr_bfs_path(g, cs, pc[i].a, pc[i].b);
        pc[i].weight = csr_dijkstra(g, cs, pc[i].a, pc[i].b);
        if ((pc[i].hops < 0) != (pc[i].weight < 0))
            bu_die("CSR BFS and Dijkstra disagree on reachability");
        if (pc[i].hops < 0)
            unr_csr++;
        else
            hops_sum += (double)pc[i].hops;
    }
    for (int weighted = 0; weighted <= 1; weighted++) {
        mnemo_db *const *dbs = weighted ? wdb : plain;
        size_t unr = 0;
        fprintf(stderr, "  %s paths: verifying every step, warming up\n", weighted ? "weighted" : "BFS");
        for (int c = 0; c < NCFG; c++)
            mn_paths(dbs[c], g, pc, np, weighted, 1, &unr);
        double *mn[NCFG], *pr[NCFG], *cr = reps_array();
        for (int c = 0; c < NCFG; c++) {
            mn[c] = reps_array();
            pr[c] = reps_array();
        }
        for (int r = 0; r < reps; r++) {
            for (int k = 0; k < NCFG; k++) {
                int c = r % 2 ? NCFG - 1 - k : k;
                mn[c][r] = mn_paths(dbs[c], g, pc, np, weighted, 0, &unr);
            }
            cr[r] = csr_paths(g, cs, pc, np, weighted);
            for (int c = 0; c < NCFG; c++)
                pr[c][r] = ratio(mn[c][r], cr[r]);
            fprintf(stderr, "  %s paths rep %d: mnemo %.1f paths/s (cache off), %.1f paths/s (cache on), csr %.0f paths/s\n",
                    weighted ? "weighted" : "BFS", r + 1, mn[0][r], mn[1][r], cr[r]);
        }
        char extra[256];
        snprintf(extra, sizeof extra, ",\"dir\":\"out\",\"unreachable\":%zu,\"avg_hops_reachable\":%.3f", unr,
                 np > unr_csr ? hops_sum / (double)(np - unr_csr) : 0.0);
        for (int c = 0; c < NCFG; c++) {
            emit(g, weighted ? "shortest_path_weighted" : "shortest_path_bfs", "paths", np, CFG_NAME[c],
                 bu_median(mn[c], reps), weighted ? "csr_dijkstra_binary_heap" : "csr_bfs_early_exit",
                 bu_median(cr, reps), bu_median(pr[c], reps), NULL, 0, extra);
            free(mn[c]);
            free(pr[c]);
        }
        free(cr);
    }
    free(pc);
}

/* A second handle on the same data: a checkpoint of db opened with the default options (cache on). A memory
 * database has no files to checkpoint: it gets the same edge list imported again instead. */
static mnemo_db *cached_copy(mnemo_db *db, const graph *g, const char *file, const char *tag)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *c;
    if (!strcmp(bu_engine, "memory")) {
        mnemo_graph_import_stats st = MNEMO_GRAPH_IMPORT_STATS_INIT;
        mn_load(&c, g, file, tag, &st, o.cache_size);
        return c;
    }
    char dir[PATH_MAX];
    bu_run_dir(dir, sizeof dir, tag);
    CHECK(mnemo_checkpoint(db, dir));
    CHECK(mnemo_open(&c, dir, &o));
    return c;
}

static void bench_graph(graph *g, const char *data)
{
    fprintf(stderr, "%s: reading %s\n", g->name, g->file);
    graph_load(g, data);
    fprintf(stderr, "%s: %zu lines, %zu nodes, %zu directed edges\n", g->name, g->n_lines, g->n, g->m);
    bu_seed(0x6772617068ull ^ (uint64_t)g->n); /* same query lists in every run */

    /* 1. bulk load; the last repetition's databases are kept for the queries */
    double *mn = xmalloc((size_t)reps * sizeof *mn), *sl = xmalloc((size_t)reps * sizeof *sl);
    double *pr = xmalloc((size_t)reps * sizeof *pr);
    mnemo_db *db = NULL;
    sq s = {NULL, NULL};
    mnemo_graph_import_stats st = MNEMO_GRAPH_IMPORT_STATS_INIT;
    for (int r = 0; r < reps; r++) {
        if (db)
            CHECK(mnemo_close(db));
        if (s.db)
            sq_close(&s);
        double tm, ts = 0;
        if (r % 2 == 0 || no_sqlite) {
            tm = mn_load(&db, g, g->path, "mnemo", &st, MNEMO_CACHE_OFF);
            if (!no_sqlite)
                ts = sq_load(&s, g, "sqlite");
        } else {
            ts = sq_load(&s, g, "sqlite");
            tm = mn_load(&db, g, g->path, "mnemo", &st, MNEMO_CACHE_OFF);
        }
        mn[r] = (double)st.edges / tm;
        sl[r] = no_sqlite ? 0 : (double)g->m / ts;
        pr[r] = ratio(mn[r], sl[r]);
        fprintf(stderr, "  load rep %d: mnemo %.0f edges/s (%.2f s), sqlite %.0f edges/s\n", r + 1, mn[r], tm, sl[r]);
    }
    double m = bu_median(mn, reps);
    char extra[192];
    snprintf(extra, sizeof extra, ",\"edges\":%llu,\"nodes\":%llu,\"lines\":%zu,\"undirected\":%s",
             (unsigned long long)st.edges, (unsigned long long)st.nodes_created, g->n_lines,
             g->undirected ? "true" : "false");
    emit(g, "bulk_load", "edges", g->m, "off", m, no_sqlite ? NULL : "sqlite_insert_one_txn_wal_disk",
         bu_median(sl, reps), bu_median(pr, reps), "mnemo>=200000", m >= LOAD_GOAL, extra);
    free(mn);
    free(sl);
    free(pr);
    if (load_only) {
        CHECK(mnemo_close(db));
        if (s.db)
            sq_close(&s);
        graph_free(g);
        return;
    }
    CHECK(mnemo_flush(db)); /* queries read flushed tables through the block cache, like a reopened db */
    mnemo_db *dbs[NCFG] = {db, cached_copy(db, g, g->path, "mnemo-cached")};

    /* 2-4. neighbourhoods */
    csr_scratch cs = csr_scratch_new(g);
    bench_hood(dbs, no_sqlite ? NULL : &s, g, &cs, 1, n_q1);
    bench_hood(dbs, no_sqlite ? NULL : &s, g, &cs, 2, n_q2);
    if (s.db)
        sq_close(&s);

    /* 5. shortest paths (facebook) */
    if (g->undirected) {
        graph_weighted_copy(g);
        mnemo_db *wdb;
        mnemo_graph_import_stats wst = MNEMO_GRAPH_IMPORT_STATS_INIT;
        fprintf(stderr, "  importing the weighted copy\n");
        mn_load(&wdb, g, g->wpath, "mnemo-weighted", &wst, MNEMO_CACHE_OFF);
        CHECK(mnemo_flush(wdb));
        mnemo_db *wdbs[NCFG] = {wdb, cached_copy(wdb, g, g->wpath, "mnemo-weighted-cached")};
        bench_paths(dbs, wdbs, g, &cs, n_paths);
        for (int c = 0; c < NCFG; c++)
            CHECK(mnemo_close(wdbs[c]));
    }
    csr_scratch_free(&cs);
    for (int c = 0; c < NCFG; c++)
        CHECK(mnemo_close(dbs[c]));
    graph_free(g);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_graph [--quick] [--reps R] [--data DIR] [--graph facebook|wiki|all] [--q1 N] "
                    "[--q2 N] [--paths N] [--no-sqlite] [--load-only] [--engine rocksdb|lmdb|memory]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *data = getenv("MNEMO_GRAPH_DATA");
    const char *which = "all";
    long q1 = -1, q2 = -1, paths = -1;
    if (!data || !*data)
        data = BENCH_GRAPH_DATA;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--no-sqlite"))
            no_sqlite = 1;
        else if (!strcmp(argv[i], "--load-only"))
            load_only = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--graph") && i + 1 < argc)
            which = argv[++i];
        else if (!strcmp(argv[i], "--q1") && i + 1 < argc)
            q1 = atol(argv[++i]);
        else if (!strcmp(argv[i], "--q2") && i + 1 < argc)
            q2 = atol(argv[++i]);
        else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
            bu_set_engine(argv[++i]);
        else if (!strcmp(argv[i], "--paths") && i + 1 < argc)
            paths = atol(argv[++i]);
        else
            usage();
    }
    if (reps < 1 || (strcmp(which, "all") && strcmp(which, "facebook") && strcmp(which, "wiki")))
        usage();
    if (quick) {
        n_q1 = 50;
        n_q2 = 20;
        n_paths = 10;
        csr_min_s = 0.01;
    }
    if (q1 >= 0)
        n_q1 = (size_t)q1;
    if (q2 >= 0)
        n_q2 = (size_t)q2;
    if (paths >= 0)
        n_paths = (size_t)paths;
    if (!n_q1 || !n_q2 || !n_paths)
        usage();
    fprintf(stderr, "bench_graph: engine %s, data %s, reps %d, %zu 1-hop, %zu 2-hop, %zu paths per rep; SQLite %s\n",
            bu_engine, data, reps, n_q1, n_q2, n_paths, sqlite3_libversion());
    graph graphs[2] = {{.name = "facebook_combined", .file = "facebook_combined.txt", .undirected = 1},
                       {.name = "wiki-Vote", .file = "wiki-Vote.txt", .undirected = 0}};
    if (strcmp(which, "wiki"))
        bench_graph(&graphs[0], data);
    if (strcmp(which, "facebook"))
        bench_graph(&graphs[1], data);
    return 0;
}
