#!/usr/bin/env bash
# `dbcheckin message` on fixture ent_e2, cold process, the cloc of its 3 custom modules included
# (goal: under 50 ms). Restores ent_e2 into a database of its own, builds the skeleton Odoo tree
# (make_odoo_tree.sh) whose addons_path holds the fixture's custom addons, times whole processes
# with hyperfine (3 warm-up runs, then RUNS), and times `psql -c "select 1"` alike to show what
# one PostgreSQL connection costs on the machine at the same time. Drops the database at the end.
#
# Usage: benches/cloc/message_e2.sh [RUNS]   (default 30)
# Needs: target/release/dbcheckin (or DBCHECKIN_BIN), hyperfine, PostgreSQL (PGHOST/PGPORT/PGUSER,
# default 127.0.0.1:5432 postgres), ../shared/fixtures beside the checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
runs=${1:-30}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
fixtures="$repo/../shared/fixtures/odoo-enterprise"
bin=${DBCHECKIN_BIN:-"$repo/target/release/dbcheckin"}
[ -x "$bin" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }

db="bench_msg_e2_$$"
work=$(mktemp -d)
cleanup() {
    dropdb --if-exists "$db" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$fixtures/make_odoo_tree.sh" "$work/root" ent_e2 --conf "$work/odoo.conf" >/dev/null
"$fixtures/restore.sh" --drop "$fixtures/ent_e2.sql.gz" "$db" >/dev/null 2>&1
cat > "$work/config.toml" <<TOML
[server]
url = "http://127.0.0.1:9/publisher-warranty/"
fallback_url = ""
[odoo]
config = "$work/odoo.conf"
root = "$work/root"
python = "3.11"
[postgres]
connection = "host=$PGHOST port=$PGPORT user=$PGUSER"
databases = ["$db"]
[daemon]
state_dir = "$work/state"
control_socket = "$work/control.sock"
TOML

# The message must hold the maintenance key: the count really ran.
"$bin" --config "$work/config.toml" message --quiet > "$work/message.json"
grep -q '"maintenance"' "$work/message.json" || { echo "no maintenance key in the message" >&2; cat "$work/message.json" >&2; exit 1; }

hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/message.hf.json" \
    "$bin --config $work/config.toml message --quiet --database $db" >&2
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/psql.hf.json" \
    "psql -X -q -d $db -c 'select 1'" >&2
python3 - "$work/message.hf.json" "$work/psql.hf.json" <<'PY'
import json, sys
def stats(path):
    r = json.load(open(path))["results"][0]
    return {k: round(r[k] * 1000, 1) for k in ("median", "min", "max", "mean")}
print(json.dumps({"bench": "message-ent_e2", "message_ms": stats(sys.argv[1]), "psql_select_1_ms": stats(sys.argv[2])}))
PY
