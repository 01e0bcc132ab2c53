#!/usr/bin/env bash
# Install nlpush.ko with DKMS, so that it is rebuilt for every kernel the
# machine installs. The test producer nlpush_test.ko is opt-in
# (--with-test: kmod/dkms-with-test.conf becomes /etc/dkms/nlpush.conf,
# which DKMS reads after kmod/dkms.conf; without it that file is removed).
#   scripts/dkms.sh install [--with-test] [KVER]
#                         add, build, install (and modprobe nlpush, and
#                         nlpush_test with --with-test, when KVER is the
#                         running kernel)
#   scripts/dkms.sh build [--with-test] KVER
#                         add and build only (used by the tests)
#   scripts/dkms.sh remove
#                         remove every installed version and
#                         /etc/dkms/nlpush.conf
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' kmod/dkms.conf)
src=/usr/src/nlpush-$ver
override=/etc/dkms/nlpush.conf
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

say() { printf '[dkms] %s\n' "$*"; }
usage() {
	echo "$0: ${1:+$1; }usage: $0 install [--with-test] [KVER] | build [--with-test] KVER | remove" >&2
	exit 2
}

action=${1:-install}
[ $# -eq 0 ] || shift
with_test=0
if [ "${1:-}" = --with-test ] && [ "$action" != remove ]; then
	with_test=1
	shift
fi
case "${1:-}" in -*) usage "unknown option $1" ;; esac
case "$action" in
install) [ $# -le 1 ] || usage; kver=${1:-$(uname -r)} ;;
build) [ $# -eq 1 ] || usage; kver=$1 ;;
remove) [ $# -eq 0 ] || usage ;;
*) usage ;;
esac

copy_source() {
	command -v dkms >/dev/null || {
		say "apt-get install dkms"
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dkms >/dev/null
	}
	say "copying kmod/ to $src"
	$SUDO rm -rf "$src"
	$SUDO mkdir -p "$src"
	$SUDO cp -r kmod/Makefile kmod/*.c kmod/*.h kmod/include kmod/dkms.conf "$src/"
	$SUDO dkms remove "nlpush/$ver" --all >/dev/null 2>&1 || true
	if [ "$with_test" = 1 ]; then
		say "nlpush_test.ko too: $override"
		$SUDO mkdir -p "${override%/*}"
		$SUDO cp kmod/dkms-with-test.conf "$override"
	else
		$SUDO rm -f "$override"
	fi
	$SUDO dkms add "nlpush/$ver" >/dev/null
}

case "$action" in
build)
	copy_source
	say "dkms build nlpush/$ver -k $kver"
	$SUDO dkms build "nlpush/$ver" -k "$kver"
	;;
install)
	copy_source
	say "dkms install nlpush/$ver -k $kver"
	$SUDO dkms install "nlpush/$ver" -k "$kver"
	if [ "$kver" = "$(uname -r)" ]; then
		mods=nlpush
		[ "$with_test" = 0 ] || mods="nlpush nlpush_test"
		for m in $mods; do
			$SUDO modprobe "$m" || say "modprobe $m failed (can this kernel load modules?)"
		done
	fi
	;;
remove)
	$SUDO dkms remove "nlpush/$ver" --all || true
	$SUDO rm -rf "$src" "$override"
	;;
esac
