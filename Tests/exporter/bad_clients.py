#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The bad-request run against `nlpush exporter` (issue 14): unknown paths and
methods, garbage, huge headers, too many headers, a huge body, slow clients
that never finish their request, clients that vanish mid-request, and 200
concurrent connections. Every one must get an error or an answer (or be
closed), and after each the next scrape of /metrics must answer 200 with
nlpush_up: the exporter never stops serving.

    bad_clients.py HOST:PORT [--slow N] [--concurrent N]

Prints TAP-style lines ("ok - ...", "not ok - ...") and "N passed, N failed";
exits non-zero on any failure. Standard library only.
"""
import argparse
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("address", help="HOST:PORT of the exporter")
ap.add_argument("--slow", type=int, default=50, help="slow clients held open at once")
ap.add_argument("--concurrent", type=int, default=200, help="concurrent scrapes")
ap.add_argument("--timeout", type=float, default=30, help="seconds one answer may take")
args = ap.parse_args()
host, _, port = args.address.rpartition(":")
host = host.strip("[]")
port = int(port)
results = {"pass": 0, "fail": 0}


T0 = time.time()


def ok(name):
    print(f"ok - {name} [{time.time():.1f}]", flush=True)
    results["pass"] += 1


def bad(name, why):
    print(f"not ok - {name}: {why}", flush=True)
    results["fail"] += 1


def connect():
    s = socket.create_connection((host, port), timeout=args.timeout)
    s.settimeout(args.timeout)
    return s


def raw(data, chunk=None):
    """Sends data, returns the status line received ("" if the server closed
    without answering). With chunk, sends in pieces (a large request)."""
    s = connect()
    try:
        try:
            if chunk:
                for i in range(0, len(data), chunk):
                    s.sendall(data[i:i + chunk])
            else:
                s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the rest: it must still answer or close
        buf = b""
        while b"\r\n" not in buf:
            try:
                part = s.recv(4096)
            except ConnectionResetError:
                break
            if not part:
                break
            buf += part
        return buf.split(b"\r\n", 1)[0].decode("latin-1")
    finally:
        s.close()


def scrape():
    """GET /metrics: (status, body) or raises."""
    url = f"http://{host if ':' not in host else '[' + host + ']'}:{port}/metrics"
    with urllib.request.urlopen(url, timeout=args.timeout) as r:
        return r.status, r.read().decode()


def still_serving(after):
    try:
        status, body = scrape()
    except (OSError, urllib.error.URLError) as e:
        bad(f"a scrape after {after} is answered", repr(e))
        return
    if status == 200 and "\nnlpush_up " in "\n" + body:
        ok(f"a scrape after {after} is answered (200, nlpush_up)")
    else:
        bad(f"a scrape after {after} is answered", f"status {status}, nlpush_up missing")


def expect_status(name, data, accept, chunk=None):
    try:
        line = raw(data, chunk)
    except OSError as e:
        bad(name, repr(e))
        return
    code = line.split(" ")[1] if line.startswith("HTTP/1.1 ") else ""
    if code in accept or ("closed" in accept and not line):
        ok(f"{name}: {line or 'closed'}")
    else:
        bad(name, f"got {line!r}, wanted one of {sorted(accept)}")
    still_serving(name)


still_serving("start")
expect_status("unknown path", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", {"404"})
expect_status("POST /metrics", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
              {"404", "405"})
expect_status("garbage request line", b"\x00\x01GARBAGE \xff\r\n\r\n", {"400", "closed"})
expect_status("HTTP/0.9 style request", b"GET /metrics\r\n\r\n", {"400", "closed", "200"})
expect_status("one 1 MiB header", b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
              {"400", "431", "closed"}, chunk=65536)
expect_status("5,000 headers", b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
              + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n", {"400", "431", "closed"},
              chunk=65536)
expect_status("a 16 MiB body", b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n"
              + b"b" * (16 << 20), {"200", "400", "413", "closed"}, chunk=1 << 20)
expect_status("a lying Content-Length", b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
              {"400", "closed"})

# clients that vanish mid-request
for _ in range(20):
    s = connect()
    s.sendall(b"GET /metrics HTTP/1.1\r\nHo")
    s.close()
still_serving("20 clients closed mid-request")

# slow clients: connected, half a request line, then nothing; the exporter
# must keep answering scrapes while they hang (and close them once idle)
slow = []
for _ in range(args.slow):
    s = connect()
    s.sendall(b"GET /metr")
    slow.append(s)
still_serving(f"{args.slow} slow clients hold connections open")
# a slow client sending one header byte per second keeps no scrape waiting
drip = connect()
drip.sendall(b"GET /metrics HTTP/1.1\r\n")
for _ in range(3):
    drip.sendall(b"X")
    time.sleep(1)
still_serving("a client dripping a header byte per second")
drip.close()
for s in slow:
    s.close()

# 200 concurrent scrapes
codes = []
lock = threading.Lock()


def one():
    try:
        status, body = scrape()
        r = status if "\nnlpush_up " in "\n" + body else f"{status} without nlpush_up"
    except (OSError, urllib.error.URLError) as e:
        r = repr(e)
    with lock:
        codes.append(r)


threads = [threading.Thread(target=one) for _ in range(args.concurrent)]
flood_start = time.time()
t0 = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
took = time.monotonic() - t0
# when the connections were open (UNIX times), for the Prometheus check of
# Tests/vm/suites.d/50-prometheus.sh
print(f"# flood: {flood_start:.3f} {time.time():.3f}", flush=True)
good = sum(1 for c in codes if c == 200)
if good == args.concurrent:
    ok(f"{args.concurrent} concurrent scrapes all answered 200 ({took:.1f} s)")
else:
    others = sorted({str(c) for c in codes if c != 200})[:3]
    bad(f"{args.concurrent} concurrent scrapes all answered 200", f"{good} did, others: {others}")
still_serving(f"{args.concurrent} concurrent scrapes")

print(f"{results['pass']} passed, {results['fail']} failed", flush=True)
sys.exit(1 if results["fail"] else 0)
