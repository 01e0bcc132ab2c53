#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside a virtme-ng VM (started by scripts/vm-test.sh), as root:
#   Tests/vm/in-vm.sh KVER KODIR RESDIR
# KODIR holds nlpush.ko and nlpush_test.ko built for KVER; RESDIR is a
# directory the host can read back (vng --rwdir). Writes RESDIR/results
# (key=value lines) plus one log per step, and exits non-zero on failure.
#
# Steps: insmod, nlpush_selftest all (its "responsive" area loads and
# removes wireguard.ko while a request waits), unpriv (as nobody, also in
# a new user and network namespace), reload with unprivileged_listen=1 and
# unpriv again, out-of-range tx_batch_bytes refused, tx_batch_bytes=0 with
# the batch and delivery areas, rmmod-under-load (which reloads the
# modules), every Tests/vm/suites.d/*.sh, final rmmod, dmesg scan, taint
# check (only O and E allowed).
set -u

KVER=${1:?usage: in-vm.sh KVER KODIR RESDIR}
KODIR=${2:?}
RESDIR=${3:?}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ST=$ROOT/kmod/selftest/nlpush_selftest
RES=$RESDIR/results
# per-step time limits (TCG is slow, but nothing should take this long)
STEP_TIMEOUT=${NLPUSH_STEP_TIMEOUT:-480}

mkdir -p "$RESDIR"
: >"$RES"
failed=0

say() { printf '[in-vm] %s\n' "$*"; }
put() { printf '%s=%s\n' "$1" "$2" >>"$RES"; }
fail() {
	say "FAIL: $*"
	put failure "$*"
	failed=1
}

# summary line of a TAP log ("N passed, N failed[, N skipped]")
tap_summary() {
	grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$1" |
		tail -n1
}

# run_selftest KEY LOGNAME ARGS...: runs the selftest, records KEY=summary
run_selftest() {
	local key=$1 logname=$2 rc sum t0
	shift 2
	say "nlpush_selftest $*"
	t0=$(date +%s)
	timeout -k 10 "$STEP_TIMEOUT" "$ST" "$@" >"$RESDIR/$logname.log" 2>&1
	rc=$?
	put "secs_$key" $(($(date +%s) - t0))
	sum=$(tap_summary "$RESDIR/$logname.log")
	[ -n "$sum" ] || sum="no summary (rc $rc)"
	put "$key" "$sum"
	# failed checks and their diagnostics
	awk '/^not ok/ { show = 1; print; next }
	     /^# / && show { print; next }
	     { show = 0 }
	     /^Bail out!/ { print }' "$RESDIR/$logname.log" |
		sed "s/^/[$key] /" | head -n 60
	say "$key: $sum (rc $rc)"
	if [ "$rc" -ne 0 ]; then
		fail "$key rc $rc: $sum"
		return 1
	fi
	return 0
}

load() {
	insmod "$KODIR/nlpush.ko" "$@" && insmod "$KODIR/nlpush_test.ko"
}

unload() {
	local m rc=0
	for m in nlpush_test nlpush; do
		if [ -d "/sys/module/$m" ]; then
			rmmod "$m" || rc=1
		fi
	done
	return $rc
}

say "kernel $(uname -r), expected $KVER"
put kernel "$(uname -r)"
[ "$(uname -r)" = "$KVER" ] || fail "booted $(uname -r), not $KVER"

mountpoint -q /sys/kernel/debug 2>/dev/null ||
	mount -t debugfs none /sys/kernel/debug || fail "cannot mount debugfs"

[ -x "$ST" ] || fail "selftest binary $ST missing"
# what joining "events" needs, as the module was built (kmod/compat.h):
# CAP_NET_ADMIN, or CAP_SYS_ADMIN on kernels without
# GENL_MCAST_CAP_NET_ADMIN but with the cap_sys_admin group bit (5.10)
NLPUSH_LISTEN_CAP=$(modinfo -F listen_cap "$KODIR/nlpush.ko" 2>/dev/null)
export NLPUSH_LISTEN_CAP
put listen_cap "${NLPUSH_LISTEN_CAP:-unknown}"
case "$NLPUSH_LISTEN_CAP" in
CAP_NET_ADMIN | CAP_SYS_ADMIN) ;;
*) fail "modinfo listen_cap of nlpush.ko: '$NLPUSH_LISTEN_CAP'" ;;
esac
# the unpriv step makes a listener of uid nobody in `unshare -Urn`
if [ -e /proc/sys/kernel/unprivileged_userns_clone ]; then
	echo 1 >/proc/sys/kernel/unprivileged_userns_clone
fi
taint0=$(cat /proc/sys/kernel/tainted)
put taint_before "$taint0"
# lockdep (debug kernel) turns itself off for good at the first report or
# taint, boot included (hand-started boots of the debug kernel without
# panic_on_warn=1 met a KASAN report in early boot, in identify_cpu, and ran
# with lockdep off): a lane whose lockdep is off proves nothing about locking
lockdep_on() { grep -qE '^ *debug_locks: +1$' /proc/lockdep_stats; }
if [ -r /proc/lockdep_stats ]; then
	if lockdep_on; then
		put lockdep on
	else
		put lockdep off
		fail "lockdep is off before the tests (taint $taint0): $(grep -E 'debug_locks' /proc/lockdep_stats | tr -s ' ')"
	fi
fi
dmesg -C
echo "nlpush-vm-test: start on $KVER" >/dev/kmsg
# kmemleak (debug kernel): what boot left behind is set aside, so that the
# scan at the end reports only what the tests leaked
KMEMLEAK=/sys/kernel/debug/kmemleak
if [ -w "$KMEMLEAK" ]; then
	echo scan >"$KMEMLEAK" 2>/dev/null
	echo clear >"$KMEMLEAK" 2>/dev/null
fi

# 1. load, full selftest
if load; then
	put insmod ok
	run_selftest selftest selftest-all -v all
	# "responsive" removes it itself, unless it failed half-way
	if [ -d /sys/module/wireguard ]; then
		modprobe -r wireguard || fail "modprobe -r wireguard"
	fi
	# 2. without privileges (the selftest drops to nobody itself)
	run_selftest unpriv selftest-unpriv unpriv
else
	put insmod FAIL
	fail "insmod failed"
fi

# 3. unprivileged_listen=1: joining and replay allowed
unload || fail "rmmod before unprivileged_listen reload"
if load unprivileged_listen=1; then
	run_selftest unpriv_listen selftest-unpriv-listen unpriv
else
	fail "insmod unprivileged_listen=1 failed"
fi

# 3b. tx_batch_bytes: out of range fails the load; 0 sends every event
# alone (the "batch" area checks one event per datagram, "delivery" runs
# unbatched too)
unload || fail "rmmod before the tx_batch_bytes loads"
refused=ok
for v in 1 1023 65537; do
	if insmod "$KODIR/nlpush.ko" "tx_batch_bytes=$v" 2>/dev/null; then
		refused="FAIL($v)"
		rmmod nlpush
	fi
done
put batch_range "$refused"
[ "$refused" = ok ] || fail "insmod accepted tx_batch_bytes $refused"
if load tx_batch_bytes=0; then
	run_selftest batch_off selftest-batch-off -v batch delivery
else
	fail "insmod tx_batch_bytes=0 failed"
fi

# 4. rmmod under load; reloads the modules with default parameters
unload || fail "rmmod before rmmod-under-load"
if load; then
	if run_selftest rmmod selftest-rmmod -v --ko-dir "$KODIR" \
		rmmod-under-load; then
		put rmmod_under_load ok
	else
		put rmmod_under_load FAIL
	fi
else
	fail "insmod before rmmod-under-load failed"
fi
[ -d /sys/module/nlpush ] || load || fail "reload after rmmod-under-load"

# 5. extra suites (Swift VM tests etc.): Tests/vm/suites.d/*.sh, or those
# NLPUSH_SUITES names ("10-swift 20-cli"; "none": only the steps above)
suites=""
for s in "$ROOT"/Tests/vm/suites.d/*.sh; do
	[ -e "$s" ] || continue
	name=$(basename "$s" .sh)
	case " ${NLPUSH_SUITES:-all} " in
	" all ") ;;
	*" $name "*) ;;
	*) suites="$suites $name:not-run"; continue ;;
	esac
	say "suite $name"
	t0=$(date +%s)
	timeout -k 10 "$STEP_TIMEOUT" bash "$s" "$KVER" "$KODIR" "$RESDIR" \
		>"$RESDIR/suite-$name.log" 2>&1
	rc=$?
	put "secs_suite_$name" $(($(date +%s) - t0))
	sum=$(tap_summary "$RESDIR/suite-$name.log")
	if [ "$rc" -eq 0 ]; then
		suites="$suites $name:ok${sum:+ ($sum)}"
	else
		suites="$suites $name:FAIL(rc $rc${sum:+, $sum})"
		tail -n 30 "$RESDIR/suite-$name.log" | sed "s/^/[$name] /"
		# what failed, last, so that the tail a CI log keeps names it
		# (Swift Testing: "✘ Test ... recorded an issue at F:L:C: ...",
		# TAP: "not ok N - ...")
		grep -aE '^(✘ Test .* (recorded an issue|failed after)|not ok )' \
			"$RESDIR/suite-$name.log" | grep -v '^✘ Test run with ' |
			head -n 12 | cut -c1-400 | sed "s/^/[$name] failure: /"
		fail "suite $name rc $rc"
	fi
done
suites=${suites# }
put suites "${suites:-none}"

# 6. unload
if unload; then
	put rmmod_final ok
else
	put rmmod_final FAIL
	fail "final rmmod"
fi
sleep 1

# 6b. kmemleak (debug kernel): objects unreferenced for two scans since the
# start are leaks (objects must be 5 s old to be reported: wait between)
if [ -w "$KMEMLEAK" ]; then
	echo scan >"$KMEMLEAK"
	sleep 6
	echo scan >"$KMEMLEAK"
	cat "$KMEMLEAK" >"$RESDIR/kmemleak.txt"
	leaks=$(grep -c '^unreferenced object' "$RESDIR/kmemleak.txt")
	put kmemleak "$leaks"
	if [ "$leaks" -gt 0 ]; then
		head -n 80 "$RESDIR/kmemleak.txt" | sed 's/^/[kmemleak] /'
		fail "kmemleak: $leaks unreferenced objects"
	fi
fi

# 7. kernel log
dmesg >"$RESDIR/dmesg.txt"
pat='WARNING:|BUG:|Oops|general protection|KASAN|KFENCE|refcount_t|list_add corruption|list_del corruption|INFO: task .* blocked|sleeping function called from invalid context|UBSAN|kmemleak: [0-9]+ new suspected|ODEBUG|Call Trace:|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|RCU stall|rcu_sched self-detected|soft lockup|hard LOCKUP|workqueue lockup'
if grep -qE "$pat" "$RESDIR/dmesg.txt"; then
	put dmesg dirty
	grep -nE "$pat" "$RESDIR/dmesg.txt" | head -n 20 | sed 's/^/[dmesg] /'
	fail "dmesg has kernel warnings"
else
	put dmesg clean
fi

# lockdep still on: nothing turned it off during the tests
if [ -r /proc/lockdep_stats ] && ! lockdep_on; then
	put lockdep "off after the tests"
	fail "lockdep turned itself off during the tests (see dmesg.txt)"
fi

# 8. taint: only O (4096, out-of-tree) and E (8192, unsigned module)
taint=$(cat /proc/sys/kernel/tainted)
letters=""
flags=PFSRMBUDAWCIOELKXTN
for i in $(seq 0 18); do
	[ $(((taint >> i) & 1)) -eq 1 ] && letters="$letters${flags:$i:1}"
done
put taint "$taint"
put taint_letters "${letters:-none}"
if [ $((taint & ~(4096 | 8192))) -ne 0 ]; then
	fail "kernel tainted $taint ($letters)"
fi

if [ "$failed" -eq 0 ]; then
	put status pass
else
	put status FAIL
fi
say "done: status $([ "$failed" -eq 0 ] && echo pass || echo FAIL)"
exit "$failed"
