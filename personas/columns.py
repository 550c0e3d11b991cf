"""Which workbook header is which persona attribute: the owner's words, not only ours.

Three sources, in this order of precedence:

1. the owner's **column map** — section ``[personas.columns]`` of their map file (TOML),
   ``"Their Header" = "canonical_attribute"``. The same file holds other sections (the
   database map, routes…) read by other modules; this loader reads only ``[personas.*]``
   and ignores the rest. Optional ``[personas.scales]`` states a 0–1 attribute's scale
   (``"Their Header" = "1-10"``, ``"0-100"``, ``"%"``);
2. the canonical attribute names (``persona_id``, ``income_band``…);
3. :data:`ALIASES`: the words the owner's own plan uses for the attributes.

Headers are compared case-, space-, hyphen- and underscore-insensitively. The map file is
passed explicitly or named by ``$LOADSIM_MAP`` / ``$LOADSIM_DB_MAP`` (so every command that
reads a workbook honours it without an option of its own); ``db.owner_file`` locates and
parses it, here as for every other section.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from db import owner_file
from db.errors import ConfigError
from personas.model import PERSONA_FIELDS

# The owner's plan ("Agent State (28 Persona Attributes)") names them as
# "age, income, location / frequency, basket_size, impulsivity / categories, brands,
# days_of_week / discount_sensitivity, price_consciousness", and its rule options speak of
# "shopping_frequency, price_sensitivity" and "time_of_day" / "time preferences".
_SEED_WORDS: dict[str, str] = {
    "income": "income_band",
    "location": "city",
    "frequency": "shopping_frequency",
    "basket size": "avg_basket_size",
    "categories": "preferred_categories",
    "brands": "preferred_brands",
    "days of week": "preferred_days",
    "price sensitivity": "price_consciousness",
    "time of day": "preferred_time_of_day",
    "time preference": "preferred_time_of_day",
    "time preferences": "preferred_time_of_day",
}
# Common spreadsheet wordings of the other attributes (not from the seeds; unambiguous).
_COMMON_WORDS: dict[str, str] = {
    "id": "persona_id",
    "persona": "persona_id",
    "income level": "income_band",
    "household": "household_size",
    "job": "occupation",
    "shopping days": "preferred_days",
    "preferred day": "preferred_days",
    "sessions per week": "shopping_frequency",
    "trips per week": "shopping_frequency",
    "weekday preference": "weekday_affinity",
    "weekend preference": "weekend_affinity",
    "items per basket": "avg_basket_size",
    "abandonment rate": "cart_abandonment_rate",
    "cart abandonment": "cart_abandonment_rate",
    "category preferences": "preferred_categories",
    "brand preferences": "preferred_brands",
    "loyalty": "brand_loyalty",
    "store": "preferred_store",
    "store code": "preferred_store",
    "coupon usage": "coupon_affinity",
    "churn": "churn_risk",
}

ALIASES: dict[str, str] = {**_SEED_WORDS, **_COMMON_WORDS}
"""Alias header → attribute (matched after :func:`norm`)."""


def norm(header: object) -> str:
    """The comparison key of a header: lower case, no spaces, hyphens or underscores."""
    return re.sub(r"[\s_\-]+", "", str(header)).lower()


_SCALE_SUFFIX = re.compile(
    r"""\s*(?:
        [(\[]\s*(?P<lo>\d+(?:\.\d+)?)\s*(?:-|–|—|to)\s*(?P<hi>\d+(?:\.\d+)?)\s*[)\]]   # (1-10)
      | [(\[]\s*(?P<pct>%|percent|pct)\s*[)\]]                                       # (%)
      | (?P<pct2>%)                                                                 # trailing %
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def split_scale(header: str) -> tuple[str, str | None]:
    """``'Impulsivity (1-10)'`` → ``('Impulsivity', '1-10')``; ``'Churn %'`` →
    ``('Churn', '%')``; a header without a stated scale → ``(header, None)``."""
    m = _SCALE_SUFFIX.search(header)
    if not m or not header[: m.start()].strip():
        return header, None
    if m.group("lo") is not None:
        return header[: m.start()], f"{m.group('lo')}-{m.group('hi')}"
    return header[: m.start()], "%"


@dataclass(frozen=True)
class ColumnMap:
    """The owner's ``[personas.columns]`` / ``[personas.scales]`` (keys normalized)."""

    columns: dict[str, str] = field(default_factory=dict)
    """Normalized header → attribute."""
    scales: dict[str, str] = field(default_factory=dict)
    """Normalized header or attribute name → stated scale text (``1-10``, ``0-100``, ``%``)."""
    source: str = ""

    def attribute(self, header: str) -> str | None:
        """The attribute a header names, or None (map file, canonical name, then alias;
        each tried on the whole header, then without a stated scale such as ``(1-10)``)."""
        for key in dict.fromkeys((norm(header), norm(split_scale(header)[0]))):
            if key in self.columns:
                return self.columns[key]
        for key in dict.fromkeys((norm(header), norm(split_scale(header)[0]))):
            if key in _BY_KEY:
                return _BY_KEY[key]
        return None

    def stated_scale(self, header: str, attribute: str) -> tuple[str, str] | None:
        """``(scale text, where it was stated)`` for a column, or None."""
        for key in (norm(header), norm(split_scale(header)[0]), norm(attribute)):
            if key in self.scales:
                return self.scales[key], f"[personas.scales] of {self.source}"
        text = split_scale(header)[1]
        return (text, "in the header") if text else None


_BY_KEY: dict[str, str] = {norm(a): t for a, t in ALIASES.items()} | {
    norm(f): f for f in PERSONA_FIELDS
}


def closest_header(attribute: str, headers: Iterable[str]) -> str | None:
    """The header most like ``attribute`` (or one of its aliases), if any is close."""
    names = [norm(attribute)] + [norm(a) for a, t in ALIASES.items() if t == attribute]
    best, best_ratio = None, 0.0
    for h in headers:
        base = norm(split_scale(h)[0])
        for n in names:
            ratio = difflib.SequenceMatcher(None, n, base).ratio()
            if len(n) >= 4 and len(base) >= 4 and (n in base or base in n):
                ratio = max(ratio, 0.75)  # "Churn Probability" holds the alias "churn"
            if ratio > best_ratio:
                best, best_ratio = h, ratio
    return best if best_ratio >= 0.6 else None


def load_column_map(path: Path | str | None = None) -> ColumnMap:
    """Read ``[personas.columns]`` and ``[personas.scales]`` from the owner's map file.

    Args:
        path: the TOML file; ``None`` → ``$LOADSIM_MAP`` (or ``$LOADSIM_DB_MAP``) if set,
            else an empty map.

    Raises:
        ConfigError: unreadable TOML, or a mapped attribute that does not exist (the
            message names the closest attribute).
    """
    f = owner_file.load(path)
    if f.path is None:
        return ColumnMap()
    path = f.path
    section = f.section("personas")
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [personas] must be a table")
    errors: list[str] = []
    columns: dict[str, str] = {}
    raw_columns = section.get("columns", {})
    if not isinstance(raw_columns, dict):
        errors.append(f'{path}: [personas.columns] must be a table of "Header" = "attribute"')
        raw_columns = {}
    for header, attr in raw_columns.items():
        where = f'{path}: [personas.columns] "{header}"'
        if not isinstance(attr, str) or attr not in PERSONA_FIELDS:
            near = difflib.get_close_matches(str(attr), PERSONA_FIELDS, n=1, cutoff=0.5)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            errors.append(f"{where} = {attr!r}: not a persona attribute{hint}")
            continue
        columns[norm(header)] = attr
    scales: dict[str, str] = {}
    raw_scales = section.get("scales", {})
    if not isinstance(raw_scales, dict):
        errors.append(f'{path}: [personas.scales] must be a table of "Header" = "1-10"')
        raw_scales = {}
    for header, text in raw_scales.items():
        scales[norm(header)] = str(text).strip()
    if errors:
        raise ConfigError("\n".join(errors))
    return ColumnMap(columns=columns, scales=scales, source=str(path))
