// tokenwatch dashboard core: URL state (every view, range, time zone and filter lives in the
// URL, so any screen is bookmarkable), API access, formatting, the live feed, downloads and the
// router. Views (view-*.js) register in TW.views and render into <main>.
"use strict";
(function () {
  const C = window.TWCharts, esc = C.esc;
  const TW = (window.TW = { views: {}, charts: C, esc });

  // ---- URL state -------------------------------------------------------------------------
  const params = () => new URLSearchParams(location.search);
  TW.param = (k, d) => { const v = params().get(k); return v === null || v === "" ? d : v; };
  TW.setParams = (changes, push) => {
    const p = params();
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === undefined || v === "") p.delete(k); else p.set(k, v);
    }
    const qs = p.toString();
    history[push ? "pushState" : "replaceState"](null, "", location.pathname + (qs ? "?" + qs : ""));
  };
  TW.tz = () => TW.param("tz", Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  const nextDay = (d) => {
    const t = Date.parse(d + "T00:00:00Z");
    return isNaN(t) ? d : new Date(t + 86400000).toISOString().slice(0, 10);
  };
  // since/until/tz for the API from the range picker.
  TW.rangeQuery = () => {
    const r = TW.param("range", "30d"), q = { tz: TW.tz() };
    if (r === "custom") {
      const f = TW.param("from"), t = TW.param("to");
      if (f) q.since = f;
      if (t) q.until = nextDay(t);
      if (!f && !t) q.since = "30d";
    } else if (r === "month") q.since = "month";
    else q.since = ["1h", "24h", "7d", "30d"].includes(r) ? r : "30d";
    return q;
  };
  TW.qs = (q) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
    return p.toString();
  };

  // ---- API -------------------------------------------------------------------------------
  // Signed in with a session cookie, writes carry its CSRF token (from /api/v1/auth/me);
  // an ended session (401) goes to the sign-in page.
  TW.csrf = null;
  TW.me = fetch("/api/v1/auth/me", { headers: { accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((me) => { if (me) TW.csrf = me.csrf_token; return me; })
    .catch(() => null);
  // Roles in order; each may do what the ones before it may. Local mode (no auth) is an
  // operator. The dashboard hides what a role may not do; the server refuses it regardless.
  const ROLES = ["viewer", "member", "admin", "operator"];
  TW.ROLES = ROLES;
  TW.roleAtLeast = (have, need) => ROLES.indexOf(have) >= ROLES.indexOf(need);
  // Whether the signed-in principal has at least `role` (unknown: the least role).
  TW.can = async (role) => {
    const me = await TW.me;
    return TW.roleAtLeast((me && me.role) || "viewer", role);
  };
  const signIn = (res) => {
    if (res.status === 401) location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  };
  TW.api = async (path, q) => {
    const url = "/api/v1/" + path + (q ? "?" + TW.qs(q) : "");
    const res = await fetch(url, { headers: { accept: "application/json" } });
    signIn(res);
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const e = new Error((body && body.error && body.error.message) || `${res.status} ${res.statusText}`);
      e.status = res.status;
      throw e;
    }
    return body;
  };

  // Writes (POST/DELETE with a JSON body); errors carry the API's message, which names the
  // bad parameter, and its list of bad fields (`fields`: [{field, message}]) when a body did not
  // fit, so forms can show every problem next to its field.
  TW.send = async (method, path, body) => {
    await TW.me;
    const init = { method, headers: { accept: "application/json" } };
    if (TW.csrf) init.headers["x-csrf-token"] = TW.csrf;
    if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
    const res = await fetch("/api/v1/" + path, init);
    signIn(res);
    let out = null;
    try { out = await res.json(); } catch (_) { /* 204 or not JSON */ }
    if (!res.ok) {
      const api = (out && out.error) || {};
      const e = new Error(api.message || `${res.status} ${res.statusText}`);
      e.fields = Array.isArray(api.fields) ? api.fields : [];
      e.param = api.param;
      throw e;
    }
    return out;
  };

  // A refusal found before sending: every problem, each naming its field, shaped like the
  // API's, so TW.showFormErrors shows both the same way.
  TW.formProblems = (problems) => {
    const e = new Error(problems.map((p) => p.message).join("; "));
    e.fields = problems;
    return e;
  };

  // Shows an error from TW.send (or TW.formProblems) for `form`: each problem under the input
  // it names (marked aria-invalid), and all of them listed in `box`. A problem the API does
  // not tie to a field of the form is shown in the list only. Backquotes are the API's
  // quoting of field names; people read the names plain.
  TW.clearFormErrors = (form, box) => {
    form.querySelectorAll(".field-err").forEach((el) => el.remove());
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    if (box) { box.hidden = true; box.textContent = ""; }
  };
  TW.showFormErrors = (form, box, e) => {
    TW.clearFormErrors(form, box);
    // "`period`: period 'x' must be …" reads "period 'x' must be …".
    const plain = (m) => String(m).replace(/`([^`]*)`/g, "$1").replace(/^([\w.[\]]+): (\w+) '/, (all, f, w) => (f === w ? `${w} '` : all));
    const input = (name) => {
      const el = name && form.elements[name];
      return el && el.tagName ? el : null;
    };
    let problems = (e.fields || []).map((f) => ({ field: f.field, message: plain(f.message) }));
    if (!problems.length) {
      // One message: tie it to a field when the API names one of this form's fields, either
      // as its parameter or as the message's subject ("… : window 'soon' must be …").
      const m = /:\s+([a-z_]+)\s+'/.exec(e.message || "");
      const field = input(e.param) ? e.param : m && input(m[1]) ? m[1] : null;
      problems = [{ field, message: plain(e.message || e) }];
    }
    for (const p of problems) {
      const el = input(String(p.field || "").split(/[.[]/)[0]);
      if (!el) continue;
      el.setAttribute("aria-invalid", "true");
      const note = document.createElement("span");
      note.className = "field-err";
      note.dataset.fieldErr = el.name;
      // Beside its field, the field's name in front is said already.
      note.textContent = p.field && p.message.startsWith(p.field + ": ") ? p.message.slice(p.field.length + 2) : p.message;
      const label = el.closest("label");
      if (label) label.appendChild(note); else el.after(note);
    }
    box.hidden = false;
    box.innerHTML = problems.length === 1 ? esc(problems[0].message)
      : `${problems.length} problems:<ul>${problems.map((p) => `<li>${esc(p.message)}</li>`).join("")}</ul>`;
  };

  // ---- alerts badge: unread count in the top bar (on load, every 30 s, after live events) --
  TW.refreshAlerts = async () => {
    const el = document.getElementById("alerts-badge");
    try {
      const n = (await TW.api("alerts", { unacknowledged: true, limit: 1 })).unread;
      el.textContent = `alerts ${n}`;
      el.classList.toggle("hot", n > 0);
      el.dataset.unread = n;
    } catch (_) { el.textContent = "alerts ?"; }
  };

  // ---- formatting ------------------------------------------------------------------------
  // Money from exact micro-USD: cents normally, sub-cent digits when the amount is under a cent.
  TW.usd = (micros) => {
    if (micros === null || micros === undefined) return "—";
    const a = Math.abs(micros), sign = micros < 0 ? "-" : "";
    if (a === 0) return "$0.00";
    if (a < 10000) return sign + "$" + (a / 1e6).toFixed(6).replace(/0+$/, "");
    return sign + "$" + (a / 1e6).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  };
  // Money from exact nano-USD: like TW.usd, with up to nine decimals under a cent.
  TW.usdNanos = (nanos) => {
    if (nanos === null || nanos === undefined) return "—";
    const a = Math.abs(nanos), sign = nanos < 0 ? "-" : "";
    if (a === 0) return "$0.00";
    if (a < 10000000) return sign + "$" + (a / 1e9).toFixed(9).replace(/0+$/, "");
    return sign + "$" + (a / 1e9).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  };
  TW.usdAxis = (v) => (v === 0 ? "$0" : v < 0.01 ? "$" + String(Number(v.toPrecision(2))) : "$" + (v >= 100 ? v.toFixed(0) : v.toFixed(2)));
  TW.int = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));
  TW.compact = (n) => {
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(1) + "B";
    if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (n / 1e3).toFixed(1) + "k";
    return String(Math.round(n));
  };
  // Escaped text whose dates and timestamps ("2026-12-03", "2026-12-03T00:00:00Z") never break
  // at their hyphens when the text wraps.
  TW.escDates = (text) => esc(text).replace(/\d{4}-\d\d-\d\d(?:T[\d:.]+Z?)?/g, (d) => `<span class="nw">${d}</span>`);
  TW.pct = (v) => (v === null || v === undefined ? "—" : (v > 0 ? "+" : "") + v.toFixed(1) + "%");
  TW.ms = (v) => (v === null || v === undefined ? "—" : v >= 10000 ? (v / 1000).toFixed(1) + "s" : Math.round(v) + "ms");
  // "11-24 07:11" in the selected zone, for tables on narrow screens.
  TW.shortTime = (tsMs) => TW.time(tsMs).slice(5, 16);
  TW.time = (tsMs) => {
    try {
      return new Intl.DateTimeFormat("sv-SE", { timeZone: TW.tz(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date(tsMs));
    } catch (_) { return new Date(tsMs).toISOString(); }
  };

  // ---- empty and error states ------------------------------------------------------------
  let providersCache = null;
  TW.providers = async () => (providersCache = providersCache || (await TW.api("providers")));
  TW.emptyState = async () => {
    const host = location.host;
    let mounts = "";
    try {
      const p = await TW.providers();
      mounts = p.providers.map((x) => `  ${x.name.padEnd(10)} http://${host}${x.mount}${x.kind === "openai" ? "/v1" : ""}`).join("\n");
    } catch (_) { /* the lines below still say it */ }
    return `<div class="empty" data-testid="empty"><h2>no events yet</h2>
<p>Point your SDK or agent at tokenwatch instead of the provider; every call is then recorded and priced:</p>
<pre>export ANTHROPIC_BASE_URL=http://${esc(host)}/anthropic
export OPENAI_BASE_URL=http://${esc(host)}/openai/v1
# Gemini: http://${esc(host)}/gemini</pre>
${mounts ? `<p>Mounted providers:</p><pre>${esc(mounts)}</pre>` : ""}
<p>Or import what your coding agents already logged: <code>tokenwatch import claude-code</code>, <code>tokenwatch import codex</code>.</p></div>`;
  };
  // The drawing width of a chart inside a panel of the current layout.
  TW.chartWidth = () => Math.max(300, Math.min((document.getElementById("view").clientWidth || 800) - 42, 1400));
  TW.errorBox = (e) => `<p class="err">could not load: ${esc(e.message || e)}</p>`;
  TW.anyEvents = async () => (await TW.api("events", { limit: 1 })).events.length > 0;

  // ---- downloads (every table and chart) -------------------------------------------------
  const exporters = {};
  TW.exportButtons = (name, rows) => {
    exporters[name] = rows;
    return `<span class="actions"><button type="button" class="btn" data-export="csv" data-name="${esc(name)}">csv</button><button type="button" class="btn" data-export="json" data-name="${esc(name)}">json</button></span>`;
  };
  const csvCell = (v) => {
    let s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    if (/^[=+\-@]/.test(s) && isNaN(Number(s))) s = "'" + s;
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  TW.toCsv = (rows) => {
    if (!rows.length) return "";
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    return [cols.join(","), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(","))].join("\r\n") + "\r\n";
  };
  function download(name, format) {
    const rows = (exporters[name] || (() => []))();
    const body = format === "csv" ? TW.toCsv(rows) : JSON.stringify(rows, null, 2);
    const blob = new Blob([body], { type: format === "csv" ? "text/csv" : "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `tokenwatch-${name}.${format}`;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // ---- live feed: coalesced, so a burst never re-renders more than every 500 ms ----------
  const live = (TW.live = { received: 0, recent: [], listeners: new Set() });
  let flushTimer = null, pending = [];
  function connect() {
    const el = document.getElementById("live");
    const es = new EventSource("/api/v1/stream");
    es.addEventListener("hello", () => { el.textContent = "● live"; el.classList.add("on"); });
    es.addEventListener("usage", (m) => {
      live.received++;
      pending.push(m.data);
      if (pending.length > 200) pending = pending.slice(-200);
      if (!flushTimer) flushTimer = setTimeout(flush, 500);
    });
    // Missed events, or events written by something other than the proxy: re-read.
    for (const name of ["lagged", "changed"]) {
      es.addEventListener(name, () => { if (!flushTimer) flushTimer = setTimeout(flush, 500); });
    }
    es.onerror = () => { el.textContent = "○ reconnecting"; el.classList.remove("on"); };
    // Close explicitly so the connection is freed at once (browsers allow ~6 per host).
    window.addEventListener("pagehide", () => es.close());
  }
  function flush() {
    flushTimer = null;
    const batch = pending.map((d) => { try { return JSON.parse(d); } catch (_) { return null; } }).filter(Boolean);
    pending = [];
    live.recent = batch.concat(live.recent).slice(0, 50);
    const el = document.getElementById("live");
    el.textContent = `● live · ${TW.int(live.received)} new`;
    for (const f of live.listeners) f(batch);
    refreshBadge();
  }
  // A view's refresh, at most once per `ms` and never two at once.
  TW.throttled = (fn, ms = 1000) => {
    let running = false, again = false, last = 0;
    const run = async () => {
      if (running) { again = true; return; }
      const wait = last + ms - Date.now();
      if (wait > 0) { running = true; await new Promise((r) => setTimeout(r, wait)); running = false; }
      running = true; last = Date.now();
      try { await fn(); } finally { running = false; if (again) { again = false; run(); } }
    };
    return run;
  };
  const refreshBadge = TW.throttled(() => TW.refreshAlerts(), 2000);

  // ---- router ----------------------------------------------------------------------------
  let current = null;
  const viewName = () => {
    const m = /^\/ui\/([a-z]+)/.exec(location.pathname);
    return m && TW.views[m[1]] ? m[1] : "overview";
  };
  async function render() {
    const name = viewName();
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
    syncRangeForm();
    if (current && current.leave) current.leave();
    live.listeners.clear();
    const main = document.getElementById("view");
    main.removeAttribute("data-ready");
    main.innerHTML = `<p class="loading">loading</p>`;
    current = TW.views[name];
    // A view with a window of its own (`ranged: false`) hides the range picker, which would
    // not apply to it; the time zone still does.
    const ranged = current.ranged !== false;
    document.getElementById("range").closest("label").hidden = !ranged;
    if (!ranged) document.getElementById("custom").hidden = true;
    document.title = `tokenwatch · ${name}`;
    try {
      await current.render(main);
    } catch (e) {
      main.innerHTML = TW.errorBox(e);
    }
    main.dataset.ready = name;
  }
  TW.render = render;
  TW.go = (path, keep = ["range", "from", "to", "tz"]) => {
    const p = params(), q = new URLSearchParams();
    keep.forEach((k) => p.get(k) && q.set(k, p.get(k)));
    history.pushState(null, "", path + (q.toString() ? "?" + q : ""));
    render();
  };
  function syncRangeForm() {
    const r = TW.param("range", "30d");
    document.getElementById("range").value = r;
    document.getElementById("custom").hidden = r !== "custom";
    document.getElementById("from").value = TW.param("from", "");
    document.getElementById("to").value = TW.param("to", "");
    document.getElementById("tz").value = TW.tz();
  }
  function onRangeChange() {
    const r = document.getElementById("range").value;
    document.getElementById("custom").hidden = r !== "custom";
    TW.setParams({
      range: r,
      from: r === "custom" ? document.getElementById("from").value : null,
      to: r === "custom" ? document.getElementById("to").value : null,
      tz: document.getElementById("tz").value.trim() || null,
      offset: null,
    }, true);
    render();
  }
  // The signed-in user, tenant and role in the top bar, with "sign out"; nothing in local mode
  // (actor "local"), where there is no login to end.
  async function showWho() {
    const me = await TW.me;
    if (!me || me.actor === "local") return;
    const who = document.getElementById("who");
    const name = String(me.actor).replace(/^user:/, "");
    who.innerHTML = `<span class="id" data-testid="who-actor">${esc(name)}</span> · <span data-testid="who-tenant">${esc(me.tenant || "every tenant")}</span> · <span data-testid="who-role">${esc(me.role)}</span>`;
    who.hidden = false;
    const out = document.getElementById("signout");
    out.hidden = false;
    out.addEventListener("click", async () => {
      out.disabled = true;
      try { await TW.send("POST", "auth/logout"); } catch (_) { /* the session may have ended already */ }
      location.assign("/login");
    });
  }
  function setTheme(t) {
    document.documentElement.dataset.theme = t;
    document.getElementById("theme").textContent = t === "dark" ? "light" : "dark";
    try { localStorage.setItem("tw-theme", t); } catch (_) { /* private mode */ }
  }

  // A table wider than its box scrolls inside it; the box then shows a cue on the side that
  // has more (class more-right / more-left), checked once per frame after any change.
  let cueQueued = false;
  const markScrolls = () => {
    cueQueued = false;
    document.querySelectorAll("#view .scroll").forEach((el) => {
      const over = el.scrollWidth - el.clientWidth;
      el.classList.toggle("more-right", over > 1 && el.scrollLeft < over - 1);
      el.classList.toggle("more-left", over > 1 && el.scrollLeft > 1);
    });
  };
  const queueCues = () => { if (!cueQueued) { cueQueued = true; requestAnimationFrame(markScrolls); } };

  document.addEventListener("DOMContentLoaded", () => {
    const view = document.getElementById("view");
    new MutationObserver(queueCues).observe(view, { childList: true, subtree: true });
    view.addEventListener("scroll", queueCues, true);
    window.addEventListener("resize", queueCues);
    let saved = null;
    try { saved = localStorage.getItem("tw-theme"); } catch (_) { /* private mode */ }
    setTheme(TW.param("theme", saved || "dark"));
    document.getElementById("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
    const form = document.getElementById("rangeform");
    form.addEventListener("change", onRangeChange);
    form.addEventListener("submit", (e) => { e.preventDefault(); onRangeChange(); });
    document.body.addEventListener("click", (e) => {
      const a = e.target.closest("a[data-link]");
      if (a && !e.metaKey && !e.ctrlKey && !e.shiftKey) {
        e.preventDefault();
        TW.go(a.getAttribute("href").split("?")[0]);
        return;
      }
      const b = e.target.closest("button[data-export]");
      if (b) download(b.dataset.name, b.dataset.export);
    });
    window.addEventListener("popstate", render);
    showWho();
    refreshBadge();
    setInterval(refreshBadge, 30000);
    render();
    // After the load event: an open stream must never keep the page "loading".
    if (document.readyState === "complete") connect();
    else window.addEventListener("load", connect, { once: true });
  });
})();
