"""``/health``, ``/api/stores``, ``/api/products``: read-only, one query each (plus a count)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import text

from reference_api.context import CtxDep, UserDep, server_time
from reference_api.routes import UNAVAILABLE, errors
from reference_api.schemas import (
    BIGINT_MAX,
    HealthOut,
    ProductOut,
    ProductsOut,
    SafeStr,
    StoreOut,
    StoresOut,
)

router = APIRouter()

_PRODUCT_COLS = "id, sku, name, category, brand, price_cents, store_id"


@router.get("/health", response_model=HealthOut, responses=UNAVAILABLE, tags=["meta"])
def health(ctx: CtxDep) -> HealthOut:
    """Liveness: the database answers; reports simulation mode and the server's sim time."""
    with ctx.tx() as conn:
        sim = server_time(conn)
    return HealthOut(status="ok", simulation_mode=ctx.settings.simulation_mode, simulated_time=sim)


@router.get("/api/stores", response_model=StoresOut, responses=errors(), tags=["catalog"])
def stores(ctx: UserDep) -> StoresOut:
    """Every store."""
    with ctx.user_tx() as (conn, _user_id):
        rows = conn.execute(text("SELECT id, code, name, city FROM stores ORDER BY id")).all()
    return StoresOut(items=[StoreOut(id=r[0], code=r[1], name=r[2], city=r[3]) for r in rows])


@router.get("/api/products", response_model=ProductsOut, responses=errors(), tags=["catalog"])
def products(
    ctx: UserDep,
    store_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    category: Annotated[SafeStr | None, Query(max_length=64)] = None,
    brand: Annotated[SafeStr | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ProductsOut:
    """A page of the catalog, filtered by store, category and brand, ordered by id."""
    filters = {
        col: value
        for col, value in (("store_id", store_id), ("category", category), ("brand", brand))
        if value is not None
    }
    # Only fixed column names are interpolated; every value is a bound parameter.
    cond = ("WHERE " + " AND ".join(f"{c} = :{c}" for c in filters)) if filters else ""
    page = text(
        f"SELECT {_PRODUCT_COLS} FROM products {cond} ORDER BY id LIMIT :limit OFFSET :offset"
    )
    with ctx.user_tx() as (conn, _user_id):
        rows = conn.execute(page, {**filters, "limit": limit, "offset": offset}).all()
        total = conn.execute(text(f"SELECT count(*) FROM products {cond}"), filters).scalar_one()
    items = [
        ProductOut(
            id=r[0], sku=r[1], name=r[2], category=r[3], brand=r[4], price_cents=r[5], store_id=r[6]
        )
        for r in rows
    ]
    return ProductsOut(items=items, total=total, limit=limit, offset=offset)
