#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check the protocol spec kmod/nlpush.yaml and the code generated from it.

    Tests/check-spec.py [-v]

1. the spec carries the license ynl-gen-c.py requires;
2. it validates (jsonschema) against the kernel's schema of its protocol
   level, Documentation/netlink/<protocol>.yaml of linux-source-6.12
   (scripts/ynl.sh makes it available);
3. scripts/gen.sh --check: the committed kmod/include/uapi/linux/nlpush.h,
   kmod/nlpush-nl.h and kmod/nlpush-nl.c are exactly what the generator
   makes of the spec today (the diff is printed otherwise);
4. the generated UAPI header still has the C names and values the Swift
   package, the selftest and bench/c use (compiled with static asserts).

Prints one "ok N - ..." / "not ok N - ..." line per check, diagnostics as
"# ..." lines, and "N passed, N failed" last. Exits 1 on any failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "kmod", "nlpush.yaml")
HEADER_DIR = os.path.join(ROOT, "kmod", "include", "uapi")
LICENSE = "((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)"

# what users of the header rely on (Sources/CNetlink/shim.h, kmod/selftest,
# bench/c): a renamed or renumbered item is a protocol break, not a refactor.
# The enums are numbered from 0 in the order listed here, and end in _MAX.
UAPI_ENUMS = [
    ("nlpush_cmd", "NLPUSH_CMD_",
     "UNSPEC EVENT ACK SUBSCRIBE UNSUBSCRIBE GET_STATS GET_SUBSCRIBERS REPLAY "
     "EMIT REPLY"),
    ("nlpush_attr", "NLPUSH_A_",
     "UNSPEC PAD SEQ TIMESTAMP_NS TYPE FLAGS PAYLOAD STATUS NAME COUNT PORTID "
     "STATS SUBSCRIBER TIMEOUT_MS EPOCH ERROR"),
    ("nlpush_stats_attr", "NLPUSH_STATS_A_",
     "UNSPEC PAD PUBLISHED DELIVERED NO_LISTENERS DELIVERY_ERRORS "
     "PUBLISH_FAILURES ACKS ACKS_REJECTED REQUESTS REPLIES REQUEST_TIMEOUTS "
     "REQUESTS_PENDING SUBSCRIBERS OLDEST_SEQ NEXT_SEQ RING_EVENTS RING_BYTES "
     "RING_MAX_EVENTS RING_MAX_BYTES REPLAYED RESPONDERS TXQ_DROPS "
     "REQUESTS_FAILED REPLIES_UNDELIVERED"),
    ("nlpush_subscriber_attr", "NLPUSH_SUBSCRIBER_A_",
     "UNSPEC PAD PORTID NAME PID ACKS LAST_ACKED_SEQ REPLIES SUBSCRIBED_NS "
     "FLAGS"),
]


def enum_asserts(enum, prefix, names):
    """S(...) lines: the enum type exists, each member has its index, and
    PREFIX_MAX is the last one."""
    names = names.split()
    out = [f"S((enum {enum}){prefix}{names[0]} == 0);"]
    out += [f"S({prefix}{name} == {i});" for i, name in enumerate(names) if i]
    out.append(f"S({prefix}MAX == {len(names) - 1});")
    return "\n".join(out)


UAPI_ASSERTS = """
#include <linux/nlpush.h>
#define S(x) _Static_assert(x, #x)
static const char fam[] = NLPUSH_FAMILY_NAME, grp[] = NLPUSH_MCGRP_EVENTS;
S(sizeof(fam) == sizeof("nlpush") && sizeof(grp) == sizeof("events"));
S(NLPUSH_FAMILY_VERSION == 2);
S(NLPUSH_PAYLOAD_MAX == 61440); S(NLPUSH_NAME_MAX == 32);
S(NLPUSH_EMIT_COUNT_MAX == 1000000); S(NLPUSH_TIMEOUT_MS_MAX == 60000);
S((enum nlpush_event_flags)NLPUSH_F_REPLY_WANTED == 1);
S(NLPUSH_F_REPLAYED == 2); S(NLPUSH_F_RESPONDER == 4);
""" + "\n".join(enum_asserts(*e) for e in UAPI_ENUMS) + "\n"

results = {"pass": 0, "fail": 0}


def report(ok, name, detail=""):
    n = results["pass"] + results["fail"] + 1
    results["pass" if ok else "fail"] += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {name}")
    if detail and (not ok or verbose):
        for line in detail.rstrip().splitlines():
            print(f"# {line}")
    return ok


def ynl_dir():
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "ynl.sh"), "path"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return r.stdout.strip().splitlines()[-1], r.stderr


def main():
    global verbose
    verbose = "-v" in sys.argv[1:]

    # 1. license
    with open(SPEC) as f:
        first = f.readline().strip()
    report(first == f"# SPDX-License-Identifier: {LICENSE}",
           "spec carries the license ynl-gen-c.py requires", first)

    # 2. schema
    ydir, err = ynl_dir()
    if not report(ydir is not None, "scripts/ynl.sh provides the YNL tools", err or ""):
        ydir = None
    try:
        import jsonschema
        import yaml
    except ImportError as e:
        report(False, "python3 has yaml and jsonschema", str(e))
        jsonschema = None
    if ydir and jsonschema:
        with open(SPEC) as f:
            spec = yaml.safe_load(f)
        proto = spec.get("protocol", "genetlink")
        schema_path = os.path.join(ydir, "Documentation", "netlink", f"{proto}.yaml")
        with open(schema_path) as f:
            schema = yaml.safe_load(f)
        errs = sorted(jsonschema.Draft7Validator(schema).iter_errors(spec),
                      key=lambda e: list(e.path))
        detail = "\n".join(f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}"
                           for e in errs)
        report(not errs, f"spec validates against Documentation/netlink/{proto}.yaml",
               detail)

    # 3. regenerate and diff
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gen.sh"), "--check"],
                       capture_output=True, text=True)
    out = (r.stdout + r.stderr).splitlines()
    detail = "\n".join(out[:200] + (["... (diff truncated)"] if len(out) > 200 else []))
    report(r.returncode == 0,
           "scripts/gen.sh --check: generated files match kmod/nlpush.yaml", detail)

    # 4. names and values of the UAPI header
    cc = shutil.which("cc") or shutil.which("gcc")
    if not report(cc is not None, "a C compiler for the UAPI header check"):
        cc = None
    if cc:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "uapi.c")
            with open(src, "w") as f:
                f.write(UAPI_ASSERTS)
            r = subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-fsyntax-only",
                                "-I", HEADER_DIR, src], capture_output=True, text=True)
        report(r.returncode == 0,
               "linux/nlpush.h keeps every C name and value its users rely on",
               r.stderr)

    print(f"{results['pass']} passed, {results['fail']} failed")
    return 1 if results["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
