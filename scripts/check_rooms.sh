#!/bin/sh
# Checks the seams between rooms (docs/architecture.md "Room order"): a file under src/<room>/
# includes "<other>/..." only when <other> is lower in the order, and only src/store/rocksdb/ and
# src/store/lmdb/ include the RocksDB and LMDB headers (src/store/etcd/ the libcurl ones). Prints each violation; exits 1 on any.
# Usage: check_rooms.sh ARCHITECTURE_MD SRC_DIR
set -eu
doc=$1
src=$2
[ -f "$doc" ] || { echo "check_rooms: no such file: $doc" >&2; exit 2; }
[ -d "$src" ] || { echo "check_rooms: no such directory: $src" >&2; exit 2; }

# The order is the one line of the doc that starts with "rooms:", e.g.
#   rooms: core < cache, store < txn < ...   (rooms on one level may not include each other)
order=$(sed -n 's/^ *rooms: *//p' "$doc" | head -n 1)
[ -n "$order" ] || { echo "check_rooms: $doc has no 'rooms:' line" >&2; exit 2; }

# Every `#include "x/..."` and `#include <x...>` under src/, as "file<TAB>included path".
find "$src" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.hpp' \) |
    LC_ALL=C sort |
    while IFS= read -r f; do
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p' "$f" |
            while IFS= read -r inc; do printf '%s\t%s\n' "${f#"$src"/}" "$inc"; done
    done |
    awk -F '\t' -v order="$order" '
    BEGIN {
        n = split(order, levels, "<")
        for (i = 1; i <= n; i++) {
            m = split(levels[i], names, /[ ,]+/)
            for (j = 1; j <= m; j++)
                if (names[j] != "")
                    level[names[j]] = i
        }
        bad = 0
    }
    {
        file = $1; inc = $2
        room = file; sub(/\/.*/, "", room)
        if (file !~ /\//)
            next # a file directly in src/ belongs to no room
        if (!(room in level)) {
            if (!(room in told))
                printf "%s: room \"%s\" is not in the room order of docs/architecture.md\n", file, room
            told[room] = 1; bad = 1; next
        }
        if (inc ~ /^rocksdb\// && file !~ /^store\/rocksdb\//) {
            printf "%s: includes <%s>: only src/store/rocksdb/ includes RocksDB headers\n", file, inc; bad = 1; next
        }
        if (inc ~ /^lmdb\.h$/ && file !~ /^store\/lmdb\//) {
            printf "%s: includes <%s>: only src/store/lmdb/ includes LMDB headers\n", file, inc; bad = 1; next
        }
        if (inc ~ /^curl\// && file !~ /^store\/etcd\//) {
            printf "%s: includes <%s>: only src/store/etcd/ includes libcurl headers\n", file, inc; bad = 1; next
        }
        if (inc !~ /\//)
            next # same directory or a system header
        other = inc; sub(/\/.*/, "", other)
        if (other == room || !(other in level))
            next # own room, or not a room (mnemo/ public API, system headers)
        if (level[other] >= level[room]) {
            printf "%s: includes \"%s\": room %s may include only rooms below it (%s is %s)\n", file, inc, room, other,
                   level[other] == level[room] ? "on its level" : "above it"
            bad = 1
        }
    }
    END { exit bad }'
