// Sessions and projects (per-session cost and health, a session's timeline (view-session.js)
// opened above the list; per-project cost), and settings (providers and the base URLs to use, the
// price table with overrides marked, data export, the alerts list with acknowledge buttons,
// and forms that create, replace and delete budgets, tag rules, alert channels and
// (view-alert-rules.js) alert rules through the API).
"use strict";
(function () {
  const TW = window.TW, C = TW.charts, esc = TW.esc;

  // On a phone the numbers (tokens, cost) stay on screen: project, last activity, turns and
  // health move under the session id, which wraps, and the models column is hidden. A row
  // opens its session's timeline (view-session.js); "(no session)" gathers events without
  // one and has none.
  const NO_SESSION = "(no session)";
  function sessionRow(x) {
    const when = TW.time(Date.parse(x.last_activity));
    const sub = [x.project, TW.shortTime(Date.parse(x.last_activity)), `${TW.int(x.events)} turns`].filter(Boolean).join(" · ");
    const badge = TW.healthBadge(x.health);
    const open = x.session !== NO_SESSION;
    const name = open ? `<a href="${esc(TW.sessionHref(x.session))}">${esc(x.session)}</a>` : esc(x.session);
    return `<tr${open ? ' class="event-row"' : ""} data-session="${esc(x.session)}"><td class="id">${name}<span class="show-sm sub">${esc(sub)}${badge ? " " + badge : ""}</span></td>` +
      `<td class="wrap hide-sm">${badge || '<span class="muted">—</span>'}${badge && x.health.reason ? `<span class="why">${esc(x.health.reason)}</span>` : ""}</td>` +
      `<td class="hide-sm">${esc(x.project || "")}</td><td class="hide-sm">${esc(when)}</td><td class="n hide-sm">${TW.int(x.events)}</td>` +
      `<td class="n" data-testid="session-tokens">${TW.int(x.total_tokens)}</td><td class="n" data-testid="session-cost">${TW.usdNanos(x.cost_nanos)}</td><td class="hide-sm">${esc(x.models.join(", "))}</td></tr>`;
  }

  async function sessions(main) {
    const q = TW.rangeQuery();
    const [s, projects] = await Promise.all([TW.api("sessions", Object.assign({ limit: 200 }, q)), TW.api("analytics/breakdown", Object.assign({ by: "project" }, q))]);
    if (!s.sessions.length && !(await TW.anyEvents())) {
      main.innerHTML = await TW.emptyState();
      return;
    }
    const open = TW.openSession();
    main.innerHTML = `<div class="grid"><div id="timeline" class="wide"${open === null ? " hidden" : ""}></div>` +
      `<div class="panel wide"><h2>sessions</h2>${s.sessions.length ? `<div class="scroll"><table data-testid="sessions"><thead><tr><th>session</th><th class="hide-sm">health</th><th class="hide-sm">project</th><th class="hide-sm">last activity</th><th class="n hide-sm">turns</th><th class="n">tokens</th><th class="n">cost</th><th class="hide-sm">models</th></tr></thead><tbody>` +
      s.sessions.map(sessionRow).join("") +
      `</tbody></table></div>` : `<p class="muted">no sessions in this range (sessions come from Claude Code/Codex logs, the X-Tokenwatch-Session header, or proxied conversations)</p>`}${TW.exportButtons("sessions", () => s.sessions)}</div>` +
      `<div class="panel wide"><h2>projects</h2>${C.hbars(projects.rows, { name: (r) => r.key || "(no project)", value: (r) => r.cost_micros, fmt: TW.usd, share: (r) => r.cost_share || 0 })}${TW.exportButtons("projects", () => projects.rows)}</div></div>`;
    // Opening a session shows its timeline from its first column: every table in the view
    // scrolls back to its left edge, and the timeline (above the list) is brought into view.
    const box = document.getElementById("timeline");
    const show = async (id) => {
      box.hidden = false;
      await TW.sessionTimeline(box, id, () => { TW.setParams({ session: null }, true); box.hidden = true; box.innerHTML = ""; });
      main.querySelectorAll(".scroll").forEach((el) => { el.scrollLeft = 0; });
      box.scrollIntoView({ block: "start" });
    };
    // A click anywhere on a row opens it; on the id's link with a modifier key the browser
    // opens it elsewhere instead.
    main.querySelectorAll("tr.event-row[data-session]").forEach((tr) => tr.addEventListener("click", (e) => {
      if (e.target.closest("a") && (e.metaKey || e.ctrlKey || e.shiftKey)) return;
      e.preventDefault();
      TW.setParams({ session: tr.dataset.session }, true);
      show(tr.dataset.session);
    }));
    if (open !== null) await show(open);
  }

  // ---- definitions: budgets, tag rules, channels (list + create/replace form + delete) ----
  const field = (name, label, attrs = "") => `<label>${label}<input name="${name}" ${attrs}></label>`;
  const choice = (name, label, opts) => `<label>${label}<select name="${name}">${opts.map((o) => `<option>${o}</option>`).join("")}</select></label>`;
  const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);

  // Each kind: the API path, the list key in GET, table columns, the form and how its values
  // become the POST body. Secret fields are write-only: GET redacts them and the form never
  // shows a stored value.
  // `role`: the least role that may change the kind (the server's rule; a lesser role sees the
  // list without the form and delete buttons).
  const DEFS = {
    budgets: {
      title: "budgets", key: "budgets", role: "member",
      cols: [["name", (b) => b.name], ["scope", (b) => b.scope], ["period", (b) => b.period], ["limit", (b) => TW.usd(b.status.limit_micros)],
        ["spent", (b) => TW.usd(b.status.spent_micros)], ["hard", (b) => (b.hard ? "yes" : "no")], ["alert at %", (b) => (b.alert_at || []).join(", ")]],
      form: field("name", "name", 'required placeholder="team-month"') + field("scope", "scope", 'required value="global" placeholder="provider:openai, tag:team=red"') +
        field("period", "period", 'required value="month" placeholder="day, week, month, rolling:24h"') + field("limit_usd", "limit USD", 'required inputmode="decimal" placeholder="50.00"') +
        field("alert_at", "alert at %", 'value="50, 80, 90, 100"') + `<label class="check"><input type="checkbox" name="hard"> hard (refuse at limit)</label>`,
      // Percentages that are not whole numbers go as typed, so the API names them; an item
      // turned into null by Number() would only say "not null".
      body: (f) => ({ name: f.name.value.trim(), scope: f.scope.value.trim(), period: f.period.value.trim(), limit_usd: f.limit_usd.value.trim(),
        hard: f.hard.checked, alert_at: list(f.alert_at.value).map((x) => (/^\d+$/.test(x) ? Number(x) : x)) }),
    },
    "tag-rules": {
      title: "tag rules", key: "tag_rules", role: "member",
      cols: [["name", (r) => r.name], ["field", (r) => r.field], ["pattern", (r) => r.pattern], ["tag", (r) => r.tag]],
      form: field("name", "name", 'required placeholder="gpt-team"') + field("field", "field", 'required value="model" placeholder="model, path, header:x-team"') +
        field("pattern", "pattern (regex)", 'required placeholder="^gpt-(\\w+)"') + field("tag", "tag", 'required placeholder="family=$1"'),
      body: (f) => ({ name: f.name.value.trim(), field: f.field.value.trim(), pattern: f.pattern.value, tag: f.tag.value.trim() }),
    },
    channels: {
      title: "alert channels", key: "channels", role: "admin",
      cols: [["name", (c) => c.name], ["kind", (c) => c.kind], ["url / to", (c) => c.url || (c.to || []).join(", ")], ["smtp", (c) => (c.smtp_host ? `${c.smtp_host}:${c.smtp_port || ""}` : "")]],
      form: field("name", "name", 'required placeholder="ops"') + choice("kind", "kind", ["webhook", "slack", "email"]) +
        field("url", "url (webhook, slack)", 'type="url" placeholder="https://…"') + field("secret", "secret (webhook HMAC)", 'type="password" autocomplete="new-password"') +
        field("smtp_host", "smtp host") + field("smtp_port", "smtp port", 'inputmode="numeric"') + field("username", "smtp user", 'autocomplete="off"') +
        field("password", "smtp password", 'type="password" autocomplete="new-password"') + field("from", "from") + field("to", "to (comma separated)"),
      body: (f) => {
        const b = { name: f.name.value.trim(), kind: f.kind.value };
        for (const k of ["url", "secret", "smtp_host", "username", "password", "from"]) if (f[k].value.trim()) b[k] = f[k].value.trim();
        if (f.smtp_port.value.trim()) b.smtp_port = Number(f.smtp_port.value);
        if (list(f.to.value).length) b.to = list(f.to.value);
        return b;
      },
    },
  };

  // Other files add kinds here before settings render (view-alert-rules.js).
  TW.defs = DEFS;

  // `role`: the signed-in role; the form and delete buttons only when it may change the kind.
  function defPanel(path, data, role) {
    const d = DEFS[path], rows = data[d.key] || [], edit = TW.roleAtLeast(role, d.role);
    const del = (r) => (edit ? `<button type="button" class="btn" data-del="${esc(path)}/${esc(encodeURIComponent(r.name))}">delete</button>` : "");
    return `<div class="panel wide" data-testid="def-${path}"><h2>${d.title}</h2>` +
      (rows.length ? `<div class="scroll"><table><thead><tr>${d.cols.map(([c]) => `<th>${c}</th>`).join("")}<th></th></tr></thead><tbody>` +
        rows.map((r) => `<tr data-name="${esc(r.name)}">${d.cols.map(([, f]) => `<td>${esc(f(r))}</td>`).join("")}<td>${del(r)}</td></tr>`).join("") +
        `</tbody></table></div>` : `<p class="muted">none configured</p>`) +
      (edit ? `<details class="filterbox"><summary>add or replace (same name replaces)</summary><form class="filters" data-def="${path}" autocomplete="off">${d.form}` +
        `<div class="actions"><button type="submit" class="btn">save</button></div></form></details>` : "") +
      `<p class="err" data-testid="err-${path}" hidden></p>${TW.exportButtons(path, () => rows)}</div>`;
  }

  // Saves or deletes, then re-reads the settings; a refusal shows every problem the API (or
  // the form's own checks) found, each under its field and all of them under the form, and
  // keeps what was typed.
  function wireDefs(main) {
    const errBox = (path) => main.querySelector(`[data-testid="err-${path}"]`);
    const fail = (path, e) => {
      const err = errBox(path);
      err.hidden = false;
      err.textContent = e.message;
    };
    main.querySelectorAll("form[data-def]").forEach((f) => f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const path = f.dataset.def;
      try {
        TW.clearFormErrors(f, errBox(path));
        await TW.send("POST", path, DEFS[path].body(f));
        await TW.render();
      } catch (x) { TW.showFormErrors(f, errBox(path), x); }
    }));
    main.querySelectorAll("button[data-del]").forEach((b) => b.addEventListener("click", async () => {
      try {
        await TW.send("DELETE", b.dataset.del);
        await TW.render();
      } catch (x) { fail(b.dataset.del.split("/")[0], x); }
    }));
  }

  // "$1.20 / $1.00" for money, "95 / 90" for counts and percentages.
  const measure = (a, v) => (a.unit === "micros" ? TW.usd(v) : TW.int(v));
  const deliveries = (a) => a.deliveries.map((d) => `${d.channel}: ${d.status}${d.last_error ? " (" + d.last_error + ")" : ""}`).join(", ");

  // The ack button comes first so a phone reaches it without scrolling the table. On a phone
  // the time and rule stand above the message, which wraps between words, and the value and
  // deliveries below it. `ack`: whether the role may acknowledge (member).
  function alertsPanel(data, ack) {
    const list = data.alerts;
    return `<h2>alerts · ${data.unread} unread</h2>` +
      (list.length ? `<div class="scroll"><table data-testid="alerts"><thead><tr><th></th><th class="hide-sm">time</th><th class="hide-sm">rule</th><th>message</th><th class="n hide-sm">value / threshold</th><th class="hide-sm">delivery</th></tr></thead><tbody>` +
        list.map((a) => `<tr data-alert="${esc(a.id)}"${a.acknowledged_at ? "" : ' class="unread"'}>` +
          `<td>${a.acknowledged_at ? '<span class="muted">acked</span>' : ack ? `<button type="button" class="btn" data-ack="${esc(a.id)}">ack</button>` : ""}</td>` +
          `<td class="hide-sm">${esc(TW.shortTime(Date.parse(a.fired_at)))}</td><td class="hide-sm">${esc(a.rule)}</td>` +
          `<td class="wrap"><span class="show-sm sub">${esc(TW.shortTime(Date.parse(a.fired_at)))} · ${esc(a.rule)}</span><span data-testid="alert-message">${TW.escDates(a.message)}</span><span class="show-sm sub">${measure(a, a.value)} / ${measure(a, a.threshold)}${deliveries(a) ? " · " + esc(deliveries(a)) : ""}</span></td>` +
          `<td class="n hide-sm">${measure(a, a.value)} / ${measure(a, a.threshold)}</td><td class="wrap hide-sm">${esc(deliveries(a) || "—")}</td></tr>`).join("") +
        `</tbody></table></div>` : `<p class="muted">no alerts yet</p>`) +
      `<p class="actions">${data.unread && ack ? '<button type="button" class="btn" data-ack-all>acknowledge all</button>' : ""}${TW.exportButtons("alerts", () => list)}</p><p class="err" hidden></p>`;
  }

  // Renders the alerts panel and wires its buttons; an acknowledgement re-reads the list and
  // the top bar's badge.
  async function showAlerts(box) {
    const [data, may] = await Promise.all([TW.api("alerts", { limit: 200 }), TW.can("member")]);
    box.innerHTML = alertsPanel(data, may);
    const ack = async (path) => {
      try {
        await TW.send("POST", path);
        await Promise.all([showAlerts(box), TW.refreshAlerts()]);
      } catch (e) {
        const err = box.querySelector(".err");
        err.hidden = false;
        err.textContent = `could not acknowledge: ${e.message}`;
      }
    };
    box.querySelectorAll("button[data-ack]").forEach((b) => b.addEventListener("click", () => ack(`alerts/${encodeURIComponent(b.dataset.ack)}/ack`)));
    const all = box.querySelector("button[data-ack-all]");
    if (all) all.addEventListener("click", () => ack("alerts/ack"));
  }

  async function settings(main) {
    // Channels are listed to admins only (their URLs can be secrets), so lesser roles skip them.
    const me = await TW.me, role = (me && me.role) || "viewer", admin = TW.roleAtLeast(role, "admin");
    const [prov, prices, budgets, rules, channels, alertRules] = await Promise.all([TW.api("providers"), TW.api("prices"), TW.api("budgets"), TW.api("tag-rules"),
      admin ? TW.api("channels") : null, TW.api("alert-rules")]);
    const host = location.host;
    const q = Object.assign(TW.rangeQuery(), { limit: 1000 });
    main.innerHTML = `<div class="grid">` +
      `<div class="panel wide" id="alerts-panel" data-testid="alerts-panel"><p class="loading">loading</p></div>` +
      `<div class="panel wide"><h2>providers</h2><div class="scroll"><table><thead><tr><th>name</th><th class="hide-sm">kind</th><th>point your client at</th><th class="hide-sm">upstream</th><th class="hide-sm">key</th><th class="n hide-sm">price overrides</th></tr></thead><tbody>` +
      prov.providers.map((p) => `<tr><td>${esc(p.name)}</td><td class="hide-sm">${esc(p.kind)}</td><td class="id"><code>http://${esc(host)}${esc(p.mount)}${p.kind === "openai" ? "/v1" : ""}</code></td><td class="hide-sm">${esc(p.upstream)}</td><td class="hide-sm">${p.has_api_key ? "configured" : "client's"}</td><td class="n hide-sm">${p.price_overrides}</td></tr>`).join("") +
      `</tbody></table></div>${TW.exportButtons("providers", () => prov.providers)}</div>` +
      `<div class="panel wide"><h2>price table ${esc(prices.version)}</h2><p class="muted">USD per million tokens; overrides come from [providers.NAME.prices] in tokenwatch.toml and win over shipped prices.</p>` +
      `<div class="scroll"><table data-testid="prices"><thead><tr><th>model</th><th class="n">input</th><th class="n">output</th><th class="n">cache read</th><th class="n">write 5m</th><th class="n">write 1h</th><th>providers</th><th></th></tr></thead><tbody>` +
      prices.models.map((m) => `<tr><td>${esc(m.model)}</td><td class="n">${esc(m.input)}</td><td class="n">${esc(m.output)}</td><td class="n">${esc(m.cache_read)}</td><td class="n">${esc(m.cache_write_5m)}</td><td class="n">${esc(m.cache_write_1h)}</td><td>${esc(m.providers.join(", ") || "any")}</td><td>${m.overridden ? '<b class="up">override</b>' : ""}</td></tr>`).join("") +
      `</tbody></table></div>${TW.exportButtons("prices", () => prices.models)}</div>` +
      `<div class="panel"><h2>export data</h2><p>Events of the selected range (up to 1,000 per file; <code>tokenwatch export --format csv</code> exports everything):</p>` +
      `<p class="actions"><a class="btn" href="/api/v1/events?${TW.qs(Object.assign({}, q, { format: "csv" }))}" download="tokenwatch-events.csv">events.csv</a><a class="btn" href="/api/v1/events?${TW.qs(q)}" download="tokenwatch-events.json">events.json</a></p></div>` +
      `<div class="panel wide" id="tags-panel" data-testid="tags-panel"><p class="loading">loading</p></div>` +
      defPanel("budgets", budgets, role) + defPanel("tag-rules", rules, role) + (channels ? defPanel("channels", channels, role) : "") + defPanel("alert-rules", alertRules, role) +
      `</div>`;
    wireDefs(main);
    await Promise.all([showAlerts(document.getElementById("alerts-panel")), TW.tags.show(document.getElementById("tags-panel"))]);
  }

  TW.views.sessions = { render: sessions };
  TW.views.settings = { render: settings };
})();
