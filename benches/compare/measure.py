#!/usr/bin/env python3
"""The measuring driver of `benches/compare.sh`.

Why this file exists: the comparison must put runlogd, the platform's current
algorithm (`platform.py`), `rg` and SQLite FTS5 (trigram) side by side on the
same corpus, in one run, with medians of repeated measurements and the ratios
computed from those same numbers. `compare.sh` checks the tools, builds the
binary and the corpus, then hands over to this script, which:

1. times `runlogd index` on fresh data directories (wall and CPU time);
2. builds the FTS5 trigram database from the same lines (timed the same way);
3. starts `runlogd serve` on the last indexed data directory, with a token;
4. measures the first `contains` page (rare / common / absent needle) on the
   large run for all four, and walking the large run to the end 100 lines a
   page (runlogd and FTS5 walk it for real; the platform's walk is quadratic,
   so a bounded number of its pages is measured at several depths and the
   full walk extrapolated from a straight-line fit of page time vs depth);
5. reads sizes and the daemon's peak RSS, prints the markdown table and
   writes its section of `RESULTS.md` (see `results.py`).

It refuses to write anything when the tools disagree on an answer (the
number of matching lines of a first page, the lines of a walk): a figure is
only worth publishing when every tool answered the same question.

The needles are the constants of `benches/support/corpus.rs`, passed in by `compare.sh`.
"""

import argparse
import datetime
import http.client
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def load_platform():
    spec = importlib.util.spec_from_file_location("platform_algo", os.path.join(HERE, "platform.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PLATFORM = load_platform()
sys.path.insert(0, HERE)
from results import Mismatch, write_section  # noqa: E402


def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def median_of(fn, repeat):
    """Median wall time of `fn()` over `repeat` calls, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def proc_status(pid):
    """A process's memory figures from /proc/PID/status, in bytes ({} once it is gone)."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    fields[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return fields


def du_bytes(path):
    out = subprocess.run(["du", "-sb", path], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0])


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- runlogd


def index_once(binary, repo, data):
    shutil.rmtree(data, ignore_errors=True)
    cpu0 = children_cpu()
    t = time.perf_counter()
    subprocess.run(
        [binary, "index", "--repository", repo, "--data", data],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    return time.perf_counter() - t, children_cpu() - cpu0


class Daemon:
    def __init__(self, binary, repo, data, port, work, sample=None):
        """Starts `runlogd serve` and waits until it is ready. `sample`, when
        given, is called with the process id as soon as it runs (to watch the
        start-up scan); its result is kept as `self.sampler`."""
        self.port = port
        os.makedirs(work, exist_ok=True)
        config = os.path.join(work, "serve.toml")
        with open(config, "w") as f:
            # No rate limit in the way of thousands of walk requests; no
            # watcher (the corpus does not change while measured).
            f.write('[rate_limit]\nrequests_per_minute = 1000000000\n[watch]\nmode = "none"\n')
        out = subprocess.run(
            [binary, "token", "create", "--scopes", "system:read", "--data", data],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        self.token = out.strip().splitlines()[-1].strip()
        self.stderr = open(os.path.join(work, "serve.log"), "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--config", config, "--repository", repo, "--data", data,
             "--listen", f"127.0.0.1:{port}"],
            stdout=self.stderr,
            stderr=self.stderr,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        self.sampler = sample(self.proc.pid) if sample else None
        self.conn = None
        deadline = time.time() + 1800
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"runlogd serve exited early; see {self.stderr.name}")
            try:
                status, _ = self.get("/readyz", auth=False)
                if status == 200:
                    return
            except OSError:
                self.conn = None
            time.sleep(0.2)
        raise SystemExit("runlogd did not become ready within 1800 s")

    def get(self, path, auth=True):
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        # The daemon closes keep-alive connections left idle (while another
        # tool is measured): a closed one is opened again, once.
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            try:
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                raise

    def logs(self, run_id, **params):
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        status, body = self.get(f"/api/v1/runs/{run_id}/logs?{query}")
        if status != 200:
            raise SystemExit(f"runlogd answered {status}: {body[:300]!r}")
        return json.loads(body)

    def walk(self, run_id):
        cursor, pages, lines = None, 0, 0
        while True:
            body = self.logs(run_id, limit=100, cursor=cursor)
            pages += 1
            lines += len(body["data"])
            cursor = body["pagination"]["next_cursor"]
            if cursor is None:
                return pages, lines

    def memory(self):
        return proc_status(self.proc.pid)

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


# --------------------------------------------------------------------------- FTS5


def read_lines(path):
    """The file's lines as runlogd numbers them (UTF-8, else Windows-1252)."""
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [l[:-1] if l.endswith("\r") else l for l in lines]


def fts_build(log_dir, db):
    """FTS5 trigram table over every line. rowid = run << 32 | line, so a run's
    lines are a contiguous, ordered rowid range (what makes `ORDER BY rowid`
    and the walk cheap); `run` and `line` are also stored as columns for the
    literal query of the brief."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute(
        "CREATE VIRTUAL TABLE lines USING fts5(text, run UNINDEXED, line UNINDEXED, tokenize='trigram')"
    )
    for name in sorted(os.listdir(log_dir)):
        m = re.fullmatch(r"(\d+)\.txt", name)
        if not m:
            continue
        run = int(m.group(1))
        rows = ((run << 32 | n, text, run, n) for n, text in enumerate(read_lines(os.path.join(log_dir, name)), 1))
        con.executemany("INSERT INTO lines(rowid, text, run, line) VALUES (?, ?, ?, ?)", rows)
        con.commit()
    con.close()


def fts_phrase(needle):
    return '"' + needle.replace('"', '""') + '"'


class Fts:
    def __init__(self, db):
        self.con = sqlite3.connect(db)

    def first_page_literal(self, run, needle):
        return self.con.execute(
            "SELECT line, text FROM lines WHERE text MATCH ? AND run = ? ORDER BY line LIMIT 100",
            (fts_phrase(needle), run),
        ).fetchall()

    def first_page_rowid(self, run, needle):
        return self.con.execute(
            "SELECT line, text FROM lines WHERE lines MATCH ? AND rowid BETWEEN ? AND ? ORDER BY rowid LIMIT 100",
            (fts_phrase(needle), run << 32, (run << 32) | 0xFFFFFFFF),
        ).fetchall()

    def walk(self, run):
        after, pages, lines = run << 32, 0, 0
        last = (run << 32) | 0xFFFFFFFF
        while True:
            rows = self.con.execute(
                "SELECT rowid, text FROM lines WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT 101",
                (after, last),
            ).fetchall()
            pages += 1
            page = rows[:100]
            lines += len(page)
            if len(rows) <= 100:
                return pages, lines
            after = page[-1][0]


# --------------------------------------------------------------------------- output


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(base, other):
    if base is None or other is None or base <= 0:
        return "n/a"
    r = other / base
    return f"{r:,.0f}×" if r >= 100 else f"{r:.1f}×"


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    try:
        rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rustc = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": f"{mem / 2**30:.1f} GiB",
        "kernel": os.uname().release,
        "rustc": rustc,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "rg": subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
    }


# --------------------------------------------------------------------------- main


ALL_LEVELS = "debug,info,warning,error,critical"


def api(daemon, path, **params):
    """A 200 answer of the API, decoded."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    status, body = daemon.get(f"/api/v1{path}?{query}")
    if status != 200:
        raise SystemExit(f"runlogd answered {status} to {path}: {body[:300]!r}")
    return json.loads(body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--large-run", type=int, required=True)
    ap.add_argument("--rare", required=True)
    ap.add_argument("--common", required=True)
    ap.add_argument("--absent", required=True)
    ap.add_argument("--rare-pattern", required=True,
                    help="a regular expression whose one required literal is the rare token's")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--index-repeat", type=int, default=5)
    ap.add_argument("--fts-repeat", type=int, default=5)
    ap.add_argument("--walk-repeat", type=int, default=5)
    ap.add_argument("--platform-depths", type=int, default=5)
    ap.add_argument("--port", type=int, default=18731)
    ap.add_argument("--command", default="benches/compare.sh")
    ap.add_argument("--results", required=True)
    a = ap.parse_args()

    log_dir = os.path.join(a.repo, "LogFiles")
    large = os.path.join(log_dir, f"{a.large_run}.txt")
    corpus_bytes = du_bytes(log_dir)
    corpus_apparent = sum(os.path.getsize(os.path.join(log_dir, n)) for n in os.listdir(log_dir))
    runs = len([n for n in os.listdir(log_dir) if n.endswith(".txt")])
    with open(large, "rb") as f:
        large_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    large_bytes = os.path.getsize(large)
    log(f"corpus: {runs} runs, {corpus_apparent / 1e6:.1f} MB; large run {a.large_run}: "
        f"{large_bytes / 1e6:.1f} MB, {large_lines} lines")

    # 1. runlogd indexing
    data = os.path.join(a.work, "data")
    index_wall, index_cpu = [], []
    for i in range(a.index_repeat):
        w, c = index_once(a.binary, a.repo, data)
        index_wall.append(w)
        index_cpu.append(c)
        log(f"runlogd index {i + 1}/{a.index_repeat}: {w:.2f} s wall, {c:.2f} s CPU")
    idx_wall, idx_cpu = statistics.median(index_wall), statistics.median(index_cpu)
    data_bytes = du_bytes(data)

    # 2. FTS5 build
    db = os.path.join(a.work, "fts5.db")
    fts_wall, fts_cpu = [], []
    for i in range(a.fts_repeat):
        c0 = time.process_time()
        t = time.perf_counter()
        fts_build(log_dir, db)
        fts_wall.append(time.perf_counter() - t)
        fts_cpu.append(time.process_time() - c0)
        log(f"FTS5 build {i + 1}/{a.fts_repeat}: {fts_wall[-1]:.2f} s wall, {fts_cpu[-1]:.2f} s CPU")
    fts_build_wall, fts_build_cpu = statistics.median(fts_wall), statistics.median(fts_cpu)
    fts_bytes = os.path.getsize(db)
    fts = Fts(db)

    # 3. runlogd serving the indexed data directory
    daemon = Daemon(a.binary, a.repo, data, a.port, a.work)
    try:
        rows = []
        results = {}
        # The HTTP round trip of a request that does no work: subtracted from
        # runlogd's times to give its server time.
        t_rtt, _ = median_of(lambda: daemon.get("/healthz", auth=False), max(a.repeat, 20))
        log(f"HTTP round trip (/healthz): {t_rtt * 1e6:.0f} µs")
        # 4a. first page of contains
        for label, needle in (("rare", a.rare), ("common", a.common), ("absent", a.absent)):
            t_r, body = median_of(lambda: daemon.logs(a.large_run, contains=needle, limit=100), a.repeat)
            t_p, pbody = median_of(lambda: PLATFORM.get_logs(large, a.large_run, 100, None, contains=needle), a.repeat)
            t_g, rg = median_of(
                lambda: subprocess.run(["rg", "-F", "-i", "-m", "100", needle, large], capture_output=True), a.repeat
            )
            t_f, frows = median_of(lambda: fts.first_page_rowid(a.large_run, needle), a.repeat)
            t_fl, flrows = median_of(lambda: fts.first_page_literal(a.large_run, needle), a.repeat)
            counts = (len(body["data"]), len(json.loads(pbody)["data"]), rg.stdout.count(b"\n"), len(frows), len(flrows))
            log(f"contains {label} {needle!r}: lines runlogd/platform/rg/fts5/fts5-literal = {counts}")
            if len(set(counts)) != 1:
                raise Mismatch(f"the tools disagree on the matching lines of {needle!r}: {counts}")
            lines_r = [(l["line"], l["message"]) for l in body["data"]]
            lines_f = [(n, t[:4000]) for n, t in frows]
            if lines_r != lines_f:
                raise Mismatch(f"runlogd and FTS5 return other lines for {needle!r}")
            results[label] = dict(runlogd=t_r, platform=t_p, rg=t_g, fts=t_f, fts_literal=t_fl, lines=counts[0])
            rows.append((f"first `contains` page, {label} needle `{needle}` ({counts[0]} lines)", t_r, t_p, t_g, t_f, t_fl, ""))

        # 4a'. a regular expression whose required literal is rare: its first
        # page against `contains` with that literal, and `rg -e` (the same
        # engine, case-sensitive both)
        literal = a.rare_pattern.split("[", 1)[0]
        t_x, xbody = median_of(lambda: daemon.logs(a.large_run, regex=a.rare_pattern, limit=100), a.repeat)
        t_l, lbody = median_of(lambda: daemon.logs(a.large_run, contains=literal.lower(), limit=100), a.repeat)
        t_gx, rgx = median_of(
            lambda: subprocess.run(["rg", "-m", "100", "-e", a.rare_pattern, large], capture_output=True), a.repeat
        )
        counts = (len(xbody["data"]), rgx.stdout.count(b"\n"))
        log(f"regex {a.rare_pattern!r}: lines runlogd/rg -e = {counts}; "
            f"contains {literal.lower()!r}: {len(lbody['data'])} lines")
        if len(set(counts)) != 1 or counts[0] == 0:
            raise Mismatch(f"runlogd and rg -e disagree on the lines of {a.rare_pattern!r}: {counts}")
        results["regex"] = dict(runlogd=t_x, literal=t_l, rg=t_gx, lines=counts[0])
        rows.append((f"first `regex` page, `{a.rare_pattern}` ({counts[0]} lines; rg: `rg -m 100 -e`)",
                     t_x, None, t_gx, None, None, ""))
        rows.append((f"the same with `contains={literal.lower()}`, its literal", t_l, None, None, None, None, ""))

        # 4b. the walk
        t_walk, (pages, walked) = median_of(lambda: daemon.walk(a.large_run), a.walk_repeat)
        log(f"runlogd walk: {pages} pages, {walked} lines, median {t_walk:.2f} s")
        if walked != large_lines:
            raise Mismatch(f"runlogd walked {walked} lines, the file has {large_lines}")
        t_fwalk, (fpages, fwalked) = median_of(lambda: fts.walk(a.large_run), a.walk_repeat)
        log(f"FTS5 walk: {fpages} pages, {fwalked} lines, median {t_fwalk:.2f} s")
        if fwalked != large_lines:
            raise Mismatch(f"FTS5 walked {fwalked} lines, the file has {large_lines}")
        # The platform: pages at several depths, fitted t = a + b * depth, summed over every page.
        total_pages = -(-large_lines // 100)
        n = max(2, a.platform_depths)
        depths = [round(i * (total_pages - 1) / (n - 1)) * 100 for i in range(n)]
        samples = []
        for d in depths:
            t, _ = median_of(lambda: PLATFORM.get_logs(large, a.large_run, 100, str(d) if d else None), a.repeat)
            samples.append((d, t))
            log(f"platform page at line {d}: {t * 1e3:.1f} ms")
        mx = statistics.mean(d for d, _ in samples)
        my = statistics.mean(t for _, t in samples)
        slope = sum((d - mx) * (t - my) for d, t in samples) / sum((d - mx) ** 2 for d, _ in samples)
        intercept = my - slope * mx
        t_pwalk = total_pages * intercept + slope * 100 * total_pages * (total_pages - 1) / 2
        log(f"platform walk extrapolated: {total_pages} pages, {t_pwalk:.0f} s")
        rows.append((
            f"walk the large run to the end, 100 lines a page ({total_pages:,} pages); "
            f"platform **extrapolated** from {n} measured pages at depths 0…{depths[-1]:,}",
            t_walk, t_pwalk, None, t_fwalk, None, "",
        ))
        results["walk"] = dict(runlogd=t_walk, platform=t_pwalk, fts=t_fwalk, pages=total_pages,
                               platform_samples=samples, slope=slope, intercept=intercept)

        # 4c. the large run's failure signatures: every line is under one
        # (their counts add up to the file's lines), and the first page of
        # them, errors only (the default) and every level.
        counted, cursor = 0, None
        while True:
            body = api(daemon, f"/runs/{a.large_run}/signatures", level=ALL_LEVELS, limit=100, cursor=cursor)
            counted += sum(item["count"] for item in body["data"])
            cursor = body["pagination"]["next_cursor"]
            if cursor is None:
                break
        if counted != large_lines:
            raise Mismatch(f"the large run's signatures count {counted} lines, the file has {large_lines}")
        signature_rows = []
        for label, params in (("errors (default)", dict()), ("every level", dict(level=ALL_LEVELS, limit=100))):
            t_s, body = median_of(lambda: api(daemon, f"/runs/{a.large_run}/signatures", **params), a.repeat * 4)
            signature_rows.append((label, t_s, len(body["data"])))
            log(f"large run's signatures, {label}: {t_s * 1e3:.2f} ms, {len(body['data'])} items")

        # 5. memory after the workloads
        mem = daemon.memory()
    finally:
        daemon.stop()

    # ---------------------------------------------------------------- report
    idx_mbs = corpus_apparent / 1e6 / idx_wall
    idx_mbs_cpu = corpus_apparent / 1e6 / idx_cpu if idx_cpu > 0 else float("nan")
    fts_mbs = corpus_apparent / 1e6 / fts_build_wall
    hwm = mem.get("VmHWM", 0)
    anon = mem.get("RssAnon", 0)

    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    out.append("| workload | runlogd (HTTP) | platform algorithm | rg -F -i | FTS5 trigram (rowid order) | FTS5 literal query | platform / runlogd | rg / runlogd | FTS5 / runlogd |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r, p, g, f, fl, _ in rows:
        out.append(f"| {name} | {fmt_time(r)} | {fmt_time(p)} | {fmt_time(g)} | {fmt_time(f)} | {fmt_time(fl)} | "
                   f"{fmt_ratio(r, p)} | {fmt_ratio(r, g)} | {fmt_ratio(r, f)} |")
    out.append(
        f"| index the corpus ({corpus_apparent / 1e6:.0f} MB, {runs} runs): wall time | {fmt_time(idx_wall)} "
        f"= **{idx_mbs:.1f} MB/s** ({idx_mbs_cpu:.1f} MB/s per CPU-second, {idx_cpu:.1f} s CPU) | n/a (no index) | n/a (no index) | "
        f"{fmt_time(fts_build_wall)} = {fts_mbs:.1f} MB/s ({fts_build_cpu:.1f} s CPU, 1 core, includes Python reading) | — | — | — | "
        f"{fmt_ratio(idx_wall, fts_build_wall)} |"
    )
    out.append(
        f"| index size vs raw ({corpus_bytes / 1e6:.0f} MB on disk) | {data_bytes / 1e6:.0f} MB = **{data_bytes / corpus_bytes:.2f}×** "
        f"| 0 | 0 | {fts_bytes / 1e6:.0f} MB = {fts_bytes / corpus_bytes:.2f}× | — | — | — | — |"
    )
    out.append(
        f"| daemon peak RSS (VmHWM) after the workloads | {hwm / 2**20:.0f} MiB (anon {anon / 2**20:.0f} MiB, "
        f"file-backed {mem.get('RssFile', 0) / 2**20:.0f} MiB) | — | — | — | — | — | — | — |"
    )
    table = "\n".join(out)

    walk = results["walk"]
    server = {k: max(results[k]["runlogd"] - t_rtt, 0.0) for k in ("rare", "absent")}
    targets = [
        ("rare and absent first page ≤ 1 ms server time (HTTP time less the /healthz round trip)",
         all(v <= 1e-3 for v in server.values()),
         ", ".join(f"{k} {fmt_time(v)}" for k, v in server.items()) + f" (round trip {fmt_time(t_rtt)})"),
        # FTS5 runs in-process: it is compared with runlogd's server time.
        ("rare and absent first page within 2× of FTS5 trigram (rowid order, in-process; runlogd's server time)",
         all(server[k] <= 2 * results[k]["fts"] for k in ("rare", "absent")),
         ", ".join(f"{k}: runlogd {fmt_time(server[k])} / FTS5 {fmt_time(results[k]['fts'])}" for k in ("rare", "absent"))),
        ("rare and absent first page ≥ 10× faster than rg -F -i",
         all(results[k]["rg"] >= 10 * results[k]["runlogd"] for k in ("rare", "absent")),
         ", ".join(f"{k} {fmt_ratio(results[k]['runlogd'], results[k]['rg'])}" for k in ("rare", "absent"))),
        ("rare and absent first page ≥ 200× faster than the platform",
         all(results[k]["platform"] >= 200 * results[k]["runlogd"] for k in ("rare", "absent")),
         ", ".join(f"{k} {fmt_ratio(results[k]['runlogd'], results[k]['platform'])}" for k in ("rare", "absent"))),
        ("first `contains` page ≥ 10× faster than the platform (every needle)",
         min(results[k]["platform"] / results[k]["runlogd"] for k in ("rare", "common", "absent")) >= 10,
         ", ".join(f"{k} {fmt_ratio(results[k]['runlogd'], results[k]['platform'])}" for k in ("rare", "common", "absent"))),
        ("first `contains` page faster than rg on the same file (every needle)",
         all(results[k]["rg"] > results[k]["runlogd"] for k in ("rare", "common", "absent")),
         ", ".join(f"{k} {fmt_ratio(results[k]['runlogd'], results[k]['rg'])}" for k in ("rare", "common", "absent"))),
        ("a rare regex's first page within 2× of `contains` with its literal, and ≥ 10× faster than `rg -e`",
         results["regex"]["runlogd"] <= 2 * results["regex"]["literal"]
         and results["regex"]["rg"] >= 10 * results["regex"]["runlogd"],
         f"{fmt_time(results['regex']['runlogd'])} vs {fmt_time(results['regex']['literal'])} "
         f"({results['regex']['runlogd'] / results['regex']['literal']:.2f}×); rg -e "
         f"{fmt_ratio(results['regex']['runlogd'], results['regex']['rg'])}"),
        ("full walk ≥ 100× faster than the platform (extrapolated)",
         walk["platform"] / walk["runlogd"] >= 100, fmt_ratio(walk["runlogd"], walk["platform"])),
        ("indexing ≥ 25 MB/s per CPU-second", idx_mbs_cpu >= 25,
         f"{idx_mbs_cpu:.1f} MB/s per CPU-second ({idx_mbs:.1f} MB/s wall on {m['cores']} cores)"),
        ("indexing not slower than FTS5 trigram", idx_wall <= fts_build_wall,
         f"FTS5 build / runlogd index = {fmt_ratio(idx_wall, fts_build_wall)}"),
        ("index ≤ 1.5× raw", data_bytes <= 1.5 * corpus_bytes, f"{data_bytes / corpus_bytes:.2f}×"),
        (f"the large run's signatures ({large_lines:,} lines), first page ≤ 20 ms server time",
         all(max(t - t_rtt, 0.0) <= 20e-3 for _, t, _ in signature_rows),
         ", ".join(f"{label} {fmt_time(max(t - t_rtt, 0.0))} ({n} items)" for label, t, n in signature_rows)),
    ]
    tlines = ["| target | met? | measured |", "|---|---|---|"]
    for name, ok, detail in targets:
        tlines.append(f"| {name} | {'met' if ok else '**missed**'} | {detail} |")
    target_table = "\n".join(tlines)

    samples = ", ".join(f"line {d:,}: {t * 1e3:.0f} ms" for d, t in walk["platform_samples"])
    md = f"""## One large run: runlogd vs the platform's algorithm, rg and SQLite FTS5

Generated by `{a.command}` on {now}. Every number is the median of
{a.repeat} runs (indexing: {a.index_repeat}, FTS5 build: {a.fts_repeat}, walks: {a.walk_repeat});
all ratios come from this same run. Ratios are *other tool's time / runlogd's time*
(above 1× means runlogd is faster).

### Machine

| | |
|---|---|
| CPU | {m['cpu']} |
| cores | {m['cores']} |
| RAM | {m['ram']} |
| kernel | {m['kernel']} |
| rustc | {m['rustc']} |
| Python / SQLite | {m['python']} / {m['sqlite']} |
| rg | {m['rg']} |

### Data

The `corpus` example (deterministic; see `benches/support/corpus.rs`): {runs} runs, {corpus_apparent / 1e6:.1f} MB;
the large run {a.large_run} is {large_bytes / 1e6:.1f} MB, {large_lines:,} lines and loops on errors.
Needles (constants in `benches/support/corpus.rs`): rare `{a.rare}` (in {results['rare']['lines']} lines of the large run),
common `{a.common}`, absent `{a.absent}`.

### Results

{table}

How each column is measured:
- **runlogd**: `runlogd serve` (release build) over HTTP on 127.0.0.1, keep-alive
  connection from Python, the time includes the request, JSON encoding and decoding.
  The walk follows `next_cursor` until it is null.
- **platform algorithm**: `benches/compare/platform.py`, in-process (no HTTP, which
  favours it): per page, open the file, read from the top, skip to the numeric
  cursor, keyword level guessing, lowercase substring match. Its full walk is
  **extrapolated**: page time grows linearly with depth ({samples}), fitted as
  {walk['intercept'] * 1e3:.1f} ms + {walk['slope'] * 1e9:.1f} ns × depth and summed over all {walk['pages']:,} pages.
- **rg**: `rg -F -i -m 100 NEEDLE FILE` as a process (first page only; it has no pages).
- **FTS5 trigram**: Python `sqlite3`, one table `fts5(text, run UNINDEXED, line UNINDEXED,
  tokenize='trigram')` with rowid = run << 32 | line. "rowid order":
  `WHERE lines MATCH ? AND rowid BETWEEN ? AND ? ORDER BY rowid LIMIT 100` (streams in
  line order); "literal query": `WHERE text MATCH ? AND run = ? ORDER BY line LIMIT 100`
  (sorts every match first). Walk: `rowid > ? ORDER BY rowid LIMIT 101`. Build time
  includes reading and decoding the files in Python, single-threaded.
- **index size**: `du -sb` of the data directory (index + state database) vs `du -sb` of `LogFiles/`.
- **RSS**: `/proc/PID/status` of the daemon after all the workloads above
  (memory while indexing 1 GB is measured by `benches/across.sh`).
- **server time**: runlogd's HTTP time less the median round trip of
  `GET /healthz` on the same connection ({fmt_time(t_rtt)}).

### Targets

{target_table}
"""
    write_section(a.results, "one large run", md)
    print(table)
    print()
    print(target_table)
    log(f"wrote {a.results}")


if __name__ == "__main__":
    main()
