#!/usr/bin/env bash
# Each allocation of EMIT, EMIT with reply-wanted and a responder's answer,
# failed in turn with /proc/thread-self/fail-nth (Tests/fuzz/fail_nth.py):
# what the sender is told must match what the module did (no REPLY after a
# failed EMIT, no event published by one, a failed answer leaves the request
# pending). Kernels without fault injection skip it with the reason.
#   bash Tests/vm/suites.d/41-fail-nth.sh KVER KODIR RESDIR
set -u
# ROOT, T, ok, bad, finish
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
rm -rf "$T"
if ! python3 -c 'import yaml' 2>/dev/null; then
	bad "python3 with PyYAML"
	finish
fi
# the script prints its own TAP lines and "N passed, N failed, N skipped"
exec python3 "$ROOT/Tests/fuzz/fail_nth.py"
