#!/usr/bin/env bash
# Load benchmark: mixed queries from wrk against a release runlogd on
# 127.0.0.1 while a new log lands every 100 ms, then the numbers (req/s, p50,
# p99, errors) into their own section of benches/RESULTS.md.
#
# It runs twice, on two corpora of 40 MB, each landing its own median log:
#   platform  400 runs of about 100 KB, the Sample Platform's shape;
#   large     100 runs of about 400 KB, four times the indexing load.
#
#   benches/load.sh                       # both, 30 s each, 64 connections, 2 wrk threads
#   CORPORA=platform DURATION=10 CONNECTIONS=32 benches/load.sh
#   MIX=first LAND_EVERY_MS=0 WRITE=0 benches/load.sh   # one query shape, no landing, nothing written
#   MIX=6 ...                                           # only the 6th shape of the mix
#   PROFILE=/tmp/load.data ...                          # perf record -g the daemon into /tmp/load.data.<corpus>
#   RUNLOGD_BIN=/path/to/other/runlogd WRITE=0 ...      # the same load against another build
#
# The corpora are written by this tree's `corpus` example, whichever runlogd
# is measured.
#
# Needs wrk (Debian/Ubuntu: `sudo apt-get install wrk`) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
LAND_EVERY_MS=${LAND_EVERY_MS:-100}
CORPORA=${CORPORA:-platform large}
TOTAL_MB=${TOTAL_MB:-40}

if ! command -v wrk >/dev/null; then
    echo "benches/load.sh needs wrk: install it with 'sudo apt-get install wrk' (Debian/Ubuntu)" >&2
    echo "or build it from https://github.com/wg/wrk" >&2
    exit 1
fi

MIX=${MIX:-all}
WRITE=${WRITE:-1}
if [ -n "${RUNLOGD_BIN:-}" ]; then
    BIN=$RUNLOGD_BIN
    cargo build --release --locked --example corpus
else
    cargo build --release --locked --bin runlogd --example corpus
    BIN="${CARGO_TARGET_DIR:-target}/release/runlogd"
fi
CORPUS="${CARGO_TARGET_DIR:-target}/release/examples/corpus"

OUT=$(mktemp -d)
WORK=""
DAEMON_PID=""
LANDER_PID=""
stop_run() {
    [ -n "$LANDER_PID" ] && kill "$LANDER_PID" 2>/dev/null || true
    [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    LANDER_PID=""
    DAEMON_PID=""
    [ -n "$WORK" ] && rm -rf "$WORK"
    WORK=""
}
trap 'stop_run; rm -rf "$OUT"' EXIT

# measure NAME RUNS: one corpus, one daemon, one wrk run; writes $OUT/NAME.*
measure() {
    local name=$1 runs=$2
    WORK=$(mktemp -d)
    mkdir -p "$WORK/repo/LogFiles"
    "$CORPUS" --out "$WORK/repo/LogFiles" --runs "$runs" --total-mb "$TOTAL_MB" --large 0 --seed 1
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$WORK/runlogd.toml" <<EOF
repository = "$WORK/repo"
data = "$WORK/data"
listen = "127.0.0.1:$port"
[rate_limit]
requests_per_minute = 100000000
[watch]
quiet_ms = 0
EOF
    local token
    token=$("$BIN" token create --config "$WORK/runlogd.toml" --scopes system:read --name load | tail -n 1)
    RUST_LOG=warn "$BIN" serve --config "$WORK/runlogd.toml" >"$WORK/daemon.log" 2>&1 &
    DAEMON_PID=$!
    python3 - "$port" <<'EOF'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/readyz"
for _ in range(3000):
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit("the daemon did not become ready")
EOF

    # Run ids of the corpus, for the per-run queries.
    local ids template
    ids=$(ls "$WORK/repo/LogFiles" | sed -n 's/^\([0-9]*\)\.txt$/\1/p' | sort -n | head -n 20 | paste -sd, -)
    # What lands: the corpus's median-sized log, under new run ids.
    template="$WORK/repo/LogFiles/$(ls -S "$WORK/repo/LogFiles" | sed -n "$((runs / 2))p")"
    stat -c %s "$template" > "$OUT/$name.landing_bytes"

    # The mix: one run's first page, filtered by level, by source and level, by
    # a substring, a deep legacy cursor; search across runs; the listing.
    cat > "$WORK/mix.lua" <<EOF
local ids = { $ids }
local token = "$token"
local shapes = {
  function(id) return "/api/v1/runs/" .. id .. "/logs?limit=100" end,
  function(id) return "/api/v1/runs/" .. id .. "/logs?level=error,critical&limit=50" end,
  function(id) return "/api/v1/runs/" .. id .. "/logs?source=test_runner&level=warning,error" end,
  function(id) return "/api/v1/runs/" .. id .. "/logs?contains=shared%20libraries&limit=20" end,
  function(id) return "/api/v1/runs/" .. id .. "/logs?cursor=200&limit=100" end,
  function(id) return "/api/v1/logs/search?contains=Segmentation%20fault&limit=20" end,
  function(id) return "/api/v1/logs?limit=50" end,
}
if "$MIX" == "first" then shapes = { shapes[1] } end
if tonumber("$MIX") then shapes = { shapes[tonumber("$MIX")] } end
local n = 0
request = function()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  local path = shapes[(n % #shapes) + 1](id)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

    # A new log every LAND_EVERY_MS (0: none), written aside and renamed in, as the platform does.
    if [ "$LAND_EVERY_MS" -gt 0 ]; then
        python3 - "$template" "$WORK/repo/LogFiles" "$LAND_EVERY_MS" <<'EOF' &
import os, sys, time
template, folder, every = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000
body = open(template, "rb").read()
run = 900000
try:
    while True:
        tmp = os.path.join(folder, f".{run}.tmp")
        with open(tmp, "wb") as f:
            f.write(body)
        os.rename(tmp, os.path.join(folder, f"{run}.txt"))
        run += 1
        time.sleep(every)
except KeyboardInterrupt:
    pass
EOF
        LANDER_PID=$!
    fi
    sleep 1

    # PROFILE=path.data records the daemon with `perf record -g` during the load.
    if [ -n "${PROFILE:-}" ]; then
        perf record -F 499 -g -p "$DAEMON_PID" -o "$PROFILE.$name" -- sleep "$DURATION" >/dev/null 2>&1 &
    fi
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency -s "$WORK/mix.lua" \
        "http://127.0.0.1:$port" | tee "$OUT/$name.wrk"
    if [ -n "$LANDER_PID" ]; then
        kill "$LANDER_PID" 2>/dev/null || true
        wait "$LANDER_PID" 2>/dev/null || true
        LANDER_PID=""
    fi
    # The landed logs are runs 900000 and up (the corpus's are below 10000).
    ls "$WORK/repo/LogFiles" | grep -c '^9[0-9][0-9][0-9][0-9][0-9]\.txt$' > "$OUT/$name.landed" || true
    # Every landed log must be searchable by now (the ingest kept up under load).
    sleep 2
    curl -s "http://127.0.0.1:$port/readyz" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"])' > "$OUT/$name.indexed"
    curl -s "http://127.0.0.1:$port/metrics" > "$OUT/$name.metrics"
    echo "$runs" > "$OUT/$name.runs"
    stop_run
}

for corpus in $CORPORA; do
    case "$corpus" in
        platform) measure platform 400 ;;
        large) measure large 100 ;;
        *) echo "unknown corpus $corpus (platform, large)" >&2; exit 2 ;;
    esac
done

WRITE=$WRITE python3 - "$OUT" "$DURATION" "$CONNECTIONS" "$THREADS" "$LAND_EVERY_MS" "$TOTAL_MB" $CORPORA <<'EOF'
import os, re, sys, time
sys.path.insert(0, os.path.join("benches", "compare"))
from results import write_section

out, duration, conns, threads, every, total_mb, *corpora = sys.argv[1:]
read = lambda name, what: open(os.path.join(out, f"{name}.{what}")).read().strip()
def metric(name, key):
    for line in read(name, "metrics").splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return None
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
rows, failed = [], 0
for name in corpora:
    m = re.search(r"^RESULT (.*)$", read(name, "wrk"), re.M)
    if not m:
        sys.exit(f"wrk printed no RESULT line for {name}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    rps = r["requests"] / (r["duration_us"] / 1e6)
    errors = r["non2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    failed += errors
    lag_sum = metric(name, "runlogd_ingest_lag_seconds_sum")
    lag_count = metric(name, "runlogd_ingest_lag_seconds_count")
    lag = f"{1000 * lag_sum / lag_count:.0f} ms over {lag_count:.0f} runs" if lag_sum is not None and lag_count else "n/a"
    runs = int(read(name, "runs"))
    rows.append(
        f"| {name}: {runs} runs, a {int(read(name, 'landing_bytes')):,}-byte log landing | {r['requests']:,} | {rps:,.0f} "
        f"| {r['p50_us']/1000:.2f} ms | {r['p99_us']/1000:.2f} ms | {r['max_us']/1000:.1f} ms | {errors} "
        f"| {read(name, 'landed')} | {read(name, 'indexed')} | {lag} |")
mix = "" if os.environ.get("MIX", "all") == "all" else f" (here only shape {os.environ.get('MIX')})"
section = f"""## Load: mixed queries while logs land

Generated by `benches/load.sh` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: release build,
`wrk -t {threads} -c {conns} -d {duration}s` on the same machine ({os.cpu_count()} cores, {cpu}),
over a corpus from the `corpus` example of {total_mb} MB, while a new log (the corpus's median one) lands every
{every} ms (written aside and renamed into `LogFiles/`). Two corpora: the
platform's shape (runs of about 100 KB) and runs four times larger, which
is four times the indexing load. The mix{mix} rotates over
seven request shapes: a run's first page; `level=error,critical`;
`source=test_runner&level=warning,error`; `contains=shared libraries`; a legacy
cursor (`cursor=200`); search across runs (`contains=Segmentation fault`); the
listing (`/api/v1/logs`).

| corpus | requests | req/s | p50 | p99 | max | errors (non-2xx + socket) | logs landed | runs indexed at the end | mean ingest lag (`runlogd_ingest_lag_seconds`) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
""" + "\n".join(rows) + "\n"
if os.environ.get("WRITE", "1") != "0":
    write_section(os.path.join("benches", "RESULTS.md"), "load", section)
print(section)
if failed:
    sys.exit(f"{failed} requests failed")
EOF
