#!/usr/bin/env bash
# The debug kernel of the test lane: Debian's linux-source-6.12, configured by
# virtme-ng (`vng --kconfig`) plus kmod/debug/debug.config (KASAN, KFENCE,
# lockdep, atomic-sleep checks, kmemleak, debug objects, list debugging,
# UBSAN, lockup detectors, failslab and fail_page_alloc), built once and cached
# under a key of the source version, the fragment and this script's build
# recipe: a run with the same key reuses the cached kernel.
#
#   scripts/debug-kernel.sh            build if needed; print the build tree
#   scripts/debug-kernel.sh --key      print the cache key only
#   scripts/debug-kernel.sh --path     print the build tree if cached (exit 1 if not)
#
# The build tree (kernel + modules + Module.symvers) is what `vng --run` boots
# and what `make -C TREE M=kmod` builds the modules against.
# Environment: NLPUSH_DEBUG_KERNEL_CACHE (default /opt/nlpush/debug-kernel),
# NLPUSH_JOBS (default: number of CPUs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${NLPUSH_DEBUG_KERNEL_CACHE:-/opt/nlpush/debug-kernel}
FRAG=$ROOT/kmod/debug/debug.config
TARBALL=/usr/src/linux-source-6.12.tar.xz
RECIPE=1 # bump when the steps below change what they build
JOBS=${NLPUSH_JOBS:-$(nproc)}

say() { echo "[debug-kernel] $*" >&2; }
die() { echo "[debug-kernel] error: $*" >&2; exit 1; }

if [ ! -r "$TARBALL" ]; then
	[ "$(id -u)" = 0 ] || die "$TARBALL missing: apt-get install linux-source-6.12"
	say "installing linux-source-6.12"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-source-6.12 >&2 ||
		die "apt-get install linux-source-6.12 failed"
fi
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || die "linux-source-6.12 is not installed"
vngver=$(vng --version 2>/dev/null | head -n1)
key=$(printf '%s\n%s\n%s\n' "$srcver" "$RECIPE" "$vngver" | cat - "$FRAG" | sha256sum | cut -c1-16)
TREE=$CACHE/$key/linux

case "${1:-}" in
--key) echo "$key"; exit 0 ;;
--path) [ -f "$CACHE/$key/done" ] && { echo "$TREE"; exit 0; }; exit 1 ;;
"") ;;
*) die "unknown argument $1" ;;
esac

if [ -f "$CACHE/$key/done" ]; then
	say "cached: $TREE (key $key: linux-source $srcver, $(cat "$CACHE/$key/done"))"
	echo "$TREE"
	exit 0
fi

for tool in gcc make flex bison bc perl; do
	command -v $tool >/dev/null || missing="${missing:-} $tool"
done
mkdir -p "$CACHE"
pkgs=()
[ -z "${missing:-}" ] || pkgs+=(build-essential flex bison bc)
for h in libelf.h openssl/ssl.h; do
	[ -e /usr/include/$h ] || pkgs+=($([ $h = libelf.h ] && echo libelf-dev || echo libssl-dev))
done
if [ ${#pkgs[@]} -gt 0 ]; then
	say "installing ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >"$CACHE/apt.log" 2>&1 ||
		{ tail -n 20 "$CACHE/apt.log" >&2; die "apt-get install ${pkgs[*]} failed"; }
fi

t0=$(date +%s)
how=built
if [ -f "$CACHE/$key/configured" ] && [ -f "$TREE/.config" ]; then
	# an interrupted build of the same key: make goes on where it stopped
	say "resuming the build in $TREE"
	how="resumed and built"
	cd "$TREE"
else
	rm -rf "$CACHE/$key"
	mkdir -p "$CACHE/$key"
	say "extracting linux-source $srcver into $CACHE/$key"
	tar -C "$CACHE/$key" -xJf "$TARBALL"
	mv "$CACHE/$key/linux-source-6.12" "$TREE"
	cd "$TREE"
	say "configuring: vng --kconfig + ${FRAG#$ROOT/}"
	# then the fragment merged once more: vng applies its own generic options
	# last (its CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y would win)
	{
		vng --kconfig --config "$FRAG" &&
			scripts/kconfig/merge_config.sh -m .config "$FRAG" &&
			make olddefconfig
	} >"$CACHE/$key/config.log" 2>&1 || { tail -n 20 "$CACHE/$key/config.log" >&2; die "configuration failed"; }
	# every option the fragment sets must have survived the dependency resolution
	bad=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n) opt=${line%%=*}; grep -q "^$opt=" .config && bad+=("$opt should be off") ;;
		CONFIG_*=*) grep -qx "$line" .config || bad+=("$line (got: $(grep "^${line%%=*}=" .config || echo unset))") ;;
		esac
	done < <(grep -E '^CONFIG_' "$FRAG")
	[ ${#bad[@]} -eq 0 ] || { printf '  %s\n' "${bad[@]}" >&2; die "the config lost options of ${FRAG#$ROOT/}"; }
	touch "$CACHE/$key/configured"
fi
say "building with $JOBS jobs (log: $CACHE/$key/build.log)"
if ! make -j"$JOBS" bzImage modules >>"$CACHE/$key/build.log" 2>&1; then
	tail -n 30 "$CACHE/$key/build.log" >&2
	die "kernel build failed"
fi
secs=$(($(date +%s) - t0))
echo "$how in ${secs}s with $JOBS jobs on $(date -u +%F), $(make -s kernelrelease)" >"$CACHE/$key/done"
say "$how in ${secs}s: $TREE ($(make -s kernelrelease))"
echo "$TREE"
