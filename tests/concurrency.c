/* Concurrency (issue 7): threads mix conflicting multi-model writes, snapshot reads and traversals
 * on one database for a fixed time, with mnemo's cache on.
 *   - Bank: ACCOUNTS records `acct/i` whose metadata holds {"balance": b}. A transfer reads two
 *     accounts (tracked point reads), rewrites both records, bumps the kv counter `transfers`
 *     (a hot key every transfer conflicts on) and links the edge from -[paid]-> to with the amount
 *     as weight, all in one transaction run by mnemo_txn_run. Every MNEMO_EBUSY is retried until the
 *     transfer commits (counted); a transfer that gives up is a failure.
 *   - A "churn" thread unlinks random paid edges and re-links them in auto-commit calls, so edges
 *     appear and disappear while readers walk them.
 *   - Readers, each in one MNEMO_TXN_READONLY snapshot: the sum of balances (by point reads and by a
 *     listing scan) is constant and no balance is negative; every out-edge a -> b of a node has its
 *     in-edge b <- a in the same snapshot and the other way round; a breadth-first traversal from
 *     an account only visits accounts.
 *   - At the end: the total, the counter equals the number of committed transfers, and
 *     mnemo_graph_check finds both directions in agreement.
 *   - Vectors: ITEMS records `item/i` ({"group": i % 64, "half": i % 2}, both indexed) carry 8-dim
 *     embeddings. Vector writers, in transactions that conflict on the kv counter `vec_commits`
 *     and on the items they read, replace or delete the embeddings of two items (retried on
 *     MNEMO_EBUSY). Searchers run approximate (HNSW), exact, selectively filtered (exact over the
 *     candidates) and broadly filtered (HNSW walk with a filter) searches, and check every result:
 *     at most k hits, ascending, finite, distinct items, each passing the filter, each record
 *     live. When no vector commit ran during the whole check (a seqlock kept by the writers),
 *     every hit's mnemo_vector_get vector is at exactly the reported distance (float tolerance)
 *     and the exact search's nearest is no farther than the approximate one's.
 *     At the end: mnemo_vector_check, and the counter equals the committed vector transactions.
 * A plain program (no Criterion) so it also runs under ThreadSanitizer (-Db_sanitize=thread).
 *   concurrency [--seconds S] [--writers W] [--readers R]      exit status 0 = no anomaly
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#define ACCOUNTS 16
#define START_BALANCE 1000
#define ITEMS 5000 /* over 1,024 vectors: unrestricted searches use HNSW; half of them (2,500) is over the
                    * 2,048 candidates that filtered searches still score exactly */
#define VDIM 8

static mnemo_db *db;
static atomic_int stop;
static atomic_ulong anomalies, transfers_done, ebusy_retries, gave_up, reader_checks_done, churn_ops;
static atomic_ulong vec_commits, vec_ebusy, searches, strict_checks;
/* seqlock over vector commits: started/finished around every vector transaction */
static atomic_ulong vec_started, vec_finished;

static void anomaly(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (atomic_fetch_add(&anomalies, 1) < 20) {
        char buf[512];
        vsnprintf(buf, sizeof buf, fmt, ap);
        fprintf(stderr, "ANOMALY: %s\n", buf);
    }
    va_end(ap);
}

static void acct_id(char *out, int i) { snprintf(out, 32, "acct/%02d", i); }

static long balance_of(const mnemo_record *r)
{
    const char *p = strstr(r->metadata, "\"balance\":");
    return p ? strtol(p + 10, NULL, 10) : -1000000;
}

static int put_balance(mnemo_txn *txn, const char *id, long balance)
{
    char meta[64];
    snprintf(meta, sizeof meta, "{\"balance\": %ld, \"kind\": \"account\"}", balance);
    mnemo_record r = {0};
    r.id = id;
    r.content = "account";
    r.metadata = meta;
    return mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT);
}

/* ---- writers ---- */

/* A hot counter: read-modify-write on one kv key, so every two writers conflict on it. */
static int bump_counter(mnemo_txn *txn, const char *key)
{
    void *v = NULL;
    size_t n;
    long count = 0;
    int rc = mnemo_kv_get(&v, &n, db, txn, key, strlen(key));
    if (!rc)
        count = strtol(v, NULL, 10);
    mnemo_free(v);
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    char s[32];
    snprintf(s, sizeof s, "%ld", count + 1);
    return mnemo_kv_put(db, txn, key, strlen(key), s, strlen(s));
}

typedef struct transfer_arg {
    int from, to;
    long amount;
    unsigned attempts;
    int moved;
} transfer_arg;

static int transfer(mnemo_txn *txn, void *arg)
{
    transfer_arg *a = arg;
    a->attempts++;
    a->moved = 0;
    char f[32], t[32];
    acct_id(f, a->from);
    acct_id(t, a->to);
    mnemo_record *rf = NULL, *rt = NULL;
    int rc = mnemo_record_get(&rf, db, txn, f);
    if (!rc)
        rc = mnemo_record_get(&rt, db, txn, t);
    if (!rc && balance_of(rf) >= a->amount) {
        long bf = balance_of(rf), bt = balance_of(rt);
        if (!(rc = put_balance(txn, f, bf - a->amount)) && !(rc = put_balance(txn, t, bt + a->amount))) {
            rc = bump_counter(txn, "transfers");
            if (!rc) {
                mnemo_graph_edge e = {f, "paid", t, (double)a->amount, NULL};
                rc = mnemo_graph_link(db, txn, &e, 0);
            }
            a->moved = !rc;
        }
    }
    mnemo_record_free(rf);
    mnemo_record_free(rt);
    return rc;
}

static void *writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        transfer_arg a = {0, 0, 0, 0, 0};
        a.from = rand_r(&seed) % ACCOUNTS;
        a.to = (a.from + 1 + rand_r(&seed) % (ACCOUNTS - 1)) % ACCOUNTS;
        a.amount = 1 + rand_r(&seed) % 300;
        mnemo_txn_retry r = MNEMO_TXN_RETRY_INIT;
        r.max_attempts = 100000; /* every conflict is retried to success */
        r.max_backoff_us = 2000;
        int rc = mnemo_txn_run(db, 0, transfer, &a, &r);
        atomic_fetch_add(&ebusy_retries, a.attempts ? a.attempts - 1 : 0);
        if (rc == MNEMO_EBUSY) {
            atomic_fetch_add(&gave_up, 1);
            anomaly("a transfer gave up after %u attempts", a.attempts);
        } else if (rc) {
            anomaly("transfer: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        } else if (a.moved) {
            atomic_fetch_add(&transfers_done, 1);
        }
    }
    return NULL;
}

/* Auto-commit unlink and relink of existing paid edges (no conflict handling needed: auto-commit
 * writes never fail on a conflict, they make racing transactions retry). */
static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        char f[32], t[32];
        int a = rand_r(&seed) % ACCOUNTS;
        acct_id(f, a);
        acct_id(t, (a + 1 + rand_r(&seed) % (ACCOUNTS - 1)) % ACCOUNTS);
        int rc = mnemo_graph_unlink(db, NULL, f, "paid", t);
        if (rc && rc != MNEMO_ENOTFOUND)
            anomaly("unlink: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        if (!rc && rand_r(&seed) % 2) {
            mnemo_graph_edge e = {f, "paid", t, 1.0, "{\"relinked\": true}"};
            if ((rc = mnemo_graph_link(db, NULL, &e, 0)) != 0)
                anomaly("link: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        }
        atomic_fetch_add(&churn_ops, 1);
    }
    return NULL;
}

/* ---- vectors ---- */

static void item_id(char *out, int i) { snprintf(out, 32, "item/%04d", i); }

static void random_vec(float *v, unsigned *seed)
{
    for (int i = 0; i < VDIM; i++)
        v[i] = (float)(rand_r(seed) % 2001 - 1000) / 100.0f;
}

typedef struct vec_arg {
    int a, b;
    int del_b;
    float va[VDIM], vb[VDIM];
    unsigned attempts;
} vec_arg;

/* Replace a's embedding; replace or delete b's; bump the hot counter. Reading both first makes a
 * concurrent change of either conflict. */
static int vec_change(mnemo_txn *txn, void *arg)
{
    vec_arg *x = arg;
    x->attempts++;
    char a[32], b[32];
    item_id(a, x->a);
    item_id(b, x->b);
    float *old = NULL;
    int rc = mnemo_vector_get(&old, NULL, db, txn, a);
    mnemo_free(old);
    old = NULL;
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    int has_b = (rc = mnemo_vector_get(&old, NULL, db, txn, b)) == 0;
    mnemo_free(old);
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    if ((rc = mnemo_vector_put(db, txn, a, x->va, VDIM)) != 0)
        return rc;
    rc = x->del_b && has_b ? mnemo_vector_delete(db, txn, b) : mnemo_vector_put(db, txn, b, x->vb, VDIM);
    if (rc)
        return rc;
    return bump_counter(txn, "vec_commits");
}

static void *vec_writer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        vec_arg x = {0};
        x.a = rand_r(&seed) % ITEMS;
        x.b = (x.a + 1 + rand_r(&seed) % (ITEMS - 1)) % ITEMS;
        if (rand_r(&seed) % 8 == 0) /* a hot pair: writers collide on the same items */
            x.a = 0, x.b = 1;
        x.del_b = rand_r(&seed) % 4 == 0;
        random_vec(x.va, &seed);
        random_vec(x.vb, &seed);
        mnemo_txn_retry r = MNEMO_TXN_RETRY_INIT;
        r.max_attempts = 100000;
        r.max_backoff_us = 2000;
        atomic_fetch_add(&vec_started, 1);
        int rc = mnemo_txn_run(db, 0, vec_change, &x, &r);
        atomic_fetch_add(&vec_finished, 1);
        atomic_fetch_add(&vec_ebusy, x.attempts ? x.attempts - 1 : 0);
        if (rc == MNEMO_EBUSY) {
            atomic_fetch_add(&gave_up, 1);
            anomaly("a vector change gave up after %u attempts", x.attempts);
        } else if (rc) {
            anomaly("vector change: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        } else {
            atomic_fetch_add(&vec_commits, 1);
        }
        /* no vector commit starts in the last 20 ms of every 40, so searchers can check strictly */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (long)(now.tv_nsec / 1000000) % 40;
        if (ms >= 20) {
            struct timespec ts = {0, (40 - ms) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static float l2(const float *a, const float *b)
{
    float d = 0;
    for (int i = 0; i < VDIM; i++)
        d += (a[i] - b[i]) * (a[i] - b[i]);
    return d;
}

/* Strict findings wait here until the searcher knows no vector commit overlapped its check. */
typedef struct pending {
    unsigned n;
    char first[256];
} pending;

static void pend(pending *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (p->n++ == 0)
        vsnprintf(p->first, sizeof p->first, fmt, ap);
    va_end(ap);
}

/* Checks one result; returns the distance of its nearest hit (INFINITY when none). What holds
 * only without concurrent vector commits (each hit's mnemo_vector_get vector at exactly the
 * reported distance) goes to p. */
static float check_hits(const mnemo_vector_hits *h, const float *q, size_t k, int group, int half, pending *p,
                        const char *what)
{
    if (h->count > k)
        anomaly("%s: %zu hits for k = %zu", what, h->count, k);
    for (size_t i = 0; i < h->count; i++) {
        const mnemo_vector_hit *x = &h->hits[i];
        int item = -1;
        if (sscanf(x->id, "item/%d", &item) != 1 || item < 0 || item >= ITEMS) {
            anomaly("%s: hit %zu is '%s', not an item", what, i, x->id);
            continue;
        }
        if (!isfinite(x->distance) || x->distance < 0 || (i && x->distance < h->hits[i - 1].distance))
            anomaly("%s: hit %zu at %g after %g (not ascending / not finite)", what, i, (double)x->distance,
                    i ? (double)h->hits[i - 1].distance : 0.0);
        if ((group >= 0 && item % 64 != group) || (half >= 0 && item % 2 != half))
            anomaly("%s: hit %s does not pass the filter", what, x->id);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(h->hits[j].id, x->id))
                anomaly("%s: %s returned twice", what, x->id);
        float *v = NULL;
        size_t dim = 0;
        int rc = mnemo_vector_get(&v, &dim, db, NULL, x->id);
        if (rc == MNEMO_ENOTFOUND || (!rc && dim != VDIM)) {
            pend(p, "%s: hit %s has no stored vector", what, x->id);
        } else if (rc) {
            anomaly("%s: get %s: %s %s", what, x->id, mnemo_strerror(rc), mnemo_errmsg());
        } else {
            float d = l2(q, v);
            if (fabsf(d - x->distance) > 1e-3f * (1.0f + d))
                pend(p, "%s: hit %s reported at %g, its stored vector is at %g", what, x->id, (double)x->distance,
                     (double)d);
        }
        mnemo_free(v);
    }
    return h->count ? h->hits[0].distance : INFINITY;
}

static void *searcher(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        float q[VDIM];
        random_vec(q, &seed);
        size_t k = 1 + (size_t)(rand_r(&seed) % 10);
        int group = rand_r(&seed) % 64, half = rand_r(&seed) % 2;
        char fg[48], fh[48];
        snprintf(fg, sizeof fg, "{\"group\": %d}", group);
        snprintf(fh, sizeof fh, "{\"half\": %d}", half);
        mnemo_vector_search_options o[4] = {MNEMO_VECTOR_SEARCH_OPTIONS_INIT, MNEMO_VECTOR_SEARCH_OPTIONS_INIT,
                                            MNEMO_VECTOR_SEARCH_OPTIONS_INIT, MNEMO_VECTOR_SEARCH_OPTIONS_INIT};
        o[1].exact = 1;
        o[2].filter = fg; /* few candidates: exact over them */
        o[3].filter = fh; /* half the items: HNSW walk with the filter */
        static const char *const names[4] = {"hnsw search", "exact search", "selective filtered search",
                                             "broad filtered search"};
        /* three units, each strict when no vector transaction ran at any moment of it: the
         * approximate and exact searches together (their nearest are compared), then each
         * filtered search alone */
        static const int unit_first[3] = {0, 2, 3}, unit_end[3] = {2, 3, 4};
        for (int u = 0; u < 3; u++) {
            unsigned long s1 = atomic_load(&vec_started), f1 = atomic_load(&vec_finished);
            mnemo_vector_hits *h[4] = {NULL, NULL, NULL, NULL};
            int ok = 1;
            for (int i = unit_first[u]; i < unit_end[u]; i++) {
                int rc = mnemo_vector_search(&h[i], db, NULL, q, VDIM, k, &o[i]);
                if (rc) {
                    anomaly("%s: %s %s", names[i], mnemo_strerror(rc), mnemo_errmsg());
                    ok = 0;
                }
            }
            if (ok) {
                pending p = {0, ""};
                float best[4];
                for (int i = unit_first[u]; i < unit_end[u]; i++)
                    best[i] = check_hits(h[i], q, k, i == 2 ? group : -1, i == 3 ? half : -1, &p, names[i]);
                if (u == 0 && best[1] > best[0] + 1e-3f * (1.0f + best[0]))
                    pend(&p, "exact search's nearest at %g, approximate found %g", (double)best[1], (double)best[0]);
                if (u == 0 && h[1]->count != h[0]->count)
                    pend(&p, "exact search found %zu, approximate %zu", h[1]->count, h[0]->count);
                if (s1 == f1 && atomic_load(&vec_started) == s1) {
                    atomic_fetch_add(&strict_checks, 1);
                    if (p.n)
                        anomaly("%s (%u such findings, no vector commit running)", p.first, p.n);
                }
            }
            for (int i = 0; i < 4; i++)
                mnemo_vector_hits_free(h[i]);
        }
        atomic_fetch_add(&searches, 4);
    }
    return NULL;
}

/* ---- readers ---- */

static void check_total(mnemo_txn *t)
{
    long sum = 0;
    for (int i = 0; i < ACCOUNTS; i++) {
        char id[32];
        acct_id(id, i);
        mnemo_record *r;
        int rc = mnemo_record_get(&r, db, t, id);
        if (rc) {
            anomaly("get %s: %s %s", id, mnemo_strerror(rc), mnemo_errmsg());
            return;
        }
        long b = balance_of(r);
        if (b < 0)
            anomaly("%s has balance %ld", id, b);
        sum += b;
        mnemo_record_free(r);
    }
    mnemo_record_list_options lo = MNEMO_RECORD_LIST_OPTIONS_INIT;
    lo.id_prefix = "acct/";
    mnemo_record_page *page;
    int rc = mnemo_record_list(&page, db, t, &lo);
    if (rc) {
        anomaly("list: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        return;
    }
    long scan = 0;
    for (size_t i = 0; i < page->count; i++)
        scan += balance_of(&page->records[i]);
    if (sum != ACCOUNTS * START_BALANCE || scan != sum || page->count != ACCOUNTS)
        anomaly("snapshot total %ld (by scan %ld over %zu records), expected %d", sum, scan, page->count,
                ACCOUNTS * START_BALANCE);
    mnemo_record_page_free(page);
}

/* 1 when `to`'s neighbours in direction dir (label paid) include `id`. */
static int has_neighbor(mnemo_txn *t, const char *node, mnemo_direction dir, const char *id)
{
    mnemo_iter *it;
    int rc = mnemo_graph_neighbors(&it, db, t, node, dir, "paid", 0);
    if (rc) {
        anomaly("neighbors %s: %s %s", node, mnemo_strerror(rc), mnemo_errmsg());
        return -1;
    }
    const mnemo_graph_neighbor *n;
    int found = 0;
    while (!found && (rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &n)) == 0)
        found = !strcmp(n->id, id);
    if (rc && rc != MNEMO_ITEROVER)
        anomaly("neighbors next: %s", mnemo_strerror(rc));
    mnemo_iter_free(it);
    return found;
}

static void check_edges(mnemo_txn *t, unsigned *seed)
{
    char a[32];
    acct_id(a, rand_r(seed) % ACCOUNTS);
    for (int d = 0; d < 2; d++) {
        mnemo_direction dir = d ? MNEMO_DIR_IN : MNEMO_DIR_OUT, back = d ? MNEMO_DIR_OUT : MNEMO_DIR_IN;
        mnemo_iter *it;
        int rc = mnemo_graph_neighbors(&it, db, t, a, dir, "paid", 0);
        if (rc) {
            anomaly("neighbors %s: %s %s", a, mnemo_strerror(rc), mnemo_errmsg());
            return;
        }
        const mnemo_graph_neighbor *n;
        while ((rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &n)) == 0) {
            char other[32];
            snprintf(other, sizeof other, "%s", n->id);
            if (has_neighbor(t, other, back, a) != 1)
                anomaly("%s edge %s %s %s has no twin in the same snapshot", d ? "in" : "out", a, d ? "<-" : "->",
                        other);
            int ex = d ? mnemo_graph_exists(db, t, other, "paid", a) : mnemo_graph_exists(db, t, a, "paid", other);
            if (ex != 1)
                anomaly("edge listed by neighbors but mnemo_graph_exists says %d", ex);
        }
        if (rc != MNEMO_ITEROVER)
            anomaly("neighbors next: %s", mnemo_strerror(rc));
        mnemo_iter_free(it);
    }
}

static int visit(const char *id, unsigned depth, const char *via, const char *via_label, void *arg)
{
    (void)depth;
    (void)via;
    size_t *count = arg;
    (*count)++;
    if (strncmp(id, "acct/", 5) || (via_label && strcmp(via_label, "paid")))
        anomaly("traversal reached %s via %s", id, via_label ? via_label : "-");
    return 0;
}

static void check_traverse(mnemo_txn *t, unsigned *seed)
{
    char a[32];
    acct_id(a, rand_r(seed) % ACCOUNTS);
    const char *starts[] = {a};
    mnemo_graph_traverse_options o = MNEMO_GRAPH_TRAVERSE_OPTIONS_INIT;
    o.dir = MNEMO_DIR_BOTH;
    o.max_depth = 3;
    size_t count = 0;
    int rc = mnemo_graph_traverse(db, t, starts, 1, &o, visit, &count);
    if (rc || count < 1 || count > ACCOUNTS)
        anomaly("traverse from %s: %s, %zu nodes", a, mnemo_strerror(rc), count);
}

static void (*const reader_checks[])(mnemo_txn *t, unsigned *seed) = {check_edges, check_traverse};

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        mnemo_txn *t;
        int rc = mnemo_txn_begin(&t, db, MNEMO_TXN_READONLY);
        if (rc) {
            anomaly("begin: %s", mnemo_strerror(rc));
            break;
        }
        check_total(t);
        for (size_t i = 0; i < sizeof reader_checks / sizeof reader_checks[0]; i++)
            reader_checks[i](t, &seed);
        if ((rc = mnemo_txn_commit(t)) != 0)
            anomaly("read-only commit: %s", mnemo_strerror(rc));
        mnemo_txn_free(t);
        atomic_fetch_add(&reader_checks_done, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = 2.5;
    int n_writers = 3, n_readers = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--writers") && i + 1 < argc)
            n_writers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--readers") && i + 1 < argc)
            n_readers = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--writers W] [--readers R]\n", argv[0]);
            return 2;
        }
    }
    if (n_writers < 1 || n_writers > 64 || n_readers < 0 || n_readers > 64)
        return 2;
    char dir[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mnemo-conc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    char path[600];
    snprintf(path, sizeof path, "%s/db", dir);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.engine = getenv("MNEMO_TEST_ENGINE"); /* NULL: the default engine */
    if (o.engine && !strcmp(o.engine, "memory"))
        snprintf(path, sizeof path, ":memory:");
    o.cache_size = 1 << 20; /* the cache is filled and invalidated under the same races */
    o.vector_dim = VDIM;
    int rc = mnemo_open(&db, path, &o);
    if (rc) {
        fprintf(stderr, "open: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
        return 1;
    }
    for (int i = 0; i < ACCOUNTS && !rc; i++) {
        char id[32];
        acct_id(id, i);
        rc = put_balance(NULL, id, START_BALANCE);
    }
    if (rc || (rc = mnemo_record_index_create(db, "balance")) != 0) {
        fprintf(stderr, "setup: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
        return 1;
    }
    /* the items and their embeddings, in one transaction */
    {
        static char ids[ITEMS][32];
        const char *idp[ITEMS];
        static float vecs[ITEMS * VDIM];
        unsigned seed = 7;
        mnemo_txn *t;
        rc = mnemo_txn_begin(&t, db, 0);
        for (int i = 0; i < ITEMS && !rc; i++) {
            char meta[64];
            item_id(ids[i], i);
            idp[i] = ids[i];
            snprintf(meta, sizeof meta, "{\"group\": %d, \"half\": %d}", i % 64, i % 2);
            mnemo_record r = {0};
            r.id = ids[i];
            r.content = "item";
            r.metadata = meta;
            rc = mnemo_record_put(db, t, &r, MNEMO_PUT_INSERT);
            random_vec(vecs + (size_t)i * VDIM, &seed);
        }
        if (!rc)
            rc = mnemo_vector_put_batch(db, t, idp, vecs, ITEMS, VDIM);
        if (!rc)
            rc = mnemo_txn_commit(t);
        mnemo_txn_free(t);
        if (!rc && !(rc = mnemo_record_index_create(db, "group")))
            rc = mnemo_record_index_create(db, "half");
        if (rc) {
            fprintf(stderr, "setup items: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
            return 1;
        }
    }
    pthread_t th[260];
    int n = 0;
    for (int i = 0; i < n_writers; i++)
        pthread_create(&th[n++], NULL, writer, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_create(&th[n++], NULL, vec_writer, (void *)(uintptr_t)(i + 50));
    for (int i = 0; i < n_readers; i++)
        pthread_create(&th[n++], NULL, searcher, (void *)(uintptr_t)(i + 200));
    pthread_create(&th[n++], NULL, churn, (void *)(uintptr_t)99);
    for (int i = 0; i < n_readers; i++)
        pthread_create(&th[n++], NULL, reader, (void *)(uintptr_t)(i + 100));
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);

    /* final state: one more snapshot check, the counter, both edge directions */
    mnemo_txn *t;
    if (mnemo_txn_begin(&t, db, MNEMO_TXN_READONLY) == 0) {
        check_total(t);
        mnemo_txn_free(t);
    }
    void *v = NULL;
    size_t vl;
    rc = mnemo_kv_get(&v, &vl, db, NULL, "transfers", 9);
    unsigned long counter = rc ? 0 : strtoul(v, NULL, 10);
    mnemo_free(v);
    if (counter != atomic_load(&transfers_done))
        anomaly("counter says %lu transfers, %lu committed", counter, (unsigned long)atomic_load(&transfers_done));
    uint64_t edges = 0;
    if ((rc = mnemo_graph_check(db, &edges)) != 0)
        anomaly("graph check: %s %s", mnemo_strerror(rc), mnemo_errmsg());
    mnemo_record_page *page;
    if ((rc = mnemo_record_find(&page, db, NULL, "{\"balance\": {\"$gte\": 0}}", NULL)) != 0 ||
        page->count != ACCOUNTS)
        anomaly("find by the balance index: %s, %zu accounts", mnemo_strerror(rc), rc ? 0 : page->count);
    if (!rc)
        mnemo_record_page_free(page);
    uint64_t vectors = 0;
    if ((rc = mnemo_vector_check(db, &vectors)) != 0)
        anomaly("vector check: %s %s", mnemo_strerror(rc), mnemo_errmsg());
    v = NULL;
    rc = mnemo_kv_get(&v, &vl, db, NULL, "vec_commits", 11);
    counter = rc ? 0 : strtoul(v, NULL, 10);
    mnemo_free(v);
    if (counter != atomic_load(&vec_commits))
        anomaly("counter says %lu vector commits, %lu committed", counter, (unsigned long)atomic_load(&vec_commits));
    if ((rc = mnemo_close(db)) != 0)
        anomaly("close: %s", mnemo_strerror(rc));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("{\"suite\":\"concurrency\",\"seconds\":%.1f,\"writers\":%d,\"readers\":%d,\"transfers\":%lu,"
           "\"ebusy_retries\":%lu,\"gave_up\":%lu,\"reader_snapshots\":%lu,\"churn_ops\":%lu,\"edges\":%" PRIu64
           ",\"vector_commits\":%lu,\"vector_ebusy_retries\":%lu,\"searches\":%lu,\"strict_search_checks\":%lu,"
           "\"vectors\":%" PRIu64 ",\"anomalies\":%lu}\n",
           seconds, n_writers, n_readers, (unsigned long)atomic_load(&transfers_done),
           (unsigned long)atomic_load(&ebusy_retries), (unsigned long)atomic_load(&gave_up),
           (unsigned long)atomic_load(&reader_checks_done), (unsigned long)atomic_load(&churn_ops), edges,
           (unsigned long)atomic_load(&vec_commits), (unsigned long)atomic_load(&vec_ebusy),
           (unsigned long)atomic_load(&searches), (unsigned long)atomic_load(&strict_checks), vectors,
           (unsigned long)atomic_load(&anomalies));
    return atomic_load(&anomalies) ? 1 : 0;
}
