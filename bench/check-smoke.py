#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks what `scripts/bench.sh --smoke` produced: every part of the benchmark
suite ran and measured something sane. No timing thresholds (benchmarks are not
tests): only that each measurement exists, received what was sent and that the
decoders agree.

    bench/check-smoke.py DIR        (DIR: build/bench-smoke)

Prints one line per check and "bench smoke: N passed, N failed"; exits 1 on
any failure.
"""
import json
import os
import sys

RES = sys.argv[1] if len(sys.argv) > 1 else "build/bench-smoke"
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}")


try:
    with open(os.path.join(RES, "results.json")) as f:
        r = json.load(f)
except (OSError, ValueError) as e:
    r = None
    check("results.json readable", False, str(e))

if r is not None:
    check("results.json marks a smoke run", r.get("smoke") is True)
    check("no errors recorded", not r.get("errors"), "; ".join(map(str, r.get("errors", [])))[:300])
    check("the VM run completed", bool(r.get("vm", {}).get("seconds")))

    tp = r.get("throughput", [])
    for consumer in ("c_raw", "c_libnl", "swift", "c_raw_ack", "swift_ack", "c_raw_ack_batch", "swift_ack_batch"):
        cells = [c for c in tp if c["consumer"] == consumer]
        ok = cells and all(c["median"]["events_per_s"] > 0 and c["median"]["lost"] == 0 for c in cells)
        check(f"throughput: {consumer} received every event ({len(cells)} cells)", bool(ok),
              json.dumps([c["median"] for c in cells])[:300])
    check("throughput: Swift/C ratios computed", bool(r.get("throughput_ratios")))
    check("acks: acknowledged/unacknowledged ratios computed", bool(r.get("ack_ratios")))
    bc = r.get("burst", {}).get("cells", [])
    check("burst: C raw and Swift received every event at every length",
          bool(bc) and {c["consumer"] for c in bc} >= {"c_raw", "swift"}
          and all(c["median"] and c["median"]["lost"] == 0 for c in bc), json.dumps(bc)[:300])
    for consumer in ("c_raw_ack", "swift_ack", "c_raw_ack_batch", "swift_ack_batch"):
        ms = [c["median"] for c in tp if c["consumer"] == consumer and c["median"]]
        ok = ms and all(m["acks"] == m["expected"] > 0 and m["ack_errors"] == 0 for m in ms)
        check(f"acks: {consumer} acknowledged every event", bool(ok),
              json.dumps([{k: m[k] for k in ("acks", "ack_errors", "expected")} for m in ms])[:300])

    # the yardstick: skipped only where the BPF toolchain is not installed
    # (scripts/bench.sh then says so); a toolchain that fails is an error
    rb = r.get("ringbuf") or {}
    if rb.get("skipped") and not rb.get("cells"):
        print(f"skip ringbuf: {rb['skipped']}")
    else:
        for consumer in ("bpf_ringbuf", "c_raw", "swift"):
            cells = [c for c in rb.get("cells", []) if c["consumer"] == consumer]
            ok = cells and all(c["median"] and c["median"]["events_per_s"] > 0
                               and c["median"]["lost"] == 0 for c in cells)
            check(f"ringbuf: {consumer} received every record ({len(cells)} sizes)", bool(ok),
                  json.dumps([c["median"] for c in cells])[:300])

    # batched delivery on and off: both modes deliver every event
    bat = r.get("batching") or []
    for mode in ("on", "off"):
        cells = [b for b in bat if b["kind"] == "throughput" and b["mode"] == mode]
        ok = cells and all(b["result"] and b["result"]["events_per_s"] > 0 and b["result"]["lost"] == 0
                           and b["result"]["missing"] == 0 for b in cells)
        check(f"batching {mode}: the C listener received every event ({len(cells)} cells)", bool(ok),
              json.dumps([b["result"] for b in cells])[:300])
    check("batching: publish cost measured on and off",
          {b["mode"] for b in bat if b["kind"] == "publish" and b.get("ns_per_event")} == {"on", "off"})

    pub = r.get("publish_cost", [])
    check("publish cost: ns per nlpush_publish() with 0 listeners measured",
          any(p["listeners"] == 0 and p.get("ns_per_event", 0) > 0 for p in pub))
    check("publish cost: with listeners measured",
          any(p["listeners"] > 0 and p.get("ns_per_event", 0) > 0 for p in pub))

    req = r.get("requests", [])
    for responder in ("c_raw", "c_libnl", "swift_respond", "swift_exec"):
        rows = [x for x in req if x["responder"] == responder]
        ok = rows and all(x["answered"] == x["requests"] and x["latency_p50_ns"] > 0 for x in rows)
        check(f"requests: {responder} answered every request", bool(ok), json.dumps(rows)[:300])

    loss = r.get("loss", [])
    check("loss: runs recorded", len(loss) >= 3, f"{len(loss)} rows")
    for x in loss:
        res = x.get("result") or {}
        name = f"loss: {x['consumer']} rcvbuf {x['rcvbuf']} recovery {'on' if x['recovery'] else 'off'}"
        check(f"{name}: every event received or reported lost",
              res.get("missing") == 0 and res.get("received", 0) + res.get("lost", 0) >= x["count"],
              json.dumps(res)[:300])

    check("scaling: runs recorded", len(r.get("scaling", [])) >= 2)
    mem = r.get("memory") or {}
    check("memory: RSS sampled", mem.get("rss_end_kb", 0) > 0, json.dumps(mem)[:200])
    ring = r.get("ring", [])
    check("ring: fills recorded", bool(ring) and all(x.get("ring_events", 0) > 0 for x in ring))

    cg = (r.get("callgrind") or {}).get("results", [])
    progs = {x["program"] for x in cg if x.get("instructions_per_event", 0) > 0}
    check("callgrind: Swift and libnl decoders counted", {"swift", "c_libnl"} <= progs, str(progs))
    sums = {}
    for x in cg:
        sums.setdefault(x["size"], set()).add(x.get("checksum"))
    check("callgrind: Swift and C decode the same stream to the same checksum",
          bool(sums) and all(len(v) == 1 for v in sums.values()), str(sums))

    pb = [x.get("benchmark") or "" for x in (r.get("package_benchmark") or {}).get("results", [])]
    check("package-benchmark: decode benchmarks ran", any("Event(decoding:)" in b for b in pb), str(pb))
    check("package-benchmark: encode benchmarks ran", any("ack_encode" in b.replace(" ", "_") for b in pb), str(pb))

md = os.path.join(RES, "BENCHMARKS.md")
check("BENCHMARKS.md tables regenerated", os.path.exists(md) and "_not measured_" not in open(md).read())

print(f"bench smoke: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
