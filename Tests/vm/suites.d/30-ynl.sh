#!/usr/bin/env bash
# Drives the nlpush family inside the test VM (modules loaded) with the
# kernel's own YNL command line tool, tools/net/ynl/cli.py of linux-source-6.12
# (extracted on the host by scripts/ynl.sh), reading nothing but the spec
# kmod/nlpush.yaml: proves the spec describes what the module sends and
# accepts (cli.py fails on any attribute the spec does not know).
#   bash Tests/vm/suites.d/30-ynl.sh KVER KODIR RESDIR
# get-stats (stats nest + epoch), a subscription to "events" while
# nlpush_test publishes, a replay dump of those events, plain acks, and acks
# refused with their errno and extack message.
set -u
# ROOT, T, ok, bad, check, finish
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
SPEC=$ROOT/kmod/nlpush.yaml

# the YNL tools the host extracted (the VM's root is the host's, read-only)
YNL=$(bash "$ROOT/scripts/ynl.sh" cached 2>&1) || {
	bad "YNL tools extracted on the host" "$YNL"
	finish
}
# cli.py needs PyYAML (not jsonschema: --no-schema, check-spec.py validates)
PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || { bad "a python3 with PyYAML"; finish; }

# ynl ARGS...: cli.py on the spec, JSON output
ynl() {
	timeout -k 5 120 "$PY" "$YNL/tools/net/ynl/cli.py" --spec "$SPEC" --no-schema \
		--output-json "$@"
}
# jq-less JSON checks: jget FILE EXPR prints eval(EXPR) with j = the JSON
# document of FILE (the last line, for cli.py prints one document per call)
jget() {
	"$PY" -c 'import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(eval(sys.argv[2]))' "$@" 2>/dev/null
}

# --- the family and its operations, as the spec names them
ynl --list-ops >"$T/ops" 2>&1
check "cli.py resolves the family and lists its 7 operations" \
	[ "$(grep -c -E '^[a-z-]+  \[ (do|dump) \]$' "$T/ops")" = 7 ]
grep -q '^replay  \[ dump \]$' "$T/ops" || bad "... replay is a dump" "$(head -c 300 "$T/ops")"

# --- get-stats
if ynl --do get-stats >"$T/stats" 2>&1; then
	ok "--do get-stats"
else
	bad "--do get-stats" "$(tail -n 3 "$T/stats")"
fi
epoch=$(jget "$T/stats" 'j["epoch"]')
check "... has a non-zero epoch ($epoch)" [ "$(jget "$T/stats" 'j["epoch"] > 0')" = True ]
check "... has the stats nest with next-seq, published, responders, txq-drops" \
	[ "$(jget "$T/stats" 'all(k in j["stats"] for k in ("next-seq", "published", "responders", "txq-drops"))')" = True ]
first=$(jget "$T/stats" 'j["stats"]["next-seq"]')

# --- subscribe to "events" while nlpush_test publishes 5 events of 16 bytes, type 3
# (not through ynl(): $! must be python itself)
"$PY" "$YNL/tools/net/ynl/cli.py" --spec "$SPEC" --no-schema --output-json \
	--subscribe events --sleep 6 >"$T/ntf" 2>&1 &
listener=$!
# subscribed once cli.py sleeps (it joins the group, then sleeps); 30 s at
# most. wchan names the sleep where the kernel can tell (frame pointers);
# Debian's 5.10 (ORC unwinder) always says 0 there, so also accept python
# blocked in clock_nanosleep (230) or nanosleep (35), from /proc/PID/syscall
asleep=""
for _ in $(seq 300); do
	grep -qs nanosleep "/proc/$listener/wchan" && asleep=wchan && break
	read -r nr _ <"/proc/$listener/syscall" 2>/dev/null
	case "${nr:-}" in 230 | 35) asleep=syscall && break ;; esac
	sleep 0.1
done
check "cli.py was seen asleep after joining (${asleep:-never})" [ -n "$asleep" ]
echo "5 16 3" >/sys/kernel/debug/nlpush_test/emit
wait $listener
rc=$?
check "--subscribe events exits 0" [ "$rc" = 0 ]
# the events of this batch (type 3; anything else published meanwhile is ignored)
cat >"$T/events.py" <<'EOF'
import json, sys
msgs = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
first, epoch = int(sys.argv[2]), int(sys.argv[3])
ev = [m["msg"] for m in msgs if m["name"] == "event" and m["msg"].get("type") == 3]
seqs = [e["seq"] for e in ev]
ok = (len(ev) == 5 and seqs == list(range(seqs[0], seqs[0] + 5)) and seqs[0] >= first
      and all(e["epoch"] == epoch and len(e["payload"]) == 32 and e["timestamp-ns"] > 0
              for e in ev))
print(seqs[0] if ok else "bad: %r" % (ev,))
EOF
s0=$("$PY" "$T/events.py" "$T/ntf" "${first:-0}" "${epoch:-0}" 2>&1)
if [ -n "$s0" ] && [ "${s0#bad}" = "$s0" ] && [ "$s0" -ge 1 ] 2>/dev/null; then
	ok "... receives the 5 events: consecutive seq from $s0, the epoch, type, 16-byte payload"
else
	bad "... receives the 5 events" "$(echo "$s0" | head -c 400); $(head -c 300 "$T/ntf")"
	s0=${first:-1}
fi

# --- replay dump of the same events (replies carry cmd REPLAY)
if ynl --dump replay --json "{\"seq\": $s0, \"count\": 5}" >"$T/replay" 2>&1; then
	ok "--dump replay"
else
	bad "--dump replay" "$(tail -n 3 "$T/replay")"
fi
check "... returns the 5 events from seq $s0, flagged replayed, same epoch and payload size" \
	[ "$(jget "$T/replay" "len(j) == 5 and [e['seq'] for e in j] == list(range($s0, $s0 + 5)) and all('replayed' in e.get('flags', []) and e['epoch'] == ${epoch:-0} and e['type'] == 3 and len(e['payload']) == 32 for e in j)")" = True ]
ynl --dump replay --json "{\"seq\": $s0, \"count\": 2}" >"$T/replay2" 2>&1
check "... count 2 returns the oldest 2" \
	[ "$(jget "$T/replay2" "[e['seq'] for e in j] == [$s0, $s0 + 1]")" = True ]

# --- acks
ynl --do ack --json "{\"seq\": $s0}" >"$T/ack" 2>&1
check "--do ack of a published event succeeds" [ $? = 0 ]
ynl --do get-stats >"$T/stats2" 2>&1
check "... and is counted (stats acks grew)" \
	[ "$(jget "$T/stats2" 'j["stats"]["acks"]')" -gt "$(jget "$T/stats" 'j["stats"]["acks"]')" ]
ynl --do ack --json '{"seq": 18446744073709551615}' >"$T/nack" 2>&1
rc=$?
check "--do ack of a never published seq fails (exit $rc)" [ "$rc" = 1 ]
check "... with EINVAL" grep -q "Invalid argument" "$T/nack"
check "... and the extack \"sequence number was never published\"" \
	grep -q "sequence number was never published" "$T/nack"
other=$("$PY" -c 'import sys; print(int(sys.argv[1]) ^ 1)' "${epoch:-0}" 2>/dev/null)
ynl --do ack --json "{\"seq\": $s0, \"epoch\": ${other:-1}}" >"$T/stale" 2>&1
rc=$?
check "--do ack with another epoch fails with ESTALE (exit $rc)" \
	grep -q "Stale file handle" "$T/stale"
check "... and the extack \"epoch belongs to another load of the module\"" \
	grep -q "epoch belongs to another load of the module" "$T/stale"

finish
