#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the package-benchmark suite of bench/swift/ on the host and converts
# its JMH export into one JSON file for bench/report.py:
#   bench/swift-benchmarks.sh [--smoke] [--streams DIR] [--out FILE.json]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
command -v swift >/dev/null 2>&1 || export PATH=$PATH:/opt/swift/usr/bin

STREAMS=$ROOT/bench/data
OUT=$ROOT/bench/results/swift-benchmarks.json
SMOKE=0
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) SMOKE=1 ;;
	--streams) STREAMS=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--smoke] [--streams DIR] [--out FILE]" >&2; exit 64 ;;
	esac
	shift
done
STREAMS=$(cd "$STREAMS" && pwd) || exit 1
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
WORK=$ROOT/build/bench/package-benchmark
rm -rf "$WORK"
mkdir -p "$WORK"

extra=()
# smoke: a few iterations of each benchmark (proves it builds and runs)
[ "$SMOKE" = 1 ] && export NLPUSH_BENCH_SMOKE=1
cd bench/swift || exit 1
export NLPUSH_BENCH_STREAMS=$STREAMS
swift package --allow-writing-to-directory "$WORK" benchmark \
	--format jmh --path "$WORK" --no-progress "${extra[@]}" >"$WORK/run.log" 2>&1 ||
	{ tail -n 30 "$WORK/run.log"; exit 1; }
grep -v '^\[[0-9]*/[0-9]*\]' "$WORK/run.log" | tail -n 40

python3 - "$OUT" "$WORK" <<'PY'
import glob, json, os, sys
out, work = sys.argv[1:]
files = glob.glob(os.path.join(work, "**", "*.json"), recursive=True)
rows = []
for f in files:
    try:
        data = json.load(open(f))
    except ValueError:
        continue
    for e in data if isinstance(data, list) else []:
        pm = e.get("primaryMetric", {})
        rows.append({"benchmark": e.get("benchmark"), "metric": pm.get("scoreUnit"),
                     "score": pm.get("score"), "percentiles": pm.get("scorePercentiles"),
                     "secondary": {k: {"score": v.get("score"), "unit": v.get("scoreUnit"),
                                       "percentiles": v.get("scorePercentiles")}
                                   for k, v in e.get("secondaryMetrics", {}).items()}})
json.dump({"tool": "package-benchmark", "results": rows}, open(out, "w"), indent=1)
print(f"[package-benchmark] {len(rows)} benchmark(s) -> {out}")
if not rows:
    sys.exit(1)
PY
