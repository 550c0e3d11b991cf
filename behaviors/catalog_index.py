"""One catalog index: ``GET /api/products`` filtering and paging over an in-memory product
list, for every Shop that does not ask the server (``InMemoryShop`` and the harness's shared
``CatalogCache``).

The filter was once written twice and drifted (one copy ignored ``brand=""``, the
other filtered on it). The semantics are the HTTP contract's (docs/ARCHITECTURE.md) as the
reference API implements them (``reference_api/routes/catalog.py``):

- ``store_id``, ``category``, ``brand``: ``None`` means *no filter*; any other value,
  including the empty string, keeps only the products whose field **equals** it (the
  server binds ``?brand=`` as ``brand = ''``). Filters combine with AND;
- order: by product id; paging: skip ``offset``, then at most ``limit`` products. The server
  answers 422 for ``limit`` outside 1–200 or a negative ``offset``; an in-process port has
  no 422, so a negative ``limit`` or ``offset`` counts as 0 (a negative slice would silently
  read from the end of the list).

Pure and immutable: built once per product list, shared by every agent of a process (10,000
agents, one index); a catalog refresh builds a new index rather than mutating this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from behaviors.shop import Product


class CatalogIndex:
    """Lookups over one product list, sorted by id (the API's order).

    Attributes:
        all: Every product, by id.
        by_id: Product of each id.
        by_category: Products of each category, by id.
        categories: Every category, sorted.
    """

    __slots__ = ("all", "by_id", "by_category", "categories")

    def __init__(self, products: Iterable[Product]) -> None:
        self.all: tuple[Product, ...] = tuple(sorted(products, key=lambda p: p.id))
        self.by_id: dict[int, Product] = {p.id: p for p in self.all}
        by_cat: dict[str, list[Product]] = {}
        for p in self.all:
            by_cat.setdefault(p.category, []).append(p)
        self.by_category: dict[str, tuple[Product, ...]] = {
            c: tuple(ps) for c, ps in by_cat.items()
        }
        self.categories: tuple[str, ...] = tuple(sorted(by_cat))

    def __len__(self) -> int:
        return len(self.all)

    def page(
        self,
        *,
        store_id: int | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Product]:
        """A page of products filtered like ``GET /api/products`` (see the module doc)."""
        items: Sequence[Product] = (
            self.all if category is None else self.by_category.get(category, ())
        )
        if store_id is not None or brand is not None:
            items = [
                p
                for p in items
                if (store_id is None or p.store_id == store_id)
                and (brand is None or p.brand == brand)
            ]
        start = max(0, offset)
        return list(items[start : start + max(0, limit)])


_INDEXES: dict[int, tuple[Sequence[Product], CatalogIndex]] = {}
_MAX_ENTRIES = 16
"""Entries kept by :func:`index_for`, two per catalog (the list given and the index's own
``all``); a refresh makes a new list, so old catalogs age out."""


def index_for(products: Sequence[Product]) -> CatalogIndex:
    """The index of ``products``, built once per list object and shared by every caller.

    Keyed by the list's identity; the list itself is kept in the entry so its id cannot be
    reused by another object while the entry exists. The index's own ``all`` is registered
    too, so a caller holding it (the harness's ``CatalogCache.products``, handed to every
    agent's ``InMemoryShop``) gets this same index, not a second one.
    """
    entry = _INDEXES.get(id(products))
    if entry is not None and entry[0] is products:
        return entry[1]
    index = CatalogIndex(products)
    for key in (products, index.all):
        _INDEXES[id(key)] = (key, index)
    while len(_INDEXES) > _MAX_ENTRIES:  # refreshed catalogs replace old ones
        del _INDEXES[next(iter(_INDEXES))]
    return index
