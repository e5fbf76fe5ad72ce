/* The `mnemo` command-line program: shared declarations. Built only on the public API
 * (mnemo/mnemo.h) plus jansson for reading JSON. One file per command group; each group exports a
 * table of commands that main.c lists (add a group: write cmd_<group>.c with its table and name the
 * table in main.c's `groups`). */
#ifndef MNEMO_CLI_H
#define MNEMO_CLI_H

#include <mnemo/mnemo.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit codes (the contract with scripts). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* engine error, bad input file, failed check */
#define CLI_EXIT_USAGE 2 /* bad command line (options, arguments, JSON arguments that do not parse) */

/* The library's limits on vector options (checked in src/vector/space.c and src/vector/search.c,
 * not exported by the public headers): the CLI refuses the same values as bad usage. Plain
 * literals so that help texts can quote them (CLI_STR). */
#define CLI_HNSW_M_MIN 2
#define CLI_HNSW_M_MAX 1024
#define CLI_HNSW_EF_MAX 100000 /* ef_construction, ef_search */
#define CLI_SEARCH_K_MAX 100000
#define CLI_STR_(x) #x
#define CLI_STR(x) CLI_STR_(x)

#define CLI_MAX_POS 4
#define CLI_MAX_OPTS 24

/* One --option of a command. */
typedef struct cli_optspec {
    const char *name; /* without the leading "--" */
    int has_arg;      /* 1: takes a value (--name V or --name=V) */
} cli_optspec;

/* A parsed command line: positional arguments and option values (by index into cmd->opts). */
typedef struct cli_args {
    const char *pos[CLI_MAX_POS];
    int npos;
    const char *val[CLI_MAX_OPTS]; /* value, or "" for a flag without argument; NULL when absent */
} cli_args;

typedef struct cli_cmd cli_cmd;
struct cli_cmd {
    const char *name;     /* e.g. "get" */
    const char *synopsis; /* arguments after the name, e.g. "DB ID" */
    const char *summary;  /* one line for the global help */
    const char *help;     /* the options and output, for `mnemo NAME --help` */
    cli_optspec opts[CLI_MAX_OPTS]; /* ends at the first entry with a NULL name */
    int min_pos, max_pos;       /* how many positional arguments (DB included) */
    int (*run)(const cli_cmd *cmd, const cli_args *a); /* returns the exit code */
};

/* Command tables of the groups, each ended by an entry with a NULL name. */
extern const cli_cmd cli_admin_cmds[];
extern const cli_cmd cli_records_cmds[];
extern const cli_cmd cli_graph_cmds[];
extern const cli_cmd cli_io_cmds[];
extern const cli_cmd cli_vector_cmds[];
extern const cli_cmd cli_demo_cmds[];
extern const cli_cmd cli_bench_cmds[];
extern const cli_cmd cli_text_cmds[];
extern const cli_cmd cli_recall_cmds[];

/* `search --text`: BM25 full-text search (cmd_text.c). @return the exit code. */
int cli_text_search(const cli_cmd *cmd, const cli_args *a);

/* Index of option `name` in cmd->opts (the name must exist: a programming error aborts). */
int cli_opt_index(const cli_cmd *cmd, const char *name);
/* Value of option `name`, NULL when it was not given. */
const char *cli_opt(const cli_cmd *cmd, const cli_args *a, const char *name);
/* Parse an option value as an unsigned integer in [min, max]; on error prints a usage error.
 * @return 0, or CLI_EXIT_USAGE. *out is left alone when the option is absent. */
int cli_opt_uint(uint64_t *out, const cli_cmd *cmd, const cli_args *a, const char *name, uint64_t min, uint64_t max);
/* Parse --dir out|in|both (absent: `dflt`). @return 0 or CLI_EXIT_USAGE. */
int cli_opt_dir(mnemo_direction *out, const cli_cmd *cmd, const cli_args *a, mnemo_direction dflt);

/* Parse a JSON argument of the command line (`what` names it in messages) that must be a JSON
 * value of type `want` (JSON_OBJECT, JSON_ARRAY). Invalid JSON (duplicate keys included) or another
 * type is a usage error in every command. @return 0 with *out a new reference, or CLI_EXIT_USAGE. */
int cli_json_arg(json_t **out, const cli_cmd *cmd, const char *what, const char *text, json_type want);
/* The restriction options vector and text search share: --where (checked as a JSON object) and
 * --near ID with --hops/--dir/--label. Sets *filter, *near, *label (NULL when absent); returns 0
 * or CLI_EXIT_USAGE after printing why. */
int cli_search_restriction(const cli_cmd *cmd, const cli_args *a, uint64_t hops, const char **filter,
                           const char **near, const char **label);

/* Errors: one line on stderr, "mnemo CMD: message". Each returns its exit code. */
int cli_usage(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_fail(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An engine error: "mnemo CMD: <what>: MNEMO_EXXX: <mnemo_errmsg()>"; call it right after the
 * failing call (the message is the thread's last). */
int cli_engine(const cli_cmd *cmd, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Opening the database named by the first positional argument. */
enum { CLI_OPEN_RW = 0, CLI_OPEN_RO = 1, CLI_OPEN_CREATE = 2 };
/* --collection NAME, which every command takes (main.c): the collection cli_open gives the handle
 * of (NULL: the default collection). CLI_OPEN_CREATE creates it with the vector space options. */
extern const char *cli_collection;
/* @return 0, or CLI_EXIT_FAIL after printing the error. */
int cli_open(mnemo_db **db, const cli_cmd *cmd, const char *path, int mode);
/* The same with options of the caller's (mode sets read_only / create_if_missing in a copy). */
int cli_open_with(mnemo_db **db, const cli_cmd *cmd, const char *path, int mode, const mnemo_options *o);
/* What every CLI open changes in its options: mnemo's cache off unless set (one command per
 * process fills it and never reuses it, and every write would register its entries to erase). */
void cli_options_adjust(mnemo_options *o);
/* Metric names: "l2", "cosine", "ip". cli_metric_parse returns 0 or -1 for an unknown name. */
const char *cli_metric_name(mnemo_metric m);
int cli_metric_parse(mnemo_metric *out, const char *s);
/* Close; a failure prints an error. @return `rc` when it is already non-zero, else 0 or
 * CLI_EXIT_FAIL. */
int cli_close(mnemo_db *db, const cli_cmd *cmd, int rc);
/* Flush stdout; a write error (full disk, closed pipe) prints an error. @return rc or CLI_EXIT_FAIL. */
int cli_finish_output(const cli_cmd *cmd, int rc);

/* ---- json_out.c: JSON lines on stdout ---------------------------------------------------------- */

/* A JSON object being built into a buffer; fields come out in the order they are added. */
typedef struct jout {
    char *buf;
    size_t len, cap;
    int depth;
    unsigned char first[16]; /* per nesting level: nothing written yet */
} jout;

void jo_begin(jout *j);                      /* start a line's object (the buffer is reused) */
void jo_str(jout *j, const char *k, const char *v); /* v NULL writes null */
void jo_strn(jout *j, const char *k, const char *v, size_t n);
void jo_int(jout *j, const char *k, int64_t v);
void jo_uint(jout *j, const char *k, uint64_t v);
void jo_real(jout *j, const char *k, double v); /* shortest text that reads back as the same double */
void jo_float(jout *j, const char *k, float v); /* shortest text that reads back as the same float */
void jo_bool(jout *j, const char *k, int v);
void jo_null(jout *j, const char *k);
void jo_raw(jout *j, const char *k, const char *json); /* text that is already one JSON value */
/* A JSON value compact with keys sorted and every real in the shortest form of jo_real (the one
 * number formatter of the CLI; jansson's dumps print 17 digits: 0.29999999999999999). */
void jo_json(jout *j, const char *k, json_t *v);
/* JSON text (metadata, props as the engine returns them) written as jo_json writes it. */
void jo_json_text(jout *j, const char *k, const char *json);
/* The text of jo_json alone, malloc'd (free()): what the CLI hands the engine as metadata/props. */
char *cli_json_dump(json_t *v);
void jo_obj(jout *j, const char *k);         /* open a nested object (k NULL inside an array) */
void jo_obj_end(jout *j);
void jo_arr(jout *j, const char *k);         /* open an array; add elements with k = NULL */
void jo_arr_end(jout *j);
void jo_members(jout *j, const jout *other); /* append the members of another open object */
void jo_line(jout *j, FILE *f);              /* close the object, write it and a newline */
void jo_free(jout *j);

/* A record as the jsonl line of export/get: type, id, content, importance, created_at,
 * updated_at, expires_at, metadata, and "embedding" when `vectors` (the database has a vector
 * space: cli_has_vectors) and the record has one (read through txn, which may be NULL).
 * @return 0 or a negative MNEMO_E* code from reading the embedding (the line is then unfinished). */
int jo_record(jout *j, mnemo_db *db, mnemo_txn *txn, const mnemo_record *r, int vectors);
/* 1 if the database has a vector space, 0 if not, or a negative MNEMO_E* code. */
int cli_has_vectors(mnemo_db *db);

/* Base64 (RFC 4648, padded). Encode returns a malloc'd NUL-terminated string. Decode returns a
 * malloc'd buffer (NUL-terminated, not counted) or NULL for invalid input. */
char *cli_b64_encode(const void *data, size_t n);
unsigned char *cli_b64_decode(const char *s, size_t n, size_t *out_len);
/* 1 if the bytes are valid UTF-8 without NUL (fit for a JSON string as is). */
int cli_is_text(const void *data, size_t n);

/* ---- shared by record commands and import ------------------------------------------------------ */

/* Turn a jsonl record object into a record for mnemo_record_put. `type` may be absent or
 * "record"; unknown fields are refused. Strings in *rec borrow from obj; *meta_text (malloc'd,
 * free() it) holds the metadata text; *emb (malloc'd, free() it; NULL when the object has no
 * "embedding") holds *emb_dim floats. @return 0, or -1 with a message in err. */
int cli_record_from_json(mnemo_record *rec, char **meta_text, float **emb, size_t *emb_dim, json_t *obj, char *err,
                         size_t errlen);
/* A JSON array of numbers as floats (each finite as a float). @return a malloc'd array of *n
 * floats, or NULL with a message in err naming the component. */
float *cli_floats_from_json(size_t *n, json_t *arr, const char *what, char *err, size_t errlen);
/* Store a record and (when emb is not NULL) its embedding in txn (NULL: both in one transaction
 * of their own). @return 0 or a negative MNEMO_E* code. */
int cli_put_record(mnemo_db *db, mnemo_txn *txn, const mnemo_record *rec, mnemo_record_put_mode mode, const float *emb,
                   size_t dim);

/* walk.c: call fn for every live record in id order, a page at a time (mnemo_record_list). fn returns 0
 * to go on or a negative code to stop with. @return 0 or a negative MNEMO_E* code. */
int cli_each_record(mnemo_db *db, mnemo_txn *txn, int (*fn)(void *arg, const mnemo_record *r), void *arg);
/* Call fn for every key-value pair in key order (slices borrowed for the call). Same returns. */
int cli_each_kv(mnemo_db *db, mnemo_txn *txn, int (*fn)(void *arg, const void *k, size_t kl, const void *v, size_t vl),
                void *arg);

/* ---- progress.c: a progress bar on stderr when it is a terminal ------------------------------- */

typedef struct cli_progress {
    int on;          /* stderr is a terminal */
    uint64_t total;  /* bytes expected (0: unknown) */
    double t0, last; /* seconds (monotonic) */
} cli_progress;

void cli_progress_start(cli_progress *p, uint64_t total_bytes);
void cli_progress_update(cli_progress *p, uint64_t bytes, uint64_t lines);
void cli_progress_end(cli_progress *p);
double cli_now(void); /* monotonic seconds */

/* ---- import (cmd_io.c drives batches; csv_graph.c reads TinkerPop CSV) ------------------------ */

/* Written by an import: counted per batch, added to the totals when the batch commits. */
typedef struct cli_import_counts {
    uint64_t records, edges, kv, indexes, vectors;
} cli_import_counts;

typedef struct cli_import {
    const cli_cmd *cmd;
    mnemo_db *db;         /* NULL after a failed reopen (import_space) */
    const char *path;     /* the database directory */
    const char *file;     /* as named on the command line, for messages */
    mnemo_txn *txn;       /* the open batch, or NULL */
    uint64_t batch;       /* lines per transaction */
    uint64_t in_batch;    /* lines of the open batch */
    uint64_t batch_first; /* first line of the open batch */
    uint64_t lines;       /* lines read so far */
    uint64_t bytes;       /* bytes read so far (progress) */
    uint64_t batches;     /* batches committed */
    cli_import_counts pending, done;
    cli_progress prog;
    uint64_t unit_first;  /* first line of the unit being applied (a CSV row may span lines) */
} cli_import;

/* The open batch's transaction (begun on first use). @return 0 or a negative MNEMO_E* code. */
int cli_import_txn(cli_import *im, mnemo_txn **txn);
/* One line of input is applied: commit when the batch is full. @return 0 or an exit code. */
int cli_import_line_done(cli_import *im);
/* Commit what is left. @return 0 or an exit code. */
int cli_import_commit(cli_import *im);
/* Reject line `line` (where the bad unit starts): roll back its batch and print "FILE:LINE: message"
 * (with the engine's code and message when rc is non-zero) and the lines rolled back, from the
 * batch's first to the last line read. @return CLI_EXIT_FAIL. */
int cli_import_reject(cli_import *im, uint64_t line, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Read one line (without its newline and a trailing CR, and line 1 without a UTF-8 byte order
 * mark) into *buf; counts lines and bytes.
 * @return its length, or -1 at the end of the file. */
ssize_t cli_import_getline(cli_import *im, char **buf, size_t *cap, FILE *f);

/* An RFC 4180 CSV reader (quoted fields may span lines); lines are counted in im. */
typedef struct cli_csv {
    cli_import *im;
    FILE *f;
    char *line;  /* the current physical line */
    size_t cap;
    char *rec;   /* the record (lines joined while a quote is open) */
    size_t rec_len, rec_cap;
    char **fields; /* after cli_csv_next: nfields fields, valid until the next call */
    size_t nfields, fields_cap;
    uint64_t first_line; /* line number where the record starts */
} cli_csv;
/* Read and split the next record. @return 1, 0 at the end, -1 for bad quoting. */
int cli_csv_next(cli_csv *r);
void cli_csv_free(cli_csv *r);

/* Import a TinkerPop bulk-load CSV file (nodes or edges, told apart by the header).
 * @param[out] kind "nodes" or "edges". @return an exit code. */
int cli_import_csv_graph(cli_import *im, FILE *f, const char *weight_column, const char *label, int undirected,
                         const char **kind);


/* Read the next vector of an fvecs file into (*buf)[at .. at + *dim) (grown as needed; *cap in
 * floats). *dim 0 before the first vector (then set from it); later vectors must have it.
 * @return 1, 0 at the end of the file, -1 with a message in err (bad dimension, truncated,
 * NaN or infinite component, read error). */
int cli_fvecs_next(FILE *f, size_t *dim, float **buf, size_t *cap, size_t at, char *err, size_t errlen);

/* Abort on out of memory (a command-line program has nothing better to do). */
void *cli_xmalloc(size_t n);
void *cli_xrealloc(void *p, size_t n);
char *cli_xstrdup(const char *s);

/* What a directory held before a command that may create it (init), so that a failure can
 * remove what the command created and nothing else. */
typedef struct cli_dir_mark {
    int existed;  /* the directory was there before */
    char **names; /* its entries then */
    size_t n;
} cli_dir_mark;
void cli_dir_mark_take(cli_dir_mark *m, const char *path);
/* Remove what appeared under path since cli_dir_mark_take (the directory too if it was new). */
void cli_dir_mark_undo(const cli_dir_mark *m, const char *path);
void cli_dir_mark_free(cli_dir_mark *m);

/* Bytes of the files under a directory (0 if unreadable). */
uint64_t cli_disk_bytes(const char *path);

#endif
