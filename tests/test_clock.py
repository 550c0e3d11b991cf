"""SimClock: the anchor model of docs/ARCHITECTURE.md, Simulated time (pure, no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import msgpack
import pytest

from offer_engine.clock import SimClock

T0 = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)


def test_now_advances_at_scale():
    clock = SimClock(real_t0=1000.0, sim_t0=T0, scale=96.0)
    assert clock.now(1000.0) == T0
    # per plan: at 96x one real hour is four simulated days
    assert clock.now(1000.0 + 3600) == T0 + timedelta(days=4)


def test_pause_resume_does_not_skip_simulated_time():
    clock = SimClock(real_t0=0.0, sim_t0=T0, scale=168.0)
    paused = clock.pause(real=10.0)
    at_pause = clock.now(10.0)
    assert paused.paused
    # While paused, however much real time passes, the clock stands still.
    assert paused.now(10.0) == at_pause
    assert paused.now(10_000.0) == at_pause
    assert paused.real_time_at(at_pause + timedelta(hours=1)) is None
    resumed = paused.resume(real=10_000.0)
    assert resumed.now(10_000.0) == at_pause
    assert resumed.now(10_001.0) == at_pause + timedelta(seconds=168)


def test_pause_and_resume_are_idempotent():
    clock = SimClock(real_t0=0.0, sim_t0=T0, scale=2.0)
    paused = clock.pause(real=5.0)
    assert paused.pause(real=50.0) is paused
    running = paused.resume(real=60.0)
    assert running.resume(real=70.0) is running


def test_with_scale_reanchors_without_jump():
    clock = SimClock(real_t0=0.0, sim_t0=T0, scale=48.0)
    faster = clock.with_scale(96.0, real=100.0)
    assert faster.now(100.0) == clock.now(100.0)
    assert faster.now(101.0) - faster.now(100.0) == timedelta(seconds=96)
    # Changing the scale of a paused clock keeps it paused at the same instant.
    paused = clock.pause(real=100.0).with_scale(10.0, real=500.0)
    assert paused.paused and paused.now(900.0) == clock.now(100.0)


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_round_trip_through_broadcast_codecs(codec):
    clock = SimClock(real_t0=1_700_000_000.25, sim_t0=T0 + timedelta(microseconds=7), scale=96.0)
    d = clock.to_dict()
    assert set(map(type, d.values())) <= {float, str, bool}
    wire = json.loads(json.dumps(d)) if codec == "json" else msgpack.unpackb(msgpack.packb(d))
    back = SimClock.from_dict(wire)
    assert back == clock
    assert back.now(1_700_000_100.0) == clock.now(1_700_000_100.0)


def test_from_dict_names_bad_keys():
    with pytest.raises(ValueError, match="missing sim_t0"):
        SimClock.from_dict({"real_t0": 1.0, "scale": 2.0})
    with pytest.raises(ValueError, match="ISO 8601"):
        SimClock.from_dict({"real_t0": 1.0, "scale": 2.0, "sim_t0": "yesterday"})
    with pytest.raises(ValueError, match="paused must be a bool"):
        SimClock.from_dict({"real_t0": 1.0, "scale": 2.0, "sim_t0": T0.isoformat(), "paused": "no"})


def test_rejects_naive_time_and_bad_scale():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(real_t0=0.0, sim_t0=datetime(2025, 1, 1), scale=1.0)
    with pytest.raises(ValueError, match="scale"):
        SimClock(real_t0=0.0, sim_t0=T0, scale=0.0)


def test_sim_t0_normalized_to_utc():
    plus2 = timezone(timedelta(hours=2))
    clock = SimClock(real_t0=0.0, sim_t0=datetime(2025, 1, 6, 2, 0, tzinfo=plus2), scale=1.0)
    assert clock.sim_t0 == T0 and clock.sim_t0.tzinfo is UTC
    assert clock.to_dict()["sim_t0"] == "2025-01-06T00:00:00+00:00"


def test_duration_conversions_and_real_time_at():
    clock = SimClock(real_t0=500.0, sim_t0=T0, scale=168.0)
    assert clock.real_seconds(7 * 86400) == pytest.approx(3600.0)
    assert clock.sim_seconds(3600.0) == pytest.approx(7 * 86400)
    when = clock.real_time_at(T0 + timedelta(days=7))
    assert when == pytest.approx(4100.0)
    assert clock.now(when) == T0 + timedelta(days=7)
