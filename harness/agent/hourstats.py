"""Per-simulated-hour counters, kept per process and merged on the master.

Workers ship their counters in Locust's ``report_to_master`` every ~3 s (msgpack-safe:
dicts of ints and lists of ints); the master merges them with its own. These are the live
progress numbers and ``hours.csv``; decisions that must survive a dead worker (the breaker)
also re-count from the database.

Slips are kept in an HDR histogram per hour (``hdrhistogram`` on PyPI; 2 significant
digits, 1 ms – ~115 days), never as one value per agent-hour: 10,000 agents × 4 weeks was
6.7 M floats on the master. Chosen over DDSketch by measurement
(``bench/bench_sketch.py``, 200,000 lognormal slips): DDSketch records faster (2.9 vs 3.9 µs)
in less memory (21 vs 33 KiB), but HDR's percentiles were closer (p99 within 0.3 % vs 1 %),
its wire form is half the size (1.9 vs 3.9 kB) and it has a public encode/decode, which
DDSketch's Python package lacks without protobuf. Workers ship an hour's histogram base64-encoded (msgpack-safe).
Once an hour is written to ``hours.csv`` the master :meth:`HourAggregate.compact` s it to
its three percentiles and the histogram's compressed encoding (~2 kB), so the master's
memory does not grow with hours × agents. A report that arrives after that (an agent acting
its slot late, e.g. after a session that ran past it) is added to the decoded histogram and
the percentiles recomputed over the whole hour — not over the late slips alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

SLIP_MAX_MS = 10**10
SLIP_DIGITS = 2
QUANTILES = (50, 95, 99)


def new_sketch() -> HdrHistogram:
    return HdrHistogram(1, SLIP_MAX_MS, SLIP_DIGITS)


COUNTERS = (
    "acted", "shopped", "idle", "none", "completed", "abandoned", "failed", "missed", "orders",
    "not_owed",
)  # fmt: skip


@dataclass
class HourBucket:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    sketch: HdrHistogram | None = None  # of slips (ms), created on the first one
    errors: dict[str, int] = field(default_factory=dict)
    frozen: dict[int, float | None] | None = None
    """Percentiles kept after :meth:`compact` (the histogram itself is dropped)."""
    packed: str | None = None
    """The compacted histogram's encoding: a late report is merged into it."""

    def add_slip(self, ms: int) -> None:
        if self.sketch is None:
            self.sketch = new_sketch()
        self.sketch.record_value(min(SLIP_MAX_MS, max(1, ms)))

    def merge(self, other: dict) -> None:
        for k, v in other.get("counts", {}).items():
            self.counts[k] = self.counts.get(k, 0) + int(v)
        late = self.frozen is not None and (other.get("slips_ms") or other.get("slips_hdr"))
        if late:  # the hour was compacted: its whole histogram back, then this report's
            self.sketch = new_sketch()
            if self.packed is not None:
                self.sketch.decode_and_add(self.packed.encode("ascii"))
        for x in other.get("slips_ms", []):  # an older worker, or a test: plain values
            self.add_slip(int(x))
        if other.get("slips_hdr"):
            if self.sketch is None:
                self.sketch = new_sketch()
            self.sketch.decode_and_add(other["slips_hdr"].encode("ascii"))
        if late:
            self.frozen = self.packed = None
            self.compact()  # percentiles over the whole hour; the histogram packed again
        for k, v in other.get("errors", {}).items():
            self.errors[k] = self.errors.get(k, 0) + int(v)

    def slip_percentile(self, q: float) -> float | None:
        """Slip percentile ``q`` (0–100) in ms; ``None`` when the hour has no slip."""
        if self.sketch is not None and self.sketch.get_total_count():
            return float(self.sketch.get_value_at_percentile(q))
        if self.frozen is not None:
            return self.frozen.get(int(q))
        return None

    @property
    def slip_count(self) -> int:
        return int(self.sketch.get_total_count()) if self.sketch is not None else 0

    def compact(self) -> None:
        """Keep only the percentiles ``hours.csv`` and the status read; drop the histogram."""
        if self.sketch is not None:
            self.frozen = {q: self.slip_percentile(q) for q in QUANTILES}
            self.packed = self.sketch.encode().decode("ascii")
            self.sketch = None

    def wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"counts": self.counts, "errors": self.errors}
        if self.sketch is not None:
            d["slips_hdr"] = self.sketch.encode().decode("ascii")
        return d


class HourCollector:
    """Accumulates outcomes by sim hour; ``drain()`` hands them over (worker → master)."""

    def __init__(self) -> None:
        self._hours: dict[int, HourBucket] = {}

    def count(
        self,
        hour: int,
        counters: Iterable[str],
        *,
        slip_s: float | None = None,
        error_kind: str | None = None,
    ) -> None:
        """Add one agent-hour: +1 on each of ``counters`` (``harness.agent.hour`` chose them
        from its outcome table; nothing is mapped here), its slip and its error kind."""
        b = self._hours.setdefault(hour, HourBucket())
        c = b.counts
        for name in counters:
            c[name] += 1
        if error_kind:
            b.errors[error_kind] = b.errors.get(error_kind, 0) + 1
        if slip_s is not None:
            b.add_slip(int(slip_s * 1000))

    def drain(self) -> dict[str, dict]:
        out = {str(h): b.wire() for h, b in self._hours.items()}
        self._hours = {}
        return out


class HourAggregate:
    """The master's merged view of every process's counters."""

    def __init__(self) -> None:
        self.hours: dict[int, HourBucket] = {}

    def merge(self, drained: dict[str, dict]) -> None:
        for h, data in drained.items():
            self.hours.setdefault(int(h), HourBucket()).merge(data)

    def get(self, hour: int) -> HourBucket:
        return self.hours.get(hour, HourBucket())

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(COUNTERS, 0)
        for b in self.hours.values():
            for k, v in b.counts.items():
                out[k] = out.get(k, 0) + v
        return out

    def compact(self, hour: int) -> None:
        """Hour ``hour`` is written: keep its counters and percentiles, not its histogram."""
        b = self.hours.get(hour)
        if b is not None:
            b.compact()
