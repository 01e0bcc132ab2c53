#!/usr/bin/env bash
# Repository layout rules that no compiler checks (TAP-style output):
#   - no two tracked paths differ only in case (a clone on a case-insensitive
#     file system would merge them: Tests/ and tests/, Benchmarks/ and bench/);
#   - build products and resolved dependency versions stay out of git;
#   - only the benchmark results BENCHMARKS.md cites (or bench/report.py
#     rebuilds its tables from) are committed;
#   - every Swift file of the library sits in a folder named for its concept.
#   Tests/check-layout.sh
set -u
cd "$(dirname "$0")/.." || exit 1
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $1"; }
bad() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $1"; shift; printf '#   %s\n' "$@"; }

files=$(git ls-files)
# every path and every directory prefix, lower-cased, must stay unique
collide=$(printf '%s\n' "$files" | awk -F/ '{
	p = ""
	for (i = 1; i <= NF; i++) { p = (i == 1 ? $i : p "/" $i); print p }
}' | sort -u | awk '{ k = tolower($0); if (k in seen && seen[k] != $0) print seen[k] " <> " $0; seen[k] = $0 }')
if [ -z "$collide" ]; then ok "no two tracked paths differ only in case"
else mapfile -t c <<<"$collide"; bad "paths that differ only in case" "${c[@]}"; fi

tracked=$(printf '%s\n' "$files" | grep -E '(^|/)(\.build|build)/|(^|/)Package\.resolved$|\.ko$|\.o$' || true)
if [ -z "$tracked" ]; then ok "no build products or Package.resolved in git"
else mapfile -t c <<<"$tracked"; bad "build products in git" "${c[@]}"; fi

uncited=()
while read -r f; do
	[ -n "$f" ] || continue
	name=${f#bench/results/}
	grep -qF "$f" BENCHMARKS.md && continue
	grep -qF "\"$(basename "$f")\"" bench/report.py && continue
	uncited+=("$f")
done < <(printf '%s\n' "$files" | grep '^bench/results/')
if [ ${#uncited[@]} -eq 0 ]; then ok "every committed benchmark result is cited by BENCHMARKS.md or read by bench/report.py"
else bad "benchmark results nobody cites" "${uncited[@]}"; fi

loose=$(printf '%s\n' "$files" | grep -E '^Sources/NetlinkPush/[^/]+\.swift$' || true)
if [ -z "$loose" ]; then ok "every Swift file of the library sits in a concept folder (Channel/, Subscription/, Reader/, Wire/, Model/, Internals/)"
else mapfile -t c <<<"$loose"; bad "library files outside a concept folder" "${c[@]}"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
