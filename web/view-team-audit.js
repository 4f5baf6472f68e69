// The team view's audit log: who did what, to what, when, and the values before and after
// (never secrets: the server records none), newest first, a page at a time with "older".
//
// The API pages by time (`before_ms`: strictly older). Entries written in the same millisecond
// as the last one shown would be skipped by asking for entries older than it, so the next page
// starts at that millisecond and drops the entries already shown (the order, time then id,
// is the same in both answers).
"use strict";
(function () {
  const TW = window.TW, esc = TW.esc, team = TW.team;
  const PAGE = 50;

  // A value as text: strings plain, the rest as JSON, "—" for none.
  const value = (v) => (v === null || v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  // What changed, one field a line: "role: member → viewer" for each field of `after` that
  // differs from `before`; the fields of a new thing ("name: ci"); "removed" for a deletion.
  // The entry's full values are in the row's title and in the json download.
  function change(before, after) {
    if (!isObject(before) && !isObject(after) && (before !== null || after !== null)) return [`${value(before)} → ${value(after)}`];
    if (!isObject(after)) return before === null ? [] : ["removed"];
    return Object.keys(after).flatMap((k) => {
      if (!isObject(before)) return after[k] === null ? [] : [`${k}: ${value(after[k])}`];
      return JSON.stringify(before[k]) === JSON.stringify(after[k]) ? [] : [`${k}: ${value(before[k])} → ${value(after[k])}`];
    });
  }

  // Who did it: a user's email, "token <name hint>" for a known API token, else as recorded.
  const who = (actor, labels) => {
    const s = String(actor);
    if (s.startsWith("user:")) return s.slice(5);
    const token = s.startsWith("token:") && labels.get(s.slice(6));
    return token ? `token ${token}` : s;
  };

  // A key's or token's id is shown as its name and hint (`labels`), the id in the title. On a
  // phone each entry is one cell: the action, then when and who, the target and the change,
  // each on its own line and wrapping.
  function row(e, labels) {
    const actor = who(e.actor, labels), label = labels.get(e.target), target = label || e.target;
    const lines = change(e.before, e.after);
    return `<tr data-audit="${esc(e.id)}" title="${esc(JSON.stringify({ before: e.before, after: e.after }))}"><td class="hide-sm nw">${esc(TW.time(e.ts_ms))}</td><td class="hide-sm nw">${esc(actor)}</td>` +
      `<td class="stack-sm"><span data-testid="audit-action">${esc(e.action)}</span><span class="show-sm sub">${esc(TW.shortTime(e.ts_ms))} · ${esc(actor)}</span>` +
      `<span class="show-sm sub">→ ${esc(target)}</span>${lines.map((l) => `<span class="show-sm sub">${esc(l)}</span>`).join("")}</td>` +
      `<td class="id hide-sm" data-testid="audit-target" data-target="${esc(e.target)}"${label ? ` title="${esc(e.target)}"` : ""}>${esc(target)}</td>` +
      `<td class="change hide-sm">${lines.length ? lines.map((l) => `<div>${esc(l)}</div>`).join("") : '<span class="muted">—</span>'}</td></tr>`;
  }

  // id → "name hint" of the tenant's keys and tokens; empty when they cannot be read.
  async function targetLabels() {
    const labels = new Map();
    try {
      const [k, t] = await Promise.all([TW.api("keys"), TW.api("tokens")]);
      for (const x of [...k.keys, ...t.tokens]) labels.set(x.id, [x.name, x.hint].filter(Boolean).join(" "));
    } catch (_) { /* the ids are shown as they are */ }
    return labels;
  }

  async function audit(box) {
    box.innerHTML = team.frame("team-audit", "audit log", "Every change to keys, tokens, users, credentials and tenants, and every sign-in, newest first.", "");
    const el = box.querySelector("[data-list]");
    const shown = [], labels = await targetLabels();
    // The next page: entries older than the last shown, or of its millisecond and not shown yet.
    const page = async () => {
      const last = shown[shown.length - 1];
      if (!last) return (await TW.api("audit", { limit: PAGE })).entries;
      const same = shown.filter((e) => e.ts_ms === last.ts_ms).map((e) => e.id);
      const got = (await TW.api("audit", { limit: PAGE + same.length, before_ms: last.ts_ms + 1 })).entries;
      return got.filter((e) => !same.includes(e.id));
    };
    const more = async () => {
      const entries = await page();
      shown.push(...entries);
      const body = el.querySelector("tbody");
      if (body) body.insertAdjacentHTML("beforeend", entries.map((e) => row(e, labels)).join(""));
      else {
        el.innerHTML = shown.length
          ? `<div class="scroll"><table data-testid="audit"><thead><tr><th class="hide-sm">when</th><th class="hide-sm">who</th><th>what</th><th class="hide-sm">target</th><th class="hide-sm">before → after</th></tr></thead><tbody>` +
            shown.map((e) => row(e, labels)).join("") + `</tbody></table></div><p class="actions"><button type="button" class="btn" data-older data-testid="audit-older">older</button><span class="muted" data-end></span></p>` +
            TW.exportButtons("audit", () => shown)
          : `<p class="muted">nothing recorded yet</p>`;
        const older = el.querySelector("[data-older]");
        if (older) older.addEventListener("click", async () => {
          older.disabled = true;
          try {
            team.fail(box, null);
            await more();
          } catch (e) { team.fail(box, e); }
          older.disabled = false;
        });
      }
      // A short page is the last one.
      if (entries.length < PAGE) {
        const older = el.querySelector("[data-older]"), end = el.querySelector("[data-end]");
        if (older) older.hidden = true;
        if (end && shown.length) end.textContent = `${TW.int(shown.length)} entries: the start of the log`;
      }
    };
    await more();
  }

  team.audit = audit;
})();
