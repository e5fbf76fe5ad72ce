/* libFuzzer target: the persisted vector index (src/vector/index.c, hnsw.cpp). The first byte
 * selects the mode:
 *   even: the bytes go straight to mnemo_hnsw__load for a fixed space (L2, dim 4, M 4): the
 *         structural check (check_layout) must refuse them or hand out an index that searches,
 *         adds, removes and saves without reading out of bounds;
 *   odd:  through the real open path: the bytes become the snapshot ('H' header, one 'S' chunk,
 *         an 'L' log entry) of a small database holding 24 stored vectors; mnemo_open must load or
 *         rebuild, never fail or crash; a rebuilt index must pass mnemo_vector_check, and any
 *         index must take searches and writes. Bit 1 of the first byte fixes up the checksums and
 *         lengths of the header (so the checks behind them are reached).
 * Seeds: fuzz/corpus/snapshot/ holds real saved snapshots in both modes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "fuzz_common.h"
#include "txn/txn.h"
#include "vector/hnsw.h"

#define FZ_DIM 4
#define FZ_M 4
#define FZ_VECTORS 24

static void die(const char *what, int rc)
{
    fprintf(stderr, "%s: %s %s\n", what, mnemo_strerror(rc), mnemo_errmsg());
    abort();
}

/* Exercises a loaded index: searches (plain, filtered), an add, a remove, a save. */
static int accept_odd(void *arg, uint64_t label)
{
    (void)arg;
    return (int)(label & 1);
}

static void use_index(mnemo_hnsw *h)
{
    float q[FZ_DIM] = {0.5f, -1.0f, 2.0f, 0.25f};
    uint64_t labels[8];
    float dists[8];
    size_t n;
    (void)mnemo_hnsw__search(h, q, 8, 16, NULL, NULL, 0, labels, dists, &n);
    (void)mnemo_hnsw__search(h, q, 8, 16, accept_odd, NULL, 0, labels, dists, &n);
    (void)mnemo_hnsw__search(h, q, 8, 16, accept_odd, NULL, 1, labels, dists, &n); /* steps over refused nodes */
    size_t stride;
    const float *norms, *rows = mnemo_hnsw__rows(h, &stride, &norms);
    volatile float sink = 0;
    for (size_t i = 0; i < mnemo_hnsw__slots(h); i++)
        if (mnemo_hnsw__row_live(h, i))
            sink += rows[i * stride] + norms[i] + (float)mnemo_hnsw__row_label(h, i);
    (void)sink;
    if (mnemo_hnsw__reserve(h, mnemo_hnsw__slots(h) + 1) == 0)
        (void)mnemo_hnsw__add(h, q, 1u << 30);
    (void)mnemo_hnsw__remove(h, 1u << 30);
    (void)mnemo_hnsw__search(h, q, 3, 8, NULL, NULL, 0, labels, dists, &n);
    char *buf;
    size_t len;
    if (mnemo_hnsw__save(h, &buf, &len) == 0)
        mnemo__free(buf);
}

static void direct(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees any read past them */
    if (!copy)
        abort();
    memcpy(copy, data, size);
    mnemo_hnsw *h = NULL;
    int rc = mnemo_hnsw__load(&h, MNEMO_HNSW_L2, FZ_DIM, FZ_M, copy, size);
    if (rc == 0) {
        use_index(h);
        mnemo_hnsw__free(h);
    } else if (rc != MNEMO_ECORRUPT && rc != MNEMO_ENOMEM) {
        die("mnemo_hnsw__load", rc);
    }
    free(copy);
}

static char db_path[300];

static mnemo_db *open_db(void)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    o.vector_dim = FZ_DIM;
    o.hnsw_m = FZ_M;
    mnemo_db *db;
    int rc = mnemo_open(&db, db_path, &o);
    if (rc)
        die("mnemo_open", rc);
    return db;
}

/* Once per process: a database with FZ_VECTORS stored vectors (and two deleted), closed, so
 * its snapshot is saved. */
static void make_db(void)
{
    snprintf(db_path, sizeof db_path, "%s/snap", fz_scratch());
    mnemo_db *db = open_db();
    for (int i = 0; i < FZ_VECTORS + 2; i++) {
        char id[16];
        snprintf(id, sizeof id, "v%02d", i);
        mnemo_record r = {0};
        r.id = id;
        r.content = "x";
        float v[FZ_DIM] = {(float)i, (float)(i % 5), (float)(i % 3) - 1.0f, 0.5f};
        int rc = mnemo_record_put(db, NULL, &r, MNEMO_PUT_INSERT);
        if (!rc)
            rc = mnemo_vector_put(db, NULL, id, v, FZ_DIM);
        if (!rc && i >= FZ_VECTORS)
            rc = mnemo_vector_delete(db, NULL, id);
        if (rc)
            die("setup", rc);
    }
    int rc = mnemo_close(db);
    if (rc)
        die("close", rc);
}

/* Replaces every vector_index key with the fuzzer's snapshot. */
static void write_snapshot(mnemo_db *db, unsigned sel, const uint8_t *data, size_t size)
{
    enum { HDR = 1 + 5 * 8 + 3 * 4 };
    mnemo_batch *b;
    int rc = mnemo_batch__create(&b, db);
    if (rc)
        die("batch", rc);
    unsigned char lo = 0, hi = 0xff;
    mnemo_cursor *c;
    if ((rc = mnemo_cursor__open(&c, db, NULL, MNEMO_CF_VECTOR_INDEX, &lo, 1, &hi, 1)) != 0)
        die("cursor", rc);
    for (mnemo_cursor__first(c); mnemo_cursor__valid(c); mnemo_cursor__next(c)) {
        size_t kl;
        const unsigned char *k = mnemo_cursor__key(c, &kl);
        mnemo_batch__delete(b, MNEMO_CF_VECTOR_INDEX, k, kl);
    }
    mnemo_cursor__close(c);
    /* layout: u16 header length | header | u16 log length | log entry | snapshot bytes */
    size_t p = 0, hl = 0, ll = 0;
    if (size >= 2)
        hl = ((size_t)data[0] << 8 | data[1]) % 128, p = 2;
    hl = hl < size - p ? hl : size - p;
    unsigned char hdr[128] = {0};
    memcpy(hdr, data + p, hl);
    p += hl;
    if (size - p >= 2)
        ll = ((size_t)data[p] << 8 | data[p + 1]) % 512, p += 2;
    ll = ll < size - p ? ll : size - p;
    const uint8_t *log = data + p;
    p += ll;
    const uint8_t *snap = data + p;
    size_t sl = size - p;
    if (sel & 2) { /* a well-formed header around the bytes: version, lengths, checksums */
        hl = HDR;
        hdr[0] = 1;
        mnemo__put_be64(hdr + 1, 1);     /* generation */
        mnemo__put_be64(hdr + 33, sl);   /* length */
        mnemo__put_be32(hdr + 41, sl ? 1 : 0);
        mnemo__put_be32(hdr + 45, mnemo__crc32c(0, snap, sl));
        mnemo__put_be32(hdr + 49, mnemo__crc32c(0, hdr, HDR - 4));
    }
    mnemo_batch__put(b, MNEMO_CF_VECTOR_INDEX, (const unsigned char *)"H", 1, hdr, hl);
    unsigned char key[13] = {'S'};
    mnemo__put_be64(key + 1, hl >= 9 ? mnemo__get_be64(hdr + 1) : 1);
    if (sl)
        mnemo_batch__put(b, MNEMO_CF_VECTOR_INDEX, key, sizeof key, snap, sl);
    if (ll) {
        unsigned char lk[9] = {'L'};
        mnemo__put_be64(lk + 1, (hl >= 17 ? mnemo__get_be64(hdr + 9) : 0) + 1);
        mnemo_batch__put(b, MNEMO_CF_VECTOR_INDEX, lk, sizeof lk, log, ll);
    }
    if ((rc = mnemo_batch__write(b)) != 0)
        die("batch write", rc);
    mnemo_batch__free(b);
}

static void through_open(unsigned sel, const uint8_t *data, size_t size)
{
    if (!db_path[0])
        make_db();
    mnemo_db *db = open_db();
    write_snapshot(db, sel, data, size);
    int rc = mnemo_close(db);
    if (rc)
        die("close", rc);
    db = open_db(); /* loads or rebuilds; must not fail */
    fz_graph_check(db);
    mnemo_vector_stats st = MNEMO_VECTOR_STATS_INIT;
    if ((rc = mnemo_vector_stats_get(&st, db)) != 0)
        die("stats", rc);
    uint64_t n = 0;
    rc = mnemo_vector_check(db, &n);
    /* A rebuilt index comes from vector_data and must agree with it. One that loaded passed the
     * checksums: with the harness fixing them up it may hold other vectors than vector_data
     * (checksums guard against damage, not forgery), which the check must then report. */
    if (st.rebuilds ? rc != 0 || n != FZ_VECTORS : rc != 0 && rc != MNEMO_ECORRUPT)
        die("vector check", rc);
    float q[FZ_DIM] = {3.0f, 1.0f, 0.0f, 0.5f};
    mnemo_vector_hits *h = NULL;
    mnemo_vector_search_options o = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    for (int exact = 0; exact < 2; exact++) {
        o.exact = exact;
        rc = mnemo_vector_search(&h, db, NULL, q, FZ_DIM, 5, &o);
        fz_check_rc(rc, "search");
        for (size_t i = 1; i < h->count; i++)
            if (!(h->hits[i].distance >= h->hits[i - 1].distance) && !isnan(h->hits[i].distance))
                die("search order", 0);
        mnemo_vector_hits_free(h);
    }
    if ((rc = mnemo_vector_put(db, NULL, "v00", q, FZ_DIM)) != 0 ||
        (rc = mnemo_vector_delete(db, NULL, "v00")) != 0)
        die("write after load", rc);
    float v0[FZ_DIM] = {0.0f, 0.0f, -1.0f, 0.5f};
    if ((rc = mnemo_vector_put(db, NULL, "v00", v0, FZ_DIM)) != 0)
        die("restore", rc);
    int forged = !st.rebuilds && mnemo_vector_check(db, NULL) != 0;
    if ((rc = mnemo_close(db)) != 0)
        die("close", rc);
    if (forged) { /* a loaded forged index: an empty header makes the next open rebuild */
        db = open_db();
        write_snapshot(db, 0, (const uint8_t *)"", 0);
        if ((rc = mnemo_close(db)) != 0)
            die("close", rc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        through_open(data[0], data + 1, size - 1);
    else
        direct(data + 1, size - 1);
    return 0;
}
