/* Follower lag (issue 12): the time from a writer's commit returning to a reader in another
 * process seeing it. The program runs itself as the writer (fork + exec).
 *
 * The writer holds the database read-write and commits N auto-commit kv puts of key "lag" (value:
 * the commit's number), one every 0.2-2 ms (uniform, so commits do not fall in step with the
 * reader's catch-ups), noting CLOCK_MONOTONIC (system-wide) when each put returned. This process
 * reads "lag" in a loop (by default without a pause: a reader that reads all the time; with
 * --pause-us, sleeping that long between reads, which leaves the CPU to the writer on a small
 * machine) and notes when it first saw each number; lag = seen - returned.
 *
 * rocksdb: the reader is a follower (a read-only open of a held database), run once per catch-up
 * interval (mnemo_rocksdb__follow_us: 0 = at every read, the default 1000 us, 10000 us). lmdb: the
 * reader is a second read-only process on the same map (the peer: no catch-up at all); each line
 * reports its p50 and p99 as a ratio to lmdb's.
 *
 *   bench_follow [--quick] [--commits N] [--pause-us P] [--dir DIR]
 * One JSON line per (engine, interval). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#include "store/rocksdb/rocksdb.h" /* the follower's catch-up interval */

static const char *self;
static unsigned pause_us;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_follow[%d]: %s: %s\n", (int)getpid(), what, mnemo_errmsg());
    exit(1);
}

static mnemo_db *open_db(const char *dir, const char *engine, int create, int read_only)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.engine = engine;
    o.create_if_missing = create;
    o.read_only = read_only;
    mnemo_db *db;
    if (mnemo_open(&db, dir, &o))
        fail("open");
    return db;
}

static int writer(const char *dir, const char *engine, int n)
{
    mnemo_db *db = open_db(dir, engine, 0, 0);
    uint64_t *t = malloc((size_t)n * sizeof *t);
    if (!t)
        fail("malloc");
    printf("open\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        fail("no go");
    unsigned seed = (unsigned)getpid();
    for (int i = 0; i < n; i++) {
        usleep(200 + (unsigned)(rand_r(&seed) % 1800));
        char v[16];
        int vl = snprintf(v, sizeof v, "%d", i);
        if (mnemo_kv_put(db, NULL, "lag", 3, v, (size_t)vl))
            fail("put");
        t[i] = now_ns();
    }
    for (int i = 0; i < n; i++)
        printf("%d %" PRIu64 "\n", i, t[i]);
    printf("done\n");
    fflush(stdout);
    free(t);
    if (!fgets(line, sizeof line, stdin)) /* "quit": the reader has closed */
        fail("no quit");
    return mnemo_close(db) ? 1 : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct result {
    double p50_us, p99_us, max_us, reads_per_s;
} result;

static result run(const char *base, const char *engine, int n, int follow_us)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/%s-%d", base, engine, follow_us);
    mnemo_close(open_db(dir, engine, 1, 0));
    int to[2], from[2];
    if (pipe(to) || pipe(from))
        fail("pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        char ns[16];
        snprintf(ns, sizeof ns, "%d", n);
        execl(self, self, "--writer", dir, engine, ns, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    FILE *in = fdopen(to[1], "w"), *out = fdopen(from[0], "r");
    char line[128];
    if (!fgets(line, sizeof line, out) || strncmp(line, "open", 4))
        fail("the writer did not open");
    mnemo_rocksdb__follow_us = (unsigned)follow_us;
    mnemo_db *db = open_db(dir, engine, 0, 1);
    uint64_t *seen = calloc((size_t)n, sizeof *seen);
    if (!seen)
        fail("calloc");
    fprintf(in, "go\n");
    fflush(in);
    int last = -1;
    uint64_t reads = 0, t0 = now_ns();
    while (last < n - 1) {
        void *v;
        size_t vl;
        int rc = mnemo_kv_get(&v, &vl, db, NULL, "lag", 3);
        uint64_t t = now_ns();
        reads++;
        if (pause_us)
            usleep(pause_us);
        if (rc == MNEMO_ENOTFOUND)
            continue;
        if (rc)
            fail("get");
        char buf[16];
        snprintf(buf, sizeof buf, "%.*s", (int)(vl < 15 ? vl : 15), (const char *)v);
        mnemo_free(v);
        for (int i = atoi(buf); last < i;) /* every number up to it became visible by now */
            seen[++last] = t;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    mnemo_close(db);
    int64_t *lag = malloc((size_t)n * sizeof *lag);
    int got = 0;
    while (got < n && fgets(line, sizeof line, out)) {
        int i;
        uint64_t t;
        if (sscanf(line, "%d %" SCNu64, &i, &t) == 2 && i >= 0 && i < n)
            lag[got++] = (int64_t)(seen[i] - t);
    }
    while (fgets(line, sizeof line, out) && strncmp(line, "done", 4))
        ;
    fprintf(in, "quit\n");
    fclose(in);
    fclose(out);
    int st;
    waitpid(pid, &st, 0);
    if (got != n || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail("the writer failed");
    qsort(lag, (size_t)n, sizeof *lag, cmp_i64);
    result r = {(double)lag[n / 2] / 1e3, (double)lag[(size_t)n * 99 / 100] / 1e3, (double)lag[n - 1] / 1e3,
                (double)reads / secs};
    free(lag);
    free(seen);
    return r;
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc == 5 && !strcmp(argv[1], "--writer"))
        return writer(argv[2], argv[3], atoi(argv[4]));
    int n = 2000;
    const char *dir_opt = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            n = 200;
        else if (!strcmp(argv[i], "--commits") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pause-us") && i + 1 < argc)
            pause_us = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_opt = argv[++i];
        else {
            fprintf(stderr, "usage: bench_follow [--quick] [--commits N] [--pause-us P] [--dir DIR]\n");
            return 2;
        }
    }
    if (n < 10)
        n = 10;
    char base[512];
    snprintf(base, sizeof base, "%s", dir_opt ? dir_opt : "/tmp/bench_follow-XXXXXX");
    if (!dir_opt && !mkdtemp(base))
        fail("mkdtemp");
    mkdir(base, 0755);
    result peer = run(base, "lmdb", n, 0);
    printf("{\"bench\":\"follow\",\"engine\":\"lmdb\",\"reader\":\"second process\",\"commits\":%d,\"pause_us\":%u,"
           "\"lag_p50_us\":%.1f,\"lag_p99_us\":%.1f,\"lag_max_us\":%.1f,\"reader_reads_per_s\":%.0f}\n",
           n, pause_us, peer.p50_us, peer.p99_us, peer.max_us, peer.reads_per_s);
    fflush(stdout);
    static const int intervals[] = {0, MNEMO_ROCKSDB_FOLLOW_US, 10000};
    for (size_t k = 0; k < sizeof intervals / sizeof *intervals; k++) {
        result r = run(base, "rocksdb", n, intervals[k]);
        printf("{\"bench\":\"follow\",\"engine\":\"rocksdb\",\"reader\":\"follower\",\"follow_us\":%d,\"commits\":%d,"
               "\"pause_us\":%u,\"lag_p50_us\":%.1f,\"lag_p99_us\":%.1f,\"lag_max_us\":%.1f,\"reader_reads_per_s\":%.0f,"
               "\"p50_ratio_vs_lmdb\":%.1f,\"p99_ratio_vs_lmdb\":%.1f}\n",
               intervals[k], n, pause_us, r.p50_us, r.p99_us, r.max_us, r.reads_per_s,
               peer.p50_us > 0 ? r.p50_us / peer.p50_us : 0.0, peer.p99_us > 0 ? r.p99_us / peer.p99_us : 0.0);
        fflush(stdout);
    }
    if (!dir_opt) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_follow: could not remove %s\n", base);
    }
    return 0;
}
