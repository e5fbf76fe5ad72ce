#!/usr/bin/env bash
# The peers of bench_graph's 2-hop lines (docs/benchmarks.md "Graph"): an in-memory CSR and
# SQLite's recursive CTE in C (graph_peers.c), Kuzu and DuckDB through Node (graph_peers.js), on the
# project's SNAP graphs (data/graphs). One JSON line per measurement on stdout, tagged with
# "dataset". Installs what it needs first (setup.sh beside it).
#
# usage: benches/peers/run_graph_peers.sh
# environment: PEERS_DIR=/tmp/peers  GRAPH_PEERS="csr_sqlite kuzu duckdb"  GRAPH_Q=1000  K=2  NICE=""
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
P=${PEERS_DIR:-/tmp/peers}
GRAPHS="$ROOT/data/graphs/facebook_combined.txt:undirected $ROOT/data/graphs/wiki-Vote.txt:directed"
GRAPH_PEERS=${GRAPH_PEERS:-csr_sqlite kuzu duckdb}
GRAPH_Q=${GRAPH_Q:-1000}; K=${K:-2}
NICE=${NICE:-}
export NODE_PATH=$P/node/node_modules
PEERS_DIR=$P "$HERE/setup.sh" >&2
mkdir -p "$P/bin"
gcc -O2 -o "$P/bin/graph_peers" "$HERE/graph_peers.c" -lsqlite3
gcc -O2 -o "$P/bin/graph_prep" "$HERE/graph_prep.c"
tag() { sed -u "s|^{|{\"dataset\":\"$1\",|"; }
for spec in $GRAPHS; do
  file=${spec%:*} mode=${spec##*:}; name=$(basename "$file" .txt)
  und=""; [[ $mode == undirected ]] && und=undirected
  dir=$P/graph/$name-$mode-k$K-q$GRAPH_Q; mkdir -p "$dir"
  [[ -f $dir/starts.tsv && ! $file -nt $dir/starts.tsv ]] || "$P/bin/graph_prep" "$file" "$K" "$GRAPH_Q" "$dir" $und | tag "$name" >&2
  for peer in $GRAPH_PEERS; do
    case $peer in
      csr_sqlite) $NICE "$P/bin/graph_peers" "$file" "$K" "$GRAPH_Q" $und | tag "$name" ;;
      kuzu|duckdb) $NICE node "$HERE/graph_peers.js" "$peer" "$dir" Q="$GRAPH_Q" K="$K" TMP="$P" | tag "$name" ;;
      *) echo "unknown graph peer $peer" >&2; exit 2 ;;
    esac
  done
done
