/* What the etcd engine tells its tests beyond the store interface (store.h). */
#ifndef MNEMO_STORE_ETCD_ETCD_H
#define MNEMO_STORE_ETCD_ETCD_H

#include <stdint.h>

typedef struct mnemo_store mnemo_store;

/* 1 while the watch on the commit counter is connected and has had no error since it was created:
 * last_seq then answers without a request. */
int mnemo__etcd_watching(mnemo_store *s);
/* Requests the store has sent to etcd (the watch's own excluded). */
uint64_t mnemo__etcd_requests(mnemo_store *s);

#endif
