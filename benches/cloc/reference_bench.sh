#!/usr/bin/env bash
# Benchmark of the cloc reference (tests/cloc/reference.py, i.e. Odoo's algorithm on CPython)
# on the generated tree of benches/cloc/gen_tree.py. Warm page cache: one untimed warm-up run,
# then RUNS timed runs; reports the median wall time and the peak RSS (max over the runs).
#
# Usage: benches/cloc/reference_bench.sh [TREE_DIR] [RUNS]
#   TREE_DIR  default /tmp/cloc-bench-tree (generated with the default seed if absent)
#   RUNS      default 5
#   env PYTHON (default ~/.pyenv/versions/3.11.*/bin/python3), RESULT_FILE (append the result line)
# Last line of stdout, machine-readable (one JSON object):
#   {"bench":"cloc","impl":"python-reference","python":"3.11.7","tree":...,"modules":300,
#    "runs":5,"median_s":..,"min_s":..,"max_s":..,"median_cpu_s":..,"peak_rss_kb":..,"rss_source":"time -v"|"rusage",
#    "code":..,"total":..,"files":..,"errors":..}
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tree=${1:-/tmp/cloc-bench-tree}
runs=${2:-5}
python=${PYTHON:-$(ls -d ~/.pyenv/versions/3.11.*/bin/python3 2>/dev/null | sort -V | tail -n 1 || true)}
[ -n "$python" ] && [ -x "$python" ] || { echo "FAIL: no CPython 3.11 under ~/.pyenv/versions" >&2; exit 1; }
reference="$repo/tests/cloc/reference.py"

if [ ! -d "$tree" ]; then
    echo "generating $tree"
    "$python" "$here/gen_tree.py" "$tree"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One timed run of a command, on stdout as "WALL_US RSS_KB SOURCE CPU_US" (CPU = user + sys of
# the child: steadier than wall time when other jobs share the 2 cores).
# /usr/bin/time -v when present, else Python's resource module (ru_maxrss of the child).
measure() {
    local out=$1; shift
    if [ -x /usr/bin/time ]; then
        local t0 t1
        t0=$(date +%s%N)
        /usr/bin/time -v -o "$work/time.txt" "$@" > "$out"
        t1=$(date +%s%N)
        local rss
        rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$work/time.txt")
        local cpu
        cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ {s += $2} END {printf "%d", s * 1e6}' "$work/time.txt")
        echo "$(( (t1 - t0) / 1000 )) $rss time-v $cpu"
    else
        "$python" - "$out" "$@" <<'EOF'
import resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
with open(out, "wb") as handle:
    subprocess.run(cmd, stdout=handle, check=True)
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(int(wall * 1e6), usage.ru_maxrss, "rusage", int((usage.ru_utime + usage.ru_stime) * 1e6))
EOF
    fi
}

# The reference: every module of the tree (sub-directories with a manifest, name order), series 18.
ref_cmd=("$python" "$reference" --series 18 --compact --addons "$tree")
# Rust side (to be added next to this line): e.g.
#   rust_cmd=(target/release/<bin> <args counting "$tree" the same way>)
# and time it with the same `measure` loop below, emitting "impl":"rust".

"${ref_cmd[@]}" > "$work/warmup.json"   # warm the page cache and check the run succeeds
walls=(); cpus=(); rss_max=0; source=""
for i in $(seq 1 "$runs"); do
    read -r wall rss source cpu < <(measure "$work/run.json" "${ref_cmd[@]}")
    walls+=("$wall"); cpus+=("$cpu")
    [ "$rss" -gt "$rss_max" ] && rss_max=$rss
    echo "run $i: $(awk "BEGIN{printf \"%.3f s wall, %.3f s cpu\", $wall/1e6, $cpu/1e6}"), peak RSS $rss kB"
done

line=$("$python" - "$work/run.json" "$tree" "$runs" "$rss_max" "$source" "${cpus[*]}" "${walls[@]}" <<'EOF'
import json, statistics, sys
result_file, tree, runs, rss, source, cpus, *walls = sys.argv[1:]
walls = [int(w) / 1e6 for w in walls]
cpus = [int(c) / 1e6 for c in cpus.split()]
r = json.load(open(result_file))
print(json.dumps({
    "bench": "cloc", "impl": "python-reference", "python": r["python"], "tree": tree,
    "modules": len(r["modules"]), "runs": int(runs),
    "median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
    "max_s": round(max(walls), 3), "median_cpu_s": round(statistics.median(cpus), 3),
    "peak_rss_kb": int(rss), "rss_source": source,
    "code": sum(m["code"] for m in r["modules"]), "total": sum(m["total"] for m in r["modules"]),
    "files": sum(m["files"] for m in r["modules"]), "errors": sum(m["errors"] for m in r["modules"]),
}, separators=(",", ":")))
EOF
)
[ -n "${RESULT_FILE:-}" ] && echo "$line" >> "$RESULT_FILE"
echo "$line"
