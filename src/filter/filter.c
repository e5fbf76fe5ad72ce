/* Metadata filter compiler and evaluator (see filter.h for the language and its semantics).
 *
 * Compilation turns the JSON object into a tree: every filter object becomes an AND node whose
 * children are field nodes (a resolved path plus a list of operators) and the logical nodes of
 * its $and / $or / $not keys. Operands stay inside the parsed jansson document, which the filter
 * keeps alive; each scalar operand is also pre-decoded into a `val` so that matching compares
 * plain C values and never allocates. */
#include "filter/filter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/coding.h"
#include "core/error.h"
#include "mnemo/common.h"

/* ---- values ---- */

enum vkind { V_NULL, V_BOOL, V_INT, V_REAL, V_STR, V_OBJ, V_ARR };

typedef struct val {
    int k;
    union {
        int b;
        long long i;
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
        const json_t *j; /* V_OBJ, V_ARR */
    } u;
} val;

static void val_of(const json_t *j, val *v)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: v->k = V_OBJ; v->u.j = j; break;
    case JSON_ARRAY: v->k = V_ARR; v->u.j = j; break;
    case JSON_STRING:
        v->k = V_STR;
        v->u.s.p = json_string_value(j);
        v->u.s.n = json_string_length(j);
        break;
    case JSON_INTEGER: v->k = V_INT; v->u.i = json_integer_value(j); break;
    case JSON_REAL: v->k = V_REAL; v->u.d = json_real_value(j); break;
    case JSON_TRUE: v->k = V_BOOL; v->u.b = 1; break;
    case JSON_FALSE: v->k = V_BOOL; v->u.b = 0; break;
    default: v->k = V_NULL; break;
    }
}

/* The value of a cell holding one scalar (0 for any other cell). */
static int val_of_cell(const mnemo_filter_cell *c, val *v)
{
    switch (c->kind) {
    case MNEMO_CELL_NULL: v->k = V_NULL; return 1;
    case MNEMO_CELL_FALSE: v->k = V_BOOL; v->u.b = 0; return 1;
    case MNEMO_CELL_TRUE: v->k = V_BOOL; v->u.b = 1; return 1;
    case MNEMO_CELL_INT: v->k = V_INT; v->u.i = c->u.i; return 1;
    case MNEMO_CELL_REAL: v->k = V_REAL; v->u.d = c->u.d; return 1;
    case MNEMO_CELL_STR: v->k = V_STR; v->u.s.p = c->u.s; v->u.s.n = c->len; return 1;
    default: return 0;
    }
}

static int is_num(const val *v) { return v->k == V_INT || v->k == V_REAL; }

#define UNORDERED 2

/* Exact comparison of an integer with a double: converting the integer to double would make
 * distinct large integers compare equal to the same double. */
static int cmp_int_real(long long i, double d)
{
    if (isnan(d))
        return UNORDERED;
    if (d >= 9223372036854775808.0) /* 2^63: above every long long */
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double t = trunc(d); /* now within long long range */
    long long ti = (long long)t;
    if (i != ti)
        return i < ti ? -1 : 1;
    return d > t ? -1 : (d < t ? 1 : 0);
}

static int cmp_num(const val *a, const val *b)
{
    if (a->k == V_INT && b->k == V_INT)
        return a->u.i < b->u.i ? -1 : (a->u.i > b->u.i);
    if (a->k == V_INT)
        return cmp_int_real(a->u.i, b->u.d);
    if (b->k == V_INT) {
        int c = cmp_int_real(b->u.i, a->u.d);
        return c == UNORDERED ? c : -c;
    }
    if (isnan(a->u.d) || isnan(b->u.d))
        return UNORDERED;
    return a->u.d < b->u.d ? -1 : (a->u.d > b->u.d);
}

static int cmp_str(const val *a, const val *b)
{
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return a->u.s.n < b->u.s.n ? -1 : (a->u.s.n > b->u.s.n);
}

/* Ordering used by the range operators: numbers with numbers, strings with strings. */
static int cmp_ordered(const val *a, const val *b)
{
    if (is_num(a) && is_num(b))
        return cmp_num(a, b);
    if (a->k == V_STR && b->k == V_STR)
        return cmp_str(a, b);
    return UNORDERED;
}

/* Equality of one value (not descending into arrays) with an operand. */
static int eq_val(const val *a, const val *b)
{
    if (is_num(a) && is_num(b))
        return cmp_num(a, b) == 0;
    if (a->k != b->k)
        return 0;
    switch (a->k) {
    case V_NULL: return 1;
    case V_BOOL: return a->u.b == b->u.b;
    case V_STR: return a->u.s.n == b->u.s.n && (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
    default: return json_equal(a->u.j, b->u.j);
    }
}

/* $eq: an array operand compares the whole array; any other operand matches an array field
 * when any element equals it. */
static int op_eq(const val *v, const val *o)
{
    if (o->k == V_ARR)
        return v->k == V_ARR && json_equal(v->u.j, o->u.j);
    if (v->k == V_ARR) {
        size_t i;
        const json_t *e;
        json_array_foreach(v->u.j, i, e) {
            val ev;
            val_of(e, &ev);
            if (eq_val(&ev, o))
                return 1;
        }
        return 0;
    }
    return eq_val(v, o);
}

/* ---- compiled tree ---- */

enum rfield { RF_NONE, RF_ID, RF_CONTENT, RF_IMPORTANCE, RF_CREATED_AT, RF_UPDATED_AT, RF_EXPIRES_AT };
static const char *const rf_names[] = {NULL, "id", "content", "importance", "created_at", "updated_at", "expires_at"};

typedef struct fpath {
    char *name;   /* the pred path: without "metadata." prefix, or the record field name */
    int rf;       /* enum rfield */
    char *segbuf; /* copy of name with '.' replaced by NUL; segs point into it */
    const char **segs;
    size_t nsegs;
    size_t col1; /* a metadata path of the top filter: its index in mnemo_filter.paths + 1; else 0 */
} fpath;

enum opkind {
    OP_NONE, OP_EQ, OP_NE, OP_IN, OP_NIN, OP_EXISTS, OP_RANGE, OP_NOT, OP_CONTAINS,
    OP_ALL, OP_SIZE, OP_ELEM_OPS, OP_ELEM_FILTER, OP_REGEX
};
enum { B_GT, B_GTE, B_LT, B_LTE, B_COUNT };

typedef struct fop {
    int kind;
    const json_t *operand; /* EQ/NE: the operand; IN/NIN: the operand array */
    val v;                 /* EQ/NE */
    const json_t **jvals;  /* IN/NIN: elements of the operand array */
    val *vals;
    size_t n;
    int all_scalar; /* IN: every element is a scalar (index-answerable) */
    int exists;     /* EXISTS */
    struct {
        const json_t *j; /* NULL = bound absent */
        val v;
    } b[B_COUNT];     /* RANGE */
    struct fop *sub;  /* NOT, ELEM_OPS: the operators; ALL: one EQ per operand element */
    size_t nsub;
    int has_null;       /* EQ/NE: the operand is null; IN/NIN: an element is null (missing matches) */
    size_t size;        /* SIZE */
    struct node *elem;  /* ELEM_FILTER: the filter each object element is matched against */
    pcre2_code *re;     /* REGEX */
    pcre2_match_context *mctx;
} fop;

enum nkind { N_AND, N_OR, N_NOT, N_NOR, N_FIELD };

typedef struct node {
    int kind;
    struct node *kids; /* AND/OR: n children; NOT: 1 */
    size_t n;
    fpath path; /* FIELD */
    fop *ops;
    size_t nops;
} node;

struct mnemo_filter {
    json_t *doc; /* owns every operand */
    node top;
    const char **paths; /* the distinct metadata paths of top, outside $elemMatch (names owned by the nodes) */
    size_t npaths;
    int reads_fields; /* top reads a record field (id, importance, ...) */
    /* top as a conjunction of leaves one cell decides (see decide_cells), when it is one */
    struct conj_leaf *conj;
    size_t nconj;
    int is_conj;
    pcre2_general_context *re_mem; /* PCRE2's allocations through mnemo__malloc; NULL without $regex */
};

static void node_free(node *n);

static void ops_free(fop *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mnemo__free(ops[i].jvals);
        mnemo__free(ops[i].vals);
        ops_free(ops[i].sub, ops[i].nsub);
        if (ops[i].elem)
            node_free(ops[i].elem);
        mnemo__free(ops[i].elem);
        pcre2_code_free(ops[i].re);
        pcre2_match_context_free(ops[i].mctx);
    }
    mnemo__free(ops);
}

/* Safe on a zeroed or partially built node: compile allocates arrays zeroed and keeps each count
 * covering every element that may own memory, so a failed compile frees through here too. */
static void node_free(node *n)
{
    for (size_t i = 0; i < n->n; i++)
        node_free(&n->kids[i]);
    mnemo__free(n->kids);
    mnemo__free(n->path.name);
    mnemo__free(n->path.segbuf);
    mnemo__free((void *)n->path.segs);
    ops_free(n->ops, n->nops);
}

/* ---- compilation ---- */

typedef struct cctx {
    char where[200]; /* "" at top level, else e.g. "$and[1].$not" */
    size_t wlen;
    int elem;        /* inside $elemMatch: paths are relative to the element, never record fields */
    int depth;       /* nesting levels of $and/$or/$nor/$not/$elemMatch around the current object */
    mnemo_filter *f; /* for the PCRE2 memory context */
} cctx;

static size_t where_push(cctx *c, const char *fmt, ...) MNEMO_PRINTF(2, 3);
static size_t where_push(cctx *c, const char *fmt, ...)
{
    size_t old = c->wlen;
    if (c->wlen && c->wlen + 1 < sizeof c->where)
        c->where[c->wlen++] = '.';
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(c->where + c->wlen, sizeof c->where - c->wlen, fmt, ap);
    va_end(ap);
    if (k > 0)
        c->wlen += (size_t)k;
    if (c->wlen >= sizeof c->where)
        c->wlen = sizeof c->where - 1; /* truncated location is still better than none */
    return old;
}

static void where_pop(cctx *c, size_t old)
{
    c->wlen = old;
    c->where[old] = '\0';
}

/* EINVAL with "filter: <msg><location>"; field-level messages already name the path, so the
 * location only says which nested filter it is in. */
static int bad(const cctx *c, int field_level, const char *fmt, ...) MNEMO_PRINTF(3, 4);
static int bad(const cctx *c, int field_level, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->wlen)
        return mnemo__err(MNEMO_EINVAL, "filter: %s (in %s)", msg, c->where);
    return mnemo__err(MNEMO_EINVAL, "filter: %s%s", msg, field_level ? "" : " at top level");
}

/* Enters one nesting level (leave with c->depth--); EINVAL past MNEMO_FILTER_MAX_NESTING. */
static int nest(cctx *c, const char *op)
{
    if (c->depth >= MNEMO_FILTER_MAX_NESTING)
        return bad(c, 0, "'%s' nested deeper than %d levels of $and/$or/$nor/$not/$elemMatch", op,
                   MNEMO_FILTER_MAX_NESTING);
    c->depth++;
    return 0;
}

static int is_field_op(const char *k)
{
    static const char *const names[] = {"$eq",     "$ne",       "$gt",     "$gte",  "$lt",    "$lte",
                                        "$in",     "$nin",      "$exists", "$contains", "$all", "$size",
                                        "$elemMatch", "$regex", "$options"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(k, names[i]) == 0)
            return 1;
    return 0;
}

static int is_logical_op(const char *k)
{
    return !strcmp(k, "$and") || !strcmp(k, "$or") || !strcmp(k, "$nor") || !strcmp(k, "$not");
}

/* jansson rejects NUL bytes in object keys, so keys (and paths) are plain C strings. */
static int parse_path(cctx *c, const char *key, fpath *p)
{
    size_t len = strlen(key);
    if (len == 0)
        return bad(c, 1, "empty path");
    for (int r = RF_ID; r <= RF_EXPIRES_AT && !c->elem; r++) {
        if (strcmp(key, rf_names[r]) == 0) {
            p->rf = r;
            p->name = mnemo__memdup(key, len);
            return p->name ? 0 : mnemo__err_nomem("filter: path");
        }
    }
    const char *s = key;
    if (strncmp(key, "metadata.", 9) == 0 && !c->elem)
        s += 9;
    size_t n = strlen(s);
    if (n == 0 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
        return bad(c, 1, "path '%s' has an empty segment", key);
    size_t nsegs = 1;
    for (size_t i = 0; i < n; i++)
        nsegs += s[i] == '.';
    p->name = mnemo__memdup(s, n);
    p->segbuf = mnemo__memdup(s, n);
    p->segs = mnemo__calloc(nsegs, sizeof *p->segs);
    if (!p->name || !p->segbuf || !p->segs)
        return mnemo__err_nomem("filter: path");
    p->nsegs = nsegs;
    size_t k = 0;
    p->segs[k++] = p->segbuf;
    for (size_t i = 0; i < n; i++) {
        if (p->segbuf[i] == '.') {
            p->segbuf[i] = '\0';
            p->segs[k++] = p->segbuf + i + 1;
        }
    }
    return 0;
}

/* Name of a JSON type for messages. */
static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static int is_scalar(const json_t *j) { return !json_is_object(j) && !json_is_array(j); }

/* 1 and *plain set when some key of obj is not an operator (does not start with '$'). */
static int first_plain_key(const json_t *obj, const char **plain)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (k[0] != '$') {
            *plain = k;
            return 1;
        }
    }
    return 0;
}

static int compile_ops(cctx *c, const char *path, const json_t *obj, int in_not, fop **out_ops, size_t *out_n);
static int compile_object(cctx *c, const json_t *obj, node *out);

/* Match limits for $regex, so a pattern that backtracks catastrophically fails fast instead of
 * hanging a search: PCRE2's defaults (10 million steps, 20 GB of frames) allow minutes per value. */
#define RE_MATCH_LIMIT 1000000u
#define RE_DEPTH_LIMIT 100000u
#define RE_HEAP_LIMIT_KIB 65536u

static void *re_malloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return mnemo__malloc(n);
}

static void re_free(void *p, void *data)
{
    (void)data;
    mnemo__free(p);
}

/* A pattern for messages: at most 60 bytes, then "...". */
static void pattern_text(char *out, size_t cap, const json_t *pat)
{
    size_t n = json_string_length(pat);
    snprintf(out, cap, "%.*s%s", (int)(n > 60 ? 60 : n), json_string_value(pat), n > 60 ? "..." : "");
}

static int compile_regex(cctx *c, const char *path, const char *at, const json_t *v, const json_t *obj, fop *op)
{
    char pat[80];
    if (!json_is_string(v))
        return bad(c, 1, "operator '$regex' at '%s%s needs a string operand, not %s", path, at, type_name(v));
    pattern_text(pat, sizeof pat, v);
    /* \C would match one byte inside a UTF-8 character: undefined in UTF mode (pcre2pattern) */
    uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
    const json_t *o = json_object_get(obj, "$options");
    if (o) {
        if (!json_is_string(o))
            return bad(c, 1, "'$options' at '%s%s needs a string of the letters i, m, s, x, not %s", path, at,
                       type_name(o));
        const char *letters = json_string_value(o);
        for (size_t i = 0; i < json_string_length(o); i++) {
            switch (letters[i]) {
            case 'i': flags |= PCRE2_CASELESS; break;
            case 'm': flags |= PCRE2_MULTILINE; break;
            case 's': flags |= PCRE2_DOTALL; break;
            case 'x': flags |= PCRE2_EXTENDED; break;
            default:
                return bad(c, 1, "unknown $options letter '%c' at '%s%s (allowed: i, m, s, x)",
                           (unsigned char)letters[i] >= 0x20 && (unsigned char)letters[i] < 0x7f ? letters[i] : '?',
                           path, at);
            }
        }
    }
    if (!c->f->re_mem && !(c->f->re_mem = pcre2_general_context_create(re_malloc, re_free, NULL)))
        return mnemo__err_nomem("filter: $regex");
    pcre2_compile_context *cc = pcre2_compile_context_create(c->f->re_mem);
    if (!cc)
        return mnemo__err_nomem("filter: $regex");
    int err;
    PCRE2_SIZE off;
    op->kind = OP_REGEX;
    op->operand = v;
    op->re = pcre2_compile((PCRE2_SPTR)json_string_value(v), json_string_length(v), flags, &err, &off, cc);
    pcre2_compile_context_free(cc);
    if (!op->re) {
        if (err == PCRE2_ERROR_HEAP_FAILED)
            return mnemo__err_nomem("filter: $regex");
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return bad(c, 1, "invalid $regex '%s' at '%s%s: %s at offset %zu", pat, path, at, (const char *)msg,
                   (size_t)off);
    }
    if (!(op->mctx = pcre2_match_context_create(c->f->re_mem)))
        return mnemo__err_nomem("filter: $regex");
    pcre2_set_match_limit(op->mctx, RE_MATCH_LIMIT);
    pcre2_set_depth_limit(op->mctx, RE_DEPTH_LIMIT);
    pcre2_set_heap_limit(op->mctx, RE_HEAP_LIMIT_KIB);
    return 0;
}

/* $elemMatch: with operators only (other than $and/$or/$nor) they apply to each element as to a
 * field value ({"$gte": 80, "$lt": 85}); otherwise the object is a filter matched against each
 * element that is an object ({"product": "x", "score": {"$gt": 8}}). */
static int compile_elem_match(cctx *c, const char *path, const char *at, const json_t *v, fop *op)
{
    if (!json_is_object(v) || json_object_size(v) == 0)
        return bad(c, 1, "operator '$elemMatch' at '%s%s needs a non-empty object, not %s", path, at,
                   json_is_object(v) ? "an empty object" : type_name(v));
    int value_form = 1;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        if (k[0] != '$' || !strcmp(k, "$and") || !strcmp(k, "$or") || !strcmp(k, "$nor"))
            value_form = 0;
    }
    int rc = nest(c, "$elemMatch");
    if (rc)
        return rc;
    if (value_form) {
        op->kind = OP_ELEM_OPS;
        rc = compile_ops(c, path, v, 0, &op->sub, &op->nsub);
        c->depth--;
        return rc;
    }
    op->kind = OP_ELEM_FILTER;
    if (!(op->elem = mnemo__calloc(1, sizeof *op->elem)))
        return mnemo__err_nomem("filter: $elemMatch");
    size_t old = where_push(c, "%s.$elemMatch", path);
    int was_elem = c->elem;
    c->elem = 1;
    rc = compile_object(c, v, op->elem);
    c->elem = was_elem;
    c->depth--;
    if (rc == 0)
        where_pop(c, old);
    return rc;
}

static int compile_one_op(cctx *c, const char *path, const char *k, const json_t *v, const json_t *obj, int in_not,
                          fop *ops, size_t *used, fop **range)
{
    const char *at = in_not ? "' inside $not" : "'";
    fop *op = &ops[*used];
    if (!strcmp(k, "$eq") || !strcmp(k, "$ne")) {
        op->kind = k[1] == 'e' ? OP_EQ : OP_NE;
        op->operand = v;
        val_of(v, &op->v);
        op->has_null = json_is_null(v);
        (*used)++;
        return 0;
    }
    if (!strcmp(k, "$gt") || !strcmp(k, "$gte") || !strcmp(k, "$lt") || !strcmp(k, "$lte")) {
        if (!json_is_number(v) && !json_is_string(v))
            return bad(c, 1, "operator '%s' at '%s%s needs a number or string operand, not %s", k, path, at,
                       type_name(v));
        /* all range operators of one field object share one op: one interval per element */
        if (!*range) {
            *range = op;
            op->kind = OP_RANGE;
            (*used)++;
        }
        int which = k[1] == 'g' ? (k[3] == 'e' ? B_GTE : B_GT) : (k[3] == 'e' ? B_LTE : B_LT);
        (*range)->b[which].j = v;
        val_of(v, &(*range)->b[which].v);
        return 0;
    }
    if (!strcmp(k, "$in") || !strcmp(k, "$nin")) {
        if (!json_is_array(v))
            return bad(c, 1, "operator '%s' at '%s%s needs an array operand, not %s", k, path, at, type_name(v));
        op->kind = k[1] == 'i' ? OP_IN : OP_NIN;
        op->operand = v;
        size_t n = json_array_size(v);
        op->jvals = mnemo__calloc(n, sizeof *op->jvals);
        op->vals = mnemo__calloc(n, sizeof *op->vals);
        (*used)++; /* so a failure below still frees what was allocated */
        if (!op->jvals || !op->vals)
            return mnemo__err_nomem("filter: $in");
        op->n = n;
        op->all_scalar = 1;
        for (size_t i = 0; i < n; i++) {
            op->jvals[i] = json_array_get(v, i);
            val_of(op->jvals[i], &op->vals[i]);
            op->all_scalar &= is_scalar(op->jvals[i]);
            op->has_null |= json_is_null(op->jvals[i]);
        }
        return 0;
    }
    if (!strcmp(k, "$all")) { /* Mongo: the $and of one $eq per element; [] matches nothing */
        if (!json_is_array(v))
            return bad(c, 1, "operator '$all' at '%s%s needs an array operand, not %s", path, at, type_name(v));
        size_t n = json_array_size(v);
        op->kind = OP_ALL;
        (*used)++;
        if (n && !(op->sub = mnemo__calloc(n, sizeof *op->sub)))
            return mnemo__err_nomem("filter: $all");
        op->nsub = n;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            const char *ek;
            json_t *ex;
            json_object_foreach((json_t *)e, ek, ex) {
                if (ek[0] == '$')
                    return bad(c, 1, "operator '$all' at '%s%s: element %zu is an operator object ('%s'); $all takes "
                               "values only", path, at, i, ek);
            }
            op->sub[i].kind = OP_EQ;
            op->sub[i].operand = e;
            val_of(e, &op->sub[i].v);
            op->sub[i].has_null = json_is_null(e);
        }
        return 0;
    }
    if (!strcmp(k, "$size")) {
        double d = json_is_number(v) ? json_number_value(v) : -1;
        if (!json_is_number(v) || d < 0 || d != floor(d) || d > 9007199254740992.0) {
            char shown[64];
            if (json_is_number(v))
                snprintf(shown, sizeof shown, "%.17g", d);
            else
                snprintf(shown, sizeof shown, "%s", type_name(v));
            return bad(c, 1, "operator '$size' at '%s%s needs a non-negative integer, not %s", path, at, shown);
        }
        op->kind = OP_SIZE;
        op->size = (size_t)d;
        (*used)++;
        return 0;
    }
    if (!strcmp(k, "$elemMatch")) {
        (*used)++;
        return compile_elem_match(c, path, at, v, op);
    }
    if (!strcmp(k, "$regex")) {
        (*used)++;
        return compile_regex(c, path, at, v, obj, op);
    }
    if (!strcmp(k, "$options")) { /* read by $regex */
        if (!json_object_get(obj, "$regex"))
            return bad(c, 1, "'$options' at '%s%s needs a '$regex' beside it", path, at);
        return 0;
    }
    if (!strcmp(k, "$exists")) {
        if (!json_is_boolean(v))
            return bad(c, 1, "operator '$exists' at '%s%s needs a boolean operand, not %s", path, at, type_name(v));
        op->kind = OP_EXISTS;
        op->exists = json_is_true(v);
        (*used)++;
        return 0;
    }
    if (!strcmp(k, "$contains")) { /* substring, as Chroma's where_document */
        if (!json_is_string(v))
            return bad(c, 1, "operator '$contains' at '%s%s needs a string operand, not %s", path, at, type_name(v));
        op->kind = OP_CONTAINS;
        val_of(v, &op->v);
        (*used)++;
        return 0;
    }
    if (!strcmp(k, "$not")) {
        const char *plain;
        if (!json_is_object(v) || json_object_size(v) == 0)
            return bad(c, 1, "operator '$not' at '%s%s needs a non-empty object of operators, not %s", path, at,
                       json_is_object(v) ? "an empty object" : type_name(v));
        if (first_plain_key(v, &plain))
            return bad(c, 1, "operator '$not' at '%s%s needs an object of operators, found plain key '%s'", path, at,
                       plain);
        op->kind = OP_NOT;
        (*used)++;
        int rc = nest(c, "$not");
        if (rc)
            return rc;
        rc = compile_ops(c, path, v, 1, &op->sub, &op->nsub);
        c->depth--;
        return rc;
    }
    if (!strcmp(k, "$and") || !strcmp(k, "$or") || !strcmp(k, "$nor"))
        return bad(c, 1, "operator '%s' at the wrong place at '%s%s: it combines filters, write {\"%s\": [{\"%s\": ...}]}",
                   k, path, at, k, path);
    return bad(c, 1, "unknown operator '%s' at '%s%s", k, path, at);
}

/* Compiles an object made only of operators (checked by the caller). */
static int compile_ops(cctx *c, const char *path, const json_t *obj, int in_not, fop **out_ops, size_t *out_n)
{
    size_t cap = json_object_size(obj);
    fop *ops = mnemo__calloc(cap, sizeof *ops);
    if (!ops)
        return mnemo__err_nomem("filter: operators");
    *out_ops = ops;
    *out_n = 0;
    size_t used = 0;
    fop *range = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        int rc = compile_one_op(c, path, k, v, obj, in_not, ops, &used, &range);
        *out_n = used; /* the caller frees the first *out_n, also on failure */
        if (rc)
            return rc;
    }
    return 0;
}

static int compile_field(cctx *c, const char *key, const json_t *v, node *out)
{
    out->kind = N_FIELD;
    int rc = parse_path(c, key, &out->path);
    if (rc)
        return rc;
    if (json_is_object(v) && json_object_size(v) > 0) {
        /* all keys operators: an operator object; none: a literal object for $eq; a mix is
         * almost certainly a mistake (Mongo rejects it too) */
        const char *k, *op_key = NULL, *plain_key = NULL;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (k[0] == '$' && !op_key)
                op_key = k;
            else if (k[0] != '$' && !plain_key)
                plain_key = k;
        }
        if (op_key && plain_key)
            return bad(c, 1, "field object at '%s' mixes operators ('%s') and plain keys ('%s')", key, op_key,
                       plain_key);
        if (op_key)
            return compile_ops(c, key, v, 0, &out->ops, &out->nops);
    }
    /* implicit $eq (also for objects of plain keys: whole-object equality) */
    out->ops = mnemo__calloc(1, sizeof *out->ops);
    if (!out->ops)
        return mnemo__err_nomem("filter: operators");
    out->nops = 1;
    out->ops[0].kind = OP_EQ;
    out->ops[0].operand = v;
    val_of(v, &out->ops[0].v);
    out->ops[0].has_null = json_is_null(v);
    return 0;
}

static int compile_logical_in(cctx *c, const char *k, const json_t *v, node *out);

static int compile_logical(cctx *c, const char *k, const json_t *v, node *out)
{
    int rc = nest(c, k);
    if (rc)
        return rc;
    rc = compile_logical_in(c, k, v, out);
    c->depth--;
    return rc;
}

static int compile_logical_in(cctx *c, const char *k, const json_t *v, node *out)
{
    if (!strcmp(k, "$not")) {
        if (!json_is_object(v))
            return bad(c, 0, "'$not' needs a filter object, not %s", type_name(v));
        out->kind = N_NOT;
        out->kids = mnemo__calloc(1, sizeof *out->kids);
        if (!out->kids)
            return mnemo__err_nomem("filter: $not");
        out->n = 1;
        size_t old = where_push(c, "$not");
        int rc = compile_object(c, v, &out->kids[0]);
        if (rc == 0)
            where_pop(c, old);
        return rc;
    }
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0)
        return bad(c, 0, "'%s' needs a non-empty array of filter objects, not %s", k,
                   json_is_array(v) ? "an empty array" : type_name(v));
    out->kind = k[1] == 'a' ? N_AND : (k[1] == 'o' ? N_OR : N_NOR);
    out->kids = mnemo__calloc(n, sizeof *out->kids);
    if (!out->kids)
        return mnemo__err_nomem("filter: $and/$or/$nor");
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_object(e))
            return bad(c, 0, "'%s' element %zu must be a filter object, not %s", k, i, type_name(e));
        size_t old = where_push(c, "%s[%zu]", k, i);
        int rc = compile_object(c, e, &out->kids[i]);
        if (rc)
            return rc; /* keep the location for the message's sake; compilation stops anyway */
        where_pop(c, old);
    }
    return 0;
}

static int compile_object(cctx *c, const json_t *obj, node *out)
{
    size_t n = json_object_size(obj);
    out->kind = N_AND;
    out->kids = mnemo__calloc(n, sizeof *out->kids);
    if (!out->kids)
        return mnemo__err_nomem("filter: object");
    out->n = n;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        node *kid = &out->kids[i++];
        int rc;
        if (is_logical_op(k))
            rc = compile_logical(c, k, v, kid);
        else if (is_field_op(k))
            rc = mnemo__err(MNEMO_EINVAL,
                            "filter: operator '%s' at the wrong place %s%s: it applies to a field, write "
                            "{\"<path>\": {\"%s\": ...}}",
                            k, c->wlen ? "in " : "at top level", c->where, k);
        else if (k[0] == '$')
            rc = bad(c, 0, "unknown operator '%s'", k);
        else
            rc = compile_field(c, k, v, kid);
        if (rc)
            return rc;
    }
    return 0;
}

/* Gives every metadata path of the top filter its column number (the filter of an $elemMatch
 * reads elements, not records: its paths get none). */
static int number_paths(mnemo_filter *f, node *n)
{
    for (size_t i = 0; i < n->n; i++) {
        int rc = number_paths(f, &n->kids[i]);
        if (rc)
            return rc;
    }
    if (n->kind == N_FIELD && n->path.rf != RF_NONE)
        f->reads_fields = 1;
    if (n->kind != N_FIELD || n->path.rf != RF_NONE)
        return 0;
    for (size_t i = 0; i < f->npaths; i++)
        if (!strcmp(f->paths[i], n->path.name)) {
            n->path.col1 = i + 1;
            return 0;
        }
    const char **p = mnemo__realloc(f->paths, (f->npaths + 1) * sizeof *p);
    if (!p)
        return mnemo__err_nomem("filter: paths");
    f->paths = p;
    f->paths[f->npaths++] = n->path.name;
    n->path.col1 = f->npaths;
    return 0;
}

/* One operator of a field on a metadata path, decided by the path's cell when the cell holds a
 * scalar or is missing. */
typedef struct conj_leaf {
    size_t col; /* the path's number */
    const fop *op;
} conj_leaf;

static int simple_op(const fop *op)
{
    switch (op->kind) {
    case OP_EQ:
    case OP_NE: return is_scalar(op->operand);
    case OP_IN:
    case OP_NIN: return op->all_scalar;
    case OP_RANGE:
    case OP_EXISTS: return 1;
    default: return 0;
    }
}

/* Appends the leaves of n, a conjunction; 0 when n is not one (then f->is_conj is cleared). */
static int add_conj(mnemo_filter *f, const node *n)
{
    if (n->kind == N_AND) {
        for (size_t i = 0; i < n->n && f->is_conj; i++) {
            int rc = add_conj(f, &n->kids[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (n->kind != N_FIELD || !n->path.col1) {
        f->is_conj = 0;
        return 0;
    }
    for (size_t i = 0; i < n->nops && f->is_conj; i++) {
        if (!simple_op(&n->ops[i])) {
            f->is_conj = 0;
            return 0;
        }
        conj_leaf *c = mnemo__realloc(f->conj, (f->nconj + 1) * sizeof *c);
        if (!c)
            return mnemo__err_nomem("filter: leaves");
        f->conj = c;
        f->conj[f->nconj++] = (conj_leaf){n->path.col1 - 1, &n->ops[i]};
    }
    return 0;
}

static int make_conj(mnemo_filter *f)
{
    f->is_conj = 1;
    int rc = add_conj(f, &f->top);
    if (rc || !f->is_conj) {
        mnemo__free(f->conj);
        f->conj = NULL;
        f->nconj = 0;
    }
    return rc;
}

int mnemo_filter__compile(mnemo_filter **out, const char *json_text)
{
    if (!out || !json_text)
        return mnemo__err(MNEMO_EINVAL, "filter: %s is NULL", out ? "the filter text" : "the output pointer");
    json_error_t e;
    /* duplicate keys would silently drop a condition; NUL allowed so strings with NUL can match */
    json_t *doc = json_loads(json_text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!doc) {
        if (json_error_code(&e) == json_error_out_of_memory)
            return mnemo__err_nomem("filter: parsing JSON");
        return mnemo__err(MNEMO_EINVAL, "filter: invalid JSON at line %d, column %d: %s", e.line, e.column, e.text);
    }
    if (!json_is_object(doc)) {
        int rc = mnemo__err(MNEMO_EINVAL, "filter: the filter must be a JSON object, not %s", type_name(doc));
        json_decref(doc);
        return rc;
    }
    mnemo_filter *f = mnemo__calloc(1, sizeof *f);
    if (!f) {
        json_decref(doc);
        return mnemo__err_nomem("filter");
    }
    f->doc = doc;
    cctx c;
    memset(&c, 0, sizeof c);
    c.f = f;
    int rc = compile_object(&c, doc, &f->top);
    if (!rc)
        rc = number_paths(f, &f->top);
    if (!rc)
        rc = make_conj(f);
    if (rc) {
        mnemo_filter__free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void mnemo_filter__free(mnemo_filter *f)
{
    if (!f)
        return;
    node_free(&f->top);
    mnemo__free(f->paths);
    mnemo__free(f->conj);
    json_decref(f->doc);
    pcre2_general_context_free(f->re_mem);
    mnemo__free(f);
}

/* ---- matching ---- */

int mnemo_filter__walk_path(const json_t *obj, const char *const *segs, size_t nsegs,
                            int (*fn)(void *arg, const json_t *v), void *arg)
{
    for (size_t i = 0; i < nsegs; i++) {
        if (json_is_array(obj)) { /* one level of array per segment, as MongoDB walks */
            size_t k;
            const json_t *e;
            json_array_foreach(obj, k, e) {
                int rc = json_is_object(e) ? mnemo_filter__walk_path(e, segs + i, nsegs - i, fn, arg) : 0;
                if (rc)
                    return rc;
            }
            return 0;
        }
        if (!json_is_object(obj) || !(obj = json_object_get(obj, segs[i])))
            return 0;
    }
    return fn(arg, obj);
}

/* 1 and *v set when the record field is present, 0 when missing. */
static int record_field(const fpath *p, const mnemo_filter_fields *f, val *v)
{
    if (!f)
        return 0;
    switch (p->rf) {
    case RF_ID:
    case RF_CONTENT: {
        const char *s = p->rf == RF_ID ? f->id : f->content;
        if (!s)
            return 0;
        v->k = V_STR;
        v->u.s.p = s;
        v->u.s.n = strlen(s);
        return 1;
    }
    case RF_IMPORTANCE: v->k = V_REAL; v->u.d = f->importance; return 1;
    case RF_CREATED_AT: v->k = V_INT; v->u.i = f->created_at; return 1;
    case RF_UPDATED_AT: v->k = V_INT; v->u.i = f->updated_at; return 1;
    default: v->k = V_INT; v->u.i = f->expires_at; return 1;
    }
}

static int in_range(const fop *op, const val *v)
{
    for (int b = 0; b < B_COUNT; b++) {
        if (!op->b[b].j)
            continue;
        int c = cmp_ordered(v, &op->b[b].v);
        if (c == UNORDERED)
            return 0;
        switch (b) {
        case B_GT: if (!(c > 0)) return 0; break;
        case B_GTE: if (!(c >= 0)) return 0; break;
        case B_LT: if (!(c < 0)) return 0; break;
        default: if (!(c <= 0)) return 0; break;
        }
    }
    return 1;
}

/* Bytewise substring test of two strings (the empty string is in every string). */
static int contains(const val *hay, const val *needle)
{
    return needle->u.s.n == 0 || memmem(hay->u.s.p, hay->u.s.n, needle->u.s.p, needle->u.s.n) != NULL;
}

/* A field is every value its path reaches (several when it runs through arrays of objects).
 * Each test below asks whether one value passes; a positive operator holds if some value passes,
 * $ne / $nin / $not are the negations of theirs over all values, so they hold when none does.
 * Tests and evaluations return 1, 0, or a negative MNEMO_E* code ($regex over its limits). */
typedef int (*val_test)(const fop *op, const val *v);

/* Where a field's values come from: a path in the metadata or a record field, or (inside a value
 * $elemMatch) one array element. */
typedef struct src {
    const fpath *p; /* NULL: the single value `one` */
    const json_t *md;
    const mnemo_filter_fields *f;
    const json_t *one;
    const mnemo_filter_cells *cx; /* or NULL: metadata paths are walked in md */
} src;

static int eval_ops(const fop *ops, size_t n, const src *s);
static int eval_node(const node *n, const json_t *md, const mnemo_filter_fields *f, const mnemo_filter_cells *cx);

static int test_eq(const fop *op, const val *v) { return op_eq(v, &op->v); }

static int test_in(const fop *op, const val *v)
{
    for (size_t i = 0; i < op->n; i++)
        if (op_eq(v, &op->vals[i]))
            return 1;
    return 0;
}

/* Calls test on v, or on each element when v is an array; the first nonzero answer. */
static int each_element(val_test test, const fop *op, const val *v)
{
    if (v->k != V_ARR)
        return test(op, v);
    size_t i;
    const json_t *e;
    json_array_foreach(v->u.j, i, e) {
        val ev;
        val_of(e, &ev);
        int r = test(op, &ev);
        if (r)
            return r;
    }
    return 0;
}

static int test_interval(const fop *op, const val *v) { return in_range(op, v); }
static int test_range(const fop *op, const val *v) { return each_element(test_interval, op, v); }

static int test_substring(const fop *op, const val *v) { return v->k == V_STR && contains(v, &op->v); }
/* $contains: a string value containing the operand, or an array with such a string element. */
static int test_contains(const fop *op, const val *v) { return each_element(test_substring, op, v); }

static int test_any(const fop *op, const val *v)
{
    (void)op;
    (void)v;
    return 1;
}

static int test_size(const fop *op, const val *v) { return v->k == V_ARR && json_array_size(v->u.j) == op->size; }

static int test_pattern(const fop *op, const val *v)
{
    if (v->k != V_STR)
        return 0;
    pcre2_match_data *m = pcre2_match_data_create_from_pattern(op->re, NULL); /* the pattern's allocator */
    if (!m)
        return mnemo__err_nomem("filter: $regex");
    int rc = pcre2_match(op->re, (PCRE2_SPTR)v->u.s.p, v->u.s.n, 0, 0, m, op->mctx);
    pcre2_match_data_free(m);
    if (rc >= 0)
        return 1; /* 0: matched, ovector too small for the groups (only the answer is wanted) */
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    char pat[80];
    pattern_text(pat, sizeof pat, op->operand);
    if (rc == PCRE2_ERROR_NOMEMORY)
        return mnemo__err_nomem("filter: $regex");
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
        return mnemo__err(MNEMO_EINVAL,
                          "filter: $regex '%s' exceeded its match limit (%u backtracking steps, depth %u, %u KiB) on "
                          "a value of %zu bytes; simplify the pattern",
                          pat, RE_MATCH_LIMIT, RE_DEPTH_LIMIT, RE_HEAP_LIMIT_KIB, v->u.s.n);
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return mnemo__err(MNEMO_ERROR, "filter: $regex '%s': %s", pat, (const char *)msg);
}

/* $regex: a string value matching, or an array with such a string element. */
static int test_regex(const fop *op, const val *v) { return each_element(test_pattern, op, v); }

/* $elemMatch: some element passes the operators (value form), or is an object matching the
 * filter (filter form). */
static int test_elem_match(const fop *op, const val *v)
{
    if (v->k != V_ARR)
        return 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v->u.j, i, e) {
        src one = {NULL, NULL, NULL, e, NULL};
        int r = op->kind == OP_ELEM_OPS ? eval_ops(op->sub, op->nsub, &one)
                                        : (json_is_object(e) ? eval_node(op->elem, e, NULL, NULL) : 0);
        if (r)
            return r;
    }
    return 0;
}

typedef struct test_ctx {
    val_test test;
    const fop *op;
} test_ctx;

static int test_json(void *arg, const json_t *j)
{
    test_ctx *c = arg;
    val v;
    val_of(j, &v);
    return c->test(c->op, &v);
}

/* 1 when some value of the field passes test (or test's error). */
static int some_value(const src *s, val_test test, const fop *op)
{
    val v;
    if (!s->p) {
        val_of(s->one, &v);
        return test(op, &v);
    }
    if (s->p->rf != RF_NONE)
        return record_field(s->p, s->f, &v) ? test(op, &v) : 0;
    const mnemo_filter_cell *cell = s->cx && s->p->col1 && s->cx->cols[s->p->col1 - 1]
                                        ? &s->cx->cols[s->p->col1 - 1][s->cx->row]
                                        : NULL;
    if (cell && cell->kind != MNEMO_CELL_TREE) /* the one value (or none) the path reaches */
        return cell->kind != MNEMO_CELL_MISSING && val_of_cell(cell, &v) ? test(op, &v) : 0;
    test_ctx c = {test, op};
    return json_is_object(s->md) ? mnemo_filter__walk_path(s->md, s->p->segs, s->p->nsegs, test_json, &c) : 0;
}

/* A field is missing when its path reaches no value (an array element never is). */
static int missing(const src *s) { return !some_value(s, test_any, NULL); }

/* $eq / $in, where a null operand also matches a missing field (Mongo). */
static int holds_eq(const fop *op, const src *s, val_test test)
{
    int r = some_value(s, test, op);
    return r == 0 && op->has_null ? missing(s) : r;
}

static int negate(int r) { return r < 0 ? r : !r; }

static int eval_op(const fop *op, const src *s)
{
    switch (op->kind) {
    case OP_EQ: return holds_eq(op, s, test_eq);
    case OP_NE: return negate(holds_eq(op, s, test_eq));
    case OP_IN: return holds_eq(op, s, test_in);
    case OP_NIN: return negate(holds_eq(op, s, test_in));
    case OP_EXISTS: return (!missing(s)) == op->exists;
    case OP_RANGE: return some_value(s, test_range, op);
    case OP_NOT: return negate(eval_ops(op->sub, op->nsub, s));
    case OP_CONTAINS: return some_value(s, test_contains, op);
    case OP_ALL: return op->nsub ? eval_ops(op->sub, op->nsub, s) : 0;
    case OP_SIZE: return some_value(s, test_size, op);
    case OP_ELEM_OPS:
    case OP_ELEM_FILTER: return some_value(s, test_elem_match, op);
    case OP_REGEX: return some_value(s, test_regex, op);
    default: return 1;
    }
}

static int eval_ops(const fop *ops, size_t n, const src *s)
{
    for (size_t i = 0; i < n; i++) {
        int r = eval_op(&ops[i], s);
        if (r <= 0)
            return r;
    }
    return 1;
}

/* 1 when some kid matches, 0 when none does, or the first error. */
static int any_kid(const node *n, const json_t *md, const mnemo_filter_fields *f, const mnemo_filter_cells *cx)
{
    for (size_t i = 0; i < n->n; i++) {
        int r = eval_node(&n->kids[i], md, f, cx);
        if (r)
            return r;
    }
    return 0;
}

static int eval_node(const node *n, const json_t *md, const mnemo_filter_fields *f, const mnemo_filter_cells *cx)
{
    switch (n->kind) {
    case N_AND:
        for (size_t i = 0; i < n->n; i++) {
            int r = eval_node(&n->kids[i], md, f, cx);
            if (r <= 0)
                return r;
        }
        return 1;
    case N_OR: return any_kid(n, md, f, cx);
    case N_NOR: return negate(any_kid(n, md, f, cx));
    case N_NOT: return negate(eval_node(&n->kids[0], md, f, cx));
    default: {
        src s = {&n->path, md, f, NULL, cx};
        return eval_ops(n->ops, n->nops, &s);
    }
    }
}

int mnemo_filter__match(const mnemo_filter *f, const json_t *metadata, const mnemo_filter_fields *fields)
{
    return eval_node(&f->top, metadata, fields, NULL);
}

int mnemo_filter__match_cells(const mnemo_filter *f, const json_t *metadata, const mnemo_filter_fields *fields,
                              const mnemo_filter_cells *cells)
{
    return eval_node(&f->top, metadata, fields, cells);
}

/* One leaf on a cell holding a scalar (has) or missing: the answer eval_op gives on that one value
 * (holds_eq, negate, some_value), without its chain of calls. */
static int cell_leaf(const fop *op, const mnemo_filter_cell *c)
{
    val v;
    int has = val_of_cell(c, &v);
    switch (op->kind) {
    case OP_EQ: return has ? eq_val(&v, &op->v) : op->has_null;
    case OP_NE: return !(has ? eq_val(&v, &op->v) : op->has_null);
    case OP_IN:
    case OP_NIN: {
        int in = !has && op->has_null;
        for (size_t i = 0; i < op->n && has && !in; i++)
            in = eq_val(&v, &op->vals[i]);
        return op->kind == OP_IN ? in : !in;
    }
    case OP_RANGE: return has && in_range(op, &v);
    default: return has == op->exists; /* OP_EXISTS */
    }
}

int mnemo_filter__decide_cells(const mnemo_filter *f, const mnemo_filter_cells *cells)
{
    if (!f->is_conj)
        return -1;
    int unsure = 0;
    for (size_t i = 0; i < f->nconj; i++) {
        const mnemo_filter_cell *col = cells->cols[f->conj[i].col];
        const mnemo_filter_cell *c = col ? &col[cells->row] : NULL;
        if (!c || c->kind == MNEMO_CELL_TREE)
            unsure = 1;
        else if (!cell_leaf(f->conj[i].op, c))
            return 0;
    }
    return unsure ? -1 : 1;
}

size_t mnemo_filter__paths(const mnemo_filter *f, const char *const **names, int *reads_fields)
{
    *names = f->paths;
    *reads_fields = f->reads_fields;
    return f->npaths;
}

typedef struct cell_walk {
    const json_t *v;
    int n;
} cell_walk;

static int count_value(void *arg, const json_t *v)
{
    cell_walk *w = arg;
    w->v = v;
    return ++w->n > 1; /* a second value: stop */
}

void mnemo_filter__cell_of(mnemo_filter_cell *c, const json_t *md, const char *const *segs, size_t nsegs)
{
    cell_walk w = {NULL, 0};
    if (json_is_object(md))
        mnemo_filter__walk_path(md, segs, nsegs, count_value, &w);
    memset(c, 0, sizeof *c);
    if (w.n == 0) {
        c->kind = MNEMO_CELL_MISSING;
        return;
    }
    if (w.n > 1) {
        c->kind = MNEMO_CELL_TREE;
        return;
    }
    switch (json_typeof(w.v)) {
    case JSON_STRING:
        if (json_string_length(w.v) > UINT32_MAX) {
            c->kind = MNEMO_CELL_TREE;
            break;
        }
        c->kind = MNEMO_CELL_STR;
        c->u.s = json_string_value(w.v);
        c->len = (uint32_t)json_string_length(w.v);
        break;
    case JSON_INTEGER: c->kind = MNEMO_CELL_INT; c->u.i = json_integer_value(w.v); break;
    case JSON_REAL: c->kind = MNEMO_CELL_REAL; c->u.d = json_real_value(w.v); break;
    case JSON_TRUE: c->kind = MNEMO_CELL_TRUE; break;
    case JSON_FALSE: c->kind = MNEMO_CELL_FALSE; break;
    case JSON_NULL: c->kind = MNEMO_CELL_NULL; break;
    default: c->kind = MNEMO_CELL_TREE; break; /* an object or an array */
    }
}

/* ---- index planning ---- */

static void emit(const mnemo_filter_pred *p, mnemo_filter_pred *out, size_t cap, size_t *count)
{
    if (*count < cap)
        out[*count] = *p;
    (*count)++;
}

/* The tighter of two bounds on one side; sign = 1 for lower bounds, -1 for upper. */
static int pick_strict(const fop *op, int strict, int incl, int sign)
{
    if (!op->b[incl].j)
        return strict;
    if (!op->b[strict].j)
        return incl;
    int c = cmp_ordered(&op->b[incl].v, &op->b[strict].v);
    if (c == UNORDERED)
        return strict;
    return c * sign > 0 ? incl : strict; /* on a tie the strict bound is tighter */
}

static void collect_op(const node *n, const fop *op, mnemo_filter_pred *out, size_t cap, size_t *count);

static void collect(const node *n, mnemo_filter_pred *out, size_t cap, size_t *count)
{
    if (n->kind == N_AND) {
        for (size_t i = 0; i < n->n; i++)
            collect(&n->kids[i], out, cap, count);
        return;
    }
    if (n->kind != N_FIELD)
        return; /* nothing under $or / $not is a necessary condition */
    for (size_t i = 0; i < n->nops; i++)
        collect_op(n, &n->ops[i], out, cap, count);
}

/* A null operand also matches records without the field, which no index holds: such $eq / $in
 * give no predicate. $all gives one EQ per scalar element (each is necessary). */
static void collect_op(const node *n, const fop *op, mnemo_filter_pred *out, size_t cap, size_t *count)
{
    if (op->kind == OP_ALL) {
        for (size_t i = 0; i < op->nsub; i++)
            collect_op(n, &op->sub[i], out, cap, count);
        return;
    }
    {
        mnemo_filter_pred p;
        memset(&p, 0, sizeof p);
        p.path = n->path.name;
        p.is_record_field = n->path.rf != RF_NONE;
        if (op->kind == OP_EQ && is_scalar(op->operand) && !op->has_null) {
            p.kind = MNEMO_PRED_EQ;
            p.values = &op->operand;
            p.n_values = 1;
        } else if (op->kind == OP_IN && op->all_scalar && !op->has_null) {
            p.kind = MNEMO_PRED_IN;
            p.values = op->jvals;
            p.n_values = op->n;
        } else if (op->kind == OP_RANGE) {
            p.kind = MNEMO_PRED_RANGE;
            int lo = pick_strict(op, B_GT, B_GTE, 1), hi = pick_strict(op, B_LT, B_LTE, -1);
            p.lower = op->b[lo].j;
            p.lower_inclusive = p.lower && lo == B_GTE;
            p.upper = op->b[hi].j;
            p.upper_inclusive = p.upper && hi == B_LTE;
        } else {
            return;
        }
        emit(&p, out, cap, count);
    }
}

size_t mnemo_filter__index_preds(const mnemo_filter *f, mnemo_filter_pred *out, size_t cap)
{
    size_t count = 0;
    collect(&f->top, out, cap, &count);
    return count;
}

/* ---- order-preserving encoding ---- */

enum { TAG_NULL = 0x10, TAG_FALSE = 0x20, TAG_TRUE = 0x21, TAG_NUMBER = 0x30, TAG_STRING = 0x40 };

size_t mnemo_filter__encode_number(double d, unsigned char *out, size_t cap)
{
    if (cap < 9)
        return 9;
    uint64_t bits;
    if (d == 0)
        d = 0.0; /* -0.0 == 0.0 for the filter, so it must encode the same */
    if (isnan(d))
        bits = UINT64_C(0x7ff8000000000000); /* one canonical NaN, above +inf */
    else
        memcpy(&bits, &d, sizeof bits);
    /* negatives: flip all bits (larger magnitude sorts first); positives: set the sign bit */
    bits = (bits & UINT64_C(0x8000000000000000)) ? ~bits : bits | UINT64_C(0x8000000000000000);
    out[0] = TAG_NUMBER;
    mnemo__put_be64(out + 1, bits);
    return 9;
}

size_t mnemo_filter__encode_scalar(const json_t *v, unsigned char *out, size_t cap)
{
    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
    case JSON_TRUE:
        if (cap >= 1)
            out[0] = json_is_null(v) ? TAG_NULL : (json_is_true(v) ? TAG_TRUE : TAG_FALSE);
        return 1;
    case JSON_INTEGER: return mnemo_filter__encode_number((double)json_integer_value(v), out, cap);
    case JSON_REAL: return mnemo_filter__encode_number(json_real_value(v), out, cap);
    case JSON_STRING: {
        const unsigned char *s = (const unsigned char *)json_string_value(v);
        size_t n = json_string_length(v), len = 1 + n + 2;
        for (size_t i = 0; i < n; i++)
            len += s[i] == 0;
        if (len > cap)
            return len;
        size_t k = 0;
        out[k++] = TAG_STRING;
        for (size_t i = 0; i < n; i++) {
            out[k++] = s[i];
            if (s[i] == 0)
                out[k++] = 0xFF; /* escaped NUL sorts above the terminator 0x00 0x01 */
        }
        out[k++] = 0x00;
        out[k++] = 0x01;
        return k;
    }
    default: return 0;
    }
}
