"""What a persona looks at and puts in the cart: ``choose_categories``, ``browse_products``,
``add_to_cart``.

Preference weight of a product = brand weight × price weight. A preferred brand weighs
``1 + BRAND_BOOST × brand_loyalty``; the price weight is ``(price / page median) **
(−PRICE_EXPONENT × price_consciousness)``, so price-conscious personas favour the cheaper
items of a category and indifferent ones do not care. The weights of a catalog page are
computed once per persona and page and cached (``_page_table``): the graph browses the same
category pages hour after hour.

Trip size (shaped on Complete Journey): a household's baskets are not
Poisson around its mean — big weekly shops and small top-ups mix, and lines per basket
within one household have a coefficient of variation ≈ 1 (negative-binomial dispersion
k ≈ 1.0 over 2,469 households). So each shopping session draws a latent **trip scale**
``m ~ Gamma(TRIP_SHAPE, 1/TRIP_SHAPE)`` (mean 1, ``trip_scale``) that scales both the
products viewed and the basket: views ``1 + Poisson(m × (browse_depth − 1))``, intended
items ``1 + Poisson(m × (avg_basket_size − 1))``. The means stay ``browse_depth`` and
``avg_basket_size`` (calibration tallies each size against its recorded conditional mean),
and the mixture is the heavy-tailed negative binomial the real baskets show.

Categories (shaped on Complete Journey's category share of lines): every viewed product
first draws its category, with weight ``CATEGORY_LINE_SHARE[c]`` (× ``1 +
PREFERRED_CATEGORY_LIFT × brand_loyalty`` for the persona's preferred categories), so a big
trip spreads over many aisles and a small one over few, as real baskets do
(``plan_categories``); then a product of that category by preference weight.

Basket: impulsivity decides how many of the intended items are *unplanned* (picked from
anything viewed, ignoring preferences), not how many there are. A planned item is another
unit of a product already in the basket with ``REPEAT_UNIT_SHARE`` (Complete Journey: 28 %
of units are a line's second or later unit, quantities capped at 10), else a product not
in the basket yet — so lines are products and quantities follow the real share; when the
basket outgrows what was viewed, items repeat products. The budget is a hard limit: an item that does
not fit is replaced by the cheapest viewed product that does, and when nothing fits the
basket stops short (``budget_cut``).
"""

from __future__ import annotations

import math
import random
from array import array
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
_PAGE_CACHE_MAX = 16_384
"""Pages' weight tables kept (the oldest dropped first). A table is per persona and
page, so the distinct ones grow with agents × days browsed: at 200,000 a 5,000-agent
worker's cache grew ~4 MiB a simulated day for weeks. At this size (~5 MiB of
``array('d')`` tables) it is full by the second day; a miss costs ~18 µs (50 products),
a shopping hour's graph run milliseconds."""
TRIP_SHAPE = 1.0
"""Gamma shape of the trip scale: Complete Journey's within-household dispersion of lines
per basket (method of moments over households with ≥ 10 baskets: k = 1.02)."""
CATEGORY_LINE_SHARE: dict[str, float] = {
    "pantry": 0.188, "dairy": 0.1232, "beverages": 0.1131, "produce": 0.1031,
    "snacks": 0.0982, "frozen": 0.0909, "meat": 0.0765, "bakery": 0.0666, "household": 0.0492,
    "deli": 0.0236, "personal_care": 0.0177, "pet": 0.0147, "baby": 0.0138, "health": 0.012,
    "seafood": 0.0095,
}  # fmt: skip
"""Share of Complete Journey's lines per catalog category (1.39 M lines mapped by
``personas.derive.categories``; fuel, tobacco and general merchandise left out). A category
the table does not know (an owner's own catalog) weighs the mean share."""
REPEAT_UNIT_SHARE = 0.28
"""Share of basket units that repeat a product already in the basket (Complete Journey:
units beyond a line's first / all units, quantity capped at 10; 1.39 units per line)."""
PLAN_RETRIES = 8
"""Repeated draws on a planned category page before a view goes to any page."""
PREFERRED_CATEGORY_LIFT = 2.0
"""Extra weight of a preferred category at brand loyalty 1 (×1 at loyalty 0): derived
households' preferred categories carry about 2–3× their population share of lines."""


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


def trip_scale(rng: random.Random) -> float:
    """The session's trip scale ``m ~ Gamma(TRIP_SHAPE, 1/TRIP_SHAPE)`` (mean 1), shaped on
    Complete Journey's lines per basket within a household (heavy tail, CV ≈ 1).

    Marsaglia–Tsang on normals from ``random()`` (Box–Muller), so only ``random()`` draws
    are used (``behaviors.sampling``'s rule for cross-platform streams).
    """
    k = TRIP_SHAPE
    boost = 1.0
    if k < 1.0:
        boost = rng.random() ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        u1 = 1.0 - rng.random()
        z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * rng.random())
        v = (1.0 + c * z) ** 3
        if v <= 0.0:
            continue
        u = 1.0 - rng.random()
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return boost * d * v / TRIP_SHAPE


def browse_target(
    persona: Persona, rng: random.Random, *, depth_share: float = 1.0, scale: float = 1.0
) -> int:
    """How many products to view: ``1 + Poisson(scale × (depth_share × browse_depth − 1))``
    — mean ``browse_depth`` over sessions (``scale`` is the trip scale, mean 1; an idle
    browse looks at a share of the depth with scale 1)."""
    return 1 + poisson(rng, scale * max(0.0, persona.browse_depth * depth_share - 1.0))


def category_weights(persona: Persona, categories: list[str]) -> list[float]:
    """Per category of the shop: ``CATEGORY_LINE_SHARE`` × the preferred lift."""
    known = [CATEGORY_LINE_SHARE[c] for c in categories if c in CATEGORY_LINE_SHARE]
    fallback = sum(known) / len(known) if known else 1.0
    lift = 1.0 + PREFERRED_CATEGORY_LIFT * persona.brand_loyalty
    pref = set(persona.preferred_categories)
    return [CATEGORY_LINE_SHARE.get(c, fallback) * (lift if c in pref else 1.0) for c in categories]


def plan_categories(
    persona: Persona, categories: list[str], views: int, rng: random.Random
) -> list[str]:
    """The category of each of ``views`` products to view (``category_weights``), shaped
    on Complete Journey's category share of lines and categories per basket."""
    if not categories or views <= 0:
        return []
    cum = list(accumulate(category_weights(persona, categories)))
    out = []
    for _ in range(views):
        i = min(bisect_right(cum, rng.random() * cum[-1]), len(categories) - 1)
        out.append(categories[i])
    return out


def product_weight(persona: Persona, product: Product, median_price: float) -> float:
    """Preference weight of one product (brand loyalty × price consciousness)."""
    w = 1.0
    if product.brand in persona.preferred_brands:
        w += BRAND_BOOST * persona.brand_loyalty
    if persona.price_consciousness > 0 and median_price > 0:
        w *= (product.price_cents / median_price) ** (-PRICE_EXPONENT * persona.price_consciousness)
    return w


_PAGE_TABLES: OrderedDict[tuple[Any, ...], array[float]] = OrderedDict()


def _median(values: list[int]) -> float:
    s = sorted(values)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def _page_table(persona: Persona, page: list[Product]) -> array[float]:
    """Cumulative preference weights of a page, cached per persona and page identity (as
    doubles in an ``array``: the same floats in a quarter of a tuple's memory)."""
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
    table = array("d", accumulate(product_weight(persona, p, med) for p in page))
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
    plan: list[int] | None = None,
) -> BrowseDecision:
    """Which products the session views: about ``browse_depth``, by preference weight.

    Each view picks one of the opened pages at random, then a product of it by weight;
    a product is viewed at most once.

    Args:
        persona: The shopper.
        pages: The opened category pages (``Shop.catalog_page`` results).
        rng: The hour's random stream.
        target: Products to view (``browse_target``); fewer only if the pages run out.
        plan: Page index of each view (``plan_categories``); default a random page each.
    """
    if plan is not None:  # planned views of an empty page become views of any page
        new_index = {k: i for i, k in enumerate(k for k, p in enumerate(pages) if p)}
        plan = [new_index[k] for k in plan if k in new_index]
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
    misses = 0  # repeats on the planned page in a row
    while len(out) < want and attempts < 20 * want:
        if plan is not None and len(out) < len(plan) and misses < PLAN_RETRIES:
            k = plan[len(out)]  # the planned category (any page once it seems exhausted)
        else:
            k = int(rng.random() * len(pages))
        attempts += 1
        table = tables[k]
        i = bisect_right(table, rng.random() * table[-1])
        i = min(i, len(table) - 1)
        product = pages[k][i]
        if product.id in seen:
            misses += 1
            continue
        misses = 0
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
    persona: Persona, viewed: tuple[Product, ...], rng: random.Random, *, scale: float = 1.0
) -> BasketDecision:
    """The basket: about ``avg_basket_size`` items from the viewed products, within budget
    (lines without replacement and repeat units shaped on Complete Journey's lines and
    quantities per basket; see the module docstring).

    Args:
        persona: The shopper.
        viewed: Products viewed this session (``BrowseDecision.products``).
        rng: The hour's random stream.
        scale: The session's trip scale (``trip_scale``; 1 = an average trip).
    """
    target = 1 + poisson(rng, scale * (persona.avg_basket_size - 1.0))
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
    left = list(range(len(viewed)))  # viewed products not in the basket yet
    for i in range(target):
        is_unplanned = i >= target - unplanned
        if not left:  # the basket outgrew the views: more of what is already in it
            product = viewed[int(rng.random() * len(viewed))]
        elif order and not is_unplanned and rng.random() < REPEAT_UNIT_SHARE:
            product = order[int(rng.random() * len(order))]  # another unit of a line
        elif is_unplanned:
            product = viewed[left[int(rng.random() * len(left))]]
        else:
            product = viewed[_pick_left(cum, left, rng)]
        if spend + product.price_cents > budget:
            if spend + cheapest.price_cents > budget:
                cut = True
                break
            product = cheapest  # trade down rather than exceed the budget
            substitutions += 1
        spend += product.price_cents
        if left and product.id not in qty:
            left = [k for k in left if viewed[k].id != product.id]
        if product.id not in qty:
            order.append(product)
            flags[product.id] = is_unplanned
        qty[product.id] = qty.get(product.id, 0) + 1
    lines = tuple(BasketLine(p, qty[p.id], flags[p.id]) for p in order)
    return BasketDecision(lines, target, unplanned, budget, spend, cut, substitutions)


def _pick_left(cum: list[float], left: list[int], rng: random.Random) -> int:
    """A viewed index among ``left`` by preference weight (``cum`` = cumulative weights)."""
    if len(left) == len(cum):
        return min(bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)
    weights = list(accumulate(cum[k] - (cum[k - 1] if k else 0.0) for k in left))
    return left[min(bisect_right(weights, rng.random() * weights[-1]), len(left) - 1)]
