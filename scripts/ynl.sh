#!/usr/bin/env bash
# Make the kernel's YNL tools available: tools/net/ynl (ynl-gen-c.py, cli.py)
# and Documentation/netlink (the genetlink*.yaml schemas) of Debian's
# linux-source-6.12, extracted once into a cache directory keyed by the
# package version. Idempotent; about 15 s the first time (xz), instant after.
#   scripts/ynl.sh [ensure]   install/extract if needed, print the directory
#   scripts/ynl.sh path       same (for $(bash scripts/ynl.sh path))
#   scripts/ynl.sh cached     print the directory if it is extracted already,
#                             else fail; installs nothing (for the test VM)
# The directory holds tools/net/ynl and Documentation/netlink. It is
# /opt/nlpush/ynl-VERSION (NLPUSH_YNL_CACHE overrides /opt/nlpush),
# outside the repository so the test VM, which shares this machine's root
# read-only, reads the same files.
# Needs: linux-source-6.12, python3 with PyYAML and jsonschema (installed here
# when missing, like scripts/setup.sh does).
set -euo pipefail

PKG=linux-source-6.12
TARBALL=/usr/src/$PKG.tar.xz

say() { printf '[ynl] %s\n' "$*" >&2; }

# SUDO, apt_update, need_pkgs
# shellcheck source=scripts/pkgs.sh
. "$(dirname "$0")/pkgs.sh"

python_deps() {
	python3 -c 'import yaml, jsonschema' 2>/dev/null && return 0
	need_pkgs python3-yaml python3-jsonschema ||
		{ say "pip install pyyaml jsonschema"
		  pip install -q pyyaml jsonschema >&2 2>/dev/null ||
			pip install -q --break-system-packages pyyaml jsonschema >&2; }
	python3 -c 'import yaml, jsonschema' || { say "python3 cannot import yaml and jsonschema"; exit 1; }
}

cache_dir() {
	local ver
	ver=$(dpkg-query -W -f='${Version}' "$PKG" 2>/dev/null || true)
	# not from the package (unusual): key on the tarball's size and mtime
	[ -n "$ver" ] || ver=tar-$(stat -c '%s-%Y' "$TARBALL" 2>/dev/null || echo none)
	echo "${NLPUSH_YNL_CACHE:-/opt/nlpush}/ynl-$ver"
}

cached() {
	local dir
	dir=$(cache_dir)
	[ -f "$dir/.complete" ] || { say "$dir not extracted (run scripts/ynl.sh)"; exit 1; }
	echo "$dir"
}

ensure() {
	[ -f "$TARBALL" ] || need_pkgs "$PKG"
	[ -f "$TARBALL" ] || { say "$TARBALL missing after installing $PKG"; exit 1; }
	python_deps

	local base dir
	dir=$(cache_dir)
	base=$(dirname "$dir")
	if [ -f "$dir/.complete" ]; then
		echo "$dir"
		return 0
	fi

	if ! mkdir -p "$base" 2>/dev/null || [ ! -w "$base" ]; then
		$SUDO mkdir -p "$base"
		$SUDO chown "$(id -u):$(id -g)" "$base"
	fi
	# one extraction at a time; whoever waited finds it done
	exec 9>"$base/.lock"
	flock 9
	if [ ! -f "$dir/.complete" ]; then
		say "extracting tools/net/ynl and Documentation/netlink of $PKG into $dir"
		local tmp
		tmp=$(mktemp -d "$base/.ynl-XXXXXX")
		tar -xJf "$TARBALL" -C "$tmp" --strip-components=1 \
			"$PKG/tools/net/ynl" "$PKG/Documentation/netlink"
		[ -f "$tmp/tools/net/ynl/ynl-gen-c.py" ] && [ -f "$tmp/Documentation/netlink/genetlink-legacy.yaml" ] ||
			{ rm -rf "$tmp"; say "extraction incomplete"; exit 1; }
		chmod -R a+rX "$tmp"
		touch "$tmp/.complete"
		rm -rf "$dir"
		mv "$tmp" "$dir"
	fi
	flock -u 9
	echo "$dir"
}

case "${1:-ensure}" in
ensure | path) ensure ;;
cached) cached ;;
*) echo "usage: $0 [ensure|path|cached]" >&2; exit 2 ;;
esac
