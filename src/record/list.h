/* Pages of records and resumable cursors, shared by listing (list.c) and find (index.c). */
#ifndef MNEMO_RECORD_LIST_H
#define MNEMO_RECORD_LIST_H

#include "mnemo/record.h"

/* A mnemo_record_list plus the blobs its records' strings live in. */
typedef struct page_impl {
    mnemo_record_page pub; /* first: the public pointer is this struct */
    mnemo_record **blobs;
    size_t cap;
} page_impl;

mnemo_record_page *mnemo_record__page_new(void);
/* Takes ownership of r on success. */
int mnemo_record__page_add(mnemo_record_page *l, mnemo_record *r);

int mnemo_record__cursor_make(char **out, char kind, const void *key, size_t len);
int mnemo_record__cursor_parse(unsigned char *key, size_t cap, size_t *len, const char *cursor, char kind,
                               const char *fn);

#endif
