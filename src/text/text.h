/* Internal API of the full-text room, for the db room (open), the fuzz targets and the tests.
 *
 * Keys (text_index keyspace, layout 2, docs/records.md "Full text"):
 *   'P' term 0x00 0x01 seg(u64)          -> sealed block: one transaction's postings of the term
 *   'P' term 0x00 0x02 [chunk(u16 BE)]   -> sealed block: a merge's postings of the term
 *   'P' term 0x00 0x00 iid gen(u32 BE)   -> sealed empty: kill key, that posting generation is dead
 *   'F' iid(u64 BE)                      -> sealed: varint length, varint generation, u32 term-set hash
 *   'S' 0x00                             -> sealed: u64 documents, u64 total length (folded base)
 *   'S' 0x01 nonce(u64) seq(u64)         -> sealed: i64 delta documents, i64 delta length
 * A block: entries by ascending iid, each varint iid delta, varint length, varint tf << 1 | (gen
 * != 0), [varint gen], tf varint position deltas.
 *
 * Why this shape: one key per (term, record) made an indexed put ~100 tracked writes (a 1,000-record
 * commit 100,000 keys, each indexed in the transaction, validated, inserted in the memtable) and
 * cost ~30 bytes a posting on disk. Per-transaction blocks make a commit write one key per distinct
 * term it touched, untracked: the key is the transaction's own (random segment id), so no other
 * writer ever writes it, and the record key (tracked, written by the record room in the same
 * transaction; a re-indexed record's 'F' too) orders writers of the same record: the loser applies
 * nothing, its blocks included. A fresh record's 'F' is written untracked at commit as well: its
 * internal id is the transaction's own, as a block's segment is. Records are
 * re-indexed or removed by kill keys per (term, record, generation), never by rewriting a shared
 * block, so writers of different records never write a common key. Per-(term, block) keys merged at
 * commit would have made every commit read-modify-write shared keys (conflicts between writers of
 * different records); blocks merged later, by a merge that only deletes what another merge deletes,
 * keep writers out of each other's way. A query still reads only its terms' keys.
 * Settings: metadata key "Ttext" (TEXT_CONFIG_KEY) -> sealed settings and build state. */
#ifndef MNEMO_TEXT_INTERNAL_H
#define MNEMO_TEXT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mnemo/record.h"
#include "mnemo/text.h"
#include "txn/txn.h"

/* How text becomes terms: the settings a database records when full text is enabled. */
typedef struct mnemo_text_cfg {
    char stem[MNEMO_TEXT_MAX_LANGUAGE + 1]; /* Snowball algorithm, "" for none */
    int stopwords;
} mnemo_text_cfg;

/* Called for each term in text order: term (not NUL-terminated, 1..MNEMO_TEXT_MAX_TERM bytes),
 * pos its position (stop words take a position too, so phrases keep their gaps). Returns 0 to
 * go on or a negative code to stop with it. */
typedef int (*mnemo_term_fn)(void *arg, const char *term, size_t len, uint32_t pos);

/* Splits UTF-8 text into terms (tokenize.c): word boundaries of Unicode (UAX #29, libunistring),
 * then each word at every character that is neither a letter nor a digit; case folded, accents
 * removed (NFD minus non-spacing marks), stop words dropped and words stemmed as cfg says.
 * *n_pos (may be NULL) gets the number of positions used. Invalid UTF-8 is MNEMO_EINVAL naming
 * the byte offset, prefixed by `what`. */
int mnemo_text__tokenize(const char *text, size_t len, const mnemo_text_cfg *cfg, mnemo_term_fn cb, void *arg,
                         uint32_t *n_pos, const char *what);

/* The same without the all-ASCII fast path: Unicode's word breaks and folding for every text.
 * The tests and the fuzz target check that both give the same terms. */
int mnemo_text__tokenize_unicode(const char *text, size_t len, const mnemo_text_cfg *cfg, mnemo_term_fn cb,
                                 void *arg, uint32_t *n_pos, const char *what);

/* 0 when Snowball has a stemmer for lang, else MNEMO_EINVAL naming it. */
int mnemo_text__check_language(const char *lang);

/* 1 when the folded word is on the stop list. */
int mnemo_text__is_stopword(const char *w, size_t len);

/* A parsed query (query.c): positive terms and phrases are OR-ed, excluded ones remove a record. */
typedef struct text_clause {
    char **terms;      /* mnemo__malloc'd, NUL-terminated */
    uint32_t *offsets; /* position of each term relative to the first (phrases keep stop-word gaps) */
    size_t n;          /* 1: a term; more: a phrase */
    int excluded;
} text_clause;

#define MNEMO_TEXT_MAX_QUERY (1u << 20)   /* bytes of query text */
#define MNEMO_TEXT_MAX_QUERY_TERMS 1024u  /* distinct terms of a query; also its most clauses */
#define TEXT_QUERY_SET 2048u              /* slots of the distinct-term set (twice the cap) */

typedef struct text_query {
    text_clause *c;
    size_t n;
    const char *distinct[TEXT_QUERY_SET]; /* the distinct terms (borrowed from the clauses) */
    size_t n_distinct;
} text_query;

/* Parses query text: words, "quoted phrases" (an unclosed quote runs to the end), and a leading
 * '-' on a word or phrase to exclude it. Returns 0 (possibly no clause: nothing searchable),
 * MNEMO_EINVAL (invalid UTF-8 with its offset, too long, too many terms) or MNEMO_ENOMEM. */
int mnemo_text__parse_query(text_query *q, const char *text, size_t len, const mnemo_text_cfg *cfg);
void mnemo_text__query_free(text_query *q);

/* Called by mnemo_open: registers the record listener by which, inside the writing transaction, a
 * record stored over old re-indexes its content when full text is enabled and a removed record
 * loses its postings; on a read-write open, rebuilds an index of layout 1 with its settings. */
int mnemo_text__open(mnemo_db *db);

#endif
