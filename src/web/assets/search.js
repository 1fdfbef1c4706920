// The front page: search across runs, and the most recent logs.
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
    $("q-contains").value = q.get("contains") || "";
    const levels = (q.get("level") || "").split(",");
    for (const box of form.querySelectorAll("input[name=level]")) box.checked = levels.includes(box.value);
    $("q-source").value = q.get("source") || "";
    $("q-run-min").value = q.get("run_min") || "";
    $("q-run-max").value = q.get("run_max") || "";
    $("q-since").value = (q.get("since") || "").slice(0, 10);
  }
  function formParams() {
    const levels = [...form.querySelectorAll("input[name=level]:checked")].map((b) => b.value);
    return {
      contains: $("q-contains").value.trim(),
      level: levels.join(","),
      source: $("q-source").value,
      run_min: $("q-run-min").value,
      run_max: $("q-run-max").value,
      since: $("q-since").value ? $("q-since").value + "T00:00:00Z" : "",
    };
  }
  function hasQuery(p) { return p.contains || p.level; }

  function renderRun(run, needle) {
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
      RL.appendHighlighted(msg, line.message, needle);
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
      status.textContent = "Enter a text of at least " + RL.limits.minSearch + " characters, or pick a level.";
      return;
    }
    if (params.contains && params.contains.length < RL.limits.minSearch) {
      status.textContent = "The text needs at least " + RL.limits.minSearch + " characters.";
      return;
    }
    status.textContent = "Searching…";
    try {
      const page = await RL.api("/api/v1/logs/search", Object.assign({}, params, { cursor, lines_per_run: 3 }));
      RL.clearNotice("search");
      const list = $("results");
      if (!cursor) list.textContent = "";
      for (const run of page.data) list.appendChild(renderRun(run, params.contains));
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

  async function recent(cursor) {
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
    } catch (e) {
      RL.fail(e, () => recent(cursor), "recent");
    }
  }

  function start() {
    fromUrl();
    const p = formParams();
    if (hasQuery(p)) { lastParams = p; search(p, null); }
    recent(null);
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
