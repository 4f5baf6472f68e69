// Sessions and projects (per-session cost with a timeline of its turns; per-project cost), and
// settings (providers and the base URLs to use, the price table with overrides marked, data
// export, and whatever the budgets/tag-rules APIs offer when they exist).
"use strict";
(function () {
  const TW = window.TW, C = TW.charts, esc = TW.esc;

  async function timeline(id) {
    const page = await TW.api("events", { session: id, sort: "time", order: "asc", limit: 1000 });
    const ev = page.events;
    if (!ev.length) return `<p class="muted">no turns</p>`;
    let sum = 0;
    const cum = ev.map((e) => (sum += e.cost_micros || 0) / 1e6);
    const rows = ev.map((e, i) => Object.assign({ turn: i + 1, cumulative_cost_usd: cum[i] }, e));
    return `<div class="panel wide" data-testid="timeline"><h2>session ${esc(id)} · ${ev.length} turns · ${TW.usd(sum)}</h2>` +
      `<div class="chart">${C.line({ values: cum, labels: ev.map((e, i) => `turn ${i + 1} ${e.model}`), fmt: TW.usdAxis, width: TW.chartWidth() })}</div>` +
      `<div class="scroll"><table><thead><tr><th class="n">#</th><th>time</th><th>model</th><th class="n">input</th><th class="n">output</th><th class="n">cache read</th><th class="n">cost</th><th class="n">cumulative</th></tr></thead><tbody>` +
      ev.map((e, i) => `<tr><td class="n">${i + 1}</td><td>${esc(TW.time(e.ts_ms))}</td><td>${esc(e.model)}</td><td class="n">${TW.int(e.input_tokens)}</td><td class="n">${TW.int(e.output_tokens)}</td><td class="n">${TW.int(e.cache_read_tokens)}</td><td class="n">${TW.usd(e.cost_micros)}</td><td class="n">${TW.usd(Math.round(cum[i] * 1e6))}</td></tr>`).join("") +
      `</tbody></table></div>${TW.exportButtons("session-turns", () => rows)}</div>`;
  }

  async function sessions(main) {
    const q = TW.rangeQuery();
    const [s, projects] = await Promise.all([TW.api("sessions", Object.assign({ limit: 200 }, q)), TW.api("analytics/breakdown", Object.assign({ by: "project" }, q))]);
    if (!s.sessions.length && !(await TW.anyEvents())) {
      main.innerHTML = await TW.emptyState();
      return;
    }
    const open = TW.param("session");
    main.innerHTML = `<div class="grid"><div id="timeline" class="wide"${open ? "" : " hidden"}></div>` +
      `<div class="panel wide"><h2>sessions</h2>${s.sessions.length ? `<div class="scroll"><table><thead><tr><th>session</th><th>project</th><th>last activity</th><th class="n">turns</th><th class="n">tokens</th><th class="n">cost</th><th class="hide-sm">models</th></tr></thead><tbody>` +
      s.sessions.map((x) => `<tr class="event-row" data-session="${esc(x.session)}"><td>${esc(x.session)}</td><td>${esc(x.project || "")}</td><td>${esc(TW.time(Date.parse(x.last_activity)))}</td><td class="n">${TW.int(x.events)}</td><td class="n">${TW.int(x.total_tokens)}</td><td class="n">${TW.usd(x.cost_micros)}</td><td class="hide-sm">${esc(x.models.join(", "))}</td></tr>`).join("") +
      `</tbody></table></div>` : `<p class="muted">no sessions in this range (sessions come from Claude Code/Codex logs or the X-Tokenwatch-Session header)</p>`}${TW.exportButtons("sessions", () => s.sessions)}</div>` +
      `<div class="panel wide"><h2>projects</h2>${C.hbars(projects.rows, { name: (r) => r.key || "(no project)", value: (r) => r.cost_micros, fmt: TW.usd, share: (r) => r.cost_share || 0 })}${TW.exportButtons("projects", () => projects.rows)}</div></div>`;
    const show = async (id) => {
      const box = document.getElementById("timeline");
      box.hidden = false;
      box.innerHTML = `<p class="loading">loading</p>`;
      try {
        box.className = "wide";
        box.innerHTML = await timeline(id);
      } catch (e) { box.innerHTML = TW.errorBox(e); }
    };
    main.querySelectorAll("tr[data-session]").forEach((tr) => tr.addEventListener("click", () => {
      TW.setParams({ session: tr.dataset.session }, true);
      show(tr.dataset.session);
    }));
    if (open) await show(open);
  }

  async function probe(path) {
    try { return await TW.api(path); } catch (_) { return null; }
  }

  function jsonTable(name, data) {
    const list = Array.isArray(data) ? data : Object.values(data || {}).find(Array.isArray) || [];
    if (!list.length) return `<p class="muted">none configured</p>`;
    const cols = [...new Set(list.flatMap((r) => Object.keys(r)))].slice(0, 8);
    return `<div class="scroll"><table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>` +
      list.map((r) => `<tr>${cols.map((c) => `<td>${esc(typeof r[c] === "object" ? JSON.stringify(r[c]) : r[c] ?? "")}</td>`).join("")}</tr>`).join("") +
      `</tbody></table></div>${TW.exportButtons(name, () => list)}`;
  }

  async function settings(main) {
    const [prov, prices, budgets, rules, alerts] = await Promise.all([TW.api("providers"), TW.api("prices"), probe("budgets"), probe("tag-rules"), probe("alerts")]);
    const host = location.host;
    const q = Object.assign(TW.rangeQuery(), { limit: 1000 });
    main.innerHTML = `<div class="grid">` +
      `<div class="panel wide"><h2>providers</h2><div class="scroll"><table><thead><tr><th>name</th><th>kind</th><th>point your client at</th><th>upstream</th><th>key</th><th class="n">price overrides</th></tr></thead><tbody>` +
      prov.providers.map((p) => `<tr><td>${esc(p.name)}</td><td>${esc(p.kind)}</td><td><code>http://${esc(host)}${esc(p.mount)}${p.kind === "openai" ? "/v1" : ""}</code></td><td>${esc(p.upstream)}</td><td>${p.has_api_key ? "configured" : "client's"}</td><td class="n">${p.price_overrides}</td></tr>`).join("") +
      `</tbody></table></div>${TW.exportButtons("providers", () => prov.providers)}</div>` +
      `<div class="panel wide"><h2>price table ${esc(prices.version)}</h2><p class="muted">USD per million tokens; overrides come from [providers.NAME.prices] in tokenwatch.toml and win over shipped prices.</p>` +
      `<div class="scroll"><table data-testid="prices"><thead><tr><th>model</th><th class="n">input</th><th class="n">output</th><th class="n">cache read</th><th class="n">write 5m</th><th class="n">write 1h</th><th>providers</th><th></th></tr></thead><tbody>` +
      prices.models.map((m) => `<tr><td>${esc(m.model)}</td><td class="n">${esc(m.input)}</td><td class="n">${esc(m.output)}</td><td class="n">${esc(m.cache_read)}</td><td class="n">${esc(m.cache_write_5m)}</td><td class="n">${esc(m.cache_write_1h)}</td><td>${esc(m.providers.join(", ") || "any")}</td><td>${m.overridden ? '<b class="up">override</b>' : ""}</td></tr>`).join("") +
      `</tbody></table></div>${TW.exportButtons("prices", () => prices.models)}</div>` +
      `<div class="panel"><h2>export data</h2><p>Events of the selected range (up to 1,000 per file; <code>tokenwatch export --format csv</code> exports everything):</p>` +
      `<p class="actions"><a class="btn" href="/api/v1/events?${TW.qs(Object.assign({}, q, { format: "csv" }))}" download="tokenwatch-events.csv">events.csv</a><a class="btn" href="/api/v1/events?${TW.qs(q)}" download="tokenwatch-events.json">events.json</a></p></div>` +
      `<div class="panel"><h2>budgets</h2>${budgets ? jsonTable("budgets", budgets) : '<p class="muted">budgets are not available in this build</p>'}</div>` +
      `<div class="panel"><h2>tag rules</h2>${rules ? jsonTable("tag-rules", rules) : '<p class="muted">tag rules are not available in this build; tag requests with the X-Tokenwatch-Tags header</p>'}</div>` +
      `<div class="panel"><h2>alerts</h2>${alerts ? jsonTable("alerts", alerts) : '<p class="muted">alerts are not available in this build</p>'}</div>` +
      `</div>`;
  }

  TW.views.sessions = { render: sessions };
  TW.views.settings = { render: settings };
})();
