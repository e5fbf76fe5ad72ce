/* Edges: labels, the stored value, link / unlink / get, and the per-database graph state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/keys.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/json.h"
#include "graph/graph_impl.h"
#include "record/record.h"
#include "txn/idalloc.h"

#define VALUE_VERSION 1
/* Label ids are claimed one at a time inside the transaction that creates the label (txn/idalloc.h):
 * a rollback gives the id back, and two transactions creating labels conflict on the counter, so
 * two processes never hand out the same id. (Its key held the end of a 64-id block before, which
 * is >= every id used, so older databases go on from there.) */
static const mnemo_idcounter label_counter = {MNEMO_MKEY_LABEL_HWM, 4, MNEMO_GRAPH_LABEL_ID_MAX, "label ids"};

/* ---- state: the committed labels, in memory proportional to their number ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* Caller holds st->lock. *entry = the entry index of name, or (size_t)-1; returns its slot or
 * the empty slot where it would go. */
static size_t name_slot(const graph_state *st, const char *name, size_t *entry)
{
    size_t j = hash_str(name) & (st->n_slots - 1);
    for (; st->slots[j]; j = (j + 1) & (st->n_slots - 1))
        if (!strcmp(st->labels[st->slots[j] - 1].name, name)) {
            *entry = st->slots[j] - 1;
            return j;
        }
    *entry = (size_t)-1;
    return j;
}

/* Caller holds st->lock. Adds a committed label (a no-op when its id is known). */
static int names_put(graph_state *st, uint32_t id, const char *name)
{
    if (mnemo_u64map__get(&st->by_id, id, NULL))
        return 0;
    if ((st->n_labels + 1) * 2 > st->n_slots) {
        size_t ns = st->n_slots ? 2 * st->n_slots : 64;
        uint32_t *slots = mnemo__calloc(ns, sizeof *slots);
        if (!slots)
            return mnemo__err_nomem("labels");
        for (size_t i = 0; i < st->n_slots; i++)
            if (st->slots[i]) {
                size_t j = hash_str(st->labels[st->slots[i] - 1].name) & (ns - 1);
                while (slots[j])
                    j = (j + 1) & (ns - 1);
                slots[j] = st->slots[i];
            }
        mnemo__free(st->slots);
        st->slots = slots;
        st->n_slots = ns;
    }
    if (mnemo__grow(&st->labels, &st->cap_labels, st->n_labels + 1, sizeof *st->labels, 16))
        return mnemo__err_nomem("labels");
    char *copy = mnemo__memdup(name, strlen(name));
    if (!copy)
        return mnemo__err_nomem("labels");
    if (mnemo_u64map__add(&st->by_id, id, st->n_labels) < 0) {
        mnemo__free(copy);
        return mnemo__err_nomem("labels");
    }
    size_t entry;
    size_t j = name_slot(st, name, &entry);
    st->labels[st->n_labels].id = id;
    st->labels[st->n_labels].name = copy;
    st->slots[j] = (uint32_t)++st->n_labels;
    return 0;
}

static uint32_t names_find(graph_state *st, const char *name)
{
    size_t entry;
    if (!st->n_slots)
        return 0;
    name_slot(st, name, &entry);
    return entry == (size_t)-1 ? 0 : st->labels[entry].id;
}

static const char *names_of(graph_state *st, uint32_t id)
{
    size_t entry;
    return mnemo_u64map__get(&st->by_id, id, &entry) ? st->labels[entry].name : NULL;
}

static void state_free(graph_state *st)
{
    for (size_t i = 0; i < st->n_labels; i++)
        mnemo__free(st->labels[i].name);
    mnemo__free(st->labels);
    mnemo__free(st->slots);
    mnemo_u64map__free(&st->by_id);
    pthread_mutex_destroy(&st->lock);
    mnemo__free(st);
}

/* Loads the committed labels. */
static int state_init(mnemo_db *db, void **out)
{
    graph_state *st = mnemo__calloc(1, sizeof *st);
    if (!st)
        return mnemo__err_nomem("graph");
    pthread_mutex_init(&st->lock, NULL);
    unsigned char lo = MNEMO_MK_LABEL_ID, hi = MNEMO_MK_LABEL_ID + 1;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_METADATA, &lo, 1, &hi, 1);
    if (!rc) {
        for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
            size_t kl, vl;
            const unsigned char *k = mnemo_cursor__key(c, &kl);
            const char *raw = mnemo_cursor__value(c, &vl), *name = NULL;
            size_t rl = vl;
            char buf[MNEMO_LABEL_MAX + 1];
            if ((rc = mnemo_txn__unseal(raw, rl, &name, &vl, "a label dictionary entry (metadata)")) != 0)
                break;
            uint32_t id = kl == 5 ? mnemo__get_be32(k + 1) : 0;
            if (vl == 0 || vl > MNEMO_LABEL_MAX || id == 0 || id > MNEMO_GRAPH_LABEL_ID_MAX) {
                rc = mnemo__err(MNEMO_ECORRUPT, "graph: label dictionary entry (id %u) is damaged", (unsigned)id);
                break;
            }
            memcpy(buf, name, vl);
            buf[vl] = '\0';
            rc = names_put(st, id, buf);
        }
        if (!rc)
            rc = mnemo_cursor__status(c, "graph");
        mnemo_cursor__close(c);
    }
    if (rc) {
        state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static void state_destroy(mnemo_db *db, void *p)
{
    (void)db;
    state_free(p);
}

static const mnemo_module_ops graph_module = {state_init, state_destroy};

int mnemo_graph__state(graph_state **st, mnemo_db *db)
{
    void *p;
    int rc = mnemo_db__module(&p, db, &graph_module);
    if (!rc)
        *st = p;
    return rc;
}

/* ---- labels ---- */

typedef struct label_hook {
    graph_state *st;
    uint32_t id;
    char name[MNEMO_LABEL_MAX + 1];
} label_hook;

/* A label becomes usable without a read only once its creation committed. */
static void label_after(mnemo_txn *txn, void *arg, int committed)
{
    (void)txn;
    label_hook *h = arg;
    if (committed) {
        pthread_mutex_lock(&h->st->lock);
        names_put(h->st, h->id, h->name);
        pthread_mutex_unlock(&h->st->lock);
    }
    mnemo__free(h);
}

int mnemo_graph__set_next_label(mnemo_db *db, uint32_t next)
{
    return mnemo_idalloc__set(db, NULL, &label_counter, next);
}

int mnemo_graph__label_id(uint32_t *id, mnemo_db *db, mnemo_txn *txn, const char *label, int create)
{
    graph_state *st;
    int rc = mnemo_graph__state(&st, db);
    if (rc)
        return rc;
    pthread_mutex_lock(&st->lock);
    uint32_t found = names_find(st, label);
    pthread_mutex_unlock(&st->lock);
    if (found) { /* committed labels never change */
        *id = found;
        return 0;
    }
    unsigned char key[1 + MNEMO_LABEL_MAX];
    size_t ll = strnlen(label, MNEMO_LABEL_MAX + 1);
    if (ll == 0 || ll > MNEMO_LABEL_MAX)
        return mnemo__err(MNEMO_EINVAL, "label must be 1..%u bytes", MNEMO_LABEL_MAX);
    key[0] = MNEMO_MK_LABEL;
    memcpy(key + 1, label, ll);
    char *v;
    size_t n;
    rc = mnemo_txn__get_sealed(&v, &n, db, txn, MNEMO_CF_METADATA, key, 1 + ll, 1, "a label dictionary entry (metadata)");
    if (rc == 0) {
        if (n != 4)
            rc = mnemo__err(MNEMO_ECORRUPT, "graph: label '%s' in the dictionary is damaged", label);
        else
            *id = mnemo__get_be32((unsigned char *)v);
        mnemo__free(v);
        return rc;
    }
    if (rc != MNEMO_ENOTFOUND || !create)
        return rc;
    if (!txn)
        return mnemo__err(MNEMO_EINVAL, "graph: a label is created only inside a transaction");
    /* New label: both dictionary keys in this txn; two txns creating it conflict on 'L' label. */
    uint64_t first;
    if ((rc = mnemo_idalloc__claim(&first, db, txn, &label_counter, 1)) != 0)
        return rc != MNEMO_EFULL ? rc
                                 : mnemo__err(rc, "graph: cannot create label '%s': the database has used all %u label ids",
                                              label, MNEMO_GRAPH_LABEL_ID_MAX);
    uint32_t nid = (uint32_t)first;
    unsigned char ikey[5], ival[4];
    ikey[0] = MNEMO_MK_LABEL_ID;
    mnemo__put_be32(ikey + 1, nid);
    mnemo__put_be32(ival, nid);
    if ((rc = mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, key, 1 + ll, ival, 4)) != 0 ||
        (rc = mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, ikey, 5, label, ll)) != 0)
        return rc;
    label_hook *h = mnemo__calloc(1, sizeof *h);
    if (!h)
        return mnemo__err_nomem("graph");
    h->st = st;
    h->id = nid;
    memcpy(h->name, label, ll + 1);
    mnemo_txn_hook hook = {h, NULL, label_after, h, NULL};
    if ((rc = mnemo_txn__add_hook(txn, &hook)) != 0) {
        mnemo__free(h);
        return rc;
    }
    *id = nid;
    return 0;
}

const char *mnemo_graph__label_name(mnemo_db *db, mnemo_txn *txn, uint32_t id)
{
    graph_state *st;
    if (mnemo_graph__state(&st, db))
        return NULL;
    pthread_mutex_lock(&st->lock);
    const char *name = names_of(st, id);
    pthread_mutex_unlock(&st->lock);
    if (name)
        return name;
    /* Committed but its after-hook has not filled the table yet, or created by this very
     * transaction: read the dictionary (through the txn when there is one). */
    static _Thread_local char buf[MNEMO_LABEL_MAX + 1];
    unsigned char key[5];
    key[0] = MNEMO_MK_LABEL_ID;
    mnemo__put_be32(key + 1, id);
    char *v;
    size_t n;
    if (mnemo_txn__get_sealed(&v, &n, db, txn, MNEMO_CF_METADATA, key, 5, 0, "a label dictionary entry (metadata)"))
        return NULL;
    if (n == 0 || n > MNEMO_LABEL_MAX) {
        mnemo__free(v);
        return NULL;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    mnemo__free(v);
    if (!txn) { /* committed: keep it */
        pthread_mutex_lock(&st->lock);
        names_put(st, id, buf);
        name = names_of(st, id);
        pthread_mutex_unlock(&st->lock);
        if (name)
            return name;
    }
    return buf;
}

/* ---- keys and values ---- */

void mnemo_graph__edge_key(unsigned char out[EDGE_KEY_LEN], uint64_t a, uint32_t label, uint64_t b)
{
    mnemo__put_be64(out, a);
    mnemo__put_be32(out + 8, label);
    mnemo__put_be64(out + 12, b);
}

size_t mnemo_graph__value_len(size_t other_len, size_t props_len) { return 1 + 8 + 2 + other_len + 4 + props_len + 4; }

void mnemo_graph__encode_value_to(unsigned char *v, double weight, const char *other_id, size_t other_len,
                                  const char *props, size_t props_len)
{
    uint64_t bits;
    memcpy(&bits, &weight, 8);
    v[0] = VALUE_VERSION;
    mnemo__put_be64(v + 1, bits);
    v[9] = (unsigned char)(other_len >> 8);
    v[10] = (unsigned char)other_len;
    memcpy(v + 11, other_id, other_len);
    unsigned char *p = v + 11 + other_len;
    mnemo__put_be32(p, (uint32_t)props_len);
    if (props_len)
        memcpy(p + 4, props, props_len);
    p += 4 + props_len;
    mnemo__put_be32(p, mnemo__crc32c(0, v, (size_t)(p - v)));
}

int mnemo_graph__encode_value(char **out, size_t *len, double weight, const char *other_id, size_t other_len,
                              const char *props, size_t props_len)
{
    size_t n = mnemo_graph__value_len(other_len, props_len);
    unsigned char *v = mnemo__malloc(n);
    *out = NULL;
    *len = 0;
    if (!v)
        return mnemo__err_nomem("edge");
    mnemo_graph__encode_value_to(v, weight, other_id, other_len, props, props_len);
    *out = (char *)v;
    *len = n;
    return 0;
}

int mnemo_graph__decode_value(edge_value *e, const char *val, size_t len, const unsigned char *key, int forward)
{
    const unsigned char *v = (const unsigned char *)val;
#define CORRUPT(why)                                                                                         \
    mnemo__err(MNEMO_ECORRUPT, "edge %s %llu -[%u]-> %llu: stored value %s", forward ? "forward" : "backward", \
               (unsigned long long)mnemo__get_be64(key), (unsigned)mnemo__get_be32(key + 8),                   \
               (unsigned long long)mnemo__get_be64(key + 12), why)
    if (len < 1 + 8 + 2 + 4 + 4)
        return CORRUPT("is truncated");
    if (mnemo__get_be32(v + len - 4) != mnemo__crc32c(0, v, len - 4))
        return CORRUPT("failed its checksum");
    if (v[0] != VALUE_VERSION)
        return CORRUPT("has an unknown encoding version");
    size_t other_len = ((size_t)v[9] << 8) | v[10];
    if (11 + other_len + 4 + 4 > len)
        return CORRUPT("has an id length beyond its end");
    size_t props_len = mnemo__get_be32(v + 11 + other_len);
    if (11 + other_len + 4 + props_len + 4 != len)
        return CORRUPT("has inconsistent lengths");
#undef CORRUPT
    uint64_t bits = mnemo__get_be64(v + 1);
    memcpy(&e->weight, &bits, 8);
    e->other_id = (const char *)v + 11;
    e->other_id_len = other_len;
    e->props = (const char *)v + 11 + other_len + 4;
    e->props_len = props_len;
    return 0;
}

/* ---- argument checks ---- */

static int check_label(const char *fn, const char *label)
{
    if (!label)
        return mnemo__err(MNEMO_EINVAL, "%s: label is NULL", fn);
    size_t n = strnlen(label, MNEMO_LABEL_MAX + 1);
    if (n == 0)
        return mnemo__err(MNEMO_EINVAL, "%s: label is empty", fn);
    if (n > MNEMO_LABEL_MAX)
        return mnemo__err(MNEMO_EINVAL, "%s: label is longer than %u bytes", fn, MNEMO_LABEL_MAX);
    if (!mnemo__utf8_valid(label, n))
        return mnemo__err(MNEMO_EINVAL, "%s: label is not valid UTF-8", fn);
    return 0;
}

static int check_endpoint(const char *fn, const char *what, const char *id)
{
    if (!id)
        return mnemo__err(MNEMO_EINVAL, "%s: %s is NULL", fn, what);
    size_t n = strnlen(id, MNEMO_RECORD_MAX_ID + 1);
    if (n == 0 || n > MNEMO_RECORD_MAX_ID)
        return mnemo__err(MNEMO_EINVAL, "%s: %s must be 1..%u bytes", fn, what, MNEMO_RECORD_MAX_ID);
    return 0;
}

static int check_triple(const char *fn, const char *from, const char *label, const char *to)
{
    int rc = check_endpoint(fn, "from", from);
    if (!rc)
        rc = check_label(fn, label);
    if (!rc)
        rc = check_endpoint(fn, "to", to);
    return rc;
}

/* Internal id of a live endpoint, creating an empty record for it when asked. */
static int endpoint(uint64_t *iid, mnemo_db *db, mnemo_txn *txn, const char *id, int create, const char *fn)
{
    int rc = mnemo_record__resolve(iid, db, txn, id);
    if (rc == MNEMO_ENOTFOUND && create) {
        mnemo_record r = {0};
        r.id = id;
        if ((rc = mnemo_record_put(db, txn, &r, MNEMO_PUT_INSERT)) == 0)
            rc = mnemo_record__resolve(iid, db, txn, id);
    }
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no record '%s' (pass MNEMO_LINK_CREATE_MISSING to create it)", fn, id);
    return rc;
}

int mnemo_graph__forget_edge(mnemo_txn *txn, uint64_t a, uint64_t b)
{
    unsigned char k[10];
    int rc = mnemo_txn__cache_forget(txn, k, mnemo_graph__adj_cache_key(k, a, MNEMO_DIR_OUT));
    return rc ? rc : mnemo_txn__cache_forget(txn, k, mnemo_graph__adj_cache_key(k, b, MNEMO_DIR_IN));
}

/* ---- link / unlink / get ---- */

typedef struct link_args {
    mnemo_db *db, *to_db; /* to_db: the collection of e->to (db's own for an edge inside one) */
    const mnemo_graph_edge *e;
    unsigned flags;
    double weight;
    char *props; /* compact JSON or NULL */
} link_args;

/* The id as the other end's value names it: qualified with its collection when the edge crosses. */
static const char *other_end(char *buf, mnemo_db *db, const char *id, int across, size_t *len)
{
    size_t n = strlen(id);
    if (!across) {
        *len = n;
        return id;
    }
    buf[0] = (char)MNEMO_MK_IN_COLLECTION;
    mnemo__put_be32((unsigned char *)buf + 1, mnemo_db__collection_id(db));
    memcpy(buf + MNEMO_GRAPH_QUALIFIER_LEN, id, n);
    *len = MNEMO_GRAPH_QUALIFIER_LEN + n;
    return buf;
}

static int link_op(mnemo_txn *txn, void *arg)
{
    static const char fn[] = "mnemo_graph_link";
    link_args *a = arg;
    const mnemo_graph_edge *e = a->e;
    int create = (a->flags & MNEMO_LINK_CREATE_MISSING) != 0;
    uint64_t from, to;
    uint32_t label;
    int across = a->to_db != a->db;
    int rc = endpoint(&from, a->db, txn, e->from, create, fn);
    if (!rc)
        rc = endpoint(&to, a->to_db, txn, e->to, create, fn);
    if (!rc)
        rc = mnemo_graph__label_id(&label, a->db, txn, e->label, 1);
    if (rc)
        return rc;
    size_t pl = a->props ? strlen(a->props) : 0;
    unsigned char fk[EDGE_KEY_LEN], bk[EDGE_KEY_LEN];
    mnemo_graph__edge_key(fk, from, label, to);
    mnemo_graph__edge_key(bk, to, label, from);
    char *fv, *bv;
    size_t fl, bl;
    char qto[MNEMO_GRAPH_QUALIFIER_LEN + MNEMO_RECORD_MAX_ID], qfrom[MNEMO_GRAPH_QUALIFIER_LEN + MNEMO_RECORD_MAX_ID];
    size_t tl, frl;
    const char *to_id = other_end(qto, a->to_db, e->to, across, &tl);
    const char *from_id = other_end(qfrom, a->db, e->from, across, &frl);
    if ((rc = mnemo_graph__encode_value(&fv, &fl, a->weight, to_id, tl, a->props, pl)) != 0)
        return rc;
    if ((rc = mnemo_graph__encode_value(&bv, &bl, a->weight, from_id, frl, a->props, pl)) != 0) {
        mnemo__free(fv);
        return rc;
    }
    rc = mnemo_txn__put(a->db, txn, MNEMO_CF_GRAPH_FORWARD, fk, sizeof fk, fv, fl);
    if (!rc)
        rc = mnemo_graph__forget_edge(txn, from, to);
    if (!rc)
        rc = mnemo_txn__put(a->db, txn, MNEMO_CF_GRAPH_BACKWARD, bk, sizeof bk, bv, bl);
    if (!rc)
        rc = mnemo_record__pin(a->db, txn, from, e->from, 0);
    if (!rc && to != from)
        rc = mnemo_record__pin(a->to_db, txn, to, e->to, 0);
    mnemo__free(fv);
    mnemo__free(bv);
    return rc;
}

/* The other end's handle of a call across collections: open and of db's database. */
static int check_to_db(mnemo_guard *g, mnemo_db *db, mnemo_db *to_db, const char *fn)
{
    if (!to_db)
        return mnemo__err(MNEMO_EINVAL, "%s: to_db is NULL", fn);
    int rc = mnemo_guard__db(g, to_db, fn);
    if (!rc && !mnemo_db__same_database(db, to_db))
        rc = mnemo__err(MNEMO_EINVAL, "%s: to_db is a handle of another database", fn);
    return rc;
}

static int link_call(mnemo_db *db, mnemo_txn *txn, const mnemo_graph_edge *e, mnemo_db *to_db, unsigned flags,
                     const char *fn)
{
    MNEMO_GUARD(guard);
    MNEMO_GUARD(to_guard);
    int rc = mnemo_guard__write(&guard, db, txn, fn);
    if (!rc && to_db != db)
        rc = check_to_db(&to_guard, db, to_db, fn);
    if (rc)
        return rc;
    if (!e)
        return mnemo__err(MNEMO_EINVAL, "%s: edge is NULL", fn);
    if (flags & ~(unsigned)(MNEMO_LINK_CREATE_MISSING | MNEMO_LINK_DEFAULT_WEIGHT))
        return mnemo__err(MNEMO_EINVAL, "%s: unknown flags 0x%x", fn, flags);
    if ((rc = check_triple(fn, e->from, e->label, e->to)) != 0)
        return rc;
    link_args a = {db, to_db, e, flags, (flags & MNEMO_LINK_DEFAULT_WEIGHT) ? 1.0 : e->weight, NULL};
    if (!isfinite(a.weight))
        return mnemo__err(MNEMO_EINVAL, "%s: weight must be a finite number", fn);
    if (e->props) {
        json_t *j;
        if ((rc = mnemo__json_object(&j, &a.props, e->props, MNEMO_RECORD_MAX_METADATA, fn, "props")) != 0)
            return rc;
        json_decref(j);
    }
    rc = mnemo_txn__run_op(db, txn, link_op, &a);
    mnemo__free(a.props);
    return rc;
}

int mnemo_graph_link(mnemo_db *db, mnemo_txn *txn, const mnemo_graph_edge *e, unsigned flags)
{
    return link_call(db, txn, e, db, flags, "mnemo_graph_link");
}

int mnemo_graph_link_across(mnemo_db *from_db, mnemo_txn *txn, const mnemo_graph_edge *e, mnemo_db *to_db,
                            unsigned flags)
{
    return link_call(from_db, txn, e, to_db, flags, "mnemo_graph_link_across");
}

typedef struct triple_args {
    mnemo_db *db, *to_db; /* to_db: the collection of `to` */
    const char *from, *label, *to;
    mnemo_graph_edge **out;
} triple_args;

/* Resolves the triple to its forward key; ENOTFOUND (message set) when any part is missing. */
static int triple_key(unsigned char fk[EDGE_KEY_LEN], unsigned char bk[EDGE_KEY_LEN], triple_args *a, mnemo_txn *txn,
                      const char *fn)
{
    uint64_t from, to;
    uint32_t label;
    int rc = mnemo_record__resolve(&from, a->db, txn, a->from);
    if (!rc)
        rc = mnemo_record__resolve(&to, a->to_db, txn, a->to);
    if (!rc)
        rc = mnemo_graph__label_id(&label, a->db, txn, a->label, 0);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no edge '%s' -[%s]-> '%s'", fn, a->from, a->label, a->to);
    if (rc)
        return rc;
    mnemo_graph__edge_key(fk, from, label, to);
    if (bk)
        mnemo_graph__edge_key(bk, to, label, from);
    return 0;
}

static int unlink_op(mnemo_txn *txn, void *arg)
{
    static const char fn[] = "mnemo_graph_unlink";
    triple_args *a = arg;
    unsigned char fk[EDGE_KEY_LEN], bk[EDGE_KEY_LEN];
    int rc = triple_key(fk, bk, a, txn, fn);
    if (rc)
        return rc;
    char *v;
    size_t n;
    if ((rc = mnemo_txn__get(&v, &n, a->db, txn, MNEMO_CF_GRAPH_FORWARD, fk, sizeof fk, 1)) == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no edge '%s' -[%s]-> '%s'", fn, a->from, a->label, a->to);
    if (rc)
        return rc;
    mnemo__free(v);
    rc = mnemo_txn__delete(a->db, txn, MNEMO_CF_GRAPH_FORWARD, fk, sizeof fk);
    if (!rc)
        rc = mnemo_txn__delete(a->db, txn, MNEMO_CF_GRAPH_BACKWARD, bk, sizeof bk);
    return rc ? rc : mnemo_graph__forget_edge(txn, mnemo__get_be64(fk), mnemo__get_be64(fk + 12));
}

static int unlink_call(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, mnemo_db *to_db,
                       const char *to, const char *fn)
{
    MNEMO_GUARD(guard);
    MNEMO_GUARD(to_guard);
    int rc = mnemo_guard__write(&guard, db, txn, fn);
    if (!rc && to_db != db)
        rc = check_to_db(&to_guard, db, to_db, fn);
    if (!rc)
        rc = check_triple(fn, from, label, to);
    if (rc)
        return rc;
    triple_args a = {db, to_db, from, label, to, NULL};
    return mnemo_txn__run_op(db, txn, unlink_op, &a);
}

int mnemo_graph_unlink(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, const char *to)
{
    return unlink_call(db, txn, from, label, db, to, "mnemo_graph_unlink");
}

int mnemo_graph_unlink_across(mnemo_db *from_db, mnemo_txn *txn, const char *from, const char *label, mnemo_db *to_db,
                              const char *to)
{
    return unlink_call(from_db, txn, from, label, to_db, to, "mnemo_graph_unlink_across");
}

void mnemo_graph_edge_free(mnemo_graph_edge *e) { mnemo__free(e); }

int mnemo_graph_get(mnemo_graph_edge **out, mnemo_db *db, mnemo_txn *txn, const char *from, const char *label,
                    const char *to)
{
    static const char fn[] = "mnemo_graph_get";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, fn);
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "%s: out is NULL", fn);
    if (!rc)
        rc = check_triple(fn, from, label, to);
    if (rc)
        return rc;
    triple_args a = {db, db, from, label, to, NULL};
    unsigned char fk[EDGE_KEY_LEN];
    if ((rc = triple_key(fk, NULL, &a, txn, fn)) != 0)
        return rc;
    char *v;
    size_t n;
    if ((rc = mnemo_txn__get(&v, &n, db, txn, MNEMO_CF_GRAPH_FORWARD, fk, sizeof fk, 1)) == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no edge '%s' -[%s]-> '%s'", fn, from, label, to);
    if (rc)
        return rc;
    edge_value ev;
    if ((rc = mnemo_graph__decode_value(&ev, v, n, fk, 1)) != 0) {
        mnemo__free(v);
        return rc;
    }
    size_t fl = strlen(from), ll = strlen(label), tl = strlen(to);
    mnemo_graph_edge *e = mnemo__calloc(1, sizeof *e + fl + ll + tl + ev.props_len + 4);
    if (!e) {
        mnemo__free(v);
        return mnemo__err_nomem(fn);
    }
    char *p = (char *)(e + 1);
    e->from = memcpy(p, from, fl + 1);
    p += fl + 1;
    e->label = memcpy(p, label, ll + 1);
    p += ll + 1;
    e->to = memcpy(p, to, tl + 1);
    p += tl + 1;
    if (ev.props_len) {
        memcpy(p, ev.props, ev.props_len);
        p[ev.props_len] = '\0';
        e->props = p;
    }
    e->weight = ev.weight;
    mnemo__free(v);
    *out = e;
    return 0;
}

int mnemo_graph_exists(mnemo_db *db, mnemo_txn *txn, const char *from, const char *label, const char *to)
{
    mnemo_graph_edge *e;
    int rc = mnemo_graph_get(&e, db, txn, from, label, to);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    mnemo_graph_edge_free(e);
    return 1;
}
