"""HTML for the Simulation controls: the ``/simulation`` page and the bar added to Locust's UI.

Locust's extended tabs render rows as escaped text, so buttons cannot live in the tab
itself. The controls are therefore (1) a small page served by the harness's blueprint
(works without JavaScript: plain form POSTs answered with a redirect) and (2) a fixed bar
appended to Locust's ``index.html`` outside React's ``#root`` (React never re-renders it).
Both call the same POST endpoints. Pure string building; no Flask here.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

# The owner chose a slow (5 s) dashboard refresh plus updates on events:
# the page polls every 5 s and refreshes at once after a button press.
REFRESH_MS = 5000

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;background:#fafafa;color:#222}
table{border-collapse:collapse;min-width:40rem;background:#fff}
td,th{border-bottom:1px solid #ddd;padding:.45rem .8rem;text-align:left}
th{background:#f0f0f0}
form{display:inline-block;margin-right:.5rem}
button{font-size:1rem;padding:.4rem 1rem;cursor:pointer}
#msg{margin:1rem 0;min-height:1.4rem;font-weight:600}
.paused{color:#b00020}
"""

_HOURS_JS = """
// The simulated clock's story, per simulated hour: drawn as inline SVG by this script
// (no library, nothing fetched but the harness's own /simulation/hours).
const LOADSIM_SERIES = [
  {key: "sessions", label: "sessions", color: "#1f77b4", chart: "counts"},
  {key: "orders", label: "orders", color: "#2ca02c", chart: "counts"},
  {key: "failed", label: "failed flows", color: "#d62728", chart: "counts"},
  {key: "missed", label: "missed", color: "#ff7f0e", chart: "counts"},
  {key: "slip_p50_ms", label: "slip p50", color: "#9467bd", chart: "slip"},
  {key: "slip_p99_ms", label: "slip p99", color: "#8c564b", chart: "slip"},
];
const LOADSIM_SVG = "http://www.w3.org/2000/svg";
function loadsimEl(tag, attrs, text) {
  const el = document.createElementNS(LOADSIM_SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}
function loadsimNice(max) {
  if (!(max > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}
function loadsimChart(id, title, unit, hours, chart) {
  const W = 560, H = 240, L = 56, R = 12, T = 42, B = 34;
  const svg = loadsimEl("svg", {id: id, viewBox: `0 0 ${W} ${H}`, width: W, height: H,
    role: "img", "aria-label": title, "data-points": hours.length});
  svg.style.cssText = "display:block;background:#fff;border:1px solid #ddd;max-width:100%";
  svg.appendChild(loadsimEl("text", {x: L, y: 17, "font-size": 13, "font-weight": 600,
    fill: "#222"}, title));
  const series = LOADSIM_SERIES.filter((s) => s.chart === chart);
  let max = 0;
  for (const h of hours) for (const s of series) if (h[s.key] != null) max = Math.max(max, h[s.key]);
  const top = 4 * loadsimNice(max / 4);
  const n = hours.length;
  const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  for (let k = 0; k <= 4; k++) {
    const v = top * k / 4;
    svg.appendChild(loadsimEl("line", {x1: L, x2: W - R, y1: y(v), y2: y(v),
      stroke: k ? "#eee" : "#999"}));
    svg.appendChild(loadsimEl("text", {x: L - 6, y: y(v) + 4, "text-anchor": "end",
      "font-size": 10, fill: "#555"}, (Number.isInteger(v) ? v : v.toFixed(1)) + (k === 4 ? " " + unit : "")));
  }
  const every = Math.max(1, Math.ceil(n / 12));
  hours.forEach((h, i) => {
    if (i % every === 0 || (i === n - 1 && i % every > every / 2)) {
      svg.appendChild(loadsimEl("text", {x: x(i), y: H - B + 14, "text-anchor": "middle",
        "font-size": 10, fill: "#555"}, String(h.hour)));
    }
  });
  svg.appendChild(loadsimEl("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle",
    "font-size": 10, fill: "#555"}, "simulated hour of the run"));
  let lx = L;
  for (const s of series) {
    const pts = [];
    const g = loadsimEl("g", {"class": "series", "data-series": s.key});
    hours.forEach((h, i) => {
      const v = h[s.key];
      if (v == null) return;
      pts.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      const c = loadsimEl("circle", {cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.6,
        fill: s.color, "class": "pt", "data-hour": h.hour, "data-value": v});
      c.appendChild(loadsimEl("title", {}, `hour ${h.hour}: ${s.label} ${v}`));
      g.appendChild(c);
    });
    if (pts.length > 1) {
      g.insertBefore(loadsimEl("polyline", {points: pts.join(" "), fill: "none",
        stroke: s.color, "stroke-width": 1.6}), g.firstChild);
    }
    svg.appendChild(g);
    svg.appendChild(loadsimEl("rect", {x: lx, y: 28, width: 10, height: 3, fill: s.color}));
    svg.appendChild(loadsimEl("text", {x: lx + 13, y: 32, "font-size": 10, fill: "#333"},
      s.label));
    lx += 20 + 6 * s.label.length;
  }
  return svg;
}
function loadsimCell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  td.style.cssText = "padding:2px 10px;border-bottom:1px solid #eee;text-align:right";
  tr.appendChild(td);
}
function loadsimDrawHours(panel, hours) {
  const charts = document.createElement("div");
  charts.style.cssText = "display:flex;flex-wrap:wrap;gap:8px;margin-bottom:8px";
  charts.appendChild(loadsimChart("loadsim-chart-counts",
    "Sessions, orders, failures per simulated hour", "", hours, "counts"));
  charts.appendChild(loadsimChart("loadsim-chart-slip", "Slip per simulated hour", "ms",
    hours, "slip"));
  const table = document.createElement("table");
  table.id = "loadsim-hours-table";
  table.style.cssText = "border-collapse:collapse;background:#fff;font-size:12px";
  const head = document.createElement("tr");
  for (const t of ["Sim hour", "Sessions", "Orders", "Failed", "Missed", "Slip p50 ms",
                   "Slip p99 ms"]) {
    const th = document.createElement("th");
    th.textContent = t;
    th.style.cssText = "padding:3px 10px;border-bottom:1px solid #ccc;text-align:right";
    head.appendChild(th);
  }
  const thead = document.createElement("thead");
  thead.appendChild(head);
  const tbody = document.createElement("tbody");
  for (const h of hours) {
    const tr = document.createElement("tr");
    tr.dataset.hour = h.hour;
    for (const k of ["hour", "sessions", "orders", "failed", "missed"]) loadsimCell(tr, String(h[k]));
    for (const k of ["slip_p50_ms", "slip_p99_ms"]) loadsimCell(tr, h[k] == null ? "—" : String(h[k]));
    tbody.appendChild(tr);
  }
  table.append(thead, tbody);
  panel.replaceChildren(charts, table);
  panel.dataset.hours = hours.length;
  panel.dataset.updates = String(Number(panel.dataset.updates || 0) + 1);
}
async function loadsimRefreshHours(base, panel) {
  try {
    const r = await fetch(base + "/simulation/hours", {headers: {Accept: "application/json"}});
    if (!r.ok) return;
    loadsimDrawHours(panel, (await r.json()).hours);
  } catch (e) { /* the master may be stopping; try again at the next tick */ }
}
"""
"""The charts' script, shared by the ``/simulation`` page and the tab (through the bar).
Joined to the others after they are %-formatted (it has ``%`` of its own), and first: its
constants exist before their code runs."""

_PAGE_JS = """
const BASE = %(base)s;
async function refresh() {
  try {
    const r = await fetch(BASE + "/simulation/status", {headers: {Accept: "application/json"}});
    if (!r.ok) return;
    const body = await r.json();
    const tbody = document.getElementById("rows");
    tbody.replaceChildren(...body.rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.key = row.key;
      for (const k of ["metric", "value"]) {
        const td = document.createElement("td");
        td.textContent = row[k];
        td.className = k;
        tr.appendChild(td);
      }
      if (row.key === "state" && row.raw === "paused") tr.className = "paused";
      return tr;
    }));
  } catch (e) { /* the master may be stopping; try again at the next tick */ }
}
for (const form of document.querySelectorAll("form[data-action]")) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch(form.action, {method: "POST", headers: {Accept: "application/json"}});
    let text = r.status + " " + r.statusText;
    try { text = (await r.json()).message || text; } catch (e) {}
    document.getElementById("msg").textContent = text;
    refresh();
  });
}
setInterval(refresh, %(refresh)d);
const HOURS = document.getElementById("loadsim-hours");
loadsimRefreshHours(BASE, HOURS);
setInterval(() => loadsimRefreshHours(BASE, HOURS), %(refresh)d);
"""


def control_page(
    *,
    rows: list[dict[str, Any]],
    base_path: str,
    message: str = "",
    hours: list[dict[str, Any]] | None = None,
) -> str:
    """The ``/simulation`` page: the tab's rows and Pause / Resume / Checkpoint buttons.

    Args:
        rows: :func:`harness.webui.rows.status_rows` output, rendered server-side so the
            page is complete without JavaScript (and for ``--dump-dom`` checks).
        base_path: Locust's ``--web-base-path``.
        message: The result of the last action (shown after a no-JavaScript form POST).
        hours: :func:`harness.webui.rows.hour_points` output: its table is rendered here,
            the charts above it by the page's script (redrawn every refresh).

    Returns:
        A complete HTML document.
    """
    body = "\n".join(
        f'<tr data-key="{escape(r["key"])}"'
        f"{' class=paused' if r['key'] == 'state' and r['raw'] == 'paused' else ''}>"
        f'<td class="metric">{escape(str(r["metric"]))}</td>'
        f'<td class="value">{escape(str(r["value"]))}</td></tr>'
        for r in rows
    )
    buttons = "".join(
        f'<form method="post" action="{escape(base_path)}/simulation/{a}" data-action="{a}">'
        f'<button type="submit" id="btn-{a}">{label}</button></form>'
        for a, label in (("pause", "Pause"), ("resume", "Resume"), ("checkpoint", "Checkpoint"))
    )
    js = _HOURS_JS + _PAGE_JS % {"base": _js_str(base_path), "refresh": REFRESH_MS}
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Simulation — loadsim</title>"
        f"<style>{_STYLE}</style></head><body>"
        f'<h1>Simulation</h1><p><a href="{escape(base_path)}/?tab=simulation">'
        "← back to Locust</a></p>"
        f"<div>{buttons}</div><div id=msg>{escape(message)}</div>"
        f"<h2>Per simulated hour</h2><div id=loadsim-hours>{_hours_table(hours or [])}</div>"
        f"<h2>Now</h2><table><thead><tr><th>Metric</th><th>Value</th></tr></thead>"
        f"<tbody id=rows>{body}</tbody></table>"
        f"<script>{js}</script></body></html>"
    )


def _hours_table(hours: list[dict[str, Any]]) -> str:
    """The hours' table without JavaScript (the script replaces it with charts + table)."""
    head = "".join(
        f"<th>{t}</th>"
        for t in ("Sim hour", "Sessions", "Orders", "Failed", "Missed", "Slip p50 ms",
                  "Slip p99 ms")
    )  # fmt: skip
    body = "".join(
        f'<tr data-hour="{int(h["hour"])}">'
        + "".join(
            f"<td>{int(h[k])}</td>" for k in ("hour", "sessions", "orders", "failed", "missed")
        )
        + "".join(f"<td>{_dash(h[k])}</td>" for k in ("slip_p50_ms", "slip_p99_ms"))
        + "</tr>"
        for h in hours
    )
    return (
        f"<table id=loadsim-hours-table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _dash(v: float | None) -> str:
    return "—" if v is None else escape(f"{v:g}")


_BAR_JS = """
(function () {
  const BASE = %(base)s;
  const bar = document.createElement("div");
  bar.id = "loadsim-sim-bar";
  bar.style.cssText = "position:fixed;right:12px;bottom:12px;z-index:2000;padding:6px 10px;" +
    "background:#1e2a38;color:#fff;border-radius:6px;font:13px system-ui,sans-serif;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.3);display:flex;gap:6px;align-items:center";
  const label = document.createElement("span");
  label.textContent = "Simulation";
  bar.appendChild(label);
  for (const [action, text] of [["pause", "Pause"], ["resume", "Resume"], ["checkpoint", "Checkpoint"]]) {
    const b = document.createElement("button");
    b.textContent = text;
    b.id = "loadsim-" + action;
    b.style.cssText = "font:inherit;padding:2px 8px;cursor:pointer";
    b.onclick = async () => {
      const r = await fetch(BASE + "/simulation/" + action,
                            {method: "POST", headers: {Accept: "application/json"}});
      let msg = r.status + " " + r.statusText;
      try { msg = (await r.json()).message || msg; } catch (e) {}
      label.textContent = msg;
      setTimeout(refresh, 3000);  // the outcome stays readable, then the state returns
    };
    bar.appendChild(b);
  }
  const link = document.createElement("a");
  link.href = BASE + "/simulation";
  link.textContent = "details";
  link.style.color = "#9cf";
  bar.appendChild(link);
  document.body.appendChild(bar);
  // Room to scroll the last table row out from under the fixed bar.
  document.body.style.paddingBottom = "56px";
  // Locust's header keeps saying RUNNING while the simulated clock is paused (a breaker
  // trip, say), so the bar shows the simulation's own state on every tab.
  async function refresh() {
    try {
      const r = await fetch(BASE + "/simulation/status", {headers: {Accept: "application/json"}});
      if (!r.ok) return;
      const s = (await r.json()).status;
      const paused = !!s.paused;
      label.textContent = !s.run_id ? "Simulation: not started"
        : paused ? "Simulation PAUSED" + (s.paused_reason ? ": " + s.paused_reason : "")
        : "Simulation: running";
      bar.style.background = paused ? "#b00020" : "#1e2a38";
    } catch (e) { /* the master may be stopping; try again at the next tick */ }
  }
  refresh();
  setInterval(refresh, %(refresh)d);
  // The Simulation tab's charts: above the tab's table (found by its clock row), outside
  // React's own nodes; hidden while another tab is open.
  const panel = document.createElement("div");
  panel.id = "loadsim-hours";
  panel.style.cssText = "margin:12px 0;font:13px system-ui,sans-serif";
  let drawnAt = 0;
  function place() {
    const cell = [...document.querySelectorAll("td")].find(
      (td) => td.textContent.trim() === "Simulated clock");
    if (!cell) {
      panel.style.display = "none";
      return;
    }
    const table = cell.closest("table");
    const anchor = table.closest(".MuiTableContainer-root") || table;
    if (anchor.previousSibling !== panel) anchor.before(panel);
    panel.style.display = "";
    if (Date.now() - drawnAt >= %(refresh)d) {
      drawnAt = Date.now();
      loadsimRefreshHours(BASE, panel);
    }
  }
  place();
  setInterval(place, 1000);
})();
"""


def index_bar(*, base_path: str) -> str:
    """A ``<script>`` that adds the fixed Pause / Resume / Checkpoint bar to Locust's page.

    Args:
        base_path: Locust's ``--web-base-path``.

    Returns:
        HTML to insert before ``</body>`` of Locust's ``index.html``.
    """
    js = _HOURS_JS + _BAR_JS % {"base": _js_str(base_path), "refresh": REFRESH_MS}
    return "<script>" + js + "</script>"


def _js_str(value: str) -> str:
    """A JavaScript string literal that cannot close the surrounding ``<script>``."""
    return json.dumps(value).replace("<", "\\u003c")
