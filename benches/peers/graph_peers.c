/* Copied from the team's peers harness (peers/graph_peers.c), so that the graph peers run from a clone;
 * the edge-list reader moved to edges.h, shared with its sibling. */
/* Peer anchors for graph traversal on an edge list:
 *  - sqlite: edges(src,dst) WITHOUT ROWID table, distinct k-hop set by recursive CTE
 *  - csr: in-memory compressed adjacency with BFS (the in-memory ceiling)
 * usage: graph_peers EDGES.txt K QUERIES [undirected]
 * prints JSON lines: queries/s and mean reached nodes for each peer. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
#include "edges.h"
int main(int argc, char **argv) {
  FILE *f = fopen(argv[1], "r"); int K = atoi(argv[2]); int Q = atoi(argv[3]); int und = argc > 4;
  long ne, maxn; edge *e = read_edges(f, und, &ne, &maxn);
  long nn = maxn + 1; long *starts = malloc(Q * sizeof *starts); srand(42);
  for (int i = 0; i < Q; i++) starts[i] = rand() % nn;
  /* CSR */
  long *off = calloc(nn + 1, sizeof *off), *adj = malloc(ne * sizeof *adj), *pos;
  for (long i = 0; i < ne; i++) off[e[i].s + 1]++;
  for (long i = 0; i < nn; i++) off[i + 1] += off[i];
  pos = malloc(nn * sizeof *pos); memcpy(pos, off, nn * sizeof *pos);
  for (long i = 0; i < ne; i++) adj[pos[e[i].s]++] = e[i].d;
  int *seen = calloc(nn, sizeof *seen); long *fr = malloc(nn * sizeof *fr), *nx = malloc(nn * sizeof *nx);
  double t = now(); double tot = 0; int reps = 0;
  do { tot = 0;
    for (int q = 0; q < Q; q++) {
      int stamp = reps * Q + q + 1; long nf = 1, cnt = 0; fr[0] = starts[q]; seen[starts[q]] = stamp;
      for (int d = 0; d < K; d++) { long nnx = 0;
        for (long i = 0; i < nf; i++) for (long j = off[fr[i]]; j < off[fr[i] + 1]; j++)
          if (seen[adj[j]] != stamp) { seen[adj[j]] = stamp; nx[nnx++] = adj[j]; cnt++; }
        memcpy(fr, nx, nnx * sizeof *fr); nf = nnx; }
      tot += cnt; }
    reps++; } while (now() - t < 0.5);
  double el = now() - t;
  printf("{\"peer\":\"csr_bfs\",\"k\":%d,\"edges\":%ld,\"qps\":%.0f,\"mean_reached\":%.1f}\n", K, ne, Q * reps / el, tot / Q);
  /* SQLite */
  sqlite3 *db; sqlite3_open(":memory:", &db);
  sqlite3_exec(db, "PRAGMA journal_mode=OFF; CREATE TABLE e(s INTEGER, d INTEGER, PRIMARY KEY(s,d)) WITHOUT ROWID; BEGIN", 0, 0, 0);
  sqlite3_stmt *ins; sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO e VALUES(?,?)", -1, &ins, 0);
  double tl = now();
  for (long i = 0; i < ne; i++) { sqlite3_bind_int64(ins, 1, e[i].s); sqlite3_bind_int64(ins, 2, e[i].d); sqlite3_step(ins); sqlite3_reset(ins); }
  sqlite3_exec(db, "COMMIT", 0, 0, 0);
  double load = now() - tl;
  sqlite3_stmt *st; sqlite3_prepare_v2(db,
    "WITH RECURSIVE r(n, depth) AS (SELECT ?1, 0 UNION SELECT e.d, r.depth + 1 FROM r JOIN e ON e.s = r.n WHERE r.depth < ?2) "
    "SELECT count(DISTINCT n) - 1 FROM r", -1, &st, 0);
  t = now(); tot = 0; int done = 0;
  for (int q = 0; q < Q; q++) {
    sqlite3_bind_int64(st, 1, starts[q]); sqlite3_bind_int(st, 2, K);
    if (sqlite3_step(st) == SQLITE_ROW) tot += sqlite3_column_int64(st, 0);
    sqlite3_reset(st); done++;
    if (now() - t > 20) break; }
  el = now() - t;
  printf("{\"peer\":\"sqlite_cte\",\"k\":%d,\"edges\":%ld,\"load_edges_per_s\":%.0f,\"qps\":%.1f,\"mean_reached\":%.1f,\"queries\":%d}\n", K, ne, ne / load, done / el, tot / done, done);
  return 0;
}
