"""Offer assigner and per-user refresh on a real Postgres (acceptance: 2 + 30 per cycle,
policies, persona fit, idempotence, crash re-run)."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import text

from offer_engine.assigner import WalletCapacityExceeded, assign_cycle
from offer_engine.cycles import ensure_cycle, get_cycle
from offer_engine.refresh import refresh_user
from offer_engine.synthetic import persona_for, seed_users
from tests.test_offer_engine_support import (
    DAY,
    T0,
    active_counts,
    make_settings,
    populate,
    redeem,
    wallet_snapshot,
)

S = make_settings()


@pytest.fixture()
def population(clean_db):
    return populate(clean_db, 12)


def _cycle(engine, n, *, run_id="r", settings=S):
    with engine.begin() as conn:
        return ensure_cycle(conn, run_id=run_id, cycle_number=n, sim_start=T0, settings=settings)


def _assign(engine, cycle, *, settings=S, user_ids=None, at=None):
    with engine.begin() as conn:
        return assign_cycle(
            conn,
            cycle=cycle,
            sim_now=at or cycle.simulated_start_date,
            settings=settings,
            user_ids=user_ids,
        )


def _kinds(engine, cycle_id):
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT uc.user_id, c.kind, count(*) FROM user_coupons uc"
                " JOIN coupons c ON c.id = uc.coupon_id"
                " WHERE uc.offer_cycle_id = :cid AND uc.status = 'active'"
                " GROUP BY 1, 2"
            ),
            {"cid": cycle_id},
        ).all()
    return {(r[0], r[1]): r[2] for r in rows}


def test_cycle_gives_each_user_2_frontstore_and_30_category_brand(population):
    eng, users = population.engine, population.user_ids
    c0 = _cycle(eng, 0)
    stats = _assign(eng, c0)
    assert (stats.users_due, stats.assigned, stats.frontstore, stats.users_short) == (
        12,
        12 * 32,
        24,
        0,
    )
    kinds = _kinds(eng, c0.id)
    for u in users:
        assert kinds[(u, "frontstore")] == 2
        assert kinds[(u, "category_brand")] == 30
    with eng.connect() as conn:
        row = conn.execute(
            text(
                "SELECT bool_and(is_simulation), min(assigned_sim_at), max(expires_sim_at),"
                " count(DISTINCT (user_id, coupon_id)) FROM user_coupons"
            )
        ).one()
        uoc = conn.execute(
            text("SELECT current_cycle_id, last_refresh_at, next_refresh_at FROM user_offer_cycles")
        ).all()
    assert tuple(row) == (True, T0, T0 + 14 * DAY, 12 * 32)  # no duplicate coupon per user
    assert set(map(tuple, uoc)) == {(c0.id, T0, T0 + 7 * DAY)}
    with eng.connect() as conn:
        recorded = get_cycle(conn, cycle_id=c0.id)
    assert recorded.status == "completed" and recorded.stats["assigned"] == 12 * 32


def test_replace_oldest_leaves_exactly_a_fresh_cycle(population):
    eng, users = population.engine, population.user_ids
    _assign(eng, _cycle(eng, 0))
    assert redeem(eng, user_id=users[0], count=5, sim_time=T0 + DAY) == 5
    c1 = _cycle(eng, 1)
    stats = _assign(eng, c1)
    # 11 full wallets (32 replaced each) + one with 27 left after 5 redemptions
    assert stats.replaced == 11 * 32 + 27
    assert stats.assigned == 12 * 32
    assert active_counts(eng) == {u: 32 for u in users}
    kinds = _kinds(eng, c1.id)
    assert all(kinds[(u, "frontstore")] == 2 and kinds[(u, "category_brand")] == 30 for u in users)
    with eng.connect() as conn:
        reasons = Counter(
            tuple(r) for r in conn.execute(text("SELECT status, removed_reason FROM user_coupons"))
        )
    assert reasons == {
        ("active", None): 12 * 32,
        ("expired", "replaced"): 11 * 32 + 27,
        ("redeemed", None): 5,  # redeemed stay redeemed
    }


def test_skip_policy_fills_only_free_room(population):
    skip = make_settings(WALLET_FULL_POLICY="skip")
    eng, users = population.engine, population.user_ids
    _assign(eng, _cycle(eng, 0, settings=skip), settings=skip)
    redeem(eng, user_id=users[0], count=5, sim_time=T0 + DAY)
    c1 = _cycle(eng, 1, settings=skip)
    stats = _assign(eng, c1, settings=skip)
    assert (stats.replaced, stats.assigned, stats.users_assigned) == (0, 5, 1)
    assert stats.users_short == 12
    assert active_counts(eng) == {u: 32 for u in users}
    # frontstore first when room is short
    assert _kinds(eng, c1.id) == {(users[0], "frontstore"): 2, (users[0], "category_brand"): 3}


def test_choice_fits_the_persona(clean_db):
    # Strong brand loyalists: preferred brands and categories dominate their category/brand picks.
    pop = populate(clean_db, 40)
    with clean_db.begin() as conn:
        conn.execute(
            text(
                "UPDATE agents SET persona = persona || jsonb_build_object('brand_loyalty', 1.0,"
                " 'preferred_brands', jsonb_build_array('acme'),"
                " 'preferred_categories', jsonb_build_array('dairy'))"
            )
        )
    c0 = _cycle(clean_db, 0)
    _assign(clean_db, c0)
    with clean_db.connect() as conn:
        got = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE c.brand = 'acme' OR c.category = 'dairy'),"
                " count(*) FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id"
                " WHERE c.kind = 'category_brand'"
            )
        ).one()
        pool = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE brand = 'acme' OR category = 'dairy'), count(*)"
                " FROM coupons WHERE kind = 'category_brand'"
            )
        ).one()
    uniform_share = pool[0] / pool[1]  # what a persona-blind draw would give
    picked_share = got[0] / got[1]
    assert got[1] == 30 * len(pop.user_ids)
    assert pool[0] < 30  # every matching coupon fits in one cycle's 30
    assert picked_share > 2.5 * uniform_share
    assert got[0] >= 0.85 * pool[0] * len(pop.user_ids)


def test_picks_are_a_function_of_run_cycle_and_user(clean_db):
    pop = populate(clean_db, 6)
    c0 = _cycle(clean_db, 0)
    _assign(clean_db, c0)

    def picks(cycle_id):
        with clean_db.connect() as conn:
            return sorted(
                tuple(r)
                for r in conn.execute(
                    text("SELECT user_id, coupon_id FROM user_coupons WHERE offer_cycle_id = :c"),
                    {"c": cycle_id},
                )
            )

    first = picks(c0.id)
    with clean_db.begin() as conn:  # forget the assignment and run it again
        conn.execute(text("DELETE FROM user_coupons"))
        conn.execute(text("UPDATE user_offer_cycles SET current_cycle_id = NULL"))
    _assign(clean_db, c0)
    assert picks(c0.id) == first
    other_run = _cycle(clean_db, 0, run_id="another")
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM user_coupons"))
    _assign(clean_db, other_run)
    second = picks(other_run.id)
    assert {u for u, _ in second} == set(pop.user_ids)
    assert second != first  # another run draws differently


def test_rerun_and_crash_rerun_change_nothing(population):
    eng = population.engine
    c0 = _cycle(eng, 0)
    # A crash mid-cycle: the transaction dies after the inserts, nothing survives.
    with pytest.raises(RuntimeError, match="simulated crash"):
        with eng.begin() as conn:
            assign_cycle(conn, cycle=c0, sim_now=T0, settings=S)
            raise RuntimeError("simulated crash")
    assert wallet_snapshot(eng) == []
    _assign(eng, c0)
    before = wallet_snapshot(eng)
    stats = _assign(eng, c0)
    assert (stats.users_due, stats.assigned, stats.replaced) == (0, 0, 0)
    assert wallet_snapshot(eng) == before
    with eng.connect() as conn:
        assert get_cycle(conn, cycle_id=c0.id).stats["runs"] == 1


def test_only_active_simulated_users_get_offers(clean_db):
    pop = populate(clean_db, 3)
    with clean_db.begin() as conn:
        real = seed_users(conn, count=2, prefix="real", start=100, simulated=False)
        idle = seed_users(conn, count=2, prefix="idle", start=200, status="inactive")
    _assign(clean_db, _cycle(clean_db, 0))
    counts = active_counts(clean_db)
    assert set(counts) == set(pop.user_ids)
    assert not (set(real) | set(idle)) & set(counts)


def test_non_simulated_coupons_are_never_replaced(population):
    eng, users = population.engine, population.user_ids
    with eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_coupons (user_id, coupon_id, status, is_simulation)"
                " SELECT :u, id, 'active', false FROM coupons ORDER BY id LIMIT 10"
            ),
            {"u": users[0]},
        )
    stats = _assign(eng, _cycle(eng, 0))
    assert active_counts(eng)[users[0]] == 32  # 10 kept + 22 into the free room
    assert stats.users_short == 1
    with eng.connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM user_coupons WHERE NOT is_simulation AND status = 'active'")
        ).scalar()
    assert kept == 10


def test_guard_aborts_when_this_assignment_overfills_a_wallet(population):
    # Something outside the engine inserted a coupon for this assignment's cycle and
    # instant into a full wallet: the guard must refuse to commit 33.
    eng, users = population.engine, population.user_ids
    c0 = _cycle(eng, 0)
    _assign(eng, c0)
    at = T0 + 7 * DAY
    with eng.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_coupons (user_id, coupon_id, status, is_simulation,"
                " offer_cycle_id, assigned_sim_at) SELECT :u, id, 'active', true, :c, :t"
                " FROM coupons WHERE id NOT IN (SELECT coupon_id FROM user_coupons"
                " WHERE user_id = :u AND status = 'active') ORDER BY id LIMIT 1"
            ),
            {"u": users[1], "c": c0.id, "t": at},
        )
        conn.execute(text("UPDATE user_offer_cycles SET current_cycle_id = NULL"))
    before = wallet_snapshot(eng)
    with pytest.raises(WalletCapacityExceeded, match=f"user {users[1]}: 33"):
        with eng.begin() as conn:
            assign_cycle(
                conn, cycle=c0, sim_now=at, settings=make_settings(WALLET_FULL_POLICY="skip")
            )
    assert wallet_snapshot(eng) == before


def test_refresh_user_is_idempotent_within_a_cycle(population):
    eng, users = population.engine, population.user_ids
    u = users[3]
    with eng.begin() as conn:
        assert refresh_user(conn, user_id=u, sim_now=T0, settings=S).status == "no_cycle"
    c0 = _cycle(eng, 0)
    mid = T0 + 2 * DAY
    with eng.begin() as conn:
        first = refresh_user(conn, user_id=u, sim_now=mid, settings=S)
        second = refresh_user(conn, user_id=u, sim_now=mid + DAY, settings=S)
    assert (first.status, first.assigned, first.cycle_number, first.cycle_id) == (
        "assigned",
        32,
        0,
        c0.id,
    )
    assert (second.status, second.assigned) == ("not_due", 0)
    assert active_counts(eng) == {u: 32}
    with eng.connect() as conn:
        exp = conn.execute(
            text("SELECT DISTINCT expires_sim_at FROM user_coupons WHERE user_id = :u"), {"u": u}
        ).scalar()
    assert exp == mid + 14 * DAY  # assigned mid-cycle: expires 14 simulated days later
    # next cycle: due again, the old coupons are replaced
    _cycle(eng, 1)
    with eng.begin() as conn:
        third = refresh_user(conn, user_id=u, sim_now=T0 + 8 * DAY, settings=S)
    assert (third.status, third.assigned, third.replaced, third.cycle_number) == (
        "assigned",
        32,
        32,
        1,
    )
    # per-user refreshes do not write the cycle's stats (no hot row under load)
    with eng.connect() as conn:
        assert get_cycle(conn, cycle_id=c0.id).stats is None


def test_persona_helper_is_deterministic():
    assert persona_for(7, seed="a") == persona_for(7, seed="a")
    assert persona_for(7, seed="a") != persona_for(8, seed="a")


def test_whole_cycle_in_chunks_is_one_transaction(population, monkeypatch):
    import offer_engine.assigner as assigner_mod

    monkeypatch.setattr(assigner_mod, "CHUNK_USERS", 5)  # 12 users → chunks of 5, 5, 2
    eng, users = population.engine, population.user_ids
    c0 = _cycle(eng, 0)
    stats = _assign(eng, c0)
    assert (stats.users_due, stats.users_assigned, stats.assigned, stats.frontstore) == (
        12,
        12,
        12 * 32,
        24,
    )
    assert active_counts(eng) == {u: 32 for u in users}
    c1 = _cycle(eng, 1)
    with pytest.raises(RuntimeError, match="crash"):
        with eng.begin() as conn:
            assign_cycle(conn, cycle=c1, sim_now=c1.simulated_start_date, settings=S)
            raise RuntimeError("crash")
    assert set(_kinds(eng, c0.id)) == {
        (u, k) for u in users for k in ("frontstore", "category_brand")
    }


def test_fits_real_personas_on_the_project_catalog(clean_db):
    """Persona JSON as `personas.seed` writes it, coupons as `personas.catalog` writes them."""
    from personas.catalog import generate_catalog
    from personas.catalog import seed_catalog as seed_project_catalog
    from personas.sample import generate_personas
    from personas.seed import seed_personas

    personas = generate_personas(30, seed=3)
    with clean_db.begin() as conn:
        seed_project_catalog(conn, data=generate_catalog())
        seed_personas(conn, personas=personas)
    c0 = _cycle(clean_db, 0)
    stats = _assign(clean_db, c0)
    assert (stats.users_due, stats.assigned, stats.users_short) == (30, 30 * 32, 0)
    with clean_db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.persona, c.category, c.brand FROM user_coupons uc"
                " JOIN coupons c ON c.id = uc.coupon_id JOIN agents a ON a.user_id = uc.user_id"
                " WHERE c.kind = 'category_brand'"
            )
        ).all()
        pool = conn.execute(
            text("SELECT category, brand FROM coupons WHERE kind = 'category_brand' AND is_active")
        ).all()

    def fits(persona, category, brand):
        cats = {x.lower() for x in persona["preferred_categories"]}
        brands = {x.lower() for x in persona["preferred_brands"]}
        return (category or "").lower() in cats or (brand or "").lower() in brands

    picked = sum(fits(p, c, b) for p, c, b in rows) / len(rows)
    blind = sum(fits(p.model_dump(mode="json"), c, b) for p in personas for c, b in pool) / (
        len(personas) * len(pool)
    )
    assert picked > 2 * blind
