// Overview: totals of the range with the change against the previous period, burn rate and
// month-end projection, the cost trend, top models/providers/projects/sources/tags, budgets
// (when the budgets API exists) and the latest live events.
"use strict";
(function () {
  const TW = window.TW, C = TW.charts, esc = TW.esc;

  function card(id, label, value, change, note) {
    const cls = change === null || change === undefined ? "" : change > 0 ? "up" : "down";
    return `<div class="card"><div class="k">${esc(label)}</div><div class="v" data-testid="${id}">${esc(value)}</div>` +
      `<div class="d">${change === undefined ? esc(note || "") : `<span class="${cls}">${esc(TW.pct(change))}</span> vs previous`}</div></div>`;
  }

  function top(title, name, rows) {
    return `<div class="panel"><h2>${esc(title)}</h2>${C.hbars(rows, { name: (r) => r.key, value: (r) => r.cost_micros, fmt: TW.usd, share: (r) => r.cost_share || 0 })}` +
      TW.exportButtons("top-" + name, () => rows) + `</div>`;
  }

  // The one forecast method, computed by the API for the month projection and for every
  // budget alike; said here in words.
  const forecastHelp = (days) => `Forecast: spend so far in the period plus the average spend per day over the last ${days} days, for each day left. The month projection and every budget use this same method.`;
  // A title for a pointer, and a tap or Enter to read it on a phone or keyboard.
  const info = (days) => `<details class="info-box"><summary class="info" title="${esc(forecastHelp(days))}" data-testid="forecast-info">how is this forecast made?</summary><p class="muted">${esc(forecastHelp(days))}</p></details>`;

  // GET /api/v1/budgets: {budgets: [{name, scope, period, hard, status: {spent_nanos,
  // spent_micros, limit_micros, percent, exhausted, forecast: {projected_micros, summary}}}]};
  // null when the API has no budgets.
  async function loadBudgets() {
    try {
      return (await TW.api("budgets")).budgets || [];
    } catch (_) {
      return null;
    }
  }

  function budgets(list, days) {
    if (list === null) return "";
    if (!list.length) return `<div class="panel"><h2>budgets</h2><p class="muted">no budgets yet: <code>tokenwatch budget set monthly --limit 50 --period month</code></p></div>`;
    return `<div class="panel" data-testid="budgets"><h2>budgets</h2>${list.map((b) => {
      const st = b.status || {}, f = Math.min((st.percent || 0) / 100, 1), w = 24, full = Math.round(f * w);
      // Any limit reached (spend, tokens or requests), hard or soft, as the API decides it
      // (`over_limit`); a hard budget then refuses requests. Older servers: spend alone.
      const over = st.over_limit ?? (st.exhausted || (st.spent_nanos !== undefined ? st.spent_nanos >= st.limit_micros * 1000 : (st.percent || 0) >= 100));
      const cls = over ? "bad" : (st.percent || 0) >= 80 ? "up" : "";
      const flag = over ? ` <span class="flag" data-testid="budget-exhausted" title="${b.hard ? "the limit is reached: requests in this budget's scope are refused until it resets" : "spend reached the limit (a soft budget only alerts)"}">${b.hard ? "EXHAUSTED · refusing" : "OVER LIMIT"}</span>` : "";
      const fc = st.forecast;
      return `<div class="hb full" data-budget="${esc(b.name)}"><span class="name">${esc(b.name)}${b.hard ? " (hard)" : ""}${flag}</span><span class="${cls}">${TW.usd(st.spent_micros)} / ${TW.usd(st.limit_micros)} · ${(st.percent || 0).toFixed(0)}%</span>` +
        `<span class="meter ${cls}">${"█".repeat(full)}${"░".repeat(w - full)}</span>` +
        (fc ? `<span class="muted" title="${esc(forecastHelp(fc.window_days || days))}" data-testid="budget-forecast">forecast ${TW.usd(fc.projected_micros)} at period end${over ? "" : fc.hits_limit_at ? " · " + TW.escDates(fc.summary) : `, within the ${TW.usd(st.limit_micros)} limit`}</span>` : "") + `</div>`;
    }).join("")}${TW.exportButtons("budgets", () => list)}</div>`;
  }

  function liveList() {
    const rows = TW.live.recent.slice(0, 10);
    if (!rows.length) return `<p class="muted">waiting for new events…</p>`;
    return `<div class="scroll"><table><tbody>${rows.map((e) => `<tr><td>${esc(TW.time(e.ts_ms))}</td><td>${esc(e.model)}</td><td class="n">${TW.int(e.total_tokens)}</td><td class="n">${TW.usd(e.cost_micros)}</td></tr>`).join("")}</tbody></table></div>`;
  }

  async function render(main) {
    const q = TW.rangeQuery();
    const [s, ts, budgetList] = await Promise.all([TW.api("analytics/summary", q), TW.api("analytics/timeseries", q), loadBudgets()]);
    const budgetHtml = budgets(budgetList, s.burn_rate.window_days);
    const t = s.totals;
    if (t.events === 0 && !(await TW.anyEvents())) {
      main.innerHTML = await TW.emptyState();
      return;
    }
    const burn = s.burn_rate, month = s.month;
    main.innerHTML =
      `<div class="cards">` +
      card("total-cost", "total cost", TW.usd(t.cost_micros), s.change.cost_pct) +
      card("total-tokens", "tokens", TW.int(t.total_tokens), s.change.total_tokens_pct) +
      card("total-requests", "requests", TW.int(t.requests), s.change.requests_pct) +
      card("avg-request", "avg / request", t.requests ? TW.usd(Math.round(t.cost_micros / t.requests)) : "—", undefined, t.avg_tokens_per_request ? `${TW.int(Math.round(t.avg_tokens_per_request))} tokens` : "") +
      card("error-rate", "errors", TW.int(t.errors), undefined, t.error_rate !== null ? `${(t.error_rate * 100).toFixed(1)}% of events` : "") +
      `</div>` +
      (t.unpriced_events ? `<p class="up">${TW.int(t.unpriced_events)} events have no price (unknown model): their cost is not in these totals.</p>` : "") +
      `<div class="grid">` +
      `<div class="panel"><h2>burn rate (${burn.window_days}-day avg)</h2><p><span class="big" data-testid="burn-rate">${TW.usd(burn.cost_micros_per_day)}</span>/day</p>` +
      `<p>month to date <b>${TW.usd(month.cost_micros_to_date)}</b> → forecast <b data-testid="projection" title="${esc(forecastHelp(burn.window_days))}">${TW.usd(month.projected_cost_micros)}</b> by month end</p>${info(burn.window_days)}</div>` +
      budgetHtml +
      `<div class="panel wide chart"><h2>cost per ${esc(ts.bucket)}</h2>${C.bars({ points: ts.points, total: (p) => p.cost_usd, fmt: TW.usdAxis, width: TW.chartWidth() })}${TW.exportButtons("cost-trend", () => ts.points)}</div>` +
      top("top models", "models", s.top.models) +
      top("top providers", "providers", s.top.providers) +
      top("top projects", "projects", s.top.projects) +
      top("top sources", "sources", s.top.sources) +
      top("top tags", "tags", s.top.tags) +
      `<div class="panel"><h2>live</h2><div id="livelist">${liveList()}</div></div>` +
      `</div>`;
    TW.exportButtons("summary", () => [s.totals]);
    TW.live.listeners.clear();
    const refresh = TW.throttled(() => render(main), 1500);
    TW.live.listeners.add(() => {
      const el = document.getElementById("livelist");
      if (el) el.innerHTML = liveList();
      refresh();
    });
  }

  TW.views.overview = { render };
})();
