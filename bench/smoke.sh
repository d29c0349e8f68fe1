#!/usr/bin/env bash
# The benchmark's smoke run, for CI: N = 10 migrations on SQLite, on
# PostgreSQL ($BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
# and on MySQL/MariaDB ($BENCH_MYSQL_URL, default mysql://root@127.0.0.1:3306);
# under CI=true an unreachable server fails the run, otherwise it is skipped.
#
#   bench/smoke.sh           ebbtide and the raw floors (bench/ workspace only)
#   bench/smoke.sh --peers   the same plus refinery, sqlx and diesel_migrations
#                            (also builds the bench/peers workspace)
#
# Every run is checked (migrations loaded, applied count, the check's
# verdict, and the version table's row count read back by the driver);
# timings are printed, never asserted. Exit status 0 means every check passed.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="$PWD/target"
tools=ebbtide,raw
nice -n 10 cargo build --release --quiet -p bench-driver -p tool-ebbtide -p tool-raw
if [ "${1:-}" = "--peers" ]; then
    (cd peers && nice -n 10 cargo build --release --quiet -p tool-refinery -p tool-sqlx -p tool-diesel)
    tools=ebbtide,raw,refinery,sqlx,diesel
fi
exec ./target/release/bench smoke --engine all --tools "$tools" --out "$CARGO_TARGET_DIR/work/smoke.jsonl"
