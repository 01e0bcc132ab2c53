#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `nlpush exporter` scraped by a real Prometheus server (Debian's package)
# every second: after nlpush_test publishes N events on a freshly loaded
# module, PromQL over Prometheus' HTTP API returns exactly N for
# nlpush_published_total and for the exporter's subscription
# (nlpush_events_received_total); after rmmod, nlpush_up is 0 in
# Prometheus; after insmod, 1 again with a new epoch, and the subscription
# counts the new load's events. In between, the bad-request run
# (Tests/exporter/bad_clients.py) must not cost Prometheus one scrape, but
# while it holds 200 connections at once (counted: a slow VM may not answer
# Prometheus within its 1 s timeout then), and the next scrape must succeed.
#   bash Tests/vm/suites.d/50-prometheus.sh KVER KODIR RESDIR
set -u
KODIR=$2
RESDIR=$3
# ROOT, T, ok, bad, check, finish; cli, wait_for_line
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=Tests/vm/cli-lib.sh
. "$(dirname "$0")/../cli-lib.sh"
PROMQL=$ROOT/Tests/exporter/promql.py
PROM=http://127.0.0.1:9090
EXP=127.0.0.1:9464
# TCG: a Go server takes a while to start; timeouts are generous, the
# checks are exact
WAIT=${NLPUSH_PROM_WAIT:-90}

if ! command -v prometheus >/dev/null; then
	bad "prometheus installed (scripts/setup.sh vm installs Debian's package)"
	finish
fi
pids=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	# the suites after this one expect both modules loaded
	[ -d /sys/module/nlpush ] || insmod "$KODIR/nlpush.ko"
	[ -d /sys/module/nlpush_test ] || insmod "$KODIR/nlpush_test.ko"
}
trap cleanup EXIT
q() { python3 "$PROMQL" "$PROM" "$@"; }
emit() { echo "$1 64 9" >/sys/kernel/debug/nlpush_test/emit; }

# a fresh load: the kernel's counters start at 0
rmmod nlpush_test nlpush
insmod "$KODIR/nlpush.ko" && insmod "$KODIR/nlpush_test.ko"

"$cli" exporter --listen "$EXP" --subscribe >"$T/exp.out" 2>"$T/exp.err" &
exp_pid=$!
pids+=("$exp_pid")
check "exporter serves (stderr: serving http://$EXP/metrics)" \
	wait_for_line "$T/exp.err" "serving http://$EXP/metrics"
check "exporter subscribed" wait_for_line "$T/exp.err" "subscribed as 'exporter'"

cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/dist/prometheus/nlpush-alerts.yml
scrape_configs:
  - job_name: nlpush
    static_configs:
      - targets: ['$EXP']
EOF
t0=$(date +%s)
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address=127.0.0.1:9090 --log.level=warn >"$T/prom.log" 2>&1 &
pids+=($!)
if q 'up{job="nlpush"}' --wait 1 --timeout "$WAIT" >/dev/null; then
	ok "Prometheus scrapes the exporter: up{job=\"nlpush\"} 1 ($(($(date +%s) - t0)) s after start)"
else
	bad "Prometheus scrapes the exporter" "$(tail -n 5 "$T/prom.log" | tr '\n' ' ')"
	cp "$T/prom.log" "$T/exp.err" "$RESDIR/" 2>/dev/null
	finish
fi
check "nlpush_up 1 in Prometheus" q 'nlpush_up' --wait 1 --timeout 30

N=1234
emit $N
check "nlpush_published_total is exactly $N in Prometheus" \
	q 'nlpush_published_total' --wait $N --timeout 30
check "the exporter's subscription received exactly $N (nlpush_events_received_total)" \
	q 'nlpush_events_received_total{subscription="exporter"}' --wait $N --timeout 30
check "nlpush_events_lost_total is 0" q 'nlpush_events_lost_total{subscription="exporter"}' --wait 0 --timeout 10
check "the latency histogram counted $N events" \
	q 'nlpush_publish_to_receive_seconds_count{subscription="exporter"}' --wait $N --timeout 30
check "nlpush_subscribers is 1 (the exporter)" q 'nlpush_subscribers' --wait 1 --timeout 10
p50=$(q 'histogram_quantile(0.5, nlpush_publish_to_receive_seconds_bucket{subscription="exporter"})')
echo "# publish-to-receive p50 of the $N events: ${p50:-?} s"
epoch1=$(q 'nlpush_info' --label epoch)
check "nlpush_info carries the module's epoch ($epoch1)" \
	test "$epoch1" = "$("$cli" stats --json | python3 -c 'import json,sys; print(format(json.load(sys.stdin)["epoch"], "x"))')"

# the same text, once, for node_exporter's textfile collector
"$cli" stats --prometheus >"$T/stats.prom"
check "stats --prometheus prints the published counter" grep -qx "nlpush_published_total $N" "$T/stats.prom"
check "stats --prometheus prints HELP and TYPE lines" grep -q '^# TYPE nlpush_published_total counter' "$T/stats.prom"

# the Grafana dashboard: its metrics exist, its queries run
curl -s "http://$EXP/metrics" >"$T/metrics"
if python3 "$ROOT/Tests/exporter/check_dashboard.py" "$ROOT/dist/grafana/nlpush-dashboard.json" \
	"$T/metrics" "$PROM" >"$T/dash.log" 2>&1; then
	ok "Grafana dashboard: $(tail -n 1 "$T/dash.log") (every metric exported, every query runs)"
else
	bad "Grafana dashboard" "$(grep 'not ok' "$T/dash.log" | head -n 3 | tr '\n' ' ')"
fi
cp "$T/metrics" "$RESDIR/exporter-metrics.txt" 2>/dev/null

# bad clients must not cost Prometheus a scrape
bad_t0=$(date +%s)
if python3 "$ROOT/Tests/exporter/bad_clients.py" "$EXP" --slow 30 --concurrent 200 >"$T/bad.log" 2>&1; then
	ok "bad-request run: $(tail -n 1 "$T/bad.log")"
else
	bad "bad-request run" "$(grep 'not ok' "$T/bad.log" | head -n 3 | tr '\n' ' ')"
fi
# Every scrape Prometheus made during the run ("UNIX_TIME VALUE"), once one
# has been made after the flood of concurrent connections (its start and end
# are on bad_clients.py's "# flood:" line).
read -r fs fe < <(sed -n 's/^# flood: //p' "$T/bad.log")
fs=${fs:-0} fe=${fe:-0}
for _ in $(seq 15); do
	span=$(($(date +%s) - bad_t0 + 1))
	samples=$(q "up{job=\"nlpush\"}[${span}s]" --samples)
	awk -v e="$fe" '$1 > e + 1 { f = 1 } END { exit !f }' <<<"$samples" && break
	sleep 1
done
# A scrape that started up to its 1 s timeout before the flood may wait for it.
# While 200 connections are served at once, a slow machine (TCG, the debug
# kernel) may not answer Prometheus within the timeout: counted, not failed;
# every other step of the run must not cost one scrape.
outside=$(awk -v s="$fs" -v e="$fe" '$2 == 0 && ($1 < s - 1 || $1 > e + 1) { printf "%s ", $1 }' <<<"$samples")
inside=$(awk -v s="$fs" -v e="$fe" '$2 == 0 && $1 >= s - 1 && $1 <= e + 1 { n++ } END { print n + 0 }' <<<"$samples")
after=$(awk -v e="$fe" '$1 > e + 1 { print $2; exit }' <<<"$samples")
if [ -z "$outside" ] && [ -n "$samples" ]; then
	ok "no failed scrape during the bad-request run (the 200-connection flood aside)"
else
	bad "no failed scrape during the bad-request run (the 200-connection flood aside)" "failed at ${outside:-?}"
	# when, against the run's steps (each ok line ends with its UNIX time)
	sed 's/^/# bad-request run: /' "$T/bad.log"
fi
check "Prometheus' first scrape after the flood succeeds" test "$after" = 1
echo "# 200 concurrent connections for $(awk -v s="$fs" -v e="$fe" 'BEGIN { printf "%.1f", e - s }') s;" \
	"Prometheus scrapes that failed meanwhile: $inside"
echo "# slowest scrape during the run: $(q "max_over_time(scrape_duration_seconds{job=\"nlpush\"}[${span}s])") s;" \
	"scrapes since Prometheus started: $(q 'count_over_time(up{job="nlpush"}[10m])')," \
	"failed: $(q 'sum_over_time((up{job="nlpush"} == bool 0)[10m:1s])' | head -n 1)"
check "exporter still running" kill -0 "$exp_pid"

# module gone: nlpush_up 0, not a failed scrape
rmmod nlpush_test nlpush
check "after rmmod: nlpush_up 0 in Prometheus" q 'nlpush_up' --wait 0 --timeout 30
check "after rmmod: the scrape itself still succeeds (up 1)" q 'up{job="nlpush"}' --wait 1 --timeout 10
check "after rmmod: no module counter is exported" q 'absent(nlpush_published_total)' --wait 1 --timeout 10
check "after rmmod: the NlpushModuleNotLoaded alert (dist/prometheus) is pending" \
	q 'ALERTS{alertname="NlpushModuleNotLoaded",alertstate="pending"}' --wait 1 --timeout 20

insmod "$KODIR/nlpush.ko" && insmod "$KODIR/nlpush_test.ko"
check "after insmod: nlpush_up 1 again" q 'nlpush_up' --wait 1 --timeout 30
epoch2=$(q 'nlpush_info' --label epoch)
if [ -n "$epoch2" ] && [ "$epoch2" != "$epoch1" ]; then
	ok "after insmod: a new epoch ($epoch1 -> $epoch2)"
else
	bad "after insmod: a new epoch" "before $epoch1, after '$epoch2'"
fi
check "exporter subscribed again" wait_for_line "$T/exp.err" "module is back"
M=77
emit $M
check "the new load's nlpush_published_total is exactly $M" q 'nlpush_published_total' --wait $M --timeout 30
check "the subscription counted both loads: $N + $M" \
	q 'nlpush_events_received_total{subscription="exporter"}' --wait $((N + M)) --timeout 30

kill -TERM "$exp_pid"
wait "$exp_pid"
rc=$?
check "exporter exits 0 on SIGTERM (exit $rc)" test "$rc" = 0
pids=("${pids[@]:1}")
cp "$T/exp.err" "$RESDIR/exporter-stderr.log" 2>/dev/null
finish
