#!/usr/bin/env bash
#! Side-by-side comparison of runlogd with the platform's current algorithm,
#! rg and SQLite FTS5 (trigram), on one generated corpus, in one run.
#!
#! Why it exists: the targets of issue 4 (first `contains` page, full walk,
#! indexing speed, index size, memory) are ratios against the tools a user
#! could use instead, so they must be measured on the same data, the same
#! machine, at the same time. This script checks the tools (it installs
#! nothing), builds the release binary, writes the corpus with
#! `runlogd corpus`, and runs `benches/compare/measure.py`, which prints a
#! markdown table and writes `benches/RESULTS.md`.
#!
#! Environment (all optional):
#!   RUNS=201 TOTAL_MB=130 LARGE=1 LARGE_MB=120 SEED=1   corpus shape
#!   REPEAT=5            repetitions of each query measurement (median reported)
#!   INDEX_REPEAT, FTS_REPEAT, WALK_REPEAT   repetitions of those (default REPEAT)
#!   PLATFORM_DEPTHS=5   pages of the platform's walk measured (then extrapolated)
#!   PORT=18731          where runlogd listens (127.0.0.1)
#!   WORK=DIR            scratch folder (default: a new one under /tmp, removed at the end
#!                       unless KEEP=1); the corpus is reused if WORK already holds it
#!   RESULTS=benches/RESULTS.md
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-201}
TOTAL_MB=${TOTAL_MB:-130}
LARGE=${LARGE:-1}
LARGE_MB=${LARGE_MB:-120}
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
const() { sed -n "s/^pub const $1: [^=]*= \"\\{0,1\\}\\([^\";]*\\)\"\\{0,1\\};/\\1/p" "$ROOT/src/corpus.rs"; }
RARE=$(const RARE_NEEDLE)
COMMON=$(const COMMON_NEEDLE)
ABSENT=$(const ABSENT_NEEDLE)
FIRST_RUN_ID=$(const FIRST_RUN_ID)
if [[ -z $RARE || -z $COMMON || -z $ABSENT || -z $FIRST_RUN_ID ]]; then
    say "cannot read the needle constants from src/corpus.rs"
    exit 1
fi
if ((LARGE < 1)); then
    say "LARGE must be at least 1 (the workloads run on the first large run)"
    exit 1
fi
LARGE_RUN=$FIRST_RUN_ID # runlogd::corpus::large_run_id(0)

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
say "building the release binary"
(cd "$ROOT" && cargo build --release --bin runlogd)
BIN=$ROOT/target/release/runlogd

# ---- corpus
REPO=$WORK/repo
STAMP="$RUNS $TOTAL_MB $LARGE $LARGE_MB $SEED"
if [[ -f $REPO/.corpus && $(cat "$REPO/.corpus") == "$STAMP" ]]; then
    say "reusing the corpus in $REPO"
else
    rm -rf "$REPO"
    say "writing the corpus: $RUNS runs, ~$TOTAL_MB MB, $LARGE large run(s) of $LARGE_MB MB, seed $SEED"
    start=$(date +%s.%N)
    "$BIN" corpus --out "$REPO/LogFiles" --runs "$RUNS" --total-mb "$TOTAL_MB" \
        --large "$LARGE" --large-mb "$LARGE_MB" --seed "$SEED" >&2
    say "corpus written in $(echo "$(date +%s.%N) - $start" | bc 2>/dev/null || echo '?') s"
    echo "$STAMP" >"$REPO/.corpus"
fi

# ---- measure
python3 "$ROOT/benches/compare/measure.py" \
    --binary "$BIN" --repo "$REPO" --work "$WORK" --large-run "$LARGE_RUN" \
    --rare "$RARE" --common "$COMMON" --absent "$ABSENT" \
    --repeat "$REPEAT" --index-repeat "$INDEX_REPEAT" --fts-repeat "$FTS_REPEAT" \
    --walk-repeat "$WALK_REPEAT" --platform-depths "$PLATFORM_DEPTHS" --port "$PORT" \
    --command "RUNS=$RUNS TOTAL_MB=$TOTAL_MB LARGE=$LARGE LARGE_MB=$LARGE_MB SEED=$SEED REPEAT=$REPEAT benches/compare.sh" \
    --results "$RESULTS"
