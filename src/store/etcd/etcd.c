/* The etcd engine: a mnemo store on an etcd 3.4 cluster, reached through its v3 JSON gateway over
 * HTTP (libcurl + jansson). docs/storage.md "The etcd engine" says how each operation maps.
 *
 * Layout under the database's prefix P (from the path etcd://host:port,.../P):
 *   P <ks byte> key        a keyspace's keys (ks = the keyspace's position in the table)
 *   P 0xFF "seq"           the commit counter: 8 bytes BE, the store's sequence
 *   P 0xFF "ks"            the keyspace names, '\n'-separated (open checks them)
 *   P 0xFF "M" id          a commit's marker (16 random bytes), attached to a lease
 *
 * The sequence is mnemo's own counter, not etcd's revision: every writing commit compares it and
 * bumps it inside its Txn, so sequences are gapless, change only when this database changes, and a
 * put_at_commit key can carry the commit's own sequence (the revision a Txn makes is not known
 * before it is applied). Commit validation compares each tracked and written key's mod_revision
 * with what the snapshot saw. */
#include <curl/curl.h>
#include <jansson.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/store.h"
#include "store/etcd/etcd.h"

#define EC_SCHEME "etcd://"
#define EC_MAX_EP 8
#define EC_POOL 8
#define EC_PAGE 256          /* keys per range page of a cursor */
#define EC_MARKER_TTL 600    /* seconds a commit marker lives (its lease's TTL) */
#define EC_LEASE_ROTATE 300  /* a new lease after this many seconds: markers live 300..600 s */
#define EC_REQ_OVERHEAD 4096 /* JSON around the base64 of a Txn's keys and values */

/* ---- base64 (etcd's JSON carries bytes as standard base64) ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_enc(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = mnemo__malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int b64_val(int c)
{
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

/* Decodes into a new buffer (one spare byte): 0, MNEMO_ENOMEM (message set) or MNEMO_ECORRUPT
 * (bad input; the caller names what it was). */
static int b64_dec(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *b = mnemo__malloc(n / 4 * 3 + 1);
    if (!b)
        return mnemo__err_nomem("etcd: decoding a value");
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            mnemo__free(b);
            return MNEMO_ECORRUPT;
        }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[o++] = (unsigned char)(acc >> bits);
        }
    }
    *out = b;
    *len = o;
    return 0;
}

/* ---- the store ---- */

struct mnemo_store {
    char *ep[EC_MAX_EP]; /* "host:port" */
    unsigned n_ep;
    atomic_uint cur_ep; /* the endpoint that answered last */
    unsigned char *prefix;
    size_t plen;
    unsigned n_ks;
    char **ks_name;
    int read_only;
    long timeout_ms;     /* one request */
    long deadline_ms;    /* retries of a request across endpoints and elections */
    size_t max_txn_ops, max_request_bytes;
    atomic_uint_fast64_t seq_hint; /* the counter as last seen: a commit's first guess, last_seq's answer
                                     * while the watch is healthy */
    atomic_uint_fast64_t n_requests; /* requests sent (tests prove last_seq sends none) */
    struct ec_watch *watch;
    pthread_mutex_t mu; /* the handle pool and the lease */
    CURL *pool[EC_POOL];
    unsigned n_pool;
    long long lease;
    time_t lease_at;
    char *path; /* for messages */
};

typedef struct ec_buf {
    char *p;
    size_t n, cap;
} ec_buf;

static size_t ec_write_cb(char *data, size_t sz, size_t nm, void *arg)
{
    ec_buf *b = arg;
    size_t n = sz * nm;
    if (mnemo__grow(&b->p, &b->cap, b->n + n + 1, 1, 4096))
        return 0;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static CURL *ec_handle(mnemo_store *s)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->n_pool)
        h = s->pool[--s->n_pool];
    pthread_mutex_unlock(&s->mu);
    return h ? h : curl_easy_init();
}

static void ec_unhandle(mnemo_store *s, CURL *h)
{
    pthread_mutex_lock(&s->mu);
    if (s->n_pool < EC_POOL) {
        s->pool[s->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (h)
        curl_easy_cleanup(h);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What etcd's error text means for mnemo. Unknown outcome is decided by the caller. */
enum { EC_RETRY = 1, EC_AMBIGUOUS = 2 };
static int ec_server_err(const char *msg, int *kind)
{
    *kind = 0;
    if (strstr(msg, "too many operations"))
        return MNEMO_EFULL;
    if (strstr(msg, "request is too large") || strstr(msg, "message larger than max") ||
        strstr(msg, "trying to send message larger"))
        return MNEMO_EFULL;
    if (strstr(msg, "database space exceeded"))
        return MNEMO_EFULL;
    if (strstr(msg, "has been compacted") || strstr(msg, "future revision"))
        return MNEMO_EBUSY;
    if (strstr(msg, "lease not found"))
        return MNEMO_EBUSY;
    if (strstr(msg, "timed out") || strstr(msg, "leader changed") || strstr(msg, "stopped") ||
        strstr(msg, "connection") || strstr(msg, "unavailable") || strstr(msg, "Unavailable")) {
        *kind = EC_RETRY | EC_AMBIGUOUS;
        return MNEMO_EIO;
    }
    if (strstr(msg, "no leader") || strstr(msg, "not capable") || strstr(msg, "too many requests")) {
        *kind = EC_RETRY; /* refused before any proposal */
        return MNEMO_EIO;
    }
    return MNEMO_EIO;
}

/* POSTs req (consumed) to api on the endpoints, from the last good one on. idempotent: a request
 * whose answer was lost may be sent again (reads); otherwise such a loss is MNEMO_EUNKNOWN. */
static int ec_post(mnemo_store *s, const char *api, json_t *req, json_t **resp, int idempotent, const char *what)
{
    *resp = NULL;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return mnemo__err_nomem(what);
    CURL *h = ec_handle(s);
    if (!h) {
        free(body);
        return mnemo__err(MNEMO_ENOMEM, "%s: cannot make an HTTP handle", what);
    }
    long long until = now_ms() + s->deadline_ms;
    unsigned ep = atomic_load(&s->cur_ep) % s->n_ep, tried = 0;
    char last[320] = "";
    int rc = MNEMO_EIO, backoff = 20;
    ec_buf b = {0};
    atomic_fetch_add(&s->n_requests, 1);
    for (;;) {
        char url[300];
        snprintf(url, sizeof url, "http://%s%s", s->ep[ep], api);
        b.n = 0;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ec_write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms < 1000 ? s->timeout_ms : 1000L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
        curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
        CURLcode cc = curl_easy_perform(h);
        long status = 0, sent = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
        int retry = 0, ambiguous = 0;
        if (cc != CURLE_OK) {
            snprintf(last, sizeof last, "%s: %s", s->ep[ep], curl_easy_strerror(cc));
            rc = MNEMO_EIO;
            retry = 1;
            ambiguous = sent > 0 && cc != CURLE_COULDNT_CONNECT;
        } else {
            json_error_t je;
            json_t *j = b.p ? json_loads(b.p, 0, &je) : NULL;
            const char *emsg = j ? json_string_value(json_object_get(j, "error")) : NULL;
            if (!emsg && j)
                emsg = json_string_value(json_object_get(j, "message"));
            if (status == 200 && j && !emsg) {
                atomic_store(&s->cur_ep, ep);
                *resp = j;
                rc = 0;
                break;
            }
            int kind = 0;
            snprintf(last, sizeof last, "%s: HTTP %ld: %s", s->ep[ep], status, emsg ? emsg : (b.p ? b.p : "no body"));
            rc = emsg ? ec_server_err(emsg, &kind) : MNEMO_EIO;
            json_decref(j);
            retry = (kind & EC_RETRY) != 0 || (!emsg && status >= 500);
            ambiguous = (kind & EC_AMBIGUOUS) != 0 || (!emsg && status >= 500);
            if (!retry)
                break;
        }
        if (ambiguous && !idempotent) {
            rc = mnemo__err(MNEMO_EUNKNOWN, "%s: the outcome is unknown (%s); the commit may or may not be applied",
                            what, last);
            goto done;
        }
        (void)retry;
        tried++;
        ep = (ep + 1) % s->n_ep;
        if (now_ms() > until)
            break;
        if (tried % s->n_ep == 0) { /* every endpoint failed once: wait for a leader, a restart */
            usleep((useconds_t)backoff * 1000);
            backoff = backoff < 400 ? backoff * 2 : 400;
        }
    }
    if (rc) {
        if (rc == MNEMO_EIO && s->n_ep > 1)
            rc = mnemo__err(MNEMO_EIO, "%s: no etcd endpoint of %s answered (last: %s)", what, s->path, last);
        else
            rc = mnemo__err(rc, "%s: etcd %s", what, last);
    }
done:
    free(b.p);
    free(body);
    ec_unhandle(s, h);
    return rc;
}

/* ---- JSON helpers ---- */

static long long jint(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static json_t *jnum(long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return json_string(b);
}

static json_t *jb64(const void *p, size_t n)
{
    char *e = b64_enc(p, n);
    json_t *j = e ? json_string(e) : NULL;
    mnemo__free(e);
    return j;
}

/* Physical key: prefix, tag byte, key. */
static unsigned char *pkey(mnemo_store *s, int tag, const void *key, size_t klen, size_t *len)
{
    unsigned char *k = mnemo__malloc(s->plen + 1 + klen + 1);
    if (!k)
        return NULL;
    memcpy(k, s->prefix, s->plen);
    k[s->plen] = (unsigned char)tag;
    if (klen)
        memcpy(k + s->plen + 1, key, klen);
    *len = s->plen + 1 + klen;
    return k;
}

static json_t *jkey(mnemo_store *s, int tag, const void *key, size_t klen)
{
    size_t n;
    unsigned char *k = pkey(s, tag, key, klen, &n);
    json_t *j = k ? jb64(k, n) : NULL;
    mnemo__free(k);
    return j;
}

#define TAG_META 0xFF
static const char SEQ_KEY[] = "seq", KS_KEY[] = "ks";

static json_t *put_op(json_t *key, const void *v, size_t vl, long long lease)
{
    json_t *p = json_pack("{s:o,s:o}", "key", key, "value", jb64(v, vl));
    if (p && lease && json_object_set_new(p, "lease", jnum(lease))) {
        json_decref(p); /* a marker without its lease would never go */
        p = NULL;
    }
    return json_pack("{s:o}", "request_put", p);
}

static json_t *cmp_op(json_t *key, const char *target, const char *result, const char *field, json_t *val)
{
    return json_pack("{s:o,s:s,s:s,s:o}", "key", key, "target", target, "result", result, field, val);
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The first kv of a range response, or NULL. */
static json_t *first_kv(json_t *range_resp) { return json_array_get(json_object_get(range_resp, "kvs"), 0); }

static int kv_value(json_t *kv, unsigned char **v, size_t *vl)
{
    const char *s = json_string_value(json_object_get(kv, "value"));
    return b64_dec(s ? s : "", v, vl);
}

/* Raises seq_hint to seq: it only grows, whoever saw the counter (a read, a commit, the watch). */
static void seq_seen(mnemo_store *s, uint64_t seq)
{
    uint_fast64_t h = atomic_load(&s->seq_hint);
    while (seq > h && !atomic_compare_exchange_weak(&s->seq_hint, &h, seq)) {
    }
}

/* The counter as of now: *seq, and the revision that answered. */
static int read_counter(mnemo_store *s, long long at_rev, uint64_t *seq, long long *rev, const char *what)
{
    json_t *req = json_pack("{s:o}", "key", jkey(s, TAG_META, SEQ_KEY, 3)), *resp;
    if (at_rev)
        json_object_set_new(req, "revision", jnum(at_rev));
    int rc = ec_post(s, "/v3/kv/range", req, &resp, 1, what);
    if (rc)
        return rc;
    json_t *kv = first_kv(resp);
    *seq = 0;
    if (kv) {
        unsigned char *v = NULL;
        size_t vl = 0;
        int brc = kv_value(kv, &v, &vl);
        if (brc == MNEMO_ENOMEM)
            rc = brc;
        else if (brc || vl != 8)
            rc = mnemo__err(MNEMO_ECORRUPT, "%s: the commit counter of %s is damaged", what, s->path);
        else
            *seq = be64(v);
        mnemo__free(v);
    }
    if (rev)
        *rev = jint(json_object_get(resp, "header"), "revision");
    json_decref(resp);
    if (!rc)
        seq_seen(s, *seq);
    return rc;
}

/* ---- transactions ---- */

typedef struct ec_w { /* a buffered write; sorted by (ks, key) */
    unsigned ks;
    unsigned char *k, *v;
    size_t kl, vl;
    int del, untracked;
} ec_w;

typedef struct ec_r { /* a tracked read: the key's mod_revision at the snapshot (0: absent) */
    unsigned ks;
    unsigned char *k;
    size_t kl;
    long long mod;
} ec_r;

typedef struct ec_at { /* a put_at_commit */
    unsigned ks;
    unsigned char *prefix, *v;
    size_t plen, vl;
} ec_at;

struct mnemo_store_txn {
    mnemo_store *s;
    int read_only, finished;
    long long rev;    /* the snapshot's etcd revision */
    uint64_t version; /* the counter at the snapshot */
    ec_w *w;
    size_t nw, capw;
    ec_r *r;
    size_t nr, capr;
    ec_at *at;
    size_t nat, capat;
    int has_read;           /* a tracked read happened: written keys are validated too */
    int unknown;            /* the commit's outcome is unknown: resolve may ask */
    unsigned char mark[16]; /* this commit's marker id */
};

static int kcmp(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int wcmp(const ec_w *w, unsigned ks, const void *k, size_t kl)
{
    return w->ks != ks ? (w->ks > ks) - (w->ks < ks) : kcmp(w->k, w->kl, k, kl);
}

/* First write >= (ks, k). */
static size_t w_lower(mnemo_store_txn *t, unsigned ks, const void *k, size_t kl)
{
    size_t lo = 0, hi = t->nw;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wcmp(&t->w[mid], ks, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ec_w *w_find(mnemo_store_txn *t, unsigned ks, const void *k, size_t kl)
{
    size_t i = w_lower(t, ks, k, kl);
    return i < t->nw && !wcmp(&t->w[i], ks, k, kl) ? &t->w[i] : NULL;
}

static ec_r *r_find(mnemo_store_txn *t, unsigned ks, const void *k, size_t kl)
{
    for (size_t i = 0; i < t->nr; i++)
        if (t->r[i].ks == ks && !kcmp(t->r[i].k, t->r[i].kl, k, kl))
            return &t->r[i];
    return NULL;
}

static const char *ks_name(mnemo_store *s, unsigned ks) { return ks < s->n_ks ? s->ks_name[ks] : "?"; }

static int ec_txn_begin(mnemo_store_txn **out, mnemo_store *s, int read_only)
{
    mnemo_store_txn *t = mnemo__calloc(1, sizeof *t);
    if (!t)
        return mnemo__err_nomem("store begin");
    t->s = s;
    t->read_only = read_only || s->read_only;
    int rc = read_counter(s, 0, &t->version, &t->rev, "store begin");
    if (rc) {
        mnemo__free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static uint64_t ec_txn_version(mnemo_store_txn *t) { return t->version; }

/* A range read of one key at rev (0: latest): value and mod_revision, ENOTFOUND when absent. */
static int read_key(mnemo_store *s, long long rev, unsigned ks, const void *key, size_t klen, unsigned char **v,
                    size_t *vl, long long *mod, const char *what)
{
    json_t *req = json_pack("{s:o}", "key", jkey(s, (int)ks, key, klen)), *resp;
    if (rev)
        json_object_set_new(req, "revision", jnum(rev));
    int rc = ec_post(s, "/v3/kv/range", req, &resp, 1, what);
    if (rc)
        return rc;
    json_t *kv = first_kv(resp);
    *mod = 0;
    if (!kv)
        rc = MNEMO_ENOTFOUND;
    else if ((rc = kv_value(kv, v, vl)) != 0 && rc != MNEMO_ENOMEM)
        rc = mnemo__err(MNEMO_ECORRUPT, "%s: etcd sent a value that is not base64 (keyspace %s)", what,
                        ks_name(s, ks));
    else
        *mod = jint(kv, "mod_revision");
    json_decref(resp);
    return rc;
}

static int check_ks(mnemo_store *s, unsigned ks, const char *what)
{
    return ks < s->n_ks ? 0 : mnemo__err(MNEMO_EINVAL, "%s: no keyspace %u", what, ks);
}

static int ec_get(mnemo_store *s, mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, int track,
                  mnemo_store_value *out)
{
    int rc = check_ks(s, ks, "store get");
    if (rc)
        return rc;
    if (t) {
        ec_w *w = w_find(t, ks, key, klen);
        t->has_read |= track != 0;
        if (w && !w->untracked) {
            if (w->del)
                return MNEMO_ENOTFOUND;
            unsigned char *copy = mnemo__memdup(w->v, w->vl + 1);
            if (!copy)
                return mnemo__err_nomem("store get");
            *out = (mnemo_store_value){copy, w->vl, copy};
            return 0;
        }
    }
    unsigned char *v = NULL;
    size_t vl = 0;
    long long mod = 0;
    rc = read_key(s, t ? t->rev : 0, ks, key, klen, &v, &vl, &mod, "store get");
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    if (t && track && !t->read_only && !r_find(t, ks, key, klen)) {
        if (mnemo__grow(&t->r, &t->capr, t->nr + 1, sizeof *t->r, 16)) {
            mnemo__free(v);
            return mnemo__err_nomem("store get");
        }
        unsigned char *k = mnemo__memdup(key, klen ? klen : 1);
        if (!k) {
            mnemo__free(v);
            return mnemo__err_nomem("store get");
        }
        t->r[t->nr++] = (ec_r){ks, k, klen, mod};
    }
    if (rc)
        return rc;
    *out = (mnemo_store_value){v, vl, v};
    return 0;
}

static void ec_release_value(mnemo_store *s, mnemo_store_value *v)
{
    (void)s;
    mnemo__free(v->pin);
    v->pin = NULL;
}

static int ec_buffer(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen,
                     int del, int untracked, const char *what)
{
    if (t->finished)
        return mnemo__err(MNEMO_EINVAL, "%s: the transaction is finished", what);
    if (t->read_only)
        return mnemo__err(MNEMO_EREADONLY, "%s: the transaction (or database %s) is read-only", what, t->s->path);
    int rc = check_ks(t->s, ks, what);
    if (rc)
        return rc;
    unsigned char *v = del ? NULL : mnemo__malloc(vlen + 1);
    if (!del && !v)
        return mnemo__err_nomem(what);
    if (v) {
        if (vlen)
            memcpy(v, val, vlen);
        v[vlen] = '\0';
    }
    size_t i = w_lower(t, ks, key, klen);
    if (i < t->nw && !wcmp(&t->w[i], ks, key, klen)) {
        mnemo__free(t->w[i].v);
        t->w[i].v = v;
        t->w[i].vl = vlen;
        t->w[i].del = del;
        t->w[i].untracked = untracked && t->w[i].untracked;
        return 0;
    }
    unsigned char *k = mnemo__memdup(key, klen ? klen : 1);
    if (!k || mnemo__grow(&t->w, &t->capw, t->nw + 1, sizeof *t->w, 16)) {
        mnemo__free(k);
        mnemo__free(v);
        return mnemo__err_nomem(what);
    }
    memmove(&t->w[i + 1], &t->w[i], (t->nw - i) * sizeof *t->w);
    t->w[i] = (ec_w){ks, k, v, klen, vlen, del, untracked};
    t->nw++;
    return 0;
}

static int ec_put(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val, size_t vlen)
{
    return ec_buffer(t, ks, key, klen, val, vlen, 0, 0, "store put");
}

static int ec_del(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen)
{
    return ec_buffer(t, ks, key, klen, NULL, 0, 1, 0, "store delete");
}

static int ec_put_untracked(mnemo_store_txn *t, unsigned ks, const void *key, size_t klen, const void *val,
                            size_t vlen)
{
    return ec_buffer(t, ks, key, klen, val, vlen, 0, 1, "store put_untracked");
}

static int ec_put_at_commit(mnemo_store_txn *t, unsigned ks, const void *prefix, size_t plen, const void *val,
                            size_t vlen)
{
    const char *what = "store put_at_commit";
    if (t->read_only)
        return mnemo__err(MNEMO_EREADONLY, "%s: the transaction is read-only", what);
    int rc = check_ks(t->s, ks, what);
    if (rc)
        return rc;
    unsigned char *p = mnemo__memdup(prefix, plen ? plen : 1), *v = mnemo__memdup(val, vlen ? vlen : 1);
    if (!p || !v || mnemo__grow(&t->at, &t->capat, t->nat + 1, sizeof *t->at, 4)) {
        mnemo__free(p);
        mnemo__free(v);
        return mnemo__err_nomem(what);
    }
    t->at[t->nat++] = (ec_at){ks, p, v, plen, vlen};
    return 0;
}

/* The lease commit markers are attached to: a new one every EC_LEASE_ROTATE seconds. */
static int marker_lease(mnemo_store *s, long long *lease, int renew, const char *what)
{
    pthread_mutex_lock(&s->mu);
    time_t now = time(NULL);
    if (s->lease && !renew && now - s->lease_at < EC_LEASE_ROTATE) {
        *lease = s->lease;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    json_t *resp;
    int rc = ec_post(s, "/v3/lease/grant", json_pack("{s:o}", "TTL", jnum(EC_MARKER_TTL)), &resp, 1, what);
    if (rc)
        return rc;
    long long id = jint(resp, "ID");
    json_decref(resp);
    if (!id)
        return mnemo__err(MNEMO_EIO, "%s: etcd granted no lease", what);
    pthread_mutex_lock(&s->mu);
    s->lease = id;
    s->lease_at = now;
    pthread_mutex_unlock(&s->mu);
    *lease = id;
    return 0;
}

/* Snapshot mod_revisions of written keys the transaction did not read (one read-only Txn per
 * max_txn_ops keys), so that validation compares every written key with what the snapshot held. */
static int fetch_written_mods(mnemo_store_txn *t, long long *mods)
{
    mnemo_store *s = t->s;
    for (size_t i = 0; i < t->nw;) {
        json_t *ops = json_array();
        size_t idx[1024], n = 0;
        for (; i < t->nw && n < s->max_txn_ops && n < 1024; i++) {
            ec_w *w = &t->w[i];
            mods[i] = -1;
            if (w->untracked)
                continue;
            ec_r *r = r_find(t, w->ks, w->k, w->kl);
            if (r) {
                mods[i] = r->mod;
                continue;
            }
            json_array_append_new(ops, json_pack("{s:{s:o,s:o,s:b}}", "request_range", "key",
                                                 jkey(s, (int)w->ks, w->k, w->kl), "revision", jnum(t->rev),
                                                 "keys_only", 1));
            idx[n++] = i;
        }
        if (!n) {
            json_decref(ops);
            continue;
        }
        if (json_array_size(ops) != n) {
            json_decref(ops);
            return mnemo__err_nomem("store commit");
        }
        json_t *resp;
        int rc = ec_post(s, "/v3/kv/txn", json_pack("{s:o}", "success", ops), &resp, 1, "store commit");
        if (rc)
            return rc;
        json_t *rs = json_object_get(resp, "responses");
        for (size_t j = 0; j < n; j++) {
            json_t *kv = first_kv(json_object_get(json_array_get(rs, j), "response_range"));
            mods[idx[j]] = kv ? jint(kv, "mod_revision") : 0;
        }
        json_decref(resp);
    }
    return 0;
}

/* Refuses, before anything is sent, a commit etcd would refuse for its size: never half applied. */
static int check_limits(mnemo_store_txn *t, size_t n_cmp, size_t n_ops, size_t bytes)
{
    mnemo_store *s = t->s;
    /* etcd counts the longest list of a Txn (compares, success, failure) against --max-txn-ops,
     * and gives a nested Txn what its parent leaves: the compares plus the writes must fit */
    if ((n_cmp ? n_cmp : 1) + n_ops > s->max_txn_ops)
        return mnemo__err(MNEMO_EFULL,
                          "store commit: %zu writes and %zu compares exceed etcd's --max-txn-ops %zu (set "
                          "max_txn_ops=N in the path to the cluster's value; nothing was applied)",
                          n_ops, n_cmp, s->max_txn_ops);
    if (bytes > s->max_request_bytes)
        return mnemo__err(MNEMO_EFULL,
                          "store commit: the request would be about %zu bytes, over etcd's --max-request-bytes %zu "
                          "(set max_request_bytes=N in the path to the cluster's value; nothing was applied)",
                          bytes, s->max_request_bytes);
    return 0;
}

/* Validates tracked reads alone (a commit that writes nothing). */
static int validate_only(mnemo_store_txn *t)
{
    mnemo_store *s = t->s;
    if (t->nr > s->max_txn_ops)
        return check_limits(t, t->nr, 0, 0);
    json_t *cmp = json_array(), *resp;
    for (size_t i = 0; i < t->nr; i++)
        json_array_append_new(cmp, cmp_op(jkey(s, (int)t->r[i].ks, t->r[i].k, t->r[i].kl), "MOD", "EQUAL",
                                          "mod_revision", jnum(t->r[i].mod)));
    if (json_array_size(cmp) != t->nr) { /* an element ran out of memory: never send less */
        json_decref(cmp);
        return mnemo__err_nomem("store commit");
    }
    int rc = ec_post(s, "/v3/kv/txn", json_pack("{s:o}", "compare", cmp), &resp, 1, "store commit");
    if (rc)
        return rc;
    int ok = json_is_true(json_object_get(resp, "succeeded"));
    json_decref(resp);
    return ok ? 0 : mnemo__err(MNEMO_EBUSY, "store commit: conflict: a key the transaction read changed (etcd)");
}

static int ec_commit_writes(mnemo_store_txn *t, uint64_t *seq)
{
    mnemo_store *s = t->s;
    const char *what = "store commit";
    size_t nw = 0, bytes = EC_REQ_OVERHEAD + s->plen * 4;
    for (size_t i = 0; i < t->nw; i++)
        bytes += (t->w[i].kl + t->w[i].vl + s->plen + 8) * 4 / 3 + 120;
    for (size_t i = 0; i < t->nat; i++)
        bytes += (t->at[i].plen + t->at[i].vl + s->plen + 16) * 4 / 3 + 120;
    nw = t->nw + t->nat + 2; /* + the counter and the marker */
    long long *mods = NULL;
    size_t n_cmp = 0;
    int validate = t->has_read; /* blind writes order by commit (store.h) */
    if (validate) {
        for (size_t i = 0; i < t->nw; i++)
            n_cmp += !t->w[i].untracked;
        for (size_t i = 0; i < t->nr; i++)
            n_cmp += !w_find(t, t->r[i].ks, t->r[i].k, t->r[i].kl);
    }
    int rc = check_limits(t, n_cmp, nw, bytes + n_cmp * 100);
    if (rc)
        return rc;
    if (validate) {
        if (!(mods = mnemo__calloc(t->nw + 1, sizeof *mods)))
            return mnemo__err_nomem(what);
        if ((rc = fetch_written_mods(t, mods)) != 0) {
            mnemo__free(mods);
            return rc;
        }
    }
    long long lease = 0;
    if ((rc = marker_lease(s, &lease, 0, what)) != 0) {
        mnemo__free(mods);
        return rc;
    }
    if (getrandom(t->mark, sizeof t->mark, 0) != (ssize_t)sizeof t->mark) {
        mnemo__free(mods);
        return mnemo__err(MNEMO_EIO, "%s: no random bytes for the commit marker: %s", what, strerror(errno));
    }
    unsigned char mkey[17];
    mkey[0] = 'M';
    memcpy(mkey + 1, t->mark, 16);
    uint64_t c = atomic_load(&s->seq_hint);
    int lease_retry = 0;
    for (int attempt = 0;; attempt++) {
        /* outer: the snapshot's compares; inner: the counter (so that a moved counter is told apart
         * from a conflict and retried here) and the marker's absence (so that resolve can fence) */
        json_t *cmp = json_array();
        if (validate) {
            for (size_t i = 0; i < t->nw; i++)
                if (mods[i] >= 0)
                    json_array_append_new(cmp, cmp_op(jkey(s, (int)t->w[i].ks, t->w[i].k, t->w[i].kl), "MOD",
                                                      "EQUAL", "mod_revision", jnum(mods[i])));
            for (size_t i = 0; i < t->nr; i++)
                if (!w_find(t, t->r[i].ks, t->r[i].k, t->r[i].kl))
                    json_array_append_new(cmp, cmp_op(jkey(s, (int)t->r[i].ks, t->r[i].k, t->r[i].kl), "MOD",
                                                      "EQUAL", "mod_revision", jnum(t->r[i].mod)));
        }
        unsigned char cv[8], nv[8];
        put_be64(cv, c);
        put_be64(nv, c + 1);
        json_t *ops = json_array();
        for (size_t i = 0; i < t->nw; i++) {
            ec_w *w = &t->w[i];
            json_t *k = jkey(s, (int)w->ks, w->k, w->kl);
            json_array_append_new(ops, w->del ? json_pack("{s:{s:o}}", "request_delete_range", "key", k)
                                              : put_op(k, w->v, w->vl, 0));
        }
        for (size_t i = 0; i < t->nat; i++) {
            size_t kl = t->at[i].plen + 8;
            unsigned char *k = mnemo__malloc(kl);
            if (!k) {
                json_decref(ops);
                json_decref(cmp);
                mnemo__free(mods);
                return mnemo__err_nomem(what);
            }
            memcpy(k, t->at[i].prefix, t->at[i].plen);
            memcpy(k + t->at[i].plen, nv, 8);
            json_array_append_new(ops, put_op(jkey(s, (int)t->at[i].ks, k, kl), t->at[i].v, t->at[i].vl, 0));
            mnemo__free(k);
        }
        json_array_append_new(ops, put_op(jkey(s, TAG_META, SEQ_KEY, 3), nv, 8, 0));
        json_array_append_new(ops, put_op(jkey(s, TAG_META, mkey, 17), nv, 8, lease));
        /* a write or compare that ran out of memory is missing from its list: never send less */
        if (json_array_size(ops) != t->nw + t->nat + 2 || json_array_size(cmp) != n_cmp) {
            json_decref(ops);
            json_decref(cmp);
            rc = mnemo__err_nomem(what);
            break;
        }
        json_t *inner_cmp = json_pack("[o,o]",
                                      cmp_op(jkey(s, TAG_META, SEQ_KEY, 3), "VALUE", "EQUAL", "value", jb64(cv, 8)),
                                      cmp_op(jkey(s, TAG_META, mkey, 17), "MOD", "EQUAL", "mod_revision", jnum(0)));
        json_t *inner = json_pack("{s:o,s:o,s:[{s:{s:o}},{s:{s:o}}]}", "compare", inner_cmp, "success", ops,
                                  "failure", "request_range", "key", jkey(s, TAG_META, SEQ_KEY, 3), "request_range",
                                  "key", jkey(s, TAG_META, mkey, 17));
        /* the failure branches read the marker: a request sent twice (libcurl resends once when a
         * kept-alive connection died before any answer) finds itself applied, not conflicting */
        json_t *req = json_pack("{s:o,s:[{s:o}],s:[{s:{s:o}}]}", "compare", cmp, "success", "request_txn", inner,
                                "failure", "request_range", "key", jkey(s, TAG_META, mkey, 17)),
               *resp;
        rc = ec_post(s, "/v3/kv/txn", req, &resp, 0, what);
        if (rc == MNEMO_EUNKNOWN)
            t->unknown = 1;
        if (rc == MNEMO_EBUSY && !lease_retry && strstr(mnemo_errmsg(), "lease not found")) {
            lease_retry = 1; /* the lease expired early (say, the cluster's clock): nothing applied */
            if ((rc = marker_lease(s, &lease, 1, what)) != 0)
                break;
            continue;
        }
        if (rc)
            break;
        if (!json_is_true(json_object_get(resp, "succeeded"))) {
            json_t *mk =
                first_kv(json_object_get(json_array_get(json_object_get(resp, "responses"), 0), "response_range"));
            unsigned char *v = NULL;
            size_t vl = 0;
            int brc = mk ? kv_value(mk, &v, &vl) : 0;
            if (mk && !brc && vl == 8) {
                *seq = be64(v);
                mnemo__free(v);
                json_decref(resp);
                break;
            }
            mnemo__free(v);
            if (brc == MNEMO_ENOMEM) { /* cannot tell whether an earlier send applied: resolve will */
                json_decref(resp);
                t->unknown = 1;
                rc = mnemo__err(MNEMO_EUNKNOWN, "%s: out of memory reading the commit marker", what);
                break;
            }
            json_decref(resp);
            rc = mnemo__err(MNEMO_EBUSY, "store commit: conflict: a key the transaction read or wrote changed "
                                          "since its snapshot (etcd)");
            break;
        }
        json_t *in = json_object_get(json_array_get(json_object_get(resp, "responses"), 0), "response_txn");
        if (json_is_true(json_object_get(in, "succeeded"))) {
            json_decref(resp);
            *seq = c + 1;
            seq_seen(s, c + 1);
            break;
        }
        /* the marker is there: this very request was applied before (libcurl sends a request again
         * once when a kept-alive connection died before any answer) */
        json_t *mk = first_kv(json_object_get(json_array_get(json_object_get(in, "responses"), 1), "response_range"));
        unsigned char *v = NULL;
        size_t vl = 0;
        if (mk) {
            int brc = kv_value(mk, &v, &vl), ok = !brc && vl == 8;
            *seq = ok ? be64(v) : 0;
            if (ok)
                seq_seen(s, *seq);
            mnemo__free(v);
            json_decref(resp);
            if (brc == MNEMO_ENOMEM) {
                t->unknown = 1;
                rc = mnemo__err(MNEMO_EUNKNOWN, "%s: out of memory reading the commit marker", what);
            } else {
                rc = ok ? 0 : mnemo__err(MNEMO_EBUSY, "%s: not applied (fenced by a resolve)", what);
            }
            break;
        }
        /* another commit moved the counter: take its value and try again */
        json_t *kv = first_kv(json_object_get(json_array_get(json_object_get(in, "responses"), 0), "response_range"));
        int brc = kv ? kv_value(kv, &v, &vl) : MNEMO_ECORRUPT;
        if (brc || vl != 8) {
            mnemo__free(v);
            json_decref(resp);
            rc = brc == MNEMO_ENOMEM ? brc
                                     : mnemo__err(MNEMO_ECORRUPT, "%s: the commit counter of %s is missing or damaged",
                                                  what, s->path);
            break;
        }
        c = be64(v);
        mnemo__free(v);
        json_decref(resp);
        if (attempt >= 1000) { /* never applied: the inner compare failed every time */
            rc = mnemo__err(MNEMO_EBUSY, "%s: conflict: the commit counter of %s moved 1000 times in a row", what,
                            s->path);
            break;
        }
        if (attempt > 2)
            usleep((useconds_t)(attempt < 50 ? attempt * 100 : 5000));
    }
    mnemo__free(mods);
    return rc;
}

static int ec_txn_resolve(mnemo_store_txn *t, uint64_t *seq);

static int ec_txn_commit(mnemo_store_txn *t, uint64_t *seq)
{
    if (t->finished)
        return mnemo__err(MNEMO_EINVAL, "store commit: the transaction is finished");
    t->finished = 1;
    if (!t->nw && !t->nat) {
        *seq = t->version;
        return t->nr && !t->read_only ? validate_only(t) : 0;
    }
    return ec_commit_writes(t, seq);
}

static int ec_txn_resolve(mnemo_store_txn *t, uint64_t *seq)
{
    if (!t || !t->unknown)
        return mnemo__err(MNEMO_EINVAL, "store resolve: the transaction has no commit of unknown outcome");
    mnemo_store *s = t->s;
    unsigned char mkey[17];
    mkey[0] = 'M';
    memcpy(mkey + 1, t->mark, 16);
    long long lease = 0;
    int rc = marker_lease(s, &lease, 0, "store resolve");
    if (rc)
        return rc;
    /* Fence: if the marker is absent, write one that says "not applied", so the lost request, if
     * it is still in flight, fails its compare of the marker and never applies. */
    static const unsigned char VOID[1] = {0};
    json_t *req = json_pack("{s:[o],s:[o],s:[{s:{s:o}}]}", "compare",
                            cmp_op(jkey(s, TAG_META, mkey, 17), "MOD", "EQUAL", "mod_revision", jnum(0)), "success",
                            put_op(jkey(s, TAG_META, mkey, 17), VOID, 1, lease), "failure", "request_range", "key",
                            jkey(s, TAG_META, mkey, 17)),
           *resp;
    if ((rc = ec_post(s, "/v3/kv/txn", req, &resp, 1, "store resolve")) != 0)
        return rc == MNEMO_EIO ? mnemo__err(MNEMO_EUNKNOWN, "store resolve: %s", mnemo_errmsg()) : rc;
    if (json_is_true(json_object_get(resp, "succeeded"))) {
        json_decref(resp);
        t->unknown = 0;
        return mnemo__err(MNEMO_EBUSY, "store commit: not applied (the connection was lost before etcd applied it); "
                                       "retry");
    }
    json_t *kv = first_kv(json_object_get(json_array_get(json_object_get(resp, "responses"), 0), "response_range"));
    unsigned char *v = NULL;
    size_t vl = 0;
    int brc = kv ? kv_value(kv, &v, &vl) : MNEMO_ECORRUPT;
    if (brc == MNEMO_ENOMEM) { /* decided in the store, not here yet: ask again */
        json_decref(resp);
        return mnemo__err(MNEMO_EUNKNOWN, "store resolve: out of memory reading the commit marker");
    }
    if (!brc && vl == 8) {
        *seq = be64(v);
        seq_seen(s, *seq);
        rc = 0;
    } else if (!brc && vl == 1) {
        rc = mnemo__err(MNEMO_EBUSY, "store commit: not applied (fenced by an earlier resolve); retry");
    } else {
        rc = mnemo__err(MNEMO_ECORRUPT, "store resolve: the commit marker is damaged");
    }
    mnemo__free(v);
    json_decref(resp);
    t->unknown = 0;
    return rc;
}

static void ec_txn_free(mnemo_store_txn *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nw; i++) {
        mnemo__free(t->w[i].k);
        mnemo__free(t->w[i].v);
    }
    for (size_t i = 0; i < t->nr; i++)
        mnemo__free(t->r[i].k);
    for (size_t i = 0; i < t->nat; i++) {
        mnemo__free(t->at[i].prefix);
        mnemo__free(t->at[i].v);
    }
    mnemo__free(t->w);
    mnemo__free(t->r);
    mnemo__free(t->at);
    mnemo__free(t);
}

static int ec_write_batch(mnemo_store *s, const mnemo_store_write *w, size_t n, uint64_t *seq)
{
    for (size_t i = 0; i < n; i++)
        if (w[i].ks >= s->n_ks)
            return mnemo__err(MNEMO_EINVAL, "store write batch: write %zu names no keyspace (%u)", i, w[i].ks);
    if (s->read_only)
        return mnemo__err(MNEMO_EREADONLY, "store write batch: database %s is open read-only", s->path);
    mnemo_store_txn t = {.s = s};
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = ec_buffer(&t, w[i].ks, w[i].key, w[i].klen, w[i].val, w[i].vlen, w[i].is_delete, 0, "store write batch");
    uint64_t sq = 0;
    if (!rc && t.nw)
        rc = ec_commit_writes(&t, &sq);
    /* an auto-commit batch resolves its own unknown outcome: applied, or fenced and sent again */
    for (int k = 0; rc == MNEMO_EUNKNOWN && t.unknown && k < 5; k++)
        if ((rc = ec_txn_resolve(&t, &sq)) == MNEMO_EBUSY)
            rc = ec_commit_writes(&t, &sq);
    if (!rc && seq)
        *seq = t.nw ? sq : 0; /* an empty batch commits nothing (store.h) */
    for (size_t i = 0; i < t.nw; i++) {
        mnemo__free(t.w[i].k);
        mnemo__free(t.w[i].v);
    }
    mnemo__free(t.w);
    return rc;
}

/* ---- cursors: pages of range reads at the snapshot, merged with the transaction's writes ---- */

typedef struct ec_ent {
    unsigned char *k, *v;
    size_t kl, vl;
} ec_ent;

struct mnemo_store_cursor {
    mnemo_store *s;
    mnemo_store_txn *t;
    unsigned ks;
    long long rev; /* the snapshot (a cursor of no transaction: fixed by its first page) */
    unsigned char *lower, *upper;
    size_t lower_len, upper_len;
    /* the page: entries in key order covering [lo, hi) (NULL lo: from lower; NULL hi: to upper) */
    ec_ent *page;
    size_t n_page;
    unsigned char *lo, *hi;
    size_t lo_len, hi_len;
    int have_page;
    /* the current entry (copied: a write of the transaction may move its buffer) */
    int valid, status;
    unsigned char *ck, *cv;
    size_t ckl, cvl;
};

static void page_clear(mnemo_store_cursor *c)
{
    for (size_t i = 0; i < c->n_page; i++) {
        mnemo__free(c->page[i].k);
        mnemo__free(c->page[i].v);
    }
    mnemo__free(c->page);
    mnemo__free(c->lo);
    mnemo__free(c->hi);
    c->page = NULL;
    c->lo = c->hi = NULL;
    c->n_page = 0;
    c->have_page = 0;
}

/* The range end of keyspace ks: the next tag byte. */
static json_t *ks_end(mnemo_store *s, unsigned ks) { return jkey(s, (int)ks + 1, NULL, 0); }

/* Fetches a page: ascending from `at` (NULL: lower), or descending below `at` (NULL: upper). */
static int page_fetch(mnemo_store_cursor *c, int fwd, const void *at, size_t at_len)
{
    mnemo_store *s = c->s;
    const void *lo = NULL, *hi = NULL;
    size_t lo_len = 0, hi_len = 0;
    int from_lower = 1, to_upper = 1; /* the page's coverage starts at lower / ends at upper */
    if (fwd && at && (!c->lower || kcmp(at, at_len, c->lower, c->lower_len) > 0)) {
        lo = at;
        lo_len = at_len;
        from_lower = 0;
    } else if (c->lower) {
        lo = c->lower;
        lo_len = c->lower_len;
    }
    if (!fwd && at && (!c->upper || kcmp(at, at_len, c->upper, c->upper_len) < 0)) {
        hi = at;
        hi_len = at_len;
        to_upper = 0;
    } else if (c->upper) {
        hi = c->upper;
        hi_len = c->upper_len;
    }
    json_t *req = json_pack("{s:o,s:o,s:o}", "key", jkey(s, (int)c->ks, lo ? lo : "", lo ? lo_len : 0), "range_end",
                            hi ? jkey(s, (int)c->ks, hi, hi_len) : ks_end(s, c->ks), "limit", jnum(EC_PAGE)),
           *resp;
    if (!fwd) {
        json_object_set_new(req, "sort_order", json_string("DESCEND"));
        json_object_set_new(req, "sort_target", json_string("KEY"));
    }
    if (c->rev)
        json_object_set_new(req, "revision", jnum(c->rev));
    int rc = ec_post(s, "/v3/kv/range", req, &resp, 1, "store cursor");
    if (rc)
        return rc;
    if (!c->rev)
        c->rev = jint(json_object_get(resp, "header"), "revision");
    json_t *kvs = json_object_get(resp, "kvs");
    size_t n = json_array_size(kvs);
    int more = json_is_true(json_object_get(resp, "more"));
    page_clear(c);
    if (n && !(c->page = mnemo__calloc(n, sizeof *c->page))) {
        json_decref(resp);
        return mnemo__err_nomem("store cursor");
    }
    size_t skip = s->plen + 1;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *kv = json_array_get(kvs, i);
        ec_ent *e = &c->page[fwd ? i : n - 1 - i];
        unsigned char *k = NULL;
        size_t kl = 0;
        const char *ks = json_string_value(json_object_get(kv, "key"));
        int brc = ks ? b64_dec(ks, &k, &kl) : MNEMO_ECORRUPT;
        if (brc || kl < skip) {
            mnemo__free(k);
            rc = brc == MNEMO_ENOMEM
                     ? brc
                     : mnemo__err(MNEMO_ECORRUPT, "store cursor: etcd sent a bad key (keyspace %s)", ks_name(s, c->ks));
            break;
        }
        memmove(k, k + skip, kl - skip);
        e->k = k;
        e->kl = kl - skip;
        if ((rc = kv_value(kv, &e->v, &e->vl)) != 0 && rc != MNEMO_ENOMEM)
            rc = mnemo__err(MNEMO_ECORRUPT, "store cursor: etcd sent a bad value (keyspace %s)", ks_name(s, c->ks));
    }
    c->n_page = n;
    json_decref(resp);
    if (rc)
        return rc;
    c->have_page = 1;
    /* what the page covers: [lo, hi), NULL meaning the cursor's bound */
    const void *clo = NULL, *chi = NULL;
    size_t clo_len = 0, chi_len = 0;
    if (fwd) {
        if (!from_lower) {
            clo = lo;
            clo_len = lo_len;
        }
        if (more && n) { /* up to and including the last key: its successor (key + 0x00) */
            ec_ent *e = &c->page[n - 1];
            if (!(c->hi = mnemo__calloc(1, e->kl + 1)))
                return mnemo__err_nomem("store cursor");
            memcpy(c->hi, e->k, e->kl);
            c->hi_len = e->kl + 1;
        }
    } else {
        if (!to_upper) {
            chi = hi;
            chi_len = hi_len;
        }
        if (more && n) {
            clo = c->page[0].k;
            clo_len = c->page[0].kl;
        }
    }
    if (clo && !(c->lo = mnemo__memdup(clo, clo_len ? clo_len : 1)))
        return mnemo__err_nomem("store cursor");
    c->lo_len = clo_len;
    if (chi && !(c->hi = mnemo__memdup(chi, chi_len ? chi_len : 1)))
        return mnemo__err_nomem("store cursor");
    if (chi)
        c->hi_len = chi_len;
    return 0;
}

/* Within the bounds of the cursor? */
static int in_bounds(mnemo_store_cursor *c, const void *k, size_t kl)
{
    return (!c->lower || kcmp(k, kl, c->lower, c->lower_len) >= 0) &&
           (!c->upper || kcmp(k, kl, c->upper, c->upper_len) < 0);
}

/* The first stored entry >= key at the snapshot (key "" with kl 0 and NULL: from the start), or
 * NULL (c->status says whether that is an error). */
static ec_ent *remote_ge(mnemo_store_cursor *c, const void *key, size_t kl)
{
    unsigned char *own = NULL; /* a copy of the page end we continue from */
    ec_ent *found = NULL;
    for (;;) {
        int covers = c->have_page && (!c->lo || (key && kcmp(key, kl, c->lo, c->lo_len) >= 0)) &&
                     (!c->hi || !key || kcmp(key, kl, c->hi, c->hi_len) < 0);
        if (!covers) {
            int rc = page_fetch(c, 1, key, kl);
            if (rc) {
                c->status = rc;
                break;
            }
            continue; /* the page now covers key */
        }
        size_t i = 0;
        while (i < c->n_page && key && kcmp(c->page[i].k, c->page[i].kl, key, kl) < 0)
            i++;
        if (i < c->n_page) {
            found = &c->page[i];
            break;
        }
        if (!c->hi)
            break;
        mnemo__free(own);
        if (!(own = mnemo__memdup(c->hi, c->hi_len))) {
            c->status = mnemo__err_nomem("store cursor");
            break;
        }
        key = own;
        kl = c->hi_len;
    }
    mnemo__free(own);
    return found;
}

/* The last stored entry < below (NULL: anywhere below upper), or NULL. */
static ec_ent *remote_lt(mnemo_store_cursor *c, const void *below, size_t bl)
{
    unsigned char *own = NULL;
    ec_ent *found = NULL;
    for (;;) {
        int covers = c->have_page && (!c->hi || (below && kcmp(below, bl, c->hi, c->hi_len) <= 0)) &&
                     (!c->lo || !below || kcmp(c->lo, c->lo_len, below, bl) < 0);
        if (!covers) {
            int rc = page_fetch(c, 0, below, bl);
            if (rc) {
                c->status = rc;
                break;
            }
            continue;
        }
        size_t i = c->n_page;
        while (i > 0 && below && kcmp(c->page[i - 1].k, c->page[i - 1].kl, below, bl) >= 0)
            i--;
        if (i > 0) {
            found = &c->page[i - 1];
            break;
        }
        if (!c->lo)
            break;
        mnemo__free(own);
        if (!(own = mnemo__memdup(c->lo, c->lo_len ? c->lo_len : 1))) {
            c->status = mnemo__err_nomem("store cursor");
            break;
        }
        below = own;
        bl = c->lo_len;
    }
    mnemo__free(own);
    return found;
}

static int set_current(mnemo_store_cursor *c, const void *k, size_t kl, const void *v, size_t vl)
{
    unsigned char *nk = mnemo__memdup(k, kl ? kl : 1), *nv = mnemo__memdup(v ? v : "", vl ? vl : 1);
    if (!nk || !nv) {
        mnemo__free(nk);
        mnemo__free(nv);
        c->valid = 0;
        c->status = mnemo__err_nomem("store cursor");
        return -1;
    }
    mnemo__free(c->ck);
    mnemo__free(c->cv);
    c->ck = nk;
    c->cv = nv;
    c->ckl = kl;
    c->cvl = vl;
    c->valid = 1;
    return 0;
}

static void cursor_nomem(mnemo_store_cursor *c)
{
    c->valid = 0;
    c->status = mnemo__err_nomem("store cursor");
}

/* One step of a seek: the stored entry r and the transaction's write o nearest in the direction
 * of travel (fwd: the smaller wins; else the larger; on a tie the write). 1 when the cursor landed
 * or nothing is left; 0 when o is an own delete that hides what is there: go on past it. */
static int land(mnemo_store_cursor *c, ec_ent *r, ec_w *o, int fwd)
{
    if (r && !in_bounds(c, r->k, r->kl))
        r = NULL;
    if (o && !in_bounds(c, o->k, o->kl))
        o = NULL;
    if (!r && !o)
        return 1;
    int cmp = r && o ? kcmp(r->k, r->kl, o->k, o->kl) : 0;
    if (!o || (r && (fwd ? cmp < 0 : cmp > 0))) {
        set_current(c, r->k, r->kl, r->v, r->vl);
        return 1;
    }
    if (!o->del) {
        set_current(c, o->k, o->kl, o->v, o->vl);
        return 1;
    }
    return 0;
}

/* Positions on the first visible entry >= key (strict: > key). */
static void seek_ge(mnemo_store_cursor *c, const void *key, size_t kl, int strict)
{
    unsigned char *target = NULL;
    size_t tl = 0;
    if (key) {
        if (!(target = mnemo__calloc(1, kl + 1))) {
            cursor_nomem(c);
            return;
        }
        memcpy(target, key, kl);
        tl = kl + (strict ? 1 : 0);
    }
    if (target && c->lower && kcmp(target, tl, c->lower, c->lower_len) < 0) {
        mnemo__free(target);
        target = NULL;
    }
    if (!target && c->lower) {
        target = mnemo__memdup(c->lower, c->lower_len ? c->lower_len : 1);
        tl = c->lower_len;
    }
    c->valid = 0;
    for (;;) {
        ec_ent *r = remote_ge(c, target, tl);
        if (c->status)
            break;
        ec_w *o = NULL;
        if (c->t) {
            size_t i = w_lower(c->t, c->ks, target ? target : (const void *)"", target ? tl : 0);
            if (i < c->t->nw && c->t->w[i].ks == c->ks)
                o = &c->t->w[i];
        }
        if (land(c, r, o, 1))
            break;
        unsigned char *nt = mnemo__calloc(1, o->kl + 1); /* past the own delete */
        if (!nt) {
            cursor_nomem(c);
            break;
        }
        memcpy(nt, o->k, o->kl);
        mnemo__free(target);
        target = nt;
        tl = o->kl + 1;
    }
    mnemo__free(target);
}

/* Positions on the last visible entry <= key (strict: < key); NULL key: the last. */
static void seek_le(mnemo_store_cursor *c, const void *key, size_t kl, int strict)
{
    unsigned char *below = NULL; /* exclusive */
    size_t bl = 0;
    if (key) {
        if (!(below = mnemo__calloc(1, kl + 1))) {
            cursor_nomem(c);
            return;
        }
        memcpy(below, key, kl);
        bl = kl + (strict ? 0 : 1);
    }
    if (c->upper && (!below || kcmp(below, bl, c->upper, c->upper_len) > 0)) { /* below at most upper */
        mnemo__free(below);
        if (!(below = mnemo__memdup(c->upper, c->upper_len ? c->upper_len : 1))) {
            c->status = mnemo__err_nomem("store cursor");
            return;
        }
        bl = c->upper_len;
    }
    c->valid = 0;
    for (;;) {
        ec_ent *r = remote_lt(c, below, bl);
        if (c->status)
            break;
        ec_w *o = NULL;
        if (c->t) {
            size_t i = below ? w_lower(c->t, c->ks, below, bl) : w_lower(c->t, c->ks + 1, "", 0);
            if (i > 0 && c->t->w[i - 1].ks == c->ks)
                o = &c->t->w[i - 1];
        }
        if (land(c, r, o, 0))
            break;
        unsigned char *nb = mnemo__memdup(o->k, o->kl ? o->kl : 1);
        if (!nb) {
            c->status = mnemo__err_nomem("store cursor");
            break;
        }
        mnemo__free(below);
        below = nb;
        bl = o->kl;
    }
    mnemo__free(below);
}

static int ec_cursor_open(mnemo_store_cursor **out, mnemo_store *s, mnemo_store_txn *t, unsigned ks,
                          const void *lower, size_t lower_len, const void *upper, size_t upper_len)
{
    int rc = check_ks(s, ks, "store cursor");
    if (rc)
        return rc;
    mnemo_store_cursor *c = mnemo__calloc(1, sizeof *c);
    if (!c)
        return mnemo__err_nomem("store cursor");
    c->s = s;
    c->t = t;
    c->ks = ks;
    c->rev = t ? t->rev : 0;
    if (lower && !(c->lower = mnemo__memdup(lower, lower_len ? lower_len : 1)))
        rc = mnemo__err_nomem("store cursor");
    if (upper && !(c->upper = mnemo__memdup(upper, upper_len ? upper_len : 1)))
        rc = mnemo__err_nomem("store cursor");
    c->lower_len = lower_len;
    c->upper_len = upper_len;
    if (rc) {
        mnemo__free(c->lower);
        mnemo__free(c->upper);
        mnemo__free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void ec_cursor_seek(mnemo_store_cursor *c, const void *key, size_t klen)
{
    if (!c->status)
        seek_ge(c, key, klen, 0);
}
static void ec_cursor_seek_for_prev(mnemo_store_cursor *c, const void *key, size_t klen)
{
    if (!c->status)
        seek_le(c, key, klen, 0);
}
static void ec_cursor_first(mnemo_store_cursor *c)
{
    if (!c->status)
        seek_ge(c, NULL, 0, 0);
}
static void ec_cursor_last(mnemo_store_cursor *c)
{
    if (!c->status)
        seek_le(c, NULL, 0, 0);
}
static void ec_cursor_next(mnemo_store_cursor *c)
{
    if (c->valid && !c->status) {
        unsigned char *k = c->ck;
        c->ck = NULL;
        seek_ge(c, k, c->ckl, 1);
        mnemo__free(k);
    }
}
static void ec_cursor_prev(mnemo_store_cursor *c)
{
    if (c->valid && !c->status) {
        unsigned char *k = c->ck;
        c->ck = NULL;
        seek_le(c, k, c->ckl, 1);
        mnemo__free(k);
    }
}
static int ec_cursor_valid(mnemo_store_cursor *c) { return c->valid && !c->status; }
static int ec_cursor_status(mnemo_store_cursor *c, const char *what)
{
    if (c->status)
        return mnemo__err(c->status, "%s: %s", what, mnemo_errmsg());
    return 0;
}
static const void *ec_cursor_key(mnemo_store_cursor *c, size_t *len)
{
    *len = c->ckl;
    return c->ck;
}
static const void *ec_cursor_value(mnemo_store_cursor *c, size_t *len)
{
    *len = c->cvl;
    return c->cv;
}
static void ec_cursor_close(mnemo_store_cursor *c)
{
    if (!c)
        return;
    page_clear(c);
    mnemo__free(c->ck);
    mnemo__free(c->cv);
    mnemo__free(c->lower);
    mnemo__free(c->upper);
    mnemo__free(c);
}

/* ---- maintenance ---- */

static uint64_t ec_estimate_keys(mnemo_store *s, unsigned ks)
{
    json_t *resp;
    if (ks >= s->n_ks || ec_post(s, "/v3/kv/range",
                                 json_pack("{s:o,s:o,s:b}", "key", jkey(s, (int)ks, NULL, 0), "range_end",
                                           ks_end(s, ks), "count_only", 1),
                                 &resp, 1, "store estimate_keys"))
        return 0;
    long long n = jint(resp, "count");
    json_decref(resp);
    return n > 0 ? (uint64_t)n : 0;
}

static int ec_flush(mnemo_store *s)
{
    (void)s; /* every commit is in the cluster's raft log when it returns */
    return 0;
}

static int ec_compact(mnemo_store *s)
{
    (void)s; /* compaction is the cluster's (--auto-compaction-*): docs/storage.md */
    return 0;
}

static int ec_checkpoint(mnemo_store *s, const char *dir)
{
    (void)dir;
    return mnemo__err(MNEMO_ENOTSUP, "checkpoint: the etcd engine has none (use `etcdctl snapshot save` on %s)",
                      s->path);
}

/* ---- the watch on the commit counter ----
 * A thread per store holds a streaming POST /v3/watch on the counter key (not the log prefix: one
 * event per commit, carrying the sequence itself, and none of the log's values). While it is
 * healthy (created, no error since) last_seq answers from seq_hint without a request; when it is
 * down, last_seq reads the counter and the thread reconnects to the next endpoint from the
 * revision after the last event it saw, or from a fresh read when that revision was compacted. */

typedef struct ec_watch {
    mnemo_store *s;
    pthread_t th;
    pid_t pid; /* a forked child has no thread: its watch is never healthy */
    CURLM *multi;
    CURL *h;
    char *key; /* the counter key, base64 */
    struct curl_slist *hdr;
    atomic_int stop, healthy;
    /* busy: the thread is inside libcurl (parsing events, or closing the socket); fd: the stream's
     * socket once created (-1 otherwise). last_seq trusts seq_hint only when the thread is idle and
     * the socket holds no unread bytes: a process that was stopped, or a thread not yet scheduled,
     * has events waiting there that a commit it heard of may be among. */
    atomic_int busy, fd;
    long long rev;  /* every counter change up to this revision was seen (0: read afresh) */
    int conn_fd;    /* the socket libcurl opened for the stream (watch_sockopt_cb) */
    int was_up;     /* the last stream was created */
    int fresh;      /* the stream said: rev was compacted, or the watch was cancelled */
    ec_buf in;      /* the stream's bytes not yet parsed (a line arrives in pieces) */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* close wakes the backoff */
} ec_watch;

/* One line of the stream: {"result":{"header":..,"created":..,"canceled":..,"events":[..]}}. */
static int watch_line(ec_watch *w, const char *line)
{
    json_t *j = json_loads(line, 0, NULL);
    json_t *r = json_object_get(j, "result");
    if (!r) { /* {"error":..} or nothing we know: reconnect */
        json_decref(j);
        return -1;
    }
    if (json_is_true(json_object_get(r, "canceled")) || jint(r, "compact_revision") > 0) {
        w->fresh = 1;
        json_decref(j);
        return -1;
    }
    json_t *ev;
    size_t i;
    json_array_foreach(json_object_get(r, "events"), i, ev)
    {
        json_t *kv = json_object_get(ev, "kv");
        unsigned char *v = NULL;
        size_t vl = 0;
        if (jint(kv, "mod_revision") > w->rev)
            w->rev = jint(kv, "mod_revision");
        const char *type = json_string_value(json_object_get(ev, "type"));
        if ((!type || !strcmp(type, "PUT")) && !kv_value(kv, &v, &vl) && vl == 8) 
            seq_seen(w->s, be64(v));
        mnemo__free(v);
    }
    if (json_is_true(json_object_get(r, "created")))
        atomic_store(&w->healthy, 1);
    json_decref(j);
    return 0;
}

static size_t watch_write_cb(char *data, size_t sz, size_t nm, void *arg)
{
    ec_watch *w = arg;
    size_t n = ec_write_cb(data, sz, nm, &w->in);
    if (n != sz * nm)
        return 0;
    char *nl;
    size_t used = 0;
    while ((nl = memchr(w->in.p + used, '\n', w->in.n - used))) {
        *nl = '\0';
        if (watch_line(w, w->in.p + used))
            return 0; /* aborts the transfer */
        used = (size_t)(nl - w->in.p) + 1;
    }
    memmove(w->in.p, w->in.p + used, w->in.n - used);
    w->in.n -= used;
    return n;
}

static int watch_sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    (void)purpose;
    ((ec_watch *)arg)->conn_fd = (int)fd;
    return CURL_SOCKOPT_OK;
}

/* Runs one request on the watch's handle until it ends or close stops it; 0 when it completed. */
static int watch_perform(ec_watch *w, unsigned ep, const char *api, const char *body, int stream)
{
    mnemo_store *s = w->s;
    char url[300];
    snprintf(url, sizeof url, "http://%s%s", s->ep[ep], api);
    w->in.n = 0;
    curl_easy_reset(w->h);
    curl_easy_setopt(w->h, CURLOPT_URL, url);
    curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(w->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->h, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms < 1000 ? s->timeout_ms : 1000L);
    curl_easy_setopt(w->h, CURLOPT_TCP_KEEPALIVE, 1L); /* a member that vanished without a FIN */
    curl_easy_setopt(w->h, CURLOPT_TCP_KEEPIDLE, 2L);
    curl_easy_setopt(w->h, CURLOPT_TCP_KEEPINTVL, 1L);
    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, w->hdr);
    curl_easy_setopt(w->h, CURLOPT_FORBID_REUSE, 1L); /* a fresh socket per stream: conn_fd is its own */
    curl_easy_setopt(w->h, CURLOPT_SOCKOPTFUNCTION, watch_sockopt_cb);
    curl_easy_setopt(w->h, CURLOPT_SOCKOPTDATA, w);
    w->conn_fd = -1;
    if (stream) {
        curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write_cb);
        curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
    } else {
        curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, ec_write_cb);
        curl_easy_setopt(w->h, CURLOPT_WRITEDATA, &w->in);
        curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    }
    curl_multi_add_handle(w->multi, w->h);
    int running = 1;
    CURLcode cc = CURLE_ABORTED_BY_CALLBACK;
    while (!atomic_load(&w->stop)) {
        atomic_store(&w->busy, 1);
        if (curl_multi_perform(w->multi, &running) != CURLM_OK)
            break;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(w->multi, &left)))
            if (m->msg == CURLMSG_DONE)
                cc = m->data.result;
        if (!running)
            break;
        if (stream && atomic_load(&w->fd) < 0 && atomic_load(&w->healthy))
            atomic_store(&w->fd, w->conn_fd);
        atomic_store(&w->busy, 0);
        curl_multi_poll(w->multi, NULL, 0, 1000, NULL); /* close wakes it */
    }
    atomic_store(&w->busy, 1); /* until the socket is closed and the watch marked down */
    long status = 0;
    curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, w->h);
    w->was_up |= atomic_exchange(&w->healthy, 0);
    atomic_store(&w->fd, -1);
    atomic_store(&w->busy, 0);
    return !running && cc == CURLE_OK && status == 200 ? 0 : -1;
}

/* The counter and the revision it was read at, on endpoint ep; 0 or -1. */
static int watch_read(ec_watch *w, unsigned ep)
{
    char body[256];
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", w->key);
    if (watch_perform(w, ep, "/v3/kv/range", body, 0) || !w->in.p)
        return -1;
    json_t *j = json_loads(w->in.p, 0, NULL);
    long long rev = jint(json_object_get(j, "header"), "revision");
    json_t *kv = first_kv(j);
    unsigned char *v = NULL;
    size_t vl = 0;
    int rc = rev > 0 && (!kv || (!kv_value(kv, &v, &vl) && vl == 8)) ? 0 : -1;
    if (!rc) {
        if (kv)
            seq_seen(w->s, be64(v));
        w->rev = rev;
    }
    mnemo__free(v);
    json_decref(j);
    return rc;
}

static void *watch_main(void *arg)
{
    ec_watch *w = arg;
    mnemo_store *s = w->s;
    unsigned ep = atomic_load(&s->cur_ep) % s->n_ep;
    int backoff = 25;
    while (!atomic_load(&w->stop)) {
        if (w->fresh)
            w->rev = 0;
        w->fresh = 0;
        if (w->rev || !watch_read(w, ep)) {
            char body[320];
            snprintf(body, sizeof body, "{\"create_request\":{\"key\":\"%s\",\"start_revision\":\"%lld\"}}", w->key,
                     w->rev + 1);
            watch_perform(w, ep, "/v3/watch", body, 1);
            if (w->was_up)
                backoff = 25; /* it was up: try again soon */
            w->was_up = 0;
        }
        if (atomic_load(&w->stop))
            break;
        ep = (ep + 1) % s->n_ep;
        pthread_mutex_lock(&w->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)backoff * 1000000;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        if (!atomic_load(&w->stop))
            pthread_cond_timedwait(&w->cv, &w->mu, &until);
        pthread_mutex_unlock(&w->mu);
        backoff = backoff < 400 ? backoff * 2 : 400;
    }
    return NULL;
}

static void watch_free(ec_watch *w)
{
    if (w->h)
        curl_easy_cleanup(w->h);
    if (w->multi)
        curl_multi_cleanup(w->multi);
    free(w->key);
    free(w->in.p);
    curl_slist_free_all(w->hdr);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    mnemo__free(w);
}

static int watch_start(mnemo_store *s)
{
    ec_watch *w = mnemo__calloc(1, sizeof *w);
    if (!w)
        return mnemo__err_nomem("open");
    w->s = s;
    w->pid = getpid();
    atomic_store(&w->fd, -1);
    /* the member cancels the watch when it loses its leader (clientv3's WithRequireLeader), rather
     * than leaving it silent while the others commit */
    w->hdr = curl_slist_append(NULL, "Grpc-Metadata-hasleader: true");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    json_t *k = jkey(s, TAG_META, SEQ_KEY, 3);
    w->key = k ? strdup(json_string_value(k)) : NULL;
    json_decref(k);
    w->multi = curl_multi_init();
    w->h = curl_easy_init();
    if (!w->key || !w->multi || !w->h || !w->hdr) {
        watch_free(w);
        return mnemo__err_nomem("open: the watch on the commit counter");
    }
    if (pthread_create(&w->th, NULL, watch_main, w)) {
        watch_free(w);
        return mnemo__err(MNEMO_ENOMEM, "open: cannot start the thread of the watch on the commit counter");
    }
    s->watch = w;
    return 0;
}

static void watch_stop(mnemo_store *s)
{
    ec_watch *w = s->watch;
    if (!w)
        return;
    if (w->pid != getpid()) { /* a forked child: the thread is the parent's */
        mnemo__free(w);
        s->watch = NULL;
        return;
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    curl_multi_wakeup(w->multi);
    pthread_join(w->th, NULL);
    watch_free(w);
    s->watch = NULL;
}

int mnemo__etcd_watching(mnemo_store *s)
{
    ec_watch *w = s->watch;
    if (!w || !atomic_load(&w->healthy) || w->pid != getpid() || atomic_load(&w->busy))
        return 0;
    struct pollfd p = {.fd = atomic_load(&w->fd), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 0;
}
uint64_t mnemo__etcd_requests(mnemo_store *s) { return atomic_load(&s->n_requests); }

/* A commit of another process is here once the watch delivered it; the own latest commit always is
 * (its commit raised seq_hint before it returned). */
static uint64_t ec_last_seq(mnemo_store *s)
{
    uint64_t seq = 0;
    if (mnemo__etcd_watching(s))
        return atomic_load(&s->seq_hint);
    read_counter(s, 0, &seq, NULL, "store last_seq"); /* raises seq_hint; on error it is what was seen */
    return atomic_load(&s->seq_hint);
}

static int ec_stats(mnemo_store *s, mnemo_store_stats *out)
{
    memset(out, 0, sizeof *out);
    out->last_sequence = ec_last_seq(s);
    json_t *resp;
    if (!ec_post(s, "/v3/maintenance/status", json_object(), &resp, 1, "store stats")) {
        out->disk_bytes = (uint64_t)jint(resp, "dbSize");
        json_decref(resp);
    }
    return 0;
}

/* ---- open and close ---- */

static int ec_probe(const char *path) { return path && !strncmp(path, EC_SCHEME, strlen(EC_SCHEME)); }

static void store_free(mnemo_store *s)
{
    watch_stop(s);
    for (unsigned i = 0; i < s->n_ep; i++)
        mnemo__free(s->ep[i]);
    for (unsigned i = 0; i < s->n_pool; i++)
        curl_easy_cleanup(s->pool[i]);
    for (unsigned i = 0; s->ks_name && i < s->n_ks; i++)
        mnemo__free(s->ks_name[i]);
    mnemo__free(s->ks_name);
    mnemo__free(s->prefix);
    mnemo__free(s->path);
    pthread_mutex_destroy(&s->mu);
    mnemo__free(s);
}

static int parse_size(const char *v, size_t *out, size_t min)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || n < min)
        return -1;
    *out = (size_t)n;
    return 0;
}

/* etcd://host:port[,host:port...]/prefix[?max_txn_ops=N&max_request_bytes=N&timeout_ms=N] */
static int parse_path(mnemo_store *s, const char *path)
{
    const char *p = path + strlen(EC_SCHEME), *slash = strchr(p, '/');
    if (!slash || slash == p)
        return mnemo__err(MNEMO_EINVAL, "open: '%s' names no endpoint (etcd://host:port[,host:port]/prefix)", path);
    const char *q = strchr(slash, '?');
    size_t plen = q ? (size_t)(q - slash - 1) : strlen(slash + 1);
    if (plen == 0)
        return mnemo__err(MNEMO_EINVAL, "open: '%s' names no prefix (etcd://host:port/prefix): the database needs one",
                          path);
    for (const char *e = p; e < slash;) {
        const char *comma = memchr(e, ',', (size_t)(slash - e));
        size_t n = comma ? (size_t)(comma - e) : (size_t)(slash - e);
        if (n == 0 || n > 200 || !memchr(e, ':', n))
            return mnemo__err(MNEMO_EINVAL, "open: '%s': endpoint '%.*s' is not host:port", path, (int)n, e);
        if (s->n_ep == EC_MAX_EP)
            return mnemo__err(MNEMO_EINVAL, "open: '%s' names more than %d endpoints", path, EC_MAX_EP);
        if (!(s->ep[s->n_ep] = mnemo__calloc(1, n + 1)))
            return mnemo__err_nomem("open");
        memcpy(s->ep[s->n_ep++], e, n);
        e += n + (comma != NULL);
    }
    if (!(s->prefix = mnemo__malloc(plen + 1)))
        return mnemo__err_nomem("open");
    memcpy(s->prefix, slash + 1, plen);
    s->prefix[plen] = '/'; /* the separator before the tag byte: "a" and "ab" never overlap */
    s->plen = plen + 1;
    for (const char *o = q ? q + 1 : NULL; o && *o;) {
        const char *amp = strchr(o, '&');
        char opt[128];
        size_t n = amp ? (size_t)(amp - o) : strlen(o);
        snprintf(opt, sizeof opt, "%.*s", (int)(n < sizeof opt ? n : sizeof opt - 1), o);
        char *eq = strchr(opt, '=');
        size_t v = 0;
        int bad = !eq;
        if (eq) {
            *eq = '\0';
            if (!strcmp(opt, "max_txn_ops"))
                bad = parse_size(eq + 1, &s->max_txn_ops, 8);
            else if (!strcmp(opt, "max_request_bytes"))
                bad = parse_size(eq + 1, &s->max_request_bytes, 8192);
            else if (!strcmp(opt, "timeout_ms"))
                bad = parse_size(eq + 1, &v, 10) || (s->timeout_ms = (long)v, 0);
            else
                bad = 1;
        }
        if (bad)
            return mnemo__err(MNEMO_EINVAL,
                              "open: '%s': bad option '%.*s' (max_txn_ops=N >= 8, max_request_bytes=N >= 8192, "
                              "timeout_ms=N >= 10)",
                              path, (int)n, o);
        o = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* Creates the counter if missing and checks the keyspace names against the table. */
static int init_meta(mnemo_store *s, const mnemo_store_config *cfg)
{
    char names[1024] = "";
    size_t nl = 0;
    for (unsigned i = 0; i < cfg->n_keyspaces; i++)
        nl += (size_t)snprintf(names + nl, sizeof names - nl, "%s%s", i ? "\n" : "", cfg->keyspaces[i].name);
    unsigned char *v = NULL;
    size_t vl = 0;
    long long mod;
    int rc = read_key(s, 0, TAG_META, KS_KEY, 2, &v, &vl, &mod, "open");
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    if (rc == MNEMO_ENOTFOUND && !cfg->create)
        return mnemo__err(MNEMO_ENOTFOUND, "open: no database under %s", s->path);
    if (!rc) {
        int prefix_of_ours = vl <= nl && !memcmp(v, names, vl) && (vl == nl || names[vl] == '\n');
        mnemo__free(v);
        if (!prefix_of_ours)
            return mnemo__err(MNEMO_EVERSION, "open: %s has keyspaces this library does not know", s->path);
        if (vl == nl)
            goto counter;
    }
    if (s->read_only)
        return rc == MNEMO_ENOTFOUND ? mnemo__err(MNEMO_ENOTFOUND, "open: no database under %s", s->path) : 0;
    json_t *resp;
    if ((rc = ec_post(s, "/v3/kv/put", json_pack("{s:o,s:o}", "key", jkey(s, TAG_META, KS_KEY, 2), "value",
                                                  jb64(names, nl)),
                      &resp, 1, "open")) != 0)
        return rc;
    json_decref(resp);
counter:;
    if (s->read_only)
        return 0;
    unsigned char zero[8] = {0};
    json_t *req = json_pack("{s:[o],s:[o]}", "compare",
                            cmp_op(jkey(s, TAG_META, SEQ_KEY, 3), "VERSION", "EQUAL", "version", jnum(0)), "success",
                            put_op(jkey(s, TAG_META, SEQ_KEY, 3), zero, 8, 0));
    if ((rc = ec_post(s, "/v3/kv/txn", req, &resp, 1, "open")) != 0)
        return rc;
    json_decref(resp);
    return 0;
}

static int ec_open(mnemo_store **out, const mnemo_store_config *cfg)
{
    if (!ec_probe(cfg->path))
        return mnemo__err(MNEMO_EINVAL, "open: '%s' is not an etcd path (etcd://host:port/prefix)", cfg->path);
    pthread_once(&curl_once, curl_init_once);
    mnemo_store *s = mnemo__calloc(1, sizeof *s);
    if (!s)
        return mnemo__err_nomem("open");
    pthread_mutex_init(&s->mu, NULL);
    s->max_txn_ops = 128;            /* etcd's defaults */
    s->max_request_bytes = 1572864;
    s->timeout_ms = 5000;
    s->read_only = cfg->read_only;
    int rc = (s->path = mnemo__memdup(cfg->path, strlen(cfg->path) + 1)) ? parse_path(s, cfg->path)
                                                                         : mnemo__err_nomem("open");
    s->deadline_ms = s->timeout_ms * 3;
    if (!rc && !(s->ks_name = mnemo__calloc(cfg->n_keyspaces + 1, sizeof *s->ks_name)))
        rc = mnemo__err_nomem("open");
    for (unsigned i = 0; !rc && i < cfg->n_keyspaces; i++) {
        if (!(s->ks_name[i] = mnemo__memdup(cfg->keyspaces[i].name, strlen(cfg->keyspaces[i].name) + 1)))
            rc = mnemo__err_nomem("open");
        s->n_ks = i + 1;
    }
    if (!rc && cfg->n_keyspaces >= TAG_META)
        rc = mnemo__err(MNEMO_EINVAL, "open: %u keyspaces; the etcd engine has room for %d", cfg->n_keyspaces,
                        TAG_META - 1);
    if (!rc)
        rc = init_meta(s, cfg);
    if (!rc)
        rc = watch_start(s);
    if (rc) {
        store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int ec_close(mnemo_store *s)
{
    if (s)
        store_free(s);
    return 0;
}

const mnemo_store_ops mnemo_store__etcd = {
    .version = MNEMO_STORE_OPS_VERSION,
    .name = "etcd",
    .probe = ec_probe,
    .open = ec_open,
    .close = ec_close,
    .txn_begin = ec_txn_begin,
    .txn_version = ec_txn_version,
    .get = ec_get,
    .release_value = ec_release_value,
    .put = ec_put,
    .del = ec_del,
    .put_untracked = ec_put_untracked,
    .txn_commit = ec_txn_commit,
    .txn_free = ec_txn_free,
    .write_batch = ec_write_batch,
    .cursor_open = ec_cursor_open,
    .cursor_seek = ec_cursor_seek,
    .cursor_seek_for_prev = ec_cursor_seek_for_prev,
    .cursor_first = ec_cursor_first,
    .cursor_last = ec_cursor_last,
    .cursor_next = ec_cursor_next,
    .cursor_prev = ec_cursor_prev,
    .cursor_valid = ec_cursor_valid,
    .cursor_status = ec_cursor_status,
    .cursor_key = ec_cursor_key,
    .cursor_value = ec_cursor_value,
    .cursor_close = ec_cursor_close,
    .estimate_keys = ec_estimate_keys,
    .flush = ec_flush,
    .compact = ec_compact,
    .checkpoint = ec_checkpoint,
    .stats = ec_stats,
    .shared = 1,
    .put_at_commit = ec_put_at_commit,
    .last_seq = ec_last_seq,
    .txn_resolve = ec_txn_resolve,
};
