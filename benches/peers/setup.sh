#!/usr/bin/env bash
# Installs what the copied peers in benches/peers need, idempotently: Debian's FAISS and SQLite, Node and npm,
# and the npm packages at the versions their figures in docs/benchmarks.md were measured with, into
# $PEERS_DIR/node (default /tmp/peers/node). Nothing of the project reads outside the clone.
set -euo pipefail
P=${PEERS_DIR:-/tmp/peers}
missing=()
for pkg in libfaiss-dev libsqlite3-dev g++ gcc; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# node and npm by command: a NodeSource nodejs package carries npm itself
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq "${missing[@]}"
fi
mkdir -p "$P/node"
cat > "$P/node/package.json" <<'JSON'
{
  "name": "mnemo-bench-peers",
  "version": "1.0.0",
  "private": true,
  "description": "Node peers of mnemo's benchmarks (benches/peers/setup.sh)",
  "dependencies": {
    "@duckdb/node-api": "1.5.6-r.1",
    "@lancedb/lancedb": "0.31.0",
    "apache-arrow": "18.1.0",
    "kuzu": "0.11.3",
    "usearch": "2.26.2"
  }
}
JSON
# npm ci would drop packages other peers put there; install adds what is missing only.
if ! (cd "$P/node" && node -e 'require("@lancedb/lancedb"); require("usearch"); require("apache-arrow"); require("kuzu"); require("@duckdb/node-api")') 2>/dev/null; then
  (cd "$P/node" && npm install --no-audit --no-fund --loglevel=error)
fi
echo "peers ready in $P/node"
