#!/usr/bin/env bash
# Compiles every ```swift block of README.md, the DocC catalog
# (Sources/NetlinkPush/Docs.docc/*.md) and the DocC comments (`///`) of the
# sources as written, so that no example drifts from the API.
#
#   scripts/check-doc-examples.sh      prints "N passed, N failed"; exits non-zero on a failure
#
# Swift code blocks become files of the DocExamples test target
# (Tests/DocExamples/Generated/, rewritten on every run and removed afterwards),
# built with `swift build --target DocExamples` in the package's own build
# folder: only the examples compile, against the modules already built, in
# seconds and without the network. A block of statements becomes the body of an
# `async throws` function, a block of declarations is kept at file scope inside
# an enum (`@main` dropped); `import` lines go to the top of the file. What the
# examples take as given (`logger`, `channel`, `subscription`, `event`, ...) is
# declared, and only declared, in Tests/DocExamples/Context.swift.
#
# A block that starts with `// swift-tools-version` is a whole Package.swift;
# one that starts with `// Package.swift` holds `.package(...)`, `.target(...)`
# or `.product(...)` lines of one. Both are loaded by `swift package
# dump-package` in a scratch package under build/doc-examples/ (next to a link
# named `nlpush` to this repository, so `.package(path: "../nlpush")` resolves).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command -v swift >/dev/null 2>&1 || export PATH=$PATH:/opt/swift/usr/bin

gen=Tests/DocExamples/Generated
scratch=build/doc-examples
rm -rf "$gen" "$scratch"
mkdir -p "$gen" "$scratch"
ln -s "$root" "$scratch/nlpush"
trap 'rm -rf "$root/$gen"' EXIT

python3 - "$gen" "$scratch" README.md Sources/NetlinkPush/Docs.docc/*.md $(git ls-files 'Sources/*.swift') <<'PY' || exit 1
import os, re, sys

gen, scratch, docs = sys.argv[1], sys.argv[2], sys.argv[3:]
decl = re.compile(r"^(@main\b|(public |private |final )*(struct|class|enum|actor|extension|func|protocol)\b)")

def blocks(path):
    """(line number, lines) of every ```swift block."""
    lines = open(path).read().split("\n")
    if path.endswith(".swift"):
        # only the DocC comments: their text without `///`; None ends a block
        lines = [m.group(1) if (m := re.match(r"^\s*/// ?(.*)$", l)) else None for l in lines]
    i = 0
    while i < len(lines):
        if lines[i] is not None and lines[i].strip() == "```swift":
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i] is not None and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            # DocC and GitHub accept an indented fence: dedent to the fence's column
            indent = min((len(l) - len(l.lstrip()) for l in body if l.strip()), default=0)
            yield start, [l[indent:] for l in body]
        i += 1

def manifest_fragment(body, where):
    deps, targets, products = [], [], []
    for l in body:
        s = l.strip()
        if not s or s.startswith("//"):
            continue
        s = s.rstrip(",")
        s = re.sub(r",?\s*//.*$", "", s)  # a trailing comment
        if s.startswith(".package("):
            deps.append(s)
        elif re.match(r"\.(target|executableTarget|testTarget)\(", s):
            targets.append(s)
        elif s.startswith(".product("):
            products.append(s)
        else:
            sys.exit(f"{where}: not a .package/.target/.product line of a manifest: {s}")
    if not any("path:" in d or "nlpush" in d for d in deps):
        deps.append('.package(path: "../nlpush")')
    if products:
        targets.append('.target(name: "Example", dependencies: [%s])' % ", ".join(products))
    return (
        "// swift-tools-version:6.0\nimport PackageDescription\n\nlet package = Package(\n"
        '    name: "example",\n    dependencies: [\n%s\n    ],\n    targets: [\n%s\n    ]\n)\n'
        % ("".join(f"        {d},\n" for d in deps).rstrip("\n"), "".join(f"        {t},\n" for t in targets).rstrip("\n"))
    )

n_swift = n_manifest = 0
for doc in docs:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(doc))[0])
    if doc.endswith(".swift"):
        stem = "Source_" + stem
    for line, body in blocks(doc):
        where = f"{doc}:{line}"
        first = next((l.strip() for l in body if l.strip()), "")
        ident = f"{stem}_L{line}"
        if first.startswith("// swift-tools-version") or first == "// Package.swift":
            d = os.path.join(scratch, ident)
            os.makedirs(d)
            text = "\n".join(body) + "\n" if first.startswith("// swift-tools") else manifest_fragment(body, where)
            open(os.path.join(d, "Package.swift"), "w").write(text)
            open(os.path.join(d, "WHERE"), "w").write(where + "\n")
            n_manifest += 1
            continue
        imports = [l for l in body if re.match(r"^(@preconcurrency )?import \w+", l)]
        code = [l for l in body if l not in imports]
        out = [f"// {where} (generated by scripts/check-doc-examples.sh: edit the document, not this file)"]
        out += imports + ["import Foundation", "import Logging", "import NetlinkPush", "import NetlinkPushServiceLifecycle", "import NetlinkPushTesting", "import ServiceLifecycle", ""]
        if any(decl.match(l) for l in code):
            if any(l.startswith("extension ") for l in code):
                out += [re.sub(r"^@main\b", "// @main", l) for l in code]
            else:
                out += [f"enum Example_{ident} {{"]
                out += ["    " + re.sub(r"^@main\b", "// @main", l) if l else "" for l in code]
                out += ["}"]
        else:
            out += [f"func example_{ident}() async throws {{"]
            out += ["    " + l if l else "" for l in code]
            out += ["}"]
        open(os.path.join(gen, f"{ident}.swift"), "w").write("\n".join(out) + "\n")
        n_swift += 1
open(os.path.join(scratch, "swift-blocks"), "w").write(f"{n_swift}\n")
print(f"doc examples: {n_swift} Swift blocks, {n_manifest} manifest blocks")
PY

passed=0
failed=0
for d in "$scratch"/*/; do
	[ -f "$d/WHERE" ] || continue # not the link to this repository
	if swift package --package-path "$d" dump-package >"$d/dump.log" 2>&1; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAILED: the manifest block at $(cat "$d/WHERE")"
		tail -n 20 "$d/dump.log"
	fi
done

if swift build --target DocExamples >"$scratch/build.log" 2>&1; then
	passed=$((passed + $(cat "$scratch/swift-blocks")))
else
	# one failure per example file with an error
	bad=$(grep -o "$gen/[A-Za-z0-9_]*\.swift:[0-9]*:[0-9]*: error" "$scratch/build.log" | cut -d: -f1 | sort -u)
	nbad=$(printf '%s\n' "$bad" | grep -c . || true)
	[ "$nbad" -gt 0 ] || nbad=1
	failed=$((failed + nbad))
	passed=$((passed + $(cat "$scratch/swift-blocks") - nbad))
	grep -E "^[^ ].*: error:" "$scratch/build.log" | sed "s|$root/||" | sort -u | head -n 40
	for f in $bad; do
		echo "FAILED: $(head -n 1 "$f" | sed 's|^// \([^ ]*\).*|\1|')"
	done
fi
echo "doc-examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
