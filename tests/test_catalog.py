"""The synthetic catalog: generated (pure) and seeded into a real embedded Postgres."""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import fmean

import pytest
from sqlalchemy import func, select, text

from db.errors import ConfigError
from db.models import Coupon, Product, Store
from personas import vocab
from personas.catalog import generate_catalog, seed_catalog


@pytest.fixture(scope="module")
def data():
    return generate_catalog(seed=7)


def test_deterministic_for_a_seed(data):
    assert generate_catalog(seed=7) == data
    other = generate_catalog(seed=8)
    assert other != data
    # The vocabulary does not depend on the seed: persona preferences always exist.
    assert [s.code for s in other.stores] == [s.code for s in data.stores]
    assert [p.sku for p in other.products] == [p.sku for p in data.products]


def test_size_and_spread(data):
    assert 2000 <= len(data.products) <= 5000
    assert len({p.sku for p in data.products}) == len(data.products)
    assert len({p.category for p in data.products}) >= 12
    assert len({p.brand for p in data.products}) >= 60
    kinds = Counter(c.kind for c in data.coupons)
    assert kinds["frontstore"] >= 60 and kinds["category_brand"] >= 300
    assert len({c.code for c in data.coupons}) == len(data.coupons)
    both = Counter((c.kind, c.discount_type) for c in data.coupons)
    assert all(
        both[(k, t)] > 10 for k in ("frontstore", "category_brand") for t in ("percent", "amount")
    )


def test_every_store_carries_every_category_and_brand(data):
    shelf: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for p in data.products:
        shelf[p.store_code].add((p.category, p.brand))
    expected = {(c, b) for c, brands in vocab.BRANDS_BY_CATEGORY.items() for b in brands}
    assert set(shelf) == set(vocab.STORE_CODES)
    for code, pairs in shelf.items():
        assert pairs == expected, code


def test_prices_are_realistic_and_match_the_vocabulary(data):
    by_cat: dict[str, list[int]] = defaultdict(list)
    for p in data.products:
        assert 49 <= p.price_cents <= 10_000, p
        assert p.price_cents % 10 == 9  # shelf prices end in 9
        by_cat[p.category].append(p.price_cents)
    for cat, prices in by_cat.items():
        # the sample sizes budgets with typical_price_cents: it must be the catalog's mean
        assert fmean(prices) == pytest.approx(vocab.typical_price_cents(cat), rel=0.1), cat
    assert fmean(by_cat["pet"]) > 2 * fmean(by_cat["produce"])


def test_coupons_are_well_formed(data):
    cats, brands = set(vocab.CATEGORIES), set(vocab.ALL_BRANDS)
    for c in data.coupons:
        assert c.discount_value > 0 and c.min_spend_cents >= 0
        if c.discount_type == "percent":
            assert c.discount_value <= 50
        else:  # an amount coupon never exceeds what it requires you to spend
            assert c.discount_value < c.min_spend_cents
        if c.kind == "frontstore":
            assert c.category is None and c.brand is None
        else:
            assert c.category in cats | {None} and c.brand in brands | {None}
            assert c.category or c.brand
            if c.category and c.brand:
                assert c.brand in vocab.BRANDS_BY_CATEGORY[c.category]


def _counts(conn) -> tuple[int, int, int]:
    return tuple(
        conn.execute(select(func.count()).select_from(t)).scalar_one()
        for t in (Store, Product, Coupon)
    )  # type: ignore[return-value]


def test_seed_is_idempotent_and_updates_changed_rows(clean_db, data):
    with clean_db.begin() as conn:
        first = seed_catalog(conn, data=data)
    assert (first.stores.inserted, first.products.inserted, first.coupons.inserted) == (
        len(data.stores), len(data.products), len(data.coupons),
    )  # fmt: skip
    with clean_db.begin() as conn:
        again = seed_catalog(conn, data=data)
        assert _counts(conn) == (len(data.stores), len(data.products), len(data.coupons))
        assert conn.execute(text("SELECT bool_and(is_simulated) FROM products")).scalar_one()
        assert conn.execute(text("SELECT bool_and(is_simulated) FROM coupons")).scalar_one()
    assert again.products.unchanged == len(data.products) and again.products.inserted == 0
    # Another seed: same natural keys, new prices → updated in place, no new rows.
    other = generate_catalog(seed=8)
    with clean_db.begin() as conn:
        third = seed_catalog(conn, data=other)
        assert _counts(conn) == (len(data.stores), len(data.products), len(data.coupons))
        sku = other.products[0].sku
        price = conn.execute(select(Product.price_cents).where(Product.sku == sku)).scalar_one()
    assert third.products.inserted == 0 and third.products.updated > len(data.products) // 2
    assert price == other.products[0].price_cents


def test_refuses_to_touch_rows_that_are_not_simulated(clean_db, data):
    with clean_db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO stores (code, name, city, is_simulated) VALUES (:c, 'Real store', 'X', false)"
            ),
            {"c": data.stores[0].code},
        )
    with pytest.raises(ConfigError) as info, clean_db.begin() as conn:
        seed_catalog(conn, data=data)
    assert "stores.code" in str(info.value) and data.stores[0].code in str(info.value)
    with clean_db.connect() as conn:
        assert _counts(conn) == (1, 0, 0)  # rolled back; the real store unchanged
        assert conn.execute(select(Store.name)).scalar_one() == "Real store"
