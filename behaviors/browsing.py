"""What a persona looks at and puts in the cart: ``choose_categories``, ``browse_products``,
``add_to_cart``.

Preference weight of a product = brand weight × price weight. A preferred brand weighs
``1 + BRAND_BOOST × brand_loyalty``; the price weight is ``(price / page median) **
(−PRICE_EXPONENT × price_consciousness)``, so price-conscious personas favour the cheaper
items of a category and indifferent ones do not care. The weights of a catalog page are
computed once per persona and page and cached (``_page_table``): the graph browses the same
category pages hour after hour.

Basket: the intended size is ``1 + Poisson(avg_basket_size − 1)`` — mean exactly
``avg_basket_size``. Impulsivity decides how many of those items are *unplanned* (picked
from anything viewed, ignoring preferences), not how many there are, so calibration of the
basket size holds whatever the impulsivity. The budget is a hard limit: an item that does
not fit is replaced by the cheapest viewed product that does, and when nothing fits the
basket stops short (``budget_cut``).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from behaviors.sampling import binomial, poisson
from behaviors.shop import Product
from personas.model import Persona

BRAND_BOOST = 4.0
PRICE_EXPONENT = 1.5
IMPULSE_SHARE = 0.4
"""Share of a basket's items that are unplanned at impulsivity 1."""
EXPLORE_MIN = 0.1
"""Chance that a category page opened explores beyond the preferred ones, at brand
loyalty 1 (it grows to ``EXPLORE_MIN + EXPLORE_LOYALTY`` at loyalty 0)."""
EXPLORE_LOYALTY = 0.3
_PAGE_CACHE_MAX = 200_000


@dataclass(frozen=True, slots=True)
class BrowseDecision:
    """The products viewed, in viewing order, and the weight each had."""

    products: tuple[Product, ...]
    weights: tuple[float, ...]
    target: int
    available: int

    def as_payload(self) -> dict[str, Any]:
        return {
            "rule": "browse_products",
            "target_views": self.target,
            "available": self.available,
            "views": len(self.products),
        }


@dataclass(frozen=True, slots=True)
class BasketLine:
    product: Product
    quantity: int
    unplanned: bool


@dataclass(frozen=True, slots=True)
class BasketDecision:
    """The cart to build: lines, and how the size and budget decided it."""

    lines: tuple[BasketLine, ...]
    target_items: int
    unplanned_target: int
    budget_cents: int
    spend_cents: int
    budget_cut: bool
    substitutions: int

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def as_payload(self) -> dict[str, Any]:
        return {
            "rule": "add_to_cart",
            "target_items": self.target_items,
            "unplanned_target": self.unplanned_target,
            "items": self.item_count,
            "budget_cents": self.budget_cents,
            "spend_cents": self.spend_cents,
            "budget_cut": self.budget_cut,
            "substitutions": self.substitutions,
        }


def category_preference(persona: Persona, categories: list[str]) -> float:
    """Chance that the next category page opened is a preferred one (else: explore)."""
    known = set(categories)
    if not any(c in known for c in persona.preferred_categories):
        return 0.0
    return 1.0 - EXPLORE_MIN - EXPLORE_LOYALTY * (1.0 - persona.brand_loyalty)


def next_category(
    persona: Persona, categories: list[str], opened: list[str], rng: random.Random
) -> str | None:
    """The next category page to open: a preferred one with ``category_preference``,
    otherwise any; never one already opened (``None`` when all are).

    Args:
        persona: The shopper.
        categories: Every category of the catalog (``Shop.categories()``).
        opened: Categories opened so far this session.
        rng: The hour's random stream.
    """
    unopened = [c for c in categories if c not in opened]
    if not unopened:
        return None
    preferred = [c for c in persona.preferred_categories if c in unopened]
    p_pref = category_preference(persona, categories)
    pool = preferred if preferred and rng.random() < p_pref else unopened
    return pool[int(rng.random() * len(pool))]


def browse_target(persona: Persona, rng: random.Random, *, depth_share: float = 1.0) -> int:
    """How many products to view: ``1 + Poisson(depth_share × browse_depth − 1)``, mean
    ``browse_depth`` for a shopping session (an idle browse looks at a share of it)."""
    return 1 + poisson(rng, max(0.0, persona.browse_depth * depth_share - 1.0))


def product_weight(persona: Persona, product: Product, median_price: float) -> float:
    """Preference weight of one product (brand loyalty × price consciousness)."""
    w = 1.0
    if product.brand in persona.preferred_brands:
        w += BRAND_BOOST * persona.brand_loyalty
    if persona.price_consciousness > 0 and median_price > 0:
        w *= (product.price_cents / median_price) ** (-PRICE_EXPONENT * persona.price_consciousness)
    return w


_PAGE_TABLES: OrderedDict[tuple[Any, ...], tuple[float, ...]] = OrderedDict()


def _median(values: list[int]) -> float:
    s = sorted(values)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def _page_table(persona: Persona, page: list[Product]) -> tuple[float, ...]:
    """Cumulative preference weights of a page, cached per persona and page identity."""
    key = (
        persona.persona_id,
        persona.brand_loyalty,
        persona.price_consciousness,
        persona.preferred_brands,
        len(page),
        page[0].id,
        page[-1].id,
        page[len(page) // 2].price_cents,
    )
    hit = _PAGE_TABLES.get(key)
    if hit is not None:
        return hit
    med = _median([p.price_cents for p in page])
    table = tuple(accumulate(product_weight(persona, p, med) for p in page))
    _PAGE_TABLES[key] = table
    if len(_PAGE_TABLES) > _PAGE_CACHE_MAX:
        _PAGE_TABLES.popitem(last=False)
    return table


def browse_products(
    persona: Persona,
    pages: list[list[Product]],
    rng: random.Random,
    *,
    target: int,
) -> BrowseDecision:
    """Which products the session views: about ``browse_depth``, by preference weight.

    Each view picks one of the opened pages at random, then a product of it by weight;
    a product is viewed at most once.

    Args:
        persona: The shopper.
        pages: The opened category pages (``Shop.catalog_page`` results).
        rng: The hour's random stream.
        target: Products to view (``browse_target``); fewer only if the pages run out.
    """
    pages = [p for p in pages if p]
    available = sum(len(p) for p in pages)
    if not pages:
        return BrowseDecision((), (), target, 0)
    tables = [_page_table(persona, p) for p in pages]
    want = min(target, available)
    seen: set[int] = set()
    out: list[Product] = []
    weights: list[float] = []
    attempts = 0
    while len(out) < want and attempts < 20 * want:
        attempts += 1
        k = int(rng.random() * len(pages))
        table = tables[k]
        i = bisect_right(table, rng.random() * table[-1])
        i = min(i, len(table) - 1)
        product = pages[k][i]
        if product.id in seen:
            continue
        seen.add(product.id)
        out.append(product)
        weights.append(table[i] - (table[i - 1] if i else 0.0))
    if len(out) < want:
        # Heavy weights can starve the rejection loop; finish in page order so the target
        # is met whenever enough products exist.
        for page in pages:
            for product in page:
                if len(out) >= want:
                    break
                if product.id not in seen:
                    seen.add(product.id)
                    out.append(product)
                    weights.append(0.0)
    return BrowseDecision(tuple(out), tuple(weights), target, available)


def add_to_cart(
    persona: Persona, viewed: tuple[Product, ...], rng: random.Random
) -> BasketDecision:
    """The basket: about ``avg_basket_size`` items from the viewed products, within budget.

    Args:
        persona: The shopper.
        viewed: Products viewed this session (``BrowseDecision.products``).
        rng: The hour's random stream.
    """
    target = 1 + poisson(rng, persona.avg_basket_size - 1.0)
    unplanned = binomial(rng, target - 1, IMPULSE_SHARE * persona.impulsivity)
    budget = persona.budget_per_trip
    if not viewed:
        return BasketDecision((), target, unplanned, budget, 0, False, 0)
    med = _median([p.price_cents for p in viewed])
    cum = list(accumulate(product_weight(persona, p, med) for p in viewed))
    cheapest = min(viewed, key=lambda p: p.price_cents)
    qty: dict[int, int] = {}
    flags: dict[int, bool] = {}
    order: list[Product] = []
    spend = 0
    substitutions = 0
    cut = False
    for i in range(target):
        is_unplanned = i >= target - unplanned
        if is_unplanned:
            product = viewed[int(rng.random() * len(viewed))]
        else:
            j = min(bisect_right(cum, rng.random() * cum[-1]), len(viewed) - 1)
            product = viewed[j]
        if spend + product.price_cents > budget:
            if spend + cheapest.price_cents > budget:
                cut = True
                break
            product = cheapest  # trade down rather than exceed the budget
            substitutions += 1
        spend += product.price_cents
        if product.id not in qty:
            order.append(product)
            flags[product.id] = is_unplanned
        qty[product.id] = qty.get(product.id, 0) + 1
    lines = tuple(BasketLine(p, qty[p.id], flags[p.id]) for p in order)
    return BasketDecision(lines, target, unplanned, budget, spend, cut, substitutions)
