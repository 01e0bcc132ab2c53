#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside a virtme-ng VM (started by the DKMS step of scripts/test.sh),
# as root, with no nlpush module loaded:
#   Tests/vm/dkms-in-vm.sh KVER VERSION RESDIR
# The host has run `scripts/dkms.sh build KVER`: nlpush/VERSION is built for
# KVER, not installed, without the test module. The host's root is
# read-only here, so /var/lib/dkms and /lib/modules/KVER get an overlay on a
# tmpfs (thrown away with the VM); then what an administrator does:
# `dkms install`, `modprobe nlpush`. Checks that DKMS put nlpush.ko (and not
# nlpush_test.ko) under /lib/modules/KVER/updates/dkms, that modprobe loads
# that very file, that the genetlink family "nlpush" appears and goes away
# with `modprobe -r`, and that dmesg has no warning.
# Writes RESDIR/dkms-vm.log (TAP lines, "N passed, N failed"); exits
# non-zero on any failure.
set -u
KVER=${1:?usage: dkms-in-vm.sh KVER VERSION RESDIR}
VER=${2:?usage: dkms-in-vm.sh KVER VERSION RESDIR}
RESDIR=${3:?usage: dkms-in-vm.sh KVER VERSION RESDIR}
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
exec >"$RESDIR/dkms-vm.log" 2>&1

# "# at Ns": seconds since boot (/proc/uptime), for the step's time budget
stamp() { echo "# at $(cut -d' ' -f1 /proc/uptime)s: $*"; }
stamp "start, kernel $(uname -r), expected $KVER"
check "booted $KVER" [ "$(uname -r)" = "$KVER" ]
check "no nlpush module loaded at start" [ ! -d /sys/module/nlpush ]

# overlay DIR: DIR writable in the VM, on a tmpfs
overlay() {
	local d=$1 o
	o=$T/ovl$(echo "$d" | tr / _)
	mkdir -p "$o" &&
		mount -t tmpfs tmpfs "$o" &&
		mkdir -p "$o/upper" "$o/work" &&
		mount -t overlay overlay \
			-o "lowerdir=$d,upperdir=$o/upper,workdir=$o/work" "$d"
}
for d in /var/lib/dkms "/lib/modules/$KVER"; do
	if overlay "$d"; then ok "overlay on $d"; else bad "overlay on $d"; fi
done

stamp "dkms status"
st=$(dkms status "nlpush/$VER" -k "$KVER" 2>/dev/null)
echo "# dkms status: $st"
check "dkms status: built on the host" \
	grep -q "^nlpush/$VER, $KVER, [^:]*: built$" <<<"$st"

stamp "dkms install"
dkms install "nlpush/$VER" -k "$KVER" >"$T/install.log" 2>&1
rc=$?
sed 's/^/# /' "$T/install.log"
check "dkms install nlpush/$VER -k $KVER" [ "$rc" -eq 0 ]
stamp "dkms status"
st=$(dkms status "nlpush/$VER" -k "$KVER" 2>/dev/null)
echo "# dkms status: $st"
check "dkms status: installed" \
	grep -q "^nlpush/$VER, $KVER, [^:]*: installed$" <<<"$st"

ko=$(modinfo -k "$KVER" -n nlpush 2>&1)
echo "# modinfo -n nlpush: $ko"
check "nlpush.ko is DKMS's, under /lib/modules/$KVER/updates/dkms" \
	test -f "$ko" -a "${ko#/lib/modules/"$KVER"/updates/dkms/nlpush.ko}" != "$ko"
if modinfo -k "$KVER" -n nlpush_test >/dev/null 2>&1; then
	bad "nlpush_test.ko is not installed (opt-in)" "modinfo finds it"
else
	ok "nlpush_test.ko is not installed (opt-in)"
fi
check "no nlpush_test.ko file under /lib/modules/$KVER" \
	test -z "$(find "/lib/modules/$KVER" -name 'nlpush_test.ko*' -print -quit)"

# loaded registers the genetlink family "nlpush"
registered() { genl ctrl list 2>/dev/null | grep -q '^Name: nlpush$'; }
dmesg -C
stamp "modprobe"
out=$(modprobe -v nlpush 2>&1)
rc=$?
echo "# modprobe -v nlpush: $out"
check "modprobe nlpush" [ "$rc" -eq 0 ]
check "modprobe loaded the DKMS file $ko" \
	grep -qF "insmod $ko" <<<"$out"
check "/sys/module/nlpush exists" [ -d /sys/module/nlpush ]
if registered; then ok "genetlink family nlpush registered"; else bad "genetlink family nlpush registered"; fi
if modprobe nlpush_test 2>/dev/null; then
	bad "modprobe nlpush_test fails: not installed" "it loaded"
	modprobe -r nlpush_test
else
	ok "modprobe nlpush_test fails: not installed"
fi
check "modprobe -r nlpush" modprobe -r nlpush
check "/sys/module/nlpush is gone" [ ! -d /sys/module/nlpush ]
if registered; then bad "genetlink family nlpush unregistered"; else ok "genetlink family nlpush unregistered"; fi
# MODULE_ALIAS_GENL_FAMILY: looking the family up by name (what every
# nlpush command does first) loads the installed module
genl ctrl get name nlpush >/dev/null 2>&1
check "a family lookup by name autoloads nlpush" [ -d /sys/module/nlpush ]
check "modprobe -r nlpush (after the autoload)" modprobe -r nlpush
stamp "done"
if dmesg | grep -qE 'WARNING:|BUG:|Oops|Call Trace:'; then
	dmesg | sed 's/^/# /' | tail -n 30
	bad "dmesg has kernel warnings"
else
	ok "dmesg clean"
fi
umount "/lib/modules/$KVER" /var/lib/dkms "$T"/ovl* ||
	bad "umount the overlays"
finish
