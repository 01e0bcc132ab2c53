#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Instructions per decoded event, counted with valgrind --tool=callgrind on
# the host (no VM), for the same recorded stream of nlpush event messages:
#   - Swift: bench/swift DecodeStream (the public Event(decoding:receivedNs:))
#   - C:     bench/c/genlparse_bench (libnl genlmsg_parse with a policy), once
#            as is and once with --copy (payload copied into an owned buffer,
#            as Swift's Event does)
# Each program runs with REPEAT=R1 and REPEAT=R2; (Ir(R2) - Ir(R1)) /
# ((R2 - R1) x messages) removes start-up and file loading exactly.
# Also writes the callgrind_annotate hot-spot list of the Swift decoder.
#
#   bench/callgrind.sh [--smoke] [--streams DIR] [--out FILE.json]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
command -v swift >/dev/null 2>&1 || export PATH=$PATH:/opt/swift/usr/bin

STREAMS=$ROOT/bench/data
OUT=$ROOT/bench/results/callgrind.json
R1=1 R2=6
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) R2=2 ;;
	--streams) STREAMS=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) echo "usage: $0 [--smoke] [--streams DIR] [--out FILE]" >&2; exit 64 ;;
	esac
	shift
done
STREAMS=$(cd "$STREAMS" && pwd) || exit 1
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
WORK=$ROOT/build/bench/callgrind
rm -rf "$WORK"
mkdir -p "$WORK"

command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 1; }
make -s -C bench/c genlparse_bench || exit 1
echo "[callgrind] building DecodeStream (release)"
swift build -c release --package-path bench/swift --product DecodeStream >"$WORK/build.log" 2>&1 ||
	{ tail -n 20 "$WORK/build.log"; exit 1; }
DECODE=$(swift build -c release --package-path bench/swift --show-bin-path)/DecodeStream

# ir NAME REPEAT CMD...: total instructions of one callgrind run
ir() {
	local name=$1 rep=$2
	shift 2
	valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.$rep.out" "$@" >"$WORK/$name.$rep.stdout" 2>"$WORK/$name.$rep.stderr" ||
		{ cat "$WORK/$name.$rep.stderr" >&2; return 1; }
	sed -n 's/^summary: \([0-9]*\).*/\1/p;s/^totals: \([0-9]*\).*/\1/p' "$WORK/$name.$rep.out" | tail -n1
}

entries=()
for f in "$STREAMS"/stream-*.bin; do
	[ -s "$f" ] || continue
	size=$(basename "$f" .bin)
	size=${size#stream-}
	for prog in swift c_libnl c_libnl_copy; do
		case $prog in
		swift) cmd=("$DECODE" "$f") ;;
		c_libnl) cmd=(bench/c/genlparse_bench "$f") ;;
		c_libnl_copy) cmd=(bench/c/genlparse_bench "$f" --copy) ;;
		esac
		name=$prog-$size
		a=$(ir "$name" $R1 "${cmd[@]}" $R1) || exit 1
		b=$(ir "$name" $R2 "${cmd[@]}" $R2) || exit 1
		msgs=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["messages"])' "$WORK/$name.$R2.stdout")
		sum=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["checksum"])' "$WORK/$name.$R2.stdout")
		per=$(python3 -c "print(round(($b - $a) / (($R2 - $R1) * $msgs), 1))")
		echo "[callgrind] $prog, $size B payload: $per instructions per event ($msgs messages, checksum $sum)"
		entries+=("{\"program\":\"$prog\",\"size\":$size,\"messages\":$msgs,\"repeat\":[$R1,$R2],\"ir\":[$a,$b],\"instructions_per_event\":$per,\"checksum\":$sum}")
	done
	# where the Swift decoder spends its instructions: only decodeAll() and
	# what it calls are collected; exclusive and inclusive, demangled
	valgrind --tool=callgrind --toggle-collect='*decodeAll*' \
		--callgrind-out-file="$WORK/hot-swift-$size.out" "$DECODE" "$f" $R2 >/dev/null 2>&1
	for mode in no yes; do
		callgrind_annotate --inclusive=$mode "$WORK/hot-swift-$size.out" 2>/dev/null |
			grep -E '^ *[0-9,]+ ' | grep -v 'PROGRAM TOTALS' | head -n 30 |
			swift demangle --simplified >"$WORK/hot-$mode-swift-$size.txt"
	done
	cp "$WORK/hot-no-swift-$size.txt" "$WORK/hotspots-swift-$size.txt"
done
[ ${#entries[@]} -gt 0 ] || { echo "no stream-*.bin in $STREAMS" >&2; exit 1; }

python3 - "$OUT" "$WORK" "${entries[@]}" <<'PY'
import json, sys, glob, os, re
out, work, *entries = sys.argv[1:]
rows = [json.loads(e) for e in entries]
hot = {}
for path in sorted(glob.glob(os.path.join(work, "hotspots-swift-*.txt"))):
    size = int(re.search(r"swift-(\d+)", path).group(1))
    lines = []
    for line in open(path):
        m = re.match(r"\s*([0-9,]+)\s+\(\s*([0-9.]+)%\)\s+(.*)", line)
        if m:
            lines.append({"ir": int(m.group(1).replace(",", "")), "percent": float(m.group(2)),
                          "symbol": m.group(3).strip()})
    hot[size] = lines[:20]
incl = {}
for path in sorted(glob.glob(os.path.join(work, "hot-yes-swift-*.txt"))):
    size = int(re.search(r"swift-(\d+)", path).group(1))
    incl[size] = [l.rstrip() for l in open(path)][:25]
json.dump({"tool": "callgrind", "valgrind": os.popen("valgrind --version").read().strip(),
           "results": rows, "swift_hotspots_exclusive": hot, "swift_hotspots_inclusive_text": incl},
          open(out, "w"), indent=1)
PY
echo "[callgrind] wrote $OUT"
