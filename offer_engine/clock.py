"""The simulated clock: an immutable anchor ``(real_t0, sim_t0, scale, paused)``.

docs/ARCHITECTURE.md, Simulated time: ``sim_now = sim_t0 + (real_now - real_t0) * scale`` unless paused. The
master owns the anchor and broadcasts it (``to_dict``) on start, pause, resume and
resume-from-checkpoint; every process computes ``now()`` locally, so no per-tick messages
are needed. The clock is immutable: ``pause``/``resume``/``with_scale`` return a new anchor
re-based at the moment of the change, so simulated time never jumps and a broadcast copy
cannot drift from the master's.

``real_t0`` is epoch seconds (``time.time()``), not ``time.monotonic()``, because the anchor
crosses process boundaries and monotonic clocks are per-process.

Which sim hour or offer cycle an instant is in is ``offer_engine.calendar``'s job.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from offer_engine.calendar import aware_utc as _aware_utc


@dataclass(frozen=True, slots=True)
class SimClock:
    """An anchor of simulated time.

    Attributes:
        real_t0: Epoch seconds (``time.time()``) at which the simulated time was ``sim_t0``.
        sim_t0: Simulated instant at ``real_t0`` (aware, normalized to UTC).
        scale: Simulated seconds per real second (e.g. 168: one real hour = one sim week).
        paused: When true the clock stands still at ``sim_t0``.
    """

    real_t0: float
    sim_t0: datetime
    scale: float
    paused: bool = False

    def __post_init__(self) -> None:
        # Normalize once so comparisons and ISO strings are stable across processes.
        object.__setattr__(self, "sim_t0", _aware_utc(self.sim_t0, "sim_t0"))
        object.__setattr__(self, "real_t0", float(self.real_t0))
        object.__setattr__(self, "scale", float(self.scale))
        if not math.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"scale must be a finite number > 0 (got {self.scale})")
        if not math.isfinite(self.real_t0):
            raise ValueError(f"real_t0 must be finite (got {self.real_t0})")

    # ------------------------------------------------------------------ construction

    @classmethod
    def start(
        cls, *, sim_start: datetime, scale: float, real: float | None = None, paused: bool = False
    ) -> SimClock:
        """Create a clock that reads ``sim_start`` at real time ``real`` (default: now).

        Args:
            sim_start: Simulated instant at the anchor (aware).
            scale: Simulated seconds per real second.
            real: Epoch seconds of the anchor; ``time.time()`` when omitted.
            paused: Start paused (the clock then reads ``sim_start`` until resumed).

        Returns:
            The new clock.
        """
        return cls(_real(real), sim_start, scale, paused)

    # ------------------------------------------------------------------ reading

    def now(self, real: float | None = None) -> datetime:
        """The simulated instant at real time ``real`` (default: ``time.time()``).

        Args:
            real: Epoch seconds; ``time.time()`` when omitted.

        Returns:
            ``sim_t0`` while paused, else ``sim_t0 + (real - real_t0) * scale`` (aware UTC).
        """
        if self.paused:
            return self.sim_t0
        return self.sim_t0 + timedelta(seconds=(_real(real) - self.real_t0) * self.scale)

    def real_seconds(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take at this scale."""
        return sim_seconds / self.scale

    def sim_seconds(self, real_seconds: float) -> float:
        """Simulated seconds that pass in ``real_seconds`` of real time at this scale."""
        return real_seconds * self.scale

    def real_time_at(self, sim_time: datetime) -> float | None:
        """Epoch seconds at which this clock reads ``sim_time``.

        Args:
            sim_time: An aware simulated instant (may be in the past: the result is then
                in the past too).

        Returns:
            The epoch time, or None while paused (a paused clock reaches nothing).
        """
        if self.paused:
            return None
        delta = (_aware_utc(sim_time, "sim_time") - self.sim_t0).total_seconds()
        return self.real_t0 + delta / self.scale

    # ------------------------------------------------------------------ changes (new anchors)

    def pause(self, real: float | None = None) -> SimClock:
        """Freeze the clock at the simulated instant reached at ``real``.

        Returns:
            A paused clock (``self`` if already paused, so pausing twice loses nothing).
        """
        if self.paused:
            return self
        r = _real(real)
        return SimClock(r, self.now(r), self.scale, True)

    def resume(self, real: float | None = None) -> SimClock:
        """Restart a paused clock from where it stopped, without a jump.

        Returns:
            A running clock anchored at ``(real, sim_t0)`` (``self`` if already running).
        """
        if not self.paused:
            return self
        return SimClock(_real(real), self.sim_t0, self.scale, False)

    def with_scale(self, scale: float, real: float | None = None) -> SimClock:
        """Change the time scale at ``real`` without a jump in simulated time.

        Args:
            scale: New simulated seconds per real second (> 0).
            real: Epoch seconds of the change; ``time.time()`` when omitted.

        Returns:
            A clock re-anchored at the change, keeping the paused state.
        """
        r = _real(real)
        return SimClock(r, self.now(r), scale, self.paused)

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """A JSON/msgpack-safe dict: floats, an ISO 8601 string and a bool only."""
        return {
            "real_t0": self.real_t0,
            "sim_t0": self.sim_t0.isoformat(),
            "scale": self.scale,
            "paused": self.paused,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimClock:
        """Rebuild a clock from :meth:`to_dict` output.

        Raises:
            ValueError: naming the missing or bad key.
        """
        missing = [k for k in ("real_t0", "sim_t0", "scale") if k not in d]
        if missing:
            raise ValueError(f"clock anchor is missing {', '.join(missing)}")
        try:
            sim_t0 = datetime.fromisoformat(str(d["sim_t0"]))
        except ValueError:
            raise ValueError(f"clock anchor sim_t0 is not ISO 8601: {d['sim_t0']!r}") from None
        try:
            real_t0 = float(d["real_t0"])
            scale = float(d["scale"])
        except (TypeError, ValueError):
            raise ValueError("clock anchor real_t0 and scale must be numbers") from None
        paused = d.get("paused", False)
        if not isinstance(paused, bool):  # "false" would be truthy: refuse, don't guess
            raise ValueError(f"clock anchor paused must be a bool (got {paused!r})")
        return cls(real_t0, sim_t0, scale, paused)


def _real(real: float | None) -> float:
    return time.time() if real is None else float(real)
