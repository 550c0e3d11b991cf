"""What a run leaves behind, on a real database: the start-up and end-of-run clean-up of
sessions left ``active`` (and their carts), and ``--resume last`` finding the newest run.
Only simulated rows are ever touched."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db.errors import ConfigError
from harness.control.resilience import resolve_resume
from harness.control.run_record import cleanup_orphans
from tests.e2e_support import seed_small_population

SIM_AT = "2026-01-10T09:00:00+00:00"


def _world(engine) -> dict[str, int]:
    """Runs r1 (older) and r2; agents a0..a2 simulated, ``owner`` a real shopper."""
    seed_small_population(engine, n=3)
    with engine.begin() as conn:
        q = lambda sql, **p: conn.execute(text(sql), p)  # noqa: E731
        ids = [r.id for r in q("SELECT id FROM agents ORDER BY id")]
        users = [r.user_id for r in q("SELECT user_id FROM agents ORDER BY id")]
        owner = q("INSERT INTO users (email, is_simulated) VALUES ('real@x', false) RETURNING id")
        owner_user = owner.scalar_one()
        owner_agent = q(
            "INSERT INTO agents (user_id, persona_id, is_simulated, persona) "
            "VALUES (:u, 'REAL1', false, '{}') RETURNING id", u=owner_user,
        ).scalar_one()  # fmt: skip
        product = q("SELECT min(id) FROM products").scalar_one()
        q("INSERT INTO simulation_runs (run_id, time_scale, seed, started_at) VALUES "
          "('r1', 1800, 1, now() - interval '1 hour'), ('r2', 1800, 2, now())")  # fmt: skip
        sessions = [
            ("r1", ids[0], "active"),  # left active by r1: cleaned
            ("r1", ids[1], "completed"),  # finished: untouched
            ("r2", ids[2], "active"),  # another run's
            ("r1", owner_agent, "active"),  # a real shopper's: never touched
        ]
        for run, agent, status in sessions:
            q("INSERT INTO shopping_sessions (run_id, agent_id, sim_hour, status, started_sim_at) "
              "VALUES (:r, :a, 3, :s, :t)", r=run, a=agent, s=status, t=SIM_AT)  # fmt: skip
        for user in (users[0], users[1], users[2], owner_user):
            q("INSERT INTO cart_items (user_id, product_id, quantity) VALUES (:u, :p, 1)",
              u=user, p=product)  # fmt: skip
        q("INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, outcome) VALUES "
          "('r1', :a, 3, 'shop', 'pending'), ('r2', :b, 5, 'shop', 'pending')",
          a=ids[0], b=ids[2])  # fmt: skip
    return {"a0": ids[0], "a1": ids[1], "a2": ids[2], "owner": owner_agent,
            "u0": users[0], "u1": users[1], "u2": users[2], "owner_user": owner_user}  # fmt: skip


def _status(engine, agent: int) -> str:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT status FROM shopping_sessions WHERE agent_id = :a"), {"a": agent}
        ).scalar_one()


def _cart(engine, user: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM cart_items WHERE user_id = :u"), {"u": user}
        ).scalar_one()


def test_end_of_run_cleanup_touches_only_that_runs_simulated_sessions(clean_db):
    w = _world(clean_db)
    assert cleanup_orphans(clean_db, reason="run_stopped", run_id="r1") == 1
    assert _status(clean_db, w["a0"]) == "abandoned" and _cart(clean_db, w["u0"]) == 0
    assert _status(clean_db, w["a1"]) == "completed" and _cart(clean_db, w["u1"]) == 1
    assert _status(clean_db, w["a2"]) == "active" and _cart(clean_db, w["u2"]) == 1
    assert _status(clean_db, w["owner"]) == "active" and _cart(clean_db, w["owner_user"]) == 1
    with clean_db.connect() as conn:
        hours = dict(conn.execute(text("SELECT run_id, outcome FROM agent_hours")).all())
        reason = conn.execute(
            text("SELECT abandon_reason FROM shopping_sessions WHERE agent_id = :a"),
            {"a": w["a0"]},
        ).scalar_one()
    assert hours == {"r1": "abandoned", "r2": "pending"}
    assert reason == "run_stopped"


def test_start_up_cleanup_takes_every_runs_orphans_but_never_a_real_shopper(clean_db):
    w = _world(clean_db)
    assert cleanup_orphans(clean_db) == 2  # r1's and r2's simulated orphans
    assert _status(clean_db, w["a2"]) == "abandoned" and _cart(clean_db, w["u2"]) == 0
    assert _status(clean_db, w["owner"]) == "active" and _cart(clean_db, w["owner_user"]) == 1
    assert cleanup_orphans(clean_db) == 0  # idempotent


def test_resume_last_is_the_newest_run(clean_db, tmp_path):
    with pytest.raises(ConfigError, match="--resume last: there is no run in the database"):
        resolve_resume(clean_db, "last", runs_dir=tmp_path)
    _world(clean_db)
    point = resolve_resume(clean_db, "last", runs_dir=tmp_path)
    assert point.run_id == "r2" and point.seed == 2
    # No checkpoint file, no hours.csv: re-play from the start up to the database's last
    # hour (tests/test_resume_points.py has the hours.csv case).
    assert (point.source, point.from_hour, point.replay_until_hour) == ("database", 0, 6)
    with pytest.raises(ConfigError, match="--resume nope: no such run"):
        resolve_resume(clean_db, "nope", runs_dir=tmp_path)
