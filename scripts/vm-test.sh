#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build nlpush for every kernel of the test matrix and run the selftests
# in a virtme-ng VM per kernel (TCG: the host cannot load modules).
#
#   scripts/vm-test.sh
#
# Environment:
#   NLPUSH_KERNELS="6.1.0-56-amd64 6.12.95+deb12-amd64"
#                       kernels to test (default: auto-picked, see below)
#   NLPUSH_SKIP_SETUP=1 do not run scripts/setup.sh vm first
#   NLPUSH_SKIP_BUILD=1 reuse build/kmod-$KVER (no W=1 / sparse run)
#   NLPUSH_VM_TIMEOUT   seconds per VM (default 1800)
#   NLPUSH_DEBUG_LANE=0 leave out the debug-kernel lane (default 1: on;
#                       scripts/debug-kernel.sh: built once, then cached;
#                       KASAN, lockdep, kmemleak, UBSAN, fault injection;
#                       booted with panic_on_warn=1)
#   NLPUSH_DEBUG_VM_TIMEOUT, NLPUSH_DEBUG_STEP_TIMEOUT  its limits (3000, 1200 s)
#   NLPUSH_DEBUG_SKIP_SUITES  suites the debug lane leaves out (default
#                       "21-cli-more 30-ynl 50-prometheus")
#
# Auto-pick (scripts/kernels.sh): Debian 5.10 from the bullseye chroot of
# scripts/chroot-kernel.sh, the newest installed Debian 6.1 image, the 6.12
# image that bookworm-backports' linux-image-amd64 depends on (falling back
# to the newest installed "~bpo12" 6.12 image), each only if its headers are
# installed, and sid's kernel from the sid chroot. The chroot lanes are
# built inside their chroot (its compiler) and booted from its /boot.
#
# Per kernel: kmod/ is copied to build/kmod-$KVER and built with W=1 and
# with sparse (C=2); any warning or error fails the kernel. The VM runs
# Tests/vm/in-vm.sh, writes build/vm-$KVER/results (shared read-write with
# --rwdir) and its console goes to build/vm-$KVER.log.
# Prints one summary line per kernel; exits non-zero on any failure.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=$ROOT/build
VM_TIMEOUT=${NLPUSH_VM_TIMEOUT:-1800}

say() { printf '[vm-test] %s\n' "$*"; }
die() {
	printf '[vm-test] error: %s\n' "$*" >&2
	exit 1
}

if [ "${NLPUSH_SKIP_SETUP:-0}" != 1 ]; then
	scripts/setup.sh vm || die "scripts/setup.sh vm failed"
fi

# have_kernel, matrix_kernels (honours NLPUSH_KERNELS)
# shellcheck source=scripts/kernels.sh
. "$ROOT/scripts/kernels.sh" || die "scripts/kernels.sh missing"

KERNELS=$(matrix_kernels)
KERNELS=$(echo $KERNELS)
# "debug" in NLPUSH_KERNELS is the debug lane (NLPUSH_KERNELS=debug: only it)
case " $KERNELS " in
*" debug "*)
	NLPUSH_DEBUG_LANE=1
	KERNELS=$(echo " $KERNELS " | sed 's/ debug / /g')
	KERNELS=$(echo $KERNELS)
	;;
esac
[ -n "$KERNELS" ] || [ "${NLPUSH_DEBUG_LANE:-1}" = 1 ] ||
	die "no kernel of the matrix is installed (run scripts/setup.sh vm)"
for k in $KERNELS; do
	have_kernel "$k" || die "kernel $k: /boot/vmlinuz-$k or its headers missing"
done
command -v vng >/dev/null || die "vng (virtme-ng) not installed"

overall=0
summaries=()

# The debug lane (on unless NLPUSH_DEBUG_LANE=0): Debian's 6.12 source built by
# scripts/debug-kernel.sh with KASAN, lockdep, kmemleak, UBSAN, fault
# injection... (cached), booted with panic_on_warn=1, so that any report
# ends the run and fails it. Called "debug" in the lane list.
DTREE="" DKVER=""
mkdir -p "$BUILD"
if [ "${NLPUSH_DEBUG_LANE:-1}" = 1 ]; then
	say "debug kernel: scripts/debug-kernel.sh (cached, or built now)"
	t=$(date +%s)
	if DTREE=$(bash scripts/debug-kernel.sh 2>"$BUILD/debug-kernel.log") && [ -d "$DTREE" ]; then
		DKVER=$(make -s -C "$DTREE" kernelrelease 2>/dev/null)
		say "debug kernel $DKVER ready after $(($(date +%s) - t))s: ${DTREE}"
		KERNELS=$(echo $KERNELS debug)
	else
		cat "$BUILD/debug-kernel.log"
		summaries+=("debug lane: the debug kernel did not build (see build/debug-kernel.log)")
		overall=1
	fi
fi
say "kernels: $KERNELS"

# where each lane's kernel image and build tree are, and its uname -r
# (chroot lanes, 5.10 and sid: under the chroot of scripts/chroot-kernel.sh)
hdr_of() { if [ "$1" = debug ]; then echo "$DTREE"; else echo "$(chroot_of "$1")/usr/src/linux-headers-$1"; fi; }
img_of() { if [ "$1" = debug ]; then echo "$DTREE"; else echo "$(chroot_of "$1")/boot/vmlinuz-$1"; fi; }
kver_of() { if [ "$1" = debug ]; then echo "$DKVER"; else echo "$1"; fi; }

# Which suites of Tests/vm/suites.d a lane runs: every lane runs the C
# selftest steps (all areas, unprivileged, unprivileged_listen, rmmod under
# load). With the debug lane on, only the debug lane and the lanes of
# NLPUSH_FULL_LANES (default: Debian 12's own 6.1, else the first lane) also
# run every suite (Swift, CLI, YNL, fuzzer); the others run
# NLPUSH_LANE_SUITES (default "50-prometheus": the CLI's exporter, stats
# and subscriptions under a real Prometheus server), so that the whole run
# fits CI's time. Without the debug lane every lane runs every suite.
# NLPUSH_SUITES=all runs every suite on every lane; NLPUSH_SUITES="A B"
# runs only those suites on every lane (while working on them).
# The debug lane runs every suite but those of NLPUSH_DEBUG_SKIP_SUITES
# (default "21-cli-more 30-ynl 50-prometheus"). On that kernel under TCG a
# CLI process takes 3-5 s to start, so the CLI and userspace suites cost the
# most there and find the least: 50-prometheus (a Prometheus server, the
# exporter, a 200-connection flood) took 7 of the lane's 32 minutes,
# 21-cli-more 7.5 and 30-ynl 3, and CI's machine is about 1.5x slower (the
# lane took 2,903 of its 3,000 s on 2026-12-07). What they ask of the
# kernel (requests, their expiry and late answers, replay dumps, GET_STATS,
# subscriptions, rmmod/insmod under a subscriber, every attribute's policy)
# is exercised there by the C selftests, 10-swift, 20-cli, the fuzzer with
# fault injection and 41-fail-nth; the three suites run on 6.1 (every suite)
# and 50-prometheus on every stock lane.
debug_suites() {
	local f n out=""
	for f in "$ROOT"/Tests/vm/suites.d/*.sh; do
		n=$(basename "$f" .sh)
		case " ${NLPUSH_DEBUG_SKIP_SUITES-21-cli-more 30-ynl 50-prometheus} " in
		*" $n "*) ;;
		*) out="$out${out:+ }$n" ;;
		esac
	done
	echo "$out"
}
FULL_DEFAULT=$(pick_61)
case " $KERNELS " in *" $FULL_DEFAULT "*) ;; *) FULL_DEFAULT=${KERNELS%% *} ;; esac
suites_of() {
	case "${NLPUSH_SUITES:-all}" in
	all) ;;
	*)
		echo "$NLPUSH_SUITES"
		return
		;;
	esac
	if [ "${NLPUSH_SUITES:-}" = all ] || [ -z "$DTREE" ]; then
		echo all
		return
	fi
	if [ "$1" = debug ]; then
		debug_suites
		return
	fi
	case " ${NLPUSH_FULL_LANES:-$FULL_DEFAULT} " in
	*" $1 "*) echo all ;;
	*) echo "${NLPUSH_LANE_SUITES:-50-prometheus}" ;;
	esac
}

# the selftest runs inside the VMs from the shared root
say "building the selftest"
make -s -C kmod/selftest >"$BUILD/selftest-build.log" 2>&1 ||
	{ cat "$BUILD/selftest-build.log"; die "selftest build failed"; }

# kmake KVER ARGS...: make against KVER's headers. A chroot lane's headers
# want their suite's compiler: make runs in the chroot (with /proc, which
# objtool reads, mounted in a private mount namespace) on a copy of the
# tree under the chroot's /nlpush.
kmake() {
	local k=$1 root
	shift
	root=$(chroot_of "$k")
	if [ -z "$root" ]; then
		make -C "$(hdr_of "$k")" M="$BUILD/kmod-$k" "$@"
		return
	fi
	unshare --mount --fork sh -c 'r=$1; shift
		mount -t proc proc "$r/proc" && exec chroot "$r" make "$@"' sh \
		"$root" -C "/usr/src/linux-headers-$k" M="/nlpush/kmod-$k" "$@"
}

# build_kernel KVER: W=1 build + sparse; prints the build verdict
build_kernel() {
	local k=$1 dir=$BUILD/kmod-$1 log root
	root=$(chroot_of "$k")
	log=$BUILD/kmod-$k.build.log
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a kmod/. "$dir/"
	rm -rf "$dir/selftest"
	if [ -n "$root" ]; then
		rm -rf "$root/nlpush/kmod-$k"
		mkdir -p "$root/nlpush"
		cp -a "$dir" "$root/nlpush/kmod-$k"
	fi
	{
		echo "### make W=1 modules"
		kmake "$k" W=1 modules 2>&1
		echo "### rc=$?"
		echo "### make W=1 C=2 modules (sparse)"
		kmake "$k" W=1 C=2 modules 2>&1
		echo "### rc=$?"
	} >"$log"
	# the modules (and objects) come back to build/kmod-KVER
	[ -z "$root" ] || cp -a "$root/nlpush/kmod-$k/." "$dir/"
	if grep -q '^### rc=[1-9]' "$log" ||
		grep -qiE 'warning:|error:|error [0-9]|C=2 specified, but' "$log" ||
		[ "$(grep -c 'CHECK .*\.c$' "$log")" -lt "$(ls "$dir"/*.c | grep -vc '\.mod\.c$')" ] ||
		[ ! -f "$dir/nlpush.ko" ] || [ ! -f "$dir/nlpush_test.ko" ]; then
		grep -iE 'warning:|error|rc=[1-9]' "$log" | head -n 30 >&2
		echo "FAIL (see $log)"
		return 1
	fi
	echo "ok"
}

for k in $KERNELS; do
	line="kernel $k:"
	[ "$k" = debug ] && line="kernel $DKVER (debug lane: KASAN, lockdep, kmemleak, UBSAN, panic_on_warn):"
	if [ "${NLPUSH_SKIP_BUILD:-0}" = 1 ] && [ -f "$BUILD/kmod-$k/nlpush.ko" ]; then
		bres="reused"
	else
		say "$k: building (W=1, sparse)"
		bres=$(build_kernel "$k")
	fi
	if [ "$bres" != ok ] && [ "$bres" != reused ]; then
		summaries+=("$line build $bres")
		overall=1
		continue
	fi
	line="$line build $bres;"

	res=$BUILD/vm-$k
	vmlog=$BUILD/vm-$k.log
	rm -rf "$res"
	mkdir -p "$res"
	say "$k: booting VM (log: ${vmlog#$ROOT/})"
	start=$(date +%s)
	vmargs=(--memory 1G) tmo=$VM_TIMEOUT env=""
	suites=$(suites_of "$k")
	[ "$suites" = all ] || env="NLPUSH_SUITES='$suites' "
	if [ "$k" = debug ]; then
		# KASAN and lockdep slow a TCG guest down about threefold
		vmargs=(--memory 2G --append "panic_on_warn=1")
		tmo=${NLPUSH_DEBUG_VM_TIMEOUT:-3000}
		env="${env}NLPUSH_STEP_TIMEOUT=${NLPUSH_DEBUG_STEP_TIMEOUT:-1200} "
	fi
	for attempt in 1 2; do
		timeout -k 30 "$tmo" vng --run "$(img_of "$k")" --disable-kvm \
			"${vmargs[@]}" --cpus 2 --rwdir "$res" \
			--exec "$env$ROOT/Tests/vm/in-vm.sh $(kver_of "$k") $BUILD/kmod-$k $res" \
			>"$vmlog" 2>&1 </dev/null
		rc=$?
		# qemu that never started (no console output at all, e.g. another
		# VM starting at the same moment) is retried once; anything the
		# VM itself reported is final
		[ "$rc" -ne 0 ] && [ ! -s "$vmlog" ] && [ ! -s "$res/results" ] &&
			[ "$attempt" = 1 ] || break
		say "$k: the VM did not start (rc $rc, no output); retrying once"
		sleep 5
	done
	secs=$(($(date +%s) - start))
	say "$k: VM exited with $rc after ${secs}s"

	r=$res/results
	get() { sed -n "s/^$1=//p" "$r" 2>/dev/null | tail -n1; }
	if [ ! -s "$r" ]; then
		line="$line VM produced no results (rc $rc)"
		overall=1
	else
		line="$line selftest $(get selftest); unpriv $(get unpriv);"
		line="$line unpriv-listen $(get unpriv_listen); listen-cap $(get listen_cap);"
		line="$line batching-off $(get batch_off) (range $(get batch_range));"
		line="$line rmmod-under-load $(get rmmod_under_load) ($(get rmmod));"
		line="$line suites $(get suites);"
		[ "$k" = debug ] && line="$line kmemleak $(get kmemleak) new leaks; lockdep $(get lockdep);"
		line="$line dmesg $(get dmesg); taint $(get taint_letters)"
		[ "$(get status)" = pass ] && [ "$rc" -eq 0 ] || overall=1
		[ "$(get status)" = pass ] || line="$line; FAILED"
		[ "$rc" -eq 0 ] || line="$line; vm rc $rc"
	fi
	if [ "$rc" -eq 124 ]; then
		last=$(ls -t "$res"/*.log 2>/dev/null | head -n1)
		line="$line; timed out after ${tmo}s in ${last:+$(basename "$last" .log)}"
		overall=1
	fi
	line="$line; ${secs}s"
	summaries+=("$line")
	if [ "$rc" -ne 0 ] || [ "$(get status)" != pass ]; then
		echo "----- tail of ${vmlog#$ROOT/} -----"
		tail -n 60 "$vmlog"
		echo "-----"
	fi
done

echo
for s in "${summaries[@]}"; do
	echo "$s"
done
exit $overall
