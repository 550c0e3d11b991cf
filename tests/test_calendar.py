"""offer_engine.calendar: the one definition of sim hour, slot and offer cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from offer_engine.calendar import (
    HOURS_PER_WEEK,
    cycle_bounds,
    cycle_length,
    cycle_of,
    cycle_of_hour,
    cycle_zero_start,
    hour_of,
    hour_of_week,
    slot_time,
    start_of_hour,
)

T0 = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)  # a Monday
US = timedelta(microseconds=1)


def test_hour_of_floors_and_new_hour_starts_exactly_on_the_boundary():
    assert hour_of(T0, T0) == 0
    assert hour_of(T0, T0 + timedelta(hours=1) - US) == 0
    assert hour_of(T0, T0 + timedelta(hours=1)) == 1
    assert hour_of(T0, T0 + timedelta(days=7, minutes=30)) == 168


def test_hour_of_before_the_start_is_negative_floor_not_truncation():
    assert hour_of(T0, T0 - US) == -1
    assert hour_of(T0, T0 - timedelta(hours=1)) == -1
    assert hour_of(T0, T0 - timedelta(hours=1, microseconds=1)) == -2


def test_tz_aware_inputs_in_other_zones_mean_the_same_instant():
    plus2 = timezone(timedelta(hours=2))
    start_local = T0.astimezone(plus2)  # 02:00 +02:00, same instant as T0
    t = datetime(2025, 1, 6, 5, 30, tzinfo=plus2)  # 03:30 UTC
    assert hour_of(start_local, t) == 3 == hour_of(T0, t)
    assert start_of_hour(start_local, 3) == datetime(2025, 1, 6, 3, tzinfo=UTC)
    # the zone of sim_start is kept: the shoppers' wall clock decides their rhythm
    assert start_of_hour(start_local, 3).isoformat() == "2025-01-06T05:00:00+02:00"
    assert slot_time(start_local, 3, 90).isoformat() == "2025-01-06T05:01:30+02:00"
    assert hour_of_week(slot_time(start_local, 3, 90)) == 5
    assert cycle_of(start_local, T0 + timedelta(days=7), 7) == 1


@pytest.mark.parametrize("bad", ["sim_start", "t"])
def test_naive_instants_are_refused_with_the_argument_named(bad):
    naive = datetime(2025, 1, 6)
    args = {"sim_start": T0, "t": T0 + timedelta(hours=2)}
    args[bad] = naive
    with pytest.raises(ValueError, match=f"{bad} must be timezone-aware"):
        hour_of(args["sim_start"], args["t"])


def test_start_of_hour_and_slot_time_invert_hour_of():
    for h in (-3, 0, 1, 23, 24, 167, 168, 10_000):
        assert hour_of(T0, start_of_hour(T0, h)) == h
        assert start_of_hour(T0, h) == T0 + timedelta(hours=h)
        assert hour_of(T0, slot_time(T0, h, 3599.999999)) == h
    assert slot_time(T0, 5, 1234.5) == T0 + timedelta(hours=5, seconds=1234.5)
    assert slot_time(T0, 5, 3600) == start_of_hour(T0, 6)  # not checked: next hour's start


def test_cycle_of_boundaries_and_fractions():
    assert cycle_of(T0, T0, 7) == 0
    assert cycle_of(T0, T0 + timedelta(days=7) - US, 7) == 0
    assert cycle_of(T0, T0 + timedelta(days=7), 7) == 1
    assert cycle_of(T0, T0 + timedelta(days=21), 7) == 3
    assert cycle_of(T0, T0 + timedelta(days=1), 0.5) == 2
    assert cycle_of(T0, T0 - US, 7) == -1


@pytest.mark.parametrize("days", [0, -1, float("nan")])
def test_cycle_length_must_be_positive(days):
    with pytest.raises(ValueError, match="cycle_days must be > 0"):
        cycle_of(T0, T0, days)
    with pytest.raises(ValueError, match="cycle_days must be > 0"):
        cycle_of_hour(3, days)


@pytest.mark.parametrize("days", [7, 14, 1, 0.5, 3.5, 0.25, 1 / 24, 2 / 3, 10.5])
def test_the_three_old_cycle_formulas_agree_with_the_one_definition(days):
    """Before ``offer_engine.calendar``: ``cycle_index`` (timedelta floor), the director's checkpoint and
    ``hours.csv`` (``int(h // (24 * days))``) and its live status (``int(seconds //
    (86400 * days))``). For these cycle lengths all three give the one definition's
    number, on every hour start and just before it."""
    for h in range(-50, 24 * 60):
        start = start_of_hour(T0, h)
        n = cycle_of(T0, start, days)
        assert cycle_of_hour(h, days) == n
        assert int(h // (24 * days)) == n
        assert int((start - T0).total_seconds() // (86400 * days)) == n
        assert (start - T0) // timedelta(days=days) == n


def test_cycle_bounds_and_grid_recovery():
    assert cycle_bounds(T0, 2, 7) == (T0 + timedelta(days=14), T0 + timedelta(days=21))
    start, end = cycle_bounds(T0, 3, 0.5)
    assert cycle_of(T0, start, 0.5) == 3 and cycle_of(T0, end, 0.5) == 4
    assert cycle_of(T0, end - US, 0.5) == 3
    assert cycle_zero_start(cycle_bounds(T0, 5, 7)[0], 5, 7) == T0
    assert cycle_length(7) == timedelta(days=7)


def test_cycle_arithmetic_past_the_calendar_overflows_loudly():
    # reference_api turns this into a 409; it must not wrap or clamp silently.
    with pytest.raises(OverflowError):
        cycle_bounds(datetime(9999, 12, 1, tzinfo=UTC), 10, 7)


def test_hour_of_week_is_in_the_instants_own_zone():
    assert HOURS_PER_WEEK == 168
    assert hour_of_week(T0) == 0  # Monday 00:00
    assert hour_of_week(T0 + timedelta(days=6, hours=23, minutes=59)) == 167
    assert hour_of_week(T0 + timedelta(days=7)) == 0
    plus2 = timezone(timedelta(hours=2))
    assert hour_of_week(datetime(2025, 1, 8, 9, tzinfo=plus2)) == 2 * 24 + 9


def test_hours_are_absolute_across_a_dst_change_and_keep_the_local_zone():
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 3, 29, 12, tzinfo=berlin)  # DST begins 2025-03-30 02:00 local
    t = start_of_hour(start, 24)
    assert t - start.astimezone(UTC) == timedelta(hours=24)  # 24 real hours, not wall hours
    assert t.tzinfo is berlin and t.hour == 13  # local wall clock moved an hour forward
    assert hour_of(start, t) == 24 and hour_of(start, t - US) == 23


def test_the_harness_fixed_offset_arithmetic_is_kept_exactly():
    """The harness's ``sim_start + timedelta(hours=h, seconds=s)`` (fixed offsets, as
    ``--sim-start`` parses) gives the very same datetime, zone and ISO string."""
    for start in (T0, datetime(2025, 1, 6, 8, 30, tzinfo=timezone(timedelta(hours=-5)))):
        for h, s in ((0, 0), (7, 1234.5), (170, 3599.999999), (-2, 10)):
            old = start + timedelta(hours=h, seconds=s)
            new = slot_time(start, h, s)
            assert new == old and new.isoformat() == old.isoformat()
            assert start_of_hour(start, h).isoformat() == (start + timedelta(hours=h)).isoformat()
