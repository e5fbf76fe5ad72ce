/* Several processes on one lmdb database (issue 12). The program runs itself as its workers
 * (fork + exec, so no worker inherits an open environment).
 *
 * Load: WORKERS processes each commit ITERS transactions, every one of them a record r<w>-<i>
 * with an 8-dim embedding, an edge r<w>-<i> -[link]-> r<w>-<i-1> and -[hub]-> hub (the hub is
 * pinned by every writer: cross-process conflicts), and a bank transfer between two of ACCOUNTS
 * kv accounts; retried on MNEMO_EBUSY by mnemo_txn_run. A worker prints "ack i" once a commit
 * returned. One worker is killed with SIGKILL part way. The others then verify, each with its own
 * index: every record's embedding reads back as its own (no internal id handed out twice) and an
 * exact search over the index finds it at distance 0 (the index holds what the others wrote).
 * Finally this process checks: every acknowledged record is there, the bank total is unchanged,
 * internal ids are distinct, mnemo_graph_check and mnemo_vector_check pass, and each record's
 * link edge is found through the label name (a name never got two ids).
 *
 * Cache: a process with mnemo's cache on reads a record and a node's neighbours (cached) and runs
 * a filtered search (the filter mirror); another process replaces the record, links an edge and
 * changes a metadata field; the first reads, walks and searches again and sees the change.
 *
 * Trim: a process stopped (SIGSTOP) past its heartbeat's lease while another writes and
 * snapshots (trimming the log past it) finds, once continued, every vector the other wrote (it
 * rebuilt). A process that only idles as long keeps its heartbeat: no trim passes it (no rebuild).
 *
 * etcd (`mproc --etcd`): the same on a three-member etcd cluster the program starts (etcdtest.h),
 * with the cluster's faults added to the load: the etcd leader is killed a few commits in and
 * restarted after the mnemo victim died, then a follower is killed for the rest of the load; while
 * the sleeper is stopped, the cluster's history is also compacted past the revision it last read.
 *
 *   mproc [DIR]      lmdb; exit status 0 = no anomaly
 *   mproc --etcd     etcd (skipped, status 77, without an etcd program) */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#include "mputil.h"
#ifdef MNEMO_HAVE_ETCD
#include "etcdtest.h"
static tu_etcd cluster; /* the parent's, with --etcd */
#endif
#ifndef TU_ETCD_PATH_OPTIONS
#define TU_ETCD_PATH_OPTIONS ""
#endif
static int on_etcd;

#include "vector/vector_impl.h" /* the lease (shortened) and a snapshot on demand */

enum { WORKERS = 4, ITERS = 60, ACCOUNTS = 8, DIM = 8, KILLED = 3, KILL_AFTER = 15, TRIM_N = 40 };

static const char *self;

static void vec_of(float *v, const char *id) { mp_vec_of(v, DIM, id); }

/* A record `id` with its embedding (vec_of), alone. */
static void put_with_vector(mnemo_db *db, const char *id)
{
    mnemo_record r = {0};
    r.id = id;
    float v[DIM];
    vec_of(v, id);
    if (mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT) || mnemo_vector_put(db, NULL, id, v, DIM))
        mp_die("put %s", id);
}

static mnemo_db *open_db(const char *dir, int create)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.engine = strncmp(dir, "etcd://", 7) ? "lmdb" : "etcd";
    o.create_if_missing = create;
    o.vector_dim = create ? DIM : 0;
    mnemo_db *db;
    if (mnemo_open(&db, dir, &o))
        mp_die("open %s", dir);
    return db;
}

typedef struct step {
    mnemo_db *db;
    int w, i;
} step;

static int step_fn(mnemo_txn *t, void *p)
{
    step *s = p;
    char id[32], prev[32];
    snprintf(id, sizeof id, "r%d-%d", s->w, s->i);
    snprintf(prev, sizeof prev, "r%d-%d", s->w, s->i - 1);
    mnemo_record r = {0};
    r.id = id;
    r.content = "memory";
    float v[DIM];
    vec_of(v, id);
    int rc = mnemo_record_put(s->db, t, &r, MNEMO_PUT_UPSERT);
    if (!rc)
        rc = mnemo_vector_put(s->db, t, id, v, DIM);
    mnemo_graph_edge e = {id, "hub", "hub", 1.0, NULL};
    if (!rc)
        rc = mnemo_graph_link(s->db, t, &e, 0);
    mnemo_graph_edge l = {id, "link", prev, 1.0, NULL};
    if (!rc && s->i > 0)
        rc = mnemo_graph_link(s->db, t, &l, 0);
    int a = (s->w * 7 + s->i) % ACCOUNTS, b = (s->w + s->i * 3 + 1) % ACCOUNTS;
    if (a == b)
        b = (b + 1) % ACCOUNTS;
    long ba = rc ? 0 : mp_balance(s->db, t, a, &rc), bb = rc ? 0 : mp_balance(s->db, t, b, &rc);
    long amount = 1 + (s->i % 5);
    if (!rc)
        rc = mp_set_balance(s->db, t, a, ba - amount);
    if (!rc)
        rc = mp_set_balance(s->db, t, b, bb + amount);
    return rc;
}

/* Every record r*: its embedding is its own and an exact search of this process's index finds it. */
static size_t verify(mnemo_db *db, size_t *found)
{
    mnemo_record_list_options lo = MNEMO_RECORD_LIST_OPTIONS_INIT;
    lo.id_prefix = "r";
    mnemo_record_page *pg;
    if (mnemo_record_list(&pg, db, NULL, &lo))
        mp_die("list");
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.exact = 1;
    *found = 0;
    for (size_t k = 0; k < pg->count; k++) {
        const char *id = pg->records[k].id;
        float want[DIM], *got;
        size_t dim;
        vec_of(want, id);
        if (mnemo_vector_get(&got, &dim, db, NULL, id))
            mp_die("vector_get %s", id);
        if (dim != DIM || memcmp(got, want, sizeof want))
            mp_die("the embedding of %s is another record's (an internal id handed out twice?)", id);
        mnemo_free(got);
        mnemo_vector_hits *h;
        if (mnemo_vector_search(&h, db, NULL, want, DIM, 1, &so))
            mp_die("search");
        *found += h->count == 1 && !strcmp(h->hits[0].id, id);
        mnemo_vector_hits_free(h);
    }
    size_t n = pg->count;
    mnemo_record_page_free(pg);
    return n;
}

static int worker(const char *dir, int w)
{
    mnemo_db *db = open_db(dir, 0);
    for (int i = 0; i < ITERS; i++) {
        step s = {db, w, i};
        if (mnemo_txn_run(db, 0, step_fn, &s, NULL))
            mp_die("worker %d step %d", w, i);
        printf("ack %d\n", i);
        fflush(stdout);
        if (i % 10 == 9) { /* searches while the others write: catch up under load */
            float q[DIM];
            vec_of(q, "r0-0");
            mnemo_vector_hits *h;
            if (mnemo_vector_search(&h, db, NULL, q, DIM, 3, NULL))
                mp_die("search under load");
            mnemo_vector_hits_free(h);
        }
    }
    printf("done\n");
    fflush(stdout);
    char line[32];
    if (!fgets(line, sizeof line, stdin)) /* "verify": every live worker is done */
        mp_die("no verify line");
    size_t found, n = verify(db, &found);
    printf("verified %zu %zu\n", n, found);
    fflush(stdout);
    if (mnemo_close(db))
        mp_die("close");
    return 0;
}

/* The process that falls behind a trim: opens, answers one search (so it has caught up and sent
 * its heartbeat), says "ready", is stopped by the parent, and once continued and told "go"
 * searches for every vector b<k> the parent wrote meanwhile. */
static int sleeper(const char *dir)
{
    mnemo_vector__lease_ms = 300;
    mnemo_db *db = open_db(dir, 0);
    float q[DIM];
    vec_of(q, "hub");
    mnemo_vector_hits *h;
    if (mnemo_vector_search(&h, db, NULL, q, DIM, 1, NULL))
        mp_die("sleeper search");
    mnemo_vector_hits_free(h);
    mnemo_vector_stats before = MNEMO_VECTOR_STATS_INIT, after = MNEMO_VECTOR_STATS_INIT;
    mnemo_vector_stats_get(&before, db);
    printf("ready\n");
    fflush(stdout);
    char line[32];
    if (!fgets(line, sizeof line, stdin))
        mp_die("no go line");
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.exact = 1;
    int found = 0;
    for (int k = 0; k < TRIM_N; k++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", k);
        vec_of(q, id);
        if (mnemo_vector_search(&h, db, NULL, q, DIM, 1, &so))
            mp_die("sleeper search after the trim");
        found += h->count == 1 && !strcmp(h->hits[0].id, id);
        mnemo_vector_hits_free(h);
    }
    mnemo_vector_stats_get(&after, db);
    printf("found %d rebuilt %d\n", found, (int)(after.rebuilds - before.rebuilds));
    fflush(stdout);
    mnemo_close(db);
    return 0;
}

typedef struct child {
    pid_t pid;
    FILE *in, *out; /* its stdin (we write), its stdout (we read) */
} child;

static child spawn(const char *mode, const char *dir, int w)
{
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        mp_die("pipe");
    fflush(NULL);
    child c;
    c.pid = fork();
    if (c.pid < 0)
        mp_die("fork");
    if (c.pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        char ws[16];
        snprintf(ws, sizeof ws, "%d", w);
        execl(self, self, mode, dir, ws, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    c.in = fdopen(to[1], "w");
    c.out = fdopen(from[0], "r");
    return c;
}

static int expect_line(child *c, const char *prefix, char *line, size_t n)
{
    while (fgets(line, (int)n, c->out))
        if (!strncmp(line, prefix, strlen(prefix)))
            return 1;
    return 0;
}

static int wait_ok(pid_t pid)
{
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int load_test(const char *dir)
{
    mnemo_db *db = open_db(dir, 1);
    for (int a = 0; a < ACCOUNTS; a++)
        if (mp_set_balance(db, NULL, a, 100))
            mp_die("accounts");
    put_with_vector(db, "hub");
    if (mnemo_close(db))
        mp_die("close");

    child c[WORKERS];
    int acked[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        c[w] = spawn("worker", dir, w);
        acked[w] = -1;
    }
    char line[128];
    int fails = 0;
    /* the victim: killed once it acknowledged KILL_AFTER commits, while the others write; on etcd
     * the leader dies a few commits before that */
    int leader = -1;
    while (acked[KILLED] < KILL_AFTER - 1 && fgets(line, sizeof line, c[KILLED].out))
        if (!strncmp(line, "ack ", 4)) {
            acked[KILLED] = atoi(line + 4);
#ifdef MNEMO_HAVE_ETCD
            if (on_etcd && leader < 0 && acked[KILLED] >= KILL_AFTER / 3) {
                leader = tu_etcd_leader(&cluster);
                if (leader < 0)
                    mp_die("no etcd leader");
                tu_etcd_kill(&cluster, leader);
                fprintf(stderr, "mproc: killed the etcd leader (member %d)\n", leader);
            }
#endif
        }
    (void)leader; /* a build without etcd never kills one */
    kill(c[KILLED].pid, SIGKILL);
    waitpid(c[KILLED].pid, NULL, 0);
#ifdef MNEMO_HAVE_ETCD
    if (on_etcd) { /* the old leader comes back; then a follower dies for the rest of the load */
        if (leader < 0 || tu_etcd_restart(&cluster, leader))
            mp_die("etcd member %d did not come back", leader);
        int now = tu_etcd_leader(&cluster), follower = -1;
        for (int j = 0; j < cluster.n && follower < 0; j++) /* one that stayed up, if the leader allows */
            if (j != now && j != leader)
                follower = j;
        if (follower < 0)
            follower = (now + 1) % cluster.n;
        tu_etcd_kill(&cluster, follower);
        fprintf(stderr, "mproc: restarted member %d, killed follower %d (leader %d)\n", leader, follower, now);
    }
#endif
    while (fgets(line, sizeof line, c[KILLED].out)) /* acks it wrote before it died */
        if (!strncmp(line, "ack ", 4))
            acked[KILLED] = atoi(line + 4);
    for (int w = 0; w < WORKERS; w++) {
        if (w == KILLED)
            continue;
        while (fgets(line, sizeof line, c[w].out) && strncmp(line, "done", 4))
            if (!strncmp(line, "ack ", 4))
                acked[w] = atoi(line + 4);
        if (acked[w] != ITERS - 1) {
            fprintf(stderr, "worker %d stopped after %d commits\n", w, acked[w] + 1);
            fails++;
        }
    }
    size_t total = 1 + (size_t)(WORKERS - 1) * ITERS + (size_t)acked[KILLED] + 1, at_least = total - 1;
    for (int w = 0; w < WORKERS; w++) {
        if (w == KILLED)
            continue;
        fprintf(c[w].in, "verify\n");
        fflush(c[w].in);
        size_t n = 0, found = 0;
        if (!expect_line(&c[w], "verified ", line, sizeof line) || sscanf(line + 9, "%zu %zu", &n, &found) != 2) {
            fprintf(stderr, "worker %d did not verify\n", w);
            fails++;
            continue;
        }
        /* the victim may have committed one more than it acknowledged */
        if (n < at_least - 1 || n > at_least + 1 || found != n) {
            fprintf(stderr, "worker %d: %zu records, its index found %zu (acknowledged: %zu)\n", w, n, found,
                    at_least);
            fails++;
        }
        fclose(c[w].in);
        if (!wait_ok(c[w].pid)) {
            fprintf(stderr, "worker %d failed\n", w);
            fails++;
        }
        fclose(c[w].out);
    }
    fclose(c[KILLED].in);
    fclose(c[KILLED].out);

    db = open_db(dir, 0);
    int rc = 0;
    long sum = 0;
    for (int a = 0; a < ACCOUNTS && !rc; a++)
        sum += mp_balance(db, NULL, a, &rc);
    if (rc || sum != ACCOUNTS * 100) {
        fprintf(stderr, "bank total %ld, expected %d\n", sum, ACCOUNTS * 100);
        fails++;
    }
    uint64_t *iids = calloc(total + 8, sizeof *iids);
    size_t n_iids = 0;
    for (int w = 0; w < WORKERS; w++)
        for (int i = 0; i <= acked[w] + (w == KILLED); i++) {
            char id[32], prev[32];
            snprintf(id, sizeof id, "r%d-%d", w, i);
            snprintf(prev, sizeof prev, "r%d-%d", w, i - 1);
            mnemo_record *r;
            int grc = mnemo_record_get(&r, db, NULL, id);
            if (grc == MNEMO_ENOTFOUND && w == KILLED && i == acked[w] + 1)
                continue; /* killed before this commit: not acknowledged, may be absent */
            if (grc) {
                fprintf(stderr, "acknowledged record %s lost: %s\n", id, mnemo_strerror(grc));
                fails++;
                continue;
            }
            iids[n_iids++] = r->internal_id;
            mnemo_record_free(r);
            if (i > 0 && mnemo_graph_exists(db, NULL, id, "link", prev) != 1) {
                fprintf(stderr, "edge %s -[link]-> %s not found by its label\n", id, prev);
                fails++;
            }
        }
    for (size_t i = 0; i < n_iids; i++)
        for (size_t j = i + 1; j < n_iids; j++)
            if (iids[i] == iids[j]) {
                fprintf(stderr, "internal id %" PRIu64 " handed out twice\n", iids[i]);
                fails++;
            }
    free(iids);
    uint64_t edges, vectors;
    if (mnemo_graph_check(db, &edges) || mnemo_vector_check(db, &vectors)) {
        fprintf(stderr, "check: %s\n", mnemo_errmsg());
        fails++;
    }
    mnemo_close(db);
    printf("{\"test\":\"mproc_load\",\"workers\":%d,\"killed\":1,\"records\":%zu,\"edges\":%" PRIu64
           ",\"vectors\":%" PRIu64 ",\"fails\":%d}\n",
           WORKERS, n_iids, edges, vectors, fails);
    return fails;
}

static int trim_test(const char *dir, int stop)
{
    mnemo_vector__lease_ms = 300;
    mnemo_db *db = open_db(dir, 1);
    put_with_vector(db, "hub");
    mnemo_close(db);
    child s = spawn("sleeper", dir, 0);
    char line[128];
    if (!expect_line(&s, "ready", line, sizeof line))
        mp_die("sleeper not ready");
    if (stop)
        kill(s.pid, SIGSTOP);
    db = open_db(dir, 0);
    for (int k = 0; k < TRIM_N; k++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", k);
        put_with_vector(db, id);
    }
    usleep(400 * 1000); /* a stopped sleeper's heartbeat is older than the lease now */
    vec_state *st;
    if (mnemo_vector__state(&st, db, "mproc") || mnemo_vector__catch_up(st) || mnemo_vector__snapshot(st, db))
        mp_die("snapshot");
    mnemo_close(db);
#ifdef MNEMO_HAVE_ETCD
    if (on_etcd && tu_etcd_compact(&cluster)) /* the revisions the sleeper read at are gone */
        mp_die("etcd compaction");
#endif
    if (stop)
        kill(s.pid, SIGCONT);
    fprintf(s.in, "go\n");
    fflush(s.in);
    int found = -1, rebuilt = -1, fails = 0;
    if (!expect_line(&s, "found ", line, sizeof line) || sscanf(line, "found %d rebuilt %d", &found, &rebuilt) != 2)
        fails++;
    fclose(s.in);
    fclose(s.out);
    if (!wait_ok(s.pid))
        fails++;
    if (found != TRIM_N || rebuilt != stop) { /* stopped: one rebuild, not one per search */
        fprintf(stderr, "%s: found %d of %d, rebuilt %d\n", stop ? "stopped past a trim" : "idle", found, TRIM_N,
                rebuilt);
        fails++;
    }
    printf("{\"test\":\"mproc_trim\",\"stopped\":%d,\"found\":%d,\"rebuilt\":%d,\"fails\":%d}\n", stop, found,
           rebuilt, fails);
    return fails;
}

/* The vector log's trim mark (0: none). */
static uint64_t trim_mark(mnemo_db *db)
{
    char *v;
    size_t n;
    unsigned char tag = 'T';
    int rc = mnemo_txn__get_sealed(&v, &n, db, NULL, MNEMO_CF_VECTOR_INDEX, &tag, 1, 0, "trim mark");
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc || n != 8)
        mp_die("trim mark");
    uint64_t m = 0;
    for (int i = 0; i < 8; i++)
        m = m << 8 | (unsigned char)v[i];
    free(v);
    return m;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A process of another host (its heartbeat names no pid of this one) that applied the log only up
 * to the hub: no snapshot trims past it while its heartbeat is fresh; once the heartbeat is older
 * than the lease, the next snapshot does. (Liveness by pid took it for dead: trimmed at once.) */
static int foreign_heartbeat_test(const char *dir)
{
    mnemo_vector__lease_ms = 300;
    mnemo_db *db = open_db(dir, 1);
    put_with_vector(db, "hub");
    vec_state *st;
    if (mnemo_vector__state(&st, db, "mproc") || mnemo_vector__catch_up(st))
        mp_die("catch up");
    uint64_t applied = st->applied_seq;
    for (int k = 0; k < TRIM_N; k++) {
        char id[16];
        snprintf(id, sizeof id, "b%d", k);
        put_with_vector(db, id);
    }
    unsigned char key[9] = {'P', 0x5e, 0x1f, 0x0e, 0xd0, 0x57, 0x00, 0x42, 0x01}, val[16];
    uint64_t now = wall_ms();
    for (int i = 0; i < 8; i++) {
        val[i] = (unsigned char)(applied >> (56 - 8 * i));
        val[8 + i] = (unsigned char)(now >> (56 - 8 * i));
    }
    if (mnemo_txn__put_sealed(db, NULL, MNEMO_CF_VECTOR_INDEX, key, sizeof key, val, sizeof val) ||
        mnemo_vector__catch_up(st) || mnemo_vector__snapshot(st, db))
        mp_die("snapshot with a foreign heartbeat");
    uint64_t fresh = trim_mark(db);
    usleep(400 * 1000); /* the foreign heartbeat is older than the lease now */
    put_with_vector(db, "late");
    if (mnemo_vector__catch_up(st) || mnemo_vector__snapshot(st, db))
        mp_die("snapshot after the foreign lease");
    uint64_t stale = trim_mark(db);
    mnemo_close(db);
    int fails = fresh > applied || stale <= applied;
    if (fails)
        fprintf(stderr, "foreign heartbeat at %" PRIu64 ": trimmed to %" PRIu64 " while fresh, %" PRIu64 " after\n",
                applied, fresh, stale);
    printf("{\"test\":\"mproc_foreign_heartbeat\",\"applied\":%" PRIu64 ",\"trim_fresh\":%" PRIu64
           ",\"trim_stale\":%" PRIu64 ",\"fails\":%d}\n", applied, fresh, stale, fails);
    return fails;
}

static size_t count_neighbors(mnemo_db *db, const char *id)
{
    mnemo_iter *it;
    size_t n = 0;
    if (mnemo_graph_neighbors(&it, db, NULL, id, MNEMO_DIR_OUT, NULL, 0))
        mp_die("neighbors");
    while (mnemo_iter_next(it) == 0)
        n++;
    mnemo_iter_free(it);
    return n;
}

static char *content_of(mnemo_db *db, const char *id)
{
    mnemo_record *r;
    if (mnemo_record_get(&r, db, NULL, id))
        mp_die("get %s", id);
    char *c = strdup(r->content);
    mnemo_record_free(r);
    return c;
}

/* The other process of the cache test: replaces record c, links c -[x]-> d. */
static int updater(const char *dir)
{
    mnemo_db *db = open_db(dir, 0);
    mnemo_record r = {0};
    r.id = "c";
    r.content = "two";
    mnemo_graph_edge e = {"c", "x", "d", 1.0, NULL};
    if (mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT) || mnemo_graph_link(db, NULL, &e, 0))
        mp_die("update");
    mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
    ch.fields = MNEMO_UPDATE_METADATA;
    ch.metadata_patch = "{\"g\":2}";
    if (mnemo_record_update(db, NULL, "f", &ch))
        mp_die("update f");
    return mnemo_close(db) ? 1 : 0;
}

/* Hits of a search for the k nearest to v passing filter (the filter mirror answers it). */
static size_t search_hits(mnemo_db *db, const float *v, const char *filter, size_t k, int exact)
{
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.filter = filter;
    so.exact = exact;
    mnemo_vector_hits *h;
    if (mnemo_vector_search(&h, db, NULL, v, DIM, k, &so))
        mp_die("search %s", filter);
    size_t n = h->count;
    mnemo_vector_hits_free(h);
    return n;
}

/* Record f ({"g":1}, content "one") with its embedding (into fv). */
static void put_f(mnemo_db *db, float *fv)
{
    mnemo_record r = {0};
    r.id = "f";
    r.metadata = "{\"g\":1}";
    r.content = "one";
    vec_of(fv, "f");
    if (mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT) || mnemo_vector_put(db, NULL, "f", fv, DIM))
        mp_die("put f");
}

/* Hits of a filtered search {"g":1} near v. */
static size_t filtered_hits(mnemo_db *db, const float *v) { return search_hits(db, v, "{\"g\":1}", 5, 0); }

static int cache_test(const char *dir)
{
    mnemo_db *db = open_db(dir, 1); /* mnemo's cache is on by default */
    mnemo_record r = {0};
    r.id = "c";
    r.content = "one";
    if (mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT))
        mp_die("put c");
    r.id = "d";
    if (mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT))
        mp_die("put d");
    float fv[DIM];
    put_f(db, fv);
    int fails = 0;
    fails += filtered_hits(db, fv) != 1;
    for (int k = 0; k < 2; k++) { /* the second read of each is answered by the cache */
        char *c = content_of(db, "c");
        fails += strcmp(c, "one") != 0 || count_neighbors(db, "c") != 0;
        free(c);
    }
    mnemo_stats s0 = MNEMO_STATS_INIT;
    mnemo_stats_get(&s0, db);
    child u = spawn("updater", dir, 0);
    fclose(u.in);
    fclose(u.out);
    fails += !wait_ok(u.pid);
    char *c = content_of(db, "c");
    size_t n = count_neighbors(db, "c");
    if (filtered_hits(db, fv) != 0) {
        fprintf(stderr, "filtered search: after another process changed f's metadata, g=1 still finds it\n");
        fails++;
    }
    if (strcmp(c, "two") || n != 1) {
        fprintf(stderr, "cache: after another process's commit, c reads '%s' with %zu neighbours\n", c, n);
        fails++;
    }
    free(c);
    if (s0.cache_hits == 0) {
        fprintf(stderr, "cache: no hit before the update (the test would not see a stale entry)\n");
        fails++;
    }
    mnemo_close(db);
    printf("{\"test\":\"mproc_cache\",\"hits_before\":%" PRIu64 ",\"fails\":%d}\n", s0.cache_hits, fails);
    return fails;
}

/* Review, filter mirror: another process changes a numeric field in one transaction (to a string
 * then to a number again, twice per record) and deletes a record; this process commits a change of
 * its own right after. A range filter (the numeric column answers it alone) must then count what
 * the records hold, and the filter's cached bitset must not answer. */
enum { MIRROR_N = 50 };
static int meta_updater(const char *dir)
{
    mnemo_db *db = open_db(dir, 0);
    mnemo_txn *t;
    if (mnemo_txn_begin(&t, db, 0))
        mp_die("begin");
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
        ch.fields = MNEMO_UPDATE_METADATA;
        ch.metadata_patch = "{\"n\":\"x\"}";
        if (mnemo_record_update(db, t, id, &ch))
            mp_die("update %s", id);
        ch.metadata_patch = "{\"n\":100}";
        if (mnemo_record_update(db, t, id, &ch))
            mp_die("update %s again", id);
    }
    if (mnemo_record_delete(db, t, "m49") || mnemo_txn_commit(t))
        mp_die("delete m49, commit");
    mnemo_txn_free(t);
    return mnemo_close(db) ? 1 : 0;
}

static size_t range_hits(mnemo_db *db)
{
    float v[DIM];
    vec_of(v, "m0");
    return search_hits(db, v, "{\"n\": {\"$gte\": 25}}", 100, 1);
}

static int mirror_test(const char *dir)
{
    mnemo_db *db = open_db(dir, 1);
    for (int i = 0; i < MIRROR_N; i++) {
        char id[16], meta[32];
        snprintf(id, sizeof id, "m%d", i);
        snprintf(meta, sizeof meta, "{\"n\": %d}", i);
        put_with_vector(db, id);
        mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
        ch.fields = MNEMO_UPDATE_METADATA;
        ch.metadata_patch = meta;
        if (mnemo_record_update(db, NULL, id, &ch))
            mp_die("meta %s", id);
    }
    int fails = 0;
    size_t before = range_hits(db), again = range_hits(db); /* the second from the cached bitset */
    fails += before != 25 || again != 25;
    child u = spawn("meta_updater", dir, 0);
    fclose(u.in);
    fclose(u.out);
    fails += !wait_ok(u.pid);
    mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT; /* a commit of this process right after */
    ch.fields = MNEMO_UPDATE_METADATA;
    ch.metadata_patch = "{\"n\": 0}";
    if (mnemo_record_update(db, NULL, "m48", &ch))
        mp_die("update m48");
    size_t after = range_hits(db); /* 25 + m0..m9 - m49 (deleted) - m48 (now 0) */
    if (after != 33) {
        fprintf(stderr, "filter mirror: %zu hits of n >= 25 after another process's changes, want 33\n", after);
        fails++;
    }
    mnemo_close(db);
    printf("{\"test\":\"mproc_mirror\",\"before\":%zu,\"after\":%zu,\"fails\":%d}\n", before, after, fails);
    return fails;
}

/* A review's (stop 30): flips f's metadata to g:2 and its content to "two" in one commit when
 * told. */
static int flipper(const char *dir)
{
    mnemo_db *db = open_db(dir, 0);
    char line[32];
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        mp_die("no go");
    mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
    ch.fields = MNEMO_UPDATE_METADATA | MNEMO_UPDATE_CONTENT;
    ch.metadata_patch = "{\"g\":2}";
    ch.content = "two";
    if (mnemo_record_update(db, NULL, "f", &ch))
        mp_die("flip f");
    printf("done\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        mp_die("no bye");
    return mnemo_close(db) ? 1 : 0;
}

static uint64_t store_seq(mnemo_db *db)
{
    mnemo_stats s = MNEMO_STATS_INIT;
    mnemo_stats_get(&s, db);
    return s.store_sequence;
}

/* Another process flips f out of {"g":1}; this process then deletes a kv key that is absent (a
 * write that changes nothing: no commit on lmdb). The filtered search after must not find f, and
 * the cached read of f must say "two". It did both when the engine reported the other process's
 * commit as the no-op write's (the txn room took it for its own: the filter mirror and the cache
 * stayed stale for good). noop 0: the same without the delete (the control). */
static int noop_test(const char *dir, int noop)
{
    mnemo_db *db = open_db(dir, 1);
    float fv[DIM];
    put_f(db, fv);
    child u = spawn("flipper", dir, 0);
    char line[64];
    int fails = !expect_line(&u, "ready", line, sizeof line);
    if (mnemo_kv_put(db, NULL, "k", 1, "x", 1))
        mp_die("kv put");
    size_t before = search_hits(db, fv, "{\"g\":1}", 5, 1);
    free(content_of(db, "f"));
    free(content_of(db, "f")); /* cached */
    uint64_t a = store_seq(db);
    fprintf(u.in, "go\n");
    fflush(u.in);
    fails += !expect_line(&u, "done", line, sizeof line);
    uint64_t b = store_seq(db);
    if (noop && mnemo_kv_delete(db, NULL, "absent", 6))
        mp_die("kv delete");
    uint64_t c = store_seq(db);
    char *content = content_of(db, "f");
    size_t after = search_hits(db, fv, "{\"g\":1}", 5, 1);
    if (strcmp(content, "two")) {
        fprintf(stderr, "cache (noop=%d): f's content reads '%s' after another process set 'two'\n", noop, content);
        fails++;
    }
    free(content);
    fprintf(u.in, "bye\n");
    fclose(u.in);
    fclose(u.out);
    fails += !wait_ok(u.pid);
    if (before != 1 || after != 0) {
        fprintf(stderr, "own_since (noop=%d): {g:1} hits %zu before, %zu after another process set g:2 (want 1, 0)\n",
                noop, before, after);
        fails++;
    }
    mnemo_close(db);
    printf("{\"test\":\"mproc_noop\",\"noop\":%d,\"seq_before_flip\":%llu,\"after_flip\":%llu,\"after_noop\":%llu,\"before\":%zu,\"after\":%zu,\"fails\":%d}\n",
           noop, (unsigned long long)a, (unsigned long long)b, (unsigned long long)c, before, after, fails);
    return fails;
}

int main(int argc, char **argv)
{
    self = argv[0];
    mp_name = "mproc";
    if (argc == 4 && !strcmp(argv[1], "worker"))
        return worker(argv[2], atoi(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "sleeper"))
        return sleeper(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "updater"))
        return updater(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "meta_updater"))
        return meta_updater(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "flipper"))
        return flipper(argv[2]);
    char base[512], dir[1200];
    on_etcd = argc == 2 && !strcmp(argv[1], "--etcd");
    snprintf(base, sizeof base, "%s/mproc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (argc == 2 && !on_etcd)
        snprintf(base, sizeof base, "%s", argv[1]);
    else if (!mkdtemp(base))
        mp_die("mkdtemp");
    mkdir(base, 0755);
    if (on_etcd) {
#ifdef MNEMO_HAVE_ETCD
        if (!tu_etcd_available()) {
            fprintf(stderr, "mproc --etcd: no etcd program (apt-get install etcd-server): skipped\n");
            return 77;
        }
        rmdir(base);
        if (tu_etcd_start(&cluster, 3))
            mp_die("cannot start a three-member etcd cluster");
        /* the databases are prefixes on the cluster, named after the (unique) temporary directory */
        snprintf(base, sizeof base, "%s", tu_etcd_path(&cluster, base));
        *strchr(base, '?') = '\0';
#else
        fprintf(stderr, "mproc --etcd: this build has no etcd engine: skipped\n");
        return 77;
#endif
    }
#define DB_AT(name)                                                                                         \
    (on_etcd ? snprintf(dir, sizeof dir, "%s/%s?%s", base, name, TU_ETCD_PATH_OPTIONS)                    \
             : snprintf(dir, sizeof dir, "%s/%s", base, name))
    DB_AT("load");
    int fails = load_test(dir);
    DB_AT("cache");
    fails += cache_test(dir);
    DB_AT("mirror");
    fails += mirror_test(dir);
    DB_AT("trim");
    fails += trim_test(dir, 1);
    DB_AT("idle");
    fails += trim_test(dir, 0);
    DB_AT("foreign");
    fails += foreign_heartbeat_test(dir);
    DB_AT("noop0");
    fails += noop_test(dir, 0);
    DB_AT("noop1");
    fails += noop_test(dir, 1);
#ifdef MNEMO_HAVE_ETCD
    if (on_etcd) {
        tu_etcd_stop(&cluster);
        return fails ? 1 : 0;
    }
#endif
    if (argc != 2) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", base);
    }
    return fails ? 1 : 0;
}
