#!/usr/bin/env bash
# Every measurement of bench/README.md, in order, with the raw output kept
# in bench/results/<ebbtide commit>/ (JSON lines: one object per tool run;
# .md: the summary tables; .log: progress). Takes about an hour on 2 cores;
# run it on a quiet machine. Build first (see README.md): the main workspace
# and the peers. It measures ebbtide as it is in ../runtime when built.
#
#   bench/run-all.sh               measurements 1, 2, 3 and 5's memory, then 1
#                                  and 3 on MySQL (MariaDB, $BENCH_MYSQL_URL)
#   bench/run-all.sh --embed       also 4 and 5's binary size (compiles a lot)
#   bench/run-all.sh --no-mysql    without the MySQL part
#   bench/run-all.sh --mysql-only  the MySQL part alone (about 30 minutes)
#
# MySQL has no measurement 2 (DDL commits by itself: nothing can apply it
# all-or-nothing), no tmpfs row and no memory row.
#
# ROUNDS=small halves the rounds (about 40 minutes without --embed);
# EMBED_TOOLS picks the embedding crates (refinery's release build at 5,000
# migrations does not finish in 10 minutes: leave it out with
# EMBED_TOOLS=ebbtide,diesel,sqlx).
set -euo pipefail
cd "$(dirname "$0")"
embed=no mysql=yes
for arg in "$@"; do
    case $arg in
        --embed) embed=yes ;;
        --no-mysql) mysql=no ;;
        --mysql-only) mysql=only ;;
        *) echo "usage: bench/run-all.sh [--embed] [--no-mysql | --mysql-only]" >&2; exit 2 ;;
    esac
done
B=./target/release/bench
R=results/$(git -C .. rev-parse --short HEAD)$(git -C .. diff --quiet HEAD -- runtime core macros || echo -dirty)
mkdir -p "$R"
env=ENV.txt
if [ "$mysql" = only ]; then env=ENV-mysql.txt; fi
run() { # name, then bench arguments
    local name=$1; shift
    echo "== $name: bench $*"
    nice -n 10 "$B" "$@" --out "$R/$name.jsonl" > "$R/$name.md" 2> "$R/$name.log"
    cat "$R/$name.md"
}
{
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "ebbtide: $(basename "$R")"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version)"
    echo "postgres: $(psql -h 127.0.0.1 -U postgres -Atc 'show server_version' 2>/dev/null || echo unknown)"
    echo "mysql: $(mysql -h 127.0.0.1 -u root -N -e 'select version()' 2>/dev/null || echo unknown)"
    echo "libmysqlclient (diesel): $(pkg-config --modversion mysqlclient 2>/dev/null || echo unknown)"
    echo "peers: $(grep -A1 -E '^name = "(refinery|sqlx|diesel_migrations|diesel|libsqlite3-sys|rusqlite|mysql_async|mysqlclient-sys)"$' peers/Cargo.lock | paste - - - | awk '{print $3"="$6}' | tr -d '"' | xargs)"
    echo "bench: $(grep -A1 -E '^name = "(libsqlite3-sys|rusqlite|tokio-postgres|mysql_async)"$' Cargo.lock | paste - - - | awk '{print $3"="$6}' | tr -d '"' | xargs)"
} > "$R/$env"
cat "$R/$env"
r() { if [ "${ROUNDS:-}" = small ]; then echo $(( ($1 + 1) / 2 + 1 )); else echo "$1"; fi; }
if [ "$mysql" != only ]; then
    run apply-n1000        apply --n 1000 --rounds "$(r 11)"
    run apply-n1000-tmpfs  apply --n 1000 --rounds "$(r 9)" --engine sqlite --work /dev/shm/ebbtide-bench
    run apply-one-tx-n1000 apply --one-tx --n 1000 --rounds "$(r 9)"
    run noop-n1000         noop --n 1000 --rounds "$(r 21)"
    run noop-n10000        noop --n 10000 --rounds "$(r 11)"
    run count              count --n 10,10000
    run memory-n10000      memory --n 10000
fi
if [ "$mysql" != no ]; then
    run apply-n1000-mysql  apply --n 1000 --rounds "$(r 11)" --engine mysql
    run noop-n1000-mysql   noop --n 1000 --rounds "$(r 21)" --engine mysql
    run noop-n10000-mysql  noop --n 10000 --rounds "$(r 11)" --engine mysql
    run count-mysql        count --n 10,10000 --engine mysql
fi
if [ "$embed" = yes ]; then
    run embed embed --n 100,1000,5000 --reps 3 --embed-tools "${EMBED_TOOLS:-ebbtide,diesel,sqlx,refinery}"
fi
