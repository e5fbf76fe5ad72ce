#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

int mnemo__json_object(json_t **json, char **compact, const char *text, size_t max, const char *fn, const char *what)
{
    json_t *j;
    if (!text) {
        j = json_object();
    } else {
        size_t n = strnlen(text, max + 1);
        if (n > max)
            return mnemo__err(MNEMO_EINVAL, "%s: %s is longer than %zu bytes", fn, what, max);
        json_error_t e;
        j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
        if (!j)
            return mnemo__err(MNEMO_EINVAL, "%s: %s is not valid JSON: %s (line %d, column %d)", fn, what, e.text,
                              e.line, e.column);
        if (!json_is_object(j)) {
            json_decref(j);
            return mnemo__err(MNEMO_EINVAL, "%s: %s must be a JSON object (line 1, column 1)", fn, what);
        }
    }
    if (!j)
        return mnemo__err_nomem(fn);
    char *dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    char *copy = dump ? mnemo__memdup(dump, strlen(dump)) : NULL;
    free(dump);
    if (!copy) {
        json_decref(j);
        return mnemo__err_nomem(fn);
    }
    if (strlen(copy) > max) { /* the stored form can be longer: 0.1 -> 0.10000000000000001 */
        json_decref(j);
        mnemo__free(copy);
        return mnemo__err(MNEMO_EINVAL, "%s: %s is longer than %zu bytes once stored", fn, what, max);
    }
    *json = j;
    *compact = copy;
    return 0;
}
