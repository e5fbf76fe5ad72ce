/* Reading adjacency: scans, the neighbour iterator, degree; removing a record's edges; check. */
#include <string.h>

#include "cache/cache.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/iter.h"
#include "graph/graph_impl.h"
#include "record/record.h"

/* An edge to a record that has an expiry needs a look at that record; all others are live. */
static int other_is_live(mnemo_db *db, mnemo_txn *txn, uint64_t other, const char *id, size_t len)
{
    if (!mnemo_record__may_expire(db, other))
        return 1;
    mnemo_record *r;
    if (mnemo_record__load(&r, db, txn, id, len, 0))
        return 0;
    int live = r->internal_id == other && !mnemo_record__is_expired(r, mnemo__now_ms());
    mnemo_record_free(r);
    return live;
}

/* Key range of a node's edges in one column family, optionally one label. */
static size_t prefix(unsigned char lo[12], unsigned char hi[12], uint64_t iid, uint32_t label, size_t *hi_len)
{
    mnemo__put_be64(lo, iid);
    size_t n = 8;
    if (label) {
        mnemo__put_be32(lo + 8, label);
        n = 12;
    }
    *hi_len = mnemo__prefix_successor(lo, n, hi);
    return n;
}

/* A node's whole adjacency in one direction, as cached: the other ends' internal ids apart (a
 * traversal tests them against its visited set without touching the rest: in a facebook 2-hop
 * most edges lead to a node already seen), entries, and the bytes the entries point into. */
typedef struct adj_entry {
    uint32_t label;
    double weight;
    size_t id_off, id_len, props_off, props_len;
} adj_entry;

typedef struct mnemo_graph_adj {
    size_t n, cap, bytes_len, bytes_cap;
    uint64_t *other; /* other[i] is entry e[i]'s other end */
    adj_entry *e;
    char *bytes;
} adj_list;

static void adj_free(void *p)
{
    adj_list *l = p;
    if (!l)
        return;
    mnemo__free(l->other);
    mnemo__free(l->e);
    mnemo__free(l->bytes);
    mnemo__free(l);
}

static int adj_append(adj_list *l, const unsigned char *k, const edge_value *ev)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        uint64_t *o = mnemo__realloc(l->other, cap * sizeof *o);
        if (o)
            l->other = o;
        adj_entry *e = o ? mnemo__realloc(l->e, cap * sizeof *e) : NULL;
        if (!e)
            return mnemo__err_nomem("adjacency");
        l->e = e;
        l->cap = cap;
    }
    l->other[l->n] = mnemo__get_be64(k + 12);
    size_t need = l->bytes_len + ev->other_id_len + ev->props_len;
    if (need > l->bytes_cap) {
        size_t cap = l->bytes_cap ? 2 * l->bytes_cap : 256;
        while (cap < need)
            cap *= 2;
        char *b = mnemo__realloc(l->bytes, cap);
        if (!b)
            return mnemo__err_nomem("adjacency");
        l->bytes = b;
        l->bytes_cap = cap;
    }
    adj_entry *e = &l->e[l->n++];
    e->label = mnemo__get_be32(k + 8);
    e->weight = ev->weight;
    e->id_off = l->bytes_len;
    e->id_len = ev->other_id_len;
    memcpy(l->bytes + l->bytes_len, ev->other_id, ev->other_id_len);
    l->bytes_len += ev->other_id_len;
    e->props_off = l->bytes_len;
    e->props_len = ev->props_len;
    if (ev->props_len)
        memcpy(l->bytes + l->bytes_len, ev->props, ev->props_len);
    l->bytes_len += ev->props_len;
    return 0;
}

/* Appends one stored edge (key k, value v) to l, unless the scratch's skip test drops it. */
static int list_edge(adj_list *l, mnemo_store_slice k, mnemo_store_slice v, mnemo_direction dir,
                     const mnemo_graph_scratch *sc)
{
    const unsigned char *kb = k.data;
    edge_value ev;
    if (k.len != EDGE_KEY_LEN || (sc && sc->skip && sc->skip(sc->skip_arg, mnemo__get_be64(kb + 12))))
        return 0;
    int rc = mnemo_graph__decode_value(&ev, v.data, v.len, k.data, dir == MNEMO_DIR_OUT);
    return rc ? rc : adj_append(l, kb, &ev);
}

#define READ_RUN 64 /* edges a list read takes from the engine at once */

/* Reads every edge of iid in one direction (label 0) or one label's, straight from the store: in
 * runs where the engine lends them (a read outside a transaction), else one move at a time. */
static int read_list(adj_list *l, mnemo_db *db, mnemo_txn *txn, uint64_t iid, mnemo_direction dir, uint32_t label,
                     const mnemo_graph_scratch *sc)
{
    unsigned char lo[12], hi[12];
    size_t hl, ll = prefix(lo, hi, iid, label, &hl);
    mnemo_cf cf = dir == MNEMO_DIR_OUT ? MNEMO_CF_GRAPH_FORWARD : MNEMO_CF_GRAPH_BACKWARD;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, cf, lo, ll, hl ? hi : NULL, hl);
    if (rc)
        return rc;
    mnemo_store_slice ks[READ_RUN], vs[READ_RUN];
    mnemo_cursor__first(c);
    while (!rc && mnemo_cursor__valid(c)) {
        size_t n = mnemo_cursor__run(c, ks, vs, READ_RUN);
        for (size_t i = 0; i < n && !rc; i++)
            rc = list_edge(l, ks[i], vs[i], dir, sc);
        if (n == 0) {
            ks[0].data = mnemo_cursor__key(c, &ks[0].len);
            vs[0].data = mnemo_cursor__value(c, &vs[0].len);
            rc = list_edge(l, ks[0], vs[0], dir, sc);
            mnemo_cursor__next(c);
        }
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "graph scan");
    mnemo_cursor__close(c);
    return rc;
}

size_t mnemo_graph__adj_cache_key(unsigned char out[10], uint64_t iid, mnemo_direction dir)
{
    out[0] = 'g';
    mnemo__put_be64(out + 1, iid);
    out[9] = dir == MNEMO_DIR_OUT ? 'o' : 'i';
    return 10;
}

static int scan_one(mnemo_graph_scratch *sc, mnemo_db *db, mnemo_txn *txn, uint64_t iid, mnemo_direction dir,
                    uint32_t label, mnemo_graph_edge_fn cb, void *arg)
{
    /* Outside transactions the whole list per direction comes from (and goes to) the cache;
     * a transaction reads its snapshot and own writes, which the shared cache does not hold. */
    struct mnemo_cache *cache = txn ? NULL : mnemo_db__cache_read(db);
    unsigned char ck[10];
    size_t ckl = mnemo_graph__adj_cache_key(ck, iid, dir);
    mnemo_cache_handle *h = cache ? mnemo_cache__lookup(cache, ck, ckl) : NULL;
    adj_list *l = h ? mnemo_cache__value(h) : NULL;
    adj_list *own = NULL;
    int rc = 0;
    if (!l) {
        uint64_t epoch = cache ? mnemo_cache__epoch(cache, ck, ckl) : 0;
        if (sc && sc->list) { /* the run's buffer, taken while this scan uses it */
            own = sc->list;
            sc->list = NULL;
            own->n = own->bytes_len = 0;
        } else if (!(own = mnemo__calloc(1, sizeof *own)))
            return mnemo__err_nomem("adjacency");
        if ((rc = read_list(own, db, txn, iid, dir, cache ? 0 : label, cache ? NULL : sc)) != 0) {
            adj_free(own);
            return rc;
        }
        l = own;
        if (cache) {
            adj_list *copy = mnemo__calloc(1, sizeof *copy);
            int ok = copy && (!own->n || ((copy->other = mnemo__malloc(own->n * sizeof *copy->other)) &&
                                          (copy->e = mnemo__malloc(own->n * sizeof *copy->e)) &&
                                          (!own->bytes_len || (copy->bytes = mnemo__malloc(own->bytes_len)))));
            if (ok) {
                copy->n = copy->cap = own->n;
                copy->bytes_len = copy->bytes_cap = own->bytes_len;
                if (own->n) {
                    memcpy(copy->other, own->other, own->n * sizeof *copy->other);
                    memcpy(copy->e, own->e, own->n * sizeof *copy->e);
                }
                if (own->bytes_len)
                    memcpy(copy->bytes, own->bytes, own->bytes_len);
                mnemo_cache__insert(cache, ck, ckl, copy,
                                    sizeof *copy + copy->n * (sizeof *copy->other + sizeof *copy->e) + copy->bytes_len,
                                    adj_free, epoch);
            } else {
                adj_free(copy); /* no room: just not cached */
            }
        }
    }
    /* asked once per scan, not per edge: most databases have no record with an expiry */
    int any_expiring = mnemo_record__any_expiring(db);
    /* a list read for this scan alone has already dropped what skip drops; a cached one has not */
    int (*skip)(void *, uint64_t) = sc && (cache || !own) ? sc->skip : NULL;
    for (size_t i = 0; i < l->n && !rc; i++) {
        if (skip && skip(sc->skip_arg, l->other[i]))
            continue;
        const adj_entry *e = &l->e[i];
        if (label && e->label != label)
            continue;
        mnemo_graph_edge_view v = {l->other[i], e->label, dir, e->weight, l->bytes + e->id_off, e->id_len,
                                   l->bytes + e->props_off, e->props_len};
        if (!any_expiring || other_is_live(db, txn, v.other, v.other_id, v.other_id_len))
            rc = cb(arg, &v);
    }
    if (h)
        mnemo_cache__release(cache, h);
    if (own && sc && !sc->list)
        sc->list = own; /* kept for the run's next scan */
    else
        adj_free(own);
    return rc;
}

int mnemo_graph__scan_with(mnemo_graph_scratch *sc, mnemo_db *db, mnemo_txn *txn, uint64_t iid,
                           mnemo_direction dir, uint32_t label, mnemo_graph_edge_fn cb, void *arg)
{
    int rc = 0;
    if (dir & MNEMO_DIR_OUT)
        rc = scan_one(sc, db, txn, iid, MNEMO_DIR_OUT, label, cb, arg);
    if (!rc && (dir & MNEMO_DIR_IN))
        rc = scan_one(sc, db, txn, iid, MNEMO_DIR_IN, label, cb, arg);
    return rc; /* 1 when cb stopped the scan */
}

int mnemo_graph__scan(mnemo_db *db, mnemo_txn *txn, uint64_t iid, mnemo_direction dir, uint32_t label,
                      mnemo_graph_edge_fn cb, void *arg)
{
    return mnemo_graph__scan_with(NULL, db, txn, iid, dir, label, cb, arg);
}

void mnemo_graph__scratch_free(mnemo_graph_scratch *sc)
{
    if (!sc)
        return;
    adj_free(sc->list);
    sc->list = NULL;
}

/* ---- a record's edges go with it ---- */

typedef struct key_list {
    unsigned char (*keys)[EDGE_KEY_LEN];
    size_t n, cap;
} key_list;

static int collect_keys(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, uint64_t iid, key_list *out)
{
    unsigned char lo[12], hi[12];
    size_t hl, ll = prefix(lo, hi, iid, 0, &hl);
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, cf, lo, ll, hl ? hi : NULL, hl);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const void *k = mnemo_cursor__key(c, &kl);
        if (kl != EDGE_KEY_LEN)
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 64;
            void *p = mnemo__realloc(out->keys, cap * EDGE_KEY_LEN);
            if (!p) {
                rc = mnemo__err_nomem("graph");
                break;
            }
            out->keys = p;
            out->cap = cap;
        }
        memcpy(out->keys[out->n++], k, EDGE_KEY_LEN);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "graph");
    mnemo_cursor__close(c);
    return rc;
}

/* Deletes the listed keys of cf and each one's twin in the other family. */
static int delete_with_twins(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const key_list *l)
{
    mnemo_cf twin_cf = cf == MNEMO_CF_GRAPH_FORWARD ? MNEMO_CF_GRAPH_BACKWARD : MNEMO_CF_GRAPH_FORWARD;
    int rc = 0;
    for (size_t i = 0; i < l->n && !rc; i++) {
        const unsigned char *k = l->keys[i];
        unsigned char twin[EDGE_KEY_LEN];
        mnemo_graph__edge_key(twin, mnemo__get_be64(k + 12), mnemo__get_be32(k + 8), mnemo__get_be64(k));
        rc = mnemo_txn__delete(db, txn, cf, k, EDGE_KEY_LEN);
        if (!rc)
            rc = mnemo_txn__delete(db, txn, twin_cf, twin, EDGE_KEY_LEN);
        if (!rc) /* forward key: from = k[0..8); backward key: from = twin[0..8) */
            rc = cf == MNEMO_CF_GRAPH_FORWARD ? mnemo_graph__forget_edge(txn, mnemo__get_be64(k), mnemo__get_be64(twin))
                                              : mnemo_graph__forget_edge(txn, mnemo__get_be64(twin), mnemo__get_be64(k));
    }
    return rc;
}

static int on_record_delete(mnemo_db *db, mnemo_txn *txn, uint64_t iid, const char *id)
{
    (void)id;
    key_list out = {0}, in = {0};
    int rc = collect_keys(db, txn, MNEMO_CF_GRAPH_FORWARD, iid, &out);
    if (!rc)
        rc = collect_keys(db, txn, MNEMO_CF_GRAPH_BACKWARD, iid, &in);
    if (!rc)
        rc = delete_with_twins(db, txn, MNEMO_CF_GRAPH_FORWARD, &out);
    if (!rc)
        rc = delete_with_twins(db, txn, MNEMO_CF_GRAPH_BACKWARD, &in);
    mnemo__free(out.keys);
    mnemo__free(in.keys);
    return rc;
}

static const mnemo_record_listener record_listener = {.on_delete = on_record_delete};

int mnemo_graph__open(mnemo_db *db) { return mnemo_record__listen(db, &record_listener); }

/* ---- neighbours, materialised per call so the iterator never holds RocksDB objects ---- */

typedef struct nb_entry {
    mnemo_graph_neighbor pub;
    char *mem; /* id, label and props in one allocation */
} nb_entry;

/* Tells the iterators made in one transaction that it ended: registered once per transaction as
 * an after-hook, shared with the iterators (which may outlive the transaction handle), freed by
 * whichever lets go last. Iterators made without a transaction share one per database instead,
 * ended by mnemo_close (a module state): the closed handle's memory may be reused by a later open,
 * so checking the handle would not do. */
typedef struct txn_alive {
    atomic_int ended;
    atomic_size_t refs;
    const char *why; /* for messages: what ended */
} txn_alive;

static const char alive_owner = 0;

static void alive_release(txn_alive *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1)
        mnemo__free(a);
}

static void alive_after(mnemo_txn *txn, void *arg, int committed)
{
    (void)txn;
    (void)committed;
    txn_alive *a = arg;
    atomic_store(&a->ended, 1);
    alive_release(a);
}

/* The transaction's token with a reference for the caller. */
static int alive_token(txn_alive **out, mnemo_txn *txn)
{
    txn_alive *a = mnemo_txn__hook_arg(txn, NULL, &alive_owner);
    if (!a) {
        if (!(a = mnemo__calloc(1, sizeof *a)))
            return mnemo__err_nomem("mnemo_graph_neighbors");
        atomic_init(&a->refs, 1);
        a->why = "its transaction ended";
        mnemo_txn_hook hook = {&alive_owner, NULL, alive_after, a, NULL};
        int rc = mnemo_txn__add_hook(txn, &hook);
        if (rc) {
            mnemo__free(a);
            return rc;
        }
    }
    atomic_fetch_add(&a->refs, 1);
    *out = a;
    return 0;
}

static int db_alive_init(mnemo_db *db, void **state)
{
    (void)db;
    txn_alive *a = mnemo__calloc(1, sizeof *a);
    if (!a)
        return mnemo__err_nomem("mnemo_graph_neighbors");
    atomic_init(&a->refs, 1);
    a->why = "its database was closed";
    *state = a;
    return 0;
}

static void db_alive_destroy(mnemo_db *db, void *state)
{
    (void)db;
    txn_alive *a = state;
    atomic_store(&a->ended, 1);
    alive_release(a);
}

static const mnemo_module_ops db_alive_module = {db_alive_init, db_alive_destroy};

/* The database's token with a reference for the caller. */
static int db_alive_token(txn_alive **out, mnemo_db *db)
{
    void *p;
    int rc = mnemo_db__module(&p, db, &db_alive_module);
    if (rc)
        return rc;
    txn_alive *a = p;
    atomic_fetch_add(&a->refs, 1);
    *out = a;
    return 0;
}

/* A neighbour iterator: the neighbours are read when it is made. */
typedef struct nb_iter {
    mnemo_iter base;
    nb_entry *items;
    size_t n, cap, pos;
    txn_alive *alive; /* the transaction's token, or the database's without one */
} nb_iter;

typedef struct nb_ctx {
    mnemo_db *db;
    mnemo_txn *txn;
    nb_iter *it;
    size_t limit;
} nb_ctx;

/* The name of collection cid (0: the default one), from its registry entry (core/keys.h). */
static int collection_name(char **out, mnemo_db *db, mnemo_txn *txn, uint32_t cid)
{
    if (!cid) {
        *out = mnemo__memdup("default", 7);
        return *out ? 0 : mnemo__err_nomem("mnemo_graph_neighbors");
    }
    unsigned char k[6] = {MNEMO_MK_COLLECTION, MNEMO_COLL_BY_ID};
    mnemo__put_be32(k + 2, cid);
    size_t n;
    int rc = mnemo_txn__get_sealed(out, &n, db, txn, MNEMO_CF_METADATA, k, sizeof k, 0, "a collection's name (metadata)");
    return rc;
}

static int collect_neighbor(void *arg, const mnemo_graph_edge_view *e)
{
    nb_ctx *ctx = arg;
    nb_iter *it = ctx->it;
    if (ctx->limit && it->n >= ctx->limit)
        return 1; /* enough: stops the scan */
    if (it->n == it->cap) {
        size_t cap = it->cap ? 2 * it->cap : 16;
        nb_entry *p = mnemo__realloc(it->items, cap * sizeof *p);
        if (!p)
            return mnemo__err_nomem("mnemo_graph_neighbors");
        it->items = p;
        it->cap = cap;
    }
    const char *label = mnemo_graph__label_name(ctx->db, ctx->txn, e->label);
    if (!label)
        return mnemo__err(MNEMO_ECORRUPT, "graph: label id %u of an edge is not in the dictionary", e->label);
    size_t ll = strlen(label);
    const char *id = e->other_id;
    size_t il = e->other_id_len;
    char *coll = NULL;
    size_t cl = 0;
    if (mnemo_graph__qualified(id, il)) { /* an edge into another collection: name it */
        int rc = collection_name(&coll, ctx->db, ctx->txn, mnemo__get_be32((const unsigned char *)id + 1));
        if (rc == MNEMO_ENOTFOUND) /* a dropped collection's record: gone, its edges soon too */
            return 0;
        if (rc)
            return rc;
        cl = strlen(coll) + 1;
        id += MNEMO_GRAPH_QUALIFIER_LEN;
        il -= MNEMO_GRAPH_QUALIFIER_LEN;
    }
    char *mem = mnemo__malloc(il + 1 + ll + 1 + e->props_len + 1 + cl);
    if (!mem) {
        mnemo__free(coll);
        return mnemo__err_nomem("mnemo_graph_neighbors");
    }
    nb_entry *n = &it->items[it->n++];
    memcpy(mem, id, il);
    mem[il] = '\0';
    char *lp = mem + il + 1;
    memcpy(lp, label, ll + 1);
    char *pp = lp + ll + 1;
    if (e->props_len)
        memcpy(pp, e->props, e->props_len);
    pp[e->props_len] = '\0';
    n->pub.collection = NULL;
    if (coll) {
        n->pub.collection = pp + e->props_len + 1;
        memcpy(pp + e->props_len + 1, coll, cl);
        mnemo__free(coll);
    }
    n->mem = mem;
    n->pub.id = mem;
    n->pub.label = lp;
    n->pub.weight = e->weight;
    n->pub.props = e->props_len ? pp : NULL;
    n->pub.direction = e->dir;
    return 0;
}

static void nb_iter_free(mnemo_iter *base)
{
    nb_iter *it = (nb_iter *)base;
    for (size_t i = 0; i < it->n; i++)
        mnemo__free(it->items[i].mem);
    mnemo__free(it->items);
    alive_release(it->alive);
    mnemo__free(it);
}

static int check_dir(const char *fn, mnemo_direction dir)
{
    if (dir != MNEMO_DIR_OUT && dir != MNEMO_DIR_IN && dir != MNEMO_DIR_BOTH)
        return mnemo__err(MNEMO_EINVAL, "%s: direction %d is not MNEMO_DIR_OUT, _IN or _BOTH", fn, (int)dir);
    return 0;
}

/* Resolves the node and the optional label filter. *label_id 0 with rc 1: the label does not
 * exist, so there are no edges. */
static int node_and_label(uint64_t *iid, uint32_t *label_id, mnemo_db *db, mnemo_txn *txn, const char *id,
                          const char *label, const char *fn)
{
    if (!id || !*id)
        return mnemo__err(MNEMO_EINVAL, "%s: id is %s", fn, id ? "empty" : "NULL");
    if (label && (!*label || strnlen(label, MNEMO_LABEL_MAX + 1) > MNEMO_LABEL_MAX))
        return mnemo__err(MNEMO_EINVAL, "%s: label must be 1..%u bytes (pass NULL for every label)", fn,
                          MNEMO_LABEL_MAX);
    int rc = mnemo_record__resolve(iid, db, txn, id);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no record '%s'", fn, id);
    if (rc)
        return rc;
    *label_id = 0;
    if (label) {
        rc = mnemo_graph__label_id(label_id, db, txn, label, 0);
        if (rc == MNEMO_ENOTFOUND)
            return 1;
    }
    return rc;
}

/* Checks shared by neighbours and degree; returns node_and_label's result (1: unknown label). */
static int read_call(mnemo_guard *guard, uint64_t *iid, uint32_t *lid, const void *out, mnemo_db *db,
                     mnemo_txn *txn, const char *id, mnemo_direction dir, const char *label, const char *fn)
{
    int rc = mnemo_guard__txn(guard, db, txn, fn);
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    if (!rc)
        rc = check_dir(fn, dir);
    return rc ? rc : node_and_label(iid, lid, db, txn, id, label, fn);
}

/* On the neighbour the last mnemo_iter_next moved to; pos counts the entries handed out. */
static int nb_iter_next(mnemo_iter *base)
{
    nb_iter *it = (nb_iter *)base;
    if (atomic_load(&it->alive->ended))
        return mnemo__err(MNEMO_EINVAL, "mnemo_iter_next: iterator is invalid (%s)", it->alive->why);
    if (it->pos >= it->n) {
        it->pos = it->n + 1; /* past the end: no current neighbour */
        return MNEMO_ITEROVER;
    }
    it->pos++;
    return 0;
}

static const mnemo_iter_ops nb_iter_ops = {"neighbour", nb_iter_next, NULL, NULL, NULL, nb_iter_free};

int mnemo_iter_neighbor(mnemo_iter *base, const mnemo_graph_neighbor **n)
{
    static const char fn[] = "mnemo_iter_neighbor";
    if (!base || !n)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, base ? "n" : "iterator");
    if (base->ops != &nb_iter_ops)
        return mnemo__err(MNEMO_EINVAL, "%s: a %s iterator has no neighbours", fn, base->ops->kind);
    nb_iter *it = (nb_iter *)base;
    if (atomic_load(&it->alive->ended))
        return mnemo__err(MNEMO_EINVAL, "%s: iterator is invalid (%s)", fn, it->alive->why);
    if (it->pos == 0 || it->pos > it->n)
        return mnemo__err(MNEMO_EINVAL, "%s: iterator is not on a neighbour (call mnemo_iter_next)", fn);
    *n = &it->items[it->pos - 1].pub;
    return 0;
}

int mnemo_graph_neighbors(mnemo_iter **out, mnemo_db *db, mnemo_txn *txn, const char *id, mnemo_direction dir,
                          const char *label, size_t limit)
{
    static const char fn[] = "mnemo_graph_neighbors";
    uint64_t iid;
    uint32_t lid;
    MNEMO_GUARD(guard);
    int rc = read_call(&guard, &iid, &lid, out, db, txn, id, dir, label, fn);
    if (rc < 0)
        return rc;
    nb_iter *it = mnemo__calloc(1, sizeof *it);
    if (!it)
        return mnemo__err_nomem(fn);
    it->base.ops = &nb_iter_ops;
    int ta = txn ? alive_token(&it->alive, txn) : db_alive_token(&it->alive, db);
    if (ta) {
        mnemo__free(it);
        return ta;
    }
    if (rc == 0) {
        nb_ctx ctx = {db, txn, it, limit};
        rc = mnemo_graph__scan(db, txn, iid, dir, lid, collect_neighbor, &ctx);
        if (rc == 1)
            rc = 0;
    } else {
        rc = 0;
    }
    if (rc) {
        nb_iter_free(&it->base);
        return rc;
    }
    *out = &it->base;
    return 0;
}

static int count_edge(void *arg, const mnemo_graph_edge_view *e)
{
    (void)e;
    (*(uint64_t *)arg)++;
    return 0;
}

int mnemo_graph_degree(uint64_t *out, mnemo_db *db, mnemo_txn *txn, const char *id, mnemo_direction dir,
                       const char *label)
{
    static const char fn[] = "mnemo_graph_degree";
    uint64_t iid;
    uint32_t lid;
    MNEMO_GUARD(guard);
    int rc = read_call(&guard, &iid, &lid, out, db, txn, id, dir, label, fn);
    if (rc < 0)
        return rc;
    uint64_t n = 0;
    if (rc == 0 && (rc = mnemo_graph__scan(db, txn, iid, dir, lid, count_edge, &n)) != 0)
        return rc;
    *out = n;
    return 0;
}

/* ---- check: every edge has its twin, the same value, and live-or-stored endpoints ---- */

static int check_family(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, uint64_t *count)
{
    int forward = cf == MNEMO_CF_GRAPH_FORWARD;
    mnemo_cf twin_cf = forward ? MNEMO_CF_GRAPH_BACKWARD : MNEMO_CF_GRAPH_FORWARD;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, cf, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const char *v = mnemo_cursor__value(c, &vl);
        unsigned long long a = kl == EDGE_KEY_LEN ? (unsigned long long)mnemo__get_be64(k) : 0;
        unsigned long long b = kl == EDGE_KEY_LEN ? (unsigned long long)mnemo__get_be64(k + 12) : 0;
        unsigned lab = kl == EDGE_KEY_LEN ? (unsigned)mnemo__get_be32(k + 8) : 0;
        if (kl != EDGE_KEY_LEN) {
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: a %s key has %zu bytes, not %d", forward ? "forward" : "backward",
                            kl, EDGE_KEY_LEN);
            break;
        }
        /* an edge whose from end is another collection's is checked from there */
        int mine = mnemo_record__in_collection(db, txn, forward ? a : b);
        if (mine == 0)
            continue;
        if (lab == 0 || lab > MNEMO_GRAPH_LABEL_ID_MAX) {
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: %s edge %llu -[%u]-> %llu has a label id outside 1..%u",
                            forward ? "forward" : "backward", a, lab, b, MNEMO_GRAPH_LABEL_ID_MAX);
            break;
        }
        edge_value ev, tv;
        if ((rc = mnemo_graph__decode_value(&ev, v, vl, k, forward)) != 0)
            break;
        unsigned char twin[EDGE_KEY_LEN];
        mnemo_graph__edge_key(twin, b, lab, a);
        char *tval;
        size_t tl;
        rc = mnemo_txn__get(&tval, &tl, db, txn, twin_cf, twin, sizeof twin, 0);
        if (rc == MNEMO_ENOTFOUND) {
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: %s edge %llu -[%u]-> %llu has no %s twin",
                            forward ? "forward" : "backward", a, lab, b, forward ? "backward" : "forward");
            break;
        }
        if (rc)
            break;
        if ((rc = mnemo_graph__decode_value(&tv, tval, tl, twin, !forward)) == 0 &&
            (tv.weight != ev.weight || tv.props_len != ev.props_len || memcmp(tv.props, ev.props, ev.props_len)))
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: edge %llu -[%u]-> %llu differs between its two directions",
                            a, lab, b);
        /* each value names the other endpoint: it must be the record that has that internal id */
        char *other = NULL;
        uint32_t other_coll = 0;
        if (!rc && (rc = mnemo_record__owner(&other, &other_coll, db, txn, b)) == MNEMO_ENOTFOUND)
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: edge %llu -[%u]-> %llu points to a record that does not exist",
                            a, lab, b);
        /* in the reader's collection the id is plain; in another it carries that collection */
        const char *named = ev.other_id;
        size_t named_len = ev.other_id_len;
        uint32_t named_coll = mnemo_db__collection_id(db);
        if (mnemo_graph__qualified(named, named_len)) {
            named_coll = mnemo__get_be32((const unsigned char *)named + 1);
            named += MNEMO_GRAPH_QUALIFIER_LEN;
            named_len -= MNEMO_GRAPH_QUALIFIER_LEN;
        }
        if (!rc && (other_coll != named_coll || strlen(other) != named_len || memcmp(other, named, named_len)))
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: edge %llu -[%u]-> %llu names record '%.*s' of collection %u "
                            "but id %llu is '%s' of collection %u", a, lab, b, (int)named_len, named,
                            (unsigned)named_coll, b, other, (unsigned)other_coll);
        mnemo__free(other);
        mnemo__free(tval);
        if (!rc)
            (*count)++;
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_graph_check");
    mnemo_cursor__close(c);
    return rc;
}

/* Every label dictionary entry ('l' id) has an id the allocator could have given. */
static int check_labels(mnemo_db *db, mnemo_txn *txn)
{
    unsigned char lo = MNEMO_MK_LABEL_ID, hi = MNEMO_MK_LABEL_ID + 1;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_METADATA, &lo, 1, &hi, 1);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        uint32_t id = kl == 5 ? mnemo__get_be32(k + 1) : 0;
        if (id == 0 || id > MNEMO_GRAPH_LABEL_ID_MAX)
            rc = mnemo__err(MNEMO_ECORRUPT, "graph check: label dictionary entry with id %u outside 1..%u",
                            (unsigned)id, MNEMO_GRAPH_LABEL_ID_MAX);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_graph_check");
    mnemo_cursor__close(c);
    return rc;
}

int mnemo_graph_check(mnemo_db *db, uint64_t *edges)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, NULL, "mnemo_graph_check");
    if (rc)
        return rc;
    mnemo_txn *snap; /* both families and the records from one consistent state */
    if ((rc = mnemo_txn_begin(&snap, db, MNEMO_TXN_READONLY)) != 0)
        return rc;
    uint64_t fwd = 0, bwd = 0;
    rc = check_labels(db, snap);
    if (!rc)
        rc = check_family(db, snap, MNEMO_CF_GRAPH_FORWARD, &fwd);
    if (!rc)
        rc = check_family(db, snap, MNEMO_CF_GRAPH_BACKWARD, &bwd);
    mnemo_txn_free(snap);
    if (!rc && fwd != bwd)
        rc = mnemo__err(MNEMO_ECORRUPT, "graph check: %llu forward edges but %llu backward", (unsigned long long)fwd,
                        (unsigned long long)bwd);
    if (!rc && edges)
        *edges = fwd;
    return rc;
}
