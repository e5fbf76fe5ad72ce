/* libFuzzer target: the metadata filter compiler (src/filter/filter.c). Any text must compile or
 * give MNEMO_EINVAL with a message; a compiled filter is matched against a few metadata objects and
 * planned for indexes without crashing. The seeds (fuzz/corpus/filter) reach every operator,
 * including $all, $size, $elemMatch, $nor and $regex with $options, invalid patterns and one that
 * backtracks catastrophically. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "mnemo/common.h"
#include "filter/filter.h"

static json_t *docs[6];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *texts[] = {
        "{}",
        "{\"topic\": \"rust\", \"importance\": 0.7, \"tags\": [\"a\", \"b\", 3], \"n\": null}",
        "{\"author\": {\"name\": \"ada\", \"age\": 36}, \"x\": [1, 2.5, {\"y\": true}]}",
        "{\"x\": 9007199254740993, \"s\": \"a\\u0000b\", \"e\": [], \"o\": {}}",
        "{\"a\": {\"b\": {\"c\": {\"d\": [false, -0.0, 1e308]}}}}",
        "{\"topic\": [\"rust\", \"go\"], \"x\": -1}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        if (!(docs[i] = json_loads(texts[i], JSON_ALLOW_NUL, NULL)))
            abort();
    return 0;
}

#define NDOCS (sizeof docs / sizeof docs[0])

/* The filter on cells of its paths (the vector room's columns) answers as on the tree: one column
 * per path over the documents, every other path left without one. */
static void check_cells(const mnemo_filter *f, const mnemo_filter_fields *fields)
{
    const char *const *paths;
    int reads_fields;
    size_t np = mnemo_filter__paths(f, &paths, &reads_fields);
    mnemo_filter_cell *cols[16] = {NULL}, cells[16][NDOCS];
    for (size_t p = 0; p < np && p < 16; p++) {
        char buf[512], *segs[32];
        size_t nsegs = 0;
        if (strlen(paths[p]) >= sizeof buf)
            continue;
        strcpy(buf, paths[p]);
        for (char *seg = buf, *dot;; seg = dot + 1) {
            if (nsegs == 32)
                break;
            segs[nsegs++] = seg;
            if (!(dot = strchr(seg, '.')))
                break;
            *dot = '\0';
        }
        if (nsegs == 32 || p % 4 == 3)
            continue;
        for (size_t d = 0; d < NDOCS; d++)
            mnemo_filter__cell_of(&cells[p][d], docs[d], (const char *const *)segs, nsegs);
        cols[p] = cells[p];
    }
    if (np > 16)
        return;
    for (size_t d = 0; d < NDOCS; d++) {
        mnemo_filter_cells cx = {(const mnemo_filter_cell *const *)cols, d};
        int want = mnemo_filter__match(f, docs[d], fields);
        if (want < 0)
            continue; /* $regex over its limits */
        if (mnemo_filter__match_cells(f, docs[d], fields, &cx) != want)
            abort();
        int decided = mnemo_filter__decide_cells(f, &cx);
        if (decided >= 0 && decided != want)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    mnemo_filter *f = NULL;
    int rc = mnemo_filter__compile(&f, text);
    if (rc == 0) {
        mnemo_filter_fields fields = {"id-1", "some content", 0.5, 1700000000000, 1700000000001, 0};
        for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
            int m1 = mnemo_filter__match(f, docs[i], &fields), m2 = mnemo_filter__match(f, docs[i], NULL);
            /* a $regex over its match limit is EINVAL, out of memory ENOMEM; nothing else */
            if ((m1 != 0 && m1 != 1 && m1 != MNEMO_EINVAL && m1 != MNEMO_ENOMEM) ||
                (m2 != 0 && m2 != 1 && m2 != MNEMO_EINVAL && m2 != MNEMO_ENOMEM))
                abort();
        }
        check_cells(f, &fields);
        mnemo_filter_pred preds[8];
        size_t n = mnemo_filter__index_preds(f, preds, 8);
        for (size_t i = 0; i < n && i < 8; i++) {
            unsigned char buf[64];
            if (!preds[i].path || !*preds[i].path)
                abort();
            for (size_t k = 0; k < preds[i].n_values; k++)
                mnemo_filter__encode_scalar(preds[i].values[k], buf, sizeof buf);
            if (preds[i].lower)
                mnemo_filter__encode_scalar(preds[i].lower, buf, sizeof buf);
            if (preds[i].upper)
                mnemo_filter__encode_scalar(preds[i].upper, buf, sizeof buf);
        }
        mnemo_filter__free(f);
    } else if (rc != MNEMO_EINVAL && rc != MNEMO_ENOMEM) {
        abort();
    } else if (f != NULL || !*mnemo_errmsg()) {
        abort(); /* out untouched on failure, and a message says why */
    }
    free(text);
    return 0;
}
