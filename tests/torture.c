/* Crash-recovery torture (issue 7): a child process runs random multi-model transactions on one
 * database and acknowledges each commit to the parent through a pipe; the parent SIGKILLs it at a
 * random moment, reopens the database and checks that
 *   - every acknowledged commit is there (sync_on_commit = 1; with 0 the lost ones are counted),
 *   - no transaction is partly there: transaction n writes one piece per model (the `parts` table
 *     below) plus a marker kv `m/n`, and each piece is present exactly when the marker is,
 *   - the commits that survived are a prefix of the commit order (no holes),
 *   - forward and backward edges agree and every edge has its records (mnemo_graph_check),
 *   - nothing deleted is back (transaction n may delete an older transaction k: kv `d/k` = n),
 *   - vectors (a 16-dim space): each acknowledged transaction's embeddings are stored with exact
 *     values, found by an exact search at distance 0 and by a filtered search, gone with their
 *     records, and mnemo_vector_check finds the index in agreement with vector_data.
 * The same database is used for every cycle, so later cycles delete and link earlier ones.
 *
 * A plain program (not Criterion: it forks and kills), exit status 0 when no anomaly was found.
 *   torture [--cycles N] [--sync 0|1|both] [--seed S] [--dir D] [--max-kill-ms M] [--quiet]
 * Output: one JSON line per mode with cycles, commits acknowledged, lost and anomalies.
 *
 * Adding a model (vectors): add a row to `parts` with its write and check functions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#define CYCLE_SPAN 1000000ull /* transaction numbers of cycle c: c * CYCLE_SPAN + 0, 1, ... */

static int quiet;
static unsigned long anomalies;

static void anomaly(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    anomalies++;
    if (anomalies <= 50) {
        fprintf(stderr, "ANOMALY: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

static uint64_t rng_state;
static uint64_t rnd(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void key(char *out, size_t cap, char kind, uint64_t n) { snprintf(out, cap, "%c/%012" PRIu64, kind, n); }

/* ---- one transaction: what it writes ---- */

typedef struct txn_plan {
    uint64_t n;
    int64_t expires_at; /* of its records; 0 = never */
    int64_t link_to;    /* an older live transaction whose record r/n links to, or -1 */
    int64_t del;        /* an older live transaction it deletes, or -1 */
    int64_t vec_of;     /* an older live transaction whose r-record's embedding it changes, or -1 */
    int vec_op;         /* with vec_of: 'R' replace, 'D' delete */
} txn_plan;

#define PLAN_INIT(n) {(n), 0, -1, -1, -1, 0}

typedef struct part {
    const char *name;
    int (*write)(mnemo_db *db, mnemo_txn *txn, const txn_plan *p);
    /* live: the transaction committed and was not deleted since; 0 when the piece is as expected */
    int (*check)(mnemo_db *db, const txn_plan *p, int live);
} part;

static int kv_write(mnemo_db *db, mnemo_txn *txn, const txn_plan *p)
{
    char k[32], v[32];
    key(k, sizeof k, 't', p->n);
    snprintf(v, sizeof v, "%" PRIu64, p->n);
    return mnemo_kv_put(db, txn, k, strlen(k), v, strlen(v));
}

static int kv_check(mnemo_db *db, const txn_plan *p, int live)
{
    char k[32], v[32];
    key(k, sizeof k, 't', p->n);
    snprintf(v, sizeof v, "%" PRIu64, p->n);
    void *got = NULL;
    size_t len;
    int rc = mnemo_kv_get(&got, &len, db, NULL, k, strlen(k));
    int ok = live ? rc == 0 && len == strlen(v) && !memcmp(got, v, len) : rc == MNEMO_ENOTFOUND;
    if (!ok)
        anomaly("txn %" PRIu64 " kv %s: %s (%s), expected %s", p->n, k, mnemo_strerror(rc), rc ? mnemo_errmsg() : "",
                live ? "its value" : "absent");
    mnemo_free(got);
    return !ok;
}

static int record_write(mnemo_db *db, mnemo_txn *txn, const txn_plan *p)
{
    char id[32], meta[96], content[64];
    for (int i = 0; i < 2; i++) {
        key(id, sizeof id, i ? 's' : 'r', p->n);
        snprintf(meta, sizeof meta, "{\"txn\": %" PRIu64 ", \"side\": \"%c\"}", p->n, i ? 's' : 'r');
        snprintf(content, sizeof content, "memory of transaction %" PRIu64, p->n);
        mnemo_record r = {0};
        r.id = id;
        r.content = content;
        r.importance = (double)(p->n % 100) / 100.0;
        r.expires_at = p->expires_at;
        r.metadata = meta;
        int rc = mnemo_record_put(db, txn, &r, MNEMO_PUT_INSERT);
        if (rc)
            return rc;
    }
    return 0;
}

static int record_check(mnemo_db *db, const txn_plan *p, int live)
{
    int bad = 0;
    char id[32], meta[96];
    for (int i = 0; i < 2; i++) {
        key(id, sizeof id, i ? 's' : 'r', p->n);
        mnemo_record *r = NULL;
        int rc = mnemo_record_get(&r, db, NULL, id);
        if (!live) {
            if (rc != MNEMO_ENOTFOUND) {
                anomaly("txn %" PRIu64 " record %s: %s, expected absent", p->n, id, mnemo_strerror(rc));
                bad = 1;
            }
        } else if (rc) {
            anomaly("txn %" PRIu64 " record %s: %s (%s)", p->n, id, mnemo_strerror(rc), mnemo_errmsg());
            bad = 1;
        } else {
            snprintf(meta, sizeof meta, "{\"side\":\"%c\",\"txn\":%" PRIu64 "}", i ? 's' : 'r', p->n);
            if (strcmp(r->metadata, meta) || r->expires_at != p->expires_at) {
                anomaly("txn %" PRIu64 " record %s: metadata %s expires %" PRId64 ", expected %s %" PRId64, p->n, id,
                        r->metadata, r->expires_at, meta, p->expires_at);
                bad = 1;
            }
        }
        mnemo_record_free(r);
    }
    /* the secondary index on "txn" must agree with the records */
    char filter[64];
    snprintf(filter, sizeof filter, "{\"txn\": %" PRIu64 "}", p->n);
    mnemo_record_page *page = NULL;
    int rc = mnemo_record_find(&page, db, NULL, filter, NULL);
    if (rc || page->count != (live ? 2u : 0u)) {
        anomaly("txn %" PRIu64 " find %s: %s, %zu records, expected %d", p->n, filter, mnemo_strerror(rc),
                page ? page->count : 0, live ? 2 : 0);
        bad = 1;
    }
    mnemo_record_page_free(page);
    return bad;
}

static int graph_write(mnemo_db *db, mnemo_txn *txn, const txn_plan *p)
{
    char r[32], s[32], o[32];
    key(r, sizeof r, 'r', p->n);
    key(s, sizeof s, 's', p->n);
    mnemo_graph_edge e1 = {r, "pair", s, 1.0, NULL}, e2 = {s, "back", r, 2.0, "{\"n\": 1}"};
    int rc = mnemo_graph_link(db, txn, &e1, 0);
    if (!rc)
        rc = mnemo_graph_link(db, txn, &e2, 0);
    if (!rc && p->link_to >= 0) {
        key(o, sizeof o, 'r', (uint64_t)p->link_to);
        mnemo_graph_edge e3 = {r, "older", o, 0.5, NULL};
        rc = mnemo_graph_link(db, txn, &e3, 0);
    }
    return rc;
}

static int graph_check(mnemo_db *db, const txn_plan *p, int live)
{
    char r[32], s[32];
    key(r, sizeof r, 'r', p->n);
    key(s, sizeof s, 's', p->n);
    int a = mnemo_graph_exists(db, NULL, r, "pair", s), b = mnemo_graph_exists(db, NULL, s, "back", r);
    if (a != live || b != live) {
        anomaly("txn %" PRIu64 " edges: pair %d back %d, expected %d", p->n, a, b, live);
        return 1;
    }
    return 0;
}

/* Vectors. Components are multiples of 1/64 below 16 in magnitude, so every dot product and
 * squared norm is exact in float and a vector's distance to itself is exactly 0 whatever the
 * order of the sums (OpenBLAS or hnswlib's SIMD kernels). */
#define VDIM 16

/* The embedding of record r/n or s/n (side 'r'/'s') in its version ver. */
static void vec_value(float *v, uint64_t n, char side, uint64_t ver)
{
    uint64_t h = n * 0x9E3779B97F4A7C15ull ^ ((uint64_t)side << 56) ^ (ver * 0xC2B2AE3D27D4EB4Full);
    for (int i = 0; i < VDIM; i++) {
        h += 0x9E3779B97F4A7C15ull;
        uint64_t z = h;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        v[i] = (float)((int)(z % 2001) - 1000) / 64.0f;
    }
}

/* s/n: no embedding (n % 3 == 0), one put (1), or a put replaced in the same transaction (2). */
static int s_vec_version(uint64_t n) { return (int)(n % 3); }

static int vector_write(mnemo_db *db, mnemo_txn *txn, const txn_plan *p)
{
    char id[32];
    float v[VDIM];
    key(id, sizeof id, 'r', p->n);
    vec_value(v, p->n, 'r', p->n);
    int rc = mnemo_vector_put(db, txn, id, v, VDIM);
    key(id, sizeof id, 's', p->n);
    for (int ver = 1; ver <= s_vec_version(p->n) && !rc; ver++) {
        vec_value(v, p->n, 's', (uint64_t)ver);
        rc = mnemo_vector_put(db, txn, id, v, VDIM);
    }
    return rc;
}

/* The expected embedding of r/n: kv `v/n` names the last transaction that changed it ("R m" or
 * "D m"; absent: n's own). Returns 1 with v filled, 0 when it has none, -1 on error. */
static int r_expected(mnemo_db *db, uint64_t n, float *v, uint64_t *changed_by)
{
    char k[32];
    key(k, sizeof k, 'v', n);
    void *got = NULL;
    size_t len;
    int rc = mnemo_kv_get(&got, &len, db, NULL, k, strlen(k));
    *changed_by = n;
    if (rc == MNEMO_ENOTFOUND) {
        vec_value(v, n, 'r', n);
        return 1;
    }
    if (rc) {
        anomaly("txn %" PRIu64 " kv %s: %s %s", n, k, mnemo_strerror(rc), mnemo_errmsg());
        return -1;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), (char *)got);
    mnemo_free(got);
    *changed_by = strtoull(buf + 2, NULL, 10);
    if (buf[0] == 'D')
        return 0;
    vec_value(v, n, 'r', *changed_by);
    return 1;
}

static int search_has(mnemo_db *db, const float *q, size_t k, const mnemo_vector_search_options *o, const char *id,
                      float *dist, size_t *count)
{
    mnemo_vector_hits *h = NULL;
    int rc = mnemo_vector_search(&h, db, NULL, q, VDIM, k, o);
    if (rc) {
        anomaly("search: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        return -1;
    }
    int found = 0;
    for (size_t i = 0; i < h->count; i++)
        if (!strcmp(h->hits[i].id, id)) {
            found = 1;
            *dist = h->hits[i].distance;
        }
    if (count)
        *count = h->count;
    mnemo_vector_hits_free(h);
    return found;
}

static int check_scan; /* also run the exact search over every vector (this cycle's commits) */

/* One embedding: expected (want) or absent (want NULL). */
static int vector_check_one(mnemo_db *db, const txn_plan *p, const char *id, const float *want, const float *probe)
{
    float *got = NULL;
    size_t dim = 0;
    int rc = mnemo_vector_get(&got, &dim, db, NULL, id), bad = 0;
    if (want ? rc != 0 || dim != VDIM || memcmp(got, want, sizeof(float) * VDIM) : rc != MNEMO_ENOTFOUND) {
        anomaly("txn %" PRIu64 " vector of %s: %s%s%s, expected %s", p->n, id, mnemo_strerror(rc), rc ? " " : "",
                rc ? mnemo_errmsg() : (want ? "(different values)" : ""), want ? "its values" : "none");
        bad = 1;
    }
    mnemo_free(got);
    const float *q = want ? want : probe;
    if (!q)
        return bad;
    float d = -1;
    mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    if (check_scan) { /* exact over everything: the vector finds its record at distance 0 */
        o.exact = 1;
        int f = search_has(db, q, 1, &o, id, &d, NULL);
        if (want ? f != 1 || d != 0.0f : f != 0) {
            anomaly("txn %" PRIu64 " exact search for %s: found %d at %g, expected %s", p->n, id, f, (double)d,
                    want ? "found at 0" : "not found");
            bad = 1;
        }
    }
    /* filtered to the transaction's records (planned as exact over the candidates) */
    char filter[64];
    snprintf(filter, sizeof filter, "{\"txn\": %" PRIu64 "}", p->n);
    o = (mnemo_vector_search_options)MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    o.filter = filter;
    int f = search_has(db, q, 2, &o, id, &d, NULL);
    if (want ? f != 1 || d != 0.0f : f != 0) {
        anomaly("txn %" PRIu64 " filtered search for %s: found %d at %g, expected %s", p->n, id, f, (double)d,
                want ? "found at 0" : "not found");
        bad = 1;
    }
    return bad;
}

static uint64_t vectors_expected; /* embeddings of the live transactions checked */

static int vector_check(mnemo_db *db, const txn_plan *p, int live)
{
    char id[32];
    float v[VDIM], probe[VDIM];
    uint64_t by;
    int bad = 0;
    key(id, sizeof id, 'r', p->n);
    vec_value(probe, p->n, 'r', p->n);
    if (!live) {
        bad |= vector_check_one(db, p, id, NULL, probe);
    } else {
        int has = r_expected(db, p->n, v, &by);
        if (has < 0)
            return 1;
        vectors_expected += (uint64_t)has;
        bad |= vector_check_one(db, p, id, has ? v : NULL, probe);
    }
    key(id, sizeof id, 's', p->n);
    int ver = s_vec_version(p->n);
    vec_value(probe, p->n, 's', ver ? (uint64_t)ver : 1);
    vectors_expected += (uint64_t)(live && ver);
    bad |= vector_check_one(db, p, id, live && ver ? probe : NULL, probe);
    return bad;
}

static const part parts[] = {
    {"kv", kv_write, kv_check},
    {"record", record_write, record_check},
    {"graph", graph_write, graph_check},
    {"vector", vector_write, vector_check},
};
#define N_PARTS (sizeof parts / sizeof parts[0])

/* The marker m/n (written last) records the plan, so the checker knows what n did. */
static void plan_text(char *out, size_t cap, const txn_plan *p)
{
    snprintf(out, cap, "e=%" PRId64 " l=%" PRId64 " d=%" PRId64 " v=%" PRId64 " o=%d", p->expires_at, p->link_to,
             p->del, p->vec_of, p->vec_op);
}

static int plan_parse(txn_plan *p, uint64_t n, const char *v, size_t len)
{
    char buf[128];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    p->n = n;
    return sscanf(buf, "e=%" SCNd64 " l=%" SCNd64 " d=%" SCNd64 " v=%" SCNd64 " o=%d", &p->expires_at, &p->link_to,
                  &p->del, &p->vec_of, &p->vec_op) == 5
               ? 0
               : -1;
}

/* ---- the child: writes until killed ---- */

typedef struct live_set {
    uint64_t *v;
    size_t n, cap;
} live_set;

static void live_add(live_set *s, uint64_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    s->v[s->n++] = n;
}

/* Transactions whose marker is present and that were not deleted. */
static int load_live(live_set *s, mnemo_db *db)
{
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = "m/";
    o.prefix_len = 2;
    mnemo_iter *it;
    int rc = mnemo_kv_iter(&it, db, NULL, &o);
    if (rc)
        return rc;
    while ((rc = mnemo_iter_next(it)) == 0) {
        const void *k;
        size_t kl;
        mnemo_iter_key(it, &k, &kl);
        char d[32];
        uint64_t n = strtoull((const char *)k + 2, NULL, 10);
        key(d, sizeof d, 'd', n);
        int dead = mnemo_kv_exists(db, NULL, d, strlen(d));
        if (dead < 0) {
            rc = dead;
            break;
        }
        if (!dead)
            live_add(s, n);
    }
    mnemo_iter_free(it);
    return rc == MNEMO_ITEROVER ? 0 : rc;
}

typedef struct run_ctx {
    mnemo_db *db;
    txn_plan plan;
    unsigned attempts;
    int vec_op; /* as planned (the body may turn a delete of a missing embedding into a replace) */
} run_ctx;

static int txn_body(mnemo_txn *txn, void *arg)
{
    run_ctx *c = arg;
    const txn_plan *p = &c->plan;
    c->attempts++;
    c->plan.vec_op = c->vec_op; /* a retry starts from the original plan */
    int rc = 0;
    for (size_t i = 0; i < N_PARTS && !rc; i++)
        rc = parts[i].write(c->db, txn, p);
    if (!rc && p->del >= 0) {
        char k[32], v[32];
        uint64_t d = (uint64_t)p->del;
        key(k, sizeof k, 't', d);
        if ((rc = mnemo_kv_delete(c->db, txn, k, strlen(k))) != 0)
            return rc;
        key(k, sizeof k, 'r', d);
        if ((rc = mnemo_record_delete(c->db, txn, k)) != 0)
            return rc;
        key(k, sizeof k, 's', d);
        if ((rc = mnemo_record_delete(c->db, txn, k)) != 0)
            return rc;
        key(k, sizeof k, 'd', d);
        snprintf(v, sizeof v, "%" PRIu64, p->n);
        rc = mnemo_kv_put(c->db, txn, k, strlen(k), v, strlen(v));
    }
    if (!rc && p->vec_of >= 0) { /* change r/k's embedding; kv v/k says who did it, atomically */
        char id[32], k[32], v[32];
        uint64_t vk = (uint64_t)p->vec_of;
        key(id, sizeof id, 'r', vk);
        if (p->vec_op == 'D') {
            rc = mnemo_vector_delete(c->db, txn, id);
            if (rc == MNEMO_ENOTFOUND) /* already deleted: the plan becomes a replace */
                c->plan.vec_op = 'R', rc = 0;
            else if (rc)
                return rc;
        }
        if (p->vec_op == 'R') {
            float vec[VDIM];
            vec_value(vec, vk, 'r', p->n);
            if ((rc = mnemo_vector_put(c->db, txn, id, vec, VDIM)) != 0)
                return rc;
        }
        key(k, sizeof k, 'v', vk);
        snprintf(v, sizeof v, "%c %" PRIu64, p->vec_op, p->n);
        rc = mnemo_kv_put(c->db, txn, k, strlen(k), v, strlen(v));
    }
    if (!rc) {
        char k[32], v[128];
        key(k, sizeof k, 'm', p->n);
        plan_text(v, sizeof v, p);
        rc = mnemo_kv_put(c->db, txn, k, strlen(k), v, strlen(v));
    }
    return rc;
}

static void child_main(const char *dir, int sync, uint64_t base, uint64_t seed, int ack_fd)
{
    rng_state = seed | 1;
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.sync_on_commit = sync;
    mnemo_db *db;
    int rc = mnemo_open(&db, dir, &o);
    if (rc) {
        fprintf(stderr, "child: open: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
        _exit(2);
    }
    live_set live = {NULL, 0, 0};
    if ((rc = load_live(&live, db)) != 0) {
        fprintf(stderr, "child: load: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
        _exit(2);
    }
    for (uint64_t n = base;; n++) {
        run_ctx c = {db, PLAN_INIT(n), 0, 0};
        if (rnd() % 2)
            c.plan.expires_at = now_ms() + 30ll * 24 * 3600 * 1000 + (int64_t)(rnd() % 1000);
        if (live.n && rnd() % 2)
            c.plan.link_to = (int64_t)live.v[rnd() % live.n];
        if (live.n > 20 && rnd() % 3 == 0) {
            size_t at = rnd() % live.n;
            c.plan.del = (int64_t)live.v[at];
            live.v[at] = live.v[--live.n];
            if (c.plan.link_to == c.plan.del)
                c.plan.link_to = -1;
        }
        if (live.n && rnd() % 3 == 0) {
            c.plan.vec_of = (int64_t)live.v[rnd() % live.n];
            c.vec_op = c.plan.vec_op = rnd() % 3 ? 'R' : 'D';
        }
        rc = mnemo_txn_run(db, 0, txn_body, &c, NULL);
        if (rc) {
            fprintf(stderr, "child: txn %" PRIu64 ": %s %s\n", n, mnemo_strerror(rc), mnemo_errmsg());
            _exit(2);
        }
        uint64_t ack[2] = {n, c.attempts - 1};
        if (write(ack_fd, ack, sizeof ack) != (ssize_t)sizeof ack)
            _exit(3);
        live_add(&live, n);
    }
}

/* ---- the parent: kill, reopen, check ---- */

static int check_txn(mnemo_db *db, uint64_t n, const char *mv, size_t ml)
{
    txn_plan p;
    if (plan_parse(&p, n, mv, ml)) {
        anomaly("txn %" PRIu64 ": marker '%.*s' unreadable", n, (int)ml, mv);
        return 1;
    }
    char k[32];
    key(k, sizeof k, 'd', n);
    int live = !mnemo_kv_exists(db, NULL, k, strlen(k));
    int bad = 0;
    for (size_t i = 0; i < N_PARTS; i++)
        bad |= parts[i].check(db, &p, live);
    if (p.vec_of >= 0) { /* the embedding n changed was changed by n or later */
        key(k, sizeof k, 'v', (uint64_t)p.vec_of);
        void *v = NULL;
        size_t vl;
        int rc = mnemo_kv_get(&v, &vl, db, NULL, k, strlen(k));
        char buf[32] = "";
        if (!rc)
            snprintf(buf, sizeof buf, "%.*s", (int)(vl < 31 ? vl : 31), (char *)v);
        if (rc || strtoull(buf + 2, NULL, 10) < n) {
            anomaly("txn %" PRIu64 " changed the vector of %" PRId64 " but %s is %s", n, p.vec_of, k,
                    rc ? mnemo_strerror(rc) : buf);
            bad = 1;
        }
        mnemo_free(v);
    }
    if (p.del >= 0) { /* what n deleted stays deleted, with n named as the deleter */
        key(k, sizeof k, 'd', (uint64_t)p.del);
        void *v = NULL;
        size_t vl;
        int rc = mnemo_kv_get(&v, &vl, db, NULL, k, strlen(k));
        if (rc || strtoull(v, NULL, 10) != n) {
            anomaly("txn %" PRIu64 " deleted %" PRId64 " but %s is %s", n, p.del, k, rc ? mnemo_strerror(rc) : (char *)v);
            bad = 1;
        }
        mnemo_free(v);
    }
    return bad;
}

/* Checks every transaction with n >= from; returns how many markers >= from exist (they must be
 * from, from + 1, ...: a prefix of the cycle's commits) via *present. */
static void check_db(mnemo_db *db, uint64_t from, uint64_t cycle_base, uint64_t *present)
{
    char start[32];
    key(start, sizeof start, 'm', from);
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = "m/";
    o.prefix_len = 2;
    o.start = start;
    o.start_len = strlen(start);
    mnemo_iter *it;
    int rc = mnemo_kv_iter(&it, db, NULL, &o);
    if (rc) {
        anomaly("iter: %s %s", mnemo_strerror(rc), mnemo_errmsg());
        return;
    }
    uint64_t expect = cycle_base, count = 0;
    vectors_expected = 0;
    while ((rc = mnemo_iter_next(it)) == 0) {
        const void *k, *v;
        size_t kl, vl;
        mnemo_iter_key(it, &k, &kl);
        mnemo_iter_value(it, &v, &vl);
        uint64_t n = strtoull((const char *)k + 2, NULL, 10);
        if (n >= cycle_base) {
            if (n != expect)
                anomaly("commit hole: txn %" PRIu64 " present but %" PRIu64 " missing", n, expect);
            expect = n + 1;
            count++;
        }
        check_scan = n >= cycle_base;
        check_txn(db, n, v, vl);
    }
    if (rc != MNEMO_ITEROVER)
        anomaly("iter: %s %s", mnemo_strerror(rc), mnemo_errmsg());
    mnemo_iter_free(it);
    /* nothing of a transaction after the last marker: the next few are absent */
    check_scan = 1;
    for (uint64_t n = expect; n < expect + 3; n++) {
        txn_plan p = PLAN_INIT(n);
        for (size_t i = 0; i < N_PARTS; i++)
            parts[i].check(db, &p, 0);
    }
    uint64_t edges = 0;
    if ((rc = mnemo_graph_check(db, &edges)) != 0)
        anomaly("graph check: %s %s", mnemo_strerror(rc), mnemo_errmsg());
    /* the index agrees with vector_data; over the whole database, vector_data holds exactly the
     * embeddings of the live transactions */
    uint64_t vectors = 0;
    if ((rc = mnemo_vector_check(db, &vectors)) != 0)
        anomaly("vector check: %s %s", mnemo_strerror(rc), mnemo_errmsg());
    else if (from == 0 && vectors != vectors_expected)
        anomaly("vector check: %" PRIu64 " vectors stored, the live transactions have %" PRIu64, vectors,
                vectors_expected);
    *present = count;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_mode(const char *dir, int sync, unsigned cycles, unsigned max_kill_ms)
{
    unsigned long anomalies_before = anomalies;
    uint64_t acked_total = 0, lost_total = 0, extra_total = 0, ebusy = 0, cycles_with_loss = 0, max_lost = 0;
    double t0 = now_s();
    /* one database per mode, created with a secondary index the records part relies on */
    {
        mnemo_options o = MNEMO_OPTIONS_INIT;
        o.create_if_missing = 1;
        o.engine = getenv("MNEMO_TEST_ENGINE"); /* recorded at creation; the reopens find it */
        o.vector_dim = VDIM; /* later opens take the stored space */
        mnemo_db *db;
        int rc = mnemo_open(&db, dir, &o);
        if (!rc)
            rc = mnemo_record_index_create(db, "txn");
        if (rc) {
            fprintf(stderr, "setup: %s %s\n", mnemo_strerror(rc), mnemo_errmsg());
            return 1;
        }
        mnemo_close(db);
    }
    for (unsigned c = 0; c < cycles; c++) {
        uint64_t base = (uint64_t)(c + 1) * CYCLE_SPAN;
        int fds[2];
        if (pipe(fds)) {
            perror("pipe");
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, sync, base, rnd(), fds[1]);
            _exit(0);
        }
        close(fds[1]);
        unsigned wait_ms = 20 + (unsigned)(rnd() % max_kill_ms);
        struct timespec ts = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status))
            anomaly("cycle %u: child ended by itself (status %d)", c, WEXITSTATUS(status));
        /* every acknowledgement written before the kill is in the pipe */
        uint64_t acked = 0, ack[2];
        ssize_t got;
        while ((got = read(fds[0], ack, sizeof ack)) == (ssize_t)sizeof ack) {
            if (ack[0] != base + acked)
                anomaly("cycle %u: ack %" PRIu64 " out of order", c, ack[0]);
            acked++;
            ebusy += ack[1];
        }
        close(fds[0]);
        mnemo_options o = MNEMO_OPTIONS_INIT;
        mnemo_db *db;
        int rc = mnemo_open(&db, dir, &o);
        if (rc) {
            anomaly("cycle %u: reopen: %s %s", c, mnemo_strerror(rc), mnemo_errmsg());
            break;
        }
        uint64_t present = 0;
        /* the whole database every 10 cycles and at the end, otherwise this cycle's commits */
        check_db(db, (c % 10 == 9 || c + 1 == cycles) ? 0 : base, base, &present);
        mnemo_close(db);
        acked_total += acked;
        if (present < acked) {
            uint64_t lost = acked - present;
            if (sync)
                anomaly("cycle %u: %" PRIu64 " acknowledged commits lost (acked %" PRIu64 ", present %" PRIu64 ")", c,
                        lost, acked, present);
            lost_total += lost;
            cycles_with_loss++;
            if (lost > max_lost)
                max_lost = lost;
        } else {
            extra_total += present - acked; /* committed, killed before the ack */
        }
        if (!quiet)
            fprintf(stderr, "sync=%d cycle %u: killed after %u ms, acked %" PRIu64 ", present %" PRIu64 "\n", sync, c,
                    wait_ms, acked, present);
    }
    printf("{\"suite\":\"torture\",\"sync_on_commit\":%d,\"cycles\":%u,\"acked_commits\":%" PRIu64
           ",\"lost_acked\":%" PRIu64 ",\"cycles_with_loss\":%" PRIu64 ",\"max_lost_in_a_cycle\":%" PRIu64
           ",\"committed_unacked\":%" PRIu64 ",\"ebusy_retries\":%" PRIu64 ",\"anomalies\":%lu,\"seconds\":%.1f}\n",
           sync, cycles, acked_total, lost_total, cycles_with_loss, max_lost, extra_total, ebusy,
           anomalies - anomalies_before, now_s() - t0);
    fflush(stdout);
    return anomalies != anomalies_before;
}

static int rm_rf(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

int main(int argc, char **argv)
{
    unsigned cycles = 12, max_kill_ms = 250;
    const char *sync_arg = "both", *dir_arg = NULL;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    const char *engine = getenv("MNEMO_TEST_ENGINE");
    if (engine && !strcmp(engine, "memory")) {
        printf("torture: skipped, a memory database does not outlive the process it kills\n");
        return 77; /* meson: skipped */
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cycles") && i + 1 < argc)
            cycles = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--sync") && i + 1 < argc)
            sync_arg = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else if (!strcmp(argv[i], "--max-kill-ms") && i + 1 < argc)
            max_kill_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else {
            fprintf(stderr, "usage: %s [--cycles N] [--sync 0|1|both] [--seed S] [--dir D] [--max-kill-ms M] [--quiet]\n",
                    argv[0]);
            return 2;
        }
    }
    if (max_kill_ms == 0)
        max_kill_ms = 1;
    rng_state = seed | 1;
    fprintf(stderr, "torture: seed %" PRIu64 ", %u cycles per mode\n", seed, cycles);
    char tmp[512];
    if (dir_arg) {
        snprintf(tmp, sizeof tmp, "%s", dir_arg);
        mkdir(tmp, 0700);
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/mnemo-torture-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 2;
        }
    }
    int fail = 0;
    for (int sync = 1; sync >= 0; sync--) {
        if (strcmp(sync_arg, "both") && atoi(sync_arg) != sync)
            continue;
        char dir[600];
        snprintf(dir, sizeof dir, "%s/sync%d", tmp, sync);
        fail |= run_mode(dir, sync, cycles, max_kill_ms);
    }
    if (!dir_arg)
        rm_rf(tmp);
    return fail || anomalies ? 1 : 0;
}
