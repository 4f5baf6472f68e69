// tokenwatch charts: plain SVG and HTML strings built from API data, no library. Every
// function takes data and returns markup; callers put it into the page. Text is escaped here.
"use strict";
(function () {
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const color = (i) => `var(--s${Math.min(i, 8)})`;

  // A "nice" axis maximum and its ticks.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // The y axis: 5 gridlines from 0 to a nice maximum, labelled; the left margin fits the
  // longest label. Over nothing but zeros only the baseline is drawn, with a note.
  function yAxis(max, fmt, { W, H, T, B, R }, empty) {
    const labels = [0, 1, 2, 3, 4].map((i) => fmt(max * i / 4));
    const L = Math.max(40, Math.max(...labels.map((l) => l.length)) * 7 + 10);
    let out = "";
    for (let i = empty ? 0 : 4; i >= 0; i--) {
      const y = T + (H - T - B) * (1 - i / 4);
      out += `<line class="axis" x1="${L}" x2="${W - R}" y1="${y}" y2="${y}"/><text x="${L - 4}" y="${y + 4}" text-anchor="end">${esc(labels[i])}</text>`;
    }
    if (empty) out += `<text x="${(L + W) / 2}" y="${(T + H - B) / 2}" text-anchor="middle">nothing in this range</text>`;
    return { L, out };
  }

  // Stacked bars. points: [{label, title}] (title, optional: the hover text's name in place of
  // the label), keys: series names, value(point, key) -> number, fmt: axis number formatter.
  // Without keys, one series from total(point). colors: optional { key: css colour } (tags'
  // own colours); other keys take the theme's series colours.
  // Drawn at the width it is shown at (see TW.chartWidth), so text stays 11 px on a phone.
  function bars({ points, keys, value, total, fmt, colors = {}, height = 220, width = 800 }) {
    const W = width, H = height, B = 34, T = 8, R = 6;
    const series = keys && keys.length ? keys : ["total"];
    const val = keys && keys.length ? value : (p) => total(p);
    const sums = points.map((p) => series.reduce((a, k) => a + Math.max(0, val(p, k) || 0), 0));
    const max = niceMax(Math.max(0, ...sums));
    const axis = yAxis(max, fmt, { W, H, T, B, R }, sums.every((v) => v === 0)), L = axis.L;
    const n = Math.max(points.length, 1), bw = (W - L - R) / n;
    let out = `<svg viewBox="0 0 ${W} ${H}" role="img" preserveAspectRatio="xMidYMid meet">` + axis.out;
    const withYear = needsYear(points.map((p) => p.label));
    const every = Math.ceil(n / Math.max(2, Math.floor((W - L) / (withYear ? 110 : 80))));
    points.forEach((p, i) => {
      let y = H - B;
      const x = L + i * bw;
      series.forEach((k, si) => {
        const v = Math.max(0, val(p, k) || 0);
        const h = (H - T - B) * v / max;
        if (h > 0) out += `<rect x="${(x + bw * 0.1).toFixed(1)}" y="${(y - h).toFixed(1)}" width="${Math.max(bw * 0.8, 1).toFixed(1)}" height="${h.toFixed(1)}" style="fill:${esc(colors[k] || color(si))}"><title>${esc(p.title || p.label)} ${esc(k)}: ${esc(fmt(v))}</title></rect>`;
        y -= h;
      });
      if (i % every === 0) out += `<text x="${(x + bw / 2).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${esc(shortLabel(p.label, withYear))}</text>`;
    });
    out += `</svg>`;
    return out + legend(keys && keys.length ? keys : [], colors);
  }

  // Bucket labels ("2026-11-01 14:00", "2026-11-01", "2026-11") shortened for the axis. The
  // year is kept when the labels span more than one year or more than 180 days, so a long range
  // never leaves the reader guessing which November a bar is.
  const LABEL = /^(\d{4})-(\d\d)(?:-(\d\d)(?: (\d\d):(\d\d))?)?$/;
  function needsYear(labels) {
    const parsed = labels.map((l) => LABEL.exec(l)).filter(Boolean);
    if (parsed.length < 2) return false;
    const first = parsed[0], last = parsed[parsed.length - 1];
    if (first[1] !== last[1]) return true;
    const day = (m) => Date.UTC(+m[1], +m[2] - 1, +(m[3] || 1));
    return day(last) - day(first) > 180 * 86400000;
  }
  function shortLabel(l, withYear) {
    // "2026-11-01 14:00" -> "11-01 14h"; "2026-11-01" -> "11-01"; "2026-11" stays. With the
    // year: "2025-11-01 14h", "2025-11-01".
    const m = LABEL.exec(l);
    if (!m || !m[3]) return l;
    const date = withYear ? `${m[1]}-${m[2]}-${m[3]}` : `${m[2]}-${m[3]}`;
    return m[4] ? `${date} ${m[4]}h` : date;
  }

  function legend(keys, colors = {}) {
    if (!keys.length) return "";
    return `<div class="legend">${keys.map((k, i) => `<span><i style="background:${esc(colors[k] || color(i))}"></i>${esc(k || "(none)")}</span>`).join("")}</div>`;
  }

  // A line of (x index, y) values, e.g. cumulative cost over a session's turns.
  function line({ values, labels, fmt, height = 180, width = 800 }) {
    const W = width, H = height, B = 24, T = 8, R = 6;
    const max = niceMax(Math.max(0, ...values));
    const axis = yAxis(max, fmt, { W, H, T, B, R }, false), L = axis.L;
    const n = Math.max(values.length - 1, 1);
    const pts = values.map((v, i) => `${(L + (W - L - R) * i / n).toFixed(1)},${(T + (H - T - B) * (1 - v / max)).toFixed(1)}`);
    let out = `<svg viewBox="0 0 ${W} ${H}" role="img">` + axis.out;
    out += `<polyline style="fill:none;stroke:var(--s0);stroke-width:2" points="${pts.join(" ")}"/>`;
    values.forEach((v, i) => {
      const [x, y] = pts[i].split(",");
      out += `<circle cx="${x}" cy="${y}" r="3" style="fill:var(--s1)"><title>${esc(labels ? labels[i] : i + 1)}: ${esc(fmt(v))}</title></circle>`;
    });
    return out + `</svg>`;
  }

  // Several lines over the same x points (a session's turns), on an axis from 0 to `max`
  // (fixed, e.g. 100 for percentages; else fitted). A null value leaves a gap in its line.
  // guides: [{value, label, tone}] dashed horizontal lines (thresholds), tone a CSS colour
  // variable's name. Every point has a title (its `titles` entry, else its label) and value;
  // the x axis labels at most one point per 40 px.
  function series({ labels, titles, lines, max, fmt, guides = [], height = 200, width = 800 }) {
    const W = width, H = height, B = 24, T = 8, R = 6;
    const all = lines.flatMap((l) => l.values).filter((v) => v !== null && v !== undefined);
    const top = max || niceMax(Math.max(0, ...all));
    const axis = yAxis(top, fmt, { W, H, T, B, R }, false), L = axis.L;
    const n = labels.length;
    const x = (i) => (n < 2 ? (L + W - R) / 2 : L + (W - L - R) * i / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - Math.min(v, top) / top);
    let out = `<svg viewBox="0 0 ${W} ${H}" role="img">` + axis.out;
    for (const g of guides) {
      const gy = y(g.value).toFixed(1), tone = `var(--${esc(g.tone || "dim")})`;
      out += `<line x1="${L}" x2="${W - R}" y1="${gy}" y2="${gy}" style="stroke:${tone};stroke-dasharray:4 3"/>` +
        `<text x="${W - R - 2}" y="${(gy - 3).toFixed(1)}" text-anchor="end" style="fill:${tone}">${esc(g.label)}</text>`;
    }
    lines.forEach((l, si) => {
      // Runs of known values, each drawn as one polyline.
      let run = [];
      const flush = () => {
        if (run.length > 1) out += `<polyline style="fill:none;stroke:${color(si)};stroke-width:2" points="${run.join(" ")}"/>`;
        run = [];
      };
      l.values.forEach((v, i) => {
        if (v === null || v === undefined) { flush(); return; }
        run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      });
      flush();
      l.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        out += `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" style="fill:${color(si)}"><title>${esc((titles || labels)[i])} · ${esc(l.name)}: ${esc(fmt(v))}</title></circle>`;
      });
    });
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor((W - L - R) / 40))));
    labels.forEach((lab, i) => {
      if (i % every === 0) out += `<text x="${x(i).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${esc(lab)}</text>`;
    });
    return out + `</svg>` + legend(lines.map((l) => l.name));
  }

  // Horizontal bars in text: name, value, and a block meter (the terminal look).
  function hbars(rows, { name, value, fmt, share }) {
    if (!rows.length) return `<p class="muted">nothing in this range</p>`;
    const max = Math.max(...rows.map(value), 0) || 1;
    return `<div class="rows">${rows.map((r) => {
      const f = value(r) / max, w = 24, full = Math.round(f * w);
      const pct = share ? ` (${(share(r) * 100).toFixed(1)}%)` : "";
      return `<div class="hb"><span class="name" title="${esc(name(r))}">${esc(name(r) || "(none)")}</span><span>${esc(fmt(value(r)))}${pct}</span><span class="meter" aria-hidden="true">${"█".repeat(full)}${"░".repeat(w - full)}</span></div>`;
    }).join("")}</div>`;
  }

  // Weekday × hour grid; intensity from value(cell), with a scale below. It fills its panel's
  // width (the caller gives it a wide panel); cell height grows with the viewport (app.css).
  function heatmap(cells, { value, fmt }) {
    const max = Math.max(...cells.map(value), 0) || 1;
    const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let out = `<div class="heat" role="img" aria-label="usage by weekday and hour"><div class="lab"></div>`;
    for (let h = 0; h < 24; h++) out += `<div class="lab hour">${h % 3 === 0 ? h : ""}</div>`;
    for (let d = 0; d < 7; d++) {
      out += `<div class="lab">${days[d]}</div>`;
      for (let h = 0; h < 24; h++) {
        const c = cells[d * 24 + h], v = value(c), a = v > 0 ? 0.15 + 0.85 * v / max : 0;
        out += `<div class="cell" title="${days[d]} ${h}:00–${h + 1}:00 · ${esc(fmt(v))}"><i style="opacity:${a.toFixed(2)}"></i></div>`;
      }
    }
    out += `</div><div class="heat-scale muted"><span>0</span><span class="ramp" aria-hidden="true">${[0.15, 0.36, 0.58, 0.79, 1].map((a) => `<i style="opacity:${a}"></i>`).join("")}</span><span>${esc(fmt(Math.max(...cells.map(value), 0)))}</span></div>`;
    return out;
  }

  // A single stacked strip of parts [{name, value}] (prompt composition, token kinds).
  function strip(parts) {
    const total = parts.reduce((a, p) => a + p.value, 0) || 1;
    return `<div class="stack">${parts.map((p, i) => `<span style="width:${(100 * p.value / total).toFixed(2)}%;background:${color(i)}" title="${esc(p.name)}: ${p.value}"></span>`).join("")}</div>` +
      legend(parts.map((p) => `${p.name} ${(100 * p.value / total).toFixed(1)}%`));
  }

  window.TWCharts = { bars, line, series, hbars, heatmap, strip, esc, legend };
})();
