/* Bulk loading of SNAP edge lists in batched transactions. Within a batch every node is resolved
 * (or created) once, and edges are written straight by internal id. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/u64map.h"
#include "graph/graph_impl.h"
#include "record/record.h"

typedef struct pending {
    char *a, *b; /* point into the batch's text */
    double weight;
} pending;

typedef struct batch {
    mnemo_db *db;
    const char *label;
    int undirected;
    pending *edges;
    size_t n, cap;
    char **lines; /* owned copies of the batch's lines */
    size_t n_lines, cap_lines;
    /* per attempt */
    uint64_t edges_written, nodes_created;
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
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        struct memo_entry *e = mnemo__realloc(m->entries, cap * sizeof *e);
        if (!e)
            return mnemo__err_nomem("import");
        m->entries = e;
        m->cap = cap;
    }
    m->entries[m->n] = (struct memo_entry){id, *iid};
    rc = mnemo_u64map__add(&m->map, h, m->n);
    m->n++;
    if (rc < 0)
        return rc;
    return mnemo_record__pin(b->db, txn, *iid, id); /* once per node and batch */
}

static int write_edge(mnemo_db *db, mnemo_txn *txn, uint64_t a, const char *a_id, uint32_t label, uint64_t b,
                      const char *b_id, double w)
{
    unsigned char fk[EDGE_KEY_LEN], bk[EDGE_KEY_LEN];
    mnemo_graph__edge_key(fk, a, label, b);
    mnemo_graph__edge_key(bk, b, label, a);
    char *fv, *bv;
    size_t fl, bl;
    int rc = mnemo_graph__encode_value(&fv, &fl, w, b_id, strlen(b_id), NULL, 0);
    if (rc)
        return rc;
    if ((rc = mnemo_graph__encode_value(&bv, &bl, w, a_id, strlen(a_id), NULL, 0)) == 0) {
        rc = mnemo_txn__put(db, txn, MNEMO_CF_GRAPH_FORWARD, fk, sizeof fk, fv, fl);
        if (!rc)
            rc = mnemo_txn__put(db, txn, MNEMO_CF_GRAPH_BACKWARD, bk, sizeof bk, bv, bl);
        if (!rc)
            rc = mnemo_graph__forget_edge(txn, a, b);
        mnemo__free(bv);
    }
    mnemo__free(fv);
    return rc;
}

static int batch_op(mnemo_txn *txn, void *arg)
{
    batch *b = arg;
    b->edges_written = b->nodes_created = 0;
    memo m = {MNEMO_U64MAP_INIT, NULL, 0, 0};
    uint32_t label;
    int rc = mnemo_graph__label_id(&label, b->db, txn, b->label, 1);
    for (size_t i = 0; i < b->n && !rc; i++) {
        uint64_t x, y;
        const pending *e = &b->edges[i];
        if ((rc = resolve(&x, &m, b, txn, e->a)) || (rc = resolve(&y, &m, b, txn, e->b)))
            break;
        rc = write_edge(b->db, txn, x, e->a, label, y, e->b, e->weight);
        b->edges_written++;
        if (!rc && b->undirected && x != y) {
            rc = write_edge(b->db, txn, y, e->b, label, x, e->a, e->weight);
            b->edges_written++;
        }
    }
    mnemo_u64map__free(&m.map);
    mnemo__free(m.entries);
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
        if (n > MNEMO_RECORD_MAX_ID || !mnemo_record__utf8_valid(fields[i], n))
            return mnemo__err(MNEMO_EINVAL, "import %s: line %llu: node id '%.40s' is not 1..%u bytes of UTF-8", path,
                              (unsigned long long)lineno, fields[i], MNEMO_RECORD_MAX_ID);
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        pending *e = mnemo__realloc(b->edges, cap * sizeof *e);
        if (!e)
            return mnemo__err_nomem("import");
        b->edges = e;
        b->cap = cap;
    }
    b->edges[b->n++] = (pending){fields[0], fields[1], w};
    return 1;
}

int mnemo_graph_import_edgelist(mnemo_db *db, const char *path, const mnemo_import_options *opts,
                                mnemo_import_stats *stats)
{
    static const char fn[] = "mnemo_graph_import_edgelist";
    int rc = mnemo_txn__check_write(db, NULL, fn);
    if (rc)
        return rc;
    if (!path || !*path)
        return mnemo__err(MNEMO_EINVAL, "%s: path is %s", fn, path ? "empty" : "NULL");
    static const mnemo_import_options defaults = MNEMO_IMPORT_OPTIONS_INIT;
    const mnemo_import_options *o = opts ? opts : &defaults;
    if (o->version > MNEMO_IMPORT_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library", fn, o->version);
    const char *label = o->label ? o->label : "link";
    if (!*label || strlen(label) > MNEMO_LABEL_MAX)
        return mnemo__err(MNEMO_EINVAL, "%s: label must be 1..%u bytes", fn, MNEMO_LABEL_MAX);
    size_t per_batch = o->batch ? o->batch : 10000;
    FILE *f = fopen(path, "r");
    if (!f)
        return mnemo__err(errno == ENOENT ? MNEMO_ENOTFOUND : MNEMO_EIO, "%s: cannot open '%s': %s", fn, path,
                          strerror(errno));
    mnemo_import_stats st = {0, 0, 0};
    batch b = {db, label, o->undirected != 0, NULL, 0, 0, NULL, 0, 0, 0, 0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while (!rc && (got = getline(&line, &cap, f)) >= 0) {
        st.lines++;
        if (b.n_lines == b.cap_lines) {
            size_t c = b.cap_lines ? 2 * b.cap_lines : 1024;
            char **l = mnemo__realloc(b.lines, c * sizeof *l);
            if (!l) {
                rc = mnemo__err_nomem(fn);
                break;
            }
            b.lines = l;
            b.cap_lines = c;
        }
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
    free(line);
    fclose(f);
    if (stats)
        *stats = st;
    return rc;
}
