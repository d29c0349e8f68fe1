#!/usr/bin/env bash
# Batched backfills: release `ebbtide sync --expand` of a backfill of
# 1,000,000 rows (`UPDATE t SET w = v * 2`) by `id`, batch sizes 1,000 and
# 10,000, on SQLite (a file) and PostgreSQL (a scratch database on
# $PG, default postgres://postgres@127.0.0.1:5432, through psql), against
# the same UPDATE as one statement in the migration's transaction.
# Build first: cargo build --release --features cli --bin ebbtide
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/ebbtide
pg=${PG:-postgres://postgres@127.0.0.1:5432}
rows=${ROWS:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS ebbtide_backfill_bench" 2>/dev/null' EXIT
now() { date +%s.%N; }
rate() { [ "$batch" = one ] && echo - || echo "$count / ($2 - $1)" | bc; }
echo "| engine | batch | wall s | batches/s |"
echo "|---|---|---|---|"
for batch in ${BATCHES:-1000 10000 one}; do
    dir=$work/m$batch
    mkdir -p "$dir/initial" "$dir/expand"
    echo "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);" > "$dir/initial/0001_create_t.sql"
    echo "ALTER TABLE t ADD COLUMN w INTEGER;" > "$dir/expand/0002_add_t_w.sql"
    if [ "$batch" = one ]; then
        echo "UPDATE t SET w = v * 2;" > "$dir/expand/0003_backfill_t_w.sql"
    else
        printf -- '-- ebbtide: backfill t.id %s\nUPDATE t SET w = v * 2 WHERE id > :after AND id <= :upto;\n' "$batch" \
            > "$dir/expand/0003_backfill_t_w.sql"
    fi
    count=$([ "$batch" = one ] && echo 1 || echo $(( (rows + batch - 1) / batch )))
    # SQLite
    db=$work/app$batch.db
    "$bin" --dir "$dir" --database "sqlite:$db" -q upgrade 2
    sqlite3 "$db" "INSERT INTO t (id, v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows) SELECT i, i FROM n;"
    start=$(now); "$bin" --dir "$dir" --database "sqlite:$db" -q sync --expand; end=$(now)
    echo "| sqlite | $batch | $(echo "$end - $start" | bc | xargs printf %.2f) | $(rate "$start" "$end") |"
    # PostgreSQL
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS ebbtide_backfill_bench" -c "CREATE DATABASE ebbtide_backfill_bench" 2>/dev/null
    url=$pg/ebbtide_backfill_bench
    "$bin" --dir "$dir" --database "$url" -q upgrade 2
    psql -q "$url" -c "INSERT INTO t (id, v) SELECT i, i FROM generate_series(1, $rows) i" -c "VACUUM ANALYZE t"
    start=$(now); "$bin" --dir "$dir" --database "$url" -q sync --expand; end=$(now)
    echo "| postgres | $batch | $(echo "$end - $start" | bc | xargs printf %.2f) | $(rate "$start" "$end") |"
done
