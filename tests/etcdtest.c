#include "etcdtest.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *etcd_prog(void)
{
    const char *e = getenv("MNEMO_ETCD");
    return e && *e ? e : "etcd";
}

int tu_etcd_available(void)
{
    const char *p = etcd_prog();
    if (strchr(p, '/'))
        return access(p, X_OK) == 0;
    const char *path = getenv("PATH");
    char buf[1024];
    for (const char *d = path ? path : "/usr/bin:/bin"; d && *d;) {
        const char *colon = strchr(d, ':');
        size_t n = colon ? (size_t)(colon - d) : strlen(d);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, d, p);
        if (access(buf, X_OK) == 0)
            return 1;
        d = colon ? colon + 1 : NULL;
    }
    return 0;
}

int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t spawn(tu_etcd *c, int i)
{
    char name[16], data[300], curl[64], purl[64], cluster[1024] = "", log[300], ops[16], bytes[16];
    snprintf(name, sizeof name, "m%d", i);
    snprintf(data, sizeof data, "%s/m%d", c->dir, i);
    snprintf(log, sizeof log, "%s/m%d.log", c->dir, i);
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", c->client_port[i]);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", c->peer_port[i]);
    snprintf(ops, sizeof ops, "%d", TU_ETCD_MAX_TXN_OPS);
    snprintf(bytes, sizeof bytes, "%d", TU_ETCD_MAX_REQUEST_BYTES);
    for (int j = 0; j < c->n; j++) {
        size_t l = strlen(cluster);
        snprintf(cluster + l, sizeof cluster - l, "%sm%d=http://127.0.0.1:%d", j ? "," : "", j, c->peer_port[j]);
    }
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execlp(etcd_prog(), etcd_prog(), "--name", name, "--data-dir", data, "--listen-client-urls", curl,
           "--advertise-client-urls", curl, "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
           "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", c->dir,
           "--max-txn-ops", ops, "--max-request-bytes", bytes, "--auto-compaction-mode", "periodic",
           "--auto-compaction-retention", "10m", "--logger", "zap", "--log-level", "warn", (char *)NULL);
    _exit(127);
}

static size_t sink(char *d, size_t s, size_t n, void *arg)
{
    (void)d;
    (void)arg;
    return s * n;
}


typedef struct obuf {
    char *p;
    size_t n, cap;
} obuf;

static size_t keep(char *d, size_t s, size_t n, void *arg)
{
    obuf *b = arg;
    size_t k = s * n;
    for (size_t j = 0; j < k && b->n + 1 < b->cap; j++)
        b->p[b->n++] = d[j];
    b->p[b->n] = '\0';
    return k;
}

static long post(tu_etcd *c, int i, const char *api, const char *body, char *out, size_t cap)
{
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", c->client_port[i], api);
    obuf b = {out, 0, cap};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    if (out && cap) {
        out[0] = '\0';
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    } else {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

static int wait_ready(tu_etcd *c, int i, int seconds)
{
    for (int t = 0; t < seconds * 20; t++) {
        /* a linearizable read answers only once the member has a leader */
        if (post(c, i, "/v3/kv/range", "{\"key\":\"AA==\"}", NULL, 0) == 200)
            return 0;
        usleep(50000);
    }
    return -1;
}

int tu_etcd_start(tu_etcd *c, int n)
{
    memset(c, 0, sizeof *c);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (n < 1 || n > TU_ETCD_MAX)
        return -1;
    c->n = n;
    const char *base = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/mnemo-etcd-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(c->dir)) {
        perror("tu_etcd_start: mkdtemp");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        c->client_port[i] = tu_free_port();
        c->peer_port[i] = tu_free_port();
    }
    size_t l = 0;
    for (int i = 0; i < n; i++)
        l += (size_t)snprintf(c->endpoints + l, sizeof c->endpoints - l, "%s127.0.0.1:%d", i ? "," : "",
                              c->client_port[i]);
    for (int i = 0; i < n; i++)
        c->pid[i] = spawn(c, i);
    for (int i = 0; i < n; i++)
        if (wait_ready(c, i, 30)) {
            fprintf(stderr, "tu_etcd_start: member %d (port %d) did not answer; see %s/m%d.log\n", i,
                    c->client_port[i], c->dir, i);
            tu_etcd_stop(c);
            return -1;
        }
    return 0;
}

void tu_etcd_kill(tu_etcd *c, int i)
{
    if (c->pid[i] > 0) {
        kill(c->pid[i], SIGKILL);
        waitpid(c->pid[i], NULL, 0);
    }
    c->pid[i] = 0;
}

int tu_etcd_restart(tu_etcd *c, int i)
{
    tu_etcd_kill(c, i);
    c->pid[i] = spawn(c, i);
    return wait_ready(c, i, 30);
}

int tu_etcd_leader(tu_etcd *c)
{
    char out[1024];
    for (int i = 0; i < c->n; i++) {
        if (c->pid[i] <= 0 || post(c, i, "/v3/maintenance/status", "{}", out, sizeof out) != 200)
            continue;
        const char *lp = strstr(out, "\"leader\":\""), *mp = strstr(out, "\"member_id\":\"");
        if (!lp || !mp)
            continue;
        unsigned long long leader = strtoull(lp + 10, NULL, 10), me = strtoull(mp + 13, NULL, 10);
        if (leader == me)
            return i;
    }
    return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_etcd_stop(tu_etcd *c)
{
    for (int i = 0; i < c->n; i++)
        tu_etcd_kill(c, i);
    if (c->dir[0] && !getenv("MNEMO_KEEP_ETCD"))
        nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    c->dir[0] = '\0';
}

const char *tu_etcd_path(tu_etcd *c, const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "etcd://%s/%s?%s", c->endpoints, name, TU_ETCD_PATH_OPTIONS);
    return buf;
}

int tu_etcd_compact(tu_etcd *c)
{
    char out[1024], body[128];
    for (int i = 0; i < c->n; i++) {
        if (c->pid[i] <= 0 || post(c, i, "/v3/kv/range", "{\"key\":\"AA==\"}", out, sizeof out) != 200)
            continue;
        const char *r = strstr(out, "\"revision\":\"");
        if (!r)
            continue;
        snprintf(body, sizeof body, "{\"revision\":\"%lld\",\"physical\":true}", strtoll(r + 12, NULL, 10));
        if (post(c, i, "/v3/kv/compaction", body, NULL, 0) == 200)
            return 0;
    }
    return -1;
}
