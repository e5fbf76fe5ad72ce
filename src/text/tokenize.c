/* Text -> terms. Word boundaries, case folding and normalisation come from GNU libunistring
 * (Unicode's own algorithms, kept up to date by Debian), stemming from Snowball (libstemmer):
 * nothing linguistic is hand-written here except the stop list, which is Snowball's.
 *
 * A term is at most MNEMO_TEXT_MAX_TERM bytes: longer runs (hashes, base64, URLs run together)
 * are cut at a character boundary, the same way in documents and queries, so they still match
 * on their first 64 bytes. Real words are far shorter (the longest English dictionary words are
 * ~30 letters), and the cap keeps every postings key short, which is most of the index size. */
#include <libstemmer.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>
#include <uniwbrk.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/text.h"

/* Snowball's English stop list, from snowballstem.org/algorithms/english/stop.txt (BSD
 * licence; the copy in Lucene's analysis/snowball resources), sorted. Its entries with an
 * apostrophe (i'm, don't, ...) are left out: the tokenizer splits words at apostrophes, so they
 * could never match. */
static const char *const STOPWORDS[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "cannot", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
    "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
    "in", "into", "is", "it", "its", "itself", "me", "more", "most", "my", "myself", "no", "nor", "not",
    "of", "off", "on", "once", "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over",
    "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
    "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "with", "would", "you", "your", "yours", "yourself", "yourselves",
};

static int cmp_word(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

int mnemo_text__is_stopword(const char *w, size_t len)
{
    char buf[16];
    if (len >= sizeof buf)
        return 0; /* the longest entry has 10 letters */
    memcpy(buf, w, len);
    buf[len] = '\0';
    return bsearch(buf, STOPWORDS, sizeof STOPWORDS / sizeof *STOPWORDS, sizeof *STOPWORDS, cmp_word) != NULL;
}

/* ---- stemmers: a Snowball stemmer is not thread-safe, so each thread keeps its own ---- */

typedef struct tl_stemmer {
    char lang[MNEMO_TEXT_MAX_LANGUAGE + 1];
    struct sb_stemmer *s;
} tl_stemmer;

static pthread_key_t stem_key;
static pthread_once_t stem_once = PTHREAD_ONCE_INIT;

static void stem_free(void *p)
{
    tl_stemmer *t = p;
    if (t->s)
        sb_stemmer_delete(t->s);
    free(t); /* plain malloc: thread-exit cleanup must not go through the failure-injecting allocator */
}

static void stem_key_init(void) { (void)pthread_key_create(&stem_key, stem_free); }

/* This thread's stemmer for lang: NULL with *rc set when the language is unknown or memory ran out. */
static struct sb_stemmer *stemmer_for(const char *lang, int *rc)
{
    pthread_once(&stem_once, stem_key_init);
    tl_stemmer *t = pthread_getspecific(stem_key);
    if (t && !strcmp(t->lang, lang))
        return t->s;
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) {
            *rc = mnemo__err_nomem("stemmer");
            return NULL;
        }
        if (pthread_setspecific(stem_key, t)) {
            free(t);
            *rc = mnemo__err_nomem("stemmer");
            return NULL;
        }
    }
    if (t->s)
        sb_stemmer_delete(t->s);
    t->lang[0] = '\0';
    if (!(t->s = sb_stemmer_new(lang, NULL))) {
        *rc = mnemo__err(MNEMO_EINVAL, "no Snowball stemmer for language '%s'", lang);
        return NULL;
    }
    snprintf(t->lang, sizeof t->lang, "%s", lang);
    return t->s;
}

int mnemo_text__check_language(const char *lang)
{
    int rc = 0;
    return stemmer_for(lang, &rc) ? 0 : rc;
}

/* ---- tokenizer ---- */

typedef struct tok {
    const mnemo_text_cfg *cfg;
    struct sb_stemmer *stem;
    mnemo_term_fn cb;
    void *arg;
    uint32_t pos;
    char term[MNEMO_TEXT_MAX_TERM];
    size_t len;
    int cut; /* the term reached the cap: the rest of its characters are dropped */
} tok;

/* Ends the term being built: a stop word only takes its position; others are stemmed and emitted. */
static int emit(tok *t)
{
    if (!t->len)
        return 0;
    size_t len = t->len;
    t->len = 0;
    t->cut = 0;
    uint32_t pos = t->pos++;
    if (t->cfg->stopwords && mnemo_text__is_stopword(t->term, len))
        return 0;
    const char *w = t->term;
    if (t->stem) {
        const sb_symbol *s = sb_stemmer_stem(t->stem, (const sb_symbol *)t->term, (int)len);
        if (!s)
            return mnemo__err_nomem("stemmer");
        w = (const char *)s;
        len = (size_t)sb_stemmer_length(t->stem);
        if (len > MNEMO_TEXT_MAX_TERM) /* a stem is never longer than its word, but be sure */
            len = MNEMO_TEXT_MAX_TERM;
        if (!len)
            return 0;
    }
    return t->cb(t->arg, w, len, pos);
}

/* Appends one character (its UTF-8 bytes) unless the term is full; a full term drops the rest of
 * its characters rather than splitting into another term. */
static void append(tok *t, const uint8_t *c, size_t n)
{
    if (t->cut || t->len + n > MNEMO_TEXT_MAX_TERM) {
        t->cut = 1;
        return;
    }
    memcpy(t->term + t->len, c, n);
    t->len += n;
}

static int is_word_char(ucs4_t uc)
{
    return uc_is_property_alphabetic(uc) || uc_is_general_category(uc, UC_CATEGORY_N);
}

/* A folded (NFD) word: letters and digits are kept, non-spacing marks (accents) dropped, any other
 * character ends a term. */
static int split_folded(tok *t, const uint8_t *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        ucs4_t uc;
        int l = u8_mbtouc_unsafe(&uc, s + i, n - i);
        if (uc_is_general_category(uc, UC_CATEGORY_Mn))
            ;
        else if (is_word_char(uc))
            append(t, s + i, (size_t)l);
        else
            rc = emit(t);
        i += (size_t)l;
    }
    return rc ? rc : emit(t);
}

/* ASCII letters and digits to their lower case, every other byte to 0 (bytes from 0x80 are never
 * looked up: the fast path runs on all-ASCII text only). */
static const unsigned char ASCII_FOLD[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 0, 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
};

/* All-ASCII text: Unicode's word breaks never split a run of ASCII letters and digits, and fold
 * ASCII to lower case, so the terms are the lowered runs of [A-Za-z0-9] (the first
 * MNEMO_TEXT_MAX_TERM bytes of a longer run, as append keeps). Most text is ASCII: one table
 * look-up a byte instead of libunistring's word breaks, case folding and normalisation. */
static int tokenize_ascii(tok *t, const unsigned char *s, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        while (i < n && !ASCII_FOLD[s[i]])
            i++;
        size_t l = 0;
        for (; i < n && ASCII_FOLD[s[i]]; i++)
            if (l < MNEMO_TEXT_MAX_TERM)
                t->term[l++] = (char)ASCII_FOLD[s[i]];
        t->len = l;
        rc = emit(t);
    }
    return rc;
}

/* The length of the leading ASCII bytes of s, 8 at a time. */
static size_t ascii_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (uint64_t w; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull)
            break;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

/* One word-break segment of non-ASCII text. */
static int tokenize_segment(tok *t, const uint8_t *s, size_t n)
{
    int has_word = 0;
    for (size_t i = 0; i < n && !has_word;) {
        ucs4_t uc;
        int l = u8_mbtouc_unsafe(&uc, s + i, n - i);
        has_word = is_word_char(uc);
        i += (size_t)l;
    }
    if (!has_word) /* spaces, punctuation, symbols */
        return 0;
    uint8_t buf[256];
    size_t flen = sizeof buf;
    uint8_t *f = u8_casefold(s, n, NULL, UNINORM_NFD, buf, &flen);
    if (!f)
        return mnemo__err_nomem("text folding");
    int rc = split_folded(t, f, flen);
    if (f != buf)
        free(f);
    return rc;
}

static int tokenize(const char *text, size_t len, const mnemo_text_cfg *cfg, mnemo_term_fn cb, void *arg,
                    uint32_t *n_pos, const char *what, int ascii_fast)
{
    const uint8_t *s = (const uint8_t *)text;
    tok t = {cfg, NULL, cb, arg, 0, {0}, 0, 0};
    int rc = 0;
    if (cfg->stem[0] && !(t.stem = stemmer_for(cfg->stem, &rc)))
        return rc;
    if (ascii_fast && ascii_prefix(s, len) == len) {
        rc = tokenize_ascii(&t, s, len);
    } else {
        const uint8_t *bad = u8_check(s, len);
        if (bad)
            return mnemo__err(MNEMO_EINVAL, "%s: invalid UTF-8 at byte %zu", what, (size_t)(bad - s));
        char *brk = mnemo__malloc(len);
        if (!brk)
            return mnemo__err_nomem(what);
        u8_wordbreaks(s, len, brk);
        size_t start = 0;
        for (size_t i = 1; i <= len && !rc; i++)
            if (i == len || brk[i]) {
                rc = tokenize_segment(&t, s + start, i - start);
                start = i;
            }
        mnemo__free(brk);
    }
    if (!rc && n_pos)
        *n_pos = t.pos;
    return rc;
}

int mnemo_text__tokenize(const char *text, size_t len, const mnemo_text_cfg *cfg, mnemo_term_fn cb, void *arg,
                         uint32_t *n_pos, const char *what)
{
    return tokenize(text, len, cfg, cb, arg, n_pos, what, 1);
}

int mnemo_text__tokenize_unicode(const char *text, size_t len, const mnemo_text_cfg *cfg, mnemo_term_fn cb, void *arg,
                                 uint32_t *n_pos, const char *what)
{
    return tokenize(text, len, cfg, cb, arg, n_pos, what, 0);
}
