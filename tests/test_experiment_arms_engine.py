"""Arms in one run: the local offer engine fills each arm's wallets with that arm's
capacity, per-cycle counts, expiry and discount multiplier (real Postgres), the reference
API lists and prices the wallet's own value, and with a target every agent request and
every refresh call carries the arm (a real loopback server, ``tests/experiment_target_probe``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from sqlalchemy import text

from db.settings import SimSettings
from offer_engine.scheduler import advance
from reference_api import cart_data
from tests.e2e_support import ROOT
from tests.test_offer_engine_support import DAY, T0, active_counts, make_settings, populate

S = make_settings()


def _small_arm() -> SimSettings:
    return make_settings(
        MAX_WALLET_CAPACITY=5, FRONTSTORE_PER_CYCLE=1, CATEGORY_BRAND_PER_CYCLE=3,
        OFFER_EXPIRATION_DAYS=3,
    )  # fmt: skip


def test_each_arm_gets_its_own_wallet_settings_and_discount_depth(clean_db):
    users = populate(clean_db, 6).user_ids
    small, deep = users[:2], users[2:4]  # users[4:]: the run's settings (control)
    small_settings = _small_arm()
    policies = {u: (small_settings, 1.0) for u in small}
    policies.update({u: (S, 2.0) for u in deep})
    rep = advance(
        clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + DAY, settings=S, policies=policies
    )
    assert [c.cycle_number for c in rep.cycles] == [0]
    counts = active_counts(clean_db)
    assert {u: counts[u] for u in small} == dict.fromkeys(small, 4)  # 1 + 3, capacity 5
    assert {u: counts[u] for u in users[2:]} == dict.fromkeys(users[2:], 32)  # 2 + 30
    with clean_db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT uc.id, uc.user_id, uc.discount_value AS own, c.discount_value AS cat,"
                " c.discount_type, uc.expires_sim_at - uc.assigned_sim_at AS life"
                " FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id"
            )
        ).all()
    for r in rows:
        if r.user_id in deep:
            want = min(100, 2 * r.cat) if r.discount_type == "percent" else 2 * r.cat
            assert r.own == want, r
        else:
            assert r.own is None, r
        assert r.life == (3 * DAY if r.user_id in small else 14 * DAY)
    # The same coupons as without an experiment: only the depth differs (a clean treatment).
    picked = Counter(r.user_id for r in rows)
    assert picked[deep[0]] == picked[users[4]] == 32

    # The reference API lists and prices the wallet copy's own value.
    one = next(r for r in rows if r.user_id == deep[0] and r.discount_type == "amount")
    with clean_db.connect() as conn:
        terms = cart_data.load_user_coupon(conn, user_id=deep[0], user_coupon_id=one.id)
        from reference_api.routes.offers import _WALLET

        listed = conn.execute(_WALLET, {"user_id": deep[0], "now": T0 + DAY}).all()
        control = conn.execute(_WALLET, {"user_id": users[4], "now": T0 + DAY}).all()
    assert terms is not None and terms.discount_value == 2 * one.cat
    assert {row[0]: row[6] for row in listed}[one.id] == 2 * one.cat
    # ... and the catalog's value beside it (shoppers respond to the depth: behaviors.offers),
    # null on a wallet copy with the catalog's own value
    cat = {r.id: r.cat for r in rows}
    assert [row[13] for row in listed] == [cat[row[0]] for row in listed]
    assert len(control) == 32 and {row[13] for row in control} == {None}


def test_without_policies_the_engine_writes_no_wallet_value(clean_db):
    populate(clean_db, 3)
    advance(clean_db, run_id="r", sim_start=T0, to_sim_time=T0 + DAY, settings=S)
    with clean_db.connect() as conn:
        values = conn.execute(text("SELECT DISTINCT discount_value FROM user_coupons")).all()
    assert values == [(None,)]


def test_a_target_sees_the_arm_on_every_agent_request_and_each_refresh():
    r = subprocess.run(
        [sys.executable, "-m", "tests.experiment_target_probe"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert len(out["agent_with_arm"]) == 3
    assert {s["arm"] for s in out["agent_with_arm"]} == {"deeper"}
    assert {s["arm"] for s in out["agent_without_arm"]} == {None}
    refreshes = [(s["path"], s["arm"]) for s in out["cycle"]["seen"] if "refresh" in s["path"]]
    assert refreshes == [
        ("/refresh/user/101", "current"), ("/refresh/user/102", "deeper"),
        ("/refresh/user/103", "current"),
    ]  # fmt: skip
    assert out["cycle"]["done"]["refreshed"] == {"200": 3} and out["cycle"]["info"] is None
