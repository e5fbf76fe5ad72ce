#!/usr/bin/env bash
# Sets everything up, builds mnemo and runs the main job: `mnemo demo`, a self-checking tour on the
# shipped air-routes graph (records with metadata, weighted route edges, embeddings, nearest and
# filtered and graph-restricted search, shortest routes, atomic and conflicting transactions).
# Arguments go to `mnemo demo`: a directory to keep the database there, --fast for the short run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null
exec ./build/src/cli/mnemo demo "$@"
