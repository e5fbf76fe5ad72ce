/* import (jsonl, SNAP edge lists, TinkerPop CSV) and export (jsonl). Imports commit in batches of
 * lines, one transaction each: a bad line rolls its whole batch back and names its line number.
 * Export reads one snapshot and writes kv pairs (by key), records (by id), then edges (by from id,
 * label, to id), so an import of an export rebuilds the same database and exports the same bytes. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_BATCH 1000

/* ---- the batch driver -------------------------------------------------------------------------- */

int cli_import_txn(cli_import *im, mnemo_txn **txn)
{
    if (!im->txn) {
        int rc = mnemo_txn_begin(&im->txn, im->db, 0);
        if (rc)
            return rc;
        im->batch_first = im->unit_first;
    }
    *txn = im->txn;
    return 0;
}

int cli_import_commit(cli_import *im)
{
    if (!im->txn)
        return 0;
    int rc = mnemo_txn_commit(im->txn);
    mnemo_txn_free(im->txn);
    im->txn = NULL;
    if (rc) {
        memset(&im->pending, 0, sizeof im->pending);
        return cli_engine(im->cmd, rc, "%s: committing lines %llu-%llu", im->file,
                          (unsigned long long)im->batch_first, (unsigned long long)im->lines);
    }
    im->done.records += im->pending.records;
    im->done.edges += im->pending.edges;
    im->done.kv += im->pending.kv;
    im->done.vectors += im->pending.vectors;
    memset(&im->pending, 0, sizeof im->pending);
    im->in_batch = 0;
    im->batches++;
    return 0;
}

int cli_import_line_done(cli_import *im)
{
    cli_progress_update(&im->prog, im->bytes, im->lines);
    if (++im->in_batch < im->batch)
        return 0;
    return cli_import_commit(im);
}

/* Roll the open batch back and print "FILE<where>: message[: MNEMO_EXXX: engine message] (<unit>
 * A-B rolled back; K batches committed before)". @return CLI_EXIT_FAIL. */
static int import_fail(cli_import *im, const char *where, const char *unit, uint64_t first, uint64_t last, int rc,
                       const char *fmt, va_list ap)
{
    char msg[1024], eng[1100] = "";
    if (rc)
        snprintf(eng, sizeof eng, ": %s: %s", mnemo_strerror(rc), mnemo_errmsg());
    for (char *p = eng; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    vsnprintf(msg, sizeof msg, fmt, ap);
    mnemo_txn_free(im->txn); /* rolls the batch back */
    im->txn = NULL;
    cli_progress_end(&im->prog);
    return cli_fail(im->cmd, "%s%s: %s%s (%s %llu-%llu rolled back; %llu batches committed before)", im->file, where,
                    msg, eng, unit, (unsigned long long)first, (unsigned long long)last,
                    (unsigned long long)im->batches);
}

int cli_import_reject(cli_import *im, uint64_t line, int rc, const char *fmt, ...)
{
    char where[32];
    snprintf(where, sizeof where, ":%llu", (unsigned long long)line);
    va_list ap;
    va_start(ap, fmt);
    rc = import_fail(im, where, "lines", im->txn ? im->batch_first : line, im->lines, rc, fmt, ap);
    va_end(ap);
    return rc;
}

ssize_t cli_import_getline(cli_import *im, char **buf, size_t *cap, FILE *f)
{
    ssize_t n = getline(buf, cap, f);
    if (n < 0)
        return -1;
    im->lines++;
    im->unit_first = im->lines;
    im->bytes += (uint64_t)n;
    if (im->lines == 1 && n >= 3 && !memcmp(*buf, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte order mark */
        n -= 3;
        memmove(*buf, *buf + 3, (size_t)n + 1);
    }
    if (n > 0 && (*buf)[n - 1] == '\n')
        (*buf)[--n] = '\0';
    if (n > 0 && (*buf)[n - 1] == '\r')
        (*buf)[--n] = '\0';
    return n;
}

/* ---- jsonl ------------------------------------------------------------------------------------- */

static int only_fields(json_t *obj, const char *const *known, size_t n, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        size_t i = 0;
        while (i < n && strcmp(known[i], k))
            i++;
        if (i == n) {
            snprintf(err, errlen, "unknown field \"%s\" for type \"%s\"", k,
                     json_string_value(json_object_get(obj, "type")));
            return -1;
        }
    }
    return 0;
}

/* Apply one jsonl object. @return 0; -1 (input error, message in err); or a negative MNEMO code
 * from the engine (returned as rc, with err naming the object). */
static int apply_json(cli_import *im, mnemo_txn *txn, json_t *obj, int *engine_rc, char *err, size_t errlen)
{
    *engine_rc = 0;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    const char *type = json_string_value(json_object_get(obj, "type"));
    if (!type) {
        snprintf(err, errlen, "no string \"type\" (record, edge, kv, index, space or text)");
        return -1;
    }
    if (!strcmp(type, "record")) {
        mnemo_record rec;
        char *meta;
        float *emb;
        size_t dim;
        if (cli_record_from_json(&rec, &meta, &emb, &dim, obj, err, errlen))
            return -1;
        int rc = cli_put_record(im->db, txn, &rec, MNEMO_PUT_UPSERT, emb, dim);
        if (rc) {
            snprintf(err, errlen, "record '%s'", rec.id);
            *engine_rc = rc;
        }
        free(meta);
        free(emb);
        im->pending.records += rc == 0;
        im->pending.vectors += rc == 0 && emb;
        return rc ? -1 : 0;
    }
    if (!strcmp(type, "edge")) {
        static const char *const known[] = {"type", "from", "to", "label", "weight", "props", "to_collection"};
        if (only_fields(obj, known, sizeof known / sizeof *known, err, errlen))
            return -1;
        json_t *tc = json_object_get(obj, "to_collection");
        mnemo_db *to_db = im->db;
        if (tc) { /* an edge into another collection, which must exist */
            int crc = json_is_string(tc) ? mnemo_collection_open(&to_db, im->db, json_string_value(tc)) : MNEMO_EINVAL;
            if (crc) {
                snprintf(err, errlen, "\"to_collection\" must name a collection of the database");
                *engine_rc = json_is_string(tc) ? crc : 0;
                return -1;
            }
        }
        mnemo_graph_edge e = {0};
        unsigned flags = MNEMO_LINK_CREATE_MISSING;
        json_t *w = json_object_get(obj, "weight"), *props = json_object_get(obj, "props");
        e.from = json_string_value(json_object_get(obj, "from"));
        e.to = json_string_value(json_object_get(obj, "to"));
        e.label = json_object_get(obj, "label") ? json_string_value(json_object_get(obj, "label")) : "link";
        if (!e.from || !e.to || !e.label) {
            snprintf(err, errlen, "an edge needs string \"from\" and \"to\" (and \"label\" a string when given)");
            return -1;
        }
        if (w && !json_is_null(w)) {
            if (!json_is_number(w)) {
                snprintf(err, errlen, "\"weight\" must be a number");
                return -1;
            }
            e.weight = json_number_value(w);
        } else {
            flags |= MNEMO_LINK_DEFAULT_WEIGHT;
        }
        char *ptext = NULL;
        if (props && !json_is_null(props)) {
            if (!json_is_object(props)) {
                snprintf(err, errlen, "\"props\" must be a JSON object");
                return -1;
            }
            e.props = ptext = cli_json_dump(props);
        }
        int rc = mnemo_graph_link_across(im->db, txn, &e, to_db, flags);
        free(ptext);
        if (rc) {
            snprintf(err, errlen, "edge '%s' -%s-> '%s'", e.from, e.label, e.to);
            *engine_rc = rc;
            return -1;
        }
        im->pending.edges++;
        return 0;
    }
    if (!strcmp(type, "kv")) {
        static const char *const known[] = {"type", "key", "value", "encoding"};
        if (only_fields(obj, known, sizeof known / sizeof *known, err, errlen))
            return -1;
        json_t *k = json_object_get(obj, "key"), *v = json_object_get(obj, "value");
        json_t *enc = json_object_get(obj, "encoding");
        if (!json_is_string(k) || !json_is_string(v)) {
            snprintf(err, errlen, "a kv line needs string \"key\" and \"value\"");
            return -1;
        }
        int b64 = 0;
        if (enc) {
            if (!json_is_string(enc) || (strcmp(json_string_value(enc), "base64") && strcmp(json_string_value(enc), "utf8"))) {
                snprintf(err, errlen, "\"encoding\" must be \"base64\" or \"utf8\"");
                return -1;
            }
            b64 = !strcmp(json_string_value(enc), "base64");
        }
        const void *kb = json_string_value(k), *vb = json_string_value(v);
        size_t kl = json_string_length(k), vl = json_string_length(v);
        unsigned char *kd = NULL, *vd = NULL;
        if (b64) {
            kd = cli_b64_decode(kb, kl, &kl);
            vd = cli_b64_decode(vb, vl, &vl);
            if (!kd || !vd) {
                free(kd);
                free(vd);
                snprintf(err, errlen, "\"key\" or \"value\" is not valid base64");
                return -1;
            }
            kb = kd;
            vb = vd;
        }
        int rc = mnemo_kv_put(im->db, txn, kb, kl, vb, vl);
        free(kd);
        free(vd);
        if (rc) {
            snprintf(err, errlen, "kv pair");
            *engine_rc = rc;
            return -1;
        }
        im->pending.kv++;
        return 0;
    }
    snprintf(err, errlen, "unknown \"type\" \"%s\" (record, edge, kv, index, space or text)", type);
    return -1;
}

static int is_type(json_t *obj, const char *t)
{
    const char *type = json_is_object(obj) ? json_string_value(json_object_get(obj, "type")) : NULL;
    return type && !strcmp(type, t);
}

/* {"type":"space","dim","metric","M","ef_construction","ef_search"[,"quantization"]}: the vector space. A database
 * without one gets it (reopened with these options, after committing the open batch); one with a
 * space must have the same (mnemo_open checks every field). */
static int import_space(cli_import *im, json_t *obj)
{
    static const char *const known[] = {"type", "dim", "metric", "M", "ef_construction", "ef_search", "quantization"};
    static const char *const nums[] = {"dim", "M", "ef_construction", "ef_search"};
    char err[300];
    if (only_fields(obj, known, sizeof known / sizeof *known, err, sizeof err))
        return cli_import_reject(im, im->lines, 0, "%s", err);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    uint32_t *dst[] = {&o.vector_dim, &o.hnsw_m, &o.hnsw_ef_construction, &o.hnsw_ef_search};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(obj, nums[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > UINT32_MAX)
            return cli_import_reject(im, im->lines, 0, "a space line needs a positive whole \"%s\"", nums[i]);
        *dst[i] = (uint32_t)json_integer_value(v);
    }
    const char *metric = json_string_value(json_object_get(obj, "metric"));
    if (!metric || cli_metric_parse(&o.vector_metric, metric))
        return cli_import_reject(im, im->lines, 0, "a space line needs \"metric\": \"l2\", \"cosine\" or \"ip\"");
    json_t *qv = json_object_get(obj, "quantization"); /* optional: absent is as stored, or none */
    if (qv && (!json_is_string(qv) || cli_quant_parse(&o.vector_quantization, json_string_value(qv))))
        return cli_import_reject(im, im->lines, 0, "a space line's \"quantization\" is \"none\" or \"int8\"");
    if (strcmp(mnemo_collection_name(im->db), MNEMO_COLLECTION_DEFAULT)) {
        /* a collection's space is given when it is made: here it can only agree */
        mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
        int src = mnemo_vector_space_get(&sp, im->db);
        if (src == 0 && sp.dim == o.vector_dim && sp.metric == o.vector_metric &&
            (!qv || sp.quantization == o.vector_quantization))
            return cli_import_line_done(im);
        return cli_import_reject(im, im->lines, src == MNEMO_ENOTFOUND ? 0 : src,
                                 "collection '%s' has %s vector space than the space line (a collection's space is "
                                 "given when it is created: init --collection NAME --dim N, or a collection line)",
                                 mnemo_collection_name(im->db), src == MNEMO_ENOTFOUND ? "no" : "another");
    }
    int rc = cli_import_commit(im);
    if (rc)
        return rc;
    mnemo_close(im->db);
    im->db = NULL;
    o.create_if_missing = 0;
    cli_options_adjust(&o);
    if ((rc = mnemo_open(&im->db, im->path, &o)) != 0) {
        int erc = rc;
        mnemo_options plain = MNEMO_OPTIONS_INIT; /* reopen as it was, to end cleanly */
        cli_options_adjust(&plain);
        if (mnemo_open(&im->db, im->path, &plain))
            im->db = NULL;
        return cli_import_reject(im, im->lines, erc, "vector space dim %u metric %s", o.vector_dim, metric);
    }
    cli_progress_update(&im->prog, im->bytes, im->lines);
    return 0;
}

/* {"type":"index","path":P}: declare a secondary index (if it is not there yet). Index creation
 * runs its own transactions and changes what record writes depend on, so the open batch is
 * committed first; the line is a batch of its own. */
static int import_index(cli_import *im, json_t *obj)
{
    static const char *const known[] = {"type", "path"};
    char err[300];
    if (only_fields(obj, known, 2, err, sizeof err))
        return cli_import_reject(im, im->lines, 0, "%s", err);
    const char *path = json_string_value(json_object_get(obj, "path"));
    if (!path)
        return cli_import_reject(im, im->lines, 0, "an index line needs a string \"path\"");
    int rc = cli_import_commit(im);
    if (rc)
        return rc;
    rc = mnemo_record_index_create(im->db, path);
    if (rc && rc != MNEMO_EEXISTS)
        return cli_import_reject(im, im->lines, rc, "index '%s'", path);
    im->done.indexes += rc == 0;
    cli_progress_update(&im->prog, im->bytes, im->lines);
    return 0;
}

/* {"type":"text","stem","stopwords","k1","b"}: full-text settings. A database without full text
 * gets it (enabled with these settings, which indexes what is stored; the open batch is committed
 * first); one with full text must have the same settings. */
static int import_text(cli_import *im, json_t *obj)
{
    static const char *const known[] = {"type", "stem", "stopwords", "k1", "b"};
    char err[300];
    if (only_fields(obj, known, sizeof known / sizeof *known, err, sizeof err))
        return cli_import_reject(im, im->lines, 0, "%s", err);
    json_t *stem = json_object_get(obj, "stem"), *stop = json_object_get(obj, "stopwords");
    json_t *k1 = json_object_get(obj, "k1"), *b = json_object_get(obj, "b");
    if (!json_is_string(stem) || !json_is_boolean(stop) || !json_is_number(k1) || !json_is_number(b))
        return cli_import_reject(im, im->lines, 0,
                                 "a text line needs \"stem\" (a string, \"\" for none), \"stopwords\" (true or "
                                 "false) and numbers \"k1\" and \"b\"");
    mnemo_text_options o = MNEMO_TEXT_OPTIONS_INIT;
    o.stem_language = json_string_value(stem);
    o.stopwords = json_is_true(stop);
    o.k1 = json_number_value(k1);
    o.b = json_number_value(b);
    int rc = cli_import_commit(im);
    if (rc)
        return rc;
    if ((rc = mnemo_text_enable(im->db, &o)) == MNEMO_EEXISTS) {
        mnemo_text_info in = MNEMO_TEXT_INFO_INIT;
        if ((rc = mnemo_text_info_get(&in, im->db, NULL)) != 0)
            return cli_import_reject(im, im->lines, rc, "reading the full-text settings");
        if (strcmp(in.stem_language, o.stem_language) || !in.stopwords != !o.stopwords || in.k1 != o.k1 ||
            in.b != o.b)
            return cli_import_reject(im, im->lines, MNEMO_EEXISTS,
                                     "full text is enabled with other settings (stem '%s', stop words %s, k1 %g, "
                                     "b %g); the file has stem '%s', stop words %s, k1 %g, b %g",
                                     in.stem_language, in.stopwords ? "on" : "off", in.k1, in.b, o.stem_language,
                                     o.stopwords ? "on" : "off", o.k1, o.b);
    } else if (rc)
        return cli_import_reject(im, im->lines, rc, "enabling full text");
    cli_progress_update(&im->prog, im->bytes, im->lines);
    return 0;
}

/* {"type":"collection","name":N[,"dim","metric","M","ef_construction","ef_search"]}: the lines
 * after it go into collection N, created (with that vector space) when it does not exist; one that
 * exists must have the same space. */
static int import_collection(cli_import *im, json_t *obj)
{
    static const char *const known[] = {"type", "name", "dim", "metric", "M", "ef_construction", "ef_search",
                                        "quantization"};
    static const char *const nums[] = {"dim", "M", "ef_construction", "ef_search"};
    char err[300];
    if (only_fields(obj, known, sizeof known / sizeof *known, err, sizeof err))
        return cli_import_reject(im, im->lines, 0, "%s", err);
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (!name)
        return cli_import_reject(im, im->lines, 0, "a collection line needs a string \"name\"");
    mnemo_collection_options co = MNEMO_COLLECTION_OPTIONS_INIT;
    uint32_t *dst[] = {&co.vector_dim, &co.hnsw_m, &co.hnsw_ef_construction, &co.hnsw_ef_search};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(obj, nums[i]);
        if (!v)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > UINT32_MAX)
            return cli_import_reject(im, im->lines, 0, "a collection's \"%s\" must be a positive whole number",
                                     nums[i]);
        *dst[i] = (uint32_t)json_integer_value(v);
    }
    const char *metric = json_string_value(json_object_get(obj, "metric"));
    if (metric && cli_metric_parse(&co.vector_metric, metric))
        return cli_import_reject(im, im->lines, 0, "a collection's \"metric\" is \"l2\", \"cosine\" or \"ip\"");
    json_t *qv = json_object_get(obj, "quantization");
    if (qv && (!json_is_string(qv) || cli_quant_parse(&co.vector_quantization, json_string_value(qv))))
        return cli_import_reject(im, im->lines, 0, "a collection's \"quantization\" is \"none\" or \"int8\"");
    int rc = cli_import_commit(im);
    if (rc)
        return rc;
    mnemo_db *h;
    rc = mnemo_collection_open(&h, im->db, name);
    if (rc == MNEMO_ENOTFOUND)
        rc = mnemo_collection_create(&h, im->db, name, &co);
    else if (rc == 0 && co.vector_dim) {
        mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
        int src = mnemo_vector_space_get(&sp, h);
        if (src == 0 && (sp.dim != co.vector_dim || sp.metric != co.vector_metric))
            return cli_import_reject(im, im->lines, MNEMO_EINVAL,
                                     "collection '%s' exists with vector dim %u metric %s, not dim %u metric %s", name,
                                     sp.dim, cli_metric_name(sp.metric), co.vector_dim, cli_metric_name(co.vector_metric));
    }
    if (rc)
        return cli_import_reject(im, im->lines, rc, "collection '%s'", name);
    im->db = h;
    return cli_import_line_done(im);
}

static int import_jsonl(cli_import *im, FILE *f)
{
    char *line = NULL, err[600];
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = cli_import_getline(im, &line, &cap, f)) >= 0) {
        size_t i = 0;
        while (i < (size_t)n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == (size_t)n) /* blank lines count as lines but do nothing */
            continue;
        json_error_t je;
        json_t *obj = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je);
        if (!obj) {
            rc = cli_import_reject(im, im->lines, 0, "invalid JSON at column %d: %s", je.column, je.text);
            break;
        }
        mnemo_txn *txn;
        int erc = 0;
        if (is_type(obj, "index"))
            rc = import_index(im, obj);
        else if (is_type(obj, "space"))
            rc = import_space(im, obj);
        else if (is_type(obj, "text"))
            rc = import_text(im, obj);
        else if (is_type(obj, "collection"))
            rc = import_collection(im, obj);
        else if ((erc = cli_import_txn(im, &txn)) != 0)
            rc = cli_import_reject(im, im->lines, erc, "beginning a transaction");
        else if (apply_json(im, txn, obj, &erc, err, sizeof err))
            rc = cli_import_reject(im, im->lines, erc, "%s", err);
        else
            rc = cli_import_line_done(im);
        json_decref(obj);
    }
    free(line);
    if (!rc && ferror(f))
        rc = cli_fail(im->cmd, "%s: read error: %s", im->file, strerror(errno));
    if (rc)
        return rc;
    return cli_import_commit(im);
}

/* ---- fvecs ------------------------------------------------------------------------------------- */

/* "FILE: record R: message (records A-B rolled back; K batches committed before)". */
static int fvecs_reject(cli_import *im, uint64_t rec, uint64_t first, uint64_t last, int rc, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int fvecs_reject(cli_import *im, uint64_t rec, uint64_t first, uint64_t last, int rc, const char *fmt, ...)
{
    char where[40];
    snprintf(where, sizeof where, ": record %llu", (unsigned long long)rec);
    va_list ap;
    va_start(ap, fmt);
    rc = import_fail(im, where, "records", first, last, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/* Write one batch of n vectors (records first..first+n-1, ids are their numbers): records that
 * do not exist are created empty, then the vectors go in with mnemo_vector_put_batch, all in one
 * transaction. @return 0 or an exit code. */
static int fvecs_flush(cli_import *im, uint64_t first, size_t n, const float *vecs, size_t dim, char (*idbuf)[24],
                       const char **ids)
{
    if (!n)
        return 0;
    mnemo_txn *txn;
    im->unit_first = first + 1; /* vectors count as lines, from 1 */
    int rc = cli_import_txn(im, &txn);
    if (rc)
        return fvecs_reject(im, first, first, first + n - 1, rc, "beginning a transaction");
    for (size_t i = 0; i < n; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "%llu", (unsigned long long)(first + i));
        ids[i] = idbuf[i];
        if ((rc = mnemo_record_exists(im->db, txn, ids[i])) == 0) {
            mnemo_record rec = {0};
            rec.id = ids[i];
            if ((rc = mnemo_record_put(im->db, txn, &rec, MNEMO_PUT_INSERT)) == 0)
                im->pending.records++;
        }
        if (rc < 0)
            return fvecs_reject(im, first + i, first, first + n - 1, rc, "creating its record");
    }
    if ((rc = mnemo_vector_put_batch(im->db, txn, ids, vecs, n, dim)) != 0)
        return fvecs_reject(im, first, first, first + n - 1, rc, "storing records %llu-%llu (entry i is record "
                            "%llu+i)", (unsigned long long)first,
                            (unsigned long long)(first + n - 1), (unsigned long long)first);
    im->pending.vectors += n;
    return cli_import_commit(im);
}

/* fvecs (the TEXMEX format of SIFT): per vector a little-endian int32 dimension, then that many
 * float32. Record ids are the 0-based vector numbers in decimal. */
static int import_fvecs(cli_import *im, FILE *f, jout *j)
{
    size_t batch = im->batch < 100000 ? (size_t)im->batch : 100000, n = 0, dim = 0, cap = 0;
    float *vecs = NULL;
    char(*idbuf)[24] = cli_xmalloc(batch * sizeof *idbuf), err[300];
    const char **ids = cli_xmalloc(batch * sizeof *ids);
    uint64_t first = 0;
    int rc = 0, got;
    while ((got = cli_fvecs_next(f, &dim, &vecs, &cap, n * dim, err, sizeof err)) > 0) {
        im->bytes += sizeof(int32_t) + dim * sizeof(float);
        im->lines++;
        cli_progress_update(&im->prog, im->bytes, im->lines);
        if (++n == batch) {
            if ((rc = fvecs_flush(im, first, n, vecs, dim, idbuf, ids)) != 0)
                break;
            first += n;
            n = 0;
        }
    }
    if (!rc && got < 0)
        rc = fvecs_reject(im, first + n, first, first + n, 0, "%s", err);
    if (!rc)
        rc = fvecs_flush(im, first, n, vecs, dim, idbuf, ids);
    free(vecs);
    free(idbuf);
    free(ids);
    if (!rc) {
        jo_uint(j, "dim", dim);
        jo_uint(j, "vectors", im->done.vectors);
        jo_uint(j, "records", im->done.records);
        jo_uint(j, "batches", im->batches);
    }
    return rc;
}

/* ---- import ------------------------------------------------------------------------------------ */

static int import_edgelist(const cli_cmd *cmd, const cli_args *a, cli_import *im, jout *j)
{
    mnemo_graph_import_options o = MNEMO_GRAPH_IMPORT_OPTIONS_INIT;
    o.label = cli_opt(cmd, a, "label");
    o.undirected = cli_opt(cmd, a, "undirected") != NULL;
    o.batch = cli_opt(cmd, a, "batch") ? (size_t)im->batch : 0; /* 0: the library's 10000 */
    mnemo_graph_import_stats st = MNEMO_GRAPH_IMPORT_STATS_INIT;
    int rc = mnemo_graph_import_edgelist(im->db, a->pos[1], &o, &st);
    if (rc)
        /* the library's message names the line */
        return cli_engine(cmd, rc, "%s (%llu edges committed before)", a->pos[1], (unsigned long long)st.edges);
    jo_uint(j, "lines", st.lines);
    jo_uint(j, "edges", st.edges);
    jo_uint(j, "nodes_created", st.nodes_created);
    return 0;
}

static int run_import(const cli_cmd *cmd, const cli_args *a)
{
    const char *fmt = cli_opt(cmd, a, "format");
    if (!fmt)
        fmt = "jsonl";
    int jsonl = !strcmp(fmt, "jsonl"), edgelist = !strcmp(fmt, "edgelist"), csv = !strcmp(fmt, "csv-graph");
    int fvecs = !strcmp(fmt, "fvecs");
    if (!jsonl && !edgelist && !csv && !fvecs)
        return cli_usage(cmd, "--format wants jsonl, edgelist, csv-graph or fvecs, not '%s'", fmt);
    if ((jsonl || fvecs) && (cli_opt(cmd, a, "undirected") || cli_opt(cmd, a, "label")))
        return cli_usage(cmd, "--undirected and --label apply to edgelist and csv-graph imports");
    if (!csv && cli_opt(cmd, a, "weight-column"))
        return cli_usage(cmd, "--weight-column applies to csv-graph imports");
    if (edgelist && !strcmp(a->pos[1], "-"))
        return cli_usage(cmd, "an edge list is read from a file, not from standard input");
    cli_import im = {0};
    im.cmd = cmd;
    im.file = a->pos[1];
    im.path = a->pos[0];
    im.batch = DEFAULT_BATCH;
    if (cli_opt_uint(&im.batch, cmd, a, "batch", 1, SIZE_MAX))
        return CLI_EXIT_USAGE;

    FILE *f = NULL;
    uint64_t size = 0;
    if (!edgelist) {
        f = strcmp(im.file, "-") ? fopen(im.file, "rb") : stdin;
        if (!f)
            return cli_fail(cmd, "cannot open '%s': %s", im.file, strerror(errno));
        struct stat sb;
        if (f != stdin && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode))
            size = (uint64_t)sb.st_size;
    }
    int rc = cli_open(&im.db, cmd, a->pos[0], CLI_OPEN_RW);
    if (rc) {
        if (f && f != stdin)
            fclose(f);
        return rc;
    }
    jout j = {0};
    jo_begin(&j);
    jo_str(&j, "file", im.file);
    jo_str(&j, "format", fmt);
    double t0 = cli_now();
    cli_progress_start(&im.prog, size);
    if (edgelist) {
        rc = import_edgelist(cmd, a, &im, &j);
    } else if (fvecs) {
        rc = import_fvecs(&im, f, &j);
    } else {
        const char *kind = NULL;
        rc = jsonl ? import_jsonl(&im, f)
                   : cli_import_csv_graph(&im, f, cli_opt(cmd, a, "weight-column"), cli_opt(cmd, a, "label"),
                                          cli_opt(cmd, a, "undirected") != NULL, &kind);
        if (kind)
            jo_str(&j, "kind", kind);
        jo_uint(&j, "lines", im.lines);
        jo_uint(&j, "records", im.done.records);
        jo_uint(&j, "edges", im.done.edges);
        if (jsonl) {
            jo_uint(&j, "kv", im.done.kv);
            jo_uint(&j, "indexes", im.done.indexes);
            jo_uint(&j, "vectors", im.done.vectors);
        }
        jo_uint(&j, "batches", im.batches);
    }
    cli_progress_end(&im.prog);
    mnemo_txn_free(im.txn);
    if (f && f != stdin)
        fclose(f);
    if (!rc) {
        jo_real(&j, "seconds", (double)(int64_t)((cli_now() - t0) * 1000) / 1000);
        jo_line(&j, stdout);
    }
    jo_free(&j);
    return cli_close(im.db, cmd, rc);
}

/* ---- export ------------------------------------------------------------------------------------ */

typedef struct out_edge {
    char *to, *label, *props;
    char *to_coll; /* an edge into another collection: its name, else NULL */
    double weight;
} out_edge;

/* An edge into another collection, written after every collection's records. */
typedef struct cross_edge {
    char *from_coll, *from;
    out_edge e;
} cross_edge;

typedef struct exporter {
    mnemo_db *db;
    mnemo_txn *txn;
    int vectors; /* the database has a vector space */
    jout j;
    out_edge *edges;
    size_t cap;
    const char *coll; /* the collection being written (NULL: the default one) */
    cross_edge *cross;
    size_t n_cross, cap_cross;
} exporter;

static int edge_cmp(const void *pa, const void *pb)
{
    const out_edge *a = pa, *b = pb;
    int c = strcmp(a->label, b->label);
    if (!c)
        c = strcmp(a->to, b->to);
    return c ? c : strcmp(a->to_coll ? a->to_coll : "", b->to_coll ? b->to_coll : "");
}

static int export_record(void *arg, const mnemo_record *r)
{
    exporter *x = arg;
    int rc = jo_record(&x->j, x->db, x->txn, r, x->vectors);
    if (!rc)
        jo_line(&x->j, stdout);
    return rc;
}

static int export_edges(void *arg, const mnemo_record *r)
{
    exporter *x = arg;
    mnemo_iter *it;
    int rc = mnemo_graph_neighbors(&it, x->db, x->txn, r->id, MNEMO_DIR_OUT, NULL, 0);
    if (rc)
        return rc;
    size_t n = 0;
    const mnemo_graph_neighbor *nb;
    while ((rc = mnemo_iter_next(it)) == 0 && (rc = mnemo_iter_neighbor(it, &nb)) == 0) {
        if (n == x->cap) {
            x->cap = x->cap ? 2 * x->cap : 64;
            x->edges = cli_xrealloc(x->edges, x->cap * sizeof *x->edges);
        }
        out_edge *e = &x->edges[n++];
        e->to = cli_xstrdup(nb->id);
        e->label = cli_xstrdup(nb->label);
        e->props = nb->props ? cli_xstrdup(nb->props) : NULL;
        e->to_coll = nb->collection ? cli_xstrdup(nb->collection) : NULL;
        e->weight = nb->weight;
    }
    mnemo_iter_free(it);
    /* the engine orders by internal ids, which another database assigns differently */
    if (n > 1)
        qsort(x->edges, n, sizeof *x->edges, edge_cmp);
    for (size_t i = 0; i < n; i++) {
        out_edge *e = &x->edges[i];
        if (rc == MNEMO_ITEROVER && e->to_coll) { /* kept for the end, when every collection exists */
            if (x->n_cross == x->cap_cross) {
                x->cap_cross = x->cap_cross ? 2 * x->cap_cross : 16;
                x->cross = cli_xrealloc(x->cross, x->cap_cross * sizeof *x->cross);
            }
            cross_edge *c = &x->cross[x->n_cross++];
            c->from_coll = cli_xstrdup(x->coll ? x->coll : MNEMO_COLLECTION_DEFAULT);
            c->from = cli_xstrdup(r->id);
            c->e = *e;
            continue;
        }
        if (rc == MNEMO_ITEROVER) {
            jo_begin(&x->j);
            jo_str(&x->j, "type", "edge");
            jo_str(&x->j, "from", r->id);
            jo_str(&x->j, "to", e->to);
            jo_str(&x->j, "label", e->label);
            jo_real(&x->j, "weight", e->weight);
            if (e->props)
                jo_json_text(&x->j, "props", e->props);
            jo_line(&x->j, stdout);
        }
        free(e->to);
        free(e->label);
        free(e->props);
        free(e->to_coll);
    }
    return rc == MNEMO_ITEROVER ? 0 : rc;
}

static int export_pair(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    exporter *x = arg;
    jo_begin(&x->j);
    jo_str(&x->j, "type", "kv");
    if (cli_is_text(k, kl) && cli_is_text(v, vl)) {
        jo_strn(&x->j, "key", k, kl);
        jo_strn(&x->j, "value", v, vl);
    } else {
        char *kb = cli_b64_encode(k, kl), *vb = cli_b64_encode(v, vl);
        jo_str(&x->j, "key", kb);
        jo_str(&x->j, "value", vb);
        jo_str(&x->j, "encoding", "base64");
        free(kb);
        free(vb);
    }
    jo_line(&x->j, stdout);
    return 0;
}

/* The vector space first, so that an import into a database without one creates it; a collection's
 * on its collection line (which names it: coll), since it is given when the collection is made. */
static int export_space(exporter *x, const char *coll)
{
    mnemo_vector_space sp = MNEMO_VECTOR_SPACE_INIT;
    int rc = mnemo_vector_space_get(&sp, x->db);
    if (rc && rc != MNEMO_ENOTFOUND)
        return rc;
    x->vectors = rc == 0;
    if (rc && !coll)
        return 0;
    jo_begin(&x->j);
    jo_str(&x->j, "type", coll ? "collection" : "space");
    if (coll)
        jo_str(&x->j, "name", coll);
    if (rc) {
        jo_line(&x->j, stdout);
        return 0;
    }
    jo_uint(&x->j, "dim", sp.dim);
    jo_str(&x->j, "metric", cli_metric_name(sp.metric));
    jo_uint(&x->j, "M", sp.hnsw_m);
    jo_uint(&x->j, "ef_construction", sp.hnsw_ef_construction);
    jo_uint(&x->j, "ef_search", sp.hnsw_ef_search);
    if (sp.quantization != MNEMO_QUANT_NONE) /* absent: none, as exports before it */
        jo_str(&x->j, "quantization", cli_quant_name(sp.quantization));
    jo_line(&x->j, stdout);
    return 0;
}

/* The full-text settings, before the records, so that an import indexes them as they come. */
static int export_text(exporter *x)
{
    mnemo_text_info in = MNEMO_TEXT_INFO_INIT;
    int rc = mnemo_text_info_get(&in, x->db, x->txn);
    if (rc == MNEMO_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    jo_begin(&x->j);
    jo_str(&x->j, "type", "text");
    jo_str(&x->j, "stem", in.stem_language);
    jo_bool(&x->j, "stopwords", in.stopwords);
    jo_real(&x->j, "k1", in.k1);
    jo_real(&x->j, "b", in.b);
    jo_line(&x->j, stdout);
    return 0;
}

static int export_indexes(exporter *x)
{
    char **paths;
    size_t n;
    int rc = mnemo_record_index_list(&paths, &n, x->db, x->txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        jo_begin(&x->j);
        jo_str(&x->j, "type", "index");
        jo_str(&x->j, "path", paths[i]);
        jo_line(&x->j, stdout);
    }
    mnemo_record_index_list_free(paths, n);
    return 0;
}

/* One collection's sections (x->db is its handle): space (or the collection line), text settings,
 * indexes, key-value pairs (the database's, with the default collection only), records, edges. */
static int export_collection(const cli_cmd *cmd, exporter *x, const char *coll)
{
    int rc;
    if ((rc = export_space(x, coll)) != 0)
        rc = cli_engine(cmd, rc, "exporting the vector space");
    else if ((rc = export_text(x)) != 0)
        rc = cli_engine(cmd, rc, "exporting the full-text settings");
    else if ((rc = export_indexes(x)) != 0)
        rc = cli_engine(cmd, rc, "exporting index definitions");
    else if (!coll && !cli_collection && (rc = cli_each_kv(x->db, x->txn, export_pair, x)) != 0)
        rc = cli_engine(cmd, rc, "exporting key-value pairs");
    else if ((rc = cli_each_record(x->db, x->txn, export_record, x)) != 0)
        rc = cli_engine(cmd, rc, "exporting records");
    else if ((rc = cli_each_record(x->db, x->txn, export_edges, x)) != 0)
        rc = cli_engine(cmd, rc, "exporting edges");
    return rc;
}

static int run_export(const cli_cmd *cmd, const cli_args *a)
{
    exporter x = {0};
    if (cli_open(&x.db, cmd, a->pos[0], CLI_OPEN_RO))
        return CLI_EXIT_FAIL;
    mnemo_db *db = x.db;
    /* One snapshot for every collection: a transaction spans them. */
    int rc = mnemo_txn_begin(&x.txn, db, MNEMO_TXN_READONLY);
    if (rc)
        return cli_close(db, cmd, cli_engine(cmd, rc, "beginning a read transaction"));
    rc = export_collection(cmd, &x, NULL);
    mnemo_collection_list *l = NULL;
    if (!rc && !cli_collection && (rc = mnemo_collection_list_all(&l, db)) != 0)
        rc = cli_engine(cmd, rc, "listing the collections");
    for (size_t i = 1; !rc && l && i < l->count; i++) { /* item 0: the default collection, done */
        x.coll = l->items[i].name;
        if ((rc = mnemo_collection_open(&x.db, db, l->items[i].name)) != 0)
            rc = cli_engine(cmd, rc, "opening collection '%s'", l->items[i].name);
        else
            rc = export_collection(cmd, &x, l->items[i].name);
    }
    /* Edges between collections last, under a line naming their from end's collection. */
    for (size_t i = 0; i < x.n_cross; i++) {
        cross_edge *c = &x.cross[i];
        if (!rc && !cli_collection && (i == 0 || strcmp(c->from_coll, x.cross[i - 1].from_coll))) {
            jo_begin(&x.j);
            jo_str(&x.j, "type", "collection");
            jo_str(&x.j, "name", c->from_coll);
            jo_line(&x.j, stdout);
        }
        if (!rc && !cli_collection) { /* one collection alone cannot hold them */
            jo_begin(&x.j);
            jo_str(&x.j, "type", "edge");
            jo_str(&x.j, "from", c->from);
            jo_str(&x.j, "to", c->e.to);
            jo_str(&x.j, "to_collection", c->e.to_coll);
            jo_str(&x.j, "label", c->e.label);
            jo_real(&x.j, "weight", c->e.weight);
            if (c->e.props)
                jo_json_text(&x.j, "props", c->e.props);
            jo_line(&x.j, stdout);
        }
    }
    for (size_t i = 0; i < x.n_cross; i++) { /* after: each line above compares with the one before */
        cross_edge *c = &x.cross[i];
        free(c->from_coll);
        free(c->from);
        free(c->e.to);
        free(c->e.label);
        free(c->e.props);
        free(c->e.to_coll);
    }
    free(x.cross);
    mnemo_collection_list_free(l);
    mnemo_txn_free(x.txn);
    free(x.edges);
    jo_free(&x.j);
    return cli_close(db, cmd, rc);
}

const cli_cmd cli_io_cmds[] = {
    {"import", "DB FILE [--format jsonl|edgelist|csv-graph|fvecs] [OPTIONS]",
     "load records, edges, kv pairs and vectors from a file",
     "FILE '-' reads standard input (jsonl and csv-graph).\n"
     "  --format jsonl      (default) one JSON object per line:\n"
     "      {\"type\":\"record\",\"id\",\"content\",\"importance\",\"metadata\":{..},\"expires_at\",\n"
     "       \"created_at\",\"updated_at\",\"embedding\":[floats]}   (only id required; the embedding is\n"
     "       stored in the same transaction as the record)\n"
     "      {\"type\":\"edge\",\"from\",\"to\",\"label\",\"weight\",\"props\":{..}}   (label default \"link\",\n"
     "       weight default 1; missing endpoint records are created empty)\n"
     "      {\"type\":\"kv\",\"key\",\"value\"}   (add \"encoding\":\"base64\" for binary key and value)\n"
     "      {\"type\":\"index\",\"path\"}   (declare a secondary index on a metadata path)\n"
     "      {\"type\":\"space\",\"dim\",\"metric\",\"M\",\"ef_construction\",\"ef_search\"[,\"quantization\"]}   (the vector\n"
     "       space: created if the database has none, else it must be the same)\n"
     "      {\"type\":\"text\",\"stem\",\"stopwords\",\"k1\",\"b\"}   (full text: enabled with these\n"
     "       settings if the database has none, else they must be the same)\n"
     "  --format edgelist   SNAP edge list 'a b [weight]', '#' comments; --label L (default \"link\"),\n"
     "                      --undirected adds b->a too\n"
     "  --format csv-graph  TinkerPop bulk-load CSV; a nodes file (~id,~label,name:type,...) or an\n"
     "                      edges file (~id,~from,~to,~label,name:type,...), told apart by the header.\n"
     "                      Nodes become records with metadata {\"label\":~label, name:typed value...};\n"
     "                      edges get ~label as label (or --label, default \"link\"), props {\"id\":~id,\n"
     "                      other columns}; --weight-column NAME takes the weight from that column\n"
     "                      (default weight 1); --undirected adds the reverse edges\n"
     "  --format fvecs      vectors (int32 dim + dim float32 each, as SIFT's); record ids are the\n"
     "                      0-based vector numbers (\"0\", \"1\", ...), records created if missing\n"
     "  --batch N           lines (fvecs: vectors) per transaction (default 1000; edgelist: 10000)\n"
     "Prints a summary line {\"file\",\"format\",(\"kind\"),\"lines\",\"records\",\"edges\",(\"kv\",\"indexes\",\n"
     "\"vectors\"),\"batches\",\"seconds\"} (edgelist: {\"file\",\"format\",\"lines\",\"edges\",\"nodes_created\",\n"
     "\"seconds\"}; fvecs: {\"file\",\"format\",\"dim\",\"vectors\",\"records\",\"batches\",\"seconds\"}).\n"
     "A bad line stops the import with exit 1 naming FILE:LINE; its whole batch is rolled back and\n"
     "earlier batches stay. A progress bar is drawn on stderr when it is a terminal.\n",
     {{"format", 1}, {"undirected", 0}, {"batch", 1}, {"label", 1}, {"weight-column", 1}, {NULL, 0}}, 2, 2,
     run_import},
    {"export", "DB", "write the whole database as jsonl",
     "Writes the vector space (if any), the full-text settings (if enabled), the secondary index definitions (by path), every kv pair\n"
     "(by key), every record (by id, all fields and its embedding), then every edge (by from id,\n"
     "label, to id) as the jsonl lines import reads,\n"
     "from one snapshot. Binary kv pairs\n"
     "are written in base64 with \"encoding\":\"base64\". Importing the output into a new database\n"
     "and exporting that gives the same bytes.\n",
     {{NULL, 0}}, 1, 1, run_export},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
