/* Several processes on one lmdb database (issue 12): commits/s and search q/s with 1, 2 and 4
 * processes, each process with its own index brought up to date from the shared change log.
 * The program runs itself as its workers (fork + exec). The peer is the same run with one
 * process: each line reports the ratio to it.
 *
 * Data: PRELOAD records with 32-dim random embeddings (L2). A commit: one record put + its
 * embedding, one transaction (new ids, so commits of different processes do not conflict). A
 * search: k = 10 nearest (HNSW, ef 64) of a random query, after the catch-up every search does.
 *
 * With --etcd the database lives on a three-member etcd cluster the program starts on 127.0.0.1
 * (tests/etcdtest.c; Debian's etcd-server), reached by every process through the etcd engine.
 *
 *   bench_mproc [--quick] [--reps R] [--seconds S] [--dir DIR] [--preload N] [--etcd]
 * One JSON line per (phase, processes): the median of R runs. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mnemo/mnemo.h>

#ifdef MNEMO_HAVE_ETCD
#include "etcdtest.h"
#endif

enum { DIM = 32, K = 10 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_mproc[%d]: %s: %s\n", (int)getpid(), what, mnemo_errmsg());
    exit(1);
}

static void rand_vec(float *v, unsigned *seed)
{
    for (int j = 0; j < DIM; j++)
        v[j] = (float)rand_r(seed) / (float)RAND_MAX;
}

/* A worker: waits until `start`, then commits or searches until `start + secs`; prints its count. */
static int worker(const char *dir, const char *phase, double start, double secs, int w)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    mnemo_db *db;
    if (mnemo_open(&db, dir, &o))
        fail("open");
    unsigned seed = (unsigned)getpid() * 2654435761u;
    float v[DIM];
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.ef = 64;
    /* a first search: the open's catch-up is not measured */
    rand_vec(v, &seed);
    mnemo_vector_hits *h;
    if (mnemo_vector_search(&h, db, NULL, v, DIM, K, &so))
        fail("search");
    mnemo_vector_hits_free(h);
    while (now_s() < start)
        usleep(1000);
    uint64_t n = 0;
    double end = start + secs;
    char id[48];
    while (now_s() < end) {
        rand_vec(v, &seed);
        if (!strcmp(phase, "commit")) {
            snprintf(id, sizeof id, "w%d-%d-%" PRIu64, w, (int)getpid(), n);
            mnemo_txn *t;
            mnemo_record r = {0};
            r.id = id;
            int rc = mnemo_txn_begin(&t, db, 0);
            if (!rc)
                rc = mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT);
            if (!rc)
                rc = mnemo_vector_put(db, t, id, v, DIM);
            if (!rc)
                rc = mnemo_txn_commit(t);
            mnemo_txn_free(t);
            if (rc == MNEMO_EBUSY)
                continue;
            if (rc)
                fail("commit");
        } else {
            if (mnemo_vector_search(&h, db, NULL, v, DIM, K, &so))
                fail("search");
            mnemo_vector_hits_free(h);
        }
        n++;
    }
    printf("%" PRIu64 "\n", n);
    fflush(stdout);
    return mnemo_close(db) ? 1 : 0;
}

static const char *self;

/* Runs P workers of a phase at once; the total operations per second. */
static double run_phase(const char *dir, const char *phase, int p, double secs)
{
    FILE *out[8];
    pid_t pid[8];
    char start_s[32], secs_s[32];
    double start = now_s() + 0.5 + 0.2 * p; /* every worker has opened by then */
    snprintf(start_s, sizeof start_s, "%.6f", start);
    snprintf(secs_s, sizeof secs_s, "%.3f", secs);
    for (int w = 0; w < p; w++) {
        int fd[2];
        if (pipe(fd))
            fail("pipe");
        fflush(NULL);
        pid[w] = fork();
        if (pid[w] == 0) {
            dup2(fd[1], 1);
            close(fd[0]);
            char ws[16]; /* any int: gcc checks the bound */
            snprintf(ws, sizeof ws, "%d", w);
            execl(self, self, "--worker", dir, phase, start_s, secs_s, ws, (char *)NULL);
            _exit(127);
        }
        close(fd[1]);
        out[w] = fdopen(fd[0], "r");
    }
    uint64_t total = 0;
    int bad = 0;
    for (int w = 0; w < p; w++) {
        uint64_t n = 0;
        bad |= fscanf(out[w], "%" SCNu64, &n) != 1;
        total += n;
        fclose(out[w]);
        int st;
        waitpid(pid[w], &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    if (bad) {
        fprintf(stderr, "bench_mproc: a %s worker failed\n", phase);
        exit(1);
    }
    return (double)total / secs;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc == 7 && !strcmp(argv[1], "--worker"))
        return worker(argv[2], argv[3], atof(argv[4]), atof(argv[5]), atoi(argv[6]));
    int quick = 0, reps = 3, etcd = 0;
    double secs = 2.0;
    long preload_opt = -1;
    const char *dir_opt = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_opt = argv[++i];
        else if (!strcmp(argv[i], "--preload") && i + 1 < argc)
            preload_opt = atol(argv[++i]);
        else if (!strcmp(argv[i], "--etcd"))
            etcd = 1;
        else {
            fprintf(stderr, "usage: bench_mproc [--quick] [--reps R] [--seconds S] [--dir DIR] [--preload N] "
                            "[--etcd]\n");
            return 2;
        }
    }
    if (quick)
        secs = 0.3;
    if (reps < 1 || reps > 15)
        reps = 3;
    size_t preload = preload_opt >= 0 ? (size_t)preload_opt : quick ? 500 : 20000;
    char base[512], dir[1200];
    snprintf(base, sizeof base, "%s", dir_opt ? dir_opt : "/tmp/bench_mproc-XXXXXX");
    if (!dir_opt && !mkdtemp(base))
        fail("mkdtemp");
    mkdir(base, 0755);
    snprintf(dir, sizeof dir, "%s/db", base);
#ifdef MNEMO_HAVE_ETCD
    tu_etcd cluster;
    if (etcd) {
        if (!tu_etcd_available() || tu_etcd_start(&cluster, 3)) {
            fprintf(stderr, "bench_mproc --etcd: cannot start a three-member etcd cluster (etcd-server)\n");
            return 1;
        }
        snprintf(dir, sizeof dir, "etcd://%s/bench%d?%s", cluster.endpoints, (int)getpid(), TU_ETCD_PATH_OPTIONS);
    }
#else
    if (etcd) {
        fprintf(stderr, "bench_mproc --etcd: this build has no etcd engine\n");
        return 1;
    }
#endif

    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.engine = etcd ? "etcd" : "lmdb";
    o.create_if_missing = 1;
    o.vector_dim = DIM;
    mnemo_db *db;
    if (mnemo_open(&db, dir, &o))
        fail("create");
    unsigned seed = 7;
    enum { BATCH = 500 };
    float *vecs = malloc(BATCH * DIM * sizeof *vecs);
    char **ids = malloc(BATCH * sizeof *ids);
    for (size_t i = 0; i < BATCH; i++)
        ids[i] = malloc(24);
    for (size_t done = 0; done + BATCH <= preload; done += BATCH) {
        mnemo_txn *t;
        if (mnemo_txn_begin(&t, db, 0))
            fail("begin");
        for (size_t i = 0; i < BATCH; i++) {
            snprintf(ids[i], 24, "p%zu", done + i);
            mnemo_record r = {0};
            r.id = ids[i];
            if (mnemo_record_put(db, t, &r, MNEMO_PUT_UPSERT))
                fail("preload put");
            rand_vec(vecs + i * DIM, &seed);
        }
        if (mnemo_vector_put_batch(db, t, (const char *const *)ids, vecs, BATCH, DIM) || mnemo_txn_commit(t))
            fail("preload");
        mnemo_txn_free(t);
    }
    if (mnemo_close(db))
        fail("close");

    static const int procs[] = {1, 2, 4};
    double base_rate[2] = {0, 0};
    for (size_t pi = 0; pi < sizeof procs / sizeof *procs; pi++) {
        for (int ph = 0; ph < 2; ph++) {
            const char *phase = ph ? "search" : "commit";
            double r[15];
            for (int k = 0; k < reps; k++)
                r[k] = run_phase(dir, phase, procs[pi], secs);
            qsort(r, (size_t)reps, sizeof *r, cmp_d);
            double med = r[reps / 2];
            if (procs[pi] == 1)
                base_rate[ph] = med;
            printf("{\"bench\":\"mproc\",\"engine\":\"%s\",\"phase\":\"%s\",\"processes\":%d,\"preload\":%zu,"
                   "\"dim\":%d,\"seconds\":%.2f,\"reps\":%d,\"%s\":%.0f,\"ratio_vs_1_process\":%.2f}\n",
                   o.engine, phase, procs[pi], preload, DIM, secs, reps, ph ? "searches_per_s" : "commits_per_s", med,
                   base_rate[ph] > 0 ? med / base_rate[ph] : 0.0);
            fflush(stdout);
        }
    }
    for (size_t i = 0; i < BATCH; i++)
        free(ids[i]);
    free(ids);
    free(vecs);
#ifdef MNEMO_HAVE_ETCD
    if (etcd)
        tu_etcd_stop(&cluster);
#endif
    if (!dir_opt) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_mproc: could not remove %s\n", base);
    }
    return 0;
}
