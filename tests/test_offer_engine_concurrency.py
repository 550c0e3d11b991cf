"""Acceptance: wallets never exceed MAX_WALLET_CAPACITY while cycles are assigned and
checkouts redeem coupons at the same time (real Postgres, real concurrent connections).

Two whole-cycle assigners with different seeds (another run's cycle over the same users)
is exactly the race where count-then-insert overfills: each would see room for 32 and
insert 32 different coupons.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

from sqlalchemy import text

from offer_engine.assigner import assign_cycle
from offer_engine.cycles import ensure_cycle
from offer_engine.refresh import refresh_user
from offer_engine.scheduler import advance
from offer_engine.synthetic import seed_users
from tests.test_offer_engine_support import DAY, T0, active_counts, make_settings, populate

S = make_settings()
HOUR = timedelta(hours=1)
SKIP = make_settings(WALLET_FULL_POLICY="skip")
CAP = S.max_wallet_capacity
MAX_ACTIVE = text(
    "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM user_coupons"
    " WHERE status = 'active' GROUP BY user_id) w"
)


def test_capacity_holds_under_concurrent_assignment_refresh_and_redemption(clean_db):
    eng = clean_db
    users = populate(eng, 40).user_ids
    advance(eng, run_id="r", sim_start=T0, to_sim_time=T0, settings=S)
    assert active_counts(eng) == {u: CAP for u in users}
    # Newcomers with empty wallets: nothing to replace, so nothing for two assigners to
    # block on — only the owner-row lock keeps them from both filling the same wallet.
    with eng.begin() as conn:
        users += seed_users(conn, count=40, prefix="new", start=1000)

    errors: list[BaseException] = []
    stop = threading.Event()
    seen_max: list[int] = []
    redeemed = [0]
    refreshed: list[str] = []
    at = T0 + 7 * DAY  # the boundary of cycle 1

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
                errors.append(exc)

        return run

    def monitor():
        with eng.connect() as conn:
            while not stop.is_set():
                seen_max.append(conn.execute(MAX_ACTIVE).scalar())
                conn.commit()

    def redeemer(seed: int):
        rng = random.Random(f"redeem:{seed}")
        while not stop.is_set():
            with eng.begin() as conn:
                redeemed[0] += conn.execute(
                    text(
                        "UPDATE user_coupons SET status = 'redeemed', redeemed_sim_at = :t"
                        " WHERE id = (SELECT id FROM user_coupons WHERE user_id = :u"
                        " AND status = 'active' ORDER BY random() LIMIT 1) AND status = 'active'"
                    ),
                    {"u": rng.choice(users), "t": at},
                ).rowcount

    def scheduler():
        advance(eng, run_id="r", sim_start=T0, to_sim_time=at, settings=S, batch_users=7)

    def other_run():
        with eng.begin() as conn:
            other = ensure_cycle(conn, run_id="other", cycle_number=0, sim_start=at, settings=S)
        with eng.begin() as conn:
            assign_cycle(conn, cycle=other, sim_now=at, settings=SKIP)

    def refresher(seed: int):
        rng = random.Random(f"refresh:{seed}")
        for _ in range(25):
            with eng.begin() as conn:
                res = refresh_user(conn, user_id=rng.choice(users), sim_now=at + HOUR, settings=S)
                refreshed.append(res.status)

    background = [threading.Thread(target=guarded(monitor))]
    background += [threading.Thread(target=guarded(lambda i=i: redeemer(i))) for i in range(5)]
    workers = [
        threading.Thread(target=guarded(scheduler)),
        threading.Thread(target=guarded(other_run)),
    ]
    workers += [threading.Thread(target=guarded(lambda i=i: refresher(i))) for i in range(3)]
    for t in background + workers:
        t.start()
    deadline = time.monotonic() + 240
    for t in workers:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stop.set()
    for t in background:
        t.join(timeout=30)

    assert not errors, errors
    assert not any(t.is_alive() for t in workers + background)
    assert redeemed[0] > 0 and len(seen_max) > 5  # the race really happened
    assert max(seen_max) <= CAP
    final = active_counts(eng)
    assert max(final.values()) <= CAP
    # every user ended on one of the concurrent cycles, and got offers from it
    with eng.connect() as conn:
        current = conn.execute(
            text(
                "SELECT count(*) FROM user_offer_cycles uoc JOIN offer_cycles c"
                " ON c.id = uoc.current_cycle_id"
                " WHERE (c.run_id, c.cycle_number) IN (('r', 1), ('other', 0))"
            )
        ).scalar()
        cycle_1 = conn.execute(
            text("SELECT status FROM offer_cycles WHERE run_id = 'r' AND cycle_number = 1")
        ).scalar()
    assert current == len(users)
    assert cycle_1 == "completed"
    assert len(refreshed) == 75 and set(refreshed) <= {"assigned", "not_due", "no_cycle"}
