#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks dist/grafana/nlpush-dashboard.json against a live exporter and a
real Prometheus server (Tests/vm/suites.d/50-prometheus.sh): every metric
the dashboard names is in the exporter's /metrics text, and every panel's
query (Grafana variables replaced) runs on Prometheus without error and
returns a series.

    check_dashboard.py DASHBOARD METRICS_FILE PROMETHEUS_URL

TAP-style lines, "N passed, N failed"; exit 1 on any failure.
"""
import json
import re
import sys
import urllib.parse
import urllib.request

dash_path, metrics_path, prom = sys.argv[1:4]
dash = json.load(open(dash_path))
exported = set()
for line in open(metrics_path):
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
    if m and not line.startswith("#"):
        exported.add(m.group(1))
passed = failed = 0


def report(good, name, why=""):
    global passed, failed
    if good:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"not ok - {name}: {why}")


exprs = [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]
exprs += [(f"variable {v['name']}", v["definition"]) for v in dash["templating"]["list"] if "definition" in v]
names = set()
for _, e in exprs:
    names.update(re.findall(r"\bnlpush_[a-z_]+", e))
for n in sorted(names):
    report(n in exported, f"dashboard metric {n} is exported", "not in the exporter's /metrics")

subst = {"$instance": ".*", "$subscription": ".*", "$__rate_interval": "1m"}
for title, e in exprs:
    if e.startswith("label_values("):
        continue
    for k, v in subst.items():
        e = e.replace(k, v)
    url = prom.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": e})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            doc = json.load(r)
        good = doc.get("status") == "success" and len(doc["data"]["result"]) > 0
        why = f"{doc.get('error', '')} ({len(doc.get('data', {}).get('result', []))} series)"
    except Exception as ex:  # HTTP 400 for a bad query, or no answer
        good, why = False, repr(ex)
    report(good, f"{title}: {e[:90]} runs on Prometheus and returns a series", why)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
