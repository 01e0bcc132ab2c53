#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Sourced by the CLI suites (20-cli, 21-cli-more) after lib.sh:
#   . "$(dirname "$0")/../cli-lib.sh"
# cli (the binary) and the helpers they share. Exits the suite when the CLI
# is not built.
cli=$ROOT/.build/debug/nlpush
# How long a background CLI process the suite stops itself (SIGINT, --count)
# may live at most: a guard against a hang, not a timing. On the debug kernel
# under TCG one CLI start costs 3-5 s and a block of checks beside a
# background responder took over 120 s on a loaded machine (the old guard
# killed respond mid-block: CI, 2026-12-07).
guard=900

# expect_rc NAME RC CMD...: CMD exits with RC, prints exactly one line on
# stderr and nothing on stdout
expect_rc() {
	local name=$1 want=$2 rc lines
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	lines=$(wc -l <"$T/err")
	if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && [ ! -s "$T/out" ]; then
		ok "$name (exit $rc: $(head -n1 "$T/err"))"
	else
		bad "$name" "exit $rc, want $want; $lines line(s) on stderr: $(head -c 300 "$T/err"); stdout: $(head -c 100 "$T/out")"
	fi
}
# wait_for_line FILE REGEX: waits up to 20 s for a line of FILE to match
wait_for_line() {
	local i
	for i in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# ms_since T0: milliseconds since date +%s%N printed T0
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
# json_count FILE KIND: how many lines of FILE have that kind
json_count() { grep -c "\"kind\":\"$2\"" "$1"; }
# wait_at_least N CMD...: waits up to 20 s for CMD to print a number >= N
wait_at_least() {
	local want=$1 i
	shift
	for i in $(seq 200); do
		[ "$("$@")" -ge "$want" ] && return 0
		sleep 0.1
	done
	return 1
}
subscribers() { "$cli" subscribers --json | wc -l; }
wait_subscribers() { wait_at_least "$1" subscribers; }
# stats_field NAME: one counter of 'nlpush stats --json'
stats_field() {
	"$cli" stats --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get(sys.argv[1], -1))' "$1"
}
wait_responders() { wait_at_least "$1" stats_field responders; }
json_valid() { python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$1"; }
# field FILE KIND KEY: values of KEY in lines of FILE whose kind is KIND
field() {
	python3 -c 'import json,sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("kind") == sys.argv[2]: print(o.get(sys.argv[3]))' "$@"
}

if [ ! -x "$cli" ]; then
	bad "$cli missing (swift build first)"
	finish
fi
