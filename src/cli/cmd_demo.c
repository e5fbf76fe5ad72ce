/* `mnemo demo [DIR] [--fast]`: a tour of mnemo on the shipped air-routes graph (3,504 airports,
 * 50,637 routes). It loads the airports as records and the routes as weighted edges (the
 * csv-graph importer), embeds every airport as its position on the unit sphere (cosine, dim 3),
 * then runs nearest-neighbour, filtered, graph-restricted and shortest-path queries and two
 * transactions, with timings. Every answer is checked against one computed independently here in
 * plain C from the CSV files (great-circle distances by brute force, Dijkstra over the routes);
 * any difference makes the demo exit 1. Human text on stdout. */
#include "cli/cli.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MNEMO_SOURCE_DATA
#define MNEMO_SOURCE_DATA "data"
#endif

#define EARTH_KM 6371.0
#define PI 3.14159265358979323846

typedef struct airport {
    long id; /* ~id */
    char code[8], country[8], city[64];
    double lat, lon;
} airport;

typedef struct route {
    int from, to; /* indexes into the airport table */
    double km;
} route;

typedef struct demo {
    const cli_cmd *cmd;
    mnemo_db *db;
    airport *ap;
    size_t nap;
    route *rt;
    size_t nrt;
    int *by_id; /* ~id -> airport index, -1 if none */
    long max_id;
    int failed; /* checks that did not agree */
} demo;

/* ---- output and checks -------------------------------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void verdict(demo *d, int ok, const char *what)
{
    say("  check: %s ... %s\n", what, ok ? "ok" : "DIFFERENT");
    d->failed += !ok;
}

/* Stop on an engine error (the demo cannot go on). */
#define TRY(d, call, what)                                                                                    \
    do {                                                                                                      \
        int rc_ = (call);                                                                                     \
        if (rc_ < 0)                                                                                          \
            return cli_engine((d)->cmd, rc_, "%s", what);                                                     \
    } while (0)

static double ms_since(double t0) { return (cli_now() - t0) * 1000.0; }

/* ---- independent reading of the CSV files ------------------------------------------------------- */

static int col(const cli_csv *r, const char *name)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (!strncmp(r->fields[i], name, strlen(name)) &&
            (r->fields[i][strlen(name)] == ':' || !r->fields[i][strlen(name)]))
            return (int)i;
    return -1;
}

static int read_csv(demo *d, const char *path, int nodes)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_fail(d->cmd, "cannot open '%s': %s", path, strerror(errno));
    cli_import im = {0};
    cli_csv r = {0};
    r.im = &im;
    r.f = f;
    int rc = 0, got = cli_csv_next(&r);
    int c_id = col(&r, "~id"), c_label = col(&r, "~label"), c_code = col(&r, "code"), c_country = col(&r, "country");
    int c_city = col(&r, "city"), c_lat = col(&r, "lat"), c_lon = col(&r, "lon");
    int c_from = col(&r, "~from"), c_to = col(&r, "~to"), c_dist = col(&r, "dist");
    if (got <= 0 || c_label < 0 || (nodes ? c_id < 0 || c_code < 0 || c_lat < 0 || c_lon < 0 || c_country < 0 ||
                                                c_city < 0
                                          : c_from < 0 || c_to < 0 || c_dist < 0))
        rc = cli_fail(d->cmd, "%s: not the air-routes %s file", path, nodes ? "nodes" : "edges");
    size_t cap = 0;
    while (!rc && (got = cli_csv_next(&r)) != 0) {
        if (got < 0 || r.nfields <= (size_t)c_label) {
            rc = cli_fail(d->cmd, "%s:%llu: bad CSV", path, (unsigned long long)r.first_line);
            break;
        }
        if (strcmp(r.fields[c_label], nodes ? "airport" : "route"))
            continue;
        if (nodes) {
            if (d->nap == cap)
                d->ap = cli_xrealloc(d->ap, (cap = cap ? 2 * cap : 4096) * sizeof *d->ap);
            airport *a = &d->ap[d->nap++];
            a->id = strtol(r.fields[c_id], NULL, 10);
            snprintf(a->code, sizeof a->code, "%s", r.fields[c_code]);
            snprintf(a->country, sizeof a->country, "%s", r.fields[c_country]);
            snprintf(a->city, sizeof a->city, "%s", r.fields[c_city]);
            a->lat = strtod(r.fields[c_lat], NULL);
            a->lon = strtod(r.fields[c_lon], NULL);
            if (a->id > d->max_id)
                d->max_id = a->id;
        } else {
            long from = strtol(r.fields[c_from], NULL, 10), to = strtol(r.fields[c_to], NULL, 10);
            if (from < 0 || to < 0 || from > d->max_id || to > d->max_id || d->by_id[from] < 0 || d->by_id[to] < 0)
                continue; /* a route to something that is not an airport: none in the data */
            if (d->nrt == cap)
                d->rt = cli_xrealloc(d->rt, (cap = cap ? 2 * cap : 65536) * sizeof *d->rt);
            route *e = &d->rt[d->nrt++];
            e->from = d->by_id[from];
            e->to = d->by_id[to];
            e->km = strtod(r.fields[c_dist], NULL);
        }
    }
    cli_csv_free(&r);
    fclose(f);
    if (!rc && nodes) {
        d->by_id = cli_xmalloc((size_t)(d->max_id + 1) * sizeof *d->by_id);
        for (long i = 0; i <= d->max_id; i++)
            d->by_id[i] = -1;
        for (size_t i = 0; i < d->nap; i++)
            d->by_id[d->ap[i].id] = (int)i;
    }
    return rc;
}

static const airport *by_code(const demo *d, const char *code)
{
    for (size_t i = 0; i < d->nap; i++)
        if (!strcmp(d->ap[i].code, code))
            return &d->ap[i];
    return NULL;
}

static const airport *by_record(const demo *d, const char *id)
{
    char *end;
    long v = strtol(id, &end, 10);
    return !*end && v >= 0 && v <= d->max_id && d->by_id[v] >= 0 ? &d->ap[d->by_id[v]] : NULL;
}

/* Great-circle distance (haversine), km. */
static double gc_km(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * PI / 180, p2 = lat2 * PI / 180, dp = p2 - p1, dl = (lon2 - lon1) * PI / 180;
    double h = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
    return 2 * EARTH_KM * asin(sqrt(h < 1 ? h : 1));
}

/* The embedding: the point on the unit sphere. */
static void sphere(float v[3], double lat, double lon)
{
    double p = lat * PI / 180, l = lon * PI / 180;
    v[0] = (float)(cos(p) * cos(l));
    v[1] = (float)(cos(p) * sin(l));
    v[2] = (float)sin(p);
}

/* A cosine distance (1 - cos angle) back to km along the surface. */
static double cos_to_km(double dist)
{
    double c = 1 - dist;
    return EARTH_KM * acos(c > 1 ? 1 : c < -1 ? -1 : c);
}

typedef struct cand {
    double km;
    int ap;
} cand;

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    return a->km < b->km ? -1 : a->km > b->km;
}

/* Brute force: the k airports (among those with allowed[i], or all) nearest to (lat, lon). */
static size_t brute_nearest(const demo *d, cand *out, size_t k, double lat, double lon, const char *country,
                            const unsigned char *allowed)
{
    cand *all = cli_xmalloc(d->nap * sizeof *all);
    size_t n = 0;
    for (size_t i = 0; i < d->nap; i++)
        if ((!country || !strcmp(d->ap[i].country, country)) && (!allowed || allowed[i]))
            all[n++] = (cand){gc_km(lat, lon, d->ap[i].lat, d->ap[i].lon), (int)i};
    qsort(all, n, sizeof *all, cand_cmp);
    if (n > k)
        n = k;
    memcpy(out, all, n * sizeof *out);
    free(all);
    return n;
}

/* Print the hits as a table and compare them, rank by rank, with the brute-force answer: the same
 * number, and each rank's distance within 1 km (ties closer than float precision may swap). */
static int show_hits(demo *d, const mnemo_vector_hits *h, const cand *want, size_t nwant, int print)
{
    int ok = h->count == nwant;
    for (size_t i = 0; i < h->count; i++) {
        const airport *a = by_record(d, h->hits[i].id);
        double km = cos_to_km(h->hits[i].distance);
        if (print) {
            const char *city = a ? a->city : h->hits[i].id;
            int pad = 24; /* columns, not bytes: UTF-8 continuation bytes take none */
            for (const char *c = city; *c; c++)
                pad -= ((unsigned char)*c & 0xc0) != 0x80;
            say("    %2zu. %-4s %s%*s %-3s %8.1f km\n", i + 1, a ? a->code : "?", city, pad > 0 ? pad : 0, "",
                a ? a->country : "", km);
        }
        if (!a || i >= nwant || fabs(km - want[i].km) > 1.0)
            ok = 0;
    }
    return ok;
}

/* ---- the steps ----------------------------------------------------------------------------------- */

static int load(demo *d, const char *nodes, const char *edges)
{
    const char *files[2] = {nodes, edges};
    for (int k = 0; k < 2; k++) {
        double t0 = cli_now();
        FILE *f = fopen(files[k], "rb");
        if (!f)
            return cli_fail(d->cmd, "cannot open '%s': %s", files[k], strerror(errno));
        cli_import im = {0};
        im.cmd = d->cmd;
        im.db = d->db;
        im.file = files[k];
        im.batch = 5000;
        const char *kind = NULL;
        int rc = cli_import_csv_graph(&im, f, k ? "dist" : NULL, NULL, 0, &kind);
        fclose(f);
        if (rc)
            return rc;
        if (k == 0)
            say("  %llu nodes (airports, countries, continents) as records with their metadata   %7.0f ms\n",
                (unsigned long long)im.done.records, ms_since(t0));
        else
            say("  %llu edges (routes weighted by km, 'contains' links)                        %7.0f ms\n",
                (unsigned long long)im.done.edges, ms_since(t0));
    }
    return 0;
}

static int index_country(demo *d)
{
    double t0 = cli_now();
    TRY(d, mnemo_record_index_create(d->db, "country"), "indexing metadata.country");
    say("  a secondary index on the metadata path \"country\"                               %7.0f ms\n",
        ms_since(t0));
    return 0;
}

typedef struct embedder {
    char (*ids)[24];
    const char **idp;
    float *vecs;
    size_t n, cap;
} embedder;

/* Every airport record gets the point of its metadata's lat/lon. */
static int collect_airport(void *arg, const mnemo_record *r)
{
    embedder *e = arg;
    json_t *m = json_loads(r->metadata, 0, NULL);
    const char *label = json_string_value(json_object_get(m, "label"));
    if (label && !strcmp(label, "airport")) {
        if (e->n == e->cap) {
            e->cap = e->cap ? 2 * e->cap : 4096;
            e->ids = cli_xrealloc(e->ids, e->cap * sizeof *e->ids);
            e->vecs = cli_xrealloc(e->vecs, e->cap * 3 * sizeof *e->vecs);
        }
        snprintf(e->ids[e->n], sizeof e->ids[0], "%s", r->id);
        sphere(e->vecs + 3 * e->n, json_number_value(json_object_get(m, "lat")),
               json_number_value(json_object_get(m, "lon")));
        e->n++;
    }
    json_decref(m);
    return 0;
}

static int embed(demo *d)
{
    double t0 = cli_now();
    embedder e = {0};
    TRY(d, cli_each_record(d->db, NULL, collect_airport, &e), "reading the airport records");
    e.idp = cli_xmalloc((e.n ? e.n : 1) * sizeof *e.idp);
    for (size_t i = 0; i < e.n; i++)
        e.idp[i] = e.ids[i];
    int rc = mnemo_vector_put_batch(d->db, NULL, e.idp, e.vecs, e.n, 3);
    free(e.ids);
    free(e.idp);
    free(e.vecs);
    TRY(d, rc, "storing the embeddings");
    say("  %zu embeddings: each airport's position on the unit sphere (dim 3, cosine)    %7.0f ms\n", e.n,
        ms_since(t0));
    mnemo_vector_stats vs = MNEMO_VECTOR_STATS_INIT;
    TRY(d, mnemo_vector_stats_get(&vs, d->db), "vector figures");
    verdict(d, e.n == d->nap && vs.vectors == d->nap, "one embedding per airport of the CSV file");
    return 0;
}

/* The record id of an airport code, through a metadata filter. */
static int find_code(demo *d, const char *code, char *id, size_t idlen)
{
    char filter[64];
    snprintf(filter, sizeof filter, "{\"code\":\"%s\",\"label\":\"airport\"}", code);
    mnemo_record_page *page;
    TRY(d, mnemo_record_find(&page, d->db, NULL, filter, NULL), "finding an airport by code");
    const airport *a = by_code(d, code);
    int ok = page->count == 1 && a && by_record(d, page->records[0].id) == a;
    if (ok)
        snprintf(id, idlen, "%s", page->records[0].id);
    mnemo_record_page_free(page);
    if (!ok)
        return cli_fail(d->cmd, "airport %s: the filter %s does not find it once", code, filter);
    return 0;
}

static int nearest(demo *d, int fast)
{
    const double lat = 48.8566, lon = 2.3522; /* central Paris */
    float q[3];
    sphere(q, lat, lon);
    mnemo_vector_hits *h;
    cand want[10];
    double t0 = cli_now();
    TRY(d, mnemo_vector_search(&h, d->db, NULL, q, 3, 5, NULL), "nearest search");
    double t = ms_since(t0);
    say("\nThe 5 airports nearest to central Paris (48.8566 N, 2.3522 E)   [HNSW search, %.2f ms]\n", t);
    size_t n = brute_nearest(d, want, 5, lat, lon, NULL, NULL);
    verdict(d, show_hits(d, h, want, n, 1), "same as brute-force great-circle distances over all airports");
    mnemo_vector_hits_free(h);

    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.filter = "{\"country\":\"DE\"}";
    t0 = cli_now();
    TRY(d, mnemo_vector_search(&h, d->db, NULL, q, 3, 5, &so), "filtered search");
    t = ms_since(t0);
    say("\nThe same, only airports whose metadata say {\"country\":\"DE\"}   [filtered search, %.2f ms]\n", t);
    n = brute_nearest(d, want, 5, lat, lon, "DE", NULL);
    verdict(d, show_hits(d, h, want, n, 1), "same as brute force over the German airports");
    mnemo_vector_hits_free(h);

    if (fast)
        return 0;
    /* many random points, unfiltered and filtered, all checked */
    unsigned seed = 42, bad = 0, total = 300;
    const char *countries[] = {"US", "CN", "BR", "FR", "AU", "IN"};
    t0 = cli_now();
    for (unsigned i = 0; i < total; i++) {
        seed = seed * 1103515245u + 12345u;
        double plat = asin(2.0 * ((seed >> 8) & 0xffff) / 65535.0 - 1) * 180 / PI;
        seed = seed * 1103515245u + 12345u;
        double plon = ((seed >> 8) & 0xffff) / 65535.0 * 360 - 180;
        sphere(q, plat, plon);
        char filter[40];
        const char *country = i % 2 ? countries[i / 2 % 6] : NULL;
        snprintf(filter, sizeof filter, "{\"country\":\"%s\"}", country ? country : "");
        so.filter = country ? filter : NULL;
        TRY(d, mnemo_vector_search(&h, d->db, NULL, q, 3, 10, &so), "search");
        n = brute_nearest(d, want, 10, plat, plon, country, NULL);
        bad += !show_hits(d, h, want, n, 0);
        mnemo_vector_hits_free(h);
    }
    say("\n%u random points (half of them filtered by country), 10 nearest each   [%.0f ms]\n", total, ms_since(t0));
    verdict(d, bad == 0, "every answer the same as brute force");
    return 0;
}

/* Airports within `hops` routes of `from` (itself included), by breadth-first search over the CSV. */
static unsigned char *reachable(const demo *d, int from, unsigned hops)
{
    unsigned char *seen = calloc(d->nap, 1);
    int *frontier = cli_xmalloc(d->nap * sizeof *frontier), *next = cli_xmalloc(d->nap * sizeof *next);
    size_t nf = 1, nn;
    frontier[0] = from;
    seen[from] = 1;
    for (unsigned h = 0; h < hops; h++, nf = nn) {
        nn = 0;
        for (size_t e = 0; e < d->nrt; e++)
            for (size_t i = 0; i < nf; i++)
                if (d->rt[e].from == frontier[i] && !seen[d->rt[e].to]) {
                    seen[d->rt[e].to] = 1;
                    next[nn++] = d->rt[e].to;
                }
        memcpy(frontier, next, nn * sizeof *next);
    }
    free(frontier);
    free(next);
    return seen;
}

static int near_and_reachable(demo *d)
{
    char lhr[24], nrt[24];
    int rc = find_code(d, "LHR", lhr, sizeof lhr);
    if (!rc)
        rc = find_code(d, "NRT", nrt, sizeof nrt);
    if (rc)
        return rc;
    const airport *from = by_code(d, "LHR"), *near = by_code(d, "NRT");
    float q[3];
    sphere(q, near->lat, near->lon);
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.near = lhr;
    so.hops = 2;
    so.near_dir = MNEMO_DIR_OUT;
    so.near_label = "route";
    mnemo_vector_hits *h;
    double t0 = cli_now();
    TRY(d, mnemo_vector_search(&h, d->db, NULL, q, 3, 5, &so), "graph-restricted search");
    double t = ms_since(t0);
    say("\nAirports you can reach from London Heathrow (LHR) with at most one change,\n"
        "nearest to Tokyo Narita (NRT)   [graph-restricted vector search, %.2f ms]\n", t);
    unsigned char *ok2 = reachable(d, (int)(from - d->ap), 2);
    cand want[5];
    size_t n = brute_nearest(d, want, 5, near->lat, near->lon, NULL, ok2);
    free(ok2);
    verdict(d, show_hits(d, h, want, n, 1), "same as a breadth-first search of the CSV routes + brute force");
    mnemo_vector_hits_free(h);
    return 0;
}

/* Plain Dijkstra over the CSV routes (O(V^2 + E)): km from `src` to every airport. */
static double *dijkstra(const demo *d, int src)
{
    double *dist = cli_xmalloc(d->nap * sizeof *dist);
    unsigned char *done = calloc(d->nap, 1);
    size_t *first = calloc(d->nap + 1, sizeof *first);
    route *sorted = cli_xmalloc((d->nrt ? d->nrt : 1) * sizeof *sorted);
    for (size_t e = 0; e < d->nrt; e++) /* bucket the routes by origin */
        first[d->rt[e].from + 1]++;
    for (size_t i = 0; i < d->nap; i++)
        first[i + 1] += first[i];
    size_t *fill = cli_xmalloc((d->nap + 1) * sizeof *fill);
    memcpy(fill, first, (d->nap + 1) * sizeof *fill);
    for (size_t e = 0; e < d->nrt; e++)
        sorted[fill[d->rt[e].from]++] = d->rt[e];
    for (size_t i = 0; i < d->nap; i++)
        dist[i] = INFINITY;
    dist[src] = 0;
    for (;;) {
        int u = -1;
        for (size_t i = 0; i < d->nap; i++)
            if (!done[i] && isfinite(dist[i]) && (u < 0 || dist[i] < dist[u]))
                u = (int)i;
        if (u < 0)
            break;
        done[u] = 1;
        for (size_t e = first[u]; e < first[u + 1]; e++)
            if (dist[u] + sorted[e].km < dist[sorted[e].to])
                dist[sorted[e].to] = dist[u] + sorted[e].km;
    }
    free(done);
    free(first);
    free(fill);
    free(sorted);
    return dist;
}

/* The library's weighted path from -> to over routes; checks its legs against the CSV. */
static int path_check(demo *d, const char *from_code, const char *to_code, const double *dist, int print, int *ok)
{
    char fid[24], tid[24];
    int rc = find_code(d, from_code, fid, sizeof fid);
    if (!rc)
        rc = find_code(d, to_code, tid, sizeof tid);
    if (rc)
        return rc;
    mnemo_graph_path_options po = MNEMO_GRAPH_PATH_OPTIONS_INIT;
    po.weighted = 1;
    po.label = "route";
    mnemo_graph_path *p;
    double t0 = cli_now();
    TRY(d, mnemo_graph_shortest_path(&p, d->db, NULL, fid, tid, &po), "shortest path");
    double t = ms_since(t0);
    /* every leg is a CSV route, and the legs add up to the path's weight and to Dijkstra's answer */
    double sum = 0;
    *ok = 1;
    for (size_t i = 0; i < p->hops; i++) {
        const airport *a = by_record(d, p->nodes[i]), *b = by_record(d, p->nodes[i + 1]);
        double leg = INFINITY;
        for (size_t e = 0; a && b && e < d->nrt; e++)
            if (&d->ap[d->rt[e].from] == a && &d->ap[d->rt[e].to] == b && d->rt[e].km < leg)
                leg = d->rt[e].km;
        sum += leg;
    }
    const airport *dest = by_code(d, to_code);
    *ok = isfinite(sum) && fabs(sum - p->weight) < 1e-6 && fabs(p->weight - dist[dest - d->ap]) < 1e-6;
    if (print) {
        say("\nShortest route by distance from %s to %s   [weighted shortest path, %.1f ms]\n   ", from_code, to_code,
            t);
        for (size_t i = 0; i <= p->hops; i++) {
            const airport *a = by_record(d, p->nodes[i]);
            say("%s%s", i ? " -> " : " ", a ? a->code : p->nodes[i]);
        }
        say("   %.0f km, %zu flights\n", p->weight, p->hops);
    }
    mnemo_graph_path_free(p);
    return 0;
}

static int shortest(demo *d, int fast)
{
    const airport *src = by_code(d, "INV");
    double *dist = dijkstra(d, (int)(src - d->ap));
    int ok, rc = path_check(d, "INV", "WLG", dist, 1, &ok);
    free(dist);
    if (rc)
        return rc;
    verdict(d, ok, "every leg is a route of the CSV file, and plain Dijkstra over the CSV gives the same km");
    if (fast)
        return 0;
    const char *pairs[][2] = {{"AUS", "HNL"}, {"BRS", "NRT"}, {"WLG", "INV"}, {"CDG", "AUS"}, {"NRT", "BRS"},
                              {"LHR", "WLG"}, {"HNL", "CDG"}, {"INV", "AUS"}};
    unsigned bad = 0;
    double t0 = cli_now();
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        dist = dijkstra(d, (int)(by_code(d, pairs[i][0]) - d->ap));
        rc = path_check(d, pairs[i][0], pairs[i][1], dist, 0, &ok);
        free(dist);
        if (rc)
            return rc;
        bad += !ok;
    }
    say("\n%zu more shortest routes   [%.0f ms with the Dijkstra runs]\n", sizeof pairs / sizeof *pairs,
        ms_since(t0));
    verdict(d, bad == 0, "all the same as plain Dijkstra");
    return 0;
}

/* ---- transactions ------------------------------------------------------------------------------ */

#define NOTE "memory:trip-42"

/* Bump the note's "recalled" counter: read the record, write it back changed. */
static int bump(mnemo_txn *txn, void *arg)
{
    mnemo_db *db = arg;
    mnemo_record *r;
    int rc = mnemo_record_get(&r, db, txn, NOTE);
    if (rc)
        return rc;
    json_t *m = json_loads(r->metadata, 0, NULL);
    char patch[64];
    snprintf(patch, sizeof patch, "{\"recalled\":%lld}",
             (long long)json_integer_value(json_object_get(m, "recalled")) + 1);
    json_decref(m);
    mnemo_record_changes ch = MNEMO_RECORD_CHANGES_INIT;
    ch.fields = MNEMO_UPDATE_METADATA;
    ch.metadata_patch = patch;
    rc = mnemo_record_update(db, txn, NOTE, &ch);
    mnemo_record_free(r);
    return rc;
}

static int transactions(demo *d, const char *lhr, const char *nrt)
{
    const airport *a = by_record(d, lhr), *b = by_record(d, nrt);
    float mid[3], va[3], vb[3];
    sphere(va, a->lat, a->lon);
    sphere(vb, b->lat, b->lon);
    for (int i = 0; i < 3; i++)
        mid[i] = va[i] + vb[i]; /* halfway (cosine normalises it) */

    say("\nOne transaction: remember a note, link it to two airports and embed it, atomically\n");
    double t0 = cli_now();
    mnemo_txn *txn;
    TRY(d, mnemo_txn_begin(&txn, d->db, 0), "begin");
    mnemo_record note = {0};
    note.id = NOTE;
    note.content = "Trip idea: London to Tokyo in April; the user wants a window seat.";
    note.importance = 0.8;
    note.metadata = "{\"kind\":\"memory\",\"recalled\":0}";
    mnemo_graph_edge e1 = {NOTE, "about", lhr, 1.0, NULL}, e2 = {NOTE, "about", nrt, 1.0, NULL};
    int rc = mnemo_record_put(d->db, txn, &note, MNEMO_PUT_INSERT);
    if (!rc)
        rc = mnemo_graph_link(d->db, txn, &e1, 0);
    if (!rc)
        rc = mnemo_graph_link(d->db, txn, &e2, 0);
    if (!rc)
        rc = mnemo_vector_put(d->db, txn, NOTE, mid, 3);
    if (!rc)
        rc = mnemo_txn_commit(txn);
    mnemo_txn_free(txn);
    TRY(d, rc, "the note's transaction");
    say("  put record '%s', link it -about-> LHR and NRT, put its embedding, commit   %.2f ms\n", NOTE,
        ms_since(t0));
    mnemo_vector_search_options so = MNEMO_VECTOR_SEARCH_OPTIONS_INIT;
    so.filter = "{\"kind\":\"memory\"}";
    mnemo_vector_hits *h;
    TRY(d, mnemo_vector_search(&h, d->db, NULL, mid, 3, 1, &so), "recall");
    uint64_t deg = 0;
    TRY(d, mnemo_graph_degree(&deg, d->db, NULL, NOTE, MNEMO_DIR_OUT, "about"), "degree");
    say("  recall: the memory nearest to a point between London and Tokyo is '%s'\n", h->count ? h->hits[0].id : "-");
    verdict(d, h->count == 1 && !strcmp(h->hits[0].id, NOTE) && deg == 2, "the note, its 2 links and its vector are in");
    mnemo_vector_hits_free(h);

    say("\nA transaction that fails part-way leaves nothing behind\n");
    TRY(d, mnemo_txn_begin(&txn, d->db, 0), "begin");
    note.id = "memory:broken";
    e1.from = note.id;
    float two[2] = {1, 0};
    rc = mnemo_record_put(d->db, txn, &note, MNEMO_PUT_INSERT);
    if (!rc)
        rc = mnemo_graph_link(d->db, txn, &e1, 0);
    if (!rc)
        rc = mnemo_vector_put(d->db, txn, note.id, two, 2);
    say("  put record, link, then an embedding of dimension 2: %s (%s)\n", mnemo_strerror(rc), mnemo_errmsg());
    mnemo_txn_free(txn); /* rolls back */
    int exists = mnemo_record_exists(d->db, NULL, note.id);
    uint64_t in_deg = 0;
    TRY(d, exists, "exists");
    TRY(d, mnemo_graph_degree(&in_deg, d->db, NULL, lhr, MNEMO_DIR_IN, "about"), "degree");
    say("  rolled back: record '%s' exists: %s; LHR has %llu 'about' link(s)\n", note.id, exists ? "yes" : "no",
        (unsigned long long)in_deg);
    verdict(d, rc == MNEMO_EDIM && !exists && in_deg == 1, "MNEMO_EDIM, and neither the record nor its link stayed");

    say("\nTwo transactions change the same record at once: one must lose\n");
    mnemo_txn *t1, *t2;
    TRY(d, mnemo_txn_begin(&t1, d->db, 0), "begin");
    TRY(d, mnemo_txn_begin(&t2, d->db, 0), "begin");
    TRY(d, bump(t1, d->db), "bump in the first transaction");
    TRY(d, bump(t2, d->db), "bump in the second transaction");
    int rc1 = mnemo_txn_commit(t1), rc2 = mnemo_txn_commit(t2);
    mnemo_txn_free(t1);
    mnemo_txn_free(t2);
    say("  both read '%s' and bump its \"recalled\" counter: first commit %s, second commit %s\n", NOTE,
        rc1 ? mnemo_strerror(rc1) : "ok", rc2 ? mnemo_strerror(rc2) : "ok");
    t0 = cli_now();
    rc = mnemo_txn_run(d->db, 0, bump, d->db, NULL);
    say("  mnemo_txn_run re-runs the loser's work in a fresh transaction: %s   %.2f ms\n",
        rc ? mnemo_strerror(rc) : "committed", ms_since(t0));
    mnemo_record *r;
    TRY(d, mnemo_record_get(&r, d->db, NULL, NOTE), "reading the note");
    json_t *m = json_loads(r->metadata, 0, NULL);
    json_int_t recalled = json_integer_value(json_object_get(m, "recalled"));
    json_decref(m);
    mnemo_record_free(r);
    say("  \"recalled\" is now %lld\n", (long long)recalled);
    verdict(d, rc1 == 0 && rc2 == MNEMO_EBUSY && rc == 0 && recalled == 2,
            "MNEMO_EBUSY for the second, no update lost after the retry");
    return 0;
}

static int count_edges(void *arg, const mnemo_record *r)
{
    uint64_t *c = arg, deg;
    (void)r;
    c[0]++;
    int rc = mnemo_graph_degree(&deg, (mnemo_db *)(uintptr_t)c[2], NULL, r->id, MNEMO_DIR_OUT, NULL);
    c[1] += deg;
    return rc;
}

static int stats(demo *d, const char *path)
{
    uint64_t c[3] = {0, 0, (uint64_t)(uintptr_t)d->db}, checked = 0, edges = 0;
    double t0 = cli_now();
    TRY(d, cli_each_record(d->db, NULL, count_edges, c), "counting");
    mnemo_vector_stats vs = MNEMO_VECTOR_STATS_INIT;
    TRY(d, mnemo_vector_stats_get(&vs, d->db), "vector figures");
    say("\nThe database   [%.0f ms to count]\n  %llu records, %llu edges, %llu vectors (index %.1f KiB, %s kernels), "
        "%.1f MiB on disk\n",
        ms_since(t0), (unsigned long long)c[0], (unsigned long long)c[1], (unsigned long long)vs.vectors,
        vs.index_bytes / 1024.0, vs.simd, cli_disk_bytes(path) / 1048576.0);
    t0 = cli_now();
    int rc = mnemo_graph_check(d->db, &edges);
    if (!rc)
        rc = mnemo_vector_check(d->db, &checked);
    TRY(d, rc, "consistency check");
    say("  graph and vector checks passed (%llu edges, %llu vectors)   %.0f ms\n", (unsigned long long)edges,
        (unsigned long long)checked, ms_since(t0));
    /* the routes of the CSV, 'contains' links, 2 note links; airports + countries + continents +
     * version node + the note */
    verdict(d, vs.vectors == d->nap + 1 && edges == c[1] && c[1] >= d->nrt + 2, "figures agree");
    return 0;
}

/* ---- driver ---------------------------------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static const char *data_dir(const cli_cmd *cmd, const cli_args *a)
{
    const char *dirs[] = {cli_opt(cmd, a, "data"), getenv("MNEMO_DATA_DIR"), "data", MNEMO_SOURCE_DATA};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/air-routes/air-routes-latest-nodes.csv", dirs[i] ? dirs[i] : "");
        if (dirs[i] && access(p, R_OK) == 0)
            return dirs[i];
        if (i == 0 && dirs[i]) /* named explicitly: no fallback */
            return NULL;
    }
    return NULL;
}

static int run_demo(const cli_cmd *cmd, const cli_args *a)
{
    int fast = cli_opt(cmd, a, "fast") != NULL;
    const char *data = data_dir(cmd, a);
    if (!data)
        return cli_fail(cmd, "cannot find air-routes/air-routes-latest-nodes.csv under %s",
                        cli_opt(cmd, a, "data") ? cli_opt(cmd, a, "data")
                                                : "$MNEMO_DATA_DIR, ./data or " MNEMO_SOURCE_DATA);
    char nodes[4200], edges[4200], tmp[] = "/tmp/mnemo-demo-XXXXXX";
    snprintf(nodes, sizeof nodes, "%s/air-routes/air-routes-latest-nodes.csv", data);
    snprintf(edges, sizeof edges, "%s/air-routes/air-routes-latest-edges.csv", data);
    const char *path = a->npos ? a->pos[0] : NULL;
    if (!path) {
        if (!mkdtemp(tmp))
            return cli_fail(cmd, "cannot make a temporary directory: %s", strerror(errno));
        path = tmp;
    }
    double t_all = cli_now();
    demo d = {0};
    d.cmd = cmd;
    say("mnemo %s demo%s: the air-routes graph (data/air-routes, Kelvin R. Lawrence) in %s\n",
        mnemo_version(NULL, NULL, NULL), fast ? " (--fast)" : "", path);
    mnemo_options o = MNEMO_OPTIONS_INIT;
    o.vector_dim = 3;
    o.vector_metric = MNEMO_METRIC_COSINE;
    int rc = read_csv(&d, nodes, 1);
    if (!rc)
        rc = read_csv(&d, edges, 0);
    if (!rc)
        rc = cli_open_with(&d.db, cmd, path, CLI_OPEN_CREATE, &o);
    if (!rc) {
        say("\nLoading (csv-graph importer, batches of 5000 rows per transaction)\n");
        char lhr[24], nrt[24];
        if (!(rc = load(&d, nodes, edges)) && !(rc = index_country(&d)) && !(rc = embed(&d)) && !(rc = nearest(&d, fast)) &&
            !(rc = near_and_reachable(&d)) && !(rc = shortest(&d, fast)) && !(rc = find_code(&d, "LHR", lhr, sizeof lhr)) &&
            !(rc = find_code(&d, "NRT", nrt, sizeof nrt)) && !(rc = transactions(&d, lhr, nrt)))
            rc = stats(&d, path);
        rc = cli_close(d.db, cmd, rc);
    }
    if (path == tmp)
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(d.ap);
    free(d.rt);
    free(d.by_id);
    if (rc)
        return rc;
    say("\n%s in %.1f s%s\n", d.failed ? "FAILED" : "All answers checked", cli_now() - t_all,
        path == tmp ? " (the temporary database is removed)" : "");
    if (d.failed)
        return cli_fail(cmd, "%d answer(s) differ from the independent computation", d.failed);
    return 0;
}

const cli_cmd cli_demo_cmds[] = {
    {"demo", "[DIR] [--fast] [--data DIR]", "a guided tour on the shipped air-routes graph, self-checking",
     "Loads data/air-routes (airports as records with metadata, routes as edges weighted by km),\n"
     "embeds each airport as its position on the unit sphere, and shows with timings: nearest\n"
     "airports to a point, the same filtered by country, airports within 2 flights of one that are\n"
     "near another, a shortest route by distance, an atomic transaction over record + links +\n"
     "vector, a conflict and its retry, and the figures. Each answer is checked against one\n"
     "computed independently from the CSV files (brute force, Dijkstra); exit 1 if any differs.\n"
     "The database goes into a temporary directory that is removed, or into DIR (kept).\n"
     "  --fast      only the shown queries are checked (the full run also checks 300 random\n"
     "              nearest-neighbour queries and 8 more routes)\n"
     "  --data DIR  where air-routes/ is (default: $MNEMO_DATA_DIR, ./data, the source tree)\n"
     "Output is text for people, not JSON.\n",
     {{"fast", 0}, {"data", 1}, {NULL, 0}}, 0, 1, run_demo},
    {NULL, NULL, NULL, NULL, {{NULL, 0}}, 0, 0, NULL},
};
