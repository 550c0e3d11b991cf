"""Per-simulated-hour counters, kept per process and merged on the master.

Workers ship their counters in Locust's ``report_to_master`` every ~3 s (msgpack-safe:
dicts of ints and lists of ints); the master merges them with its own. These are the live
progress numbers and ``hours.csv``; decisions that must survive a dead worker (the breaker)
also re-count from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

COUNTERS = (
    "acted", "shopped", "idle", "none", "completed", "abandoned", "failed", "missed", "orders",
)  # fmt: skip


@dataclass
class HourBucket:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    slips_ms: list[int] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def merge(self, other: dict) -> None:
        for k, v in other.get("counts", {}).items():
            self.counts[k] = self.counts.get(k, 0) + int(v)
        self.slips_ms.extend(int(x) for x in other.get("slips_ms", []))
        for k, v in other.get("errors", {}).items():
            self.errors[k] = self.errors.get(k, 0) + int(v)


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
            b.slips_ms.append(max(0, int(slip_s * 1000)))

    def drain(self) -> dict[str, dict]:
        out = {
            str(h): {"counts": b.counts, "slips_ms": b.slips_ms, "errors": b.errors}
            for h, b in self._hours.items()
        }
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

    def all_slips_ms(self) -> list[int]:
        return [s for b in self.hours.values() for s in b.slips_ms]


def percentile(values: list[int] | list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0–100); ``None`` for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return float(s[k])
