/* Record commands: get, put, delete, find. A record prints as the jsonl line export writes, so the
 * output of get and find can be fed back to put and import. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int time_field(int64_t *out, json_t *obj, const char *k, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, k);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    /* an integral real is whole too: Python's json writes a float time as 1700000000000.0 */
    double d = json_is_real(v) ? json_real_value(v) : -1;
    if (d >= 0 && d < 9223372036854775808.0 && d == floor(d)) {
        *out = (int64_t)d;
        return 0;
    }
    char shown[48] = "";
    if (json_is_number(v)) {
        char *text = cli_json_dump(v);
        snprintf(shown, sizeof shown, ", not %s", text);
        free(text);
    }
    snprintf(err, errlen, "\"%s\" must be a whole number of ms since the epoch (0..9223372036854775807)%s", k, shown);
    return -1;
}

float *cli_floats_from_json(size_t *n, json_t *arr, const char *what, char *err, size_t errlen)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        snprintf(err, errlen, "%s must be a non-empty array of numbers", what);
        return NULL;
    }
    size_t len = json_array_size(arr);
    float *v = cli_xmalloc(len * sizeof *v);
    for (size_t i = 0; i < len; i++) {
        json_t *x = json_array_get(arr, i);
        double d = json_number_value(x);
        if (!json_is_number(x) || !isfinite((float)d)) {
            snprintf(err, errlen, "%s: component %zu is not a finite float", what, i);
            free(v);
            return NULL;
        }
        v[i] = (float)d;
    }
    *n = len;
    return v;
}

int cli_put_record(mnemo_db *db, mnemo_txn *txn, const mnemo_record *rec, mnemo_record_put_mode mode, const float *emb,
                   size_t dim)
{
    if (!emb)
        return mnemo_record_put(db, txn, rec, mode);
    mnemo_txn *own = NULL;
    int rc = 0;
    if (!txn && (rc = mnemo_txn_begin(&own, db, 0)) != 0)
        return rc;
    if (!(rc = mnemo_record_put(db, txn ? txn : own, rec, mode)))
        rc = mnemo_vector_put(db, txn ? txn : own, rec->id, emb, dim);
    if (own && !rc)
        rc = mnemo_txn_commit(own);
    mnemo_txn_free(own);
    return rc;
}

int cli_record_from_json(mnemo_record *rec, char **meta_text, float **emb, size_t *emb_dim, json_t *obj, char *err,
                         size_t errlen)
{
    static const char *const known[] = {"type",       "id",         "content",    "importance", "created_at",
                                        "updated_at", "expires_at", "metadata",   "embedding"};
    memset(rec, 0, sizeof *rec);
    *meta_text = NULL;
    *emb = NULL;
    *emb_dim = 0;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "a record must be a JSON object");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(known[i], k))
            i++;
        if (i == sizeof known / sizeof *known) {
            snprintf(err, errlen, "unknown record field \"%s\"", k);
            return -1;
        }
    }
    json_t *t = json_object_get(obj, "type");
    if (t && (!json_is_string(t) || strcmp(json_string_value(t), "record"))) {
        snprintf(err, errlen, "\"type\" must be \"record\"");
        return -1;
    }
    json_t *id = json_object_get(obj, "id"), *content = json_object_get(obj, "content");
    json_t *imp = json_object_get(obj, "importance"), *meta = json_object_get(obj, "metadata");
    if (!json_is_string(id)) {
        snprintf(err, errlen, "a record needs a string \"id\"");
        return -1;
    }
    rec->id = json_string_value(id);
    if (content && !json_is_null(content)) {
        if (!json_is_string(content)) {
            snprintf(err, errlen, "\"content\" must be a string");
            return -1;
        }
        rec->content = json_string_value(content);
    }
    if (imp && !json_is_null(imp)) {
        if (!json_is_number(imp)) {
            snprintf(err, errlen, "\"importance\" must be a number");
            return -1;
        }
        rec->importance = json_number_value(imp);
    }
    if (time_field(&rec->created_at, obj, "created_at", err, errlen) ||
        time_field(&rec->updated_at, obj, "updated_at", err, errlen) ||
        time_field(&rec->expires_at, obj, "expires_at", err, errlen))
        return -1;
    if (meta && !json_is_null(meta)) {
        if (!json_is_object(meta)) {
            snprintf(err, errlen, "\"metadata\" must be a JSON object");
            return -1;
        }
        *meta_text = cli_json_dump(meta);
        if (!*meta_text) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        rec->metadata = *meta_text;
    }
    json_t *e = json_object_get(obj, "embedding");
    if (e && !json_is_null(e) && !(*emb = cli_floats_from_json(emb_dim, e, "\"embedding\"", err, errlen))) {
        free(*meta_text);
        *meta_text = NULL;
        return -1;
    }
    return 0;
}

#define FIND_PAGE 512

static int print_record(const cli_cmd *cmd, mnemo_db *db, const char *id)
{
    mnemo_record *r;
    int rc = mnemo_record_get(&r, db, NULL, id);
    if (rc)
        return cli_engine(cmd, rc, "record '%s'", id);
    jout j = {0};
    int vectors = cli_has_vectors(db);
    if (vectors < 0 || (rc = jo_record(&j, db, NULL, r, vectors)) != 0)
        rc = cli_engine(cmd, vectors < 0 ? vectors : rc, "embedding of record '%s'", id);
    else
        jo_line(&j, stdout);
    jo_free(&j);
    mnemo_record_free(r);
    return rc;
}

static int run_get(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    return cli_close(db, cmd, print_record(cmd, db, a->pos[1]));
}

static int run_put(const cli_cmd *cmd, const cli_args *a)
{
    json_t *obj;
    if (cli_json_arg(&obj, cmd, "the record", a->pos[1], JSON_OBJECT))
        return CLI_EXIT_USAGE;
    mnemo_record rec;
    char *meta = NULL, err[256];
    float *emb = NULL;
    size_t dim = 0;
    int rc = 0;
    mnemo_record_put_mode mode = MNEMO_PUT_UPSERT;
    if (cli_opt(cmd, a, "insert") && cli_opt(cmd, a, "replace"))
        rc = cli_usage(cmd, "--insert and --replace exclude each other");
    else if (cli_opt(cmd, a, "insert"))
        mode = MNEMO_PUT_INSERT;
    else if (cli_opt(cmd, a, "replace"))
        mode = MNEMO_PUT_REPLACE;
    if (!rc && cli_record_from_json(&rec, &meta, &emb, &dim, obj, err, sizeof err))
        rc = cli_usage(cmd, "%s", err);
    mnemo_db *db = NULL;
    if (!rc && !(rc = cli_open(&db, cmd, a->pos[0], CLI_OPEN_RW))) {
        int prc = cli_put_record(db, NULL, &rec, mode, emb, dim), live = 1;
        /* an expiry already past: stored, but no read sees it, so say that instead of reading back */
        if (!prc && rec.expires_at && (live = mnemo_record_exists(db, NULL, rec.id)) < 0)
            prc = live;
        if (prc) {
            rc = cli_engine(cmd, prc, "record '%s'", rec.id);
        } else if (!live) {
            jout j = {0};
            jo_begin(&j);
            jo_str(&j, "id", rec.id);
            jo_bool(&j, "stored", 1);
            jo_bool(&j, "expired", 1);
            jo_int(&j, "expires_at", rec.expires_at);
            jo_line(&j, stdout);
            jo_free(&j);
        } else {
            rc = print_record(cmd, db, rec.id);
        }
        rc = cli_close(db, cmd, rc);
    }
    free(meta);
    free(emb);
    json_decref(obj);
    return rc;
}

static int run_delete(const cli_cmd *cmd, const cli_args *a)
{
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RW))
        return CLI_EXIT_FAIL;
    int rc = mnemo_record_delete(db, NULL, a->pos[1]);
    if (rc) {
        rc = cli_engine(cmd, rc, "record '%s'", a->pos[1]);
    } else {
        jout j = {0};
        jo_begin(&j);
        jo_str(&j, "deleted", a->pos[1]);
        jo_line(&j, stdout);
        jo_free(&j);
    }
    return cli_close(db, cmd, rc);
}

static int run_find(const cli_cmd *cmd, const cli_args *a)
{
    uint64_t limit = 0;
    json_t *filter;
    if (cli_opt_uint(&limit, cmd, a, "limit", 1, UINT64_MAX) || cli_json_arg(&filter, cmd, "FILTER", a->pos[1], JSON_OBJECT))
        return CLI_EXIT_USAGE;
    json_decref(filter); /* only checked: the engine parses the text itself */
    mnemo_db *db;
    if (cli_open(&db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    mnemo_record_find_options fo = MNEMO_RECORD_FIND_OPTIONS_INIT;
    char *cursor = NULL;
    uint64_t printed = 0;
    int rc = 0, vectors = cli_has_vectors(db);
    jout j = {0};
    if (vectors < 0)
        return cli_close(db, cmd, cli_engine(cmd, vectors, "reading the vector space"));
    for (;;) {
        uint64_t want = limit ? limit - printed : FIND_PAGE;
        fo.limit = want < FIND_PAGE ? (size_t)want : FIND_PAGE;
        fo.cursor = cursor;
        mnemo_record_page *page;
        if ((rc = mnemo_record_find(&page, db, NULL, a->pos[1], &fo)) != 0) {
            rc = cli_engine(cmd, rc, "filter %s", a->pos[1]);
            break;
        }
        for (size_t i = 0; i < page->count && !rc; i++) {
            if ((rc = jo_record(&j, db, NULL, &page->records[i], vectors)) != 0)
                rc = cli_engine(cmd, rc, "embedding of record '%s'", page->records[i].id);
            else
                jo_line(&j, stdout);
        }
        printed += page->count;
        free(cursor);
        cursor = page->next_cursor ? cli_xstrdup(page->next_cursor) : NULL;
        mnemo_record_page_free(page);
        if (rc || !cursor || (limit && printed >= limit))
            break;
    }
    free(cursor);
    jo_free(&j);
    return cli_close(db, cmd, rc);
}

const cli_cmd cli_records_cmds[] = {
    {"get", "DB ID", "print a record",
     "Prints the record as one JSON line:\n"
     "  {\"type\":\"record\",\"id\",\"content\",\"importance\",\"created_at\",\"updated_at\",\"expires_at\",\"metadata\"}\n"
     "Exit 1 with MNEMO_ENOTFOUND when there is no live record ID.\n",
     {{NULL, 0}}, 2, 2, run_get},
    {"put", "DB JSON [--insert|--replace]", "store a record given as a JSON object",
     "JSON is a record object as in jsonl import: {\"id\":..,\"content\":..,\"importance\":..,\n"
     "\"metadata\":{..},\"expires_at\":..} (also created_at, updated_at, \"embedding\":[floats];\n"
     "\"type\":\"record\" allowed). The record and its embedding are stored in one transaction.\n"
     "A put replaces the whole record: without \"embedding\" (or with null) it has none after.\n"
     "Inserts or replaces; --insert fails if the id exists (MNEMO_EEXISTS), --replace if it does\n"
     "not (MNEMO_ENOTFOUND). Prints the stored record as `get` does; when its expires_at has\n"
     "already passed (reads no longer see it) prints {\"id\",\"stored\":true,\"expired\":true,\"expires_at\"}\n"
     "instead, exit 0.\n",
     {{"insert", 0}, {"replace", 0}, {NULL, 0}}, 2, 2, run_put},
    {"delete", "DB ID", "delete a record and its edges",
     "Prints {\"deleted\":ID}. Exit 1 with MNEMO_ENOTFOUND when there is no live record ID.\n",
     {{NULL, 0}}, 2, 2, run_delete},
    {"find", "DB FILTER [--limit N]", "print the records matching a metadata filter",
     "FILTER is a JSON filter, e.g. '{\"topic\":\"rust\",\"importance\":{\"$gte\":0.5}}' (see docs/records.md).\n"
     "Prints one record line (as `get`) per match; --limit N stops after N.\n",
     {{"limit", 1}, {NULL, 0}}, 2, 2, run_find},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
