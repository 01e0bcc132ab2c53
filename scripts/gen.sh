#!/usr/bin/env bash
# Generate the protocol's C code from kmod/nlpush.yaml with the kernel's YNL
# generator (tools/net/ynl/ynl-gen-c.py of linux-source-6.12, made available by
# scripts/ynl.sh; run through scripts/ynl-gen-c.py, which adds one policy
# rendering the 6.12 generator lacks):
#   kmod/include/uapi/linux/nlpush.h   --mode uapi   --header
#   kmod/nlpush-nl.h                   --mode kernel --header
#   kmod/nlpush-nl.c                   --mode kernel --source
# The generator also validates the spec against
# Documentation/netlink/genetlink-legacy.yaml (jsonschema) and fails if it
# does not.
#   scripts/gen.sh            regenerate the committed files (only those that changed)
#   scripts/gen.sh --check    regenerate into a temporary directory and diff
#                             against the committed files: exit 1 and print the
#                             diff when they drifted
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

check=0
case "${1:-}" in
"") ;;
--check) check=1 ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

ynl=$(bash scripts/ynl.sh path)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ynl-gen-c.py reads the schema from <spec dir>/../<protocol>.yaml and walks
# up from the spec to a directory holding MAINTAINERS (the kernel tree) to
# name the spec in its banner: give it a tree where the spec is kmod/nlpush.yaml.
mkdir -p "$tmp/tree/kmod" "$tmp/out"
: >"$tmp/tree/MAINTAINERS"
cp "$ynl"/Documentation/netlink/*.yaml "$tmp/tree/"
cp kmod/nlpush.yaml "$tmp/tree/kmod/nlpush.yaml"

files=(include/uapi/linux/nlpush.h nlpush-nl.h nlpush-nl.c)
modes=("--mode uapi --header" "--mode kernel --header" "--mode kernel --source")
for i in "${!files[@]}"; do
	f=${files[$i]}
	mkdir -p "$tmp/out/$(dirname "$f")"
	# shellcheck disable=SC2086 # modes[i] is several words on purpose
	(cd "$tmp/tree" && python3 "$ROOT/scripts/ynl-gen-c.py" "$ynl/tools/net/ynl" \
		${modes[$i]} --spec "$tmp/tree/kmod/nlpush.yaml" -o "$tmp/out/$f") 2>"$tmp/err" || {
		# the exception, not its traceback nor jsonschema's dump of the schema
		grep -E '^[A-Za-z_.]*(Error|Exception): ' "$tmp/err" | tail -n 1 >&2 ||
			tail -n 5 "$tmp/err" >&2
		echo "gen: ynl-gen-c.py ${modes[$i]} failed on kmod/nlpush.yaml" >&2
		exit 1
	}
	cat "$tmp/err" >&2
done

rc=0
for f in "${files[@]}"; do
	if [ "$check" = 1 ]; then
		diff -u --label "kmod/$f (committed)" --label "kmod/$f (generated)" \
			"kmod/$f" "$tmp/out/$f" 2>&1 || rc=1
	elif ! cmp -s "$tmp/out/$f" "kmod/$f"; then
		cp "$tmp/out/$f" "kmod/$f"
		echo "gen: wrote kmod/$f"
	fi
done
if [ "$check" = 1 ] && [ "$rc" -ne 0 ]; then
	echo "gen: the committed files differ from kmod/nlpush.yaml's; run scripts/gen.sh" >&2
fi
exit $rc
