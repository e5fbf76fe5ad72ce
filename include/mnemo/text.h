/**
 * @file mnemo/text.h
 * Full-text search over record content, ranked by BM25.
 *
 * Full text is enabled per database (mnemo_text_enable), with settings recorded in it: stemming
 * language (a Snowball algorithm, or none), stop words on or off, and the default BM25 k1 and b.
 * From then on the content of every record is indexed in the same transaction that writes it: a
 * put, update, delete, expiry purge or replacement changes the record's postings atomically.
 *
 * Text becomes terms the same way in records and queries: Unicode word boundaries (UAX #29),
 * words split further at every character that is neither a letter nor a digit ("x-15" and
 * "don't" are two terms each), case folded, accents removed ("Café" -> "cafe"), then, as the
 * database's settings say, Snowball's English stop words dropped and words stemmed. Terms are
 * capped at MNEMO_TEXT_MAX_TERM bytes.
 *
 * Query syntax: words are OR-ed; "a quoted phrase" matches its words at consecutive positions;
 * a leading '-' excludes a word or phrase (-draft, -"first version"). See docs/records.md for the
 * ranking formula.
 *
 * Threads: thread-safe on the db; a transaction belongs to one thread at a time.
 */
#ifndef MNEMO_TEXT_H
#define MNEMO_TEXT_H

#include "mnemo/db.h"
#include "mnemo/txn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MNEMO_TEXT_MAX_TERM 64      /**< bytes of a term; longer words are cut at a character boundary */
#define MNEMO_TEXT_MAX_LANGUAGE 31  /**< bytes of a stemming language name */

#define MNEMO_TEXT_OPTIONS_VERSION 1
/** Settings of full text, given once to mnemo_text_enable and recorded in the database.
 * All-zero means: no stemming, no stop words, k1 1.2, b 0.75. */
typedef struct mnemo_text_options {
    unsigned version;          /**< MNEMO_TEXT_OPTIONS_VERSION (0 is taken as 1) */
    const char *stem_language; /**< a Snowball algorithm ("english", "french", "porter", ...), or
                                    NULL / "" / "none" for no stemming */
    int stopwords;             /**< non-zero: drop Snowball's English stop words */
    double k1;                 /**< default BM25 term-frequency saturation, 0 < k1 <= 100 (0: 1.2) */
    double b;                  /**< default BM25 length normalisation, 0 < b <= 1 (0: 0.75; for no
                                    normalisation give a tiny value such as 1e-9) */
    mnemo_progress_fn progress; /**< called while the records already stored are indexed (may be NULL) */
    void *progress_arg;
} mnemo_text_options;
#define MNEMO_TEXT_OPTIONS_INIT {MNEMO_TEXT_OPTIONS_VERSION, NULL, 0, 0.0, 0.0, NULL, NULL}

/** Enable full text on the database: record the settings, then index every record already stored
 * (in batches, each its own transaction, reporting progress), then mark the index ready. Records
 * written meanwhile are indexed by their own transactions. An interrupted build (a crash, an
 * error) is resumed by calling this again with the same settings.
 * @param[in] opts  NULL for the defaults.
 * @return 0; MNEMO_EEXISTS (already enabled: mnemo_text_disable first to change the settings);
 *         MNEMO_EINVAL (unknown language, bad k1 or b, a build in progress with other settings);
 *         MNEMO_EREADONLY; MNEMO_EBUSY; MNEMO_ECORRUPT; MNEMO_EIO; MNEMO_ENOMEM. */
MNEMO_API int mnemo_text_enable(mnemo_db *db, const mnemo_text_options *opts);

/** Remove the full-text index and its settings (records stay). Later writes index nothing.
 * @return 0; MNEMO_ENOTFOUND (not enabled); MNEMO_EINVAL; MNEMO_EREADONLY; MNEMO_EIO. */
MNEMO_API int mnemo_text_disable(mnemo_db *db);

#define MNEMO_TEXT_INFO_VERSION 1
/** What full text is set to, and how big the index is. The caller sets `version` (start from
 * MNEMO_TEXT_INFO_INIT); the library fills the fields of that version. */
typedef struct mnemo_text_info {
    unsigned version;      /**< MNEMO_TEXT_INFO_VERSION of the caller's header; left as set */
    char stem_language[MNEMO_TEXT_MAX_LANGUAGE + 1]; /**< "" for none */
    int stopwords;
    double k1, b;          /**< the defaults of searches */
    int ready;             /**< 0 while the records stored before enabling are still being indexed */
    uint64_t documents;    /**< records indexed (expired ones count until purged) */
    uint64_t total_terms;  /**< sum of their lengths in terms */
} mnemo_text_info;
#define MNEMO_TEXT_INFO_INIT {MNEMO_TEXT_INFO_VERSION, {0}, 0, 0.0, 0.0, 0, 0, 0}

/** @param[in] txn  NULL, or a transaction whose view (and own writes) to read.
 * @return 0; MNEMO_ENOTFOUND (full text is not enabled); MNEMO_EINVAL (also: out->version 0 or
 *         newer than the library); MNEMO_ECORRUPT. */
MNEMO_API int mnemo_text_info_get(mnemo_text_info *out, mnemo_db *db, mnemo_txn *txn);

#define MNEMO_TEXT_SEARCH_OPTIONS_VERSION 1
/** How a text search runs. All-zero means the database's k1 and b, no restriction. */
typedef struct mnemo_text_search_options {
    unsigned version;   /**< MNEMO_TEXT_SEARCH_OPTIONS_VERSION (0 is taken as 1) */
    double k1;          /**< 0: the database's; else 0 < k1 <= 100 */
    double b;           /**< 0: the database's; else 0 < b <= 1 */
    const char *filter; /**< metadata filter (the language of mnemo_record_find), or NULL */
    const char *near;   /**< restrict to records within `hops` of this record (itself included) */
    uint32_t hops;      /**< with near: 1.. hops; 0 is taken as 1 */
    mnemo_direction near_dir; /**< with near: edges followed (0: both directions) */
    const char *near_label;   /**< with near: only edges of this label (NULL: all) */
} mnemo_text_search_options;
#define MNEMO_TEXT_SEARCH_OPTIONS_INIT {MNEMO_TEXT_SEARCH_OPTIONS_VERSION, 0.0, 0.0, NULL, NULL, 0, 0, NULL}

/** One result. */
typedef struct mnemo_text_hit {
    const char *id; /**< record id */
    double score;   /**< BM25 score, > 0; higher is better */
} mnemo_text_hit;

/** Results of one query, best first (equal scores: older internal id first). One allocation:
 * free with mnemo_text_hits_free(). */
typedef struct mnemo_text_hits {
    size_t count;
    mnemo_text_hit *hits;
} mnemo_text_hits;

MNEMO_API void mnemo_text_hits_free(mnemo_text_hits *hits);

/** The k live records that best match `query` by BM25. Inside a txn the transaction's own writes
 * take part. Deleted and expired records never come back.
 * An empty result (count 0, not an error): a query with no searchable term (empty, only
 * punctuation, only stop words, only excluded terms), or terms and phrases no record has.
 * @param[out] out   the hits (fewer than k when fewer records match); untouched on failure.
 * @param[in]  query UTF-8, at most 1 MiB and 1024 distinct terms.
 * @param[in]  opts  NULL for defaults.
 * @return 0; MNEMO_EINVAL (NULL query, k 0, invalid UTF-8 (the message gives the byte offset), a
 *         query too long or with too many terms, bad k1 or b (negative, NaN, out of range), bad
 *         filter, empty `near`, unknown `near_dir`, `near_label` empty or longer than MNEMO_LABEL_MAX,
 *         full text not enabled or still being built);
 *         MNEMO_ENOTFOUND (`near` names no live record); MNEMO_ECORRUPT; MNEMO_ENOMEM. */
MNEMO_API int mnemo_text_search(mnemo_text_hits **out, mnemo_db *db, mnemo_txn *txn, const char *query, size_t k,
                                const mnemo_text_search_options *opts);

#ifdef __cplusplus
}
#endif
#endif
