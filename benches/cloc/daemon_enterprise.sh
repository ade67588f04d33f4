#!/usr/bin/env bash
# The daemon counting a large custom tree: an Enterprise fixture copy (ent_e2) with the 300
# modules of benches/cloc/gen_tree.py installed (rows in ir_module_module), served by a skeleton
# Odoo (make_odoo_tree.sh) whose addons_path holds the tree. Starts the release `dbcheckin run`,
# times `check-now` through the daemon (the whole count included), and reads VmRSS after the
# burst (the count is dropped with the burst) and VmHWM (the peak).
#
# Usage: benches/cloc/daemon_enterprise.sh [TREE_DIR] [DATABASES]
#   TREE_DIR   default /tmp/cloc-bench-tree (generated if absent)
#   DATABASES  copies of the database sharing the tree (default 1): each module directory is
#              counted once per burst however many databases use it
# Needs: target/release/dbcheckin, PostgreSQL (PGHOST/PGPORT/PGUSER, default 127.0.0.1:5432
# postgres), python3, ../shared/fixtures beside the checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tree=${1:-/tmp/cloc-bench-tree}
copies=${2:-1}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
fixtures="$repo/../shared/fixtures/odoo-enterprise"
bin=${DBCHECKIN_BIN:-"$repo/target/release/dbcheckin"}
[ -x "$bin" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
[ -d "$tree" ] || python3 "$here/gen_tree.py" "$tree" >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for i in $(seq 1 "$copies"); do dropdb --if-exists "bench_ent_$i" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

"$fixtures/make_odoo_tree.sh" "$work/root" ent_e2 --conf "$work/odoo.conf" >/dev/null
# The fixture's own custom modules stay installed; the generated tree joins the addons path.
sed -i "s|^addons_path = .*|&,$tree|" "$work/odoo.conf"
"$fixtures/restore.sh" --drop "$fixtures/ent_e2.sql.gz" bench_ent_tpl >/dev/null 2>&1
names=$(find "$tree" -mindepth 2 -maxdepth 2 -name __manifest__.py -printf '%h\n' | xargs -n1 basename | sort)
values=$(printf "('%s', 'installed', 100)," $names)
psql -q -d bench_ent_tpl -c "INSERT INTO ir_module_module (name, state, sequence) VALUES ${values%,}"
dbs=""
for i in $(seq 1 "$copies"); do
    createdb -T bench_ent_tpl "bench_ent_$i"
    psql -q -d "bench_ent_$i" -c "UPDATE ir_config_parameter SET value = gen_random_uuid()::text WHERE key = 'database.uuid'"
    dbs="$dbs\"bench_ent_$i\","
done
dropdb bench_ent_tpl

# A stand-in validation server on loopback (plain HTTP), answering an empty reply.
port_file="$work/port"
python3 - "$port_file" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"{'messages': []}"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_port))
s.serve_forever()
PY
pids+=($!)
for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(cat "$port_file")

cat > "$work/config.toml" <<TOML
[server]
url = "http://127.0.0.1:$port/publisher-warranty/"
fallback_url = ""
[odoo]
config = "$work/odoo.conf"
root = "$work/root"
python = "3.11"
[postgres]
connection = "host=$PGHOST port=$PGPORT user=$PGUSER"
databases = [${dbs%,}]
[schedule]
first_delay = "1h"
[daemon]
state_dir = "$work/state"
control_socket = "$work/control.sock"
TOML

"$bin" --config "$work/config.toml" run 2>"$work/daemon.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 1 100); do [ -S "$work/control.sock" ] && break; sleep 0.1; done
kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$daemon/status"; }
before=$(kib VmRSS)
start=$(date +%s%N)
"$bin" --config "$work/config.toml" check-now --json > "$work/result.json"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
# Settle: the burst's count is dropped and the heap trimmed once the last state is written.
for _ in $(seq 1 ${SETTLE_TENTHS:-50}); do sleep 0.1; done
after=$(kib VmRSS)
anon=$(kib RssAnon)
file=$(kib RssFile)
peak=$(kib VmHWM)
lines=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(r[0]['maintenance']['lines'], all(x['ok'] for x in r))" "$work/result.json")
echo "{\"bench\":\"daemon-enterprise\",\"databases\":$copies,\"modules\":$(echo "$names" | wc -l),\"check_now_ms\":$elapsed_ms,\"rss_before_kib\":$before,\"rss_after_kib\":$after,\"rss_after_anon_kib\":$anon,\"rss_after_file_kib\":$file,\"peak_kib\":$peak,\"lines_and_ok\":\"$lines\"}"
