// Settings: the alert-rules form (create, replace, delete through /api/v1/alert-rules), added
// to the definition panels view-sessions.js draws. Which fields a kind needs is checked by the
// API, whose message names the field; numbers are checked here first, so every typo is named
// before anything is sent.
"use strict";
(function () {
  const TW = window.TW;
  const KINDS = ["cost_above", "tokens_above", "spike", "error_rate", "p95_latency", "cache_hit_rate", "provider_down", "sync_drift", "daily_summary", "weekly_summary"];
  const field = (name, label, attrs = "") => `<label>${label}<input name="${name}" ${attrs}></label>`;
  const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);

  // A number field's value, or undefined when empty; anything else is a problem named by the
  // field, collected in `problems` so every bad field is reported at once.
  const number = (f, name, problems) => {
    const v = f[name].value.trim();
    if (!v) return undefined;
    if (!/^-?\d+(\.\d+)?$/.test(v)) { problems.push({ field: name, message: `${name}: '${v}' is not a number` }); return undefined; }
    return Number(v);
  };
  // USD amounts go as text, so the API parses them exactly.
  const usd = (f, name, problems) => {
    const v = f[name].value.trim().replace(/^\$/, "");
    if (!v) return undefined;
    if (!/^\d+(\.\d+)?$/.test(v)) { problems.push({ field: name, message: `${name}: '${v}' is not an amount in USD` }); return undefined; }
    return v;
  };
  // The API's 6-decimal USD text shown as money ($2.50), like the budgets panel.
  const threshold = (r) => (r.threshold_usd !== undefined ? TW.usd(Math.round(Number(r.threshold_usd) * 1e6)) : r.threshold !== undefined ? String(r.threshold) : "");

  TW.defs["alert-rules"] = {
    title: "alert rules", key: "alert_rules", role: "admin",
    cols: [["name", (r) => r.name], ["kind", (r) => r.kind], ["scope", (r) => r.scope], ["window", (r) => r.window], ["threshold", threshold],
      ["channels", (r) => (r.channels.length ? r.channels.join(", ") : "all")], ["enabled", (r) => (r.enabled ? "yes" : "no")]],
    form: field("name", "name", 'required placeholder="hourly-spend"') +
      `<label>kind<select name="kind">${KINDS.map((k) => `<option>${k}</option>`).join("")}</select></label>` +
      field("scope", "scope", 'value="global" placeholder="global, provider:openai, tag:team=red"') +
      field("window", "window", 'value="1h" placeholder="15m, 1h, 1d"') +
      field("threshold_usd", "threshold USD (cost_above)", 'inputmode="decimal" placeholder="5.00"') +
      field("threshold", "threshold (tokens, %, ms, failures)", 'inputmode="decimal"') +
      field("factor", "spike factor", 'inputmode="decimal" placeholder="3"') + field("min_usd", "spike min USD", 'inputmode="decimal" placeholder="1.00"') +
      field("min_requests", "min requests", 'inputmode="numeric" placeholder="20"') + field("channels", "channels (comma separated; empty: all)") +
      `<label class="check"><input type="checkbox" name="enabled" checked> enabled</label>`,
    body: (f) => {
      const b = { name: f.name.value.trim(), kind: f.kind.value, enabled: f.enabled.checked, channels: list(f.channels.value) };
      if (f.scope.value.trim()) b.scope = f.scope.value.trim();
      if (f.window.value.trim()) b.window = f.window.value.trim();
      const problems = [];
      const values = { threshold_usd: usd(f, "threshold_usd", problems), min_usd: usd(f, "min_usd", problems), threshold: number(f, "threshold", problems), factor: number(f, "factor", problems), min_requests: number(f, "min_requests", problems) };
      if (problems.length) throw TW.formProblems(problems);
      for (const [k, v] of Object.entries(values)) if (v !== undefined) b[k] = v;
      return b;
    },
  };
})();
