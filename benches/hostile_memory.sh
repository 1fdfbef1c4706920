#!/usr/bin/env bash
# Peak memory of indexing one hostile file, against indexing one small log
# (the idle baseline), measured in the same run with the same binary:
#   benches/hostile_memory.sh [BINARY]
# BINARY defaults to target/release/runlogd (built if missing). Each case is
# `runlogd index` on a fresh data directory over a repository holding only
# that file; the figure is the process's peak resident set (VmHWM, which
# counts the memory-mapped index too, so it bounds the anonymous part).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/runlogd}
[ -x "$BIN" ] || cargo build --release --locked --bin runlogd
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

make_case() { mkdir -p "$WORK/$1/LogFiles"; echo "$WORK/$1/LogFiles/1.txt"; }
echo "[INFO] one small log" > "$(make_case idle)"
head -c $((20 << 20)) /dev/urandom > "$(make_case random-20MB)"
python3 - "$(make_case one-line-200MB)" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    chunk = b"x" * (1 << 20)
    for _ in range(200):
        f.write(chunk)
PY
python3 - "$(make_case utf16-20MB)" <<'PY'
import sys
line = "[ERROR] Échec du test 42: fichier introuvable\r\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\xff\xfe")
    f.write((line * ((20 << 20) // (2 * len(line)))).encode("utf-16-le"))
PY
# Old enough that a last line without a newline counts as complete.
touch -d '1 hour ago' "$WORK"/*/LogFiles/1.txt

peak_kb() {
    "$BIN" index --repository "$WORK/$1" --data "$WORK/data-$1" >/dev/null 2>"$WORK/$1.log" &
    local pid=$! peak=0 now
    while kill -0 "$pid" 2>/dev/null; do
        now=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$now" ] && [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.02
    done
    wait "$pid"
    echo "$peak"
}

printf '%-16s %10s %12s %10s\n' case "peak MB" "over idle" seconds
IDLE=$(peak_kb idle)
printf '%-16s %10.1f %12s %10s\n' idle "$(echo "$IDLE/1024" | bc -l)" - -
for c in random-20MB one-line-200MB utf16-20MB; do
    start=$(date +%s.%N)
    kb=$(peak_kb "$c")
    end=$(date +%s.%N)
    printf '%-16s %10.1f %+11.1f %10.2f\n' "$c" "$(echo "$kb/1024" | bc -l)" \
        "$(echo "($kb-$IDLE)/1024" | bc -l)" "$(echo "$end-$start" | bc -l)"
done
