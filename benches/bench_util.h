/* Helpers shared by the benchmarks: timing, a seeded RNG, scratch directories, medians. */
#ifndef MNEMO_BENCH_UTIL_H
#define MNEMO_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

void bu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
double bu_now_s(void);
uint64_t bu_rand(void); /* splitmix64, fixed seed: every run does the same work */
uint64_t bu_rand_r(uint64_t *state); /* the same on a caller's state (one per thread) */
/* Dies naming the call, the code and the message when a mnemo call fails. */
#define BU_CHECK(call)                                                                                      \
    do {                                                                                                    \
        int rc_ = (call);                                                                                   \
        if (rc_ < 0)                                                                                        \
            bu_die("%s: %s (%s)", #call, mnemo_strerror(rc_), mnemo_errmsg());                              \
    } while (0)
void bu_seed(uint64_t seed);
/* A fresh directory path (not created) under a scratch root removed at exit. */
void bu_run_dir(char *buf, size_t cap, const char *name);
void bu_rm_tree(const char *path);
double bu_median(double *v, int n);

/* --engine rocksdb|lmdb|memory: the engine of every mnemo database a benchmark creates. */
extern const char *bu_engine;
/* Parses an --engine value (exits 2 naming the flag on an unknown engine). */
void bu_set_engine(const char *name);
/* The path to create a database at: dir, or ":memory:" on the memory engine (dir is not used). */
const char *bu_db_path(const char *dir);
/* Options for creating a database on bu_engine. */
struct mnemo_options;
void bu_create_options(struct mnemo_options *o);

#endif
