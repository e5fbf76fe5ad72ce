/* Full-text benchmark: mnemo's BM25 search against SQLite FTS5 (its bm25() ranking) on the same
 * documents in the same run. One JSON line per result.
 *
 *   bench_text [--quick] [--reps R] [--data DIR] [--docs N]
 *
 * Sets: "cranfield" (the 1,400 Cranfield abstracts of data/cranfield) and "cranfield_recombined"
 * (N documents, default 100,000 like the agent-memory workload of the other benchmarks, each 3..8
 * sentences drawn at random from Cranfield's abstracts: real sentences, recombined). Both engines index without stemming or stop
 * words (FTS5's unicode61 tokenizer folds case and removes diacritics, as mnemo does), with
 * positions (FTS5 detail=full), FTS5 contentless (index only, as mnemo's text_index).
 *
 * Figures: index build documents/s (mnemo: mnemo_text_enable over the stored records; FTS5: one
 * transaction of inserts), top-10 queries/s for 1-, 2- and 5-term queries (the first words of the
 * 225 Cranfield queries, Snowball stop words left out), index size on disk (SST files of the
 * text_index keyspace, after compaction; FTS5: the database file after 'optimize' and VACUUM),
 * and record ingestion with full text enabled against without (mnemo_record_put, 1,000 per
 * transaction; by wall clock, the goal's figure, and by the process's CPU time). */
#include <ftw.h>
#include <jansson.h>
#include <mnemo/mnemo.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_util.h"

#ifndef BENCH_TEXT_DATA
#define BENCH_TEXT_DATA "data"
#endif

static int reps = 3;

typedef struct corpus {
    const char *name;
    char **doc;
    size_t n;
} corpus;

#define CHECK(call)                                                                                         \
    do {                                                                                                    \
        int rc_ = (call);                                                                                   \
        if (rc_)                                                                                            \
            bu_die("%s: %s: %s", #call, mnemo_strerror(rc_), mnemo_errmsg());                               \
    } while (0)

static char **read_texts(const char *dir, const char *file, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/cranfield/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        bu_die("cannot open %s", path);
    char **out = NULL, *line = NULL;
    size_t cap = 0, lc = 0;
    *n = 0;
    while (getline(&line, &lc, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        const char *t = j ? json_string_value(json_object_get(j, "text")) : NULL;
        if (!t)
            bu_die("%s: line %zu has no text", path, *n + 1);
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            out = realloc(out, cap * sizeof *out);
        }
        out[(*n)++] = strdup(t);
        json_decref(j);
    }
    free(line);
    fclose(f);
    return out;
}

/* Sentences of the abstracts (Cranfield separates them with " . "). */
static corpus recombine(const corpus *src, size_t n_docs)
{
    char **sent = NULL;
    size_t ns = 0, cap = 0;
    for (size_t d = 0; d < src->n; d++) {
        char *copy = strdup(src->doc[d]), *save = NULL;
        for (char *s = strtok_r(copy, ".", &save); s; s = strtok_r(NULL, ".", &save)) {
            if (strlen(s) < 8)
                continue;
            if (ns == cap) {
                cap = cap ? 2 * cap : 1024;
                sent = realloc(sent, cap * sizeof *sent);
            }
            sent[ns++] = strdup(s);
        }
        free(copy);
    }
    corpus c = {"cranfield_recombined", malloc(n_docs * sizeof(char *)), n_docs};
    bu_seed(42);
    for (size_t i = 0; i < n_docs; i++) {
        size_t k = 3 + bu_rand() % 6, len = 0;
        char *doc = NULL;
        for (size_t j = 0; j < k; j++) {
            const char *s = sent[bu_rand() % ns];
            size_t l = strlen(s);
            doc = realloc(doc, len + l + 3);
            memcpy(doc + len, s, l);
            len += l;
            memcpy(doc + len, " .", 3);
            len += 2;
        }
        c.doc[i] = doc;
    }
    for (size_t i = 0; i < ns; i++)
        free(sent[i]);
    free(sent);
    return c;
}

/* ---- queries: the first `terms` words of each Cranfield query, stop words left out ---- */

static int stopword(const char *w)
{
    static const char *const list[] = {"a", "about", "above", "after", "again", "against", "all", "am", "an", "and",
        "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
        "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
        "further", "had", "has", "have", "having", "he", "her", "here", "how", "i", "if", "in", "into", "is", "it",
        "its", "itself", "me", "more", "most", "my", "no", "nor", "not", "of", "off", "on", "once", "only", "or",
        "other", "ought", "our", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
        "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
        "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
        "whom", "why", "with", "would", "you", "your"};
    for (size_t i = 0; i < sizeof list / sizeof *list; i++)
        if (!strcmp(w, list[i]))
            return 1;
    return 0;
}

static char **make_queries(char **texts, size_t n, int terms)
{
    char **q = calloc(n, sizeof *q);
    for (size_t i = 0; i < n; i++) {
        char buf[512] = "", word[64];
        int got = 0;
        size_t wl = 0;
        for (const char *p = texts[i]; got < terms; p++) {
            int alnum = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
            if (alnum && wl < sizeof word - 1) {
                word[wl++] = *p;
            } else if (wl) {
                word[wl] = 0;
                wl = 0;
                if (!stopword(word) && strlen(word) > 1) {
                    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", got ? " " : "", word);
                    got++;
                }
            }
            if (!*p)
                break;
        }
        q[i] = strdup(buf);
    }
    return q;
}

/* FTS5 syntax for the same OR of words. */
static char *fts_query(const char *q)
{
    char *out = malloc(strlen(q) * 2 + 16);
    out[0] = 0;
    const char *p = q;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        snprintf(out + strlen(out), l + 8, "%s\"%.*s\"", out[0] ? " OR " : "", (int)l, p);
        p += l + (sp ? 1 : 0);
    }
    return out;
}

/* ---- sizes ---- */

static uint64_t sst_total;
static int add_sst(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    size_t l = strlen(path);
    if (flag == FTW_F && l > 4 && !strcmp(path + l - 4, ".sst"))
        sst_total += (uint64_t)sb->st_size;
    return 0;
}

static uint64_t sst_bytes(const char *dir)
{
    sst_total = 0;
    nftw(dir, add_sst, 16, FTW_PHYS);
    return sst_total;
}

/* ---- mnemo ---- */

static mnemo_db *mnemo_new(const char *dir)
{
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.create_if_missing = 1;
    mnemo_db *db;
    CHECK(mnemo_open(&db, dir, &o));
    return db;
}

/* CPU seconds of the process, every thread (RocksDB's background flushes too): on a machine
 * shared with other jobs a steadier figure than the wall clock. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Puts every document (ids d0, d1, ...), 1,000 per transaction; returns documents/s of wall
 * time, *cpu_docs_s documents/s of CPU time. */
static double mnemo_ingest(mnemo_db *db, const corpus *c, double *cpu_docs_s)
{
    double t0 = bu_now_s(), c0 = cpu_s();
    mnemo_txn *txn = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (!txn)
            CHECK(mnemo_txn_begin(&txn, db, 0));
        char id[24];
        snprintf(id, sizeof id, "d%zu", i);
        mnemo_record r = {.id = id, .content = c->doc[i]};
        CHECK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
        if (i % 1000 == 999 || i + 1 == c->n) {
            CHECK(mnemo_txn_commit(txn));
            mnemo_txn_free(txn);
            txn = NULL;
        }
    }
    double wall = bu_now_s() - t0;
    *cpu_docs_s = (double)c->n / (cpu_s() - c0);
    return (double)c->n / wall;
}

static double mnemo_queries(mnemo_db *db, char **q, size_t nq, size_t *hits)
{
    double t0 = bu_now_s();
    *hits = 0;
    for (size_t i = 0; i < nq; i++) {
        mnemo_text_hits *h;
        CHECK(mnemo_text_search(&h, db, NULL, q[i], 10, NULL));
        *hits += h->count;
        mnemo_text_hits_free(h);
    }
    return (double)nq / (bu_now_s() - t0);
}

/* ---- SQLite FTS5 ---- */

static void sq_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        bu_die("sqlite: %s: %s", sql, err ? err : "?");
}

static sqlite3 *fts_build(const char *path, const corpus *c, double *docs_s)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        bu_die("sqlite3_open %s", path);
    sq_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;"
                "CREATE VIRTUAL TABLE t USING fts5(body, content='', tokenize='unicode61 remove_diacritics 2');");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(rowid, body) VALUES (?, ?)", -1, &st, NULL) != SQLITE_OK)
        bu_die("sqlite prepare: %s", sqlite3_errmsg(db));
    double t0 = bu_now_s();
    sq_exec(db, "BEGIN");
    for (size_t i = 0; i < c->n; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 2, c->doc[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            bu_die("sqlite insert: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sq_exec(db, "COMMIT");
    *docs_s = (double)c->n / (bu_now_s() - t0);
    sqlite3_finalize(st);
    return db;
}

static double fts_queries(sqlite3 *db, char **q, size_t nq, size_t *hits)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT 10", -1, &st, NULL) !=
        SQLITE_OK)
        bu_die("sqlite prepare: %s", sqlite3_errmsg(db));
    char **fq = malloc(nq * sizeof *fq);
    for (size_t i = 0; i < nq; i++)
        fq[i] = fts_query(q[i]);
    *hits = 0;
    double t0 = bu_now_s();
    for (size_t i = 0; i < nq; i++) {
        sqlite3_bind_text(st, 1, fq[i], -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            (*hits)++;
        if (rc != SQLITE_DONE)
            bu_die("sqlite query '%s': %s", fq[i], sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    double qs = (double)nq / (bu_now_s() - t0);
    for (size_t i = 0; i < nq; i++)
        free(fq[i]);
    free(fq);
    sqlite3_finalize(st);
    return qs;
}

static uint64_t fts_size(sqlite3 *db)
{
    sq_exec(db, "INSERT INTO t(t) VALUES('optimize'); VACUUM;");
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", -1, &st, NULL);
    uint64_t bytes = sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return bytes;
}

/* ---- output ---- */

static void emit(const corpus *c, const char *op, const char *unit, size_t count, double mnemo, double base,
                 const char *goal, int meets, const char *extra)
{
    printf("{\"bench\":\"text\",\"set\":\"%s\",\"docs\":%zu,\"op\":\"%s\",\"unit\":\"%s\",\"count\":%zu,\"reps\":%d,"
           "\"mnemo\":%.1f,\"baseline\":\"sqlite_fts5_bm25\",\"baseline_value\":%.1f,\"ratio\":%.4f",
           c->name, c->n, op, unit, count, reps, mnemo, base, base > 0 ? mnemo / base : 0.0);
    if (goal)
        printf(",\"goal\":\"%s\",\"meets_goal\":%s", goal, meets ? "true" : "false");
    else
        printf(",\"goal\":null,\"meets_goal\":null");
    if (extra)
        fputs(extra, stdout);
    printf("}\n");
    fflush(stdout);
}

static void run_set(const corpus *c, char **qtext, size_t nq)
{
    double ing_plain[16], ing_text[16], cpu_plain[16], cpu_text[16], build_m[16], build_f[16], q_m[3][16], q_f[3][16];
    uint64_t size_m = 0, size_f = 0;
    static const int terms[3] = {1, 2, 5};
    char **q[3];
    for (int t = 0; t < 3; t++)
        q[t] = make_queries(qtext, nq, terms[t]);
    size_t hits_m[3] = {0}, hits_f[3] = {0};
    for (int r = 0; r < reps; r++) {
        char dir[600];
        /* records without full text, then the index built over them */
        bu_run_dir(dir, sizeof dir, "plain");
        mnemo_db *db = mnemo_new(dir);
        ing_plain[r] = mnemo_ingest(db, c, &cpu_plain[r]);
        CHECK(mnemo_flush(db));
        CHECK(mnemo_compact(db));
        uint64_t before = sst_bytes(dir);
        double t0 = bu_now_s();
        CHECK(mnemo_text_enable(db, NULL));
        build_m[r] = (double)c->n / (bu_now_s() - t0);
        CHECK(mnemo_flush(db));
        CHECK(mnemo_compact(db));
        size_m = sst_bytes(dir) - before;
        for (int t = 0; t < 3; t++) {
            mnemo_queries(db, q[t], nq, &hits_m[t]); /* warm */
            q_m[t][r] = mnemo_queries(db, q[t], nq, &hits_m[t]);
        }
        CHECK(mnemo_close(db));
        bu_rm_tree(dir);
        /* records written with full text enabled */
        bu_run_dir(dir, sizeof dir, "text");
        db = mnemo_new(dir);
        CHECK(mnemo_text_enable(db, NULL));
        ing_text[r] = mnemo_ingest(db, c, &cpu_text[r]);
        CHECK(mnemo_close(db));
        bu_rm_tree(dir);
        /* FTS5 */
        bu_run_dir(dir, sizeof dir, "fts5");
        sqlite3 *s = fts_build(dir, c, &build_f[r]);
        for (int t = 0; t < 3; t++) {
            fts_queries(s, q[t], nq, &hits_f[t]);
            q_f[t][r] = fts_queries(s, q[t], nq, &hits_f[t]);
        }
        size_f = fts_size(s);
        sqlite3_close(s);
        remove(dir);
    }
    emit(c, "index_build", "docs_per_s", c->n, bu_median(build_m, reps), bu_median(build_f, reps), NULL, 0, NULL);
    for (int t = 0; t < 3; t++) {
        char op[32], extra[128];
        snprintf(op, sizeof op, "query_top10_%dterm", terms[t]);
        snprintf(extra, sizeof extra, ",\"mnemo_vector_hits\":%zu,\"baseline_hits\":%zu", hits_m[t], hits_f[t]);
        double m = bu_median(q_m[t], reps), f = bu_median(q_f[t], reps);
        emit(c, op, "queries_per_s", nq, m, f, "mnemo >= 1x fts5", m >= f, extra);
    }
    emit(c, "index_size", "bytes", c->n, (double)size_m, (double)size_f, "mnemo <= 1.5x fts5",
         (double)size_m <= 1.5 * (double)size_f, NULL);
    double with = bu_median(ing_text, reps), without = bu_median(ing_plain, reps);
    double cwith = bu_median(cpu_text, reps), cwithout = bu_median(cpu_plain, reps);
    printf("{\"bench\":\"text\",\"set\":\"%s\",\"docs\":%zu,\"op\":\"record_ingest\",\"unit\":\"docs_per_s\","
           "\"reps\":%d,\"with_text\":%.1f,\"without_text\":%.1f,\"ratio\":%.4f,\"goal\":\"with >= 0.5x without\","
           "\"meets_goal\":%s,\"cpu_with_text\":%.1f,\"cpu_without_text\":%.1f,\"cpu_ratio\":%.4f}\n",
           c->name, c->n, reps, with, without, with / without, with >= 0.5 * without ? "true" : "false", cwith,
           cwithout, cwith / cwithout);
    fflush(stdout);
    for (int t = 0; t < 3; t++) {
        for (size_t i = 0; i < nq; i++)
            free(q[t][i]);
        free(q[t]);
    }
}

int main(int argc, char **argv)
{
    const char *data = BENCH_TEXT_DATA;
    size_t big = 100000;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--docs") && i + 1 < argc)
            big = (size_t)strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_text [--quick] [--reps R] [--data DIR] [--docs N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 16)
        bu_die("--reps must be 1..16");
    if (quick)
        big = 3000;
    corpus cran = {"cranfield", NULL, 0};
    cran.doc = read_texts(data, "corpus.jsonl", &cran.n);
    size_t nq;
    char **qtext = read_texts(data, "queries.jsonl", &nq);
    run_set(&cran, qtext, nq);
    corpus rec = recombine(&cran, big);
    run_set(&rec, qtext, nq);
    for (size_t i = 0; i < rec.n; i++)
        free(rec.doc[i]);
    free(rec.doc);
    for (size_t i = 0; i < cran.n; i++)
        free(cran.doc[i]);
    free(cran.doc);
    for (size_t i = 0; i < nq; i++)
        free(qtext[i]);
    free(qtext);
    return 0;
}
