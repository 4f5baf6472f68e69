// Tag management in settings: every tag in use or defined, with its colour (a colour picker that
// doubles as the swatch), its name (edit it to rename the tag on every event), its events and
// cost in the selected range, and a form that defines a new tag. Also the tag colours that
// charts stacked by tag use. Everything goes through /api/v1/tags; a refusal shows the API's
// message, which names the bad field.
"use strict";
(function () {
  const TW = window.TW, esc = TW.esc;
  const path = (r) => `tags/${encodeURIComponent(r.key)}/${encodeURIComponent(r.value)}`;

  // `edit`: whether the role may change tags (member); otherwise the inputs are read-only.
  function table(tags, edit) {
    const off = edit ? "" : " disabled";
    if (!tags.length) return `<p class="muted">no tags yet: send <code>X-Tokenwatch-Tags: team=red</code> with a request, add a tag rule below, or define one here</p>`;
    return `<div class="scroll"><table data-testid="tags"><thead><tr><th>colour</th><th>tag</th><th class="n">events</th><th class="n">cost</th><th class="hide-sm">description</th><th></th></tr></thead><tbody>` +
      tags.map((r, i) => `<tr data-tag="${esc(r.tag)}" data-i="${i}">` +
        `<td><input type="color" value="${esc(r.color)}" aria-label="colour of ${esc(r.tag)}" data-color${off}></td>` +
        `<td><input class="tagname" value="${esc(r.tag)}" aria-label="name of ${esc(r.tag)}" spellcheck="false" data-rename${off}></td>` +
        `<td class="n">${TW.int(r.events)}</td><td class="n">${TW.usd(r.cost_micros)}</td>` +
        `<td class="hide-sm wrap">${esc(r.description || "")}</td>` +
        `<td>${r.defined && edit ? `<button type="button" class="btn" data-undefine title="forget the colour and description; events keep the tag">reset</button>` : ""}</td></tr>`).join("") +
      `</tbody></table></div>`;
  }

  const form = `<details class="filterbox"><summary>define a tag</summary><form class="filters" data-testid="tag-define" autocomplete="off">` +
    `<label>tag<input name="tag" required placeholder="team=red or client-work" spellcheck="false"></label>` +
    `<label>colour<input name="color" type="color" value="#2e9e4f"></label>` +
    `<label>description<input name="description" placeholder="optional"></label>` +
    `<div class="actions"><button type="submit" class="btn">define</button></div></form></details>`;

  // Renders the panel into `box` and wires it; every change re-renders from the API.
  async function show(box) {
    const [data, edit] = await Promise.all([TW.api("tags", TW.rangeQuery()), TW.can("member")]);
    box.innerHTML = `<h2>tags</h2>` + (edit ? `<p class="muted">Edit a name and press Enter to rename the tag on every stored event; pick a colour for the charts stacked by tag.</p>` : "") +
      table(data.tags, edit) + (edit ? form : "") + `<p class="err" data-testid="err-tags" hidden></p>` + TW.exportButtons("tags", () => data.tags);
    const fail = (e) => {
      const err = box.querySelector('[data-testid="err-tags"]');
      err.hidden = false;
      err.textContent = e.message;
    };
    const act = async (fn) => {
      try {
        await fn();
        await show(box);
      } catch (e) { fail(e); }
    };
    box.querySelectorAll("tr[data-tag]").forEach((tr) => {
      const r = data.tags[Number(tr.dataset.i)];
      tr.querySelector("input[data-color]").addEventListener("change", (e) => act(() => TW.send("PATCH", path(r), { color: e.target.value })));
      const name = tr.querySelector("input[data-rename]");
      name.addEventListener("keydown", (e) => { if (e.key === "Enter") name.blur(); });
      name.addEventListener("change", () => {
        if (name.value.trim() === r.tag) return;
        act(() => TW.send("PATCH", path(r), { rename_to: name.value }));
      });
      const reset = tr.querySelector("button[data-undefine]");
      if (reset) reset.addEventListener("click", () => act(() => TW.send("DELETE", path(r))));
    });
    const f = box.querySelector('form[data-testid="tag-define"]');
    if (!f) return;
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      act(() => TW.send("POST", "tags", { tag: f.tag.value, color: f.color.value, description: f.description.value }));
    });
  }

  // { value: "#rrggbb" } for the values of tag key `key` (for charts stacked by that key).
  async function colors(key, q) {
    const data = await TW.api("tags", q);
    return Object.fromEntries(data.tags.filter((t) => t.key === key).map((t) => [t.value, t.color]));
  }

  TW.tags = { show, colors };
})();
