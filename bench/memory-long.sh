#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A long memory check, inside a VM (not part of scripts/bench.sh: about 25
# minutes under TCG): RSS of `nlpush monitor --subscribers 16` over EVENTS
# events of 64 B published in bursts of 20,000 (default 3,000,000).
#
#   vng --run /boot/vmlinuz-K --disable-kvm --memory 2G --cpus 2 --rwdir OUT \
#       --exec 'bench/memory-long.sh KODIR NLPUSH CBIN OUT [EVENTS]'
#
# KODIR holds nlpush.ko and nlpush_test.ko for the running kernel (e.g.
# build/bench/kmod-K after scripts/bench.sh), NLPUSH the release CLI, CBIN
# bench/c. Writes OUT/rss.txt ("events RSS_kB" after each burst, then
# "drained RSS_kB") and OUT/summary.jsonl (the monitor's summaries).
set -u
KODIR=${1:?usage: memory-long.sh KODIR NLPUSH CBIN OUT [EVENTS]}
NL=${2:?}
C=${3:?}
OUT=${4:?}
EVENTS=${5:-3000000}
mkdir -p "$OUT"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
insmod "$KODIR/nlpush.ko" && insmod "$KODIR/nlpush_test.ko" || exit 1
"$NL" monitor --subscribers 16 --quiet --json >"$OUT/monitor.json" 2>"$OUT/monitor.err" &
p=$!
sleep 5
rss() { awk '/VmRSS/ {print $2}' "/proc/$p/status"; }
echo "0 $(rss)" >"$OUT/rss.txt"
sent=0
while [ "$sent" -lt "$EVENTS" ]; do
	"$C/nlpush_benchctl" test-emit 20000 64 >/dev/null
	sent=$((sent + 20000))
	sleep 0.3
	echo "$sent $(rss)" >>"$OUT/rss.txt"
done
sleep 3
echo "drained $(rss)" >>"$OUT/rss.txt"
kill -INT "$p"
wait "$p"
grep '"kind":"summary"' "$OUT/monitor.json" >"$OUT/summary.jsonl"
rmmod nlpush_test nlpush
