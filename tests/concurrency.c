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
 * A plain program (no Criterion) so it also runs under ThreadSanitizer (-Db_sanitize=thread).
 *   concurrency [--seconds S] [--writers W] [--readers R]      exit status 0 = no anomaly
 * Adding a model (vectors): add a reader check to `reader_checks` and a write to `transfer`. */
#include <inttypes.h>
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

static mnemo_db *db;
static atomic_int stop;
static atomic_ulong anomalies, transfers_done, ebusy_retries, gave_up, reader_checks_done, churn_ops;

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
            /* the hot counter: read-modify-write on one kv key */
            void *v = NULL;
            size_t n;
            long count = 0;
            rc = mnemo_kv_get(&v, &n, db, txn, "transfers", 9);
            if (!rc)
                count = strtol(v, NULL, 10);
            mnemo_free(v);
            if (!rc || rc == MNEMO_ENOTFOUND) {
                char s[32];
                snprintf(s, sizeof s, "%ld", count + 1);
                rc = mnemo_kv_put(db, txn, "transfers", 9, s, strlen(s));
            }
            if (!rc) {
                mnemo_edge e = {f, "paid", t, (double)a->amount, NULL};
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
        mnemo_retry r = MNEMO_RETRY_INIT;
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
            mnemo_edge e = {f, "paid", t, 1.0, "{\"relinked\": true}"};
            if ((rc = mnemo_graph_link(db, NULL, &e, 0)) != 0)
                anomaly("link: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        }
        atomic_fetch_add(&churn_ops, 1);
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
    mnemo_list_options lo = MNEMO_LIST_OPTIONS_INIT;
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
    mnemo_graph_iter *it;
    int rc = mnemo_graph_neighbors(&it, db, t, node, dir, "paid", 0);
    if (rc) {
        anomaly("neighbors %s: %s %s", node, mnemo_strerror(rc), mnemo_errmsg());
        return -1;
    }
    const mnemo_neighbor *n;
    int found = 0;
    while (!found && (rc = mnemo_graph_iter_next(it, &n)) == 0)
        found = !strcmp(n->id, id);
    if (rc && rc != MNEMO_ITEROVER)
        anomaly("neighbors next: %s", mnemo_strerror(rc));
    mnemo_graph_iter_free(it);
    return found;
}

static void check_edges(mnemo_txn *t, unsigned *seed)
{
    char a[32];
    acct_id(a, rand_r(seed) % ACCOUNTS);
    for (int d = 0; d < 2; d++) {
        mnemo_direction dir = d ? MNEMO_DIR_IN : MNEMO_DIR_OUT, back = d ? MNEMO_DIR_OUT : MNEMO_DIR_IN;
        mnemo_graph_iter *it;
        int rc = mnemo_graph_neighbors(&it, db, t, a, dir, "paid", 0);
        if (rc) {
            anomaly("neighbors %s: %s %s", a, mnemo_strerror(rc), mnemo_errmsg());
            return;
        }
        const mnemo_neighbor *n;
        while ((rc = mnemo_graph_iter_next(it, &n)) == 0) {
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
        mnemo_graph_iter_free(it);
    }
}

static int visit(void *arg, const char *id, unsigned depth, const char *via, const char *via_label)
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
    mnemo_traverse_options o = MNEMO_TRAVERSE_OPTIONS_INIT;
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
    o.cache_size = 1 << 20; /* the cache is filled and invalidated under the same races */
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
    if (rc || (rc = mnemo_index_create(db, "balance")) != 0) {
        fprintf(stderr, "setup: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
        return 1;
    }
    pthread_t th[130];
    int n = 0;
    for (int i = 0; i < n_writers; i++)
        pthread_create(&th[n++], NULL, writer, (void *)(uintptr_t)(i + 1));
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
    if ((rc = mnemo_close(db)) != 0)
        anomaly("close: %s", mnemo_strerror(rc));
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("{\"suite\":\"concurrency\",\"seconds\":%.1f,\"writers\":%d,\"readers\":%d,\"transfers\":%lu,"
           "\"ebusy_retries\":%lu,\"gave_up\":%lu,\"reader_snapshots\":%lu,\"churn_ops\":%lu,\"edges\":%" PRIu64
           ",\"anomalies\":%lu}\n",
           seconds, n_writers, n_readers, (unsigned long)atomic_load(&transfers_done),
           (unsigned long)atomic_load(&ebusy_retries), (unsigned long)atomic_load(&gave_up),
           (unsigned long)atomic_load(&reader_checks_done), (unsigned long)atomic_load(&churn_ops), edges,
           (unsigned long)atomic_load(&anomalies));
    return atomic_load(&anomalies) ? 1 : 0;
}
