/* The inverted index: settings, postings kept with their records (per-transaction blocks, kill
 * keys, merges; the layout and why in text.h), corpus statistics, and mnemo_text_enable / disable
 * / info.
 *
 * Conflicts: blocks belong to the transaction that wrote them and kill keys and 'F' to a record,
 * so writers of different records never write the same key. The corpus statistics BM25 needs
 * (documents, total length) are not one counter either: each committing transaction adds its own
 * delta key ('S' 0x01 + a per-process random nonce + a sequence number, written by a commit hook)
 * and readers sum the base ('S' 0x00) and the deltas; now and then a commit folds the deltas into
 * the base in a transaction of its own, which can only conflict with another fold. See
 * docs/records.md "Full text". */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "core/u64map.h"
#include "record/record.h"
#include "text/text_impl.h"

#define CONF_VERSION 2     /* 1: one posting key per (term, record), before segments */
#define BACKFILL_BATCH 256
#define FOLD_EVERY 64       /* commits with a delta between fold attempts (per process) */
#define FOLD_MIN_DELTAS 32  /* a fold runs only when there are at least this many deltas */

/* ---- small encodings ---- */

size_t mnemo_text__put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

size_t mnemo_text__get_varint(const unsigned char *p, size_t n, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

size_t mnemo_text__term_prefix(unsigned char *out, const char *term, size_t len)
{
    out[0] = TEXT_MK_POSTING;
    memcpy(out + 1, term, len);
    out[1 + len] = 0;
    return len + 2;
}

size_t mnemo_text__kill_key(unsigned char *out, const char *term, size_t len, uint64_t iid, uint32_t gen)
{
    size_t n = mnemo_text__term_prefix(out, term, len);
    out[n] = TEXT_TAG_KILL;
    mnemo__put_be64(out + n + 1, iid);
    mnemo__put_be32(out + n + 9, gen);
    return n + 13;
}

size_t mnemo_text__decode_entry(text_entry *e, const unsigned char *v, size_t n, uint64_t prev_iid)
{
    uint64_t delta, dl, tfg, gen = 0, pos;
    size_t at = mnemo_text__get_varint(v, n, &delta), r;
    if (!at || prev_iid + delta < prev_iid || !(r = mnemo_text__get_varint(v + at, n - at, &dl)))
        return 0;
    at += r;
    if (!(r = mnemo_text__get_varint(v + at, n - at, &tfg)))
        return 0;
    at += r;
    if ((tfg & 1) && !(r = mnemo_text__get_varint(v + at, n - at, &gen)))
        return 0;
    at += tfg & 1 ? r : 0;
    uint64_t tf = tfg >> 1;
    if (tf == 0 || tf > dl || dl > UINT32_MAX || gen > UINT32_MAX)
        return 0;
    e->iid = prev_iid + delta;
    e->dl = (uint32_t)dl;
    e->tf = (uint32_t)tf;
    e->gen = (uint32_t)gen;
    e->pos = v + at;
    for (uint64_t j = 0; j < tf; j++) {
        if (!(r = mnemo_text__get_varint(v + at, n - at, &pos)))
            return 0;
        at += r;
    }
    e->pos_len = (size_t)(v + at - e->pos);
    return at;
}

int mnemo_text__killed(const text_kill *k, size_t n, uint64_t iid, uint32_t gen)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k[mid].iid < iid || (k[mid].iid == iid && k[mid].gen < gen))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && k[lo].iid == iid && k[lo].gen == gen;
}

static void doc_key(unsigned char key[9], uint64_t iid)
{
    key[0] = TEXT_MK_DOC;
    mnemo__put_be64(key + 1, iid);
}

/* The payload of a record's entry 'F': varint length, varint generation, u32 term-set hash. */
#define DOC_PAYLOAD_MAX 24
static size_t doc_payload(unsigned char v[DOC_PAYLOAD_MAX], uint64_t len, uint32_t gen, uint32_t set_hash)
{
    size_t n = mnemo_text__put_varint(v, len);
    n += mnemo_text__put_varint(v + n, gen);
    mnemo__put_be32(v + n, set_hash);
    return n + 4;
}

/* ---- settings ---- */

/* payload: u8 version | u8 state | u8 stopwords | f64 k1 | f64 b | stem language */
static int write_conf(mnemo_db *db, mnemo_txn *txn, const text_conf *c)
{
    unsigned char v[3 + 16 + MNEMO_TEXT_MAX_LANGUAGE];
    size_t ll = strlen(c->cfg.stem);
    v[0] = CONF_VERSION;
    v[1] = (unsigned char)c->state;
    v[2] = (unsigned char)(c->cfg.stopwords != 0);
    mnemo__put_f64(v + 3, c->k1);
    mnemo__put_f64(v + 11, c->b);
    memcpy(v + 19, c->cfg.stem, ll);
    return mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, TEXT_CONFIG_KEY, strlen(TEXT_CONFIG_KEY), v, 19 + ll);
}

int mnemo_text__conf(text_conf *out, mnemo_db *db, mnemo_txn *txn, int track)
{
    char *raw;
    size_t n;
    int rc = mnemo_txn__get_sealed(&raw, &n, db, txn, MNEMO_CF_METADATA, TEXT_CONFIG_KEY, strlen(TEXT_CONFIG_KEY), track,
                                   "the full-text settings (metadata key " TEXT_CONFIG_KEY ")");
    if (rc)
        return rc;
    unsigned char *v = (unsigned char *)raw;
    if (n >= 1 && v[0] == 1) {
        mnemo__free(v);
        return mnemo__err(MNEMO_EVERSION, "the full-text index has layout 1 (one key per term and record), which "
                                          "this library does not read: a read-write open rebuilds it (or "
                                          "mnemo_text_disable, then mnemo_text_enable)");
    }
    if (n < 19 || n > 19 + MNEMO_TEXT_MAX_LANGUAGE || v[0] != CONF_VERSION || (v[1] != TEXT_BUILDING && v[1] != TEXT_READY)) {
        mnemo__free(v);
        return mnemo__err(MNEMO_ECORRUPT, "the full-text settings (metadata key " TEXT_CONFIG_KEY ") are damaged");
    }
    memset(out, 0, sizeof *out);
    out->state = v[1];
    out->cfg.stopwords = v[2];
    out->k1 = mnemo__get_f64(v + 3);
    out->b = mnemo__get_f64(v + 11);
    memcpy(out->cfg.stem, v + 19, n - 19);
    mnemo__free(v);
    return 0;
}

int mnemo_text__check_bm25(double k1, double b, const char *fn)
{
    if (isnan(k1) || k1 < 0 || k1 > TEXT_MAX_K1)
        return mnemo__err(MNEMO_EINVAL, "%s: k1 %g is not in 0 < k1 <= %g (0 for the default)", fn, k1, TEXT_MAX_K1);
    if (isnan(b) || b < 0 || b > 1)
        return mnemo__err(MNEMO_EINVAL, "%s: b %g is not in 0 < b <= 1 (0 for the default)", fn, b);
    return 0;
}

/* ---- the transaction's share: corpus-count delta and pending postings ----
 *
 * A transaction does not write a posting per (term, record). It keeps the documents it indexes
 * in memory (pending, searched by its own queries through mnemo_text__pending) and its commit's
 * before hook writes one block per distinct term, 'P' term 0x00 0x01 seg, where seg is the
 * transaction's own random segment id: a 1,000-record commit writes a few thousand keys instead
 * of ~100,000. The blocks are written untracked (put_untracked: no validation, no index in the
 * transaction). That is safe because a block key is new and unique to its transaction (no other
 * writer ever writes it), and every record whose postings it holds had its record key written
 * tracked by the same transaction (the record room's write): of two transactions writing the
 * same record one fails validation, and nothing of the failed one, untracked writes included, is
 * applied. A new record's 'F' is written the same way at commit (write_new_docs). */

/* The distinct terms a transaction met, by hash (FNV-1a, open addressing): each occurrence is
 * looked up once, when its record is tokenized, and the commit groups the postings by these ids.
 * (Sorting with memcmp had been a third of an indexed put; a table per record, then another per
 * commit, looked every term up twice.) The table also groups one document at a time: `doc`
 * stamps the terms the document being tokenized has met, `local` is their index in it. */
typedef struct tterm {
    uint64_t hash;
    uint32_t off, len; /* bytes at arena + off */
    uint32_t stamp, local;
} tterm;

typedef struct docc {
    uint32_t k, pos; /* the document's k-th distinct term, at position pos */
} docc;

typedef struct term_tab {
    uint32_t *slot; /* 0 empty, else term id + 1 */
    size_t cap;     /* slots, a power of two */
    tterm *t;
    size_t n, cap_t;
    char *arena;
    size_t used, cap_a;
    uint32_t doc;   /* stamp of the document being grouped */
    docc *occ;      /* its occurrences, in text order */
    size_t n_occ, cap_occ;
    uint32_t *dtid; /* its distinct terms, in order of first appearance */
    size_t n_dtid, cap_dtid;
} term_tab;

static void term_tab_free(term_tab *t)
{
    mnemo__free(t->slot);
    mnemo__free(t->t);
    mnemo__free(t->arena);
    mnemo__free(t->occ);
    mnemo__free(t->dtid);
    memset(t, 0, sizeof *t);
}

static uint64_t term_hash(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static const char *term_bytes(const term_tab *t, uint32_t id) { return t->arena + t->t[id].off; }

static int term_tab_grow(term_tab *t)
{
    size_t cap = t->cap ? 2 * t->cap : 1024;
    uint32_t *slot = mnemo__calloc(cap, sizeof *slot);
    if (!slot)
        return mnemo__err_nomem("text index: terms");
    for (size_t i = 0; i < t->n; i++) {
        size_t at = t->t[i].hash & (cap - 1);
        while (slot[at])
            at = (at + 1) & (cap - 1);
        slot[at] = (uint32_t)i + 1;
    }
    mnemo__free(t->slot);
    t->slot = slot;
    t->cap = cap;
    return 0;
}

/* The slot of the term: its id + 1 there, or 0 where it would go. */
static size_t term_tab_slot(const term_tab *t, const char *p, uint32_t len, uint64_t h)
{
    size_t at = h & (t->cap - 1);
    for (; t->slot[at]; at = (at + 1) & (t->cap - 1)) {
        const tterm *e = &t->t[t->slot[at] - 1];
        if (e->hash == h && e->len == len && !memcmp(t->arena + e->off, p, len))
            break;
    }
    return at;
}

/* The id of the term, copied in when new. */
static int term_tab_id(term_tab *t, const char *p, uint32_t len, uint32_t *id)
{
    int rc = 0;
    if (2 * (t->n + 1) > t->cap && (rc = term_tab_grow(t)) != 0)
        return rc;
    uint64_t h = term_hash(p, len);
    size_t at = term_tab_slot(t, p, len, h);
    if (t->slot[at]) {
        *id = t->slot[at] - 1;
        return 0;
    }
    if ((rc = mnemo__grow(&t->t, &t->cap_t, t->n + 1, sizeof *t->t, 1024)) != 0 ||
        (rc = mnemo__grow(&t->arena, &t->cap_a, t->used + len, 1, 8192)) != 0)
        return rc;
    memcpy(t->arena + t->used, p, len);
    t->t[t->n] = (tterm){h, (uint32_t)t->used, len, 0, 0};
    t->used += len;
    t->slot[at] = (uint32_t)++t->n;
    *id = (uint32_t)t->n - 1;
    return 0;
}

/* The id + 1 of the term, 0 when the table does not have it. */
static uint32_t term_tab_find(const term_tab *t, const char *p, size_t len)
{
    return t->cap && len <= MNEMO_TEXT_MAX_TERM ? t->slot[term_tab_slot(t, p, (uint32_t)len, term_hash(p, len))] : 0;
}

/* A tokenized text: its distinct terms (ids in the transaction's term table, in order of first
 * appearance) and their positions, grouped by term and ascending within one. */
typedef struct doc_terms {
    uint32_t *tid;   /* n_terms (one allocation with first and pos) */
    uint32_t *first; /* n_terms + 1: term k's positions are pos[first[k] .. first[k + 1]) */
    uint32_t *pos;   /* n */
    size_t n, n_terms;
    uint32_t set_hash; /* of the distinct terms, in no order: tells whether a text gives the same terms */
} doc_terms;

static void doc_terms_free(doc_terms *d)
{
    mnemo__free(d->tid);
    memset(d, 0, sizeof *d);
}

typedef struct pdoc {
    uint64_t iid;
    uint32_t gen; /* the record's index generation (its entry 'F') */
    doc_terms t;
    int live; /* 0 once the record was re-indexed or removed again in the same transaction */
    int f_new; /* a fresh record: its 'F' is written at commit, untracked (see write_new_docs) */
} pdoc;

typedef struct text_txn {
    mnemo_db *db;
    int64_t docs, len; /* this transaction's change */
    int wrote;
    uint64_t seg; /* its segment id: the last 8 bytes of its block keys */
    text_conf conf; /* the settings as the transaction read them (has_conf) */
    int has_conf;
    pdoc *d;
    size_t n_d, cap_d;
    mnemo_u64map live_of; /* iid -> index in d of its live pending document */
    size_t *fixup;        /* a replaced pending document's new index, by map value (see pending_set) */
    size_t cap_fixup;
    term_tab dict; /* the terms of its documents */
} text_txn;

static const char txn_owner = 0;
static atomic_uint_fast64_t delta_seq, deltas_committed;
static uint64_t nonce;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static void nonce_init(void)
{
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        nonce = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
    }
}

/* The live pending document of iid in t, or NULL. */
static pdoc *pending_find(text_txn *t, uint64_t iid)
{
    size_t at;
    if (!mnemo_u64map__get(&t->live_of, iid, &at))
        return NULL;
    at = t->fixup[at];
    return at < t->n_d && t->d[at].live ? &t->d[at] : NULL;
}

/* Makes d (taken over) the pending document of iid, replacing a previous one. */
static int pending_set(text_txn *t, uint64_t iid, uint32_t gen, int f_new, doc_terms *d)
{
    pdoc *prev = pending_find(t, iid);
    if (prev) {
        prev->live = 0;
        doc_terms_free(&prev->t);
    }
    int rc = mnemo__grow(&t->d, &t->cap_d, t->n_d + 1, sizeof *t->d, 64);
    if (rc)
        return rc;
    /* fixup has one slot per map entry, indexed by the entry's value (its first index in d) */
    size_t first;
    if (mnemo_u64map__get(&t->live_of, iid, &first)) {
        t->fixup[first] = t->n_d;
    } else {
        if ((rc = mnemo__grow(&t->fixup, &t->cap_fixup, t->n_d + 1, sizeof *t->fixup, 64)) != 0)
            return rc;
        if (mnemo_u64map__add(&t->live_of, iid, t->n_d) < 0)
            return mnemo__err_nomem("text index: pending postings");
        t->fixup[t->n_d] = t->n_d;
    }
    t->d[t->n_d++] = (pdoc){iid, gen, *d, 1, f_new};
    memset(d, 0, sizeof *d);
    return 0;
}

static void pending_drop(text_txn *t, uint64_t iid)
{
    pdoc *p = pending_find(t, iid);
    if (p) {
        p->live = 0;
        doc_terms_free(&p->t);
    }
}

/* One distinct term of one pending document, for grouping the commit's postings by term. */
typedef struct pref {
    const pdoc *d;
    const uint32_t *pos; /* the term's positions in d: taken while grouping, which reads d anyway, */
    size_t tf;           /* so that encoding, term by term, does not read d's table again */
} pref;

static pref pref_of(const pdoc *d, size_t k)
{
    return (pref){d, d->t.pos + d->t.first[k], d->t.first[k + 1] - d->t.first[k]};
}

static int pref_cmp(const void *pa, const void *pb)
{
    const pref *a = pa, *b = pb;
    return (a->d->iid > b->d->iid) - (a->d->iid < b->d->iid);
}

/* The entry of a term of r.d (text_entry's layout). */
static size_t encode_entry(unsigned char *out, uint64_t iid_delta, pref r)
{
    const pdoc *d = r.d;
    const uint32_t *pos = r.pos;
    size_t tf = r.tf;
    size_t n = mnemo_text__put_varint(out, iid_delta);
    n += mnemo_text__put_varint(out + n, d->t.n);
    n += mnemo_text__put_varint(out + n, (uint64_t)tf << 1 | (d->gen != 0));
    if (d->gen)
        n += mnemo_text__put_varint(out + n, d->gen);
    uint32_t prev = 0;
    for (size_t i = 0; i < tf; i++) {
        n += mnemo_text__put_varint(out + n, pos[i] - prev);
        prev = pos[i];
    }
    return n;
}

static size_t block_key(unsigned char *out, const char *term, size_t len, uint64_t seg)
{
    size_t n = mnemo_text__term_prefix(out, term, len);
    out[n] = TEXT_TAG_BLOCK;
    mnemo__put_be64(out + n + 1, seg);
    return n + 9;
}

typedef struct term_ref {
    uint64_t head; /* the first 8 bytes, big-endian, zero-padded: most comparisons end there */
    const char *p;
    uint32_t len, id;
} term_ref;

static term_ref term_ref_of(const term_tab *tt, uint32_t id)
{
    term_ref r = {0, term_bytes(tt, id), tt->t[id].len, id};
    for (uint32_t i = 0; i < 8; i++) /* zero padding sorts a prefix first, as term_ref_cmp does */
        r.head = r.head << 8 | (i < r.len ? (unsigned char)r.p[i] : 0);
    return r;
}

static int term_ref_cmp(const void *pa, const void *pb)
{
    const term_ref *a = pa, *b = pb;
    if (a->head != b->head)
        return a->head < b->head ? -1 : 1;
    int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Writes the pending postings: one sealed block per distinct term, entries by ascending iid. */
static int write_blocks(text_txn *t, mnemo_txn *txn)
{
    const term_tab *tt = &t->dict;
    size_t m = 0, *start = NULL, n_order = 0;
    pref *g = NULL;
    term_ref *order = NULL;
    unsigned char key[MNEMO_TEXT_MAX_TERM + 12], *val = NULL;
    size_t cap_v = 0;
    int rc = 0;
    for (size_t i = 0; i < t->n_d; i++)
        m += t->d[i].live ? t->d[i].t.n_terms : 0;
    if (!m)
        return 0;
    /* a counting sort of every (document, term) by term id: documents stay in put order */
    if (!(start = mnemo__calloc(tt->n + 1, sizeof *start)) || !(g = mnemo__malloc(m * sizeof *g)) ||
        !(order = mnemo__malloc(tt->n * sizeof *order)))
        rc = mnemo__err_nomem("text index: pending postings");
    for (size_t i = 0; i < t->n_d && !rc; i++)
        for (size_t k = 0; t->d[i].live && k < t->d[i].t.n_terms; k++)
            start[t->d[i].t.tid[k] + 1]++;
    for (size_t id = 0; id < tt->n && !rc; id++) {
        if (start[id + 1]) /* terms only removed records had have no block */
            order[n_order++] = term_ref_of(tt, (uint32_t)id);
        start[id + 1] += start[id];
    }
    for (size_t i = 0; i < t->n_d && !rc; i++)
        for (size_t k = 0; t->d[i].live && k < t->d[i].t.n_terms; k++)
            g[start[t->d[i].t.tid[k]]++] = pref_of(&t->d[i], k); /* start[id] ends at the next group's start */
    /* in key order: the memtable then inserts each key next to the previous one (keyspace hint
     * SORTED_LOADS) instead of searching the skip list from the top, which was most of a commit */
    if (!rc)
        qsort(order, n_order, sizeof *order, term_ref_cmp);
    for (size_t o = 0; o < n_order && !rc; o++) {
        uint32_t id = order[o].id;
        size_t at = id ? start[id - 1] : 0, end = start[id], bytes = 10 + MNEMO_SEAL_OVERHEAD;
        int sorted = 1;
        for (size_t i = at; i < end; i++) {
            bytes += 40 + 5 * g[i].tf;
            sorted &= i == at || g[i - 1].d->iid < g[i].d->iid;
        }
        if (!sorted) /* documents in put order: usually ascending ids already */
            qsort(g + at, end - at, sizeof *g, pref_cmp);
        if ((rc = mnemo__grow(&val, &cap_v, 2 * bytes, 1, 4096)) != 0)
            break;
        unsigned char *p = val + bytes; /* the payload, sealed into val below */
        size_t pl = 0;
        uint64_t prev = 0;
        for (size_t i = at; i < end; i++) {
            pl += encode_entry(p + pl, g[i].d->iid - prev, g[i]);
            prev = g[i].d->iid;
        }
        size_t vl = mnemo__seal(val, p, pl);
        rc = mnemo_txn__put_untracked(t->db, txn, MNEMO_CF_TEXT_INDEX, key,
                                      block_key(key, order[o].p, order[o].len, t->seg), val, vl);
    }
    mnemo__free(order);
    mnemo__free(val);
    mnemo__free(start);
    mnemo__free(g);
    return rc;
}

/* The entries 'F' of the records this transaction created, untracked like the blocks: a fresh
 * internal id is the transaction's own (ids are never reused), so no other writer writes its
 * entry, and the record key, written tracked by the record room in the same transaction, orders
 * writers of the same record. Tracked, each cost a write-batch index insert and a validation. */
static int write_new_docs(text_txn *t, mnemo_txn *txn)
{
    int rc = 0;
    for (size_t i = 0; i < t->n_d && !rc; i++) {
        const pdoc *p = &t->d[i];
        if (!p->live || !p->f_new)
            continue;
        unsigned char key[9], pl[DOC_PAYLOAD_MAX], v[DOC_PAYLOAD_MAX + MNEMO_SEAL_OVERHEAD];
        doc_key(key, p->iid);
        size_t vl = mnemo__seal(v, pl, doc_payload(pl, p->t.n, p->gen, p->t.set_hash));
        rc = mnemo_txn__put_untracked(t->db, txn, MNEMO_CF_TEXT_INDEX, key, 9, v, vl);
    }
    return rc;
}

static int txn_before(mnemo_txn *txn, void *arg)
{
    text_txn *t = arg;
    int rc = write_new_docs(t, txn);
    if (!rc)
        rc = write_blocks(t, txn);
    if (rc || (!t->docs && !t->len))
        return rc;
    unsigned char key[18], v[16];
    key[0] = TEXT_MK_STATS;
    key[1] = 1;
    mnemo__put_be64(key + 2, nonce);
    mnemo__put_be64(key + 10, atomic_fetch_add(&delta_seq, 1));
    mnemo__put_be64(v, (uint64_t)t->docs);
    mnemo__put_be64(v + 8, (uint64_t)t->len);
    t->wrote = 1;
    return mnemo_txn__put_sealed(t->db, txn, MNEMO_CF_TEXT_INDEX, key, sizeof key, v, sizeof v);
}

static void fold(mnemo_db *db);

static void txn_after(mnemo_txn *txn, void *arg, int committed)
{
    (void)txn;
    text_txn *t = arg;
    mnemo_db *db = t->db;
    int wrote = t->wrote;
    for (size_t i = 0; i < t->n_d; i++)
        doc_terms_free(&t->d[i].t);
    mnemo__free(t->d);
    mnemo__free(t->fixup);
    mnemo_u64map__free(&t->live_of);
    term_tab_free(&t->dict);
    mnemo__free(t);
    if (committed && wrote && atomic_fetch_add(&deltas_committed, 1) % FOLD_EVERY == FOLD_EVERY - 1)
        fold(db);
}

/* The transaction's share, registered on first use. */
static int text_txn_of(text_txn **out, mnemo_db *db, mnemo_txn *txn)
{
    text_txn *t = mnemo_txn__hook_arg(txn, db, &txn_owner);
    if (!t) {
        if (!(t = mnemo__calloc(1, sizeof *t)))
            return mnemo__err_nomem("text index");
        t->db = db;
        pthread_once(&nonce_once, nonce_init);
        /* unique per transaction: a process's nonce is random, its counter never repeats */
        t->seg = nonce + atomic_fetch_add(&delta_seq, 1) * 0x9E3779B97F4A7C15ull;
        mnemo_txn_hook h = {&txn_owner, txn_before, txn_after, t, db};
        int rc = mnemo_txn__add_hook(txn, &h);
        if (rc) {
            mnemo__free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

static int add_delta(text_txn *t, int64_t docs, int64_t len)
{
    t->docs += docs;
    t->len += len;
    return 0;
}

int mnemo_text__pending(mnemo_db *db, mnemo_txn *txn, const char *term, size_t len, mnemo_text_pending_fn cb, void *arg)
{
    text_txn *t = txn ? mnemo_txn__hook_arg(txn, db, &txn_owner) : NULL;
    uint32_t id = t ? term_tab_find(&t->dict, term, len) : 0;
    unsigned char buf[10 + 3 * 10 + 5 * 256], *big = NULL;
    int rc = 0;
    for (size_t i = 0; id && i < t->n_d && !rc; i++) {
        const pdoc *d = &t->d[i];
        size_t k = 0, hi = d->live ? d->t.n_terms : 0;
        while (k < hi && d->t.tid[k] != id - 1) /* a transaction's own search: rare, a scan will do */
            k++;
        if (k >= hi)
            continue;
        pref r = pref_of(d, k);
        unsigned char *p = buf;
        if (40 + 5 * r.tf > sizeof buf) {
            mnemo__free(big);
            if (!(p = big = mnemo__malloc(40 + 5 * r.tf)))
                return mnemo__err_nomem("mnemo_text_search: pending postings");
        }
        size_t n = encode_entry(p, 0, r), a = 0;
        text_entry e;
        a = mnemo_text__decode_entry(&e, p, n, 0);
        a -= e.pos_len; /* the positions are the entry's tail */
        rc = cb(arg, d->iid, (uint32_t)d->t.n, (uint32_t)r.tf, p + a, n - a);
    }
    mnemo__free(big);
    return rc;
}

/* ---- corpus statistics ---- */

typedef struct stats_scan {
    uint64_t docs, len;
    unsigned char (*keys)[18];
    size_t n_keys, cap_keys;
} stats_scan;

static int scan_stats(stats_scan *s, mnemo_db *db, mnemo_txn *txn, int collect)
{
    unsigned char lo = TEXT_MK_STATS, hi = TEXT_MK_STATS + 1;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, db, txn, MNEMO_CF_TEXT_INDEX, &lo, 1, &hi, 1);
    if (rc)
        return rc;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl, pl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const void *v = mnemo_cursor__value(c, &vl), *p;
        int is_base = kl == 2 && k[1] == 0, is_delta = kl == 18 && k[1] == 1;
        if ((!is_base && !is_delta) || mnemo__unseal(v, vl, &p, &pl) || pl != 16) {
            rc = mnemo__err(MNEMO_ECORRUPT, "text index: corpus statistics key 'S' (%zu bytes) is damaged", kl);
            break;
        }
        s->docs += mnemo__get_be64(p);
        s->len += mnemo__get_be64((const unsigned char *)p + 8);
        if (collect && is_delta) {
            if ((rc = mnemo__grow(&s->keys, &s->cap_keys, s->n_keys + 1, sizeof *s->keys, 64)) != 0)
                break;
            memcpy(s->keys[s->n_keys++], k, 18);
        }
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "text index statistics");
    mnemo_cursor__close(c);
    return rc;
}

int mnemo_text__stats(uint64_t *docs, uint64_t *total_len, mnemo_db *db, mnemo_txn *txn)
{
    stats_scan s = {0};
    int rc = scan_stats(&s, db, txn, 0);
    if (rc)
        return rc;
    const text_txn *t = txn ? mnemo_txn__hook_arg(txn, db, &txn_owner) : NULL;
    if (t) {
        s.docs += (uint64_t)t->docs;
        s.len += (uint64_t)t->len;
    }
    /* a sum below zero would mean damage; report what is there rather than wrap around */
    *docs = (int64_t)s.docs < 0 ? 0 : s.docs;
    *total_len = (int64_t)s.len < 0 ? 0 : s.len;
    return 0;
}

/* Folds the deltas into the base in one transaction. Its only tracked keys are the base and the
 * deltas it deletes, which only another fold writes; deltas committed after its snapshot are
 * neither counted nor deleted, so the sum stays exact. */
static int fold_op(mnemo_txn *txn, void *arg)
{
    mnemo_db *db = arg;
    stats_scan s = {0};
    int rc = scan_stats(&s, db, txn, 1);
    if (!rc && s.n_keys >= FOLD_MIN_DELTAS) {
        unsigned char bk[2] = {TEXT_MK_STATS, 0}, v[16];
        mnemo__put_be64(v, s.docs);
        mnemo__put_be64(v + 8, s.len);
        rc = mnemo_txn__put_sealed(db, txn, MNEMO_CF_TEXT_INDEX, bk, 2, v, 16);
        for (size_t i = 0; i < s.n_keys && !rc; i++)
            rc = mnemo_txn__delete(db, txn, MNEMO_CF_TEXT_INDEX, s.keys[i], 18);
    }
    mnemo__free(s.keys);
    return rc;
}

/* An optimisation only: a failure (a conflicting fold, a full disk) leaves the deltas for later. */
static void fold(mnemo_db *db)
{
    mnemo_txn_retry once = {MNEMO_TXN_RETRY_VERSION, 1, 0, 0};
    (void)mnemo_txn_run(db, 0, fold_op, db, &once);
}

/* ---- postings of one record ---- */

static int add_occ(void *arg, const char *term, size_t len, uint32_t pos)
{
    term_tab *t = arg;
    uint32_t id;
    int rc = term_tab_id(t, term, (uint32_t)len, &id);
    if (rc)
        return rc;
    tterm *e = &t->t[id];
    if (e->stamp != t->doc) { /* the document's first occurrence of the term */
        if (t->n_dtid == t->cap_dtid &&
            (rc = mnemo__grow(&t->dtid, &t->cap_dtid, t->n_dtid + 1, sizeof *t->dtid, 256)) != 0)
            return rc;
        e->stamp = t->doc;
        e->local = (uint32_t)t->n_dtid;
        t->dtid[t->n_dtid++] = id;
    }
    if (t->n_occ == t->cap_occ && (rc = mnemo__grow(&t->occ, &t->cap_occ, t->n_occ + 1, sizeof *t->occ, 1024)) != 0)
        return rc;
    t->occ[t->n_occ++] = (docc){e->local, pos};
    return 0;
}

/* Tokenizes text into d, its terms added to tt: positions grouped by term (a counting sort by
 * the term's index in the document keeps them ascending within a term). */
static int tokenize_doc(doc_terms *d, term_tab *tt, const mnemo_text_cfg *cfg, const char *text, size_t len)
{
    memset(d, 0, sizeof *d);
    if (++tt->doc == 0) { /* the stamps wrapped around: forget them all */
        for (size_t i = 0; i < tt->n; i++)
            tt->t[i].stamp = 0;
        tt->doc = 1;
    }
    tt->n_occ = tt->n_dtid = 0;
    int rc = mnemo_text__tokenize(text, len, cfg, add_occ, tt, NULL, "text index: record content");
    size_t n = tt->n_occ, k = tt->n_dtid;
    if (rc || !n)
        return rc;
    if (!(d->tid = mnemo__malloc((2 * k + 1 + n) * sizeof *d->tid)))
        return mnemo__err_nomem("text index: record content");
    d->first = d->tid + k;
    d->pos = d->first + k + 1;
    d->n = n;
    d->n_terms = k;
    memcpy(d->tid, tt->dtid, k * sizeof *d->tid);
    memset(d->first, 0, (k + 1) * sizeof *d->first);
    for (size_t i = 0; i < n; i++)
        d->first[tt->occ[i].k + 1]++;
    for (size_t i = 0; i < k; i++)
        d->first[i + 1] += d->first[i];
    for (size_t i = 0; i < n; i++) /* first[j] ends at the start of group j + 1 ... */
        d->pos[d->first[tt->occ[i].k]++] = tt->occ[i].pos;
    memmove(d->first + 1, d->first, k * sizeof *d->first); /* ... and moves back */
    d->first[0] = 0;
    uint64_t h = 0;
    for (size_t i = 0; i < k; i++)
        h += tt->t[d->tid[i]].hash;
    d->set_hash = (uint32_t)(h ^ h >> 32);
    return 0;
}

/* A record's entry ('F'): its length in terms, the generation of its postings and the hash of
 * its distinct terms. */
typedef struct doc_entry {
    int exists;
    uint64_t len, gen;
    uint32_t set_hash;
} doc_entry;

static int read_doc(doc_entry *e, mnemo_db *db, mnemo_txn *txn, uint64_t iid)
{
    unsigned char key[9];
    doc_key(key, iid);
    memset(e, 0, sizeof *e);
    char what[96];
    snprintf(what, sizeof what, "text index: the entry of internal id %llu (key 'F')", (unsigned long long)iid);
    char *raw;
    size_t vl;
    int rc = mnemo_txn__get_sealed(&raw, &vl, db, txn, MNEMO_CF_TEXT_INDEX, key, 9, 0, what);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    const unsigned char *v = (const unsigned char *)raw;
    size_t a = mnemo_text__get_varint(v, vl, &e->len), b = a ? mnemo_text__get_varint(v + a, vl - a, &e->gen) : 0;
    if (!b || vl != a + b + 4 || e->gen > UINT32_MAX) {
        mnemo__free(raw);
        return mnemo__err(MNEMO_ECORRUPT, "%s is damaged", what);
    }
    e->set_hash = mnemo__get_be32(v + a + b);
    mnemo__free(raw);
    e->exists = 1;
    return 0;
}

static int write_doc(mnemo_db *db, mnemo_txn *txn, uint64_t iid, uint64_t len, uint32_t gen, uint32_t set_hash)
{
    unsigned char key[9], v[DOC_PAYLOAD_MAX];
    doc_key(key, iid);
    return mnemo_txn__put_sealed(db, txn, MNEMO_CF_TEXT_INDEX, key, 9, v, doc_payload(v, len, gen, set_hash));
}

/* The record's stored postings (generation e->gen) are dead from this commit on: a kill key per
 * distinct term of the content they were made from ('P' term 0x00 0x00 iid gen, tracked like the
 * 'F' key). Postings still pending in this transaction are just dropped. 1 in *pending then. */
static int kill_postings(mnemo_db *db, mnemo_txn *txn, text_txn *t, const mnemo_text_cfg *cfg, const doc_entry *e,
                         uint64_t iid, const char *text, size_t len, int *pending)
{
    *pending = pending_find(t, iid) != NULL;
    if (*pending) {
        pending_drop(t, iid);
        return 0;
    }
    doc_terms old;
    int rc = tokenize_doc(&old, &t->dict, cfg, text, len);
    /* its terms are found again by tokenizing the old content: a tokenizer that changed since
     * (another libunistring or Snowball) would leave postings no kill key names */
    if (!rc && (old.n != e->len || old.set_hash != e->set_hash))
        rc = mnemo__err(MNEMO_ECORRUPT, "text index: the content of internal id %llu no longer gives the terms it was "
                                        "indexed with (key 'F'; was the tokenizer's library upgraded?): rebuild the "
                                        "index with mnemo_text_disable and mnemo_text_enable",
                        (unsigned long long)iid);
    unsigned char key[MNEMO_TEXT_MAX_TERM + 16], seal[MNEMO_SEAL_OVERHEAD];
    size_t sl = mnemo__seal(seal, "", 0);
    for (size_t k = 0; k < old.n_terms && !rc; k++) {
        uint32_t id = old.tid[k];
        size_t n = mnemo_text__kill_key(key, term_bytes(&t->dict, id), t->dict.t[id].len, iid, (uint32_t)e->gen);
        rc = mnemo_txn__put(db, txn, MNEMO_CF_TEXT_INDEX, key, n, seal, sl);
    }
    doc_terms_free(&old);
    return rc;
}

enum { INDEX_PUT, INDEX_NEW, INDEX_BUILD };

/* (Re)indexes a record's content inside txn; old_text is the content it had (NULL when new).
 * mode: INDEX_PUT; INDEX_NEW, a fresh internal id (ids are never reused: no entry to read);
 * INDEX_BUILD, leave a record that has an entry. */
static int index_record(mnemo_db *db, mnemo_txn *txn, const mnemo_text_cfg *cfg, uint64_t iid, const char *text,
                        size_t len, const char *old_text, size_t old_len, int mode)
{
    text_txn *t;
    int rc = text_txn_of(&t, db, txn);
    if (rc)
        return rc;
    /* the transaction's own pending document is the record's entry as the transaction sees it
     * (a fresh record's 'F' is not written before the commit) */
    doc_entry old = {0};
    const pdoc *p = pending_find(t, iid);
    size_t seen;
    int f_new = 0;
    if (p) {
        old = (doc_entry){1, p->t.n, p->gen, p->t.set_hash};
        f_new = p->f_new;
    } else if (mode == INDEX_NEW) {
        f_new = !mnemo_u64map__get(&t->live_of, iid, &seen); /* else removed in this txn: 'F' tracked */
    } else {
        rc = read_doc(&old, db, txn, iid);
    }
    if (rc || (old.exists && mode == INDEX_BUILD))
        return rc;
    if (old.exists && !old_text)
        return mnemo__err(MNEMO_ECORRUPT, "text index: internal id %llu has an entry (key 'F') but no stored record",
                          (unsigned long long)iid);
    doc_terms d;
    int pending = 0;
    if (old.exists && (rc = kill_postings(db, txn, t, cfg, &old, iid, old_text, old_len, &pending)) != 0)
        return rc;
    if (old.exists && !pending && old.gen == UINT32_MAX)
        return mnemo__err(MNEMO_EFULL, "text index: internal id %llu was re-indexed 2^32 times",
                          (unsigned long long)iid);
    /* a new generation when stored postings die, so their kill keys never match the new ones */
    uint32_t gen = old.exists ? (uint32_t)old.gen + !pending : 0;
    if ((rc = tokenize_doc(&d, &t->dict, cfg, text, len)) != 0)
        return rc;
    uint64_t n = d.n;
    uint32_t set_hash = d.set_hash;
    rc = pending_set(t, iid, gen, f_new, &d);
    doc_terms_free(&d);
    if (!rc && !f_new)
        rc = write_doc(db, txn, iid, n, gen, set_hash);
    if (!rc)
        rc = add_delta(t, old.exists ? 0 : 1, (int64_t)n - (int64_t)old.len);
    return rc;
}

/* Marks a transaction that found full text not enabled (a hook with no callbacks). */
static const char conf_absent_owner = 0;

/* The settings, read (tracked) once per transaction: only enable and disable change them, each
 * in a transaction of its own, and the first tracked read already makes them conflict. Their
 * absence is remembered too: without it every record put of a database without full text paid a
 * point read of the settings key (~8 % of a bulk load's instructions). */
static int conf_of(text_conf *c, mnemo_db *db, mnemo_txn *txn)
{
    if (mnemo_txn__hook_arg(txn, db, &conf_absent_owner))
        return MNEMO_ENOTFOUND;
    text_txn *t = mnemo_txn__hook_arg(txn, db, &txn_owner);
    if (t && t->has_conf) {
        *c = t->conf;
        return 0;
    }
    int rc = mnemo_text__conf(c, db, txn, 1);
    if (!rc && (rc = text_txn_of(&t, db, txn)) == 0) {
        t->conf = *c;
        t->has_conf = 1;
    } else if (rc == MNEMO_ENOTFOUND && txn) {
        mnemo_txn_hook mark = {&conf_absent_owner, NULL, NULL, (void *)&conf_absent_owner, db};
        int mrc = mnemo_txn__add_hook(txn, &mark);
        rc = mrc ? mrc : MNEMO_ENOTFOUND;
    }
    return rc;
}

static int on_record_put(mnemo_db *db, mnemo_txn *txn, const mnemo_record *old, const mnemo_record *nw, int replace)
{
    (void)replace;
    text_conf c;
    int rc = conf_of(&c, db, txn);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (old && old->content_len == nw->content_len && !memcmp(old->content, nw->content, nw->content_len))
        return 0; /* same text: postings unchanged (a record stored before enabling is the build's job) */
    return index_record(db, txn, &c.cfg, nw->internal_id, nw->content, nw->content_len, old ? old->content : NULL,
                        old ? old->content_len : 0, old ? INDEX_PUT : INDEX_NEW);
}

static int on_record_delete(mnemo_db *db, mnemo_txn *txn, const mnemo_record *rec)
{
    text_conf c;
    int rc = conf_of(&c, db, txn);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    text_txn *t;
    if (rc || (rc = text_txn_of(&t, db, txn)) != 0)
        return rc;
    const pdoc *p = pending_find(t, rec->internal_id);
    if (p && p->f_new) { /* created in this transaction: its 'F' is not written yet */
        int64_t len = (int64_t)p->t.n;
        pending_drop(t, rec->internal_id);
        return add_delta(t, -1, -len);
    }
    doc_entry old;
    if ((rc = read_doc(&old, db, txn, rec->internal_id)) != 0 || !old.exists)
        return rc;
    int pending;
    rc = kill_postings(db, txn, t, &c.cfg, &old, rec->internal_id, rec->content, rec->content_len, &pending);
    unsigned char dk[9];
    doc_key(dk, rec->internal_id);
    if (!rc)
        rc = mnemo_txn__delete(db, txn, MNEMO_CF_TEXT_INDEX, dk, 9);
    if (!rc)
        rc = add_delta(t, -1, -(int64_t)old.len);
    return rc;
}

static const mnemo_record_listener record_listener = {.on_put = on_record_put, .on_delete_record = on_record_delete};

/* Layout 1 settings: the same payload as layout 2's, version byte 1. 0 when conf holds them. */
static int conf_v1(mnemo_text_options *o, char *stem, mnemo_db *db)
{
    char *raw;
    size_t n;
    int rc = mnemo_txn__get_sealed(&raw, &n, db, NULL, MNEMO_CF_METADATA, TEXT_CONFIG_KEY, strlen(TEXT_CONFIG_KEY), 0,
                                   "the full-text settings (metadata key " TEXT_CONFIG_KEY ")");
    if (rc)
        return rc;
    const unsigned char *v = (const unsigned char *)raw;
    if (n < 19 || n > 19 + MNEMO_TEXT_MAX_LANGUAGE || v[0] != 1) {
        mnemo__free(raw);
        return mnemo__err(MNEMO_ECORRUPT, "the full-text settings (metadata key " TEXT_CONFIG_KEY ") are damaged");
    }
    o->stopwords = v[2];
    o->k1 = mnemo__get_f64(v + 3);
    o->b = mnemo__get_f64(v + 11);
    memcpy(stem, v + 19, n - 19);
    stem[n - 19] = 0;
    o->stem_language = stem;
    mnemo__free(raw);
    return 0;
}

/* A read-write open migrates an index of layout 1: dropped and built again with its settings (a
 * read-only open leaves it, and its searches and record writes are MNEMO_EVERSION). */
static int migrate_layout_1(mnemo_db *db)
{
    text_conf c;
    int rc = mnemo_text__conf(&c, db, NULL, 0);
    if (rc != MNEMO_EVERSION || mnemo_db__options(db)->read_only)
        return rc == MNEMO_ENOTFOUND || rc == MNEMO_EVERSION ? 0 : rc;
    mnemo_text_options o = MNEMO_TEXT_OPTIONS_INIT;
    char stem[MNEMO_TEXT_MAX_LANGUAGE + 1];
    if ((rc = conf_v1(&o, stem, db)) == 0 && (rc = mnemo_text_disable(db)) == 0)
        rc = mnemo_text_enable(db, &o);
    return rc ? mnemo__err(rc, "mnemo_open: rebuilding the full-text index of layout 1 as layout 2: %s",
                           mnemo_errmsg())
              : 0;
}

int mnemo_text__open(mnemo_db *db)
{
    int rc = mnemo_record__listen(db, &record_listener);
    return rc ? rc : migrate_layout_1(db);
}

/* ---- merging a term's blocks ----
 *
 * Every committing transaction adds a block per term it indexed, and re-indexed or removed
 * records leave dead entries behind their kill keys. A merge rewrites a term's blocks into as few
 * as possible (entries by ascending iid, at most MERGE_MAX_ENTRIES a block, dead ones dropped)
 * and deletes the kill keys it applied, in a transaction of its own. It cannot resurrect a
 * posting: a kill key committed after its snapshot names (record, generation), which the copied
 * entry keeps, so it still applies to the merged block. Its written keys are the new blocks
 * (fresh), the old blocks and the kill keys it read, which only another merge of the same term
 * deletes: writers of records never conflict with it, and two merges of a term conflict. */

#define MERGE_MAX_ENTRIES 4096 /* entries per merged block: bounds what a later merge rewrites */
#define MERGE_BATCH_KEYS 4096  /* keys a merge transaction reads before it commits */

typedef struct mkey {
    unsigned char *key, *val; /* key, then the block's payload (NULL for a kill key) */
    size_t kl, vl;
    uint64_t count; /* entries of a block */
} mkey;

typedef struct merge_args {
    mnemo_db *db;
    unsigned char from[MNEMO_TEXT_MAX_TERM + 2]; /* where the batch starts ('P' when starting) */
    unsigned char next[MNEMO_TEXT_MAX_TERM + 2]; /* where the next one does, once this one committed */
    unsigned char hi[MNEMO_TEXT_MAX_TERM + 2]; /* where the keys to merge end */
    size_t from_len, next_len, hi_len;
    int done;
    uint64_t merged; /* terms rewritten */
    mkey *k;
    size_t n, cap;
} merge_args;

static void merge_clear(merge_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        mnemo__free(a->k[i].key);
    a->n = 0;
}

/* The number of entries of a block's payload; -1 when it is malformed. */
static int block_entries(uint64_t *count, const unsigned char *v, size_t n)
{
    text_entry e = {0};
    size_t at = 0, r;
    for (*count = 0; at < n; at += r, ++*count)
        if (!(r = mnemo_text__decode_entry(&e, v + at, n - at, *count ? e.iid : 0)))
            return -1;
    return 0;
}

static int entry_cmp(const void *pa, const void *pb)
{
    const text_entry *a = pa, *b = pb;
    return (a->iid > b->iid) - (a->iid < b->iid);
}

/* Rewrites the term whose keys are a->k[from..to) (kill keys first) when it has dead entries or
 * at least two blocks that are not full. */
static int merge_term(merge_args *a, mnemo_txn *txn, size_t from, size_t to, size_t pl)
{
    size_t n_kills = 0, n_small = 0, total = 0;
    for (size_t i = from; i < to; i++) {
        if (!a->k[i].val)
            n_kills++;
        else if (a->k[i].count < MERGE_MAX_ENTRIES / 2)
            n_small++;
        total += a->k[i].count;
    }
    if (!n_kills && n_small < 2)
        return 0;
    text_kill *kills = mnemo__malloc((n_kills ? n_kills : 1) * sizeof *kills);
    text_entry *e = mnemo__malloc((total ? total : 1) * sizeof *e);
    unsigned char *val = NULL;
    size_t n = 0, cap_v = 0;
    int rc = kills && e ? 0 : mnemo__err_nomem("text index merge");
    for (size_t i = from; i < from + n_kills && !rc; i++)
        kills[i - from] = (text_kill){mnemo__get_be64(a->k[i].key + pl + 1), mnemo__get_be32(a->k[i].key + pl + 9)};
    for (size_t i = from + n_kills; i < to && !rc; i++) {
        const unsigned char *v = a->k[i].val;
        uint64_t prev = 0;
        size_t at = 0, r = 1;
        for (; at < a->k[i].vl && r; at += r) {
            text_entry t;
            if ((r = mnemo_text__decode_entry(&t, v + at, a->k[i].vl - at, prev)) == 0)
                break;
            prev = t.iid;
            if (!mnemo_text__killed(kills, n_kills, t.iid, t.gen))
                e[n++] = t;
        }
        if (!r || at != a->k[i].vl)
            rc = mnemo__err(MNEMO_ECORRUPT, "text index merge: a block of term '%.*s' is damaged", (int)(pl - 2),
                            (const char *)a->k[i].key + 1);
    }
    if (!rc && n)
        qsort(e, n, sizeof *e, entry_cmp);
    unsigned char key[MNEMO_TEXT_MAX_TERM + 12];
    memcpy(key, a->k[from].key, pl);
    key[pl] = TEXT_TAG_MERGED;
    if (n > (size_t)MERGE_MAX_ENTRIES * 65535)
        rc = mnemo__err(MNEMO_EFULL, "text index merge: term '%.*s' has more than %u postings", (int)(pl - 2),
                        (const char *)a->k[from].key + 1, MERGE_MAX_ENTRIES * 65535u);
    /* old blocks first: a merged block may be rewritten under its own key */
    for (size_t i = from; i < to && !rc; i++)
        rc = mnemo_txn__delete(a->db, txn, MNEMO_CF_TEXT_INDEX, a->k[i].key, a->k[i].kl);
    for (size_t c = 0; c < n && !rc; c += MERGE_MAX_ENTRIES) {
        size_t end = c + MERGE_MAX_ENTRIES < n ? c + MERGE_MAX_ENTRIES : n, bytes = 16 + MNEMO_SEAL_OVERHEAD;
        for (size_t i = c; i < end; i++)
            bytes += 40 + e[i].pos_len;
        if ((rc = mnemo__grow(&val, &cap_v, 2 * bytes, 1, 4096)) != 0)
            break;
        unsigned char *p = val + bytes;
        size_t len = 0;
        for (size_t i = c; i < end; i++) {
            len += mnemo_text__put_varint(p + len, e[i].iid - (i > c ? e[i - 1].iid : 0));
            len += mnemo_text__put_varint(p + len, e[i].dl);
            len += mnemo_text__put_varint(p + len, (uint64_t)e[i].tf << 1 | (e[i].gen != 0));
            if (e[i].gen)
                len += mnemo_text__put_varint(p + len, e[i].gen);
            memcpy(p + len, e[i].pos, e[i].pos_len);
            len += e[i].pos_len;
        }
        size_t chunk = c / MERGE_MAX_ENTRIES; /* the first chunk's key ends at its tag */
        key[pl + 1] = (unsigned char)(chunk >> 8);
        key[pl + 2] = (unsigned char)chunk;
        rc = mnemo_txn__put(a->db, txn, MNEMO_CF_TEXT_INDEX, key, pl + (chunk ? TEXT_MERGED_KEY_TAIL : 1), val,
                            mnemo__seal(val, p, len));
    }
    if (!rc)
        a->merged++;
    mnemo__free(val);
    mnemo__free(e);
    mnemo__free(kills);
    return rc;
}

/* Reads the next batch of 'P' keys (whole terms; at least one term) and merges each term. */
static int merge_op(mnemo_txn *txn, void *arg)
{
    merge_args *a = arg;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, a->db, txn, MNEMO_CF_TEXT_INDEX, a->from, a->from_len, a->hi, a->hi_len);
    if (rc)
        return rc;
    merge_clear(a);
    a->merged = 0;
    size_t term_start = 0, pl = 0;
    int more = 0;
    for (mnemo_cursor__first(c); !rc && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl, vl, pvl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        const void *v = mnemo_cursor__value(c, &vl), *pv = NULL;
        const unsigned char *z = kl > 1 ? memchr(k + 1, 0, kl - 1) : NULL;
        size_t kpl = z ? (size_t)(z - k) + 1 : 0;
        int kill = kpl && kl == kpl + TEXT_KILL_KEY_TAIL && k[kpl] == TEXT_TAG_KILL;
        int block = kpl && TEXT_IS_BLOCK(k + kpl, kl - kpl) && !mnemo__unseal(v, vl, &pv, &pvl);
        if (!kill && !block) {
            rc = mnemo__err(MNEMO_ECORRUPT, "text index merge: key 'P' %.*s (%zu bytes) is damaged",
                            (int)(kpl ? kpl - 2 : kl - 1), (const char *)k + 1, kl);
            break;
        }
        if (a->n && (kpl != pl || memcmp(k, a->k[term_start].key, pl))) { /* a new term */
            if ((rc = merge_term(a, txn, term_start, a->n, pl)) != 0)
                break;
            if (a->n >= MERGE_BATCH_KEYS) {
                more = 1;
                memcpy(a->next, k, kpl); /* resume at this term */
                a->next_len = kpl;
                break;
            }
            term_start = a->n;
        }
        pl = kpl;
        if ((rc = mnemo__grow(&a->k, &a->cap, a->n + 1, sizeof *a->k, 256)) != 0)
            break;
        mkey *m = &a->k[a->n];
        memset(m, 0, sizeof *m);
        if (!(m->key = mnemo__malloc(kl + (block ? pvl : 0) + 1))) {
            rc = mnemo__err_nomem("text index merge");
            break;
        }
        memcpy(m->key, k, kl);
        m->kl = kl;
        if (block) {
            m->val = m->key + kl;
            memcpy(m->val, pv, pvl);
            m->vl = pvl;
            if (block_entries(&m->count, m->val, pvl)) {
                mnemo__free(m->key);
                rc = mnemo__err(MNEMO_ECORRUPT, "text index merge: a block of term '%.*s' is damaged", (int)(pl - 2),
                                (const char *)k + 1);
                break;
            }
        }
        a->n++;
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "text index merge");
    mnemo_cursor__close(c);
    if (!rc && !more && a->n > term_start)
        rc = merge_term(a, txn, term_start, a->n, pl);
    a->done = !more;
    merge_clear(a);
    return rc;
}

/* Merges the blocks of the terms in [lo, hi), batch by batch (each batch a transaction, retried
 * on a conflict). *merged (may be NULL) gets the number of terms rewritten. */
static int merge_range(mnemo_db *db, const unsigned char *lo, size_t lo_len, const unsigned char *hi, size_t hi_len,
                       uint64_t *merged)
{
    merge_args *a = mnemo__calloc(1, sizeof *a);
    if (!a)
        return mnemo__err_nomem("text index merge");
    a->db = db;
    memcpy(a->from, lo, lo_len);
    a->from_len = lo_len;
    memcpy(a->hi, hi, hi_len);
    a->hi_len = hi_len;
    uint64_t total = 0;
    int rc = 0;
    while (!rc && !a->done) {
        rc = mnemo_txn_run(db, 0, merge_op, a, NULL);
        total += a->merged;
        memcpy(a->from, a->next, a->next_len);
        a->from_len = a->next_len;
    }
    if (merged)
        *merged = total;
    mnemo__free(a->k);
    mnemo__free(a);
    return rc;
}

static int merge_all(mnemo_db *db, uint64_t *merged)
{
    unsigned char lo = TEXT_MK_POSTING, hi = TEXT_MK_POSTING + 1;
    return merge_range(db, &lo, 1, &hi, 1, merged);
}

int mnemo_text__merge_term(mnemo_db *db, const char *term, size_t len)
{
    unsigned char lo[MNEMO_TEXT_MAX_TERM + 2], hi[MNEMO_TEXT_MAX_TERM + 2];
    size_t n = mnemo_text__term_prefix(lo, term, len);
    memcpy(hi, lo, n);
    hi[n - 1] = 1;
    return merge_range(db, lo, n, hi, n, NULL);
}

/* ---- enable, disable, info ---- */

typedef struct enable_args {
    mnemo_db *db;
    text_conf conf;
    char after[MNEMO_RECORD_MAX_ID + 1], next[MNEMO_RECORD_MAX_ID + 1];
    size_t after_len, next_len;
    int started, next_done;
    uint64_t done, total;
} enable_args;

static int same_settings(const text_conf *a, const text_conf *b)
{
    return !strcmp(a->cfg.stem, b->cfg.stem) && a->cfg.stopwords == b->cfg.stopwords && a->k1 == b->k1 &&
           a->b == b->b;
}

static int declare_op(mnemo_txn *txn, void *arg)
{
    enable_args *a = arg;
    text_conf cur;
    int rc = mnemo_text__conf(&cur, a->db, txn, 1);
    if (rc == MNEMO_ENOTFOUND)
        return write_conf(a->db, txn, &a->conf);
    if (rc)
        return rc;
    if (cur.state == TEXT_READY)
        return mnemo__err(MNEMO_EEXISTS, "mnemo_text_enable: full text is already enabled (stemming '%s', stop words "
                                         "%s); mnemo_text_disable first to change its settings",
                          cur.cfg.stem[0] ? cur.cfg.stem : "none", cur.cfg.stopwords ? "on" : "off");
    if (!same_settings(&cur, &a->conf))
        return mnemo__err(MNEMO_EINVAL, "mnemo_text_enable: a build with other settings (stemming '%s', stop words %s) "
                                        "is under way or was interrupted; resume it with those settings or disable it",
                          cur.cfg.stem[0] ? cur.cfg.stem : "none", cur.cfg.stopwords ? "on" : "off");
    return 0; /* resume the interrupted build */
}

static int require_building(enable_args *a, mnemo_txn *txn)
{
    text_conf cur;
    int rc = mnemo_text__conf(&cur, a->db, txn, 1);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_text_enable: full text was disabled while being built");
    if (!rc && (cur.state != TEXT_BUILDING || !same_settings(&cur, &a->conf)))
        rc = mnemo__err(MNEMO_EBUSY, "mnemo_text_enable: the settings changed while the index was being built");
    return rc;
}

/* Indexes the next batch of stored records; records are read tracked, so one changed meanwhile
 * makes the batch conflict and run again. */
static int backfill_op(mnemo_txn *txn, void *arg)
{
    enable_args *a = arg;
    int rc = require_building(a, txn);
    if (rc)
        return rc;
    mnemo_cursor *c;
    if ((rc = mnemo_cursor__open(&c, a->db, txn, MNEMO_CF_RECORDS, NULL, 0, NULL, 0)) != 0)
        return rc;
    if (a->started) {
        char lo[MNEMO_RECORD_MAX_ID + 2];
        memcpy(lo, a->after, a->after_len);
        lo[a->after_len] = 0; /* the smallest key after `after` */
        mnemo_cursor__seek(c, lo, a->after_len + 1);
    } else {
        mnemo_cursor__first(c);
    }
    char (*ids)[MNEMO_RECORD_MAX_ID + 1] = mnemo__malloc(BACKFILL_BATCH * sizeof *ids);
    size_t n = 0;
    if (!ids)
        rc = mnemo__err_nomem("mnemo_text_enable");
    for (; !rc && n < BACKFILL_BATCH && mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const char *k = mnemo_cursor__key(c, &kl);
        memcpy(ids[n], k, kl);
        ids[n++][kl] = '\0';
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_text_enable");
    mnemo_cursor__close(c);
    for (size_t i = 0; i < n && !rc; i++) {
        mnemo_record *r;
        if ((rc = mnemo_record__load(&r, a->db, txn, ids[i], strlen(ids[i]), 1)) != 0)
            break;
        rc = index_record(a->db, txn, &a->conf.cfg, r->internal_id, r->content, r->content_len, NULL, 0, INDEX_BUILD);
        mnemo_record_free(r);
    }
    a->next_len = n ? strlen(ids[n - 1]) : a->after_len;
    memcpy(a->next, n ? ids[n - 1] : a->after, a->next_len);
    a->next_done = n < BACKFILL_BATCH;
    a->done += n;
    mnemo__free(ids);
    return rc;
}

static int ready_op(mnemo_txn *txn, void *arg)
{
    enable_args *a = arg;
    int rc = require_building(a, txn);
    if (rc)
        return rc;
    a->conf.state = TEXT_READY;
    rc = write_conf(a->db, txn, &a->conf);
    a->conf.state = TEXT_BUILDING;
    return rc;
}

int mnemo_text_enable(mnemo_db *db, const mnemo_text_options *opts)
{
    static const char fn[] = "mnemo_text_enable";
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, NULL, fn);
    if (rc)
        return rc;
    static const mnemo_text_options defaults = MNEMO_TEXT_OPTIONS_INIT;
    const mnemo_text_options *o = opts ? opts : &defaults;
    if (o->version > MNEMO_TEXT_OPTIONS_VERSION)
        return mnemo__err(MNEMO_EINVAL, "%s: options version %u is newer than this library (%u)", fn, o->version,
                          MNEMO_TEXT_OPTIONS_VERSION);
    if ((rc = mnemo_text__check_bm25(o->k1, o->b, fn)) != 0)
        return rc;
    enable_args *a = mnemo__calloc(1, sizeof *a);
    if (!a)
        return mnemo__err_nomem(fn);
    a->db = db;
    a->conf.state = TEXT_BUILDING;
    a->conf.cfg.stopwords = o->stopwords != 0;
    a->conf.k1 = o->k1 > 0 ? o->k1 : TEXT_DEFAULT_K1;
    a->conf.b = o->b > 0 ? o->b : TEXT_DEFAULT_B;
    const char *lang = o->stem_language;
    if (lang && *lang && strcmp(lang, "none")) {
        if (strlen(lang) > MNEMO_TEXT_MAX_LANGUAGE)
            rc = mnemo__err(MNEMO_EINVAL, "%s: stemming language name is longer than %d bytes", fn,
                            MNEMO_TEXT_MAX_LANGUAGE);
        else if ((rc = mnemo_text__check_language(lang)) == 0)
            snprintf(a->conf.cfg.stem, sizeof a->conf.cfg.stem, "%s", lang);
        else
            rc = mnemo__err(rc, "%s: %s", fn, mnemo_errmsg());
    }
    if (!rc)
        rc = mnemo_txn_run(db, 0, declare_op, a, NULL);
    a->total = mnemo_db__estimate_keys(db, MNEMO_CF_RECORDS);
    for (int last = 0; !rc && !last;) {
        rc = mnemo_txn_run(db, 0, backfill_op, a, NULL);
        if (rc)
            break;
        a->after_len = a->next_len; /* the batch committed: move on */
        memcpy(a->after, a->next, a->next_len);
        a->started = 1;
        last = a->next_done;
        if (o->progress)
            o->progress(a->done, a->total > a->done ? a->total : a->done, o->progress_arg);
    }
    /* the build wrote a block per term and batch: one block per term is smaller and faster to read */
    if (!rc)
        rc = merge_all(db, NULL);
    if (!rc)
        rc = mnemo_txn_run(db, 0, ready_op, a, NULL);
    mnemo__free(a);
    return rc;
}

/* Deletes up to a batch of text_index keys; *more says whether any are left. */
typedef struct drop_args {
    mnemo_db *db;
    int more;
} drop_args;

#define DROP_BATCH 4096

static int drop_batch_op(mnemo_txn *txn, void *arg)
{
    drop_args *a = arg;
    mnemo_cursor *c;
    int rc = mnemo_cursor__open(&c, a->db, txn, MNEMO_CF_TEXT_INDEX, NULL, 0, NULL, 0);
    if (rc)
        return rc;
    size_t n = 0;
    for (mnemo_cursor__first(c); !rc && n < DROP_BATCH && mnemo_cursor__valid(c); mnemo_cursor__next(c), n++) {
        size_t kl;
        const void *k = mnemo_cursor__key(c, &kl);
        rc = mnemo_txn__delete(a->db, txn, MNEMO_CF_TEXT_INDEX, k, kl);
    }
    if (!rc)
        rc = mnemo_cursor__status(c, "mnemo_text_disable");
    mnemo_cursor__close(c);
    a->more = n == DROP_BATCH;
    return rc;
}

static int undeclare_op(mnemo_txn *txn, void *arg)
{
    drop_args *a = arg;
    text_conf cur;
    int rc = mnemo_text__conf(&cur, a->db, txn, 1);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_text_disable: full text is not enabled");
    if (rc == MNEMO_EVERSION) /* an index of an older layout: disabling is how it goes */
        rc = 0;
    return rc ? rc : mnemo_txn__delete(a->db, txn, MNEMO_CF_METADATA, TEXT_CONFIG_KEY, strlen(TEXT_CONFIG_KEY));
}

int mnemo_text_disable(mnemo_db *db)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__write(&guard, db, NULL, "mnemo_text_disable");
    if (rc)
        return rc;
    /* the settings go first: from that commit on no writer adds postings */
    drop_args a = {db, 1};
    rc = mnemo_txn_run(db, 0, undeclare_op, &a, NULL);
    while (!rc && a.more)
        rc = mnemo_txn_run(db, 0, drop_batch_op, &a, NULL);
    return rc;
}

int mnemo_text_info_get(mnemo_text_info *out, mnemo_db *db, mnemo_txn *txn)
{
    MNEMO_GUARD(guard);
    int rc = mnemo_guard__txn(&guard, db, txn, "mnemo_text_info_get");
    if (rc)
        return rc;
    if (!out)
        return mnemo__err(MNEMO_EINVAL, "mnemo_text_info_get: out is NULL");
    static const size_t sizes[] = {sizeof(mnemo_text_info)};
    size_t bytes;
    if ((rc = mnemo__filled_size(&bytes, "mnemo_text_info_get", "mnemo_text_info", out->version, sizes,
                                 MNEMO_TEXT_INFO_VERSION)) != 0)
        return rc;
    text_conf c;
    rc = mnemo_text__conf(&c, db, txn, 0);
    if (rc == MNEMO_ENOTFOUND)
        return mnemo__err(MNEMO_ENOTFOUND, "mnemo_text_info_get: full text is not enabled (mnemo_text_enable)");
    mnemo_text_info info;
    memset(&info, 0, sizeof info);
    if (!rc)
        rc = mnemo_text__stats(&info.documents, &info.total_terms, db, txn);
    if (rc)
        return rc;
    memcpy(info.stem_language, c.cfg.stem, sizeof info.stem_language);
    info.stopwords = c.cfg.stopwords;
    info.k1 = c.k1;
    info.b = c.b;
    info.ready = c.state == TEXT_READY;
    info.version = out->version;
    memcpy(out, &info, bytes);
    return 0;
}
