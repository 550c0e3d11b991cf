"""Watching a run from outside: ``--prometheus-port`` (``harness.outputs.prometheus``) and
``--alert-webhook`` (``harness.control.alerts``), started on the master or a standalone
run once its director exists, stopped when Locust quits. Both read the director
(``harness.control.status.metrics_status``, the run's events), so this lives beside it.

Both options are read from Locust's parsed options and deliberately kept out of
``HarnessOptions``: a webhook URL is a secret (its path is the token) and must not be
written to the manifest or sent to the workers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from db.errors import ConfigError

if TYPE_CHECKING:
    from locust.env import Environment

    from harness.control.director import SimulationDirector

log = logging.getLogger("loadsim")


def start_observers(environment: Environment, director: SimulationDirector) -> None:
    """Start what the options ask for; ``ConfigError`` (exit 2) for a bad port or URL."""
    po = environment.parsed_options
    port = int(getattr(po, "prometheus_port", 0) or 0)
    hooks = [str(u) for u in (getattr(po, "alert_webhook", None) or []) if str(u).strip()]
    if not 0 <= port <= 65535:
        raise ConfigError(f"--prometheus-port {port}: expected 1-65535 (0: off)")
    sender = None
    if hooks:
        from harness.control.alerts import AlertSender
        from harness.outputs.run_files import RunFiles

        sender = AlertSender(hooks)
        RunFiles.listeners.append(sender.on_event)
        log.info("alerts: posting to %d webhook(s)", len(hooks))
    server = None
    if port:
        from harness.control.status import metrics_status
        from harness.outputs.prometheus import MetricsServer

        server = MetricsServer(lambda: metrics_status(director), port=port)
        log.info("prometheus: metrics on http://0.0.0.0:%d/metrics", server.port)
    if getattr(po, "otel", False):  # the same metrics through Locust's OTel meter provider
        from harness.control.status import metrics_status
        from harness.outputs.tracing import install_status_metrics

        install_status_metrics(lambda: metrics_status(director))

    def stop(**_: Any) -> None:
        # Locust fires ``quitting`` in reverse order: this may run before the harness's
        # own listener ends the run, so the alert sender stays (it waits for its queue
        # at the run-end line, ``AlertSender.on_event``).
        if server is not None:
            server.stop()

    if server is not None:
        environment.events.quitting.add_listener(stop)
