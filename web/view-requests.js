// Requests log: every event, filtered (time range, provider, model, source, status, tag,
// session, project, cost range, text search), sortable, paginated; a row opens the event's
// detail (tokens by kind, cost breakdown, prompt composition, response facts). The CSV link
// downloads exactly the filtered rows from the API; "tag these" adds a tag to every row the
// filter matches (POST /api/v1/retag with the same filter).
"use strict";
(function () {
  const TW = window.TW, C = TW.charts, esc = TW.esc;
  const PAGE = 50;
  const FILTERS = ["q", "provider", "model", "source", "status", "tag", "session", "project", "min_cost_usd", "max_cost_usd"];
  const SOURCES = ["", "proxy", "claude_code", "codex", "csv", "json", "manual", "provider_sync"];
  const STATUSES = ["", "ok", "upstream_error", "stream_error", "client_disconnected", "upstream_reset", "upstream_unreachable", "timeout", "refused"];

  function query() {
    const q = TW.rangeQuery();
    FILTERS.forEach((k) => (q[k] = TW.param(k)));
    q.sort = TW.param("sort", "time");
    q.order = TW.param("order", "desc");
    return q;
  }

  function filterForm() {
    const input = (k, label, ph) => `<label>${label}<input name="${k}" value="${esc(TW.param(k, ""))}" placeholder="${ph || ""}"></label>`;
    const select = (k, label, opts) => `<label>${label}<select name="${k}">${opts.map((o) => `<option value="${o}"${o === TW.param(k, "") ? " selected" : ""}>${o || "any"}</option>`).join("")}</select></label>`;
    const open = window.innerWidth > 600 || FILTERS.some((k) => TW.param(k)) ? " open" : "";
    return `<details class="filterbox"${open}><summary>filters</summary><form id="filters" class="filters" autocomplete="off">` +
      input("q", "search", "model, session, id…") + input("provider", "provider") + input("model", "model") +
      select("source", "source", SOURCES) + select("status", "status", STATUSES) + input("tag", "tag", "key=value") +
      input("session", "session") + input("project", "project") + input("min_cost_usd", "min $", "0.01") + input("max_cost_usd", "max $") +
      `<label>&nbsp;<button type="submit">apply</button></label><label>&nbsp;<button type="button" id="clear">clear</button></label></form></details>`;
  }

  function sortHeader(key, label, cls) {
    const on = TW.param("sort", "time") === key, order = TW.param("order", "desc");
    const arrow = on ? (order === "desc" ? " ▼" : " ▲") : "";
    return `<th class="${cls || ""}"><button type="button" class="${on ? "on" : ""}" data-sort="${key}">${label}${arrow}</button></th>`;
  }

  function table(events) {
    if (!events.length) return `<p class="muted" data-testid="no-rows">no events match these filters in this range</p>`;
    return `<div class="scroll"><table data-testid="events"><thead><tr>${sortHeader("time", "time")}<th>model</th><th class="hide-sm">provider</th>${sortHeader("tokens", "tokens", "n")}${sortHeader("cost", "cost", "n")}${sortHeader("duration", "latency", "n hide-sm")}<th class="hide-sm">status</th><th class="hide-sm">tags</th></tr></thead><tbody>` +
      events.map((e) => `<tr class="event-row${e.status === "ok" ? "" : " failed"}" data-id="${esc(e.id)}"><td title="${esc(e.ts)}">${esc(TW.shortTime(e.ts_ms))}</td><td>${esc(e.model)}${e.status === "ok" ? "" : `<br><span class="show-sm bad" data-testid="row-status">${esc(e.status)}${e.http_status ? " " + esc(e.http_status) : ""}</span>`}</td><td class="hide-sm">${esc(e.provider)}</td><td class="n">${TW.int(e.total_tokens)}</td><td class="n">${e.usage_unknown ? "usage unknown" : e.unpriced ? "unpriced" : TW.usd(e.cost_micros)}</td><td class="n hide-sm">${TW.ms(e.duration_ms)}</td><td class="hide-sm${e.status === "ok" ? "" : " bad"}">${esc(e.status)}</td><td class="hide-sm">${esc(e.tags.join(" "))}</td></tr>`).join("") +
      `</tbody></table></div>`;
  }

  async function detail(id) {
    const d = await TW.api("events/" + encodeURIComponent(id));
    const kv = (pairs) => `<dl class="kv">${pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")}</dl>`;
    const cb = d.cost_breakdown;
    const tokens = [
      { name: "input", value: d.input_tokens }, { name: "output", value: d.output_tokens },
      { name: "cache read", value: d.cache_read_tokens }, { name: "cache write 5m", value: d.cache_write_5m_tokens },
      { name: "cache write 1h", value: d.cache_write_1h_tokens },
    ];
    const prompt = [
      { name: "system", value: d.system_chars }, { name: "tools", value: d.tools_chars },
      { name: "history", value: d.history_chars }, { name: "new input", value: d.new_input_chars },
    ];
    return `<div class="detail" data-testid="detail"><h2>event</h2>` +
      kv([["id", d.id], ["time", TW.time(d.ts_ms) + " (" + d.ts + ")"], ["provider / model", d.provider + " / " + d.model], ["endpoint", d.endpoint], ["source", d.source], ["status", d.status + (d.http_status ? " (HTTP " + d.http_status + ")" : "")], ["error", d.error_type], ["project", d.project], ["session", d.session_id], ["agent", d.agent], ["tags", d.tags.join(" ")], ["cost", d.usage_unknown ? "usage unknown (the response ended without a usage report)" : d.unpriced ? "unpriced (no price for this model)" : TW.usd(d.cost_micros) + " · " + d.cost_usd + " USD · prices " + (d.price_version || "")]]) +
      `<h2>tokens by kind</h2>` + kv(tokens.map((t) => [t.name, TW.int(t.value)]).concat([["reasoning (part of output)", TW.int(d.reasoning_tokens)], ["web searches", TW.int(d.web_search_requests)], ["total", TW.int(d.total_tokens)]])) +
      (d.total_tokens ? C.strip(tokens.filter((t) => t.value > 0)) : "") +
      (cb ? `<h2>cost breakdown (today's prices ${esc(cb.price_version)})</h2>` + kv([["input", TW.usd(cb.input_micros)], ["output", TW.usd(cb.output_micros)], ["cache read", TW.usd(cb.cache_read_micros)], ["cache write 5m", TW.usd(cb.cache_write_5m_micros)], ["cache write 1h", TW.usd(cb.cache_write_1h_micros)], ["web search", TW.usd(cb.web_search_micros)], ["total", TW.usd(cb.total_micros) + (cb.matches_stored ? "" : " (stored: " + TW.usd(d.cost_micros) + ", priced with another table)")], ["long context above", cb.long_context_above_tokens ? TW.int(cb.long_context_above_tokens) + " tokens" : null]]) : "") +
      (prompt.some((p) => p.value > 0) ? `<h2>prompt composition (characters)</h2>` + C.strip(prompt.filter((p) => p.value > 0)) +
        kv([["messages", `system ${d.messages_system} · user ${d.messages_user} · assistant ${d.messages_assistant} · tool ${d.messages_tool}`], ["tools offered", d.tools_offered], ["tools used", d.tools_used.join(", ")]]) : "") +
      `<h2>response</h2>` + kv([["latency", TW.ms(d.duration_ms)], ["time to first token", TW.ms(d.ttft_ms)], ["streamed", d.streamed ? "yes" : "no"], ["batch", d.batch ? "yes" : null], ["stop reason", d.stop_reason], ["upstream request id", d.upstream_request_id], ["rate limit: requests left", d.ratelimit_remaining_requests], ["rate limit: tokens left", d.ratelimit_remaining_tokens], ["request / response bytes", TW.int(d.request_bytes) + " / " + TW.int(d.response_bytes)], ["client", d.client_version], ["cwd", d.cwd], ["git branch", d.git_branch]]) +
      TW.exportButtons("event", () => [d]) + `</div>`;
  }

  async function render(main) {
    const offset = Number(TW.param("offset", "0")) || 0;
    main.innerHTML = `<div id="reqview">` + filterForm() + `<div class="actions" id="rowactions"></div>` +
      `<form id="retag" class="actions" autocomplete="off"><label class="sr" for="retag-tag">tag to add</label><input id="retag-tag" name="add" required placeholder="key=value" size="18"><button type="submit">tag these</button><span id="retag-out" data-testid="retag-out" class="muted"></span></form>` +
      `<div id="rows"><p class="loading">loading</p></div><div class="actions" id="pager"></div><div id="detail"></div></div>`;
    const form = document.getElementById("filters");
    const apply = (e) => {
      if (e) e.preventDefault();
      const f = new FormData(form), ch = { offset: null };
      FILTERS.forEach((k) => (ch[k] = (f.get(k) || "").trim()));
      TW.setParams(ch, true);
      load();
    };
    form.addEventListener("submit", apply);
    form.addEventListener("change", (e) => { if (e.target.tagName === "SELECT") apply(); });
    document.getElementById("clear").addEventListener("click", () => {
      const ch = { offset: null };
      FILTERS.forEach((k) => (ch[k] = null));
      TW.setParams(ch, true);
      render(main);
    });
    document.getElementById("reqview").addEventListener("click", async (e) => {
      const s = e.target.closest("button[data-sort]");
      if (s) {
        const same = TW.param("sort", "time") === s.dataset.sort;
        TW.setParams({ sort: s.dataset.sort, order: same && TW.param("order", "desc") === "desc" ? "asc" : "desc", offset: null }, true);
        load();
        return;
      }
      const p = e.target.closest("button[data-offset]");
      if (p) { TW.setParams({ offset: p.dataset.offset === "0" ? null : p.dataset.offset }, true); load(); return; }
      const row = e.target.closest("tr.event-row");
      if (row) {
        main.querySelectorAll("tr.sel").forEach((r) => r.classList.remove("sel"));
        row.classList.add("sel");
        const box = document.getElementById("detail");
        box.innerHTML = `<p class="loading">loading</p>`;
        try { box.innerHTML = await detail(row.dataset.id); } catch (err) { box.innerHTML = TW.errorBox(err); }
        box.scrollIntoView({ block: "nearest" });
      }
    });
    // Every event the filter matches (all pages), not only the rows shown.
    document.getElementById("retag").addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = document.getElementById("retag-out"), tag = e.target.add.value.trim();
      const filter = {};
      for (const [k, v] of Object.entries(query())) if (v !== null && v !== undefined && v !== "") filter[k] = String(v);
      // No filter means every stored event: the API wants that said explicitly.
      const all = Object.keys(filter).length === 0;
      if (all && !window.confirm(`No filter is set: add ${tag} to every stored event?`)) return;
      out.className = "muted";
      out.textContent = "tagging…";
      try {
        const r = await TW.send("POST", "retag", all ? { filter, add: [tag], all } : { filter, add: [tag] });
        out.textContent = `${tag}: matched ${TW.int(r.matched)}, changed ${TW.int(r.changed)}`;
        await load();
      } catch (x) {
        out.className = "bad";
        out.textContent = `not tagged: ${x.message}`;
      }
    });
    async function load() {
      const off = Number(TW.param("offset", "0")) || 0;
      const q = Object.assign(query(), { limit: PAGE, offset: off || null });
      const page = await TW.api("events", q);
      let rows = table(page.events);
      if (!page.events.length && !off && !(await TW.anyEvents())) rows = await TW.emptyState();
      document.getElementById("rows").innerHTML = rows;
      const exportQ = Object.assign(query(), { limit: 1000, format: "csv" });
      document.getElementById("rowactions").innerHTML = `<span class="muted">${page.events.length ? `rows ${off + 1}–${off + page.events.length}` : ""}</span>` +
        `<a class="btn" id="export-csv" href="/api/v1/events?${TW.qs(exportQ)}" download="tokenwatch-events.csv">download csv</a>` +
        `<a class="btn" id="export-json" href="/api/v1/events?${TW.qs(Object.assign(exportQ, { format: "json" }))}" download="tokenwatch-events.json">json</a>`;
      document.getElementById("pager").innerHTML =
        (off > 0 ? `<button type="button" data-offset="${Math.max(off - PAGE, 0)}">◀ newer</button>` : "") +
        (page.events.length === PAGE ? `<button type="button" data-offset="${off + PAGE}">older ▶</button>` : "");
      main.dataset.loaded = String(Date.now());
    }
    TW.live.listeners.clear();
    const refresh = TW.throttled(async () => {
      if ((Number(TW.param("offset", "0")) || 0) === 0 && TW.param("sort", "time") === "time") await load();
    }, 1000);
    TW.live.listeners.add(refresh);
    if (offset < 0) TW.setParams({ offset: null });
    await load();
  }

  TW.views.requests = { render };
})();
