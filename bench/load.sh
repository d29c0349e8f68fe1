#!/usr/bin/env bash
# Loading a migration of many statements: `ebbtide lint` (every build-time
# rule, what every CLI command pays before it connects) on one file of N
# INSERT statements, N = 10,000, 40,000 and 100,000. Prints wall time and
# peak RSS per N. Build first: cargo build --release --features cli --bin ebbtide
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/ebbtide
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| statements | file MiB | wall s | peak RSS MiB |"
echo "|---|---|---|---|"
for n in ${NS:-10000 40000 100000}; do
    mkdir -p "$work/$n/initial" "$work/$n/expand"
    echo "CREATE TABLE t (id int, v text);" > "$work/$n/initial/0001_create_t.sql"
    seq 1 "$n" | awk '{ printf "INSERT INTO t (id, v) VALUES (%d, '\''row %d; with a semicolon'\'');\n", $1, $1 }' \
        > "$work/$n/expand/0002_rows.sql"
    size=$(du -m "$work/$n/expand/0002_rows.sql" | cut -f1)
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --dir "$work/$n" lint -q
    read -r wall rss < "$work/time"
    echo "| $n | $size | $wall | $((rss / 1024)) |"
done
