// The team view's admin sections: users and their roles (add with a password, change the role,
// disable and enable), API tokens (create, shown once; revoke) and provider credentials
// (write-only: set or replace, delete; the list shows the hint). Drawn only for an admin; the
// server refuses the same calls from any other role.
//
// A password or provider key typed here goes in the request body only and the form is cleared
// once it was accepted, so the value does not stay in the page.
"use strict";
(function () {
  const TW = window.TW, esc = TW.esc, team = TW.team, field = team.field;

  // The roles `me` may give: up to its own, never operator for a user (operators are API
  // tokens or the CLI).
  const grantable = (me, forUser) => TW.ROLES.filter((r) => TW.roleAtLeast(me.role, r) && !(forUser && r === "operator"));
  const options = (roles, selected) => roles.map((r) => `<option${r === selected ? " selected" : ""}>${esc(r)}</option>`).join("");

  // ---- users -----------------------------------------------------------------------------
  // Your own row is marked and cannot be disabled or demoted from here: that would end the
  // session doing it.
  function userRow(u, me, roles) {
    const self = me.actor === `user:${u.email}`;
    const role = self ? esc(u.role)
      : `<select data-role aria-label="role of ${esc(u.email)}">${options(roles.includes(u.role) ? roles : [u.role, ...roles], u.role)}</select>`;
    const toggle = self ? `<span class="muted">you</span>`
      : `<button type="button" class="btn" data-toggle>${u.disabled ? "enable" : "disable"}</button>`;
    return `<tr data-user="${esc(u.email)}"${u.disabled ? ' class="revoked"' : ""}><td class="id">${esc(u.email)}<span class="show-sm sub">added ${esc(TW.shortTime(u.created_ms))}</span></td>` +
      `<td>${role}</td><td data-testid="user-state">${u.disabled ? '<span class="bad">disabled</span>' : "active"}</td>` +
      `<td class="hide-sm">${esc(team.when(u.created_ms))}</td><td class="nw">${toggle}</td></tr>`;
  }

  async function usersList(box, me) {
    const data = await TW.api("users");
    const roles = grantable(me, true);
    const users = data.users.slice().sort((a, b) => a.email.localeCompare(b.email));
    const el = box.querySelector("[data-list]");
    el.innerHTML = users.length
      ? `<div class="scroll"><table data-testid="users"><thead><tr><th>email</th><th>role</th><th>state</th><th class="hide-sm">added</th><th></th></tr></thead><tbody>` +
        users.map((u) => userRow(u, me, roles)).join("") + `</tbody></table></div>`
      : `<p class="muted">no users yet: add one below</p>`;
    const patch = async (u, body) => {
      try {
        team.fail(box, null);
        await TW.send("PATCH", `users/${encodeURIComponent(u.email)}`, body);
      } catch (e) { team.fail(box, e); }
      await usersList(box, me);
    };
    el.querySelectorAll("tr[data-user]").forEach((tr) => {
      const u = users.find((x) => x.email === tr.dataset.user);
      const role = tr.querySelector("select[data-role]");
      if (role) role.addEventListener("change", () => patch(u, { role: role.value }));
      const toggle = tr.querySelector("button[data-toggle]");
      if (!toggle) return;
      if (u.disabled) toggle.addEventListener("click", () => patch(u, { disabled: false }));
      else toggle.addEventListener("click", () => team.confirm(toggle, `disable ${u.email}? Their sessions end at once.`, "yes, disable", () => patch(u, { disabled: true })));
    });
  }

  async function users(box) {
    const me = await TW.me;
    const form = `<details class="filterbox"><summary>add a user</summary><form class="filters" data-testid="user-add" autocomplete="off">` +
      field("email", "email", 'type="email" required autocomplete="off" spellcheck="false"') +
      `<label>role<select name="role">${options(grantable(me, true), "viewer")}</select></label>` +
      field("password", "password (at least 10 characters)", 'type="password" required minlength="10" autocomplete="new-password"') +
      `<div class="actions"><button type="submit" class="btn">add user</button></div></form></details>`;
    box.innerHTML = team.frame("team-users", "users and roles", "People who sign in to this dashboard. A viewer reads; a member also manages proxy keys, tags and budgets; an admin also manages users, tokens, credentials and alert rules.", form);
    await usersList(box, me);
    const f = box.querySelector('form[data-testid="user-add"]');
    team.wireForm(box, f, (x) => ({ email: x.email.value.trim(), role: x.role.value, password: x.password.value }),
      (b) => TW.send("POST", "users", b), async () => { f.reset(); await usersList(box, me); });
  }

  // ---- API tokens ------------------------------------------------------------------------
  function tokenRow(t) {
    const state = t.revoked_ms ? `<span class="bad">revoked</span> <span class="muted nw">${esc(TW.shortTime(t.revoked_ms))}</span>` : "live";
    return `<tr data-token="${esc(t.id)}"${t.revoked_ms ? ' class="revoked"' : ""}><td class="id">${t.name ? esc(t.name) + " " : ""}<code>${esc(t.hint)}</code></td>` +
      `<td>${esc(t.role)}</td><td class="hide-sm">${esc(team.when(t.created_ms))}</td><td class="hide-sm">${esc(team.when(t.last_used_ms))}</td>` +
      `<td class="state" data-testid="token-state">${state}</td><td class="acts">${t.revoked_ms ? "" : '<button type="button" class="btn" data-revoke>revoke</button>'}</td></tr>`;
  }

  async function tokensList(box) {
    const data = await TW.api("tokens");
    const tokens = data.tokens.slice().sort((a, b) => (a.revoked_ms ? 1 : 0) - (b.revoked_ms ? 1 : 0) || b.created_ms - a.created_ms);
    const el = box.querySelector("[data-list]");
    el.innerHTML = tokens.length
      ? `<div class="scroll"><table data-testid="tokens"><thead><tr><th>token</th><th>role</th><th class="hide-sm">created</th><th class="hide-sm">last used</th><th>state</th><th></th></tr></thead><tbody>` +
        tokens.map(tokenRow).join("") + `</tbody></table></div>`
      : `<p class="muted">no API tokens yet</p>`;
    el.querySelectorAll("tr[data-token]").forEach((tr) => {
      const t = tokens.find((x) => x.id === tr.dataset.token);
      const revoke = tr.querySelector("[data-revoke]");
      if (!revoke) return;
      revoke.addEventListener("click", () => team.confirm(revoke, `revoke ${t.hint}? It is refused at once.`, "yes, revoke", async () => {
        try {
          team.fail(box, null);
          await TW.send("POST", `tokens/${encodeURIComponent(t.id)}/revoke`);
        } catch (e) { team.fail(box, e); }
        await tokensList(box);
      }));
    });
  }

  async function tokens(box) {
    const me = await TW.me;
    const form = `<details class="filterbox"><summary>create an API token</summary><form class="filters" data-testid="token-create" autocomplete="off">` +
      field("name", "name", 'placeholder="grafana" spellcheck="false"') +
      `<label>role<select name="role">${options(grantable(me, false), "viewer")}</select></label>` +
      `<div class="actions"><button type="submit" class="btn">create token</button></div></form></details>`;
    box.innerHTML = team.frame("team-tokens", "API tokens", "For scripts and tools: send <code>Authorization: Bearer twt_…</code> to /api/v1. A token never has a role above its maker's.", form);
    await tokensList(box);
    const f = box.querySelector('form[data-testid="token-create"]');
    team.wireForm(box, f, (x) => (x.name.value.trim() ? { role: x.role.value, name: x.name.value.trim() } : { role: x.role.value }),
      (b) => TW.send("POST", "tokens", b), async (made) => {
        f.reset();
        team.showOnce(box, `API token (${made.role})`, made.token, "Send it as <code>Authorization: Bearer …</code>.");
        await tokensList(box);
      });
  }

  // ---- provider credentials --------------------------------------------------------------
  async function credentialsList(box) {
    const data = await TW.api("credentials");
    const el = box.querySelector("[data-list]");
    el.innerHTML = data.credentials.length
      ? `<div class="scroll"><table data-testid="credentials"><thead><tr><th>provider</th><th>hint</th><th>updated</th><th></th></tr></thead><tbody>` +
        data.credentials.map((c) => `<tr data-provider="${esc(c.provider)}"><td>${esc(c.provider)}</td><td><code>${esc(c.hint)}</code></td><td>${esc(team.when(c.updated_ms))}</td>` +
          `<td class="nw"><button type="button" class="btn" data-delete>delete</button></td></tr>`).join("") + `</tbody></table></div>`
      : `<p class="muted">no provider credentials: clients send their own provider key beside their tokenwatch key</p>`;
    el.querySelectorAll("tr[data-provider]").forEach((tr) => {
      const p = tr.dataset.provider, del = tr.querySelector("[data-delete]");
      del.addEventListener("click", () => team.confirm(del, `delete the ${p} credential? Keys then need their own provider key.`, "yes, delete", async () => {
        try {
          team.fail(box, null);
          await TW.send("DELETE", `credentials/${encodeURIComponent(p)}`);
        } catch (e) { team.fail(box, e); }
        await credentialsList(box);
      }));
    });
  }

  async function credentials(box) {
    let names = [];
    try { names = (await TW.providers()).providers.map((p) => p.name); } catch (_) { /* typed by hand below */ }
    const provider = names.length ? `<label>provider<select name="provider">${options(names, names[0])}</select></label>`
      : field("provider", "provider", 'required placeholder="anthropic" spellcheck="false"');
    const form = `<details class="filterbox"><summary>set or replace a credential</summary><form class="filters" data-testid="credential-set" autocomplete="off">` +
      provider + field("key", "provider key (write-only)", 'type="password" required autocomplete="new-password" spellcheck="false"') +
      `<div class="actions"><button type="submit" class="btn">save</button></div></form></details>`;
    box.innerHTML = team.frame("team-credentials", "provider credentials", "The provider key tokenwatch sends upstream for requests made with this tenant's proxy keys. Stored encrypted; never shown again, not even here.", form);
    await credentialsList(box);
    const f = box.querySelector('form[data-testid="credential-set"]');
    team.wireForm(box, f, (x) => ({ provider: x.provider.value.trim(), key: x.key.value }),
      (b) => TW.send("PUT", `credentials/${encodeURIComponent(b.provider)}`, { key: b.key }), async () => {
        f.key.value = "";
        await credentialsList(box);
      });
  }

  Object.assign(team, { users, tokens, credentials });
})();
