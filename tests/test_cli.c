/* End-to-end tests of the `mnemo` command-line program: each test runs the built binary (path in
 * MNEMO_CLI, set by meson) in a fresh temporary directory and checks exit codes, stdout (JSON
 * lines) and stderr (one line on error, nothing on success). In the sanitizer build the binary is
 * sanitized too, so a leak or UB report shows up as unexpected stderr and a wrong exit code. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

typedef struct run_result {
    int code;
    char *out, *err;
} run_result;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* A path inside the test's directory (a few live at once). */
static const char *P(const char *name)
{
    static char bufs[32][512];
    static int k;
    char *b = bufs[k++ % 32];
    snprintf(b, sizeof bufs[0], "%s", tu_path(name));
    return b;
}

static const char *write_file(const char *name, const char *text)
{
    const char *p = P(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Run mnemo with argv (NULL-terminated, without the program name), stdin from `in` (or
 * /dev/null), output captured. */
static run_result run_in(const char *in, const char *const *argv)
{
    const char *exe = getenv("MNEMO_CLI");
    cr_assert_not_null(exe, "MNEMO_CLI is not set");
    char out_path[600], err_path[600];
    snprintf(out_path, sizeof out_path, "%s", tu_path("stdout.txt"));
    snprintf(err_path, sizeof err_path, "%s", tu_path("stderr.txt"));
    const char *args[32];
    size_t n = 0;
    args[n++] = exe;
    for (size_t i = 0; argv[i] && n < 31; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, (char *const *)args, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "posix_spawn %s: %s", exe, strerror(rc));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "mnemo %s died (signal %d)", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    run_result r = {WEXITSTATUS(status), slurp(out_path), slurp(err_path)};
    return r;
}

#define RUN(...) run_in(NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_STDIN(in, ...) run_in(in, (const char *const[]){__VA_ARGS__, NULL})

static void done(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Run and expect exit `code` with `needle` in the one stderr line. */
#define EXPECT_FAIL(code, needle, ...)                                                                      \
    do {                                                                                                    \
        run_result r_ = RUN(__VA_ARGS__);                                                                   \
        expect_fail(&r_, code, needle, #__VA_ARGS__);                                                       \
        done(&r_);                                                                                          \
    } while (0)

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Every stdout line is one JSON object. @return the number of lines. */
static size_t json_lines(const char *out)
{
    size_t n = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "stdout does not end with a newline: %s", p);
        json_error_t je;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &je);
        cr_assert(j && json_is_object(j), "not a JSON object line: %.*s (%s)", (int)(nl - p), p, je.text);
        json_decref(j);
        n++;
        p = nl + 1;
    }
    return n;
}

/* Success: exit 0, nothing on stderr, stdout JSON lines. */
static void expect_ok(run_result *r, const char *what)
{
    cr_assert_eq(r->code, 0, "%s: exit %d, stderr: %s", what, r->code, r->err);
    cr_assert_str_empty(r->err, "%s: unexpected stderr: %s", what, r->err);
    json_lines(r->out);
}

/* Failure: the exit code, one line on stderr containing `needle`, and nothing on stdout unless
 * allowed. */
static void expect_fail(run_result *r, int code, const char *needle, const char *what)
{
    cr_assert_eq(r->code, code, "%s: exit %d, expected %d; stderr: %s", what, r->code, code, r->err);
    cr_assert_eq(count_lines(r->err), 1, "%s: stderr is not one line: %s", what, r->err);
    cr_assert_not_null(strstr(r->err, needle), "%s: stderr lacks '%s': %s", what, needle, r->err);
}

/* Field `k` of the JSON object on stdout line `line` (0-based), as a new reference. */
static json_t *field(const char *out, size_t line, const char *k)
{
    const char *p = out;
    for (size_t i = 0; i < line; i++) {
        p = strchr(p, '\n');
        cr_assert_not_null(p, "no line %zu in %s", line, out);
        p++;
    }
    const char *nl = strchr(p, '\n');
    cr_assert_not_null(nl);
    json_t *j = json_loadb(p, (size_t)(nl - p), 0, NULL);
    cr_assert_not_null(j);
    json_t *v = json_object_get(j, k);
    cr_assert_not_null(v, "no field %s in line %zu: %.*s", k, line, (int)(nl - p), p);
    json_incref(v);
    json_decref(j);
    return v;
}

static json_int_t int_field(const char *out, size_t line, const char *k)
{
    json_t *v = field(out, line, k);
    cr_assert(json_is_integer(v), "%s is not an integer", k);
    json_int_t x = json_integer_value(v);
    json_decref(v);
    return x;
}

/* `mnemo get DB ID` succeeds and its line contains `needle`. */
static void expect_get_has(const char *db, const char *id, const char *needle)
{
    run_result r = RUN("get", db, id);
    expect_ok(&r, "get");
    cr_assert_not_null(strstr(r.out, needle), "get %s lacks %s: %s", id, needle, r.out);
    done(&r);
}

/* Make a database at P(name) with `mnemo init` on the test engine (every command reopens it, so
 * the memory engine has nothing to run here). */
static const char *init_db(const char *name)
{
    TU_NEEDS_DISK("every command reopens the database");
    const char *db = P(name);
    run_result r = RUN("init", db, "--engine", tu_engine());
    expect_ok(&r, "init");
    done(&r);
    return db;
}

static void import_ok(const char *db, const char *file, const char *fmt)
{
    run_result r = fmt ? RUN("import", db, file, "--format", fmt) : RUN("import", db, file);
    expect_ok(&r, "import");
    cr_assert_eq(count_lines(r.out), 1, "import prints one summary line: %s", r.out);
    done(&r);
}

static const char *graph_jsonl =
    "{\"type\":\"record\",\"id\":\"a\",\"content\":\"alpha\",\"importance\":0.5,\"metadata\":{\"topic\":\"rust\"}}\n"
    "{\"type\":\"record\",\"id\":\"b\",\"content\":\"beta\",\"metadata\":{\"topic\":\"c\"}}\n"
    "{\"type\":\"record\",\"id\":\"c\",\"metadata\":{\"topic\":\"rust\",\"n\":2}}\n"
    "{\"type\":\"edge\",\"from\":\"a\",\"to\":\"b\",\"label\":\"knows\",\"weight\":5}\n"
    "{\"type\":\"edge\",\"from\":\"b\",\"to\":\"c\",\"label\":\"knows\",\"weight\":1}\n"
    "{\"type\":\"edge\",\"from\":\"a\",\"to\":\"c\",\"label\":\"cites\",\"weight\":10,\"props\":{\"p\":1}}\n"
    "{\"type\":\"edge\",\"from\":\"c\",\"to\":\"d\"}\n";

TU_TEST(cli, help_global_and_per_command)
{
    run_result r = RUN("--help");
    cr_assert_eq(r.code, 0);
    cr_assert_str_empty(r.err);
    const char *cmds[] = {"init",      "get",      "put",  "delete", "find",   "neighbors", "traverse",
                          "path",      "import",   "export", "stats", "check", "backup",    "compact"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char needle[32];
        snprintf(needle, sizeof needle, "  %s ", cmds[i]);
        cr_assert_not_null(strstr(r.out, needle), "global help lacks %s", cmds[i]);
        run_result h = RUN(cmds[i], "--help");
        cr_assert_eq(h.code, 0, "%s --help: exit %d", cmds[i], h.code);
        cr_assert_str_empty(h.err);
        cr_assert(!strncmp(h.out, "usage: mnemo ", 13), "%s --help: %s", cmds[i], h.out);
        done(&h);
    }
    done(&r);
    r = RUN("--version");
    expect_ok(&r, "--version");
    done(&r);
}

TU_TEST(cli, bad_usage_exits_2_with_one_line)
{
    const char *db = init_db("db");
    struct {
        const char *argv[8];
        const char *needle;
    } cases[] = {
        {{NULL}, "no command"},
        {{"frobnicate", db, NULL}, "unknown command 'frobnicate'"},
        {{"get", db, NULL}, "missing arguments"},
        {{"get", db, "a", "b", NULL}, "unexpected argument 'b'"},
        {{"get", db, "a", "--nope", NULL}, "unknown option '--nope'"},
        {{"get", db, "a", "-x", NULL}, "unknown option '-x'"},
        {{"neighbors", db, "a", "--dir", "sideways", NULL}, "--dir wants out, in or both"},
        {{"neighbors", db, "a", "--dir", NULL}, "needs a value"},
        {{"find", db, "{}", "--limit", "0", NULL}, "--limit wants a whole number"},
        {{"find", db, "{}", "--limit", "x1", NULL}, "--limit wants a whole number"},
        {{"traverse", db, "a", "--depth", "-1", NULL}, "--depth"},
        {{"path", db, "a", "b", "--weighted", "--max-hops", "2", NULL}, "--max-hops"},
        {{"path", db, "a", "b", "--weighted=yes", NULL}, "takes no value"},
        {{"put", db, "{not json", NULL}, "not valid JSON"},
        {{"put", db, "{\"content\":\"no id\"}", NULL}, "needs a string \"id\""},
        {{"put", db, "{\"id\":\"a\",\"colour\":1}", NULL}, "unknown record field \"colour\""},
        {{"put", db, "{\"id\":\"a\"}", "--insert", "--replace", NULL}, "exclude each other"},
        {{"import", db, "x.jsonl", "--format", "xml", NULL}, "--format wants"},
        {{"import", db, "x.jsonl", "--undirected", NULL}, "--undirected"},
        {{"import", db, "x.txt", "--format", "edgelist", "--weight-column", "w", NULL}, "--weight-column"},
        {{"import", db, "x.jsonl", "--batch", "0", NULL}, "--batch"},
        {{"export", NULL}, "missing arguments"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *argv[10];
        size_t n = 0;
        while (cases[i].argv[n]) {
            argv[n] = cases[i].argv[n];
            n++;
        }
        argv[n] = NULL;
        run_result r = run_in(NULL, argv);
        char what[64];
        snprintf(what, sizeof what, "case %zu", i);
        expect_fail(&r, 2, cases[i].needle, what);
        cr_assert_str_empty(r.out, "%s: stdout: %s", what, r.out);
        done(&r);
    }
}

TU_TEST(cli, init_and_engine_errors_exit_1)
{
    const char *db = init_db("db");
    EXPECT_FAIL(1, "MNEMO_EEXISTS", "init", db);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", P("missing"), "a");
    EXPECT_FAIL(1, "MNEMO_E", "stats", write_file("plain.txt", "not a database\n"));
    run_result r = RUN("get", db, "nobody");
    expect_fail(&r, 1, "MNEMO_ENOTFOUND", "get absent");
    cr_assert_not_null(strstr(r.err, "nobody"), "the message names the id: %s", r.err);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EINVAL", "find", db, "{\"$bogus\":1}");
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Issue 17 item 14: vector options outside the library's ranges are refused before anything is
 * created, the help states those ranges, and the edges of the ranges are accepted. */
TU_TEST(cli, init_refuses_out_of_range_options_and_leaves_nothing)
{
    const char *db = P("db");
    EXPECT_FAIL(2, "--ef-construction wants a whole number from 1 to 100000", "init", db, "--dim", "4",
                "--ef-construction", "200000");
    cr_assert(!exists(db), "a refused init left %s behind", db);
    EXPECT_FAIL(2, "--ef-search wants a whole number from 1 to 100000", "init", db, "--dim", "4", "--ef-search",
                "100001");
    EXPECT_FAIL(2, "--M wants a whole number from 2 to 1024", "init", db, "--dim", "4", "--M", "1025");
    EXPECT_FAIL(2, "--dim wants a whole number from 1 to 65536", "init", db, "--dim", "65537");
    cr_assert(!exists(db));
    run_result r = RUN("init", "--help");
    cr_assert_eq(r.code, 0);
    cr_assert_not_null(strstr(r.out, "1..100000"), "the help gives the ef range: %s", r.out);
    cr_assert_not_null(strstr(r.out, "2..1024"), "the help gives the M range: %s", r.out);
    done(&r);
    r = RUN("init", db, "--dim", "4", "--M", "1024", "--ef-construction", "100000", "--ef-search", "100000");
    expect_ok(&r, "init at the top of the ranges");
    cr_assert_eq(int_field(r.out, 0, "format_version"), MNEMO_FORMAT_VERSION);
    done(&r);
}

/* Issue 17 item 14: an init that fails on a full disk removes what it created (no LOCK/LOG left
 * behind, so a later init works) and nothing else. Needs a small tmpfs, so root. */
TU_TEST(cli, init_on_full_disk_leaves_nothing_behind)
{
    const char *mnt = P("tmpfs");
    cr_assert_eq(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") != 0)
        cr_skip_test("cannot mount a tmpfs (%s): needs root", strerror(errno));
    char fill[600], db[600], empty[600], keep[600];
    snprintf(fill, sizeof fill, "%s/fill", mnt);
    snprintf(db, sizeof db, "%s/db", mnt);
    snprintf(empty, sizeof empty, "%s/empty", mnt);
    snprintf(keep, sizeof keep, "%s/keep", mnt);
    cr_assert_eq(mkdir(empty, 0755), 0);
    write_file("tmpfs/keep", "mine\n");
    FILE *f = fopen(fill, "wb");
    cr_assert_not_null(f);
    static char block[4096];
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
    EXPECT_FAIL(1, "MNEMO_EIO", "init", db);
    cr_assert(!exists(db), "the failed init left %s behind", db);
    EXPECT_FAIL(1, "MNEMO_EIO", "init", empty, "--dim", "4");
    cr_assert(exists(empty), "the directory that was there before is kept");
    DIR *d = opendir(empty);
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        cr_assert(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."), "left behind: %s", e->d_name);
    closedir(d);
    cr_assert(exists(keep) && exists(fill), "files that were there before are kept");
    cr_assert_eq(unlink(fill), 0);
    run_result r = RUN("init", db);
    expect_ok(&r, "init once space is back");
    done(&r);
    r = RUN("init", empty, "--dim", "4");
    expect_ok(&r, "init of the empty directory once space is back");
    done(&r);
    cr_assert_eq(umount2(mnt, MNT_DETACH), 0);
}

TU_TEST(cli, init_engine_is_recorded_and_stats_name_it)
{
    const char *db = init_db("db");
    run_result r = RUN("stats", db);
    expect_ok(&r, "stats");
    json_t *e = field(r.out, 0, "engine");
    cr_assert_str_eq(json_string_value(e), tu_engine());
    json_decref(e);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EINVAL", "init", P("other"), "--engine", "bdb");
    r = RUN("init", ":memory:", "--engine", "memory");
    expect_ok(&r, "init :memory:");
    e = field(r.out, 0, "engine");
    cr_assert_str_eq(json_string_value(e), "memory");
    json_decref(e);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EINVAL", "init", P("mem"), "--engine", "memory");
}

/* Issue 12: on lmdb the CLI reads and writes a database a running program holds, and each sees
 * the other's commits. rocksdb keeps one writer: read commands follow it (a read-only open of a
 * held database is a follower: it sees commits still only in the writer's log), a write says what
 * to do. */
TU_TEST(cli, commands_work_on_a_database_a_program_holds_on_lmdb)
{
    const char *db = init_db("held");
    mnemo_db *h;
    TU_OK(mnemo_open(&h, db, NULL));
    mnemo_record rec = {0};
    rec.id = "held1";
    rec.content = "from the program";
    TU_OK(mnemo_record_put(h, NULL, &rec, MNEMO_PUT_UPSERT));
    if (strcmp(tu_engine(), "lmdb")) {
        run_result g = RUN("get", db, "held1");
        expect_ok(&g, "get beside the rocksdb writer");
        cr_assert_not_null(strstr(g.out, "from the program"), "%s", g.out);
        done(&g);
        rec.id = "held2"; /* committed after the first follower came and went */
        TU_OK(mnemo_record_put(h, NULL, &rec, MNEMO_PUT_UPSERT));
        g = RUN("get", db, "held2");
        expect_ok(&g, "get of a later commit beside the rocksdb writer");
        done(&g);
        g = RUN("stats", db);
        expect_ok(&g, "stats beside the rocksdb writer");
        done(&g);
        g = RUN("check", db);
        expect_ok(&g, "check beside the rocksdb writer");
        done(&g);
        EXPECT_FAIL(1, "open it read-only", "put", db, "{\"id\":\"held3\"}");
        EXPECT_FAIL(1, "lmdb", "delete", db, "held1");
        TU_OK(mnemo_close(h));
        return;
    }
    mnemo_record *got;
    TU_OK(mnemo_record_get(&got, h, NULL, "held1")); /* in the holder's cache now */
    mnemo_record_free(got);
    run_result r = RUN("get", db, "held1");
    expect_ok(&r, "get on a held database");
    cr_assert_not_null(strstr(r.out, "from the program"), "%s", r.out);
    done(&r);
    r = RUN("put", db, "{\"id\":\"held1\",\"content\":\"from the cli\"}");
    expect_ok(&r, "put on a held database");
    done(&r);
    r = RUN("stats", db);
    expect_ok(&r, "stats on a held database");
    done(&r);
    TU_OK(mnemo_record_get(&got, h, NULL, "held1")); /* the holder sees the CLI's commit */
    cr_assert_str_eq(got->content, "from the cli");
    mnemo_record_free(got);
    TU_OK(mnemo_close(h));
}

TU_TEST(cli, records_put_get_find_delete)
{
    const char *db = init_db("db");
    run_result r = RUN("put", db,
                       "{\"id\":\"m1\",\"content\":\"tab\\there \\\"q\\\" \\u00e9\",\"importance\":0.1,"
                       "\"metadata\":{\"topic\":\"rust\",\"n\":3},\"expires_at\":4102444800000}");
    expect_ok(&r, "put");
    json_t *v = field(r.out, 0, "content");
    cr_assert_str_eq(json_string_value(v), "tab\there \"q\" \xc3\xa9");
    json_decref(v);
    v = field(r.out, 0, "importance");
    cr_assert(json_real_value(v) == 0.1);
    json_decref(v);
    cr_assert_not_null(strstr(r.out, "\"importance\":0.1,"), "shortest number form: %s", r.out);
    cr_assert_eq(int_field(r.out, 0, "expires_at"), 4102444800000);
    done(&r);

    r = RUN("put", db, "{\"type\":\"record\",\"id\":\"m2\",\"metadata\":{\"topic\":\"go\"}}");
    expect_ok(&r, "put m2");
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EEXISTS", "put", db, "{\"id\":\"m2\"}", "--insert");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "put", db, "{\"id\":\"m3\"}", "--replace");
    r = RUN("put", db, "{\"id\":\"m4\",\"importance\":1e400}");
    cr_assert_neq(r.code, 0);
    done(&r);

    r = RUN("get", db, "m1");
    expect_ok(&r, "get");
    cr_assert_eq(count_lines(r.out), 1);
    v = field(r.out, 0, "metadata");
    cr_assert_eq(json_integer_value(json_object_get(v, "n")), 3);
    json_decref(v);
    done(&r);

    r = RUN("find", db, "{\"topic\":{\"$in\":[\"rust\",\"go\"]}}");
    expect_ok(&r, "find");
    cr_assert_eq(count_lines(r.out), 2);
    done(&r);
    r = RUN("find", db, "{}", "--limit", "1");
    expect_ok(&r, "find --limit");
    cr_assert_eq(count_lines(r.out), 1);
    done(&r);

    r = RUN("delete", db, "m1");
    expect_ok(&r, "delete");
    v = field(r.out, 0, "deleted");
    cr_assert_str_eq(json_string_value(v), "m1");
    json_decref(v);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "delete", db, "m1");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "m1");
}

/* Issue 17 item 15: every number the CLI prints (importance, weights, metadata, edge props) is the
 * shortest text that reads back as the same double, and survives export -> import -> export. */
TU_TEST(cli, numbers_print_shortest_everywhere)
{
    const char *db = init_db("db");
    const char *meta = "{\"a\":0.1,\"b\":0.3,\"c\":1e-300,\"d\":5e-324,\"e\":1.7976931348623157e+308,\"f\":-0.0,"
                       "\"g\":[0.3,1.0,-2],\"h\":{\"x\":2.5e-7}}";
    char line[1024];
    snprintf(line, sizeof line,
             "{\"type\":\"record\",\"id\":\"a\",\"importance\":5e-324,\"metadata\":%s}\n"
             "{\"type\":\"edge\",\"from\":\"a\",\"to\":\"b\",\"weight\":1e-300,\"props\":%s}\n",
             meta, meta);
    import_ok(db, write_file("n.jsonl", line), NULL);
    char want[1100];
    snprintf(want, sizeof want, "\"metadata\":%s", meta);
    run_result r = RUN("get", db, "a");
    expect_ok(&r, "get");
    cr_assert_not_null(strstr(r.out, want), "metadata numbers in shortest form: %s", r.out);
    cr_assert_not_null(strstr(r.out, "\"importance\":5e-324,"), "importance in shortest form: %s", r.out);
    json_t *v = field(r.out, 0, "metadata");
    cr_assert(json_real_value(json_object_get(v, "b")) == 0.3);
    cr_assert(json_real_value(json_object_get(v, "d")) == 5e-324);
    cr_assert(json_real_value(json_object_get(v, "e")) == 1.7976931348623157e308);
    cr_assert(signbit(json_real_value(json_object_get(v, "f"))), "-0.0 keeps its sign");
    json_decref(v);
    done(&r);
    snprintf(want, sizeof want, "\"weight\":1e-300,\"props\":%s", meta);
    r = RUN("neighbors", db, "a");
    expect_ok(&r, "neighbors");
    cr_assert_not_null(strstr(r.out, want), "edge numbers in shortest form: %s", r.out);
    done(&r);
    r = RUN("find", db, "{\"b\":0.3}");
    expect_ok(&r, "find");
    cr_assert_eq(count_lines(r.out), 1, "0.3 finds what it stored: %s", r.out);
    done(&r);

    r = RUN("export", db);
    expect_ok(&r, "export");
    snprintf(want, sizeof want, "\"metadata\":%s", meta);
    cr_assert_not_null(strstr(r.out, want), "export: %s", r.out);
    const char *dump = write_file("dump.jsonl", r.out);
    const char *db2 = init_db("db2");
    import_ok(db2, dump, NULL);
    run_result r2 = RUN("export", db2);
    expect_ok(&r2, "export again");
    cr_assert_str_eq(r2.out, r.out);
    done(&r2);
    done(&r);

    /* csv-graph reals take the same path */
    const char *db3 = init_db("db3");
    import_ok(db3, write_file("n.csv", "~id,~label,x:double,y:float\nn1,t,0.3,1e-300\n"), "csv-graph");
    expect_get_has(db3, "n1", "\"metadata\":{\"label\":\"t\",\"x\":0.3,\"y\":1e-300}");
}

/* Issue 17 item 16: a put whose expiry has passed stores the record and says so (exit 0, a line
 * with "expired":true) rather than failing with the read-back's MNEMO_ENOTFOUND. */
TU_TEST(cli, put_with_past_expiry_says_stored_and_expired)
{
    const char *db = init_db("db");
    run_result r = RUN("put", db, "{\"id\":\"old\",\"content\":\"x\",\"expires_at\":1000}");
    expect_ok(&r, "put with a past expiry");
    cr_assert_str_eq(r.out, "{\"id\":\"old\",\"stored\":true,\"expired\":true,\"expires_at\":1000}\n");
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "old");
    r = RUN("put", db, "{\"id\":\"old\",\"content\":\"x\",\"expires_at\":1000}", "--insert");
    expect_ok(&r, "an expired record counts as absent for --insert");
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "put", db, "{\"id\":\"old\",\"expires_at\":1000}", "--replace");
    r = RUN("put", db, "{\"id\":\"new\",\"expires_at\":32503680000000}");
    expect_ok(&r, "put with a future expiry");
    cr_assert_eq(int_field(r.out, 0, "expires_at"), 32503680000000);
    done(&r);
}

/* Issue 17 item 17: the exit-code table of docs/cli.md. A JSON argument that does not parse, or is
 * not of the kind the command wants, is 2 in every command; one that parses but the engine refuses
 * is 1; -k takes exactly the library's range. */
TU_TEST(cli, exit_codes_are_the_same_everywhere)
{
    const char *db = P("db");
    run_result r = RUN("init", db, "--dim", "2");
    expect_ok(&r, "init");
    done(&r);
    r = RUN("put", db, "{\"id\":\"a\",\"metadata\":{\"t\":1},\"embedding\":[1,0]}");
    expect_ok(&r, "put");
    done(&r);
    /* 0: success */
    r = RUN("--version");
    expect_ok(&r, "--version");
    done(&r);
    /* 2: JSON arguments that do not parse, or are not objects / arrays */
    EXPECT_FAIL(2, "not valid JSON", "find", db, "{bad");
    EXPECT_FAIL(2, "not valid JSON", "search", db, "--vector", "[0,0]", "--where", "{bad");
    EXPECT_FAIL(2, "not valid JSON", "search", db, "--vector", "[0,0");
    EXPECT_FAIL(2, "not valid JSON", "put", db, "{bad");
    EXPECT_FAIL(2, "not valid JSON", "find", db, "{\"t\":1,\"t\":2}");
    EXPECT_FAIL(2, "must be a JSON object", "find", db, "[1]");
    EXPECT_FAIL(2, "must be a JSON object", "search", db, "--vector", "[0,0]", "--where", "[1]");
    EXPECT_FAIL(2, "must be a JSON object", "put", db, "[1]");
    EXPECT_FAIL(2, "must be a JSON array", "search", db, "--vector", "{}");
    /* 1: a well-formed argument the engine refuses, the same for find and search --where */
    EXPECT_FAIL(1, "MNEMO_EINVAL", "find", db, "{\"$bogus\":1}");
    EXPECT_FAIL(1, "MNEMO_EINVAL", "search", db, "--vector", "[0,0]", "--where", "{\"$bogus\":1}");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "nobody");
    EXPECT_FAIL(1, "MNEMO_EDIM", "search", db, "--vector", "[0,0,0]");
    /* -k: the library's 1..100000, no more, no less */
    EXPECT_FAIL(2, "-k wants a whole number from 1 to 100000", "search", db, "--vector", "[0,0]", "-k", "100001");
    EXPECT_FAIL(2, "-k wants a whole number from 1 to 100000", "search", db, "--vector", "[0,0]", "-k", "0");
    r = RUN("search", db, "--vector", "[0,0]", "-k", "100000");
    expect_ok(&r, "-k 100000");
    cr_assert_eq(count_lines(r.out), 1);
    done(&r);
    r = RUN("search", "--help");
    cr_assert_eq(r.code, 0);
    cr_assert_not_null(strstr(r.out, "1..100000"), "the help gives the range of -k: %s", r.out);
    done(&r);
}

TU_TEST(cli, graph_neighbors_traverse_path)
{
    const char *db = init_db("db");
    import_ok(db, write_file("g.jsonl", graph_jsonl), NULL);

    run_result r = RUN("neighbors", db, "a");
    expect_ok(&r, "neighbors");
    cr_assert_eq(count_lines(r.out), 2);
    done(&r);
    r = RUN("neighbors", db, "c", "--dir", "both");
    expect_ok(&r, "neighbors both");
    cr_assert_eq(count_lines(r.out), 3); /* out to d; in from a and b */
    json_t *v = field(r.out, 0, "direction");
    cr_assert_str_eq(json_string_value(v), "out");
    json_decref(v);
    done(&r);
    r = RUN("neighbors", db, "a", "--label", "cites");
    expect_ok(&r, "neighbors label");
    cr_assert_eq(count_lines(r.out), 1);
    cr_assert_not_null(strstr(r.out, "\"props\":{\"p\":1}"), "%s", r.out);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "neighbors", db, "zz");

    r = RUN("traverse", db, "a", "--depth", "1");
    expect_ok(&r, "traverse 1");
    cr_assert_eq(count_lines(r.out), 3);
    cr_assert(json_is_null(field(r.out, 0, "via")));
    cr_assert_eq(int_field(r.out, 2, "depth"), 1);
    done(&r);
    r = RUN("traverse", db, "a");
    expect_ok(&r, "traverse");
    cr_assert_eq(count_lines(r.out), 4);
    done(&r);

    r = RUN("path", db, "a", "c");
    expect_ok(&r, "path");
    cr_assert_eq(int_field(r.out, 0, "hops"), 1);
    done(&r);
    r = RUN("path", db, "a", "c", "--weighted");
    expect_ok(&r, "weighted path");
    cr_assert_eq(int_field(r.out, 0, "hops"), 2);
    v = field(r.out, 0, "weight");
    cr_assert(json_number_value(v) == 6.0);
    json_decref(v);
    cr_assert_not_null(strstr(r.out, "\"nodes\":[\"a\",\"b\",\"c\"]"), "%s", r.out);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "path", db, "d", "a");

    r = RUN("delete", db, "b");
    expect_ok(&r, "delete b");
    done(&r);
    r = RUN("neighbors", db, "a");
    expect_ok(&r, "neighbors after delete");
    cr_assert_eq(count_lines(r.out), 1);
    done(&r);
}

/* Records with every field, awkward text, edges with props, kv pairs text and binary. */
static const char *full_jsonl =
    "{\"type\":\"index\",\"path\":\"metadata.z\"}\n"
    "{\"type\":\"kv\",\"key\":\"config/name\",\"value\":\"mnemo \\\"db\\\"\\n\"}\n"
    "{\"type\":\"kv\",\"key\":\"AP8=\",\"value\":\"AAECAw==\",\"encoding\":\"base64\"}\n"
    "{\"type\":\"kv\",\"key\":\"empty\",\"value\":\"\"}\n"
    "{\"type\":\"record\",\"id\":\"r/1\",\"content\":\"line one\\nline two \\u00fc \\u2603 \\ud83d\\ude00\","
    "\"importance\":0.3,\"created_at\":1600000000000,\"updated_at\":1600000000123,\"expires_at\":4102444800000,"
    "\"metadata\":{\"z\":[1,2.5,\"x\",null,true],\"a\":{\"nested\":{\"deep\":-1e-7}}}}\n"
    "{\"type\":\"record\",\"id\":\"r/2\",\"content\":\"\",\"importance\":-2,\"metadata\":{}}\n"
    "{\"type\":\"record\",\"id\":\"\\u00e9t\\u00e9\",\"content\":\"tab\\tctl\\u0001\"}\n"
    "{\"type\":\"edge\",\"from\":\"r/2\",\"to\":\"r/1\",\"label\":\"z-last\",\"weight\":0.1}\n"
    "{\"type\":\"edge\",\"from\":\"r/2\",\"to\":\"r/1\",\"label\":\"a-first\",\"weight\":3,\"props\":{\"k\":\"v\",\"n\":[1]}}\n"
    "{\"type\":\"edge\",\"from\":\"r/1\",\"to\":\"r/1\",\"label\":\"self\"}\n"
    "{\"type\":\"edge\",\"from\":\"r/1\",\"to\":\"new-node\",\"label\":\"creates\",\"weight\":-4.25}\n";

TU_TEST(cli, export_import_round_trip_is_byte_identical)
{
    const char *db1 = init_db("db1");
    import_ok(db1, write_file("full.jsonl", full_jsonl), NULL);
    /* a write through the other commands too */
    run_result r = RUN("put", db1, "{\"id\":\"r/3\",\"content\":\"via put\",\"metadata\":{\"k\":1}}");
    expect_ok(&r, "put");
    done(&r);

    r = RUN("export", db1);
    expect_ok(&r, "export 1");
    char *e1 = r.out;
    r.out = NULL;
    done(&r);
    /* 1 index + 3 kv + 5 records (new-node created by the edge) + 4 edges, in that order */
    cr_assert_eq(json_lines(e1), 13, "export: %s", e1);
    cr_assert(!strncmp(e1, "{\"type\":\"index\",\"path\":\"z\"}\n"
                           "{\"type\":\"kv\",\"key\":\"AP8=\",\"value\":\"AAECAw==\",\"encoding\":\"base64\"}\n", 94),
              "the index, then the binary kv first (key order), in base64: %s", e1);
    const char *first_edge = strstr(e1, "{\"type\":\"edge\"");
    cr_assert_not_null(first_edge);
    cr_assert_null(strstr(first_edge, "\"type\":\"record\""), "edges come after records");
    cr_assert_not_null(strstr(e1, "{\"type\":\"edge\",\"from\":\"r/2\",\"to\":\"r/1\",\"label\":\"a-first\",\"weight\":3.0,"
                                  "\"props\":{\"k\":\"v\",\"n\":[1]}}\n{\"type\":\"edge\",\"from\":\"r/2\",\"to\":\"r/1\","
                                  "\"label\":\"z-last\",\"weight\":0.1}\n"),
              "edges by label: %s", e1);
    cr_assert_not_null(strstr(e1, "\"created_at\":1600000000000,\"updated_at\":1600000000123,\"expires_at\":4102444800000"));

    const char *db2 = init_db("db2");
    const char *dump = P("export1.jsonl");
    FILE *f = fopen(dump, "wb");
    fputs(e1, f);
    fclose(f);
    import_ok(db2, dump, "jsonl");
    r = RUN("export", db2);
    expect_ok(&r, "export 2");
    cr_assert_str_eq(r.out, e1, "export of the import differs:\n%s\nvs\n%s", r.out, e1);
    done(&r);

    /* and through a pipe: import from standard input */
    const char *db3 = init_db("db3");
    r = RUN_STDIN(dump, "import", db3, "-");
    expect_ok(&r, "import -");
    done(&r);
    r = RUN("export", db3);
    expect_ok(&r, "export 3");
    cr_assert_str_eq(r.out, e1);
    done(&r);

    r = RUN("check", db2);
    expect_ok(&r, "check");
    done(&r);
    free(e1);
}

TU_TEST(cli, import_bad_line_names_it_and_keeps_nothing_of_its_batch)
{
    const char *db = init_db("db");
    /* batches of 2 lines: 1-2 and 3-4 commit, line 6 is bad so 5-6 roll back */
    const char *file = write_file("bad.jsonl",
                                  "{\"type\":\"record\",\"id\":\"l1\"}\n"
                                  "{\"type\":\"kv\",\"key\":\"l2\",\"value\":\"x\"}\n"
                                  "{\"type\":\"record\",\"id\":\"l3\"}\n"
                                  "{\"type\":\"edge\",\"from\":\"l3\",\"to\":\"l1\"}\n"
                                  "{\"type\":\"record\",\"id\":\"l5\"}\n"
                                  "{\"type\":\"record\",\"id\":\"l6\",\"metadata\":[1]}\n"
                                  "{\"type\":\"record\",\"id\":\"l7\"}\n");
    run_result r = RUN("import", db, file, "--batch", "2");
    expect_fail(&r, 1, "bad.jsonl:6:", "bad line");
    cr_assert_not_null(strstr(r.err, "metadata"), "%s", r.err);
    cr_assert_str_empty(r.out);
    done(&r);
    r = RUN("get", db, "l3");
    expect_ok(&r, "earlier batch kept");
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "l5");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "l7");

    struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"type\":\"record\",\"id\":\"ok\"}\n{broken\n", "x.jsonl:2: invalid JSON"},
        {"\n\n{\"type\":\"vector\"}\n", "x.jsonl:3: unknown \"type\""},
        {"{\"id\":\"no type\"}\n", "x.jsonl:1: no string \"type\""},
        {"[1]\n", "x.jsonl:1: not a JSON object"},
        {"{\"type\":\"edge\",\"from\":\"a\"}\n", "x.jsonl:1: an edge needs"},
        {"{\"type\":\"edge\",\"from\":\"a\",\"to\":\"b\",\"weight\":\"1\"}\n", "x.jsonl:1: \"weight\""},
        {"{\"type\":\"edge\",\"from\":\"a\",\"to\":\"b\",\"colour\":1}\n", "x.jsonl:1: unknown field \"colour\""},
        {"{\"type\":\"kv\",\"key\":\"k\",\"value\":\"%%%\",\"encoding\":\"base64\"}\n", "x.jsonl:1: \"key\" or \"value\""},
        {"{\"type\":\"kv\",\"key\":\"\",\"value\":\"v\"}\n", "x.jsonl:1: kv pair: MNEMO_EINVAL"},
        {"{\"type\":\"record\",\"id\":\"a\",\"created_at\":-5}\n", "x.jsonl:1: \"created_at\""},
        {"{\"type\":\"record\",\"id\":\"a\",\"id\":\"b\"}\n", "x.jsonl:1: invalid JSON"},
        {"{\"type\":\"index\"}\n", "x.jsonl:1: an index line needs a string \"path\""},
        {"{\"type\":\"index\",\"path\":\"a..b\"}\n", "x.jsonl:1: index 'a..b': MNEMO_EINVAL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = RUN("import", db, write_file("x.jsonl", bad[i].text));
        char what[32];
        snprintf(what, sizeof what, "bad file %zu", i);
        expect_fail(&r, 1, bad[i].needle, what);
        done(&r);
    }
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "ok");
    EXPECT_FAIL(1, "cannot open", "import", db, P("no-such-file.jsonl"));
}

static const char *nodes_csv =
    "~id,~label,code:string,runways:int,lat:double,hub:bool,tags:string[],note\n"
    "1,airport,ATL,5,33.5,true,big;busy,\"says \"\"hi\"\", twice\"\n"
    "2,airport,LHR,2,51.25,,,\"two\nlines\"\n"
    "\n"
    "3,country,UK,,,false,,\n";
static const char *edges_csv =
    "~id,~from,~to,~label,dist:int,kind\n"
    "100,1,2,route,4200,long\n"
    "101,2,1,route,4200,\n"
    "102,3,2,contains,,\n";

TU_TEST(cli, import_csv_graph_nodes_and_edges)
{
    const char *db = init_db("db");
    run_result r = RUN("import", db, write_file("nodes.csv", nodes_csv), "--format", "csv-graph");
    expect_ok(&r, "nodes");
    json_t *v = field(r.out, 0, "kind");
    cr_assert_str_eq(json_string_value(v), "nodes");
    json_decref(v);
    cr_assert_eq(int_field(r.out, 0, "records"), 3);
    done(&r);
    r = RUN("import", db, write_file("edges.csv", edges_csv), "--format", "csv-graph", "--weight-column", "dist");
    expect_ok(&r, "edges");
    cr_assert_eq(int_field(r.out, 0, "edges"), 3);
    done(&r);

    r = RUN("get", db, "1");
    expect_ok(&r, "get 1");
    v = field(r.out, 0, "metadata");
    cr_assert_str_eq(json_string_value(json_object_get(v, "label")), "airport");
    cr_assert_str_eq(json_string_value(json_object_get(v, "code")), "ATL");
    cr_assert(json_is_integer(json_object_get(v, "runways")));
    cr_assert(json_real_value(json_object_get(v, "lat")) == 33.5);
    cr_assert(json_is_true(json_object_get(v, "hub")));
    cr_assert_eq(json_array_size(json_object_get(v, "tags")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(v, "note")), "says \"hi\", twice");
    json_decref(v);
    done(&r);
    r = RUN("get", db, "3");
    expect_ok(&r, "get 3");
    v = field(r.out, 0, "metadata");
    cr_assert_null(json_object_get(v, "runways"), "an empty cell is absent");
    cr_assert(json_is_false(json_object_get(v, "hub")));
    json_decref(v);
    done(&r);
    r = RUN("get", db, "2");
    expect_ok(&r, "get 2");
    cr_assert_not_null(strstr(r.out, "\"note\":\"two\\nlines\""), "%s", r.out);
    done(&r);

    r = RUN("neighbors", db, "1");
    expect_ok(&r, "neighbors 1");
    cr_assert_str_eq(r.out, "{\"id\":\"2\",\"direction\":\"out\",\"label\":\"route\",\"weight\":4200.0,"
                            "\"props\":{\"id\":\"100\",\"kind\":\"long\"}}\n");
    done(&r);
    r = RUN("neighbors", db, "3");
    expect_ok(&r, "neighbors 3");
    cr_assert_str_eq(r.out, "{\"id\":\"2\",\"direction\":\"out\",\"label\":\"contains\",\"weight\":1.0,"
                            "\"props\":{\"id\":\"102\"}}\n");
    done(&r);

    struct {
        const char *text, *needle;
    } bad[] = {
        {"~id,~label,n:int\n1,a,1\n2,a,x\n", "x.csv:3: column 'n': 'x' is not an int (-2147483648..2147483647)"},
        {"~id,~label,n:double\n1,a,nan\n", "x.csv:2: column 'n'"},
        {"~id,~label,b:bool\n1,a,yes\n", "x.csv:2: column 'b'"},
        {"~id,~label,n:int\n1,a\n", "x.csv:2: 2 fields, the header has 3"},
        {"~id,~label,n:blob\n", "x.csv:1: column 'n': unknown type 'blob'"},
        {"name,age\n", "x.csv:1: not a TinkerPop header"},
        {"~id,~label,label\n", "x.csv:1: column 'label' clashes"},
        {"~id,~label,n,n:int\n", "x.csv:1: column 'n' appears twice"},
        {"~id,~label,n\n1,a,\"open\n", "x.csv:2: the file ends inside a quoted field"},
        {"~id,~label,n\n1,a,\"x\"y\n", "x.csv:2: bad quoting"},
        {"~id,~label\n,a\n", "x.csv:2: empty ~id"},
        {"~from,~to,w:int\n1,2,3\n", "no column 'dist'"},
        {"", "empty file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = RUN("import", db, write_file("x.csv", bad[i].text), "--format", "csv-graph", "--weight-column", "dist");
        char what[32];
        snprintf(what, sizeof what, "bad csv %zu", i);
        expect_fail(&r, 1, bad[i].needle, what);
        done(&r);
    }
}

/* Issue 17 item 18: csv-graph names the rolled-back lines right when a row spans two lines, and
 * typed columns refuse what their type cannot hold. */
TU_TEST(cli, import_csv_graph_line_ranges_and_typed_ranges)
{
    const char *db = init_db("db");
    /* batches of 2 rows: lines 2-3 commit; the next batch starts with a row on lines 4-5 */
    const char *f = write_file("n.csv", "~id,~label,t,n:int\n"
                                        "a,x,one,1\n"
                                        "b,x,two,2\n"
                                        "c,x,\"two\nlines\",3\n"
                                        "d,x,bad,nope\n");
    EXPECT_FAIL(1, "n.csv:6: column 'n': 'nope' is not an int (-2147483648..2147483647) (lines 4-6 rolled back; 1 batches committed",
                "import", db, f, "--format", "csv-graph", "--batch", "2");
    f = write_file("n.csv", "~id,~label,t,n:int\n"
                            "a,x,one,1\n"
                            "b,x,two,2\n"
                            "c,x,\"two\nlines\",nope\n");
    EXPECT_FAIL(1, "n.csv:4: column 'n': 'nope' is not an int (-2147483648..2147483647) (lines 4-5 rolled back; 1 batches committed",
                "import", db, f, "--format", "csv-graph", "--batch", "2");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "c");

    struct {
        const char *type, *cell, *needle;
    } bad[] = {
        {"byte", "128", "is not a byte (-128..127)"},
        {"byte", "300", "is not a byte"},
        {"byte", "-129", "is not a byte"},
        {"short", "70000", "is not a short (-32768..32767)"},
        {"short", "-32769", "is not a short"},
        {"int", "9999999999", "is not an int (-2147483648..2147483647)"},
        {"int", "2147483648", "is not an int"},
        {"long", "9223372036854775808", "is not a long"},
        {"int", "0x10", "is not an int"},
        {"double", "0x10", "is not a finite decimal number"},
        {"double", "-0X1p3", "is not a finite decimal number"},
        {"double", "inf", "is not a finite decimal number"},
        {"double", "-Infinity", "is not a finite decimal number"},
        {"double", "nan", "is not a finite decimal number"},
        {"double", "1e400", "is not a finite decimal number"},
        {"float", "1e39", "is not a float"},
        {"int[]", "300000000000", "is not an int"},
    };
    char text[256], needle[200];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "~id,~label,v:%s\nz,x,%s\n", bad[i].type, bad[i].cell);
        snprintf(needle, sizeof needle, "x.csv:2: column 'v': '%s' %s", bad[i].cell, bad[i].needle);
        run_result r = RUN("import", db, write_file("x.csv", text), "--format", "csv-graph");
        char what[64];
        snprintf(what, sizeof what, "bad cell %zu (%s %s)", i, bad[i].type, bad[i].cell);
        expect_fail(&r, 1, needle, what);
        done(&r);
    }
    /* the edges of the ranges are accepted */
    f = write_file("ok.csv", "~id,~label,b:byte,s:short,i:int,l:long,d:double\n"
                             "lo,x,-128,-32768,-2147483648,-9223372036854775808,-1.5e308\n"
                             "hi,x,127,32767,2147483647,9223372036854775807,4.9e-324\n");
    import_ok(db, f, "csv-graph");
    expect_get_has(db, "hi", "\"metadata\":{\"b\":127,\"d\":5e-324,\"i\":2147483647,\"l\":9223372036854775807,"
                             "\"label\":\"x\",\"s\":32767}");
    /* the weight column takes the same numbers */
    EXPECT_FAIL(1, "e.csv:2: weight column 'w': '0x10' is not a finite decimal number", "import", db,
                write_file("e.csv", "~id,~from,~to,w:double\ne1,lo,hi,0x10\n"), "--format", "csv-graph",
                "--weight-column", "w");
}

/* Issue 17 item 19: jsonl accepts a UTF-8 byte order mark at the start (as csv-graph does) and
 * times written as integral reals (Python's json writes 1700000000000.0); fractions and values
 * out of range are refused with a message. */
TU_TEST(cli, import_jsonl_bom_and_integral_real_times)
{
    const char *db = init_db("db");
    import_ok(db, write_file("bom.jsonl", "\xef\xbb\xbf{\"type\":\"record\",\"id\":\"a\",\"created_at\":1700000000000.0,"
                                          "\"updated_at\":1.7e12,\"expires_at\":32503680000000.0}\n"),
              NULL);
    expect_get_has(db, "a", "\"created_at\":1700000000000,\"updated_at\":1700000000000,\"expires_at\":32503680000000,");
    run_result r;
    /* a BOM anywhere else is not one */
    EXPECT_FAIL(1, "x.jsonl:2: invalid JSON", "import", db,
                write_file("x.jsonl", "{\"type\":\"record\",\"id\":\"b\"}\n\xef\xbb\xbf{\"type\":\"record\",\"id\":\"c\"}\n"));
    EXPECT_FAIL(1, "x.jsonl:1: \"created_at\" must be a whole number of ms since the epoch (0..9223372036854775807), not 1.5",
                "import", db, write_file("x.jsonl", "{\"type\":\"record\",\"id\":\"b\",\"created_at\":1.5}\n"));
    EXPECT_FAIL(1, "x.jsonl:1: \"expires_at\" must be a whole number of ms since the epoch (0..9223372036854775807), not 1e+30",
                "import", db, write_file("x.jsonl", "{\"type\":\"record\",\"id\":\"b\",\"expires_at\":1e30}\n"));
    EXPECT_FAIL(1, "x.jsonl:1: \"updated_at\" must be a whole number", "import", db,
                write_file("x.jsonl", "{\"type\":\"record\",\"id\":\"b\",\"updated_at\":-1.0}\n"));
    EXPECT_FAIL(1, "x.jsonl:1: \"updated_at\" must be a whole number", "import", db,
                write_file("x.jsonl", "{\"type\":\"record\",\"id\":\"b\",\"updated_at\":9223372036854775808.0}\n"));
    /* put takes the same record object */
    r = RUN("put", db, "{\"id\":\"p\",\"created_at\":1700000000000.0}");
    expect_ok(&r, "put with a real time");
    cr_assert_eq(int_field(r.out, 0, "created_at"), 1700000000000);
    done(&r);
    EXPECT_FAIL(2, "\"created_at\" must be a whole number", "put", db, "{\"id\":\"p\",\"created_at\":0.5}");
}

TU_TEST(cli, import_air_routes)
{
    const char *data = getenv("MNEMO_DATA_DIR");
    cr_assert_not_null(data);
    char nodes[512], edges[512];
    snprintf(nodes, sizeof nodes, "%s/air-routes/air-routes-latest-nodes.csv", data);
    snprintf(edges, sizeof edges, "%s/air-routes/air-routes-latest-edges.csv", data);
    const char *db = init_db("air");
    run_result r = RUN("import", db, nodes, "--format", "csv-graph", "--batch", "5000");
    expect_ok(&r, "nodes");
    cr_assert_eq(int_field(r.out, 0, "records"), 3749);
    done(&r);
    r = RUN("import", db, edges, "--format", "csv-graph", "--weight-column", "dist", "--batch", "20000");
    expect_ok(&r, "edges");
    cr_assert_eq(int_field(r.out, 0, "edges"), 57645);
    done(&r);
    r = RUN("stats", db);
    expect_ok(&r, "stats");
    json_t *g = field(r.out, 0, "graph"), *rec = field(r.out, 0, "records");
    cr_assert_eq(json_integer_value(json_object_get(g, "edges")), 57645);
    cr_assert_eq(json_integer_value(json_object_get(rec, "count")), 3749);
    json_decref(g);
    json_decref(rec);
    done(&r);
    r = RUN("check", db);
    expect_ok(&r, "check");
    done(&r);
    /* Atlanta (1) to London Heathrow: the route table has the direct flight */
    r = RUN("find", db, "{\"code\":\"LHR\"}");
    expect_ok(&r, "find LHR");
    cr_assert_eq(count_lines(r.out), 1);
    json_t *id = field(r.out, 0, "id");
    run_result p = RUN("path", db, "1", json_string_value(id));
    expect_ok(&p, "path");
    cr_assert_eq(int_field(p.out, 0, "hops"), 1);
    done(&p);
    json_decref(id);
    done(&r);
}

TU_TEST(cli, import_edgelist)
{
    const char *db = init_db("db");
    run_result r = RUN("import", db, write_file("g.txt", "# comment\n1 2\n2\t3 0.5\n3 1\n"), "--format", "edgelist",
                       "--undirected", "--label", "knows");
    expect_ok(&r, "edgelist");
    cr_assert_eq(int_field(r.out, 0, "edges"), 6);
    cr_assert_eq(int_field(r.out, 0, "nodes_created"), 3);
    done(&r);
    r = RUN("neighbors", db, "3", "--label", "knows");
    expect_ok(&r, "neighbors");
    cr_assert_eq(count_lines(r.out), 2);
    done(&r);
    EXPECT_FAIL(1, "line 2", "import", db, write_file("bad.txt", "4 5\n5\n"), "--format", "edgelist");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "4");
}

TU_TEST(cli, stats_check_backup_compact)
{
    const char *db = init_db("db");
    import_ok(db, write_file("full.jsonl", full_jsonl), NULL);
    run_result r = RUN("stats", db);
    expect_ok(&r, "stats");
    json_t *kv = field(r.out, 0, "kv"), *rec = field(r.out, 0, "records"), *g = field(r.out, 0, "graph");
    json_t *cache = field(r.out, 0, "cache");
    cr_assert_eq(json_integer_value(json_object_get(kv, "pairs")), 3);
    cr_assert_eq(json_integer_value(json_object_get(rec, "count")), 4);
    cr_assert_eq(json_integer_value(json_object_get(rec, "expiring")), 1);
    cr_assert_eq(json_integer_value(json_object_get(rec, "indexes")), 1);
    cr_assert_eq(json_integer_value(json_object_get(g, "edges")), 4);
    cr_assert_not_null(json_object_get(cache, "hits"));
    cr_assert_eq(json_integer_value(json_object_get(cache, "capacity")), 0, "the CLI opens without mnemo's cache");
    cr_assert_gt(int_field(r.out, 0, "disk_bytes"), 0);
    json_decref(kv);
    json_decref(rec);
    json_decref(g);
    json_decref(cache);
    done(&r);

    r = RUN("check", db);
    expect_ok(&r, "check");
    cr_assert_eq(count_lines(r.out), 5);
    json_t *skipped = field(r.out, 3, "skipped");
    cr_assert_str_eq(json_string_value(skipped), "no vector space");
    json_decref(skipped);
    cr_assert(json_is_true(field(r.out, 4, "ok")));
    done(&r);

    const char *bk = P("backup");
    r = RUN("backup", db, bk);
    expect_ok(&r, "backup");
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EEXISTS", "backup", db, bk);
    r = RUN("export", db);
    run_result r2 = RUN("export", bk);
    expect_ok(&r2, "export of the backup");
    cr_assert_str_eq(r.out, r2.out, "the backup holds the same data");
    done(&r);
    done(&r2);

    r = RUN("compact", db);
    expect_ok(&r, "compact");
    cr_assert_gt(int_field(r.out, 0, "disk_bytes_after"), 0);
    done(&r);
    r = RUN("get", db, "r/1");
    expect_ok(&r, "get after compact");
    done(&r);
}

TU_TEST(cli, check_reports_damage)
{
    const char *db = init_db("db");
    import_ok(db, write_file("g.jsonl", graph_jsonl), NULL);
    tu_raw raw;
    tu_raw_open(&raw, db);
    tu_raw_put(&raw, 1, "b", 1, "garbage", 7); /* the stored value of record b */
    tu_raw_close(&raw);
    run_result r = RUN("check", db);
    expect_fail(&r, 1, "records: MNEMO_ECORRUPT", "damaged record");
    cr_assert_eq(json_lines(r.out), 5, "every check still reports: %s", r.out);
    cr_assert(json_is_false(field(r.out, 1, "ok")));
    cr_assert(json_is_false(field(r.out, 4, "ok")));
    done(&r);
    r = RUN("export", db);
    cr_assert_eq(r.code, 1, "export of a damaged database fails");
    done(&r);
}

/* ---- vectors ------------------------------------------------------------------------------------ */

static const char *data_file(const char *rel)
{
    static char buf[4][1024];
    static int k;
    const char *data = getenv("MNEMO_DATA_DIR");
    cr_assert_not_null(data, "MNEMO_DATA_DIR is not set");
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", data, rel);
    return b;
}

/* An fvecs file of n vectors of dimension dim from vals. */
static const char *write_fvecs(const char *name, const float *vals, size_t n, size_t dim)
{
    const char *p = P(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    for (size_t i = 0; i < n; i++) {
        int32_t d = (int32_t)dim;
        fwrite(&d, sizeof d, 1, f);
        fwrite(vals + i * dim, sizeof *vals, dim, f);
    }
    fclose(f);
    return p;
}

TU_TEST(cli, vector_usage_errors)
{
    const char *db = init_db("db");
    EXPECT_FAIL(2, "need --dim", "init", P("x1"), "--metric", "cosine");
    EXPECT_FAIL(2, "--dim wants", "init", P("x2"), "--dim", "0");
    EXPECT_FAIL(2, "--metric wants", "init", P("x3"), "--dim", "3", "--metric", "hamming");
    EXPECT_FAIL(2, "--M wants", "init", P("x4"), "--dim", "3", "--M", "1");
    EXPECT_FAIL(2, "exactly one of", "search", db);
    EXPECT_FAIL(2, "exactly one of", "search", db, "--vector", "[1]", "--query-file", "q.fvecs");
    EXPECT_FAIL(2, "not valid JSON", "search", db, "--vector", "[1,");
    EXPECT_FAIL(2, "not valid JSON", "search", db, "--vector", "[NaN]");
    EXPECT_FAIL(2, "component 1 is not a finite float", "search", db, "--vector", "[1,1e39]");
    EXPECT_FAIL(2, "non-empty array", "search", db, "--vector", "[]");
    EXPECT_FAIL(2, "--k wants", "search", db, "--vector", "[1]", "-k", "0");
    EXPECT_FAIL(2, "apply with --near", "search", db, "--vector", "[1]", "--hops", "2");
    EXPECT_FAIL(2, "--where must be a JSON object", "search", db, "--vector", "[1]", "--where", "[1]");
    EXPECT_FAIL(2, "unknown option '-q'", "search", db, "-q", "1");
    EXPECT_FAIL(2, "\"embedding\": component 0", "put", db, "{\"id\":\"a\",\"embedding\":[\"x\"]}");
    EXPECT_FAIL(2, "--format wants", "import", db, "f", "--format", "ivecs");
    /* a database without a vector space: engine errors, exit 1 */
    EXPECT_FAIL(1, "MNEMO_EINVAL", "search", db, "--vector", "[1,2]");
    EXPECT_FAIL(1, "MNEMO_EINVAL", "put", db, "{\"id\":\"a\",\"embedding\":[1,2]}");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "a"); /* the record was rolled back with its vector */
}

TU_TEST(cli, vector_engine_errors)
{
    const char *db = P("db");
    run_result r = RUN("init", db, "--dim", "3", "--metric", "cosine", "--M", "8", "--ef-search", "32");
    expect_ok(&r, "init --dim");
    json_t *v = field(r.out, 0, "vectors");
    cr_assert_eq(json_integer_value(json_object_get(v, "dim")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(v, "metric")), "cosine");
    cr_assert_eq(json_integer_value(json_object_get(v, "M")), 8);
    cr_assert_eq(json_integer_value(json_object_get(v, "ef_search")), 32);
    json_decref(v);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EDIM", "search", db, "--vector", "[1,2]");
    EXPECT_FAIL(1, "MNEMO_EDIM", "put", db, "{\"id\":\"a\",\"embedding\":[1,2]}");
    EXPECT_FAIL(1, "MNEMO_EINVAL", "put", db, "{\"id\":\"a\",\"embedding\":[0,0,0]}"); /* zero under cosine */
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "a");
    /* jsonl: the bad line is named and its batch rolled back */
    const char *bad = write_file("bad.jsonl", "{\"type\":\"record\",\"id\":\"a\",\"embedding\":[1,0,0]}\n"
                                              "{\"type\":\"record\",\"id\":\"b\",\"embedding\":[1,0]}\n");
    EXPECT_FAIL(1, "bad.jsonl:2: record 'b': MNEMO_EDIM", "import", db, bad);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "a");
    /* fvecs: another dimension, NaN, truncation, mixed dimensions */
    EXPECT_FAIL(1, "record 0: storing records 0-99 (entry i is record 0+i): MNEMO_EDIM", "import", db,
                data_file("siftsmall/siftsmall_query.fvecs"), "--format", "fvecs");
    float vals[9] = {1, 0, 0, 0, 1, 0, 0, NAN, 1};
    EXPECT_FAIL(1, "record 2: component 1 is NaN (records 0-2 rolled back", "import", db,
                write_fvecs("nan.fvecs", vals, 3, 3), "--format", "fvecs");
    vals[7] = INFINITY;
    EXPECT_FAIL(1, "record 2: component 1 is infinite", "search", db, "--query-file",
                write_fvecs("inf.fvecs", vals, 3, 3));
    vals[7] = 0;
    const char *ok3 = write_fvecs("ok.fvecs", vals, 3, 3);
    FILE *f = fopen(P("trunc.fvecs"), "wb");
    char *all = slurp(ok3);
    fwrite(all, 1, 2 * 16 + 8, f); /* two whole vectors, then half of one */
    fclose(f);
    free(all);
    EXPECT_FAIL(1, "record 2: the file ends inside the vector", "import", db, P("trunc.fvecs"), "--format", "fvecs",
                "--batch", "2");
    /* the first batch (records 0 and 1) stayed */
    r = RUN("get", db, "1");
    expect_ok(&r, "get 1");
    json_t *e = field(r.out, 0, "embedding");
    cr_assert_eq(json_array_size(e), 3);
    cr_assert_eq(json_real_value(json_array_get(e, 1)), 1.0);
    json_decref(e);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "get", db, "2");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "search", db, "--vector", "[1,0,0]", "--near", "nobody");
}

TU_TEST(cli, vector_fvecs_import_and_search_match_library)
{
    const char *db = P("db");
    run_result r = RUN("init", db, "--dim", "128");
    expect_ok(&r, "init");
    done(&r);
    const char *q = data_file("siftsmall/siftsmall_query.fvecs");
    r = RUN("import", db, q, "--format", "fvecs", "--batch", "30");
    expect_ok(&r, "fvecs import");
    cr_assert_eq(int_field(r.out, 0, "vectors"), 100);
    cr_assert_eq(int_field(r.out, 0, "records"), 100);
    cr_assert_eq(int_field(r.out, 0, "dim"), 128);
    cr_assert_eq(int_field(r.out, 0, "batches"), 4);
    done(&r);
    r = RUN("import", db, q, "--format", "fvecs"); /* again: the records exist, vectors replaced */
    expect_ok(&r, "fvecs import again");
    cr_assert_eq(int_field(r.out, 0, "records"), 0);
    done(&r);
    r = RUN("check", db);
    expect_ok(&r, "check");
    cr_assert_eq(int_field(r.out, 3, "vectors"), 100);
    done(&r);
    r = RUN("stats", db);
    expect_ok(&r, "stats");
    json_t *vs = field(r.out, 0, "vectors");
    cr_assert_eq(json_integer_value(json_object_get(vs, "count")), 100);
    cr_assert_str_eq(json_string_value(json_object_get(vs, "metric")), "l2");
    json_decref(vs);
    done(&r);

    r = RUN("search", db, "--query-file", q, "-k", "5", "--exact");
    expect_ok(&r, "search --exact");
    cr_assert_eq(count_lines(r.out), 100);
    run_result r2 = RUN("search", db, "--query-file", q, "--k=5", "--ef", "200");
    expect_ok(&r2, "search (HNSW)");
    cr_assert_str_eq(r.out, r2.out, "HNSW with a wide beam finds the exact answer on 100 vectors");
    done(&r2);

    /* the library's own exact search gives the same hits and distances */
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.read_only = 1;
    mnemo_db *h;
    cr_assert_eq(mnemo_open(&h, db, &o), 0);
    float *vecs = NULL;
    size_t dim = 128;
    FILE *f = fopen(q, "rb");
    vecs = malloc(100 * 128 * sizeof *vecs);
    for (size_t i = 0; i < 100; i++) {
        int32_t d;
        cr_assert_eq(fread(&d, 4, 1, f), 1);
        cr_assert_eq(fread(vecs + i * dim, 4, dim, f), dim);
    }
    fclose(f);
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.exact = 1;
    const char *line = r.out;
    for (size_t i = 0; i < 100; i++) {
        mnemo_vector_hits *hits;
        cr_assert_eq(mnemo_vector_search(&hits, h, NULL, vecs + i * dim, dim, 5, &so), 0);
        const char *nl = strchr(line, '\n');
        json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
        cr_assert_eq(json_integer_value(json_object_get(j, "query")), (json_int_t)i);
        json_t *arr = json_object_get(j, "hits");
        cr_assert_eq(json_array_size(arr), hits->count);
        char self[16];
        snprintf(self, sizeof self, "%zu", i);
        cr_assert_str_eq(hits->hits[0].id, self, "a stored vector is its own nearest");
        for (size_t k = 0; k < hits->count; k++) {
            json_t *hit = json_array_get(arr, k);
            cr_assert_str_eq(json_string_value(json_object_get(hit, "id")), hits->hits[k].id);
            cr_assert_eq((float)json_number_value(json_object_get(hit, "distance")), hits->hits[k].distance);
        }
        json_decref(j);
        mnemo_vector_hits_free(hits);
        line = nl + 1;
    }
    free(vecs);
    mnemo_close(h);
    done(&r);

    /* one --vector query prints query 0 */
    r = RUN("search", db, "--vector", "[1,2,3]", "-k", "1");
    expect_fail(&r, 1, "MNEMO_EDIM", "wrong dimension");
    done(&r);
}

static const char *vec_graph_jsonl =
    "{\"type\":\"record\",\"id\":\"a\",\"metadata\":{\"kind\":\"x\"},\"embedding\":[0,0]}\n"
    "{\"type\":\"record\",\"id\":\"b\",\"metadata\":{\"kind\":\"y\"},\"embedding\":[1,0]}\n"
    "{\"type\":\"record\",\"id\":\"c\",\"metadata\":{\"kind\":\"x\"},\"embedding\":[2,0]}\n"
    "{\"type\":\"record\",\"id\":\"d\",\"metadata\":{\"kind\":\"y\"},\"embedding\":[3,0]}\n"
    "{\"type\":\"record\",\"id\":\"e\",\"content\":\"no vector\"}\n"
    "{\"type\":\"edge\",\"from\":\"a\",\"to\":\"b\"}\n"
    "{\"type\":\"edge\",\"from\":\"b\",\"to\":\"c\"}\n"
    "{\"type\":\"edge\",\"from\":\"c\",\"to\":\"d\"}\n";

/* The ids of the hits of one search line, comma-separated. */
static void hit_ids(char *buf, size_t n, const char *out)
{
    json_t *hits = field(out, 0, "hits");
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(hits); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(hits, i), "id"));
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "," : "", id);
    }
    json_decref(hits);
}

TU_TEST(cli, vector_search_filter_and_near)
{
    const char *db = P("db");
    run_result r = RUN("init", db, "--dim", "2");
    expect_ok(&r, "init");
    done(&r);
    import_ok(db, write_file("g.jsonl", vec_graph_jsonl), NULL);
    char ids[128];
    struct {
        const char *args[12];
        const char *want;
    } cases[] = {
        {{"-k", "3", NULL}, "a,b,c"},
        {{"-k", "10", "--where", "{\"kind\":\"y\"}", NULL}, "b,d"},
        {{"-k", "10", "--near", "c", "--hops", "1", "--dir", "out", NULL}, "c,d"},
        {{"-k", "10", "--near", "c", NULL}, "b,c,d"},
        {{"-k", "10", "--near", "b", "--hops", "2", "--where", "{\"kind\":\"x\"}", NULL}, "a,c"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *argv[16] = {"search", db, "--vector", "[0.1,0]"};
        size_t n = 4;
        for (size_t k = 0; cases[i].args[k]; k++)
            argv[n++] = cases[i].args[k];
        argv[n] = NULL;
        r = run_in(NULL, argv);
        expect_ok(&r, "search");
        hit_ids(ids, sizeof ids, r.out);
        cr_assert_str_eq(ids, cases[i].want, "case %zu: %s", i, r.out);
        done(&r);
    }
    r = RUN("search", db, "--vector", "[0.5,0]", "-k", "1");
    expect_ok(&r, "search");
    cr_assert_str_eq(r.out, "{\"query\":0,\"hits\":[{\"id\":\"a\",\"distance\":0.25}]}\n");
    done(&r);
    r = RUN("get", db, "e");
    expect_ok(&r, "get");
    cr_assert_null(strstr(r.out, "embedding"), "a record without a vector has no embedding field");
    done(&r);
    /* the filter's own message, quoted whole (issue 17 item 13) */
    EXPECT_FAIL(1, "filter: unknown operator '$foo' at 'a'", "search", db, "--vector", "[0,0]", "--where",
                "{\"a\":{\"$foo\":1}}");
}

TU_TEST(cli, vector_export_import_round_trip)
{
    const char *a = P("a");
    run_result r = RUN("init", a, "--dim", "3", "--M", "12");
    expect_ok(&r, "init");
    done(&r);
    /* (an L2 space refuses vectors longer than 1e18, MNEMO_VECTOR_MAX_NORM: 3.4e17, not FLT_MAX) */
    const char *in = write_file(
        "in.jsonl",
        "{\"type\":\"record\",\"id\":\"p\",\"content\":\"x\",\"embedding\":[0.1,-0.0,3.4028236e17]}\n"
        "{\"type\":\"record\",\"id\":\"q\",\"embedding\":[1e-7,0.33333334,-2.5]}\n"
        "{\"type\":\"record\",\"id\":\"r\"}\n"
        "{\"type\":\"record\",\"id\":\"s\",\"embedding\":[1.17549435e-38,16777217,7]}\n"
        "{\"type\":\"edge\",\"from\":\"p\",\"to\":\"q\"}\n");
    import_ok(a, in, NULL);
    float *vecs = malloc(200 * 3 * sizeof *vecs);
    uint32_t x = 12345;
    for (size_t i = 0; i < 600; i++) {
        x = x * 1103515245u + 12345u;
        vecs[i] = (float)((int32_t)x) / 3.0e7f;
    }
    import_ok(a, write_fvecs("v.fvecs", vecs, 200, 3), "fvecs");
    free(vecs);
    r = RUN("export", a);
    expect_ok(&r, "export");
    cr_assert(!strncmp(r.out, "{\"type\":\"space\",\"dim\":3,\"metric\":\"l2\",\"M\":12,\"ef_construction\":200,"
                              "\"ef_search\":64}\n", 83), "%.200s", r.out);
    cr_assert_not_null(strstr(r.out, "\"embedding\":[0.1,-0.0,340282360000000000.0]}"), "%.2000s", r.out);
    const char *dump = write_file("a.jsonl", r.out);
    const char *b = init_db("b"); /* no vector space: the space line creates it */
    import_ok(b, dump, NULL);
    run_result r2 = RUN("export", b);
    expect_ok(&r2, "export b");
    cr_assert_str_eq(r.out, r2.out, "export -> import -> export is byte-identical");
    done(&r2);
    /* a database with another space refuses the space line */
    const char *c = P("c");
    r2 = RUN("init", c, "--dim", "4");
    expect_ok(&r2, "init c");
    done(&r2);
    r2 = RUN("import", c, dump);
    expect_fail(&r2, 1, "a.jsonl:1: vector space dim 3 metric l2: MNEMO_EINVAL", "space mismatch");
    done(&r2);
    done(&r);
}

TU_TEST(cli, bench_runs_a_module_benchmark)
{
    EXPECT_FAIL(2, "unknown benchmark", "bench", "nope");
    EXPECT_FAIL(2, "", "bench");
    run_result r = RUN("bench", "vector", "--quick", "--reps", "1", "--only", "siftsmall", "--churn-rounds", "0");
    if (r.code == 1 && strstr(r.err, "not found")) { /* a build without benchmarks (the sanitizer one) */
        done(&r);
        return;
    }
    expect_ok(&r, "bench vector --quick");
    cr_assert_geq(json_lines(r.out), 5);
    cr_assert_not_null(strstr(r.out, "\"ratio\""));
    done(&r);
    setenv("MNEMO_BENCH_DIR", tu_path("nowhere"), 1);
    EXPECT_FAIL(1, "not found", "bench", "kv");
    unsetenv("MNEMO_BENCH_DIR");
}

/* put replaces the whole record, embedding included; "embedding": null removes it; import does
 * the same per line (issue 17 item 9). */
TU_TEST(cli, put_replaces_the_embedding_and_null_removes_it)
{
    const char *db = P("db");
    run_result r = RUN("init", db, "--dim", "2");
    expect_ok(&r, "init");
    done(&r);
    const char *puts[][2] = {
        {"{\"id\":\"m\",\"content\":\"something else\"}", NULL},
        {"{\"id\":\"m\",\"content\":\"cats\",\"embedding\":null}", NULL},
        {"{\"id\":\"m\",\"content\":\"dogs\",\"embedding\":[0,1]}", "[0,1]"},
    };
    char ids[128];
    for (size_t i = 0; i < 3; i++) {
        r = RUN("put", db, "{\"id\":\"m\",\"content\":\"cats\",\"embedding\":[1,0]}");
        expect_ok(&r, "put with embedding");
        cr_assert_not_null(strstr(r.out, "\"embedding\":[1.0,0.0]"), "%s", r.out);
        done(&r);
        r = RUN("put", db, puts[i][0]);
        expect_ok(&r, puts[i][0]);
        cr_assert((strstr(r.out, "embedding") != NULL) == (puts[i][1] != NULL), "case %zu: %s", i, r.out);
        done(&r);
        r = RUN("get", db, "m");
        expect_ok(&r, "get");
        cr_assert((strstr(r.out, "embedding") != NULL) == (puts[i][1] != NULL), "case %zu: %s", i, r.out);
        done(&r);
        r = RUN("search", db, "--vector", "[1,0]", "-k", "1");
        expect_ok(&r, "search");
        hit_ids(ids, sizeof ids, r.out);
        cr_assert_str_eq(ids, puts[i][1] ? "m" : "", "case %zu: %s", i, r.out);
        cr_assert_null(strstr(r.out, "\"distance\":0}"), "case %zu: the old vector is gone: %s", i, r.out);
        done(&r);
    }
    import_ok(db, write_file("r.jsonl", "{\"type\":\"record\",\"id\":\"m\",\"embedding\":[1,0]}\n"
                                        "{\"type\":\"record\",\"id\":\"m\",\"content\":\"no vector\"}\n"), NULL);
    r = RUN("get", db, "m");
    expect_ok(&r, "get");
    cr_assert_null(strstr(r.out, "embedding"), "%s", r.out);
    done(&r);
}

TU_TEST(cli, text_enable_search_and_import_indexing)
{
    const char *db = init_db("db");
    import_ok(db, write_file("g.jsonl", graph_jsonl), NULL);
    EXPECT_FAIL(1, "not enabled", "search", db, "--text", "alpha");
    run_result r = RUN("text-enable", db, "--stem", "english", "--stopwords");
    expect_ok(&r, "text-enable");
    cr_assert_not_null(strstr(r.out, "\"stem\":\"english\",\"stopwords\":true"), "%s", r.out);
    done(&r);
    EXPECT_FAIL(1, "MNEMO_EEXISTS", "text-enable", db);
    /* records imported later are indexed by their own transactions */
    import_ok(db, write_file("more.jsonl", "{\"type\":\"record\",\"id\":\"n\",\"content\":\"alphas and betas\","
                                           "\"metadata\":{\"topic\":\"rust\"}}\n"), NULL);
    char ids[128];
    r = RUN("search", db, "--text", "alpha", "-k", "5");
    expect_ok(&r, "search --text");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "a,n", "%s", r.out);
    done(&r);
    r = RUN("search", db, "--text", "beta -alpha", "--where", "{\"topic\":\"c\"}");
    expect_ok(&r, "search --text --where");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "b", "%s", r.out);
    done(&r);
    EXPECT_FAIL(2, "use `mnemo recall DB --text", "search", db, "--text", "x", "--vector", "[1]");
    EXPECT_FAIL(2, "--b", "search", db, "--text", "x", "--b", "2");
    EXPECT_FAIL(1, "invalid UTF-8 at byte 1", "search", db, "--text", "a\xff");
    EXPECT_FAIL(1, "klingon", "text-enable", db, "--stem", "klingon");

    /* export carries the settings before the records; an import into a new database enables full
     * text with them (its records indexed as they come) and exports the same bytes */
    r = RUN("export", db);
    expect_ok(&r, "export");
    char *e1 = r.out;
    r.out = NULL;
    done(&r);
    const char *text_line = "{\"type\":\"text\",\"stem\":\"english\",\"stopwords\":true,\"k1\":1.2,\"b\":0.75}\n";
    cr_assert(strstr(e1, text_line) && strstr(e1, text_line) < strstr(e1, "\"type\":\"record\""), "%s", e1);
    const char *dump = write_file("text-export.jsonl", e1);
    const char *db2 = init_db("db2");
    import_ok(db2, dump, NULL);
    r = RUN("export", db2);
    expect_ok(&r, "export 2");
    cr_assert_str_eq(r.out, e1);
    done(&r);
    r = RUN("search", db2, "--text", "alpha", "-k", "5");
    expect_ok(&r, "search --text after import");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "a,n", "%s", r.out);
    done(&r);
    free(e1);
    /* a database whose full text has other settings refuses the line, naming both */
    const char *db3 = init_db("db3");
    r = RUN("text-enable", db3);
    expect_ok(&r, "text-enable db3");
    done(&r);
    EXPECT_FAIL(1, "stem 'english'", "import", db3, dump);
    EXPECT_FAIL(1, "\"stopwords\" (true or false)", "import", db3,
                write_file("bad-text.jsonl", "{\"type\":\"text\",\"stem\":\"\",\"stopwords\":1,\"k1\":1,\"b\":1}\n"));
}

/* Hybrid recall: text, vector (inline and from an fvecs row), parts of each hit, errors. */
TU_TEST(cli, recall_text_vector_and_parts)
{
    TU_NEEDS_DISK("every command reopens the database");
    const char *db = P("db");
    run_result r = RUN("init", db, "--dim", "2", "--engine", tu_engine());
    expect_ok(&r, "init");
    done(&r);
    EXPECT_FAIL(1, "mnemo_text_enable", "recall", db, "--text", "wing");
    r = RUN("text-enable", db);
    expect_ok(&r, "text-enable");
    done(&r);
    import_ok(db, write_file("m.jsonl",
        "{\"type\":\"record\",\"id\":\"a\",\"content\":\"wing wing\",\"importance\":1,\"embedding\":[0,1]}\n"
        "{\"type\":\"record\",\"id\":\"b\",\"content\":\"wing flutter\",\"metadata\":{\"k\":1},\"embedding\":[1,0]}\n"
        "{\"type\":\"record\",\"id\":\"c\",\"content\":\"heat\",\"embedding\":[0.9,0.1]}\n"), NULL);
    char ids[128];
    r = RUN("recall", db, "--text", "wing", "--weights", "text=1");
    expect_ok(&r, "recall --text");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "a,b", "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"text_rank\":1,"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"vector_rank\":null,\"distance\":null"), "%s", r.out);
    done(&r);
    /* the vector alone: b, c, then a (a's importance 1 counts for nothing with importance=0) */
    r = RUN("recall", db, "--vector", "[1,0]", "--weights", "vector=1");
    expect_ok(&r, "recall --vector");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "b,c,a", "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"text_rank\":null,\"text_score\":null,\"vector_rank\":1,\"distance\":0.0,"),
                       "%s", r.out);
    done(&r);
    const float rows[] = {0, 1, 1, 0};
    const char *qf = write_fvecs("q.fvecs", rows, 2, 2);
    r = RUN("recall", db, "--vector-file", qf, "--row", "1", "--text", "wing", "-k", "1", "--weights",
            "text=1,vector=1", "--where", "{\"k\":1}");
    expect_ok(&r, "recall --vector-file --text --where");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "b", "%s", r.out);
    done(&r);
    r = RUN("recall", db, "--text", "wing", "--weights", "importance=1", "--fusion", "weighted", "--half-life", "1h",
            "--clock", "created", "--now", "1000", "--depth", "20");
    expect_ok(&r, "recall with every option");
    hit_ids(ids, sizeof ids, r.out);
    cr_assert_str_eq(ids, "a,b", "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"recency\":1.0,"), "a future timestamp counts as now: %s", r.out);
    done(&r);
    EXPECT_FAIL(2, "--text QUERY and/or", "recall", db);
    EXPECT_FAIL(2, "--weights", "recall", db, "--text", "x", "--weights", "text=-1");
    EXPECT_FAIL(2, "--weights", "recall", db, "--text", "x", "--weights", "speed=1");
    EXPECT_FAIL(2, "at least one", "recall", db, "--text", "x", "--weights", "text=0");
    EXPECT_FAIL(2, "--half-life", "recall", db, "--text", "x", "--half-life", "0d");
    EXPECT_FAIL(2, "--half-life", "recall", db, "--text", "x", "--half-life", "3 weeks");
    EXPECT_FAIL(2, "--fusion", "recall", db, "--text", "x", "--fusion", "max");
    EXPECT_FAIL(2, "--depth 5 is less", "recall", db, "--text", "x", "--depth", "5");
    EXPECT_FAIL(2, "--row applies", "recall", db, "--text", "x", "--row", "1");
    EXPECT_FAIL(2, "-k", "recall", db, "--text", "x", "-k", "0");
    EXPECT_FAIL(1, "MNEMO_EDIM", "recall", db, "--vector", "[1,2,3]");
    EXPECT_FAIL(1, "no vector at row 2", "recall", db, "--vector-file", qf, "--row", "2");
    EXPECT_FAIL(1, "invalid UTF-8", "recall", db, "--text", "a\xff");
    EXPECT_FAIL(1, "MNEMO_ENOTFOUND", "recall", db, "--text", "x", "--near", "zz");
}

TU_TEST(cli, collections_on_every_command)
{
    const char *db = init_db("db");
    run_result r = RUN("init", db, "--collection", "alice", "--dim", "3");
    expect_ok(&r, "init --collection");
    cr_assert_not_null(strstr(r.out, "\"collection\":\"alice\""), "%s", r.out);
    done(&r);
    r = RUN("init", db, "--collection=alice");
    expect_fail(&r, 1, "already has a collection 'alice'", "init of an existing collection");
    done(&r);
    r = RUN("put", db, "{\"id\":\"r1\",\"content\":\"alice's\",\"embedding\":[1,2,3]}", "--collection", "alice");
    expect_ok(&r, "put into alice");
    done(&r);
    r = RUN("put", db, "{\"id\":\"r1\",\"content\":\"the default one\"}");
    expect_ok(&r, "put into the default collection");
    done(&r);
    r = RUN("get", db, "r1", "--collection", "alice");
    expect_ok(&r, "get from alice");
    cr_assert_not_null(strstr(r.out, "alice's"), "%s", r.out);
    done(&r);
    r = RUN("get", db, "r1");
    expect_ok(&r, "get from the default collection");
    cr_assert_not_null(strstr(r.out, "the default one"), "%s", r.out);
    done(&r);
    r = RUN("search", db, "--vector", "[1,2,3]", "--collection", "alice");
    expect_ok(&r, "search in alice");
    cr_assert_not_null(strstr(r.out, "\"id\":\"r1\""), "%s", r.out);
    done(&r);
    r = RUN("get", db, "r1", "--collection", "nobody");
    expect_fail(&r, 1, "no collection 'nobody'", "an unknown collection");
    done(&r);
    r = RUN("collections", db);
    expect_ok(&r, "collections");
    cr_assert_str_eq(r.out, "{\"collection\":\"default\",\"records\":1,\"vectors\":0}\n"
                            "{\"collection\":\"alice\",\"records\":1,\"vectors\":1}\n");
    done(&r);
    r = RUN("collections", db, "--rename", "alice", "--to", "bob");
    expect_ok(&r, "rename");
    done(&r);
    r = RUN("collections", db, "--drop", "alice");
    expect_fail(&r, 1, "no collection 'alice'", "drop of a renamed collection");
    done(&r);
    r = RUN("collections", db, "--drop", "bob");
    expect_ok(&r, "drop");
    done(&r);
    r = RUN("collections", db, "--drop", "default");
    expect_fail(&r, 1, "cannot be dropped", "drop of the default collection");
    done(&r);
    r = RUN("collections", db, "--rename", "x");
    expect_fail(&r, 2, "--to", "rename without --to");
    done(&r);
    r = RUN("collections", db);
    expect_ok(&r, "collections after the drop");
    cr_assert_str_eq(r.out, "{\"collection\":\"default\",\"records\":1,\"vectors\":0}\n");
    done(&r);
}

TU_TEST(cli, export_import_round_trips_every_collection)
{
    const char *db1 = init_db("db1");
    import_ok(db1, write_file("full.jsonl", full_jsonl), NULL);
    run_result r = RUN("init", db1, "--collection", "alice", "--dim", "2", "--metric", "cosine");
    expect_ok(&r, "init alice");
    done(&r);
    r = RUN("init", db1, "--collection", "bob");
    expect_ok(&r, "init bob");
    done(&r);
    const char *coll_jsonl =
        "{\"type\":\"index\",\"path\":\"topic\"}\n"
        "{\"type\":\"record\",\"id\":\"r/1\",\"content\":\"alice's r/1\",\"metadata\":{\"topic\":\"a\"},"
        "\"embedding\":[1,0]}\n"
        "{\"type\":\"record\",\"id\":\"x\",\"content\":\"alice's x\",\"embedding\":[0,1]}\n"
        "{\"type\":\"edge\",\"from\":\"r/1\",\"to\":\"x\",\"label\":\"about\",\"weight\":2}\n";
    r = RUN("import", db1, write_file("alice.jsonl", coll_jsonl), "--collection", "alice");
    expect_ok(&r, "import into alice");
    done(&r);
    r = RUN("put", db1, "{\"id\":\"r/1\",\"content\":\"bob's\"}", "--collection", "bob");
    expect_ok(&r, "put into bob");
    done(&r);
    /* edges between collections: alice -> bob, and bob -> the default collection */
    const char *cross_jsonl = "{\"type\":\"collection\",\"name\":\"alice\"}\n"
                              "{\"type\":\"edge\",\"from\":\"x\",\"to\":\"r/1\",\"to_collection\":\"bob\",\"label\":\"cites\"}\n"
                              "{\"type\":\"collection\",\"name\":\"bob\"}\n"
                              "{\"type\":\"edge\",\"from\":\"r/1\",\"to\":\"r/1\",\"to_collection\":\"default\","
                              "\"label\":\"cites\",\"weight\":4}\n";
    import_ok(db1, write_file("cross.jsonl", cross_jsonl), NULL);
    r = RUN("neighbors", db1, "r/1", "--collection", "bob", "--dir", "both");
    expect_ok(&r, "neighbors across");
    cr_assert_not_null(strstr(r.out, "\"collection\":\"alice\""), "%s", r.out);
    done(&r);
    r = RUN("export", db1);
    expect_ok(&r, "export");
    char *e1 = r.out;
    r.out = NULL;
    done(&r);
    cr_assert_not_null(strstr(e1, "{\"type\":\"collection\",\"name\":\"alice\",\"dim\":2,\"metric\":\"cosine\""), "%s", e1);
    cr_assert_not_null(strstr(e1, "{\"type\":\"collection\",\"name\":\"bob\"}\n"), "%s", e1);
    cr_assert_not_null(strstr(e1, "{\"type\":\"collection\",\"name\":\"alice\"}\n{\"type\":\"edge\",\"from\":\"x\","
                                  "\"to\":\"r/1\",\"to_collection\":\"bob\",\"label\":\"cites\",\"weight\":1.0}\n"), "%s", e1);
    const char *db2 = init_db("db2");
    import_ok(db2, write_file("e1.jsonl", e1), NULL);
    r = RUN("export", db2);
    expect_ok(&r, "export 2");
    cr_assert_str_eq(r.out, e1, "the export of the import differs");
    done(&r);
    r = RUN("collections", db2);
    expect_ok(&r, "collections");
    cr_assert_not_null(strstr(r.out, "{\"collection\":\"alice\",\"records\":2,\"vectors\":2}"), "%s", r.out);
    done(&r);
    /* one collection alone: its records and space line, no key-value pairs */
    r = RUN("export", db1, "--collection", "alice");
    expect_ok(&r, "export --collection");
    cr_assert_null(strstr(r.out, "\"type\":\"kv\""), "%s", r.out);
    cr_assert_eq(json_lines(r.out), 5, "space, index, 2 records, 1 edge: %s", r.out);
    done(&r);
    free(e1);
}
