#!/usr/bin/env bash
# The main job, from a fresh clone: build everything, load nlpush.ko and
# nlpush_test.ko, run 'nlpush monitor' with three subscribers while the test
# module publishes events and 'nlpush respond' answers requests, and show the
# result. Where this machine cannot load modules, it all runs in a virtme-ng
# VM booted with a Debian kernel of the test matrix.
#   scripts/demo.sh            build, then demo (host or VM)
#   scripts/demo.sh --inside   the demo itself (modules built for this kernel)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command -v swift >/dev/null 2>&1 || export PATH=$PATH:/opt/swift/usr/bin
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo() {
	local kmod=$1 cli=$root/.build/debug/nlpush
	mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
	lsmod | grep -q '^nlpush_test' && rmmod nlpush_test
	lsmod | grep -q '^nlpush ' && rmmod nlpush
	say "insmod nlpush.ko nlpush_test.ko (kernel $(uname -r))"
	insmod "$kmod/nlpush.ko"
	insmod "$kmod/nlpush_test.ko"
	say "nlpush info"
	$cli info

	say "nlpush monitor --subscribers 3 --count 12 (in the background)"
	$cli monitor --subscribers 3 --count 12 --name demo &
	local monitor=$!
	say "nlpush respond --exec 'tr a-z A-Z' --count 2 (in the background)"
	$cli respond --exec 'tr a-z A-Z' --count 2 --name demo-responder &
	local responder=$!
	for _ in $(seq 100); do
		[ "$($cli subscribers --json | wc -l)" -ge 4 ] && break
		sleep 0.1
	done
	$cli subscribers

	say "nlpush_test publishes 10 events of 24 bytes (echo '10 24 1' > emit)"
	echo "10 24 1" > /sys/kernel/debug/nlpush_test/emit
	sleep 2
	say "a kernel request via nlpush_test (echo '16 5000 2' > request), answered by the responder"
	echo "16 5000 2" > /sys/kernel/debug/nlpush_test/request
	echo "request: $(cat /sys/kernel/debug/nlpush_test/request)"
	sleep 2
	say "a request from userspace through the kernel: nlpush emit --wait-reply --payload 'hello from nlpush'"
	$cli emit --wait-reply --payload 'hello from nlpush' --type 3 --timeout 5s
	wait $monitor $responder

	say "nlpush stats"
	$cli stats
	say "rmmod"
	rmmod nlpush_test nlpush
	echo "demo done: kernel $(uname -r), taint $(cat /proc/sys/kernel/tainted) (out-of-tree/unsigned module only)"
}

if [ "${1:-}" = --inside ]; then
	demo "$2"
	exit 0
fi

can_load_modules() {
	[ "$(id -u)" -eq 0 ] && [ "$(cat /proc/sys/kernel/modules_disabled 2>/dev/null)" = 0 ] &&
		[ -d "/lib/modules/$(uname -r)/build" ]
}

if can_load_modules; then
	bash scripts/setup.sh host
else
	bash scripts/setup.sh all
fi
say "swift build"
swift build 2>&1 | tail -n 3

if can_load_modules; then
	kver=$(uname -r)
	kdir=/lib/modules/$kver/build
else
	kver=$(bash scripts/kernels.sh | tail -n 1)
	kdir=/usr/src/linux-headers-$kver
fi
out=$root/build/kmod-$kver
say "build nlpush.ko for $kver"
mkdir -p "$out"
cp -r kmod/Makefile kmod/*.c kmod/*.h kmod/include "$out/"
make -s -C "$kdir" M="$out" modules 2>&1 | grep -v 'Skipping BTF' || true

if can_load_modules; then
	demo "$out"
else
	say "this kernel cannot load modules: booting $kver in a VM (software emulation, ~20 s)"
	vng --run "/boot/vmlinuz-$kver" --disable-kvm --memory 2G --cpus 2 \
		--exec "bash $root/scripts/demo.sh --inside $out"
fi
