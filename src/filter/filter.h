/* Metadata filters: the Chroma / MongoDB-style query language used to find memory records.
 * A filter is compiled once into an operator tree (paths pre-split) and then evaluated against
 * many records without parsing or allocating.
 *
 * Language (the filter is JSON text whose top level is an object):
 *   {"topic": "rust"}                          implicit $eq; several keys in one object = implicit $and
 *   {"importance": {"$gte": 0.5, "$lt": 0.9}}   several operators in one field object: all must hold
 *   field operators   $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $all $size $elemMatch
 *                     $regex (+ $options), and $not: {"x": {"$not": {"$gt": 3}}}
 *   logical operators {"$and": [f, ...]}, {"$or": [f, ...]}, {"$nor": [f, ...]} (non-empty arrays of
 *                     filter objects), {"$not": f}; allowed at the top level and inside any filter object
 *   {} matches every record.
 *
 * Paths: dotted paths into nested metadata objects ("author.name"). The bare names id, content,
 * importance, created_at, updated_at, expires_at address the record fields; "metadata.<path>"
 * always addresses metadata; every other path (including "importance.x" and a bare "metadata")
 * is a metadata path. As in MongoDB, a path runs through arrays of objects: at an array in the
 * middle of a path it goes on in every element that is an object (one level of array per segment;
 * scalars and nested arrays there lead nowhere), so {"x.y": 1} matches {"x": [{"y": 1}, {"y": 2}]}
 * and the field has several values; a scalar in the middle makes the field missing. A segment such
 * as "0" is an object key, not an array index.
 * Paths must be non-empty, have no empty segment ("a..b", ".a", "a.") and contain no NUL byte.
 * A field whose value is an object made only of plain keys ({"author": {"name": "x"}}) is an
 * implicit $eq on the whole object, not a path; {"x": {}} is $eq with the empty object. A field
 * object may not mix operators and plain keys.
 *
 * Semantics (Mongo-like):
 *   - A field with several values (a path through arrays): $eq, $in, ranges and $exists hold if
 *     they hold for some value; $ne, $nin and $not are their negations (true when no value passes).
 *   - Missing field (the path reaches no value): $eq, $in, ranges, $exists:true and every other
 *     positive operator are false; $ne, $nin, $exists:false are true -- except that, as in Mongo, a
 *     null operand also matches a missing field: {"x": null} and {"x": {"$eq": null}} match an
 *     explicit null, an array holding null, or no x at all; so do $in with a null element and
 *     $all: [null]; {"x": {"$ne": null}} and $nin with null are the converse (x exists and is not
 *     null). Record fields are missing when the fields argument is NULL (id/content also when their
 *     pointer is NULL). expires_at is the number 0 for "never", not missing.
 *   - Numbers compare numerically whatever their JSON integer/real type (1 == 1.0), exactly: a
 *     large integer is not rounded to a double for the comparison. Strings compare bytewise
 *     (memcmp, then length; embedded NUL allowed). No other ordering exists: a number never
 *     equals a string or a bool, true is not 1.
 *   - $gt $gte $lt $lte match only values of the operand's kind (number vs number, string vs
 *     string); an operand of any other kind is an invalid filter. The range operators of one
 *     field object form one interval, and a value (or, for an array, one element) must lie in
 *     the whole interval: {"x": {"$gt": 1, "$lt": 3}} does not match [0, 5]. Separate field
 *     objects ({"$and": [{"x": {"$gt": 1}}, {"x": {"$lt": 3}}]}) are independent conditions.
 *   - $eq with an object or array operand compares JSON equality (json_equal: inside containers
 *     1 and 1.0 differ, as jansson defines it).
 *   - Arrays in metadata: $eq with a scalar or object operand, $in and the ranges match if ANY
 *     element matches (elements are not descended into further); $eq with an array operand
 *     compares the whole array. $ne / $nin are exactly the negation of $eq / $in, so
 *     {"tags": {"$ne": "x"}} is true when no element is "x".
 *   - $in / $nin take an array, possibly empty ($in: [] matches nothing); $in is true if $eq
 *     holds for any element of the operand array (so an array element compares whole arrays).
 *   - $exists takes a boolean; an explicit null exists.
 *   - $contains takes a string and matches a string value (or, for an array, a string element)
 *     that contains it bytewise, case-sensitive: {"content": {"$contains": "wing"}} is Chroma's
 *     where_document $contains. Any other value, or a missing field, does not match.
 *   - $not (field form) takes a non-empty operator object and negates all of it; a missing field
 *     therefore matches {"$not": {"$gt": 3}}.
 *   - $all takes an array of values (no operator objects) and is the $and of one $eq per element;
 *     $all: [] matches nothing.
 *   - $size takes a non-negative integer (2.0 is accepted) and matches an array value of exactly
 *     that many elements; anything else (a scalar, an object, a missing field) does not match.
 *   - $elemMatch takes a non-empty object and matches an array value with one element passing all
 *     of it. An object of operators only (none of $and/$or/$nor) applies them to the element as to
 *     a field value ({"$gte": 80, "$lt": 85}); any other object is a filter matched against each
 *     element that is an object ({"product": "x", "score": {"$gt": 8}}), where every path is a key
 *     path inside the element (id, content, "metadata." are plain keys there).
 *   - $nor is true when no filter of its array matches.
 *   - $regex takes a PCRE2 pattern (UTF-8, compiled once with the filter) and matches a string
 *     value, or an array with a string element, in which it finds a match; $options beside it is
 *     a string of the letters i (caseless), m (multiline), s (dot matches newline), x (extended).
 *     Matching runs under limits (1,000,000 backtracking steps, depth 100,000, 64 MiB of frames;
 *     RE_* in filter.c): a value that needs more makes mnemo_filter__match return MNEMO_EINVAL
 *     naming the pattern and the limits, never a silent non-match. An invalid pattern is an
 *     invalid filter whose message gives PCRE2's reason and offset.
 *   - Duplicate keys in one JSON object are rejected (they would silently drop a condition).
 *   - NaN (possible only in the importance record field) equals nothing and is in no range.
 *
 * Invalid filters (malformed JSON, non-object filter, unknown operator, operator at the wrong
 * place, wrong operand type, bad path) return MNEMO_EINVAL with a message naming the operator or
 * path and where it is, e.g. "filter: unknown operator '$foo' at 'importance'",
 * "filter: operator '$gt' at 'x' needs a number or string operand, not a boolean (in $or[1].$not)"
 * or, for bad JSON, "filter: invalid JSON at line 3, column 7: <jansson's text>".
 *
 * Thread safety: a compiled filter is immutable; match and index_preds may run concurrently. */
#ifndef MNEMO_FILTER_H
#define MNEMO_FILTER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mnemo_filter mnemo_filter;

/* Deepest nesting of $and, $or, $nor, $not and $elemMatch a filter may have (MongoDB's limit too):
 * compiling and matching recurse once per level, and jansson alone would allow 2048 levels. */
#define MNEMO_FILTER_MAX_NESTING 100

typedef struct mnemo_filter_fields {
    const char *id;      /* NULL = missing */
    const char *content; /* NULL = missing */
    double importance;
    int64_t created_at, updated_at, expires_at; /* ms since epoch; expires_at 0 = never */
} mnemo_filter_fields;

/* Returns 0, MNEMO_EINVAL (see above; also out or json_text NULL) or MNEMO_ENOMEM.
 * *out is untouched on failure. */
int mnemo_filter__compile(mnemo_filter **out, const char *json_text);
void mnemo_filter__free(mnemo_filter *f); /* accepts NULL */
/* 1 match, 0 no match, or a negative code only for a filter with $regex: MNEMO_EINVAL (a value
 * needed more than the match limits) or MNEMO_ENOMEM (PCRE2's match data). metadata may be NULL or
 * a non-object (both treated as {}). fields may be NULL (record fields then count as missing).
 * Allocates only for $regex. */
int mnemo_filter__match(const mnemo_filter *f, const json_t *metadata, const mnemo_filter_fields *fields);

/* Columns: a caller testing one filter on many records it keeps in memory (the vector room's
 * filter mirror) may hold, per metadata path, a cell per record with the one scalar the path
 * reaches (or none), so that matching reads the cell instead of walking the metadata tree.
 * A cell answers exactly as the walk would; TREE (several values, an array or an object) sends
 * that record's path to the walk. A STR cell points into the metadata it was made from. */
enum {
    MNEMO_CELL_TREE = 0,
    MNEMO_CELL_MISSING,
    MNEMO_CELL_NULL,
    MNEMO_CELL_FALSE,
    MNEMO_CELL_TRUE,
    MNEMO_CELL_INT,
    MNEMO_CELL_REAL,
    MNEMO_CELL_STR
};
typedef struct mnemo_filter_cell {
    uint8_t kind;
    uint32_t len; /* STR: bytes */
    union {
        long long i;
        double d;
        const char *s;
    } u;
} mnemo_filter_cell;

/* The cells of one record: cols[i] is the column of the filter's path i (see paths), NULL when
 * the caller has none (that path is walked), and the record is row `row` of every column. */
typedef struct mnemo_filter_cells {
    const mnemo_filter_cell *const *cols;
    size_t row;
} mnemo_filter_cells;

/* The distinct metadata paths the filter reads from a record (not those inside $elemMatch, which
 * read array elements), as mnemo_filter_pred paths are spelled: n of them in *names, living as
 * long as f; *reads_fields 1 when it also reads a record field (id, importance, ...). When every
 * path has a cell other than TREE and no field is read, match_cells needs neither metadata nor
 * fields (both may be NULL). */
size_t mnemo_filter__paths(const mnemo_filter *f, const char *const **names, int *reads_fields);
/* The cell of the path segs[0..nsegs) in the metadata md. Never allocates. */
void mnemo_filter__cell_of(mnemo_filter_cell *c, const json_t *md, const char *const *segs, size_t nsegs);
/* mnemo_filter__match with the metadata paths read from cells where the caller has them; the
 * same answer as mnemo_filter__match when the cells were made from metadata. */
int mnemo_filter__match_cells(const mnemo_filter *f, const json_t *metadata, const mnemo_filter_fields *fields,
                              const mnemo_filter_cells *cells);

/* The answer from cells alone, without the operator tree's calls: 1 or 0 when f is a conjunction
 * (implicit or $and, nested) of metadata fields with $eq/$ne/$in/$nin of scalars, ranges and
 * $exists, and the cells decide it (every cell of a leaf holds a scalar or is missing, or one
 * leaf fails on its cell); -1 otherwise (then match_cells answers). */
int mnemo_filter__decide_cells(const mnemo_filter *f, const mnemo_filter_cells *cells);

/* Calls fn(arg, v) for every value the path segs[0..nsegs) reaches in obj (see Paths above),
 * stopping at and returning fn's first nonzero result; 0 when none. Never allocates. */
int mnemo_filter__walk_path(const json_t *obj, const char *const *segs, size_t nsegs,
                            int (*fn)(void *arg, const json_t *v), void *arg);

/* Index planning: predicates an index can answer. Only plain comparisons that are top-level
 * conjuncts qualify (directly in the top object, or in a top-level $and, flattening nested
 * $and recursively); nothing under $or or $not does:
 *   $eq with a scalar operand other than null           -> EQ (n_values 1)
 *   $in whose operand elements are all scalars, no null  -> IN (n_values may be 0: matches nothing)
 *   $all: each scalar element other than null            -> one EQ each
 * (a null operand also matches records without the field, which an index does not hold)
 *   $gt/$gte/$lt/$lte of one field object                -> one RANGE with both bounds
 * Every returned predicate is a necessary condition of the filter, so candidates from any one of
 * them are a superset of the matches; the caller still runs mnemo_filter__match on each.
 * Notes for the planner:
 *   - An EQ/IN value matches an array field when any element equals it (index every element),
 *     and a field with several values when any of them does (index every value the path reaches).
 *   - A RANGE only matches values of its bounds' kind: a one-sided numeric range must stop at
 *     the end of the numbers in the index, not run into the strings.
 *   - If a field object gives two bounds on one side ($gt and $gte), the tighter one is
 *     returned (either one if they are of different kinds: then nothing matches anyway).
 *   - Numbers are encoded as doubles, so distinct integers beyond 2^53 can share an encoding:
 *     scan bounds inclusively (on the encoded key) and let match decide.
 * Values point into the filter and live as long as it. Returns the total count (may exceed
 * cap; only the first cap are written). */
typedef enum { MNEMO_PRED_EQ = 1, MNEMO_PRED_IN, MNEMO_PRED_RANGE } mnemo_pred_kind;
typedef struct mnemo_filter_pred {
    mnemo_pred_kind kind;
    const char *path;    /* metadata path without any "metadata." prefix, or the record field name */
    int is_record_field; /* 1 when path is one of id/content/importance/created_at/updated_at/expires_at */
    const json_t *const *values; /* EQ: 1 value; IN: n values */
    size_t n_values;
    const json_t *lower, *upper; /* RANGE; NULL = unbounded */
    int lower_inclusive, upper_inclusive;
} mnemo_filter_pred;
size_t mnemo_filter__index_preds(const mnemo_filter *f, mnemo_filter_pred *out, size_t cap);

/* Order-preserving binary encoding of a JSON scalar, for index keys: the memcmp order of two
 * encodings (shorter first on a common prefix) is the filter's comparison order within a kind,
 * and kinds are ordered null < false < true < numbers < strings.
 *   null 0x10 | false 0x20 | true 0x21                                          (1 byte)
 *   number 0x30 + 8 bytes: the IEEE-754 double, big-endian, sign bit flipped for positives and
 *          all bits flipped for negatives; -0.0 encodes as 0.0, integers are converted to
 *          double (beyond 2^53 the order is non-decreasing rather than strict), NaN encodes
 *          above +inf                                                           (9 bytes)
 *   string 0x40 + bytes with 0x00 escaped as 0x00 0xFF + terminator 0x00 0x01, so no encoded
 *          string is a prefix of another and a suffix (e.g. the record id) can be appended.
 * Returns the encoded length; if it is > cap nothing was written (call again with a bigger
 * buffer; out may be NULL when cap is 0). Objects, arrays and NULL: returns 0 (not indexable). */
size_t mnemo_filter__encode_scalar(const json_t *v, unsigned char *out, size_t cap);
/* The same encoding for one double (so record fields such as importance and created_at sort
 * with metadata numbers). Always 9 bytes. */
size_t mnemo_filter__encode_number(double d, unsigned char *out, size_t cap);

#endif
