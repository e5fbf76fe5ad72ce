/* Administration: init, stats, check, backup, compact. */
#include "cli/cli.h"

#include <string.h>

static void jo_space(jout *j, const mnemo_vector_space *sp)
{
    jo_uint(j, "dim", sp->dim);
    jo_str(j, "metric", cli_metric_name(sp->metric));
    jo_uint(j, "M", sp->hnsw_m);
    jo_uint(j, "ef_construction", sp->hnsw_ef_construction);
    jo_uint(j, "ef_search", sp->hnsw_ef_search);
}

static int run_init(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_options o = MNEMO_OPTIONS_INIT, vo = MNEMO_OPTIONS_INIT;
    uint64_t dim = 0, m = 0, efc = 0, efs = 0;
    if (cli_opt_uint(&dim, cmd, a, "dim", 1, MNEMO_VECTOR_MAX_DIM) ||
        cli_opt_uint(&m, cmd, a, "M", CLI_HNSW_M_MIN, CLI_HNSW_M_MAX) ||
        cli_opt_uint(&efc, cmd, a, "ef-construction", 1, CLI_HNSW_EF_MAX) ||
        cli_opt_uint(&efs, cmd, a, "ef-search", 1, CLI_HNSW_EF_MAX))
        return CLI_EXIT_USAGE;
    const char *metric = cli_opt(cmd, a, "metric");
    if (metric && cli_metric_parse(&vo.vector_metric, metric))
        return cli_usage(cmd, "--metric wants l2, cosine or ip, not '%s'", metric);
    if (!dim && (metric || m || efc || efs))
        return cli_usage(cmd, "--metric, --M, --ef-construction and --ef-search need --dim");
    vo.vector_dim = (uint32_t)dim;
    vo.hnsw_m = (uint32_t)m;
    vo.hnsw_ef_construction = (uint32_t)efc;
    vo.hnsw_ef_search = (uint32_t)efs;
    o.engine = vo.engine = cli_opt(cmd, a, "engine"); /* the library names the engines it has */
    mnemo_db *db;
    /* ":memory:" is always new; any other path must not hold a database yet. */
    int rc = strcmp(a->pos[0], ":memory:") ? mnemo_open(&db, a->pos[0], &o) : MNEMO_ENOTFOUND;
    int existing = rc == 0; /* with --collection: a new collection in an existing database */
    if (rc == 0) {
        mnemo_db *h;
        int crc = cli_collection ? mnemo_collection_open(&h, db, cli_collection) : 0;
        mnemo_close(db);
        if (!cli_collection)
            return cli_fail(cmd, "'%s' is already a mnemo database: %s", a->pos[0], mnemo_strerror(MNEMO_EEXISTS));
        if (crc == 0)
            return cli_fail(cmd, "'%s' already has a collection '%s': %s", a->pos[0], cli_collection,
                            mnemo_strerror(MNEMO_EEXISTS));
    } else if (rc != MNEMO_ENOTFOUND) {
        return cli_engine(cmd, rc, "cannot create database '%s'", a->pos[0]);
    }
    /* a failed init removes what it created, so that the next one does not find half a database */
    cli_dir_mark mark;
    cli_dir_mark_take(&mark, a->pos[0]);
    mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
    mnemo_stats st = MNEMO_STATS_INIT;
    if (cli_open_with(&db, cmd, a->pos[0], CLI_OPEN_CREATE, &vo))
        rc = CLI_EXIT_FAIL;
    else if (dim && (rc = mnemo_vector_space_get(&sp, db)) != 0)
        rc = cli_close(db, cmd, cli_engine(cmd, rc, "reading the vector space"));
    else if ((rc = mnemo_stats_get(&st, db)) != 0)
        rc = cli_close(db, cmd, cli_engine(cmd, rc, "reading the engine"));
    else
        rc = cli_close(db, cmd, 0);
    if (rc && !existing)
        cli_dir_mark_undo(&mark, a->pos[0]);
    cli_dir_mark_free(&mark);
    if (rc)
        return rc;
    jout j = {0};
    jo_begin(&j);
    jo_str(&j, "path", a->pos[0]);
    if (cli_collection)
        jo_str(&j, "collection", cli_collection);
    jo_bool(&j, "created", 1);
    jo_int(&j, "format_version", MNEMO_FORMAT_VERSION);
    jo_str(&j, "engine", st.engine);
    if (dim) {
        jo_obj(&j, "vectors");
        jo_space(&j, &sp);
        jo_obj_end(&j);
    }
    jo_line(&j, stdout);
    jo_free(&j);
    return 0;
}

/* ---- stats ------------------------------------------------------------------------------------- */

typedef struct counts {
    uint64_t kv, key_bytes, value_bytes;
    uint64_t records, content_bytes, metadata_bytes, expiring;
    uint64_t edges, nodes_with_edges;
    mnemo_db *db;
    mnemo_txn *txn;
} counts;

static int count_record(void *arg, const mnemo_record *r)
{
    counts *c = arg;
    c->records++;
    c->content_bytes += r->content_len;
    c->metadata_bytes += r->metadata ? strlen(r->metadata) : 0;
    c->expiring += r->expires_at != 0;
    uint64_t deg;
    int rc = mnemo_graph_degree(&deg, c->db, c->txn, r->id, MNEMO_DIR_OUT, NULL);
    if (rc)
        return rc;
    c->edges += deg;
    c->nodes_with_edges += deg > 0;
    return 0;
}

static int count_pair(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    counts *c = arg;
    (void)k;
    (void)v;
    c->kv++;
    c->key_bytes += kl;
    c->value_bytes += vl;
    return 0;
}

static int count_kv(counts *c) { return cli_each_kv(c->db, c->txn, count_pair, c); }

static int run_stats(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    counts c = {0};
    c.db = db;
    int rc = mnemo_txn_begin(&c.txn, db, MNEMO_TXN_READONLY);
    if (rc)
        return cli_close(db, cmd, cli_engine(cmd, rc, "beginning a read transaction"));
    if ((rc = count_kv(&c)) != 0)
        rc = cli_engine(cmd, rc, "counting key-value pairs");
    else if ((rc = cli_each_record(db, c.txn, count_record, &c)) != 0)
        rc = cli_engine(cmd, rc, "counting records and edges");
    char **paths = NULL;
    size_t n_indexes = 0;
    if (!rc && (rc = mnemo_record_index_list(&paths, &n_indexes, db, c.txn)) != 0)
        rc = cli_engine(cmd, rc, "listing indexes");
    mnemo_record_index_list_free(paths, n_indexes);
    mnemo_txn_free(c.txn);
    mnemo_stats s = MNEMO_STATS_INIT;
    mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
    mnemo_vector_stats vs = MNEMO_VECTOR_STATS_INIT;
    int vectors = 0;
    if (!rc && (rc = mnemo_stats_get(&s, db)) != 0)
        rc = cli_engine(cmd, rc, "reading the figures");
    if (!rc && (vectors = cli_has_vectors(db)) < 0)
        rc = cli_engine(cmd, vectors, "reading the vector space");
    else if (!rc && vectors &&
             ((rc = mnemo_vector_space_get(&sp, db)) != 0 || (rc = mnemo_vector_stats_get(&vs, db)) != 0))
        rc = cli_engine(cmd, rc, "reading the vector figures");
    if (!rc) {
        jout j = {0};
        jo_begin(&j);
        jo_str(&j, "path", a->pos[0]);
        jo_str(&j, "engine", s.engine);
        jo_obj(&j, "kv");
        jo_uint(&j, "pairs", c.kv);
        jo_uint(&j, "key_bytes", c.key_bytes);
        jo_uint(&j, "value_bytes", c.value_bytes);
        jo_obj_end(&j);
        jo_obj(&j, "records");
        jo_uint(&j, "count", c.records);
        jo_uint(&j, "content_bytes", c.content_bytes);
        jo_uint(&j, "metadata_bytes", c.metadata_bytes);
        jo_uint(&j, "expiring", c.expiring);
        jo_uint(&j, "indexes", n_indexes);
        jo_obj_end(&j);
        jo_obj(&j, "graph");
        jo_uint(&j, "edges", c.edges);
        jo_uint(&j, "nodes_with_out_edges", c.nodes_with_edges);
        jo_obj_end(&j);
        if (vectors) {
            jo_obj(&j, "vectors");
            jo_space(&j, &sp);
            jo_uint(&j, "count", vs.vectors);
            jo_uint(&j, "deleted_slots", vs.deleted_slots);
            jo_uint(&j, "index_bytes", vs.index_bytes);
            jo_uint(&j, "log_entries", vs.log_entries);
            jo_uint(&j, "rebuilds", vs.rebuilds);
            jo_str(&j, "simd", vs.simd);
            jo_obj_end(&j);
        }
        jo_uint(&j, "disk_bytes", cli_disk_bytes(a->pos[0]));
        jo_obj(&j, "cache");
        jo_uint(&j, "capacity", s.cache_capacity);
        jo_uint(&j, "bytes_used", s.cache_bytes_used);
        jo_uint(&j, "entries", s.cache_entries);
        jo_uint(&j, "hits", s.cache_hits);
        jo_uint(&j, "misses", s.cache_misses);
        jo_uint(&j, "inserts", s.cache_inserts);
        jo_uint(&j, "evictions", s.cache_evictions);
        jo_obj_end(&j);
        jo_line(&j, stdout);
        jo_free(&j);
    }
    return cli_close(db, cmd, rc);
}

/* ---- check ------------------------------------------------------------------------------------- */

/* A consistency check: adds its figures to j and returns 0, or a negative MNEMO_E* code. */
typedef int (*check_fn)(mnemo_db *db, jout *j);

static int check_kv(mnemo_db *db, jout *j)
{
    counts c = {0};
    c.db = db;
    int rc = count_kv(&c);
    if (!rc)
        jo_uint(j, "pairs", c.kv);
    return rc;
}

static int tally(void *arg, const mnemo_record *r)
{
    (void)r;
    ++*(uint64_t *)arg;
    return 0;
}

static int check_records(mnemo_db *db, jout *j)
{
    uint64_t n = 0;
    int rc = cli_each_record(db, NULL, tally, &n);
    if (!rc)
        jo_uint(j, "records", n);
    return rc;
}

static int check_graph(mnemo_db *db, jout *j)
{
    uint64_t edges = 0;
    int rc = mnemo_graph_check(db, &edges);
    if (!rc)
        jo_uint(j, "edges", edges);
    return rc;
}

static int check_vectors(mnemo_db *db, jout *j)
{
    int has = cli_has_vectors(db);
    if (has <= 0) {
        if (!has)
            jo_str(j, "skipped", "no vector space");
        return has;
    }
    uint64_t n = 0;
    int rc = mnemo_vector_check(db, &n);
    if (!rc)
        jo_uint(j, "vectors", n);
    return rc;
}

/* Every check `mnemo check` runs, in order. */
static const struct {
    const char *name;
    check_fn fn;
} checks[] = {
    {"kv", check_kv},
    {"records", check_records},
    {"graph", check_graph},
    {"vectors", check_vectors},
};

static int run_check(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    jout j = {0}, fig = {0};
    size_t failed = 0, n = sizeof checks / sizeof *checks;
    char first[1200] = "";
    for (size_t i = 0; i < n; i++) {
        jo_begin(&fig);
        int rc = checks[i].fn(db, &fig);
        jo_begin(&j);
        jo_str(&j, "check", checks[i].name);
        jo_bool(&j, "ok", rc == 0);
        if (rc) {
            jo_str(&j, "error", mnemo_strerror(rc));
            jo_str(&j, "message", mnemo_errmsg());
            if (!failed++)
                snprintf(first, sizeof first, "%s: %s: %s", checks[i].name, mnemo_strerror(rc), mnemo_errmsg());
        } else {
            jo_members(&j, &fig);
        }
        jo_line(&j, stdout);
    }
    jo_free(&fig);
    jo_begin(&j);
    jo_bool(&j, "ok", failed == 0);
    jo_uint(&j, "checks", n);
    jo_uint(&j, "failed", failed);
    jo_line(&j, stdout);
    jo_free(&j);
    int rc = 0;
    if (failed) {
        for (char *p = first; *p; p++)
            if (*p == '\n')
                *p = ' ';
        rc = cli_fail(cmd, "%zu of %zu checks failed; first: %s", failed, n, first);
    }
    return cli_close(db, cmd, rc);
}

/* ---- backup, compact --------------------------------------------------------------------------- */

static int run_backup(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RW))
        return CLI_EXIT_FAIL;
    int rc = mnemo_checkpoint(db, a->pos[1]);
    if (rc) {
        rc = cli_engine(cmd, rc, "backup into '%s'", a->pos[1]);
    } else {
        jout j = {0};
        jo_begin(&j);
        jo_str(&j, "path", a->pos[0]);
        jo_str(&j, "backup", a->pos[1]);
        jo_uint(&j, "disk_bytes", cli_disk_bytes(a->pos[1]));
        jo_line(&j, stdout);
        jo_free(&j);
    }
    return cli_close(db, cmd, rc);
}

static int run_compact(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RW))
        return CLI_EXIT_FAIL;
    uint64_t before = cli_disk_bytes(a->pos[0]);
    double t0 = cli_now();
    int rc = mnemo_compact(db);
    if (rc)
        return cli_close(db, cmd, cli_engine(cmd, rc, "compaction"));
    rc = cli_close(db, cmd, 0);
    if (!rc) {
        jout j = {0};
        jo_begin(&j);
        jo_str(&j, "path", a->pos[0]);
        jo_uint(&j, "disk_bytes_before", before);
        jo_uint(&j, "disk_bytes_after", cli_disk_bytes(a->pos[0]));
        jo_real(&j, "seconds", (double)(int64_t)((cli_now() - t0) * 1000) / 1000);
        jo_line(&j, stdout);
        jo_free(&j);
    }
    return rc;
}

/* ---- collections ------------------------------------------------------------------------------ */

static int run_collections(const cli_cmd *cmd, const cli_args *a)
{
    const char *drop = cli_opt(cmd, a, "drop"), *rename = cli_opt(cmd, a, "rename"), *to = cli_opt(cmd, a, "to");
    if (!rename != !to)
        return cli_usage(cmd, "--rename OLD needs --to NEW (and --to needs --rename)");
    if (drop && rename)
        return cli_usage(cmd, "--drop and --rename are separate commands");
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], drop || rename ? CLI_OPEN_RW : CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    int rc = 0;
    jout j = {0};
    if (drop || rename) {
        rc = drop ? mnemo_collection_drop(db, drop) : mnemo_collection_rename(db, rename, to);
        if (rc) {
            rc = drop ? cli_engine(cmd, rc, "dropping collection '%s'", drop)
                      : cli_engine(cmd, rc, "renaming collection '%s' to '%s'", rename, to);
        } else {
            jo_begin(&j);
            jo_str(&j, drop ? "dropped" : "renamed", drop ? drop : rename);
            if (!drop)
                jo_str(&j, "to", to);
            jo_line(&j, stdout);
        }
        jo_free(&j);
        return cli_close(db, cmd, rc);
    }
    mnemo_collection_list *l;
    if ((rc = mnemo_collection_list_all(&l, db)) != 0)
        return cli_close(db, cmd, cli_engine(cmd, rc, "listing the collections"));
    for (size_t i = 0; i < l->count; i++) {
        jo_begin(&j);
        jo_str(&j, "collection", l->items[i].name);
        jo_uint(&j, "records", l->items[i].records);
        jo_uint(&j, "vectors", l->items[i].vectors);
        jo_line(&j, stdout);
    }
    jo_free(&j);
    mnemo_collection_list_free(l);
    return cli_close(db, cmd, 0);
}

const cli_cmd cli_admin_cmds[] = {
    {"init", "DB [--engine rocksdb|lmdb|memory] [--dim N [--metric l2|cosine|ip] [--M 16] [--ef-construction 200] "
     "[--ef-search 64]]",
     "create a new database (with a vector space when --dim is given)",
     "Creates the database directory DB and prints {\"path\",\"created\":true,\"format_version\",\"engine\"},\n"
     "plus \"vectors\":{\"dim\",\"metric\",\"M\",\"ef_construction\",\"ef_search\"} with --dim.\n"
     "  --engine E           storage engine, recorded in the database: rocksdb (default; write-heavy\n"
     "                       work), lmdb (read-heavy work, when built) or memory (DB must be :memory:;\n"
     "                       nothing is kept: a check that the options are accepted)\n"
     "  --dim N              dimension of the embeddings (1..65536): creates the vector space\n"
     "  --metric M           l2 (default; squared distance), cosine (1 - cosine similarity) or ip\n"
     "                       (1 - dot product)\n"
     "  --M N                HNSW links per node (default 16, " CLI_STR(CLI_HNSW_M_MIN) ".." CLI_STR(CLI_HNSW_M_MAX) ")\n"
     "  --ef-construction N  HNSW build beam (default 200, 1.." CLI_STR(CLI_HNSW_EF_MAX) ")\n"
     "  --ef-search N        default search beam (default 64, 1.." CLI_STR(CLI_HNSW_EF_MAX) "; `search --ef`\n"
     "                       overrides it)\n"
     "Exit 1 if DB is already a mnemo database or cannot be created; a failed init removes what it\n"
     "created. Values outside the ranges are exit 2.\n",
     {{"dim", 1}, {"metric", 1}, {"M", 1}, {"ef-construction", 1}, {"ef-search", 1}, {"engine", 1},
      {NULL, 0}}, 1, 1, run_init},
    {"stats", "DB", "counts per model, sizes and cache figures",
     "Prints one line: {\"path\",\"engine\",\"kv\":{\"pairs\",\"key_bytes\",\"value_bytes\"},\n"
     "\"records\":{\"count\",\"content_bytes\",\"metadata_bytes\",\"expiring\",\"indexes\"},\n"
     "\"graph\":{\"edges\",\"nodes_with_out_edges\"},\n"
     "(\"vectors\":{\"dim\",\"metric\",\"M\",\"ef_construction\",\"ef_search\",\"count\",\"deleted_slots\",\n"
     "\"index_bytes\",\"log_entries\",\"rebuilds\",\"simd\"}, when there is a vector space,) \"disk_bytes\",\n"
     "\"cache\":{\"capacity\",\"bytes_used\",\"entries\",\"hits\",\"misses\",\"inserts\",\"evictions\"}}.\n"
     "Counts come from one snapshot; live (unexpired) records only.\n",
     {{NULL, 0}}, 1, 1, run_stats},
    {"check", "DB", "verify the database's consistency",
     "Runs every check and prints one line each: {\"check\":NAME,\"ok\":true,...figures} or\n"
     "{\"check\":NAME,\"ok\":false,\"error\",\"message\"}, then {\"ok\",\"checks\",\"failed\"}.\n"
     "Checks: kv (every pair readable), records (every record decodes and passes its checksum),\n"
     "graph (every edge has its twin in the other direction and live endpoints), vectors (the\n"
     "index agrees with every stored vector; {\"skipped\":\"no vector space\"} without one).\n"
     "Exit 0 only if every check passes.\n",
     {{NULL, 0}}, 1, 1, run_check},
    {"collections", "DB [--drop NAME | --rename OLD --to NEW]", "list, drop or rename the collections",
     "Without options prints one line per collection, the default one first:\n"
     "{\"collection\",\"records\",\"vectors\"} (stored records, expired ones not yet purged included).\n"
     "  --drop NAME          drop the collection with everything in it and its records' edges\n"
     "  --rename OLD --to NEW  rename a collection\n"
     "A collection is created by `init DB --collection NAME [--dim N ...]`; every command takes\n"
     "--collection NAME to work on one (without it: the default collection).\n",
     {{"drop", 1}, {"rename", 1}, {"to", 1}, {NULL, 0}}, 1, 1, run_collections},
    {"backup", "DB DEST", "write a consistent copy of the database into DEST",
     "DEST must not exist; files are hard-linked where possible. Prints {\"path\",\"backup\",\"disk_bytes\"}.\n"
     "The copy opens like any database.\n",
     {{NULL, 0}}, 2, 2, run_backup},
    {"compact", "DB", "compact the database fully",
     "Drops deleted data and rewrites files. Prints {\"path\",\"disk_bytes_before\",\"disk_bytes_after\",\"seconds\"}.\n",
     {{NULL, 0}}, 1, 1, run_compact},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
