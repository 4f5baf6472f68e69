// One session's timeline (GET /api/v1/sessions/{id}/timeline), opened above the sessions list
// (view-sessions.js) at /ui/sessions?session=<id>: its health in words on top, cost per turn
// and cumulative cost, context share of the model's window and cache hit rate per turn against
// the 40/60/80% health thresholds, and a table of its turns; for members, the guard's buttons
// (block or unblock the session, pause or resume its agent). Also the health badge the list
// shows per row.
"use strict";
(function () {
  const TW = window.TW, C = TW.charts, esc = TW.esc;

  // Each state the API reports: its word and its colour (a class of app.css). A state this
  // dashboard does not know yet is still shown, in its own words and the neutral colour.
  const HEALTH = {
    healthy: ["healthy", "good"],
    monitor: ["monitor", "watch"],
    cache_unstable: ["cache unstable", "warn"],
    compact_soon: ["compact soon", "warn"],
    reset_recommended: ["reset recommended", "bad"],
  };
  const healthOf = (h) => {
    const [word, tone] = HEALTH[h.state] || [String(h.state).replace(/_/g, " "), "watch"];
    return { word, tone };
  };

  // A session's health as a coloured word with its reason as the title; nothing when the API
  // gave none (sessions idle for a day carry null).
  TW.healthBadge = (h) => {
    if (!h || !h.state) return "";
    const { word, tone } = healthOf(h);
    return `<span class="health t-${tone}" data-testid="health-badge" data-state="${esc(h.state)}" title="${esc(h.reason || "")}">${esc(word)}</span>`;
  };

  // The address of session `id`: the sessions view with the session open, in the range and
  // zone of the current page.
  TW.sessionHref = (id) => {
    const p = new URLSearchParams(location.search);
    p.set("session", id);
    return "/ui/sessions?" + p.toString();
  };

  // The session the URL opens, or null: ?session=<id>, or /ui/sessions/<id> (rewritten to the
  // former, so there is one address per session).
  TW.openSession = () => {
    const m = /^\/ui\/sessions\/(.+)$/.exec(location.pathname);
    if (m) {
      let id = m[1];
      try { id = decodeURIComponent(id); } catch (_) { /* not %-encoded: as typed */ }
      history.replaceState(null, "", TW.sessionHref(id));
    }
    return TW.param("session", null);
  };

  // Axis and hover amounts to three significant digits: turn costs are often fractions of a
  // cent, where cents alone would label several gridlines alike.
  const axisUsd = (v) => (v === 0 ? "$0" : "$" + String(Number(v.toPrecision(3))));
  const pct = (v) => (v === null || v === undefined ? "—" : v.toFixed(1) + "%");
  const axisPct = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)) + "%";

  // The thresholds of the session health rules (tokenwatch_core::session): watched from 40%
  // of the window, compact from 60%, reset from 80%.
  const GUIDES = [
    { value: 40, label: "40% monitor", tone: "dim" },
    { value: 60, label: "60% compact", tone: "warn" },
    { value: 80, label: "80% reset", tone: "bad" },
  ];

  function banner(h) {
    if (!h || !h.state) return "";
    return `<div class="banner t-${healthOf(h).tone}" data-testid="health-banner">${TW.healthBadge(h)} <span data-testid="health-reason">${esc(h.reason || "")}</span></div>`;
  }

  // On a phone the money stays in its columns and the time, context and cache hit stand
  // under the model; latency, TTFT, stop reason and tools are for wider screens.
  function table(turns) {
    const row = (t, i) => {
      const ms = Date.parse(t.time), ok = t.status === "ok";
      const sub = [TW.shortTime(ms), `context ${pct(t.context_pct)}`, `cache ${pct(t.cache_hit_pct)}`].join(" · ");
      const stop = ok ? esc(t.stop_reason || "—") : `<span class="bad">${esc(t.status)}</span>`;
      return `<tr${ok ? "" : ' class="failed"'} data-event="${esc(t.event_id)}"><td class="n">${i + 1}</td><td class="hide-sm">${esc(TW.time(ms))}</td>` +
        `<td class="id">${esc(t.model)}<span class="show-sm sub">${esc(sub)}</span></td>` +
        `<td class="n hide-sm">${TW.int(t.context_tokens)} · ${pct(t.context_pct)}</td><td class="n hide-sm">${pct(t.cache_hit_pct)}</td>` +
        `<td class="n hide-sm">${TW.ms(t.duration_ms)}</td><td class="n hide-sm">${TW.ms(t.ttft_ms)}</td><td class="hide-sm">${stop}</td>` +
        `<td class="hide-sm">${esc((t.tools_used || []).join(", ") || "—")}</td>` +
        `<td class="n">${TW.usdNanos(t.cost_nanos)}</td><td class="n">${TW.usdNanos(t.cumulative_nanos)}</td></tr>`;
    };
    return `<div class="scroll"><table data-testid="turns"><thead><tr><th class="n">#</th><th class="hide-sm">time</th><th>model</th>` +
      `<th class="n hide-sm">context</th><th class="n hide-sm">cache hit</th><th class="n hide-sm">latency</th><th class="n hide-sm">TTFT</th>` +
      `<th class="hide-sm">stop reason</th><th class="hide-sm">tools</th><th class="n">cost</th><th class="n">total</th></tr></thead><tbody>` +
      turns.map(row).join("") + `</tbody></table></div>`;
  }

  function charts(turns) {
    // Two charts side by side when the view is wide enough for both (app.css .pair: columns
    // of at least 420 px, so from a chart width of 828), each drawn at the width it is shown
    // at so its text stays 11 px.
    const full = TW.chartWidth(), half = full >= 828 ? Math.floor((full - 32) / 2) : full;
    const labels = turns.map((_, i) => String(i + 1));
    const titles = turns.map((t, i) => `turn ${i + 1} · ${t.model}`);
    const perTurn = C.bars({ points: turns.map((t, i) => ({ label: labels[i], title: titles[i], cost: t.cost_nanos / 1e9 })), total: (p) => p.cost, fmt: axisUsd, width: half, height: 180 });
    const cumulative = C.line({ values: turns.map((t) => t.cumulative_nanos / 1e9), labels: titles, fmt: axisUsd, width: half });
    const unknown = turns.every((t) => t.context_pct === null || t.context_pct === undefined);
    const context = C.series({
      labels, titles, max: 100, fmt: axisPct, guides: GUIDES, width: full,
      lines: [{ name: "context % of window", values: turns.map((t) => t.context_pct) }, { name: "cache hit %", values: turns.map((t) => t.cache_hit_pct) }],
    });
    return `<div class="pair wide"><div class="panel chart" data-testid="chart-cost"><h2>cost per turn</h2>${perTurn}</div>` +
      `<div class="panel chart" data-testid="chart-cumulative"><h2>cumulative cost</h2>${cumulative}</div></div>` +
      `<div class="panel wide chart" data-testid="chart-context"><h2>context and cache hit per turn</h2>${context}` +
      (unknown ? `<p class="muted">the model's context window is not known, so context is not shown as a share of it</p>` : "") + `</div>`;
  }

  // The guard's buttons for a session (block or unblock it, pause or resume its agent), for a
  // member or above; `stopped` is what GET /api/v1/guard reports now.
  function guardButtons(t, stopped) {
    const blocked = stopped.some((c) => c.kind === "session" && c.subject === t.session);
    const paused = t.agent && stopped.some((c) => c.kind === "agent" && c.subject === t.agent);
    const session = blocked
      ? `<button type="button" class="btn" data-guard="DELETE" data-path="sessions/${esc(encodeURIComponent(t.session))}" data-testid="unblock-session">unblock session</button>`
      : `<button type="button" class="btn" data-guard="PUT" data-path="sessions/${esc(encodeURIComponent(t.session))}" data-testid="block-session">block session</button>`;
    const agent = !t.agent ? "" : paused
      ? `<button type="button" class="btn" data-guard="DELETE" data-path="agents/${esc(encodeURIComponent(t.agent))}" data-testid="resume-agent">resume agent ${esc(t.agent)}</button>`
      : `<button type="button" class="btn" data-guard="PUT" data-path="agents/${esc(encodeURIComponent(t.agent))}" data-testid="pause-agent">pause agent ${esc(t.agent)}</button>`;
    const state = [blocked ? "this session is blocked: its next turns are refused" : "", paused ? `agent ${t.agent} is paused` : ""].filter(Boolean).join(" · ");
    return `<p class="actions" data-testid="guard">${session} ${agent}</p>` +
      (state ? `<p class="bad" data-testid="guard-state">${esc(state)}</p>` : "") +
      `<p class="bad" data-testid="guard-err" hidden></p>`;
  }

  // Renders session `id` into `box`, with a button that calls `close`; an unknown id says so.
  TW.sessionTimeline = async (box, id, close) => {
    const head = `<p class="actions"><button type="button" class="btn" data-testid="close-session">× close</button></p>`;
    box.innerHTML = `<p class="loading">loading</p>`;
    let t = null;
    try {
      t = await TW.api(`sessions/${encodeURIComponent(id)}/timeline`);
    } catch (e) {
      box.innerHTML = `<div class="panel">${head}${TW.errorBox(e)}</div>`;
    }
    if (t) {
      const turns = t.turns || [];
      const manage = await TW.can("member");
      const stopped = manage ? ((await TW.api("guard").catch(() => null)) || { controls: [] }).controls : [];
      box.innerHTML = `<div class="grid" data-testid="timeline"><div class="panel wide">${head}` +
        `<h2>session <span class="id" data-testid="timeline-id">${esc(t.session)}</span> · ${turns.length} turns · <span data-testid="timeline-cost">${TW.usdNanos(t.cost_nanos)}</span></h2>` +
        `${banner(t.health)}${manage ? guardButtons(t, stopped) : ""}</div>` +
        (turns.length ? charts(turns) : "") +
        `<div class="panel wide"><h2>turns</h2>${turns.length ? table(turns) : `<p class="muted">no turns</p>`}${TW.exportButtons("session-turns", () => turns)}</div></div>`;
    }
    box.querySelector('[data-testid="close-session"]').addEventListener("click", close);
    box.querySelectorAll("button[data-guard]").forEach((b) => b.addEventListener("click", async () => {
      const put = b.dataset.guard === "PUT";
      b.disabled = true;
      try {
        await TW.send(b.dataset.guard, `guard/${b.dataset.path}`, put ? { reason: "stopped from the dashboard" } : undefined);
        await TW.sessionTimeline(box, id, close);
      } catch (e) {
        const err = box.querySelector('[data-testid="guard-err"]');
        err.hidden = false;
        err.textContent = `could not change the guard: ${e.message}`;
        b.disabled = false;
      }
    }));
  };
})();
