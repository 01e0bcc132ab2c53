#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Sourced by the suites of Tests/vm/suites.d (kept outside that directory,
# for in-vm.sh runs every suites.d/*.sh as a suite):
#   . "$(dirname "$0")/../lib.sh"
# ROOT (the repository), a scratch directory T, the TAP-style counters and
# checks the host summary reads, and finish.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d)
pass=0
fail=0

ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "not ok - $1${2:+: $2}"; fail=$((fail + 1)); }
# check NAME CMD...: ok when CMD succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
# removes T, prints "N passed, N failed", exits 0 only when nothing failed
finish() {
	rm -rf "$T"
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
}
