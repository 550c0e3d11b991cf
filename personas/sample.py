"""The sample population: realistic, diverse, correlated personas, and the workbook writer.

Every persona is drawn from a few latent traits, so attributes move together the way
shoppers do, not as independent uniform noise:

- **age** → occupation (students young, retirees old), household size (families peak in
  the 30s–40s), channel (app young, voice and web older), impulsivity (falls with age) and
  brand loyalty (rises with age);
- **income band** → a *thrift* trait driving price consciousness, discount sensitivity,
  coupon affinity and deal seeking (high for low incomes), the brand tiers preferred
  (value vs premium) and the budget headroom;
- **household size** → basket size (about 2.6 items per member) and shopping frequency;
  fewer trips mean bigger baskets;
- **occupation** → time of day (retirees mornings, students nights, workers evenings) and
  weekday vs weekend affinity, which in turn weight the preferred days;
- **city** → a store of that city (``personas.vocab``); categories → brands sold in them.

**Budget ↔ basket (calibration).** ``budget_per_trip`` is sized so that a trip of
``avg_basket_size`` items at the catalog's typical prices always fits with room to spare:
``budget ≥ headroom × avg_basket_size × reference price``, where the reference price mixes
the typical price of the persona's preferred categories (70 %) with the catalog-wide typical
price (30 %, exploration), and headroom grows with income from 1.6 (low) to 2.4 (high) plus
up to 0.3 for impulsivity (unplanned items). So budgets vary realistically with income but
never clip the basket-size distribution, which the behaviour calibration (``behaviors.calibration``) compares
with ``avg_basket_size``.

Every enum value (gender, income band, time of day, channel, weekday), every category and
every store appears at least once when ``n`` is large enough (n ≥ 20).
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path
from typing import Any

from personas import vocab
from personas.model import CHANNELS, GENDERS, INCOME_BANDS, TIMES_OF_DAY, WEEKDAYS, Persona

SAMPLE_SEED = 372
"""The seed the shipped ``personas/data/sample_personas.xlsx`` was generated with."""

_FIRST = {
    "female": ("Maya", "Olivia", "Priya", "Sofia", "Aisha", "Emma", "Grace", "Mei", "Lucia",
               "Hannah", "Zara", "Chloe", "Fatima", "Rosa", "Naomi", "Ingrid", "Keiko", "Amara"),
    "male": ("Liam", "Noah", "Arjun", "Mateo", "Omar", "Ethan", "Kenji", "Diego", "Samuel",
             "Malik", "Lucas", "Ivan", "Tomas", "Hassan", "Owen", "Raj", "Daniel", "Kwame"),
    "neutral": ("Alex", "Jordan", "Riley", "Sam", "Casey", "Avery", "Quinn", "Rowan", "Sky",
                "Morgan", "Jamie", "Reese"),
}  # fmt: skip
_LAST = (
    "Patel", "Garcia", "Nguyen", "Smith", "Kim", "Johnson", "Martinez", "Chen", "Okafor",
    "Brown", "Rossi", "Silva", "Cohen", "Novak", "Haddad", "Williams", "Tanaka", "Lopez",
    "Murphy", "Singh", "Andersen", "Mensah", "Dubois", "Khan", "Ivanova", "Reyes",
)  # fmt: skip
_OCCUPATIONS = {
    "low": ("cashier", "warehouse associate", "server", "home health aide", "rideshare driver"),
    "lower_middle": ("administrative assistant", "truck driver", "electrician", "dental assistant",
                     "retail supervisor"),
    "middle": ("teacher", "registered nurse", "accountant", "police officer", "graphic designer"),
    "upper_middle": ("software engineer", "pharmacist", "project manager", "architect",
                     "physical therapist"),
    "high": ("physician", "attorney", "engineering director", "business owner", "finance executive"),
}  # fmt: skip
_INCOME_THRIFT = {
    "low": 0.75,
    "lower_middle": 0.62,
    "middle": 0.5,
    "upper_middle": 0.35,
    "high": 0.2,
}
_INCOME_HEADROOM = {
    "low": 1.6,
    "lower_middle": 1.75,
    "middle": 1.9,
    "upper_middle": 2.1,
    "high": 2.4,
}
_TIER_PREF = {  # brand-tier weights (value, standard, premium) per income band
    "low": (0.6, 0.3, 0.1), "lower_middle": (0.45, 0.4, 0.15), "middle": (0.3, 0.45, 0.25),
    "upper_middle": (0.2, 0.4, 0.4), "high": (0.1, 0.3, 0.6),
}  # fmt: skip
_CATEGORY_BASE = {
    "produce": 0.9, "dairy": 0.85, "bakery": 0.6, "meat": 0.6, "seafood": 0.25, "frozen": 0.45,
    "pantry": 0.7, "beverages": 0.6, "snacks": 0.55, "household": 0.35, "personal_care": 0.3,
    "baby": 0.03, "pet": 0.15, "health": 0.2, "deli": 0.35,
}  # fmt: skip


def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return min(hi, max(lo, x))


def _unit(x: float, lo: float = 0.02, hi: float = 0.98) -> float:
    return round(_clip(x, lo, hi), 2)


def _covering(
    rng: random.Random, values: tuple[str, ...], weights: tuple[float, ...], n: int
) -> list[str]:
    """``n`` draws by weight in which each value appears at least once (when n allows)."""
    out = list(values[:n]) + rng.choices(values, weights=weights, k=max(0, n - len(values)))
    rng.shuffle(out)
    return out


def _pick(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _weighted_sample(rng: random.Random, weights: dict[str, float], k: int) -> list[str]:
    """``k`` distinct keys, drawn by weight without replacement (Efraimidis–Spirakis)."""
    keyed = sorted(weights, key=lambda key: -(rng.random() ** (1.0 / max(weights[key], 1e-9))))
    return keyed[:k]


def _demographics(rng: random.Random, gender: str, income: str) -> dict[str, Any]:
    band = rng.choices([(18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 85)],
                       weights=[12, 20, 19, 17, 16, 16])[0]  # fmt: skip
    age = rng.randint(*band)
    if age < 23 and income in ("low", "lower_middle") and rng.random() < 0.6:
        occupation = "student"
    elif age >= 67 and rng.random() < 0.85:
        occupation = "retired"
    else:
        occupation = rng.choice(_OCCUPATIONS[income])
    hh_w: list[float]
    if age < 25:
        hh_w = [45, 35, 12, 5, 2, 1, 0, 0]
    elif age < 50:
        hh_w = [18, 24, 20, 20, 10, 5, 2, 1]
    else:
        hh_w = [32, 44, 12, 7, 3, 1, 0.5, 0.5]
    household = rng.choices(range(1, 9), weights=hh_w)[0]
    if occupation not in ("student", "retired") and household >= 3 and rng.random() < 0.12:
        occupation = "homemaker"
    if occupation == "retired":
        tod = {"morning": 0.5, "afternoon": 0.35, "evening": 0.12, "night": 0.03}
    elif occupation == "student":
        tod = {"morning": 0.1, "afternoon": 0.25, "evening": 0.35, "night": 0.3}
    elif occupation == "homemaker":
        tod = {"morning": 0.45, "afternoon": 0.4, "evening": 0.12, "night": 0.03}
    else:
        tod = {"morning": 0.2, "afternoon": 0.15, "evening": 0.5, "night": 0.15}
    if age < 30:
        ch = {"app": 0.6, "web": 0.25, "voice": 0.15}
    elif age < 60:
        ch = {"app": 0.45, "web": 0.35, "voice": 0.2}
    else:
        ch = {"app": 0.25, "web": 0.35, "voice": 0.4}
    city = _pick(rng, vocab.CITY_WEIGHTS)
    first = _FIRST[gender if gender in ("female", "male") else "neutral"]
    cat_w = dict(_CATEGORY_BASE)
    if household >= 3 and 22 <= age <= 45:
        cat_w["baby"] = 0.6
    if age >= 55:
        cat_w["health"] = 0.5
    if occupation == "student":
        cat_w.update(frozen=0.8, snacks=0.8, seafood=0.05)
    n_cats = min(6, max(2, round(1.5 + 0.6 * household + rng.uniform(-0.5, 1.5))))
    return {
        "name": f"{rng.choice(first)} {rng.choice(_LAST)}",
        "age": age,
        "gender": gender,
        "income_band": income,
        "city": city,
        "household_size": household,
        "occupation": occupation,
        "preferred_time_of_day": _pick(rng, tod),
        "channel": _pick(rng, ch),
        "preferred_store": rng.choice(vocab.stores_in(city)),
        "preferred_categories": _weighted_sample(rng, cat_w, n_cats),
    }


def _cover(
    rng: random.Random, people: list[dict[str, Any]], key: str, values: tuple[str, ...]
) -> None:
    """Give every value of ``key`` to at least one persona, taking it from a value that
    several personas share (so no other value disappears)."""
    for value in values:
        counts: dict[str, int] = {}
        for p in people:
            counts[p[key]] = counts.get(p[key], 0) + 1
        if value in counts:
            continue
        donors = [p for p in people if counts[p[key]] > 1]
        if not donors:
            return
        donor = rng.choice(donors)
        donor[key] = value
        if key == "preferred_store":
            donor["city"] = next(s.city for s in vocab.STORES if s.code == value)


def _cover_lists(
    rng: random.Random, people: list[dict[str, Any]], key: str, values: tuple[str, ...]
) -> None:
    present = {v for p in people for v in p[key]}
    for value in values:
        if value not in present and people:
            rng.choice(people)[key].append(value)


def _behaviour(rng: random.Random, d: dict[str, Any]) -> dict[str, Any]:
    age, income, household, occupation = (
        d["age"],
        d["income_band"],
        d["household_size"],
        d["occupation"],
    )
    thrift = _clip(_INCOME_THRIFT[income] + rng.gauss(0, 0.12))
    price_consciousness = _unit(thrift + rng.gauss(0, 0.08))
    discount_sensitivity = _unit(0.8 * thrift + 0.1 + rng.gauss(0, 0.1))
    coupon_affinity = _unit(0.6 * thrift + 0.15 + (0.1 if age >= 55 else 0) + rng.gauss(0, 0.12))
    deal_seeking = _unit(0.7 * thrift + 0.1 + rng.gauss(0, 0.12))
    brand_loyalty = _unit(0.55 - 0.35 * deal_seeking + 0.004 * (age - 40) + rng.gauss(0, 0.12))
    impulsivity = _unit(0.5 - 0.007 * (age - 30) + rng.gauss(0, 0.12), 0.02, 0.95)

    r = rng.random()
    if r < 0.12:  # occasional shoppers (the "rare" segment)
        freq = rng.uniform(0.2, 0.95)
    elif r < 0.15:  # daily-ish shoppers (the long tail)
        freq = rng.uniform(6, 10)
    else:
        freq = 1 + 0.45 * household + (0.5 if occupation == "retired" else 0) + rng.gauss(0, 0.6)
        freq += 0.3 if d["channel"] == "app" else 0
    freq = round(_clip(freq, 0.2, 14), 1)
    # Fewer trips → bigger baskets; ~2.6 items per household member at two trips a week.
    basket = (1.5 + 2.6 * household) * (2.0 / max(freq, 0.5)) ** 0.35 + rng.gauss(0, 1.2)
    basket = round(_clip(basket, 1, 40), 1)

    if occupation in ("retired", "homemaker"):
        wd, we = 0.8, 0.45
    elif occupation == "student":
        wd, we = 0.6, 0.7
    else:
        wd, we = 0.45, 0.85
    weekday_affinity, weekend_affinity = (
        _unit(wd + rng.gauss(0, 0.1), 0.05, 1),
        _unit(we + rng.gauss(0, 0.1), 0.05, 1),
    )
    n_days = max(1, min(5, round(math.sqrt(freq) + rng.uniform(-0.5, 1.0))))
    day_w = {
        day: (weekend_affinity if day in ("Sat", "Sun") else weekday_affinity) for day in WEEKDAYS
    }
    days = sorted(_weighted_sample(rng, day_w, n_days), key=WEEKDAYS.index)

    # Brands: more of them for loyal shoppers, tiers matching the income band.
    tier_w = dict(zip(("value", "standard", "premium"), _TIER_PREF[income], strict=True))
    brand_w: dict[str, float] = {}
    for cat in d["preferred_categories"]:
        for brand, tier in vocab.BRAND_TIERS[cat].items():
            brand_w[brand] = brand_w.get(brand, 0) + tier_w[tier]
    brands = _weighted_sample(rng, brand_w, 1 + round(4 * brand_loyalty))

    return {
        "shopping_frequency": freq,
        "preferred_days": days,
        "weekday_affinity": weekday_affinity,
        "weekend_affinity": weekend_affinity,
        "browse_depth": int(_clip(round(basket * rng.uniform(1.1, 1.8) + 2 + 8 * impulsivity + 6 * deal_seeking), 1, 50)),
        "avg_basket_size": basket,
        "impulsivity": impulsivity,
        "cart_abandonment_rate": _unit(
            0.1 + 0.18 * price_consciousness + {"web": 0.08, "voice": 0.04, "app": 0.0}[d["channel"]]
            + 0.1 * impulsivity - 0.08 * brand_loyalty + rng.gauss(0, 0.05), 0.02, 0.75,
        ),  # fmt: skip
        "preferred_brands": brands,
        "brand_loyalty": brand_loyalty,
        "discount_sensitivity": discount_sensitivity,
        "price_consciousness": price_consciousness,
        "coupon_affinity": coupon_affinity,
        "deal_seeking": deal_seeking,
        "churn_risk": _unit(0.06 + 0.2 * (1 - brand_loyalty) + (0.15 if freq < 1 else 0) + rng.gauss(0, 0.05), 0.01, 0.9),
    }  # fmt: skip


def budget_reference_cents(categories: tuple[str, ...] | list[str]) -> float:
    """The item price a persona's budget is sized with: 70 % the typical price of its
    preferred categories, 30 % the catalog-wide typical price (exploration)."""
    overall = vocab.catalog_typical_price_cents()
    known = [vocab.typical_price_cents(c) for c in categories if c in vocab.CATEGORY_ITEMS]
    pref = sum(known) / len(known) if known else overall
    return 0.7 * pref + 0.3 * overall


def _budget(d: dict[str, Any]) -> int:
    headroom = _INCOME_HEADROOM[d["income_band"]] + 0.3 * d["impulsivity"]
    cents = headroom * d["avg_basket_size"] * budget_reference_cents(d["preferred_categories"])
    return int(math.ceil(cents / 500.0)) * 500  # whole $5 like a shopper's mental budget


def generate_personas(n: int, *, seed: int) -> list[Persona]:
    """Generate ``n`` realistic, correlated personas (see the module docstring).

    Args:
        n: how many personas (ids ``P0001`` …).
        seed: the same ``(n, seed)`` always gives the same personas.

    Returns:
        Valid personas whose stores, categories and brands exist in ``personas.vocab``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(f"personas:{seed}")
    genders = _covering(rng, GENDERS, (0.48, 0.46, 0.03, 0.03), n)
    incomes = _covering(rng, INCOME_BANDS, (0.18, 0.22, 0.3, 0.18, 0.12), n)
    people = [_demographics(rng, g, i) for g, i in zip(genders, incomes, strict=True)]
    _cover(rng, people, "channel", CHANNELS)
    _cover(rng, people, "preferred_time_of_day", TIMES_OF_DAY)
    _cover(rng, people, "preferred_store", vocab.STORE_CODES)
    _cover_lists(rng, people, "preferred_categories", vocab.CATEGORIES)
    for p in people:
        p.update(_behaviour(rng, p))
    _cover_lists(rng, people, "preferred_days", WEEKDAYS)
    width = max(4, len(str(n)))
    out = []
    for i, p in enumerate(people, start=1):
        p["preferred_days"] = sorted(p["preferred_days"], key=WEEKDAYS.index)
        p["budget_per_trip"] = _budget(p)
        out.append(Persona(persona_id=f"P{i:0{width}d}", **p))
    return out


def _cell(v: Any) -> Any:
    return ", ".join(v) if isinstance(v, (list, tuple)) else v


def write_workbook(personas: list[Persona], path: Path | str) -> Path:
    """Write personas as a workbook the reader accepts.

    Args:
        personas: rows to write, in order.
        path: ``.xlsx`` (sheet ``Personas`` plus an ``Attributes`` sheet documenting each
            column) or ``.csv``.

    Returns:
        The path written.
    """
    path = Path(path)
    fields = list(Persona.model_fields)
    rows = [[_cell(getattr(p, f)) for f in fields] for p in personas]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(fields)
            w.writerows(rows)
        return path
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Personas"
    ws.append(fields)
    for row in rows:
        ws.append(row)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "B2"
    for idx, f in enumerate(fields, start=1):
        ws.column_dimensions[ws.cell(1, idx).column_letter].width = max(10, min(40, len(f) + 2))
    doc = wb.create_sheet("Attributes")
    doc.append(["attribute", "type / range", "what it drives"])
    from personas._cells import SPECS

    for f in fields:
        doc.append([f, _describe(SPECS[f]), Persona.model_fields[f].description or ""])
    for cell in doc[1]:
        cell.font = Font(bold=True)
    doc.column_dimensions["A"].width, doc.column_dimensions["B"].width = 24, 44
    doc.column_dimensions["C"].width = 90
    wb.save(path)
    return path


def _describe(spec: Any) -> str:
    if spec.kind in ("enum", "enum_list"):
        kind = "list of " if spec.kind == "enum_list" else ""
        return kind + " | ".join(spec.choices)
    if spec.kind == "str_list":
        return "comma-separated list"
    if spec.kind in ("int", "float"):
        lo = spec.ge if spec.ge is not None else (f">{spec.gt:g}" if spec.gt is not None else "")
        hi = "" if spec.le is None else f"{spec.le:g}"
        rng = f"{lo:g}–{hi}" if isinstance(lo, (int, float)) else f"{lo}"
        return f"{'whole number' if spec.kind == 'int' else 'number'} {rng}".strip() + (
            " (or a percentage)" if spec.is_unit else ""
        )
    return "text"
