"""The set-based offer cycle gives the very wallets the earlier assigner gave for a fixed seed.

``tests/data/offer_cycle_golden.json`` was computed by the assigner as it was before the
cycle was rewritten (the same scenario, the same fixtures): three simulated weeks of 40
users on the synthetic catalog under ``replace_oldest``, a quarter of them in a small,
deeper experiment arm (capacity 5, 1 + 3 per cycle, 3-day expiry, values x2), checkouts
between cycles, batches of 16 users. Every wallet row — which coupon, its status, cycle,
instants, removal reason and own value — and every cycle's counts must match exactly.

Row ids are left out: the earlier assigner wrote a batch's rows in whatever order its plan
produced (for the small arm, coupon by coupon), the set-based one writes them user by user
in pick order. The scenario depends on the rules only: checkouts take a wallet's coupons by
coupon id, and no ``replace_oldest`` here has to break a tie between rows of one cycle (the
main arm replaces whole wallets, the small arm's coupons expire before the next cycle).

To regenerate from a given assigner (only when the rules are meant to change):
``OFFER_GOLDEN_WRITE=1 pytest tests/test_offer_cycle_golden.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import event, text

from offer_engine import _assign_sql as sql_
from offer_engine.scheduler import advance
from tests.test_offer_engine_support import DAY, T0, make_settings, populate

GOLDEN = Path(__file__).parent / "data" / "offer_cycle_golden.json"
S = make_settings()
ARM = make_settings(
    MAX_WALLET_CAPACITY=5, FRONTSTORE_PER_CYCLE=1, CATEGORY_BRAND_PER_CYCLE=3,
    OFFER_EXPIRATION_DAYS=3,
)  # fmt: skip


_WATCHERS: dict[int, object] = {}


def _watch(seen: list[str]):
    """One listener per list (event.remove needs the very function given to listen)."""

    def listener(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    return _WATCHERS.setdefault(id(seen), listener)


def _redeem(engine, *, user_id: int, count: int, sim_time) -> None:
    """A checkout of the wallet's first ``count`` active coupons by coupon id."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE user_coupons SET status = 'redeemed', redeemed_sim_at = :t WHERE id IN"
                " (SELECT id FROM user_coupons WHERE user_id = :u AND status = 'active'"
                "  ORDER BY coupon_id LIMIT :n)"
            ),
            {"u": user_id, "n": count, "t": sim_time},
        )


def _run_scenario(engine) -> dict:
    users = populate(engine, 40).user_ids
    policies = {u: (ARM, 2.0) for u in users if u % 4 == 0}
    cycles = []
    for week in range(4):
        now = T0 + 7 * week * DAY
        rep = advance(
            engine, run_id="g", sim_start=T0, to_sim_time=now, settings=S,
            batch_users=16, policies=policies,
        )  # fmt: skip
        cycles += [
            {"n": c.cycle_number, "expired": c.expired, **c.stats.to_dict()} for c in rep.cycles
        ]
        for u in users:
            if u % 3 == 0:
                _redeem(engine, user_id=u, count=1 + u % 5, sim_time=now + 2 * DAY)
    for c in cycles:
        del c["duration_s"], c["cycle_id"]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT uc.user_id, uc.coupon_id, uc.status, oc.cycle_number,"
                " uc.assigned_sim_at, uc.expires_sim_at, uc.redeemed_sim_at, uc.removed_sim_at,"
                " uc.removed_reason, uc.discount_value, uc.is_simulation"
                " FROM user_coupons uc LEFT JOIN offer_cycles oc ON oc.id = uc.offer_cycle_id"
                " ORDER BY uc.user_id, uc.coupon_id, uc.assigned_sim_at"
            )
        ).all()
    lines = "\n".join("|".join("" if v is None else str(v) for v in r) for r in rows)
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r.status] = by_status.get(r.status, 0) + 1
    return {
        "rows": len(rows),
        "by_status": dict(sorted(by_status.items())),
        "rows_sha256": hashlib.sha256(lines.encode()).hexdigest(),
        "cycles": cycles,
    }


@pytest.mark.parametrize("batched_key_checks", [True, False], ids=["batched", "row-triggers"])
def test_offer_cycles_match_the_earlier_assigner_for_a_fixed_seed(
    clean_db, monkeypatch, batched_key_checks
):
    """Both insert paths: key checks batched into the statement (the suite's server lets
    the assigner switch the per-row triggers off) and the per-row triggers (a role that
    may not, or a table with a trigger of its own)."""
    with clean_db.connect() as conn:
        assert conn.execute(sql_.BATCHED_KEY_CHECKS).scalar() is True
    if not batched_key_checks:
        monkeypatch.setattr(sql_, "BATCHED_KEY_CHECKS", text("SELECT false"))
    seen: list[str] = []
    event.listen(clean_db, "before_cursor_execute", _watch(seen))
    try:
        got = _run_scenario(clean_db)
    finally:
        event.remove(clean_db, "before_cursor_execute", _watch(seen))
    switched = [s for s in seen if "session_replication_role = replica" in s]
    assert bool(switched) is batched_key_checks
    if os.environ.get("OFFER_GOLDEN_WRITE") == "1":
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got["cycles"] == want["cycles"]
    assert (got["rows"], got["by_status"]) == (want["rows"], want["by_status"])
    assert got["rows_sha256"] == want["rows_sha256"]
