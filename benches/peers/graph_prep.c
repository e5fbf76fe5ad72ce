/* Copied from the team's peers harness (peers/graph_prep.c), so that the graph peers run from a clone;
 * the edge-list reader moved to edges.h, shared with its sibling. */
/* Prepares inputs shared by the graph peers so they all answer the same question:
 *  - OUT/edges.csv : "src,dst" per edge, both directions when undirected, sorted, duplicates dropped
 *  - OUT/nodes.csv : every id 0..max_id (the id space graph_peers.c draws starts from)
 *  - OUT/starts.tsv: "start<TAB>count" for Q starts drawn exactly as graph_peers.c does
 *                    (srand(42); rand() % (max_id+1)), count = distinct nodes reached in 1..K hops
 *                    along out-edges, the start itself excluded (same definition as graph_peers.c).
 * usage: graph_prep EDGES.txt K Q OUTDIR [undirected]
 * prints one JSON line describing the prepared graph. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edges.h"
static int cmp(const void *a, const void *b) { const edge *x = a, *y = b;
  return x->s != y->s ? (x->s < y->s ? -1 : 1) : x->d != y->d ? (x->d < y->d ? -1 : 1) : 0; }
int main(int argc, char **argv) {
  if (argc < 5) { fprintf(stderr, "usage: graph_prep EDGES.txt K Q OUTDIR [undirected]\n"); return 1; }
  FILE *f = fopen(argv[1], "r"); if (!f) { perror(argv[1]); return 1; }
  int K = atoi(argv[2]), Q = atoi(argv[3]), und = argc > 5; const char *out = argv[4];
  long ne, maxn; edge *e = read_edges(f, und, &ne, &maxn);
  fclose(f);
  long nn = maxn + 1; long *starts = malloc(Q * sizeof *starts); srand(42);
  for (int i = 0; i < Q; i++) starts[i] = rand() % nn;
  qsort(e, ne, sizeof *e, cmp);
  long m = 0; for (long i = 0; i < ne; i++) if (m == 0 || cmp(&e[m - 1], &e[i])) e[m++] = e[i];
  char p[4096];
  snprintf(p, sizeof p, "%s/edges.csv", out); FILE *fe = fopen(p, "w"); if (!fe) { perror(p); return 1; }
  for (long i = 0; i < m; i++) fprintf(fe, "%ld,%ld\n", e[i].s, e[i].d);
  fclose(fe);
  snprintf(p, sizeof p, "%s/nodes.csv", out); FILE *fn = fopen(p, "w");
  for (long i = 0; i < nn; i++) fprintf(fn, "%ld\n", i);
  fclose(fn);
  long *off = calloc(nn + 1, sizeof *off), *adj = malloc(m * sizeof *adj);
  for (long i = 0; i < m; i++) { off[e[i].s + 1]++; adj[i] = e[i].d; }
  for (long i = 0; i < nn; i++) off[i + 1] += off[i];
  int *seen = calloc(nn, sizeof *seen); long *fr = malloc(nn * sizeof *fr), *nx = malloc(nn * sizeof *nx);
  snprintf(p, sizeof p, "%s/starts.tsv", out); FILE *fs = fopen(p, "w");
  double tot = 0;
  for (int q = 0; q < Q; q++) {
    int stamp = q + 1; long nf = 1, cnt = 0; fr[0] = starts[q]; seen[starts[q]] = stamp;
    for (int d = 0; d < K; d++) { long nnx = 0;
      for (long i = 0; i < nf; i++) for (long j = off[fr[i]]; j < off[fr[i] + 1]; j++)
        if (seen[adj[j]] != stamp) { seen[adj[j]] = stamp; nx[nnx++] = adj[j]; cnt++; }
      memcpy(fr, nx, nnx * sizeof *fr); nf = nnx; }
    fprintf(fs, "%ld\t%ld\n", starts[q], cnt); tot += cnt;
  }
  fclose(fs);
  printf("{\"prep\":\"%s\",\"directed\":%s,\"nodes\":%ld,\"edges\":%ld,\"k\":%d,\"queries\":%d,\"mean_reached\":%.1f}\n",
         argv[1], und ? "false" : "true", nn, m, K, Q, tot / Q);
  return 0;
}
