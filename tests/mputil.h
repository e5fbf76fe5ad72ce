/* Helpers of the multi-process tests (mproc.c, followers.c), programs that run themselves as their
 * other processes. */
#ifndef MNEMO_TESTS_MPUTIL_H
#define MNEMO_TESTS_MPUTIL_H

#include <mnemo/mnemo.h>

/* The program's name in messages (main sets it). */
extern const char *mp_name;

/* Prints "<name>[pid]: <message> (<mnemo_errmsg()>)" and exits with status 1. */
__attribute__((format(printf, 1, 2), noreturn)) void mp_die(const char *fmt, ...);

/* dim floats derived from id: every process makes the same vector of the same id. */
void mp_vec_of(float *v, unsigned dim, const char *id);

/* Bank accounts: kv key "acct<a>" holding a decimal balance (rc: the read's code). */
long mp_balance(mnemo_db *db, mnemo_txn *t, int a, int *rc);
int mp_set_balance(mnemo_db *db, mnemo_txn *t, int a, long b);

#endif
