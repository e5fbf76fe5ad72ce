/* The SNAP edge-list reader of the copied graph peers (graph_peers.c, graph_prep.c): every
 * "a b" line as the edge a->b, and b->a too when undirected; '#' lines skipped. */
#ifndef PEERS_EDGES_H
#define PEERS_EDGES_H
#include <stdio.h>
#include <stdlib.h>
typedef struct { long s, d; } edge;
static edge *read_edges(FILE *f, int und, long *ne_out, long *maxn_out) {
  edge *e = NULL; long ne = 0, cap = 0, maxn = 0; char line[256];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#')
      continue;
    long a, b;
    if (sscanf(line, "%ld %ld", &a, &b) != 2) continue;
    for (int r = 0; r < (und ? 2 : 1); r++) {
      if (ne == cap) e = realloc(e, (cap = cap ? cap * 2 : 1024) * sizeof *e);
      e[ne].s = r ? b : a; e[ne].d = r ? a : b; ne++;
    }
    if (a > maxn)
      maxn = a;
    if (b > maxn)
      maxn = b;
  }
  *ne_out = ne; *maxn_out = maxn;
  return e;
}
#endif
