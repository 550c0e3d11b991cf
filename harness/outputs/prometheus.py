"""``--prometheus-port PORT``: the simulation's live state on ``/metrics`` in the
Prometheus text exposition format (version 0.0.4), on the master (or a standalone run).

Names are prefixed ``loadsim_``; Locust's own request statistics are not repeated here
(scrape them with a Locust exporter, or read ``report.html``). The page is rendered from a
*status* dict on every scrape — ``harness.control.status.metrics_status`` on a run, any
dict of the same shape in a test — so the exporter holds no state of its own.

The server is the standard library's threaded HTTP server: in a Locust process (gevent
patched) its threads are greenlets; elsewhere (tests) real threads.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from db.errors import ConfigError

log = logging.getLogger("loadsim")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("closed", "open")

Reader = Callable[[dict[str, Any]], float | None]
"""How a metric is read from the status dict (``None``: not known now, left out)."""

# (name, type, help, how to read it from the status dict)
_METRICS: list[tuple[str, str, str, Reader]] = [
    ("loadsim_sim_hour", "gauge", "Simulated hour the clock is in (0 = the run's start).",
     lambda s: s.get("sim_hour")),
    ("loadsim_sim_time_seconds", "gauge", "Simulated time, Unix seconds.",
     lambda s: s.get("sim_time_seconds")),
    ("loadsim_time_scale", "gauge", "Simulated seconds per real second (set).",
     lambda s: s.get("time_scale")),
    ("loadsim_paused", "gauge", "1 while the simulated clock is paused.",
     lambda s: _flag(s.get("paused"))),
    ("loadsim_ramp_fraction", "gauge", "Share of the personas the ramp asks for now (0-1).",
     lambda s: s.get("ramp_fraction")),
    ("loadsim_agents_target", "gauge", "Agents the ramp asks for now.",
     lambda s: s.get("target_users")),
    ("loadsim_agents_active", "gauge", "Agents bound to a persona now (leased).",
     lambda s: s.get("personas_leased")),
    ("loadsim_personas", "gauge", "Personas the run can draw agents from.",
     lambda s: s.get("personas_total")),
    ("loadsim_sessions_total", "counter", "Sessions started (shop and idle browse), all hours.",
     lambda s: _total(s, "shopped", "idle")),
    ("loadsim_shop_sessions_total", "counter", "Shop sessions, all hours.",
     lambda s: _total(s, "shopped")),
    ("loadsim_orders_total", "counter", "Orders placed, all hours.",
     lambda s: _total(s, "orders")),
    ("loadsim_failed_flows_total", "counter", "Agent-hours whose flow failed, all hours.",
     lambda s: _total(s, "failed")),
    ("loadsim_missed_sessions_total", "counter", "Agent-hours missed (slot not acted), all hours.",
     lambda s: _total(s, "missed")),
    ("loadsim_hour_sessions", "gauge", "Sessions in the current simulated hour so far.",
     lambda s: s.get("hour_sessions")),
    ("loadsim_hour_orders", "gauge", "Orders in the current simulated hour so far.",
     lambda s: s.get("hour_orders")),
    ("loadsim_hour_failed_flows", "gauge", "Failed flows in the current simulated hour so far.",
     lambda s: s.get("hour_failed")),
    ("loadsim_slip_p95_ms", "gauge", "Slip p95 of the current simulated hour, milliseconds.",
     lambda s: s.get("slip_p95_ms")),
    ("loadsim_slip_p99_ms", "gauge", "Slip p99 of the current simulated hour, milliseconds.",
     lambda s: s.get("slip_p99_ms")),
    ("loadsim_breaker_open", "gauge", "1 while the circuit breaker is open (tripped).",
     lambda s: None if s.get("breaker") is None else _flag(s["breaker"] == "open")),
    ("loadsim_offer_cycle", "gauge", "Offer cycle the simulated clock is in.",
     lambda s: s.get("offer_cycle")),
    ("loadsim_offer_cycles_total", "counter", "Offer cycles run by this run.",
     lambda s: s.get("offer_cycles_run")),
]  # fmt: skip
METRICS = _METRICS
"""Every metric as (name, type, help, reader of the status); ``harness.outputs.tracing``
registers the same ones with OpenTelemetry."""


def _flag(v: object) -> int | None:
    return None if v is None else int(bool(v))


def _total(s: dict[str, Any], *keys: str) -> int | None:
    totals = s.get("totals")
    if not isinstance(totals, dict):
        return None
    return sum(int(totals.get(k) or 0) for k in keys)


def render_metrics(status: dict[str, Any]) -> str:
    """The exposition text for one status dict; unknown values are left out."""
    out: list[str] = []
    run_id = str(status.get("run_id") or "")
    out += ["# HELP loadsim_run_info The run this process serves (value always 1).",
            "# TYPE loadsim_run_info gauge",
            f'loadsim_run_info{{run_id="{_label(run_id)}"}} 1']  # fmt: skip
    for name, kind, help_text, read in _METRICS:
        value = read(status)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {_val(value)}"]
    breaker = status.get("breaker")
    if breaker is not None:
        out += ["# HELP loadsim_breaker_state Circuit breaker state (1 on the current one).",
                "# TYPE loadsim_breaker_state gauge"]  # fmt: skip
        out += [f'loadsim_breaker_state{{state="{s}"}} {int(breaker == s)}' for s in BREAKER_STATES]
    return "\n".join(out) + "\n"


def _val(v: float) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsServer:
    """``GET /metrics`` rendered from ``source()`` on every scrape."""

    def __init__(self, source: Callable[[], dict[str, Any]], *, port: int, host: str = "") -> None:
        self.source = source
        handler = _handler(self)
        try:
            self.httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"--prometheus-port {port}: cannot listen on {host or '*'}:{port} "
                f"({exc.strerror or type(exc).__name__})"
            ) from None
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="loadsim-prometheus", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            if self.path.split("?")[0] != "/metrics":
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics\n")
                return
            try:
                body = render_metrics(server.source()).encode("utf-8")
            except Exception:  # noqa: BLE001 - a scrape must not take the run down
                log.exception("prometheus: rendering /metrics failed")
                self._send(500, "text/plain; charset=utf-8", b"metrics unavailable\n")
                return
            self._send(200, CONTENT_TYPE, body)

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # scrapes every few seconds would flood the run's log

    return Handler
