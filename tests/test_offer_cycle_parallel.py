"""Batches of one offer cycle assigned at the same time (``advance(workers=2)``), on a real
Postgres: they really overlap, give the very wallets and counts of batches in turn, and a
batch that fails leaves the others committed and its own users due for the next call."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

import offer_engine.scheduler as scheduler_mod
from offer_engine.cycles import list_cycles
from offer_engine.scheduler import WORKERS, advance
from tests.test_offer_engine_support import DAY, T0, active_counts, make_settings, populate

S = make_settings()


def _wallets(engine) -> list[tuple]:
    """Every wallet row but its id (ids interleave when batches run at once)."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT uc.user_id, uc.coupon_id, uc.status, oc.cycle_number,"
                    " uc.assigned_sim_at, uc.expires_sim_at, uc.removed_sim_at,"
                    " uc.removed_reason FROM user_coupons uc"
                    " JOIN offer_cycles oc ON oc.id = uc.offer_cycle_id"
                    " ORDER BY 1, 2, 5"
                )
            )
        ]


def _cycle_stats(engine, run_id: str) -> list[dict]:
    with engine.connect() as conn:
        return [
            {k: v for k, v in c.stats.items() if k != "duration_s"}
            for c in list_cycles(conn, run_id=run_id)
        ]


def _three_weeks(engine, workers: int) -> tuple[list[tuple], list[dict]]:
    for week in range(3):
        advance(
            engine, run_id="p", sim_start=T0, to_sim_time=T0 + 7 * week * DAY, settings=S,
            batch_users=3, workers=workers,
        )  # fmt: skip
    return _wallets(engine), _cycle_stats(engine, "p")


def test_the_default_runs_two_batches_at_once_and_they_overlap(clean_db, monkeypatch):
    assert WORKERS == 2
    users = populate(clean_db, 8).user_ids
    real_assign = scheduler_mod.assign_cycle
    both_in = threading.Barrier(2, timeout=20)
    seen: list[int] = []

    def meeting(conn, **kw):
        seen.append(len(kw["user_ids"]))
        if len(seen) <= 2:
            both_in.wait()  # batches in turn would never get here together: BrokenBarrierError
        return real_assign(conn, **kw)

    monkeypatch.setattr(scheduler_mod, "assign_cycle", meeting)
    rep = advance(clean_db, run_id="p", sim_start=T0, to_sim_time=T0, settings=S, batch_users=3)
    (cycle,) = rep.cycles
    assert sorted(seen) == [2, 3, 3]
    assert (cycle.stats.users_due, cycle.stats.assigned, cycle.attempts) == (8, 8 * 32, 1)
    assert active_counts(clean_db) == {u: 32 for u in users}
    # every batch's counts reached the cycle row (each adds its own under the row lock)
    (stats,) = _cycle_stats(clean_db, "p")
    assert (stats["runs"], stats["assigned"], stats["users_due"]) == (3, 8 * 32, 8)


def test_two_at_once_give_the_wallets_and_counts_of_batches_in_turn(clean_db):
    populate(clean_db, 10)
    one_by_one = _three_weeks(clean_db, workers=1)
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM user_coupons"))
        conn.execute(text("DELETE FROM user_offer_cycles"))
        conn.execute(text("DELETE FROM offer_cycles"))
    at_once = _three_weeks(clean_db, workers=2)
    assert len(one_by_one[0]) == 10 * 32 * 3
    assert at_once == one_by_one


def test_a_failed_batch_leaves_the_others_committed_and_its_users_due(clean_db, monkeypatch):
    users = populate(clean_db, 10).user_ids
    real_assign = scheduler_mod.assign_cycle
    calls: list[list[int]] = []

    def failing(conn, **kw):
        calls.append(list(kw["user_ids"]))
        if kw["user_ids"][0] == users[4]:  # the second batch (users 5-8) dies
            raise ConnectionError("master killed")
        return real_assign(conn, **kw)

    monkeypatch.setattr(scheduler_mod, "assign_cycle", failing)
    with pytest.raises(ConnectionError, match="master killed"):
        advance(clean_db, run_id="p", sim_start=T0, to_sim_time=T0, settings=S, batch_users=4)
    done = active_counts(clean_db)
    assert set(done) <= set(users[:4]) | set(users[8:]) and users[0] in done
    assert all(n == 32 for n in done.values())

    monkeypatch.setattr(scheduler_mod, "assign_cycle", real_assign)
    rep = advance(clean_db, run_id="p", sim_start=T0, to_sim_time=T0, settings=S, batch_users=4)
    (cycle,) = rep.cycles
    assert cycle.stats.users_due == 10 - len(done)
    assert active_counts(clean_db) == {u: 32 for u in users}  # nobody assigned twice
    (stats,) = _cycle_stats(clean_db, "p")
    assert (stats["assigned"], stats["users_due"]) == (10 * 32, 10)
