// The front page: search across runs, the failures of the latest runs, and
// the most recent logs.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form");
  let nextCursor = null;
  let lastParams = null;
  let recentCursor = null;

  // The form's state <-> the page's query string, so a search can be shared.
  function fromUrl() {
    const q = new URLSearchParams(location.search);
    $("q-contains").value = q.get("regex") || q.get("contains") || "";
    $("q-regex").checked = Boolean(q.get("regex"));
    const levels = (q.get("level") || "").split(",");
    for (const box of form.querySelectorAll("input[name=level]")) box.checked = levels.includes(box.value);
    $("q-source").value = q.get("source") || "";
    $("q-run-min").value = q.get("run_min") || "";
    $("q-run-max").value = q.get("run_max") || "";
    $("q-since").value = (q.get("since") || "").slice(0, 10);
  }
  function formParams() {
    const levels = [...form.querySelectorAll("input[name=level]:checked")].map((b) => b.value);
    const text = $("q-contains").value;
    const regex = $("q-regex").checked;
    return {
      contains: regex ? "" : text.trim(),
      // A pattern is kept as typed: its spaces may be meant.
      regex: regex && text.trim() ? text : "",
      level: levels.join(","),
      source: $("q-source").value,
      run_min: $("q-run-min").value,
      run_max: $("q-run-max").value,
      since: $("q-since").value ? $("q-since").value + "T00:00:00Z" : "",
    };
  }
  function hasQuery(p) { return p.contains || p.regex || p.level; }

  // A regex search marks what the server matched (`matches`); a text
  // search marks the text.
  function renderRun(run, needle, ranges) {
    const li = RL.el("li", { class: "run", "data-run": run.run_id });
    const head = RL.el("div", { class: "run-head" });
    head.appendChild(RL.el("a", { href: "/runs/" + run.run_id }, "Run " + run.run_id));
    head.appendChild(RL.el("span", { class: "count" },
      RL.num(run.match_count) + (run.match_count === 1 ? " match" : " matches")));
    head.appendChild(RL.el("span", { class: "meta" },
      RL.num(run.lines_total) + " lines" + (run.landed_at ? " · landed " + RL.when(run.landed_at) : "")));
    li.appendChild(head);
    const hits = RL.el("ul", { class: "hits" });
    for (const line of run.lines) {
      const a = RL.el("a", { href: "/runs/" + run.run_id + "#L" + line.line, class: "hit lvl-" + line.level });
      a.appendChild(RL.el("span", { class: "no" }, line.line));
      const msg = RL.el("span", { class: "msg" });
      if (ranges) RL.appendRanges(msg, line.message, line.matches);
      else RL.appendHighlighted(msg, line.message, needle);
      a.appendChild(msg);
      const item = RL.el("li");
      item.appendChild(a);
      hits.appendChild(item);
    }
    li.appendChild(hits);
    return li;
  }

  async function search(params, cursor) {
    const status = $("search-status");
    if (!hasQuery(params)) {
      status.textContent = "Enter a text of at least " + RL.limits.minSearch + " characters or a regular expression, or pick a level.";
      return;
    }
    if (params.contains && params.contains.length < RL.limits.minSearch) {
      status.textContent = "The text needs at least " + RL.limits.minSearch + " characters.";
      return;
    }
    status.textContent = "Searching…";
    try {
      const extra = { cursor, lines_per_run: 3 };
      if (params.regex) extra.highlight = "true";
      const page = await RL.api("/api/v1/logs/search", Object.assign({}, params, extra));
      RL.clearNotice("search");
      const list = $("results");
      if (!cursor) list.textContent = "";
      for (const run of page.data) list.appendChild(renderRun(run, params.contains, Boolean(params.regex)));
      const shown = list.children.length;
      status.textContent = shown === 0 ? "No run matches." :
        shown + (shown === 1 ? " run" : " runs") + " with matches" + (page.pagination.has_more ? " so far" : "") + ", newest first.";
      nextCursor = page.pagination.next_cursor;
      $("more-results").hidden = !nextCursor;
    } catch (e) {
      status.textContent = "";
      RL.fail(e, () => search(params, cursor), "search");
    }
  }

  // Resolves to whether the page loaded; a refused token retries `retry`
  // (by default this page again) once a new one is entered.
  async function recent(cursor, retry) {
    try {
      const page = await RL.api("/api/v1/logs", { limit: 20, cursor });
      RL.clearNotice("recent");
      const body = $("recent");
      if (!cursor) body.textContent = "";
      for (const log of page.data) {
        const tr = RL.el("tr", { "data-run": log.run_id });
        const td = RL.el("td");
        td.appendChild(RL.el("a", { href: "/runs/" + log.run_id }, "Run " + log.run_id));
        tr.appendChild(td);
        tr.appendChild(RL.el("td", null, RL.when(log.landed_at)));
        tr.appendChild(RL.el("td", { class: "num" }, RL.num(log.lines_total)));
        for (const level of ["error", "critical"]) {
          const n = log.levels[level];
          const cell = RL.el("td", { class: "num " + level });
          cell.appendChild(RL.el("span", { class: "pill " + (n ? level : "zero") }, RL.num(n)));
          tr.appendChild(cell);
        }
        tr.appendChild(RL.el("td", null, log.origin));
        body.appendChild(tr);
      }
      recentCursor = page.pagination.next_cursor;
      $("more-recent").hidden = !recentCursor;
      return true;
    } catch (e) {
      RL.fail(e, retry || (() => recent(cursor)), "recent");
      return false;
    }
  }

  // ---- failures ------------------------------------------------------------

  // Two lists of failure signatures over a window of runs the reader picks:
  // the last N runs are those from the highest run id (the newest log of
  // the listing) down, so `run_min` is that id - N + 1.
  const FAILURES = 10;
  const failures = { gen: 0, runMin: "", cursors: { runs: null, new: null } };
  const lists = {
    runs: { list: "frequent", status: "frequent-status", more: "more-frequent" },
    new: { list: "new-failures", status: "new-status", more: "more-new" },
  };

  function plural(n, word) { return RL.num(n) + " " + word + (n === 1 ? "" : "s"); }

  function renderFailure(item) {
    const li = RL.el("li", {
      class: "failure",
      "data-signature": item.signature,
      "data-runs": item.runs,
      "data-lines": item.lines,
    });
    li.appendChild(RL.el("span", { class: "tpl" }, item.template));
    const facts = RL.el("div", { class: "facts" });
    facts.appendChild(RL.el("span", { class: "runs" }, "in " + plural(item.runs, "run")));
    facts.appendChild(RL.el("span", { class: "lines" }, plural(item.lines, "line")));
    if (item.first_seen_run !== null && item.first_seen_run !== undefined) {
      const first = RL.el("span", { class: "first" }, "first seen in ");
      first.appendChild(RL.el("a", {
        href: "/runs/" + encodeURIComponent(item.first_seen_run) + "?signature=" + encodeURIComponent(item.signature),
        title: item.first_seen_at ? "landed " + RL.when(item.first_seen_at) : null,
      }, "run " + item.first_seen_run));
      facts.appendChild(first);
    }
    const toggle = RL.el("button", { type: "button", class: "show-runs", "aria-expanded": "false" }, "Runs");
    facts.appendChild(toggle);
    li.appendChild(facts);
    const runs = RL.el("ul", { class: "sig-runs", hidden: true });
    li.appendChild(runs);
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      runs.hidden = !open;
      if (open && !runs.dataset.loaded) signatureRuns(item.signature, runs, null);
    });
    return li;
  }

  // The runs holding one signature in the window, newest first, each
  // linking to its run page opened on that signature.
  async function signatureRuns(signature, ul, cursor) {
    try {
      const page = await RL.api("/api/v1/signatures/" + encodeURIComponent(signature) + "/runs",
        { run_min: failures.runMin, limit: 20, cursor });
      RL.clearNotice("failures");
      ul.dataset.loaded = "true";
      const more = ul.querySelector("li.more-runs");
      if (more) more.remove();
      for (const run of page.data) {
        const li = RL.el("li", { "data-run": run.run_id });
        li.appendChild(RL.el("a", {
          href: "/runs/" + encodeURIComponent(run.run_id) + "?signature=" + encodeURIComponent(signature),
        }, "Run " + run.run_id));
        li.appendChild(RL.el("span", { class: "meta" }, " · " + plural(run.count, "line") +
          ", first at line " + RL.num(run.first_line) + (run.landed_at ? " · landed " + RL.when(run.landed_at) : "")));
        ul.appendChild(li);
      }
      if (page.pagination.next_cursor) {
        const li = RL.el("li", { class: "more-runs" });
        const b = RL.el("button", { type: "button" }, "More runs");
        b.addEventListener("click", () => signatureRuns(signature, ul, page.pagination.next_cursor));
        li.appendChild(b);
        ul.appendChild(li);
      }
    } catch (e) {
      RL.fail(e, () => signatureRuns(signature, ul, cursor), "failures");
    }
  }

  async function failureList(sort, cursor, gen) {
    const ids = lists[sort];
    const status = $(ids.status);
    if (!cursor) status.textContent = "Loading…";
    try {
      const page = await RL.api("/api/v1/signatures", { sort, run_min: failures.runMin, limit: FAILURES, cursor });
      if (gen !== failures.gen) return;
      RL.clearNotice("failures");
      const list = $(ids.list);
      if (!cursor) list.textContent = "";
      for (const item of page.data) list.appendChild(renderFailure(item));
      failures.cursors[sort] = page.pagination.next_cursor;
      $(ids.more).hidden = !failures.cursors[sort];
      status.textContent = list.children.length ? "" : "No error or critical line in these runs.";
    } catch (e) {
      status.textContent = "";
      RL.fail(e, () => failureList(sort, cursor, gen), "failures");
    }
  }

  async function loadFailures() {
    const gen = ++failures.gen;
    const size = $("fail-window").value;
    const note = $("fail-window-note");
    try {
      let runMin = "";
      if (size) {
        const newest = (await RL.api("/api/v1/logs", { limit: 1 })).data[0];
        if (newest) {
          runMin = Math.max(1, Number(newest.run_id) - Number(size) + 1);
          note.textContent = "runs " + runMin + " to " + newest.run_id;
        } else note.textContent = "";
      } else note.textContent = "";
      if (gen !== failures.gen) return;
      failures.runMin = runMin;
      await Promise.all([failureList("runs", null, gen), failureList("new", null, gen)]);
    } catch (e) {
      RL.fail(e, loadFailures, "failures");
    }
  }

  try {
    const kept = localStorage.getItem("runlogd.failures");
    if (kept !== null && [...$("fail-window").options].some((o) => o.value === kept)) $("fail-window").value = kept;
  } catch (_) { /* private mode */ }
  $("fail-window").addEventListener("change", () => {
    try { localStorage.setItem("runlogd.failures", $("fail-window").value); } catch (_) { /* private mode */ }
    loadFailures();
  });
  $("more-frequent").addEventListener("click", () => {
    if (failures.cursors.runs) failureList("runs", failures.cursors.runs, failures.gen);
  });
  $("more-new").addEventListener("click", () => {
    if (failures.cursors.new) failureList("new", failures.cursors.new, failures.gen);
  });

  function start() {
    fromUrl();
    const p = formParams();
    if (hasQuery(p)) { lastParams = p; search(p, null); }
    // The failures after the recent logs: one token check at a time, and a
    // refused token starts the whole page again once a new one is entered.
    recent(null, start).then((ok) => { if (ok) loadFailures(); });
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = formParams();
    const url = RL.query(p);
    history.replaceState(null, "", location.pathname + url);
    lastParams = p;
    search(p, null);
  });
  $("more-results").addEventListener("click", () => { if (lastParams && nextCursor) search(lastParams, nextCursor); });
  $("more-recent").addEventListener("click", () => { if (recentCursor) recent(recentCursor); });

  RL.withToken(start);
})();
