#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `nlpush exporter` and `nlpush stats --prometheus` on the host, where the
# module cannot be loaded (TAP-style output): /metrics answers nlpush_up 0
# (not an HTTP error), / is a one-line page, the bad-request run
# (Tests/exporter/bad_clients.py) never stops it from serving the next
# scrape, an idle connection is closed after --idle-timeout, SIGTERM ends
# it with exit 0; bad --listen values and a port in use are one line on
# stderr and their exit code. The module's own counters, the subscription
# and a real Prometheus server: Tests/vm/suites.d/50-prometheus.sh.
#   Tests/exporter/check-host.sh [NLPUSH_BINARY]   (default .build/debug/nlpush)
set -u
cd "$(dirname "$0")/../.." || exit 1
bin=$(realpath -e "${1:-.build/debug/nlpush}" 2>/dev/null) || {
	echo "check-host: ${1:-.build/debug/nlpush} missing: swift build --product nlpush first" >&2
	exit 1
}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1${2:+: $2}"; }
T=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# expect_rc NAME RC CMD...: exit RC, one line on stderr, nothing on stdout
expect_rc() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" = "$want" ] && [ "$(wc -l <"$T/err")" = 1 ] && [ ! -s "$T/out" ]; then
		ok "$name (exit $rc: $(cat "$T/err"))"
	else
		bad "$name" "exit $rc, want $want; stderr: $(head -c 300 "$T/err"); stdout: $(head -c 100 "$T/out")"
	fi
}
# start_exporter ARGS...: starts it on a free port; sets EXP (HOST:PORT), PID
start_exporter() {
	"$bin" exporter --listen 127.0.0.1:0 "$@" >"$T/exp.out" 2>"$T/exp.err" &
	PID=$!
	pids+=("$PID")
	local _
	for _ in $(seq 100); do
		EXP=$(sed -n 's|.*serving http://\([0-9.]*:[0-9]*\)/metrics.*|\1|p' "$T/exp.err")
		[ -n "$EXP" ] && return 0
		sleep 0.1
	done
	return 1
}

if "$bin" stats --prometheus >"$T/stats" 2>"$T/stats.err"; then
	if grep -qx 'nlpush_up 0\(\.0\)\{0,1\}' "$T/stats" && grep -q '^# HELP nlpush_up ' "$T/stats" &&
		grep -q '^# TYPE nlpush_up gauge' "$T/stats"; then
		ok "stats --prometheus without the module: nlpush_up 0 with HELP and TYPE, exit 0"
	else
		bad "stats --prometheus without the module" "$(head -c 300 "$T/stats")"
	fi
else
	bad "stats --prometheus without the module exits 0" "$(cat "$T/stats.err")"
fi
expect_rc "stats --prometheus --json: usage error" 64 "$bin" stats --prometheus --json
expect_rc "--listen 0.0.0.0:9464 without --allow-remote" 64 "$bin" exporter --listen 0.0.0.0:9464
expect_rc "--listen without a port" 64 "$bin" exporter --listen 127.0.0.1
expect_rc "--listen with port 70000" 64 "$bin" exporter --listen 127.0.0.1:70000
expect_rc "--listen [::1 (unclosed)" 64 "$bin" exporter --listen '[::1:9464'
expect_rc "--max-connections 0" 64 "$bin" exporter --max-connections 0

if ! start_exporter --idle-timeout 2s; then
	bad "exporter starts on a free port" "$(head -c 300 "$T/exp.err")"
	echo "$pass passed, $fail failed"
	exit 1
fi
ok "exporter serves on $EXP"
expect_rc "a second exporter on the same port" 74 "$bin" exporter --listen "$EXP"
curl -s -D "$T/h" "http://$EXP/metrics" >"$T/m"
if grep -q '^HTTP/1.1 200' "$T/h" && grep -qi '^content-type: text/plain; version=0.0.4' "$T/h" &&
	grep -qx 'nlpush_up 0\(\.0\)\{0,1\}' "$T/m"; then
	ok "/metrics without the module: 200, text format 0.0.4, nlpush_up 0"
else
	bad "/metrics without the module" "$(head -c 300 "$T/h" "$T/m")"
fi
if [ "$(curl -s "http://$EXP/")" = "nlpush exporter: metrics at /metrics" ]; then
	ok "/ is a one-line page"
else
	bad "/ is a one-line page"
fi
if python3 Tests/exporter/bad_clients.py "$EXP" >"$T/bad" 2>&1; then
	ok "bad-request run: $(tail -n 1 "$T/bad")"
else
	bad "bad-request run" "$(grep 'not ok' "$T/bad" | head -n 3 | tr '\n' ' ')"
fi
# an idle connection is closed after --idle-timeout 2s
if python3 - "$EXP" <<'PY'; then
import socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((h, int(p)))
s.sendall(b"GET /met")
s.settimeout(15)
t = time.monotonic()
data = s.recv(100)
took = time.monotonic() - t
print(f"# closed after {took:.1f} s, {len(data)} bytes")
sys.exit(0 if 1.5 < took < 10 else 1)
PY
	ok "a client that stops mid-request is closed after --idle-timeout"
else
	bad "a client that stops mid-request is closed after --idle-timeout"
fi
if kill -0 "$PID" 2>/dev/null; then ok "still running after the bad clients"; else bad "still running after the bad clients"; fi
kill -TERM "$PID"
wait "$PID"
rc=$?
if [ "$rc" = 0 ] && grep -q 'stopped' "$T/exp.err" && [ ! -s "$T/exp.out" ]; then
	ok "SIGTERM: exit 0, nothing on stdout"
else
	bad "SIGTERM: exit 0" "exit $rc; $(tail -n 3 "$T/exp.err" | tr '\n' ' ')"
fi

# the example Prometheus configuration and alerts of dist/prometheus
if command -v promtool >/dev/null; then
	f=dist/prometheus/nlpush-alerts.yml
	if promtool check rules "$f" >"$T/pt" 2>&1; then ok "promtool check rules $f"; else bad "promtool check rules $f" "$(tr '\n' ' ' <"$T/pt")"; fi
	if (cd dist/prometheus && promtool check config prometheus.yml) >"$T/pt" 2>&1; then
		ok "promtool check config dist/prometheus/prometheus.yml"
	else
		bad "promtool check config dist/prometheus/prometheus.yml" "$(tr '\n' ' ' <"$T/pt")"
	fi
else
	bad "promtool installed (scripts/setup.sh host installs Debian's prometheus)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
