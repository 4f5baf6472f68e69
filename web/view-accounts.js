// Accounts (/ui/accounts): the providers' admin-API accounts whose usage and cost reports
// tokenwatch syncs (GET /api/v1/sync/accounts), one card each with its key hint, status, last
// sync, this month's spend against its limit and the days synced; admins add one (POST, which
// tests the key first), test its connection, sync it now (POST /api/v1/sync/run) and remove it
// (DELETE); other roles only read. Below, the reconciliation (GET /api/v1/reconciliation): what
// the providers billed beside what tokenwatch saw, per UTC day × provider × model, with the
// unexplained part and the keys it is attributed to. Last, Claude Code use (GET
// /api/v1/sync/claude-code): Anthropic's Claude Code report per person or API key over the same
// window, its costs the report's estimates, never counted as usage.
//
// The admin key is typed into a password field, sent in the request body once and cleared
// from the form whatever the answer; the page shows only the hint the API returns. The
// reconciliation and Claude Code use read their own window of whole days (`days`: 7, 30 or
// 90), so the header's range picker is hidden here. URL state: days.
"use strict";
(function () {
  const TW = window.TW, esc = TW.esc;

  const WINDOWS = [7, 30, 90];
  const DEFAULT_DAYS = 30;
  const STATUS = { ok: ["ok", "t-good"], failing: ["failing", "t-bad"], never_synced: ["never synced", "t-watch"] };
  const PROBLEMS = {
    bad_key: "bad key", no_permission: "no permission", unreachable: "unreachable", rate_limited: "rate limited",
    provider_error: "provider error", bad_request: "bad request",
  };
  const plural = (n, one, many) => `${TW.int(n)} ${n === 1 ? one : many}`;
  // Money from the API's exact decimal strings of US dollars.
  const money = (usd) => (usd === null || usd === undefined ? "—" : TW.usdNanos(Math.round(Number(usd) * 1e9)));
  // A share in percent to a tenth, never shown as 0% or 100% when it is neither.
  const share = (pct) => {
    const v = Number(pct) || 0;
    if (v > 0 && v < 0.05) return "<0.1%";
    if (v < 100 && v >= 99.95) return ">99.9%";
    return v.toFixed(1) + "%";
  };
  const signed = (nanos) => (nanos > 0 ? "+" : "") + TW.usdNanos(nanos);
  const signedInt = (n) => (n > 0 ? "+" : "") + TW.int(n);
  const when = (iso, none = "never") => (iso ? TW.time(Date.parse(iso)) : none);
  // A UTC day of the API ("2026-12-02T00:00:00Z") as its date: the day is UTC in every zone.
  const day = (iso) => String(iso).slice(0, 10);
  // The last UTC day before an exclusive end ("2026-12-04T00:00:00Z" → "2026-12-03").
  const dayBefore = (iso) => {
    const t = Date.parse(iso);
    return isNaN(t) ? day(iso) : new Date(t - 1).toISOString().slice(0, 10);
  };
  const accountId = (a) => `${a.provider}/${a.name}`;
  // Test and remove name the account's tenant: an operator's accounts may be any tenant's.
  const accountPath = (a, tail = "") => `sync/accounts/${encodeURIComponent(a.provider)}/${encodeURIComponent(a.name)}${tail}?tenant=${encodeURIComponent(a.tenant)}`;
  const days = () => {
    const d = Number(TW.param("days", DEFAULT_DAYS));
    return WINDOWS.includes(d) ? d : DEFAULT_DAYS;
  };

  // What the last test or sync of an account said, by account id, kept while the view is
  // open so a re-drawn card still shows it.
  const outcomes = new Map();

  // This month's spend: against the limit with a block meter, or "no limit".
  function spend(a) {
    if (a.monthly_limit_usd === null || a.monthly_limit_usd === undefined) {
      return `<p data-testid="acct-spend">this month <b data-testid="month-spend">${money(a.month_spend_usd)}</b> <span class="muted">· no limit</span></p>`;
    }
    const pct = a.limit_used_pct || 0, w = 24, full = Math.round(Math.min(pct / 100, 1) * w);
    const cls = pct >= 100 ? "bad" : pct >= 80 ? "up" : "";
    return `<div class="hb full" data-testid="acct-spend"><span class="name">this month <b data-testid="month-spend">${money(a.month_spend_usd)}</b> of ${money(a.monthly_limit_usd)}` +
      ` <span class="${cls}" data-testid="limit-used">· ${pct.toFixed(1)}%</span></span><span class="meter ${cls}" aria-hidden="true">${"█".repeat(full)}${"░".repeat(w - full)}</span></div>`;
  }

  function card(a, admin, operator) {
    const [word, tone] = STATUS[a.status] || [String(a.status).replace(/_/g, " "), "t-watch"];
    const synced = a.synced_from ? TW.escDates(`${day(a.synced_from)} → ${a.synced_until ? dayBefore(a.synced_until) : day(a.synced_from)}`) + ` <span class="muted">(UTC days)</span>` : "nothing yet";
    const failing = a.status === "failing"
      ? `<p class="bad" data-testid="acct-error">failing since ${esc(when(a.failing_since, "?"))}: ${esc(a.last_error || "no reason given")}</p>` : "";
    const said = outcomes.get(accountId(a));
    const buttons = admin ? `<div class="actions"><button type="button" class="btn" data-act="test">test connection</button>` +
      `<button type="button" class="btn" data-act="sync">sync now</button><button type="button" class="btn danger" data-act="remove">remove</button></div>` : "";
    return `<article class="acct ${esc(a.status)}" data-account="${esc(accountId(a))}" data-status="${esc(a.status)}">` +
      `<div class="rec-head"><span><span class="kind">${esc(a.provider)}</span> <b class="id" data-testid="acct-name">${esc(a.name)}</b></span>` +
      `<span class="health ${tone}" data-testid="acct-status">${esc(word)}</span></div>` +
      `<p>admin key <code class="nw" data-testid="key-hint">${esc(a.key_hint)}</code></p>` + failing +
      `<dl class="kv">${operator ? `<dt>tenant</dt><dd>${esc(a.tenant)}</dd>` : ""}` +
      `<dt>last sync</dt><dd data-testid="last-sync">${esc(when(a.last_sync_at))}</dd>` +
      (a.status === "failing" ? `<dt>last ok</dt><dd>${esc(when(a.last_ok_at))}</dd>` : "") +
      `<dt>synced</dt><dd data-testid="synced-range">${synced}</dd><dt>base URL</dt><dd class="id">${esc(a.base_url || "the provider's")}</dd></dl>` +
      spend(a) +
      `<p class="outcome${said ? (said.ok ? " ok" : " bad") : ""}" data-testid="acct-outcome" role="status"${said ? "" : " hidden"}>${said ? esc(said.text) : ""}</p>` +
      buttons + `</article>`;
  }

  // The sentence of a sync report, for the card of its account. An Anthropic account's names
  // the Claude Code report too: its failure leaves the usage sync standing, but the panel empty.
  function syncSaid(r) {
    if (r.error) return { ok: false, text: `sync failed: ${r.error}` };
    const cc = r.claude_code_error ? ` · the Claude Code report could not be read: ${r.claude_code_error}`
      : r.provider === "anthropic" ? ` · Claude Code report: ${plural(r.claude_code_rows || 0, "actor-day", "actor-days")}` : "";
    return {
      ok: !r.claude_code_error,
      text: `synced ${day(r.from)} → ${dayBefore(r.until)}: ${plural(r.rows_added, "row", "rows")} added, ${TW.int(r.rows_revised)} revised, ` +
        `${TW.int(r.rows_removed)} removed, ${TW.int(r.rows_unchanged)} unchanged · reported ${money(r.reported_cost_usd)}${cc}`,
    };
  }

  function testSaid(t) {
    if (t.ok) return { ok: true, text: `connection ok: ${t.message}` };
    const word = PROBLEMS[t.problem] || String(t.problem || "failed").replace(/_/g, " ");
    return { ok: false, text: String(t.message).toLowerCase().startsWith(word) ? t.message : `${word}: ${t.message}` };
  }

  // What each provider's admin keys look like, as the key field's placeholder.
  const KEY_SHAPES = { anthropic: "sk-ant-admin01-…", openai: "sk-admin-…" };

  const accountForm = (open) => `<details class="filterbox"${open ? " open" : ""}><summary>add an account</summary>` +
    `<form class="filters" data-testid="account-add" autocomplete="off">` +
    `<label>provider<select name="provider"><option value="anthropic">anthropic</option><option value="openai">openai</option></select></label>` +
    `<label>name<input name="name" required maxlength="64" placeholder="main" spellcheck="false" autocomplete="off"></label>` +
    `<label>admin key (write-only)<input name="key" type="password" required autocomplete="off" spellcheck="false" placeholder="${KEY_SHAPES.anthropic}"></label>` +
    `<label>base URL (optional)<input name="base_url" type="url" spellcheck="false" autocomplete="off" placeholder="the provider's"></label>` +
    `<label>monthly limit, USD (optional)<input name="monthly_limit_usd" inputmode="decimal" autocomplete="off" placeholder="500"></label>` +
    `<div class="actions"><button type="submit" class="btn">test and add</button></div></form>` +
    `<p class="muted">The key is tested with one small usage request before it is saved; it is stored encrypted and never shown again, only its hint.</p></details>`;

  // Draws the cards into the list of `box` and wires their buttons; `changed` re-reads
  // everything after a sync or a removal.
  function drawAccounts(box, accounts, admin, operator, changed) {
    const list = box.querySelector("[data-list]");
    const sorted = accounts.slice().sort((x, y) => accountId(x).localeCompare(accountId(y)) || x.tenant.localeCompare(y.tenant));
    list.innerHTML = sorted.length ? `<div class="accts">${sorted.map((a) => card(a, admin, operator)).join("")}</div>`
      : `<p class="muted" data-testid="no-accounts">no provider accounts yet: ${admin ? "add one below with an admin key" : "an admin of the tenant adds them"}. ` +
        `An account lets tokenwatch read what the provider billed, including traffic that did not pass through it.</p>`;
    const fail = box.querySelector("[data-err]");
    list.querySelectorAll("article.acct").forEach((el) => {
      const a = sorted.find((x) => accountId(x) === el.dataset.account);
      const say = (said) => {
        outcomes.set(accountId(a), said);
        const p = el.querySelector('[data-testid="acct-outcome"]');
        p.hidden = false;
        p.className = "outcome" + (said.ok === true ? " ok" : said.ok === false ? " bad" : "");
        p.textContent = said.text;
      };
      const busy = (on) => el.querySelectorAll("button[data-act]").forEach((b) => { b.disabled = on; });
      const act = (name, fn) => {
        const b = el.querySelector(`button[data-act="${name}"]`);
        if (b) b.addEventListener("click", async () => {
          busy(true);
          fail.hidden = true;
          try { await fn(); } catch (e) { say({ ok: false, text: `could not ${b.textContent}: ${e.message}` }); }
          busy(false);
        });
      };
      act("test", async () => {
        say({ text: "testing…" });
        say(testSaid(await TW.send("POST", accountPath(a, "/test"))));
      });
      act("sync", async () => {
        say({ text: "syncing…" });
        const run = await TW.send("POST", "sync/run", { provider: a.provider });
        for (const r of run.reports) outcomes.set(`${r.provider}/${r.account}`, syncSaid(r));
        await changed();
      });
      act("remove", async () => {
        if (!window.confirm(`Remove the ${a.provider} account ${a.name}? Its key and the figures it synced are deleted.`)) return;
        await TW.send("DELETE", accountPath(a));
        outcomes.delete(accountId(a));
        await changed();
      });
    });
  }

  // The add form: the key field is emptied whatever the answer, so the key never stays in
  // the page; a refusal is shown under the field it names.
  function wireForm(box, changed) {
    const form = box.querySelector('form[data-testid="account-add"]');
    const err = box.querySelector("[data-err]");
    const provider = form.elements.namedItem("provider");
    provider.addEventListener("change", () => { form.elements.namedItem("key").placeholder = KEY_SHAPES[provider.value] || ""; });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const value = (name) => form.elements.namedItem(name).value.trim();
      const key = form.elements.namedItem("key");
      const body = { provider: value("provider"), name: value("name"), key: key.value };
      if (value("base_url")) body.base_url = value("base_url");
      if (value("monthly_limit_usd")) body.monthly_limit_usd = value("monthly_limit_usd");
      key.value = "";
      button.disabled = true;
      button.textContent = "testing…";
      try {
        TW.clearFormErrors(form, err);
        const made = await TW.send("POST", "sync/accounts", body);
        form.reset();
        provider.dispatchEvent(new Event("change"));
        outcomes.set(accountId(made), { ok: true, text: "added: the connection test passed" });
        await changed();
      } catch (x) {
        TW.showFormErrors(form, err, x);
      } finally {
        button.disabled = false;
        button.textContent = "test and add";
      }
    });
  }

  // ---- reconciliation --------------------------------------------------------------------
  const keyId = (k) => k.api_key_id || "(no key id)";
  // The API's sentence, its backquoted names (a key "`…b7f2`") set as code.
  const prose = (text) => TW.escDates(text).replace(/`([^`<]*)`/g, "<code>$1</code>");

  // On a phone a row keeps its day ("12-02"), model, costs (tokens under them, "6.0M tok")
  // and unexplained share; its sentence takes a line of its own (tr.sm-row).
  function reconRow(r) {
    const flagged = r.keys.filter((k) => k.unexplained);
    const keys = flagged.length ? `<span class="keys" data-testid="recon-keys"><span class="muted">unexplained by key:</span> ${flagged.map((k) =>
      `<code data-testid="recon-key">${esc(keyId(k))}</code> <span class="nw">${TW.int(k.tokens)} tokens</span> · <span class="nw">${TW.usdNanos(k.cost_nanos)}</span>`).join("; ")}</span>` : "";
    const hot = r.unexplained.cost_nanos > 0 || r.unexplained.tokens > 0;
    const pct = share(r.unexplained_pct);
    const diffNanos = r.reported.cost_nanos - r.seen.cost_nanos, diffTokens = r.reported.tokens - r.seen.tokens;
    const says = `<span data-testid="recon-message">${prose(r.message)}</span>${keys}`;
    return `<tr data-day="${esc(day(r.day))}" data-provider="${esc(r.provider)}" data-model="${esc(r.model)}"${hot ? ' class="unexplained"' : ""}>` +
      `<td class="nw"><span class="hide-sm">${esc(day(r.day))}</span><span class="show-sm">${esc(day(r.day).slice(5))}</span></td><td class="hide-sm">${esc(r.provider)}</td><td class="id model">${esc(r.model)}<span class="show-sm sub">${esc(r.provider)}</span></td>` +
      `<td class="n hide-sm">${TW.int(r.reported.tokens)}</td><td class="n" data-testid="reported-cost">${TW.usdNanos(r.reported.cost_nanos)}<span class="show-sm sub">${TW.compact(r.reported.tokens)} tok</span></td>` +
      `<td class="n hide-sm">${TW.int(r.seen.tokens)}</td><td class="n" data-testid="seen-cost">${TW.usdNanos(r.seen.cost_nanos)}<span class="show-sm sub">${TW.compact(r.seen.tokens)} tok</span></td>` +
      `<td class="n hide-sm" data-testid="difference">${signed(diffNanos)}<span class="under">${signedInt(diffTokens)} tokens</span></td>` +
      `<td class="n${hot ? " up" : ""}" data-testid="unexplained-pct" title="${esc(`${TW.usdNanos(r.unexplained.cost_nanos)} and ${TW.int(r.unexplained.tokens)} tokens unexplained`)}">${pct}</td>` +
      `<td class="wrap hide-sm">${says}</td></tr>` +
      // On a phone the sentence stands on its own line under the figures.
      `<tr class="sm-row${hot ? " unexplained" : ""}"><td colspan="10" class="wrap">${says}</td></tr>`;
  }

  // Flat rows for the downloads.
  const reconExport = (rows) => rows.map((r) => ({
    day: day(r.day), provider: r.provider, model: r.model,
    reported_tokens: r.reported.tokens, reported_cost_usd: r.reported.cost_usd,
    seen_tokens: r.seen.tokens, seen_cost_usd: r.seen.cost_usd,
    unexplained_tokens: r.unexplained.tokens, unexplained_cost_usd: r.unexplained.cost_usd, unexplained_pct: r.unexplained_pct,
    unexplained_keys: r.keys.filter((k) => k.unexplained).map(keyId).join(" "), message: r.message,
  }));

  // `redraw` draws it and the panels sharing its window again when the window changes.
  async function drawRecon(box, accounts, redraw) {
    const n = days();
    const head = `<div class="panel" data-testid="reconciliation"><h2>reconciliation · last ${plural(n, "day", "days")}</h2>` +
      `<form class="actions" autocomplete="off"><label>window <select name="days">${WINDOWS.map((d) => `<option value="${d}"${d === n ? " selected" : ""}>${plural(d, "day", "days")}</option>`).join("")}</select></label></form>` +
      `<p class="muted">What the providers billed (their usage and cost reports) beside what tokenwatch saw through the proxy and the log imports, per UTC day and model. ` +
      `The unexplained part did not pass through tokenwatch: a key used directly, another tool, or a provider figure not seen yet.</p>`;
    const wire = () => {
      const select = box.querySelector("select[name=days]");
      select.addEventListener("change", () => {
        TW.setParams({ days: Number(select.value) === DEFAULT_DAYS ? null : select.value }, true);
        redraw();
      });
    };
    if (!accounts.some((a) => a.synced_from || a.last_ok_at)) {
      box.innerHTML = head + `<p class="muted" data-testid="no-recon">nothing to reconcile yet: no account has synced. ` +
        (accounts.length ? "Press “sync now” on an account, or wait for the background sync." : "Add a provider account above, then sync it.") + `</p></div>`;
      wire();
      return;
    }
    const data = await TW.api("reconciliation", { since: `${n}d` });
    const rows = data.rows.slice().sort((x, y) => day(y.day).localeCompare(day(x.day)) || x.provider.localeCompare(y.provider) || x.model.localeCompare(y.model));
    const unexplained = data.unexplained_cost_nanos;
    box.innerHTML = head +
      `<div class="cards"><div class="card"><div class="k">reported</div><div class="v" data-testid="recon-reported">${money(data.reported_cost_usd)}</div><div class="d">billed by the providers</div></div>` +
      `<div class="card"><div class="k">seen</div><div class="v" data-testid="recon-seen">${money(data.seen_cost_usd)}</div><div class="d">through tokenwatch</div></div>` +
      `<div class="card"><div class="k">unexplained</div><div class="v${unexplained > 0 ? " up" : ""}" data-testid="recon-unexplained">${TW.usdNanos(unexplained)}</div>` +
      `<div class="d"><span data-testid="recon-unexplained-pct">${share(data.unexplained_pct)}</span> of the reported · ${plural(data.unexplained_tokens, "token", "tokens")}</div></div></div>` +
      (rows.length ? `<div class="scroll"><table data-testid="recon"><thead><tr><th>day</th><th class="hide-sm">provider</th><th>model</th>` +
        `<th class="n hide-sm">reported tokens</th><th class="n">reported</th><th class="n hide-sm">seen tokens</th><th class="n">seen</th>` +
        `<th class="n hide-sm">difference</th><th class="n">unexpl.</th><th class="hide-sm">what it means</th></tr></thead><tbody>` +
        rows.map(reconRow).join("") + `</tbody></table></div>`
        : `<p class="muted" data-testid="no-recon">the providers reported nothing in these ${plural(n, "day", "days")}</p>`) +
      TW.exportButtons("reconciliation", () => reconExport(rows)) + `</div>`;
    wire();
  }

  // ---- Claude Code use ---------------------------------------------------------------------
  // GET /api/v1/sync/claude-code: Anthropic's Claude Code report per person or API key over the
  // reconciliation's window, most expensive first. Its costs are the report's estimates, never
  // usage: a subscription's use is paid by the plan, an API key's is already in the bill.
  const PLANS = { api: ["api", "t-good"], subscription: ["subscription", "t-watch"] };
  // "user:ada@example.com" → a person; "api_key:ci-bot" → a key.
  const actorOf = (actor) => {
    const s = String(actor);
    if (s.startsWith("api_key:")) return { kind: "api_key", name: s.slice(8) };
    if (s.startsWith("user:")) return { kind: "user", name: s.slice(5) };
    return { kind: "", name: s };
  };
  const plan = (t) => {
    const [word, tone] = PLANS[t] || [t || "unknown", "muted"];
    return `<span class="health ${tone}" data-testid="cc-plan">${esc(word)}</span>`;
  };
  const lines = (a) => `<span class="t-good nw">+${TW.int(a.lines_added)}</span> <span class="t-bad nw">−${TW.int(a.lines_removed)}</span>`;

  // On a phone a row keeps who (plan under it), sessions, lines and the estimate (tokens under
  // it); days, commits, PRs and models take a line of their own (tr.sm-row).
  function ccRow(a) {
    const who = actorOf(a.actor);
    const name = `${who.kind === "api_key" ? `<span class="kind" data-testid="cc-key">key</span> ` : ""}<span data-testid="cc-name">${esc(who.name)}</span>`;
    const cost = a.customer_type === "subscription" ? "the report's estimate: paid by the plan, not in the API bill" : "the report's estimate: the API bill has it already";
    const models = a.models.length ? a.models.map((m) => `<code>${esc(m)}</code>`).join(" ") : "—";
    const rest = `<span class="nw">${plural(a.days_active, "day", "days")} active</span> · <span class="nw">${plural(a.commits, "commit", "commits")}</span> · ` +
      `<span class="nw">${plural(a.pull_requests, "PR", "PRs")}</span> · ${models}`;
    return `<tr data-actor="${esc(a.actor)}" data-plan="${esc(a.customer_type)}">` +
      `<td class="id" data-testid="cc-who">${name}<span class="show-sm sub">${plan(a.customer_type)}</span></td><td class="hide-sm">${plan(a.customer_type)}</td>` +
      `<td class="n hide-sm" data-testid="cc-days">${TW.int(a.days_active)}</td><td class="n" data-testid="cc-sessions">${TW.int(a.sessions)}</td>` +
      `<td class="n" data-testid="cc-lines">${lines(a)}</td><td class="n hide-sm" data-testid="cc-commits">${TW.int(a.commits)}</td>` +
      `<td class="n hide-sm" data-testid="cc-prs">${TW.int(a.pull_requests)}</td><td class="n hide-sm" data-testid="cc-tokens">${TW.int(a.tokens)}</td>` +
      `<td class="n" data-testid="cc-cost" title="${esc(cost)}">${money(a.estimated_cost_usd)}<span class="show-sm sub">${esc(TW.compact(a.tokens))} tok</span></td>` +
      `<td class="wrap models hide-sm" data-testid="cc-models">${models}</td></tr>` +
      `<tr class="sm-row"><td colspan="10" class="wrap">${rest}</td></tr>`;
  }

  const ccExport = (actors) => actors.map((a) => {
    const who = actorOf(a.actor);
    return {
      actor: a.actor, kind: who.kind, name: who.name, customer_type: a.customer_type, days_active: a.days_active, sessions: a.sessions,
      lines_added: a.lines_added, lines_removed: a.lines_removed, commits: a.commits, pull_requests: a.pull_requests,
      tokens: a.tokens, estimated_cost_usd: a.estimated_cost_usd, models: a.models.join(" "),
    };
  });

  async function drawClaudeCode(box, accounts) {
    const n = days();
    const head = `<div class="panel" data-testid="claude-code"><h2>Claude Code use · last ${plural(n, "day", "days")}</h2>` +
      `<p class="muted" data-testid="cc-note">Anthropic's Claude Code report, per person or API key: its costs are the report's estimates and are not counted ` +
      `in tokenwatch's totals or the reconciliation. A subscription's use is paid by its plan, not the API bill.</p>`;
    if (!accounts.some((a) => a.synced_from || a.last_ok_at)) {
      box.innerHTML = head + `<p class="muted" data-testid="no-cc">nothing synced yet: the report comes with an Anthropic account's sync.</p></div>`;
      return;
    }
    const data = await TW.api("sync/claude-code", { since: `${n}d` });
    const actors = data.actors;
    box.innerHTML = head +
      (actors.length ? `<div class="scroll"><table class="cc" data-testid="cc"><thead><tr><th>who</th><th class="hide-sm">plan</th><th class="n hide-sm">days</th>` +
        `<th class="n">sessions</th><th class="n">lines</th><th class="n hide-sm">commits</th><th class="n hide-sm">PRs</th>` +
        `<th class="n hide-sm">tokens</th><th class="n">est. cost</th><th class="hide-sm">models</th></tr></thead><tbody>` +
        actors.map(ccRow).join("") + `</tbody></table></div>`
        : `<p class="muted" data-testid="no-cc">no Claude Code use in the report for these ${plural(n, "day", "days")}` +
          `${accounts.some((a) => a.provider === "anthropic") ? "" : ": only Anthropic accounts have the report"}</p>`) +
      TW.exportButtons("claude-code", () => ccExport(actors)) + `</div>`;
  }

  async function render(main) {
    outcomes.clear();
    const [admin, me] = await Promise.all([TW.can("admin"), TW.me]);
    // An operator's principal has no tenant of its own: the cards then say whose they are.
    const operator = Boolean(me && !me.tenant && me.actor !== "local");
    const first = (await TW.api("sync/accounts")).accounts;
    main.innerHTML = `<div class="grid"><div class="wide" id="accounts"><div class="panel" data-testid="accounts"><h2>provider accounts</h2>` +
      `<div data-list></div>${admin ? accountForm(!first.length) : ""}<p class="err" data-err hidden></p></div></div>` +
      `<div class="wide" id="accounts-recon"><p class="loading">loading</p></div>` +
      `<div class="wide" id="accounts-claude-code"><p class="loading">loading</p></div></div>`;
    const box = document.getElementById("accounts"), recon = document.getElementById("accounts-recon"), cc = document.getElementById("accounts-claude-code");
    // The panels under the cards, each of the window in the URL; either may fail alone.
    const below = (accounts) => Promise.all([
      drawRecon(recon, accounts, () => below(accounts)).catch((e) => { recon.innerHTML = TW.errorBox(e); }),
      drawClaudeCode(cc, accounts).catch((e) => { cc.innerHTML = TW.errorBox(e); }),
    ]);
    const changed = async () => {
      const accounts = (await TW.api("sync/accounts")).accounts;
      drawAccounts(box, accounts, admin, operator, changed);
      await below(accounts);
    };
    drawAccounts(box, first, admin, operator, changed);
    if (admin) wireForm(box, changed);
    await below(first);
  }

  TW.views.accounts = { render, ranged: false };
})();
