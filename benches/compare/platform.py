"""The CCExtractor Sample Platform's current run-log algorithm, re-implemented.

Why this file exists: `benches/compare.sh` measures runlogd against what the
platform does today for `GET /api/v1/runs/{run_id}/logs`, on the same data.
This is a faithful re-implementation of that algorithm (see
`/work/shared/spec/api.md`, "Where we go beyond the platform's
implementation"), not an optimised one:

* every page opens `LogFiles/{run_id}.txt` and reads it from the top, line by
  line, skipping lines until the numeric cursor (a plain line offset);
* the file is read as UTF-8, and as Windows-1252 when it is not valid UTF-8;
* the level is guessed by looking for the words CRITICAL / ERROR / WARNING /
  DEBUG anywhere in the upper-cased line (so `[WARN]` is `info`), the source
  is `web` for every line;
* `contains` is a lowercase substring test;
* it returns `limit` lines and, when more follow, the next line number as the
  cursor.
"""

import json

_LEVEL_WORDS = (
    ("CRITICAL", "critical"),
    ("ERROR", "error"),
    ("WARNING", "warning"),
    ("DEBUG", "debug"),
)


def guess_level(line):
    upper = line.upper()
    for word, level in _LEVEL_WORDS:
        if word in upper:
            return level
    return "info"


def _page(f, run_id, limit, start, level, source, contains):
    data = []
    next_cursor = None
    needle = contains.lower() if contains else None
    for number, line in enumerate(f):
        if number < start:
            continue
        line = line.rstrip("\r\n")
        line_level = guess_level(line)
        if level and line_level != level:
            continue
        if source and source != "web":
            continue
        if needle and needle not in line.lower():
            continue
        if len(data) == limit:
            next_cursor = str(number)
            break
        data.append(
            {
                "timestamp": None,
                "level": line_level,
                "source": "web",
                "message": line[:4000],
                "run_id": run_id,
                "sample_id": None,
            }
        )
    return {"data": data, "pagination": {"limit": limit, "next_cursor": next_cursor}}


def get_logs(path, run_id, limit=100, cursor=None, level=None, source=None, contains=None):
    """One page, as the platform computes it; returns the JSON body (a str)."""
    start = int(cursor) if cursor else 0
    try:
        # newline="\n": only "\n" ends a line ("\r\n" is stripped above).
        with open(path, encoding="utf-8", newline="\n") as f:
            body = _page(f, run_id, limit, start, level, source, contains)
    except UnicodeDecodeError:
        with open(path, encoding="cp1252", errors="replace", newline="\n") as f:
            body = _page(f, run_id, limit, start, level, source, contains)
    return json.dumps(body)
