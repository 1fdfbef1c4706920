#!/usr/bin/env bash
#! A/B of two revisions of runlogd on one generated corpus, in one run:
#! indexing a repository from scratch (`runlogd index` on an empty data
#! folder) and the start-up rescan of a repository already indexed (every run
#! unchanged), each timed REPS times, the two builds alternating so that
#! machine noise falls on both; then the same queries to both builds serving
#! the corpus, alternating too (`benches/compare/ab_queries.py`, QUERY_REPS
#! of each, on the largest run). Prints the medians and NEW/OLD ratios as
#! markdown tables; a ratio above 1 means NEW is slower (or larger: the
#! index and state database each build left on disk).
#!
#! Usage: benches/ab.sh OLD_REV [NEW_REV]     (NEW_REV defaults to the work tree)
#!   RUNS TOTAL_MB SEED  corpus shape (default 1000 runs, 100 MB: the platform's
#!                       runs of about 100 KB)
#!   LARGE LARGE_MB      large runs among them and their size (default none)
#!   REPS                timings per build and task (default 5)
#!   QUERY_REPS          requests per build and query (default 300; 0 skips them)
#!   WORK                scratch folder (default a temporary one)
#! It builds both revisions in release mode, sharing the repository's
#! target/ for dependencies, and installs nothing. The corpus is written by
#! the work tree's `corpus` example (older revisions had it as `runlogd
#! corpus`), so both builds index the same bytes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OLD=${1:?usage: benches/ab.sh OLD_REV [NEW_REV]}
NEW=${2:-}
RUNS=${RUNS:-1000}
TOTAL_MB=${TOTAL_MB:-100}
SEED=${SEED:-1}
LARGE=${LARGE:-0}
LARGE_MB=${LARGE_MB:-0}
REPS=${REPS:-5}
QUERY_REPS=${QUERY_REPS:-300}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
export CARGO_TARGET_DIR="$ROOT/target"

build() { # rev dest
    local rev=$1 dest=$2 src
    if [ -z "$rev" ]; then
        src=$ROOT
    else
        src="$WORK/src-$rev"
        [ -d "$src" ] || git -C "$ROOT" worktree add --detach -q "$src" "$rev"
    fi
    # Every source touched: the revisions share target/, and cargo judges
    # the crate up to date by the times of the files its last build read,
    # which were the other revision's. Touching main.rs alone relinked
    # the binary against the other revision's library.
    find "$src/src" "$src/schema" -type f -exec touch {} +
    (cd "$src" && cargo build --release --locked --quiet --bin runlogd)
    cp "$CARGO_TARGET_DIR/release/runlogd" "$dest"
}
echo "building $OLD and ${NEW:-the work tree} (release)" >&2
build "$OLD" "$WORK/runlogd-old"
build "$NEW" "$WORK/runlogd-new"
(cd "$ROOT" && cargo build --release --locked --quiet --example corpus)
cp "$CARGO_TARGET_DIR/release/examples/corpus" "$WORK/corpus"
for rev in "$OLD" "$NEW"; do
    [ -n "$rev" ] && git -C "$ROOT" worktree remove --force "$WORK/src-$rev" 2>/dev/null || true
done

REPO="$WORK/repo"
if [ ! -d "$REPO/LogFiles" ]; then
    "$WORK/corpus" --out "$REPO/LogFiles" --runs "$RUNS" \
        --total-mb "$TOTAL_MB" --large "$LARGE" --large-mb "$LARGE_MB" --seed "$SEED" >&2
fi

python3 - "$WORK" "$REPO" "$REPS" "$OLD" "${NEW:-work tree}" <<'EOF'
import os, resource, shutil, statistics, subprocess, sys, time

work, repo, reps, old_name, new_name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
bins = {"old": os.path.join(work, "runlogd-old"), "new": os.path.join(work, "runlogd-new")}
env = dict(os.environ, RUST_LOG="warn")
for k in ("RUNLOGD_CONFIG", "RUNLOGD_DATA", "RUNLOGD_REPOSITORY"):
    env.pop(k, None)

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def index(which, data):
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run([bins[which], "index", "--data", data, "--repository", repo],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, children_cpu() - cpu

times = {(w, t): [] for w in bins for t in ("fresh", "rescan")}
cpu = {w: [] for w in bins}
for rep in range(reps):
    for which in (("old", "new") if rep % 2 == 0 else ("new", "old")):
        data = os.path.join(work, f"data-{which}")
        shutil.rmtree(data, ignore_errors=True)
        wall, used = index(which, data)
        times[(which, "fresh")].append(wall)
        cpu[which].append(used)
        times[(which, "rescan")].append(index(which, data)[0])

size = sum(os.path.getsize(os.path.join(repo, "LogFiles", f)) for f in os.listdir(os.path.join(repo, "LogFiles")))
print(f"Corpus: {len(os.listdir(os.path.join(repo, 'LogFiles')))} runs, {size / 1e6:.1f} MB; "
      f"{reps} timings per build and task, alternating; load average before: {os.getloadavg()[0]:.2f}.")
print()
print(f"| task | {old_name} (median) | {new_name} (median) | new / old |")
print("|---|---:|---:|---:|")
for task, label in (("fresh", "index from scratch"), ("rescan", "rescan, all unchanged")):
    o = statistics.median(times[("old", task)])
    n = statistics.median(times[("new", task)])
    print(f"| {label} | {o * 1000:.0f} ms | {n * 1000:.0f} ms | {n / o:.2f} |")

def du(path):
    out = subprocess.run(["du", "-sb", path], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0])

# What each build's last index from scratch left: the index and the state
# database, on disk.
o, n = du(os.path.join(work, "data-old")), du(os.path.join(work, "data-new"))
print(f"| index + state database on disk | {o / 1e6:.1f} MB | {n / 1e6:.1f} MB | {n / o:.2f} |")
o, n = statistics.median(cpu["old"]), statistics.median(cpu["new"])
print(f"| index from scratch: CPU time | {o * 1000:.0f} ms | {n * 1000:.0f} ms | {n / o:.2f} |")
print(f"| (throughput: MB of logs per second, from scratch; per CPU-second) | "
      f"{size / 1e6 / statistics.median(times[('old', 'fresh')]):.1f}; {size / 1e6 / o:.1f} | "
      f"{size / 1e6 / statistics.median(times[('new', 'fresh')]):.1f}; {size / 1e6 / n:.1f} | |")
EOF

if [ "$QUERY_REPS" -gt 0 ]; then
    echo
    # (sed reads everything: `head` would end ls early, a failure under pipefail)
    LARGEST=$(ls -S "$REPO/LogFiles" | sed -n 1p)
    python3 "$ROOT/benches/compare/ab_queries.py" "$WORK/runlogd-old" "$WORK/runlogd-new" \
        "$REPO" "$WORK" "${LARGEST%.txt}" "$QUERY_REPS"
fi
