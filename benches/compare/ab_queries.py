#!/usr/bin/env python3
"""The query half of `benches/ab.sh`: the same requests to two builds of
runlogd serving the same corpus, alternating, so that machine noise falls
on both.

Why this file exists: a change that should not alter speed (a restructure,
a dependency bump) is shown not to by ratios measured side by side in one
run, never by figures from different days. Each build indexes the corpus
into a data directory of its own and serves it on 127.0.0.1 with a token of
its own; every query is asked REPS times of each build, old and new taking
turns, and the table gives the medians and new / old. The two answers of
every query must be the same lines, or the table says so.

Usage: ab_queries.py OLD_BIN NEW_BIN REPO WORK RUN_ID REPS
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse

old_bin, new_bin, repo, work, run_id, reps = sys.argv[1:7]
reps = int(reps)
bins = {"old": old_bin, "new": new_bin}
env = dict(os.environ, RUST_LOG="warn")
for k in ("RUNLOGD_CONFIG", "RUNLOGD_DATA", "RUNLOGD_REPOSITORY", "RUNLOGD_LISTEN"):
    env.pop(k, None)


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


procs, ports, conns, tokens = {}, {}, {}, {}
try:
    for which, binary in bins.items():
        d = os.path.join(work, f"queries-{which}")
        os.makedirs(d, exist_ok=True)
        port = free_port()
        conf = os.path.join(d, "runlogd.toml")
        with open(conf, "w") as f:
            f.write(
                f'data = "{d}/data"\nrepository = "{repo}"\nlisten = "127.0.0.1:{port}"\n'
                "[rate_limit]\nrequests_per_minute = 100000000\n"
            )
        subprocess.run([binary, "index", "--config", conf], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run([binary, "token", "create", "--config", conf, "--scopes",
                              "system:read", "--name", "ab"], check=True, env=env,
                             capture_output=True, text=True)
        tokens[which] = out.stdout.strip().splitlines()[-1]
        procs[which] = subprocess.Popen([binary, "serve", "--config", conf], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ports[which] = port
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", "/readyz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit(f"the {which} build did not become ready")
            time.sleep(0.1)
    # The query connections are opened once both builds are ready: a
    # connection left idle while the other build indexes a large corpus is
    # closed by the daemon's header read timeout (10 s by default).
    for which, port in ports.items():
        conns[which] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def get(which, path):
        c = conns[which]
        started = time.perf_counter()
        c.request("GET", path, headers={"Authorization": "Bearer " + tokens[which]})
        r = c.getresponse()
        body = r.read()
        elapsed = time.perf_counter() - started
        if r.status != 200:
            sys.exit(f"{which} {path}: {r.status} {body[:200]!r}")
        return elapsed, json.loads(body).get("data")

    common = urllib.parse.quote("shared libraries")
    queries = [
        ("first page, no filter", f"/api/v1/runs/{run_id}/logs?limit=100"),
        ("`contains` common", f"/api/v1/runs/{run_id}/logs?limit=100&contains={common}"),
        ("`contains` rare", f"/api/v1/runs/{run_id}/logs?limit=100&contains=ccx_rare_7f3a9c"),
        ("`contains` absent", f"/api/v1/runs/{run_id}/logs?limit=100&contains=zebra_unicorn_qx"),
        ("`level=error`", f"/api/v1/runs/{run_id}/logs?limit=100&level=error"),
        ("search across runs, common", f"/api/v1/logs/search?contains={common}"),
        ("list of logs", "/api/v1/logs?limit=50"),
    ]
    print(f"Queries: {reps} of each per build, alternating; run {run_id}; "
          f"load average before: {os.getloadavg()[0]:.2f}.")
    print()
    print("| query | old (median) | new (median) | new / old |")
    print("|---|---:|---:|---:|")
    for name, path in queries:
        times = {"old": [], "new": []}
        answers = {}
        for i in range(reps):
            for which in (("old", "new") if i % 2 == 0 else ("new", "old")):
                elapsed, data = get(which, path)
                times[which].append(elapsed)
                answers[which] = data
        o = statistics.median(times["old"])
        n = statistics.median(times["new"])
        same = "" if answers["old"] == answers["new"] else " (the answers differ)"
        print(f"| {name}{same} | {o * 1e6:.0f} µs | {n * 1e6:.0f} µs | {n / o:.2f} |")
finally:
    for p in procs.values():
        p.terminate()
