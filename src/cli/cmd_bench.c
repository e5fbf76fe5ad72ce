/* `mnemo bench kv|record|graph|vector [OPTIONS]`: runs the benchmark program of that module (built
 * with the project's benchmarks, benches/bench_<name>), which prints one JSON line per result. The
 * programs stay separate executables because they link their baselines (RocksDB alone, SQLite,
 * hnswlib directly), which the CLI, built on mnemo's public API only, does not. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef MNEMO_BENCH_DIR
#define MNEMO_BENCH_DIR "benches"
#endif

static const char *const known[] = {"kv", "record", "graph", "vector", "tuning", NULL};

static int run_bench(const cli_cmd *cmd, const cli_args *a)
{
    const char *name = a->pos[0];
    int ok = 0;
    for (int i = 0; known[i]; i++)
        ok |= !strcmp(known[i], name);
    if (!ok)
        return cli_usage(cmd, "unknown benchmark '%s' (kv, record, graph, vector, tuning)", name);
    const char *dir = getenv("MNEMO_BENCH_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_%s", dir && *dir ? dir : MNEMO_BENCH_DIR, name);
    if (access(path, X_OK) != 0)
        return cli_fail(cmd, "%s: not found (build with -Dbenchmarks=enabled, or set MNEMO_BENCH_DIR)", path);
    /* the options given, passed on as they came */
    char *argv[2 + 2 * CLI_MAX_OPTS];
    int n = 0;
    argv[n++] = path;
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++) {
        if (!a->val[i])
            continue;
        static char flags[CLI_MAX_OPTS][40];
        snprintf(flags[i], sizeof flags[i], "--%s", cmd->opts[i].name);
        argv[n++] = flags[i];
        if (cmd->opts[i].has_arg)
            argv[n++] = (char *)a->val[i];
    }
    argv[n] = NULL;
    fflush(stdout);
    execv(path, argv);
    return cli_fail(cmd, "%s: cannot run: %s", path, strerror(errno));
}

const cli_cmd cli_bench_cmds[] = {
    {"bench", "kv|record|graph|vector|tuning [OPTIONS]", "run a module's benchmark (JSON lines)",
     "Runs benches/bench_NAME of the build (or of $MNEMO_BENCH_DIR): mnemo against the plain\n"
     "dependency doing the same work in the same run (RocksDB alone, SQLite, hnswlib directly,\n"
     "a plain sgemm loop), one JSON line per result with the ratio and the goal (docs/benchmarks.md).\n"
     "Options are passed on; which apply depends on the benchmark:\n"
     "  --quick --reps R                     all\n"
     "  --data DIR                           graph, vector\n"
     "  --graph facebook|wiki|all --q1 N --q2 N --paths N --no-sqlite --load-only   graph\n"
     "  --n N --churn-rounds R --only siftsmall|clustered                           vector\n",
     {{"quick", 0}, {"reps", 1}, {"data", 1}, {"graph", 1}, {"q1", 1}, {"q2", 1}, {"paths", 1}, {"no-sqlite", 0},
      {"load-only", 0}, {"n", 1}, {"churn-rounds", 1}, {"only", 1}, {NULL, 0}},
     1, 1, run_bench},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
