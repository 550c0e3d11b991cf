"""Cycle manager, expiration handler and clock persistence on a real Postgres."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from offer_engine.clock import SimClock
from offer_engine.cycles import current_cycle, ensure_cycle, get_cycle, list_cycles
from offer_engine.expiration import expire_due
from offer_engine.state import get_server_time, load_clock, save_clock, set_server_time
from tests.test_offer_engine_support import DAY, T0, make_settings

S = make_settings()


def test_ensure_cycle_is_idempotent_per_run(clean_db):
    with clean_db.begin() as conn:
        first = ensure_cycle(conn, run_id="r1", cycle_number=2, sim_start=T0, settings=S)
        again = ensure_cycle(conn, run_id="r1", cycle_number=2, sim_start=T0, settings=S)
        other = ensure_cycle(conn, run_id="r2", cycle_number=2, sim_start=T0, settings=S)
    assert again.id == first.id
    assert other.id != first.id
    assert first.simulated_start_date == T0 + 14 * DAY
    assert first.simulated_end_date == T0 + 21 * DAY
    assert first.status == "created" and first.is_simulation


def test_server_cycles_with_null_run_are_one_key_space(clean_db):
    with clean_db.begin() as conn:
        a = ensure_cycle(conn, run_id=None, cycle_number=0, sim_start=T0, settings=S)
        b = ensure_cycle(conn, run_id=None, cycle_number=0, sim_start=T0, settings=S)
        assert a.id == b.id
        assert [c.id for c in list_cycles(conn)] == [a.id]
        assert get_cycle(conn, cycle_id=a.id) == a
        assert get_cycle(conn, cycle_id=a.id + 999) is None


def test_racing_creators_make_one_cycle(clean_db):
    ids: list[int] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        with clean_db.begin() as conn:
            ids.append(
                ensure_cycle(conn, run_id="race", cycle_number=0, sim_start=T0, settings=S).id
            )

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM offer_cycles")).scalar() == 1


def test_current_cycle_is_latest_created_containing_time(clean_db):
    with clean_db.begin() as conn:
        assert current_cycle(conn, sim_now=T0) is None
        c0 = ensure_cycle(conn, run_id=None, cycle_number=0, sim_start=T0, settings=S)
        c1 = ensure_cycle(conn, run_id=None, cycle_number=1, sim_start=T0, settings=S)
        assert current_cycle(conn, sim_now=T0 + 6 * DAY).id == c0.id
        assert current_cycle(conn, sim_now=T0 + 7 * DAY).id == c1.id  # end is exclusive
        run = ensure_cycle(conn, run_id="r", cycle_number=0, sim_start=T0, settings=S)
        assert current_cycle(conn, sim_now=T0 + DAY).id == run.id
        assert current_cycle(conn, sim_now=T0 + 30 * DAY) is None


def _coupon_rows(conn, user_id: int) -> None:
    conn.execute(
        text(
            "INSERT INTO coupons (code, kind, title, discount_type, discount_value)"
            " VALUES ('X1', 'frontstore', 'x', 'percent', 10), ('X2', 'frontstore', 'x',"
            " 'percent', 10), ('X3', 'frontstore', 'x', 'percent', 10)"
        )
    )
    # active simulated due, active simulated not yet due, redeemed past expiry, and a
    # non-simulated active past expiry that the harness must never touch
    conn.execute(
        text(
            "INSERT INTO user_coupons (user_id, coupon_id, status, is_simulation,"
            " assigned_sim_at, expires_sim_at) VALUES"
            " (:u, 1, 'active', true, :a, :due), (:u, 2, 'active', true, :a, :later),"
            " (:u, 3, 'redeemed', true, :a, :due), (:u, 3, 'active', false, :a, :due)"
        ),
        {"u": user_id, "a": T0, "due": T0 + 14 * DAY, "later": T0 + 15 * DAY},
    )


def test_expire_due_only_touches_active_simulated_rows(clean_db):
    with clean_db.begin() as conn:
        uid = conn.execute(
            text("INSERT INTO users (email, is_simulated) VALUES ('e@x', true) RETURNING id")
        ).scalar()
        _coupon_rows(conn, uid)
        assert expire_due(conn, sim_now=T0 + 14 * DAY - timedelta(seconds=1)) == 0
        assert expire_due(conn, sim_now=T0 + 14 * DAY, user_ids=[uid + 1]) == 0
        assert expire_due(conn, sim_now=T0 + 14 * DAY, user_ids=[]) == 0
        assert expire_due(conn, sim_now=T0 + 14 * DAY) == 1
        rows = conn.execute(
            text(
                "SELECT coupon_id, status, removed_reason, removed_sim_at, is_simulation"
                " FROM user_coupons ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "expired", "expired", T0 + 14 * DAY, True),
        (2, "active", None, None, True),
        (3, "redeemed", None, None, True),
        (3, "active", None, None, False),
    ]


def test_clock_state_round_trip(clean_db):
    clock = SimClock(real_t0=1_700_000_000.5, sim_t0=T0 + 3 * DAY, scale=96.0)
    with clean_db.begin() as conn:
        assert load_clock(conn, key="run-1") is None
        save_clock(conn, key="run-1", clock=clock, cycle_number=0)
        paused = clock.pause(real=1_700_000_100.0)
        save_clock(conn, key="run-1", clock=paused, cycle_number=1)
        back = load_clock(conn, key="run-1")
        row = conn.execute(
            text("SELECT cycle_number, paused, time_scale, simulated_date FROM simulation_state")
        ).one()
    assert back == paused
    assert tuple(row) == (1, True, 96.0, paused.sim_t0)


def test_server_time(clean_db):
    with clean_db.begin() as conn:
        assert get_server_time(conn) is None
        set_server_time(conn, sim_time=T0)
        set_server_time(conn, sim_time=T0 + 2 * DAY)
        assert get_server_time(conn) == T0 + 2 * DAY
        clock = load_clock(conn, key="server")
    assert clock is not None and clock.paused and clock.now() == T0 + 2 * DAY


def test_sweep_skips_rows_in_use_and_records_the_true_expiry(clean_db):
    with clean_db.begin() as conn:
        uid = conn.execute(
            text("INSERT INTO users (email, is_simulated) VALUES ('s@x', true) RETURNING id")
        ).scalar()
        _coupon_rows(conn, uid)
    late = T0 + 20 * DAY
    holder = clean_db.connect()
    try:
        tx = holder.begin()  # e.g. a checkout holding the row, not yet committed
        holder.execute(text("SELECT id FROM user_coupons WHERE coupon_id = 1 FOR UPDATE"))
        with clean_db.begin() as conn:
            assert expire_due(conn, sim_now=late) == 1  # the held row skipped, no wait
        tx.rollback()
    finally:
        holder.close()
    with clean_db.begin() as conn:
        assert expire_due(conn, sim_now=late) == 1  # its turn once released
        rows = conn.execute(
            text(
                "SELECT coupon_id, removed_sim_at FROM user_coupons"
                " WHERE removed_reason = 'expired' ORDER BY coupon_id"
            )
        ).all()
    # swept 5-6 days late, but recorded at the instant each coupon expired
    assert [tuple(r) for r in rows] == [(1, T0 + 14 * DAY), (2, T0 + 15 * DAY)]
