#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the virtme-ng VM that scripts/bench.sh boots, as root:
#   bench/run-in-vm.sh KODIR CBIN NLPUSH OUTDIR [--smoke] [--only SECTIONS]
# KODIR holds nlpush.ko and nlpush_test.ko built for the running kernel,
# CBIN the bench/c tools, NLPUSH the release nlpush CLI ("" when it could
# not be built: the Swift cells are then skipped), OUTDIR a directory shared
# read-write with the host (vng --rwdir). Writes OUTDIR/raw.jsonl, OUTDIR/logs/
# and OUTDIR/run.log; exits non-zero when the modules do not load or the
# driver fails.
set -u
KODIR=${1:?usage: run-in-vm.sh KODIR CBIN NLPUSH OUTDIR [--smoke]}
CBIN=${2:?}
NLPUSH=${3-}
OUT=${4:?}
shift 4
HERE=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
for m in nlpush_test nlpush; do [ -d /sys/module/$m ] && rmmod $m; done
if ! insmod "$KODIR/nlpush.ko" || ! insmod "$KODIR/nlpush_test.ko"; then
	echo "[run-in-vm] cannot load the modules from $KODIR"
	exit 1
fi
echo "[run-in-vm] $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

python3 "$HERE/vmbench.py" --out "$OUT" --cbin "$CBIN" --ko "$KODIR" --nlpush "$NLPUSH" "$@"
rc=$?

rmmod nlpush_test nlpush || rc=1
dmesg | grep -E "BUG:|WARNING:|Oops|kmemleak|general protection" >"$OUT/dmesg-warnings.txt"
if [ -s "$OUT/dmesg-warnings.txt" ]; then
	echo "[run-in-vm] kernel warnings (see dmesg-warnings.txt):"
	head -n 20 "$OUT/dmesg-warnings.txt"
fi
echo "[run-in-vm] exit $rc"
exit $rc
