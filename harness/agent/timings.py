"""The harness's own timings, in their own instrument — never in Locust's statistics.

Locust's stats (console table, web UI, ``*_stats.csv``, HTML report, exit code, ``--otel``)
hold exactly the HTTP requests sent to the target. What the harness measures about itself
goes here instead, one HDR histogram per name:

=========================  =============================================================
``action_slip``            ``--pace on``: how late an action ran after its simulated moment
``db.<statement>``         the recorder's transactions (``claim_hour``, ``session_commit``,
                           ``quiet_hours_batch``), retries included; errors counted
``graph.shopping_graph``   the LangGraph run of one hour, its HTTP requests and rate-limit
                           waits included (a paced session's waiting excluded)
``lease.round_trip``       a user's lease request until its grant arrived
``offer_cycle.<engine>``   one offer-cycle pass (``local``: this project's engine on the
                           database; ``target``: the target's own cycle route)
=========================  =============================================================

Values are recorded in microseconds (2 significant digits, 1 µs – ~2.8 hours) and shown in
milliseconds. A worker ships what it recorded since its last report inside Locust's
``report_to_master`` (:data:`REPORT_KEY`: name → base64 HDR + error count, msgpack-safe)
and starts afresh; the master merges every worker's into its own (``merge``). At the end
of a run the master writes :data:`TIMINGS_CSV` in the run directory; the Simulation tab
shows :meth:`HarnessTimings.rows` live. With Locust's ``--otel`` and the OpenTelemetry SDK
installed, each process also records into OTel histograms named ``loadsim.<name>``
(seconds), exported by the meter provider Locust set up.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdrh.histogram import HdrHistogram

from reports.harness_timings import COLUMNS, GRAPH_TIMING, TIMINGS_CSV

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, Meter

log = logging.getLogger("loadsim")

REPORT_KEY = "loadsim_timings"
"""The key of the timings inside a worker's ``report_to_master`` data."""

SLIP = "action_slip"
GRAPH = GRAPH_TIMING
"""The graph's timing (``reports.compare`` reads its p95 as the flow's latency)."""
LEASE = "lease.round_trip"


def db_name(statement: str) -> str:
    return f"db.{statement}"


def cycle_name(engine: str) -> str:
    return f"offer_cycle.{engine}"


_MAX_US = 10**10
_DIGITS = 2
_OTEL_PREFIX = "loadsim."


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, _DIGITS)


def _ms(us: float) -> float:
    return round(us / 1000.0, 3)


class HarnessTimings:
    """One process's harness timings (on the master: its own plus every worker's)."""

    def __init__(self) -> None:
        self._hist: dict[str, HdrHistogram] = {}
        self._errors: dict[str, int] = {}
        self._otel: dict[str, Histogram] | None = None
        self._meter: Meter | None = None

    # ---------------------------------------------------------------- recording

    def record(self, name: str, ms: float, *, error: bool = False) -> None:
        """Add one timing of ``name`` (milliseconds; negative counts as 0)."""
        h = self._hist.get(name)
        if h is None:
            h = self._hist[name] = _histogram()
        us = int(round(max(0.0, ms) * 1000.0))
        h.record_value(min(_MAX_US, max(1, us)))
        if error:
            self._errors[name] = self._errors.get(name, 0) + 1
        if self._meter is not None:
            self._otel_record(name, ms, error)

    # ---------------------------------------------------------------- workers → master

    def drain(self) -> dict[str, dict[str, Any]]:
        """What was recorded since the last drain, msgpack-safe; then start afresh."""
        out: dict[str, dict[str, Any]] = {}
        for name, h in self._hist.items():
            if h.get_total_count():
                out[name] = {
                    "hdr": h.encode().decode("ascii"),
                    "errors": self._errors.get(name, 0),
                }
        self._hist, self._errors = {}, {}
        return out

    def merge(self, wire: object, *, sender: str = "a worker") -> None:
        """Add a worker's :meth:`drain` output. A malformed entry (not the harness's
        worker, or another version) is logged and skipped: it must not stop the master."""
        if not isinstance(wire, dict):
            if wire is not None:
                log.warning("harness timings from %s: expected a map, ignored", sender)
            return
        for name, data in wire.items():
            try:
                if not isinstance(name, str) or not isinstance(data, dict):
                    raise ValueError("expected name → {hdr, errors}")
                errors = data.get("errors", 0)
                if not isinstance(errors, int) or isinstance(errors, bool) or errors < 0:
                    raise ValueError("errors is not a count")
                h = self._hist.get(name)
                if h is None:
                    h = self._hist[name] = _histogram()
                h.decode_and_add(str(data["hdr"]).encode("ascii"))
            except Exception as exc:  # noqa: BLE001 - a bad entry is skipped, see above
                log.warning("harness timings from %s: %r ignored (%s)", sender, name, exc)
                continue
            if errors:
                self._errors[name] = self._errors.get(name, 0) + errors

    # ---------------------------------------------------------------- reading

    def rows(self) -> list[dict[str, Any]]:
        """One row per name (sorted): the :data:`COLUMNS`, times in milliseconds."""
        out = []
        for name in sorted(self._hist):
            h = self._hist[name]
            n = int(h.get_total_count())
            if not n:
                continue
            out.append(
                {
                    "name": name,
                    "count": n,
                    "p50_ms": _ms(h.get_value_at_percentile(50)),
                    "p95_ms": _ms(h.get_value_at_percentile(95)),
                    "p99_ms": _ms(h.get_value_at_percentile(99)),
                    "max_ms": _ms(h.get_max_value()),
                    "mean_ms": _ms(h.get_mean_value()),
                    "errors": self._errors.get(name, 0),
                }
            )
        return out

    def write_csv(self, path: Path) -> Path:
        """Write :meth:`rows` to ``path`` (header only when nothing was timed), atomically."""
        path = Path(path)
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
            w.writeheader()
            w.writerows(self.rows())
        os.replace(tmp, path)
        return path

    def write_run_csv(self, run_dir: Path) -> Path:
        """Write ``run_dir/harness_timings.csv``."""
        return self.write_csv(Path(run_dir) / TIMINGS_CSV)

    # ---------------------------------------------------------------- OpenTelemetry

    def enable_otel(self) -> bool:
        """Also record into OTel histograms ``loadsim.<name>`` (seconds). Only when the
        OpenTelemetry SDK is importable (Locust's ``--otel`` needs ``locust[otel]`` and sets
        the meter provider); returns whether it is on."""
        try:
            import opentelemetry.sdk.metrics  # noqa: F401 - only to know the SDK is there
            from opentelemetry import metrics
        except ImportError:
            log.warning(
                "--otel: the OpenTelemetry SDK is not installed, harness timings are not "
                "exported (pip install 'locust[otel]')"
            )
            return False
        self._meter = metrics.get_meter("loadsim")
        self._otel = {}
        return True

    def _otel_record(self, name: str, ms: float, error: bool) -> None:
        assert self._otel is not None and self._meter is not None  # enable_otel set both
        inst = self._otel.get(name)
        if inst is None:
            inst = self._otel[name] = self._meter.create_histogram(
                _OTEL_PREFIX + name, unit="s", description=f"loadsim harness timing: {name}"
            )
        attrs = {"error": True} if error else None
        inst.record(max(0.0, ms) / 1000.0, attributes=attrs)
