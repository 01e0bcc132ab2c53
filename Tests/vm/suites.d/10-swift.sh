#!/usr/bin/env bash
# The Swift test suite inside the test VM: the same test binary as the host's
# `swift test`, now with the module loaded, so the VM tests run instead of
# being skipped. Built on the host by scripts/test.sh (swift build --build-tests).
#   bash Tests/vm/suites.d/10-swift.sh KVER KODIR RESDIR
set -u
KODIR=$2
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
bin=$ROOT/.build/debug/nlpushPackageTests.xctest
if [ ! -x "$bin" ]; then
	echo "$bin missing: run 'swift build --build-tests' on the host first"
	echo "0 passed, 1 failed"
	exit 1
fi
cd "$ROOT" || exit 1
export NLPUSH_KMOD_DIR=$KODIR
out=$(mktemp)
"$bin" --testing-library swift-testing 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | tee "$out"
rc=${PIPESTATUS[0]}
# Swift Testing's closing line: "Test run with N tests in M suites passed|failed ... (with K issues)"
total=$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} .*/\1/p' "$out" | tail -n1)
# one "✘ Test NAME failed after ..." line per failed test; not the issue lines
# ("✘ Test NAME recorded an issue ...: Expectation failed") nor the closing line
failed=$(grep '^✘ Test .* failed after ' "$out" | grep -v ' recorded an issue ' | grep -vc '^✘ Test run with ')
skipped=$(grep -c '^➜ Test .* skipped' "$out")
rm -f "$out"
# the tests reload the modules; leave them loaded for the next suite
[ -d /sys/module/nlpush ] || insmod "$KODIR/nlpush.ko"
[ -d /sys/module/nlpush_test ] || insmod "$KODIR/nlpush_test.ko"
total=${total:-0}
echo "$((total - failed - skipped)) passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
