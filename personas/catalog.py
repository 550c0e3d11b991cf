"""The synthetic catalog: stores, products and the coupon pool, generated and seeded.

``generate_catalog`` is pure and deterministic for a seed (``--mock-db`` runs use it
without a database); ``seed_catalog`` upserts it by natural keys (store code, SKU, coupon
code), so seeding twice changes nothing. Sizes meet the owner's pre-flight (
≥ 50 frontstore and ≥ 150 category/brand coupons, products across categories) with room:
20 stores × 15 categories × 11 products = 3,300 products of 92 brands, 72 frontstore and
306 category/brand coupons.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, select

from db.models import Coupon, Product, Store
from personas import vocab
from personas._upsert import UpsertCounts, refuse_foreign_keys, upsert

DEFAULT_CATALOG_SEED = 7
"""The seed ``loadsim catalog seed`` and the embedded default use."""

PRODUCTS_PER_CATEGORY = 11
"""Products each store carries per category (≥ the 8 brands, so every brand is on every
shelf and each persona's preferred brands are available in its store)."""

FRONTSTORE_COUPONS = 72
CATEGORY_WIDE_COUPONS = 4  # per category
BRAND_COUPONS = 2  # per (category, brand)


@dataclass(frozen=True)
class StoreSpec:
    """A store row (natural key ``code``)."""

    code: str
    name: str
    city: str


@dataclass(frozen=True)
class ProductSpec:
    """A product row (natural key ``sku``); ``store_code`` resolves to ``store_id``."""

    sku: str
    store_code: str
    name: str
    category: str
    brand: str
    price_cents: int


@dataclass(frozen=True)
class CouponSpec:
    """A coupon template row (natural key ``code``)."""

    code: str
    kind: Literal["frontstore", "category_brand"]
    title: str
    discount_type: Literal["percent", "amount"]
    discount_value: int
    min_spend_cents: int
    category: str | None = None
    brand: str | None = None


@dataclass(frozen=True)
class CatalogData:
    """Everything ``seed_catalog`` writes."""

    stores: tuple[StoreSpec, ...]
    products: tuple[ProductSpec, ...]
    coupons: tuple[CouponSpec, ...]


@dataclass(frozen=True)
class CatalogStats:
    """What ``seed_catalog`` did, per table."""

    stores: UpsertCounts
    products: UpsertCounts
    coupons: UpsertCounts

    def summary(self) -> str:
        """One human line per table."""
        return "\n".join(
            f"{name}: {c.total} ({c.inserted} created, {c.updated} updated, {c.unchanged} unchanged)"
            for name, c in (("stores", self.stores), ("products", self.products), ("coupons", self.coupons))
        )  # fmt: skip


def generate_catalog(*, seed: int = DEFAULT_CATALOG_SEED) -> CatalogData:
    """Generate the synthetic catalog.

    Args:
        seed: the same seed always gives the same catalog (codes, names, prices, coupons).

    Returns:
        Stores from ``personas.vocab``, every store carrying every category and every
        brand, and the coupon pool.
    """
    rng = random.Random(f"catalog:{seed}")
    stores = tuple(StoreSpec(s.code, s.name, s.city) for s in vocab.STORES)
    products = tuple(p for s in stores for p in _store_products(rng, s))
    return CatalogData(stores=stores, products=products, coupons=_coupons(rng))


def _shelf_price(rng: random.Random, base: int, tier: str) -> int:
    # Mean-one noise (lognormal with mu = -sigma²/2) so typical_price_cents stays the
    # expectation; prices end in 9 like a shelf tag.
    sigma = 0.08
    cents = base * vocab.TIER_MULTIPLIER[tier] * rng.lognormvariate(-(sigma**2) / 2, sigma)
    return max(49, int(round(cents / 10.0)) * 10 - 1)


def _store_products(rng: random.Random, store: StoreSpec) -> list[ProductSpec]:
    out: list[ProductSpec] = []
    for category in vocab.CATEGORIES:
        brands = list(vocab.BRANDS_BY_CATEGORY[category])
        items = vocab.CATEGORY_ITEMS[category]
        # Every brand once, then random brands: each brand is on every store's shelf.
        chosen = rng.sample(brands, len(brands)) + [
            rng.choice(brands) for _ in range(PRODUCTS_PER_CATEGORY - len(brands))
        ]
        seen: set[tuple[str, str]] = set()
        for k, brand in enumerate(chosen, start=1):
            item, base = rng.choice(items)
            while (brand, item) in seen:  # distinct products on one shelf
                item, base = rng.choice(items)
            seen.add((brand, item))
            tier = vocab.BRAND_TIERS[category][brand]
            out.append(
                ProductSpec(
                    sku=f"{store.code}-{category.upper()}-{k:02d}",
                    store_code=store.code,
                    name=f"{brand} {item}",
                    category=category,
                    brand=brand,
                    price_cents=_shelf_price(rng, base, tier),
                )
            )
    return out


def _money(cents: int) -> str:
    return f"${cents / 100:.2f}"


def _round_to(cents: float, step: int) -> int:
    return max(step, int(round(cents / step)) * step)


def _coupons(rng: random.Random) -> tuple[CouponSpec, ...]:
    out: list[CouponSpec] = []
    for i in range(1, FRONTSTORE_COUPONS + 1):
        if i % 2:
            pct = rng.choice((5, 10, 10, 15, 15, 20))
            spend = _round_to(rng.uniform(2500, 10000), 500)
            out.append(CouponSpec(f"SIM-FS-{i:03d}", "frontstore",
                                  f"{pct}% off your order of {_money(spend)}+", "percent", pct, spend))  # fmt: skip
        else:
            amount = _round_to(rng.uniform(300, 1500), 100)
            spend = _round_to(amount * rng.uniform(5, 10), 500)
            out.append(CouponSpec(f"SIM-FS-{i:03d}", "frontstore",
                                  f"{_money(amount)} off your order of {_money(spend)}+", "amount", amount, spend))  # fmt: skip
    n = 0
    for category in vocab.CATEGORIES:
        typical = vocab.typical_price_cents(category)
        label = category.replace("_", " ")
        targets: list[str | None] = [None] * CATEGORY_WIDE_COUPONS + [
            b for b in vocab.BRANDS_BY_CATEGORY[category] for _ in range(BRAND_COUPONS)
        ]
        for j, brand in enumerate(targets):
            n += 1
            what = f"{brand} {label}" if brand else label
            code = f"SIM-CB-{n:04d}"
            if j % 2:  # alternate kinds so both exist for every category and brand
                amount = _round_to(typical * rng.uniform(0.15, 0.4), 25)
                spend = _round_to(typical * rng.uniform(1.5, 3.0), 100)
                out.append(CouponSpec(code, "category_brand", f"{_money(amount)} off {what} when you spend {_money(spend)}",
                                      "amount", amount, spend, category, brand))  # fmt: skip
            else:
                pct = (
                    rng.choice((10, 15, 20, 25, 30))
                    if brand is None
                    else rng.choice((10, 15, 20, 25, 30, 35))
                )
                spend = rng.choice((0, 0, _round_to(typical * 2, 100)))
                title = f"{pct}% off {what}" + (f" when you spend {_money(spend)}" if spend else "")
                out.append(CouponSpec(code, "category_brand", title, "percent", pct, spend, category, brand))  # fmt: skip
    # The store brands across every category: brand-only coupons.
    for brand, _tier in vocab.STORE_BRANDS:
        for _ in range(3):
            n += 1
            pct = rng.choice((10, 15, 20))
            out.append(CouponSpec(f"SIM-CB-{n:04d}", "category_brand", f"{pct}% off all {brand} products",
                                  "percent", pct, 0, None, brand))  # fmt: skip
    return tuple(out)


def seed_catalog(conn: Connection, *, data: CatalogData) -> CatalogStats:
    """Upsert the catalog by natural keys, every row marked ``is_simulated``.

    Args:
        conn: an open connection; the caller owns the transaction.
        data: what to write (``generate_catalog``).

    Returns:
        Per table, how many rows were created, updated and already up to date.

    Raises:
        ConfigError: a store code, SKU or coupon code belongs to a row that is not
            simulated (nothing of that row is touched; the caller rolls back).
    """
    st, pr, co = Store.__table__, Product.__table__, Coupon.__table__
    refuse_foreign_keys(conn, table=st, key="code", values=[s.code for s in data.stores])  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
    refuse_foreign_keys(conn, table=pr, key="sku", values=[p.sku for p in data.products])  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
    refuse_foreign_keys(conn, table=co, key="code", values=[c.code for c in data.coupons])  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)

    stores = upsert(
        conn,
        table=st,  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
        rows=[
            {"code": s.code, "name": s.name, "city": s.city, "is_simulated": True}
            for s in data.stores
        ],
        key="code",
        update=("name", "city"),
    )
    codes = [s.code for s in data.stores]
    store_ids: dict[str, int] = {
        code: sid
        for code, sid in conn.execute(select(Store.code, Store.id).where(Store.code.in_(codes)))
    }
    missing = sorted({p.store_code for p in data.products} - store_ids.keys())
    if missing:
        raise ValueError(f"products refer to stores not in the catalog: {missing[:5]}")
    products = upsert(
        conn,
        table=pr,  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
        rows=[
            {
                "sku": p.sku,
                "store_id": store_ids[p.store_code],
                "name": p.name,
                "category": p.category,
                "brand": p.brand,
                "price_cents": p.price_cents,
                "is_simulated": True,
            }
            for p in data.products
        ],  # fmt: skip
        key="sku",
        update=("store_id", "name", "category", "brand", "price_cents"),
    )
    coupons = upsert(
        conn,
        table=co,  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
        rows=[
            {
                "code": c.code,
                "kind": c.kind,
                "title": c.title,
                "discount_type": c.discount_type,
                "discount_value": c.discount_value,
                "min_spend_cents": c.min_spend_cents,
                "category": c.category,
                "brand": c.brand,
                "is_active": True,
                "is_simulated": True,
            }
            for c in data.coupons
        ],  # fmt: skip
        key="code",
        update=(
            "kind",
            "title",
            "discount_type",
            "discount_value",
            "min_spend_cents",
            "category",
            "brand",
            "is_active",
        ),  # fmt: skip
    )
    return CatalogStats(stores=stores, products=products, coupons=coupons)
