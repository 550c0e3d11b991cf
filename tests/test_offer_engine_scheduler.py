"""Scheduler acceptance on a real Postgres: three simulated weeks driven hour by hour by a
SimClock that pauses and resumes; expiry at 14 simulated days; crash and re-run."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import text

import offer_engine.scheduler as scheduler_mod
from offer_engine.calendar import hour_of
from offer_engine.clock import SimClock
from offer_engine.cycles import list_cycles
from offer_engine.scheduler import advance
from tests.test_offer_engine_support import (
    DAY,
    T0,
    active_counts,
    make_settings,
    populate,
    wallet_snapshot,
)

S = make_settings()
HOUR = timedelta(hours=1)


def _cycle_rows(engine, run_id):
    with engine.connect() as conn:
        return list_cycles(conn, run_id=run_id)


def test_three_weeks_hourly_with_pause_creates_cycles_0_to_3_once(clean_db):
    users = populate(clean_db, 5).user_ids
    clock = SimClock(real_t0=1000.0, sim_t0=T0, scale=168.0)
    step = clock.real_seconds(3600)  # one simulated hour of real time
    real, seen, ran = 1000.0, [], Counter()
    for i in range(3 * 7 * 24 + 1):
        if i == 200:  # pause for a long real while, then resume: no simulated time skipped
            clock = clock.pause(real=real)
            for _ in range(50):
                real += step
                seen.append(clock.now(real))
                rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=seen[-1], settings=S)
                assert rep.cycles == []
            clock = clock.resume(real=real)
        seen.append(clock.now(real))
        rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=seen[-1], settings=S)
        ran.update(c.cycle_number for c in rep.cycles)
        real += step

    hours = [hour_of(T0, t) for t in seen]
    assert hours == sorted(hours) and hours[-1] == 3 * 7 * 24
    assert set(range(hours[-1] + 1)) <= set(hours)  # every simulated hour was reached
    assert ran == {0: 1, 1: 1, 2: 1, 3: 1}
    cycles = _cycle_rows(clean_db, "r")
    assert [(c.cycle_number, c.status) for c in cycles] == [(n, "completed") for n in range(4)]
    assert [c.simulated_start_date for c in cycles] == [T0 + 7 * n * DAY for n in range(4)]
    assert all(c.stats["assigned"] == 5 * 32 for c in cycles)
    assert active_counts(clean_db) == {u: 32 for u in users}


def test_expiry_happens_at_14_simulated_days(clean_db):
    skip = make_settings(WALLET_FULL_POLICY="skip")
    users = populate(clean_db, 4).user_ids
    first = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0, settings=skip)
    assert first.assigned == 4 * 32
    # cycle 1: wallets are full and `skip` adds nothing
    rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + 7 * DAY, settings=skip)
    assert [c.stats.assigned for c in rep.cycles] == [0]
    just_before = T0 + 14 * DAY - timedelta(seconds=1)
    rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=just_before, settings=skip)
    assert (rep.cycles, rep.expired) == ([], 0)
    assert active_counts(clean_db) == {u: 32 for u in users}
    rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + 14 * DAY, settings=skip)
    # expire first, then assign: the boundary expires cycle 0's coupons and refills
    assert [(c.cycle_number, c.expired, c.stats.assigned) for c in rep.cycles] == [
        (2, 4 * 32, 4 * 32)
    ]
    with clean_db.connect() as conn:
        gone = conn.execute(
            text(
                "SELECT DISTINCT removed_reason, removed_sim_at, expires_sim_at FROM user_coupons"
                " WHERE status = 'expired'"
            )
        ).all()
    assert [tuple(r) for r in gone] == [("expired", T0 + 14 * DAY, T0 + 14 * DAY)]
    assert active_counts(clean_db) == {u: 32 for u in users}


def test_crash_mid_cycle_then_rerun_finishes_without_repeating(clean_db, monkeypatch):
    users = populate(clean_db, 10).user_ids
    real_assign = scheduler_mod.assign_cycle
    calls = Counter()

    def crashing(conn, **kw):
        calls[kw["cycle"].cycle_number] += 1
        if kw["cycle"].cycle_number == 2 and calls[2] == 2:
            raise ConnectionError("master killed")  # second batch of cycle 2 dies
        return real_assign(conn, **kw)

    monkeypatch.setattr(scheduler_mod, "assign_cycle", crashing)
    with pytest.raises(ConnectionError):
        advance(  # batches in turn: the third never starts (in parallel: test_offer_cycle_parallel)
            clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + 15 * DAY, settings=S,
            batch_users=4, workers=1,
        )  # fmt: skip
    monkeypatch.setattr(scheduler_mod, "assign_cycle", real_assign)
    statuses = [(c.cycle_number, c.status) for c in _cycle_rows(clean_db, "r")]
    assert statuses == [(0, "completed"), (1, "completed"), (2, "created")]

    rep = advance(
        clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + 15 * DAY, settings=S, batch_users=4
    )
    assert [(c.cycle_number, c.stats.users_due) for c in rep.cycles] == [(2, 6)]  # 4 done before
    after = wallet_snapshot(clean_db)
    rerun = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + 15 * DAY, settings=S)
    assert rerun.cycles == [] and wallet_snapshot(clean_db) == after

    cycles = _cycle_rows(clean_db, "r")
    assert [c.status for c in cycles] == ["completed"] * 3
    with clean_db.connect() as conn:
        per_user = conn.execute(
            text(
                "SELECT user_id, count(*) FROM user_coupons WHERE offer_cycle_id = :c"
                " GROUP BY user_id"
            ),
            {"c": cycles[2].id},
        ).all()
    assert {u: n for u, n in per_user} == {u: 32 for u in users}  # nobody assigned twice
    assert cycles[2].stats["assigned"] == 10 * 32
    assert active_counts(clean_db) == {u: 32 for u in users}


def test_advance_in_callers_transaction_rolls_back_with_it(clean_db):
    populate(clean_db, 3)
    with pytest.raises(RuntimeError, match="caller aborts"):
        with clean_db.begin() as conn:
            rep = advance(conn, run_id="r", sim_start=T0, to_sim_time=T0 + 8 * DAY, settings=S)
            assert [c.cycle_number for c in rep.cycles] == [0, 1]
            raise RuntimeError("caller aborts")
    assert _cycle_rows(clean_db, "r") == [] and wallet_snapshot(clean_db) == []


def test_report_before_start_and_to_dict(clean_db):
    populate(clean_db, 2)
    early = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0 - HOUR, settings=S)
    assert (early.current_cycle, early.cycles) == (-1, [])
    rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + HOUR, settings=S)
    d = rep.to_dict()
    assert d["current_cycle"] == 0 and d["assigned"] == 64
    assert d["cycles"][0]["stats"]["frontstore"] == 4
    assert d["cycles"][0]["sim_time"] == T0.isoformat()
    assert d["duration_s"] >= d["cycles"][0]["duration_s"] > 0


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_batch_retried_after_deadlock(clean_db, monkeypatch):
    from sqlalchemy.exc import DBAPIError

    users = populate(clean_db, 6).user_ids
    real_assign = scheduler_mod.assign_cycle
    failures = [0]

    def deadlocking_once(conn, **kw):
        result = real_assign(conn, **kw)  # do the work, then lose the transaction
        if failures[0] == 0:
            failures[0] += 1
            raise DBAPIError("UPDATE ...", {}, _Deadlock("deadlock detected"))
        return result

    monkeypatch.setattr(scheduler_mod, "assign_cycle", deadlocking_once)
    rep = advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0, settings=S, batch_users=4)
    (cycle,) = rep.cycles
    assert (cycle.attempts, cycle.stats.assigned, cycle.stats.users_due) == (2, 6 * 32, 6)
    assert active_counts(clean_db) == {u: 32 for u in users}

    def other_error(conn, **kw):
        raise DBAPIError("UPDATE ...", {}, ValueError("not retryable"))

    monkeypatch.setattr(scheduler_mod, "assign_cycle", other_error)
    populate(clean_db, 1, prefix="late")
    with pytest.raises(DBAPIError):
        advance(clean_db, run_id="r2", sim_start=T0, to_sim_time=T0, settings=S)
