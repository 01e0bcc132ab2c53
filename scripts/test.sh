#!/usr/bin/env bash
# Run every test nlpush has: the spec check, the fuzzer's generator self-test,
# the Swift host tests and the documentation's examples
# (scripts/check-doc-examples.sh), the systemd units of dist/
# (Tests/check-units.sh), DKMS (scripts/dkms.sh: the default build has
# nlpush.ko alone, --with-test adds nlpush_test.ko; `dkms install` into a
# tree of its own and `modprobe nlpush` from it in a VM,
# Tests/vm/dkms-in-vm.sh), the VM suites (C selftest, Swift VM tests, CLI,
# YNL cli, fuzzer) on each kernel of the matrix and on the debug kernel
# (scripts/vm-test.sh: NLPUSH_DEBUG_LANE=0 leaves the debug lane out), and
# the benchmark smoke run (scripts/bench.sh --smoke, checked by
# bench/check-smoke.py: every benchmark runs, no timing thresholds).
# Installs what is missing first (scripts/setup.sh). Exits non-zero on any
# failure.
#   scripts/test.sh            everything
#   scripts/test.sh host       host tests only
#   scripts/test.sh vm         VM suites only
#   scripts/test.sh bench      benchmark smoke run only
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
what=${1:-all}
t_start=$(date +%s)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
command -v swift >/dev/null 2>&1 || export PATH=$PATH:/opt/swift/usr/bin

say() { printf '\n== %s\n' "$*"; }
failed=()

if [ "${NLPUSH_SKIP_SETUP:-0}" != 1 ]; then
	case "$what" in
	host) bash scripts/setup.sh host ;;
	*) bash scripts/setup.sh all ;;
	esac || { echo "setup failed" >&2; exit 1; }
	export NLPUSH_SKIP_SETUP=1
fi

if [ "$what" = all ] || [ "$what" = host ]; then
	mkdir -p build
	say "spec check: kmod/nlpush.yaml against the genetlink schema; generated files up to date"
	python3 Tests/check-spec.py | tee build/check-spec.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(spec)

	say "fuzzer self-test: the spec-driven generator covers every op, attribute and check, same seed same messages"
	python3 Tests/fuzz/nlpush_fuzz.py --self-test | tee build/fuzz-selftest.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(fuzz-selftest)

	say "repository layout: no case collisions, no build products, only cited results"
	bash Tests/check-layout.sh | tee build/check-layout.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(layout)

	say "swift build (debug, with tests)"
	swift build --build-tests 2>&1 | tail -n 20
	if [ "${PIPESTATUS[0]}" -eq 0 ]; then
		say "swift test (host: VM-only tests are skipped with their reason)"
		swift test --skip-build 2>&1 | tee build/swift-host-test.log | tail -n 40
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(swift-host)

		say "doc examples: every swift block of README.md and the DocC catalog compiles as written"
		bash scripts/check-doc-examples.sh 2>&1 | tee build/doc-examples.log | tail -n 40
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(doc-examples)

		say "systemd units of dist/systemd: systemd-analyze verify, the CLI takes their arguments, hardening"
		bash Tests/check-units.sh .build/debug/nlpush 2>&1 | tee build/check-units.log
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(units)

		say "nlpush exporter on the host (no module): nlpush_up 0, bad-request run, idle timeout, exit codes"
		bash Tests/exporter/check-host.sh .build/debug/nlpush 2>&1 | tee build/check-exporter.log
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(exporter)
	else
		failed+=(swift-build)
	fi
fi

# dkms_layer KVER VERSION: `dkms install` of the built nlpush/VERSION into
# build/vm-dkms/root/lib/modules (not the host's /lib/modules, which every
# VM of KVER sees) and `depmod -b` there over KVER's own modules, whose
# kernel/ is linked in for it: the tree Tests/vm/dkms-in-vm.sh stacks over
# the VM's /lib/modules/KVER
dkms_layer() {
	local k=$1 v=$2 r=$PWD/build/vm-dkms/root m
	m=$r/lib/modules/$k
	mkdir -p "$m" &&
		$SUDO dkms install "nlpush/$v" -k "$k" --no-depmod --installtree "$r/lib/modules" &&
		$SUDO dkms status "nlpush/$v" -k "$k" --installtree "$r/lib/modules" |
		grep ": installed$" &&
		ln -s "/lib/modules/$k/kernel" "$m/kernel" &&
		cp "/lib/modules/$k"/modules.{order,builtin,builtin.modinfo} "$m/" &&
		depmod -b "$r" -F "/boot/System.map-$k" -a "$k" &&
		rm "$m/kernel"
}

if [ "$what" = all ] || [ "$what" = vm ]; then
	# the newest kernel on the host: DKMS builds with the host's compiler
	k=$(bash scripts/kernels.sh --host | tail -n 1)
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' kmod/dkms.conf)
	mods=/var/lib/dkms/nlpush/$ver/$k/$(uname -m)/module
	mkdir -p build
	rm -rf build/vm-dkms
	mkdir -p build/vm-dkms
	say "DKMS for $k: the default package builds nlpush.ko alone"
	if bash scripts/dkms.sh build "$k" >build/dkms.log 2>&1 &&
		ls "$mods"/nlpush.ko* >/dev/null 2>&1 &&
		! ls "$mods"/nlpush_test.ko* >/dev/null 2>&1; then
		echo "dkms build ok: $(cd "$mods" && echo nlpush.ko*), no nlpush_test.ko"
		say "DKMS install for $k into build/vm-dkms/root; modprobe in a VM (Tests/vm/dkms-in-vm.sh)"
		if dkms_layer "$k" "$ver" >>build/dkms.log 2>&1; then
			timeout -k 30 600 vng --run "/boot/vmlinuz-$k" --disable-kvm --memory 1G \
				--cpus 2 --rwdir "$PWD/build/vm-dkms" \
				--exec "$PWD/Tests/vm/dkms-in-vm.sh $k $ver $PWD/build/vm-dkms/root $PWD/build/vm-dkms" \
				>build/vm-dkms.log 2>&1 </dev/null
			rc=$?
			if [ -s build/vm-dkms/dkms-vm.log ]; then
				cat build/vm-dkms/dkms-vm.log
			else
				tail -n 30 build/vm-dkms.log
			fi
			[ "$rc" -eq 0 ] || failed+=(dkms-vm)
		else
			tail -n 20 build/dkms.log
			failed+=(dkms-install)
		fi
		$SUDO dkms uninstall "nlpush/$ver" -k "$k" --no-depmod \
			--installtree "$PWD/build/vm-dkms/root/lib/modules" >>build/dkms.log 2>&1
	else
		tail -n 20 build/dkms.log
		ls -l "$mods" 2>&1
		failed+=(dkms)
	fi
	say "DKMS for $k: --with-test builds nlpush_test.ko too"
	if bash scripts/dkms.sh build --with-test "$k" >>build/dkms.log 2>&1 &&
		ls "$mods"/nlpush.ko* "$mods"/nlpush_test.ko* >/dev/null 2>&1; then
		echo "dkms build --with-test ok: $(cd "$mods" && echo nlpush*.ko*)"
	else
		tail -n 20 build/dkms.log
		ls -l "$mods" 2>&1
		failed+=(dkms-with-test)
	fi
	bash scripts/dkms.sh remove >>build/dkms.log 2>&1

	say "VM suites on every kernel of the matrix"
	bash scripts/vm-test.sh || failed+=(vm)
fi

if [ "$what" = all ] || [ "$what" = bench ]; then
	say "benchmark smoke run (scripts/bench.sh --smoke; full suite: scripts/bench.sh)"
	mkdir -p build
	rm -f build/bench-smoke-check.log
	if bash scripts/bench.sh --smoke; then
		python3 bench/check-smoke.py build/bench-smoke | tee build/bench-smoke-check.log
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(bench-smoke)
	else
		python3 bench/check-smoke.py build/bench-smoke >build/bench-smoke-check.log 2>&1
		grep -v '^ok' build/bench-smoke-check.log
		failed+=(bench-smoke)
	fi
fi

# One closing line over every runner: "N passed, N failed, N skipped".
totals() {
	python3 - "$@" <<'PY'
import re, sys
p = f = sk = 0
for path in sys.argv[1:]:
    try:
        text = open(path, errors="replace").read()
    except OSError:
        continue
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    if path.endswith("swift-host-test.log"):
        m = re.findall(r"Test run with (\d+) tests?", text)
        if m:
            n = int(m[-1])
            bad = len(re.findall(r"^\u2718 Test .* failed", text, re.M))
            skip = len(re.findall(r"^\u279c Test .* skipped", text, re.M))
            p, f, sk = p + n - bad - skip, f + bad, sk + skip
        continue
    for m in re.finditer(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?", text):
        p, f, sk = p + int(m[1]), f + int(m[2]), sk + int(m[3] or 0)
print(f"{p} passed, {f} failed, {sk} skipped")
PY
}

echo
logs=()
case "$what" in
all) logs+=(build/check-spec.log build/fuzz-selftest.log build/check-layout.log build/swift-host-test.log build/doc-examples.log build/check-units.log build/check-exporter.log build/vm-dkms/dkms-vm.log build/vm-*/results build/bench-smoke-check.log) ;;
host) logs+=(build/check-spec.log build/fuzz-selftest.log build/check-layout.log build/swift-host-test.log build/doc-examples.log build/check-units.log build/check-exporter.log) ;;
vm) logs+=(build/vm-dkms/dkms-vm.log build/vm-*/results) ;;
bench) logs+=(build/bench-smoke-check.log) ;;
esac
if [ ${#failed[@]} -eq 0 ]; then
	echo "nlpush: every step passed"
else
	echo "nlpush: FAILED steps: ${failed[*]}"
fi
echo "tests: $(totals "${logs[@]}")"
t=$(($(date +%s) - t_start))
echo "wall time: ${t}s ($((t / 60)) min $((t % 60)) s)"
[ ${#failed[@]} -eq 0 ]
