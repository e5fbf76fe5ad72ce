/* Views released without a guard while their handle closes (txn.c mnemo_txn__view_release; found
 * by a review under ThreadSanitizer): a thread holds a view of handle A while the main thread
 * closes A (close gives the value back), then releases it (the node goes to the thread's spare)
 * and at once takes a view of handle B, which reuses the node. Close's last accesses to the node
 * must happen before that reuse (a release store of the node's db, an acquire load in release).
 * Run under TSan (build-tsan) for the ordering; elsewhere it checks the values and that nothing
 * crashes or leaks. Engine: $MNEMO_TEST_ENGINE (default rocksdb; memory: handles are not reopened
 * from disk, which this test does not need).
 *
 *   views_close [ROUNDS]        exit status 0 = no anomaly */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

static char base[512];
static mnemo_db *_Atomic db_a;
static mnemo_db *db_b;
static atomic_int phase; /* 0: take a view of A; 1: the holder has it; 2: A closing; 3: released */
static atomic_int stop, bad;

static void die(const char *what)
{
    fprintf(stderr, "views_close: %s: %s\n", what, mnemo_errmsg());
    exit(2);
}

static mnemo_db *open_at(const char *name)
{
    char path[600];
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.engine = getenv("MNEMO_TEST_ENGINE");
    o.create_if_missing = 1;
    if (o.engine && !strcmp(o.engine, "memory"))
        snprintf(path, sizeof path, ":memory:");
    else
        snprintf(path, sizeof path, "%s/%s", base, name);
    mnemo_db *d;
    if (mnemo_open(&d, path, &o) || mnemo_kv_put(d, NULL, "k", 1, name, strlen(name)))
        die(name);
    return d;
}

static int holds(const mnemo_view *v, const char *want)
{
    return v->len == strlen(want) && !memcmp(v->data, want, v->len);
}

static void *holder(void *unused)
{
    (void)unused;
    while (!atomic_load(&stop)) {
        if (atomic_load(&phase) != 0) {
            sched_yield();
            continue;
        }
        mnemo_view v = MNEMO_VIEW_INIT, w = MNEMO_VIEW_INIT;
        if (mnemo_kv_view(&v, atomic_load(&db_a), NULL, "k", 1))
            die("view of a");
        if (!holds(&v, "a"))
            atomic_store(&bad, 1);
        atomic_store(&phase, 1);
        while (atomic_load(&phase) != 2)
            sched_yield();
        for (volatile int i = 0; i < 2000; i++) /* let the close get under way, or past */
            ;
        mnemo_view_release(&v); /* close may have given it back already */
        if (mnemo_kv_view(&w, db_b, NULL, "k", 1)) /* the thread's spare node again */
            die("view of b");
        if (!holds(&w, "b"))
            atomic_store(&bad, 2);
        mnemo_view_release(&w);
        atomic_store(&phase, 3);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/mnemo-views-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 2;
    }
    db_b = open_at("b");
    atomic_store(&db_a, open_at("a"));
    pthread_t th;
    if (pthread_create(&th, NULL, holder, NULL))
        return 2;
    for (int r = 0; r < rounds; r++) {
        while (atomic_load(&phase) != 1)
            sched_yield();
        mnemo_db *d = atomic_load(&db_a);
        atomic_store(&phase, 2);
        if (mnemo_close(d))
            die("close a");
        while (atomic_load(&phase) != 3)
            sched_yield();
        atomic_store(&db_a, open_at("a"));
        atomic_store(&phase, 0);
    }
    while (atomic_load(&phase) != 1) /* the holder took a view again: let it go and end */
        sched_yield();
    atomic_store(&stop, 1);
    atomic_store(&phase, 2);
    pthread_join(th, NULL);
    if (mnemo_close(atomic_load(&db_a)) || mnemo_close(db_b))
        die("close");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    printf("{\"test\":\"views_close\",\"rounds\":%d,\"bad\":%d}\n", rounds, atomic_load(&bad));
    return atomic_load(&bad) ? 1 : 0;
}
