#!/usr/bin/env bash
# Writes the rolling upgrade's PostgreSQL migrations from its two schema
# files: release 1's from release1/schema.sql, and release 2's column split
# from release2/schema.sql, with how each release's columns derive from the
# other's while both run (`--derive`). The files in release1/ and release2/
# are this script's output.
#
#   bash examples/rolling_upgrade/regenerate.sh [OUT]     # default OUT: beside this script
#
# The scratch databases are created, and dropped, on EBBTIDE_DEV_DATABASE
# (default postgres://postgres@127.0.0.1:5432/postgres). EBBTIDE names the
# ebbtide binary to run (default: built with cargo).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
if [ -n "${EBBTIDE:-}" ]; then
    ebbtide() { "$EBBTIDE" "$@"; }
else
    ebbtide() { cargo run -q --manifest-path "$here/../../Cargo.toml" -p ebbtide --features cli --bin ebbtide -- "$@"; }
fi
export EBBTIDE_DEV_DATABASE=${EBBTIDE_DEV_DATABASE:-postgres://postgres@127.0.0.1:5432/postgres}

rm -rf "$out/release1/migrations" "$out/release2/migrations"
mkdir -p "$out/release1/migrations/contract"
touch "$out/release1/migrations/contract/.gitkeep"
ebbtide --dir "$out/release1/migrations" revision --autogenerate -m "create users" \
    --schema "$here/release1/schema.sql" >/dev/null

# Release 2 starts from release 1's migrations.
mkdir -p "$out/release2"
cp -r "$out/release1/migrations" "$out/release2/migrations"
rm "$out/release2/migrations/contract/.gitkeep"
ebbtide --dir "$out/release2/migrations" revision --autogenerate -m "split users name" \
    --schema "$here/release2/schema.sql" \
    --derive "users.first_name=split_part(name, ' ', 1)" \
    --derive "users.last_name=nullif(substr(name, length(split_part(name, ' ', 1)) + 2), '')" \
    --derive "users.name=concat_ws(' ', first_name, last_name)" >/dev/null
