#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the raw benchmark records into results.json, the tables of
BENCHMARKS.md (between <!-- BEGIN name --> and <!-- END name --> markers;
everything else in the file is left alone) and scaling.png.

    bench/report.py --results DIR --markdown FILE [--kernel K] [--smoke] [--note TEXT]

DIR holds raw.jsonl (from the VM), callgrind.json and swift-benchmarks.json
(from the host); missing parts are reported as not measured.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--results", required=True)
ap.add_argument("--markdown", required=True)
ap.add_argument("--kernel", default="")
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--note", default="")
args = ap.parse_args()
RES = args.results


def load_jsonl(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def load_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


raw = load_jsonl(os.path.join(RES, "raw.jsonl"))
# keep the last VM run only (raw.jsonl is appended to)
starts = [i for i, r in enumerate(raw) if r["section"] == "meta"]
if starts:
    raw = raw[starts[-1]:]
callgrind = load_json(os.path.join(RES, "callgrind.json"))
pkgbench = load_json(os.path.join(RES, "swift-benchmarks.json"))


def sect(name):
    return [r for r in raw if r["section"] == name]


meta = (sect("meta") or [{}])[0]
meta_end = (sect("meta_end") or [{}])[0]


def fmt_int(v):
    return "–" if v is None else f"{int(round(v)):,}"


def fmt_us(ns):
    if ns is None:
        return "–"
    if ns >= 10_000_000:
        return f"{ns / 1e6:,.0f} ms"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e3:,.0f} µs"


def fmt_ratio(a, b):
    if not a or not b:
        return "–"
    return f"{a / b:.2f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


# ------------------------------------------------------------ throughput
CONS_NAMES = {"c_raw": "C raw", "c_libnl": "C libnl", "swift": "Swift", "swift_ack": "Swift + ack",
              "c_raw_ack": "C raw + ack", "swift_ack_batch": "Swift + batched ack",
              "c_raw_ack_batch": "C raw + batched ack"}


def median_cell(results):
    rs = [r for r in results if r]
    if not rs:
        return None
    eps = statistics.median(r["events_per_s"] for r in rs)
    lost = sum(r["lost"] + r.get("missing", 0) for r in rs)
    return {"events_per_s": eps, "lost": lost, "rounds": len(rs),
            "latency_p50_ns": statistics.median(r["latency_p50_ns"] for r in rs),
            "latency_p99_ns": max(r["latency_p99_ns"] for r in rs),
            "all_events_per_s": [r["events_per_s"] for r in rs],
            "acks": sum(r.get("acks", 0) for r in rs), "ack_errors": sum(r.get("ack_errors", 0) for r in rs),
            "expected": sum(r.get("expected", 0) for r in rs)}


thr = {}
for r in sect("throughput"):
    key = (r["size"], r["subscribers"], r["producer"], r["consumer"])
    thr.setdefault(key, {"count": r["count"], "results": []})["results"].append(r["result"])
thr_cells = []
for (size, subs, prod, cons), v in sorted(thr.items()):
    m = median_cell(v["results"])
    thr_cells.append({"size": size, "subscribers": subs, "producer": prod, "consumer": cons,
                      "count": v["count"], "median": m})


def cell(size, subs, prod, cons):
    for c in thr_cells:
        if (c["size"], c["subscribers"], c["producer"], c["consumer"]) == (size, subs, prod, cons):
            return c["median"]
    return None


def eps_str(m):
    if not m:
        return "–"
    s = fmt_int(m["events_per_s"])
    return s + (" ⚠" if m["lost"] else "")


def thr_groups():
    """(size, subscribers, producer, medians by consumer, events/s getter) of
    every throughput row that has a cell"""
    for size in sorted({c["size"] for c in thr_cells}):
        for subs in sorted({c["subscribers"] for c in thr_cells}):
            for prod in ("test", "emit"):
                ms = {k: cell(size, subs, prod, k) for k in CONS_NAMES}
                if any(ms.values()):
                    yield size, subs, prod, ms, (lambda k, ms=ms: ms[k]["events_per_s"] if ms[k] else None)


def over(a, b):
    return a / b if a and b else None


ratios = []
thr_rows = []
for size, subs, prod, ms, g in thr_groups():
    ratios.append({"size": size, "subscribers": subs, "producer": prod,
                   "swift_over_c_raw": over(g("swift"), g("c_raw")),
                   "swift_over_c_libnl": over(g("swift"), g("c_libnl")),
                   "swift_ack_over_c_raw_ack": over(g("swift_ack"), g("c_raw_ack"))})
    thr_rows.append([f"{size:,} B", subs, prod, eps_str(ms["c_raw"]), eps_str(ms["c_libnl"]),
                     eps_str(ms["swift"]), fmt_ratio(g("swift"), g("c_raw")),
                     fmt_ratio(g("swift"), g("c_libnl")), eps_str(ms["c_raw_ack"]),
                     eps_str(ms["swift_ack"]), fmt_ratio(g("swift_ack"), g("c_raw_ack"))])

# acknowledged / unacknowledged throughput of the same listener: one ACK per
# event ("each") and one ACK SEQ COUNT per batch read ("batched")
ack_rows = []
ack_ratios = []
for size, subs, prod, ms, g in thr_groups():
    if not (g("swift_ack_batch") or g("c_raw_ack_batch")):
        continue
    ack_ratios.append({"size": size, "subscribers": subs, "producer": prod,
                       "c_raw_ack_over_c_raw": over(g("c_raw_ack"), g("c_raw")),
                       "c_raw_ack_batch_over_c_raw": over(g("c_raw_ack_batch"), g("c_raw")),
                       "swift_ack_over_swift": over(g("swift_ack"), g("swift")),
                       "swift_ack_batch_over_swift": over(g("swift_ack_batch"), g("swift"))})
    ack_rows.append([f"{size:,} B", subs, prod,
                     eps_str(ms["c_raw"]), eps_str(ms["c_raw_ack"]), eps_str(ms["c_raw_ack_batch"]),
                     fmt_ratio(g("c_raw_ack"), g("c_raw")), fmt_ratio(g("c_raw_ack_batch"), g("c_raw")),
                     eps_str(ms["swift"]), eps_str(ms["swift_ack"]), eps_str(ms["swift_ack_batch"]),
                     fmt_ratio(g("swift_ack"), g("swift")), fmt_ratio(g("swift_ack_batch"), g("swift"))])

thr_lat_rows = []
for size in sorted({c["size"] for c in thr_cells}):
    for subs in sorted({c["subscribers"] for c in thr_cells}):
        ms = {k: cell(size, subs, "test", k) for k in ("c_raw", "c_libnl", "swift")}
        if not any(ms.values()):
            continue
        thr_lat_rows.append([f"{size:,} B", subs] + [
            f"{fmt_us(ms[k]['latency_p50_ns'])} / {fmt_us(ms[k]['latency_p99_ns'])}" if ms[k] else "–"
            for k in ("c_raw", "c_libnl", "swift")])

# ------------------------------------------------------------ the yardstick
# section "ringbuf": the BPF ring buffer and nlpush's C raw and Swift
# listeners (producer test, 1 subscriber) at the same sizes and counts, in
# interleaved rounds
RB_CONSUMERS = ("bpf_ringbuf", "c_raw", "swift")
rb = {}
for r in sect("ringbuf"):
    rb.setdefault((r["size"], r["consumer"]), {"count": r["count"], "results": []})["results"].append(r["result"])
rb_cells = []
for (size, cons), v in sorted(rb.items()):
    m = median_cell(v["results"])
    # the producer's time per record: ringbuf_bench's getpgid() loop, or
    # the write() of nlpush_test's debugfs emit (nlpush_benchctl test-emit)
    pns = [x["produce_ns"] / v["count"] for x in v["results"] if x and x.get("produce_ns")]
    if m and pns:
        m["produce_ns_per_record"] = statistics.median(pns)
    rb_cells.append({"size": size, "consumer": cons, "count": v["count"], "median": m})
rb_skipped = (sect("ringbuf_skipped") or [{}])[0].get("reason")
rb_rows = []
for size in sorted({c["size"] for c in rb_cells}):
    ms = {c["consumer"]: c["median"] for c in rb_cells if c["size"] == size}
    count = next(c["count"] for c in rb_cells if c["size"] == size)
    g = lambda k: ms[k]["events_per_s"] if ms.get(k) else None
    ring = ms.get("bpf_ringbuf")
    rb_rows.append([f"{size:,} B", f"{count:,}", eps_str(ring), eps_str(ms.get("c_raw")), eps_str(ms.get("swift")),
                    fmt_ratio(g("c_raw"), g("bpf_ringbuf")), fmt_ratio(g("swift"), g("bpf_ringbuf")),
                    " / ".join(fmt_us(ms[k]["latency_p50_ns"]) if ms.get(k) else "–" for k in RB_CONSUMERS),
                    " / ".join(fmt_int(ms[k].get("produce_ns_per_record")) if ms.get(k) else "–"
                               for k in ("bpf_ringbuf", "c_raw"))])

# burst length: C raw and Swift, 1 subscriber, interleaved rounds; times
# (first publication to last reception) split into a cost per event (the
# slope between the shortest and the longest burst) and a cost per burst
bursts = {}
for r in sect("burst"):
    if r["result"]:
        bursts.setdefault((r["size"], r["count"], r["consumer"]), []).append(r["result"])
burst_rows = []
burst_fit = []
for size in sorted({k[0] for k in bursts}):
    counts = sorted({k[1] for k in bursts if k[0] == size})
    secs = {}
    for count in counts:
        ms = {c: median_cell(bursts.get((size, count, c), [])) for c in ("c_raw", "swift")}
        for c in ("c_raw", "swift"):
            rs = bursts.get((size, count, c), [])
            secs[(count, c)] = statistics.median(x["seconds"] for x in rs) if rs else None
        g = lambda k: ms[k]["events_per_s"] if ms[k] else None
        burst_rows.append([f"{size:,} B", f"{count:,}", eps_str(ms["c_raw"]), eps_str(ms["swift"]),
                           fmt_ratio(g("swift"), g("c_raw")),
                           " / ".join(f"{secs[(count, c)] * 1000:.1f}" if secs[(count, c)] else "–"
                                      for c in ("c_raw", "swift"))])
    if len(counts) >= 2:
        lo, hi = counts[0], counts[-1]
        fit = {"size": size, "from": lo, "to": hi}
        for c in ("c_raw", "swift"):
            if secs.get((lo, c)) and secs.get((hi, c)):
                per = (secs[(hi, c)] - secs[(lo, c)]) / (hi - lo)
                fit[c] = {"ns_per_event": per * 1e9, "fixed_ms": (secs[(lo, c)] - lo * per) * 1000}
        burst_fit.append(fit)
burst_fit_lines = []
for f in burst_fit:
    if "c_raw" in f and "swift" in f:
        c, w = f["c_raw"], f["swift"]
        burst_fit_lines.append(
            f"- {f['size']:,} B, from the {f['from']:,} and {f['to']:,} event bursts: per event C raw "
            f"{c['ns_per_event']:,.0f} ns, Swift {w['ns_per_event']:,.0f} ns (Swift / C raw at steady state "
            f"{c['ns_per_event'] / w['ns_per_event']:.2f}); left over per burst C raw {c['fixed_ms']:.1f} ms, "
            f"Swift {w['fixed_ms']:.1f} ms")

# ------------------------------------------------------------ other sections
publish = sect("publish")
pub_rows = []
for size in sorted({p["size"] for p in publish}):
    row = [f"{size:,} B"]
    for listeners, mode in ((0, "none"), (1, "hold"), (1, "read"), (16, "hold"), (16, "read")):
        v = [p for p in publish if p["size"] == size and p["listeners"] == listeners
             and p.get("mode", "read" if listeners else "none") == mode]
        row.append(fmt_int(v[0]["ns_per_event"]) if v and v[0]["ns_per_event"] else "–")
    pub_rows.append(row)

# batching on vs off, in one boot (medians of the interleaved rounds)
batching = sect("batching")
bat_rows = []


def bat_median(kind, mode, key, **match):
    v = [b for b in batching if b["kind"] == kind and b["mode"] == mode
         and all(b.get(k) == x for k, x in match.items())]
    vals = [key(b) for b in v if key(b)]
    return (statistics.median(vals), len(vals)) if vals else (None, 0)


for subs in sorted({b["subscribers"] for b in batching if b["kind"] == "throughput"}):
    def eps(b):
        return b["result"] and b["result"]["events_per_s"]
    (on, n_on), (off, n_off) = (bat_median("throughput", m, eps, subscribers=subs) for m in ("on", "off"))
    lost = sum((b["result"] or {}).get("lost", 0) + (b["result"] or {}).get("missing", 0) for b in batching
               if b["kind"] == "throughput" and b["subscribers"] == subs)
    bat_rows.append([f"64 B, {subs} subscriber{'s' if subs > 1 else ''}: events/s per subscriber (C raw)",
                     fmt_int(on), fmt_int(off), fmt_ratio(on, off), f"{min(n_on, n_off)}" + (" ⚠ lost" if lost else "")])
for holders in sorted({b["listeners"] for b in batching if b["kind"] == "publish"}):
    (on, n_on), (off, n_off) = (bat_median("publish", m, lambda b: b["ns_per_event"], listeners=holders)
                                for m in ("on", "off"))
    bat_rows.append([f"64 B: ns per `nlpush_publish()`, {holders} holding listeners",
                     fmt_int(on), fmt_int(off), fmt_ratio(on, off), f"{min(n_on, n_off)}"])
bat_limit = next((b["tx_batch_bytes"] for b in batching if b["mode"] == "on"), None)

req = sect("requests")
RESP_NAMES = {"c_raw": "C raw (`nlpush_cat --respond`)",
              "c_libnl": "C libnl (`nlpush_libnl_listen --respond`)",
              "swift_respond": "Swift CLI, in process (`nlpush respond --reply ok`)",
              "swift_monitor_ack": "Swift CLI, in process (`nlpush monitor --ack`, empty reply)",
              "swift_exec": "Swift CLI, `nlpush respond --exec cat` (a process per request)"}
req_rows = [[RESP_NAMES.get(r["responder"], r["responder"]), f"{r['answered']:,} / {r['requests']:,}",
             fmt_us(r["latency_p50_ns"]), fmt_us(r["latency_p99_ns"]), fmt_us(r["latency_max_ns"]),
             fmt_int(r["requests_per_s"])] for r in req]

loss = sect("loss")
loss_rows = []
for r in loss:
    x = r.get("result") or {}
    loss_rows.append([CONS_NAMES.get(r["consumer"], r["consumer"]), r["rcvbuf"],
                      "on" if r["recovery"] else "off", f"{r['count']:,} × {r['size']:,} B",
                      fmt_int(x.get("received")), fmt_int(x.get("lost")),
                      fmt_int(x.get("recovered")) if r["consumer"] == "swift" else "n/a",
                      fmt_int(x.get("missing")),
                      fmt_us(x["recovered_delay_max_ns"]) if x.get("recovered_delay_max_ns") else "–",
                      f"{x['seconds']:.2f} s" if x.get("seconds") is not None else "–"])

scal = sect("scaling")
scal_sub_rows, scal_size_rows = [], []
for subs in sorted({s["subscribers"] for s in scal if s["axis"] == "subscribers"}):
    row = [subs]
    for cons in ("c_raw", "swift"):
        v = [s for s in scal if s["axis"] == "subscribers" and s["subscribers"] == subs and s["consumer"] == cons]
        x = v[0]["result"] if v and v[0]["result"] else None
        row += [eps_str(x), fmt_int(x["deliveries_per_s"]) if x else "–"]
    cr = [s["result"] for s in scal if s["axis"] == "subscribers" and s["subscribers"] == subs and s["result"]]
    by = {s["consumer"]: s["result"] for s in scal if s["axis"] == "subscribers" and s["subscribers"] == subs and s["result"]}
    row.append(fmt_ratio(by.get("swift", {}).get("events_per_s"), by.get("c_raw", {}).get("events_per_s")))
    scal_sub_rows.append(row)
for size in sorted({s["size"] for s in scal if s["axis"] == "size"}):
    row = [f"{size:,} B"]
    by = {s["consumer"]: s["result"] for s in scal if s["axis"] == "size" and s["size"] == size and s["result"]}
    for cons in ("c_raw", "swift"):
        x = by.get(cons)
        row += [eps_str(x), f"{x['events_per_s'] * size / 1e6:.1f}" if x else "–"]
    row.append(fmt_ratio(by.get("swift", {}).get("events_per_s"), by.get("c_raw", {}).get("events_per_s")))
    scal_size_rows.append(row)

mem = (sect("memory") or [None])[0]
ring = sect("ring")
# What RING_BYTES counts: the module charges each event its kmalloc size
# (ring_charge "kmalloc"); records without ring_charge are from before, when
# it counted payload + 32 bytes and the kmalloc estimate was up to twice that.
def ring_charge(r):
    return "kmalloc sizes" if r.get("ring_charge") == "kmalloc" else "payload + 32"


ring_charges = {ring_charge(r) for r in ring}
ring_bytes_label = f"RING_BYTES ({ring_charges.pop()})" if len(ring_charges) == 1 else "RING_BYTES"
ring_rows = [[f"{r['size']:,} B", f"{r['published']:,}", f"{r['ring_events']:,}", r["limited_by"],
              f"{r['ring_bytes'] / 1048576:.2f} MiB"
              + ("" if ring_bytes_label != "RING_BYTES" else f" ({ring_charge(r)})"),
              f"{r['kmalloc_bytes_estimate'] / 1048576:.2f} MiB",
              f"{r['memfree_drop_kb'] / 1024:.2f} MiB"] for r in ring]

# ------------------------------------------------------------ host
cg_rows = []
if callgrind:
    by = {}
    for r in callgrind["results"]:
        by.setdefault(r["size"], {})[r["program"]] = r
    for size in sorted(by):
        d = by[size]
        s = d.get("swift", {}).get("instructions_per_event")
        c = d.get("c_libnl", {}).get("instructions_per_event")
        cc = d.get("c_libnl_copy", {}).get("instructions_per_event")
        same = len({x["checksum"] for x in d.values()}) == 1
        cg_rows.append([f"{size:,} B", fmt_int(s), fmt_int(c), fmt_int(cc), fmt_ratio(s, c), fmt_ratio(s, cc),
                        "yes" if same else "NO"])
pb_rows = []
if pkgbench:
    for r in pkgbench["results"]:
        sec = r.get("secondary") or {}
        wall = next((v for k, v in sec.items() if "wall" in k.lower()), None)
        mallocs = next((v for k, v in sec.items() if "malloc" in k.lower()), None)
        name = (r.get("benchmark") or "?").rsplit(".", 1)[-1].replace("_", " ")
        # one iteration decodes 1,000 messages: µs per iteration = ns per message
        unit_ok = wall and wall.get("unit") in ("μs", "us")
        p = (wall or {}).get("percentiles") or {}
        pb_rows.append([name,
                        f"{p.get('50.0'):.0f} ns" if unit_ok and p.get("50.0") is not None else "–",
                        f"{p.get('90.0'):.0f} ns" if unit_ok and p.get("90.0") is not None else "–",
                        f"{r['score'] * 1000:,.0f}" if r.get("score") else "–",
                        f"{mallocs['score'] / 1000:.2f}" if mallocs and mallocs.get("score") is not None else "–"])

# ------------------------------------------------------------ plot
plot_note = ""
png = os.path.join(RES, "scaling.png")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for cons, style in (("c_raw", "o-"), ("swift", "s-")):
        pts = sorted((s["subscribers"], s["result"]["deliveries_per_s"]) for s in scal
                     if s["axis"] == "subscribers" and s["consumer"] == cons and s["result"])
        if pts:
            a1.plot([p[0] for p in pts], [p[1] for p in pts], style, label=CONS_NAMES[cons])
        pts = sorted((s["size"], s["result"]["events_per_s"]) for s in scal
                     if s["axis"] == "size" and s["consumer"] == cons and s["result"])
        if pts:
            a2.plot([p[0] for p in pts], [p[1] for p in pts], style, label=CONS_NAMES[cons])
    a1.set_xscale("log", base=2)
    a1.set_xlabel("subscribers (1 KiB events)")
    a1.set_ylabel("deliveries/s, all subscribers")
    a1.set_title("fan-out")
    a2.set_xscale("log", base=2)
    a2.set_yscale("log")
    a2.set_xlabel("payload bytes (1 subscriber)")
    a2.set_ylabel("events/s")
    a2.set_title("payload size")
    for a in (a1, a2):
        a.grid(True, which="both", alpha=0.3)
        a.legend()
    fig.suptitle(f"nlpush scaling, {meta.get('kernel', '?')} under TCG, 2 vCPUs (ratios only compare)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plot_note = "scaling.png written"
except ImportError:
    plot_note = "matplotlib not available: scaling.png not drawn"
    if os.path.exists(png) and args.smoke:
        os.unlink(png)

# ------------------------------------------------------------ results.json
def git(*a):
    try:
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=os.path.dirname(__file__)).stdout.strip()
    except OSError:
        return ""


# the commit the VM part ran at (scripts/bench.sh writes it; --skip-vm keeps it)
vm_commit = ""
if os.path.exists(os.path.join(RES, "vm-commit.txt")):
    vm_commit = open(os.path.join(RES, "vm-commit.txt")).read().strip()

host = {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "host_kernel": platform.release()}
results = {
    "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "smoke": args.smoke, "git_commit": git("rev-parse", "HEAD"),
    "vm_git_commit": vm_commit,
    "vm": {"kernel": meta.get("kernel", args.kernel), "cpus": meta.get("cpus"), "mem_total_kb": meta.get("mem_total_kb"),
           "emulation": "TCG (qemu software emulation, vng --disable-kvm)", "rmem_default": meta.get("rmem_default"),
           "swift_cli": meta.get("swift_cli"), "started": meta.get("started"), "seconds": meta_end.get("seconds")},
    "host": host, "notes": [n for n in [args.note, plot_note] if n],
    "errors": sect("error"), "section_seconds": {t["where"]: t["seconds"] for t in sect("timing")},
    "throughput": thr_cells, "throughput_ratios": ratios, "ack_ratios": ack_ratios,
    "burst": {"cells": [{"size": k[0], "count": k[1], "consumer": k[2], "median": median_cell(v)}
                        for k, v in sorted(bursts.items())], "fit": burst_fit},
    "ringbuf": {"cells": rb_cells, "skipped": rb_skipped}, "publish_cost": publish,
    "batching": batching, "requests": req,
    "loss": loss, "scaling": scal, "memory": mem, "ring": ring, "recorded_streams": sect("record"),
    "callgrind": callgrind, "package_benchmark": pkgbench,
}
json.dump(results, open(os.path.join(RES, "results.json"), "w"), indent=1, sort_keys=False)

# ------------------------------------------------------------ markdown
blocks = {}
blocks["when"] = "\n".join([
    f"- Taken: {meta.get('started', '?')} (VM part, {meta_end.get('seconds', '?')} s); report generated {results['generated']}"
    + (" — **smoke run: tiny counts, figures meaningless**" if args.smoke else ""),
    (f"- Git commit: `{results['git_commit'][:12] or '?'}` (plus the working tree of that moment)"
     if not vm_commit or vm_commit.split()[0] == results["git_commit"] else
     f"- Git commit: VM part at `{vm_commit.split()[0][:12]}`{' + working tree' if 'dirty' in vm_commit else ''}, "
     f"host part and report at `{results['git_commit'][:12] or '?'}`"),
    f"- VM: Debian kernel `{meta.get('kernel', '?')}`, {meta.get('cpus', '?')} vCPUs, "
    f"{(meta.get('mem_total_kb') or 0) // 1024} MiB, **TCG software emulation** (no KVM), "
    f"`net.core.rmem_default` {meta.get('rmem_default', '?')}",
    f"- Host: {host['cpu_model']}, {host['cpus']} cores, kernel {host['host_kernel']} (the host part runs natively)",
] + ([f"- Notes: {'; '.join(results['notes'])}"] if results["notes"] else [])
  + ([f"- **Section errors:** {', '.join(e['where'] + ': ' + e['error'] for e in results['errors'])}"] if results["errors"] else []))

blocks["throughput"] = table(
    ["payload", "subs", "producer", "C raw", "C libnl", "Swift", "Swift / C raw", "Swift / C libnl",
     "C raw + ack", "Swift + ack", "Swift ack / C ack"], thr_rows) if thr_rows else "_not measured_"
blocks["acks"] = table(
    ["payload", "subs", "producer", "C raw", "+ ack each", "+ batched ack", "each / none", "batched / none",
     "Swift", "+ ack each", "+ batched ack", "each / none", "batched / none"], ack_rows) if ack_rows else "_not measured_"
blocks["burst"] = (table(["payload", "burst", "C raw", "Swift", "Swift / C raw", "ms: C raw / Swift"], burst_rows)
                   + ("\n\n" + "\n".join(burst_fit_lines) if burst_fit_lines else "")) if burst_rows else "_not measured_"
blocks["throughput_latency"] = table(
    ["payload", "subs", "C raw p50 / p99", "C libnl p50 / p99", "Swift p50 / p99"], thr_lat_rows) if thr_lat_rows else "_not measured_"
if rb_rows:
    blocks["ringbuf"] = table(["payload", "burst", "BPF ring buffer records/s", "nlpush C raw events/s",
                               "nlpush Swift events/s", "C raw / ring buffer", "Swift / ring buffer",
                               "p50 latency: ring buffer / C raw / Swift",
                               "producer ns per record: ring buffer / nlpush `test`"],
                              rb_rows)
else:
    blocks["ringbuf"] = f"_not measured: {rb_skipped}_" if rb_skipped else "_not measured_"
blocks["publish"] = table(["payload", "0 listeners", "1 holding", "1 reading", "16 holding", "16 reading"],
                          pub_rows) if pub_rows else "_not measured_"
blocks["batching"] = (f"`tx_batch_bytes` {bat_limit} (on) against 0 (off), medians of the interleaved rounds\n\n"
                      + table(["measure", "batching on", "batching off", "on / off", "rounds"], bat_rows)
                      ) if bat_rows else "_not measured_"
blocks["requests"] = table(["responder", "answered", "p50", "p99", "max", "requests/s"], req_rows) if req_rows else "_not measured_"
blocks["loss"] = table(["listener", "receive buffer", "recovery", "burst", "received", "lost", "recovered by replay",
                        "unaccounted", "recovered: max delay", "time"], loss_rows) if loss_rows else "_not measured_"
blocks["scaling_subscribers"] = table(["subscribers", "C raw events/s per sub", "C raw deliveries/s",
                                       "Swift events/s per sub", "Swift deliveries/s", "Swift / C"],
                                      scal_sub_rows) if scal_sub_rows else "_not measured_"
blocks["scaling_size"] = table(["payload", "C raw events/s", "C raw MB/s", "Swift events/s", "Swift MB/s", "Swift / C"],
                               scal_size_rows) if scal_size_rows else "_not measured_"
if mem:
    s = mem["samples"]
    pick = [x for i, x in enumerate(s) if i in (0, 1, 2) or i == len(s) - 1 or i % max(1, len(s) // 5) == 0]
    blocks["memory"] = (
        f"`nlpush monitor --subscribers 16 --quiet` while {mem['events']:,} events of {mem['size']} B were published "
        f"in bursts of {(s[1]['events'] if len(s) > 1 else 0):,} ({mem['received']:,} deliveries, {mem['lost']:,} lost, "
        f"{mem['recovered']:,} recovered by replay, {mem['seconds']} s):\n\n"
        + table(["events published", "RSS"], [[f"{x['events']:,}" + (" (drained)" if x.get("drained") else ""),
                                                f"{x['rss_kb'] / 1024:.1f} MiB"] for x in pick])
        + f"\n\nRSS: {mem['rss_start_kb'] / 1024:.1f} MiB idle, {mem['rss_after_first_chunk_kb'] / 1024:.1f} MiB after the first burst, "
        f"{mem['rss_end_kb'] / 1024:.1f} MiB at the end (max {mem['rss_max_kb'] / 1024:.1f} MiB); growth after the first burst: "
        f"{(mem['rss_end_kb'] - mem['rss_after_first_chunk_kb']) / 1024:.1f} MiB.")
else:
    blocks["memory"] = "_not measured_"
blocks["ring"] = table(["payload", "published", "events held", "limit hit", ring_bytes_label, "kmalloc estimate",
                        "MemFree drop"], ring_rows) if ring_rows else "_not measured_"
blocks["callgrind"] = table(["payload", "Swift `Event(decoding:)`", "C libnl `genlmsg_parse`",
                             "C libnl + payload copy", "Swift / C", "Swift / C + copy", "same checksum"],
                            cg_rows) if cg_rows else "_not measured_"
if callgrind and callgrind.get("swift_hotspots_exclusive"):
    hs = callgrind["swift_hotspots_exclusive"]
    size = max(hs, key=lambda k: int(k))
    def short(sym):
        sym = re.sub(r"\s*\[[^\]]*\]$", "", sym)          # [object file]
        sym = re.sub(r"^.*?(Sources/|//<compiler-generated>)", r"\1", sym)
        return sym[:110].replace("|", "\\|")
    rows = [[f"{h['percent']:.1f} %", "`" + short(h["symbol"]) + "`"] for h in hs[size][:14]]
    blocks["hotspots"] = f"Exclusive instructions of the Swift decoder, {int(size):,} B stream:\n\n" + table(["share", "function"], rows)
else:
    blocks["hotspots"] = "_not measured_"
blocks["package_benchmark"] = table(["benchmark", "p50 per message", "p90 per message", "messages/s",
                                     "mallocs per message"], pb_rows) if pb_rows else "_not measured_"

md = open(args.markdown).read() if os.path.exists(args.markdown) else ""
missing = []
for name, text in blocks.items():
    pat = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
    if pat.search(md):
        md = pat.sub(lambda m: m.group(1) + text + "\n" + m.group(2), md)
    else:
        missing.append(name)
open(args.markdown, "w").write(md)
if missing:
    print(f"report: no markers for {', '.join(missing)} in {args.markdown}", file=sys.stderr)
print(f"report: {os.path.join(RES, 'results.json')}, {args.markdown}; {plot_note}")
