// runlogd web viewer: what both pages share. The token, API calls, the
// error messages a person reads, and building elements from text (log text
// is only ever set through textContent, never parsed as HTML).
"use strict";

const RL = (() => {
  const KEY = "runlogd.token";

  // The API's limits, as the server states them in <body>'s data- attributes
  // (the pages never restate them).
  const limits = Object.freeze({
    minSearch: Number(document.body.dataset.minSearchChars),
    pageLines: Number(document.body.dataset.maxPageLines),
    messageChars: Number(document.body.dataset.maxMessageChars),
  });

  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  function token() {
    try { return sessionStorage.getItem(KEY) || ""; } catch (_) { return ""; }
  }
  function setToken(t) { sessionStorage.setItem(KEY, t); }
  function clearToken() { sessionStorage.removeItem(KEY); }

  // Builds an element; `text` is set as text, never as markup.
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // Appends `text` to `parent`, with every case-insensitive occurrence of
  // `needle` wrapped in <mark>. Text nodes only.
  function appendHighlighted(parent, text, needle) {
    if (!needle) { parent.appendChild(document.createTextNode(text)); return 0; }
    const hay = text.toLowerCase();
    const n = needle.toLowerCase();
    let at = 0;
    let found = 0;
    // Lower-casing can change lengths outside ASCII; fall back to plain text then.
    if (hay.length !== text.length) { parent.appendChild(document.createTextNode(text)); return 0; }
    for (;;) {
      const i = hay.indexOf(n, at);
      if (i < 0) break;
      if (i > at) parent.appendChild(document.createTextNode(text.slice(at, i)));
      parent.appendChild(el("mark", null, text.slice(i, i + n.length)));
      at = i + n.length;
      found++;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
    return found;
  }

  // Marks the [start, end) ranges the server gave (`matches`, in UTF-16
  // units: JavaScript's own string indices) in `text`. The page never
  // matches a regular expression itself: what is marked is what the
  // server matched.
  function appendRanges(parent, text, ranges) {
    let at = 0;
    for (const [from, to] of ranges || []) {
      if (from < at || to > text.length || from >= to) continue;
      if (from > at) parent.appendChild(document.createTextNode(text.slice(at, from)));
      parent.appendChild(el("mark", null, text.slice(from, to)));
      at = to;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
    return (ranges || []).length;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === undefined || v === null || v === "") continue;
      q.set(k, String(v));
    }
    const s = q.toString();
    return s ? "?" + s : "";
  }

  // GET an API path with the bearer token; resolves to the parsed JSON body,
  // rejects with an ApiError carrying the status and the envelope's words.
  async function api(path, params, init) {
    const t = token();
    if (!t) throw new ApiError(401, "no_token", "No token entered.", null);
    let resp;
    try {
      resp = await fetch(path + query(params), Object.assign({
        headers: { "Authorization": "Bearer " + t, "Accept": "application/json" },
        cache: "no-store",
        credentials: "omit",
      }, init || {}));
    } catch (e) {
      throw new ApiError(0, "network", "The server could not be reached.", null);
    }
    if (resp.ok) return init && init.raw ? resp : resp.json();
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    const retry = resp.headers.get("Retry-After");
    throw new ApiError(resp.status, body && body.code, (body && body.message) || resp.statusText, retry);
  }

  // What went wrong, in words a reader can act on.
  function explain(err) {
    if (!(err instanceof ApiError)) return "Something went wrong: " + String(err && err.message || err);
    switch (err.status) {
      case 0: return "The runlogd server could not be reached. Check that it is running and try again.";
      case 401: {
        if (err.code === "no_token") return "A token is needed to read logs.";
        const said = err.message || "the token is unknown, expired or revoked";
        return "This token was not accepted; the server answered 401: " + said +
          (/[.!?]$/.test(said) ? "" : ".") + " Enter a valid token " +
          "(a Sample Platform token, or one an operator makes with `runlogd token create --scopes system:read`).";
      }
      case 403: return "This token is valid but is not allowed to read logs: it lacks the system:read scope. Ask an operator for a token with that scope.";
      case 429: {
        const s = parseInt(err.retryAfter, 10);
        return "Too many requests with this token in a short time. " +
          (s > 0 ? "Try again in " + s + " second" + (s === 1 ? "" : "s") + "." : "Wait a moment and try again.");
      }
      case 404: return err.message ? "Not found: " + err.message + "." : "Not found.";
      case 400: return "The server refused the request: " + err.message + ".";
      case 503:
        if (err.code === "auth_unavailable") {
          return "Your token could not be checked right now: the Sample Platform that issued it did not answer. " +
            "The token itself may well be fine; try again shortly.";
        }
        return "The log is not available right now (" + err.message + "). Try again shortly.";
      default: return "The server answered " + err.status + ": " + err.message;
    }
  }

  // The token dialog. `onToken` runs once a token is stored.
  let dialogCallback = null;
  function askToken(reason, onToken) {
    dialogCallback = onToken;
    const overlay = document.getElementById("token-dialog");
    const input = document.getElementById("token-input");
    const msg = document.getElementById("token-error");
    msg.textContent = reason || "";
    msg.hidden = !reason;
    overlay.hidden = false;
    input.value = "";
    input.focus();
  }
  function wireTokenDialog() {
    const form = document.getElementById("token-form");
    const overlay = document.getElementById("token-dialog");
    const input = document.getElementById("token-input");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      setToken(t);
      overlay.hidden = true;
      const cb = dialogCallback;
      dialogCallback = null;
      if (cb) cb();
    });
    const change = document.getElementById("token-change");
    if (change) change.addEventListener("click", () => askToken("", () => location.reload()));
  }

  // Runs `start` with a token at hand: at once if one is stored, else after
  // the reader types one.
  function withToken(start) {
    wireTokenDialog();
    if (token()) start();
    else askToken("", start);
  }

  // Shows an API failure: a rejected token reopens the dialog with the
  // reason. `owner` names what failed, so that another request succeeding
  // does not hide the message (see clearNotice).
  function fail(err, retry, owner) {
    const notice = document.getElementById("notice");
    if (err instanceof ApiError && err.status === 401) {
      // With the dialog open, a request that found no token (a refusal just
      // forgot it) adds nothing: it must not replace why the token was
      // refused, nor that request's retry.
      if (err.code === "no_token" && !document.getElementById("token-dialog").hidden) return;
      clearToken();
      notice.hidden = true;
      askToken(explain(err), retry || (() => location.reload()));
      return;
    }
    notice.textContent = explain(err);
    notice.className = "notice";
    notice.dataset.owner = owner || "";
    notice.hidden = false;
  }
  function clearNotice(owner) {
    const notice = document.getElementById("notice");
    if ((notice.dataset.owner || "") !== (owner || "")) return;
    notice.hidden = true;
    notice.textContent = "";
  }

  const fmt = new Intl.NumberFormat("en-US");
  function num(n) { return fmt.format(n); }
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
  }

  return { limits, ApiError, api, explain, el, appendHighlighted, appendRanges, withToken, askToken, fail, clearNotice, token, num, when, query };
})();
