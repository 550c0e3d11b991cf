"""Scales of the 0–1 attributes: owners rate traits 1–10 or in percent, the model wants 0–1.

A column's scale is either **stated** (in its header, ``Impulsivity (1-10)`` / ``Churn %``,
or in ``[personas.scales]`` of the map file) or **detected** from the column's plain numbers
by :data:`RULE` — per column, never per cell, so one row cannot change how the others are
read. A column that fits no rule is an error that asks the owner to state the scale; the
reader never guesses. Cells written as percentages (``35%``) say their own scale and are
always read as percent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

RULE = (
    "0–1 when every value is ≤ 1; 1–10 when every value is within 1–10 and one is above 1; "
    "0–100 when every value is within 0–100 and one is above 10"
)
"""The detection rule, quoted in the reader's notes and errors."""


@dataclass(frozen=True)
class Scale:
    """A linear scale ``lo``–``hi`` mapped onto 0–1: ``(v − lo) / (hi − lo)``."""

    lo: float
    hi: float

    @property
    def label(self) -> str:
        return f"{self.lo:g}–{self.hi:g}"

    @property
    def formula(self) -> str:
        if self.lo == 0:
            return f"v / {self.hi:g}"
        return f"(v − {self.lo:g}) / {self.hi - self.lo:g}"

    def to_unit(self, value: float) -> float:
        """The value on 0–1. Rounded to 9 decimals: the division's float noise (0.49 read
        back from 5.41 on 1–10 as 0.49000000000000005) must not make a persona differ from
        the one written on 0–1; no workbook carries more precision than that."""
        return round((value - self.lo) / (self.hi - self.lo), 9)

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi


UNIT = Scale(0, 1)
ONE_TO_TEN = Scale(1, 10)
PERCENT = Scale(0, 100)

_STATED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-|–|—|to)\s*(\d+(?:\.\d+)?)\s*$")


def parse_stated(text: str) -> Scale:
    """``'1-10'``, ``'0 to 100'``, ``'%'``, ``'percent'`` → a :class:`Scale`.

    Raises:
        ValueError: the text is not a scale (the message is the reason).
    """
    t = text.strip().lower()
    if t in ("%", "percent", "pct", "percentage"):
        return PERCENT
    m = _STATED.match(t)
    if not m:
        raise ValueError(f"scale {text!r} not understood (write it as 1-10, 0-100 or %)")
    lo, hi = float(m.group(1)), float(m.group(2))
    if hi <= lo:
        raise ValueError(f"scale {text!r}: the top must be above the bottom")
    return Scale(lo, hi)


def plain_number(raw: object) -> float | None:
    """A cell's number when it is written as a plain number (not ``35%``, not text)."""
    if isinstance(raw, bool) or isinstance(raw, (dt.date, dt.time, dt.timedelta)):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if raw is None:
        return None
    text = str(raw).strip()
    if text.endswith("%"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def detect(values: Iterable[float]) -> Scale | None:
    """The scale :data:`RULE` assigns to a column's plain numbers; ``None`` when no rule
    fits (values below 0, above 100, or 1–10-sized values mixed with ones below 1)."""
    vals = list(values)
    if not vals:
        return UNIT
    lo, hi = min(vals), max(vals)
    if hi <= 1:
        return UNIT  # out-of-range negatives are then reported cell by cell
    if lo >= 1 and hi <= 10:
        return ONE_TO_TEN
    if lo >= 0 and 10 < hi <= 100:
        return PERCENT
    return None


def describe(values: Iterable[float]) -> str:
    vals = list(values)
    return f"{min(vals):g}–{max(vals):g}" if vals else "none"
