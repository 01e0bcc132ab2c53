#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The nlpush benchmark suite, in one command (GitHub issue 5):
#
#   scripts/bench.sh            full run (about 15 minutes on 2 cores), writes
#                               bench/results/ and the tables of BENCHMARKS.md
#   scripts/bench.sh --smoke    tiny counts (about 3 minutes): proves every piece
#                               runs; writes build/bench-smoke/ only
#   (--only, --cells and --batch-bytes runs are partial: they write build/bench-partial/)
#
# Options: --skip-vm, --skip-host (reuse the other part's last results),
#          --only SECTIONS (comma list of VM sections, see bench/vmbench.py),
#          --cells SIZExSUBS,... (throughput cells to run, producer test only).
#          --batch-bytes N (the batching section's "on" mode loads nlpush with
#          tx_batch_bytes=N; default: the module's default).
# Environment:
#   NLPUSH_BENCH_KERNEL   kernel to boot (default: the 6.12 of the test matrix)
#   NLPUSH_SKIP_SETUP=1   do not run scripts/setup.sh (kernels, qemu, vng, libnl)
#   NLPUSH_VM_TIMEOUT     seconds for the VM (default 2700, smoke 600)
#
# Steps: build nlpush.ko/nlpush_test.ko for the bench kernel (build/bench/),
# the C tools (bench/c), the BPF ring buffer benchmark (bench/bpf: skipped,
# with a note, where clang, bpftool or libbpf-dev is not installed;
# scripts/setup.sh bench installs them), the Swift CLI in release mode;
# boot ONE virtme-ng VM
# (TCG: the host cannot load modules) running bench/run-in-vm.sh, which runs
# every in-VM measurement in that boot; then, on the host, the Swift
# decode/encode benchmarks (bench/swift/, package-benchmark) and the
# callgrind instruction counts (bench/callgrind.sh); finally bench/report.py
# writes results.json, regenerates the BENCHMARKS.md tables and plots
# scaling.png (matplotlib, installed with pip when missing; skipped with a
# note when it cannot be).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
command -v swift >/dev/null 2>&1 || export PATH=$PATH:/opt/swift/usr/bin

SMOKE=0 SKIP_VM=0 SKIP_HOST=0 ONLY="" CELLS="" BATCH_BYTES=""
# notes make the run fail; infos are only reported
notes=() infos=()
while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) SMOKE=1 ;;
	--skip-vm) SKIP_VM=1 ;;
	--skip-host) SKIP_HOST=1 ;;
	--only) ONLY=$2; shift ;;
	--cells) CELLS=$2; shift ;;
	--batch-bytes) BATCH_BYTES=$2; shift ;;
	-h|--help) sed -n '3,28p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--smoke] [--skip-vm] [--skip-host] [--only SECTIONS] [--cells LIST] [--batch-bytes N]" >&2; exit 64 ;;
	esac
	shift
done

say() { printf '[bench] %s\n' "$*"; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
START=$(date +%s)

if [ "$SMOKE" = 1 ] || [ -n "$ONLY$CELLS$BATCH_BYTES" ]; then
	# smoke and partial runs never touch the committed results
	RES=$ROOT/build/bench-smoke
	[ "$SMOKE" = 1 ] || RES=$ROOT/build/bench-partial
	MD=$RES/BENCHMARKS.md
	VM_TIMEOUT=${NLPUSH_VM_TIMEOUT:-$([ "$SMOKE" = 1 ] && echo 600 || echo 2700)}
	rm -rf "$RES"
	mkdir -p "$RES"
	cp BENCHMARKS.md "$MD"
else
	RES=$ROOT/bench/results
	MD=$ROOT/BENCHMARKS.md
	VM_TIMEOUT=${NLPUSH_VM_TIMEOUT:-2700}
	mkdir -p "$RES"
fi
WORK=$ROOT/build/bench
mkdir -p "$WORK"

if [ "${NLPUSH_SKIP_SETUP:-0}" != 1 ]; then
	bash scripts/setup.sh all >"$WORK/setup.log" 2>&1 || { tail -n 20 "$WORK/setup.log"; die "scripts/setup.sh failed"; }
fi

# shellcheck source=scripts/kernels.sh
. "$ROOT/scripts/kernels.sh"
# the newest kernel of the matrix on the host (chroot kernels are built in
# their chroot by vm-test.sh; the benchmark tables are from 6.12)
K=${NLPUSH_BENCH_KERNEL:-$(host_kernels | tail -n 1)}
have_kernel "$K" || die "kernel $K: /boot/vmlinuz-$K or its headers missing"

# ------------------------------------------------------------------ builds
say "building the modules for $K"
KO=$WORK/kmod-$K
rm -rf "$KO"
mkdir -p "$KO"
cp kmod/*.c kmod/*.h kmod/Makefile "$KO/" && cp -a kmod/include "$KO/"
make -C "/usr/src/linux-headers-$K" M="$KO" modules >"$WORK/kmod.log" 2>&1 &&
	[ -f "$KO/nlpush.ko" ] && [ -f "$KO/nlpush_test.ko" ] ||
	{ tail -n 20 "$WORK/kmod.log"; die "module build failed"; }

say "building the C tools (bench/c)"
make -s -C bench/c >"$WORK/c.log" 2>&1 || { cat "$WORK/c.log"; die "bench/c build failed"; }

# the yardstick: bench/bpf needs a BPF toolchain; without one its section
# is skipped (an info, not a failure), but a toolchain that does not build it
# is a failure
RINGBUF="" RINGBUF_SKIP=""
missing=()
command -v "${CLANG:-clang}" >/dev/null 2>&1 || missing+=(clang)
command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || missing+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || pkg-config --exists libbpf 2>/dev/null || missing+=(libbpf-dev)
if [ ${#missing[@]} -gt 0 ]; then
	RINGBUF_SKIP="not built: ${missing[*]} not installed (scripts/setup.sh bench installs them)"
	say "BPF ring buffer benchmark $RINGBUF_SKIP"
	infos+=("ringbuf section skipped: ${missing[*]} not installed")
else
	say "building the BPF ring buffer benchmark (bench/bpf)"
	if make -s -C bench/bpf >"$WORK/bpf.log" 2>&1; then
		RINGBUF=$ROOT/bench/bpf/ringbuf_bench
	else
		tail -n 20 "$WORK/bpf.log"
		RINGBUF_SKIP="not built: make -C bench/bpf failed (build/bench/bpf.log)"
		say "bench/bpf does not build: the ringbuf section is skipped"
		notes+=("bench/bpf did not build")
	fi
fi

say "building the Swift CLI (release)"
NLPUSH=""
# without the Exporter trait (nlpush exporter): no release build of swift-nio
if swift build -c release --product nlpush --disable-default-traits --scratch-path "$WORK/swift" \
	>"$WORK/swift.log" 2>&1; then
	NLPUSH=$(swift build -c release --product nlpush --disable-default-traits --scratch-path "$WORK/swift" \
		--show-bin-path 2>/dev/null)/nlpush
	[ -x "$NLPUSH" ] || NLPUSH=""
fi
if [ -z "$NLPUSH" ]; then
	tail -n 15 "$WORK/swift.log"
	say "the Swift CLI does not build: Swift cells are skipped (C only)"
	notes+=("swift CLI did not build: Swift cells skipped")
fi

# ------------------------------------------------------------------ the VM
if [ "$SKIP_VM" = 0 ]; then
	command -v vng >/dev/null || die "vng (virtme-ng) not installed"
	OUT=$WORK/vm-out
	rm -rf "$OUT"
	mkdir -p "$OUT"
	extra=()
	[ "$SMOKE" = 1 ] && extra+=(--smoke)
	[ -n "$ONLY" ] && extra+=(--only "$ONLY")
	[ -n "$CELLS" ] && extra+=(--cells "$CELLS")
	[ -n "$BATCH_BYTES" ] && extra+=(--batch-bytes "$BATCH_BYTES")
	if [ -n "$RINGBUF" ]; then
		extra+=(--ringbuf "$RINGBUF")
	else
		echo "$RINGBUF_SKIP" >"$OUT/ringbuf-skip.txt"
	fi
	say "booting $K under TCG, 2 CPUs, 2 GiB (log: build/bench/vm.log; progress: $OUT/run.log)"
	t=$(date +%s)
	timeout -k 30 "$VM_TIMEOUT" vng --run "/boot/vmlinuz-$K" --disable-kvm \
		--memory 2G --cpus 2 --rwdir "$OUT" \
		--exec "$ROOT/bench/run-in-vm.sh $KO $ROOT/bench/c '$NLPUSH' $OUT ${extra[*]}" \
		>"$WORK/vm.log" 2>&1 </dev/null
	rc=$?
	say "VM exited with $rc after $(($(date +%s) - t))s"
	[ -s "$OUT/raw.jsonl" ] || { tail -n 40 "$WORK/vm.log"; die "the VM produced no results"; }
	grep -q '"section": "meta_end"' "$OUT/raw.jsonl" || notes+=("VM run incomplete (rc $rc)")
	cp "$OUT/raw.jsonl" "$RES/raw.jsonl"
	# which code the VM part measured (a later --skip-vm run keeps it)
	echo "$(git rev-parse HEAD 2>/dev/null) $(git diff --quiet HEAD 2>/dev/null || echo dirty)" >"$RES/vm-commit.txt"
	if [ "$SMOKE" = 0 ]; then
		mkdir -p bench/data
		for f in "$OUT"/stream-*.bin; do [ -s "$f" ] && cp "$f" bench/data/; done
	else
		cp "$OUT"/stream-*.bin "$RES/" 2>/dev/null
	fi
fi

# ------------------------------------------------------------------ host
if [ "$SKIP_HOST" = 0 ]; then
	STREAMS=bench/data
	[ "$SMOKE" = 1 ] && ls "$RES"/stream-*.bin >/dev/null 2>&1 && STREAMS=$RES
	say "callgrind: instructions per decoded event (bench/callgrind.sh)"
	if [ "$SMOKE" = 1 ]; then cg=(--smoke); else cg=(); fi
	bash bench/callgrind.sh "${cg[@]}" --streams "$STREAMS" --out "$RES/callgrind.json" \
		>"$WORK/callgrind.log" 2>&1 || { tail -n 20 "$WORK/callgrind.log"; notes+=("callgrind failed"); }
	say "package-benchmark: Swift decode/encode (bench/swift/)"
	bash bench/swift-benchmarks.sh "${cg[@]}" --streams "$STREAMS" --out "$RES/swift-benchmarks.json" \
		>"$WORK/swift-benchmarks.log" 2>&1 || { tail -n 20 "$WORK/swift-benchmarks.log"; notes+=("package-benchmark failed"); }
fi

# ------------------------------------------------------------------ report
if ! python3 -c 'import matplotlib' 2>/dev/null; then
	say "installing matplotlib with pip (for scaling.png)"
	python3 -m pip install -q matplotlib >"$WORK/pip.log" 2>&1 || say "matplotlib not installable: no plot"
fi
report_notes=("${notes[@]}" "${infos[@]}")
report_args=()
[ "$SMOKE" = 1 ] && report_args+=(--smoke)
say "report: $RES/results.json, tables in ${MD#"$ROOT"/}"
python3 bench/report.py --results "$RES" --markdown "$MD" --kernel "$K" \
	--note "${report_notes[*]:-}" "${report_args[@]}" || die "bench/report.py failed"
say "done in $(($(date +%s) - START))s${notes:+ (notes: ${notes[*]})}"
[ ${#notes[@]} -eq 0 ]
