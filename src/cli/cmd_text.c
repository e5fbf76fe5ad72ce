/* Full-text commands: text-enable (index record content, with the database's settings), and the
 * --text form of search (BM25, mnemo_text_search). */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --NAME X as a finite double in (0, max]; absent leaves *out alone. @return 0 or CLI_EXIT_USAGE. */
static int opt_real(double *out, const cli_cmd *cmd, const cli_args *a, const char *name, double max)
{
    const char *s = cli_opt(cmd, a, name);
    if (!s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v <= 0 || v > max)
        return cli_usage(cmd, "--%s wants a number in (0, %g], not '%s'", name, max, s);
    *out = v;
    return 0;
}

int cli_text_search(const cli_cmd *cmd, const cli_args *a)
{
    uint64_t k = 10, hops = 0;
    mnemo_direction dir;
    mnemo_text_search_options so = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    if (cli_opt_uint(&k, cmd, a, "k", 1, CLI_SEARCH_K_MAX) || cli_opt_uint(&hops, cmd, a, "hops", 1, 1000000) ||
        cli_opt_dir(&dir, cmd, a, MNEMO_DIR_BOTH) || opt_real(&so.k1, cmd, a, "k1", 100) ||
        opt_real(&so.b, cmd, a, "b", 1))
        return CLI_EXIT_USAGE;
    if (cli_opt(cmd, a, "vector") || cli_opt(cmd, a, "query-file") || cli_opt(cmd, a, "ef") || cli_opt(cmd, a, "exact"))
        return cli_usage(cmd, "--text does not combine with --vector, --query-file, --ef or --exact (for text and a vector fused in one ranking, use `mnemo recall DB --text ... --vector ...`)");
    if (cli_search_restriction(cmd, a, hops, &so.filter, &so.near, &so.near_label))
        return CLI_EXIT_USAGE;
    so.hops = (uint32_t)hops;
    so.near_dir = dir;
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    mnemo_text_hits *h;
    int rc = mnemo_text_search(&h, db, NULL, cli_opt(cmd, a, "text"), (size_t)k, &so);
    if (rc) {
        rc = cli_engine(cmd, rc, "text search");
    } else {
        jout j = {0};
        jo_begin(&j);
        jo_uint(&j, "query", 0);
        jo_arr(&j, "hits");
        for (size_t i = 0; i < h->count; i++) {
            jo_obj(&j, NULL);
            jo_str(&j, "id", h->hits[i].id);
            jo_real(&j, "score", h->hits[i].score);
            jo_obj_end(&j);
        }
        jo_arr_end(&j);
        jo_line(&j, stdout);
        jo_free(&j);
        mnemo_text_hits_free(h);
    }
    return cli_close(db, cmd, rc);
}

static void show_progress(uint64_t done, uint64_t total, void *arg)
{
    cli_progress *p = arg;
    (void)total;
    cli_progress_update(p, 0, done);
}

static int run_text_enable(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_text_options o = MNEMO_TEXT_OPTIONS_INIT;
    o.stem_language = cli_opt(cmd, a, "stem");
    o.stopwords = cli_opt(cmd, a, "stopwords") != NULL;
    if (opt_real(&o.k1, cmd, a, "k1", 100) || opt_real(&o.b, cmd, a, "b", 1))
        return CLI_EXIT_USAGE;
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RW))
        return CLI_EXIT_FAIL;
    cli_progress prog;
    cli_progress_start(&prog, 0);
    o.progress = show_progress;
    o.progress_arg = &prog;
    int rc = mnemo_text_enable(db, &o);
    cli_progress_end(&prog);
    mnemo_text_info info = MNEMO_TEXT_INFO_INIT;
    if (!rc)
        rc = mnemo_text_info_get(&info, db, NULL);
    if (rc) {
        rc = cli_engine(cmd, rc, "enabling full text");
    } else {
        jout j = {0};
        jo_begin(&j);
        jo_str(&j, "path", a->pos[0]);
        jo_obj(&j, "text");
        jo_str(&j, "stem", info.stem_language[0] ? info.stem_language : "none");
        jo_bool(&j, "stopwords", info.stopwords);
        jo_real(&j, "k1", info.k1);
        jo_real(&j, "b", info.b);
        jo_uint(&j, "documents", info.documents);
        jo_uint(&j, "total_terms", info.total_terms);
        jo_obj_end(&j);
        jo_line(&j, stdout);
        jo_free(&j);
    }
    return cli_close(db, cmd, rc);
}

const cli_cmd cli_text_cmds[] = {
    {"text-enable", "DB [--stem LANG|none] [--stopwords] [--k1 1.2] [--b 0.75]",
     "index record content for full-text search (records stored now and later)",
     "Enables full text on DB with settings recorded in it, indexes the records already stored,\n"
     "and prints {\"path\",\"text\":{\"stem\",\"stopwords\",\"k1\",\"b\",\"documents\",\"total_terms\"}}.\n"
     "From then on every record written (put, import, update) is indexed in its own transaction.\n"
     "  --stem LANG    Snowball stemmer (english, french, german, porter, ...; default none)\n"
     "  --stopwords    drop Snowball's English stop words\n"
     "  --k1 X --b X   default BM25 parameters of searches (1.2 and 0.75)\n"
     "Exit 1 with MNEMO_EEXISTS when full text is already enabled.\n",
     {{"stem", 1}, {"stopwords", 0}, {"k1", 1}, {"b", 1}, {NULL, 0}},
     1, 1, run_text_enable},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
