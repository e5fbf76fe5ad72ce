/* libFuzzer target: the full-text tokenizer and query parser (src/text/). Any bytes must tokenize
 * or give MNEMO_EINVAL naming a byte offset; every term is 1..MNEMO_TEXT_MAX_TERM bytes of valid
 * UTF-8 without NUL, positions never go down; a parsed query has at most the documented number
 * of distinct terms and phrase offsets that start at 0 and never go down; the all-ASCII fast path
 * gives the terms the Unicode path gives. The first byte picks the settings (stemming, stop
 * words). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#include "mnemo/common.h"
#include "text/text.h"

typedef struct check {
    uint32_t last;
    int any;
    uint64_t digest; /* of every term and position, in order */
} check;

static int on_term(void *arg, const char *t, size_t n, uint32_t pos)
{
    check *c = arg;
    if (n == 0 || n > MNEMO_TEXT_MAX_TERM || memchr(t, 0, n) || u8_check((const uint8_t *)t, n))
        abort();
    if (c->any && pos <= c->last)
        abort();
    c->last = pos;
    c->any = 1;
    for (size_t i = 0; i < n; i++)
        c->digest = (c->digest ^ (unsigned char)t[i]) * 0x100000001b3ull;
    c->digest = (c->digest ^ (0x100u + pos)) * 0x100000001b3ull;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const langs[] = {"", "english", "french", "porter"};
    mnemo_text_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.stem, langs[data[0] & 3]);
    cfg.stopwords = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    check c = {0, 0, 0}, u = {0, 0, 0};
    uint32_t n_pos = 0, u_pos = 0;
    int rc = mnemo_text__tokenize(text, len, &cfg, on_term, &c, &n_pos, "fuzz");
    if (rc && (rc != MNEMO_EINVAL || !strstr(mnemo_errmsg(), "invalid UTF-8 at byte")))
        abort();
    if (rc == 0 && (mnemo_text__tokenize_unicode(text, len, &cfg, on_term, &u, &u_pos, "fuzz") != 0 ||
                    u.digest != c.digest || u_pos != n_pos))
        abort(); /* the two paths disagree */
    /* the query parser wants a C string: stop at the first NUL */
    char *q = malloc(len + 1);
    if (!q)
        return 0;
    memcpy(q, text, len);
    q[len] = 0;
    text_query tq;
    rc = mnemo_text__parse_query(&tq, q, strlen(q), &cfg);
    if (rc == 0) {
        if (tq.n_distinct > MNEMO_TEXT_MAX_QUERY_TERMS || tq.n > MNEMO_TEXT_MAX_QUERY_TERMS)
            abort();
        for (size_t i = 0; i < tq.n; i++) {
            if (tq.c[i].n == 0 || tq.c[i].offsets[0] != 0)
                abort();
            for (size_t j = 1; j < tq.c[i].n; j++)
                if (tq.c[i].offsets[j] <= tq.c[i].offsets[j - 1])
                    abort();
        }
        mnemo_text__query_free(&tq);
    } else if (rc != MNEMO_EINVAL && rc != MNEMO_ENOMEM) {
        abort();
    }
    free(q);
    return 0;
}
