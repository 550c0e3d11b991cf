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
"""


def control_page(*, rows: list[dict[str, Any]], base_path: str, message: str = "") -> str:
    """The ``/simulation`` page: the tab's rows and Pause / Resume / Checkpoint buttons.

    Args:
        rows: :func:`harness.webui.rows.status_rows` output, rendered server-side so the
            page is complete without JavaScript (and for ``--dump-dom`` checks).
        base_path: Locust's ``--web-base-path``.
        message: The result of the last action (shown after a no-JavaScript form POST).

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
    js = _PAGE_JS % {"base": _js_str(base_path), "refresh": REFRESH_MS}
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Simulation — loadsim</title>"
        f"<style>{_STYLE}</style></head><body>"
        f'<h1>Simulation</h1><p><a href="{escape(base_path)}/?tab=simulation">'
        "← back to Locust</a></p>"
        f"<div>{buttons}</div><div id=msg>{escape(message)}</div>"
        f"<table><thead><tr><th>Metric</th><th>Value</th></tr></thead>"
        f"<tbody id=rows>{body}</tbody></table>"
        f"<script>{js}</script></body></html>"
    )


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
})();
"""


def index_bar(*, base_path: str) -> str:
    """A ``<script>`` that adds the fixed Pause / Resume / Checkpoint bar to Locust's page.

    Args:
        base_path: Locust's ``--web-base-path``.

    Returns:
        HTML to insert before ``</body>`` of Locust's ``index.html``.
    """
    js = _BAR_JS % {"base": _js_str(base_path), "refresh": REFRESH_MS}
    return "<script>" + js + "</script>"


def _js_str(value: str) -> str:
    """A JavaScript string literal that cannot close the surrounding ``<script>``."""
    return json.dumps(value).replace("<", "\\u003c")
