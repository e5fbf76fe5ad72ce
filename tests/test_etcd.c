/* The etcd engine's bad input and faults (docs/storage.md "The etcd engine"): a cluster that is
 * down, a commit over etcd's limits, failover to the next endpoint, and commits whose answer is
 * lost (a proxy between mnemo and etcd drops the reply or the request): MNEMO_EUNKNOWN, and
 * mnemo_txn_run resolving it so that every increment is applied exactly once. Each test starts a
 * one-member cluster of its own (etcdtest.h); skipped without an etcd program. */
#include "testutil.h"
#include "etcdtest.h"

#include "core/alloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static tu_etcd cl;
static void cl_stop(void) { tu_etcd_stop(&cl); }

static void start_cluster(void)
{
    if (!tu_etcd_available())
        cr_skip_test("no etcd program (apt-get install etcd-server)");
    cr_assert_eq(tu_etcd_start(&cl, 1), 0, "cannot start etcd");
    atexit(cl_stop);
}

static int open_at(mnemo_db **db, const char *path)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    *db = NULL;
    return mnemo_open(db, path, &o);
}

TU_TEST(etcd, a_cluster_that_is_down_is_eio_naming_the_endpoint)
{
    if (!tu_etcd_available())
        cr_skip_test("no etcd program");
    int port = tu_free_port();
    char path[128], want[64];
    snprintf(path, sizeof path, "etcd://127.0.0.1:%d/down?timeout_ms=300", port);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    mnemo_db *db;
    TU_RC(open_at(&db, path), MNEMO_EIO);
    cr_assert(strstr(mnemo_errmsg(), want), "the message names the endpoint: %s", mnemo_errmsg());
    /* a bad path is EINVAL naming what is wrong */
    TU_RC(open_at(&db, "etcd://127.0.0.1:2379/"), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "prefix"), "%s", mnemo_errmsg());
    TU_RC(open_at(&db, "etcd://127.0.0.1:2379/p?max_txn_ops=x"), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "max_txn_ops=x"), "%s", mnemo_errmsg());
}

TU_TEST(etcd, the_next_endpoint_answers_when_the_first_is_down)
{
    start_cluster();
    char path[512];
    snprintf(path, sizeof path, "etcd://127.0.0.1:%d,%s/failover", tu_free_port(), cl.endpoints);
    mnemo_db *db;
    TU_OK(open_at(&db, path));
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "v", 1));
    void *v;
    size_t vl;
    TU_OK(mnemo_kv_get(&v, &vl, db, NULL, "k", 1));
    cr_assert(vl == 1 && !memcmp(v, "v", 1));
    mnemo_free(v);
    TU_OK(mnemo_close(db));
}

TU_TEST(etcd, a_commit_over_max_txn_ops_is_refused_before_sending)
{
    start_cluster();
    char path[512];
    snprintf(path, sizeof path, "etcd://%s/ops?max_txn_ops=128", cl.endpoints);
    mnemo_db *db;
    TU_OK(open_at(&db, path));
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        TU_OK(mnemo_kv_put(db, t, k, strlen(k), "v", 1));
    }
    TU_RC(mnemo_txn_commit(t), MNEMO_EFULL);
    cr_assert(strstr(mnemo_errmsg(), "--max-txn-ops 128"), "%s", mnemo_errmsg());
    mnemo_txn_free(t);
    TU_RC(mnemo_kv_exists(db, NULL, "k0", 2), 0); /* nothing applied */
    TU_RC(mnemo_kv_exists(db, NULL, "k199", 4), 0);
    /* the cluster's own check, when the path claims more than the cluster allows: the same code */
    TU_OK(mnemo_close(db));
    snprintf(path, sizeof path, "etcd://%s/ops?max_txn_ops=%d&max_request_bytes=%d", cl.endpoints,
             2 * TU_ETCD_MAX_TXN_OPS, TU_ETCD_MAX_REQUEST_BYTES);
    TU_OK(open_at(&db, path));
    TU_OK(mnemo_txn_begin(&t, db, 0));
    for (int i = 0; i < TU_ETCD_MAX_TXN_OPS + 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        TU_OK(mnemo_kv_put(db, t, k, strlen(k), "v", 1));
    }
    TU_RC(mnemo_txn_commit(t), MNEMO_EFULL);
    cr_assert(strstr(mnemo_errmsg(), "too many operations"), "%s", mnemo_errmsg());
    mnemo_txn_free(t);
    TU_RC(mnemo_kv_exists(db, NULL, "k0", 2), 0);
    TU_OK(mnemo_close(db));
}

TU_TEST(etcd, a_value_over_max_request_bytes_is_refused_before_sending)
{
    start_cluster();
    char path[512];
    snprintf(path, sizeof path, "etcd://%s/bytes", cl.endpoints); /* etcd's default: 1.5 MiB */
    mnemo_db *db;
    TU_OK(open_at(&db, path));
    size_t n = 2u << 20;
    char *big = calloc(1, n);
    TU_RC(mnemo_kv_put(db, NULL, "big", 3, big, n), MNEMO_EFULL);
    cr_assert(strstr(mnemo_errmsg(), "--max-request-bytes 1572864"), "%s", mnemo_errmsg());
    TU_RC(mnemo_kv_exists(db, NULL, "big", 3), 0);
    TU_OK(mnemo_kv_put(db, NULL, "small", 5, big, 1000)); /* the store goes on */
    free(big);
    TU_OK(mnemo_close(db));
}

/* Each allocation of a commit of five writes fails in turn: the commit applies all five or none
 * (before the fix, a write whose JSON could not be built was left out and the rest sent). */
TU_TEST(etcd, a_commit_that_runs_out_of_memory_applies_all_or_nothing)
{
    start_cluster();
    char path[512];
    snprintf(path, sizeof path, "etcd://%s/oom", cl.endpoints);
    mnemo_db *db;
    TU_OK(open_at(&db, path));
    char last[16] = "none";
    int pending = 0, applied = 0; /* pending: no allocation failed, every one has had its turn */
    for (unsigned long n = 1; n < 2000 && !pending; n++) {
        char val[16];
        int vl = snprintf(val, sizeof val, "%lu", n);
        mnemo_txn *t;
        TU_OK(mnemo_txn_begin(&t, db, 0));
        for (int i = 0; i < 5; i++) {
            char k[8];
            snprintf(k, sizeof k, "k%d", i);
            TU_OK(mnemo_kv_put(db, t, k, strlen(k), val, (size_t)vl));
        }
        mnemo__alloc_fail_after(n);
        int rc = mnemo_txn_commit(t);
        pending = mnemo__alloc_fail_pending();
        mnemo__alloc_fail_after(0);
        mnemo_txn_free(t);
        cr_assert(rc == 0 || rc == MNEMO_ENOMEM, "allocation %lu: %s (%s)", n, mnemo_strerror(rc), mnemo_errmsg());
        if (rc == 0) {
            snprintf(last, sizeof last, "%s", val);
            applied++;
        }
        for (int i = 0; i < 5; i++) {
            char k[8];
            void *v;
            size_t got;
            snprintf(k, sizeof k, "k%d", i);
            int grc = mnemo_kv_get(&v, &got, db, NULL, k, strlen(k));
            if (!strcmp(last, "none")) {
                cr_assert_eq(grc, MNEMO_ENOTFOUND, "allocation %lu: %s applied alone", n, k);
                continue;
            }
            TU_OK(grc);
            cr_assert(got == strlen(last) && !memcmp(v, last, got), "allocation %lu: %s holds %.*s, want %s", n, k,
                      (int)got, (const char *)v, last);
            mnemo_free(v);
        }
    }
    cr_assert(pending, "the commit still failed an allocation after 2000");
    cr_assert_gt(applied, 0);
    TU_OK(mnemo_close(db));
}

/* ---- a TCP proxy that can lose commits: between mnemo and the member ---- */

enum { PASS, DROP_REPLY, DROP_REQUEST };
typedef struct proxy {
    int listen_fd, port, upstream;
    const char *match; /* what a request's bytes hold to meet the fault */
    atomic_int mode, armed, dropped, stop;
    pthread_t th;
} proxy;

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct pconn {
    proxy *p;
    int c;
} pconn;

/* Relays one client connection; a request holding p->match ("request_txn": only commits nest a
 * Txn; "/v3/kv/txn": every Txn, the resolve's too) meets the armed fault: its reply, or the request
 * itself, is lost and the connection cut. */
static void *relay(void *arg)
{
    pconn *pc = arg;
    proxy *p = pc->p;
    int c = pc->c, u = connect_to(p->upstream), mute = 0;
    free(pc);
    char buf[65536];
    while (u >= 0 && !atomic_load(&p->stop)) {
        struct pollfd fds[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
        if (poll(fds, 2, 100) <= 0)
            continue;
        if (fds[0].revents) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0)
                break;
            int commit = memmem(buf, (size_t)n, p->match, strlen(p->match)) != NULL;
            if (commit && atomic_load(&p->armed) > 0) {
                atomic_fetch_sub(&p->armed, 1);
                atomic_fetch_add(&p->dropped, 1);
                if (atomic_load(&p->mode) == DROP_REQUEST)
                    break; /* never reaches etcd */
                if (write(u, buf, (size_t)n) != n)
                    break;
                mute = 1; /* etcd applies it; its answer is lost */
                usleep(300 * 1000);
                break;
            }
            if (write(u, buf, (size_t)n) != n)
                break;
        }
        if (fds[1].revents) {
            ssize_t n = read(u, buf, sizeof buf);
            if (n <= 0 || mute)
                break;
            if (write(c, buf, (size_t)n) != n)
                break;
        }
    }
    close(c);
    if (u >= 0)
        close(u);
    return NULL;
}

static void *accept_loop(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd f = {p->listen_fd, POLLIN, 0};
        if (poll(&f, 1, 100) <= 0)
            continue;
        int c = accept(p->listen_fd, NULL, NULL);
        if (c < 0)
            continue;
        pconn *pc = malloc(sizeof *pc);
        pc->p = p;
        pc->c = c;
        pthread_t th;
        pthread_create(&th, NULL, relay, pc);
        pthread_detach(th);
    }
    return NULL;
}

static void proxy_start(proxy *p, int upstream)
{
    memset(p, 0, sizeof *p);
    p->upstream = upstream;
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    cr_assert(!bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) && !listen(p->listen_fd, 64) &&
              !getsockname(p->listen_fd, (struct sockaddr *)&a, &l));
    p->port = ntohs(a.sin_port);
    pthread_create(&p->th, NULL, accept_loop, p);
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->th, NULL);
    close(p->listen_fd);
    usleep(200 * 1000); /* relays see stop */
}

static int incr(mnemo_txn *t, void *arg)
{
    mnemo_db *db = arg;
    void *v;
    size_t vl;
    int rc = mnemo_kv_get(&v, &vl, db, t, "n", 1);
    if (rc)
        return rc;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", strtol(v, NULL, 10) + 1);
    mnemo_free(v);
    return mnemo_kv_put(db, t, "n", 1, buf, (size_t)n);
}

static long counter(mnemo_db *db)
{
    void *v;
    size_t vl;
    TU_OK(mnemo_kv_get(&v, &vl, db, NULL, "n", 1));
    long n = strtol(v, NULL, 10);
    mnemo_free(v);
    return n;
}

static void lost_commits(int mode)
{
    start_cluster();
    proxy p;
    proxy_start(&p, cl.client_port[0]);
    p.match = "request_txn";
    char path[512];
    snprintf(path, sizeof path, "etcd://127.0.0.1:%d/lost%d?timeout_ms=1000", p.port, mode);
    mnemo_db *db;
    TU_OK(open_at(&db, path));
    TU_OK(mnemo_kv_put(db, NULL, "n", 1, "0", 1));
    atomic_store(&p.mode, mode);
    /* every Txn meets the fault, the commit's and its resolve's: the outcome stays unknown, and the
     * message names the endpoint */
    p.match = "/v3/kv/txn";
    atomic_store(&p.armed, 1000);
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    TU_OK(incr(t, db));
    TU_RC(mnemo_txn_commit(t), MNEMO_EUNKNOWN);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", p.port);
    cr_assert(strstr(mnemo_errmsg(), want) && strstr(mnemo_errmsg(), "unknown"), "%s", mnemo_errmsg());
    mnemo_txn_free(t);
    atomic_store(&p.armed, 0);
    long base = counter(db); /* 1 if the lost commit was applied (DROP_REPLY), else 0 */
    cr_assert_eq(base, mode == DROP_REPLY ? 1 : 0);
    /* mnemo_txn_run resolves each lost commit: applied once, never twice, never lost */
    int runs = 6;
    p.match = "request_txn"; /* commits only: the resolve gets through */
    for (int i = 0; i < runs; i++) {
        /* this run's commit is lost, and so is its copy if libcurl sends it again: the outcome is
         * unknown to mnemo_txn_run, which must resolve it */
        atomic_store(&p.armed, 2);
        TU_OK(mnemo_txn_run(db, 0, incr, db, NULL));
    }
    cr_assert_eq(counter(db), base + runs, "each increment applied exactly once: %ld after %d runs from %ld (%d lost)",
                 counter(db), runs, base, atomic_load(&p.dropped));
    cr_assert_geq(atomic_load(&p.dropped), 2 * runs + 1);
    /* an auto-commit write resolves its own */
    atomic_store(&p.armed, 1);
    TU_OK(mnemo_kv_put(db, NULL, "auto", 4, "1", 1));
    TU_RC(mnemo_kv_exists(db, NULL, "auto", 4), 1);
    TU_OK(mnemo_close(db));
    proxy_stop(&p);
}

TU_TEST(etcd, a_lost_reply_is_unknown_and_the_retry_helper_finds_it_applied) { lost_commits(DROP_REPLY); }

TU_TEST(etcd, a_lost_request_is_unknown_and_the_retry_helper_applies_it_once) { lost_commits(DROP_REQUEST); }

/* ---- the watch on the commit counter: last_seq without a request ---- */

#include "store/etcd/etcd.h"
#include "store/store.h"

#include <time.h>

static const mnemo_keyspace_def w_ks[2] = {{"default", 0}, {"records", 0}};

static mnemo_store *w_open(const char *path)
{
    mnemo_store_config cfg = {0};
    cfg.path = path;
    cfg.create = 1;
    cfg.keyspaces = w_ks;
    cfg.n_keyspaces = 2;
    mnemo_store *s = NULL;
    int rc = mnemo_store__etcd.open(&s, &cfg);
    cr_assert_eq(rc, 0, "open %s: %s", path, mnemo_errmsg());
    return s;
}

static double w_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t w_commit(mnemo_store *s)
{
    mnemo_store_write w = {0, 0, "k", 1, "v", 1};
    uint64_t seq = 0;
    int rc = mnemo_store__etcd.write_batch(s, &w, 1, &seq);
    cr_assert_eq(rc, 0, "commit: %s", mnemo_errmsg());
    return seq;
}

/* Seconds until s's watch is (up = 1) or is not (up = 0) healthy; -1 after `limit` seconds. */
static double w_until_watching(mnemo_store *s, int up, double limit)
{
    double t0 = w_now();
    while (w_now() - t0 < limit) {
        if (mnemo__etcd_watching(s) == up)
            return w_now() - t0;
        usleep(2000);
    }
    return -1;
}

/* Seconds until s's last_seq reaches seq; -1 after 2 s. */
static double w_until_seen(mnemo_store *s, uint64_t seq)
{
    double t0 = w_now();
    while (w_now() - t0 < 2) {
        if (mnemo_store__etcd.last_seq(s) >= seq)
            return w_now() - t0;
        usleep(500);
    }
    return -1;
}

TU_TEST(etcd, a_commit_of_another_handle_reaches_last_seq_through_the_watch_without_a_request)
{
    start_cluster();
    char path[512];
    snprintf(path, sizeof path, "%s", tu_etcd_path(&cl, "watch"));
    mnemo_store *a = w_open(path), *b = w_open(path);
    cr_assert(w_until_watching(b, 1, 2) >= 0, "b's watch is up within 2 s");
    double worst = 0;
    for (int i = 0; i < 20; i++) {
        uint64_t seq = w_commit(a);
        cr_assert_geq(mnemo_store__etcd.last_seq(a), seq, "a sees its own commit when it returns");
        double d = w_until_seen(b, seq);
        cr_assert(d >= 0, "b sees a's commit %llu within 2 s (last_seq %llu)", (unsigned long long)seq,
                  (unsigned long long)mnemo_store__etcd.last_seq(b));
        worst = d > worst ? d : worst;
    }
    fprintf(stderr, "watch: another handle's commit reached last_seq within %.1f ms (worst of 20)\n", worst * 1e3);
    /* b may have answered the last commit by a read while its event was still unread */
    cr_assert(w_until_watching(b, 1, 2) >= 0, "b's watch has read every event within 2 s");
    uint64_t sent = mnemo__etcd_requests(b);
    for (int i = 0; i < 100; i++)
        mnemo_store__etcd.last_seq(b);
    cr_assert_eq(mnemo__etcd_requests(b), sent, "last_seq sent no request while the watch is healthy");
    cr_assert_eq(mnemo_store__etcd.close(a), 0);
    double t0 = w_now();
    cr_assert_eq(mnemo_store__etcd.close(b), 0);
    cr_assert_lt(w_now() - t0, 1.0, "close with the watch connected took %.3f s", w_now() - t0);
}

TU_TEST(etcd, the_watch_falls_back_to_a_read_and_comes_back_after_a_member_restart)
{
    start_cluster();
    char path[512];
    snprintf(path, sizeof path, "etcd://%s/wrestart?timeout_ms=300", cl.endpoints);
    mnemo_store *a = w_open(path), *b = w_open(path);
    cr_assert(w_until_watching(b, 1, 2) >= 0, "b's watch is up within 2 s");
    uint64_t seq = w_commit(a);
    cr_assert(w_until_seen(b, seq) >= 0);
    tu_etcd_kill(&cl, 0);
    cr_assert(w_until_watching(b, 0, 2) >= 0, "b's watch is down within 2 s of the member's death");
    uint64_t sent = mnemo__etcd_requests(b);
    cr_assert_geq(mnemo_store__etcd.last_seq(b), seq, "the fallback answers what was seen");
    cr_assert_gt(mnemo__etcd_requests(b), sent, "with the watch down, last_seq reads the counter");
    cr_assert_eq(tu_etcd_restart(&cl, 0), 0);
    uint64_t seq2 = w_commit(a); /* the fallback read sees it, watch or not */
    sent = mnemo__etcd_requests(b);
    cr_assert_eq(mnemo_store__etcd.last_seq(b) >= seq2 || mnemo__etcd_watching(b), 1);
    cr_assert(w_until_watching(b, 1, 3) >= 0, "b's watch is back within 3 s of the restart");
    uint64_t seq3 = w_commit(a);
    cr_assert(w_until_seen(b, seq3) >= 0, "the watch delivers again");
    cr_assert_geq(mnemo_store__etcd.last_seq(b), seq2);
    /* close while the watch is down and reconnecting is prompt too */
    tu_etcd_kill(&cl, 0);
    cr_assert(w_until_watching(b, 0, 2) >= 0);
    usleep(100000);
    double t0 = w_now();
    cr_assert_eq(mnemo_store__etcd.close(b), 0);
    cr_assert_lt(w_now() - t0, 1.0, "close with the watch down took %.3f s", w_now() - t0);
    mnemo_store__etcd.close(a);
}

TU_TEST(etcd, the_watch_on_a_member_that_lost_its_leader_is_down)
{
    if (!tu_etcd_available())
        cr_skip_test("no etcd program");
    static tu_etcd c3;
    cr_assert_eq(tu_etcd_start(&c3, 3), 0, "cannot start etcd");
    char path[512];
    snprintf(path, sizeof path, "etcd://127.0.0.1:%d/wleader?timeout_ms=300", c3.client_port[0]);
    mnemo_store *b = w_open(path);
    cr_assert(w_until_watching(b, 1, 2) >= 0, "b's watch is up within 2 s");
    /* member 0 alone has no quorum: it would never deliver another commit, so it must say so */
    tu_etcd_kill(&c3, 1);
    tu_etcd_kill(&c3, 2);
    double d = w_until_watching(b, 0, 8);
    cr_assert(d >= 0, "the watch on a member without a leader is down within 8 s");
    fprintf(stderr, "watch: down %.0f ms after the member lost its quorum\n", d * 1e3);
    cr_assert_eq(tu_etcd_restart(&c3, 1), 0);
    cr_assert(w_until_watching(b, 1, 5) >= 0, "and back once it has a leader again");
    mnemo_store__etcd.close(b);
    tu_etcd_stop(&c3);
}

TU_TEST(etcd, a_watch_whose_revision_was_compacted_starts_again_from_a_fresh_read)
{
    if (!tu_etcd_available())
        cr_skip_test("no etcd program");
    static tu_etcd c3;
    cr_assert_eq(tu_etcd_start(&c3, 3), 0, "cannot start etcd");
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "etcd://127.0.0.1:%d,127.0.0.1:%d/wcompact" /* waits out an election */, c3.client_port[1],
             c3.client_port[2]);
    snprintf(pb, sizeof pb, "etcd://127.0.0.1:%d/wcompact?timeout_ms=300", c3.client_port[0]);
    mnemo_store *a = w_open(pa), *b = w_open(pb);
    cr_assert(w_until_watching(b, 1, 2) >= 0, "b's watch is up within 2 s");
    tu_etcd_kill(&c3, 0);
    uint64_t seq = 0;
    for (int i = 0; i < 5; i++)
        seq = w_commit(a);
    cr_assert_eq(tu_etcd_compact(&c3), 0, "compact");
    cr_assert_eq(tu_etcd_restart(&c3, 0), 0);
    /* the watch from b's last revision is created, then cancelled as compacted; b reads the counter
     * afresh and watches from there: it stays up and answers without requests */
    double t0 = w_now();
    while (w_now() - t0 < 5 && !(mnemo__etcd_watching(b) && mnemo_store__etcd.last_seq(b) >= seq))
        usleep(2000);
    usleep(300000);
    uint64_t sent = mnemo__etcd_requests(b);
    for (int i = 0; i < 100; i++) {
        cr_assert_geq(mnemo_store__etcd.last_seq(b), seq);
        usleep(3000);
    }
    cr_assert(mnemo__etcd_watching(b), "b's watch is up again after the compaction");
    cr_assert_eq(mnemo__etcd_requests(b), sent, "and last_seq sends no request");
    mnemo_store__etcd.close(a);
    mnemo_store__etcd.close(b);
    tu_etcd_stop(&c3);
}
