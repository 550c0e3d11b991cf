"""behaviors.catalog_index: the one ``GET /api/products`` filter and paging for in-memory
catalogs, with the reference API's semantics: ``None`` = no filter, any other
value (also ``""``) = equality; ordered by id."""

from __future__ import annotations

import pytest

from behaviors.catalog_index import CatalogIndex, index_for
from behaviors.memory_shop import InMemoryShop
from behaviors.shop import Product

# Deliberately not in id order; one product without a brand, one without a store.
PRODUCTS = [
    Product(5, "yogurt", "dairy", "acme", 300, 1),
    Product(1, "apple", "produce", "acme", 100, 1),
    Product(3, "milk", "dairy", "bolt", 250, 2),
    Product(2, "pear", "produce", "", 120, 2),
    Product(4, "bread", "bakery", "bolt", 400, None),
    Product(6, "cheese", "dairy", "acme", 900, 2),
]
IDX = CatalogIndex(PRODUCTS)


def ids(products):
    return [p.id for p in products]


def test_no_filter_is_every_product_in_id_order():
    assert ids(IDX.page()) == [1, 2, 3, 4, 5, 6]
    assert len(IDX) == 6 and IDX.by_id[4].name == "bread"
    assert IDX.categories == ("bakery", "dairy", "produce")


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({"category": "dairy"}, [3, 5, 6]),
        ({"brand": "acme"}, [1, 5, 6]),
        ({"store_id": 2}, [2, 3, 6]),
        ({"category": "dairy", "brand": "acme"}, [5, 6]),
        ({"category": "dairy", "brand": "acme", "store_id": 2}, [6]),
        ({"category": "produce", "store_id": 1}, [1]),
        # empty strings are values, not "no filter" (the server binds ?brand= as brand = '')
        ({"brand": ""}, [2]),
        ({"category": ""}, []),
        ({"category": "produce", "brand": ""}, [2]),
        # unknown values match nothing rather than everything
        ({"category": "toys"}, []),
        ({"brand": "nope"}, []),
        ({"store_id": 99}, []),
    ],
)
def test_filters_are_equality_and_combine_with_and(filters, expected):
    assert ids(IDX.page(**filters)) == expected


def test_paging_skips_offset_then_takes_limit_after_filtering():
    assert ids(IDX.page(limit=2)) == [1, 2]
    assert ids(IDX.page(limit=2, offset=2)) == [3, 4]
    assert ids(IDX.page(limit=50, offset=5)) == [6]
    assert ids(IDX.page(limit=50, offset=6)) == []
    assert ids(IDX.page(category="dairy", limit=1, offset=1)) == [5]
    assert ids(IDX.page(brand="acme", limit=2, offset=1)) == [5, 6]


def test_negative_paging_counts_as_zero_never_reads_from_the_end():
    assert ids(IDX.page(limit=-1)) == []
    assert ids(IDX.page(limit=2, offset=-3)) == [1, 2]
    assert ids(IDX.page(category="dairy", limit=0)) == []


def test_index_for_is_built_once_per_list_and_shared_through_its_own_tuple():
    products = list(PRODUCTS)
    first = index_for(products)
    assert index_for(products) is first
    assert index_for(first.all) is first  # CatalogCache.products handed to every agent
    assert index_for(list(PRODUCTS)) is not first  # another list: a refreshed catalog


def test_in_memory_shop_pages_through_the_index_with_its_store_as_default():
    shop = InMemoryShop(PRODUCTS, store_id=2)
    assert ids(shop.catalog_page(category="dairy")) == [3, 6]
    assert ids(shop.catalog_page(category="dairy", store_id=1)) == [5]
    assert ids(shop.catalog_page(brand="")) == [2]
    assert ids(InMemoryShop(PRODUCTS).catalog_page(category="dairy")) == [3, 5, 6]
    assert shop.categories() == ["bakery", "dairy", "produce"]
