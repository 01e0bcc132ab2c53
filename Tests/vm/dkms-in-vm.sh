#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside a virtme-ng VM (started by the DKMS step of scripts/test.sh),
# as root, with no nlpush module loaded:
#   Tests/vm/dkms-in-vm.sh KVER VERSION LAYER RESDIR
# On the host, `scripts/dkms.sh build KVER` built nlpush/VERSION, and
# `dkms install --installtree LAYER/lib/modules --no-depmod` installed it
# into LAYER, where `depmod -b LAYER` indexed it with KVER's own modules:
# a `dkms install` into the host's /lib/modules would be seen by every VM
# of that kernel, and its depmod takes two minutes under TCG. Here LAYER's
# /lib/modules/KVER (updates/dkms/ and the modules.* indexes) is stacked
# over the read-only /lib/modules/KVER with a read-only overlay, which makes
# the VM's module tree what `dkms install` makes the host's. Then what an
# administrator does next: `modprobe nlpush`. Checks that DKMS installed
# the file it built, nlpush.ko alone (nlpush_test.ko is opt-in), that
# modprobe loads that very file, that the genetlink family "nlpush"
# appears, goes away with `modprobe -r` and that looking it up by name,
# even unprivileged, loads the module again (its alias), and that dmesg
# has no warning.
# Writes RESDIR/dkms-vm.log (TAP lines, "N passed, N failed"); exits
# non-zero on any failure.
set -u
KVER=${1:?usage: dkms-in-vm.sh KVER VERSION LAYER RESDIR}
VER=${2:?usage: dkms-in-vm.sh KVER VERSION LAYER RESDIR}
LAYER=${3:?usage: dkms-in-vm.sh KVER VERSION LAYER RESDIR}
RESDIR=${4:?usage: dkms-in-vm.sh KVER VERSION LAYER RESDIR}
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
exec >"$RESDIR/dkms-vm.log" 2>&1

# "# at Ns": seconds since boot (/proc/uptime), for the step's time budget
stamp() { echo "# at $(cut -d' ' -f1 /proc/uptime)s: $*"; }
stamp "start, kernel $(uname -r), expected $KVER"
check "booted $KVER" [ "$(uname -r)" = "$KVER" ]
check "no nlpush module loaded at start" [ ! -d /sys/module/nlpush ]

mods=/lib/modules/$KVER
if mount -t overlay overlay -o "ro,lowerdir=$LAYER$mods:$mods" "$mods"; then
	ok "DKMS's install tree stacked over $mods"
else
	bad "DKMS's install tree stacked over $mods"
fi

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
	test -z "$(find "/lib/modules/$KVER/" -name 'nlpush_test.ko*' -print -quit)"
built=$(ls "/var/lib/dkms/nlpush/$VER/$KVER/$(uname -m)/module/"nlpush.ko* 2>/dev/null)
echo "# built by dkms: $built"
check "the installed nlpush.ko is the one DKMS built" cmp -s "$ko" "$built"

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
# nlpush command does first) loads the installed module, whoever looks
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
	genl ctrl get name nlpush >/dev/null 2>&1
check "a family lookup by name, as nobody, autoloads nlpush" [ -d /sys/module/nlpush ]
check "modprobe -r nlpush (after the autoload)" modprobe -r nlpush
stamp "done"
if dmesg | grep -qE 'WARNING:|BUG:|Oops|Call Trace:'; then
	dmesg | sed 's/^/# /' | tail -n 30
	bad "dmesg has kernel warnings"
else
	ok "dmesg clean"
fi
# the overlay stays: udevd's libkmod holds its indexes open, and the VM
# ends with this script
finish
