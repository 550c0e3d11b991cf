"""The shared catalog cache (the owner's ``CatalogCache``): products read once per process
and refreshed at each offer cycle; browsing reads it instead of the API unless
``--browse-via api``. Immutable snapshots: a refresh swaps the whole object, so readers
never see a half-built index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from behaviors.catalog_index import CatalogIndex, index_for
from behaviors.shop import Product

if TYPE_CHECKING:
    from personas.catalog import CatalogData


class CatalogCache:
    """The process's catalog: a :class:`~behaviors.catalog_index.CatalogIndex` (the one
    filter/paging implementation, shared with ``InMemoryShop``) plus the store codes.

    ``products`` is the index's own id-ordered tuple, so an ``InMemoryShop`` built over it
    (``--mock-api``) finds this same index instead of building one per catalog again.
    """

    def __init__(self, products: Iterable[Product], stores: dict[str, int] | None = None) -> None:
        self.index: CatalogIndex = index_for(tuple(products))
        self.products: tuple[Product, ...] = self.index.all
        self.stores = dict(stores or {})

    def __len__(self) -> int:
        return len(self.index)

    def categories(self) -> list[str]:
        return list(self.index.categories)

    def page(
        self,
        *,
        store_id: int | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Product]:
        """``GET /api/products`` semantics (``CatalogIndex.page``): ``None`` = no filter,
        ``""`` = equality, id order."""
        return self.index.page(
            store_id=store_id, category=category, brand=brand, limit=limit, offset=offset
        )

    @classmethod
    def from_db(cls, engine: Engine) -> CatalogCache:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, name, category, brand, price_cents, store_id FROM products")
            ).all()
            stores: dict[str, int] = dict(conn.execute(text("SELECT code, id FROM stores")).all())
        return cls(
            (Product(id=r.id, name=r.name, category=r.category, brand=r.brand,
                     price_cents=r.price_cents, store_id=r.store_id) for r in rows),
            stores,
        )  # fmt: skip

    @classmethod
    def from_generated(cls, data: CatalogData) -> CatalogCache:
        """From ``personas.catalog.generate_catalog`` output (``--mock-db``): ids are
        assigned in generation order, the same in every process."""
        stores = {s.code: i + 1 for i, s in enumerate(data.stores)}
        products = [
            Product(id=i + 1, name=p.name, category=p.category, brand=p.brand,
                    price_cents=p.price_cents, store_id=stores.get(p.store_code))
            for i, p in enumerate(data.products)
        ]  # fmt: skip
        return cls(products, stores)
