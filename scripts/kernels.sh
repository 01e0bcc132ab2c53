#!/usr/bin/env bash
# Print the kernels of the test matrix that are installed (image and
# headers), one per line, oldest first:
#   - Debian 5.10 (bullseye), from the chroot of scripts/chroot-kernel.sh
#     bullseye (the newest 5.10.0-N-amd64 of bullseye/bullseye-security
#     when it was made),
#   - the newest Debian 6.1 (bookworm) kernel,
#   - the 6.12 kernel that bookworm-backports' linux-image-amd64 depends on
#     (falling back to the newest installed ~bpo12 6.12 kernel),
#   - Debian sid's kernel, from the chroot of scripts/chroot-kernel.sh sid.
# The chroot kernels are listed only once their chroot is done (scripts/
# setup.sh chroots makes them). NLPUSH_KERNELS="A B" overrides the choice.
# --host prints only those on the host (not in a chroot).
# Sourced by vm-test.sh.

CHROOT_BASE=${NLPUSH_CHROOT_BASE:-/opt/nlpush/chroot}

# chroot_of KVER: the chroot that holds KVER's image and headers, if any
chroot_of() {
	local s
	for s in bullseye sid; do
		if [ "$(sed -n 's/^kver=//p' "$CHROOT_BASE/$s/.nlpush/done" 2>/dev/null)" = "$1" ]; then
			echo "$CHROOT_BASE/$s"
			return
		fi
	done
}

have_kernel() {
	local r
	r=$(chroot_of "$1")
	if [ -n "$r" ]; then
		[ -f "$r/boot/vmlinuz-$1" ] && [ -d "$r/usr/src/linux-headers-$1" ]
	else
		[ -f "/boot/vmlinuz-$1" ] && [ -d "/usr/src/linux-headers-$1" ]
	fi
}

# pick_chroot SUITE: the kernel of a finished chroot of SUITE
pick_chroot() {
	local v
	v=$(sed -n 's/^kver=//p' "$CHROOT_BASE/$1/.nlpush/done" 2>/dev/null)
	[ -n "$v" ] && have_kernel "$v" && echo "$v"
}

pick_61() {
	local v
	for v in $(ls /boot 2>/dev/null |
		sed -n 's/^vmlinuz-\(6\.1\.[0-9]*-[0-9]*-amd64\)$/\1/p' |
		sort -V -r); do
		have_kernel "$v" && { echo "$v"; return; }
	done
}

pick_612() {
	local pkg v
	pkg=$(apt-cache show linux-image-amd64/bookworm-backports 2>/dev/null |
		sed -n 's/^Depends: linux-image-\([^ ,]*\).*/\1/p' | head -n1)
	if [ -n "$pkg" ] && have_kernel "$pkg"; then
		echo "$pkg"
		return
	fi
	for v in $(dpkg-query -W -f='${Package} ${Version}\n' \
		'linux-image-6.12*' 2>/dev/null |
		awk '$2 ~ /~bpo12/ && $1 !~ /(cloud|rt)-amd64/ {print $1}' |
		sed -n 's/^linux-image-\(6\.12\.[^ ]*-amd64\)\(-unsigned\)\{0,1\}$/\1/p' |
		sort -u -V -r); do
		have_kernel "$v" && { echo "$v"; return; }
	done
}

matrix_kernels() {
	if [ -n "${NLPUSH_KERNELS:-}" ]; then
		printf '%s\n' $NLPUSH_KERNELS
	else
		pick_chroot bullseye
		pick_61
		pick_612
		pick_chroot sid
	fi
}

# host_kernels: the kernels of the matrix that live on the host itself (not
# in a chroot), oldest first: what DKMS and the benchmarks build against
# with the host's own compiler.
host_kernels() {
	local v
	for v in $(matrix_kernels); do
		[ -z "$(chroot_of "$v")" ] && echo "$v"
	done
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	--host) host_kernels ;;
	"") matrix_kernels ;;
	*) echo "usage: scripts/kernels.sh [--host]" >&2; exit 2 ;;
	esac
fi
