/* Walking every key-value pair and every record through the public API, a page at a time. */
#include "cli/cli.h"

#include <stdlib.h>

#define LIST_PAGE 512

int cli_each_record(mnemo_db *db, mnemo_txn *txn, int (*fn)(void *arg, const mnemo_record *r), void *arg)
{
    mnemo_record_list_options lo = MNEMO_RECORD_LIST_OPTIONS_INIT;
    lo.limit = LIST_PAGE;
    char *cursor = NULL;
    int rc = 0;
    do {
        lo.cursor = cursor;
        mnemo_record_page *page;
        if ((rc = mnemo_record_list(&page, db, txn, &lo)) != 0)
            break;
        for (size_t i = 0; i < page->count && !rc; i++)
            rc = fn(arg, &page->records[i]);
        free(cursor);
        cursor = page->next_cursor && !rc ? cli_xstrdup(page->next_cursor) : NULL;
        mnemo_record_page_free(page);
    } while (cursor);
    free(cursor);
    return rc;
}

int cli_each_kv(mnemo_db *db, mnemo_txn *txn, int (*fn)(void *arg, const void *k, size_t kl, const void *v, size_t vl),
                void *arg)
{
    mnemo_iter *it;
    int rc = mnemo_kv_iter(&it, db, txn, NULL);
    if (rc)
        return rc;
    while ((rc = mnemo_iter_next(it)) == 0) {
        const void *k, *v;
        size_t kl, vl;
        if ((rc = mnemo_iter_key(it, &k, &kl)) != 0 || (rc = mnemo_iter_value(it, &v, &vl)) != 0 ||
            (rc = fn(arg, k, kl, v, vl)) != 0)
            break;
    }
    mnemo_iter_free(it);
    return rc == MNEMO_ITEROVER ? 0 : rc;
}
