#!/bin/sh
# Host line coverage of Sources/NetlinkPush (the library, not the fake kernel, the CLI or
# the tests), measured by `swift test --enable-code-coverage` on the host alone (no
# kernel module: the fake kernel of NetlinkPushTesting drives the reader and control
# paths). Prints the figure; fails below the threshold (default 85%).
#
#   scripts/coverage.sh            # build, test, report
#   NO_TEST=1 scripts/coverage.sh  # report on the last coverage run
#   MIN=90 scripts/coverage.sh
set -eu
cd "$(dirname "$0")/.."
MIN=${MIN:-85}
LLVM_COV=${LLVM_COV:-$(command -v llvm-cov || echo /opt/swift/usr/bin/llvm-cov)}
if [ -z "${NO_TEST:-}" ]; then
	swift test --enable-code-coverage >&2
fi
BIN=.build/debug/nlpushPackageTests.xctest
PROF=.build/debug/codecov/default.profdata
[ -f "$PROF" ] || { echo "coverage.sh: no $PROF (did the tests pass?)" >&2; exit 1; }
# TOTAL row of the report restricted to Sources/NetlinkPush: lines, missed lines, cover.
TOTAL=$("$LLVM_COV" report "$BIN" -instr-profile "$PROF" -ignore-filename-regex='(\.build|Tests)/' \
	Sources/NetlinkPush | awk '$1 == "TOTAL" { print $8, $9, $10 }')
[ -n "$TOTAL" ] || { echo "coverage.sh: llvm-cov printed no TOTAL" >&2; exit 1; }
set -- $TOTAL
PCT=${3%\%}
echo "Sources/NetlinkPush line coverage: $PCT% ($(($1 - $2)) of $1 lines)"
awk -v p="$PCT" -v m="$MIN" 'BEGIN { exit !(p + 0 >= m + 0) }' || {
	echo "coverage.sh: $PCT% is below $MIN%" >&2
	exit 1
}
