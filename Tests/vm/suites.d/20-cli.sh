#!/usr/bin/env bash
# End-to-end test of the nlpush CLI inside the test VM (modules loaded):
# several monitor processes side by side, respond/emit round trips, stats,
# subscribers, info, JSON output, wall-clock times, data on stdout and the
# rest on stderr (also through | head), and the exit code of each error class.
# 21-cli-more.sh tests the rest of the CLI (a suite has 480 s under TCG).
#   bash Tests/vm/suites.d/20-cli.sh KVER KODIR RESDIR
set -u
KODIR=$2
# ROOT, T, ok, bad, check, finish
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
# cli, expect_rc, wait_subscribers, field, ...
# shellcheck source=Tests/vm/cli-lib.sh
. "$(dirname "$0")/../cli-lib.sh"
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
	timeout "$guard" "$cli" monitor --json 2>"$T/hd.err" | head -n 2 >"$T/hd.out"
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

# --- respond as dist/systemd/nlpush-respond.service runs it: an unprivileged
# user with CAP_NET_ADMIN as an ambient capability. It registers and answers;
# its command gets no capability (before: CapEff 0000000000001000)
if command -v setpriv >/dev/null; then
	# 5.10 has no GENL_MCAST_CAP_NET_ADMIN: joining the events group takes
	# CAP_SYS_ADMIN there (README, kernel table)
	caps=+net_admin
	[ "$(uname -r | cut -d. -f1)" -lt 6 ] && caps=+net_admin,+sys_admin
	timeout "$guard" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$caps" \
		--ambient-caps="$caps" "$cli" respond --count 1 \
		--exec 'grep -E "^Cap(Eff|Amb)" /proc/self/status' >/dev/null 2>"$T/ra.err" &
	r=$!
	# at most 20 s, and not a moment longer than respond lives
	for _ in $(seq 40); do
		kill -0 $r 2>/dev/null || break
		[ "$(stats_field responders)" -ge 1 ] && break
		sleep 0.5
	done
	if [ "$(stats_field responders)" -ge 1 ]; then
		"$cli" emit --wait-reply --payload x --timeout 10s --json >"$T/ea.json"
		got=$(field "$T/ea.json" reply payload | base64 -d)
		check "... and its command runs with no capability ($(echo "$got" | tr -s '\t\n' '  '))" \
			[ "$(grep -c ':[[:space:]]*0000000000000000$' <<<"$got")" = 2 ]
	else
		bad "respond as nobody with ambient $caps registers" "$(head -c 300 "$T/ra.err")"
	fi
	kill $r 2>/dev/null
	wait $r
else
	echo "ok - ambient capability check skipped: no setpriv # SKIP"
fi

# --- respond answers requests from userspace (EMIT) and from the kernel (nlpush_test)
timeout "$guard" "$cli" respond --exec 'tr a-z A-Z' --count 2 --json >"$T/r.json" 2>"$T/r.err" &
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
timeout "$guard" "$cli" respond --exec 'exit 3' --count 1 >/dev/null 2>&1 &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --timeout 10s --json >"$T/e3.json"
check "the command's exit status is the reply status" [ "$(field "$T/e3.json" reply status)" = 3 ]
wait $r
timeout "$guard" "$cli" respond --status 7 --reply OK --count 1 >/dev/null 2>&1 &
r=$!
wait_responders 1
"$cli" emit --wait-reply --payload x --timeout 10s --json >"$T/e4.json"
check "respond --status --reply answers in process" \
	[ "$(field "$T/e4.json" reply status)/$(field "$T/e4.json" reply payload)" = "7/$(printf OK | base64)" ]
wait $r
timeout "$guard" "$cli" respond --echo --count 1 >/dev/null 2>&1 &
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

# --- emit, stats, subscribers
"$cli" emit --count 7 --size 1k --type 5 --json >"$T/emit.json"
check "emit --count 7 publishes 7 events" [ "$(field "$T/emit.json" emit count)" = 7 ]
"$cli" stats --json >"$T/stats.json"
check "stats --json is valid" json_valid "$T/stats.json"
check "stats shows published > 0" [ "$(field "$T/stats.json" stats published)" -gt 0 ]
"$cli" stats >"$T/stats.txt"
check "stats table lists next_seq" grep -q "next_seq" "$T/stats.txt"

# --- requests with no responder, and a monitor --ack beside a responder (protocol v2)
"$cli" monitor --ack --json --duration "${guard}s" >"$T/ma.json" 2>"$T/ma.err" &
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
# --verbose: the library's debug log goes to rb.err, shown if respond ends early
timeout "$guard" "$cli" respond --status 5 --reply R --json --verbose >"$T/rb.json" 2>"$T/rb.err" &
rb=$!
check "respond registers as a responder" wait_responders 1
rport=$("$cli" subscribers --json | python3 -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o.get("responder"): print(o["portid"])')
answered=0 how=""
for i in 1 2 3 4 5; do
	"$cli" emit --wait-reply --payload "p$i" --timeout 5s --json >"$T/eb.json" 2>"$T/eb.err"
	rc=$?
	if [ $rc = 0 ] && [ "$(field "$T/eb.json" reply status)" = 5 ] &&
		[ "$(field "$T/eb.json" reply portid)" = "$rport" ]; then
		answered=$((answered + 1))
	else
		how="$how [p$i: exit $rc $(head -c 200 "$T/eb.err") $(head -c 200 "$T/eb.json")]"
	fi
done
# why respond is gone, if it is (its exit status, the end of its log)
# (sets gone; not in a subshell: wait needs the parent)
gone=""
respond_gone() {
	[ -z "$gone" ] || return 0
	kill -0 $rb 2>/dev/null && return 0
	wait $rb
	gone="respond exited $? early; its stderr ends: $(tail -n 8 "$T/rb.err" | tr '\n' '|' | tail -c 1500)"
}
if [ "$answered" = 5 ]; then
	ok "5 requests answered by respond (port $rport), none by monitor --ack"
else
	respond_gone
	bad "5 requests answered by respond (port $rport), none by monitor --ack" "$answered answered;$how $gone"
fi
echo "4 5000 9" >/sys/kernel/debug/nlpush_test/request
req=$(cat /sys/kernel/debug/nlpush_test/request)
check "nlpush_request() answered by respond beside monitor --ack ($req)" grep -q '^status=5 reply=52 ' <<<"$req"
"$cli" emit --count 3 >/dev/null
if kill -INT $rb 2>/dev/null; then
	wait $rb
	check "respond exits 0 on SIGINT after answering" [ $? = 0 ]
else
	respond_gone
	bad "respond exits 0 on SIGINT after answering" "$gone"
fi
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
timeout "$guard" "$cli" respond --type 4242 --status 0 --quiet >/dev/null 2>&1 &
m=$!
wait_responders 1
t0=$(date +%s%N)
expect_rc "unanswered request times out with exit 75" 75 "$cli" emit --wait-reply --timeout 200ms
t1=$(date +%s%N)
# (the start of the CLI varies by seconds on a loaded debug-kernel guest: a
# second start's worth of margin; the kernel's timing is the selftest's)
check "... after about its timeout ($(((t1 - t0) / 1000000)) ms, a plain stats took $startup_ms ms)" \
	[ $(((t1 - t0) / 1000000)) -lt $((2 * startup_ms + 200 + 3000)) ]
check "... with one line saying so" grep -q "timed out" "$T/err"
kill -INT $m
wait $m
check "respond exits 0 on SIGINT" [ $? = 0 ]
if command -v setpriv >/dev/null; then
	expect_rc "permission denied exits 77" 77 \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$cli" emit
else
	echo "ok - permission check skipped: no setpriv # SKIP"
fi
rmmod nlpush_test nlpush
expect_rc "module not loaded exits 69" 69 "$cli" stats
insmod "$KODIR/nlpush.ko" && insmod "$KODIR/nlpush_test.ko"
check "modules reloaded" [ -d /sys/module/nlpush_test ]

finish
