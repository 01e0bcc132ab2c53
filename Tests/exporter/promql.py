#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Asks a Prometheus server's HTTP API (/api/v1/query) and prints the answer,
for Tests/vm/suites.d/50-prometheus.sh.

    promql.py URL QUERY              the value of each series, one per line
    promql.py URL QUERY --label L    label L of each series instead
    promql.py URL 'm[5m]' --samples  every sample of a range vector, one
                                     "UNIX_TIME VALUE" line each
    promql.py URL QUERY --wait V [--timeout S]
                                     polls until the query's only value is V,
                                     quietly
                                     (exit 1 with what it last saw after S
                                     seconds, default 60)

Prints nothing for an empty result; exits 2 when the server does not answer
or answers an error.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("url")
ap.add_argument("query")
ap.add_argument("--label")
ap.add_argument("--samples", action="store_true")
ap.add_argument("--wait")
ap.add_argument("--timeout", type=float, default=60)
a = ap.parse_args()


def ask():
    url = a.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": a.query})
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError(f"prometheus: {doc.get('errorType')}: {doc.get('error')}")
    out = []
    for s in doc["data"]["result"]:
        if a.samples:
            out.extend(f"{t:.3f} {v}" for t, v in s["values"])
        else:
            out.append(s["metric"].get(a.label, "") if a.label else s["value"][1])
    return out


def norm(v):
    try:
        return repr(float(v))
    except ValueError:
        return v


if a.wait is None:
    try:
        print("\n".join(ask()))
    except (OSError, urllib.error.URLError, RuntimeError, KeyError) as e:
        print(f"promql.py: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)

deadline = time.monotonic() + a.timeout
seen = None
while True:
    try:
        seen = ask()
        if len(seen) == 1 and norm(seen[0]) == norm(a.wait):
            sys.exit(0)
    except (OSError, urllib.error.URLError, RuntimeError, KeyError) as e:
        seen = f"error: {e}"
    if time.monotonic() > deadline:
        print(f"promql.py: {a.query} is {seen!r} after {a.timeout:.0f} s, not {a.wait}", file=sys.stderr)
        sys.exit(1)
    time.sleep(0.5)
