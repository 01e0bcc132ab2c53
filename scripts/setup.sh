#!/usr/bin/env bash
# Install everything nlpush needs on a Debian 12 (bookworm) machine, idempotently.
#   scripts/setup.sh [host|vm|chroots|bench|ynl|all]
#     host: build deps for the Swift package and the C selftest (libnl, pkg-config),
#           systemd-analyze (Tests/check-units.sh)
#     vm:   kernels of the test matrix (6.1 bookworm, 6.12 bookworm-backports),
#           their headers, sparse, qemu and virtme-ng, then the chroots step
#           (NLPUSH_CHROOTS=0 leaves it out)
#     chroots: the 5.10 (bullseye) and sid kernels of the matrix, each in a
#           cached debootstrap chroot (scripts/chroot-kernel.sh; ~2 min and
#           ~1 GB each on a fresh machine, nothing once made)
#     bench: valgrind (bench/callgrind.sh); clang, bpftool and libbpf-dev
#           (bench/bpf, the BPF ring buffer benchmark)
#     ynl:  the kernel's YNL tools and netlink schemas (scripts/ynl.sh:
#           linux-source-6.12, PyYAML, jsonschema, extracted to /opt/nlpush: virtme-ng VMs see /opt, not /var/cache),
#           for scripts/gen.sh, Tests/check-spec.py and the VM suite 30-ynl.sh
#     all = host + vm + chroots + bench + ynl (host and vm include ynl)
set -euo pipefail
what=${1:-all}

say() { printf '[setup] %s\n' "$*"; }

# SUDO, apt_update, need_pkgs
# shellcheck source=scripts/pkgs.sh
. "$(dirname "$0")/pkgs.sh"

add_backports() {
	if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	say "adding bookworm-backports to apt sources"
	local uri
	uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=http://deb.debian.org/debian
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
		$SUDO tee /etc/apt/sources.list.d/nlpush-backports.sources >/dev/null
	apt_updated=""
}

setup_host() {
	# prometheus: promtool checks dist/prometheus/ here; the VM suite
	# 50-prometheus runs the server
	need_pkgs pkg-config libnl-3-dev libnl-genl-3-dev gcc make python3 systemd prometheus curl
	# Tests/check-spec.py reads the YNL spec with PyYAML
	if ! python3 -c 'import yaml' 2>/dev/null; then
		say "pip install pyyaml"
		pip install -q pyyaml 2>/dev/null || pip install -q --break-system-packages pyyaml ||
			need_pkgs python3-yaml
	fi
}

setup_vm() {
	add_backports
	need_pkgs linux-image-amd64 linux-headers-amd64 sparse qemu-system-x86 \
		busybox-static kmod iproute2 python3-pip file
	# 6.12 from bookworm-backports: the exact image its linux-image-amd64 points at
	local img
	img=$(apt-cache show linux-image-amd64/bookworm-backports 2>/dev/null |
		sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n1)
	if [ -z "$img" ]; then
		apt_update
		img=$(apt-cache show linux-image-amd64/bookworm-backports |
			sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n1)
	fi
	need_pkgs "$img" "${img/linux-image-/linux-headers-}"
	if ! command -v vng >/dev/null 2>&1; then
		say "pip install virtme-ng"
		pip install -q virtme-ng 2>/dev/null || pip install -q --break-system-packages virtme-ng
	fi
}

setup_chroots() {
	local s
	need_pkgs debootstrap
	for s in bullseye sid; do
		say "kernel $(bash "$(dirname "$0")/chroot-kernel.sh" "$s") (chroot $s)"
	done
}

setup_bench() {
	need_pkgs valgrind clang bpftool libbpf-dev
}

setup_ynl() {
	local dir
	dir=$(bash "$(dirname "$0")/ynl.sh" ensure)
	say "YNL tools: $dir"
}

case "$what" in
host) setup_host; setup_ynl ;;
vm)
	setup_vm
	setup_ynl
	[ "${NLPUSH_CHROOTS:-1}" = 0 ] || setup_chroots
	;;
chroots) setup_chroots ;;
bench) setup_bench ;;
ynl) setup_ynl ;;
all) setup_host; setup_vm; setup_bench; setup_ynl; setup_chroots ;;
*) echo "usage: $0 [host|vm|chroots|bench|ynl|all]" >&2; exit 2 ;;
esac
say "done ($what)"
