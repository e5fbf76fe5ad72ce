#!/usr/bin/env bash
# Sets everything up, builds mnemo and runs the main job: the quickstart program on the public API
# (store, read, scan, transact, delete). Pass a directory to keep the database there.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null
exec ./build/examples/quickstart "$@"
