#include "mputil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mp_name = "test";

void mp_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s[%d]: ", mp_name, (int)getpid());
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (%s)\n", mnemo_errmsg());
    va_end(ap);
    exit(1);
}

void mp_vec_of(float *v, unsigned dim, const char *id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (unsigned j = 0; j < dim; j++)
        v[j] = (float)((h >> (j * 3)) % 1000) / 10.0f + (float)j;
}

long mp_balance(mnemo_db *db, mnemo_txn *t, int a, int *rc)
{
    char k[16];
    void *v;
    size_t vl;
    snprintf(k, sizeof k, "acct%d", a);
    if ((*rc = mnemo_kv_get(&v, &vl, db, t, k, strlen(k))))
        return 0;
    long b = strtol(v, NULL, 10);
    mnemo_free(v);
    return b;
}

int mp_set_balance(mnemo_db *db, mnemo_txn *t, int a, long b)
{
    char k[16], v[32];
    snprintf(k, sizeof k, "acct%d", a);
    snprintf(v, sizeof v, "%ld", b);
    return mnemo_kv_put(db, t, k, strlen(k), v, strlen(v));
}
