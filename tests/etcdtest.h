/* Local etcd clusters for the tests: members are child processes of the test (Debian's etcd, found
 * on PATH or through $MNEMO_ETCD), on free 127.0.0.1 ports, in a temporary directory; they die with
 * the test process (PR_SET_PDEATHSIG) and tu_etcd_stop removes their directory. */
#ifndef MNEMO_TESTS_ETCDTEST_H
#define MNEMO_TESTS_ETCDTEST_H

#include <sys/types.h>

#define TU_ETCD_MAX 5

typedef struct tu_etcd {
    int n;
    char dir[256];
    int client_port[TU_ETCD_MAX], peer_port[TU_ETCD_MAX];
    pid_t pid[TU_ETCD_MAX];
    char endpoints[256]; /* "127.0.0.1:p1,127.0.0.1:p2,..." */
} tu_etcd;

/* The settings mnemo needs from a cluster (docs/storage.md "The etcd engine"), and the path options
 * that tell the engine about them. */
#define TU_ETCD_MAX_TXN_OPS 32768
#define TU_ETCD_MAX_REQUEST_BYTES (16 << 20)
#define TU_ETCD_PATH_OPTIONS "max_txn_ops=32768&max_request_bytes=16777216"

/* A 127.0.0.1 port nobody listens on now (the kernel's pick for an ephemeral bind); -1 if none. */
int tu_free_port(void);
/* 1 if an etcd program is there to run. */
int tu_etcd_available(void);
/* Starts n members and waits until the cluster answers; 0 or -1 (message on stderr). */
int tu_etcd_start(tu_etcd *c, int n);
/* Kills (SIGKILL) member i and reaps it; restart brings it back with its data. */
void tu_etcd_kill(tu_etcd *c, int i);
int tu_etcd_restart(tu_etcd *c, int i);
/* The member that is leader now (-1: none answered). */
int tu_etcd_leader(tu_etcd *c);
/* Compacts the cluster's history up to its current revision (physically); 0 or -1. */
int tu_etcd_compact(tu_etcd *c);
/* Kills every member and removes the directory. */
void tu_etcd_stop(tu_etcd *c);
/* A path for database `name` on the cluster: etcd://endpoints/name?options (static buffer). */
const char *tu_etcd_path(tu_etcd *c, const char *name);

#endif
