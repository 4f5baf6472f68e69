// Analytics: cost and tokens over time (hour/day/week/month buckets, stacked by model,
// provider, project, source or a tag key), model distribution, hour × weekday heatmap, latency
// and time to first token per model, prompt-cache hit rate and savings, tool usage.
"use strict";
(function () {
  const TW = window.TW, C = TW.charts, esc = TW.esc;

  function controls() {
    const by = TW.param("by", "model"), bucket = TW.param("bucket", "auto"), tagKey = TW.param("tag_key", "");
    const opt = (v, cur) => `<option value="${v}"${v === cur ? " selected" : ""}>${v}</option>`;
    return `<form id="acontrols" class="actions">
<label>bucket <select name="bucket">${["auto", "hour", "day", "week", "month"].map((v) => opt(v, bucket)).join("")}</select></label>
<label>stack by <select name="by">${["none", "model", "provider", "project", "source", "tag"].map((v) => opt(v, by)).join("")}</select></label>
<label${by === "tag" ? "" : " hidden"}>tag key <input name="tag_key" size="10" value="${esc(tagKey)}" placeholder="team"></label>
</form>`;
  }

  async function render(main) {
    const q = TW.rangeQuery();
    let by = TW.param("by", "model");
    const tagKey = TW.param("tag_key", "");
    if (by === "tag" && !tagKey) by = "none";
    const sq = Object.assign({}, q, { bucket: TW.param("bucket", "auto"), by, tag_key: by === "tag" ? tagKey : null });
    const [ts, dist, heat, lat, cache, tools, colors] = await Promise.all([
      TW.api("analytics/timeseries", sq),
      TW.api("analytics/breakdown", Object.assign({}, q, { by: "model" })),
      TW.api("analytics/heatmap", q),
      TW.api("analytics/latency", q),
      TW.api("analytics/cache", q),
      TW.api("analytics/tools", q),
      by === "tag" ? TW.tags.colors(tagKey, q) : {},
    ]);
    const keys = ts.keys;
    const tokenKinds = ["input", "output", "cache read", "cache write"];
    const tokenOf = (p, k) => ({ input: p.input_tokens, output: p.output_tokens, "cache read": p.cache_read_tokens, "cache write": p.cache_write_tokens }[k]);
    main.innerHTML = controls() + `<div class="grid">` +
      `<div class="panel wide chart"><h2>cost per ${esc(ts.bucket)}${by !== "none" ? " by " + esc(by) : ""}</h2>` +
      C.bars({ points: ts.points, keys, value: (p, k) => (p.series && p.series[k] ? p.series[k].cost_usd : 0), total: (p) => p.cost_usd, fmt: TW.usdAxis, colors, width: TW.chartWidth() }) +
      TW.exportButtons("cost-series", () => ts.points.map((p) => Object.assign({ label: p.label, start: p.start, cost_usd: p.cost_usd }, Object.fromEntries(keys.map((k) => [k, p.series && p.series[k] ? p.series[k].cost_usd : 0]))))) + `</div>` +
      `<div class="panel wide chart"><h2>tokens per ${esc(ts.bucket)} by kind</h2>` +
      C.bars({ points: ts.points, keys: tokenKinds, value: tokenOf, fmt: TW.compact, width: TW.chartWidth() }) +
      TW.exportButtons("token-series", () => ts.points.map((p) => ({ label: p.label, start: p.start, input_tokens: p.input_tokens, output_tokens: p.output_tokens, cache_read_tokens: p.cache_read_tokens, cache_write_tokens: p.cache_write_tokens, total_tokens: p.total_tokens }))) + `</div>` +
      `<div class="panel"><h2>model distribution</h2>${C.hbars(dist.rows, { name: (r) => r.key, value: (r) => r.cost_micros, fmt: TW.usd, share: (r) => r.cost_share || 0 })}` +
      TW.exportButtons("models", () => dist.rows) + `</div>` +
      `<div class="panel wide" data-testid="heatmap"><h2>requests by hour × weekday (${esc(heat.range.tz)})</h2>${C.heatmap(heat.cells, { value: (c) => c.requests, fmt: (v) => TW.int(v) + " requests" })}` +
      TW.exportButtons("heatmap", () => heat.cells) + `</div>` +
      `<div class="panel wide"><h2>latency per model</h2>${latencyTable(lat)}${TW.exportButtons("latency", () => lat.models.map((m) => ({ model: m.model, count: m.duration_ms.count, p50_ms: m.duration_ms.p50, p90_ms: m.duration_ms.p90, p99_ms: m.duration_ms.p99, ttft_p50_ms: m.ttft_ms.p50, ttft_p90_ms: m.ttft_ms.p90, histogram: m.histogram.join(" ") })))}</div>` +
      `<div class="panel wide"><h2>prompt cache</h2><p>hit rate <b>${cache.hit_rate === null ? "—" : (cache.hit_rate * 100).toFixed(1) + "%"}</b> · net savings <b data-testid="cache-savings">${TW.usd(cache.net_savings_micros)}</b></p>${cacheTable(cache)}${TW.exportButtons("cache", () => cache.models)}</div>` +
      `<div class="panel"><h2>tool usage</h2>${C.hbars(tools.tools, { name: (r) => r.tool, value: (r) => r.events, fmt: (v) => TW.int(v) + " events" })}${TW.exportButtons("tools", () => tools.tools)}</div>` +
      `</div>`;
    const form = document.getElementById("acontrols");
    form.addEventListener("change", () => {
      const f = new FormData(form);
      TW.setParams({ bucket: f.get("bucket"), by: f.get("by"), tag_key: f.get("tag_key") }, true);
      render(main);
    });
    TW.live.listeners.clear();
    const refresh = TW.throttled(() => render(main), 2000);
    TW.live.listeners.add(refresh);
  }

  function latencyTable(lat) {
    if (!lat.models.length) return `<p class="muted">no timed requests in this range (imported logs carry no latency)</p>`;
    const edges = lat.histogram_edges_ms.map((e) => "≤" + TW.ms(e)).concat([">" + TW.ms(lat.histogram_edges_ms[lat.histogram_edges_ms.length - 1])]);
    return `<div class="scroll"><table><thead><tr><th>model</th><th class="n">n</th><th class="n">p50</th><th class="n">p90</th><th class="n hide-sm">p99</th><th class="n">ttft p50</th><th class="n hide-sm">ttft p90</th><th class="hide-sm">distribution (${esc(edges[0])} … ${esc(edges[edges.length - 1])})</th></tr></thead><tbody>` +
      lat.models.map((m) => {
        const max = Math.max(...m.histogram, 1), blocks = " ▁▂▃▄▅▆▇█";
        const spark = m.histogram.map((c) => blocks[Math.round((c / max) * 8)]).join("");
        return `<tr><td class="id" title="${esc(m.model)}">${esc(m.model)}</td><td class="n">${TW.int(m.duration_ms.count)}</td><td class="n">${TW.ms(m.duration_ms.p50)}</td><td class="n">${TW.ms(m.duration_ms.p90)}</td><td class="n hide-sm">${TW.ms(m.duration_ms.p99)}</td><td class="n">${TW.ms(m.ttft_ms.p50)}</td><td class="n hide-sm">${TW.ms(m.ttft_ms.p90)}</td><td class="hide-sm" title="${esc(m.histogram.map((c, i) => edges[i] + ": " + c).join(", "))}">${spark}</td></tr>`;
      }).join("") + `</tbody></table></div>`;
  }

  function cacheTable(cache) {
    if (!cache.models.length) return "";
    return `<div class="scroll"><table><thead><tr><th>model</th><th class="n">hit rate</th><th class="n">cache read</th><th class="n hide-sm">cache write</th><th class="n hide-sm">input</th><th class="n">net savings</th></tr></thead><tbody>` +
      cache.models.map((m) => `<tr><td class="id" title="${esc(m.provider ? m.provider + " / " + m.model : m.model)}" data-testid="cache-model">${esc(m.model)}</td><td class="n">${m.hit_rate === null ? "—" : (m.hit_rate * 100).toFixed(1) + "%"}</td><td class="n">${TW.int(m.cache_read_tokens)}</td><td class="n hide-sm">${TW.int(m.cache_write_tokens)}</td><td class="n hide-sm">${TW.int(m.input_tokens)}</td><td class="n">${TW.usd(m.net_savings_micros)}</td></tr>`).join("") +
      `</tbody></table></div>`;
  }

  TW.views.analytics = { render };
})();
