// Advice (/ui/advice): the advisor's recommendations (GET /api/v1/recommendations), largest
// saving first, with the open total on top; members dismiss, snooze for 7 days and reopen
// them (POST /api/v1/recommendations/{id}/{action}), viewers only read them. Below, what each
// prompt part costs (GET /api/v1/prompt-costs) a turn and a day, with the share of input spend
// that re-sends history, for every agent or one.
// Both read one window of whole days (`days`, default the server's [advisor] lookback_days),
// since recommendations are judged over days; the header's range picker is hidden here. URL
// state: days, closed=1 (also the dismissed and snoozed ones), agent.
"use strict";
(function () {
  const TW = window.TW, esc = TW.esc;

  const KINDS = {
    model_switch: "model switch", cache_breakage: "cache breakage", cache_opportunity: "cache opportunity",
    prompt_trim: "prompt trim", history_retransmission: "history re-sent", session_lifecycle: "session lifecycle",
  };
  const PARTS = { tool: "tool", system: "system part", history: "history", new_input: "new input" };
  const word = (table, k) => table[k] || String(k).replace(/_/g, " ");
  const WINDOWS = [1, 7, 14, 30, 90];
  // A date of the API's timestamps in the selected zone.
  const date = (iso) => TW.time(Date.parse(iso)).slice(0, 10);
  const plural = (n, one, many) => `${TW.int(n)} ${n === 1 ? one : many}`;

  // `rank`: its place by saving; `manage`: whether the role may decide (member).
  function card(r, rank, manage) {
    const open = r.status === "open";
    const state = r.status === "snoozed" && r.snoozed_until ? `snoozed until ${TW.time(Date.parse(r.snoozed_until)).slice(0, 16)}` : open ? "" : r.status;
    const facts = [r.agent && `agent ${r.agent}`, plural(r.events, "event", "events"), `${date(r.since)} → ${date(r.until)}`].filter(Boolean).join(" · ");
    const buttons = !manage ? "" : open
      ? `<button type="button" class="btn" data-act="dismiss">dismiss</button><button type="button" class="btn" data-act="snooze">snooze 7 days</button>`
      : `<button type="button" class="btn" data-act="reopen">reopen</button>`;
    return `<article class="rec${open ? "" : " closed"}" data-rec="${esc(r.id)}" data-kind="${esc(r.kind)}" data-status="${esc(r.status)}">` +
      `<div class="rec-head"><span><span class="muted">${rank}.</span> <span class="kind">${esc(word(KINDS, r.kind))}</span></span>` +
      `<span class="nw"><b class="saving" data-testid="rec-saving">${TW.usdNanos(r.savings_nanos_per_month)}</b><span class="muted"> / month</span></span></div>` +
      `<h3 data-testid="rec-title">${esc(r.title)}</h3><p data-testid="rec-evidence">${TW.escDates(r.evidence)}</p>` +
      `<p class="muted">${TW.escDates(facts)}${state ? ` · <span class="up" data-testid="rec-status">${esc(state)}</span>` : ""}</p>` +
      (buttons ? `<div class="actions">${buttons}</div>` : "") + `</article>`;
  }

  // Renders the recommendations into `box` and wires its controls; returns the API's answer.
  async function recommendations(box, manage) {
    const closed = TW.param("closed") === "1";
    const data = await TW.api("recommendations", { days: TW.param("days"), all: closed ? "true" : null });
    const list = data.recommendations.slice().sort((a, b) => b.savings_nanos_per_month - a.savings_nanos_per_month);
    const open = list.filter((r) => r.status === "open").length;
    const days = data.lookback_days;
    const choices = WINDOWS.includes(days) ? WINDOWS : WINDOWS.concat(days).sort((a, b) => a - b);
    box.innerHTML = `<div class="panel" data-testid="advice"><h2>advice · last ${plural(days, "day", "days")}</h2>` +
      `<div class="cards"><div class="card"><div class="k">open savings</div><div class="v" data-testid="open-savings">${TW.usdNanos(data.open_savings_nanos_per_month)}</div>` +
      `<div class="d">a month, from ${plural(open, "open recommendation", "open recommendations")}</div></div>` +
      `<div class="card"><div class="k">window</div><div class="v">${plural(days, "day", "days")}</div><div class="d">${TW.escDates(`${date(data.since)} → ${date(data.until)}`)} · ${plural(data.events_read, "event", "events")} read</div></div></div>` +
      `<form class="actions" data-testid="advice-controls" autocomplete="off"><label>window <select name="days">${choices.map((d) => `<option value="${d}"${d === days ? " selected" : ""}>${plural(d, "day", "days")}</option>`).join("")}</select></label>` +
      `<label><input type="checkbox" name="closed" data-testid="show-closed"${closed ? " checked" : ""}> show dismissed and snoozed</label></form>` +
      `<p class="err" data-testid="advice-err" hidden></p>` +
      (list.length ? `<div class="recs">${list.map((r, i) => card(r, i + 1, manage)).join("")}</div>`
        : `<p class="muted" data-testid="no-advice">nothing to change${closed ? "" : " that is not dismissed or snoozed"}: no rule found a saving in these ${plural(days, "day", "days")}</p>`) +
      TW.exportButtons("recommendations", () => list) + `</div>`;
    const form = box.querySelector("form");
    form.days.addEventListener("change", () => {
      TW.setParams({ days: form.days.value }, true);
      TW.render();
    });
    form.closed.addEventListener("change", () => {
      TW.setParams({ closed: form.closed.checked ? "1" : null }, true);
      recommendations(box, manage).catch((e) => { box.innerHTML = TW.errorBox(e); });
    });
    box.querySelectorAll("article.rec button[data-act]").forEach((b) => b.addEventListener("click", async () => {
      const id = b.closest("article").dataset.rec, act = b.dataset.act;
      box.querySelectorAll("button[data-act]").forEach((x) => { x.disabled = true; });
      try {
        await TW.send("POST", `recommendations/${encodeURIComponent(id)}/${act}`, act === "snooze" ? { days: 7 } : {});
        await recommendations(box, manage);
      } catch (e) {
        const err = box.querySelector('[data-testid="advice-err"]');
        err.hidden = false;
        err.textContent = `could not ${act}: ${e.message}`;
        box.querySelectorAll("button[data-act]").forEach((x) => { x.disabled = false; });
      }
    }));
    return data;
  }

  // On a phone a part keeps its name, cost and cost a day; its agent, kind and summary stand
  // under the name.
  function partRow(p) {
    const sub = [p.agent, word(PARTS, p.kind), p.summary].join(" · ");
    return `<tr data-part="${esc(p.name)}" data-agent="${esc(p.agent)}"><td class="id">${esc(p.name)}<span class="show-sm sub">${esc(sub)}</span></td>` +
      `<td class="hide-sm">${esc(p.agent)}</td><td class="hide-sm">${esc(word(PARTS, p.kind))}</td><td class="n hide-sm">${TW.int(p.turns)}</td>` +
      `<td class="n hide-sm" title="${esc(`${TW.int(p.min_chars)} to ${TW.int(p.max_chars)} characters`)}">${TW.int(p.avg_chars)}</td><td class="n hide-sm">${TW.int(p.versions)}</td>` +
      `<td class="n">${TW.usdNanos(p.cost_nanos)}</td><td class="n hide-sm">${TW.usdNanos(p.cost_per_turn_nanos)}</td><td class="n">${TW.usdNanos(p.cost_per_day_nanos)}</td>` +
      `<td class="wrap hide-sm" data-testid="part-summary">${esc(p.summary)}</td></tr>`;
  }

  // Renders prompt costs since `since` into `box`. The agent list comes from every agent's
  // parts; the figures (history share included) from the chosen agent's.
  async function promptCosts(box, since) {
    const agent = TW.param("agent");
    const [all, one] = await Promise.all([TW.api("prompt-costs", { since }), agent ? TW.api("prompt-costs", { since, agent }) : null]);
    const data = one || all;
    const agents = [...new Set(all.parts.map((p) => p.agent))].sort();
    if (agent && !agents.includes(agent)) agents.unshift(agent);
    const share = data.history_share_pct;
    box.innerHTML = `<div class="panel" data-testid="prompt-costs"><h2>prompt costs</h2>` +
      `<form class="actions" autocomplete="off"><label>agent <select name="agent"><option value="">every agent</option>` +
      agents.map((a) => `<option value="${esc(a)}"${a === agent ? " selected" : ""}>${esc(a)}</option>`).join("") + `</select></label></form>` +
      `<p>input spend <b data-testid="input-cost">${TW.usdNanos(data.input_cost_nanos)}</b> · history re-sent: <b data-testid="history-share">${share === null || share === undefined ? "—" : share.toFixed(1) + "%"}</b> of it</p>` +
      (data.parts.length ? `<div class="scroll"><table data-testid="parts"><thead><tr><th>part</th><th class="hide-sm">agent</th><th class="hide-sm">kind</th><th class="n hide-sm">turns</th>` +
        `<th class="n hide-sm">avg chars</th><th class="n hide-sm">versions</th><th class="n">cost</th><th class="n hide-sm">a turn</th><th class="n">a day</th><th class="hide-sm">summary</th></tr></thead><tbody>` +
        data.parts.map(partRow).join("") + `</tbody></table></div>`
        : `<p class="muted" data-testid="no-parts">no prompt parts in this window: they are recorded for conversations sent through the proxy</p>`) +
      TW.exportButtons("prompt-costs", () => data.parts) + `</div>`;
    const select = box.querySelector("select[name=agent]");
    select.addEventListener("change", () => {
      TW.setParams({ agent: select.value || null }, true);
      promptCosts(box, since).catch((e) => { box.innerHTML = TW.errorBox(e); });
    });
  }

  // The session guard: what the proxy refuses now (blocked sessions, paused agents), each with
  // a button to lift it for members; nothing when nothing is stopped.
  async function guard(box, manage) {
    const g = await TW.api("guard");
    const kinds = { session: ["session", "sessions", "unblock"], agent: ["agent", "agents", "resume"] };
    if (!g.controls.length) {
      box.innerHTML = "";
      return;
    }
    box.innerHTML = `<div class="panel" data-testid="guard-panel"><h2>stopped by the guard</h2><ul class="plain">` +
      g.controls.map((c) => {
        const [word, path, act] = kinds[c.kind] || [c.kind, c.kind, "lift"];
        const link = c.kind === "session" ? `<a href="${esc(TW.sessionHref(c.subject))}" class="id">${esc(c.subject)}</a>` : `<b>${esc(c.subject)}</b>`;
        const button = manage ? ` <button type="button" class="btn" data-lift="${esc(path)}/${esc(encodeURIComponent(c.subject))}">${act}</button>` : "";
        return `<li data-testid="stopped" data-kind="${esc(c.kind)}">${word} ${link}: ${esc(c.reason)}${button}</li>`;
      }).join("") + `</ul></div>`;
    box.querySelectorAll("button[data-lift]").forEach((b) => b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await TW.send("DELETE", `guard/${b.dataset.lift}`);
        await guard(box, manage);
      } catch (e) {
        box.insertAdjacentHTML("beforeend", TW.errorBox(e));
        b.disabled = false;
      }
    }));
  }

  async function render(main) {
    const manage = await TW.can("member");
    main.innerHTML = `<div class="grid"><div class="wide" id="advice-guard"></div><div class="wide" id="advice-recs"></div><div class="wide" id="advice-prompts"><p class="loading">loading</p></div></div>`;
    guard(document.getElementById("advice-guard"), manage).catch((e) => {
      document.getElementById("advice-guard").innerHTML = TW.errorBox(e);
    });
    const data = await recommendations(document.getElementById("advice-recs"), manage);
    if (!data.events_read && !(await TW.anyEvents())) {
      main.innerHTML = await TW.emptyState();
      return;
    }
    const prompts = document.getElementById("advice-prompts");
    try {
      await promptCosts(prompts, `${data.lookback_days}d`);
    } catch (e) { prompts.innerHTML = TW.errorBox(e); }
  }

  TW.views.advice = { render, ranged: false };
})();
