/* The smallest tour of mnemo's key-value layer: open a database, store, read, scan, transact,
 * delete. Run: quickstart [DIR]   (default: a fresh temporary directory, removed afterwards). */
#include "example.h"

#include <string.h>

static int transfer(mnemo_txn *txn, void *arg)
{
    mnemo_db *db = arg;
    void *v;
    size_t n;
    CHECK(mnemo_kv_get(&v, &n, db, txn, "note:count", 10));
    int count = atoi(v);
    mnemo_free(v);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", count + 1);
    return mnemo_kv_put(db, txn, "note:count", 10, buf, strlen(buf));
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/mnemo-quickstart-XXXXXX";
    const char *dir = argc > 1 ? argv[1] : NULL;
    if (!dir) {
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmp;
    }
    printf("mnemo %s, database in %s\n", mnemo_version(NULL, NULL, NULL), dir);

    mnemo_options opts = MNEMO_OPTIONS_INIT;
    opts.create_if_missing = 1;
    mnemo_db *db;
    CHECK(mnemo_open(&db, dir, &opts));

    const char *notes[][2] = {
        {"note:001", "the user prefers short answers"},
        {"note:002", "the user's cat is called Miso"},
        {"note:003", "meeting with Dana moved to Friday"},
        {"todo:001", "buy cat food"},
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        CHECK(mnemo_kv_put(db, NULL, notes[i][0], strlen(notes[i][0]), notes[i][1], strlen(notes[i][1])));
    printf("stored %zu pairs\n", sizeof notes / sizeof notes[0]);

    void *val;
    size_t len;
    CHECK(mnemo_kv_get(&val, &len, db, NULL, "note:002", 8));
    printf("get note:002 -> %.*s\n", (int)len, (char *)val);
    mnemo_free(val);

    mnemo_kv_iter_options io = MNEMO_KV_ITER_OPTIONS_INIT;
    io.prefix = "note:";
    io.prefix_len = 5;
    mnemo_iter *it;
    CHECK(mnemo_kv_iter(&it, db, NULL, &io));
    int rc;
    printf("scan prefix note:\n");
    const void *k, *v;
    size_t kl, vl;
    while ((rc = mnemo_iter_next_kv(it, &k, &kl, &v, &vl)) == 0) /* the move, key and value */
        printf("  %.*s = %.*s\n", (int)kl, (const char *)k, (int)vl, (const char *)v);
    mnemo_iter_free(it);
    if (rc != MNEMO_ITEROVER)
        CHECK(rc);

    CHECK(mnemo_kv_put(db, NULL, "note:count", 10, "3", 1));
    CHECK(mnemo_txn_run(db, 0, transfer, db, NULL));
    CHECK(mnemo_kv_get(&val, &len, db, NULL, "note:count", 10));
    printf("counter after one transactional increment -> %.*s\n", (int)len, (char *)val);
    mnemo_free(val);

    CHECK(mnemo_kv_delete(db, NULL, "todo:001", 8));
    rc = mnemo_kv_get(&val, &len, db, NULL, "todo:001", 8);
    printf("after delete, get todo:001 -> %s\n", mnemo_strerror(rc));

    CHECK(mnemo_close(db));
    if (argc <= 1) {
        char cmd[sizeof tmp + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
    }
    printf("ok\n");
    return 0;
}
