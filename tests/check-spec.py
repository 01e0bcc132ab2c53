#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fail when kmod/nlpush.yaml (YNL spec) and the UAPI header drift apart.

    tests/check-spec.py [--header H] [--spec Y] [--source C] [-v]

Header side: #defines, and every enum with its values (explicit, "1 << n",
or implicit) and the attribute type written in each entry's comment
("/* u64 */", "/* nest, enum nlpush_stats_attr */", ...).

Checked against the spec: family name/version/multicast group, every const,
every flag bit, every command name -> value, every attribute set name ->
value and type (and nest / enum targets). When the module source exists,
its genl_ops table is also checked against the spec's operations: each op
exists, admin-perm flags, do/dump handlers, and per-op policy attributes.

Prints one "ok"/"not ok" line per check and "N passed, N failed".
"""
import argparse
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("check-spec: PyYAML missing (apt-get install python3-yaml)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

results = {"pass": 0, "fail": 0, "skip": 0}
verbose = False


def check(ok, name, detail=""):
    if ok:
        results["pass"] += 1
        if verbose:
            print(f"ok - {name}")
    else:
        results["fail"] += 1
        print(f"not ok - {name}" + (f": {detail}" if detail else ""))
    return ok


def skip(name, why):
    results["skip"] += 1
    print(f"skip - {name}: {why}")


def cname(s):
    """YNL name -> C identifier part: 'timeout-ms' -> 'TIMEOUT_MS'."""
    return s.upper().replace("-", "_")


# --------------------------------------------------------------------------
# header parsing

def strip_block_comments_keep_lines(text):
    return re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"),
                  text, flags=re.S)


def eval_c_int(expr, known):
    expr = expr.strip()
    expr = re.sub(r"\b(\d+)[uUlL]+\b", r"\1", expr)
    if not re.fullmatch(r"[\w\s()+\-*<>|&~]+", expr):
        raise ValueError(f"cannot evaluate {expr!r}")

    def ident(m):
        name = m.group(0)
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", name):
            return name
        if name in known:
            return str(known[name])
        raise ValueError(f"unknown identifier {name!r} in {expr!r}")

    return int(eval(re.sub(r"\b\w+\b", ident, expr), {"__builtins__": {}}))


def parse_header(path):
    text = open(path).read()
    defines = {}
    for m in re.finditer(r"^#define[ \t]+(\w+)[ \t]+(.+?)[ \t]*(?:/\*.*)?$", text,
                         re.M):
        name, val = m.group(1), m.group(2).strip()
        if name.startswith("_"):
            continue
        if val.startswith('"'):
            defines[name] = val.strip('"')
        else:
            try:
                defines[name] = eval_c_int(val, defines)
            except ValueError:
                defines[name] = val

    enums = {}
    known = {k: v for k, v in defines.items() if isinstance(v, int)}
    for m in re.finditer(r"enum\s+(\w+)\s*\{(.*?)\};", text, re.S):
        ename, body = m.group(1), m.group(2)
        entries = []
        nxt = 0
        pending_doc = None
        for line in body.split("\n"):
            s = line.strip()
            if not s:
                continue
            cm = re.search(r"/\*\s*(.*?)\s*\*/", s)
            comment = cm.group(1) if cm else None
            code = re.sub(r"/\*.*?\*/", "", s).strip()
            if s.startswith("/*") and not code:
                pending_doc = comment
                continue
            em = re.match(r"(\w+)\s*(?:=\s*([^,]+))?,?$", code)
            if not em:
                continue
            name, val = em.group(1), em.group(2)
            value = eval_c_int(val, known) if val else nxt
            known[name] = value
            nxt = value + 1
            entries.append({"name": name, "value": value,
                            "comment": comment, "doc": pending_doc})
            pending_doc = None
        enums[ename] = entries
    return defines, enums


def type_from_comment(entry):
    """Attribute type from the entry's comment, 'pad' for *_PAD."""
    c = entry["comment"]
    if c is None:
        return "pad" if entry["name"].endswith("_PAD") else None
    first = c.split(",")[0].strip()
    if re.search(r"\bstring\b", first):
        return "string"
    word = first.split()[0]
    return word if word in ("u8", "u16", "u32", "u64", "s8", "s16", "s32",
                            "s64", "binary", "nest", "flag", "pad") else None


def enum_ref_from_comment(entry):
    c = entry["comment"] or ""
    m = re.search(r"\benum\s+(\w+)", c)
    return m.group(1) if m else None


def real_entries(entries, prefix):
    """Skip UNSPEC, __MAX and MAX entries."""
    out = []
    for e in entries:
        n = e["name"]
        if n.startswith("__") or n == prefix + "MAX" or \
           n == prefix + "UNSPEC":
            continue
        out.append(e)
    return out


# --------------------------------------------------------------------------
# spec side

def spec_attr_values(aset):
    out = []
    nxt = 1
    for a in aset["attributes"]:
        v = a.get("value", nxt)
        nxt = v + 1
        out.append((a["name"], v, a))
    return out


def spec_op_values(spec):
    out = []
    nxt = 1
    for o in spec["operations"]["list"]:
        v = o.get("value", nxt)
        nxt = v + 1
        out.append((o["name"], v, o))
    return out


def spec_const(spec, name):
    for d in spec.get("definitions", []):
        if d.get("type") == "const" and d["name"] == name:
            return d["value"]
    return None


# --------------------------------------------------------------------------
# module source (optional)

def parse_module(path, defines, enums):
    """genl_ops table and per-op policies of the module, or None."""
    text = strip_block_comments_keep_lines(open(path).read())
    consts = {k: v for k, v in defines.items() if isinstance(v, int)}
    for entries in enums.values():
        for e in entries:
            consts[e["name"]] = e["value"]

    policies = {}
    for m in re.finditer(r"nla_policy\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{(.*?)\n\};",
                         text, re.S):
        attrs = {}
        for pm in re.finditer(r"\[\s*(\w+)\s*\]\s*=\s*(.*?)(?=,\s*\n\s*\[|,?\s*$)",
                              m.group(2), re.S):
            attrs[pm.group(1)] = pm.group(2)
        policies[m.group(1)] = attrs

    tm = re.search(r"genl_ops\s+\w+\s*\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    if not tm:
        return None
    ops = {}
    for om in re.finditer(r"\{(.*?)\}", tm.group(1), re.S):
        body = om.group(1)
        fields = dict(re.findall(r"\.(\w+)\s*=\s*([^,]+),", body + ","))
        if "cmd" not in fields:
            continue
        ops[fields["cmd"].strip()] = {k: v.strip() for k, v in
                                      fields.items()}
    return {"ops": ops, "policies": policies}


# --------------------------------------------------------------------------

def main():
    global verbose
    ap = argparse.ArgumentParser()
    ap.add_argument("--header", default=os.path.join(
        ROOT, "kmod/include/uapi/linux/nlpush.h"))
    ap.add_argument("--spec", default=os.path.join(ROOT, "kmod/nlpush.yaml"))
    ap.add_argument("--source", default=os.path.join(ROOT, "kmod/nlpush.c"))
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    verbose = args.verbose

    defines, enums = parse_header(args.header)
    spec = yaml.safe_load(open(args.spec))
    fam = spec["name"]
    FAM = cname(fam)

    # family, version, group
    check(spec.get("protocol") == "genetlink", "spec protocol is genetlink",
          str(spec.get("protocol")))
    check(defines.get(f"{FAM}_FAMILY_NAME") == fam, "family name",
          f"header {defines.get(f'{FAM}_FAMILY_NAME')!r} vs spec {fam!r}")
    check(defines.get(f"{FAM}_FAMILY_VERSION") == spec.get("version"),
          "family version",
          f"header {defines.get(f'{FAM}_FAMILY_VERSION')} vs spec "
          f"{spec.get('version')}")
    check(spec.get("uapi-header") == f"linux/{fam}.h", "uapi-header",
          str(spec.get("uapi-header")))
    groups = [g["name"] for g in spec.get("mcast-groups", {}).get("list", [])]
    hgroups = {k: v for k, v in defines.items()
               if k.startswith(f"{FAM}_MCGRP_")}
    check(sorted(groups) == sorted(hgroups.values()),
          "multicast groups", f"header {sorted(hgroups.values())} vs spec "
          f"{sorted(groups)}")
    for g in groups:
        check(hgroups.get(f"{FAM}_MCGRP_{cname(g)}") == g,
              f"group {g} macro", f"{FAM}_MCGRP_{cname(g)}")

    # consts: both directions
    consts = [d for d in spec.get("definitions", []) if d["type"] == "const"]
    for d in consts:
        macro = f"{FAM}_{cname(d['name'])}"
        check(defines.get(macro) == d["value"], f"const {d['name']}",
              f"header {macro}={defines.get(macro)!r} vs spec {d['value']}")
    spec_macros = {f"{FAM}_{cname(d['name'])}" for d in consts}
    for k, v in defines.items():
        if isinstance(v, int) and k not in spec_macros and \
           k != f"{FAM}_FAMILY_VERSION":
            check(False, f"header #define {k}", "not a const of the spec")

    # enums and flags of the spec
    for d in spec.get("definitions", []):
        if d["type"] not in ("enum", "flags"):
            continue
        ename = d.get("enum-name", f"{fam}_{d['name']}".replace("-", "_"))
        entries = enums.get(ename)
        if not check(entries is not None, f"{d['type']} {d['name']} is "
                     f"enum {ename}", "missing in the header"):
            continue
        prefix = d.get("name-prefix", f"{fam}-{d['name']}-")
        prefix = cname(prefix)
        if d["type"] == "flags" and "name-prefix" not in d:
            prefix = f"{FAM}_F_"
        hvals = {e["name"]: e["value"] for e in entries
                 if not e["name"].startswith("__")}
        start = d.get("value-start", 0)
        names = set()
        for i, ent in enumerate(d["entries"]):
            en = ent if isinstance(ent, str) else ent["name"]
            val = (1 << (i + start)) if d["type"] == "flags" else i + start
            if isinstance(ent, dict) and "value" in ent:
                val = ent["value"] if d["type"] == "enum" else \
                    1 << ent["value"]
            macro = prefix + cname(en)
            names.add(macro)
            check(hvals.get(macro) == val, f"{d['type']} {d['name']}.{en}",
                  f"header {macro}={hvals.get(macro)} vs spec {val}")
        for n in hvals:
            if n not in names:
                check(False, f"enum {ename} entry {n}", "not in the spec")

    # commands
    cmd_enum = enums.get(f"{fam}_cmd")
    if check(cmd_enum is not None, f"enum {fam}_cmd exists"):
        cp = f"{FAM}_CMD_"
        hcmds = {e["name"]: e["value"]
                 for e in real_entries(cmd_enum, cp)}
        sops = spec_op_values(spec)
        for name, val, _ in sops:
            macro = cp + cname(name)
            check(hcmds.get(macro) == val, f"command {name}",
                  f"header {macro}={hcmds.get(macro)} vs spec {val}")
        snames = {cp + cname(n) for n, _, _ in sops}
        for n in hcmds:
            if n not in snames:
                check(False, f"command {n}", "in the header, not the spec")
        maxe = [e for e in cmd_enum if e["name"] == cp + "MAX"]
        check(bool(maxe) and maxe[0]["value"] == max(hcmds.values()),
              f"{cp}MAX is the last command")

    # attribute sets
    set_enum = {}
    for aset in spec["attribute-sets"]:
        prefix = aset.get("name-prefix", f"{fam}-a-")
        P = cname(prefix)
        cand = [n for n, ents in enums.items()
                if any(e["name"].startswith(P) and
                       not e["name"][len(P):].startswith("_") and
                       e["name"] in (P + "UNSPEC", P + "MAX")
                       for e in ents)]
        if not check(len(cand) == 1, f"attribute set {aset['name']} has one "
                     f"enum with prefix {P}", f"found {cand}"):
            continue
        ename = cand[0]
        set_enum[aset["name"]] = ename
        hattrs = {e["name"]: e for e in real_entries(enums[ename], P)}
        seen = set()
        for name, val, a in spec_attr_values(aset):
            macro = P + cname(name)
            seen.add(macro)
            e = hattrs.get(macro)
            if not check(e is not None and e["value"] == val,
                         f"attr {aset['name']}.{name} value",
                         f"header {macro}={e['value'] if e else None} vs "
                         f"spec {val}"):
                continue
            htype = type_from_comment(e)
            check(htype == a["type"], f"attr {aset['name']}.{name} type",
                  f"header comment {e['comment']!r} -> {htype} vs spec "
                  f"{a['type']}")
        for n in hattrs:
            if n not in seen:
                check(False, f"attr {n}", f"in enum {ename}, not in spec "
                      f"set {aset['name']}")
        maxe = [e for e in enums[ename] if e["name"] == P + "MAX"]
        check(bool(maxe) and hattrs and
              maxe[0]["value"] == max(e["value"] for e in hattrs.values()),
              f"{P}MAX is the last attribute")

    # nest and enum references
    for aset in spec["attribute-sets"]:
        ename = set_enum.get(aset["name"])
        if not ename:
            continue
        P = cname(aset.get("name-prefix", f"{fam}-a-"))
        hattrs = {e["name"]: e for e in enums[ename]}
        for a in aset["attributes"]:
            e = hattrs.get(P + cname(a["name"]))
            if not e:
                continue
            if a["type"] == "nest":
                want = set_enum.get(a.get("nested-attributes"))
                got = enum_ref_from_comment(e)
                check(want is not None and got == want,
                      f"nest {aset['name']}.{a['name']} -> "
                      f"{a.get('nested-attributes')}",
                      f"header comment names {got}, spec set is enum {want}")
            if "enum" in a:
                want = f"{fam}_{a['enum']}".replace("-", "_")
                got = enum_ref_from_comment(e)
                check(got == want, f"attr {aset['name']}.{a['name']} enum",
                      f"header comment names {got}, spec {want}")
            chk = a.get("checks", {})
            for k in ("max-len", "max", "min"):
                v = chk.get(k)
                if isinstance(v, str):
                    check(spec_const(spec, v) is not None,
                          f"attr {a['name']} checks.{k} const {v} defined")

    # operations' attribute lists name existing attributes
    for name, _, o in spec_op_values(spec):
        aset = next((s for s in spec["attribute-sets"]
                     if s["name"] == o.get("attribute-set")), None)
        if not check(aset is not None, f"op {name} attribute-set exists"):
            continue
        anames = {a["name"] for a in aset["attributes"]}
        for mode in ("do", "dump", "event"):
            part = o.get(mode)
            if not part:
                continue
            lists = [part.get("attributes")] if mode == "event" else \
                [part.get(k, {}).get("attributes") for k in ("request",
                                                             "reply")]
            for lst in lists:
                for an in lst or []:
                    check(an in anames, f"op {name} {mode} attr {an} exists")

    # the module's genl_ops against the spec
    if not os.path.exists(args.source):
        skip("module ops vs spec", f"{args.source} not found")
    else:
        mod = parse_module(args.source, defines, enums)
        if not mod or not mod["ops"]:
            skip("module ops vs spec", "no genl_ops table found")
        else:
            check_module(spec, mod, fam)

    total = results["pass"] + results["fail"]
    line = f"{results['pass']} passed, {results['fail']} failed"
    if results["skip"]:
        line += f", {results['skip']} skipped"
    print(f"check-spec: {total} checks of {os.path.relpath(args.header, ROOT)}"
          f" vs {os.path.relpath(args.spec, ROOT)}")
    print(line)
    return 1 if results["fail"] else 0


def check_module(spec, mod, fam):
    FAM = cname(fam)
    ops = mod["ops"]
    pol = mod["policies"]
    for name, _, o in spec_op_values(spec):
        macro = f"{FAM}_CMD_{cname(name)}"
        if "event" in o and "do" not in o and "dump" not in o:
            check(macro not in ops, f"module: {name} is not an operation")
            continue
        op = ops.get(macro)
        if not check(op is not None, f"module: op {name} implemented"):
            continue
        admin = "admin-perm" in o.get("flags", [])
        check(("GENL_ADMIN_PERM" in op.get("flags", "")) == admin,
              f"module: op {name} admin-perm", f"flags {op.get('flags')}")
        check(("doit" in op) == ("do" in o), f"module: op {name} doit")
        check(("dumpit" in op) == ("dump" in o), f"module: op {name} dumpit")
        part = o.get("do") or o.get("dump") or {}
        want = sorted(f"{FAM}_A_{cname(a)}" for a in
                      (part.get("request", {}).get("attributes") or []))
        pname = op.get("policy")
        got = sorted(pol.get(pname, {}).keys()) if pname else []
        if pname and pname not in pol:
            skip(f"module: op {name} policy", f"{pname} not parsed")
            continue
        check(got == want, f"module: op {name} policy attributes",
              f"module {got} vs spec {want}")


if __name__ == "__main__":
    sys.exit(main())
