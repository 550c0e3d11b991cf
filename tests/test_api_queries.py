"""No N+1: a cart or wallet read costs the same number of queries whatever its size."""

from __future__ import annotations

from sqlalchemy import event, text

from db.settings import SimSettings
from reference_api.context import UserCtx
from reference_api.routes.cart import get_cart
from reference_api.routes.offers import wallet
from tests import test_api_helpers as _h
from tests.test_api_helpers import SIM_NOW

api_db_url, api_engine, world = _h.api_db_url, _h.api_engine, _h.world


def _count_queries(engine, fn) -> int:
    seen: list[str] = []

    def on_execute(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return len(seen)


def test_cart_and_wallet_reads_do_not_grow_with_their_size(api_engine, world):
    ctx = UserCtx(
        engine=api_engine,
        settings=SimSettings(SIMULATION_MODE=True),
        header_now=SIM_NOW,
        agent_id=world.agents[0],
    )
    with api_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO cart_items (user_id, product_id, quantity) VALUES (:u, :p, 1)"),
            {"u": world.users[0], "p": world.products["milk"]},
        )
    small_cart = _count_queries(api_engine, lambda: get_cart(ctx))
    small_wallet = _count_queries(api_engine, lambda: wallet(ctx))
    with api_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cart_items (user_id, product_id, quantity) "
                "SELECT :u, id, 2 FROM products WHERE id <> :p"
            ),
            {"u": world.users[0], "p": world.products["milk"]},
        )
        conn.execute(
            text("INSERT INTO cart_coupons (user_id, user_coupon_id) VALUES (:u, :uc)"),
            {"u": world.users[0], "uc": world.wallet["front10"]},
        )
    big = get_cart(ctx)
    assert len(big.items) == 6 and big.discount_cents > 0
    assert _count_queries(api_engine, lambda: get_cart(ctx)) == small_cart
    assert len(wallet(ctx).items) == 4
    assert _count_queries(api_engine, lambda: wallet(ctx)) == small_wallet
    # auth + lines + applied coupon (+ the statement-timeout SET LOCAL per transaction)
    assert small_cart <= 4 and small_wallet <= 3
