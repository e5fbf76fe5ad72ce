/* Key-value store: every operation, every error path, iterators against a reference model. */
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"
#include "testutil.h"

static mnemo_db *db;
static void setup(void)
{
    tu_mkdtemp();
    db = tu_open("kv");
}
static void teardown(void)
{
    mnemo_close(db);
    tu_cleanup();
}
TestSuite(kv, .init = setup, .fini = teardown);

/* TU_TEST checks for leaks before .fini closes the db, so tests close it themselves. */
static void close_db(void)
{
    TU_OK(mnemo_close(db));
    db = NULL;
}

TU_TEST(kv, put_get_delete_exists)
{
    TU_OK(mnemo_kv_put(db, NULL, "name", 4, "mnemo", 5));
    TU_RC(mnemo_kv_exists(db, NULL, "name", 4), 1);
    void *v;
    size_t n;
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, "name", 4));
    cr_assert_eq(n, 5);
    cr_assert_str_eq(v, "mnemo", "value comes back NUL-terminated");
    mnemo_free(v);
    TU_OK(mnemo_kv_put(db, NULL, "name", 4, "mnemo2", 6)); /* replace */
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, "name", 4));
    cr_assert_eq(n, 6);
    mnemo_free(v);
    TU_OK(mnemo_kv_delete(db, NULL, "name", 4));
    TU_RC(mnemo_kv_exists(db, NULL, "name", 4), 0);
    void *untouched = (void *)0x1;
    size_t ulen = 77;
    TU_RC(mnemo_kv_get(&untouched, &ulen, db, NULL, "name", 4), MNEMO_ENOTFOUND);
    cr_assert_eq(untouched, (void *)0x1);
    cr_assert_eq(ulen, 77);
    TU_OK(mnemo_kv_delete(db, NULL, "never-there", 11)); /* blind delete is fine */
    close_db();
}

TU_TEST(kv, binary_keys_and_empty_values)
{
    const char key[] = {0, 1, 2, 0, (char)0xff};
    TU_OK(mnemo_kv_put(db, NULL, key, sizeof key, NULL, 0));
    void *v;
    size_t n = 99;
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, key, sizeof key));
    cr_assert_eq(n, 0);
    mnemo_free(v);
    TU_RC(mnemo_kv_exists(db, NULL, key, sizeof key - 1), 0);
    const char val[] = {0, 0, 7};
    TU_OK(mnemo_kv_put(db, NULL, key, 1, val, sizeof val));
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, key, 1));
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(v, val, 3), 0);
    mnemo_free(v);
    close_db();
}

TU_TEST(kv, key_and_value_limits)
{
    char *big = calloc(MNEMO_KV_MAX_KEY + 1, 1);
    memset(big, 'k', MNEMO_KV_MAX_KEY + 1);
    TU_OK(mnemo_kv_put(db, NULL, big, MNEMO_KV_MAX_KEY, "v", 1));
    TU_RC(mnemo_kv_exists(db, NULL, big, MNEMO_KV_MAX_KEY), 1);
    TU_RC(mnemo_kv_put(db, NULL, big, MNEMO_KV_MAX_KEY + 1, "v", 1), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "exceeds the maximum"), "%s", mnemo_errmsg());
    void *v;
    size_t n;
    TU_RC(mnemo_kv_get(&v, &n, db, NULL, big, MNEMO_KV_MAX_KEY + 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_delete(db, NULL, big, MNEMO_KV_MAX_KEY + 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_exists(db, NULL, big, MNEMO_KV_MAX_KEY + 1), MNEMO_EINVAL);
    free(big);
    TU_RC(mnemo_kv_put(db, NULL, "k", 1, "v", (size_t)MNEMO_KV_MAX_VALUE + 1), MNEMO_EINVAL);
    close_db();
}

TU_TEST(kv, null_and_empty_arguments)
{
    void *v;
    size_t n;
    TU_RC(mnemo_kv_put(db, NULL, NULL, 1, "v", 1), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "key is NULL"), "%s", mnemo_errmsg());
    TU_RC(mnemo_kv_put(db, NULL, "k", 0, "v", 1), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "key is empty"), "%s", mnemo_errmsg());
    TU_RC(mnemo_kv_put(db, NULL, "k", 1, NULL, 3), MNEMO_EINVAL);
    TU_RC(mnemo_kv_get(NULL, &n, db, NULL, "k", 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_get(&v, NULL, db, NULL, "k", 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_get(&v, &n, db, NULL, "", 0), MNEMO_EINVAL);
    TU_RC(mnemo_kv_delete(db, NULL, NULL, 0), MNEMO_EINVAL);
    TU_RC(mnemo_kv_exists(db, NULL, NULL, 3), MNEMO_EINVAL);
    TU_RC(mnemo_kv_batch(db, NULL, NULL, 2), MNEMO_EINVAL);
    TU_OK(mnemo_kv_batch(db, NULL, NULL, 0));
    TU_RC(mnemo_kv_iter(NULL, db, NULL, NULL), MNEMO_EINVAL);
    mnemo_iter *it;
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix_len = 3;
    TU_RC(mnemo_kv_iter(&it, db, NULL, &o), MNEMO_EINVAL);
    o = (mnemo_kv_iter_options)MNEMO_KV_ITER_OPTIONS_INIT;
    o.version = 7;
    TU_RC(mnemo_kv_iter(&it, db, NULL, &o), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next(NULL), MNEMO_EINVAL);
    TU_RC(mnemo_iter_seek(NULL, "a", 1), MNEMO_EINVAL);
    const void *k;
    TU_RC(mnemo_iter_key(NULL, &k, &n), MNEMO_EINVAL);
    TU_RC(mnemo_iter_value(NULL, &k, &n), MNEMO_EINVAL);
    mnemo_iter_free(NULL);
    close_db();
}

TU_TEST(kv, batch_is_atomic_and_ordered)
{
    TU_OK(mnemo_kv_put(db, NULL, "gone", 4, "x", 1));
    mnemo_kv_op ops[] = {
        {MNEMO_KV_PUT, "a", 1, "1", 1},
        {MNEMO_KV_PUT, "b", 1, "2", 1},
        {MNEMO_KV_DELETE, "gone", 4, NULL, 0},
        {MNEMO_KV_PUT, "a", 1, "3", 1}, /* later op on the same key wins */
    };
    TU_OK(mnemo_kv_batch(db, NULL, ops, 4));
    void *v;
    size_t n;
    TU_OK(mnemo_kv_get(&v, &n, db, NULL, "a", 1));
    cr_assert_eq(((char *)v)[0], '3');
    mnemo_free(v);
    TU_RC(mnemo_kv_exists(db, NULL, "gone", 4), 0);
    TU_RC(mnemo_kv_exists(db, NULL, "b", 1), 1);

    mnemo_kv_op bad[] = {
        {MNEMO_KV_PUT, "c", 1, "1", 1},
        {MNEMO_KV_DELETE, "b", 1, NULL, 0},
        {MNEMO_KV_PUT, "", 0, "x", 1}, /* empty key: nothing of this batch may land */
    };
    TU_RC(mnemo_kv_batch(db, NULL, bad, 3), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "op 2"), "message names the op: %s", mnemo_errmsg());
    TU_RC(mnemo_kv_exists(db, NULL, "c", 1), 0);
    TU_RC(mnemo_kv_exists(db, NULL, "b", 1), 1);
    mnemo_kv_op badtype[] = {{(mnemo_kv_op_type)9, "c", 1, "1", 1}};
    TU_RC(mnemo_kv_batch(db, NULL, badtype, 1), MNEMO_EINVAL);

    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_kv_batch(db, txn, ops, 2));
    TU_OK(mnemo_txn_rollback(txn));
    mnemo_txn_free(txn);
    close_db();
}

/* Issue 17 item 10: a batch that fails at op 2 after writing ops 0 and 1 inside a caller's
 * transaction poisons it: the commit fails and nothing of the batch (nor of the txn) lands. */
TU_TEST(kv, batch_failing_midway_poisons_txn)
{
    mnemo_kv_op ops[] = {{MNEMO_KV_PUT, "a", 1, "1", 1}, {MNEMO_KV_PUT, "b", 1, "2", 1}, {MNEMO_KV_PUT, "c", 1, "3", 1}};
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_kv_put(db, txn, "before", 6, "x", 1));
    mnemo_kv__fail_batch_op(2);
    TU_RC(mnemo_kv_batch(db, txn, ops, 3), MNEMO_EIO);
    mnemo_kv__fail_batch_op((size_t)-1);
    cr_assert_neq(mnemo_txn_commit(txn), 0, "a transaction holding half a batch committed");
    mnemo_txn_free(txn);
    const char *keys[] = {"a", "b", "c", "before"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(mnemo_kv_exists(db, NULL, keys[i], strlen(keys[i])), 0, "key %s is visible", keys[i]);
    /* alone, the same failure leaves nothing either */
    mnemo_kv__fail_batch_op(1);
    TU_RC(mnemo_kv_batch(db, NULL, ops, 3), MNEMO_EIO);
    mnemo_kv__fail_batch_op((size_t)-1);
    cr_assert_eq(mnemo_kv_exists(db, NULL, "a", 1), 0);
    close_db();
}

static void put_s(mnemo_txn *txn, const char *k, const char *v)
{
    TU_OK(mnemo_kv_put(db, txn, k, strlen(k), v, strlen(v)));
}

/* Collects an iterator's keys into one space-separated string. */
static void collect(mnemo_iter *it, char *out, size_t cap)
{
    out[0] = '\0';
    int rc;
    while ((rc = mnemo_iter_next(it)) == 0) {
        const void *k, *v;
        size_t kl, vl;
        TU_OK(mnemo_iter_key(it, &k, &kl));
        TU_OK(mnemo_iter_value(it, &v, &vl));
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%.*s", len ? " " : "", (int)kl, (const char *)k);
    }
    TU_RC(rc, MNEMO_ITEROVER);
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER); /* stays over */
}

static void expect_scan(mnemo_txn *txn, const mnemo_kv_iter_options *o, const char *want)
{
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, txn, o));
    char got[1024];
    collect(it, got, sizeof got);
    cr_assert_str_eq(got, want);
    mnemo_iter_free(it);
}

/* Found by the test of mnemo_iter_next_kv: on rocksdb, a reverse scan in a transaction that had
 * written its exclusive upper bound (the prefix's successor, or `end`) returned nothing. */
/* Options of a scan: a prefix or NULL, an exclusive end or NULL, the direction. */
static mnemo_kv_iter_options scan_of(const char *prefix, const char *end, int reverse)
{
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = prefix;
    o.prefix_len = prefix ? strlen(prefix) : 0;
    o.end = end;
    o.end_len = end ? strlen(end) : 0;
    o.reverse = reverse;
    return o;
}

TU_TEST(kv, reverse_scan_in_a_txn_that_wrote_its_upper_bound)
{
    mnemo_txn *txn; /* nothing committed under the prefix: every entry is the transaction's own */
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put_s(txn, "k1", "v");
    put_s(txn, "l", "v");
    mnemo_kv_iter_options o = scan_of("k", NULL, 1);
    expect_scan(txn, &o, "k1");
    TU_OK(mnemo_txn_rollback(txn));
    mnemo_txn_free(txn);

    put_s(NULL, "k0", "v"); /* committed, and the transaction's own writes */
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    const char *own[] = {"k1", "k2", "l", "m"};
    for (size_t i = 0; i < 4; i++)
        put_s(txn, own[i], "v");
    expect_scan(txn, &o, "k2 k1 k0");
    o = scan_of("k", NULL, 0);
    expect_scan(txn, &o, "k0 k1 k2");
    o = scan_of(NULL, "m", 1);
    expect_scan(txn, &o, "l k2 k1 k0");
    mnemo_iter *it; /* a seek past the bound lands on the last key inside it */
    TU_OK(mnemo_kv_iter(&it, db, txn, &o));
    TU_OK(mnemo_iter_seek(it, "z", 1));
    const void *k, *v;
    size_t kl, vl;
    TU_OK(mnemo_iter_next_kv(it, &k, &kl, &v, &vl));
    cr_assert(kl == 1 && !memcmp(k, "l", 1), "%.*s", (int)kl, (const char *)k);
    mnemo_iter_free(it);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    o = scan_of("k", NULL, 1);
    expect_scan(NULL, &o, "k2 k1 k0");
}

TU_TEST(kv, iterators_prefix_range_reverse_seek)
{
    const char *keys[] = {"a", "ab", "abc", "abd", "b", "ba", "c"};
    for (size_t i = 0; i < 7; i++)
        put_s(NULL, keys[i], "v");
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    expect_scan(NULL, NULL, "a ab abc abd b ba c");
    o.reverse = 1;
    expect_scan(NULL, &o, "c ba b abd abc ab a");
    o = (mnemo_kv_iter_options)MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = "ab";
    o.prefix_len = 2;
    expect_scan(NULL, &o, "ab abc abd");
    o.reverse = 1;
    expect_scan(NULL, &o, "abd abc ab");
    o = (mnemo_kv_iter_options)MNEMO_KV_ITER_OPTIONS_INIT;
    o.start = "ab";
    o.start_len = 2;
    o.end = "b";
    o.end_len = 1;
    expect_scan(NULL, &o, "ab abc abd");
    o.reverse = 1;
    expect_scan(NULL, &o, "abd abc ab");
    o.reverse = 0;
    o.prefix = "a";
    o.prefix_len = 1;
    o.start = "abc";
    o.start_len = 3;
    o.end = "zz";
    o.end_len = 2;
    expect_scan(NULL, &o, "abc abd"); /* prefix and range intersect */
    o = (mnemo_kv_iter_options)MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = "q";
    o.prefix_len = 1;
    expect_scan(NULL, &o, "");

    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    const void *k;
    size_t kl;
    TU_RC(mnemo_iter_key(it, &k, &kl), MNEMO_EINVAL); /* not positioned yet */
    TU_OK(mnemo_iter_seek(it, "abz", 3));
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_key(it, &k, &kl));
    cr_assert_eq(kl, 1);
    cr_assert_eq(*(const char *)k, 'b');
    TU_OK(mnemo_iter_seek(it, "0", 1)); /* seek backwards is allowed */
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_key(it, &k, &kl));
    cr_assert_eq(*(const char *)k, 'a');
    mnemo_iter_free(it);

    o = (mnemo_kv_iter_options)MNEMO_KV_ITER_OPTIONS_INIT;
    o.reverse = 1;
    o.prefix = "ab";
    o.prefix_len = 2;
    TU_OK(mnemo_kv_iter(&it, db, NULL, &o));
    TU_OK(mnemo_iter_seek(it, "abcz", 4));
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_key(it, &k, &kl));
    cr_assert_eq(kl, 3);
    cr_assert_eq(memcmp(k, "abc", 3), 0);
    TU_OK(mnemo_iter_seek(it, "zzz", 3)); /* clamped into the prefix */
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_key(it, &k, &kl));
    cr_assert_eq(memcmp(k, "abd", 3), 0);
    mnemo_iter_free(it);
    close_db();
}

TU_TEST(kv, prefix_of_ff_bytes_has_no_upper_bound)
{
    const char k1[] = {(char)0xff, (char)0xff}, k2[] = {(char)0xff, (char)0xff, 1}, k3[] = {(char)0xff, 0};
    TU_OK(mnemo_kv_put(db, NULL, k1, 2, "1", 1));
    TU_OK(mnemo_kv_put(db, NULL, k2, 3, "2", 1));
    TU_OK(mnemo_kv_put(db, NULL, k3, 2, "3", 1));
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = k1;
    o.prefix_len = 2;
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, &o));
    int count = 0;
    while (mnemo_iter_next(it) == 0)
        count++;
    cr_assert_eq(count, 2);
    mnemo_iter_free(it);
    close_db();
}

TU_TEST(kv, iterator_without_txn_reads_a_snapshot)
{
    put_s(NULL, "k1", "v");
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    put_s(NULL, "k2", "v"); /* after the iterator was made */
    char got[64];
    collect(it, got, sizeof got);
    cr_assert_str_eq(got, "k1");
    mnemo_iter_free(it);
    close_db();
}

TU_TEST(kv, iterator_in_txn_sees_own_writes_and_deletes)
{
    put_s(NULL, "a", "v");
    put_s(NULL, "b", "v");
    put_s(NULL, "c", "v");
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put_s(txn, "bb", "new");
    TU_OK(mnemo_kv_delete(db, txn, "c", 1));
    put_s(NULL, "d", "outside"); /* committed after the txn's snapshot: invisible to it */
    expect_scan(txn, NULL, "a b bb");
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.reverse = 1;
    expect_scan(txn, &o, "bb b a");
    o.reverse = 0;
    o.start = "b";
    o.start_len = 1;
    o.end = "c";
    o.end_len = 1;
    put_s(txn, "zz", "beyond the range");
    expect_scan(txn, &o, "b bb");
    o.reverse = 1;
    expect_scan(txn, &o, "bb b");
    expect_scan(NULL, NULL, "a b c d"); /* others do not see uncommitted writes */
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    expect_scan(NULL, NULL, "a b bb d zz");
    close_db();
}

TU_TEST(kv, persists_across_reopen)
{
    for (int i = 0; i < 3000; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%05d", i);
        TU_OK(mnemo_kv_put(db, NULL, k, strlen(k), k, strlen(k)));
    }
    close_db();
    TU_NEEDS_DISK("reopens");
    TU_OK(tu_reopen(&db, "kv", NULL));
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    int i = 0, rc;
    while ((rc = mnemo_iter_next(it)) == 0) {
        char k[16];
        snprintf(k, sizeof k, "key%05d", i++);
        const void *key, *val;
        size_t kl, vl;
        TU_OK(mnemo_iter_key(it, &key, &kl));
        TU_OK(mnemo_iter_value(it, &val, &vl));
        cr_assert_eq(kl, strlen(k));
        cr_assert_eq(memcmp(key, k, kl), 0);
        cr_assert_eq(memcmp(val, k, vl), 0);
    }
    TU_RC(rc, MNEMO_ITEROVER);
    cr_assert_eq(i, 3000);
    mnemo_iter_free(it);
    close_db();
}

/* ---- random operations against an in-memory reference (sorted array of keys) ---- */

#define MODEL_KEYS 64
static int model_val[MODEL_KEYS]; /* -1 absent, else value */

static void model_key(int i, char *out) { snprintf(out, 16, "%c%c%d", 'a' + i % 4, 'a' + (i / 4) % 4, i / 16); }

static int key_index_cmp(const void *a, const void *b)
{
    char ka[16], kb[16];
    model_key(*(const int *)a, ka);
    model_key(*(const int *)b, kb);
    return strcmp(ka, kb);
}

static void check_model_scan(mnemo_txn *txn, const char *prefix, int reverse)
{
    int idx[MODEL_KEYS], n = 0;
    for (int i = 0; i < MODEL_KEYS; i++) {
        char k[16];
        model_key(i, k);
        if (model_val[i] >= 0 && !strncmp(k, prefix, strlen(prefix)))
            idx[n++] = i;
    }
    qsort(idx, (size_t)n, sizeof idx[0], key_index_cmp);
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = prefix;
    o.prefix_len = strlen(prefix);
    o.reverse = reverse;
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, txn, &o));
    for (int j = 0; j < n; j++) {
        int i = reverse ? idx[n - 1 - j] : idx[j];
        const void *k, *v;
        size_t kl, vl;
        if (j % 3 == 1) { /* the one-call form, mixed with the three calls */
            TU_OK(mnemo_iter_next_kv(it, &k, &kl, &v, &vl));
        } else {
            TU_OK(mnemo_iter_next(it));
            TU_OK(mnemo_iter_key(it, &k, &kl));
            TU_OK(mnemo_iter_value(it, &v, &vl));
        }
        char want[16], wv[16];
        model_key(i, want);
        snprintf(wv, sizeof wv, "%d", model_val[i]);
        cr_assert(kl == strlen(want) && !memcmp(k, want, kl), "scan '%s' rev=%d: entry %d", prefix, reverse, j);
        cr_assert(vl == strlen(wv) && !memcmp(v, wv, vl));
    }
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    mnemo_iter_free(it);
}

/* mnemo_iter_next_kv over many runs of entries (the iterator takes them from the engine in runs),
 * mixed with the three-call form and seeks, outside and inside a transaction with its own writes. */
static void expect_next_kv_scan(mnemo_txn *txn, int reverse, int n)
{
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = "k";
    o.prefix_len = 1;
    o.reverse = reverse;
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, txn, &o));
    unsigned rng = 7;
    int seen = 0, at = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
    for (;;) {
        const void *k, *v;
        size_t kl, vl;
        rng = rng * 1103515245u + 12345u;
        int rc;
        if ((rng >> 16) % 5) {
            rc = mnemo_iter_next_kv(it, &k, &kl, &v, &vl);
            if (rc == 0) { /* the accessors agree with what it returned */
                const void *k2, *v2;
                size_t kl2, vl2;
                TU_OK(mnemo_iter_key(it, &k2, &kl2));
                TU_OK(mnemo_iter_value(it, &v2, &vl2));
                cr_assert(k2 == k && kl2 == kl && v2 == v && vl2 == vl);
            }
        } else if ((rc = mnemo_iter_next(it)) == 0) {
            TU_OK(mnemo_iter_key(it, &k, &kl));
            TU_OK(mnemo_iter_value(it, &v, &vl));
        }
        if (rc == MNEMO_ITEROVER)
            break;
        TU_OK(rc);
        char want[16];
        snprintf(want, sizeof want, "k%05d", at);
        cr_assert(kl == 6 && !memcmp(k, want, 6), "entry %d: %.*s, want %s", seen, (int)kl, (const char *)k, want);
        cr_assert(vl == 6 && !memcmp(v, want, 6));
        seen++;
        at += step;
        if (seen == n / 3) { /* a seek in the middle of a run: the next entry is the sought one */
            at = reverse ? n / 4 : (n * 3) / 4;
            snprintf(want, sizeof want, "k%05d", at);
            TU_OK(mnemo_iter_seek(it, want, 6));
        }
    }
    int want_seen = n / 3 + (reverse ? n / 4 + 1 : n - (n * 3) / 4);
    cr_assert_eq(seen, want_seen, "reverse %d in txn %d: saw %d entries, want %d", reverse, txn != NULL, seen,
                 want_seen);
    const void *k, *v;
    size_t kl, vl;
    TU_RC(mnemo_iter_next_kv(it, &k, &kl, &v, &vl), MNEMO_ITEROVER); /* stays over */
    mnemo_iter_free(it);
}

TU_TEST(kv, next_kv_reads_every_entry_across_runs_and_seeks)
{
    enum { N = 1000 };
    char key[16];
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        put_s(txn, key, key);
    }
    put_s(txn, "j", "before the prefix");
    put_s(txn, "l", "after the prefix");
    expect_next_kv_scan(txn, 0, N); /* the transaction's own writes: no runs */
    expect_next_kv_scan(txn, 1, N);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    expect_next_kv_scan(NULL, 0, N); /* committed: forward scans take runs */
    expect_next_kv_scan(NULL, 1, N);
    TU_OK(mnemo_flush(db));
    expect_next_kv_scan(NULL, 0, N);
    close_db();
}

TU_TEST(kv, next_kv_refuses_bad_arguments_without_moving)
{
    put_s(NULL, "a", "1");
    put_s(NULL, "b", "2");
    const void *k, *v;
    size_t kl, vl;
    TU_RC(mnemo_iter_next_kv(NULL, &k, &kl, &v, &vl), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "iterator is NULL"), "%s", mnemo_errmsg());
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    TU_RC(mnemo_iter_next_kv(it, NULL, &kl, &v, &vl), MNEMO_EINVAL);
    TU_RC(mnemo_iter_next_kv(it, &k, &kl, &v, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "out-parameter is NULL"), "%s", mnemo_errmsg());
    TU_OK(mnemo_iter_next_kv(it, &k, &kl, &v, &vl)); /* not moved by the refusals: still the first */
    cr_assert(kl == 1 && !memcmp(k, "a", 1) && vl == 1 && !memcmp(v, "1", 1));
    TU_RC(mnemo_iter_next_kv(it, &k, &kl, NULL, &vl), MNEMO_EINVAL);
    TU_OK(mnemo_iter_next_kv(it, &k, &kl, &v, &vl));
    cr_assert(kl == 1 && !memcmp(k, "b", 1));
    mnemo_iter_free(it);

    mnemo_record r = {0};
    r.id = "x";
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    r.id = "y";
    TU_OK(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT));
    mnemo_graph_edge e = {"x", "knows", "y", 1.0, NULL};
    TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    TU_OK(mnemo_graph_neighbors(&it, db, NULL, "x", MNEMO_DIR_OUT, NULL, 0));
    TU_RC(mnemo_iter_next_kv(it, &k, &kl, &v, &vl), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "neighbour iterator has no such operation"), "%s", mnemo_errmsg());
    TU_OK(mnemo_iter_next(it)); /* not moved: the one neighbour is still ahead */
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    mnemo_iter_free(it);

    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_kv_iter(&it, db, txn, NULL));
    TU_OK(mnemo_iter_next_kv(it, &k, &kl, &v, &vl));
    TU_OK(mnemo_txn_commit(txn));
    TU_RC(mnemo_iter_next_kv(it, &k, &kl, &v, &vl), MNEMO_EINVAL); /* its transaction finished */
    mnemo_iter_free(it);
    mnemo_txn_free(txn);
    close_db();
}

TU_TEST(kv, random_operations_match_a_reference_model)
{
    srand(12345);
    for (int i = 0; i < MODEL_KEYS; i++)
        model_val[i] = -1;
    const char *prefixes[] = {"", "a", "b", "ab", "cd", "dd3", "x"};
    for (int round = 0; round < 40; round++) {
        mnemo_txn *txn = NULL;
        int use_txn = rand() % 2;
        if (use_txn)
            TU_OK(mnemo_txn_begin(&txn, db, 0));
        for (int op = 0; op < 30; op++) {
            int i = rand() % MODEL_KEYS;
            char k[16];
            model_key(i, k);
            if (rand() % 3) {
                int v = rand() % 1000;
                char vs[16];
                snprintf(vs, sizeof vs, "%d", v);
                put_s(txn, k, vs);
                model_val[i] = v;
            } else {
                TU_OK(mnemo_kv_delete(db, txn, k, strlen(k)));
                model_val[i] = -1;
            }
        }
        for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
            check_model_scan(txn, prefixes[p], 0);
            check_model_scan(txn, prefixes[p], 1);
        }
        if (txn) {
            TU_OK(mnemo_txn_commit(txn));
            mnemo_txn_free(txn);
        }
        if (round % 10 == 9)
            TU_OK(mnemo_flush(db)); /* mix memtable and file data */
    }
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++)
        check_model_scan(NULL, prefixes[p], 0);
    close_db();
}

/* ---- zero-copy views: the bytes stay valid until release whatever happens to the key (under
 * ASan a view that pointed into freed or reused memory fails here) ---- */

static void assert_view(const mnemo_view *v, const void *want, size_t len)
{
    cr_assert_eq(v->len, len);
    cr_assert(memcmp(v->data, want, len) == 0, "a held view's bytes changed");
}

TU_TEST(kv, view_outlives_overwrites_deletes_commits_and_compaction)
{
    char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7 + 3);
    TU_OK(mnemo_kv_put(db, NULL, "big", 3, big, sizeof big));
    TU_OK(mnemo_kv_put(db, NULL, "small", 5, "first", 5));

    mnemo_view outside = MNEMO_VIEW_INIT, inside = MNEMO_VIEW_INIT, own = MNEMO_VIEW_INIT;
    TU_OK(mnemo_kv_view(&outside, db, NULL, "big", 3));
    assert_view(&outside, big, sizeof big);

    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_kv_view(&inside, db, txn, "small", 5));
    TU_OK(mnemo_kv_put(db, txn, "small", 5, "second", 6));
    TU_OK(mnemo_kv_view(&own, db, txn, "small", 5)); /* the txn's own write */
    assert_view(&own, "second", 6);
    TU_OK(mnemo_kv_put(db, txn, "small", 5, "third!!", 7)); /* writes the key again */
    assert_view(&own, "second", 6);
    assert_view(&inside, "first", 5);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);

    /* Others overwrite and delete what the views read; the store flushes and compacts. */
    char other[70000];
    memset(other, 'x', sizeof other);
    for (int i = 0; i < 20; i++)
        TU_OK(mnemo_kv_put(db, NULL, "big", 3, other, sizeof other - (size_t)i));
    TU_OK(mnemo_kv_delete(db, NULL, "big", 3));
    TU_OK(mnemo_kv_delete(db, NULL, "small", 5));
    TU_OK(mnemo_flush(db));
    TU_OK(mnemo_compact(db));
    assert_view(&outside, big, sizeof big);
    assert_view(&inside, "first", 5);
    assert_view(&own, "second", 6);

    mnemo_view_release(&outside);
    cr_assert_null(outside.data);
    cr_assert_eq(outside.len, 0);
    mnemo_view_release(&outside); /* twice: nothing */
    mnemo_view_release(&inside);
    mnemo_view_release(&own);
    mnemo_view_release(NULL);
    close_db();
}

TU_TEST(kv, view_errors_leave_the_view_untouched)
{
    mnemo_view v = {(const void *)0x1, 77, NULL};
    TU_RC(mnemo_kv_view(&v, db, NULL, "absent", 6), MNEMO_ENOTFOUND);
    TU_RC(mnemo_kv_view(&v, db, NULL, "", 0), MNEMO_EINVAL);
    TU_RC(mnemo_kv_view(&v, db, NULL, NULL, 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_view(NULL, db, NULL, "k", 1), MNEMO_EINVAL);
    TU_RC(mnemo_kv_view(&v, NULL, NULL, "k", 1), MNEMO_EINVAL);
    cr_assert_eq(v.data, (const void *)0x1);
    cr_assert_eq(v.len, 77);
    TU_OK(mnemo_kv_put(db, NULL, "empty", 5, NULL, 0));
    mnemo_view e = MNEMO_VIEW_INIT;
    TU_OK(mnemo_kv_view(&e, db, NULL, "empty", 5));
    cr_assert_eq(e.len, 0);
    cr_assert_not_null(e.data, "an empty value is a present value");
    mnemo_view_release(&e);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_txn_commit(txn));
    TU_RC(mnemo_kv_view(&v, db, txn, "empty", 5), MNEMO_EINVAL); /* finished txn */
    mnemo_txn_free(txn);
    close_db();
}

/* A view read inside a txn is validated at commit like mnemo_kv_get. */
TU_TEST(kv, view_inside_a_txn_is_a_tracked_read)
{
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "0", 1));
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    mnemo_view v = MNEMO_VIEW_INIT;
    TU_OK(mnemo_kv_view(&v, db, txn, "k", 1));
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "1", 1)); /* another writer changes what we read */
    TU_OK(mnemo_kv_put(db, txn, "other", 5, "x", 1));
    TU_RC(mnemo_txn_commit(txn), MNEMO_EBUSY);
    assert_view(&v, "0", 1);
    mnemo_view_release(&v);
    mnemo_txn_free(txn);
    close_db();
}

/* A view released by a thread-exit destructor that runs after mnemo's own (a key made after
 * mnemo's first view, so after mnemo's key): its node is freed, not kept as the spare of a thread
 * whose spare was already freed (found by review; LeakSanitizer, in the sanitizer build, fails
 * this test on the code that lost it). */
static pthread_key_t late_key;

static void late_release(void *p)
{
    mnemo_view_release(p);
    free(p);
}

static void *late_worker(void *arg)
{
    mnemo_view v = MNEMO_VIEW_INIT;
    if (mnemo_kv_view(&v, arg, NULL, "k", 1))
        return "view";
    mnemo_view_release(&v); /* leaves this thread a spare node */
    mnemo_view *held = malloc(sizeof *held);
    *held = (mnemo_view)MNEMO_VIEW_INIT;
    if (mnemo_kv_view(held, arg, NULL, "k", 1)) /* takes the spare */
        return "second view";
    pthread_setspecific(late_key, held); /* released by late_release at thread exit */
    return NULL;
}

TU_TEST(kv, a_view_released_by_a_late_thread_destructor_is_not_lost)
{
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "value", 5));
    mnemo_view v = MNEMO_VIEW_INIT;
    TU_OK(mnemo_kv_view(&v, db, NULL, "k", 1));
    mnemo_view_release(&v);
    cr_assert_eq(pthread_key_create(&late_key, late_release), 0);
    for (int i = 0; i < 8; i++) {
        pthread_t t;
        void *err = NULL;
        cr_assert_eq(pthread_create(&t, NULL, late_worker, db), 0);
        pthread_join(t, &err);
        cr_assert_null(err, "thread %d: %s failed: %s", i, (const char *)err, mnemo_errmsg());
    }
    pthread_key_delete(late_key);
    close_db();
}

/* mnemo_close gives back views nobody released; releasing them afterwards is harmless (and
 * ASan sees no leak and no use of freed engine memory). Reopening the shell does not confuse it. */
TU_TEST(kv, close_gives_back_unreleased_views)
{
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, "value", 5));
    mnemo_view a = MNEMO_VIEW_INIT, b = MNEMO_VIEW_INIT;
    TU_OK(mnemo_kv_view(&a, db, NULL, "k", 1));
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    TU_OK(mnemo_kv_view(&b, db, txn, "k", 1));
    mnemo_txn_free(txn);
    assert_view(&b, "value", 5);
    TU_OK(mnemo_close(db));
    db = tu_open("kv2"); /* may reuse the closed handle's memory */
    mnemo_view_release(&a);
    mnemo_view_release(&b);
    cr_assert_null(a.data);
    mnemo_view c = MNEMO_VIEW_INIT;
    TU_RC(mnemo_kv_view(&c, db, NULL, "k", 1), MNEMO_ENOTFOUND);
    close_db();
}

/* Views taken and released on many threads while a writer overwrites the same keys. */
typedef struct view_thread_arg {
    int stop;
    int bad;
} view_thread_arg;

static void *view_reader(void *p)
{
    view_thread_arg *a = p;
    for (int i = 0; i < 3000 && !__atomic_load_n(&a->stop, __ATOMIC_RELAXED); i++) {
        mnemo_view v = MNEMO_VIEW_INIT;
        char key[8];
        snprintf(key, sizeof key, "k%d", i % 8);
        if (mnemo_kv_view(&v, db, NULL, key, strlen(key)) != 0) {
            __atomic_store_n(&a->bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        /* every value is 64 copies of one byte: a torn or reused buffer shows as mixed bytes */
        const unsigned char *d = v.data;
        for (size_t j = 1; j < v.len; j++)
            if (d[j] != d[0])
                __atomic_store_n(&a->bad, 2, __ATOMIC_RELAXED);
        mnemo_view_release(&v);
    }
    return NULL;
}

TU_TEST(kv, views_on_many_threads_beside_a_writer)
{
    char val[64];
    for (int k = 0; k < 8; k++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", k);
        memset(val, 'a', sizeof val);
        TU_OK(mnemo_kv_put(db, NULL, key, strlen(key), val, sizeof val));
    }
    view_thread_arg arg = {0, 0};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, view_reader, &arg), 0);
    for (int i = 0; i < 2000; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i % 8);
        memset(val, 'a' + i % 26, sizeof val);
        TU_OK(mnemo_kv_put(db, NULL, key, strlen(key), val, sizeof val));
    }
    __atomic_store_n(&arg.stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(arg.bad, 0, "a reader saw a failed view (1) or torn bytes (2)");
    close_db();
}

/* Views released on other threads while the handle closes and opens again (its shell reused):
 * a release takes no guard, so it meets a close under way, a closed shell and a reopened one
 * (txn.c mnemo_txn__view_release; the shell's res_lock outlives every handle). Each thread
 * keeps a few views for a while, so many are given back by close and released after it. ASan: no
 * use of freed engine memory, no leak. A view's bytes are valid until mnemo_close: they are read
 * under `open`, which the close takes alone; the releases are not. */
typedef struct close_race {
    mnemo_db *_Atomic db;
    atomic_int stop, bad;
    atomic_long views;
    pthread_rwlock_t open;
} close_race;

static void *view_holder(void *p)
{
    close_race *r = p;
    mnemo_view held[4] = {MNEMO_VIEW_INIT, MNEMO_VIEW_INIT, MNEMO_VIEW_INIT, MNEMO_VIEW_INIT};
    for (unsigned i = 0; !atomic_load(&r->stop); i++) {
        mnemo_view *v = &held[i % 4];
        mnemo_view_release(v); /* taken three rounds ago: perhaps before a close */
        pthread_rwlock_rdlock(&r->open);
        if (mnemo_kv_view(v, atomic_load(&r->db), NULL, "k", 1) == 0) { /* else closed, or no k yet */
            const unsigned char *d = v->data;
            for (size_t j = 0; j < v->len; j++)
                if (v->len != 64 || d[j] != d[0])
                    atomic_store(&r->bad, 1);
            atomic_fetch_add(&r->views, 1);
        }
        pthread_rwlock_unlock(&r->open);
    }
    for (int i = 0; i < 4; i++)
        mnemo_view_release(&held[i]);
    return NULL;
}

TU_TEST(kv, views_released_while_the_handle_closes_and_reopens)
{
    char val[64];
    memset(val, 'v', sizeof val);
    TU_OK(mnemo_kv_put(db, NULL, "k", 1, val, sizeof val));
    close_race r;
    atomic_init(&r.db, db);
    atomic_init(&r.stop, 0);
    atomic_init(&r.bad, 0);
    atomic_init(&r.views, 0);
    pthread_rwlock_init(&r.open, NULL);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, view_holder, &r), 0);
    for (int round = 0; round < 20; round++) {
        for (long seen = atomic_load(&r.views); atomic_load(&r.views) < seen + 50;)
            sched_yield(); /* the threads hold views of this handle */
        pthread_rwlock_wrlock(&r.open);
        TU_OK(mnemo_close(db));
        pthread_rwlock_unlock(&r.open); /* the threads release views of the closed handle */
        db = tu_open("kv");              /* most likely the closed handle's shell again */
        TU_OK(mnemo_kv_put(db, NULL, "k", 1, val, sizeof val)); /* the memory engine starts empty */
        atomic_store(&r.db, db);
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_rwlock_destroy(&r.open);
    cr_assert_eq(atomic_load(&r.bad), 0, "a view read torn or reused bytes");
    close_db();
}

/* ---- long scans: the engine hands a scan runs of entries (store.h cursor_run) ---- */

#define RUN_KEYS 300
/* Key i: "r%04d", and every 7th a long key (past LMDB's 511-byte limit, kept in a bucket of keys
 * that share their first 511 bytes) in three variants, so runs meet buckets mid-way. */
static size_t run_key(int i, int variant, char *out)
{
    int n = snprintf(out, 16, "r%04d", i);
    if (i % 7 || variant < 0)
        return (size_t)n;
    memset(out + n, 'x', 600);
    out[n + 600] = (char)('a' + variant);
    return (size_t)n + 601;
}

static void run_expect(mnemo_iter *it, int i, int variant)
{
    char want[700];
    size_t wl = run_key(i, variant, want);
    const void *k, *v;
    size_t kl, vl;
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_key(it, &k, &kl));
    TU_OK(mnemo_iter_value(it, &v, &vl));
    cr_assert(kl == wl && !memcmp(k, want, kl), "entry %d/%d: key of %zu bytes, want %zu", i, variant, kl, wl);
    cr_assert(vl == 8 && !memcmp(v, want, 5) && ((const char *)v)[5] == (char)('0' + (variant < 0 ? 0 : variant)),
              "entry %d/%d: value", i, variant);
}

static mnemo_iter *prefix_iter(const char *prefix)
{
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.prefix = prefix;
    o.prefix_len = strlen(prefix);
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, &o));
    return it;
}

static void run_put_all(void)
{
    for (int i = 0; i < RUN_KEYS; i++)
        for (int variant = i % 7 ? -1 : 0; variant < (i % 7 ? 0 : 3); variant++) {
            char k[700], v[8];
            size_t kl = run_key(i, variant, k);
            memcpy(v, k, 5);
            v[5] = (char)('0' + (variant < 0 ? 0 : variant));
            v[6] = v[7] = '.';
            TU_OK(mnemo_kv_put(db, NULL, k, kl, v, sizeof v));
        }
}

/* Every entry once and in order through runs that meet buckets, the bound and the end; a seek in
 * the middle of a run starts over from there; a write committed during the scan stays unseen. */
TU_TEST(kv, long_scans_through_runs_match_the_keys)
{
    run_put_all();
    mnemo_iter *it = prefix_iter("r");
    for (int i = 0; i < RUN_KEYS; i++) {
        for (int variant = i % 7 ? -1 : 0; variant < (i % 7 ? 0 : 3); variant++)
            run_expect(it, i, variant);
        if (i == 40)
            TU_OK(mnemo_kv_put(db, NULL, "r0100~", 6, "new", 3)); /* after the snapshot: unseen */
    }
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);

    TU_OK(mnemo_iter_seek(it, "r0010", 5)); /* back, while no run is pending */
    run_expect(it, 10, -1);
    run_expect(it, 11, -1);
    TU_OK(mnemo_iter_seek(it, "r0200", 5)); /* forward, in the middle of a run */
    for (int i = 200; i < 215; i++)
        for (int variant = i % 7 ? -1 : 0; variant < (i % 7 ? 0 : 3); variant++)
            run_expect(it, i, variant);
    mnemo_iter_free(it);
    TU_OK(mnemo_kv_delete(db, NULL, "r0100~", 6));

    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.start = "r0050";
    o.start_len = 5;
    o.end = "r0123";
    o.end_len = 5;
    TU_OK(mnemo_kv_iter(&it, db, NULL, &o));
    for (int i = 50; i < 123; i++)
        for (int variant = i % 7 ? -1 : 0; variant < (i % 7 ? 0 : 3); variant++)
            run_expect(it, i, variant);
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    mnemo_iter_free(it);
    close_db();
}

/* A scan stopped by the database's close reports the closed iterator on its next move, also when
 * entries of a run were still to be handed out. */
TU_TEST(kv, a_scan_ends_with_its_database_inside_a_run)
{
    run_put_all();
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    run_expect(it, 0, 0);
    run_expect(it, 0, 1);
    run_expect(it, 0, 2);
    run_expect(it, 1, -1); /* a run is under way from here on the engines that have runs */
    run_expect(it, 2, -1);
    TU_OK(mnemo_close(db));
    db = NULL;
    TU_RC(mnemo_iter_next(it), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "closed") || strstr(mnemo_errmsg(), "invalid"), "message: %s", mnemo_errmsg());
    const void *k;
    size_t kl;
    TU_RC(mnemo_iter_key(it, &k, &kl), MNEMO_EINVAL);
    mnemo_iter_free(it);
}

/* Runs that copy their entries (rocksdb, memory) stop at their buffer: large values, one larger
 * than the whole buffer, still come back whole and in order. */
TU_TEST(kv, long_scans_of_large_values_match)
{
    static const size_t sizes[] = {1, 40000, 0, 70000, 3, 150000, 40000, 40000, 7};
    enum { N = 60 };
    char *buf = malloc(150000);
    cr_assert_not_null(buf);
    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "big%03d", i);
        size_t vl = sizes[i % 9];
        memset(buf, 'a' + i % 26, vl);
        TU_OK(mnemo_kv_put(db, NULL, k, (size_t)kl, buf, vl));
    }
    mnemo_iter *it = prefix_iter("big");
    for (int i = 0; i < N; i++) {
        const void *k, *v;
        size_t kl, vl;
        char want[16];
        snprintf(want, sizeof want, "big%03d", i);
        TU_OK(mnemo_iter_next(it));
        TU_OK(mnemo_iter_key(it, &k, &kl));
        TU_OK(mnemo_iter_value(it, &v, &vl));
        cr_assert(kl == 6 && !memcmp(k, want, 6), "entry %d: key", i);
        cr_assert_eq(vl, sizes[i % 9], "entry %d: value of %zu bytes", i, vl);
        for (size_t b = 0; b < vl; b++)
            cr_assert_eq(((const char *)v)[b], 'a' + i % 26, "entry %d: byte %zu", i, b);
    }
    TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
    mnemo_iter_free(it);
    free(buf);
    close_db();
}

/* Review: scans in runs across the lmdb long-key bucket boundary (511/512-byte keys) and the
 * rocksdb run buffer (values of 0 bytes and 64 KiB +- 1), forward, reverse, and with a seek
 * after every few entries of a run; each against the sorted reference. */
#define RV_N 48
static size_t rv_klen(int i)
{
    static const size_t lens[] = {1, 509, 510, 511, 512, 513, 1024, 3};
    return lens[i % 8];
}
static size_t rv_vlen(int i)
{
    static const size_t lens[] = {0, 65535, 65536, 65537, 7, 0, 65536 - 20, 1};
    return lens[(i / 8 + i) % 8];
}
static void rv_key(unsigned char *k, int i)
{
    memset(k, 'k', rv_klen(i));
    k[0] = (unsigned char)('A' + i / 8); /* sorted by i: group, then length (a prefix sorts first) */
}
/* Key order: bytewise, a prefix first. */
static int rv_bytes_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}
static int rv_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    unsigned char ka[1024], kb[1024];
    rv_key(ka, x);
    rv_key(kb, y);
    return rv_bytes_cmp(ka, rv_klen(x), kb, rv_klen(y));
}
static void rv_check(mnemo_iter *it, int i)
{
    const void *k, *v;
    size_t kl, vl;
    unsigned char want[1024];
    rv_key(want, i);
    TU_OK(mnemo_iter_key(it, &k, &kl));
    TU_OK(mnemo_iter_value(it, &v, &vl));
    cr_assert_eq(kl, rv_klen(i), "entry %d: key of %zu bytes, want %zu", i, kl, rv_klen(i));
    cr_assert(memcmp(k, want, kl) == 0, "entry %d: key bytes", i);
    cr_assert_eq(vl, rv_vlen(i), "entry %d: value of %zu bytes, want %zu", i, vl, rv_vlen(i));
    for (size_t j = 0; j < vl; j += 997)
        cr_assert_eq(((const unsigned char *)v)[j], (unsigned char)(i + j), "entry %d: value byte %zu", i, j);
}
TU_TEST(kv, review_runs_at_long_key_and_run_buffer_boundaries)
{
    static unsigned char val[65537 + 16];
    int order[RV_N];
    for (int i = 0; i < RV_N; i++) {
        unsigned char k[1024];
        rv_key(k, i);
        for (size_t j = 0; j < rv_vlen(i); j++)
            val[j] = (unsigned char)(i + j);
        TU_OK(mnemo_kv_put(db, NULL, k, rv_klen(i), val, rv_vlen(i)));
        order[i] = i;
    }
    qsort(order, RV_N, sizeof *order, rv_cmp);
    for (int rev = 0; rev < 2; rev++) {
        mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
        o.reverse = rev;
        mnemo_iter *it;
        TU_OK(mnemo_kv_iter(&it, db, NULL, &o));
        for (int n = 0; n < RV_N; n++) {
            TU_OK(mnemo_iter_next(it));
            rv_check(it, order[rev ? RV_N - 1 - n : n]);
        }
        TU_RC(mnemo_iter_next(it), MNEMO_ITEROVER);
        mnemo_iter_free(it);
    }
    /* seek back and forth in the middle of runs */
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    for (int s = 0; s < RV_N; s += 3) {
        unsigned char k[1024];
        rv_key(k, order[s]);
        TU_OK(mnemo_iter_seek(it, k, rv_klen(order[s])));
        for (int n = s; n < RV_N && n < s + 5; n++) {
            TU_OK(mnemo_iter_next(it));
            rv_check(it, order[n]);
        }
        int back = s / 2;
        rv_key(k, order[back]);
        TU_OK(mnemo_iter_seek(it, k, rv_klen(order[back])));
        TU_OK(mnemo_iter_next(it));
        rv_check(it, order[back]);
    }
    mnemo_iter_free(it);
    close_db();
}

/* Review: a database closed while an iterator is handing out a run: the next call fails with
 * EINVAL (not a read of freed run slices). */
TU_TEST(kv, review_close_while_run_handed_out)
{
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%03d", i);
        TU_OK(mnemo_kv_put(db, NULL, k, 4, k, 4));
    }
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    TU_OK(mnemo_iter_next(it));
    TU_OK(mnemo_iter_next(it));
    close_db();
    TU_RC(mnemo_iter_next(it), MNEMO_EINVAL);
    const void *k;
    size_t kl;
    TU_RC(mnemo_iter_key(it, &k, &kl), MNEMO_EINVAL);
    mnemo_iter_free(it);
}

/* Review: a transaction writing while it iterates (lmdb's cursor keeps a pointer to its current
 * key, which may live in a node of the transaction's own writes): overwriting the current key with
 * a longer value, deleting it, inserting keys just ahead and just behind. Keys come strictly
 * ascending (or descending), every key there before the scan is visited once, values are whole. */
static void review_write_while_iterating(int reverse)
{
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    for (int i = 0; i < 60; i += 4) { /* some of the txn's own writes before the scan */
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        TU_OK(mnemo_kv_put(db, txn, k, 4, "own", 3));
    }
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.reverse = reverse;
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, txn, &o));
    char prev[16] = "", big[300];
    memset(big, 'v', sizeof big);
    int seen[100] = {0}, rc, n = 0;
    while ((rc = mnemo_iter_next(it)) == 0 && n++ < 1000) {
        const void *k, *v;
        size_t kl, vl;
        TU_OK(mnemo_iter_key(it, &k, &kl));
        TU_OK(mnemo_iter_value(it, &v, &vl));
        char key[16];
        cr_assert(kl < sizeof key);
        memcpy(key, k, kl);
        key[kl] = 0;
        if (prev[0])
            cr_assert(reverse ? strcmp(key, prev) < 0 : strcmp(key, prev) > 0, "%s after %s", key, prev);
        snprintf(prev, sizeof prev, "%s", key);
        cr_assert(vl == 3 || vl == sizeof big, "%s: value of %zu bytes", key, vl);
        cr_assert(memcmp(v, "old", 3) == 0 || memcmp(v, "own", 3) == 0 || memcmp(v, "new", 3) == 0 ||
                      memcmp(v, big, vl) == 0,
                  "%s: value bytes", key);
        int i = atoi(key + 1);
        if (kl != 4)
            continue;
        seen[i]++;
        if (i % 3 == 0) {
            TU_OK(mnemo_kv_put(db, txn, key, kl, big, sizeof big));
        } else if (i % 3 == 1) {
            TU_OK(mnemo_kv_delete(db, txn, key, kl));
        } else { /* k<i>a and k<i-1>z: one just ahead, one just behind (either direction) */
            char nk[16];
            snprintf(nk, sizeof nk, "k%03da", i);
            TU_OK(mnemo_kv_put(db, txn, nk, strlen(nk), "new", 3));
            snprintf(nk, sizeof nk, "k%03dz", i - 1);
            TU_OK(mnemo_kv_put(db, txn, nk, strlen(nk), "new", 3));
        }
    }
    cr_assert_eq(rc, MNEMO_ITEROVER, "%s", mnemo_strerror(rc));
    for (int i = 0; i < 100; i++)
        cr_assert_eq(seen[i], 1, "k%03d visited %d times", i, seen[i]);
    mnemo_iter_free(it);
    TU_OK(mnemo_txn_rollback(txn));
    mnemo_txn_free(txn);
}

TU_TEST(kv, review_transaction_writes_while_iterating)
{
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        TU_OK(mnemo_kv_put(db, NULL, k, 4, "old", 3));
    }
    review_write_while_iterating(0);
    review_write_while_iterating(1);
    close_db();
}

/* Review: a snapshot iterator handing out runs while auto-commits overwrite (with values of
 * another size), delete and add keys under it: every entry of a run handed out after those
 * commits still reads as the snapshot had it (lmdb lends map pages, rocksdb copies). */
TU_TEST(kv, review_snapshot_runs_survive_commits_under_them)
{
    char k[16], v[600];
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "k%04d", i);
        memset(v, 'a' + i % 26, 100);
        TU_OK(mnemo_kv_put(db, NULL, k, 5, v, 100));
    }
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, NULL, NULL));
    int n = 0, rc;
    while ((rc = mnemo_iter_next(it)) == 0) {
        const void *key, *val;
        size_t kl, vl;
        TU_OK(mnemo_iter_key(it, &key, &kl));
        TU_OK(mnemo_iter_value(it, &val, &vl));
        snprintf(k, sizeof k, "k%04d", n);
        cr_assert(kl == 5 && memcmp(key, k, 5) == 0, "entry %d: %.*s", n, (int)kl, (const char *)key);
        cr_assert_eq(vl, 100, "%s: value of %zu bytes", k, vl);
        for (size_t j = 0; j < vl; j++)
            cr_assert_eq(((const char *)val)[j], 'a' + n % 26, "%s: byte %zu", k, j);
        /* every entry: rewrite the next 5 keys bigger, delete one, add one (more fills lmdb's test map: EBUSY) */
        memset(v, 'Z', sizeof v);
        for (int j = n + 1; j < n + 6 && j < 400; j++) {
            snprintf(k, sizeof k, "k%04d", j);
            TU_OK(mnemo_kv_put(db, NULL, k, 5, v, sizeof v - (size_t)(j % 7)));
        }
        snprintf(k, sizeof k, "k%04d", n + 2);
        TU_OK(mnemo_kv_delete(db, NULL, k, 5));
        snprintf(k, sizeof k, "k%04dx", n);
        TU_OK(mnemo_kv_put(db, NULL, k, 6, "new", 3));
        n++;
    }
    cr_assert_eq(rc, MNEMO_ITEROVER);
    cr_assert_eq(n, 400);
    mnemo_iter_free(it);
    close_db();
}

/* Review: prefixes of 509..513 bytes over keys of 509..515 bytes whose tails hold 0x00 and 0xff,
 * forward and reverse, against a sorted reference (lmdb keeps keys of 511 bytes and more in
 * buckets under their first 511 bytes; a prefix's upper bound is made by incrementing bytes). */
typedef struct rv_key2 {
    unsigned char k[520];
    size_t len;
} rv_key2;
static int rv_key2_cmp(const void *pa, const void *pb)
{
    const rv_key2 *a = pa, *b = pb;
    return rv_bytes_cmp(a->k, a->len, b->k, b->len);
}
static void rv_long_prefixes(const rv_key2 *keys, size_t nk, mnemo_txn *txn);
TU_TEST(kv, review_long_prefixes_at_the_bucket_boundary)
{
    static rv_key2 keys[200];
    size_t nk = 0;
    static const unsigned char tails[] = {0x00, 0x01, 0x7f, 0xfe, 0xff};
    for (size_t len = 509; len <= 515; len++)
        for (size_t a = 0; a < 5; a++)
            for (size_t b = 0; b < 5; b += 2) {
                rv_key2 *k = &keys[nk++];
                memset(k->k, 0xff, sizeof k->k); /* a run of 0xff: an incremented bound must carry */
                k->k[0] = 'p';
                k->k[508] = tails[a];
                k->k[len - 1] = tails[b];
                k->len = len;
            }
    qsort(keys, nk, sizeof *keys, rv_key2_cmp);
    size_t u = 0; /* drop duplicates */
    for (size_t i = 0; i < nk; i++)
        if (!u || rv_key2_cmp(&keys[u - 1], &keys[i]))
            keys[u++] = keys[i];
    nk = u;
    for (size_t i = 0; i < nk; i++)
        TU_OK(mnemo_kv_put(db, NULL, keys[i].k, keys[i].len, &i, sizeof i));
    rv_long_prefixes(keys, nk, NULL);
    /* a transaction's own writes in the buckets: deletes, new keys and new values */
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    size_t u2 = 0;
    for (size_t i = 0; i < nk; i++) {
        if (i % 4 == 1) {
            TU_OK(mnemo_kv_delete(db, txn, keys[i].k, keys[i].len));
            continue;
        }
        keys[u2++] = keys[i];
    }
    nk = u2;
    for (size_t len = 510; len <= 513; len++) {
        rv_key2 *k = &keys[nk++];
        memset(k->k, 0xff, sizeof k->k);
        k->k[0] = 'p';
        k->k[508] = 0x80;
        k->k[len - 1] = 0x80;
        k->len = len;
    }
    qsort(keys, nk, sizeof *keys, rv_key2_cmp);
    for (size_t i = 0; i < nk; i++)
        TU_OK(mnemo_kv_put(db, txn, keys[i].k, keys[i].len, &i, sizeof i));
    rv_long_prefixes(keys, nk, txn);
    TU_OK(mnemo_txn_rollback(txn));
    mnemo_txn_free(txn);
    close_db();
}

static void rv_long_prefixes(const rv_key2 *keys, size_t nk, mnemo_txn *txn)
{
    for (size_t pl = 505; pl <= 513; pl++)
        for (size_t from = 0; from < nk; from += 7)
            for (int rev = 0; rev < 2; rev++) {
                if (keys[from].len < pl)
                    continue;
                mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
                o.prefix = keys[from].k;
                o.prefix_len = pl;
                o.reverse = rev;
                mnemo_iter *it;
                TU_OK(mnemo_kv_iter(&it, db, txn, &o));
                size_t want[200], nw = 0;
                for (size_t i = 0; i < nk; i++)
                    if (keys[i].len >= pl && memcmp(keys[i].k, keys[from].k, pl) == 0)
                        want[nw++] = i;
                size_t got = 0;
                int rc;
                while ((rc = mnemo_iter_next(it)) == 0) {
                    const void *k, *v;
                    size_t kl, vl;
                    TU_OK(mnemo_iter_key(it, &k, &kl));
                    TU_OK(mnemo_iter_value(it, &v, &vl));
                    cr_assert_lt(got, nw, "prefix %zu of key %zu (rev %d): more than %zu entries", pl, from, rev, nw);
                    size_t w = want[rev ? nw - 1 - got : got];
                    cr_assert(kl == keys[w].len && memcmp(k, keys[w].k, kl) == 0 && vl == sizeof w &&
                                  memcmp(v, &w, sizeof w) == 0,
                              "prefix %zu of key %zu (rev %d): entry %zu is not key %zu", pl, from, rev, got, w);
                    got++;
                }
                cr_assert_eq(rc, MNEMO_ITEROVER);
                cr_assert_eq(got, nw, "prefix %zu of key %zu (rev %d): %zu entries, want %zu", pl, from, rev, got, nw);
                mnemo_iter_free(it);
            }
}

/* Review: random keys of 1..3 and 509..514 bytes (both sides of lmdb's bucket boundary), some
 * committed, some a transaction's own writes and deletes; iterators of either direction, in a
 * random range or none, with random seeks part way, inside and outside the transaction, against a
 * sorted reference. */
typedef struct rk {
    unsigned char k[520];
    size_t len;
    int live_db, live_txn; /* committed; as the transaction sees it */
} rk;
static uint64_t rk_rng = 0x9E3779B97F4A7C15ull;
static unsigned rk_rand(unsigned n)
{
    rk_rng ^= rk_rng << 13;
    rk_rng ^= rk_rng >> 7;
    rk_rng ^= rk_rng << 17;
    return (unsigned)(rk_rng % n);
}
static int rk_cmp(const void *pa, const void *pb)
{
    const rk *a = pa, *b = pb;
    return rv_bytes_cmp(a->k, a->len, b->k, b->len);
}
static void rk_scan(rk *keys, size_t nk, mnemo_txn *txn, int rev)
{
    mnemo_kv_iter_options o = MNEMO_KV_ITER_OPTIONS_INIT;
    o.reverse = rev;
    rk lo, hi; /* half the scans in a range [lo, hi) of two keys, either maybe a byte short */
    if (rk_rand(2)) {
        lo = keys[rk_rand((unsigned)nk)];
        hi = keys[rk_rand((unsigned)nk)];
        lo.len -= rk_rand(3) == 0 && lo.len > 1;
        hi.len -= rk_rand(3) == 0 && hi.len > 1;
        if (rk_cmp(&lo, &hi) > 0) {
            rk x = lo;
            lo = hi;
            hi = x;
        }
        o.start = lo.k;
        o.start_len = lo.len;
        o.end = hi.k;
        o.end_len = hi.len;
    }
    mnemo_iter *it;
    TU_OK(mnemo_kv_iter(&it, db, txn, &o));
    long pos = rev ? (long)nk : -1; /* reference position of the last entry handed out */
    for (int step = 0; step < 400; step++) {
        if (rk_rand(10) == 0) { /* seek to a random key, present or not, of the reference */
            size_t s = rk_rand((unsigned)nk);
            size_t sl = keys[s].len - (rk_rand(3) == 0 && keys[s].len > 1);
            TU_OK(mnemo_iter_seek(it, keys[s].k, sl));
            rk probe;
            memcpy(probe.k, keys[s].k, sl);
            probe.len = sl;
            if (!rev) { /* next: first live >= probe */
                pos = -1;
                while (pos + 1 < (long)nk && rk_cmp(&keys[pos + 1], &probe) < 0)
                    pos++;
            } else { /* next: last live <= probe */
                pos = (long)nk;
                while (pos - 1 >= 0 && rk_cmp(&keys[pos - 1], &probe) > 0)
                    pos--;
            }
        }
        long want = pos;
        do
            want += rev ? -1 : 1;
        while (want >= 0 && want < (long)nk &&
               (!(txn ? keys[want].live_txn : keys[want].live_db) ||
                (o.start && (rk_cmp(&keys[want], &lo) < 0 || rk_cmp(&keys[want], &hi) >= 0))));
        int rc = mnemo_iter_next(it);
        if (want < 0 || want >= (long)nk) {
            cr_assert_eq(rc, MNEMO_ITEROVER, "step %d rev %d: %s, want the end", step, rev, mnemo_strerror(rc));
            break;
        }
        cr_assert_eq(rc, 0, "step %d rev %d: %s, want key %ld", step, rev, mnemo_strerror(rc), want);
        const void *k;
        size_t kl;
        TU_OK(mnemo_iter_key(it, &k, &kl));
        cr_assert(kl == keys[want].len && memcmp(k, keys[want].k, kl) == 0,
                  "step %d rev %d txn %d: a key of %zu bytes, want key %ld of %zu", step, rev, !!txn, kl, want,
                  keys[want].len);
        pos = want;
    }
    mnemo_iter_free(it);
}
TU_TEST(kv, review_random_seeks_both_directions_across_the_bucket_boundary)
{
    static rk keys[300];
    size_t nk = 0;
    while (nk < 300) {
        rk *k = &keys[nk];
        static const size_t lens[] = {1, 2, 3, 509, 510, 511, 512, 513, 514};
        k->len = lens[rk_rand(9)];
        memset(k->k, 'q', k->len);
        k->k[0] = (unsigned char)("abc"[rk_rand(3)]);
        for (int j = 0; j < 2; j++) /* differences near the boundary and at the end */
            k->k[k->len > 508 ? 505 + rk_rand((unsigned)(k->len - 505)) : rk_rand((unsigned)k->len)] =
                (unsigned char)rk_rand(256);
        int dup = 0;
        for (size_t i = 0; i < nk && !dup; i++)
            dup = keys[i].len == k->len && !memcmp(keys[i].k, k->k, k->len);
        if (!dup)
            nk++;
    }
    qsort(keys, nk, sizeof *keys, rk_cmp);
    for (size_t i = 0; i < nk; i++)
        if ((keys[i].live_db = keys[i].live_txn = rk_rand(3) != 0))
            TU_OK(mnemo_kv_put(db, NULL, keys[i].k, keys[i].len, "v", 1));
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    for (size_t i = 0; i < nk; i++) {
        if (rk_rand(4))
            continue;
        if ((keys[i].live_txn = !keys[i].live_txn))
            TU_OK(mnemo_kv_put(db, txn, keys[i].k, keys[i].len, "t", 1));
        else
            TU_OK(mnemo_kv_delete(db, txn, keys[i].k, keys[i].len));
    }
    for (int round = 0; round < 30; round++) {
        rk_scan(keys, nk, NULL, round % 2);
        rk_scan(keys, nk, txn, round % 2);
    }
    TU_OK(mnemo_txn_rollback(txn));
    mnemo_txn_free(txn);
    close_db();
}
