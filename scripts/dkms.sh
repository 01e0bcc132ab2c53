#!/usr/bin/env bash
# Install nlpush.ko and nlpush_test.ko with DKMS, so they are rebuilt for
# every kernel the machine installs.
#   scripts/dkms.sh install [KVER]   add, build, install (and modprobe nlpush
#                                    when KVER is the running kernel)
#   scripts/dkms.sh build KVER       add and build only (used by the tests)
#   scripts/dkms.sh remove           remove every installed version
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' kmod/dkms.conf)
src=/usr/src/nlpush-$ver
action=${1:-install}
kver=${2:-$(uname -r)}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

say() { printf '[dkms] %s\n' "$*"; }

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
		$SUDO modprobe nlpush || say "modprobe nlpush failed (can this kernel load modules?)"
	fi
	;;
remove)
	$SUDO dkms remove "nlpush/$ver" --all || true
	$SUDO rm -rf "$src"
	;;
*)
	echo "usage: $0 install [KVER] | build KVER | remove" >&2
	exit 2
	;;
esac
