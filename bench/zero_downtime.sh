#!/usr/bin/env bash
# Zero downtime under load (examples/zero_downtime.rs, see BENCHMARKS.md
# "Zero downtime"): the full-size scenario, 1,000,000 rows, on PostgreSQL
# ($EBBTIDE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
# SQLite and MySQL/MariaDB ($EBBTIDE_TEST_MYSQL_URL, default
# mysql://root@127.0.0.1:3306/mysql), with ebbtide's defaults (ROUNDS times each), with lock retries
# off, with the lock timeout off too, and on SQLite with the application's
# connections tuned (also with 3,000,000 rows). With EBBTIDE_TEST_GALERA_URLS
# set (tests/galera/cluster.sh start prints it), also on that MariaDB Galera
# cluster: with the defaults (ROUNDS times) and with retries off (ebbtide's
# and the application's); without it, the Galera runs are skipped. Writes
# each run's output to $OUT (default bench/results/<commit>/zero_downtime).
# Build first:
# cargo build --release -p ebbtide-examples --example zero_downtime
set -uo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/examples/zero_downtime
out=${OUT:-bench/results/$(git rev-parse --short HEAD)/zero_downtime}
rows=${ROWS:-1000000}
galera=${EBBTIDE_TEST_GALERA_URLS:-}
mkdir -p "$out"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "ebbtide: $(git rev-parse --short HEAD)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores (shared with other work), $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version)"
    echo "postgres: $(psql -tA "${EBBTIDE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" -c 'SHOW server_version' 2>/dev/null)"
    echo "mysql: $(mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -u root -N -e 'SELECT VERSION()' 2>/dev/null)"
    if [ -n "$galera" ]; then
        echo "galera: $galera"
        echo "galera nodes: $(bash tests/galera/cluster.sh status 2>&1 | tr '\n' ';')"
    fi
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/ENV.txt"
run() {
    local name=$1
    shift
    echo "== $name: zero_downtime --rows $rows $*"
    "$bin" --rows "$rows" "$@" > "$out/$name.txt" 2>&1
    echo "exit $?" >> "$out/$name.txt"
    grep -E '^\| (operations per|failed writes|writes aborted|wrong|longest writer|p99|sync|blocker)|^targets' "$out/$name.txt"
}
for round in $(seq 1 "${ROUNDS:-3}"); do
    run "postgres-defaults-$round" --engine postgres
    run "sqlite-defaults-$round" --engine sqlite
    run "mysql-defaults-$round" --engine mysql
    [ -z "$galera" ] || run "galera-defaults-$round" --engine galera
done
run postgres-no-retries --engine postgres --no-retries
run postgres-no-retries-no-lock-timeout --engine postgres --no-retries --no-lock-timeout
run sqlite-no-retries --engine sqlite --no-retries
run mysql-no-retries --engine mysql --no-retries
run mysql-no-retries-no-lock-timeout --engine mysql --no-retries --no-lock-timeout
[ -z "$galera" ] || run galera-no-retries --engine galera --no-retries
run sqlite-busy-poll-checkpointer --engine sqlite --busy-poll --checkpointer
# The contract's DROP COLUMN rewrites the table: where its stall reaches 1 s.
rows=3000000 run sqlite-rows3000000-busy-poll-checkpointer --engine sqlite --busy-poll --checkpointer
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/ENV.txt"
