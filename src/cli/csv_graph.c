/* TinkerPop bulk-load CSV (the Gremlin/Neptune format): a nodes file `~id,~label,name:type,...` or
 * an edges file `~id,~from,~to,~label,name:type,...`. Typed columns become JSON of their type in
 * record metadata (nodes) or edge props (edges); an empty cell is an absent value; `name:type[]`
 * holds a ';'-separated list. RFC 4180 quoting, quoted fields may span lines. */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum col_kind { COL_PROP, COL_ID, COL_LABEL, COL_FROM, COL_TO };
enum col_type { T_STRING, T_INT, T_REAL, T_BOOL };

typedef struct column {
    char *name; /* property name (type stripped) */
    enum col_kind kind;
    enum col_type type;
    int array;
    int bits;          /* T_INT: 8, 16, 32, 64 (byte, short, int, long); T_REAL: 32 (float), 64 */
    const char *tname; /* the type's name for messages */
} column;

typedef cli_csv csv_reader;

static void rec_append(csv_reader *r, const char *s, size_t n)
{
    if (r->rec_len + n + 1 > r->rec_cap) {
        r->rec_cap = (r->rec_len + n + 1) * 2;
        r->rec = cli_xrealloc(r->rec, r->rec_cap);
    }
    memcpy(r->rec + r->rec_len, s, n);
    r->rec_len += n;
    r->rec[r->rec_len] = '\0';
}

static int open_quote(const char *s, size_t n)
{
    size_t q = 0;
    for (size_t i = 0; i < n; i++)
        q += s[i] == '"';
    return q & 1;
}

/* Read the next record into r->rec. @return 1, 0 at the end, -1 if the file ends inside a quote. */
static int read_record(csv_reader *r)
{
    ssize_t n = cli_import_getline(r->im, &r->line, &r->cap, r->f);
    if (n < 0)
        return 0;
    r->first_line = r->im->lines;
    r->rec_len = 0;
    rec_append(r, r->line, (size_t)n);
    while (open_quote(r->rec, r->rec_len)) {
        if ((n = cli_import_getline(r->im, &r->line, &r->cap, r->f)) < 0)
            return -1;
        rec_append(r, "\n", 1);
        rec_append(r, r->line, (size_t)n);
    }
    r->im->unit_first = r->first_line; /* a batch begun for this row starts here, not at its last line */
    return 1;
}

/* Split r->rec in place into r->fields. @return 0, or -1 for a stray quote. */
static int split_record(csv_reader *r)
{
    r->nfields = 0;
    char *p = r->rec;
    for (;;) {
        if (r->nfields == r->fields_cap) {
            r->fields_cap = r->fields_cap ? 2 * r->fields_cap : 32;
            r->fields = cli_xrealloc(r->fields, r->fields_cap * sizeof *r->fields);
        }
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            if (*p && *p != ',')
                return -1;
        } else {
            while (*p && *p != ',')
                p++;
            out = p;
        }
        char sep = *p;
        *out = '\0';
        r->fields[r->nfields++] = start;
        if (!sep)
            return 0;
        p++;
    }
}

int cli_csv_next(cli_csv *r)
{
    int got = read_record(r);
    if (got <= 0)
        return got;
    return split_record(r) ? -1 : 1;
}

void cli_csv_free(cli_csv *r)
{
    free(r->line);
    free(r->rec);
    free(r->fields);
}

static int parse_type(column *c, const char *t)
{
    size_t n = strlen(t);
    char buf[32];
    if (n >= 2 && !strcmp(t + n - 2, "[]")) {
        c->array = 1;
        n -= 2;
    }
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    /* the sizes of Java's types, as TinkerPop's loaders (Neptune's) read them */
    static const struct {
        const char *name;
        enum col_type type;
        int bits;
    } types[] = {{"string", T_STRING, 0}, {"char", T_STRING, 0}, {"date", T_STRING, 0}, {"int", T_INT, 32},
                 {"integer", T_INT, 32},  {"long", T_INT, 64},   {"short", T_INT, 16},  {"byte", T_INT, 8},
                 {"float", T_REAL, 32},   {"double", T_REAL, 64}, {"bool", T_BOOL, 0},  {"boolean", T_BOOL, 0}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (!strcasecmp(buf, types[i].name)) {
            c->type = types[i].type;
            c->bits = types[i].bits;
            c->tname = types[i].name;
            return 0;
        }
    return -1;
}

/* A finite real in decimal notation: strtod also reads hex ("0x10"), "inf" and "nan", which no
 * CSV writer means as a number. @return 0 or -1. */
static int parse_real(double *out, const char *s)
{
    char *end;
    if (!*s || isspace((unsigned char)*s) || strpbrk(s, "xX"))
        return -1;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* One scalar cell as JSON of its column's type, or NULL with a message. */
static json_t *typed_value(const column *c, const char *s, char *err, size_t errlen)
{
    switch (c->type) {
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        long long hi = c->bits == 64 ? INT64_MAX : (1LL << (c->bits - 1)) - 1, lo = -hi - 1;
        if (!*s || *end || errno || isspace((unsigned char)*s) || v < lo || v > hi) {
            snprintf(err, errlen, "column '%s': '%s' is not %s %s (%lld..%lld)", c->name, s,
                     c->tname[0] == 'i' ? "an" : "a", c->tname, lo, hi);
            return NULL;
        }
        return json_integer(v);
    }
    case T_REAL: {
        double v;
        if (parse_real(&v, s)) {
            snprintf(err, errlen, "column '%s': '%s' is not a finite decimal number", c->name, s);
            return NULL;
        }
        if (c->bits == 32 && fabs(v) > FLT_MAX) {
            snprintf(err, errlen, "column '%s': '%s' is not a float (beyond 3.4028235e+38)", c->name, s);
            return NULL;
        }
        return json_real(v);
    }
    case T_BOOL:
        if (!strcasecmp(s, "true"))
            return json_true();
        if (!strcasecmp(s, "false"))
            return json_false();
        snprintf(err, errlen, "column '%s': '%s' is not true or false", c->name, s);
        return NULL;
    case T_STRING: break;
    }
    json_t *v = json_string(s);
    if (!v)
        snprintf(err, errlen, "column '%s': the text is not valid UTF-8", c->name);
    return v;
}

/* A cell as JSON (arrays split on ';'), NULL with a message on error. */
static json_t *cell_value(const column *c, char *s, char *err, size_t errlen)
{
    if (!c->array)
        return typed_value(c, s, err, errlen);
    json_t *arr = json_array();
    for (char *tok = s, *next; tok; tok = next) {
        next = strchr(tok, ';');
        if (next)
            *next++ = '\0';
        if (!*tok)
            continue;
        json_t *v = typed_value(c, tok, err, errlen);
        if (!v) {
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, v);
    }
    return arr;
}

typedef struct header {
    column *cols;
    size_t n;
    int edges;                 /* an edges file (else nodes) */
    int id, label, from, to;   /* column indexes of ~id ~label ~from ~to, -1 if absent */
    int weight;                /* index of the weight column, -1 for none */
} header;

static void header_free(header *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->cols[i].name);
    free(h->cols);
}

static int parse_header(header *h, csv_reader *r, const char *weight_column, char *err, size_t errlen)
{
    h->n = r->nfields;
    h->cols = cli_xmalloc(h->n * sizeof *h->cols);
    memset(h->cols, 0, h->n * sizeof *h->cols);
    h->id = h->label = h->from = h->to = h->weight = -1;
    for (size_t i = 0; i < h->n; i++) {
        const char *f = r->fields[i];
        column *c = &h->cols[i];
        static const struct {
            const char *name;
            enum col_kind kind;
        } sys[] = {{"~id", COL_ID}, {"~label", COL_LABEL}, {"~from", COL_FROM}, {"~to", COL_TO}};
        if (f[0] == '~') {
            size_t k = 0;
            while (k < 4 && strcmp(sys[k].name, f))
                k++;
            if (k == 4) {
                snprintf(err, errlen, "unknown system column '%s' (want ~id, ~label, ~from, ~to)", f);
                return -1;
            }
            int *slot = k == 0 ? &h->id : k == 1 ? &h->label : k == 2 ? &h->from : &h->to;
            if (*slot >= 0) {
                snprintf(err, errlen, "column '%s' appears twice", f);
                return -1;
            }
            *slot = (int)i;
            c->kind = sys[k].kind;
            c->name = cli_xstrdup(f);
            continue;
        }
        const char *colon = strrchr(f, ':');
        size_t nlen = colon ? (size_t)(colon - f) : strlen(f);
        c->name = cli_xmalloc(nlen + 1);
        memcpy(c->name, f, nlen);
        c->name[nlen] = '\0';
        c->kind = COL_PROP;
        if (!nlen) {
            snprintf(err, errlen, "column %zu has no name", i + 1);
            return -1;
        }
        if (colon && parse_type(c, colon + 1)) {
            snprintf(err, errlen, "column '%s': unknown type '%s' (want string, int, long, short, byte, float, "
                                  "double, bool, date, char, optionally with [])",
                     c->name, colon + 1);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (h->cols[k].kind == COL_PROP && !strcmp(h->cols[k].name, c->name)) {
                snprintf(err, errlen, "column '%s' appears twice", c->name);
                return -1;
            }
    }
    h->edges = h->from >= 0 && h->to >= 0;
    if (!h->edges && (h->from >= 0 || h->to >= 0)) {
        snprintf(err, errlen, "an edges header needs both ~from and ~to");
        return -1;
    }
    if (!h->edges && h->id < 0) {
        snprintf(err, errlen, "not a TinkerPop header: a nodes file needs ~id, an edges file ~from and ~to");
        return -1;
    }
    /* the system columns land in the same JSON object as the others: refuse clashes */
    const char *clash = h->edges ? "id" : "label";
    for (size_t i = 0; i < h->n; i++)
        if (h->cols[i].kind == COL_PROP && !strcmp(h->cols[i].name, clash) && (h->edges ? h->id : h->label) >= 0) {
            snprintf(err, errlen, "column '%s' clashes with ~%s, which is stored as \"%s\"", clash, clash, clash);
            return -1;
        }
    if (h->edges && weight_column) {
        for (size_t i = 0; i < h->n; i++)
            if (h->cols[i].kind == COL_PROP && !strcmp(h->cols[i].name, weight_column))
                h->weight = (int)i;
        if (h->weight < 0) {
            snprintf(err, errlen, "no column '%s' for --weight-column", weight_column);
            return -1;
        }
        if (h->cols[h->weight].type == T_BOOL || h->cols[h->weight].array) {
            snprintf(err, errlen, "--weight-column '%s' is not a numeric column", weight_column);
            return -1;
        }
    }
    return 0;
}

/* The JSON object of a row's property columns (and `extra_key`: `extra` when non-empty). */
static json_t *row_object(const header *h, csv_reader *r, const char *extra_key, const char *extra, char *err,
                          size_t errlen)
{
    json_t *obj = json_object();
    if (extra && *extra) {
        json_t *v = json_string(extra);
        if (!v) {
            snprintf(err, errlen, "~%s is not valid UTF-8", extra_key);
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, extra_key, v);
    }
    for (size_t i = 0; i < h->n; i++) {
        if (h->cols[i].kind != COL_PROP || (int)i == h->weight || !*r->fields[i])
            continue;
        json_t *v = cell_value(&h->cols[i], r->fields[i], err, errlen);
        if (!v) {
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, h->cols[i].name, v);
    }
    return obj;
}

/* Apply one row. @return 0; -1 with err (and *engine_rc for an engine failure). */
static int apply_row(cli_import *im, const header *h, csv_reader *r, mnemo_txn *txn, const char *dflt_label,
                     int undirected, int *engine_rc, char *err, size_t errlen)
{
    *engine_rc = 0;
    if (!h->edges) {
        const char *id = r->fields[h->id];
        if (!*id) {
            snprintf(err, errlen, "empty ~id");
            return -1;
        }
        json_t *meta = row_object(h, r, "label", h->label >= 0 ? r->fields[h->label] : NULL, err, errlen);
        if (!meta)
            return -1;
        char *text = cli_json_dump(meta);
        json_decref(meta);
        mnemo_record rec = {0};
        rec.id = id;
        rec.metadata = text;
        int rc = mnemo_record_put(im->db, txn, &rec, MNEMO_PUT_UPSERT);
        free(text);
        if (rc) {
            snprintf(err, errlen, "node '%s'", id);
            *engine_rc = rc;
            return -1;
        }
        im->pending.records++;
        return 0;
    }
    mnemo_graph_edge e = {0};
    unsigned flags = MNEMO_LINK_CREATE_MISSING;
    e.from = r->fields[h->from];
    e.to = r->fields[h->to];
    e.label = h->label >= 0 && *r->fields[h->label] ? r->fields[h->label] : dflt_label ? dflt_label : "link";
    if (!*e.from || !*e.to) {
        snprintf(err, errlen, "empty ~from or ~to");
        return -1;
    }
    const char *w = h->weight >= 0 ? r->fields[h->weight] : "";
    if (*w) {
        if (parse_real(&e.weight, w)) {
            snprintf(err, errlen, "weight column '%s': '%s' is not a finite decimal number", h->cols[h->weight].name,
                     w);
            return -1;
        }
    } else {
        flags |= MNEMO_LINK_DEFAULT_WEIGHT;
    }
    json_t *props = row_object(h, r, "id", h->id >= 0 ? r->fields[h->id] : NULL, err, errlen);
    if (!props)
        return -1;
    char *text = json_object_size(props) ? cli_json_dump(props) : NULL;
    json_decref(props);
    e.props = text;
    int rc = mnemo_graph_link(im->db, txn, &e, flags);
    if (!rc && undirected) {
        mnemo_graph_edge back = e;
        back.from = e.to;
        back.to = e.from;
        if ((rc = mnemo_graph_link(im->db, txn, &back, flags)) == 0)
            im->pending.edges++;
    }
    free(text);
    if (rc) {
        snprintf(err, errlen, "edge '%s' -%s-> '%s'", e.from, e.label, e.to);
        *engine_rc = rc;
        return -1;
    }
    im->pending.edges++;
    return 0;
}

int cli_import_csv_graph(cli_import *im, FILE *f, const char *weight_column, const char *label, int undirected,
                         const char **kind)
{
    csv_reader r = {0};
    r.im = im;
    r.f = f;
    header h = {0};
    char err[700];
    int rc = 0, got = read_record(&r);
    if (got <= 0)
        rc = got < 0 ? cli_import_reject(im, r.first_line, 0, "the file ends inside a quoted field")
                     : cli_fail(im->cmd, "%s: empty file: no TinkerPop header", im->file);
    else if (split_record(&r))
        rc = cli_import_reject(im, r.first_line, 0, "bad quoting in the header");
    else if (parse_header(&h, &r, weight_column, err, sizeof err))
        rc = cli_import_reject(im, r.first_line, 0, "%s", err);
    if (!rc)
        *kind = h.edges ? "edges" : "nodes";
    while (!rc && (got = read_record(&r)) != 0) {
        if (got < 0) {
            rc = cli_import_reject(im, r.first_line, 0, "the file ends inside a quoted field");
            break;
        }
        if (r.rec_len == 0) /* blank lines are skipped */
            continue;
        if (split_record(&r)) {
            rc = cli_import_reject(im, r.first_line, 0, "bad quoting (a quote inside a field must be doubled)");
            break;
        }
        if (r.nfields != h.n) {
            rc = cli_import_reject(im, r.first_line, 0, "%zu fields, the header has %zu", r.nfields, h.n);
            break;
        }
        mnemo_txn *txn;
        int erc = cli_import_txn(im, &txn);
        if (erc)
            rc = cli_import_reject(im, r.first_line, erc, "beginning a transaction");
        else if (apply_row(im, &h, &r, txn, label, undirected, &erc, err, sizeof err))
            rc = cli_import_reject(im, r.first_line, erc, "%s", err);
        else
            rc = cli_import_line_done(im);
    }
    if (!rc && ferror(f))
        rc = cli_fail(im->cmd, "%s: read error: %s", im->file, strerror(errno));
    if (!rc)
        rc = cli_import_commit(im);
    header_free(&h);
    cli_csv_free(&r);
    return rc;
}
