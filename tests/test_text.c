/* Full text: tokenizer, postings kept with their records, BM25 search, bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/coding.h"
#include "core/keys.h"
#include "store/store.h"
#include "cranfield.h"
#include "testutil.h"
#include "text/text.h"

static void setup(void) { tu_mkdtemp(); }
static void teardown(void) { tu_cleanup(); }
TestSuite(text, .init = setup, .fini = teardown);

/* ---- tokenizer ---- */

typedef struct terms {
    char buf[4096];
    size_t len;
    uint32_t last_pos;
} terms;

static int join(void *arg, const char *t, size_t n, uint32_t pos)
{
    terms *s = arg;
    s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "%s%.*s@%u", s->len ? " " : "", (int)n, t,
                               pos);
    s->last_pos = pos;
    return 0;
}

static const char *tokens(const char *text, const char *stem, int stop)
{
    static terms s;
    memset(&s, 0, sizeof s);
    mnemo_text_cfg cfg = {{0}, stop};
    snprintf(cfg.stem, sizeof cfg.stem, "%s", stem ? stem : "");
    TU_OK(mnemo_text__tokenize(text, strlen(text), &cfg, join, &s, NULL, "test"));
    return s.buf;
}

TU_TEST(text, tokenizer_folds_case_and_accents_and_splits_words)
{
    cr_assert_str_eq(tokens("Hello, World! x-15 don't 3.5", NULL, 0), "hello@0 world@1 x@2 15@3 don@4 t@5 3@6 5@7");
    cr_assert_str_eq(tokens("Café CRÈME naïve Ångström", NULL, 0), "cafe@0 creme@1 naive@2 angstrom@3");
    cr_assert_str_eq(tokens("Straße ΣΟΦΊΑ", NULL, 0), "strasse@0 σοφια@1");
    cr_assert_str_eq(tokens("日本語 text", NULL, 0), "日@0 本@1 語@2 text@3");
    cr_assert_str_eq(tokens("  ...  !!! ", NULL, 0), "");
}

TU_TEST(text, tokenizer_stems_and_drops_stop_words_keeping_positions)
{
    cr_assert_str_eq(tokens("The running of the wings", "english", 1), "run@1 wing@4");
    cr_assert_str_eq(tokens("The running of the wings", NULL, 0), "the@0 running@1 of@2 the@3 wings@4");
}

TU_TEST(text, tokenizer_caps_term_length_at_a_character_boundary)
{
    char text[300];
    memset(text, 'a', 200);
    strcpy(text + 200, " b");
    const char *t = tokens(text, NULL, 0);
    cr_assert_eq(strspn(t, "a"), MNEMO_TEXT_MAX_TERM, "%s", t);
    cr_assert_str_eq(t + MNEMO_TEXT_MAX_TERM, "@0 b@1");
    /* two-byte characters: 64 bytes is 32 of them, never half of one */
    char wide[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(wide, "ж");
    t = tokens(wide, NULL, 0);
    cr_assert_eq(strlen(t), MNEMO_TEXT_MAX_TERM + strlen("@0"), "%s", t);
    cr_assert_str_eq(t + MNEMO_TEXT_MAX_TERM, "@0");
}

TU_TEST(text, tokenizer_refuses_invalid_utf8_naming_the_offset)
{
    mnemo_text_cfg cfg = {{0}, 0};
    terms s = {{0}, 0, 0};
    TU_RC(mnemo_text__tokenize("ab\xc3(x", 5, &cfg, join, &s, NULL, "content"), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "content: invalid UTF-8 at byte 2"), "%s", mnemo_errmsg());
}

/* The terms of text as "term@pos ..." (malloc'd), through the fast path or the Unicode one. */
typedef struct grow_terms {
    char *buf;
    size_t len, cap;
} grow_terms;

static int join_grow(void *arg, const char *t, size_t n, uint32_t pos)
{
    grow_terms *g = arg;
    if (g->len + n + 16 > g->cap) {
        g->cap = 2 * (g->len + n + 16);
        g->buf = realloc(g->buf, g->cap);
        cr_assert_not_null(g->buf);
    }
    g->len += (size_t)snprintf(g->buf + g->len, g->cap - g->len, " %.*s@%u", (int)n, t, pos);
    return 0;
}

static char *terms_of(const char *text, size_t len, const mnemo_text_cfg *cfg, int unicode)
{
    grow_terms g = {calloc(1, 1), 0, 1};
    uint32_t n_pos = 0;
    TU_OK((unicode ? mnemo_text__tokenize_unicode : mnemo_text__tokenize)(text, len, cfg, join_grow, &g, &n_pos, "t"));
    join_grow(&g, "", 0, n_pos); /* the positions used, stop words included */
    return g.buf;
}

static void same_terms_both_ways(const char *text, size_t len, const mnemo_text_cfg *cfg)
{
    char *fast = terms_of(text, len, cfg, 0), *uni = terms_of(text, len, cfg, 1);
    cr_assert_str_eq(fast, uni, "text '%.*s' (stem '%s', stop words %d)", (int)len, text, cfg->stem, cfg->stopwords);
    free(fast);
    free(uni);
}

/* The all-ASCII fast path gives the terms (and positions) Unicode's word breaks and folding give:
 * on random ASCII (every byte 1..127, long runs past the term cap, apostrophes, digits with
 * points) and on the Cranfield documents and queries, without and with stemming and stop words. */
TU_TEST(text, tokenizer_ascii_fast_path_gives_the_unicode_paths_terms)
{
    static const char pieces[][8] = {"a", "Z", "9", "'", ".", ",", " ", "-", "_", "\t", "\n", "3.5", "don't", "U.S."};
    mnemo_text_cfg cfgs[2] = {{{0}, 0}, {"english", 1}};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char text[600];
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 2000; r++) {
            size_t len = 0, want = 1 + r % 500;
            while (len < want) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                if (x % 3 == 0) { /* any ASCII byte but NUL */
                    text[len++] = (char)(1 + (x >> 8) % 127);
                } else if (x % 3 == 1) { /* a run of letters and digits, sometimes past the cap */
                    size_t run = (x >> 8) % (x % 7 == 0 ? 90 : 12);
                    for (size_t i = 0; i < run && len < want; i++)
                        text[len++] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[(x >> (i % 40)) % 62];
                } else {
                    const char *p = pieces[(x >> 8) % (sizeof pieces / sizeof *pieces)];
                    for (; *p && len < want; p++)
                        text[len++] = *p;
                }
            }
            same_terms_both_ways(text, len, &cfgs[c]);
        }
    cran *cr = cran_load(0);
    for (int c = 0; c < 2; c++) {
        for (int d = 0; d < CRAN_DOCS; d++)
            same_terms_both_ways(cr->doc_text[d], strlen(cr->doc_text[d]), &cfgs[c]);
        for (int q = 0; q < CRAN_QUERIES; q++)
            same_terms_both_ways(cr->query[q], strlen(cr->query[q]), &cfgs[c]);
    }
    cran_free(cr);
}

/* ---- index and search ---- */

static mnemo_db *open_text(const char *name, const char *stem, int stop)
{
    mnemo_db *db = tu_open(name);
    mnemo_text_options o = MNEMO_TEXT_OPTIONS_INIT;
    o.stem_language = stem;
    o.stopwords = stop;
    TU_OK(mnemo_text_enable(db, &o));
    return db;
}

static void put(mnemo_db *db, mnemo_txn *txn, const char *id, const char *content, const char *meta)
{
    mnemo_record r = {.id = id, .content = content, .metadata = meta};
    TU_OK(mnemo_record_put(db, txn, &r, MNEMO_PUT_UPSERT));
}

/* The hit ids joined by spaces (static buffer). */
static const char *search_ids(mnemo_db *db, mnemo_txn *txn, const char *query, size_t k,
                              const mnemo_text_search_options *o)
{
    static char buf[1024];
    mnemo_text_hits *h;
    TU_OK(mnemo_text_search(&h, db, txn, query, k, o));
    buf[0] = 0;
    for (size_t i = 0; i < h->count; i++) {
        cr_assert(h->hits[i].score > 0);
        if (i)
            cr_assert(h->hits[i].score <= h->hits[i - 1].score);
        strcat(buf, i ? " " : "");
        strcat(buf, h->hits[i].id);
    }
    mnemo_text_hits_free(h);
    return buf;
}

static void corpus(mnemo_db *db)
{
    put(db, NULL, "a", "the wing in a propeller slipstream", "{\"topic\": \"aero\", \"n\": 1}");
    put(db, NULL, "b", "heat transfer in a boundary layer; the boundary layer thickens", "{\"topic\": \"heat\", \"n\": 2}");
    put(db, NULL, "c", "slipstream effects on a wing, wing tips and the propeller", "{\"topic\": \"aero\", \"n\": 3}");
    put(db, NULL, "d", "a propeller wing", "{\"topic\": \"aero\", \"n\": 4}");
}

TU_TEST(text, bm25_ranks_or_terms_phrases_and_exclusions)
{
    mnemo_db *db = open_text("s", NULL, 0);
    corpus(db);
    cr_assert_str_eq(search_ids(db, NULL, "boundary", 10, NULL), "b");
    cr_assert_str_eq(search_ids(db, NULL, "heat slipstream", 10, NULL), "b a c");
    /* the phrase: words at consecutive positions only ("propeller wing" is in d, not in a or c) */
    cr_assert_str_eq(search_ids(db, NULL, "\"propeller wing\"", 10, NULL), "d");
    cr_assert_str_eq(search_ids(db, NULL, "\"wing propeller\"", 10, NULL), "");
    cr_assert_str_eq(search_ids(db, NULL, "wing -slipstream", 10, NULL), "d");
    cr_assert_str_eq(search_ids(db, NULL, "wing -\"propeller slipstream\"", 10, NULL), "d c");
    /* c has wing twice in 10 words, d once in 3: with b = 0.75 the short one wins; with b ~ 0, c */
    cr_assert_str_eq(search_ids(db, NULL, "WING", 1, NULL), "d");
    mnemo_text_search_options o = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    o.b = 1e-9;
    cr_assert_str_eq(search_ids(db, NULL, "WING", 1, &o), "c");
    TU_OK(mnemo_close(db));
}

TU_TEST(text, phrases_keep_stop_word_gaps)
{
    mnemo_db *db = open_text("g", "english", 1);
    corpus(db);
    /* "wing in a propeller": in and a are stop words, but still take their positions */
    cr_assert_str_eq(search_ids(db, NULL, "\"wing in a propeller\"", 10, NULL), "a");
    cr_assert_str_eq(search_ids(db, NULL, "\"wing propeller\"", 10, NULL), "");
    cr_assert_str_eq(search_ids(db, NULL, "\"wings\" -tips", 10, NULL), "d a", "stemmed: wings = wing");
    TU_OK(mnemo_close(db));
}

static mnemo_text_info info(mnemo_db *db, mnemo_txn *txn)
{
    mnemo_text_info i = MNEMO_TEXT_INFO_INIT;
    TU_OK(mnemo_text_info_get(&i, db, txn));
    return i;
}

TU_TEST(text, postings_follow_update_delete_replace_and_purge)
{
    tu_fake_clock_start();
    mnemo_db *db = open_text("p", NULL, 0);
    corpus(db);
    mnemo_text_info i = info(db, NULL);
    cr_assert_eq(i.documents, 4);
    cr_assert_eq(i.total_terms, 6 + 10 + 10 + 3);
    /* update the content */
    mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
    ch.fields = MNEMO_UPDATE_CONTENT;
    ch.content = "turbulent boundary";
    TU_OK(mnemo_record_update(db, NULL, "a", &ch));
    cr_assert_str_eq(search_ids(db, NULL, "slipstream", 10, NULL), "c");
    cr_assert_str_eq(search_ids(db, NULL, "turbulent", 10, NULL), "a");
    /* metadata-only update: postings stay */
    ch.fields = MNEMO_UPDATE_METADATA;
    ch.metadata_patch = "{\"x\": 1}";
    TU_OK(mnemo_record_update(db, NULL, "a", &ch));
    cr_assert_str_eq(search_ids(db, NULL, "turbulent", 10, NULL), "a");
    /* replace through put */
    put(db, NULL, "b", "nothing left", NULL);
    cr_assert_str_eq(search_ids(db, NULL, "boundary", 10, NULL), "a");
    /* delete */
    TU_OK(mnemo_record_delete(db, NULL, "c"));
    cr_assert_str_eq(search_ids(db, NULL, "slipstream tips", 10, NULL), "");
    i = info(db, NULL);
    cr_assert_eq(i.documents, 3);
    cr_assert_eq(i.total_terms, 2 + 2 + 3);
    /* expiry: invisible at once, postings gone with the purge */
    mnemo_record e = {.id = "e", .content = "ephemeral boundary", .expires_at = tu_now + 1000};
    TU_OK(mnemo_record_put(db, NULL, &e, MNEMO_PUT_UPSERT));
    cr_assert_str_eq(search_ids(db, NULL, "ephemeral", 10, NULL), "e");
    tu_now += 2000;
    cr_assert_str_eq(search_ids(db, NULL, "ephemeral", 10, NULL), "");
    cr_assert_eq(info(db, NULL).documents, 4, "indexed until purged");
    size_t purged;
    TU_OK(mnemo_record_purge_expired(db, &purged));
    cr_assert_eq(purged, 1);
    cr_assert_eq(info(db, NULL).documents, 3);
    /* an expired record replaced by a new one of the same id */
    e.expires_at = tu_now + 1000;
    TU_OK(mnemo_record_put(db, NULL, &e, MNEMO_PUT_UPSERT));
    tu_now += 2000;
    e.content = "fresh";
    e.expires_at = 0;
    TU_OK(mnemo_record_put(db, NULL, &e, MNEMO_PUT_UPSERT));
    cr_assert_str_eq(search_ids(db, NULL, "ephemeral", 10, NULL), "");
    cr_assert_str_eq(search_ids(db, NULL, "fresh", 10, NULL), "e");
    cr_assert_eq(info(db, NULL).documents, 4);
    TU_OK(mnemo_close(db));
    tu_fake_clock_stop();
}

/* The corpus in database `name`, closed, and its store opened raw to damage it. */
static void corpus_closed_raw(tu_raw *raw, const char *name)
{
    mnemo_db *db = open_text(name, NULL, 0);
    corpus(db);
    TU_OK(mnemo_close(db));
    tu_raw_open(raw, tu_path(name));
}

TU_TEST(text, a_transaction_sees_its_own_writes_and_a_rollback_leaves_nothing)
{
    mnemo_db *db = open_text("t", NULL, 0);
    corpus(db);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put(db, txn, "z", "zeppelin slipstream", NULL);
    TU_OK(mnemo_record_delete(db, txn, "a"));
    cr_assert_str_eq(search_ids(db, txn, "zeppelin", 10, NULL), "z");
    cr_assert_str_eq(search_ids(db, txn, "slipstream", 10, NULL), "z c");
    cr_assert_eq(info(db, txn).documents, 4);
    cr_assert_str_eq(search_ids(db, NULL, "zeppelin", 10, NULL), "", "not committed");
    TU_OK(mnemo_txn_rollback(txn));
    mnemo_txn_free(txn);
    cr_assert_str_eq(search_ids(db, NULL, "slipstream", 10, NULL), "a c");
    cr_assert_eq(info(db, NULL).documents, 4);
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put(db, txn, "z", "zeppelin", NULL);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    cr_assert_str_eq(search_ids(db, NULL, "zeppelin", 10, NULL), "z");
    cr_assert_eq(info(db, NULL).documents, 5);
    TU_OK(mnemo_close(db));
}

/* Keys of text_index starting with prefix (raw, after close). */
static size_t raw_count(const char *name, const void *prefix, size_t pl)
{
    tu_raw raw;
    tu_raw_open(&raw, tu_path(name));
    unsigned char hi[80];
    memcpy(hi, prefix, pl);
    hi[pl - 1]++;
    mnemo_store_cursor *c;
    TU_OK(raw.ops->cursor_open(&c, raw.s, NULL, MNEMO_CF_TEXT_INDEX, prefix, pl, hi, pl));
    size_t n = 0;
    for (raw.ops->cursor_first(c); raw.ops->cursor_valid(c); raw.ops->cursor_next(c))
        n++;
    TU_OK(raw.ops->cursor_status(c, "counting keys"));
    raw.ops->cursor_close(c);
    tu_raw_close(&raw);
    return n;
}

/* Postings are written untracked at commit: the record and 'F' keys the same transaction writes
 * (tracked) are what orders two writers of one record, and nothing of the loser may land. */
TU_TEST(text, two_writers_of_one_record_leave_only_the_winners_postings)
{
    mnemo_db *db = open_text("w", NULL, 0);
    put(db, NULL, "r", "alpha gamma", NULL);
    mnemo_txn *t1, *t2;
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    TU_OK(mnemo_txn_begin(&t2, db, 0));
    put(db, t1, "r", "beta gamma", NULL);
    put(db, t2, "r", "delta gamma", NULL);
    put(db, t2, "s", "delta", NULL);
    TU_OK(mnemo_txn_commit(t1));
    TU_RC(mnemo_txn_commit(t2), MNEMO_EBUSY);
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);
    cr_assert_str_eq(search_ids(db, NULL, "delta", 10, NULL), "");
    cr_assert_str_eq(search_ids(db, NULL, "alpha", 10, NULL), "");
    cr_assert_str_eq(search_ids(db, NULL, "beta", 10, NULL), "r");
    cr_assert_str_eq(search_ids(db, NULL, "gamma", 10, NULL), "r");
    mnemo_text_info i = info(db, NULL);
    cr_assert_eq(i.documents, 1);
    cr_assert_eq(i.total_terms, 2);
    TU_OK(mnemo_close(db));
    cr_assert_eq(raw_count("w", "Pdelta", 7), 0, "no key of the loser's term");
    cr_assert_eq(raw_count("w", "Pbeta", 6), 1, "the winner's block");
}

/* Writers of different records sharing every term commit side by side (puts, updates, deletes). */
TU_TEST(text, writers_of_different_records_do_not_conflict)
{
    mnemo_db *db = open_text("p", NULL, 0);
    put(db, NULL, "u", "wing flow", NULL);
    put(db, NULL, "v", "wing flow", NULL);
    mnemo_txn *t1, *t2;
    TU_OK(mnemo_txn_begin(&t1, db, 0));
    TU_OK(mnemo_txn_begin(&t2, db, 0));
    put(db, t1, "x", "wing flow", NULL);
    put(db, t2, "y", "wing flow", NULL);
    put(db, t1, "u", "wing drag", NULL);
    TU_OK(mnemo_record_delete(db, t2, "v"));
    cr_assert_str_eq(search_ids(db, t1, "flow", 10, NULL), "v x");
    cr_assert_str_eq(search_ids(db, t2, "flow", 10, NULL), "u y");
    TU_OK(mnemo_txn_commit(t1));
    TU_OK(mnemo_txn_commit(t2));
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);
    cr_assert_str_eq(search_ids(db, NULL, "flow", 10, NULL), "x y");
    cr_assert_str_eq(search_ids(db, NULL, "drag", 10, NULL), "u");
    cr_assert_eq(info(db, NULL).documents, 3);
    TU_OK(mnemo_close(db));
}

/* Small commits leave a block per term each; a search that reads many merges them into one
 * (dead entries and their kill keys dropped) and finds the same records. */
/* Records r00..r79 of "wing n<i>", one commit each: 80 blocks of "wing". */
static void put_wings(mnemo_db *db)
{
    char id[16], content[32];
    for (int i = 0; i < 80; i++) {
        snprintf(id, sizeof id, "r%02d", i);
        snprintf(content, sizeof content, "wing n%d", i);
        put(db, NULL, id, content, NULL);
    }
}

TU_TEST(text, a_search_merges_the_blocks_small_commits_left)
{
    mnemo_db *db = open_text("m", NULL, 0);
    put_wings(db);
    put(db, NULL, "r01", "wing tip wing", NULL);
    TU_OK(mnemo_record_delete(db, NULL, "r02"));
    TU_OK(mnemo_close(db));
    size_t before = raw_count("m", "Pwing", 6);
    cr_assert_eq(before, 81 + 2, "a block per commit and a kill key each for r01 and r02: %zu", before);
    TU_OK(tu_reopen(&db, "m", NULL));
    char first[1024];
    snprintf(first, sizeof first, "%s", search_ids(db, NULL, "wing", 100, NULL));
    cr_assert_eq(strncmp(first, "r01 ", 4), 0, "%s", first);
    cr_assert_null(strstr(first, "r02"));
    TU_OK(mnemo_close(db));
    cr_assert_eq(raw_count("m", "Pwing", 6), 1, "one merged block");
    cr_assert_eq(raw_count("m", "Pn5", 4), 1, "a term read by no search stays as it is");
    TU_OK(tu_reopen(&db, "m", NULL));
    cr_assert_str_eq(search_ids(db, NULL, "wing", 100, NULL), first);
    cr_assert_eq(info(db, NULL).documents, 79);
    TU_OK(mnemo_close(db));
}

/* A merge copies entries it cannot know are dying: a kill key committed after the merge's snapshot
 * names (record, generation), which the copied entry keeps, so the posting stays dead, and the
 * writer and the merge do not conflict. */
TU_TEST(text, a_merge_never_brings_back_a_posting_killed_meanwhile)
{
    mnemo_db *db = open_text("n", NULL, 0);
    char id[16], content[32];
    for (int i = 0; i < 70; i++) {
        snprintf(id, sizeof id, "r%02d", i);
        snprintf(content, sizeof content, "wing n%d", i);
        put(db, NULL, id, content, NULL);
    }
    mnemo_txn *t;
    TU_OK(mnemo_txn_begin(&t, db, 0));
    put(db, t, "r05", "drag only", NULL);
    const char *before = search_ids(db, NULL, "wing", 100, NULL); /* merges: 70 blocks */
    cr_assert(strstr(before, "r05"), "not committed yet: %s", before);
    TU_OK(mnemo_txn_commit(t));
    mnemo_txn_free(t);
    cr_assert_null(strstr(search_ids(db, NULL, "wing", 100, NULL), "r05"));
    cr_assert_str_eq(search_ids(db, NULL, "drag", 100, NULL), "r05");
    TU_OK(mnemo_close(db));
    cr_assert_eq(raw_count("n", "Pwing", 6), 2, "the merged block and the kill key committed after it");
}

/* A record's old postings are found by tokenizing its old content again: when that no longer
 * gives the terms it was indexed with (a tokenizer upgraded since), its update is ECORRUPT saying
 * how to rebuild, never postings left behind unnamed. Simulated by changing the stored hash. */
TU_TEST(text, a_tokenizer_that_changed_is_named_instead_of_leaving_postings)
{
    mnemo_db *db;
    tu_raw raw;
    corpus_closed_raw(&raw, "k");
    unsigned char fkey[9] = {'F', 0, 0, 0, 0, 0, 0, 0, 2}, buf[64]; /* record b */
    size_t vl;
    char *v = tu_raw_get(&raw, MNEMO_CF_TEXT_INDEX, fkey, sizeof fkey, &vl);
    cr_assert_not_null(v);
    const void *payload;
    size_t pl;
    cr_assert_eq(mnemo__unseal(v, vl, &payload, &pl), 0);
    memcpy(buf + 32, payload, pl);
    buf[32 + pl - 1] ^= 1; /* the last byte of the term-set hash */
    tu_raw_put(&raw, MNEMO_CF_TEXT_INDEX, fkey, sizeof fkey, buf, mnemo__seal(buf, buf + 32, pl));
    free(v);
    tu_raw_close(&raw);
    TU_OK(tu_reopen(&db, "k", NULL));
    mnemo_record r = {.id = "b", .content = "a new text"};
    TU_RC(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_text_disable"), "%s", mnemo_errmsg());
    TU_RC(mnemo_record_delete(db, NULL, "b"), MNEMO_ECORRUPT);
    cr_assert_str_eq(search_ids(db, NULL, "boundary", 10, NULL), "b", "nothing changed");
    TU_OK(mnemo_close(db));
}

/* Layout 1 (one key per term and record): a read-only open refuses it by name, a read-write open
 * rebuilds it with its settings (here a database whose settings say layout 1, with an old-style
 * posting key that layout 2 would call damaged). */
TU_TEST(text, an_index_of_the_old_layout_is_rebuilt_by_a_read_write_open)
{
    mnemo_db *db = open_text("o", NULL, 0);
    corpus(db);
    TU_OK(mnemo_close(db));
    tu_raw raw;
    tu_raw_open(&raw, tu_path("o"));
    unsigned char conf[19] = {1, 2, 0}, sealed[32], old_key[14] = "Pwing", old_val[3] = {4, 1, 1};
    mnemo__put_f64(conf + 3, 1.2);
    mnemo__put_f64(conf + 11, 0.75);
    tu_raw_put(&raw, MNEMO_CF_METADATA, MNEMO_MKEY_TEXT, MNEMO_MKEY_LEN(MNEMO_MKEY_TEXT), sealed,
               mnemo__seal(sealed, conf, sizeof conf));
    old_key[13] = 1; /* 'P' wing 0x00 iid 1 */
    tu_raw_put(&raw, MNEMO_CF_TEXT_INDEX, old_key, sizeof old_key, sealed, mnemo__seal(sealed, old_val, 3));
    tu_raw_close(&raw);
    mnemo_options ro = MNEMO_OPTIONS_INIT;
    ro.read_only = 1;
    TU_OK(tu_reopen(&db, "o", &ro));
    mnemo_text_hits *h;
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, NULL), MNEMO_EVERSION);
    cr_assert(strstr(mnemo_errmsg(), "layout 1"), "%s", mnemo_errmsg());
    TU_OK(mnemo_close(db));
    TU_OK(tu_reopen(&db, "o", NULL));
    cr_assert_str_eq(search_ids(db, NULL, "propeller", 10, NULL), "d a c");
    cr_assert_str_eq(search_ids(db, NULL, "wing", 10, NULL), "d c a");
    mnemo_text_info i = info(db, NULL);
    cr_assert(i.ready);
    cr_assert_eq(i.documents, 4);
    put(db, NULL, "e", "wing", NULL);
    TU_OK(mnemo_close(db));
}

static void count_progress(uint64_t done, uint64_t total, void *arg)
{
    uint64_t *calls = arg;
    cr_assert(done <= total);
    calls[0]++;
    calls[1] = done;
}

TU_TEST(text, enabling_indexes_the_records_already_stored_with_progress)
{
    TU_NEEDS_DISK("reopens the database");
    mnemo_db *db = tu_open("e");
    char id[32], content[64];
    for (int i = 0; i < 600; i++) {
        snprintf(id, sizeof id, "r%03d", i);
        snprintf(content, sizeof content, "record number %d %s", i, i % 7 ? "plain" : "special");
        put(db, NULL, id, content, NULL);
    }
    mnemo_text_hits *h;
    TU_RC(mnemo_text_search(&h, db, NULL, "special", 10, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "not enabled"), "%s", mnemo_errmsg());
    TU_RC(mnemo_text_info_get(&(mnemo_text_info)MNEMO_TEXT_INFO_INIT, db, NULL), MNEMO_ENOTFOUND);
    uint64_t calls[2] = {0, 0};
    mnemo_text_options o = MNEMO_TEXT_OPTIONS_INIT;
    o.stem_language = "english";
    o.progress = count_progress;
    o.progress_arg = calls;
    TU_OK(mnemo_text_enable(db, &o));
    cr_assert(calls[0] >= 3, "600 records in batches of 256");
    cr_assert_eq(calls[1], 600);
    TU_OK(mnemo_text_search(&h, db, NULL, "special", 1000, NULL));
    cr_assert_eq(h->count, 86); /* 0, 7, ..., 595 */
    mnemo_text_hits_free(h);
    TU_RC(mnemo_text_enable(db, &o), MNEMO_EEXISTS);
    /* the settings are recorded: they survive a reopen and apply to queries */
    TU_OK(mnemo_close(db));
    mnemo_options ro = MNEMO_OPTIONS_INIT;
    ro.read_only = 1;
    TU_OK(tu_reopen(&db, "e", &ro));
    mnemo_text_info i = info(db, NULL);
    cr_assert_str_eq(i.stem_language, "english");
    cr_assert_eq(i.documents, 600);
    cr_assert(i.ready);
    cr_assert_eq(i.k1, 1.2);
    cr_assert_eq(i.b, 0.75);
    TU_OK(mnemo_text_search(&h, db, NULL, "specials", 1000, NULL));
    cr_assert_eq(h->count, 86, "stemmed like the content");
    mnemo_text_hits_free(h);
    TU_OK(mnemo_close(db));
    /* disable drops it all */
    TU_OK(tu_reopen(&db, "e", NULL));
    TU_OK(mnemo_text_disable(db));
    TU_RC(mnemo_text_disable(db), MNEMO_ENOTFOUND);
    TU_RC(mnemo_text_search(&h, db, NULL, "special", 10, NULL), MNEMO_EINVAL);
    put(db, NULL, "late", "special", NULL);
    TU_OK(mnemo_text_enable(db, NULL));
    TU_OK(mnemo_text_search(&h, db, NULL, "special", 1000, NULL));
    cr_assert_eq(h->count, 87);
    mnemo_text_hits_free(h);
    cr_assert_eq(info(db, NULL).documents, 601);
    TU_OK(mnemo_close(db));
}

/* A transaction remembers that full text was not enabled (its later puts read no settings): full
 * text enabled between two of its puts must still make it conflict, and the retry indexes both. */
TU_TEST(text, puts_of_one_txn_conflict_with_full_text_enabled_meanwhile)
{
    mnemo_db *db = tu_open("en");
    mnemo_text_options o = MNEMO_TEXT_OPTIONS_INIT;
    for (int attempt = 0; attempt < 2; attempt++) {
        mnemo_txn *t;
        TU_OK(mnemo_txn_begin(&t, db, 0));
        put(db, t, "a", "a wing in the slipstream", NULL);
        if (attempt == 0)
            TU_OK(mnemo_text_enable(db, &o)); /* a transaction of its own, committed meanwhile */
        put(db, t, "b", "the slipstream of a propeller", NULL);
        TU_RC(mnemo_txn_commit(t), attempt == 0 ? MNEMO_EBUSY : 0);
        mnemo_txn_free(t);
    }
    cr_assert_str_eq(search_ids(db, NULL, "slipstream", 10, NULL), "a b");
    TU_OK(mnemo_close(db));
}

TU_TEST(text, filter_and_graph_neighbourhood_restrict_the_hits)
{
    mnemo_db *db = open_text("f", NULL, 0);
    corpus(db);
    mnemo_text_search_options o = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    o.filter = "{\"n\": {\"$gte\": 3}}";
    cr_assert_str_eq(search_ids(db, NULL, "wing", 10, &o), "d c");
    o.filter = "{\"topic\": \"heat\"}";
    cr_assert_str_eq(search_ids(db, NULL, "wing", 10, &o), "");
    TU_OK(mnemo_record_index_create(db, "topic"));
    o.filter = "{\"topic\": \"aero\"}";
    cr_assert_str_eq(search_ids(db, NULL, "wing heat", 10, &o), "d c a");
    o.filter = NULL;
    mnemo_graph_edge e = {.from = "a", .label = "cites", .to = "d", .weight = 1.0};
    TU_OK(mnemo_graph_link(db, NULL, &e, 0));
    o.near = "d";
    cr_assert_str_eq(search_ids(db, NULL, "wing", 10, &o), "d a");
    o.near = "nobody";
    mnemo_text_hits *h;
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_ENOTFOUND);
    /* the restrictions are checked even when no term matches (an empty list would hide the typo) */
    TU_RC(mnemo_text_search(&h, db, NULL, "zeppelin", 10, &o), MNEMO_ENOTFOUND);
    cr_assert(strstr(mnemo_errmsg(), "nobody"), "%s", mnemo_errmsg());
    o.near = NULL;
    o.filter = "{\"n\": {\"$gte\": }";
    TU_RC(mnemo_text_search(&h, db, NULL, "zeppelin", 10, &o), MNEMO_EINVAL);
    TU_OK(mnemo_close(db));
}

/* ---- bad input ---- */

static size_t hit_count(mnemo_db *db, const char *query)
{
    mnemo_text_hits *h;
    TU_OK(mnemo_text_search(&h, db, NULL, query, 10, NULL));
    size_t n = h->count;
    mnemo_text_hits_free(h);
    return n;
}

TU_TEST(text, bad_queries_are_empty_results_or_einval_with_a_message)
{
    mnemo_db *db = open_text("q", "english", 1);
    corpus(db);
    /* documented empty results */
    cr_assert_eq(hit_count(db, ""), 0);
    cr_assert_eq(hit_count(db, "  ,;:!? ... --- \"\" "), 0);
    cr_assert_eq(hit_count(db, "the of and a"), 0, "only stop words");
    cr_assert_eq(hit_count(db, "-wing"), 0, "only an excluded term");
    cr_assert_eq(hit_count(db, "\"zyzzyva quux\""), 0, "a phrase of unknown words");
    cr_assert_eq(hit_count(db, "\"propeller wing"), 1, "an unclosed phrase runs to the end");
    /* a 1 MB query: of one repeated word it is one term; of many words, too many terms */
    size_t big = 1u << 20;
    char *q = malloc(big + 2);
    memset(q, ' ', big);
    for (size_t i = 0; i + 5 <= big; i += 5)
        memcpy(q + i, "wing ", 5);
    q[big] = 0;
    cr_assert_eq(hit_count(db, q), 3);
    for (size_t i = 0; i + 8 <= big; i += 8)
        snprintf(q + i, 9, "w%06zu ", i / 8);
    mnemo_text_hits *h = NULL;
    TU_RC(mnemo_text_search(&h, db, NULL, q, 10, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "more than 1024"), "%s", mnemo_errmsg());
    memset(q, 'a', big + 1);
    q[big + 1] = 0;
    TU_RC(mnemo_text_search(&h, db, NULL, q, 10, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "longer than"), "%s", mnemo_errmsg());
    free(q);
    TU_RC(mnemo_text_search(&h, db, NULL, "wing \xff\xfe", 10, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "invalid UTF-8 at byte 5"), "%s", mnemo_errmsg());
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 0, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "k 0"), "%s", mnemo_errmsg());
    TU_RC(mnemo_text_search(&h, db, NULL, NULL, 10, NULL), MNEMO_EINVAL);
    mnemo_text_search_options o = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    double bad[] = {-1.0, NAN, INFINITY, 101.0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o.k1 = bad[i];
        TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
        cr_assert(strstr(mnemo_errmsg(), "k1"), "%s", mnemo_errmsg());
        o.k1 = 0;
        o.b = bad[i];
        TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
        cr_assert(strstr(mnemo_errmsg(), " b "), "%s", mnemo_errmsg());
        o.b = 0;
    }
    o.b = 1.5;
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
    o.b = 0;
    o.filter = "{\"$bogus\": 1}";
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "$bogus"), "%s", mnemo_errmsg());
    cr_assert_null(h, "out untouched on failure");
    /* settings */
    mnemo_text_options eo = MNEMO_TEXT_OPTIONS_INIT;
    TU_RC(mnemo_text_enable(db, &eo), MNEMO_EEXISTS);
    mnemo_db *db2 = tu_open("q2");
    eo.stem_language = "klingon";
    TU_RC(mnemo_text_enable(db2, &eo), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "klingon"), "%s", mnemo_errmsg());
    eo.stem_language = NULL;
    eo.k1 = NAN;
    TU_RC(mnemo_text_enable(db2, &eo), MNEMO_EINVAL);
    eo.k1 = 0;
    eo.b = -0.5;
    TU_RC(mnemo_text_enable(db2, &eo), MNEMO_EINVAL);
    TU_RC(mnemo_text_info_get(&(mnemo_text_info)MNEMO_TEXT_INFO_INIT, db2, NULL), MNEMO_ENOTFOUND);
    TU_OK(mnemo_close(db2));
    TU_OK(mnemo_close(db));
}

TU_TEST(text, invalid_utf8_content_never_reaches_the_index)
{
    mnemo_db *db = open_text("u", NULL, 0);
    mnemo_record r = {.id = "x", .content = "ok \xc3"};
    TU_RC(mnemo_record_put(db, NULL, &r, MNEMO_PUT_UPSERT), MNEMO_EINVAL);
    cr_assert_eq(info(db, NULL).documents, 0);
    TU_OK(mnemo_close(db));
}

TU_TEST(text, a_damaged_posting_is_ecorrupt_naming_its_term)
{
    mnemo_db *db;
    tu_raw raw;
    corpus_closed_raw(&raw, "d");
    /* the block of 'boundary' ('P' term 0x00 0x01 seg: one, the corpus is one record a commit) */
    unsigned char lo[11] = "Pboundary", hi[11] = "Pboundary", key[32];
    lo[9] = hi[9] = 0;
    lo[10] = 1;
    hi[10] = 2;
    mnemo_store_cursor *c;
    TU_OK(raw.ops->cursor_open(&c, raw.s, NULL, MNEMO_CF_TEXT_INDEX, lo, 11, hi, 11));
    raw.ops->cursor_first(c);
    cr_assert(raw.ops->cursor_valid(c));
    size_t kl, vl;
    memcpy(key, raw.ops->cursor_key(c, &kl), 19);
    cr_assert_eq(kl, 19);
    raw.ops->cursor_close(c);
    char *v = tu_raw_get(&raw, 7, key, kl, &vl);
    cr_assert_not_null(v);
    v[1] ^= 0x10;
    tu_raw_put(&raw, 7, key, kl, v, vl);
    free(v);
    tu_raw_close(&raw);
    TU_OK(tu_reopen(&db, "d", NULL));
    mnemo_text_hits *h;
    TU_RC(mnemo_text_search(&h, db, NULL, "boundary", 10, NULL), MNEMO_ECORRUPT);
    cr_assert(strstr(mnemo_errmsg(), "'boundary'"), "%s", mnemo_errmsg());
    cr_assert_eq(hit_count(db, "wing"), 3, "other terms still answer");
    TU_OK(mnemo_close(db));
}

TU_TEST(text, corpus_statistics_stay_exact_across_many_commits_and_folds)
{
    mnemo_db *db = open_text("c", NULL, 0);
    char id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof id, "r%d", i);
        put(db, NULL, id, i % 2 ? "one two three" : "one", NULL);
    }
    for (int i = 0; i < 300; i += 3) {
        snprintf(id, sizeof id, "r%d", i);
        TU_OK(mnemo_record_delete(db, NULL, id));
    }
    mnemo_text_info i = info(db, NULL);
    cr_assert_eq(i.documents, 200);
    cr_assert_eq(i.total_terms, 150 * 3 + 150 - (50 * 3 + 50));
    /* the deltas were folded now and then: fewer stats keys than commits */
    TU_OK(mnemo_close(db));
    tu_raw raw;
    tu_raw_open(&raw, tu_path("c"));
    mnemo_store_cursor *c;
    TU_OK(raw.ops->cursor_open(&c, raw.s, NULL, MNEMO_CF_TEXT_INDEX, "S", 1, "T", 1));
    size_t deltas = 0;
    for (raw.ops->cursor_first(c); raw.ops->cursor_valid(c); raw.ops->cursor_next(c))
        deltas++;
    TU_OK(raw.ops->cursor_status(c, "counting stats keys"));
    raw.ops->cursor_close(c);
    tu_raw_close(&raw);
    cr_assert(deltas < 100, "%zu stats keys after 400 commits", deltas);
}

/* ---- quality on Cranfield (data/cranfield): mnemo against a reference BM25 written here ---- */

/* The reference: lowercase ASCII alphanumeric tokens, the same BM25 (k1 1.2, b 0.75, the
 * idf ln(1 + (N - df + 0.5) / (df + 0.5))), distinct query terms, ties to the earlier document. */
typedef struct ref_term {
    char *t;
    int *docs, *tf, n;
} ref_term;

typedef struct ref_index {
    ref_term *terms;
    int n_terms;
    int dl[CRAN_DOCS];
    double avgdl;
} ref_index;

static int ref_tokens(const char *s, char (*out)[80], int max)
{
    int n = 0, len = 0;
    for (const char *p = s;; p++) {
        int alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (alnum && len < 79)
            out[n][len++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        else if (!alnum && len) {
            out[n][len] = 0;
            len = 0;
            if (++n == max)
                break;
        }
        if (!*p)
            break;
    }
    return n;
}

static ref_term *ref_find(ref_index *x, const char *t, int add)
{
    for (int i = 0; i < x->n_terms; i++)
        if (!strcmp(x->terms[i].t, t))
            return &x->terms[i];
    if (!add)
        return NULL;
    x->terms = realloc(x->terms, (size_t)(x->n_terms + 1) * sizeof *x->terms);
    ref_term *r = &x->terms[x->n_terms++];
    r->t = strdup(t);
    r->docs = malloc(CRAN_DOCS * sizeof *r->docs);
    r->tf = malloc(CRAN_DOCS * sizeof *r->tf);
    r->n = 0;
    return r;
}

static void ref_build(ref_index *x, const cran *c)
{
    static char toks[4096][80];
    long total = 0;
    memset(x, 0, sizeof *x);
    for (int d = 0; d < CRAN_DOCS; d++) {
        int n = ref_tokens(c->doc_text[d], toks, 4096);
        x->dl[d] = n;
        total += n;
        for (int i = 0; i < n; i++) {
            ref_term *r = ref_find(x, toks[i], 1);
            if (r->n && r->docs[r->n - 1] == d)
                r->tf[r->n - 1]++;
            else {
                r->docs[r->n] = d;
                r->tf[r->n++] = 1;
            }
        }
    }
    x->avgdl = (double)total / CRAN_DOCS;
}

static int ref_search(const ref_index *x, const char *query, int *ranked, int k)
{
    static char toks[512][80];
    double score[CRAN_DOCS] = {0};
    int n = ref_tokens(query, toks, 512), hit[CRAN_DOCS] = {0};
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= !strcmp(toks[i], toks[j]);
        ref_term *r = dup ? NULL : ref_find((ref_index *)x, toks[i], 0);
        if (!r)
            continue;
        double idf = log(1 + (CRAN_DOCS - r->n + 0.5) / (r->n + 0.5));
        for (int e = 0; e < r->n; e++) {
            int d = r->docs[e];
            score[d] += idf * r->tf[e] * 2.2 / (r->tf[e] + 1.2 * (0.25 + 0.75 * x->dl[d] / x->avgdl));
            hit[d] = 1;
        }
    }
    int m = 0;
    for (int i = 0; i < k; i++) { /* selection of the k best: plenty fast for 1,400 */
        int best = -1;
        for (int d = 0; d < CRAN_DOCS; d++)
            if (hit[d] && (best < 0 || score[d] > score[best]))
                best = d;
        if (best < 0)
            break;
        ranked[m++] = best;
        hit[best] = 0;
    }
    return m;
}

static void ref_free(ref_index *x)
{
    for (int i = 0; i < x->n_terms; i++) {
        free(x->terms[i].t);
        free(x->terms[i].docs);
        free(x->terms[i].tf);
    }
    free(x->terms);
}

/* Mean nDCG@10 and recall@100 of mnemo_text_search over the 225 queries. */
static void mnemo_quality(const cran *c, const char *name, const char *stem, int stop, double *ndcg, double *recall)
{
    mnemo_db *db = open_text(name, stem, stop);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    for (int d = 0; d < CRAN_DOCS; d++) {
        char id[8];
        snprintf(id, sizeof id, "%d", d + 1);
        put(db, txn, id, c->doc_text[d], NULL);
    }
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    *ndcg = *recall = 0;
    for (int q = 0; q < CRAN_QUERIES; q++) {
        mnemo_text_hits *h;
        TU_OK(mnemo_text_search(&h, db, NULL, c->query[q], 100, NULL));
        int ranked[100];
        for (size_t i = 0; i < h->count; i++)
            ranked[i] = atoi(h->hits[i].id) - 1;
        double n, r;
        cran_judge(c, q, ranked, h->count, &n, &r);
        *ndcg += n / CRAN_QUERIES;
        *recall += r / CRAN_QUERIES;
        mnemo_text_hits_free(h);
    }
    TU_OK(mnemo_close(db));
}

TU_TEST(text, cranfield_quality_matches_a_reference_bm25)
{
    cran *c = cran_load(0);
    ref_index x;
    ref_build(&x, c);
    double ref_ndcg = 0, ref_recall = 0;
    for (int q = 0; q < CRAN_QUERIES; q++) {
        int ranked[100];
        int n = ref_search(&x, c->query[q], ranked, 100);
        double a, b;
        cran_judge(c, q, ranked, (size_t)n, &a, &b);
        ref_ndcg += a / CRAN_QUERIES;
        ref_recall += b / CRAN_QUERIES;
    }
    ref_free(&x);
    double ndcg, recall, s_ndcg, s_recall;
    mnemo_quality(c, "cran", NULL, 0, &ndcg, &recall);
    mnemo_quality(c, "cran_stem", "english", 1, &s_ndcg, &s_recall);
    fprintf(stderr, "cranfield: reference BM25 nDCG@10 %.4f recall@100 %.4f | mnemo (no stemming, no stop words) "
                    "nDCG@10 %.4f recall@100 %.4f | mnemo (english stemming + stop words) nDCG@10 %.4f recall@100 %.4f\n",
            ref_ndcg, ref_recall, ndcg, recall, s_ndcg, s_recall);
    cr_assert(fabs(ndcg - ref_ndcg) <= 0.005, "nDCG@10 %.4f vs reference %.4f", ndcg, ref_ndcg);
    cr_assert(fabs(recall - ref_recall) <= 0.005, "recall@100 %.4f vs reference %.4f", recall, ref_recall);
    cr_assert(ndcg > 0.3, "BM25 on Cranfield is near 0.4 in the literature, not %.4f", ndcg);
    cran_free(c);
}

TU_TEST(text, contains_filters_on_content_substrings)
{
    mnemo_db *db = open_text("k", NULL, 0);
    corpus(db);
    put(db, NULL, "m", "metadata tags", "{\"tags\": [\"alpha wing\", 3], \"s\": \"propeller\"}");
    mnemo_record_page *p;
    TU_OK(mnemo_record_find(&p, db, NULL, "{\"content\": {\"$contains\": \"propeller s\"}}", NULL));
    cr_assert_eq(p->count, 1);
    cr_assert_str_eq(p->records[0].id, "a");
    mnemo_record_page_free(p);
    TU_OK(mnemo_record_find(&p, db, NULL, "{\"content\": {\"$contains\": \"Propeller\"}}", NULL));
    cr_assert_eq(p->count, 0, "case-sensitive");
    mnemo_record_page_free(p);
    TU_OK(mnemo_record_find(&p, db, NULL, "{\"tags\": {\"$contains\": \"wing\"}}", NULL));
    cr_assert_eq(p->count, 1, "an array element");
    mnemo_record_page_free(p);
    TU_OK(mnemo_record_find(&p, db, NULL, "{\"content\": {\"$not\": {\"$contains\": \"wing\"}}}", NULL));
    cr_assert_eq(p->count, 2);
    mnemo_record_page_free(p);
    TU_RC(mnemo_record_find(&p, db, NULL, "{\"content\": {\"$contains\": 3}}", NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "'$contains'"), "%s", mnemo_errmsg());
    mnemo_text_search_options o = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    o.filter = "{\"content\": {\"$contains\": \"tips\"}}";
    cr_assert_str_eq(search_ids(db, NULL, "wing", 10, &o), "c");
    TU_OK(mnemo_close(db));
}

/* The settings figures are filled only as far as the caller's version reaches. */
TU_TEST(text, info_respects_the_callers_version)
{
    mnemo_db *db = open_text("ver", NULL, 0);
    TU_CANARIED(mnemo_text_info) a;
    TU_CANARY_FILL(a, 1);
    TU_OK(mnemo_text_info_get(&a.s, db, NULL));
    cr_assert_eq(a.s.ready, 1);
    cr_assert_eq(a.s.version, 1);
    tu_check_canary(a.canary, sizeof a.canary, "the info");
    mnemo_text_info in;
    memset(&in, 0, sizeof in);
    TU_RC(mnemo_text_info_get(&in, db, NULL), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_text_info version 0"), "%s", mnemo_errmsg());
    in.version = MNEMO_TEXT_INFO_VERSION + 1;
    TU_RC(mnemo_text_info_get(&in, db, NULL), MNEMO_EINVAL);
    TU_OK(mnemo_close(db));
}

/* The neighbourhood arguments are checked as mnemo_vector_search checks them: an unknown direction
 * was followed as some direction, an empty near or near_label failed with a message naming an
 * internal function. */
TU_TEST(text, bad_neighbourhood_arguments_are_named)
{
    mnemo_db *db = open_text("nb", NULL, 0);
    corpus(db);
    mnemo_text_search_options o = MNEMO_TEXT_SEARCH_OPTIONS_INIT;
    mnemo_text_hits *h = NULL;
    o.near = "d";
    o.near_dir = (mnemo_direction)77;
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_text_search: near_dir 77 is not"), "%s", mnemo_errmsg());
    o.near_dir = MNEMO_DIR_OUT;
    o.near = "";
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_text_search: near is empty"), "%s", mnemo_errmsg());
    o.near = "d";
    o.near_label = "";
    TU_RC(mnemo_text_search(&h, db, NULL, "wing", 10, &o), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "mnemo_text_search: near_label must be 1..256 bytes"), "%s", mnemo_errmsg());
    cr_assert_null(h, "out is untouched on failure");
    /* recall hands them to the text search: the same answers */
    mnemo_recall_query q = MNEMO_RECALL_QUERY_INIT;
    mnemo_recall_hits *rh = NULL;
    q.text = "wing";
    q.near = "d";
    q.near_dir = (mnemo_direction)77;
    TU_RC(mnemo_recall(&rh, db, NULL, &q, 5), MNEMO_EINVAL);
    cr_assert(strstr(mnemo_errmsg(), "near_dir 77 is not"), "%s", mnemo_errmsg());
    TU_OK(mnemo_close(db));
}

/* Review: one transaction writing one record several times (put twice, put then delete, delete
 * then put, an update of a committed record twice): its own searches, the committed result, the
 * statistics, and the same after a reopen. */
static void review_same_record_checks(mnemo_db *db, mnemo_txn *txn)
{
    cr_assert_str_eq(search_ids(db, txn, "alpha", 10, NULL), "", "the first put of r is still found");
    cr_assert_str_eq(search_ids(db, txn, "gamma", 10, NULL), "r");
    cr_assert_str_eq(search_ids(db, txn, "delta", 10, NULL), "", "a record put then deleted is found");
    cr_assert_str_eq(search_ids(db, txn, "epsilon", 10, NULL), "", "the deleted first put of u is found");
    cr_assert_str_eq(search_ids(db, txn, "zeta", 10, NULL), "u");
    cr_assert_str_eq(search_ids(db, txn, "propeller", 10, NULL), "a c", "d's old content is still found");
    cr_assert_str_eq(search_ids(db, txn, "omega", 10, NULL), "d");
    cr_assert_str_eq(search_ids(db, txn, "kappa", 10, NULL), "", "d's first update is still found");
    cr_assert_str_eq(search_ids(db, txn, "sigma", 10, NULL), "", "b, rewritten then deleted, is found");
    cr_assert_str_eq(search_ids(db, txn, "heat", 10, NULL), "", "b's committed content is still found");
    mnemo_text_info i = info(db, txn);
    cr_assert_eq(i.documents, 5, "%llu documents", (unsigned long long)i.documents);
}

TU_TEST(text, review_one_transaction_writing_one_record_several_times)
{
    mnemo_db *db = open_text("t", NULL, 0);
    corpus(db);
    uint64_t base_terms = info(db, NULL).total_terms;
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put(db, txn, "r", "alpha beta", NULL);
    put(db, txn, "r", "gamma", NULL);
    put(db, txn, "s", "delta", NULL);
    TU_OK(mnemo_record_delete(db, txn, "s"));
    put(db, txn, "u", "epsilon", NULL);
    TU_OK(mnemo_record_delete(db, txn, "u"));
    put(db, txn, "u", "zeta", NULL);
    put(db, txn, "d", "kappa", NULL);
    put(db, txn, "d", "omega", NULL);
    put(db, txn, "b", "heat sigma", NULL);
    TU_OK(mnemo_record_delete(db, txn, "b"));
    review_same_record_checks(db, txn);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    review_same_record_checks(db, NULL);
    /* d lost "a propeller wing" (3 terms, stop words kept) for omega; b's 10 terms went */
    cr_assert_eq(info(db, NULL).total_terms, base_terms - 3 + 1 + 1 + 1 - 10);
    TU_OK(mnemo_close(db));
    if (!tu_persistent())
        return;
    db = tu_open("t");
    review_same_record_checks(db, NULL);
    TU_OK(mnemo_close(db));
}

/* A record created in a transaction gets its entry 'F' at commit (untracked, like the blocks):
 * re-put in the same transaction it keeps one entry with the last content, created and deleted
 * it gets none, and a later update reads that entry and kills the postings it names. */
TU_TEST(text, a_record_created_in_a_transaction_gets_its_entry_at_commit)
{
    mnemo_db *db = open_text("f", NULL, 0);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put(db, txn, "r", "alpha beta", NULL);
    put(db, txn, "r", "gamma delta epsilon", NULL);
    put(db, txn, "s", "alpha", NULL);
    TU_OK(mnemo_record_delete(db, txn, "s"));
    cr_assert_eq(info(db, txn).documents, 1);
    cr_assert_eq(info(db, txn).total_terms, 3);
    TU_OK(mnemo_txn_commit(txn));
    mnemo_txn_free(txn);
    cr_assert_str_eq(search_ids(db, NULL, "alpha gamma", 10, NULL), "r");
    put(db, NULL, "r", "omega", NULL);
    cr_assert_str_eq(search_ids(db, NULL, "gamma delta", 10, NULL), "");
    cr_assert_str_eq(search_ids(db, NULL, "omega", 10, NULL), "r");
    cr_assert_eq(info(db, NULL).documents, 1);
    cr_assert_eq(info(db, NULL).total_terms, 1);
    TU_OK(mnemo_record_delete(db, NULL, "r"));
    cr_assert_eq(info(db, NULL).documents, 0);
    cr_assert_eq(info(db, NULL).total_terms, 0);
    put(db, NULL, "t", "omega", NULL);
    TU_OK(mnemo_close(db));
    if (tu_persistent())
        cr_assert_eq(raw_count("f", "F", 1), 1, "one entry: t's");
}

/* Review: a search inside a writing transaction, on a term whose blocks piled up, merges them in
 * a transaction of its own; the writing transaction (which re-indexed a record of that term and
 * read its blocks) must still commit, and its writes and the merge both land. */
TU_TEST(text, review_a_search_in_a_writing_transaction_that_merges_still_commits)
{
    mnemo_db *db = open_text("m", NULL, 0);
    put_wings(db);
    mnemo_txn *txn;
    TU_OK(mnemo_txn_begin(&txn, db, 0));
    put(db, txn, "r05", "zeppelin", NULL); /* leaves wing: a kill key */
    put(db, txn, "z", "wing wing wing", NULL);
    const char *got = search_ids(db, txn, "wing", 100, NULL);
    cr_assert_eq(strncmp(got, "z ", 2), 0, "%s", got);
    cr_assert_null(strstr(got, "r05"), "%s", got);
    int rc = mnemo_txn_commit(txn);
    cr_assert_eq(rc, 0, "the writer's commit after its own search merged: %s (%s)", mnemo_strerror(rc), mnemo_errmsg());
    mnemo_txn_free(txn);
    got = search_ids(db, NULL, "wing", 100, NULL);
    cr_assert_eq(strncmp(got, "z ", 2), 0, "%s", got);
    cr_assert_null(strstr(got, "r05"), "%s", got);
    cr_assert_str_eq(search_ids(db, NULL, "zeppelin", 10, NULL), "r05");
    cr_assert_eq(info(db, NULL).documents, 81);
    TU_OK(mnemo_close(db));
    if (tu_persistent()) /* the merged block, the writer's block and its kill key (the merge ran) */
        cr_assert_leq(raw_count("m", "Pwing", 6), 3, "%zu keys", raw_count("m", "Pwing", 6));
}
