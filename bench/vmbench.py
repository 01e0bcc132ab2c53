#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""In-VM benchmark driver (started by bench/run-in-vm.sh, which loads the
modules first). Every measurement is appended to OUT/raw.jsonl as one JSON
object {"section": ..., ...}; bench/report.py turns that into results.json,
BENCHMARKS.md tables and the scaling plot.

    vmbench.py --out DIR --cbin DIR --ko DIR [--nlpush PATH] [--ringbuf PATH]
               [--smoke] [--only SECTIONS]

Sections, in order: ring, publish, throughput, ringbuf, batching, requests, loss,
scaling, memory, record. Counts are sized for TCG (software emulation): the full
run takes about 15 minutes, --smoke about one.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

DBG = "/sys/kernel/debug/nlpush_test"
BIG_RCVBUF = "128M"      # throughput cells: the whole burst fits, nobody overruns

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--cbin", required=True)
ap.add_argument("--ko", required=True)
ap.add_argument("--nlpush", default="")
ap.add_argument("--ringbuf", default="",
                help="bench/bpf/ringbuf_bench; without it the ringbuf section is skipped, "
                     "for the reason in OUT/ringbuf-skip.txt (scripts/bench.sh writes it)")
ap.add_argument("--smoke", action="store_true")
ap.add_argument("--only", default="")
ap.add_argument("--cells", default="",
                help="throughput only these SIZExSUBS cells, e.g. 64x1,1024x4 (a quick look while profiling)")
ap.add_argument("--batch-bytes", type=int, default=0,
                help="the batching section's 'on' mode loads nlpush with tx_batch_bytes=N "
                     "(default: the module's default)")
args = ap.parse_args()

OUT = args.out
CBIN = args.cbin
NLPUSH = args.nlpush if args.nlpush and os.access(args.nlpush, os.X_OK) else ""
SMOKE = args.smoke
ONLY = set(filter(None, args.only.split(",")))
os.makedirs(OUT, exist_ok=True)
RAW = open(os.path.join(OUT, "raw.jsonl"), "a")
LOGDIR = os.path.join(OUT, "logs")
os.makedirs(LOGDIR, exist_ok=True)
T0 = time.monotonic()
seq_log = [0]


def say(msg):
    print(f"[bench {time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def record(section, **kw):
    kw = {"section": section, **kw}
    RAW.write(json.dumps(kw, sort_keys=True) + "\n")
    RAW.flush()


def logfile(tag):
    seq_log[0] += 1
    return open(os.path.join(LOGDIR, f"{seq_log[0]:04d}-{tag}.log"), "w")


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def run_json(cmd, timeout=600, tag="cmd"):
    with logfile(tag) as err:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"timeout: {' '.join(cmd)}")
            return None
    j = last_json(p.stdout)
    if j is None:
        say(f"no JSON from {' '.join(cmd)} (rc {p.returncode})")
    return j


def benchctl(*a, timeout=600):
    return run_json([os.path.join(CBIN, "nlpush_benchctl"), *map(str, a)], timeout, "benchctl")


def stats():
    return benchctl("stats") or {}


def meminfo():
    m = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            m[k] = int(v.split()[0])
    return m


def produce(producer, count, size):
    if producer == "emit":
        return benchctl("emit", count, size)
    return benchctl("test-emit", count, size)


# ---------------------------------------------------------------- C listeners

class Listeners:
    """N C listener processes (one socket each), started and joined."""

    def __init__(self, tool, n, count=0, rcvbuf=None, extra=(), timeout=300, idle=3):
        self.procs = []
        self.tool = tool
        for i in range(n):
            ready = os.path.join(OUT, f".ready-{os.getpid()}-{i}")
            if os.path.exists(ready):
                os.unlink(ready)
            cmd = [os.path.join(CBIN, tool), "--ready-file", ready, "--timeout", str(timeout)]
            if count:
                cmd += ["--count", str(count), "--idle", str(idle)]
            if rcvbuf:
                cmd += ["--rcvbuf", str(rcvbuf)]
            cmd += list(extra)
            err = logfile(tool)
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
            self.procs.append((p, ready, err))
        deadline = time.monotonic() + 60
        for p, ready, _ in self.procs:
            while not os.path.exists(ready):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{tool} did not get ready")
                time.sleep(0.02)
            os.unlink(ready)

    def finish(self, timeout=300, stop=False):
        out = []
        deadline = time.monotonic() + timeout
        for p, _, err in self.procs:
            if stop:
                p.send_signal(signal.SIGTERM)
            try:
                o, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGTERM)
                o, _ = p.communicate(timeout=30)
            err.close()
            j = last_json(o)
            if j:
                out.append(j)
        return out


def c_summary(res, n, count, newest=None):
    """Aggregate of N listener JSON lines of one burst. `newest` is the kernel's
    last sequence number once the burst was published: a listener that overran
    (ENOBUFS) and received nothing after some point lost the events from its
    last one to `newest` (the C listeners count only the holes between events
    they received; the Swift library asks the kernel the same way)."""
    if not res:
        return None
    received = sum(r["events"] for r in res)
    gaps = sum(r["gaps"] for r in res)
    if newest:
        gaps += sum(max(0, newest - r["last_seq"]) for r in res
                    if r["overruns"] and r["last_seq"])
    t0 = min(r["first_ts_ns"] for r in res if r["first_ts_ns"]) if received else 0
    t1 = max(r["last_rx_ns"] for r in res)
    secs = (t1 - t0) / 1e9 if received and t1 > t0 else 0
    p50s = sorted(r["latency_p50_ns"] for r in res)
    return {
        "listeners": len(res), "expected": n * count, "received": received, "lost": gaps,
        "missing": max(0, n * count - received - gaps),
        "overruns": sum(r["overruns"] for r in res),
        "acks": sum(r["acks"] for r in res), "ack_errors": sum(r["ack_errors"] for r in res),
        "seconds": round(secs, 6),
        "events_per_s": round(received / n / secs, 1) if secs else 0,
        "deliveries_per_s": round(received / secs, 1) if secs else 0,
        "latency_p50_ns": p50s[len(p50s) // 2],
        "latency_p99_ns": max(r["latency_p99_ns"] for r in res),
        "latency_max_ns": max(r["latency_max_ns"] for r in res),
    }


def c_cell(tool, producer, size, subs, count, ack=None, rcvbuf=BIG_RCVBUF):
    # ack: None, "each" (one ACK per event) or "batch" (one ACK SEQ COUNT per
    # run of consecutive events of a datagram)
    extra = {None: [], "each": ["--ack"], "batch": ["--ack-batch"]}[ack]
    ls = Listeners(tool, subs, count, rcvbuf, extra, timeout=max(120, count // 50))
    prod = produce(producer, count, size)
    res = ls.finish()
    next_seq = stats().get("next_seq", 0)
    s = c_summary(res, subs, count, newest=next_seq - 1 if next_seq else None)
    if s is not None and prod:
        s["produce_ns"] = prod.get("produce_ns")
    return s


def swift_bench(size, subs, count, producer, ack=None, rcvbuf=BIG_RCVBUF, recovery=True, timeout=None):
    if not NLPUSH:
        return None
    timeout = timeout or max(120, count // 50)
    cmd = [NLPUSH, "bench", "--size", str(size), "--subscribers", str(subs), "--count", str(count),
           "--producer", producer, "--json", "--timeout", f"{timeout}s"]
    if ack:  # "batch": as 'nlpush monitor --ack' (one ACK per batch read), "each": one per event
        cmd += ["--ack"] + (["--ack-each"] if ack == "each" else [])
    if rcvbuf:
        cmd += ["--rcvbuf", str(rcvbuf)]
    if not recovery:
        cmd.append("--no-recovery")
    j = run_json(cmd, timeout=timeout + 120, tag="nlpush-bench")
    if not j:
        return None
    secs = j.get("seconds") or 0
    return {
        "listeners": subs, "expected": subs * count, "received": j["received"], "lost": j["lost"],
        "missing": j["missing"], "recovered": j["recovered"], "corrupt": j.get("corrupt", 0),
        "seconds": secs,
        "events_per_s": round(j["received"] / subs / secs, 1) if secs else 0,
        "deliveries_per_s": round(j["received"] / secs, 1) if secs else 0,
        "latency_p50_ns": j["latency_p50_ns"], "latency_p99_ns": j["latency_p99_ns"],
        "latency_max_ns": j["latency_max_ns"], "produce_ns": j.get("produce_ns"),
        "recovered_delay_max_ns": j.get("recovered_delay_max_ns", 0),
        "acks": j.get("acks", 0), "ack_errors": j.get("ack_errors", 0),
    }


def consumer_cell(consumer, producer, size, subs, count, rcvbuf=BIG_RCVBUF):
    if consumer == "swift":
        return swift_bench(size, subs, count, producer, rcvbuf=rcvbuf)
    if consumer == "swift_ack":
        return swift_bench(size, subs, count, producer, ack="each", rcvbuf=rcvbuf)
    if consumer == "swift_ack_batch":
        return swift_bench(size, subs, count, producer, ack="batch", rcvbuf=rcvbuf)
    if consumer == "c_raw":
        return c_cell("nlpush_cat", producer, size, subs, count, rcvbuf=rcvbuf)
    if consumer == "c_raw_ack":
        return c_cell("nlpush_cat", producer, size, subs, count, ack="each", rcvbuf=rcvbuf)
    if consumer == "c_raw_ack_batch":
        return c_cell("nlpush_cat", producer, size, subs, count, ack="batch", rcvbuf=rcvbuf)
    if consumer == "c_libnl":
        return c_cell("nlpush_libnl_listen", producer, size, subs, count, rcvbuf=rcvbuf)
    raise ValueError(consumer)


def want(section):
    return not ONLY or section in ONLY


# ---------------------------------------------------------------- sections

def kmalloc_size(n):
    for s in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192):
        if n <= s:
            return s
    pages = 1
    while pages * 4096 < n:
        pages *= 2
    return pages * 4096


def reload_modules(*nlpush_params):
    """rmmod both, insmod again; nlpush with NLPUSH_PARAMS ("name=value")."""
    for m in ("nlpush_test", "nlpush"):
        if os.path.isdir(f"/sys/module/{m}"):
            subprocess.run(["rmmod", m], check=True)
    subprocess.run(["insmod", os.path.join(args.ko, "nlpush.ko"), *nlpush_params], check=True)
    subprocess.run(["insmod", os.path.join(args.ko, "nlpush_test.ko")], check=True)


def section_ring():
    """Kernel memory of the replay ring at its limits. Modules reloaded before
    each fill, so the ring starts empty; no listeners, so only the ring
    allocates (MemFree and Slab deltas are approximate: the rest of the
    system allocates too). The module charges each entry its kmalloc size
    (payload + 32-byte header, rounded up to the size class), so RING_BYTES
    is the slab memory held and kmalloc_bytes_estimate, recomputed here from
    the events held, should equal it."""
    say("ring: fill the replay ring to its limits")
    fills = ((64, 6000), (1024, 6000), (16384, 400), (61440, 100))
    if SMOKE:
        fills = ((1024, 5000),)
    for size, count in fills:
        reload_modules()
        time.sleep(0.5)
        before_st = stats()
        os.sync()
        m0 = meminfo()
        produce("test", count, size)
        time.sleep(0.5)
        m1 = meminfo()
        st = stats()
        n = st.get("ring_events", 0)
        record("ring", size=size, published=count, ring_events=n,
               ring_bytes=st.get("ring_bytes"), ring_max_events=st.get("ring_max_events"),
               ring_max_bytes=st.get("ring_max_bytes"),
               limited_by="events" if n == st.get("ring_max_events") else "bytes",
               ring_charge="kmalloc",  # what RING_BYTES counts (older records: payload + 32)
               kmalloc_bytes_estimate=n * kmalloc_size(size + 32),
               memfree_drop_kb=m0["MemFree"] - m1["MemFree"],
               slab_delta_kb=m1["Slab"] - m0["Slab"],
               ring_events_before=before_st.get("ring_events"))
    reload_modules()


def section_publish():
    """Wall time per nlpush_publish() in the kernel loop of nlpush_test's
    "bench" file. Listeners either read (nlpush_cat: wake-ups and their CPU
    time on this 2-CPU VM count) or hold (joined, never reading, big buffer:
    only the kernel's fan-out counts)."""
    say("publish: ns per nlpush_publish() with 0, 1, 16 listeners")
    count = 1000 if SMOKE else 10000
    sizes = (64,) if SMOKE else (64, 1024, 16384)
    for size in sizes:
        n = count if size < 16384 else count // 10
        for listeners in (0, 1, 16):
            for mode in (("read", "hold") if listeners else ("none",)):
                if SMOKE and listeners == 16:
                    continue
                ls = None
                if listeners:
                    extra = ["--hold"] if mode == "hold" else []
                    ls = Listeners("nlpush_cat", listeners, 0 if mode == "hold" else n,
                                   "256M", extra)
                r = benchctl("publish-cost", n, size)
                lres = ls.finish(stop=(mode == "hold")) if ls else []
                record("publish", size=size, listeners=listeners, mode=mode, count=n,
                       ns_per_event=r and r.get("ns_per_event"), total_ns=r and r.get("total_ns"),
                       listener_lost=sum(x["gaps"] for x in lres),
                       listener_received=sum(x["events"] for x in lres))
                say(f"  {size} B, {listeners} listeners ({mode}): "
                    f"{r and r.get('ns_per_event')} ns per publish")


CONSUMERS = ["c_raw", "c_libnl", "swift", "swift_ack", "c_raw_ack", "swift_ack_batch", "c_raw_ack_batch"]


def section_throughput():
    sizes = {64: 20000, 1024: 10000, 16384: 2000}
    reps = 3
    cells = [(size, count, subs, producer, consumer)
             for size, count in sizes.items() for subs in (1, 4, 16)
             for producer in ("test", "emit") for consumer in CONSUMERS
             if not ("_ack" in consumer and subs > 4)]  # ack cells: 1 and 4 subscribers
    if args.cells:
        want = {tuple(int(x) for x in c.split("x")) for c in args.cells.split(",")}
        cells = [c for c in cells if (c[0], c[2]) in want and c[3] == "test"]
    if SMOKE:
        reps = 1
        cells = [(64, 1000, 1, p, c) for p in ("test", "emit") for c in CONSUMERS]
        cells += [(64, 1000, 2, "test", c) for c in ("c_raw", "c_libnl", "swift")]
    say(f"throughput: {len(cells)} cells x {reps} rounds")
    for rep in range(reps):
        for size, count, subs, producer, consumer in cells:
                        if consumer.startswith("swift") and not NLPUSH:
                            continue
                        t = time.monotonic()
                        r = consumer_cell(consumer, producer, size, subs, count)
                        record("throughput", size=size, subscribers=subs, count=count,
                               producer=producer, consumer=consumer, round=rep,
                               result=r, wall_s=round(time.monotonic() - t, 2))
                        if r:
                            say(f"  {size:>5} B x{subs:<2} {producer:4} {consumer:9}: "
                                f"{r['events_per_s']:>9.0f} ev/s/sub  lost {r['lost']} "
                                f"({time.monotonic() - t:.1f}s)")


def ringbuf_cell(size, count):
    """One BPF ring buffer burst (bench/bpf/ringbuf_bench): COUNT records of a
    16-byte header and SIZE payload bytes, produced by a BPF program on
    getpgid() entry, consumed with libbpf's ring_buffer__poll(); throughput
    from the first record's timestamp to the consumption of the last."""
    j = run_json([args.ringbuf, "--count", str(count), "--size", str(size),
                  "--timeout", str(max(120, count // 50)), "--idle", "3"],
                 timeout=max(120, count // 50) + 60, tag="ringbuf")
    if not j:
        return None
    return {
        "listeners": 1, "expected": count, "received": j["records"], "lost": j["dropped"],
        "missing": max(0, count - j["records"] - j["dropped"]), "corrupt": j["corrupt"],
        "gaps": j["gaps"], "seconds": j["seconds"], "events_per_s": j["records_per_s"],
        "deliveries_per_s": j["records_per_s"], "latency_p50_ns": j["latency_p50_ns"],
        "latency_p99_ns": j["latency_p99_ns"], "latency_max_ns": j["latency_max_ns"],
        "produce_ns": j["produce_ns"], "record_bytes": j["record_bytes"],
        "ring_bytes": j["ring_bytes"], "batch": j["batch"],
    }


RINGBUF_CONSUMERS = ["bpf_ringbuf", "c_raw", "swift"]


def section_ringbuf():
    """The yardstick: the BPF ring buffer beside nlpush at the same payload
    sizes and counts as the throughput cells, one consumer, in interleaved
    rounds (ring buffer, then nlpush's C raw and Swift listeners with the
    `test` producer), so the ratios compare runs under the same noise."""
    if not args.ringbuf or not os.access(args.ringbuf, os.X_OK):
        try:
            with open(os.path.join(OUT, "ringbuf-skip.txt")) as f:
                reason = f.read().strip()
        except OSError:
            reason = ""
        if not reason:
            raise RuntimeError(f"ringbuf_bench not given or not executable: {args.ringbuf!r}")
        say(f"ringbuf: skipped ({reason})")
        record("ringbuf_skipped", reason=reason)
        return
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        raise RuntimeError("kernel without BTF (/sys/kernel/btf/vmlinux): fentry cannot attach")
    sizes = {64: 20000, 1024: 10000}
    reps = 3
    if SMOKE:
        sizes = {64: 1000, 1024: 500}
        reps = 1
    say(f"ringbuf: BPF ring buffer vs nlpush at {list(sizes)} B, {reps} rounds")
    for rep in range(reps):
        for size, count in sizes.items():
            for consumer in RINGBUF_CONSUMERS:
                if consumer == "swift" and not NLPUSH:
                    continue
                t = time.monotonic()
                if consumer == "bpf_ringbuf":
                    r = ringbuf_cell(size, count)
                else:
                    r = consumer_cell(consumer, "test", size, 1, count)
                record("ringbuf", size=size, subscribers=1, count=count, consumer=consumer,
                       producer="bpf" if consumer == "bpf_ringbuf" else "test", round=rep,
                       result=r, wall_s=round(time.monotonic() - t, 2))
                if r:
                    say(f"  {size:>5} B {consumer:11}: {r['events_per_s']:>9.0f} ev/s  "
                        f"lost {r['lost']} ({time.monotonic() - t:.1f}s)")


def section_burst():
    """Swift against raw C by burst length (64 B and 1 KiB, one subscriber,
    producer test), in interleaved rounds: a cost paid once per burst (a cold
    process: page faults, and under TCG the translation of code run for the
    first time) weighs on a short burst and fades in a long one, a cost per
    event does not. From the times of two lengths: the cost per event of each
    listener, and what is left over."""
    lengths = {64: (5000, 20000, 100000, 300000), 1024: (2000, 10000, 50000)}
    reps = 3
    if SMOKE:
        lengths, reps = {64: (500, 2000)}, 1
    say(f"burst: C raw and Swift by burst length, {reps} rounds")
    for rep in range(reps):
        for size, counts in lengths.items():
            for count in counts:
                for consumer in ("c_raw", "swift"):
                    if consumer == "swift" and not NLPUSH:
                        continue
                    t = time.monotonic()
                    r = consumer_cell(consumer, "test", size, 1, count)
                    record("burst", size=size, subscribers=1, count=count, consumer=consumer, producer="test",
                           round=rep, result=r, wall_s=round(time.monotonic() - t, 2))
                    if r:
                        say(f"  {size:>5} B x{count:<7} {consumer:6}: {r['events_per_s']:>9.0f} ev/s  "
                            f"{r['seconds'] * 1000:8.1f} ms  lost {r['lost']}")


def tx_batch_bytes():
    try:
        with open("/sys/module/nlpush/parameters/tx_batch_bytes") as f:
            return int(f.read())
    except OSError:
        return None


def section_batching():
    """Batched delivery on (tx_batch_bytes at its default) against off (0) in
    this one boot: the modules are reloaded for each mode and the modes
    interleaved (their order alternates every round), 3 rounds. Measured:
    events/s per subscriber of the raw C listener (nlpush_cat, producer
    "test") at 64 B with 1 and 16 subscribers, and ns per nlpush_publish()
    (nlpush_test's "bench") at 64 B with 16 holding listeners."""
    count = 1000 if SMOKE else 20000
    pcount = 1000 if SMOKE else 10000
    reps = 1 if SMOKE else 3
    subs_list = (1, 2) if SMOKE else (1, 16)
    holders = 2 if SMOKE else 16
    say(f"batching: on/off x {reps} rounds: 64 B throughput x{subs_list}, "
        f"publish cost with {holders} holding listeners")
    for rep in range(reps):
        for mode in (("on", "off") if rep % 2 == 0 else ("off", "on")):
            on = (f"tx_batch_bytes={args.batch_bytes}",) if args.batch_bytes else ()
            reload_modules(*(on if mode == "on" else ("tx_batch_bytes=0",)))
            time.sleep(0.5)
            limit = tx_batch_bytes()
            for subs in subs_list:
                t = time.monotonic()
                r = c_cell("nlpush_cat", "test", 64, subs, count)
                record("batching", kind="throughput", mode=mode, tx_batch_bytes=limit,
                       size=64, subscribers=subs, count=count, producer="test",
                       consumer="c_raw", round=rep, result=r,
                       wall_s=round(time.monotonic() - t, 2))
                if r:
                    say(f"  round {rep} batching {mode:3} ({limit}): 64 B x{subs:<2} "
                        f"{r['events_per_s']:>9.0f} ev/s/sub  lost {r['lost']}  "
                        f"missing {r['missing']}")
            ls = Listeners("nlpush_cat", holders, 0, "256M", ["--hold"])
            r = benchctl("publish-cost", pcount, 64)
            ls.finish(stop=True)
            st = stats()
            record("batching", kind="publish", mode=mode, tx_batch_bytes=limit, size=64,
                   listeners=holders, listener_mode="hold", count=pcount, round=rep,
                   ns_per_event=r and r.get("ns_per_event"), total_ns=r and r.get("total_ns"),
                   txq_drops=st.get("txq_drops"))
            say(f"  round {rep} batching {mode:3}: publish with {holders} holding listeners: "
                f"{r and r.get('ns_per_event')} ns (txq_drops {st.get('txq_drops')})")
    reload_modules()


def request_block(responder, n, size=64, timeout_ms=2000):
    dump = os.path.join(OUT, ".lat")
    proc = None
    ls = None
    if responder in ("c_raw", "c_libnl"):
        tool = "nlpush_cat" if responder == "c_raw" else "nlpush_libnl_listen"
        ls = Listeners(tool, 1, 0, None, ["--respond"], timeout=3600)
    else:
        if responder == "swift_exec":
            cmd = [NLPUSH, "respond", "--exec", "cat"]
        else:  # swift_respond: in process, same answer as the C listeners
            cmd = [NLPUSH, "respond", "--status", "0", "--reply", "ok", "--quiet"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=logfile(responder))
        # wait until it has registered as a responder (protocol v2: a request with no
        # responder fails at once with ENOTCONN; 'nlpush monitor --ack' never answers)
        deadline = time.monotonic() + 60
        while stats().get("responders", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    r = benchctl("request", n, size, timeout_ms, dump, timeout=3600)
    lat = []
    if os.path.exists(dump):
        with open(dump) as f:
            lat = [int(x) for x in f if x.strip()]
        os.unlink(dump)
    if ls:
        ls.finish(stop=True)
    if proc:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return r, lat


def pct(v, p):
    if not v:
        return 0
    v = sorted(v)
    k = max(1, min(len(v), int(p / 100.0 * len(v) + 0.999999)))
    return v[k - 1]


def section_requests():
    plan = {"c_raw": 10000, "c_libnl": 10000, "swift_respond": 10000, "swift_exec": 100}
    blocks = 2
    if SMOKE:
        plan = {"c_raw": 100, "c_libnl": 100, "swift_respond": 100, "swift_exec": 3}
        blocks = 1
    if not NLPUSH:
        plan = {k: v for k, v in plan.items() if k.startswith("c_")}
    say(f"requests: {plan}, interleaved in {blocks} blocks")
    lats = {k: [] for k in plan}
    errs = {k: 0 for k in plan}
    walls = {k: 0.0 for k in plan}
    for b in range(blocks):
        for responder, n in plan.items():
            nb = n // blocks if responder != "swift_exec" else (n if b == 0 else 0)
            if not nb:
                continue
            t = time.monotonic()
            r, lat = request_block(responder, nb)
            walls[responder] += (r or {}).get("wall_seconds", 0)
            lats[responder] += lat
            errs[responder] += nb - len(lat)
            say(f"  {responder}: {len(lat)}/{nb} answered, p50 {pct(lat, 50) / 1e3:.0f} us "
                f"({time.monotonic() - t:.1f}s)")
    for responder, lat in lats.items():
        record("requests", responder=responder, requests=plan[responder], answered=len(lat),
               failed=errs[responder], payload=64,
               latency_p50_ns=pct(lat, 50), latency_p99_ns=pct(lat, 99),
               latency_max_ns=max(lat) if lat else 0,
               latency_mean_ns=int(statistics.mean(lat)) if lat else 0,
               requests_per_s=round(len(lat) / walls[responder], 1) if walls[responder] else 0)


LOSS_TIMEOUT = 20


def section_loss():
    # 4 KiB events: the producer publishes them several times faster than any
    # listener reads them, so the backlog outgrows a 4 MiB buffer within
    # milliseconds (and stays below 256 MiB)
    count, size = (2000, 4096) if SMOKE else (20000, 4096)
    say(f"loss: burst of {count} x {size} B")
    cases = [
        ("swift", "default (4 MiB)", None, True),
        ("swift", "default (4 MiB)", None, False),
        ("swift", "256 MiB", "256M", True),
        ("swift", "256 MiB", "256M", False),
        ("c_raw", "default (rmem_default)", None, False),
        ("c_raw", "256 MiB", "256M", False),
        ("c_libnl", "default (rmem_default)", None, False),
    ]
    if SMOKE:
        cases = cases[:2] + cases[4:5]
    for consumer, label, rcvbuf, recovery in cases:
        if consumer == "swift":
            if not NLPUSH:
                continue
            # give up after LOSS_TIMEOUT s: what is still unaccounted then is "missing"
            r = swift_bench(size, 1, count, "test", rcvbuf=rcvbuf, recovery=recovery,
                            timeout=LOSS_TIMEOUT)
        else:
            tool = "nlpush_cat" if consumer == "c_raw" else "nlpush_libnl_listen"
            r = c_cell(tool, "test", size, 1, count, rcvbuf=rcvbuf)
            if r:
                r["recovered"] = 0
        st = stats()
        record("loss", consumer=consumer, rcvbuf=label, recovery=recovery, count=count, size=size,
               result=r, ring_max_events=st.get("ring_max_events"))
        if r:
            say(f"  {consumer} rcvbuf {label} recovery {recovery}: lost {r['lost']} "
                f"recovered {r.get('recovered', 0)} in {r['seconds']:.2f}s")


def section_scaling():
    subs_list = (1, 2, 4, 8, 16, 32, 64)
    sizes = {64: 10000, 256: 10000, 1024: 5000, 4096: 3000, 16384: 1000, 61440: 500}
    sub_count = 3000
    if SMOKE:
        subs_list = (1, 4)
        sizes = {64: 500, 61440: 50}
        sub_count = 300
    say("scaling: subscribers 1..64 at 1 KiB, payload 64 B..60 KiB at 1 subscriber")
    for subs in subs_list:
        for consumer in ("c_raw", "swift"):
            if consumer == "swift" and not NLPUSH:
                continue
            r = consumer_cell(consumer, "test", 1024, subs, sub_count)
            record("scaling", axis="subscribers", size=1024, subscribers=subs, count=sub_count,
                   consumer=consumer, result=r)
            if r:
                say(f"  x{subs} {consumer}: {r['events_per_s']:.0f} ev/s/sub, "
                    f"{r['deliveries_per_s']:.0f} deliveries/s, lost {r['lost']}")
    for size, count in sizes.items():
        for consumer in ("c_raw", "swift"):
            if consumer == "swift" and not NLPUSH:
                continue
            r = consumer_cell(consumer, "test", size, 1, count)
            record("scaling", axis="size", size=size, subscribers=1, count=count,
                   consumer=consumer, result=r)
            if r:
                say(f"  {size} B {consumer}: {r['events_per_s']:.0f} ev/s, "
                    f"{r['events_per_s'] * size / 1e6:.1f} MB/s payload, lost {r['lost']}")


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            d = dict(line.split(":", 1) for line in f)
        return int(d["VmRSS"].split()[0]), int(d["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return 0, 0


def section_memory():
    if not NLPUSH:
        return
    total, chunk, size = (10000, 5000, 64) if SMOKE else (1000000, 20000, 64)
    say(f"memory: RSS of nlpush monitor --subscribers 16 --quiet while {total} events x {size} B flow")
    err = logfile("monitor16")
    p = subprocess.Popen([NLPUSH, "monitor", "--subscribers", "16", "--quiet", "--json"],
                         stdout=subprocess.PIPE, stderr=err, text=True)
    deadline = time.monotonic() + 120
    while stats().get("subscribers", 0) < 16 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    samples = []
    rss0, _ = rss_kb(p.pid)
    samples.append({"events": 0, "rss_kb": rss0, "t": 0})
    t0 = time.monotonic()
    sent = 0
    while sent < total:
        produce("test", chunk, size)
        sent += chunk
        time.sleep(0.3)
        r, hwm = rss_kb(p.pid)
        samples.append({"events": sent, "rss_kb": r, "hwm_kb": hwm,
                        "t": round(time.monotonic() - t0, 2)})
    # let the subscriptions drain, then stop it and read its summary
    time.sleep(3)
    r, hwm = rss_kb(p.pid)
    samples.append({"events": sent, "rss_kb": r, "hwm_kb": hwm, "t": round(time.monotonic() - t0, 2),
                    "drained": True})
    p.send_signal(signal.SIGINT)
    try:
        o, _ = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        o, _ = p.communicate()
    err.close()
    summ = [json.loads(x) for x in o.splitlines() if x.startswith("{")]
    recv = sum(s.get("received", 0) for s in summ if s.get("kind") == "summary")
    lost = sum(s.get("lost", 0) for s in summ if s.get("kind") == "summary")
    recovered = sum(s.get("recovered", 0) for s in summ if s.get("kind") == "summary")
    rss_after_first = samples[1]["rss_kb"] if len(samples) > 1 else rss0
    record("memory", events=total, size=size, subscribers=16, samples=samples,
           rss_start_kb=rss0, rss_after_first_chunk_kb=rss_after_first,
           rss_end_kb=samples[-1]["rss_kb"], rss_max_kb=max(s["rss_kb"] for s in samples),
           hwm_kb=samples[-1].get("hwm_kb"), received=recv, lost=lost, recovered=recovered,
           seconds=round(time.monotonic() - t0, 1))
    say(f"  RSS {rss0} -> {samples[-1]['rss_kb']} kB (max {max(s['rss_kb'] for s in samples)}), "
        f"received {recv}, lost {lost}")


def section_record():
    """The fixed streams the host decode benchmarks replay."""
    for size, count in (((64, 200),) if SMOKE else ((64, 1000), (1024, 300))):
        path = os.path.join(OUT, f"stream-{size}.bin")
        ls = Listeners("nlpush_cat", 1, count, BIG_RCVBUF, ["--record", path])
        produce("test", count, size)
        r = ls.finish()
        record("record", size=size, count=count, file=os.path.basename(path),
               received=r[0]["events"] if r else 0)


def main():
    say(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, nlpush CLI: {NLPUSH or 'none'}"
        f"{', SMOKE' if SMOKE else ''}")
    record("meta", kernel=os.uname().release, cpus=os.cpu_count(), smoke=SMOKE,
           swift_cli=bool(NLPUSH), rmem_default=int(open("/proc/sys/net/core/rmem_default").read()),
           rmem_max=int(open("/proc/sys/net/core/rmem_max").read()),
           mem_total_kb=meminfo()["MemTotal"], started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    for name, fn in (("ring", section_ring), ("publish", section_publish),
                     ("throughput", section_throughput), ("burst", section_burst),
                     ("ringbuf", section_ringbuf),
                     ("batching", section_batching),
                     ("requests", section_requests),
                     ("loss", section_loss), ("scaling", section_scaling),
                     ("memory", section_memory), ("record", section_record)):
        if not want(name):
            continue
        t = time.monotonic()
        try:
            fn()
        except Exception as e:  # keep going: one broken section must not lose the rest
            say(f"section {name} FAILED: {e!r}")
            record("error", where=name, error=repr(e))
        record("timing", where=name, seconds=round(time.monotonic() - t, 1))
        say(f"section {name}: {time.monotonic() - t:.0f}s")
    record("meta_end", seconds=round(time.monotonic() - T0, 1))
    say("done")


main()
