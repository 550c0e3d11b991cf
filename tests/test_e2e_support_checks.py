"""The database checks the e2e runs rely on can fail: two processes acting as one
persona, and a slot nobody accounted for, are caught from the rows agents write."""

from __future__ import annotations

from sqlalchemy import text

from tests.e2e_support import acting_overlaps, hour_gaps, missed_hours, seed_small_population


def _hours(engine, rows: list[tuple[int, int, str, str]]) -> list[int]:
    """Insert a run and ``(agent index, sim_hour, worker, decision)`` rows; agent ids."""
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT id FROM agents ORDER BY id")).all()]
        conn.execute(
            text("INSERT INTO simulation_runs (run_id, time_scale, seed) VALUES ('r', 1800, 1)")
        )
        for agent, hour, worker, decision in rows:
            conn.execute(
                text(
                    "INSERT INTO agent_hours (run_id, agent_id, sim_hour, decision, worker) "
                    "VALUES ('r', :a, :h, :d, :w)"
                ),
                {"a": ids[agent], "h": hour, "w": worker, "d": decision},
            )
    return ids


def test_a_handover_passes_but_two_processes_acting_as_one_persona_fail(clean_db):
    seed_small_population(clean_db, n=2)
    ids = _hours(
        clean_db,
        [
            # agent 0: worker0 hours 0-2 (a missed row for hour 1 from some other process
            # is accounting, not acting), killed; worker1 takes over at 3 (a handover)
            (0, 0, "worker0", "none"), (0, 1, "master", "missed"), (0, 2, "worker0/ab12", "shop"),
            (0, 3, "worker1", "none"), (0, 4, "worker1/cd34", "idle"),
            # agent 1: two users on two processes, each winning alternate hours
            (1, 0, "worker0", "none"), (1, 1, "worker1", "none"), (1, 2, "worker0/ef56", "shop"),
            (1, 3, "worker1", "missed"), (1, 4, "worker0", "none"),
        ],
    )  # fmt: skip
    found = acting_overlaps(clean_db, "r")
    assert [r[0] for r in found] == [ids[1]]
    assert found[0][1:] == ("worker0", 0, 4, "worker1", 1, 1)  # missed hour 3 left out
    assert hour_gaps(clean_db, "r", last_hour=4) == []
    assert missed_hours(clean_db, "r") == (2, 10)


def test_an_unaccounted_slot_is_a_gap(clean_db):
    seed_small_population(clean_db, n=2)
    ids = _hours(
        clean_db,
        [(0, 0, "local", "none"), (0, 2, "local", "none"), (1, 0, "local", "none")],
    )
    assert hour_gaps(clean_db, "r", last_hour=2) == [(ids[0], 0, 2), (ids[1], 0, 1)]
