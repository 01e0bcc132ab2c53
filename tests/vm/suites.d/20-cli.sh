#!/usr/bin/env bash
# End-to-end test of the nlpush CLI inside the test VM (modules loaded):
# several monitor processes side by side, respond/emit round trips, stats,
# subscribers, info, JSON output, and the exit code of each error class;
# data on stdout and the rest on stderr (also through | head), the same short
# options everywhere, one duration syntax, --version, monitor --from/--epoch/
# --type and wall-clock times, replay, an unprivileged monitor, respond --exec
# with --timeout, --jobs, two Ctrl-C and a command that does not read its input.
#   bash tests/vm/suites.d/20-cli.sh KVER KODIR RESDIR
set -u
KODIR=$2
# ROOT, T, ok, bad, check, finish
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
cli=$ROOT/.build/debug/nlpush

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
# json_lines FILE KIND: lines of FILE whose kind is KIND
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

# --- info
"$cli" info >"$T/info" 2>&1
check "info names the family, its events group and the ops" \
	grep -q "family nlpush" "$T/info"
check "info lists the events group" grep -q "multicast group events" "$T/info"
check "info lists the emit operation and its policy" grep -qi "emit" "$T/info"
"$cli" info --json >"$T/info.json" && check "info --json is valid JSON" json_valid "$T/info.json"

# --- several monitors side by side: 3 subscriptions in one process, 1 in another
base=$(subscribers)
"$cli" monitor --subscribers 3 --count 500 --verify --json >"$T/m1.json" 2>"$T/m1.err" &
m1=$!
"$cli" monitor --subscribers 1 --count 500 --verify --json --quiet >"$T/m2.json" 2>"$T/m2.err" &
m2=$!
check "4 subscriptions registered" wait_subscribers $((base + 4))
echo "500 200 4" >/sys/kernel/debug/nlpush_test/emit
wait $m1
rc1=$?
wait $m2
rc2=$?
check "monitor processes exit 0" [ "$rc1" = 0 -a "$rc2" = 0 ]
check "monitor --json output is valid JSON lines" json_valid "$T/m1.json"
check "every subscription received 500 events" \
	[ "$(cat "$T/m1.json" "$T/m2.json" | grep '"kind":"summary"' | grep -c '"received":500,')" = 4 ]
check "no loss, no corruption reported" \
	[ -z "$(cat "$T/m1.json" "$T/m2.json" | grep '"kind":"summary"' | grep -v '"lost":0,' | grep -v '"corrupt":0,')" ]
check "event lines carry seq, type, raw timestamp, latency, a base64 payload, wall-clock time and epoch" \
	grep -q '"kind":"event","subscriber":0,"seq":[0-9]*,"type":4,"flags":0,"timestamp_ns":[0-9]*,"latency_ns":[0-9]*,"size":200,"payload":"[^"]*","time":"20[0-9-]*T[0-9:]*\.[0-9]\{6\}Z","epoch":[1-9][0-9]*' "$T/m1.json"
check "1500 event lines from the non-quiet monitor" [ "$(grep -c '"kind":"event"' "$T/m1.json")" = 1500 ]
check "the quiet monitor printed only its summary" [ "$(wc -l <"$T/m2.json")" = 1 ]
check "subscriptions are gone after the monitors exit" [ "$(subscribers)" = "$base" ]

# --- a 10,000-event burst to subscriptions in separate processes, payloads checked.
# The receive buffers hold the whole burst: under software emulation the readers
# fall far behind the producer, and with the default 4 MiB the ring (4096 events)
# cannot cover the overrun; that case is checked by the Swift VM tests.
base=$(subscribers)
"$cli" monitor --subscribers 2 --count 10000 --rcvbuf 64M --verify --json --quiet >"$T/b1.json" 2>&1 &
b1=$!
"$cli" monitor --subscribers 1 --count 10000 --rcvbuf 64M --verify --json --quiet >"$T/b2.json" 2>&1 &
b2=$!
check "3 subscriptions in 2 processes registered" wait_subscribers $((base + 3))
echo "10000 256 6" >/sys/kernel/debug/nlpush_test/emit
wait $b1 $b2
check "every subscription of both processes received the 10,000 events, intact, none lost" \
	[ "$(cat "$T/b1.json" "$T/b2.json" | grep '"kind":"summary"' | grep '"received":10000,' | grep '"lost":0,' | grep -c '"corrupt":0,')" = 3 ]

# --- bench runs end to end with both producers
"$cli" bench --count 2000 --size 64 --subscribers 2 --json >"$T/bench.json" 2>&1
check "bench (EMIT producer) receives 2 x 2000 events without loss" \
	grep -q '"received":4000,"lost":0,"missing":0' "$T/bench.json"
"$cli" bench --count 2000 --size 1k --producer test --ack --verify --json >"$T/bench2.json" 2>&1
check "bench (nlpush_test producer, with ack) receives 2000 intact events" \
	grep -q '"received":2000,"lost":0,"missing":0,"recovered":[0-9]*,"corrupt":0' "$T/bench2.json"
"$cli" bench --count 500 --size 16k --subscribers 2 >"$T/bench.txt" 2>&1
check "bench text output reports throughput and latency percentiles" \
	grep -q "latency: p50" "$T/bench.txt"

# --- human output: lines and the summary table
"$cli" monitor --subscribers 2 --count 5 >"$T/h.txt" 2>"$T/h.err" &
m=$!
wait_subscribers $((base + 2))
echo "5 8 1" >/sys/kernel/debug/nlpush_test/emit
wait $m
check "human monitor prints one line per event per subscriber, wall-clock time first" \
	[ "$(grep -c '^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]\{6\}Z \[[01]\] seq=' "$T/h.txt")" = 10 ]
check "human monitor prints the summary table" grep -q "received.*rate.*lost.*recovered.*p50.*p99" "$T/h.txt"
check "stdout holds the data only: 10 event lines, a blank line and the summary (3 lines)" \
	[ "$(wc -l <"$T/h.txt")" = 14 ]
check "the banner went to stderr, not stdout" \
	[ "$(grep -c 'monitoring with 2 subscription' "$T/h.err")/$(grep -c 'monitoring with' "$T/h.txt")" = 1/0 ]
# wall-clock times are right: the kernel's CLOCK_MONOTONIC stamp plus the
# REALTIME-MONOTONIC offset sampled at start, within a minute of now
check "text and JSON times are today's wall-clock time (not boot-relative)" python3 -c '
import datetime, json, sys, time
t = open(sys.argv[1]).readline().split()[0]
w = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
j = [json.loads(l) for l in open(sys.argv[2]) if "\"event\"" in l][0]
wj = datetime.datetime.strptime(j["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
sys.exit(0 if abs(time.time() - w) < 60 and abs(time.time() - wj) < 600 else 1)' "$T/h.txt" "$T/m1.json"

# --- data only on stdout, through a pipe that closes: monitor | head -n 2
# ends once head is gone (EPIPE, not a SIGPIPE death, not a hang), exit 0
(
	timeout 60 "$cli" monitor --json 2>"$T/hd.err" | head -n 2 >"$T/hd.out"
	echo "${PIPESTATUS[0]}" >"$T/hd.rc"
) &
hp=$!
wait_subscribers $((base + 1))
for i in $(seq 100); do
	kill -0 $hp 2>/dev/null || break
	echo "1 8 3" >/sys/kernel/debug/nlpush_test/emit
	sleep 0.2
done
wait $hp
check "monitor --json | head -n 2: head got 2 JSON event lines" \
	[ "$(grep -c '"kind":"event"' "$T/hd.out")" = 2 ]
check "monitor ends with exit 0 once its reader is gone (rc $(cat "$T/hd.rc"))" [ "$(cat "$T/hd.rc")" = 0 ]
check "... quietly (nothing on stderr but the banner)" [ "$(grep -vc 'monitoring with' "$T/hd.err")" = 0 ]

# what starting the CLI costs here, for the timings of the respond tests
t0=$(date +%s%N)
"$cli" stats >/dev/null 2>&1
startup0_ms=$(ms_since "$t0")

# --- respond answers requests from userspace (EMIT) and from the kernel (nlpush_test)
timeout 120 "$cli" respond --exec 'tr a-z A-Z' --count 2 --json >"$T/r.json" 2>"$T/r.err" &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload hello --timeout 5s --json >"$T/e.json"
check "emit --wait-reply returns the responder's stdout as reply" \
	[ "$(field "$T/e.json" reply payload)" = "$(printf HELLO | base64)" ]
check "emit --wait-reply returns status 0" [ "$(field "$T/e.json" reply status)" = 0 ]
echo "4 5000 9" >/sys/kernel/debug/nlpush_test/request
req=$(cat /sys/kernel/debug/nlpush_test/request)
check "nlpush_request() answered by respond ($req)" grep -q '^status=0 reply=' <<<"$req"
wait $r
check "respond exits 0 after --count requests" [ $? = 0 ]
check "respond: one JSON reply per request on stdout, its banner on stderr" \
	[ "$(json_count "$T/r.json" reply)/$(wc -l <"$T/r.json")/$(grep -c 'answering requests with' "$T/r.err")" = 2/2/1 ]
timeout 120 "$cli" respond --exec 'exit 3' --count 1 >/dev/null 2>&1 &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --json >"$T/e3.json"
check "the command's exit status is the reply status" [ "$(field "$T/e3.json" reply status)" = 3 ]
wait $r
timeout 120 "$cli" respond --status 7 --reply OK --count 1 >/dev/null 2>&1 &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --json >"$T/e4.json"
check "respond --status --reply answers in process" \
	[ "$(field "$T/e4.json" reply status)/$(field "$T/e4.json" reply payload)" = "7/$(printf OK | base64)" ]
wait $r
timeout 120 "$cli" respond --echo --count 1 >/dev/null 2>&1 &
r=$!
wait_responders 1
echo "4 5000 9" >/sys/kernel/debug/nlpush_test/request
req=$(cat /sys/kernel/debug/nlpush_test/request)
# the 4-byte request payload is nlpush_test's pattern: 4 consecutive byte values (mod 251)
echoed_pattern() {
	local h
	h=$(sed -n 's/^status=0 reply=\([0-9a-f]\{8\}\) .*/\1/p' <<<"$1")
	[ -n "$h" ] && [ $(((0x${h:2:2} - 0x${h:0:2} + 251) % 251)) = 1 ] &&
		[ $(((0x${h:6:2} - 0x${h:4:2} + 251) % 251)) = 1 ]
}
check "respond --echo answers nlpush_request() with the request payload ($req)" echoed_pattern "$req"
wait $r
expect_rc "respond without a way to answer exits 64" 64 "$cli" respond

# --- respond --exec: a per-request timeout kills the command (its process
# group) and answers -ETIMEDOUT
timeout 120 "$cli" respond --exec 'sleep 31; echo late' --timeout 300ms --count 1 --json >"$T/rt.json" 2>"$T/rt.err" &
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
timeout 120 "$cli" respond --exec "touch $D/\$\$; sleep 2; ls $D | wc -l; rm $D/\$\$" --jobs 2 --count 4 --json \
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
timeout 120 "$cli" respond --exec 'exec 0<&-; echo ignored' --count 2 --json >"$T/rp.json" 2>"$T/rp.err" &
r=$!
wait_responders 1
"$cli" emit --wait-reply --size 60k --timeout 10s --json >"$T/ep1.json" 2>&1
"$cli" emit --wait-reply --size 60k --timeout 10s --json >"$T/ep2.json" 2>&1
wait $r
rc=$?
check "respond survives commands that do not read a 60 KiB request, answers both, exits 0 (rc $rc)" \
	[ "$rc/$(field "$T/ep1.json" reply status)/$(field "$T/ep2.json" reply status)/$(field "$T/ep2.json" reply payload)" = "0/0/0/$(echo ignored | base64)" ]

# first Ctrl-C: no new requests, the running command finishes and answers
timeout 120 "$cli" respond --exec 'sleep 3; echo finished' --json >"$T/rc1.json" 2>"$T/rc1.err" &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --timeout 30s --json >"$T/ec1.json" 2>&1 &
e=$!
wait_at_least 1 pgrep -fc '^sleep 3$'
kill -INT $r
sleep 1
check "after one Ctrl-C respond waits for its running command" kill -0 $r
check "... and says so on stderr" grep -q "waiting for 1 running command" "$T/rc1.err"
wait $r
rc=$?
wait $e
check "... which answers its request (status 0, its output); respond exits 0 (rc $rc)" \
	[ "$rc/$(field "$T/ec1.json" reply status)/$(field "$T/ec1.json" reply payload)" = "0/0/$(echo finished | base64)" ]
# a second Ctrl-C kills the hung command; its request gets -ECANCELED
timeout 120 "$cli" respond --exec 'sleep 32' --json >"$T/rc2.json" 2>"$T/rc2.err" &
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

# --- emit, stats, subscribers
"$cli" emit --count 7 --size 1k --type 5 --json >"$T/emit.json"
check "emit --count 7 publishes 7 events" [ "$(field "$T/emit.json" emit count)" = 7 ]
"$cli" stats --json >"$T/stats.json"
check "stats --json is valid" json_valid "$T/stats.json"
check "stats shows published > 0" [ "$(field "$T/stats.json" stats published)" -gt 0 ]
"$cli" stats >"$T/stats.txt"
check "stats table lists next_seq" grep -q "next_seq" "$T/stats.txt"

# --- requests with no responder, and a monitor --ack beside a responder (protocol v2)
"$cli" monitor --ack --json --duration 300s >"$T/ma.json" 2>"$T/ma.err" &
ma=$!
wait_subscribers $((base + 1))
check "no responder registered while only monitor --ack runs" [ "$(stats_field responders)" = 0 ]
# what starting the CLI costs here (TCG, other load): the baseline of the
# timings below, which tell "at once" or "after --timeout" from waiting for
# a 5 s timeout (the kernel's own timings are measured by the selftest)
t0=$(date +%s%N)
"$cli" stats >/dev/null 2>&1
t1=$(date +%s%N)
startup_ms=$(((t1 - t0) / 1000000))
t0=$(date +%s%N)
expect_rc "emit --wait-reply with no responder fails with exit 65 (ENOTCONN)" 65 \
	"$cli" emit --wait-reply --payload x --timeout 5s
t1=$(date +%s%N)
check "... at once, not after the 5 s timeout ($(((t1 - t0) / 1000000)) ms, a plain stats took $startup_ms ms)" \
	[ $(((t1 - t0) / 1000000)) -lt $((startup_ms + 2500)) ]
check "... with one readable line naming the missing responder" grep -q "no responder" "$T/err"
echo "4 5000 9" >/sys/kernel/debug/nlpush_test/request 2>/dev/null
req=$(cat /sys/kernel/debug/nlpush_test/request)
check "nlpush_request() with no responder fails with ENOTCONN ($req)" grep -q '^error=-107' <<<"$req"
timeout 120 "$cli" respond --status 5 --reply R --json >"$T/rb.json" 2>"$T/rb.err" &
rb=$!
check "respond registers as a responder" wait_responders 1
rport=$("$cli" subscribers --json | python3 -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o.get("responder"): print(o["portid"])')
answered=0
for i in 1 2 3 4 5; do
	"$cli" emit --wait-reply --payload "p$i" --timeout 5s --json >"$T/eb.json" 2>>"$T/eb.err" &&
		[ "$(field "$T/eb.json" reply status)" = 5 ] &&
		[ "$(field "$T/eb.json" reply portid)" = "$rport" ] && answered=$((answered + 1))
done
check "5 requests answered by respond (port $rport), none by monitor --ack" [ "$answered" = 5 ]
echo "4 5000 9" >/sys/kernel/debug/nlpush_test/request
req=$(cat /sys/kernel/debug/nlpush_test/request)
check "nlpush_request() answered by respond beside monitor --ack ($req)" grep -q '^status=5 reply=52 ' <<<"$req"
"$cli" emit --count 3 >/dev/null
kill -INT $rb
wait $rb
kill -INT $ma
wait $ma
check "monitor --ack exits 0" [ $? = 0 ]
check "monitor --ack saw the 6 requests and 3 plain events" \
	[ "$(grep -c '"kind":"event"' "$T/ma.json")" -ge 9 ]
check "monitor --ack acked the plain events, no ack failed (requests are never acked)" \
	[ "$(field "$T/ma.json" summary ack_errors)" = 0 -a "$(field "$T/ma.json" summary acked)" -ge 3 ]
check "the requests reached monitor --ack with reply wanted" grep -q '"flags":1,' "$T/ma.json"

# --- errors: one line on stderr, distinct exit codes
expect_rc "bad arguments exit 64" 64 "$cli" emit --count 0
expect_rc "a request with no responder exits 65" 65 "$cli" emit --wait-reply --timeout 100ms
# a responder that answers only type 4242: a request of type 0 waits for its timeout
timeout 120 "$cli" respond --type 4242 --status 0 --quiet >/dev/null 2>&1 &
m=$!
wait_responders 1
t0=$(date +%s%N)
expect_rc "unanswered request times out with exit 75" 75 "$cli" emit --wait-reply --timeout 200ms
t1=$(date +%s%N)
check "... after about its timeout ($(((t1 - t0) / 1000000)) ms, a plain stats took $startup_ms ms)" \
	[ $(((t1 - t0) / 1000000)) -lt $((startup_ms + 200 + 3000)) ]
check "... with one line saying so" grep -q "timed out" "$T/err"
kill -INT $m
wait $m
check "respond exits 0 on SIGINT" [ $? = 0 ]
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

# durations: one syntax everywhere (emit --timeout took 5s above)
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
timeout 60 "$cli" monitor --from $((F + 2)) --epoch "$E" --count 3 --json >"$T/mf2.json" 2>&1
check "monitor --from $((F + 2)) --epoch E resumes at that seq" \
	[ "$(seqs "$T/mf2.json")" = "$((F + 2)) $((F + 3)) $((F + 4))" ]
timeout 60 "$cli" monitor --from 2 --epoch 1 --count 1 --json >"$T/mf3.json" 2>&1
check "monitor --from with another load's epoch reports the reload first" \
	[ "$(head -n1 "$T/mf3.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["kind"])')" = reloaded ]
timeout 60 "$cli" monitor --from "$F" --type 31,33 --count 2 --json >"$T/mt.json" 2>&1
timeout 60 "$cli" monitor --from "$F" --type 31 --type 33 --count 2 --json >"$T/mt2.json" 2>&1
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
"$cli" replay --from 1 --count 1 --json >"$T/rp4.json"
check "replay --from 1 reports what the ring no longer holds as lost, first" \
	[ "$(head -n1 "$T/rp4.json" | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["kind"], o["from"])')" = "lost 1" ]

if command -v setpriv >/dev/null; then
	nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	expect_rc "permission denied exits 77" 77 nobody "$cli" emit
	expect_rc "an unprivileged monitor without unprivileged_listen exits 77" 77 nobody "$cli" monitor
	check "... saying what would allow it" grep -q "unprivileged_listen=1" "$T/err"
	# --- unprivileged_listen=1 (a read-only parameter: reload the module)
	rmmod nlpush_test nlpush
	insmod "$KODIR/nlpush.ko" unprivileged_listen=1 && insmod "$KODIR/nlpush_test.ko"
	check "module reloaded with unprivileged_listen=1" \
		[ "$(cat /sys/module/nlpush/parameters/unprivileged_listen)" = Y ]
	base=$(subscribers)
	timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups "$cli" monitor --count 3 --json \
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
expect_rc "module not loaded exits 69" 69 "$cli" stats
"$cli" --version >"$T/v.out" 2>&1
check "--version without the module says so, exit 0" grep -q "^module: not loaded$" "$T/v.out"
insmod "$KODIR/nlpush.ko" && insmod "$KODIR/nlpush_test.ko"
check "modules reloaded" [ -d /sys/module/nlpush_test ]

finish
