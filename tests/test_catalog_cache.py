"""harness.agent.catalog_cache: the process's catalog pages through the one catalog index
(``behaviors.catalog_index``), from the database or the generated ``--mock-db`` catalog,
and an ``InMemoryShop`` over it (``--mock-api``) shares that index."""

from __future__ import annotations

from behaviors.catalog_index import CatalogIndex, index_for
from behaviors.memory_shop import InMemoryShop
from harness.agent.catalog_cache import CatalogCache
from personas.catalog import generate_catalog, seed_catalog


def _expected(products, **filters):
    """The contract written out longhand: equality for every filter that is not None."""
    keep = [
        p
        for p in sorted(products, key=lambda p: p.id)
        if all(getattr(p, k) == v for k, v in filters.items() if v is not None)
    ]
    return [p.id for p in keep]


def _check_semantics(cache: CatalogCache) -> None:
    assert isinstance(cache.index, CatalogIndex) and len(cache) > 50
    products = list(cache.products)
    assert [p.id for p in products] == sorted(p.id for p in products)
    cat = cache.categories()[0]
    brand = next(p.brand for p in products if p.category == cat)
    store = next(iter(cache.stores.values()))
    for filters in (
        {"category": cat},
        {"brand": brand},
        {"store_id": store},
        {"category": cat, "brand": brand, "store_id": store},
        {"brand": ""},  # a value, not "no filter": matches only unbranded products
        {"category": ""},
    ):
        got = [p.id for p in cache.page(limit=10_000, **filters)]
        assert got == _expected(products, **filters), filters
    assert cache.page(brand="") != cache.page()  # the old drift (two filters) is gone
    page2 = cache.page(category=cat, limit=3, offset=3)
    assert [p.id for p in page2] == _expected(products, category=cat)[3:6]


def test_generated_catalog_pages_with_the_contract_semantics():
    cache = CatalogCache.from_generated(generate_catalog(seed=7))
    _check_semantics(cache)


def test_in_memory_shops_over_the_cache_share_its_index():
    cache = CatalogCache.from_generated(generate_catalog(seed=7))
    assert index_for(cache.products) is cache.index
    shop = InMemoryShop(cache.products)
    cat = cache.categories()[0]
    assert shop.catalog_page(category=cat, limit=5) == cache.page(category=cat, limit=5)


def test_database_catalog_pages_like_the_generated_one(clean_db):
    data = generate_catalog(seed=7)
    with clean_db.begin() as conn:
        seed_catalog(conn, data=data)
    cache = CatalogCache.from_db(clean_db)
    _check_semantics(cache)
    assert len(cache) == len(data.products)
    assert set(cache.stores) == {s.code for s in data.stores}
