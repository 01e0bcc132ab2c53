#!/usr/bin/env bash
# End-to-end test of the rest of the nlpush CLI inside the test VM (modules
# loaded): respond --exec with --timeout, --jobs, two Ctrl-C and a command
# that does not read its input; every bad input is one line and exit 64; one
# duration syntax; the same short options everywhere; --version; monitor
# --from/--epoch/--type; replay; an unprivileged monitor (unprivileged_listen=1).
#   bash Tests/vm/suites.d/21-cli-more.sh KVER KODIR RESDIR
set -u
KODIR=$2
# ROOT, T, ok, bad, check, finish
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
# cli, expect_rc, wait_responders, field, ...
# shellcheck source=Tests/vm/cli-lib.sh
. "$(dirname "$0")/../cli-lib.sh"

# what starting the CLI costs here, for the timings of the respond tests
t0=$(date +%s%N)
"$cli" stats >/dev/null 2>&1
startup0_ms=$(ms_since "$t0")

startup_ms=$startup0_ms

# --- respond --exec: a per-request timeout kills the command (its process
# group) and answers -ETIMEDOUT
timeout "$guard" "$cli" respond --exec 'sleep 31; echo late' --timeout 300ms --count 1 --json >"$T/rt.json" 2>"$T/rt.err" &
r=$!
wait_responders 1
t0=$(date +%s%N)
"$cli" emit --wait-reply --payload x --timeout 20s --json >"$T/et.json" 2>"$T/et.err"
took=$(ms_since "$t0")
wait $r
rc=$?
check "a command past respond --timeout is killed; the request is answered with status -110 (-ETIMEDOUT)" \
	[ "$(field "$T/et.json" reply status)" = -110 ]
check "... after about the timeout ($took ms, a plain stats took $startup0_ms ms), not the command's 31 s" \
	[ "$took" -lt $((startup0_ms + 300 + 5000)) ]
check "... respond says so and exits 0 after --count 1 (rc $rc)" \
	[ "$rc/$(field "$T/rt.json" reply ending)" = "0/timed out, killed" ]
check "... and nothing of the command is left running (sh nor sleep)" [ -z "$(pgrep -f '^(sh -c )?sleep 31')" ]

# --jobs N: up to N commands at once, never more. Each command notes itself
# in a directory, waits 2 s and answers how many it saw there.
D=$(mktemp -d -p "$T")
timeout "$guard" "$cli" respond --exec "touch $D/\$\$; sleep 2; ls $D | wc -l; rm $D/\$\$" --jobs 2 --count 4 --json \
	>"$T/rj.json" 2>"$T/rj.err" &
r=$!
wait_responders 1
for i in 1 2 3 4; do
	"$cli" emit --wait-reply --payload "j$i" --timeout 30s --json >"$T/ej$i.json" 2>&1 &
done
wait $r
rc=$?
wait
seen=$(for i in 1 2 3 4; do field "$T/ej$i.json" reply payload | base64 -d 2>/dev/null; done | sort -n | tr '\n' ' ')
check "respond --jobs 2 answered the 4 requests and exited 0 (rc $rc)" \
	[ "$rc/$(json_count "$T/rj.json" reply)" = 0/4 ]
check "... never more than 2 commands at once, and 2 at once at some point (each saw: $seen)" \
	[ "$(tr ' ' '\n' <<<"$seen" | sort -n | tail -n1)" = 2 ]

# a command that does not read its input: EPIPE, not a SIGPIPE death
timeout "$guard" "$cli" respond --exec 'exec 0<&-; echo ignored' --count 2 --json >"$T/rp.json" 2>"$T/rp.err" &
r=$!
wait_responders 1
"$cli" emit --wait-reply --size 60k --timeout 10s --json >"$T/ep1.json" 2>&1
"$cli" emit --wait-reply --size 60k --timeout 10s --json >"$T/ep2.json" 2>&1
wait $r
rc=$?
check "respond survives commands that do not read a 60 KiB request, answers both, exits 0 (rc $rc)" \
	[ "$rc/$(field "$T/ep1.json" reply status)/$(field "$T/ep2.json" reply status)/$(field "$T/ep2.json" reply payload)" = "0/0/0/$(echo ignored | base64)" ]

# first Ctrl-C: no new requests, the running command finishes and answers
# (not under timeout(1), which would pass each signal on twice: to respond
# and to its process group)
# (the command runs 8 s: on a slow debug kernel seeing it start and
# signalling can take seconds)
"$cli" respond --exec 'sleep 8; echo finished' --json >"$T/rc1.json" 2>"$T/rc1.err" &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --timeout 30s --json >"$T/ec1.json" 2>&1 &
e=$!
wait_at_least 1 pgrep -fc '^sleep 8$'
kill -INT $r
check "after one Ctrl-C respond says on stderr that it waits for the running command" \
	wait_for_line "$T/rc1.err" "waiting for 1 running command"
check "... and does wait for it (still running, command too)" \
	eval 'kill -0 $r && [ "$(pgrep -fc "^sleep 8$")" -ge 1 ]'
wait $r
rc=$?
wait $e
check "... which answers its request (status 0, its output); respond exits 0 (rc $rc)" \
	[ "$rc/$(field "$T/ec1.json" reply status)/$(field "$T/ec1.json" reply payload)" = "0/0/$(echo finished | base64)" ]
# a second Ctrl-C kills the hung command; its request gets -ECANCELED
"$cli" respond --exec 'sleep 32' --json >"$T/rc2.json" 2>"$T/rc2.err" &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --timeout 30s --json >"$T/ec2.json" 2>&1 &
e=$!
wait_at_least 1 pgrep -fc '^sleep 32$'
kill -INT $r
sleep 0.5
kill -INT $r
t0=$(date +%s%N)
wait $r
rc=$?
took=$(ms_since "$t0")
wait $e
check "a second Ctrl-C kills the running command: respond exits 0 at once (rc $rc, $took ms)" \
	[ "$rc" = 0 -a "$took" -lt 10000 ]
check "... its request is answered with status -125 (-ECANCELED)" [ "$(field "$T/ec2.json" reply status)" = -125 ]
check "... and no sleep 32 is left" [ -z "$(pgrep -f '^(sh -c )?sleep 32')" ]

# every bad input: one line on stderr, nothing on stdout, exit 64
expect_rc "bad input: --subscribers 0" 64 "$cli" monitor --subscribers 0
expect_rc "bad input: unknown option" 64 "$cli" monitor --bogus
expect_rc "bad input: unknown subcommand" 64 "$cli" monitorr
expect_rc "bad input: a duration without a unit" 64 "$cli" emit --wait-reply --timeout 5000
check "... which says how to write it" grep -q "no unit: write 5000ms or 5000s" "$T/err"
expect_rc "bad input: a duration with an unknown unit" 64 "$cli" monitor --duration 3x
expect_rc "bad input: --timeout beyond 60s" 64 "$cli" emit --wait-reply --timeout 2m
expect_rc "bad input: --type not a number" 64 "$cli" monitor --type four
expect_rc "bad input: --epoch without --from" 64 "$cli" monitor --epoch 5
expect_rc "bad input: --jobs 0" 64 "$cli" respond --exec cat --jobs 0
expect_rc "bad input: --jobs without --exec" 64 "$cli" respond --echo --jobs 2
expect_rc "bad input: replay --count 0" 64 "$cli" replay --count 0
expect_rc "bad input: odd hex payload" 64 "$cli" emit --payload-hex abc
expect_rc "bad input: a missing option value" 64 "$cli" emit --count

# durations: one syntax everywhere (emit --timeout took 20s above)
t0=$(date +%s%N)
"$cli" monitor --duration 1500ms --quiet --json >"$T/md.json" 2>"$T/md.err"
rc=$?
took=$(ms_since "$t0")
check "monitor --duration 1500ms ends by itself, exit 0 ($took ms, a plain stats took $startup_ms ms)" \
	[ "$rc" = 0 -a "$took" -ge 1500 -a "$took" -lt $((startup_ms + 1500 + 5000)) ]

# the same short option means the same long option in every subcommand
shorts() {
	local c
	for c in monitor replay respond emit stats subscribers info bench; do
		"$cli" "$c" --help
	done | grep -oE '^ +-[a-zA-Z], --[a-z-]+' | sort -u
}
shorts >"$T/shorts"
check "short options: $(awk '{print $1 $2}' "$T/shorts" | tr '\n' ' ')" [ "$(wc -l <"$T/shorts")" -ge 6 ]
check "... each stands for one long option in every subcommand" \
	[ -z "$(awk '{print $1}' "$T/shorts" | uniq -d)" ]
has_shorts() {
	local f
	for f in '-c, --count' '-t, --type' '-s, --size' '-q, --quiet' '-d, --duration' '-j, --jobs' '-v, --verbose'; do
		grep -q -- "$f" "$T/shorts" || return 1
	done
}
check "... -c is --count, -t --type, -s --size, -q --quiet, -d --duration, -j --jobs, -v --verbose" has_shorts
"$cli" emit -c 2 -t 7 -s 16 --json >"$T/es.json"
check "emit -c 2 -t 7 -s 16 publishes 2 events" [ "$(field "$T/es.json" emit count)" = 2 ]

# --version: the CLI's, the protocol's and the loaded module's
"$cli" --version >"$T/v.out" 2>"$T/v.err"
check "--version prints the CLI and protocol versions, exit 0" \
	grep -q "^nlpush [0-9]*\.[0-9]*\.[0-9]* (protocol version 2)$" "$T/v.out"
check "... and the loaded module's family version and epoch" \
	grep -q "^module: nlpush loaded, family version 2, epoch [0-9a-f]*$" "$T/v.out"

# --- monitor --from SEQ [--epoch E] resumes from the ring; --type filters
"$cli" emit --count 5 --type 21 --size 8 --json >"$T/ef.json"
F=$(field "$T/ef.json" emit first_seq)
E=$(field "$T/ef.json" emit epoch)
for ty in 31 32 33; do "$cli" emit --type $ty --payload t$ty >/dev/null; done
seqs() { python3 -c 'import json,sys
print(" ".join(str(o["seq"]) for o in map(json.loads, open(sys.argv[1])) if o.get("kind") == "event"))' "$1"; }
timeout 60 "$cli" monitor --from "$F" --count 5 --json >"$T/mf.json" 2>"$T/mf.err"
check "monitor --from $F --count 5 gets seq $F...$((F + 4)) from the ring, exit 0" \
	[ "$(seqs "$T/mf.json")" = "$F $((F + 1)) $((F + 2)) $((F + 3)) $((F + 4))" ]
timeout 60 "$cli" monitor --from $((F + 2)) --epoch "$E" --count 3 --json >"$T/mf2.json" 2>"$T/mf2.err"
check "monitor --from $((F + 2)) --epoch E resumes at that seq" \
	[ "$(seqs "$T/mf2.json")" = "$((F + 2)) $((F + 3)) $((F + 4))" ]
timeout 60 "$cli" monitor --from 2 --epoch 1 --count 1 --json >"$T/mf3.json" 2>"$T/mf3.err"
check "monitor --from with another load's epoch reports the reload first" \
	[ "$(head -n1 "$T/mf3.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kind"])')" = reloaded ]
timeout 60 "$cli" monitor --from "$F" --type 31,33 --count 2 --json >"$T/mt.json" 2>"$T/mt.err"
timeout 60 "$cli" monitor --from "$F" --type 31 --type 33 --count 2 --json >"$T/mt2.json" 2>"$T/mt2.err"
check "monitor --type 31,33 shows only those types" \
	[ "$(field "$T/mt.json" event type | tr '\n' ' ')" = "31 33 " ]
check "monitor --type 31 --type 33 is the same filter" \
	[ "$(field "$T/mt2.json" event type | tr '\n' ' ')" = "31 33 " ]
expect_rc "monitor --from a seq the current epoch never published exits 64" 64 \
	"$cli" monitor --from $((F + 1000000)) --epoch "$E"

# --- replay: the ring from SEQ, like monitor's output, then exit
"$cli" replay --from "$F" --json >"$T/rp.json" 2>"$T/rp.err"
rc=$?
check "replay --from $F prints the 8 events since, in order, exit 0 (rc $rc)" \
	[ "$rc/$(seqs "$T/rp.json")" = "0/$(seq -s ' ' "$F" $((F + 7)))" ]
check "... flagged replayed, with time and epoch" \
	[ "$(grep -c '"flags":2,.*"time":"20[^"]*Z","epoch":'"$E" "$T/rp.json")" = 8 ]
"$cli" replay --from "$F" --count 2 --json >"$T/rp2.json"
check "replay --count 2 prints 2 events" [ "$(seqs "$T/rp2.json")" = "$F $((F + 1))" ]
"$cli" replay --from "$F" -t 32 >"$T/rp3.txt" 2>"$T/rp3.err"
replay_text_ok() {
	[ "$(wc -l <"$T/rp3.txt")" = 1 ] &&
		grep -q '^20[0-9-]*T[0-9:.]*Z seq=[0-9]* type=32 size=3 replayed "t32"$' "$T/rp3.txt" &&
		grep -q "replayed 1 event" "$T/rp3.err"
}
check "replay -t 32 (text) prints that event's line, time first, and the count on stderr" replay_text_ok
# more events than the ring holds (4096 by default): seq 1 is gone
echo "5000 8 9" >/sys/kernel/debug/nlpush_test/emit
"$cli" replay --from 1 --count 1 --json >"$T/rp4.json"
check "replay --from 1 reports what the ring no longer holds as lost, first" \
	[ "$(head -n1 "$T/rp4.json" | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["kind"], o["from"])')" = "lost 1" ]

if command -v setpriv >/dev/null; then
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	expect_rc "an unprivileged monitor without unprivileged_listen exits 77" 77 nobody "$cli" monitor
	check "... saying what would allow it" grep -q "unprivileged_listen=1" "$T/err"
	# --- unprivileged_listen=1 (a read-only parameter: reload the module)
	rmmod nlpush_test nlpush
	insmod "$KODIR/nlpush.ko" unprivileged_listen=1 && insmod "$KODIR/nlpush_test.ko"
	check "module reloaded with unprivileged_listen=1" \
		[ "$(cat /sys/module/nlpush/parameters/unprivileged_listen)" = Y ]
	base=$(subscribers)
	timeout "$guard" setpriv --reuid=65534 --regid=65534 --clear-groups "$cli" monitor --count 3 --json \
		>"$T/u.json" 2>"$T/u.err" &
	u=$!
	check "an unprivileged monitor starts, saying on stderr it is not registered nor acking" \
		wait_for_line "$T/u.err" "listening only.*not registered as a subscriber, not acking"
	check "... and is not listed as a subscriber" [ "$(subscribers)" = "$base" ]
	echo "3 16 8" >/sys/kernel/debug/nlpush_test/emit
	wait $u
	rc=$?
	check "... receives the events and exits 0 (rc $rc)" [ "$rc/$(json_count "$T/u.json" event)" = 0/3 ]
	expect_rc "an unprivileged monitor --ack exits 77 (acking needs registering)" 77 nobody "$cli" monitor --ack
	nobody "$cli" replay --count 2 --json >"$T/ur.json" 2>"$T/ur.err"
	check "an unprivileged replay works with unprivileged_listen=1" [ "$(json_count "$T/ur.json" event)" = 2 ]
else
	echo "ok - permission checks skipped: no setpriv # SKIP"
fi
rmmod nlpush_test nlpush
"$cli" --version >"$T/v.out" 2>&1
check "--version without the module says so, exit 0" grep -q "^module: not loaded$" "$T/v.out"
insmod "$KODIR/nlpush.ko" && insmod "$KODIR/nlpush_test.ko"
check "modules reloaded with the default parameters" [ "$(cat /sys/module/nlpush/parameters/unprivileged_listen)" = N ]

finish
