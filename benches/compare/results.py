"""Writing generated tables into `benches/RESULTS.md` without touching the rest.

Why this file exists: RESULTS.md mixes tables that scripts generate with
analysis written by hand. Each script owns one section between two markers
and replaces only that; whatever stands outside the markers is kept as it is.
A section that is not in the file yet is appended.
"""

import os


def _markers(name):
    begin = f"<!-- generated: {name} (do not edit by hand; rerun the script to update) -->"
    end = f"<!-- end generated: {name} -->"
    return begin, end


def write_section(path, name, text):
    begin, end = _markers(name)
    block = f"{begin}\n{text.strip()}\n{end}"
    content = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    start = content.find(begin)
    stop = content.find(end)
    if start >= 0 and stop > start:
        content = content[:start] + block + content[stop + len(end):]
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(content)


class Mismatch(SystemExit):
    """Tools disagree on an answer: no figure may be published from it."""

    def __init__(self, what):
        super().__init__(f"[compare] REFUSED: {what}; nothing was written")
