/* Sealed values (core/coding.h: version byte + crc32c) read and written through a transaction.
 * The seal itself is core's; reading and writing one needs the transaction, so the lowest room
 * that can hold these is this one, and every module above shares them. */
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "txn/txn.h"

int mnemo_txn__put_sealed(mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key, size_t klen, const void *payload,
                          size_t plen)
{
    unsigned char small[256];
    unsigned char *buf = plen + MNEMO_SEAL_OVERHEAD <= sizeof small ? small : mnemo__malloc(plen + MNEMO_SEAL_OVERHEAD);
    if (!buf)
        return mnemo__err_nomem("sealed value");
    int rc = mnemo_txn__put(db, txn, cf, key, klen, buf, mnemo__seal(buf, payload, plen));
    if (buf != small)
        mnemo__free(buf);
    return rc;
}

int mnemo_txn__unseal(const void *v, size_t vl, const char **payload, size_t *plen, const char *what)
{
    const void *p;
    if (mnemo__unseal(v, vl, &p, plen))
        return mnemo__err(MNEMO_ECORRUPT, "%s fails its checksum", what);
    *payload = p;
    return 0;
}

int mnemo_txn__get_sealed(char **val, size_t *vlen, mnemo_db *db, mnemo_txn *txn, mnemo_cf cf, const void *key,
                          size_t klen, int track, const char *what)
{
    char *v;
    size_t n, pl = 0;
    const char *p = NULL;
    int rc = mnemo_txn__get(&v, &n, db, txn, cf, key, klen, track);
    if (rc)
        return rc;
    if ((rc = mnemo_txn__unseal(v, n, &p, &pl, what)) != 0) {
        mnemo__free(v);
        return rc;
    }
    memmove(v, p, pl); /* the payload is shorter than the value: room for the NUL */
    v[pl] = '\0';
    *val = v;
    *vlen = pl;
    return 0;
}
