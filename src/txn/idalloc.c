/* Id allocation (idalloc.h): one allocator for record internal ids and graph label ids. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "txn/idalloc.h"

int mnemo_idalloc__claim(uint64_t *first, mnemo_db *db, mnemo_txn *txn, const mnemo_idcounter *c, uint64_t n)
{
    char *v;
    size_t len;
    uint64_t next = 0;
    char what[128];
    snprintf(what, sizeof what, "the counter of %s (metadata key %s)", c->what, c->key);
    int rc = mnemo_txn__get_sealed(&v, &len, db, txn, MNEMO_CF_METADATA, c->key, strlen(c->key), 1, what);
    if (rc == 0) {
        if (len == c->width)
            next = c->width == 4 ? mnemo__get_be32((unsigned char *)v) : mnemo__get_be64((unsigned char *)v);
        else
            rc = mnemo__err(MNEMO_ECORRUPT, "%s is damaged (%zu bytes, expected %u)", what, len, c->width);
        mnemo__free(v);
    } else if (rc == MNEMO_ENOTFOUND) {
        rc = 0;
    }
    if (rc)
        return rc;
    if (next == 0)
        next = 1; /* 0 is never an id */
    if (n == 0 || next > c->max || c->max - next < n - 1)
        return mnemo__err(MNEMO_EFULL, "the database has used all %llu %s", (unsigned long long)c->max, c->what);
    /* Stored as the next id never handed out; at the very end of the range that is max + 1, which
     * a 4-byte counter below UINT32_MAX still holds. */
    if ((rc = mnemo_idalloc__set(db, txn, c, next + n)) == 0)
        *first = next;
    return rc;
}

int mnemo_idalloc__set(mnemo_db *db, mnemo_txn *txn, const mnemo_idcounter *c, uint64_t next)
{
    unsigned char v[8];
    if (c->width == 4)
        mnemo__put_be32(v, (uint32_t)next);
    else
        mnemo__put_be64(v, next);
    return mnemo_txn__put_sealed(db, txn, MNEMO_CF_METADATA, c->key, strlen(c->key), v, c->width);
}

void mnemo_idblock__init(mnemo_idblock *b, const mnemo_idcounter *c, uint64_t block)
{
    memset(b, 0, sizeof *b);
    b->counter = c;
    b->block = block;
    pthread_mutex_init(&b->lock, NULL);
}

void mnemo_idblock__destroy(mnemo_idblock *b)
{
    pthread_mutex_destroy(&b->lock);
}

typedef struct claim_arg {
    mnemo_idblock *b;
    uint64_t first, n;
} claim_arg;

static int claim_op(mnemo_txn *txn, void *p)
{
    claim_arg *a = p;
    a->n = a->b->block;
    return mnemo_idalloc__claim(&a->first, mnemo_txn__db(txn), txn, a->b->counter, a->n);
}

int mnemo_idblock__take(uint64_t *id, mnemo_db *db, mnemo_idblock *b)
{
    int rc = 0;
    pthread_mutex_lock(&b->lock);
    if (b->next >= b->limit) {
        /* A transaction of its own, committed before any id of the block is used: the ids of a
         * rolled-back insert are lost, never reused. */
        claim_arg a = {b, 0, 0};
        if ((rc = mnemo_txn__run_op(db, NULL, claim_op, &a)) == 0) {
            b->next = a.first;
            b->limit = a.first + a.n;
        }
    }
    if (!rc)
        *id = b->next++;
    pthread_mutex_unlock(&b->lock);
    return rc;
}
