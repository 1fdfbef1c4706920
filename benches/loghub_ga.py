#!/usr/bin/env python3
"""Grouping accuracy of runlogd's failure signatures on Loghub-2k, measured
through a real daemon.

Usage: benches/loghub_ga.py LOGHUB [--binary PATH] [--port N] [--keep DIR]

LOGHUB is a copy of logpai/loghub-2.0: its work tree (holding
`2k_dataset/`), the `2k_dataset` folder itself, or the bare git directory
that `fetch github:logpai/loghub-2.0` leaves (read with `git show`).

Each of the 14 systems' 2,000 `Content` lines becomes one run of a fresh
repository (run 1 is Apache, run 2 BGL, ...). A runlogd daemon (the release
build, else the debug one, else --binary) indexes them with its one built-in
configuration; the script then reads the groups back through the API only:
each run's signatures at every level (`GET /runs/{id}/signatures`), and the
lines of each (`GET /runs/{id}/logs?signature=`). A line's predicted group
is the signature it was served under; its true group is its
`EventTemplate`. The grouping accuracy (GA) of a system is the share of
lines whose predicted group holds exactly the lines of their true group
(loghub-2.0's `get_group_accuracy`). Prints a markdown table of GA per
system and the average.
"""

import argparse
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import defaultdict

SYSTEMS = ["Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
           "OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Zookeeper"]
LEVELS = "debug,info,warning,error,critical"


def read_csv(loghub, system):
    """The system's (Content, EventTemplate) rows."""
    name = f"{system}_2k.log_structured_corrected.csv"
    for path in (os.path.join(loghub, "2k_dataset", system, name), os.path.join(loghub, system, name),
                 os.path.join(loghub, name)):
        if os.path.isfile(path):
            with open(path, newline="", encoding="utf-8") as f:
                text = f.read()
            break
    else:
        if not os.path.exists(os.path.join(loghub, "HEAD")):
            sys.exit(f"{loghub}: no {name} (give loghub-2.0's work tree, its 2k_dataset folder, or its git directory)")
        text = subprocess.run(["git", "--git-dir", loghub, "show", f"HEAD:2k_dataset/{system}/{name}"],
                              check=True, capture_output=True).stdout.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return [(r["Content"], r["EventTemplate"]) for r in rows]


def group_accuracy(predicted, truth):
    """Share of lines whose predicted group is exactly their true group."""
    by_pred, by_true = defaultdict(set), defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth)):
        by_pred[p].add(i)
        by_true[t].add(i)
    correct = sum(len(lines) for lines in by_true.values()
                  if by_pred[predicted[next(iter(lines))]] == lines)
    return correct / len(truth)


class Daemon:
    def __init__(self, binary, repo, data, port):
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, RUST_LOG="warn")
        for k in ("RUNLOGD_CONFIG", "RUNLOGD_DATA", "RUNLOGD_REPOSITORY"):
            env.pop(k, None)
        # The script asks thousands of questions: no rate limit in its way.
        config = os.path.join(os.path.dirname(data), "runlogd.toml")
        with open(config, "w") as f:
            f.write(f'data = "{data}"\nrepository = "{repo}"\nlisten = "127.0.0.1:{port}"\n'
                    "[rate_limit]\nrequests_per_minute = 100000000\n")
        out = subprocess.run([binary, "token", "create", "--config", config, "--scopes", "system:read"],
                             check=True, capture_output=True, text=True, env=env).stdout
        self.token = out.strip().splitlines()[-1]
        self.proc = subprocess.Popen([binary, "serve", "--config", config],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if urllib.request.urlopen(f"{self.base}/readyz", timeout=2).status == 200:
                    return
            except Exception:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"runlogd exited with {self.proc.returncode}")
            time.sleep(0.1)
        self.stop()
        sys.exit("runlogd did not become ready")

    def get(self, path, **params):
        url = f"{self.base}/api/v1{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def pages(self, path, **params):
        cursor = None
        while True:
            query = dict(params, limit=100)
            if cursor:
                query["cursor"] = cursor
            body = self.get(path, **query)
            yield from body["data"]
            cursor = body["pagination"]["next_cursor"]
            if not cursor:
                return

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def default_binary():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    for profile in ("release", "debug"):
        path = os.path.join(target, profile, "runlogd")
        if os.access(path, os.X_OK):
            return path
    sys.exit("no runlogd binary: build one (cargo build --release) or give --binary")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loghub")
    ap.add_argument("--binary", default=None)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--keep", default=None, help="work in this folder and keep it")
    a = ap.parse_args()
    binary = a.binary or default_binary()
    work = a.keep or tempfile.mkdtemp(prefix="runlogd-loghub.")
    repo = os.path.join(work, "repo")
    logs = os.path.join(repo, "LogFiles")
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
    os.makedirs(logs)

    truth = {}
    for run, system in enumerate(SYSTEMS, start=1):
        rows = read_csv(a.loghub, system)
        truth[run] = [t for _, t in rows]
        # One line each: a Content holding a line break would split.
        content = "".join(c.replace("\r", " ").replace("\n", " ") + "\n" for c, _ in rows)
        with open(os.path.join(logs, f"{run}.txt"), "w", encoding="utf-8") as f:
            f.write(content)

    daemon = Daemon(binary, repo, os.path.join(work, "data"), a.port or free_port())
    results = []
    try:
        for run, system in enumerate(SYSTEMS, start=1):
            lines = len(truth[run])
            predicted = [None] * lines
            signatures = {item["signature"] for item in daemon.pages(f"/runs/{run}/signatures", level=LEVELS)}
            for sig in signatures:
                for line in daemon.pages(f"/runs/{run}/logs", signature=sig):
                    predicted[line["line"] - 1] = sig
            missing = sum(p is None for p in predicted)
            if missing:
                sys.exit(f"{system}: {missing} lines are under no signature")
            ga = group_accuracy(predicted, truth[run])
            results.append((system, lines, len(set(truth[run])), len(signatures), ga))
            print(f"{system}: GA {ga:.3f}", file=sys.stderr)
    finally:
        daemon.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    print("| system | lines | true groups | signatures | GA |")
    print("|---|---:|---:|---:|---:|")
    for system, lines, groups, sigs, ga in results:
        print(f"| {system} | {lines:,} | {groups} | {sigs} | {ga:.3f} |")
    average = sum(r[4] for r in results) / len(results)
    print(f"| **average** | | | | **{average:.3f}** |")


if __name__ == "__main__":
    main()
