"""The web UI's Simulation tab and controls — installed on the master only.

What goes where, and why (checked against Locust 2.47's ``web.py`` and its React build):

* **The tab** is one of Locust's ``extended_tabs`` with an ``extended_tables`` structure;
  its rows ride on the ``/stats/requests`` JSON the page already polls every 2 s (an
  ``after_request`` hook adds an ``extended_stats`` entry), so it refreshes with the page.
  ``?tab=simulation`` opens it directly.
* **The controls** cannot be in the tab: the React table renders each cell as escaped text
  (a per-column formatter exists but cannot be sent as JSON). So the harness serves
  ``<base>/simulation`` (status + three buttons, usable without JavaScript) and adds a small
  fixed button bar to Locust's page; the Download Data tab links the page and a CSV.
* **The charts** (sessions, orders, failures and slip per simulated hour) are drawn by the
  page's own script as inline SVG from ``<base>/simulation/hours``: on the ``/simulation``
  page, and in Locust's Simulation tab by the same script the bar adds, placed above the
  tab's table (outside React's nodes) while the tab is open; both redraw every 5 s.
* Every route is wrapped in ``web_ui.auth_required_if_enabled``: with ``--web-login`` they
  need the same login as Locust's own ``/swarm`` and ``/stop``. State changes are POST only.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from harness.agent.runtime import Director, director_of, runtime_of
from harness.config.locust_compat import ENDPOINT_INDEX, ENDPOINT_REQUEST_STATS
from harness.webui.page import control_page, index_bar
from harness.webui.rows import (
    STRUCTURE,
    TAB_KEY,
    TAB_TITLE,
    hour_points,
    rows_csv,
    status_rows,
    timing_rows,
)

if TYPE_CHECKING:
    from flask import Blueprint, Request, Response
    from flask.typing import ResponseReturnValue
    from locust.env import Environment
    from locust.web import WebUI


log = logging.getLogger("loadsim")

_BLUEPRINT = "loadsim_simulation"
_DEFAULT_REASON = "paused from the web UI"
_MAX_REASON = 200
_INSTALLED: weakref.WeakSet[WebUI] = weakref.WeakSet()
"""The web UIs the tab is installed on (nothing is hung on Locust's object)."""


def install_web_ui(environment: Environment, web_ui: WebUI) -> None:
    """Add the Simulation tab, its data hook and the control routes to Locust's web UI.

    Called from the ``init`` listener on the master/standalone when the web UI exists
    (before Locust starts serving, so the blueprint can still be registered). Repeat-safe.

    Args:
        environment: Locust's ``Environment``; its director (:func:`director_of`) is read at
            request time (it may be replaced, and has no run until the test starts).
        web_ui: Locust's ``WebUI``.
    """
    if web_ui in _INSTALLED:
        return
    _INSTALLED.add(web_ui)
    base = _base_path(environment)
    args = web_ui.template_args
    _append_once(args, "extended_tabs", {"title": TAB_TITLE, "key": TAB_KEY})
    _append_once(args, "extended_tables", {"key": TAB_KEY, "structure": STRUCTURE})
    # Relative hrefs resolve against Locust's page, which already carries the base path.
    _append_once(
        args,
        "extended_csv_files",
        {"href": "./simulation", "title": "Simulation controls (pause / resume / checkpoint)"},
    )
    _append_once(
        args,
        "extended_csv_files",
        {"href": "./simulation/status.csv", "title": "Download simulation status CSV"},
    )
    hook = _StatsHook(environment, base)
    app = web_ui.app
    assert app is not None  # WebUI.__init__ builds it (the attribute is typed Optional)
    app.after_request(hook)
    app.register_blueprint(build_blueprint(environment, web_ui, base_path=base))


def build_blueprint(environment: Environment, web_ui: WebUI, *, base_path: str) -> Blueprint:
    """The ``/simulation`` routes, each behind Locust's login when ``--web-login`` is on.

    Args:
        environment: Locust's ``Environment`` (the director is looked up per request).
        web_ui: Locust's ``WebUI`` (for ``auth_required_if_enabled``).
        base_path: ``--web-base-path`` (the blueprint's URL prefix).

    Returns:
        A Flask ``Blueprint`` named ``loadsim_simulation``.
    """
    from flask import Blueprint, Response, jsonify, request

    bp = Blueprint(_BLUEPRINT, __name__, url_prefix=base_path or None)
    auth = web_ui.auth_required_if_enabled

    def rows() -> list[dict[str, Any]]:
        return tab_rows(environment, base_path=base_path)

    def answer(body: dict[str, Any], code: int) -> ResponseReturnValue:
        # A browser form (no JavaScript) wants the page back, a script wants JSON.
        best = request.accept_mimetypes.best_match(["application/json", "text/html"])
        if best == "text/html" and request.mimetype != "application/json":
            return Response(
                control_page(
                    rows=rows(),
                    base_path=base_path,
                    message=body["message"],
                    hours=_hours(environment),
                ),  # fmt: skip
                status=code,
                mimetype="text/html",
            )
        return jsonify(body), code

    @bp.route("/simulation")
    @auth
    def page() -> Response:
        html = control_page(rows=rows(), base_path=base_path, hours=_hours(environment))
        return Response(html, mimetype="text/html")

    @bp.route("/simulation/hours")
    @auth
    def hours() -> Response:
        return jsonify({"hours": _hours(environment)})

    @bp.route("/simulation/status")
    @auth
    def status() -> Response:
        return jsonify({"status": _status(environment), "rows": rows()})

    @bp.route("/simulation/status.csv")
    @auth
    def status_csv() -> Response:
        return Response(
            rows_csv(rows()),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=simulation_status.csv"},
        )

    @bp.route("/simulation/pause", methods=["POST"])
    @auth
    def pause() -> ResponseReturnValue:
        body, code = pause_action(environment, reason=_reason(request))
        return answer(body, code)

    @bp.route("/simulation/resume", methods=["POST"])
    @auth
    def resume() -> ResponseReturnValue:
        body, code = resume_action(environment)
        return answer(body, code)

    @bp.route("/simulation/checkpoint", methods=["POST"])
    @auth
    def checkpoint() -> ResponseReturnValue:
        body, code = checkpoint_action(environment)
        return answer(body, code)

    return bp


def pause_action(environment: Environment, *, reason: str) -> tuple[dict[str, Any], int]:
    """Pause the simulated clock (and with it every user and the ramp).

    Args:
        environment: Locust's ``Environment``.
        reason: Why (logged and written to the run's event log).

    Returns:
        ``(body, http_status)``: 200 with ``changed`` false when already paused (the
        message names any step that failed after the clock stopped), 409 before a run has
        started, 503 when there is no director.
    """
    director = director_of(environment)
    if director is None:
        return _body("pause", False, "no simulation director in this process", None), 503
    if getattr(director, "run", None) is None:
        return _body("pause", False, "no run in progress: start one first", director), 409
    changed = bool(director.pause(reason))
    msg = f"paused: {reason}" if changed else "already paused"
    failed = getattr(getattr(director, "guard", None), "pause_error", None)
    if changed and failed:  # the clock stopped; what did not follow is said, not hidden
        msg = f"{msg}; {failed}"
    return _body("pause", changed, msg, director), 200


def resume_action(environment: Environment) -> tuple[dict[str, Any], int]:
    """Resume the simulated clock.

    Args:
        environment: Locust's ``Environment``.

    Returns:
        ``(body, http_status)``, as :func:`pause_action`; 500 when resuming raised (the
        error is logged; the clock may already run again: the status says).
    """
    director = director_of(environment)
    if director is None:
        return _body("resume", False, "no simulation director in this process", None), 503
    if getattr(director, "run", None) is None:
        return _body("resume", False, "no run in progress: start one first", director), 409
    try:
        changed = bool(director.resume())
    except Exception as exc:  # noqa: BLE001 - answer the UI; the run goes on
        log.exception("resume from the web UI failed")
        return _body("resume", False, f"resume failed: {exc}", director), 500
    return _body("resume", changed, "resumed" if changed else "not paused", director), 200


def checkpoint_action(environment: Environment) -> tuple[dict[str, Any], int]:
    """Write a checkpoint now.

    Args:
        environment: Locust's ``Environment``.

    Returns:
        ``(body, http_status)``: 200 with ``path`` (None when nothing was written), 409
        before a run, 500 when writing failed (the error is logged, the run goes on).
    """
    director = director_of(environment)
    if director is None:
        return _body("checkpoint", False, "no simulation director in this process", None), 503
    if getattr(director, "run", None) is None:
        return _body("checkpoint", False, "no run in progress: start one first", director), 409
    try:
        path = director.checkpoint()
    except Exception as exc:  # noqa: BLE001 - a failed checkpoint must not stop the run
        log.exception("checkpoint from the web UI failed")
        return _body("checkpoint", False, f"checkpoint failed: {exc}", director), 500
    msg = f"checkpoint written: {path}" if path else "no checkpoint written"
    body = _body("checkpoint", path is not None, msg, director)
    body["path"] = None if path is None else str(path)
    return body, 200


class _StatsHook:
    """``after_request``: add the tab's rows to ``/stats/requests``, the bar to the page.

    ``/stats/requests`` is memoized by Locust for 2 s and the cached ``Response`` object is
    returned again, so the hook builds a new response instead of editing the cached one
    (which would pile up entries). Any error here is logged and the original response
    returned: a broken tab must never break Locust's own statistics.
    """

    def __init__(self, environment: Environment, base_path: str) -> None:
        self.environment = environment
        self.base_path = base_path
        self._last_error_log = 0.0

    def __call__(self, response: Response) -> Response:
        from flask import request

        if response.status_code != 200:
            return response
        try:
            if request.endpoint == ENDPOINT_REQUEST_STATS and response.is_json:
                return self._with_rows(response)
            if request.endpoint == ENDPOINT_INDEX and response.mimetype == "text/html":
                return self._with_bar(response)
        except Exception:  # noqa: BLE001 - see the class docstring
            now = time.monotonic()
            if now - self._last_error_log > 60:  # the page polls every 2 s: log rarely
                self._last_error_log = now
                log.exception("Simulation tab: could not add its data")
        return response

    def _with_rows(self, response: Response) -> Response:
        from flask import current_app

        data = response.get_json()
        extended = [e for e in data.get("extended_stats") or [] if e.get("key") != TAB_KEY]
        rows = tab_rows(self.environment, base_path=self.base_path)
        extended.append({"key": TAB_KEY, "data": rows})
        data["extended_stats"] = extended
        return current_app.response_class(
            json.dumps(data, default=str), status=200, mimetype="application/json"
        )

    def _with_bar(self, response: Response) -> Response:
        html = response.get_data(as_text=True)
        at = html.rfind("</body>")
        if at < 0:
            return response
        response.set_data(html[:at] + index_bar(base_path=self.base_path) + html[at:])
        return response


def tab_rows(environment: Environment, *, base_path: str) -> list[dict[str, Any]]:
    """The Simulation tab's rows: the director's status, then the harness's own timings
    (merged from every process; Locust's request table holds only HTTP requests)."""
    rows = status_rows(_status(environment), base_path=base_path)
    rt = runtime_of(environment)
    timings = rt.timings.rows() if rt is not None else []
    return rows + timing_rows(timings, start=len(rows) + 1)


def _status(environment: Environment) -> dict[str, Any]:
    director = director_of(environment)
    return dict(director.status()) if director is not None else {}


def _hours(environment: Environment) -> list[dict[str, Any]]:
    director = director_of(environment)
    if director is None or director.run is None:
        return []
    return hour_points(director.agg.hours, current=max(director.current_hour, 0))


def _body(action: str, changed: bool, message: str, director: Director | None) -> dict[str, Any]:
    status = dict(director.status()) if director is not None else {}
    return {"action": action, "changed": changed, "message": message, "status": status}


def _reason(request: Request) -> str:
    """The pause reason from a JSON body or form field, bounded and on one line (it is
    logged and written to the run's event log)."""
    data = request.get_json(silent=True) if request.is_json else None
    raw = (data or {}).get("reason") if isinstance(data, dict) else request.form.get("reason")
    text = " ".join(str(raw or "").split())[:_MAX_REASON]
    return text or _DEFAULT_REASON


def _base_path(environment: Environment) -> str:
    opts = getattr(environment, "parsed_options", None)
    return (getattr(opts, "web_base_path", "") or "").rstrip("/")


def _append_once(args: dict[str, Any], key: str, item: dict[str, Any]) -> None:
    items = args.setdefault(key, [])
    if item not in items:
        items.append(item)
