"""The simulated calendar: which sim hour, slot and offer cycle an instant belongs to.

Before this module, ``sim_start + timedelta(hours=…)`` written by hand nine times and the
offer-cycle number computed three ways (timedelta floor division here, ``hour // (24 ×
days)`` in the director's checkpoints and ``hours.csv``, ``seconds // (86400 × days)`` in
its live status). These pure functions are the one definition; everything above
``offer_engine`` (behaviors, reports, reference_api, harness) uses them.

Conventions, chosen so no caller has to think about them:
- every function takes the run's ``sim_start`` first;
- arithmetic is on ``timedelta`` (integer microseconds), never float seconds, so an instant
  exactly on a boundary belongs to the *new* hour/cycle with no rounding;
- indexes are floors: an instant before ``sim_start`` has a negative hour (and cycle);
- instants must be timezone-aware (a naive one is a bug: its zone is unknowable across
  processes); hours and cycles are counted in absolute time (UTC), so a DST change never
  makes an hour 0 or 2 hours long;
- an hour's start and an agent's slot keep ``sim_start``'s zone (``--sim-start
  2025-01-06T08:00+02:00`` means shoppers whose mornings are at +02:00: ``hour_of_week``
  reads the slot's own wall clock, so the zone decides the rhythm); cycle bounds are UTC.

It lives in ``offer_engine`` because ``offer_engine`` owns the SimClock and offer cycles and
sits below every package that needs the calendar (docs/ARCHITECTURE.md, Rooms).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7
HOURS_PER_WEEK = HOURS_PER_DAY * DAYS_PER_WEEK
"""The rhythm's week: hour-of-week 0 is Monday 00:00–00:59, 167 Sunday 23:00–23:59."""


def aware_utc(value: datetime, what: str = "datetime") -> datetime:
    """``value`` in UTC; ``ValueError`` naming ``what`` when it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


# ------------------------------------------------------------------------- sim hours


def hour_of(sim_start: datetime, t: datetime) -> int:
    """Whole simulated hours from ``sim_start`` to ``t`` (floor; negative before the start)."""
    return (aware_utc(t, "t") - aware_utc(sim_start, "sim_start")) // HOUR


def start_of_hour(sim_start: datetime, hour: int) -> datetime:
    """The simulated instant at which sim hour ``hour`` begins, in ``sim_start``'s zone."""
    start = aware_utc(sim_start, "sim_start")
    return (start + hour * HOUR).astimezone(sim_start.tzinfo)


def slot_time(sim_start: datetime, hour: int, offset_s: float) -> datetime:
    """An agent's slot: ``offset_s`` simulated seconds into sim hour ``hour``, in
    ``sim_start``'s zone.

    ``offset_s`` is normally in ``[0, 3600)`` (the agent's stable offset, docs/ARCHITECTURE.md, Simulated time);
    it is not checked, so ``offset_s = 3600`` is simply the next hour's start.
    """
    start = aware_utc(sim_start, "sim_start")
    return (start + hour * HOUR + timedelta(seconds=offset_s)).astimezone(sim_start.tzinfo)


def hour_of_week(t: datetime) -> int:
    """0 = Monday 00:00–00:59 … 167 = Sunday 23:00, in ``t``'s own (simulated local) zone.

    Not normalized to UTC: a persona's "morning" is morning in the zone the run gave its
    simulated time, which is what the weekly rhythm and its calibration both read.
    """
    return t.weekday() * HOURS_PER_DAY + t.hour


# ------------------------------------------------------------------------- offer cycles


def cycle_length(cycle_days: float) -> timedelta:
    """One offer cycle (``OFFER_CYCLE_DAYS`` simulated days, > 0) as a timedelta."""
    if not cycle_days > 0:  # also refuses NaN
        raise ValueError(f"cycle_days must be > 0 (got {cycle_days})")
    return timedelta(days=cycle_days)


def cycle_of(sim_start: datetime, t: datetime, cycle_days: float) -> int:
    """Offer-cycle number of instant ``t``: whole cycles since ``sim_start`` (floor).

    Cycle 0 begins at ``sim_start``; an instant exactly on a boundary starts the new cycle;
    before the start the number is negative (callers that want "none yet" clamp to -1).
    """
    return (aware_utc(t, "t") - aware_utc(sim_start, "sim_start")) // cycle_length(cycle_days)


def cycle_of_hour(hour: int, cycle_days: float) -> int:
    """Offer-cycle number of sim hour ``hour`` (the cycle its first instant is in).

    Same definition as :func:`cycle_of` — ``cycle_of(s, start_of_hour(s, hour), d)`` for
    any ``s`` — for callers that only hold an hour index (checkpoints, ``hours.csv``).
    """
    return (hour * HOUR) // cycle_length(cycle_days)


def cycle_bounds(
    sim_start: datetime, cycle_number: int, cycle_days: float
) -> tuple[datetime, datetime]:
    """The simulated ``[start, end)`` of cycle ``cycle_number`` (UTC)."""
    length = cycle_length(cycle_days)
    start = aware_utc(sim_start, "sim_start") + cycle_number * length
    return start, start + length


def cycle_zero_start(cycle_start: datetime, cycle_number: int, cycle_days: float) -> datetime:
    """The ``sim_start`` of a cycle grid on which cycle ``cycle_number`` begins at
    ``cycle_start`` (the server recovers its grid from the first cycle it stored)."""
    return aware_utc(cycle_start, "cycle_start") - cycle_number * cycle_length(cycle_days)
