#!/usr/bin/env bash
# Run every test nlpush has: the spec check and the Swift host tests, then the
# VM suites (C selftest, Swift VM tests) on each kernel of the matrix.
# Installs what is missing first (scripts/setup.sh). Exits non-zero on any
# failure.
#   scripts/test.sh            everything
#   scripts/test.sh host       host tests only
#   scripts/test.sh vm         VM suites only
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
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
	say "spec check: kmod/include/uapi/linux/nlpush.h against kmod/nlpush.yaml"
	python3 tests/check-spec.py || failed+=(spec)

	mkdir -p build
	say "swift build (debug, with tests)"
	swift build --build-tests 2>&1 | tail -n 20
	if [ "${PIPESTATUS[0]}" -eq 0 ]; then
		say "swift test (host: VM-only tests are skipped with their reason)"
		swift test --skip-build 2>&1 | tee build/swift-host-test.log | tail -n 40
		[ "${PIPESTATUS[0]}" -eq 0 ] || failed+=(swift-host)
	else
		failed+=(swift-build)
	fi
fi

if [ "$what" = all ] || [ "$what" = vm ]; then
	k=$(bash scripts/kernels.sh | tail -n 1)
	say "DKMS: kmod/dkms.conf builds both modules for $k"
	mkdir -p build
	if bash scripts/dkms.sh build "$k" >build/dkms.log 2>&1 &&
		ls /var/lib/dkms/nlpush/*/"$k"/*/module/nlpush_test.ko* >/dev/null 2>&1; then
		echo "dkms build ok"
	else
		tail -n 20 build/dkms.log
		failed+=(dkms)
	fi
	bash scripts/dkms.sh remove >>build/dkms.log 2>&1

	say "VM suites on every kernel of the matrix"
	bash scripts/vm-test.sh || failed+=(vm)
fi

echo
if [ ${#failed[@]} -eq 0 ]; then
	echo "nlpush tests: all passed"
else
	echo "nlpush tests: FAILED: ${failed[*]}"
	exit 1
fi
