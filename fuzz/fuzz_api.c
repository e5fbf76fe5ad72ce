/* libFuzzer target: the public API as a sequence of random calls with random arguments on one
 * database per process (on /dev/shm when there is one), emptied before each input (opening a
 * database per input costs about a second in this build). Each input byte stream is read as
 * (op, arguments...) until it runs out; ids and labels come mostly from small pools so calls meet
 * each other's data, sometimes straight from the input (invalid UTF-8, empty, oversized...).
 * Calls may fail with any documented code except the ones a healthy database never gives
 * (fz_check_rc); after the sequence the graph must be consistent and the database reopen.
 * One transaction may be open at a time; each op runs in it or alone (auto-commit).
 * Adding a model (vectors): add its calls to `ops`. */
#include <math.h>
#include <stdint.h>

#include "fuzz_common.h"

typedef struct in {
    const uint8_t *p;
    size_t n;
} in;

static unsigned u8(in *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

/* Up to 40 bytes from the input, NUL-terminated (may hold anything else). */
static const char *raw_str(in *s, char *buf)
{
    size_t len = u8(s) % 41;
    if (len > s->n)
        len = s->n;
    memcpy(buf, s->p, len);
    buf[len] = '\0';
    s->p += len;
    s->n -= len;
    return buf;
}

static const char *pick(in *s, char *buf, const char *const *pool, size_t n_pool)
{
    unsigned c = u8(s);
    if (c < 224)
        return pool[c % n_pool];
    if (c == 250)
        return NULL;
    if (c == 251)
        return "";
    return raw_str(s, buf);
}

static const char *const ids[] = {"a", "b", "c", "d", "e", "n/1", "n/2", "\xc3\xa9t\xc3\xa9"};
static const char *const labels[] = {"knows", "likes", "x"};
static const char *const json_texts[] = {
    "{}", "{\"topic\": \"rust\", \"n\": 1}", "{\"topic\": \"go\", \"n\": 2.5, \"tags\": [\"a\", \"b\"]}",
    "{\"author\": {\"name\": \"ada\"}}", "{\"n\": null}", "[1, 2]", "{\"topic\": ", "{\"a\": 1, \"a\": 2}",
};
static const char *const filters[] = {
    "{}", "{\"topic\": \"rust\"}", "{\"n\": {\"$gte\": 1}}", "{\"$or\": [{\"n\": 1}, {\"tags\": \"a\"}]}",
    "{\"importance\": {\"$lt\": 0.5}}", "{\"author.name\": {\"$in\": [\"ada\", 1]}}", "{\"$foo\": 1}",
    "{\"id\": {\"$ne\": \"a\"}, \"topic\": {\"$exists\": true}}",
};
static const char *const paths[] = {"topic", "n", "author.name", "tags", "a..b"};
#define POOL(s, buf, pool) pick(s, buf, pool, sizeof pool / sizeof pool[0])

typedef struct ctx {
    mnemo_db *db;
    mnemo_txn *txn;
    char path[400];
    int reopened; /* at most one flush or close and reopen per input: they are slow */
} ctx;

static double number(in *s)
{
    unsigned c = u8(s);
    switch (c % 8) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -1.5;
    default: return (double)c / 16.0;
    }
}

static int64_t when(in *s)
{
    switch (u8(s) % 4) {
    case 0: return 0;
    case 1: return 1; /* long expired */
    case 2: return -5;
    default: return 4102444800000; /* 2100 */
    }
}

static mnemo_txn *maybe_txn(ctx *c, in *s) { return (u8(s) & 1) ? c->txn : NULL; }

static int op_kv(ctx *c, in *s)
{
    char kb[48], vb[48];
    const char *k = POOL(s, kb, ids);
    size_t kl = k ? strlen(k) : 0;
    mnemo_txn *t = maybe_txn(c, s);
    switch (u8(s) % 4) {
    case 0: {
        const char *v = raw_str(s, vb);
        return mnemo_kv_put(c->db, t, k, kl, v, strlen(v));
    }
    case 1: {
        void *v = NULL;
        size_t n;
        int rc = mnemo_kv_get(&v, &n, c->db, t, k, kl);
        mnemo_free(v);
        return rc;
    }
    case 2: return mnemo_kv_delete(c->db, t, k, kl);
    default: {
        mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
        o.prefix = k;
        o.prefix_len = k ? strlen(k) / 2 : 0;
        o.reverse = u8(s) & 1;
        mnemo_iter *it;
        int rc = mnemo_kv_iter(&it, c->db, t, &o);
        if (rc)
            return rc;
        while ((rc = mnemo_iter_next(it)) == 0) {
            const void *kk, *vv;
            size_t a, b;
            if (mnemo_iter_key(it, &kk, &a) || mnemo_iter_value(it, &vv, &b))
                abort();
        }
        mnemo_iter_free(it);
        return rc == MNEMO_ITEROVER ? 0 : rc;
    }
    }
}

static int op_record_write(ctx *c, in *s)
{
    char ib[48], cb[48], mb[48];
    mnemo_txn *t = maybe_txn(c, s);
    const char *id = POOL(s, ib, ids);
    switch (u8(s) % 3) {
    case 0: {
        mnemo_record r = {0};
        r.id = id;
        r.content = raw_str(s, cb);
        r.importance = number(s);
        r.expires_at = when(s);
        r.metadata = POOL(s, mb, json_texts);
        return mnemo_record_put(c->db, t, &r, (mnemo_record_put_mode)(u8(s) % 3));
    }
    case 1: return mnemo_record_delete(c->db, t, id);
    default: {
        mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
        ch.fields = u8(s) % 16;
        ch.content = raw_str(s, cb);
        ch.importance = number(s);
        ch.expires_at = when(s);
        ch.metadata_patch = POOL(s, mb, json_texts);
        return mnemo_record_update(c->db, t, id, &ch);
    }
    }
}

static int op_record_read(ctx *c, in *s)
{
    char ib[48];
    mnemo_txn *t = maybe_txn(c, s);
    unsigned what = u8(s) % 4;
    if (what == 0) {
        mnemo_record *r = NULL;
        int rc = mnemo_record_get(&r, c->db, t, POOL(s, ib, ids));
        if (!rc && (!r->id || !r->metadata || strlen(r->content) > r->content_len))
            abort();
        mnemo_record_free(r);
        return rc;
    }
    if (what == 1)
        return mnemo_record_exists(c->db, t, POOL(s, ib, ids));
    size_t limit = u8(s) % 4;
    char *cursor = NULL;
    int rc = 0;
    for (int page_no = 0; page_no < 20 && !rc; page_no++) {
        mnemo_record_page *page = NULL;
        if (what == 2) {
            mnemo_record_find_options o = MNEMO_RECORD_FIND_OPTIONS_INIT;
            o.limit = limit;
            o.cursor = cursor;
            rc = mnemo_record_find(&page, c->db, t, POOL(s, ib, filters), &o);
        } else {
            mnemo_record_list_options o = MNEMO_RECORD_LIST_OPTIONS_INIT;
            o.order = (mnemo_record_list_order)(u8(s) % 3);
            o.id_prefix = o.order == MNEMO_LIST_BY_ID && (u8(s) & 1) ? "n/" : NULL;
            o.limit = limit;
            o.cursor = cursor;
            rc = mnemo_record_list(&page, c->db, t, &o);
        }
        free(cursor);
        cursor = NULL;
        if (rc)
            break;
        if (page->next_cursor && !(cursor = strdup(page->next_cursor)))
            abort();
        mnemo_record_page_free(page);
        if (!cursor)
            break;
    }
    free(cursor);
    return rc;
}

static int op_graph_write(ctx *c, in *s)
{
    char fb[48], lb[48], tb[48], pb[48];
    mnemo_txn *t = maybe_txn(c, s);
    const char *from = POOL(s, fb, ids), *label = POOL(s, lb, labels), *to = POOL(s, tb, ids);
    if (u8(s) % 3) {
        mnemo_graph_edge e = {from, label, to, number(s), (u8(s) & 1) ? POOL(s, pb, json_texts) : NULL};
        return mnemo_graph_link(c->db, t, &e, u8(s) % 4);
    }
    return mnemo_graph_unlink(c->db, t, from, label, to);
}

static int visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)depth;
    (void)via_label;
    size_t *n = arg;
    if (!id || (depth && !via))
        abort();
    return ++*n > 50 ? 1 : 0;
}

static int op_graph_read(ctx *c, in *s)
{
    char ab[48], bb[48], lb[48];
    mnemo_txn *t = maybe_txn(c, s);
    const char *a = POOL(s, ab, ids);
    const char *label = (u8(s) & 1) ? POOL(s, lb, labels) : NULL;
    mnemo_direction dir = (mnemo_direction)(u8(s) % 4);
    switch (u8(s) % 5) {
    case 0: {
        mnemo_iter *it;
        int rc = mnemo_graph_neighbors(&it, c->db, t, a, dir, label, u8(s) % 3);
        if (rc)
            return rc;
        const mnemo_graph_neighbor *n;
        while ((rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &n)) == 0)
            if (!n->id || !n->label)
                abort();
        mnemo_iter_free(it);
        return rc == MNEMO_ITEROVER ? 0 : rc;
    }
    case 1: {
        uint64_t d;
        return mnemo_graph_degree(&d, c->db, t, a, dir, label);
    }
    case 2: {
        const char *starts[2] = {a, POOL(s, bb, ids)};
        mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
        o.dir = dir;
        o.label = label;
        o.max_depth = u8(s) % 4;
        o.max_nodes = u8(s) % 8;
        size_t n = 0;
        return mnemo_graph_traverse(c->db, t, starts, 1 + (u8(s) & 1), &o, visit, &n);
    }
    case 3: {
        mnemo_graph_path_options o = MNEMO_GRAPH_PATH_OPTIONS_INIT;
        o.dir = dir;
        o.label = label;
        o.weighted = u8(s) & 1;
        o.max_hops = u8(s) % 3;
        mnemo_graph_path *p = NULL;
        int rc = mnemo_graph_shortest_path(&p, c->db, t, a, POOL(s, bb, ids), &o);
        if (!rc && (!p->nodes[0] || !p->nodes[p->hops]))
            abort();
        mnemo_graph_path_free(p);
        return rc;
    }
    default: {
        mnemo_graph_edge *e = NULL;
        int rc = mnemo_graph_get(&e, c->db, t, a, label ? label : "knows", POOL(s, bb, ids));
        mnemo_graph_edge_free(e);
        return rc;
    }
    }
}

static int op_txn(ctx *c, in *s)
{
    unsigned what = u8(s) % 4;
    if (!c->txn)
        return mnemo_txn_begin(&c->txn, c->db, what == 0 ? MNEMO_TXN_READONLY : 0);
    int rc = what == 0 ? mnemo_txn_rollback(c->txn) : what == 1 ? 0 : mnemo_txn_commit(c->txn);
    if (rc == MNEMO_EBUSY)
        rc = 0; /* an auto-commit call of the same sequence wrote what the transaction read */
    mnemo_txn_free(c->txn);
    c->txn = NULL;
    return rc;
}

static int op_admin(ctx *c, in *s)
{
    char pb[48];
    switch (u8(s) % 5) {
    case 0: return mnemo_record_index_create(c->db, POOL(s, pb, paths));
    case 1: return mnemo_record_index_drop(c->db, POOL(s, pb, paths));
    case 2: {
        size_t n;
        return mnemo_record_purge_expired(c->db, &n);
    }
    case 3: return c->reopened++ ? 0 : mnemo_flush(c->db);
    default: { /* close and reopen: what was committed must come back */
        if (c->reopened++ || u8(s) != 255)
            return 0;
        mnemo_txn_free(c->txn);
        c->txn = NULL;
        int rc = mnemo_close(c->db);
        fz_check_rc(rc, "close");
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.cache_size = (u8(s) & 1) ? 1 << 16 : 0;
        if ((rc = mnemo_open(&c->db, c->path, &o)) != 0) {
            fprintf(stderr, "reopen: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
            abort();
        }
        return 0;
    }
    }
}

static int (*const ops[])(ctx *, in *) = {op_kv,         op_record_write, op_record_read, op_graph_write,
                                          op_graph_read, op_txn,          op_admin};
#define N_OPS (sizeof ops / sizeof ops[0])

static ctx the;

static void close_the(void) { mnemo_close(the.db); }

/* Removes every key, record (with its edges) and index, so each input starts from empty. */
static void wipe(mnemo_db *db)
{
    mnemo_iter *it;
    fz_check_rc(mnemo_kv_iter(&it, db, NULL, NULL), "wipe iter");
    while (mnemo_iter_next(it) == 0) {
        const void *k;
        size_t kl;
        mnemo_iter_key(it, &k, &kl);
        fz_check_rc(mnemo_kv_delete(db, NULL, k, kl), "wipe kv");
    }
    mnemo_iter_free(it);
    mnemo_record_page *page;
    fz_check_rc(mnemo_record_list(&page, db, NULL, NULL), "wipe list");
    for (size_t i = 0; i < page->count; i++)
        fz_check_rc(mnemo_record_delete(db, NULL, page->records[i].id), "wipe record");
    mnemo_record_page_free(page);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int rc = mnemo_record_index_drop(db, paths[i]);
        fz_check_rc(rc, "wipe index");
    }
    size_t purged;
    fz_check_rc(mnemo_record_purge_expired(db, &purged), "wipe purge");
    uint64_t edges = 0;
    fz_graph_check(db);
    if (mnemo_graph_check(db, &edges) || edges) {
        fprintf(stderr, "%llu edges left after deleting every record\n", (unsigned long long)edges);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ctx *cp = &the, c;
    if (!the.db) {
        snprintf(the.path, sizeof the.path, "%s/db", fz_scratch());
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.create_if_missing = 1;
        o.cache_size = 1 << 16;
        if (mnemo_open(&the.db, the.path, &o))
            abort();
        atexit(close_the);
    }
    wipe(the.db);
    c = *cp;
    c.reopened = 0;
    in s = {data, size};
    for (int steps = 0; s.n && steps < 200; steps++) {
        unsigned op = u8(&s) % N_OPS;
        int rc = ops[op](&c, &s);
        fz_check_rc(rc, "op");
    }
    mnemo_txn_free(c.txn);
    fz_graph_check(c.db);
    the.db = c.db; /* a reopen changed the handle */
    return 0;
}
