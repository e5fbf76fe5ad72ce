/* Collections: named namespaces inside one database (mnemo/collection.h). A collection's handle is
 * a mnemo_db sharing the database's store and cache; the txn room keeps its keys under its prefix
 * (txn/scope.c), so the modules run on it unchanged, with module state of its own.
 *
 * The registry (core/keys.h): `K 0x00 name` -> cid + state, `K 0x01 cid` -> name (live only),
 * `K 0x02 cid` (a drop being reclaimed), `Ncoll_hwm`. Creation writes the name as CREATING, opens
 * the handle (the vector space is written then), and marks it LIVE: a crash in between leaves a
 * name nobody sees, which the next creation of that name reclaims. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/keys.h"
#include "db/db.h"
#include "txn/idalloc.h"
#include "txn/txn.h"

#define STATE_CREATING 0
#define STATE_LIVE 1
#define COLL_ID_MAX 0xFFFFFFFEu /* a prefix's successor (scope.c) must fit: cid + 1 */
#define RECLAIM_RECORDS 256     /* records removed per transaction of a drop's reclaim */
#define RECLAIM_KEYS 1024       /* keys deleted per transaction once no record is left */

static const mnemo_idcounter coll_counter = {MNEMO_MKEY_COLL_HWM, 4, COLL_ID_MAX, "collection ids"};

/* ---- the registry ---- */

static size_t name_key(unsigned char *k, const char *name, size_t len)
{
    k[0] = MNEMO_MK_COLLECTION;
    k[1] = MNEMO_COLL_BY_NAME;
    memcpy(k + 2, name, len);
    return 2 + len;
}

static void id_key(unsigned char k[6], unsigned char kind, uint32_t cid)
{
    k[0] = MNEMO_MK_COLLECTION;
    k[1] = kind;
    mnemo__put_be32(k + 2, cid);
}

static int check_name(const char *fn, const char *name, size_t *len)
{
    if (!name)
        return mnemo__err(MNEMO_EINVAL, "%s: collection name is NULL", fn);
    size_t n = strnlen(name, MNEMO_COLLECTION_NAME_MAX + 1);
    if (!n)
        return mnemo__err(MNEMO_EINVAL, "%s: collection name is empty", fn);
    if (n > MNEMO_COLLECTION_NAME_MAX)
        return mnemo__err(MNEMO_EINVAL, "%s: collection name is longer than %u bytes", fn, MNEMO_COLLECTION_NAME_MAX);
    if (!mnemo__utf8_valid(name, n))
        return mnemo__err(MNEMO_EINVAL, "%s: collection name is not valid UTF-8", fn);
    *len = n;
    return 0;
}

static int is_default(const char *name) { return !strcmp(name, MNEMO_COLLECTION_DEFAULT); }

/* The registry entry of name: 0 with cid and state, MNEMO_ENOTFOUND, or an error. */
static int lookup(uint32_t *cid, int *state, mnemo_db *root, mnemo_txn *txn, const char *name, size_t len)
{
    unsigned char k[2 + MNEMO_COLLECTION_NAME_MAX];
    char *v;
    size_t vl;
    int rc = mnemo_txn__get_sealed(&v, &vl, root, txn, MNEMO_CF_METADATA, k, name_key(k, name, len), 1,
                                   "a collection's registry entry (metadata)");
    if (rc)
        return rc;
    if (vl != 5 || (unsigned char)v[4] > STATE_LIVE)
        rc = mnemo__err(MNEMO_ECORRUPT, "collection '%s': registry entry of %zu bytes is damaged", name, vl);
    else {
        *cid = mnemo__get_be32((const unsigned char *)v);
        *state = (unsigned char)v[4];
    }
    mnemo__free(v);
    return rc;
}

/* The live collection name in txn: its id, or MNEMO_ENOTFOUND naming it (fn's message). */
static int live_entry(uint32_t *cid, mnemo_db *root, mnemo_txn *txn, const char *name, size_t len, const char *fn)
{
    int state;
    int rc = lookup(cid, &state, root, txn, name, len);
    if (rc == MNEMO_ENOTFOUND || (!rc && state != STATE_LIVE))
        return mnemo__err(MNEMO_ENOTFOUND, "%s: no collection '%s'", fn, name);
    return rc;
}

static int put_entry(mnemo_db *root, mnemo_txn *txn, const char *name, size_t len, uint32_t cid, int state)
{
    unsigned char k[2 + MNEMO_COLLECTION_NAME_MAX], v[5];
    mnemo__put_be32(v, cid);
    v[4] = (unsigned char)state;
    int rc = mnemo_txn__put_sealed(root, txn, MNEMO_CF_METADATA, k, name_key(k, name, len), v, sizeof v);
    unsigned char ik[6];
    id_key(ik, MNEMO_COLL_BY_ID, cid);
    return rc ? rc : mnemo_txn__put_sealed(root, txn, MNEMO_CF_METADATA, ik, sizeof ik, name, len);
}

/* Takes cid out of the registry (its name's entry stays for the caller) and queues its reclaim. */
static int retire(mnemo_db *root, mnemo_txn *txn, uint32_t cid)
{
    unsigned char ik[6];
    id_key(ik, MNEMO_COLL_BY_ID, cid);
    int rc = mnemo_txn__delete(root, txn, MNEMO_CF_METADATA, ik, sizeof ik);
    id_key(ik, MNEMO_COLL_RECLAIM, cid);
    return rc ? rc : mnemo_txn__put_sealed(root, txn, MNEMO_CF_METADATA, ik, sizeof ik, "", 0);
}

/* Makes name free to take in txn: MNEMO_EEXISTS (fn's message) when a live collection has it; a
 * CREATING entry a crash left is retired, its id in *stale (0: none) for a reclaim after commit. */
static int free_name(uint32_t *stale, mnemo_db *root, mnemo_txn *txn, const char *name, size_t len, const char *fn)
{
    uint32_t cid;
    int state;
    *stale = 0;
    int rc = lookup(&cid, &state, root, txn, name, len);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (state == STATE_LIVE)
        return mnemo__err(MNEMO_EEXISTS, "%s: collection '%s' exists", fn, name);
    *stale = cid;
    return retire(root, txn, cid);
}

/* ---- handles ---- */

static mnemo_db *root_of(mnemo_db *db) { return db->t.root; }

static void prefix_of(unsigned char p[MNEMO_COLL_PREFIX_LEN], uint32_t cid)
{
    p[0] = MNEMO_MK_IN_COLLECTION;
    mnemo__put_be32(p + 1, cid);
}

/* A handle of collection cid. opts: the vector space to create (NULL: as stored). reclaim: the
 * drop's own handle, which opens only what a reclaim needs. */
static int handle_open(mnemo_db **out, mnemo_db *root, uint32_t cid, const char *name,
                       const mnemo_collection_options *opts, int reclaim)
{
    mnemo_db *h = mnemo_db__shell_get();
    if (!h)
        return mnemo__err_nomem("collection handle");
    memset((char *)h + offsetof(mnemo_txn_db, magic), 0, sizeof *h - offsetof(mnemo_txn_db, magic));
    h->t.opts = root->t.opts;
    h->t.opts.vector_dim = opts ? opts->vector_dim : 0;
    h->t.opts.vector_metric = opts ? opts->vector_metric : MNEMO_METRIC_DEFAULT;
    h->t.opts.hnsw_m = opts ? opts->hnsw_m : 0;
    h->t.opts.hnsw_ef_construction = opts ? opts->hnsw_ef_construction : 0;
    h->t.opts.hnsw_ef_search = opts ? opts->hnsw_ef_search : 0;
    h->t.opts.vector_quantization = opts ? opts->vector_quantization : MNEMO_QUANT_DEFAULT;
    h->t.ops = root->t.ops;
    h->t.store = root->t.store;
    h->t.cache = root->t.cache;
    h->t.shared = root->t.shared;
    h->t.follower = root->t.follower;
    atomic_store(&h->t.cache_seq, atomic_load(&root->t.cache_seq));
    h->t.root = root;
    h->t.cid = cid;
    prefix_of(h->t.kprefix, cid);
    h->t.kprefix_len = MNEMO_COLL_PREFIX_LEN;
    h->t.reclaiming = reclaim;
    snprintf(h->coll_name, sizeof h->coll_name, "%s", name);
    if (!(h->t.path = mnemo__memdup(root->t.path, strlen(root->t.path)))) {
        mnemo_db__shell_put(h);
        return mnemo__err_nomem("collection handle");
    }
    pthread_mutex_init(&h->t.module_lock, NULL);
    pthread_mutex_init(&h->coll_lock, NULL);
    mnemo_res__init_list(&h->t.res);
    atomic_store_explicit(&h->t.magic, MNEMO_DB_MAGIC_OPEN, memory_order_release);
    const mnemo_module_open *mods = reclaim ? mnemo_db__reclaim_opens : mnemo_db__module_opens;
    unsigned n = reclaim ? mnemo_db__n_reclaim_opens : mnemo_db__n_module_opens;
    int rc = 0;
    for (unsigned i = 0; i < n && !rc; i++)
        rc = mods[i].open(h);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "collection '%s': %s", name, mnemo_errmsg());
        mnemo_db__collection_close(h);
        return mnemo__err(rc, "%s", msg);
    }
    *out = h;
    return 0;
}

static void handle_end_use(mnemo_db *h)
{
    atomic_store(&h->t.magic, MNEMO_DB_MAGIC_CLOSING);
    mnemo_guard__wait_calls(h);
    mnemo_txn__close_all(&h->t);
}

static void handle_release(mnemo_db *h)
{
    mnemo_txn__modules_destroy(&h->t);
    mnemo__free(h->t.path);
    h->t.path = NULL;
    h->t.store = NULL;
    h->t.cache = NULL; /* the database's */
    pthread_mutex_destroy(&h->t.module_lock);
    pthread_mutex_destroy(&h->coll_lock);
    atomic_store(&h->t.magic, MNEMO_DB_MAGIC_CLOSED);
    mnemo_db__shell_put(h);
}

void mnemo_db__collection_close(mnemo_db *h)
{
    handle_end_use(h);
    handle_release(h);
}

void mnemo_db__collections_close(mnemo_db *root)
{
    pthread_mutex_lock(&root->coll_lock);
    for (size_t i = 0; i < root->n_colls; i++)
        handle_end_use(root->colls[i]);
    /* Every transaction of the database is over before any module state goes. */
    mnemo_txn__close_all(&root->t);
    for (size_t i = 0; i < root->n_colls; i++)
        handle_release(root->colls[i]);
    root->n_colls = 0;
    pthread_mutex_unlock(&root->coll_lock);
}

/* Under root's coll_lock: MNEMO_EINVAL once root is closing (its close empties the handle list
 * under the same lock: a handle made after it would outlive the store). */
static int root_open(mnemo_db *root, const char *fn)
{
    if (atomic_load(&root->t.magic) != MNEMO_DB_MAGIC_OPEN)
        return mnemo__err(MNEMO_EINVAL, "%s: the database is closing", fn);
    return 0;
}

/* The open handle of cid (root's coll_lock held), or NULL. */
static mnemo_db *find_open(mnemo_db *root, uint32_t cid)
{
    for (size_t i = 0; i < root->n_colls; i++)
        if (root->colls[i]->t.cid == cid)
            return root->colls[i];
    return NULL;
}

static int remember(mnemo_db *root, mnemo_db *h)
{
    int rc = mnemo__grow(&root->colls, &root->cap_colls, root->n_colls + 1, sizeof *root->colls, 8);
    if (!rc)
        root->colls[root->n_colls++] = h;
    return rc;
}

/* ---- reclaiming a dropped collection ---- */

typedef struct step_arg {
    mnemo_db *h;
    mnemo_cf cf;
    size_t done;
} step_arg;

static int remove_records(mnemo_txn *txn, void *arg)
{
    step_arg *a = arg;
    return mnemo_db__reclaim_records(a->h, txn, RECLAIM_RECORDS, &a->done);
}

static int delete_keys(mnemo_txn *txn, void *arg)
{
    step_arg *a = arg;
    a->done = 0;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, a->h, txn, a->cf, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    char *keys[RECLAIM_KEYS];
    size_t lens[RECLAIM_KEYS], n = 0;
    for (mnemo_cursor__first(c); !rc && n < RECLAIM_KEYS && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        const char *k = mnemo_cursor__key(c, &lens[n]);
        if (!(keys[n] = mnemo__memdup(k, lens[n] ? lens[n] : 1)))
            rc = mnemo__err_nomem("collection drop");
        else
            n++;
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "collection drop");
    mnemo_cursor__close(c);
    for (size_t i = 0; i < n; i++) {
        if (!rc)
            rc = mnemo_txn__delete(a->h, txn, a->cf, keys[i], lens[i]);
        mnemo__free(keys[i]);
    }
    if (!rc)
        a->done = n;
    return rc;
}

static int end_reclaim(mnemo_txn *txn, void *arg)
{
    mnemo_db *h = arg;
    unsigned char ik[6];
    id_key(ik, MNEMO_COLL_RECLAIM, h->t.cid);
    return mnemo_txn__delete(h->t.root, txn, MNEMO_CF_METADATA, ik, sizeof ik);
}

/* Deletes everything of the dropped collection cid, in transactions of bounded size: its records
 * with their edges (the listeners), then every key under its prefix, then its reclaim mark. A
 * crash between two steps leaves the mark: the next read-write open goes on from there. */
static int reclaim(mnemo_db *root, uint32_t cid)
{
    mnemo_db *h;
    char name[32];
    snprintf(name, sizeof name, "(dropped %u)", (unsigned)cid);
    int rc = handle_open(&h, root, cid, name, NULL, 1);
    if (rc)
        return rc;
    step_arg a = {h, MNEMO_CF_RECORDS, 0};
    do
        rc = mnemo_txn_run(h, 0, remove_records, &a, NULL);
    while (!rc && a.done);
    for (int cf = 0; cf < MNEMO_CF_COUNT && !rc; cf++) {
        if (!(mnemo_keyspaces[cf].hints & (MNEMO_KS_PER_COLLECTION | MNEMO_KS_PER_COLLECTION_BY_KEY)))
            continue;
        a.cf = (mnemo_cf)cf;
        do
            rc = mnemo_txn_run(h, 0, delete_keys, &a, NULL);
        while (!rc && a.done);
    }
    if (!rc)
        rc = mnemo_txn_run(root, 0, end_reclaim, h, NULL);
    mnemo_db__collection_close(h);
    return rc;
}

void mnemo_db__collections_resume(mnemo_db *root)
{
    unsigned char lo[2] = {MNEMO_MK_COLLECTION, MNEMO_COLL_RECLAIM}, hi[2] = {MNEMO_MK_COLLECTION,
                                                                            MNEMO_COLL_RECLAIM + 1};
    uint32_t pending[64];
    size_t n = 0;
    mnemo_cursor *c;
    if (mnemo_cursor__open(&c, root, NULL, MNEMO_CF_METADATA, lo, 2, hi, 2))
        return;
    for (mnemo_cursor__first(c); n < 64 && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        if (kl == 6)
            pending[n++] = mnemo__get_be32(k + 2);
    }
    mnemo_cursor__close(c);
    for (size_t i = 0; i < n; i++)
        (void)reclaim(root, pending[i]);
}

/* ---- the public calls ---- */

typedef struct create_arg {
    const char *name;
    size_t len;
    uint32_t cid;
    uint32_t stale; /* a CREATING entry of the name that a crash left: reclaimed after */
    int mark_live;
} create_arg;

static int create_txn(mnemo_txn *txn, void *arg)
{
    create_arg *a = arg;
    mnemo_db *root = mnemo_txn__db(txn);
    if (a->mark_live) { /* the second step: the name must still be ours */
        uint32_t cid;
        int state;
        int rc = lookup(&cid, &state, root, txn, a->name, a->len);
        if (rc == MNEMO_ENOTFOUND || (!rc && cid != a->cid))
            return mnemo__err(MNEMO_EBUSY, "mnemo_collection_create: '%s' changed while it was being created", a->name);
        return rc ? rc : put_entry(root, txn, a->name, a->len, cid, STATE_LIVE);
    }
    int rc = free_name(&a->stale, root, txn, a->name, a->len, "mnemo_collection_create");
    uint64_t first;
    if (!rc)
        rc = mnemo_idalloc__claim(&first, root, txn, &coll_counter, 1);
    if (!rc) {
        a->cid = (uint32_t)first;
        rc = put_entry(root, txn, a->name, a->len, a->cid, STATE_CREATING);
    }
    return rc;
}

static int check_options(const mnemo_collection_options *o)
{
    if (o && o->version > MNEMO_COLLECTION_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "mnemo_collection_create: options version %u is newer than this library (%u)",
                          o->version, MNEMO_COLLECTION_OPTIONS_VERSION);
    return 0;
}

int mnemo_collection_create(mnemo_db **out, mnemo_db *db, const char *name, const mnemo_collection_options *opts)
{
    MNEMO_GUARD(g);
    size_t len;
    int rc = mnemo_guard__write(&g, db, NULL, "mnemo_collection_create");
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "mnemo_collection_create: out is NULL");
    if (!rc)
        rc = check_name("mnemo_collection_create", name, &len);
    if (!rc)
        rc = check_options(opts);
    if (rc)
        return rc;
    if (is_default(name))
        return mnemo__err(MNEMO_EEXISTS, "mnemo_collection_create: '%s' is the default collection, which every "
                          "database has", name);
    mnemo_db *root = root_of(db);
    create_arg a = {name, len, 0, 0, 0};
    if ((rc = mnemo_txn_run(root, 0, create_txn, &a, NULL)) != 0)
        return rc;
    if (a.stale)
        (void)reclaim(root, a.stale);
    mnemo_db *h;
    pthread_mutex_lock(&root->coll_lock);
    rc = root_open(root, "mnemo_collection_create");
    if (!rc)
        rc = handle_open(&h, root, a.cid, name, opts, 0);
    if (!rc) {
        a.mark_live = 1;
        if ((rc = mnemo_txn_run(root, 0, create_txn, &a, NULL)) != 0 || (rc = remember(root, h)) != 0)
            mnemo_db__collection_close(h);
    }
    pthread_mutex_unlock(&root->coll_lock);
    if (rc) /* the CREATING entry stays: invisible, and the next creation of the name reclaims it */
        return rc;
    *out = h;
    return 0;
}

int mnemo_collection_open(mnemo_db **out, mnemo_db *db, const char *name)
{
    MNEMO_GUARD(g);
    size_t len;
    int rc = mnemo_guard__db(&g, db, "mnemo_collection_open");
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "mnemo_collection_open: out is NULL");
    if (!rc)
        rc = check_name("mnemo_collection_open", name, &len);
    if (rc)
        return rc;
    mnemo_db *root = root_of(db);
    if (is_default(name)) {
        *out = root;
        return 0;
    }
    uint32_t cid;
    if ((rc = live_entry(&cid, root, NULL, name, len, "mnemo_collection_open")) != 0)
        return rc;
    pthread_mutex_lock(&root->coll_lock);
    mnemo_db *h = find_open(root, cid);
    if (!h && (rc = root_open(root, "mnemo_collection_open")) == 0 &&
        (rc = handle_open(&h, root, cid, name, NULL, 0)) == 0 && (rc = remember(root, h)) != 0)
        mnemo_db__collection_close(h);
    if (!rc)
        snprintf(h->coll_name, sizeof h->coll_name, "%s", name); /* renamed by another process */
    pthread_mutex_unlock(&root->coll_lock);
    if (!rc)
        *out = h;
    return rc;
}

const char *mnemo_collection_name(mnemo_db *db)
{
    MNEMO_GUARD(g);
    if (mnemo_guard__db(&g, db, "mnemo_collection_name"))
        return NULL;
    return db->t.root == db ? MNEMO_COLLECTION_DEFAULT : db->coll_name;
}

typedef struct drop_arg {
    const char *name;
    size_t len;
    uint32_t cid;
} drop_arg;

static int drop_txn(mnemo_txn *txn, void *arg)
{
    drop_arg *a = arg;
    mnemo_db *root = mnemo_txn__db(txn);
    int rc = live_entry(&a->cid, root, txn, a->name, a->len, "mnemo_collection_drop");
    unsigned char k[2 + MNEMO_COLLECTION_NAME_MAX];
    if (!rc)
        rc = mnemo_txn__delete(root, txn, MNEMO_CF_METADATA, k, name_key(k, a->name, a->len));
    return rc ? rc : retire(root, txn, a->cid);
}

int mnemo_collection_drop(mnemo_db *db, const char *name)
{
    MNEMO_GUARD(g);
    size_t len;
    int rc = mnemo_guard__write(&g, db, NULL, "mnemo_collection_drop");
    if (!rc)
        rc = check_name("mnemo_collection_drop", name, &len);
    if (rc)
        return rc;
    if (is_default(name))
        return mnemo__err(MNEMO_EINVAL, "mnemo_collection_drop: the default collection cannot be dropped");
    mnemo_db *root = root_of(db);
    drop_arg a = {name, len, 0};
    if ((rc = mnemo_txn_run(root, 0, drop_txn, &a, NULL)) != 0)
        return rc;
    pthread_mutex_lock(&root->coll_lock);
    mnemo_db *h = find_open(root, a.cid);
    if (h)
        atomic_store_explicit(&h->t.dropped, 1, memory_order_release);
    pthread_mutex_unlock(&root->coll_lock);
    (void)reclaim(root, a.cid); /* what it leaves, the next open goes on with */
    return 0;
}

typedef struct rename_arg {
    const char *from, *to;
    size_t from_len, to_len;
    uint32_t cid;
    uint32_t stale;
} rename_arg;

static int rename_txn(mnemo_txn *txn, void *arg)
{
    rename_arg *a = arg;
    mnemo_db *root = mnemo_txn__db(txn);
    a->stale = 0;
    int rc = live_entry(&a->cid, root, txn, a->from, a->from_len, "mnemo_collection_rename");
    if (rc)
        return rc;
    rc = free_name(&a->stale, root, txn, a->to, a->to_len, "mnemo_collection_rename");
    unsigned char k[2 + MNEMO_COLLECTION_NAME_MAX];
    if (!rc)
        rc = mnemo_txn__delete(root, txn, MNEMO_CF_METADATA, k, name_key(k, a->from, a->from_len));
    return rc ? rc : put_entry(root, txn, a->to, a->to_len, a->cid, STATE_LIVE);
}

int mnemo_collection_rename(mnemo_db *db, const char *from, const char *to)
{
    MNEMO_GUARD(g);
    rename_arg a = {from, to, 0, 0, 0, 0};
    int rc = mnemo_guard__write(&g, db, NULL, "mnemo_collection_rename");
    if (!rc)
        rc = check_name("mnemo_collection_rename", from, &a.from_len);
    if (!rc)
        rc = check_name("mnemo_collection_rename", to, &a.to_len);
    if (rc)
        return rc;
    if (is_default(from) || is_default(to))
        return mnemo__err(MNEMO_EINVAL, "mnemo_collection_rename: the default collection cannot be renamed, nor "
                          "another take its name");
    mnemo_db *root = root_of(db);
    if ((rc = mnemo_txn_run(root, 0, rename_txn, &a, NULL)) != 0)
        return rc;
    pthread_mutex_lock(&root->coll_lock);
    mnemo_db *h = find_open(root, a.cid);
    if (h)
        snprintf(h->coll_name, sizeof h->coll_name, "%s", to);
    pthread_mutex_unlock(&root->coll_lock);
    if (a.stale)
        (void)reclaim(root, a.stale);
    return 0;
}

/* ---- listing ---- */

/* Keys of keyspace cf under collection cid's prefix (all of the default collection's: below 0xFF). */
static int count_keys(uint64_t *n, mnemo_db *root, mnemo_cf cf, uint32_t cid)
{
    unsigned char lo[MNEMO_COLL_PREFIX_LEN], hi[MNEMO_COLL_PREFIX_LEN];
    prefix_of(lo, cid);
    prefix_of(hi, cid + 1);
    mnemo_cursor *c;
    int rc = cid ? mnemo_cursor__open(&c, root, NULL, cf, lo, sizeof lo, hi, sizeof hi)
                 : mnemo_cursor__open(&c, root, NULL, cf, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    *n = 0;
    for (mnemo_cursor__first(c); mnemo_cursor__valid(c); mnemo_cursor__next(c))
        ++*n;
    rc = mnemo_cursor__status(c, "mnemo_collection_list_all");
    mnemo_cursor__close(c);
    return rc;
}

void mnemo_collection_list_free(mnemo_collection_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        mnemo__free((char *)l->items[i].name);
    mnemo__free(l->items);
    mnemo__free(l);
}

static int add_item(mnemo_collection_list *l, size_t *cap, mnemo_db *root, const char *name, size_t len, uint32_t cid)
{
    int rc = mnemo__grow(&l->items, cap, l->count + 1, sizeof *l->items, 8);
    if (rc)
        return rc;
    mnemo_collection_info *it = &l->items[l->count];
    memset(it, 0, sizeof *it);
    if (!(it->name = mnemo__memdup(name, len)))
        return mnemo__err_nomem("mnemo_collection_list_all");
    l->count++;
    rc = count_keys(&it->records, root, MNEMO_CF_RECORDS, cid);
    return rc ? rc : count_keys(&it->vectors, root, MNEMO_CF_VECTOR_DATA, cid);
}

int mnemo_collection_list_all(mnemo_collection_list **out, mnemo_db *db)
{
    MNEMO_GUARD(g);
    int rc = mnemo_guard__db(&g, db, "mnemo_collection_list_all");
    if (!rc && !out)
        rc = mnemo__err(MNEMO_EINVAL, "mnemo_collection_list_all: out is NULL");
    if (rc)
        return rc;
    mnemo_db *root = root_of(db);
    mnemo_collection_list *l = mnemo__calloc(1, sizeof *l);
    if (!l)
        return mnemo__err_nomem("mnemo_collection_list_all");
    size_t cap = 0;
    rc = add_item(l, &cap, root, MNEMO_COLLECTION_DEFAULT, strlen(MNEMO_COLLECTION_DEFAULT), 0);
    unsigned char lo[2] = {MNEMO_MK_COLLECTION, MNEMO_COLL_BY_NAME}, hi[2] = {MNEMO_MK_COLLECTION,
                                                                            MNEMO_COLL_BY_NAME + 1};
    mnemo_cursor *c = NULL;
    if (!rc)
        rc = mnemo_cursor__open(&c, root, NULL, MNEMO_CF_METADATA, lo, 2, hi, 2);
    if (c)
        mnemo_cursor__first(c);
    for (; !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl, pl;
        const char *k = mnemo_cursor__key(c, &kl), *v = mnemo_cursor__value(c, &vl), *p;
        if ((rc = mnemo_txn__unseal(v, vl, &p, &pl, "a collection's registry entry (metadata)")) != 0)
            break;
        if (pl != 5)
            rc = mnemo__err(MNEMO_ECORRUPT, "collection registry entry of %zu bytes is damaged", pl);
        else if ((unsigned char)p[4] == STATE_LIVE)
            rc = add_item(l, &cap, root, k + 2, kl - 2, mnemo__get_be32((const unsigned char *)p));
    }
    if (c && !rc)
        rc = mnemo_cursor__status(c, "mnemo_collection_list_all");
    mnemo_cursor__close(c);
    if (rc) {
        mnemo_collection_list_free(l);
        return rc;
    }
    *out = l;
    return 0;
}
