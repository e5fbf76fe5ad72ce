/* Collections (issue 14): lifecycle, isolation of every model, transactions across collections,
 * drops that conflict with writers and survive a crash, bad input. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/keys.h"
#include "record/record.h"
#include "store/keyspace.h"
#include "testutil.h"
#include "txn/txn.h"
#include "txn/idalloc.h"
#include "txn/txn_db.h"
#include "vector/meta.h"
#include "vector/vector_impl.h"

static mnemo_db *db;
static void setup(void)
{
    unsetenv("MNEMO_TEST_COLLECTION"); /* this suite makes its collections itself */
    tu_mkdtemp();
    db = tu_open("coll");
}
static void teardown(void)
{
    mnemo_close(db);
    tu_cleanup();
}
TestSuite(collection, .init = setup, .fini = teardown);

static void close_db(void)
{
    TU_OK(mnemo_close(db));
    db = NULL;
}

static void reopen(void)
{
    close_db();
    db = tu_open("coll");
}

static mnemo_db *create(const char *name, uint32_t dim)
{
    mnemo_collection_options o = MNEMO_COLLECTION_OPTIONS_INIT;
    o.vector_dim = dim;
    mnemo_db *h;
    TU_OK(mnemo_collection_create(&h, db, name, &o));
    return h;
}

static void put(mnemo_db *h, mnemo_txn *txn, const char *id, const char *content, const char *meta)
{
    mnemo_record r = {0};
    r.id = id;
    r.content = content;
    r.metadata = meta;
    TU_OK(mnemo_record_put(h, txn, &r, MNEMO_PUT_UPSERT));
}

static char *content_of(mnemo_db *h, const char *id)
{
    mnemo_record *r;
    int rc = mnemo_record_get(&r, h, NULL, id);
    if (rc)
        return NULL;
    char *c = strdup(r->content);
    mnemo_record_free(r);
    return c;
}

static size_t n_listed(mnemo_db *h)
{
    mnemo_record_page *p;
    TU_OK(mnemo_record_list(&p, h, NULL, NULL));
    size_t n = p->count;
    mnemo_record_page_free(p);
    return n;
}

/* Keys still stored under collection cid's prefix, in every keyspace. */
static size_t keys_of(uint32_t cid)
{
    unsigned char lo[5] = {MNEMO_MK_IN_COLLECTION}, hi[5] = {MNEMO_MK_IN_COLLECTION};
    lo[1] = (unsigned char)(cid >> 24), lo[2] = (unsigned char)(cid >> 16), lo[3] = (unsigned char)(cid >> 8),
    lo[4] = (unsigned char)cid;
    uint32_t next = cid + 1;
    hi[1] = (unsigned char)(next >> 24), hi[2] = (unsigned char)(next >> 16), hi[3] = (unsigned char)(next >> 8),
    hi[4] = (unsigned char)next;
    size_t n = 0;
    for (int cf = 0; cf < MNEMO_CF_COUNT; cf++) {
        mnemo_cursor *c;
        TU_OK(mnemo_cursor__open(&c, db, NULL, (mnemo_cf)cf, lo, 5, hi, 5));
        for (mnemo_cursor__first(c); mnemo_cursor__valid(c); mnemo_cursor__next(c))
            n++;
        TU_OK(mnemo_cursor__status(c, "test"));
        mnemo_cursor__close(c);
    }
    return n;
}

static uint32_t cid_of(mnemo_db *h) { return MNEMO_TXN_DB(h)->cid; }

/* How many collection indexes of the database are in memory, and how many were evicted. */
static size_t indexes_loaded(uint64_t *evictions)
{
    mnemo_stats s = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&s, db));
    if (evictions)
        *evictions = s.collection_index_evictions;
    return s.collection_indexes_loaded;
}

TU_TEST(collection, create_open_list_rename_drop)
{
    cr_assert_str_eq(mnemo_collection_name(db), "default");
    mnemo_db *a = create("alice", 4), *b = create("bob", 0);
    cr_assert_neq(a, db);
    cr_assert_str_eq(mnemo_collection_name(a), "alice");
    mnemo_db *again;
    TU_OK(mnemo_collection_open(&again, db, "alice"));
    cr_assert_eq(again, a, "one handle per collection");
    TU_OK(mnemo_collection_open(&again, b, "default"));
    cr_assert_eq(again, db, "the default collection is the database's own handle");
    put(a, NULL, "m1", "alice one", NULL);
    put(a, NULL, "m2", "alice two", NULL);
    put(b, NULL, "m1", "bob one", NULL);
    put(db, NULL, "m9", "default", NULL);

    mnemo_collection_list *l;
    TU_OK(mnemo_collection_list_all(&l, db));
    cr_assert_eq(l->count, 3);
    cr_assert_str_eq(l->items[0].name, "default");
    cr_assert_eq(l->items[0].records, 1);
    cr_assert_str_eq(l->items[1].name, "alice");
    cr_assert_eq(l->items[1].records, 2);
    cr_assert_str_eq(l->items[2].name, "bob");
    cr_assert_eq(l->items[2].records, 1);
    mnemo_collection_list_free(l);

    TU_OK(mnemo_collection_rename(db, "alice", "carol"));
    cr_assert_str_eq(mnemo_collection_name(a), "carol");
    TU_RC(mnemo_collection_open(&again, db, "alice"), MNEMO_ENOTFOUND);
    TU_OK(mnemo_collection_open(&again, db, "carol"));
    cr_assert_eq(again, a);
    char *c = content_of(a, "m2");
    cr_assert_str_eq(c, "alice two", "a renamed collection keeps its records");
    free(c);

    uint32_t bcid = cid_of(b);
    TU_OK(mnemo_collection_drop(db, "bob"));
    mnemo_record *gone;
    TU_RC(mnemo_record_get(&gone, b, NULL, "m1"), MNEMO_ENOTFOUND); /* the handle says the collection is gone */
    cr_assert(strstr(mnemo_errmsg(), "dropped"), "%s", mnemo_errmsg());
    TU_RC(mnemo_collection_open(&again, db, "bob"), MNEMO_ENOTFOUND);
    cr_assert_eq(keys_of(bcid), 0, "the drop reclaimed every key of the collection");
    TU_OK(mnemo_close(b)); /* a collection handle's close does nothing */

    /* The name is free again: a new, empty collection. */
    mnemo_db *b2 = create("bob", 0);
    cr_assert_neq(cid_of(b2), bcid, "collection ids are never reused");
    TU_RC(mnemo_record_exists(b2, NULL, "m1"), 0);

    if (tu_persistent()) {
        reopen();
        TU_OK(mnemo_collection_open(&a, db, "carol"));
        cr_assert_eq(indexes_loaded(NULL), 0, "a collection's index is loaded when it is first needed");
        mnemo_vector_hits *hits;
        float q[4] = {1, 0, 0, 0};
        TU_OK(mnemo_vector_search(&hits, a, NULL, q, 4, 1, NULL));
        mnemo_vector_hits_free(hits);
        cr_assert_eq(indexes_loaded(NULL), 1);
        c = content_of(a, "m1");
        cr_assert_str_eq(c, "alice one");
        free(c);
        TU_RC(mnemo_collection_open(&b, db, "bob"), 0);
        TU_RC(mnemo_record_exists(b, NULL, "m1"), 0);
    }
    close_db();
}

TU_TEST(collection, bad_input)
{
    mnemo_db *h;
    char longname[MNEMO_COLLECTION_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    TU_RC(mnemo_collection_create(&h, db, NULL, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "NULL"));
    TU_RC(mnemo_collection_create(&h, db, "", NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "empty"));
    TU_RC(mnemo_collection_create(&h, db, longname, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "longer than"));
    TU_RC(mnemo_collection_create(&h, db, "bad\xff", NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "UTF-8"));
    TU_RC(mnemo_collection_create(NULL, db, "x", NULL), MNEMO_EINVAL);
    TU_RC(mnemo_collection_create(&h, NULL, "x", NULL), MNEMO_EINVAL);
    TU_RC(mnemo_collection_create(&h, db, "default", NULL), MNEMO_EEXISTS);
    mnemo_collection_options future = MNEMO_COLLECTION_OPTIONS_INIT;
    future.version = 99;
    TU_RC(mnemo_collection_create(&h, db, "x", &future), MNEMO_EINVAL);
    mnemo_collection_options badvec = MNEMO_COLLECTION_OPTIONS_INIT;
    badvec.vector_dim = MNEMO_VECTOR_MAX_DIM + 1;
    TU_RC(mnemo_collection_create(&h, db, "x", &badvec), MNEMO_EINVAL);
    TU_RC(mnemo_collection_open(&h, db, "x"), MNEMO_ENOTFOUND); /* the failed creation left nothing visible */
    mnemo_db *a = create("a", 3);
    TU_RC(mnemo_collection_create(&h, db, "a", NULL), MNEMO_EEXISTS);
    cr_assert(strstr(mnemo_errmsg(), "'a' exists"));
    TU_RC(mnemo_collection_open(&h, db, "nope"), MNEMO_ENOTFOUND);
    cr_assert(strstr(mnemo_errmsg(), "no collection 'nope'"));
    TU_RC(mnemo_collection_drop(db, "nope"), MNEMO_ENOTFOUND);
    TU_RC(mnemo_collection_drop(db, "default"), MNEMO_EINVAL);
    TU_RC(mnemo_collection_rename(db, "default", "z"), MNEMO_EINVAL);
    TU_RC(mnemo_collection_rename(db, "a", "default"), MNEMO_EINVAL);
    TU_RC(mnemo_collection_rename(db, "nope", "z"), MNEMO_ENOTFOUND);
    create("b", 0);
    TU_RC(mnemo_collection_rename(db, "a", "b"), MNEMO_EEXISTS);
    /* A vector of another collection's dimension. */
    mnemo_db *wide = create("wide", 5);
    put(a, NULL, "r", "x", NULL);
    put(wide, NULL, "r", "x", NULL);
    float v5[5] = {1, 2, 3, 4, 5};
    TU_RC(mnemo_vector_put(a, NULL, "r", v5, 5), MNEMO_EDIM);
    TU_OK(mnemo_vector_put(wide, NULL, "r", v5, 5));
    TU_RC(mnemo_vector_put(db, NULL, "r", v5, 5), MNEMO_EINVAL); /* the default collection has no space */
    /* A transaction of another database. */
    mnemo_db *other = NULL;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    TU_OK(tu_open_with(&other, "other", &o));
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, other, 0));
    mnemo_record r = {.id = "q", .content = "q"};
    TU_RC(mnemo_record_put(a, t, &r, MNEMO_PUT_UPSERT), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "another database"));
    mnemo_txn_free(t);
    TU_OK(mnemo_close(other));
    close_db();
}

TU_TEST(collection, every_model_is_isolated)
{
    mnemo_db *a = create("a", 2), *b = create("b", 2);
    const char *meta_a = "{\"kind\": \"a\", \"n\": 1}", *meta_b = "{\"kind\": \"b\", \"n\": 1}";
    put(a, NULL, "x", "rust compilers are fast", meta_a);
    put(a, NULL, "y", "tea in the morning", meta_a);
    put(b, NULL, "x", "python scripts are slow", meta_b);
    /* same id, two records */
    char *c = content_of(a, "x");
    cr_assert_str_eq(c, "rust compilers are fast");
    free(c);
    c = content_of(b, "x");
    cr_assert_str_eq(c, "python scripts are slow");
    free(c);
    TU_RC(mnemo_record_exists(db, NULL, "x"), 0);
    cr_assert_eq(n_listed(a), 2);
    cr_assert_eq(n_listed(b), 1);
    cr_assert_eq(n_listed(db), 0);
    /* find, with and without an index (the index is a's only) */
    TU_OK(mnemo_record_index_create(a, "n"));
    mnemo_record_page *p;
    TU_OK(mnemo_record_find(&p, b, NULL, "{\"n\": 1}", NULL));
    cr_assert_eq(p->count, 1);
    cr_assert_str_eq(p->records[0].metadata, meta_b[0] == '{' ? "{\"kind\":\"b\",\"n\":1}" : "");
    mnemo_record_page_free(p);
    TU_OK(mnemo_record_find(&p, a, NULL, "{\"n\": 1}", NULL));
    cr_assert_eq(p->count, 2);
    mnemo_record_page_free(p);
    char **paths;
    size_t np;
    TU_OK(mnemo_record_index_list(&paths, &np, b, NULL));
    cr_assert_eq(np, 0, "b has no index");
    mnemo_free(paths);
    /* vectors: each collection's own index */
    float va[2] = {1, 0}, vb[2] = {0, 1};
    TU_OK(mnemo_vector_put(a, NULL, "x", va, 2));
    TU_OK(mnemo_vector_put(b, NULL, "x", vb, 2));
    mnemo_vector_hits *h;
    TU_OK(mnemo_vector_search(&h, b, NULL, va, 2, 10, NULL));
    cr_assert_eq(h->count, 1);
    cr_assert_str_eq(h->hits[0].id, "x");
    cr_assert_float_eq(h->hits[0].distance, 2.0f, 1e-6, "b's x is {0, 1}");
    mnemo_vector_hits_free(h);
    float *got;
    size_t dim;
    TU_OK(mnemo_vector_get(&got, &dim, a, NULL, "x"));
    cr_assert_eq(got[0], 1.0f);
    mnemo_free(got);
    /* full text: enabled in a only */
    TU_OK(mnemo_text_enable(a, NULL));
    mnemo_text_hits *th;
    TU_OK(mnemo_text_search(&th, a, NULL, "fast", 10, NULL));
    cr_assert_eq(th->count, 1);
    mnemo_text_hits_free(th);
    TU_RC(mnemo_text_search(&th, b, NULL, "slow", 10, NULL), MNEMO_EINVAL); /* not enabled in b */
    /* graph: edges inside a collection; the same ids elsewhere are other records */
    mnemo_graph_edge e = {.from = "x", .label = "about", .to = "y", .weight = 1};
    TU_OK(mnemo_graph_link(a, NULL, &e, 0));
    TU_RC(mnemo_graph_exists(a, NULL, "x", "about", "y"), 1);
    TU_RC(mnemo_graph_link(b, NULL, &e, 0), MNEMO_ENOTFOUND); /* b has no y */
    uint64_t deg;
    TU_OK(mnemo_graph_degree(&deg, b, NULL, "x", MNEMO_DIR_BOTH, NULL));
    cr_assert_eq(deg, 0);
    /* deleting b's x leaves a's x, its edge and its embedding */
    TU_OK(mnemo_record_delete(b, NULL, "x"));
    TU_RC(mnemo_graph_exists(a, NULL, "x", "about", "y"), 1);
    TU_OK(mnemo_vector_get(&got, &dim, a, NULL, "x"));
    mnemo_free(got);
    TU_OK(mnemo_text_search(&th, a, NULL, "rust", 10, NULL));
    cr_assert_eq(th->count, 1);
    mnemo_text_hits_free(th);
    /* expiry: a purge in one collection leaves the others' expired records */
    mnemo_record r = {.id = "old", .content = "gone", .expires_at = 1};
    TU_OK(mnemo_record_put(a, NULL, &r, MNEMO_PUT_UPSERT));
    TU_OK(mnemo_record_put(b, NULL, &r, MNEMO_PUT_UPSERT));
    size_t purged;
    TU_OK(mnemo_record_purge_expired(a, &purged));
    cr_assert_eq(purged, 1);
    TU_OK(mnemo_record_purge_expired(db, &purged));
    cr_assert_eq(purged, 0);
    TU_OK(mnemo_record_purge_expired(b, &purged));
    cr_assert_eq(purged, 1);
    close_db();
}

TU_TEST(collection, one_transaction_spans_collections)
{
    mnemo_db *a = create("a", 2), *b = create("b", 3);
    for (int commit = 0; commit < 2; commit++) {
        mnemo_txn *t;
        TU_OK(mnemo_txn_begin(&t, db, 0)); /* begun on the default collection's handle */
        put(a, t, "ra", "in a", NULL);
        put(b, t, "rb", "in b", NULL);
        put(db, t, "rd", "in default", NULL);
        float va[2] = {1, 2}, vb[3] = {1, 2, 3};
        TU_OK(mnemo_vector_put(a, t, "ra", va, 2));
        TU_OK(mnemo_vector_put(b, t, "rb", vb, 3));
        TU_OK(mnemo_kv_put(b, t, "k", 1, "v", 1));
        cr_assert_eq(n_listed(a), 0, "nothing is seen before the commit");
        if (commit)
            TU_OK(mnemo_txn_commit(t));
        else
            TU_OK(mnemo_txn_rollback(t));
        mnemo_txn_free(t);
        TU_RC(mnemo_record_exists(a, NULL, "ra"), commit);
        TU_RC(mnemo_record_exists(b, NULL, "rb"), commit);
        TU_RC(mnemo_record_exists(db, NULL, "rd"), commit);
        TU_RC(mnemo_kv_exists(db, NULL, "k", 1), commit); /* key-value pairs are the database's */
        mnemo_vector_hits *h;
        float q[3] = {1, 2, 3};
        TU_OK(mnemo_vector_search(&h, b, NULL, q, 3, 5, NULL));
        cr_assert_eq(h->count, (size_t)commit);
        mnemo_vector_hits_free(h);
    }
    close_db();
}

/* A transaction that wrote into a collection before its drop committed cannot commit after it: its
 * records would outlive the reclaim. */
TU_TEST(collection, drop_conflicts_with_a_writer)
{
    mnemo_db *a = create("a", 2);
    uint32_t cid = cid_of(a);
    put(a, NULL, "r0", "before", NULL);
    mnemo_txn *t, *t2;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(mnemo_txn_begin(&t2, a, 0));
    put(a, t, "r1", "written while the drop commits", NULL);
    put(db, t, "d1", "and one in the default collection", NULL);
    put(a, t2, "r2", "also written while the drop commits", NULL);
    TU_OK(mnemo_collection_drop(db, "a"));
    TU_RC(mnemo_txn_commit(t), MNEMO_EBUSY); /* the whole transaction: none of its records lands */
    mnemo_txn_free(t);
    TU_RC(mnemo_record_exists(db, NULL, "d1"), 0);
    TU_RC(mnemo_txn_commit(t2), MNEMO_ENOTFOUND); /* begun on the dropped collection's handle */
    cr_assert(strstr(mnemo_errmsg(), "dropped"));
    mnemo_txn_free(t2);
    cr_assert_eq(keys_of(cid), 0);
    /* A transaction begun after the drop is refused at its first write. */
    mnemo_db *b = create("b", 0);
    TU_OK(mnemo_txn_begin(&t, db, 0));
    put(b, t, "x", "fine", NULL);
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(mnemo_collection_drop(db, "b"));
    mnemo_record r = {.id = "y", .content = "late"};
    TU_RC(mnemo_record_put(b, t, &r, MNEMO_PUT_UPSERT), MNEMO_ENOTFOUND);
    mnemo_txn_free(t);
    close_db();
}

/* Drops whose reclaim is cut by kill -9 at random points: after a reopen the collection is gone, no
 * key of it is left. */
TU_TEST(collection, kill_during_drop)
{
    TU_NEEDS_DISK("kill -9 and reopen");
    close_db();
    int cut = 0; /* rounds killed after the drop committed and before its reclaim ended */
    for (int round = 0; round < 4; round++) {
        db = tu_open("coll");
        mnemo_db *a;
        char name[16];
        snprintf(name, sizeof name, "c%d", round);
        a = create(name, 4);
        uint32_t cid = cid_of(a);
        mnemo_txn *t;
        TU_OK(mnemo_txn_begin(&t, db, 0));
        for (int i = 0; i < 1500; i++) {
            char id[16];
            snprintf(id, sizeof id, "r%d", i);
            put(a, t, id, "a record of the dropped collection", "{\"i\": 1}");
            float v[4] = {(float)i, 1, 2, 3};
            TU_OK(mnemo_vector_put(a, t, id, v, 4));
        }
        TU_OK(mnemo_txn_commit(t));
        mnemo_txn_free(t);
        close_db();
        pid_t pid = fork();
        if (pid == 0) {
            mnemo_db *d;
            mnemo_options o = MNEMO_OPTIONS_INIT;
            if (tu_open_with(&d, "coll", &o))
                _exit(2);
            mnemo_collection_drop(d, name);
            _exit(0);
        }
        usleep((useconds_t)(20000 + 40000 * round));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        /* What the kill left, seen read-only (which reclaims nothing)... */
        mnemo_options ro = MNEMO_OPTIONS_INIT;
        ro.read_only = 1;
        TU_OK(tu_open_with(&db, "coll", &ro));
        size_t left = keys_of(cid);
        mnemo_db *seen;
        if (mnemo_collection_open(&seen, db, name) == MNEMO_ENOTFOUND)
            cut += left > 0;
        close_db();
        db = tu_open("coll"); /* ...and a read-write open goes on with an unfinished reclaim */
        mnemo_db *h;
        int rc = mnemo_collection_open(&h, db, name);
        if (rc == 0) { /* killed before the drop committed: drop it now */
            TU_OK(mnemo_collection_drop(db, name));
        } else {
            TU_RC(rc, MNEMO_ENOTFOUND);
        }
        cr_assert_eq(keys_of(cid), 0, "round %d: keys of the dropped collection are left", round);
        close_db();
    }
    fprintf(stderr, "kill_during_drop: %d of 4 kills landed inside a reclaim\n", cut);
}

static size_t neighbors_of(mnemo_db *h, const char *id, mnemo_direction dir, char *out, size_t cap)
{
    mnemo_iter *it;
    TU_OK(mnemo_graph_neighbors(&it, h, NULL, id, dir, NULL, 0));
    const mnemo_graph_neighbor *n;
    size_t count = 0;
    out[0] = '\0';
    while (tu_next_neighbor(it, &n) == 0) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s@%s", count ? " " : "", n->id, n->collection ? n->collection : "-");
        count++;
    }
    mnemo_iter_free(it);
    return count;
}

TU_TEST(collection, edges_across_collections)
{
    mnemo_db *a = create("a", 0), *b = create("b", 0);
    put(a, NULL, "x", "a's x", NULL);
    put(a, NULL, "y", "a's y", NULL);
    put(b, NULL, "x", "b's x", NULL);
    put(db, NULL, "d", "default's d", NULL);
    mnemo_graph_edge e = {.from = "x", .label = "mentions", .to = "x", .weight = 2};
    TU_OK(mnemo_graph_link_across(a, NULL, &e, b, 0));      /* a:x -> b:x, same ids, two records */
    mnemo_graph_edge e2 = {.from = "y", .label = "about", .to = "d", .weight = 1};
    TU_OK(mnemo_graph_link_across(a, NULL, &e2, db, 0));    /* a:y -> default:d */
    mnemo_graph_edge e3 = {.from = "x", .label = "next", .to = "y", .weight = 1};
    TU_OK(mnemo_graph_link(a, NULL, &e3, 0));               /* inside a */
    char got[512];
    cr_assert_eq(neighbors_of(a, "x", MNEMO_DIR_OUT, got, sizeof got), 2);
    cr_assert_str_eq(got, "x@b y@-", "a's x -> b's x (named with its collection), a's y");
    neighbors_of(b, "x", MNEMO_DIR_IN, got, sizeof got);
    cr_assert_str_eq(got, "x@a", "seen from b's end, the edge names a");
    neighbors_of(db, "d", MNEMO_DIR_IN, got, sizeof got);
    cr_assert_str_eq(got, "y@a");
    neighbors_of(a, "y", MNEMO_DIR_OUT, got, sizeof got);
    cr_assert_str_eq(got, "d@default");
    uint64_t n;
    TU_OK(mnemo_graph_check(a, &n));
    cr_assert_eq(n, 3, "3 edges leave a's records");
    TU_OK(mnemo_graph_check(b, &n));
    TU_OK(mnemo_graph_check(db, &n));
    /* traversals and paths stay in one collection */
    mnemo_graph_path *p;
    TU_RC(mnemo_graph_shortest_path(&p, a, NULL, "x", "d", NULL), MNEMO_ENOTFOUND);
    TU_OK(mnemo_graph_shortest_path(&p, a, NULL, "x", "y", NULL));
    cr_assert_eq(p->hops, 1);
    mnemo_graph_path_free(p);
    /* bad input */
    TU_RC(mnemo_graph_link_across(a, NULL, &e, NULL, 0), MNEMO_EINVAL);
    mnemo_db *other;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    TU_OK(tu_open_with(&other, "other", &o));
    TU_RC(mnemo_graph_link_across(a, NULL, &e, other, 0), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "another database"));
    TU_OK(mnemo_close(other));
    mnemo_graph_edge missing = {.from = "x", .label = "l", .to = "nobody", .weight = 1};
    TU_RC(mnemo_graph_link_across(a, NULL, &missing, b, 0), MNEMO_ENOTFOUND);
    TU_OK(mnemo_graph_link_across(a, NULL, &missing, b, MNEMO_LINK_CREATE_MISSING));
    TU_RC(mnemo_record_exists(b, NULL, "nobody"), 1);
    TU_RC(mnemo_record_exists(a, NULL, "nobody"), 0);
    TU_OK(mnemo_graph_unlink_across(a, NULL, "x", "l", b, "nobody"));
    TU_RC(mnemo_graph_unlink_across(a, NULL, "x", "l", b, "nobody"), MNEMO_ENOTFOUND);
    /* deleting the far end deletes the edge at the near end; dropping a collection, its records' */
    TU_OK(mnemo_record_delete(db, NULL, "d"));
    neighbors_of(a, "y", MNEMO_DIR_OUT, got, sizeof got);
    cr_assert_str_eq(got, "");
    TU_OK(mnemo_collection_drop(db, "b"));
    neighbors_of(a, "x", MNEMO_DIR_OUT, got, sizeof got);
    cr_assert_str_eq(got, "y@-", "the edge into the dropped collection went with it");
    TU_OK(mnemo_graph_check(a, &n));
    cr_assert_eq(n, 1);
    close_db();
}

/* One transaction: a record in one collection, an edge to another, two vectors: all or nothing. */
TU_TEST(collection, a_record_an_edge_and_two_vectors_commit_together)
{
    mnemo_db *a = create("a", 2), *b = create("b", 2);
    put(b, NULL, "target", "in b", NULL);
    for (int commit = 0; commit < 2; commit++) {
        mnemo_txn *t;
        TU_OK(mnemo_txn_begin(&t, db, 0));
        put(a, t, "src", "in a", NULL);
        mnemo_graph_edge e = {.from = "src", .label = "l", .to = "target", .weight = 1};
        TU_OK(mnemo_graph_link_across(a, t, &e, b, 0));
        float v[2] = {1, 2};
        TU_OK(mnemo_vector_put(a, t, "src", v, 2));
        TU_OK(mnemo_vector_put(b, t, "target", v, 2));
        TU_OK(commit ? mnemo_txn_commit(t) : mnemo_txn_rollback(t));
        mnemo_txn_free(t);
        TU_RC(mnemo_record_exists(a, NULL, "src"), commit);
        char got[128];
        cr_assert_eq(neighbors_of(b, "target", MNEMO_DIR_IN, got, sizeof got), (size_t)commit);
        float *out;
        size_t dim;
        TU_RC(mnemo_vector_get(&out, &dim, b, NULL, "target"), commit ? 0 : MNEMO_ENOTFOUND);
        if (commit)
            mnemo_free(out);
    }
    close_db();
}

/* A child creating collections with vector spaces is killed at random points: every collection
 * listed after a reopen opens with its space and works, and the name the child was creating is
 * either there or free to create (a half-made entry is invisible and taken over). */
TU_TEST(collection, kill_during_creation)
{
    TU_NEEDS_DISK("kill -9 and reopen");
    close_db();
    for (int round = 0; round < 4; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            mnemo_db *d, *h;
            mnemo_options o = MNEMO_OPTIONS_INIT;
            o.create_if_missing = 1;
            if (tu_open_with(&d, "coll", &o))
                _exit(2);
            mnemo_collection_options co = MNEMO_COLLECTION_OPTIONS_INIT;
            co.vector_dim = 3;
            for (int i = 0;; i++) {
                char name[32];
                snprintf(name, sizeof name, "r%d-%d", round, i);
                if (mnemo_collection_create(&h, d, name, &co))
                    _exit(3);
            }
        }
        usleep((useconds_t)(30000 + 20000 * round));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st), "the child stopped by itself: %d", WEXITSTATUS(st));
        db = tu_open("coll");
        mnemo_collection_list *l;
        TU_OK(mnemo_collection_list_all(&l, db));
        int made = 0;
        for (size_t i = 1; i < l->count; i++) {
            mnemo_db *h;
            TU_OK(mnemo_collection_open(&h, db, l->items[i].name));
            mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
            TU_OK(mnemo_vector_space_get(&sp, h));
            cr_assert_eq(sp.dim, 3, "collection %s lost its space", l->items[i].name);
            made += !strncmp(l->items[i].name, "r", 1) && atoi(l->items[i].name + 1) == round;
        }
        mnemo_collection_list_free(l);
        /* the next name of this round: there already, or creatable now */
        char next[32];
        snprintf(next, sizeof next, "r%d-%d", round, made);
        mnemo_db *h;
        mnemo_collection_options co = MNEMO_COLLECTION_OPTIONS_INIT;
        co.vector_dim = 3;
        int rc = mnemo_collection_create(&h, db, next, &co);
        cr_assert(rc == 0 || rc == MNEMO_EEXISTS, "creating %s after the kill: %s", next, mnemo_errmsg());
        if (rc == 0)
            put(h, NULL, "x", "works", NULL);
        close_db();
    }
}

typedef struct writer_arg {
    mnemo_db *h;
    int id;
    int ok, refused;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *w = p;
    for (int i = 0; i < 400; i++) {
        char id[32];
        snprintf(id, sizeof id, "w%d-%d", w->id, i);
        mnemo_record r = {.id = id, .content = "written during the drop"};
        float v[2] = {(float)i, 1};
        mnemo_txn *t = NULL;
        int rc = mnemo_txn_begin(&t, w->h, 0);
        if (!rc) {
            if (!(rc = mnemo_record_put(w->h, t, &r, MNEMO_PUT_UPSERT)) && !(rc = mnemo_vector_put(w->h, t, id, v, 2)))
                rc = mnemo_txn_commit(t);
            mnemo_txn_free(t);
        }
        if (rc == 0)
            w->ok++;
        else if (rc == MNEMO_ENOTFOUND || rc == MNEMO_EBUSY)
            w->refused++;
        else
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

/* Writers in threads keep writing records with embeddings into a collection while it is dropped:
 * each write commits before the drop or is refused after it, and nothing of the collection is left. */
TU_TEST(collection, drop_under_concurrent_writers)
{
    mnemo_db *a = create("a", 2);
    uint32_t cid = cid_of(a);
    pthread_t th[3];
    writer_arg w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (writer_arg){a, i, 0, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    usleep(20000);
    TU_OK(mnemo_collection_drop(db, "a"));
    int ok = 0, refused = 0;
    for (int i = 0; i < 3; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "a writer failed with %s", mnemo_strerror((int)(intptr_t)res));
        ok += w[i].ok;
        refused += w[i].refused;
    }
    cr_assert_gt(refused, 0, "the drop refused the writes after it");
    cr_assert_eq(keys_of(cid), 0, "%d writes committed, %d refused: keys of the dropped collection are left", ok,
                 refused);
    uint64_t edges;
    TU_OK(mnemo_graph_check(db, &edges));
    close_db();
}

/* A flipped byte in a registry entry is reported, naming the collection, not taken for another. */
TU_TEST(collection, a_damaged_registry_entry_is_ecorrupt)
{
    TU_NEEDS_DISK("damages a stored value");
    create("alice", 0);
    close_db();
    tu_raw r;
    tu_raw_open(&r, tu_path("coll"));
    const char key[] = {'K', 0x00, 'a', 'l', 'i', 'c', 'e'};
    size_t n;
    char *v = tu_raw_get(&r, 6, key, sizeof key, &n);
    cr_assert_not_null(v);
    v[1] ^= 0x10;
    tu_raw_put(&r, 6, key, sizeof key, v, n);
    free(v);
    tu_raw_close(&r);
    db = tu_open("coll");
    mnemo_db *h;
    TU_RC(mnemo_collection_open(&h, db, "alice"), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "registry"), "%s", mnemo_errmsg());
    mnemo_collection_list *l;
    TU_RC(mnemo_collection_list_all(&l, db), MNEMO_ECORRUPT);
    close_db();
}

/* A record deleted before its collection's index was loaded takes its embedding along. */
TU_TEST(collection, a_delete_before_the_index_is_loaded_takes_the_embedding)
{
    TU_NEEDS_DISK("reopens");
    mnemo_db *a = create("a", 2);
    put(a, NULL, "x", "x", NULL);
    put(a, NULL, "y", "y", NULL);
    float v[2] = {1, 2};
    TU_OK(mnemo_vector_put(a, NULL, "x", v, 2));
    TU_OK(mnemo_vector_put(a, NULL, "y", v, 2));
    reopen();
    TU_OK(mnemo_collection_open(&a, db, "a"));
    cr_assert_eq(indexes_loaded(NULL), 0);
    TU_OK(mnemo_record_delete(a, NULL, "x"));
    float *got;
    size_t dim;
    TU_RC(mnemo_vector_get(&got, &dim, a, NULL, "x"), MNEMO_ENOTFOUND);
    uint64_t n;
    TU_OK(mnemo_vector_check(a, &n));
    cr_assert_eq(n, 1);
    mnemo_vector_hits *h;
    TU_OK(mnemo_vector_search(&h, a, NULL, v, 2, 5, NULL));
    cr_assert_eq(h->count, 1);
    cr_assert_str_eq(h->hits[0].id, "y");
    mnemo_vector_hits_free(h);
    close_db();
}

/* Another process drops a collection this one has open: the handle here says so at its next call,
 * instead of serving what its index or cache still holds. The other process opens read-only, which
 * every engine on disk allows beside a writer (on rocksdb it is a follower). */
TU_TEST(collection, a_drop_by_another_process_is_seen)
{
    TU_NEEDS_DISK("a second process on the database");
    mnemo_db *a = create("a", 2);
    put(a, NULL, "x", "x", NULL);
    float v[2] = {1, 2};
    TU_OK(mnemo_vector_put(a, NULL, "x", v, 2));
    int to_child[2], to_parent[2];
    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(to_parent), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        mnemo_db *d, *h;
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.read_only = 1;
        char c = 0;
        if (tu_open_with(&d, "coll", &o) || mnemo_collection_open(&h, d, "a") || mnemo_record_exists(h, NULL, "x") != 1)
            _exit(2);
        mnemo_vector_hits *hits;
        if (mnemo_vector_search(&hits, h, NULL, v, 2, 1, NULL) || hits->count != 1)
            _exit(3);
        mnemo_vector_hits_free(hits);
        if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
            _exit(4);
        usleep(20000); /* a rocksdb follower catches up at most once a millisecond (storage.md) */
        int rc1 = mnemo_vector_search(&hits, h, NULL, v, 2, 1, NULL);
        int dropped = strstr(mnemo_errmsg(), "dropped") != NULL;
        mnemo_record *r;
        int rc2 = mnemo_record_get(&r, h, NULL, "x");
        mnemo_close(d);
        _exit(rc1 == MNEMO_ENOTFOUND && dropped && rc2 == MNEMO_ENOTFOUND ? 0 : 5);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char c = 0;
    cr_assert_eq(read(to_parent[0], &c, 1), 1, "the child did not get ready");
    TU_OK(mnemo_collection_drop(db, "a"));
    cr_assert_eq(write(to_child[1], "d", 1), 1);
    int st;
    waitpid(pid, &st, 0);
    close(to_child[1]);
    close(to_parent[0]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status %d", WEXITSTATUS(st));
    close_db();
}

static const mnemo_idcounter iid_hwm = {MNEMO_MKEY_IID_HWM, 8, UINT64_MAX, "record internal ids"};

static size_t filtered(mnemo_db *h, const char *filter, size_t k)
{
    mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    o.filter = filter;
    float q[2] = {0, 0};
    mnemo_vector_hits *hits;
    TU_OK(mnemo_vector_search(&hits, h, NULL, q, 2, k, &o));
    size_t n = hits->count;
    mnemo_vector_hits_free(hits);
    return n;
}

/* A collection made late has only high internal ids (they are handed out database-wide): its
 * filter mirror spans its own ids, not all ids from 0, also when lower ids come later. */
TU_TEST(collection, a_late_collections_filter_mirror_spans_its_own_ids)
{
    TU_NEEDS_DISK("reopens to take ids from where the counter was set");
    TU_OK(mnemo_idalloc__set(db, NULL, &iid_hwm, 50000000));
    reopen();
    mnemo_db *a = create("late", 2);
    for (int i = 0; i < 50; i++) {
        char id[16], meta[32];
        snprintf(id, sizeof id, "r%02d", i);
        snprintf(meta, sizeof meta, "{\"b\": %d}", i);
        put(a, NULL, id, "", meta);
        float v[2] = {(float)i, 1};
        TU_OK(mnemo_vector_put(a, NULL, id, v, 2));
    }
    cr_assert_eq(filtered(a, "{\"b\": {\"$lt\": 10}}", 20), 10);
    size_t entries, bytes = mnemo_vector__meta_size(a, &entries);
    cr_assert_eq(entries, 50);
    cr_assert_lt(bytes, 1u << 20, "the mirror of 50 records holds %zu bytes", bytes);
    /* lower ids in the same collection, read in among the others when the mirror is built */
    TU_OK(mnemo_idalloc__set(db, NULL, &iid_hwm, 49990000));
    reopen();
    TU_OK(mnemo_collection_open(&a, db, "late"));
    for (int i = 0; i < 50; i++) {
        char id[16], meta[32];
        snprintf(id, sizeof id, "q%02d", i);
        snprintf(meta, sizeof meta, "{\"b\": %d}", 100 + i);
        put(a, NULL, id, "", meta);
        float v[2] = {(float)i, 2};
        TU_OK(mnemo_vector_put(a, NULL, id, v, 2));
    }
    cr_assert_eq(filtered(a, "{\"b\": {\"$gte\": 100}}", 60), 50);
    cr_assert_eq(filtered(a, "{\"b\": {\"$lt\": 10}}", 60), 10);
    cr_assert_eq(filtered(a, "{\"b\": {\"$in\": [5, 105]}}", 60), 2);
    bytes = mnemo_vector__meta_size(a, &entries);
    cr_assert_eq(entries, 100);
    cr_assert_lt(bytes, 1u << 20, "the mirror of 100 records holds %zu bytes", bytes);
    close_db();
}

/* A new collection's index is sized by its own vectors, not by every vector of the database:
 * bench_collection saw creating the 10,000th collection take ~50 MB and 40-70 ms (vector/index.c
 * rebuild_from_data sizes the index with mnemo_db__estimate_keys(VECTOR_DATA), the database's). */
TU_TEST(collection, new_index_sized_by_its_collection)
{
    enum { N = 20000, DIM = 8 };
    mnemo_vector_stats before = MNEMO_VECTOR_STATS_INIT, after = MNEMO_VECTOR_STATS_INIT;
    TU_OK(mnemo_vector_stats_get(&before, create("a", DIM)));
    mnemo_db *big = create("big", DIM);
    float *v = malloc(N * DIM * sizeof *v);
    char (*ids)[16] = malloc(N * sizeof *ids);
    const char **idp = malloc(N * sizeof *idp);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, big, 0));
    for (size_t i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "r%zu", i);
        idp[i] = ids[i];
        put(big, txn, ids[i], NULL, NULL);
        for (size_t d = 0; d < DIM; d++)
            v[i * DIM + d] = (float)((i * 7 + d * 13) % 101);
    }
    TU_OK(mnemo_vector_put_batch(big, txn, idp, v, N, DIM));
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    TU_OK(mnemo_vector_stats_get(&after, create("b", DIM)));
    cr_assert_eq(after.index_bytes, before.index_bytes,
                 "an empty collection made after another's %d vectors holds %llu index bytes, one made before %llu",
                 N, (unsigned long long)after.index_bytes, (unsigned long long)before.index_bytes);
    free(v);
    free(ids);
    free(idp);
    close_db();
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* A filtered search in a small collection costs memory by its own records, not by how many
 * collections were made before it: bench_collection saw 134 MB for one of 100 records made after
 * 10,000 others (vector/meta.c's mirror is an array indexed by internal id; ids are database-wide
 * and every handle that writes claims a block of 1,024). */
TU_TEST(collection, filter_mirror_sized_by_its_collection)
{
    enum { BEFORE = 2000 };
    for (int c = 0; c < BEFORE; c++) {
        char name[32];
        snprintf(name, sizeof name, "e%d", c);
        mnemo_db *h;
        TU_OK(mnemo_collection_create(&h, db, name, NULL));
        put(h, NULL, "r", NULL, NULL); /* takes this handle's block of ids */
    }
    mnemo_db *h = create("late", 4);
    for (int i = 0; i < 10; i++) {
        char id[16], meta[32];
        snprintf(id, sizeof id, "r%d", i);
        snprintf(meta, sizeof meta, "{\"x\": %d}", i);
        put(h, NULL, id, NULL, meta);
        float v[4] = {(float)i, 1, 2, 3};
        TU_OK(mnemo_vector_put(h, NULL, id, v, 4));
    }
    mnemo_record *r;
    TU_OK(mnemo_record_get(&r, h, NULL, "r0"));
    uint64_t iid = r->internal_id;
    mnemo_record_free(r);
    long before = rss_kb();
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.filter = "{\"x\": {\"$lt\": 5}}";
    mnemo_vector_hits *hits;
    float q[4] = {0, 1, 2, 3};
    TU_OK(mnemo_vector_search(&hits, h, NULL, q, 4, 10, &so));
    cr_assert_eq(hits->count, 5);
    mnemo_vector_hits_free(hits);
    long grew = rss_kb() - before;
    cr_assert_lt(grew, 4096, "a filtered search over 10 records (internal ids from %llu) took %ld kB",
                 (unsigned long long)iid, grew);
    close_db();
}

/* ---- index_memory_limit: idle collection indexes are evicted, and load again when needed ---- */

enum { EV_DIM = 8, EV_N = 40 };

static void reopen_limited(size_t limit)
{
    close_db();
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.index_memory_limit = limit;
    TU_OK(tu_open_with(&db, "coll", &o));
}

static void ev_vec(float v[EV_DIM], int coll, int i)
{
    for (int d = 0; d < EV_DIM; d++)
        v[d] = (float)((coll * 131 + i * 17 + d * 7) % 97);
}

/* Collection c's records r0..r(EV_N-1) with embeddings. */
static mnemo_db *ev_fill(int c)
{
    char name[16];
    snprintf(name, sizeof name, "ev%d", c);
    mnemo_db *h = create(name, EV_DIM);
    for (int i = 0; i < EV_N; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        put(h, NULL, id, "x", NULL);
        float v[EV_DIM];
        ev_vec(v, c, i);
        TU_OK(mnemo_vector_put(h, NULL, id, v, EV_DIM));
    }
    return h;
}

/* Each record's own embedding finds it first (an evicted and reloaded index answers as before). */
static void ev_check(mnemo_db *h, int c)
{
    for (int i = 0; i < EV_N; i += 7) {
        float v[EV_DIM];
        ev_vec(v, c, i);
        mnemo_vector_hits *hits;
        TU_OK(mnemo_vector_search(&hits, h, NULL, v, EV_DIM, 1, NULL));
        char want[16];
        snprintf(want, sizeof want, "r%d", i);
        cr_assert_eq(hits->count, 1);
        cr_assert_float_eq(hits->hits[0].distance, 0.0f, 1e-6f, "collection %d, %s", c, want);
        mnemo_vector_hits_free(hits);
    }
}

static mnemo_db *ev_open(int c)
{
    char name[16];
    snprintf(name, sizeof name, "ev%d", c);
    mnemo_db *h;
    TU_OK(mnemo_collection_open(&h, db, name));
    return h;
}

/* One small index, as a reopen loads it: hnswlib's fixed locks (2.5 MiB) and little else. */
static size_t one_index_bytes(void)
{
    reopen_limited(0);
    ev_check(ev_open(0), 0);
    mnemo_stats s = MNEMO_STATS_INIT;
    TU_OK(mnemo_stats_get(&s, db));
    cr_assert_gt(s.collection_indexes_loaded, 0);
    return s.collection_index_bytes / s.collection_indexes_loaded;
}

/* Collections ev0..ev(n-1) filled, the database reopened with a limit of `indexes` small indexes
 * (returned, in bytes). */
static size_t ev_setup(int n, double indexes)
{
    for (int c = 0; c < n; c++)
        ev_fill(c);
    size_t limit = (size_t)(indexes * (double)one_index_bytes());
    reopen_limited(limit);
    return limit;
}

TU_TEST(collection, idle_indexes_are_evicted_under_the_memory_limit)
{
    TU_NEEDS_DISK("reopens with a limit");
    enum { C = 8 };
    size_t limit = ev_setup(C, 3.5);
    mnemo_db *h[C];
    for (int c = 0; c < C; c++)
        h[c] = ev_open(c);
    uint64_t evicted;
    for (int round = 0; round < 2; round++)
        for (int c = 0; c < C; c++) {
            ev_check(h[c], c);
            mnemo_stats s = MNEMO_STATS_INIT;
            TU_OK(mnemo_stats_get(&s, db));
            cr_assert_leq(s.collection_index_bytes, limit, "%zu indexes, %zu bytes over the limit %zu",
                          s.collection_indexes_loaded, s.collection_index_bytes, limit);
            cr_assert_geq(s.collection_indexes_loaded, 1);
        }
    cr_assert_eq(indexes_loaded(&evicted), 3, "the three most recently used stay");
    cr_assert_geq(evicted, 2 * C - 3, "each round evicts all but three: %llu", (unsigned long long)evicted);

    /* writes to an evicted collection: its index loads, takes them, and answers with them */
    float v[EV_DIM];
    for (int d = 0; d < EV_DIM; d++)
        v[d] = 500.0f + (float)d; /* away from every ev_vec */
    put(h[0], NULL, "new", "z", NULL);
    TU_OK(mnemo_vector_put(h[0], NULL, "new", v, EV_DIM));
    TU_OK(mnemo_record_delete(h[0], NULL, "r0"));
    for (int c = 1; c < C; c++)
        ev_check(h[c], c); /* evicts collection 0 again, with its new commits */
    mnemo_vector_hits *hits;
    TU_OK(mnemo_vector_search(&hits, h[0], NULL, v, EV_DIM, 1, NULL));
    cr_assert_str_eq(hits->hits[0].id, "new");
    mnemo_vector_hits_free(hits);
    uint64_t n;
    TU_OK(mnemo_vector_check(h[0], &n));
    cr_assert_eq(n, EV_N, "r0 went, new came");

    /* and after a reopen without a limit, every collection is whole */
    reopen_limited(0);
    for (int c = 1; c < C; c++)
        ev_check(ev_open(c), c);
    TU_OK(mnemo_vector_check(ev_open(0), &n));
    cr_assert_eq(n, EV_N);
    close_db();
}

/* An index whose vectors a transaction is changing is not evicted before that transaction ends:
 * its commit applies them to the index it began with. */
TU_TEST(collection, an_index_with_uncommitted_changes_stays_loaded)
{
    TU_NEEDS_DISK("reopens with a limit");
    enum { C = 5 };
    ev_setup(C, 2.5);
    mnemo_db *h[C];
    for (int c = 0; c < C; c++)
        h[c] = ev_open(c);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0)); /* a transaction of the database's own handle */
    float v[EV_DIM];
    for (int d = 0; d < EV_DIM; d++)
        v[d] = 500.0f + (float)d; /* away from every ev_vec */
    put(h[0], t, "pending", "y", NULL);
    TU_OK(mnemo_vector_put(h[0], t, "pending", v, EV_DIM));
    for (int c = 1; c < C; c++)
        ev_check(h[c], c);
    uint64_t evicted;
    indexes_loaded(&evicted);
    cr_assert_geq(evicted, 2, "the other collections were evicted meanwhile");
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    mnemo_vector_hits *hits;
    TU_OK(mnemo_vector_search(&hits, h[0], NULL, v, EV_DIM, 1, NULL));
    cr_assert_str_eq(hits->hits[0].id, "pending");
    mnemo_vector_hits_free(hits);

    /* rolled back: the same */
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(mnemo_vector_put(h[0], t, "r1", v, EV_DIM));
    for (int c = 1; c < C; c++)
        ev_check(h[c], c);
    mnemo_txn_free(t);
    ev_check(h[0], 0);
    close_db();
}

typedef struct ev_arg {
    mnemo_db *h;
    int c;
    int rc;
} ev_arg;

static void *ev_churn(void *p)
{
    ev_arg *a = p;
    for (int i = 0; i < 60 && !a->rc; i++) {
        float v[EV_DIM];
        ev_vec(v, a->c, i % EV_N);
        mnemo_vector_hits *hits;
        if ((a->rc = mnemo_vector_search(&hits, a->h, NULL, v, EV_DIM, 1, NULL)) != 0)
            break;
        if (hits->count != 1 || hits->hits[0].distance != 0.0f)
            a->rc = -1;
        mnemo_vector_hits_free(hits);
        if (i % 5 == 0 && !a->rc) { /* and writes, so that commits meet evictions */
            char id[16];
            snprintf(id, sizeof id, "r%d", i % EV_N);
            a->rc = mnemo_vector_put(a->h, NULL, id, v, EV_DIM);
        }
        usleep(100); /* out of calls now and then: only then can its index go */
    }
    return NULL;
}

/* Threads searching and writing their own collections under a limit of two indexes: evictions
 * happen while other threads are in calls (ASan would see a state freed under a call). */
TU_TEST(collection, eviction_under_concurrent_calls)
{
    TU_NEEDS_DISK("reopens with a limit");
    enum { C = 6 };
    ev_setup(C, 2.5);
    pthread_t th[C];
    ev_arg a[C];
    for (int c = 0; c < C; c++) {
        a[c] = (ev_arg){ev_open(c), c, 0};
        cr_assert_eq(pthread_create(&th[c], NULL, ev_churn, &a[c]), 0);
    }
    for (int c = 0; c < C; c++) {
        pthread_join(th[c], NULL);
        cr_assert_eq(a[c].rc, 0, "collection %d: %s", c, a[c].rc > 0 ? mnemo_strerror(a[c].rc) : "wrong hit");
    }
    /* Eviction is decided at loads: when every load during the calls found the others busy,
     * nothing was evicted and nothing loads again here. A new collection's load, with all idle,
     * surely evicts; then one after the other, each reloads. */
    ev_check(ev_fill(C), C);
    for (int c = 0; c < C; c++)
        ev_check(a[c].h, c);
    uint64_t evicted;
    indexes_loaded(&evicted);
    cr_assert_gt(evicted, C, "each of the %d loads evicted", C + 1);
    for (int c = 0; c < C; c++) {
        uint64_t n;
        TU_OK(mnemo_vector_check(a[c].h, &n));
        cr_assert_eq(n, EV_N);
    }
    close_db();
}

/* A version-5 options struct (before index_memory_limit) is read without it: no limit. A version-2
 * mnemo_stats is filled without the collection figures. */
TU_TEST(collection, older_structs_know_no_memory_limit)
{
    TU_NEEDS_DISK("reopens");
    for (int c = 0; c < 3; c++)
        ev_fill(c);
    close_db();
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.version = 5;
    o.index_memory_limit = 1; /* beyond a version-5 struct: never read */
    TU_OK(tu_open_with(&db, "coll", &o));
    for (int c = 0; c < 3; c++)
        ev_check(ev_open(c), c);
    uint64_t evicted;
    cr_assert_eq(indexes_loaded(&evicted), 3);
    cr_assert_eq(evicted, 0);
    unsigned char buf[sizeof(mnemo_stats)];
    memset(buf, TU_CANARY, sizeof buf);
    mnemo_stats *s2 = (mnemo_stats *)(void *)buf;
    s2->version = 2;
    TU_OK(mnemo_stats_get(s2, db));
    for (size_t i = offsetof(mnemo_stats, collection_indexes_loaded); i < sizeof buf; i++)
        cr_assert_eq(buf[i], TU_CANARY, "byte %zu of a version-2 mnemo_stats written", i);
    close_db();
}

/* ---- index_memory_limit under attack: a limit of one byte evicts every idle index at each load ---- */

/* The database reopened (a fresh one on the memory engine) with index_memory_limit 1. */
static void open_evicting_all(void)
{
    close_db();
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.index_memory_limit = 1;
    TU_OK(tu_open_with(&db, "coll", &o));
}

static void far_vec(float v[EV_DIM])
{
    for (int d = 0; d < EV_DIM; d++)
        v[d] = 500.0f + (float)d; /* away from every ev_vec */
}

static const char *nearest(mnemo_db *h, const float *v)
{
    static char id[32];
    mnemo_vector_hits *hits;
    TU_OK(mnemo_vector_search(&hits, h, NULL, v, EV_DIM, 1, NULL));
    cr_assert_eq(hits->count, 1);
    snprintf(id, sizeof id, "%s", hits->hits[0].id);
    mnemo_vector_hits_free(hits);
    return id;
}

/* One transaction of the database's handle changes three collections (puts, and deletes through
 * the record listener, which loads an evicted index itself) while a fourth is searched: the three
 * stay loaded until the commit or rollback, then go at the next load. */
TU_TEST(collection, a_transaction_across_collections_under_a_one_byte_limit)
{
    open_evicting_all();
    enum { C = 4 };
    mnemo_db *h[C + 1]; /* and one more, whose loads evict (eviction is decided at loads) */
    for (int c = 0; c <= C; c++)
        h[c] = ev_fill(c);
    for (int c = 0; c < C; c++)
        ev_check(h[c], c);
    uint64_t evicted;
    cr_assert_eq(indexes_loaded(&evicted), 1);
    float v[EV_DIM];
    far_vec(v);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    for (int c = 0; c < C - 1; c++) {
        put(h[c], t, "t", "t", NULL);
        TU_OK(mnemo_vector_put(h[c], t, "t", v, EV_DIM));
        TU_OK(mnemo_record_delete(h[c], t, "r1"));
    }
    ev_check(h[C - 1], C - 1);
    cr_assert_eq(indexes_loaded(NULL), C, "the indexes the transaction changes stay");
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    for (int c = 0; c < C - 1; c++) {
        cr_assert_str_eq(nearest(h[c], v), "t");
        uint64_t n;
        TU_OK(mnemo_vector_check(h[c], &n));
        cr_assert_eq(n, EV_N, "collection %d: t came, r1 went", c);
    }
    ev_check(h[C], C);
    cr_assert_eq(indexes_loaded(NULL), 1, "committed, they are idle again");

    /* rolled back (by mnemo_txn_free): nothing of it reaches the indexes */
    float w[EV_DIM];
    for (int d = 0; d < EV_DIM; d++)
        w[d] = -500.0f - (float)d;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(mnemo_vector_put(h[0], t, "r2", w, EV_DIM));
    TU_OK(mnemo_record_delete(h[1], t, "r3"));
    ev_check(h[2], 2);
    mnemo_txn_free(t);
    cr_assert_str_neq(nearest(h[0], w), "r2");
    for (int c = 0; c < 2; c++) {
        uint64_t n;
        TU_OK(mnemo_vector_check(h[c], &n));
        cr_assert_eq(n, EV_N);
    }
    indexes_loaded(&evicted);
    cr_assert_geq(evicted, 3 * C);
    close_db();
}

/* Flips a byte of the stored value of key in cf under h's collection (as a disk would). */
static void flip_stored(mnemo_db *h, mnemo_cf cf, const void *key, size_t klen, size_t at)
{
    char *v;
    size_t n;
    TU_OK(mnemo_txn__get(&v, &n, h, NULL, cf, key, klen, 0));
    cr_assert_gt(n, at);
    v[at] ^= 0x20;
    TU_OK(mnemo_txn__put(h, NULL, cf, key, klen, v, n));
    mnemo__free(v);
}

/* While a collection's index is evicted, its snapshot and one of its stored vectors are damaged:
 * the reload rebuilds from vector_data and the search says MNEMO_ECORRUPT naming the vector (not a
 * crash, not wrong hits); putting the vector again repairs it, and the index evicts and reloads
 * whole afterwards. */
TU_TEST(collection, a_damaged_vector_found_when_an_evicted_index_reloads_is_ecorrupt)
{
    open_evicting_all();
    mnemo_db *a = ev_fill(0), *b = ev_fill(1);
    ev_check(b, 1);
    uint64_t evicted;
    cr_assert_eq(indexes_loaded(&evicted), 1);
    cr_assert_geq(evicted, 1, "a's index went when b's loaded");
    uint64_t iid;
    TU_OK(mnemo_record__resolve(&iid, a, NULL, "r3"));
    unsigned char key[8];
    mnemo_vector__data_key(key, iid);
    flip_stored(a, MNEMO_CF_VECTOR_DATA, key, 8, 9);
    flip_stored(a, MNEMO_CF_VECTOR_INDEX, "H", 1, 3);
    float v[EV_DIM];
    ev_vec(v, 0, 5);
    mnemo_vector_hits *hits;
    TU_RC(mnemo_vector_search(&hits, a, NULL, v, EV_DIM, 1, NULL), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "damaged"), "%s", mnemo_errmsg());
    ev_check(b, 1); /* evicts a again, damaged as it is */
    TU_RC(mnemo_vector_search(&hits, a, NULL, v, EV_DIM, 1, NULL), MNEMO_ECORRUPT);
    ev_vec(v, 0, 3);
    TU_OK(mnemo_vector_put(a, NULL, "r3", v, EV_DIM));
    ev_check(a, 0);
    ev_check(b, 1);
    ev_check(a, 0);
    uint64_t n;
    TU_OK(mnemo_vector_check(a, &n));
    cr_assert_eq(n, EV_N);
    close_db();
}

typedef struct ev_loop {
    mnemo_db **h;
    int n;
    atomic_int calls; /* successful searches */
    int other;        /* the first unexpected code */
    int dropped;      /* index of a collection that may say ENOTFOUND (-1: none) */
    int stop_on_close;
} ev_loop;

static void *ev_search_loop(void *p)
{
    ev_loop *l = p;
    for (int i = 0; i < 400; i++) {
        int c = i % l->n;
        float v[EV_DIM];
        ev_vec(v, c, i % EV_N);
        mnemo_vector_hits *hits;
        int rc = mnemo_vector_search(&hits, l->h[c], NULL, v, EV_DIM, 1, NULL);
        if (rc == 0) {
            l->calls++;
            mnemo_vector_hits_free(hits);
        } else if (rc == MNEMO_EINVAL && l->stop_on_close && strstr(mnemo_errmsg(), "closed")) {
            break;
        } else if (!(rc == MNEMO_ENOTFOUND && c == l->dropped)) {
            l->other = rc;
            break;
        }
    }
    return NULL;
}

/* The database closes while another thread's searches evict each other's indexes: the thread's
 * calls end with "closed", nothing is freed under them (ASan). */
TU_TEST(collection, close_while_another_thread_evicts)
{
    open_evicting_all();
    enum { C = 3 };
    mnemo_db *h[C];
    for (int c = 0; c < C; c++)
        h[c] = ev_fill(c);
    ev_loop l = {h, C, 0, 0, -1, 1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, ev_search_loop, &l), 0);
    while (atomic_load(&l.calls) < 2 * C) /* evictions under way */
        usleep(500);
    close_db();
    pthread_join(th, NULL);
    cr_assert_eq(l.other, 0, "%s", mnemo_strerror(l.other));
}

/* A collection is dropped while another thread's searches evict it and load it again: its handle
 * says ENOTFOUND from then on, the others go on, and no key of it is left (an eviction writes the
 * index's snapshot: never into a dropped collection). */
TU_TEST(collection, drop_while_another_thread_evicts)
{
    open_evicting_all();
    enum { C = 3 };
    mnemo_db *h[C];
    for (int c = 0; c < C; c++)
        h[c] = ev_fill(c);
    for (int i = 0; i < EV_N; i += 3) { /* log entries, so that its eviction writes a snapshot */
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        float v[EV_DIM];
        ev_vec(v, 1, i);
        TU_OK(mnemo_vector_put(h[1], NULL, id, v, EV_DIM));
    }
    uint32_t cid = cid_of(h[1]);
    ev_loop l = {h, C, 0, 0, 1, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, ev_search_loop, &l), 0);
    while (atomic_load(&l.calls) < 2 * C)
        usleep(500);
    TU_OK(mnemo_collection_drop(db, "ev1"));
    pthread_join(th, NULL);
    cr_assert_eq(l.other, 0, "%s", mnemo_strerror(l.other));
    ev_check(h[0], 0);
    ev_check(h[2], 2);
    cr_assert_eq(keys_of(cid), 0, "keys of the dropped collection are left");
    close_db();
}

/* kill -9 of a process whose loads evict (each eviction writes the index's snapshot) at several
 * points: after a reopen every collection's index agrees with its data and answers exactly. */
TU_TEST(collection, kill_while_evicting)
{
    TU_NEEDS_DISK("kill -9 and reopen");
    enum { C = 3 };
    for (int c = 0; c < C; c++)
        ev_fill(c);
    close_db();
    for (int round = 0; round < 4; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            mnemo_options o = MNEMO_OPTIONS_INIT;
            o.index_memory_limit = 1;
            mnemo_db *d, *h[C];
            if (tu_open_with(&d, "coll", &o))
                _exit(2);
            for (int c = 0; c < C; c++) {
                char name[16];
                snprintf(name, sizeof name, "ev%d", c);
                if (mnemo_collection_open(&h[c], d, name))
                    _exit(3);
            }
            for (int i = 0;; i++) { /* each call loads its collection and evicts the one before */
                int c = i % C;
                char id[16];
                snprintf(id, sizeof id, "r%d", i % EV_N);
                float v[EV_DIM];
                ev_vec(v, c, i % EV_N);
                if (mnemo_vector_put(h[c], NULL, id, v, EV_DIM))
                    _exit(4);
            }
        }
        usleep((useconds_t)(15000 + 25000 * round));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st), "child exited with %d before the kill", WEXITSTATUS(st));
        db = tu_open("coll");
        for (int c = 0; c < C; c++) {
            mnemo_db *h = ev_open(c);
            uint64_t n;
            TU_OK(mnemo_vector_check(h, &n));
            cr_assert_eq(n, EV_N);
            ev_check(h, c);
        }
        close_db();
    }
}

/* The second process of trim_during_a_reload: at "go" it commits z to ev0, writes ev0's snapshot
 * (trimming the log: the parent, reloading, has no heartbeat), commits y (a log entry after the
 * trim), says "d" and ends without closing (a close would snapshot and trim y's entry too). */
static int reload_rival(int go_fd, int done_fd)
{
    char c;
    if (read(go_fd, &c, 1) != 1)
        return 2;
    mnemo_db *d, *a;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    if (tu_open_with(&d, "coll", &o) || mnemo_collection_open(&a, d, "ev0"))
        return 3;
    float v[EV_DIM];
    far_vec(v);
    mnemo_record r = {0};
    r.id = "z";
    r.content = "z";
    if (mnemo_record_put(a, NULL, &r, 0) || mnemo_vector_put(a, NULL, "z", v, EV_DIM))
        return 4;
    vec_state *st;
    if (mnemo_vector__state(&st, a, "test") || mnemo_vector__snapshot(st, a))
        return 5;
    v[0] = -500.0f;
    r.id = "y";
    if (mnemo_record_put(a, NULL, &r, 0) || mnemo_vector_put(a, NULL, "y", v, EV_DIM))
        return 6;
    return write(done_fd, "d", 1) == 1 ? 0 : 7;
}

static int rival_go = -1, rival_done = -1;

static void rival_probe(const char *stage, const atomic_int *stop)
{
    (void)stop;
    if (strcmp(stage, "load_snapshot_read") || rival_go < 0)
        return;
    char c;
    if (write(rival_go, "g", 1) != 1 || read(rival_done, &c, 1) != 1)
        cr_log_error("the second process did not answer");
    rival_go = -1;
}

/* lmdb, two processes: this one's evicted index of ev0 reloads while the other commits to ev0 and
 * writes a snapshot that trims the log between this load's snapshot read and its log replay. The
 * reloaded index must still hold what the trimmed entries changed (z), not only the later entry
 * (y): a load that found the log trimmed past its snapshot starts again. */
TU_TEST(collection, a_trim_during_a_reload_of_an_evicted_index_loses_nothing)
{
    TU_NEEDS_DISK("a second process on the database");
    if (strcmp(tu_engine(), "lmdb"))
        cr_skip_test("two writing processes: lmdb");
    mnemo_db *a = ev_fill(0);
    ev_fill(1);
    (void)a;
    close_db();
    int go[2], done[2];
    cr_assert_eq(pipe(go), 0);
    cr_assert_eq(pipe(done), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(reload_rival(go[0], done[1]));
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.index_memory_limit = 1;
    TU_OK(tu_open_with(&db, "coll", &o));
    mnemo_db *h0 = ev_open(0), *h1 = ev_open(1);
    ev_check(h0, 0);
    ev_check(h1, 1); /* evicts ev0: its heartbeat goes */
    cr_assert_eq(indexes_loaded(NULL), 1);
    rival_go = go[1];
    rival_done = done[0];
    mnemo_vector__bg_probe = rival_probe;
    float v[EV_DIM];
    far_vec(v);
    const char *got = nearest(h0, v); /* reloads ev0, the other process cutting in */
    mnemo_vector__bg_probe = NULL;
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second process: status %d", WEXITSTATUS(st));
    cr_assert_eq(rival_go, -1, "the load did not pass the probe");
    cr_assert_str_eq(got, "z", "the reloaded index lacks z, committed before the trim");
    v[0] = -500.0f;
    cr_assert_str_eq(nearest(h0, v), "y");
    uint64_t n;
    TU_OK(mnemo_vector_check(h0, &n));
    cr_assert_eq(n, EV_N + 2);
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(done[i]);
    }
    close_db();
}

/* A read-only open (a follower on rocksdb) evicts too: its evictions write nothing, and each
 * reload reads the stored snapshot again. */
TU_TEST(collection, a_read_only_open_evicts_and_reloads)
{
    TU_NEEDS_DISK("reopens read-only");
    enum { C = 3 };
    for (int c = 0; c < C; c++)
        ev_fill(c);
    float v[EV_DIM];
    far_vec(v);
    put(ev_open(0), NULL, "z", "z", NULL);
    TU_OK(mnemo_vector_put(ev_open(0), NULL, "z", v, EV_DIM));
    close_db();
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    o.index_memory_limit = 1;
    TU_OK(tu_open_with(&db, "coll", &o));
    for (int round = 0; round < 2; round++)
        for (int c = 0; c < C; c++)
            ev_check(ev_open(c), c);
    uint64_t evicted;
    cr_assert_eq(indexes_loaded(&evicted), 1);
    cr_assert_geq(evicted, 2 * C - 1);
    cr_assert_str_eq(nearest(ev_open(0), v), "z");
    uint64_t n;
    TU_OK(mnemo_vector_check(ev_open(0), &n));
    cr_assert_eq(n, EV_N + 1);
    close_db();
}

/* lmdb: another process writes two collections and snapshots them (trimming the log) while this
 * one's searches evict and reload them at every call: at the end this one finds every vector the
 * other wrote, exactly, and each index agrees with its data. */
TU_TEST(collection, another_process_writes_while_this_one_evicts)
{
    TU_NEEDS_DISK("a second process on the database");
    if (strcmp(tu_engine(), "lmdb"))
        cr_skip_test("two writing processes: lmdb");
    enum { W = 60 };
    ev_fill(0);
    ev_fill(1);
    close_db();
    pid_t pid = fork();
    if (pid == 0) {
        mnemo_db *d, *h[2];
        mnemo_options o = MNEMO_OPTIONS_INIT;
        if (tu_open_with(&d, "coll", &o) || mnemo_collection_open(&h[0], d, "ev0") ||
            mnemo_collection_open(&h[1], d, "ev1"))
            _exit(2);
        for (int i = 0; i < W; i++) {
            mnemo_db *a = h[i % 2];
            char id[16];
            snprintf(id, sizeof id, "w%d", i);
            float v[EV_DIM];
            for (int k = 0; k < EV_DIM; k++)
                v[k] = 1000.0f + (float)(i * 10 + k);
            mnemo_record r = {0};
            r.id = id;
            r.content = "w";
            if (mnemo_record_put(a, NULL, &r, 0) || mnemo_vector_put(a, NULL, id, v, EV_DIM))
                _exit(3);
            vec_state *st; /* a snapshot (EBUSY: the other process, evicting, holds the lease) */
            int src = i % 7 == 6 ? mnemo_vector__state(&st, a, "test") : 0;
            if (i % 7 == 6 && !src && (src = mnemo_vector__snapshot(st, a)) == MNEMO_EBUSY)
                src = 0;
            if (src) {
                fprintf(stderr, "snapshot: %s\n", mnemo_errmsg());
                _exit(4);
            }
            usleep(2000);
        }
        _exit(mnemo_close(d) ? 5 : 0);
    }
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.index_memory_limit = 1;
    TU_OK(tu_open_with(&db, "coll", &o));
    mnemo_db *h[2] = {ev_open(0), ev_open(1)};
    int st = 0;
    for (int i = 0; waitpid(pid, &st, WNOHANG) == 0; i++) {
        float v[EV_DIM];
        ev_vec(v, i % 2, i % EV_N);
        mnemo_vector_hits *hits;
        TU_OK(mnemo_vector_search(&hits, h[i % 2], NULL, v, EV_DIM, 1, NULL));
        mnemo_vector_hits_free(hits);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second process: status %d", WEXITSTATUS(st));
    uint64_t evicted;
    indexes_loaded(&evicted);
    cr_assert_gt(evicted, 2);
    for (int i = 0; i < W; i++) {
        float v[EV_DIM];
        for (int k = 0; k < EV_DIM; k++)
            v[k] = 1000.0f + (float)(i * 10 + k);
        char id[16];
        snprintf(id, sizeof id, "w%d", i);
        cr_assert_str_eq(nearest(h[i % 2], v), id);
    }
    for (int c = 0; c < 2; c++) {
        uint64_t n;
        TU_OK(mnemo_vector_check(h[c], &n));
        cr_assert_eq(n, EV_N + W / 2);
    }
    close_db();
}

/* lmdb: another process drops a collection whose index this one has loaded, with log entries not
 * yet in a snapshot; this one has made no call on it since. A later load evicts it: the eviction
 * must not write the index's snapshot back under the dropped collection's prefix. */
TU_TEST(collection, evicting_a_collection_another_process_dropped_writes_nothing)
{
    TU_NEEDS_DISK("a second process on the database");
    if (strcmp(tu_engine(), "lmdb"))
        cr_skip_test("two writing processes: lmdb");
    open_evicting_all();
    mnemo_db *y = ev_fill(1), *x = ev_fill(0); /* x loaded last, with its log: no snapshot yet */
    uint32_t cid = cid_of(x);
    pid_t pid = fork();
    if (pid == 0) {
        mnemo_db *d;
        mnemo_options o = MNEMO_OPTIONS_INIT;
        if (tu_open_with(&d, "coll", &o) || mnemo_collection_drop(d, "ev0"))
            _exit(2);
        _exit(mnemo_close(d) ? 3 : 0);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second process: status %d", WEXITSTATUS(st));
    cr_assert_eq(keys_of(cid), 0, "the other process's drop reclaimed every key");
    ev_check(y, 1); /* loads ev1, evicts ev0 */
    uint64_t evicted;
    cr_assert_eq(indexes_loaded(&evicted), 1);
    cr_assert_eq(keys_of(cid), 0, "keys written under the dropped collection's prefix");
    mnemo_vector_hits *hits;
    float v[EV_DIM];
    ev_vec(v, 0, 0);
    TU_RC(mnemo_vector_search(&hits, x, NULL, v, EV_DIM, 1, NULL), MNEMO_ENOTFOUND);
    close_db();
}

/* A load that found every other index busy leaves the limit exceeded; later calls, without any
 * load, get under it once those are idle (a try every RETRY_TICKS calls, resident.c). */
TU_TEST(collection, the_limit_is_met_again_without_a_load)
{
    TU_NEEDS_DISK("reopens with a limit");
    ev_setup(2, 1.5);
    mnemo_db *a = ev_open(0), *b = ev_open(1);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    float v[EV_DIM];
    ev_vec(v, 0, 1);
    TU_OK(mnemo_vector_put(a, t, "r1", v, EV_DIM)); /* loads a; its index is held by t */
    ev_check(b, 1);                                 /* loads b: a is busy, nothing goes */
    uint64_t evicted;
    cr_assert_eq(indexes_loaded(&evicted), 2);
    cr_assert_eq(evicted, 0);
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    for (int i = 0; i < 20; i++) /* 20 x 6 searches: more than a retry's interval */
        ev_check(b, 1);
    cr_assert_eq(indexes_loaded(&evicted), 1, "a went once idle");
    cr_assert_eq(evicted, 1);
    ev_check(a, 0); /* and comes back, with the committed change */
    close_db();
}
