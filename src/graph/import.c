/* Bulk loading of SNAP edge lists in batched transactions. Within a batch every node is resolved
 * (or created) once, with tracked reads; then the edge keys of the whole batch are written in key
 * order per column family (memtable inserts of sorted keys reuse the skip list's search path) as
 * untracked, unindexed blind writes (mnemo_txn__put_untracked): the batch never reads them back,
 * and they still commit atomically with the nodes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/u64map.h"
#include "graph/graph_impl.h"
#include "record/record.h"

typedef struct pending {
    char *a, *b; /* point into the batch's text */
    double weight;
} pending;

/* One directed edge key of a batch, queued to be written in key order: `node label other`, the
 * label being the same for the whole import. */
typedef struct edge_out {
    uint64_t node, other;
    uint32_t vlen;
    size_t voff; /* value bytes in the batch's arena */
} edge_out;

typedef struct edge_outs {
    edge_out *v;
    size_t n, cap;
} edge_outs;

typedef struct batch {
    mnemo_db *db;
    const char *label;
    int undirected;
    pending *edges;
    size_t n, cap;
    char **lines; /* owned copies of the batch's lines */
    size_t n_lines, cap_lines;
    /* per attempt (buffers kept across batches) */
    uint64_t edges_written, nodes_created;
    edge_outs fwd, bwd, tmp; /* tmp: the sort's scratch */
    unsigned char *arena;
    size_t arena_used, arena_cap;
} batch;

/* id -> iid memo for one attempt; ids are keyed by a 64-bit hash with the id kept to compare. */
typedef struct memo {
    mnemo_u64map map; /* hash -> index */
    struct memo_entry {
        const char *id;
        uint64_t iid;
    } *entries;
    size_t n, cap;
} memo;

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h ? h : 1;
}

static int resolve(uint64_t *iid, memo *m, batch *b, mnemo_txn *txn, const char *id)
{
    uint64_t h = hash_id(id);
    size_t at;
    /* a hash collision between two ids only costs a lookup: the memo then keeps the first */
    if (mnemo_u64map__get(&m->map, h, &at) && !strcmp(m->entries[at].id, id)) {
        *iid = m->entries[at].iid;
        return 0;
    }
    int rc = mnemo_record__resolve(iid, b->db, txn, id);
    if (rc == MNEMO_ENOTFOUND) {
        mnemo_record r = {0};
        r.id = id;
        if ((rc = mnemo_record_put(b->db, txn, &r, MNEMO_PUT_INSERT)) == 0 &&
            (rc = mnemo_record__resolve(iid, b->db, txn, id)) == 0)
            b->nodes_created++;
    }
    if (rc)
        return rc;
    if ((rc = mnemo__grow(&m->entries, &m->cap, m->n + 1, sizeof *m->entries, 256)) != 0)
        return rc;
    m->entries[m->n] = (struct memo_entry){id, *iid};
    rc = mnemo_u64map__add(&m->map, h, m->n);
    m->n++;
    if (rc < 0)
        return rc;
    return mnemo_record__pin(b->db, txn, *iid, id, 1); /* once per node and batch */
}

static int queue(batch *b, edge_outs *q, uint64_t a, uint64_t c, double w, const char *other_id)
{
    size_t idlen = strlen(other_id), vlen = mnemo_graph__value_len(idlen, 0);
    int rc = mnemo__grow(&q->v, &q->cap, q->n + 1, sizeof *q->v, 1024);
    if (rc || (rc = mnemo__grow(&b->arena, &b->arena_cap, b->arena_used + vlen, 1, 1u << 16)) != 0)
        return rc;
    edge_out *e = &q->v[q->n];
    e->node = a;
    e->other = c;
    q->n++;
    e->vlen = (uint32_t)vlen;
    e->voff = b->arena_used;
    mnemo_graph__encode_value_to(b->arena + b->arena_used, w, other_id, idlen, NULL, 0);
    b->arena_used += vlen;
    return 0;
}

/* Edge a -> c: the forward key names c, the backward key names a. */
static int queue_edge(batch *b, uint64_t a, const char *a_id, uint64_t c, const char *c_id, double w)
{
    int rc = queue(b, &b->fwd, a, c, w, c_id);
    if (!rc)
        rc = queue(b, &b->bwd, c, a, w, a_id);
    b->edges_written++;
    return rc;
}

/* Stable LSD radix sort by (node, other), a byte at a time, skipping the bytes that are the same
 * in every key (internal ids are dense, so most are): equal keys keep their arrival order, and of
 * two writes of one edge in a batch the later is written. */
static int sort_outs(batch *b, edge_outs *q)
{
    if (q->n < 2)
        return 0;
    int rc = mnemo__grow(&b->tmp.v, &b->tmp.cap, q->n, sizeof *q->v, 1024);
    if (rc)
        return rc;
    static _Thread_local size_t count[16][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < q->n; i++)
        for (int d = 0; d < 8; d++) {
            count[d][q->v[i].other >> 8 * d & 255]++;
            count[8 + d][q->v[i].node >> 8 * d & 255]++;
        }
    edge_out *src = q->v, *dst = b->tmp.v;
    for (int d = 0; d < 16; d++) {
        uint64_t first = d < 8 ? src[0].other : src[0].node;
        unsigned shift = 8 * (unsigned)(d % 8);
        if (count[d][first >> shift & 255] == q->n)
            continue; /* this byte is the same everywhere */
        size_t at = 0;
        for (int v = 0; v < 256; v++) {
            size_t c = count[d][v];
            count[d][v] = at;
            at += c;
        }
        for (size_t i = 0; i < q->n; i++)
            dst[count[d][(d < 8 ? src[i].other : src[i].node) >> shift & 255]++] = src[i];
        edge_out *t = src;
        src = dst;
        dst = t;
    }
    if (src != q->v)
        memcpy(q->v, src, q->n * sizeof *q->v);
    return 0;
}

/* Writes one column family's queued keys in key order, the last write of a key only; each node's
 * cached adjacency in direction dir goes stale. */
static int write_sorted(batch *b, mnemo_txn *txn, edge_outs *q, uint32_t label, mnemo_cf cf, mnemo_direction dir)
{
    int rc = sort_outs(b, q);
    for (size_t i = 0; i < q->n && !rc; i++) {
        const edge_out *e = &q->v[i];
        if (i == 0 || e->node != q->v[i - 1].node) { /* first key of this node */
            unsigned char ck[10];
            rc = mnemo_txn__cache_forget(txn, ck, mnemo_graph__adj_cache_key(ck, e->node, dir));
        }
        if (!rc && i + 1 < q->n && e->node == q->v[i + 1].node && e->other == q->v[i + 1].other)
            continue; /* a later line of this batch writes the same edge */
        unsigned char key[EDGE_KEY_LEN];
        mnemo_graph__edge_key(key, e->node, label, e->other);
        if (!rc)
            rc = mnemo_txn__put_untracked(b->db, txn, cf, key, sizeof key, b->arena + e->voff, e->vlen);
    }
    return rc;
}

static int batch_op(mnemo_txn *txn, void *arg)
{
    batch *b = arg;
    b->edges_written = b->nodes_created = 0;
    b->fwd.n = b->bwd.n = b->arena_used = 0;
    memo m = {MNEMO_U64MAP_INIT, NULL, 0, 0};
    uint32_t label;
    int rc = mnemo_graph__label_id(&label, b->db, txn, b->label, 1);
    for (size_t i = 0; i < b->n && !rc; i++) {
        uint64_t x, y;
        const pending *e = &b->edges[i];
        if ((rc = resolve(&x, &m, b, txn, e->a)) || (rc = resolve(&y, &m, b, txn, e->b)))
            break;
        rc = queue_edge(b, x, e->a, y, e->b, e->weight);
        if (!rc && b->undirected && x != y)
            rc = queue_edge(b, y, e->b, x, e->a, e->weight);
    }
    mnemo_u64map__free(&m.map);
    mnemo__free(m.entries);
    if (!rc)
        rc = write_sorted(b, txn, &b->fwd, label, MNEMO_CF_GRAPH_FORWARD, MNEMO_DIR_OUT);
    if (!rc)
        rc = write_sorted(b, txn, &b->bwd, label, MNEMO_CF_GRAPH_BACKWARD, MNEMO_DIR_IN);
    return rc;
}

static void batch_clear(batch *b)
{
    for (size_t i = 0; i < b->n_lines; i++)
        mnemo__free(b->lines[i]);
    b->n_lines = b->n = 0;
}

/* Splits one line into its fields; 1 = an edge was queued, 0 = blank or comment. */
static int parse_line(batch *b, char *line, uint64_t lineno, const char *path)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return 0;
    char *fields[4];
    int nf = 0;
    for (char *save = NULL, *tok = strtok_r(p, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
        if (nf < 4)
            fields[nf++] = tok;
        else
            nf++;
    if (nf < 2 || nf > 3)
        return mnemo__err(MNEMO_EINVAL, "import %s: line %llu: expected 'from to' or 'from to weight', got %d field%s",
                          path, (unsigned long long)lineno, nf, nf == 1 ? "" : "s");
    double w = 1.0;
    if (nf == 3) {
        char *end;
        w = strtod(fields[2], &end); /* ERANGE on a subnormal is fine: the value is still finite */
        if (*end || end == fields[2] || !isfinite(w))
            return mnemo__err(MNEMO_EINVAL, "import %s: line %llu: weight '%s' is not a finite number", path,
                              (unsigned long long)lineno, fields[2]);
    }
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(fields[i]);
        if (n > MNEMO_RECORD_MAX_ID || !mnemo__utf8_valid(fields[i], n))
            return mnemo__err(MNEMO_EINVAL, "import %s: line %llu: node id '%.40s' is not 1..%u bytes of UTF-8", path,
                              (unsigned long long)lineno, fields[i], MNEMO_RECORD_MAX_ID);
    }
    int rc = mnemo__grow(&b->edges, &b->cap, b->n + 1, sizeof *b->edges, 1024);
    if (rc)
        return rc;
    b->edges[b->n++] = (pending){fields[0], fields[1], w};
    return 1;
}

int mnemo_graph_import_edgelist(mnemo_db *db, const char *path, const mnemo_graph_import_options *opts,
                                mnemo_graph_import_stats *stats)
{
    static const char fn[] = "mnemo_graph_import_edgelist";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, NULL, fn);
    if (rc)
        return rc;
    static const size_t sizes[] = {sizeof(mnemo_graph_import_stats)};
    size_t stats_bytes = 0;
    if (stats && (rc = mnemo__filled_size(&stats_bytes, fn, "mnemo_graph_import_stats", stats->version, sizes,
                                          MNEMO_GRAPH_IMPORT_STATS_VERSION)) != 0)
        return rc;
    if (!path || !*path)
        return mnemo__err(MNEMO_EINVAL, "%s: path is %s", fn, path ? "empty" : "NULL");
    static const mnemo_graph_import_options defaults = MNEMO_GRAPH_IMPORT_OPTIONS_INIT;
    const mnemo_graph_import_options *o = opts ? opts : &defaults;
    if (o->version > MNEMO_GRAPH_IMPORT_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library", fn, o->version);
    const char *label = o->label ? o->label : "link";
    if (!*label || strlen(label) > MNEMO_LABEL_MAX)
        return mnemo__err(MNEMO_EINVAL, "%s: label must be 1..%u bytes", fn, MNEMO_LABEL_MAX);
    size_t per_batch = o->batch ? o->batch : 10000;
    FILE *f = fopen(path, "r");
    if (!f)
        return mnemo__err(errno == ENOENT ? MNEMO_ENOTFOUND : MNEMO_EIO, "%s: cannot open '%s': %s", fn, path,
                          strerror(errno));
    mnemo_graph_import_stats st = {stats ? stats->version : 0, 0, 0, 0};
    batch b = {db, label, o->undirected != 0, NULL, 0, 0, NULL, 0, 0, 0, 0, {NULL, 0, 0}, {NULL, 0, 0}, {NULL, 0, 0}, NULL, 0, 0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (!rc && (got = getline(&line, &cap, f)) >= 0) {
        st.lines++;
        if ((rc = mnemo__grow(&b.lines, &b.cap_lines, b.n_lines + 1, sizeof *b.lines, 1024)) != 0)
            break;
        if (!(b.lines[b.n_lines] = mnemo__memdup(line, (size_t)got))) {
            rc = mnemo__err_nomem(fn);
            break;
        }
        rc = parse_line(&b, b.lines[b.n_lines++], st.lines, path);
        if (rc == 1)
            rc = 0;
        if (!rc && b.n >= per_batch) {
            if ((rc = mnemo_txn_run(db, 0, batch_op, &b, NULL)) == 0) {
                st.edges += b.edges_written;
                st.nodes_created += b.nodes_created;
            }
            batch_clear(&b);
        }
    }
    if (!rc && ferror(f))
        rc = mnemo__err(MNEMO_EIO, "%s: reading '%s' failed", fn, path);
    if (!rc && b.n && (rc = mnemo_txn_run(db, 0, batch_op, &b, NULL)) == 0) {
        st.edges += b.edges_written;
        st.nodes_created += b.nodes_created;
    }
    batch_clear(&b);
    mnemo__free(b.lines);
    mnemo__free(b.edges);
    mnemo__free(b.fwd.v);
    mnemo__free(b.bwd.v);
    mnemo__free(b.tmp.v);
    mnemo__free(b.arena);
    free(line);
    fclose(f);
    if (stats)
        memcpy(stats, &st, stats_bytes);
    return rc;
}
