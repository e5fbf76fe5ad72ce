#!/usr/bin/env bash
# The peers of bench_vector's int8 lines (docs/benchmarks.md "int8 quantization"): FAISS
# IndexHNSWSQ (and IndexHNSWFlat) in C++, usearch i8 (and f32) and LanceDB IVF_HNSW_SQ through
# Node, on siftsmall and on bench_vector's clustered set written as fvecs. One JSON line per
# measurement on stdout, tagged with "dataset". Installs what it needs first (setup.sh beside it:
# libfaiss-dev, Node, the npm packages under $PEERS_DIR/node).
#
# usage: benches/peers/run_sq8_peers.sh BUILD_DIR      (e.g. build)
# environment: PEERS_DIR=/tmp/peers  SETS="siftsmall clustered"  EFS=16,32,64,128  M=16  EFC=200
#              N=100000 (clustered size)  NICE=""  LANCE_CPU_THREADS=1
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:?usage: run_sq8_peers.sh BUILD_DIR}
P=${PEERS_DIR:-/tmp/peers}
SETS=${SETS:-siftsmall clustered}
EFS=${EFS:-16,32,64,128}; M=${M:-16}; EFC=${EFC:-200}; N=${N:-100000}
NICE=${NICE:-}
export LANCE_CPU_THREADS=${LANCE_CPU_THREADS:-1}
export NODE_PATH=$P/node/node_modules
PEERS_DIR=$P "$HERE/setup.sh" >&2
mkdir -p "$P/bin" "$P/sq8"
g++ -O2 -march=native -o "$P/bin/faiss_hnsw_sq" "$HERE/faiss_hnsw_sq.cpp" -lfaiss -fopenmp -lopenblas
tag() { sed -u "s|^{|{\"dataset\":\"$1\",|"; }
for set in $SETS; do
  case $set in
    siftsmall) pre=$ROOT/data/siftsmall/siftsmall ;;
    clustered) pre=$P/sq8/clustered
               [ -f "${pre}_base.fvecs" ] || "$BUILD/benches/bench_vector" --only clustered --n "$N" --write-fvecs "$P/sq8" ;;
    *) echo "unknown set $set" >&2; exit 2 ;;
  esac
  b=${pre}_base.fvecs q=${pre}_query.fvecs g=${pre}_groundtruth.ivecs
  $NICE "$P/bin/faiss_hnsw_sq" "$b" "$q" "$g" "$M" "$EFC" "$EFS" flat,sq8 | tag "$set"
  for quant in f32 i8; do
    $NICE node "$HERE/vec_peers_sq.js" usearch "$b" "$q" "$g" M="$M" EFC="$EFC" EF="$EFS" QUANT=$quant | tag "$set"
  done
  $NICE node "$HERE/vec_peers_sq.js" lancedb "$b" "$q" "$g" MODES=hnsw_sq M="$M" EFC="$EFC" EF="$EFS" | tag "$set"
done
