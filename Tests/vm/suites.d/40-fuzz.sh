#!/usr/bin/env bash
# Spec-driven fuzzer (Tests/fuzz/nlpush_fuzz.py) against the loaded modules:
# valid, boundary and malformed messages generated from kmod/nlpush.yaml, as
# root, as nobody and from a user + network namespace, with live publishing,
# requests, replays, fault injection when the kernel has it, and a reload of
# both modules between rounds; then a 1,000-event check burst and a clean
# rmmod (the modules are loaded again for the suites after this one).
#   bash Tests/vm/suites.d/40-fuzz.sh KVER KODIR RESDIR
# NLPUSH_FUZZ_SEED (default: time-based, always printed) reproduces a run;
# NLPUSH_FUZZ_MESSAGES (default 100000 per kernel; scripts/test.sh runs this
# suite on 6.1 and the debug kernel: 200,000 per run; about 415 messages/s
# on a loaded TCG guest) sets its size.
set -u
# ROOT, T, ok, bad, check, finish
# shellcheck source=Tests/vm/lib.sh
. "$(dirname "$0")/../lib.sh"
KODIR=${2:?usage: 40-fuzz.sh KVER KODIR RESDIR}

if ! python3 -c 'import yaml' 2>/dev/null; then
	bad "python3 with PyYAML"
	finish
fi
seed=${NLPUSH_FUZZ_SEED:-$(($(date +%s%N) / 1000 % 1000000007))}
messages=${NLPUSH_FUZZ_MESSAGES:-100000}
echo "# fuzz seed $seed, $messages messages (reproduce: NLPUSH_FUZZ_SEED=$seed)"
rm -rf "$T"
# the fuzzer prints its own TAP lines and "N passed, N failed, N skipped"
# it stops fuzzing 120 s before in-vm.sh's step limit, to run its final checks
exec python3 "$ROOT/Tests/fuzz/nlpush_fuzz.py" --seed "$seed" \
	--messages "$messages" --ko-dir "$KODIR" \
	--time-limit $((${NLPUSH_STEP_TIMEOUT:-480} - 120))
