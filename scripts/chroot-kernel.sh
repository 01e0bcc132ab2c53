#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A Debian kernel the host cannot build modules for (its headers want the
# suite's compiler), in a cached debootstrap chroot of its suite:
#
#   scripts/chroot-kernel.sh SUITE        # bullseye | sid
#   scripts/chroot-kernel.sh SUITE path   # the chroot's directory instead
#
# Creates /opt/nlpush/chroot/SUITE (unless done already for this RECIPE):
# debootstrap (minbase), the suite's apt sources (bullseye also gets
# bullseye-updates and bullseye-security), then apt-get installs
# linux-headers-amd64 (which brings the suite's gcc and kbuild), make,
# sparse, and the linux-image-KVER those headers are for (without an
# initramfs: virtme-ng boots without one). Then it exposes the chroot's
# /lib/modules/KVER on the host as a symlink, because virtme-ng boots the
# image with the host root as the guest's root and loads 9p, virtio... from
# there. Prints KVER on stdout; progress and timings go to stderr.
#
# Resumable and idempotent: each step leaves a marker in the chroot's
# .nlpush/ (base, apt, link) and the last one, "done", holds the suite,
# the RECIPE and KVER. An interrupted run goes on from the last marker (an
# interrupted debootstrap starts over, reusing the .debs it downloaded);
# a chroot of another RECIPE is deleted and made again. Bump RECIPE
# whenever what the chroot must contain changes.
#
# Modules are built in it by scripts/vm-test.sh:
#   chroot DIR make -C /usr/src/linux-headers-KVER M=/nlpush/kmod-KVER W=1
set -euo pipefail

RECIPE=1
MIRROR=${NLPUSH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${NLPUSH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE=${NLPUSH_CHROOT_BASE:-/opt/nlpush/chroot}

say() { printf '[chroot-kernel] %s\n' "$*" >&2; }
die() {
	printf '[chroot-kernel] error: %s\n' "$*" >&2
	exit 1
}

suite=${1:-}
case "$suite" in
bullseye | sid) ;;
*) die "usage: $0 bullseye|sid [path]" ;;
esac
DIR=$BASE/$suite
M=$DIR/.nlpush
if [ "${2:-}" = path ]; then
	echo "$DIR"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"

key="suite=$suite recipe=$RECIPE"

# one maker per chroot at a time (two setup.sh runs at once wait here)
mkdir -p "$BASE"
exec 9>"$BASE/.$suite.lock"
flock 9

if [ -f "$M/done" ] && [ "$(sed -n 1p "$M/done")" = "$key" ]; then
	kver=$(sed -n 's/^kver=//p' "$M/done")
	if [ -f "$DIR/boot/vmlinuz-$kver" ] && [ -L "/lib/modules/$kver" ]; then
		echo "$kver"
		exit 0
	fi
	say "$DIR: done, but the image or the /lib/modules/$kver link is gone; redoing the last steps"
	rm -f "$M/done" "$M/link"
fi

# a chroot of another suite or recipe: start over
if [ -d "$DIR" ] && [ "$(cat "$M/key" 2>/dev/null)" != "$key" ]; then
	say "$DIR: not made by this recipe ($(cat "$M/key" 2>/dev/null || echo none)); deleting it"
	for mp in proc sys dev/pts; do
		mountpoint -q "$DIR/$mp" && umount -l "$DIR/$mp"
	done
	rm -rf --one-file-system "$DIR"
fi

t0=$(date +%s)
mkdir -p "$M"
echo "$key" >"$M/key"

command -v debootstrap >/dev/null || {
	say "apt-get install debootstrap"
	apt-get install -y -q debootstrap >&2
}

if [ ! -f "$M/base" ]; then
	say "debootstrap $suite into $DIR (minbase)"
	t=$(date +%s)
	# an interrupted debootstrap leaves debootstrap/ behind: start over,
	# keeping what it downloaded
	debootstrap --variant=minbase "$suite" "$DIR" "$MIRROR" >&2 ||
		die "debootstrap $suite failed (log: $DIR/debootstrap/debootstrap.log)"
	mkdir -p "$M"
	echo "$key" >"$M/key"
	echo "$(($(date +%s) - t))" >"$M/base"
	say "debootstrap took $(cat "$M/base")s"
fi

if [ ! -f "$M/apt" ]; then
	t=$(date +%s)
	case "$suite" in
	bullseye)
		cat >"$DIR/etc/apt/sources.list" <<-EOF
			deb $MIRROR bullseye main
			deb $MIRROR bullseye-updates main
			deb $SECMIRROR bullseye-security main
		EOF
		;;
	sid)
		echo "deb $MIRROR sid main" >"$DIR/etc/apt/sources.list"
		;;
	esac
	cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
	# signatures are checked, freshness is not: the mirror this was
	# written against served a sid InRelease 25 days past its Valid-Until
	echo 'Acquire::Check-Valid-Until "false";' \
		>"$DIR/etc/apt/apt.conf.d/99nlpush-valid-until"
	# no daemons start in the chroot; no initramfs for the image
	printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
	chmod 755 "$DIR/usr/sbin/policy-rc.d"
	mountpoint -q "$DIR/proc" || mount -t proc proc "$DIR/proc"
	trap 'mountpoint -q "$DIR/proc" && umount -l "$DIR/proc"' EXIT
	inroot() { chroot "$DIR" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
	say "apt-get update"
	inroot apt-get update -q >&2 || die "apt-get update in the chroot failed"
	say "apt-get install linux-headers-amd64 make sparse"
	inroot apt-get install -y -q --no-install-recommends \
		linux-headers-amd64 make sparse kmod >&2 ||
		die "installing the headers in the chroot failed"
	hdr=$(inroot dpkg-query -W -f='${Depends}\n' linux-headers-amd64 |
		tr ',' '\n' | sed -n 's/^ *linux-headers-\([^ ]*-amd64\).*/\1/p' |
		head -n1)
	[ -n "$hdr" ] && [ -d "$DIR/usr/src/linux-headers-$hdr" ] ||
		die "cannot tell which kernel linux-headers-amd64 is for"
	say "kernel $hdr: apt-get install linux-image-$hdr (no initramfs)"
	img=linux-image-$hdr
	inroot apt-cache show "$img" >/dev/null 2>&1 || img=linux-image-$hdr-unsigned
	INITRD=No inroot apt-get install -y -q --no-install-recommends "$img" >&2 ||
		die "installing $img in the chroot failed"
	[ -f "$DIR/boot/vmlinuz-$hdr" ] || die "$img has no /boot/vmlinuz-$hdr"
	# the package's postinst ran depmod; make sure of modules.dep anyway
	[ -s "$DIR/lib/modules/$hdr/modules.dep" ] || inroot depmod "$hdr"
	inroot apt-get clean
	umount -l "$DIR/proc"
	trap - EXIT
	echo "$hdr" >"$M/kver"
	echo "$(($(date +%s) - t))" >"$M/apt"
	say "packages took $(cat "$M/apt")s"
fi
kver=$(cat "$M/kver")

# Debian's linux-headers-7.x leave out scripts/checker-valid.sh, which the
# top Makefile runs before sparse (C=1/C=2): without it, kbuild silently
# turns sparse off. Ours does what it must: prints 1 when the checker
# exists and parses __typeof_unqual__ without an error.
hdrc=$DIR/usr/src/linux-headers-$(cat "$M/kver")
common=$(sed -n 's|^include \(/usr/src/[^ ]*\)/Makefile$|\1|p' "$hdrc/Makefile" 2>/dev/null | head -n1)
for d in "$hdrc" ${common:+"$DIR$common"}; do
	if grep -qs 'scripts/checker-valid.sh' "$d/Makefile" &&
		[ ! -e "$d/scripts/checker-valid.sh" ]; then
		say "adding scripts/checker-valid.sh to $d (missing from the package)"
		cat >"$d/scripts/checker-valid.sh" <<-'EOF'
			#!/bin/sh
			# nlpush chroot-kernel.sh: stands in for the script Debian's
			# headers package leaves out. Prints 1 if "$@" (the checker
			# and its flags) parses __typeof_unqual__ cleanly, else 0.
			command -v "$1" >/dev/null 2>&1 || { echo 0; exit 0; }
			f=$(mktemp --suffix=.c) || { echo 0; exit 0; }
			printf 'int nlpush_probe(const int *p)\n{\n\t__typeof_unqual__(*p) x = *p;\n\treturn x;\n}\n' >"$f"
			if "$@" "$f" 2>&1 | grep -q error; then echo 0; else echo 1; fi
			rm -f "$f"
		EOF
		chmod 755 "$d/scripts/checker-valid.sh"
	fi
done

if [ ! -f "$M/link" ]; then
	# /lib/modules/KVER of the host root is where the guest looks
	mods=$(readlink -f "$DIR/lib/modules/$kver")
	[ -d "$mods" ] || die "$DIR/lib/modules/$kver missing"
	if [ -e "/lib/modules/$kver" ] && [ ! -L "/lib/modules/$kver" ]; then
		die "/lib/modules/$kver exists on the host and is not our link; leaving it"
	fi
	ln -sfn "$mods" "/lib/modules/$kver"
	touch "$M/link"
fi

printf '%s\nkver=%s\nbase_s=%s\napt_s=%s\n' "$key" "$kver" \
	"$(cat "$M/base")" "$(cat "$M/apt")" >"$M/done"
say "$suite: kernel $kver ready in $DIR (this run: $(($(date +%s) - t0))s;" \
	"debootstrap $(cat "$M/base")s + packages $(cat "$M/apt")s)"
echo "$kver"
