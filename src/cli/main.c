/* `mnemo COMMAND DB ...`: the command table, option parsing, errors and opening the database. */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The command groups, in the order the global help lists them. */
static const cli_cmd *const groups[] = {cli_admin_cmds, cli_records_cmds, cli_graph_cmds, cli_io_cmds,
                                         cli_vector_cmds, cli_text_cmds, cli_recall_cmds, cli_demo_cmds,
                                         cli_bench_cmds, NULL};

static const cli_cmd *find_cmd(const char *name)
{
    for (size_t g = 0; groups[g]; g++)
        for (const cli_cmd *c = groups[g]; c->name; c++)
            if (!strcmp(c->name, name))
                return c;
    return NULL;
}

static void global_help(FILE *f)
{
    fprintf(f, "usage: mnemo COMMAND DB [ARGS] [OPTIONS]\n"
               "       mnemo COMMAND --help | mnemo --help | mnemo --version\n\n"
               "mnemo %s: an embeddable multi-model database (key-value, records, graph, vectors).\n"
               "Results are JSON lines on stdout; an error is one line on stderr with exit code 1\n"
               "(engine or input error) or 2 (bad usage: unknown option, value out of range, a JSON\n"
               "argument that does not parse).\n\ncommands:\n",
            mnemo_version(NULL, NULL, NULL));
    for (size_t g = 0; groups[g]; g++)
        for (const cli_cmd *c = groups[g]; c->name; c++) {
            char head[128];
            snprintf(head, sizeof head, "%s %s", c->name, c->synopsis);
            if (strlen(head) > 30)
                fprintf(f, "  %s\n  %-30s %s\n", head, "", c->summary);
            else
                fprintf(f, "  %-30s %s\n", head, c->summary);
        }
}

static void cmd_help(const cli_cmd *c)
{
    printf("usage: mnemo %s %s\n\n%s\n", c->name, c->synopsis, c->summary);
    if (c->help && *c->help)
        printf("\n%s", c->help);
}

int cli_opt_index(const cli_cmd *cmd, const char *name)
{
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++)
        if (!strcmp(cmd->opts[i].name, name))
            return i;
    fprintf(stderr, "mnemo %s: internal error: no option --%s\n", cmd->name, name);
    abort();
}

const char *cli_opt(const cli_cmd *cmd, const cli_args *a, const char *name)
{
    return a->val[cli_opt_index(cmd, name)];
}

int cli_opt_uint(uint64_t *out, const cli_cmd *cmd, const cli_args *a, const char *name, uint64_t min, uint64_t max)
{
    const char *s = cli_opt(cmd, a, name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || *s == '-' || errno || v < min || v > max)
        return cli_usage(cmd, "--%s wants a whole number from %llu to %llu, not '%s'", name,
                         (unsigned long long)min, (unsigned long long)max, s);
    *out = v;
    return 0;
}

int cli_opt_dir(mnemo_direction *out, const cli_cmd *cmd, const cli_args *a, mnemo_direction dflt)
{
    const char *s = cli_opt(cmd, a, "dir");
    if (!s)
        *out = dflt;
    else if (!strcmp(s, "out"))
        *out = MNEMO_DIR_OUT;
    else if (!strcmp(s, "in"))
        *out = MNEMO_DIR_IN;
    else if (!strcmp(s, "both"))
        *out = MNEMO_DIR_BOTH;
    else
        return cli_usage(cmd, "--dir wants out, in or both, not '%s'", s);
    return 0;
}

int cli_json_arg(json_t **out, const cli_cmd *cmd, const char *what, const char *text, json_type want)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return cli_usage(cmd, "%s is not valid JSON: %s (column %d)", what, je.text, je.column);
    if (json_typeof(v) != want) {
        json_decref(v);
        return cli_usage(cmd, "%s must be a JSON %s", what, want == JSON_OBJECT ? "object" : "array");
    }
    *out = v;
    return 0;
}

static void verr(const cli_cmd *cmd, const char *fmt, va_list ap)
{
    fflush(stdout);
    if (cmd)
        fprintf(stderr, "mnemo %s: ", cmd->name);
    else
        fputs("mnemo: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int cli_usage(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(cmd, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, " (see 'mnemo %s --help')\n", cmd->name);
    else
        fputs(" (see 'mnemo --help')\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_fail(const cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(cmd, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

int cli_engine(const cli_cmd *cmd, int rc, const char *fmt, ...)
{
    /* copy the message first: printing must not be able to disturb it */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mnemo_errmsg());
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    va_list ap;
    va_start(ap, fmt);
    verr(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s: %s\n", mnemo_strerror(rc), msg);
    return CLI_EXIT_FAIL;
}

const char *cli_collection;

int cli_open_with(mnemo_db **db, const cli_cmd *cmd, const char *path, int mode, const mnemo_options *opts)
{
    mnemo_options o = *opts;
    o.read_only = mode == CLI_OPEN_RO;
    o.create_if_missing = mode == CLI_OPEN_CREATE;
    cli_options_adjust(&o);
    if (cli_collection) { /* the vector space options are the collection's */
        o.vector_dim = 0;
        o.vector_metric = MNEMO_METRIC_DEFAULT;
        o.hnsw_m = o.hnsw_ef_construction = o.hnsw_ef_search = 0;
    }
    mnemo_db *root;
    int rc = mnemo_open(&root, path, &o);
    if (rc)
        return cli_engine(cmd, rc, "cannot open database '%s'", path);
    if (!cli_collection) {
        *db = root;
        return 0;
    }
    rc = mnemo_collection_open(db, root, cli_collection);
    if (rc == MNEMO_ENOTFOUND && mode == CLI_OPEN_CREATE) {
        mnemo_collection_options co = {MNEMO_COLLECTION_OPTIONS_VERSION, opts->vector_dim, opts->vector_metric,
                                       opts->hnsw_m, opts->hnsw_ef_construction, opts->hnsw_ef_search};
        rc = mnemo_collection_create(db, root, cli_collection, &co);
    }
    if (rc) {
        cli_engine(cmd, rc, "cannot open collection '%s' of '%s'", cli_collection, path);
        mnemo_close(root);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

void cli_options_adjust(mnemo_options *o)
{
    if (o->cache_size == 0)
        o->cache_size = MNEMO_CACHE_OFF;
}

int cli_open(mnemo_db **db, const cli_cmd *cmd, const char *path, int mode)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    return cli_open_with(db, cmd, path, mode, &o);
}

static const char *const metric_names[] = {"l2", "l2", "cosine", "ip"}; /* by mnemo_metric */

const char *cli_metric_name(mnemo_metric m)
{
    return (unsigned)m < sizeof metric_names / sizeof *metric_names ? metric_names[m] : "unknown";
}

int cli_metric_parse(mnemo_metric *out, const char *s)
{
    for (unsigned m = MNEMO_METRIC_L2; m <= MNEMO_METRIC_IP; m++)
        if (!strcmp(s, metric_names[m])) {
            *out = (mnemo_metric)m;
            return 0;
        }
    return -1;
}

int cli_close(mnemo_db *db, const cli_cmd *cmd, int rc)
{
    mnemo_db *root;
    if (db && mnemo_collection_open(&root, db, MNEMO_COLLECTION_DEFAULT) == 0)
        db = root; /* a collection's handle closes with its database */
    int crc = mnemo_close(db);
    if (crc && !rc)
        return cli_engine(cmd, crc, "closing the database");
    return rc;
}

int cli_finish_output(const cli_cmd *cmd, int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!rc)
            return cli_fail(cmd, "writing the output failed: %s", strerror(errno));
    }
    return rc;
}

void *cli_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("mnemo: out of memory\n", stderr);
        exit(CLI_EXIT_FAIL);
    }
    return p;
}

void *cli_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("mnemo: out of memory\n", stderr);
        exit(CLI_EXIT_FAIL);
    }
    return q;
}

char *cli_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(cli_xmalloc(n), s, n);
}

static uint64_t disk_total;
static int add_size(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        disk_total += (uint64_t)sb->st_size;
    return 0;
}

uint64_t cli_disk_bytes(const char *path)
{
    disk_total = 0;
    nftw(path, add_size, 16, FTW_PHYS);
    return disk_total;
}

void cli_dir_mark_take(cli_dir_mark *m, const char *path)
{
    memset(m, 0, sizeof *m);
    DIR *d = opendir(path);
    if (!d)
        return;
    m->existed = 1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        m->names = cli_xrealloc(m->names, (m->n + 1) * sizeof *m->names);
        m->names[m->n++] = cli_xstrdup(e->d_name);
    }
    closedir(d);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void cli_dir_mark_undo(const cli_dir_mark *m, const char *path)
{
    if (!m->existed) {
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    /* collect first: removing entries while readdir runs may skip some */
    char **added = NULL;
    size_t n_added = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int old = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
        for (size_t i = 0; i < m->n && !old; i++)
            old = !strcmp(m->names[i], e->d_name);
        if (old)
            continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        added = cli_xrealloc(added, (n_added + 1) * sizeof *added);
        added[n_added] = cli_xmalloc(len);
        snprintf(added[n_added++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n_added; i++) {
        nftw(added[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(added[i]);
    }
    free(added);
}

void cli_dir_mark_free(cli_dir_mark *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
    free(m->names);
    memset(m, 0, sizeof *m);
}

/* Parse argv (after the command name) into a: options anywhere, "--" ends them, "-" is positional. */
static int parse_args(cli_args *a, const cli_cmd *c, int argc, char **argv, int *help)
{
    memset(a, 0, sizeof *a);
    int no_more_opts = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!no_more_opts && !strcmp(s, "--")) {
            no_more_opts = 1;
            continue;
        }
        if (no_more_opts || s[0] != '-' || !s[1]) {
            if (a->npos >= c->max_pos || a->npos >= CLI_MAX_POS)
                return cli_usage(c, "unexpected argument '%s'", s);
            a->pos[a->npos++] = s;
            continue;
        }
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            *help = 1;
            return 0;
        }
        int dash1 = s[1] != '-'; /* -k: a one-letter option */
        if (dash1 && (s[2] && s[2] != '='))
            return cli_usage(c, "unknown option '%s'", s);
        const char *name = s + (dash1 ? 1 : 2), *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        int k = -1;
        for (int j = 0; j < CLI_MAX_OPTS && c->opts[j].name; j++)
            if (strlen(c->opts[j].name) == nlen && !strncmp(c->opts[j].name, name, nlen) && (!dash1 || nlen == 1))
                k = j;
        if (k < 0)
            return cli_usage(c, "unknown option '%.*s'", (int)(nlen + (dash1 ? 1 : 2)), s);
        if (c->opts[k].has_arg) {
            if (eq)
                a->val[k] = eq + 1;
            else if (i + 1 < argc)
                a->val[k] = argv[++i];
            else
                return cli_usage(c, "option '--%s' needs a value", c->opts[k].name);
        } else {
            if (eq)
                return cli_usage(c, "option '--%s' takes no value", c->opts[k].name);
            a->val[k] = "";
        }
    }
    if (a->npos < c->min_pos)
        return cli_usage(c, "missing arguments: mnemo %s %s", c->name, c->synopsis);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(NULL, "no command given");
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        global_help(stdout);
        return cli_finish_output(NULL, 0);
    }
    if (!strcmp(name, "--version")) {
        printf("{\"version\":\"%s\"}\n", mnemo_version(NULL, NULL, NULL));
        return cli_finish_output(NULL, 0);
    }
    const cli_cmd *c = find_cmd(name);
    if (!c) {
        fprintf(stderr, "mnemo: unknown command '%s' (see 'mnemo --help')\n", name);
        return CLI_EXIT_USAGE;
    }
    /* --collection NAME (or =NAME), anywhere after the command: every command takes it. */
    int n = 2, i = 2;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--collection") || !strncmp(argv[i], "--collection=", 13)) {
            if (argv[i][12] == '=') {
                cli_collection = argv[i] + 13;
            } else if (i + 1 < argc) {
                cli_collection = argv[++i];
            } else {
                return cli_usage(c, "option '--collection' needs a value");
            }
            continue;
        }
        argv[n++] = argv[i];
    }
    while (i < argc) /* "--" and what follows it */
        argv[n++] = argv[i++];
    argc = n;
    cli_args a;
    int help = 0, rc = parse_args(&a, c, argc - 2, argv + 2, &help);
    if (rc)
        return rc;
    if (help) {
        cmd_help(c);
        return cli_finish_output(c, 0);
    }
    rc = c->run(c, &a);
    return cli_finish_output(c, rc);
}
