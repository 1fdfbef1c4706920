#!/usr/bin/env bash
#! Side-by-side comparison of runlogd with the tools a user could use
#! instead, on one generated corpus, in one run.
#!
#! Why it exists: runlogd's performance claims (first `contains` page, full
#! walk, search across runs, one run among many, indexing speed, index size,
#! memory) are ratios against those tools, so they must be measured on the
#! same data, the same machine, at the same time. This script checks the
#! tools (it installs nothing), builds the release binary and the corpus
#! generator (the `corpus` example), writes the corpus, and runs the suite's driver, which prints markdown
#! tables and writes its own section of `benches/RESULTS.md` (the rest of
#! the file is left as it is). A driver refuses to write figures when the
#! tools disagree on an answer.
#!
#! Suites (SUITE=...):
#!   one-run    (default) one large run: runlogd vs the platform's algorithm,
#!              rg and SQLite FTS5 trigram (`benches/compare/measure.py`)
#!   many-runs  the platform's real shape, 10,000 runs of ~100 KB: search
#!              across runs vs `rg -l`, one run alone vs among all, indexing
#!              and memory while indexing and serving (`benches/compare/across.py`)
#!   ten-x      the same at ten times the platform, 100,000 runs / 10 GB (run by
#!              hand: about an hour on 2 cores, 10 GB of corpus and 4 GB of data
#!              directory on disk), writing its own section of RESULTS.md
#!
#! Environment (all optional):
#!   RUNS TOTAL_MB LARGE LARGE_MB SEED   corpus shape; one-run: 201 130 1 120 1,
#!                       many-runs: 10000 1000 5 1 1, ten-x: 100000 10000 5 1 1 (the rare needle
#!                       is in the large runs only)
#!   REPEAT=5            repetitions of each query measurement (median reported)
#!   INDEX_REPEAT, FTS_REPEAT, WALK_REPEAT   repetitions of those (default REPEAT)
#!   PLATFORM_DEPTHS=5   pages of the platform's walk measured (then extrapolated)
#!   PORT=18731          where runlogd listens (127.0.0.1)
#!   WORK=DIR            scratch folder (default: a new one under /tmp, removed at the end
#!                       unless KEEP=1); the corpus is reused if WORK already holds it
#!   RESULTS=benches/RESULTS.md
#!   BASELINE_REV=REV    many-runs: also build REV and time its `runlogd index` of the
#!                       corpus beside this build's, alternating INDEX_REPEAT times
#!                       (indexing throughput and index size, this build against REV;
#!                       e.g. the revision before failure signatures)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=${SUITE:-one-run}
case $SUITE in
one-run) shape=(201 130 1 120) ;;
many-runs) shape=(10000 1000 5 1) ;;
ten-x) shape=(100000 10000 5 1) ;;
*)
    echo "[compare] unknown SUITE=$SUITE (one-run, many-runs or ten-x)" >&2
    exit 2
    ;;
esac
RUNS=${RUNS:-${shape[0]}}
TOTAL_MB=${TOTAL_MB:-${shape[1]}}
LARGE=${LARGE:-${shape[2]}}
LARGE_MB=${LARGE_MB:-${shape[3]}}
SEED=${SEED:-1}
REPEAT=${REPEAT:-5}
INDEX_REPEAT=${INDEX_REPEAT:-$REPEAT}
FTS_REPEAT=${FTS_REPEAT:-$REPEAT}
WALK_REPEAT=${WALK_REPEAT:-$REPEAT}
PLATFORM_DEPTHS=${PLATFORM_DEPTHS:-5}
PORT=${PORT:-18731}
RESULTS=${RESULTS:-$ROOT/benches/RESULTS.md}

say() { printf '[compare] %s\n' "$*" >&2; }

# ---- what is needed, and what is missing
missing=()
command -v cargo >/dev/null || missing+=("cargo (Rust toolchain, https://rustup.rs)")
command -v rg >/dev/null || missing+=("rg (Debian package: ripgrep)")
command -v du >/dev/null || missing+=("du (coreutils)")
if ! command -v python3 >/dev/null; then
    missing+=("python3 (Debian package: python3)")
elif ! python3 - <<'PY' 2>/dev/null
import sqlite3
con = sqlite3.connect(":memory:")
con.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
PY
then
    missing+=("python3's sqlite3 with FTS5 and the trigram tokenizer (SQLite >= 3.34; this one is $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)' 2>/dev/null || echo unknown))")
fi
if ((${#missing[@]})); then
    say "missing tools, install them and run again:"
    for m in "${missing[@]}"; do say "  - $m"; done
    exit 2
fi

# ---- the needles and the large run id, from the corpus module itself
const() { sed -n "s/^pub const $1: [^=]*= \"\\{0,1\\}\\([^\";]*\\)\"\\{0,1\\};/\\1/p" "$ROOT/benches/support/corpus.rs"; }
RARE=$(const RARE_NEEDLE)
COMMON=$(const COMMON_NEEDLE)
ABSENT=$(const ABSENT_NEEDLE)
RARE_PATTERN=$(const RARE_PATTERN)
# A raw string (r"..."): read without the const helper's quotes.
NO_TRIGRAM_PATTERN=$(sed -n 's/^pub const NO_TRIGRAM_PATTERN: &str = r"\(.*\)";/\1/p' "$ROOT/benches/support/corpus.rs")
FIRST_RUN_ID=$(const FIRST_RUN_ID)
if [[ -z $RARE || -z $COMMON || -z $ABSENT || -z $FIRST_RUN_ID || -z $RARE_PATTERN || -z $NO_TRIGRAM_PATTERN ]]; then
    say "cannot read the needle constants from benches/support/corpus.rs"
    exit 1
fi
if ((LARGE < 1)); then
    say "LARGE must be at least 1 (the workloads run on the first large run)"
    exit 1
fi
LARGE_RUN=$FIRST_RUN_ID # corpus::large_run_id(0)

# ---- scratch space
if [[ -n ${WORK:-} ]]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/runlogd-compare.XXXXXX)
    if [[ ${KEEP:-0} != 1 ]]; then
        trap 'rm -rf "$WORK"' EXIT
    fi
fi
say "scratch folder: $WORK"

# ---- build
say "building the release binary and the corpus generator"
# Every source touched: a baseline build (below, or benches/ab.sh) shares
# target/, and cargo judges the crate up to date by the times of the files
# its last build read, which were the other revision's.
find "$ROOT/src" "$ROOT/schema" -type f -exec touch {} +
(cd "$ROOT" && cargo build --release --bin runlogd --example corpus)
# Copied at once: a baseline build below replaces target/release/runlogd.
cp "$ROOT/target/release/runlogd" "$WORK/runlogd"
BIN=$WORK/runlogd
CORPUS=$ROOT/target/release/examples/corpus

# ---- a baseline build, timed beside this one (many-runs; BASELINE_REV=rev)
BASELINE_ARGS=()
if [[ -n ${BASELINE_REV:-} && $SUITE != one-run ]]; then
    say "building the baseline $BASELINE_REV (release)"
    src="$WORK/src-baseline"
    [[ -d $src ]] || git -C "$ROOT" worktree add --detach -q "$src" "$BASELINE_REV"
    find "$src/src" "$src/schema" -type f -exec touch {} +
    (cd "$src" && CARGO_TARGET_DIR="$ROOT/target" cargo build --release --locked --quiet --bin runlogd)
    cp "$ROOT/target/release/runlogd" "$WORK/runlogd-baseline"
    git -C "$ROOT" worktree remove --force "$src"
    BASELINE_ARGS=(--baseline "$WORK/runlogd-baseline" --baseline-name "$BASELINE_REV"
        --index-repeat "$INDEX_REPEAT")
fi

# ---- corpus
REPO=$WORK/repo
STAMP="$RUNS $TOTAL_MB $LARGE $LARGE_MB $SEED"
if [[ -f $REPO/.corpus && $(cat "$REPO/.corpus") == "$STAMP" ]]; then
    say "reusing the corpus in $REPO"
else
    rm -rf "$REPO"
    say "writing the corpus: $RUNS runs, ~$TOTAL_MB MB, $LARGE large run(s) of $LARGE_MB MB, seed $SEED"
    start=$(date +%s.%N)
    "$CORPUS" --out "$REPO/LogFiles" --runs "$RUNS" --total-mb "$TOTAL_MB" \
        --large "$LARGE" --large-mb "$LARGE_MB" --seed "$SEED" >&2
    say "corpus written in $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?') s"
    echo "$STAMP" >"$REPO/.corpus"
fi

# ---- measure
command="${BASELINE_REV:+BASELINE_REV=$BASELINE_REV }SUITE=$SUITE RUNS=$RUNS TOTAL_MB=$TOTAL_MB LARGE=$LARGE LARGE_MB=$LARGE_MB SEED=$SEED REPEAT=$REPEAT benches/compare.sh"
if [[ $SUITE != one-run ]]; then
    section="many runs"
    [[ $SUITE == ten-x ]] && section="ten times the platform"
    python3 "$ROOT/benches/compare/across.py" \
        --binary "$BIN" --repo "$REPO" --work "$WORK" \
        --rare "$RARE" --common "$COMMON" --absent "$ABSENT" \
        --rare-pattern "$RARE_PATTERN" --no-trigram-pattern "$NO_TRIGRAM_PATTERN" \
        --repeat "$REPEAT" --port "$PORT" --command "$command" --results "$RESULTS" \
        --section "$section" "${BASELINE_ARGS[@]}"
    exit 0
fi
python3 "$ROOT/benches/compare/measure.py" \
    --binary "$BIN" --repo "$REPO" --work "$WORK" --large-run "$LARGE_RUN" \
    --rare "$RARE" --common "$COMMON" --absent "$ABSENT" --rare-pattern "$RARE_PATTERN" \
    --repeat "$REPEAT" --index-repeat "$INDEX_REPEAT" --fts-repeat "$FTS_REPEAT" \
    --walk-repeat "$WALK_REPEAT" --platform-depths "$PLATFORM_DEPTHS" --port "$PORT" \
    --command "$command" --results "$RESULTS"
