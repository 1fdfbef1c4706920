// One run's log. The view holds a window of at most MAX_PAGES pages of lines
// around what is on screen; scrolling near an edge loads the next page
// through the cursor API and drops the farthest one, so a 1M-line log costs
// no more memory than a short one. Lines keep their numbers in the file under
// every filter; `#L120` and `#L120-L140` open the view at those lines by asking
// for the page after line 119 (the API's numeric cursor), not by paging down.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const runId = location.pathname.split("/").filter(Boolean)[1] || "";
  const LOGS = "/api/v1/runs/" + encodeURIComponent(runId) + "/logs";
  const SIGNATURES = "/api/v1/runs/" + encodeURIComponent(runId) + "/signatures";
  const PAGE = RL.limits.pageLines;
  const MAX_PAGES = 8;
  const EDGE_PX = 1500;
  const POLL_MS = 2000;
  const LEVELS = ["debug", "info", "warning", "error", "critical"];

  const logEl = $("log");
  const linesEl = $("lines");

  const urlParams = new URLSearchParams(location.search);
  const filters = {
    level: urlParams.get("level") || "",
    source: urlParams.get("source") || "",
    contains: urlParams.get("contains") || "",
    // A regular expression, matched by the server (Rust syntax); its
    // matches are marked where the server says they are.
    regex: urlParams.get("regex") || "",
  };
  const filtered = Boolean(filters.level || filters.source || filters.contains || filters.regex);
  // A problem to open on (`?signature=ID`, as the front page links them).
  const wantedSignature = urlParams.get("signature") || "";

  const state = {
    pages: [], // {first, last, el}, in line order
    atStart: false,
    atEnd: false,
    busy: false,
    gen: 0, // bumped when the window is rebuilt; stale answers are dropped
    total: null, // lines in the file, from the listing
    target: null, // [from, to] of the permalink
    find: "",
    findRegex: false, // whether `find` is a regular expression (matched by the server)
    findSeq: null, // what n and N step through: the find text's matches, or a problem's lines
    problem: null, // the problem chosen in the panel: {signature, button, pos}
    errSeq: null,
    current: null, // line of the current match or error
    currentFind: false, // whether that line is a find match
    follow: false,
    followMark: null, // the file's line count when the reader left the bottom
    onFirstOpen: null, // run once, by the first openAt to place its lines
  };

  // ---- API ---------------------------------------------------------------

  function fetchPage(after, limit, params) {
    const p = Object.assign({}, params || filters, { limit: limit || PAGE });
    if (after > 0) p.cursor = String(after);
    if (p.regex) p.highlight = "true";
    return RL.api(LOGS, p);
  }

  // The (at most PAGE) lines matching `params` (the view's filters unless
  // given) and kept by `keep` (see containing), just before line `first`,
  // walking forward from a point far enough back: the API pages forward only.
  async function fetchBefore(first, params, keep) {
    if (first <= 1) return { lines: [], start: true };
    const narrowed = params || filtered;
    let span = narrowed ? 4 * PAGE : PAGE;
    for (;;) {
      const from = Math.max(0, first - 1 - span);
      let got = [];
      let seen = 0;
      let cursor = from;
      for (;;) {
        const page = await fetchPage(cursor, PAGE, params);
        const below = page.data.filter((l) => l.line < first);
        const before = keep ? await keep(below) : below;
        seen += before.length;
        got = got.concat(before);
        if (got.length > PAGE) got = got.slice(got.length - PAGE);
        const last = below.length ? below[below.length - 1].line : 0;
        if (below.length < page.data.length || !page.pagination.has_more || last === first - 1) break;
        cursor = last;
      }
      if (got.length > 0 || from === 0) return { lines: got, start: from === 0 && seen <= PAGE };
      span *= 4;
    }
  }

  async function refreshTotal() {
    const page = await RL.api("/api/v1/logs", { run_min: runId, run_max: runId, limit: 1 });
    const log = page.data[0];
    if (!log) return null;
    state.total = log.lines_total;
    const errors = log.levels.error + log.levels.critical;
    $("run-meta").textContent = RL.num(log.lines_total) + " lines · " +
      RL.num(errors) + (errors === 1 ? " error" : " errors") +
      (log.landed_at ? " · landed " + RL.when(log.landed_at) : "");
    return log;
  }

  // ---- rendering -----------------------------------------------------------

  function inTarget(n) {
    return state.target && n >= state.target[0] && n <= state.target[1];
  }

  // Only the served text is highlighted. The server matched the whole
  // line, so a find match it gave whose text is past the cut has nothing to
  // highlight: the note says where the text is.
  // Without a find text, a line the regex filter kept shows where the
  // server matched it (`matches`).
  // A regular expression to find is marked where the server matched it,
  // on the lines its search has brought back so far.
  function fillMessage(msgEl, text, truncated, n, matches) {
    msgEl.textContent = "";
    let found;
    if (state.find && state.findRegex) {
      found = RL.appendRanges(msgEl, text, state.findSeq ? state.findSeq.ranges.get(n) : null);
    } else {
      found = RL.appendHighlighted(msgEl, text, state.find);
      if (!state.find && matches && matches.length) {
        msgEl.textContent = "";
        RL.appendRanges(msgEl, text, matches);
      }
    }
    if (!truncated) return;
    const past = !found && state.currentFind && state.current === n;
    const cut = "  [cut at " + RL.num(RL.limits.messageChars) + " characters; ";
    msgEl.appendChild(RL.el("span", { class: "trunc" }, cut + (past
      ? "the match is past the cut, in the raw file]"
      : "the raw file has the whole line]")));
  }

  function renderRow(line) {
    const level = LEVELS.includes(line.level) ? line.level : "info";
    const row = RL.el("div", { class: "row lvl-" + level, id: "L" + line.line, "data-line": line.line, "data-level": level });
    if (inTarget(line.line)) row.classList.add("target");
    if (state.current === line.line) row.classList.add("current");
    row.appendChild(RL.el("a", { class: "num", href: "#L" + line.line }, line.line));
    row.appendChild(RL.el("span", { class: "src", title: line.source }, line.source));
    const msg = RL.el("span", { class: "msg" });
    fillMessage(msg, line.message, line.truncated, line.line, line.matches);
    row.appendChild(msg);
    row._text = line.message;
    row._matches = line.matches;
    row._truncated = line.truncated;
    return row;
  }

  function makePage(lines) {
    const el = RL.el("div", { class: "page" });
    for (const l of lines) el.appendChild(renderRow(l));
    return { first: lines[0].line, last: lines[lines.length - 1].line, el };
  }

  function firstLine() { return state.pages.length ? state.pages[0].first : 0; }
  function lastLine() { return state.pages.length ? state.pages[state.pages.length - 1].last : 0; }

  // Each page added is timed as a `runlogd:page` measure (rows built,
  // inserted, and the layout read that keeps the scroll position), for the
  // viewer measurement; the entries are cleared now and then, so that a long
  // read does not keep them all.
  let measured = 0;
  function timed(work) {
    const t = performance.now();
    work();
    if (++measured % 1000 === 0) performance.clearMeasures("runlogd:page");
    performance.measure("runlogd:page", { start: t });
  }

  function append(lines) {
    if (!lines.length) return;
    timed(() => appendPage(lines));
  }

  function appendPage(lines) {
    const page = makePage(lines);
    linesEl.appendChild(page.el);
    state.pages.push(page);
    while (state.pages.length > MAX_PAGES) {
      const drop = state.pages.shift();
      const h = drop.el.offsetHeight;
      drop.el.remove();
      logEl.scrollTop -= h;
      state.atStart = false;
    }
  }

  function prepend(lines) {
    if (!lines.length) return;
    timed(() => prependPage(lines));
  }

  function prependPage(lines) {
    const page = makePage(lines);
    linesEl.insertBefore(page.el, linesEl.firstChild);
    state.pages.unshift(page);
    logEl.scrollTop += page.el.offsetHeight;
    while (state.pages.length > MAX_PAGES) {
      state.pages.pop().el.remove();
      state.atEnd = false;
    }
  }

  function reset() {
    state.gen++;
    state.pages = [];
    linesEl.textContent = "";
    state.atStart = false;
    state.atEnd = false;
    state.busy = false;
  }

  function updateEdges() {
    const empty = state.pages.length === 0;
    $("top-edge").textContent = state.atStart ? (empty ? "" : "Start of log") : "Loading earlier lines…";
    $("bottom-edge").textContent = state.atEnd
      ? (empty ? (filtered ? "No line matches these filters." : "This log is empty.") :
        (state.follow ? "End of log · following new lines" : "End of log"))
      : "Loading more lines…";
    const rows = state.pages.length ? RL.num(firstLine()) + "–" + RL.num(lastLine()) : "none";
    const kept = state.pages.reduce((n, p) => n + p.el.childElementCount, 0);
    $("position").textContent = "Lines " + rows + (state.total !== null ? " of " + RL.num(state.total) : "") +
      " · " + RL.num(kept) + " in view";
    $("position").dataset.pages = String(state.pages.length);
    $("position").dataset.first = String(firstLine());
    $("position").dataset.last = String(lastLine());
  }

  function rowOf(n) {
    const r = document.getElementById("L" + n);
    return r && linesEl.contains(r) ? r : null;
  }

  // The first row at or after line n that is in the window.
  function rowAtOrAfter(n) {
    for (const page of state.pages) {
      if (page.last < n) continue;
      for (const r of page.el.children) if (Number(r.dataset.line) >= n) return r;
    }
    return null;
  }

  function scrollToRow(row) {
    logEl.scrollTop = Math.max(0, row.offsetTop - Math.floor(logEl.clientHeight / 3));
  }

  function distanceToBottom() { return logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight; }

  // ---- loading -------------------------------------------------------------

  async function guarded(work) {
    if (state.busy) return;
    state.busy = true;
    const gen = state.gen;
    try {
      await work(gen);
      RL.clearNotice();
    } catch (e) {
      RL.fail(e, () => openAt(state.target ? state.target[0] : 1));
    } finally {
      if (gen === state.gen) state.busy = false;
      updateEdges();
    }
    if (gen === state.gen) schedule();
  }

  function loadNext() {
    return guarded(async (gen) => {
      const page = await fetchPage(lastLine(), PAGE);
      if (gen !== state.gen) return;
      append(page.data);
      state.atEnd = !page.pagination.has_more;
    });
  }

  function loadPrev() {
    return guarded(async (gen) => {
      const r = await fetchBefore(firstLine());
      if (gen !== state.gen) return;
      prepend(r.lines);
      state.atStart = r.start;
    });
  }

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (state.busy || state.pages.length === 0) return;
      if (!state.atEnd && distanceToBottom() < EDGE_PX) loadNext();
      else if (!state.atStart && logEl.scrollTop < EDGE_PX) loadPrev();
    });
  }

  // Rebuilds the window around line n: the page from n on, and the one before.
  async function openAt(n, then) {
    reset();
    state.busy = true;
    const gen = state.gen;
    updateEdges();
    try {
      const after = await fetchPage(Math.max(0, n - 1), PAGE);
      if (gen !== state.gen) return;
      append(after.data);
      state.atEnd = !after.pagination.has_more;
      const before = await fetchBefore(after.data.length ? after.data[0].line : n);
      if (gen !== state.gen) return;
      prepend(before.lines);
      state.atStart = before.start;
      const row = rowAtOrAfter(n);
      if (row) scrollToRow(row);
      else logEl.scrollTop = logEl.scrollHeight;
      RL.clearNotice();
      const first = state.onFirstOpen;
      state.onFirstOpen = null;
      if (first) first();
      if (then) then();
    } catch (e) {
      RL.fail(e, () => openAt(n, then));
    } finally {
      if (gen === state.gen) state.busy = false;
      updateEdges();
    }
    if (gen === state.gen) schedule();
  }

  // Rebuilds the window on the last lines and scrolls to the bottom.
  async function openEnd() {
    reset();
    state.busy = true;
    const gen = state.gen;
    try {
      await refreshTotal();
      const r = await fetchBefore((state.total || 0) + 1);
      if (gen !== state.gen) return;
      prepend(r.lines);
      state.atStart = r.start;
      const more = await fetchPage(lastLine(), PAGE);
      if (gen !== state.gen) return;
      append(more.data);
      state.atEnd = !more.pagination.has_more;
      logEl.scrollTop = logEl.scrollHeight;
      state.followMark = state.total;
    } catch (e) {
      RL.fail(e, openEnd);
    } finally {
      if (gen === state.gen) state.busy = false;
      updateEdges();
    }
  }

  // ---- permalinks ----------------------------------------------------------

  function parseHash() {
    const m = /^#L(\d+)(?:-L?(\d+))?$/.exec(location.hash);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    return [Math.max(1, Math.min(a, b)), Math.max(1, a, b)];
  }

  function markTarget() {
    for (const r of linesEl.querySelectorAll(".row.target")) r.classList.remove("target");
    if (!state.target) return;
    for (const page of state.pages) {
      if (page.last < state.target[0] || page.first > state.target[1]) continue;
      for (const r of page.el.children) if (inTarget(Number(r.dataset.line))) r.classList.add("target");
    }
  }

  function onHash() {
    const t = parseHash();
    state.target = t;
    if (!t) { markTarget(); return; }
    const row = rowOf(t[0]);
    if (row) { markTarget(); scrollToRow(row); return; }
    openAt(t[0]);
  }

  linesEl.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.num");
    if (!a || !ev.shiftKey || !state.target) return;
    ev.preventDefault();
    const n = Number(a.parentElement.dataset.line);
    const from = Math.min(state.target[0], n);
    const to = Math.max(state.target[0], n);
    location.hash = from === to ? "#L" + from : "#L" + from + "-L" + to;
  });

  // ---- find and errors -----------------------------------------------------

  // The lines matching `params` (and kept by `keep`, when given: see
  // containing), walked from the top of the log as far as needed, with the
  // exact count.
  class Seq {
    constructor(params, keep, countParams) {
      this.params = params;
      this.keep = keep;
      this.lines = [];
      this.cursor = 0;
      this.done = false;
      this.count = null;
      this.pending = null;
      this.countParams = countParams;
      this.fromListing = false;
      // With a regular expression: where the server matched each line
      // brought back (its `matches`), by line.
      this.ranges = new Map();
    }
    // Keeps the server's ranges of `lines`; the rows on screen are marked
    // again when this is what find steps through.
    remember(lines) {
      if (!this.params.regex) return;
      const shown = this === state.findSeq && state.findRegex;
      for (const l of lines) {
        if (!l.matches) continue;
        this.ranges.set(l.line, l.matches);
        const row = shown ? document.getElementById("L" + l.line) : null;
        if (row) refill(row);
      }
    }
    more() {
      if (this.done) return Promise.resolve();
      if (this.pending) return this.pending;
      const p = Object.assign({}, this.params, { limit: PAGE });
      if (this.cursor > 0) p.cursor = String(this.cursor);
      if (p.regex) p.highlight = "true";
      this.pending = RL.api(LOGS, p).then(async (page) => {
        const kept = this.keep ? await this.keep(page.data) : page.data;
        for (const l of kept) this.lines.push(l.line);
        this.remember(kept);
        if (page.data.length) this.cursor = page.data[page.data.length - 1].line;
        if (!page.pagination.has_more || page.data.length === 0) {
          this.done = true;
          this.count = this.lines.length;
        }
      }).finally(() => { this.pending = null; });
      return this.pending;
    }
    // The exact count: from the search endpoint when it can answer, else by
    // walking to the end.
    async total(onProgress) {
      if (this.count !== null) return this.count;
      if (this.fromListing) {
        // The listing counts every level of the run already: no search,
        // which on a 1M-line log keeps the server busy for seconds.
        const log = await refreshTotal();
        if (log) {
          this.count = log.levels.error + log.levels.critical;
          return this.count;
        }
      }
      if (this.countParams) {
        const page = await RL.api("/api/v1/logs/search", Object.assign({
          run_min: runId, run_max: runId, lines_per_run: 0, limit: 1,
        }, this.countParams));
        const run = page.data.find((r) => String(r.run_id) === String(runId));
        this.count = run ? run.match_count : 0;
        return this.count;
      }
      while (!this.done) {
        await this.more();
        if (onProgress) onProgress(this.lines.length);
      }
      return this.count;
    }
    // The first match after line `after`: {line, index}, index -1 when it
    // lies beyond the matches walked from the top (it is then found with
    // one request from `after` on, not by walking there); null if none.
    async next(after) {
      for (;;) {
        const i = this.lines.findIndex((n) => n > after);
        if (i >= 0) return { line: this.lines[i], index: i };
        if (this.done) return null;
        if (after > this.cursor + 10 * PAGE) return this.jumpNext(after);
        await this.more();
      }
    }
    async jumpNext(after) {
      let cursor = after;
      for (;;) {
        const p = Object.assign({}, this.params, { limit: this.keep ? PAGE : 1, cursor: String(cursor) });
        if (p.regex) p.highlight = "true";
        const page = await RL.api(LOGS, p);
        const hit = (this.keep ? await this.keep(page.data) : page.data)[0];
        if (hit) this.remember([hit]);
        if (hit) return { line: hit.line, index: -1 };
        if (!page.pagination.has_more || !page.data.length) return null;
        cursor = page.data[page.data.length - 1].line;
      }
    }
    // The last match before line `before`, as `next`.
    async prev(before) {
      for (;;) {
        if (this.done || (this.lines.length && this.lines[this.lines.length - 1] >= before)) {
          let i = -1;
          for (let k = 0; k < this.lines.length && this.lines[k] < before; k++) i = k;
          return i < 0 ? null : { line: this.lines[i], index: i };
        }
        if (before > this.cursor + 10 * PAGE) {
          const r = await fetchBefore(before, this.params, this.keep);
          this.remember(r.lines);
          const last = r.lines[r.lines.length - 1];
          return last ? { line: last.line, index: -1 } : null;
        }
        await this.more();
      }
    }
  }

  function countParamsFor(extra) {
    const p = Object.assign({}, filters, extra);
    for (const k of Object.keys(p)) if (!p[k]) delete p[k];
    if (p.contains && p.contains.length < RL.limits.minSearch) return null;
    // A pattern may name no text, which the search across runs refuses:
    // counted by walking instead.
    if (p.regex) return null;
    if (!p.contains && !p.level) return null;
    return p;
  }

  // Keeps, of lines the view's filters gave, those that also contain
  // `needle`. The served text is checked here, but it is cut (at
  // RL.limits.messageChars characters): for a cut line without the text the server, which reads the
  // whole line, is asked for the first line from there on that matches the
  // filters with `needle` as the text. Its answer decides every line up to
  // that one, so a log of many cut lines costs about a request per match.
  function containing(needle) {
    const lower = needle.toLowerCase();
    const params = Object.assign({}, filters, { contains: needle });
    let from = 0;
    let upTo = -1; // lines from..upTo are decided: only upTo can match
    let hit = false; // whether upTo matches
    return async (lines) => {
      const kept = [];
      for (const l of lines) {
        if (l.message.toLowerCase().includes(lower)) { kept.push(l); continue; }
        if (!l.truncated) continue;
        if (l.line < from || l.line > upTo) {
          const page = await fetchPage(l.line - 1, 1, params);
          from = l.line;
          hit = page.data.length > 0;
          upTo = hit ? page.data[0].line : lines[lines.length - 1].line;
        }
        if (hit && l.line === upTo) kept.push(l);
      }
      return kept;
    };
  }

  function makeFindSeq(needle) {
    if (state.findRegex) {
      // The API takes one pattern a request: with a regex filter, none.
      if (!needle || filters.regex) return null;
      return new Seq(Object.assign({}, filters, { regex: needle }), null, null);
    }
    if (needle.length < RL.limits.minSearch) return null;
    if (filters.contains && filters.contains.toLowerCase() !== needle.toLowerCase()) {
      // Two texts at once: the API takes one, the other is checked here.
      return new Seq(Object.assign({}, filters), containing(needle), null);
    }
    const params = Object.assign({}, filters, { contains: needle });
    return new Seq(params, null, countParamsFor({ contains: needle }));
  }

  function errorLevels() {
    const wanted = ["error", "critical"];
    if (!filters.level) return wanted;
    return filters.level.split(",").filter((l) => wanted.includes(l));
  }

  function makeErrSeq() {
    const levels = errorLevels();
    if (!levels.length) return null;
    const params = Object.assign({}, filters, { level: levels.join(",") });
    const seq = new Seq(params, null, countParamsFor({ level: levels.join(",") }));
    seq.fromListing = !filtered;
    return seq;
  }

  // Each count element says what its latest call found: an earlier call
  // still waiting for its total (the count started as the text was typed)
  // must not overwrite the later "2 of 5".
  async function showCount(seq, el, index, noun, line) {
    const mine = el._countToken = (el._countToken || 0) + 1;
    if (!seq) { el.textContent = ""; return; }
    const plural = (n) => RL.num(n) + " " + noun + (n === 1 ? "" : (noun === "match" ? "es" : "s"));
    try {
      if (seq.count === null) el.textContent = index >= 0 ? RL.num(index + 1) + " of …" : "counting…";
      const total = await seq.total((n) => { if (mine === el._countToken) el.textContent = RL.num(n) + "+ " + noun + "…"; });
      if (mine !== el._countToken) return;
      el.textContent = total === 0 ? "no " + noun + (noun === "match" ? "es" : "s")
        : index >= 0 ? RL.num(index + 1) + " of " + RL.num(total)
          : line ? "line " + RL.num(line) + " · " + plural(total) : plural(total);
      el.dataset.total = String(total);
    } catch (e) {
      RL.fail(e, null, "count");
    }
  }

  function refill(r) {
    fillMessage(r.querySelector(".msg"), r._text, r._truncated, Number(r.dataset.line), r._matches);
  }

  function rehighlight() {
    for (const page of state.pages) {
      for (const r of page.el.children) refill(r);
    }
  }

  // `find`: the line is a find match (not an error), for fillMessage's note.
  function setCurrent(n, find) {
    const was = [...linesEl.querySelectorAll(".row.current")];
    state.current = n;
    state.currentFind = Boolean(find);
    for (const r of was) {
      r.classList.remove("current");
      if (r._truncated) refill(r);
    }
    const row = rowOf(n);
    if (row) {
      row.classList.add("current");
      if (row._truncated) refill(row);
      const m = row.querySelector("mark");
      if (m) m.classList.add("on");
    }
  }

  async function goTo(n, find) {
    const row = rowOf(n);
    if (row) scrollToRow(row);
    else await openAt(n);
    setCurrent(n, find);
    const r = rowOf(n);
    if (r) scrollToRow(r);
  }

  // Where "next" starts from: the current match, else the permalinked
  // line, else just above the screen.
  function origin() {
    if (state.current !== null && rowOf(state.current)) return state.current;
    if (state.target && rowOf(state.target[0])) return state.target[0] - 1;
    const top = logEl.scrollTop;
    for (const page of state.pages) {
      for (const r of page.el.children) if (r.offsetTop + r.offsetHeight > top) return Number(r.dataset.line) - 1;
    }
    return 0;
  }

  // `find` steps through the find text's matches or, with a problem chosen
  // in the panel, through that problem's lines; `err` through the errors.
  async function step(kind, dir) {
    const seq = kind === "find" ? state.findSeq : state.errSeq;
    const countEl = kind === "find" ? $("find-count") : $("err-count");
    if (!seq) return;
    const problem = kind === "find" ? state.problem : null;
    const noun = kind === "find" ? (problem ? "line" : "match") : "error";
    const from = dir === "first" ? 0 : origin();
    try {
      const hit = dir === "prev" ? await seq.prev(from) : await seq.next(from);
      if (seq !== (kind === "find" ? state.findSeq : state.errSeq)) return;
      if (!hit) {
        countEl.textContent = (dir === "prev" ? "no earlier " : "no later ") + noun;
        if (problem) problem.pos.textContent = countEl.textContent;
        return;
      }
      await goTo(hit.line, kind === "find" && !problem);
      RL.clearNotice("step");
      showCount(seq, countEl, hit.index, noun, hit.line);
      if (problem && problem === state.problem) showCount(seq, problem.pos, hit.index, noun, hit.line);
    } catch (e) {
      RL.fail(e, null, "step");
    }
  }

  let findTimer = null;
  function setFind(value) {
    // A pattern is kept as typed: its spaces may be meant.
    const regex = $("find-regex").checked;
    const v = regex && value.trim() ? value : value.trim();
    if (v === state.find && regex === state.findRegex) return;
    if (state.problem) unchooseProblem();
    state.find = v;
    state.findRegex = regex;
    state.current = null;
    state.currentFind = false;
    state.findSeq = makeFindSeq(v);
    rehighlight();
    if (v && !state.findSeq) {
      $("find-count").textContent = regex
        ? "one regular expression at a time: the filter has one"
        : RL.limits.minSearch + " characters or more";
    }
    else showCount(state.findSeq, $("find-count"), -1, "match");
  }
  $("find").addEventListener("input", () => {
    clearTimeout(findTimer);
    findTimer = setTimeout(() => setFind($("find").value), 250);
  });
  $("find").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      clearTimeout(findTimer);
      setFind($("find").value);
      step("find", ev.shiftKey ? "prev" : "next");
    } else if (ev.key === "Escape") {
      $("find").blur();
      logEl.focus();
    }
  });
  $("find-regex").addEventListener("change", () => {
    clearTimeout(findTimer);
    setFind($("find").value);
  });
  $("find-next").addEventListener("click", () => step("find", "next"));
  $("find-prev").addEventListener("click", () => step("find", "prev"));
  $("err-first").addEventListener("click", () => step("err", "first"));
  $("err-next").addEventListener("click", () => step("err", "next"));
  $("err-prev").addEventListener("click", () => step("err", "prev"));

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (!$("token-dialog").hidden) return;
    if (ev.key === "/") { ev.preventDefault(); $("find").focus(); $("find").select(); }
    else if (ev.key === "n") { ev.preventDefault(); step("find", "next"); }
    else if (ev.key === "N") { ev.preventDefault(); step("find", "prev"); }
    else if (ev.key === "e") { ev.preventDefault(); step("err", "next"); }
    else if (ev.key === "E") { ev.preventDefault(); step("err", "prev"); }
  });

  // ---- problems ------------------------------------------------------------

  // The panel lists the run's failure signatures (error and critical, or
  // those of them the level filter keeps, from the filtered source) in the
  // order they first appear. Choosing one makes n and N step through its
  // lines: its lines become what find steps through (the same Seq, asking
  // the logs endpoint with `signature=`), counted by the panel's count.
  const problems = { cursor: null };

  function problemParams() {
    const levels = errorLevels();
    if (!levels.length) return null;
    return { level: levels.join(","), source: filters.source, sort: "first", limit: 50 };
  }

  function renderProblem(item) {
    const level = LEVELS.includes(item.level) ? item.level : "info";
    const li = RL.el("li", {
      class: "problem",
      "data-signature": item.signature,
      "data-level": level,
      "data-source": item.source,
      "data-count": item.count,
      "data-first-line": item.first_line,
      "data-new": item.new ? "true" : "false",
    });
    const button = RL.el("button", { type: "button", class: "pick", "aria-pressed": "false" });
    button.appendChild(RL.el("span", { class: "tpl" }, item.template));
    const facts = RL.el("span", { class: "facts" });
    facts.appendChild(RL.el("span", { class: "count" }, RL.num(item.count) + (item.count === 1 ? " line" : " lines")));
    facts.appendChild(RL.el("span", { class: "lvl " + level }, level));
    facts.appendChild(RL.el("span", { class: "src" }, item.source));
    if (item.new) facts.appendChild(RL.el("span", { class: "badge-new", title: "No earlier run has this message" }, "new"));
    button.appendChild(facts);
    li.appendChild(button);
    if (item.first_seen_run !== null && item.first_seen_run !== undefined) {
      const runs = Number(item.runs_seen);
      const seen = RL.el("div", { class: "seen" }, "seen in " + RL.num(runs) + (runs === 1 ? " run" : " runs") + " since ");
      seen.appendChild(RL.el("a", {
        href: "/runs/" + encodeURIComponent(item.first_seen_run) + "?signature=" + encodeURIComponent(item.signature),
        title: item.first_seen_at ? "landed " + RL.when(item.first_seen_at) : null,
      }, "run " + item.first_seen_run));
      li.appendChild(seen);
    }
    const pos = RL.el("div", { class: "pos", "aria-live": "polite" });
    li.appendChild(pos);
    button.addEventListener("click", () => {
      if (state.problem && state.problem.button === button) unchooseProblem();
      else chooseProblem(item, button, pos);
    });
    return li;
  }

  function setSignatureInUrl(id) {
    const q = new URLSearchParams(location.search);
    if (id) q.set("signature", id);
    else q.delete("signature");
    const s = q.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : "") + location.hash);
  }

  function chooseProblem(item, button, pos) {
    if (state.problem) unchooseProblem();
    clearTimeout(findTimer);
    $("find").value = "";
    state.find = "";
    state.current = null;
    state.currentFind = false;
    rehighlight();
    const params = Object.assign({}, filters, { signature: item.signature, level: item.level, source: item.source });
    if (!params.contains) delete params.contains;
    if (![...$("f-source").options].some((o) => o.value && o.value === params.source)) delete params.source;
    const seq = new Seq(params, null, null);
    // The panel's count is exact for the run (the view's text filter, when
    // there is one, narrows it: that count is then walked).
    if (!filters.contains) seq.count = Number(item.count);
    state.findSeq = seq;
    state.problem = { signature: item.signature, button, pos };
    button.setAttribute("aria-pressed", "true");
    $("find").placeholder = "Problem chosen: n, N";
    setSignatureInUrl(item.signature);
    step("find", "first");
  }

  function unchooseProblem() {
    const p = state.problem;
    if (!p) return;
    state.problem = null;
    state.findSeq = null;
    p.button.setAttribute("aria-pressed", "false");
    p.pos.textContent = "";
    $("find-count").textContent = "";
    $("find").placeholder = "Search this log  ( / )";
    setSignatureInUrl("");
  }

  // One page of the panel; resolves to whether it loaded.
  async function loadProblems(cursor) {
    const status = $("problems-status");
    const p = problemParams();
    if (!p) {
      status.textContent = "The level filter leaves out error and critical lines.";
      return false;
    }
    if (cursor) p.cursor = cursor;
    else status.textContent = "Loading…";
    try {
      const page = await RL.api(SIGNATURES, p);
      RL.clearNotice("problems");
      const list = $("problems-list");
      if (!cursor) list.textContent = "";
      for (const item of page.data) list.appendChild(renderProblem(item));
      problems.cursor = page.pagination.next_cursor;
      $("problems-more").hidden = !problems.cursor;
      const n = list.children.length;
      status.textContent = n === 0
        ? "No errors or critical lines" + (filters.source ? " from " + filters.source : "") + "."
        : RL.num(n) + (n === 1 ? " distinct message" : " distinct messages") + (problems.cursor ? " so far" : "");
      return true;
    } catch (e) {
      status.textContent = "";
      RL.fail(e, () => loadProblems(cursor), "problems");
      return false;
    }
  }
  $("problems-more").addEventListener("click", () => { if (problems.cursor) loadProblems(problems.cursor); });

  // The panel's first page, then, for `?signature=ID`, that problem chosen
  // (paging the panel on until it is there).
  async function startProblems() {
    if (!(await loadProblems(null))) return;
    if (!wantedSignature) return;
    for (let pages = 0; pages < 20; pages++) {
      const li = [...$("problems-list").children].find((e) => e.dataset.signature === wantedSignature);
      if (li) {
        li.querySelector("button.pick").click();
        li.scrollIntoView({ block: "nearest" });
        return;
      }
      if (!problems.cursor || !(await loadProblems(problems.cursor))) break;
    }
    $("problems-status").textContent += " · the linked problem is not among them";
  }

  // ---- filters -------------------------------------------------------------

  function showFilters() {
    const levels = filters.level.split(",");
    for (const box of document.querySelectorAll("#f-levels input")) box.checked = levels.includes(box.value);
    $("f-source").value = filters.source;
    $("f-contains").value = filters.regex || filters.contains;
    $("f-regex").checked = Boolean(filters.regex);
    const parts = [];
    if (filters.level) parts.push("level " + filters.level.replace(/,/g, ", "));
    if (filters.source) parts.push("source " + filters.source);
    if (filters.contains) parts.push("containing \u201c" + filters.contains + "\u201d");
    if (filters.regex) parts.push("matching the regular expression \u201c" + filters.regex + "\u201d");
    $("filter-state").textContent = parts.length ? "Showing only lines with " + parts.join("; ") : "All lines";
  }

  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    const levels = [...document.querySelectorAll("#f-levels input:checked")].map((b) => b.value);
    if (levels.length) q.set("level", levels.join(","));
    if ($("f-source").value) q.set("source", $("f-source").value);
    // A pattern is kept as typed: its spaces may be meant.
    const raw = $("f-contains").value;
    const text = $("f-regex").checked ? raw : raw.trim();
    if (text.trim()) q.set($("f-regex").checked ? "regex" : "contains", text);
    const s = q.toString();
    location.assign(location.pathname + (s ? "?" + s : "") + location.hash);
  });
  $("f-clear").addEventListener("click", () => location.assign(location.pathname + location.hash));

  // ---- follow, wrap, raw ---------------------------------------------------

  function setFollow(on) {
    state.follow = on;
    $("follow").setAttribute("aria-pressed", on ? "true" : "false");
    $("follow-state").textContent = on ? "Following" : "";
    $("new-lines").hidden = true;
    if (on) openEnd();
    updateEdges();
  }
  $("follow").addEventListener("click", () => setFollow(!state.follow));

  async function poll() {
    if (!state.follow || state.busy || document.hidden) return;
    const atBottom = state.atEnd && distanceToBottom() < 40;
    try {
      if (atBottom) {
        // At the bottom: take the new lines and stay there.
        // The count first: lines landing meanwhile count as new later,
        // rather than being missed.
        await refreshTotal();
        let mark = state.total;
        const gen = state.gen;
        state.busy = true;
        try {
          const page = await fetchPage(lastLine(), PAGE);
          if (gen !== state.gen) return;
          append(page.data);
          state.atEnd = !page.pagination.has_more;
          logEl.scrollTop = logEl.scrollHeight;
          if (!filtered) mark = Math.max(mark, lastLine());
        } finally {
          if (gen === state.gen) state.busy = false;
        }
        state.followMark = mark;
        $("new-lines").hidden = true;
        RL.clearNotice("follow");
        updateEdges();
      } else {
        // Scrolled up: leave the view alone, say how much is waiting.
        await refreshTotal();
        if (state.followMark === null) state.followMark = state.total;
        const n = state.total - state.followMark;
        const pill = $("new-lines");
        pill.hidden = n <= 0;
        pill.textContent = RL.num(n) + (n === 1 ? " new line" : " new lines") + " ↓";
        pill.dataset.count = String(n);
        updateEdges();
      }
    } catch (e) {
      RL.fail(e, null, "follow");
    }
  }
  setInterval(poll, POLL_MS);
  $("new-lines").addEventListener("click", () => { $("new-lines").hidden = true; openEnd(); });

  function setWrap(on) {
    logEl.classList.toggle("wrap", on);
    $("wrap").setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("runlogd.wrap", on ? "1" : "0"); } catch (_) { /* private mode */ }
  }
  $("wrap").addEventListener("click", () => setWrap(!logEl.classList.contains("wrap")));

  // The raw file. When the bucket serves the run, the API would redirect to
  // a signed URL on the bucket's origin, which a fetch from this page may not
  // follow (connect-src 'self'), and a navigation cannot carry the bearer
  // token. So the page first asks where the file is (`?link=true`, with the
  // token) and, for a signed URL, navigates to it: a navigation is not a
  // connection the policy restricts, the URL carries its own short-lived
  // authorisation (the token never leaves this origin), and it asks the
  // bucket for `Content-Disposition: attachment`, so the browser saves the
  // file and this page stays. Only an http(s) URL is followed. A file served
  // from here is fetched with the token and handed over as a blob.
  $("raw").addEventListener("click", async () => {
    try {
      const where = await RL.api(LOGS + "/raw", { link: "true" });
      if (where && where.url) {
        const url = new URL(where.url);
        if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("unexpected download address");
        const a = RL.el("a", { href: url.href, rel: "noopener noreferrer" });
        document.body.appendChild(a);
        a.click();
        a.remove();
        RL.clearNotice("raw");
        return;
      }
      const resp = await RL.api(LOGS + "/raw", null, { raw: true });
      const blob = await resp.blob();
      const a = RL.el("a", { href: URL.createObjectURL(blob), download: runId + ".txt" });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    } catch (e) {
      RL.fail(e, null, "raw");
    }
  });

  // ---- start ---------------------------------------------------------------

  logEl.addEventListener("scroll", () => {
    schedule();
    if (state.follow && distanceToBottom() < 40 && state.atEnd) $("new-lines").hidden = true;
  }, { passive: true });
  window.addEventListener("hashchange", onHash);

  function start() {
    document.title = "Run " + runId + " · runlogd";
    $("run-title").textContent = "Run " + runId;
    showFilters();
    try { setWrap(localStorage.getItem("runlogd.wrap") === "1"); } catch (_) { setWrap(false); }
    state.errSeq = makeErrSeq();
    let totalFailed = false;
    refreshTotal().then(() => updateEdges()).catch(() => { totalFailed = true; /* the log request reports it */ });
    const t = parseHash();
    state.target = t;
    // Once the first lines are in place, whichever open places them: this
    // one, or its retry once a refused token is replaced (the error count
    // asked for before that would find no token, and not be asked again).
    state.onFirstOpen = () => {
      if (!state.target) logEl.scrollTop = 0;
      if (state.pages.length) {
        // For the measurement in tests/integration/browser.rs (viewer_perf): the first
        // lines are in place, at the top or at the permalinked line; the
        // second mark is taken after the next frame, once they are painted.
        performance.mark("runlogd:lines-placed");
        requestAnimationFrame(() => setTimeout(() => performance.mark("runlogd:lines-painted"), 0));
      }
      if (totalFailed) refreshTotal().then(() => updateEdges()).catch(() => { /* as above */ });
      showCount(state.errSeq, $("err-count"), -1, "error");
      // After the first lines, so as not to hold them up.
      startProblems();
    };
    openAt(t ? t[0] : 1);
  }

  if (!/^\d+$/.test(runId)) {
    $("notice").textContent = "A run id is a number, as in /runs/9405.";
    $("notice").hidden = false;
    return;
  }
  RL.withToken(start);
})();
