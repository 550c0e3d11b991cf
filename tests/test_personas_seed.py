"""Seeding personas into a real embedded Postgres: idempotence, all-or-nothing, isolation
from rows that are not simulated, and the active-agent pool."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from db.errors import ConfigError
from db.models import Agent, User
from personas.sample import generate_personas
from personas.seed import load_active_agents, persona_email, persona_hash, seed_personas


@pytest.fixture(scope="module")
def people():
    return generate_personas(40, seed=5)


def _counts(conn) -> tuple[int, int]:
    return (
        conn.execute(select(func.count()).select_from(User)).scalar_one(),
        conn.execute(select(func.count()).select_from(Agent)).scalar_one(),
    )


def test_seed_creates_simulated_users_and_active_agents(clean_db, people):
    with clean_db.begin() as conn:
        stats = seed_personas(conn, personas=people)
    assert (stats.users.inserted, stats.agents.inserted) == (40, 40)
    with clean_db.connect() as conn:
        assert _counts(conn) == (40, 40)
        row = conn.execute(
            select(User.email, User.full_name, User.is_simulated, Agent.status, Agent.is_simulated,
                   Agent.persona, Agent.persona_hash)
            .join(Agent, Agent.user_id == User.id)
            .where(Agent.persona_id == people[0].persona_id)
        ).one()  # fmt: skip
    assert row.email == f"sim+{people[0].persona_id}@voiceoffers.test"
    assert row.full_name == people[0].name
    assert row.is_simulated and row[4] and row.status == "active"
    assert row.persona == people[0].model_dump(mode="json")
    assert row.persona_hash == persona_hash(people[0])


def test_seeding_twice_leaves_the_same_counts_and_updates_changed_personas(clean_db, people):
    with clean_db.begin() as conn:
        seed_personas(conn, personas=people)
    with clean_db.begin() as conn:
        again = seed_personas(conn, personas=people)
        assert _counts(conn) == (40, 40)
    assert again.agents.unchanged == 40 and again.users.unchanged == 40
    changed = [
        p.model_copy(update={"shopping_frequency": 9.5}) if i < 3 else p
        for i, p in enumerate(people)
    ]
    with clean_db.begin() as conn:
        third = seed_personas(conn, personas=changed)
        assert _counts(conn) == (40, 40)
        freq = conn.execute(
            text(
                "SELECT (persona->>'shopping_frequency')::float FROM agents WHERE persona_id = :p"
            ),
            {"p": people[0].persona_id},
        ).scalar_one()
    assert (third.agents.updated, third.agents.unchanged, third.agents.inserted) == (3, 37, 0)
    assert freq == 9.5


def test_reseeding_reactivates_and_deactivate_missing_narrows_the_pool(clean_db, people):
    with clean_db.begin() as conn:
        seed_personas(conn, personas=people)
        conn.execute(text("UPDATE agents SET status = 'inactive' WHERE persona_id = :p"),
                     {"p": people[1].persona_id})  # fmt: skip
    with clean_db.begin() as conn:
        stats = seed_personas(conn, personas=people[:10], deactivate_missing=True)
        pool = load_active_agents(conn)
    assert stats.agents.updated == 1 and stats.deactivated == 30
    assert [p.persona_id for _, _, p in pool] == [p.persona_id for p in people[:10]]


def test_load_active_agents_ordered_by_id_and_skips_inactive(clean_db, people):
    with clean_db.begin() as conn:
        seed_personas(conn, personas=people[:5])
        conn.execute(text("UPDATE agents SET status = 'inactive' WHERE persona_id = :p"),
                     {"p": people[2].persona_id})  # fmt: skip
        pool = load_active_agents(conn)
        ids = conn.execute(
            text("SELECT id, user_id FROM agents WHERE status='active' ORDER BY id")
        ).all()
    assert [(a, u) for a, u, _ in pool] == [tuple(r) for r in ids]
    assert [p for _, _, p in pool] == [people[i] for i in (0, 1, 3, 4)]


def test_load_active_agents_names_a_stored_persona_that_no_longer_validates(clean_db, people):
    with clean_db.begin() as conn:
        seed_personas(conn, personas=people[:2])
        conn.execute(text("UPDATE agents SET persona = jsonb_set(persona, '{age}', '7') WHERE persona_id = :p"),
                     {"p": people[1].persona_id})  # fmt: skip
    with pytest.raises(ConfigError) as info, clean_db.connect() as conn:
        load_active_agents(conn)
    assert f"({people[1].persona_id}) age" in str(info.value)


def test_never_touches_users_or_agents_that_are_not_simulated(clean_db, people):
    real_email = persona_email(people[3].persona_id)
    with clean_db.begin() as conn:
        conn.execute(text("INSERT INTO users (email, full_name, is_simulated) VALUES (:e, 'Real Person', false)"),
                     {"e": real_email})  # fmt: skip
    with pytest.raises(ConfigError) as info, clean_db.begin() as conn:
        seed_personas(conn, personas=people)
    assert "users.email" in str(info.value) and real_email in str(info.value)
    with clean_db.connect() as conn:
        assert _counts(conn) == (1, 0)  # nothing seeded, the real user untouched
        assert conn.execute(select(User.full_name, User.is_simulated)).one() == (
            "Real Person",
            False,
        )


def test_emails_are_valid_and_unique_for_unusual_ids():
    odd = ["P 1", "p/1", "Ünïcode", "P1"]
    emails = [persona_email(i) for i in odd]
    assert len(set(emails)) == 4
    assert emails[3] == "sim+P1@voiceoffers.test"
    assert all(" " not in e and "/" not in e and e.isascii() for e in emails)
