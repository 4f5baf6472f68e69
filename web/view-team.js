// The team view (/ui/team): proxy keys here; users, API tokens and provider credentials
// (view-team-admin.js) and the audit log (view-team-audit.js) for admins. Also the helpers
// those sections share: a secret shown once with a copy button, a confirmation asked in place
// of the button, and a section's frame (list, form, error line).
//
// Secrets: a new key or token lives only in the DOM of its "shown once" box until that box is
// dismissed or the view is left; it never goes into the URL, localStorage or a re-rendered
// list, which shows the hint. Actions the signed-in role may not do are not drawn (the server
// refuses them regardless).
"use strict";
(function () {
  const TW = window.TW, esc = TW.esc;
  const team = (TW.team = {});

  // "2026-05-01 10:00:00", or `none` for a missing time.
  team.when = (ms, none = "never") => (ms === null || ms === undefined ? none : TW.time(ms));

  // A section: heading, its "shown once" box, its list (re-rendered by `reload`), its form when
  // the role may use it, and an error line. `testid` names it for tests.
  team.frame = (testid, title, intro, form) => `<div class="panel wide" data-testid="${testid}"><h2>${esc(title)}</h2>` +
    (intro ? `<p class="muted">${intro}</p>` : "") +
    `<div data-once></div><div data-list><p class="loading">loading</p></div>` + (form || "") +
    `<p class="err" data-err hidden></p></div>`;

  // The error line of a section shows `e`, or hides when `e` is null.
  team.fail = (box, e) => {
    const err = box.querySelector("[data-err]");
    err.hidden = !e;
    err.textContent = e ? e.message || String(e) : "";
  };

  // Shows `secret` once in the section's box: what it is, a copy button and that it will not be
  // shown again. "done" removes it from the page.
  team.showOnce = (box, what, secret, use) => {
    const once = box.querySelector("[data-once]");
    once.innerHTML = `<div class="once" data-testid="new-secret" role="status"><p><b>new ${esc(what)}</b>: copy it now, <b>you will not see it again</b> (only its hint is kept).</p>` +
      `<p class="secret-row"><code class="secret" data-testid="secret-value">${esc(secret)}</code></p>` +
      `<p class="actions"><button type="button" class="btn primary" data-copy data-testid="copy-secret">copy</button><button type="button" class="btn" data-dismiss>done, hide it</button><span class="muted" data-copied aria-live="polite"></span></p>` +
      (use ? `<p class="muted">${use}</p>` : "") + `</div>`;
    const said = once.querySelector("[data-copied]");
    once.querySelector("[data-copy]").addEventListener("click", async () => {
      said.textContent = (await copy(once.querySelector("code.secret"), secret)) ? "copied" : "select it and copy by hand";
    });
    once.querySelector("[data-dismiss]").addEventListener("click", () => { once.innerHTML = ""; });
  };

  // Copies `text`: the clipboard API where the page may use it, else a selection of `el` and
  // the copy command. True when one of them worked.
  async function copy(el, text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch (_) { /* not allowed here: try the selection */ }
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    try { return document.execCommand("copy"); } catch (_) { return false; }
  }

  // Asks in place of `button`: its cell shows `question` with a "yes" button labelled `yes`
  // and "cancel"; only "yes" runs `action`. Cancel puts the cell back as it was.
  team.confirm = (button, question, yes, action) => {
    const cell = button.parentElement, before = [...cell.childNodes];
    const ask = document.createElement("span");
    ask.className = "ask";
    ask.dataset.testid = "confirm";
    ask.innerHTML = `<span>${esc(question)}</span> <button type="button" class="btn danger" data-yes>${esc(yes)}</button> <button type="button" class="btn" data-no>cancel</button>`;
    cell.replaceChildren(ask);
    ask.querySelector("[data-no]").addEventListener("click", () => cell.replaceChildren(...before));
    ask.querySelector("[data-yes]").addEventListener("click", (e) => { e.target.disabled = true; action(); });
    ask.querySelector("[data-no]").focus();
  };

  // Wires `form` in `box`: submit builds the body with `body(form)`, sends it with `send`,
  // then `done(result)`; a refusal is shown under the fields and what was typed stays.
  team.wireForm = (box, form, body, send, done) => {
    const err = box.querySelector("[data-err]");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        TW.clearFormErrors(form, err);
        await done(await send(body(form)));
      } catch (x) {
        TW.showFormErrors(form, err, x);
      } finally {
        button.disabled = false;
      }
    });
  };

  const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
  const field = (name, label, attrs = "") => `<label>${label}<input name="${name}" ${attrs}></label>`;
  team.field = field;

  // ---- proxy keys ------------------------------------------------------------------------
  const keyForm = `<details class="filterbox"><summary>create a proxy key</summary><form class="filters" data-testid="key-create" autocomplete="off">` +
    field("name", "name", 'placeholder="ci" spellcheck="false"') + field("project", "project", 'placeholder="web" spellcheck="false"') +
    field("agent", "agent", 'placeholder="claude-code" spellcheck="false"') + field("environment", "environment", 'placeholder="prod" spellcheck="false"') +
    field("allowed_models", "allowed models (comma separated; empty: any)", 'placeholder="claude-sonnet-4-5, gpt-4o" spellcheck="false"') +
    `<div class="actions"><button type="submit" class="btn">create key</button></div></form></details>`;

  const keyBody = (f) => {
    const b = { allowed_models: list(f.allowed_models.value) };
    for (const k of ["name", "project", "agent", "environment"]) if (f[k].value.trim()) b[k] = f[k].value.trim();
    return b;
  };

  // On a phone the key's name and hint stay, with project, agent, models and last use under
  // them; the state and the buttons keep their own columns, since revoked or not is what one
  // looks for.
  function keyRow(k, manage) {
    const name = k.name ? `${esc(k.name)} ` : "";
    const models = k.allowed_models.length ? k.allowed_models.join(", ") : "any";
    const sub = [k.project && `project ${k.project}`, k.agent && `agent ${k.agent}`, `models ${models}`, `used ${team.when(k.last_used_ms)}`].filter(Boolean).join(" · ");
    const state = k.revoked_ms ? `<span class="bad">revoked</span> <span class="muted nw">${esc(TW.shortTime(k.revoked_ms))}</span>` : "live";
    const actions = manage && !k.revoked_ms
      ? `<button type="button" class="btn" data-rotate>rotate</button> <button type="button" class="btn" data-revoke>revoke</button>` : "";
    return `<tr data-key="${esc(k.id)}"${k.revoked_ms ? ' class="revoked"' : ""}><td class="id">${name}<code class="nw" data-testid="key-hint">${esc(k.hint)}</code><span class="show-sm sub">${esc(sub)}</span></td>` +
      `<td class="hide-sm">${esc(k.project || "")}</td><td class="hide-sm">${esc(k.agent || "")}</td><td class="hide-sm wrap">${esc(models)}</td>` +
      `<td class="hide-sm">${esc(team.when(k.created_ms))}</td><td class="hide-sm">${esc(team.when(k.last_used_ms))}</td><td class="state" data-testid="key-state">${state}</td><td class="acts">${actions}</td></tr>`;
  }

  async function keysList(box, manage) {
    const data = await TW.api("keys");
    // Live keys first, newest first.
    const keys = data.keys.slice().sort((a, b) => (a.revoked_ms ? 1 : 0) - (b.revoked_ms ? 1 : 0) || b.created_ms - a.created_ms);
    const el = box.querySelector("[data-list]");
    el.innerHTML = keys.length
      ? `<div class="scroll"><table data-testid="keys"><thead><tr><th>key</th><th class="hide-sm">project</th><th class="hide-sm">agent</th><th class="hide-sm">allowed models</th><th class="hide-sm">created</th><th class="hide-sm">last used</th><th>state</th><th></th></tr></thead><tbody>` +
        keys.map((k) => keyRow(k, manage)).join("") + `</tbody></table></div>`
      : `<p class="muted">no proxy keys yet${manage ? ": create one below, or <code>tokenwatch key create</code>" : ""}</p>`;
    const reload = () => keysList(box, manage);
    el.querySelectorAll("tr[data-key]").forEach((tr) => {
      const k = keys.find((x) => x.id === tr.dataset.key);
      const act = async (fn) => {
        try {
          team.fail(box, null);
          await fn();
        } catch (e) { team.fail(box, e); }
        await reload();
      };
      const revoke = tr.querySelector("[data-revoke]");
      if (revoke) revoke.addEventListener("click", () => team.confirm(revoke, `revoke ${k.hint}? Requests with it are refused at once.`, "yes, revoke",
        () => act(() => TW.send("POST", `keys/${encodeURIComponent(k.id)}/revoke`))));
      const rotate = tr.querySelector("[data-rotate]");
      if (rotate) rotate.addEventListener("click", () => team.confirm(rotate, `rotate ${k.hint}? The old value is refused at once.`, "yes, rotate",
        () => act(async () => team.showOnce(box, "value of key " + (k.name || k.hint), (await TW.send("POST", `keys/${encodeURIComponent(k.id)}/rotate`)).key))));
    });
  }

  async function keys(box) {
    const manage = await TW.can("member");
    box.innerHTML = team.frame("team-keys", "proxy keys",
      "A client sends its key as the SDK's api_key; tokenwatch sends the tenant's provider credential upstream and attributes every call to the key's project and agent.",
      manage ? keyForm : "");
    await keysList(box, manage);
    if (!manage) return;
    const f = box.querySelector('form[data-testid="key-create"]');
    team.wireForm(box, f, keyBody, (b) => TW.send("POST", "keys", b), async (made) => {
      f.reset();
      team.showOnce(box, "proxy key" + (made.name ? ` ${made.name}` : ""), made.key,
        `Send it as your SDK's api_key with its base URL at this tokenwatch (http://${esc(location.host)}/anthropic, …/openai/v1, …/gemini).`);
      await keysList(box, manage);
    });
  }

  // ---- the view --------------------------------------------------------------------------
  async function render(main) {
    const admin = await TW.can("admin");
    main.innerHTML = `<div class="grid">` +
      `<div class="wide" id="team-keys"></div>` +
      (admin ? `<div class="wide" id="team-users"></div><div class="wide" id="team-tokens"></div><div class="wide" id="team-credentials"></div><div class="wide" id="team-audit"></div>`
        : `<p class="muted wide" data-testid="team-admin-note">Users, API tokens, provider credentials and the audit log are managed by an admin of the tenant.</p>`) +
      `</div>`;
    const sections = [keys(document.getElementById("team-keys"))];
    if (admin) {
      sections.push(team.users(document.getElementById("team-users")), team.tokens(document.getElementById("team-tokens")),
        team.credentials(document.getElementById("team-credentials")), team.audit(document.getElementById("team-audit")));
    }
    // One section failing (a role changed meanwhile) leaves the others usable.
    const results = await Promise.allSettled(sections);
    const ids = ["team-keys", "team-users", "team-tokens", "team-credentials", "team-audit"];
    results.forEach((r, i) => { if (r.status === "rejected") document.getElementById(ids[i]).innerHTML = TW.errorBox(r.reason); });
  }

  TW.views.team = { render };
})();
