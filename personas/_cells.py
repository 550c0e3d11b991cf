"""Cell coercion for the persona workbook: one raw cell → one typed value or a reason.

The rules come from the ``Persona`` model itself (its annotations and ``Field`` bounds), so
a range changed in ``personas/model.py`` changes what the reader accepts. Reasons are short
and name the offending value, because the user fixes the workbook from them.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types as at

from personas._scales import Scale
from personas.model import WEEKDAYS, Persona


class CellError(ValueError):
    """A cell that cannot become its attribute's value; ``str()`` is the reason."""


@dataclass(frozen=True)
class FieldSpec:
    """How one attribute is parsed and checked."""

    name: str
    kind: str  # int | float | str | enum | enum_list | str_list
    required: bool
    default: Any = None
    choices: tuple[str, ...] = ()
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    min_len: int | None = None
    max_len: int | None = None

    @property
    def is_unit(self) -> bool:
        """A 0–1 attribute: percentages such as ``35%`` are accepted."""
        return self.kind == "float" and self.ge == 0 and self.le == 1


def _spec(name: str) -> FieldSpec:
    info = Persona.model_fields[name]
    ann = info.annotation
    choices: tuple[str, ...] = ()
    origin = typing.get_origin(ann)
    if ann is int:
        kind = "int"
    elif ann is float:
        kind = "float"
    elif ann is str:
        kind = "str"
    elif origin is typing.Literal:
        kind, choices = "enum", tuple(typing.get_args(ann))
    elif origin is tuple:
        inner = typing.get_args(ann)[0]
        if typing.get_origin(inner) is typing.Literal:
            kind, choices = "enum_list", tuple(typing.get_args(inner))
        else:
            kind = "str_list"
    else:  # pragma: no cover - a new annotation kind in the model
        raise TypeError(f"no cell rule for {name}: {ann!r}")
    bounds: dict[str, Any] = {}
    for m in info.metadata:
        if isinstance(m, at.Ge):
            bounds["ge"] = m.ge
        elif isinstance(m, at.Le):
            bounds["le"] = m.le
        elif isinstance(m, at.Gt):
            bounds["gt"] = m.gt
        elif isinstance(m, at.MinLen):
            bounds["min_len"] = m.min_length
        elif isinstance(m, at.MaxLen):
            bounds["max_len"] = m.max_length
    return FieldSpec(
        name=name,
        kind=kind,
        required=info.is_required(),
        default=None if info.is_required() else info.default,
        choices=choices,
        **bounds,
    )


SPECS: dict[str, FieldSpec] = {name: _spec(name) for name in Persona.model_fields}
"""Per attribute, in the model's (the workbook's canonical) column order."""


def is_blank(v: object) -> bool:
    """An empty cell: ``None`` or only whitespace."""
    return v is None or (isinstance(v, str) and not v.strip())


def token(s: str) -> str:
    """Normalize a header or enum value: case-, space-, hyphen-insensitive."""
    return re.sub(r"[\s\-]+", "_", s.strip().lower())


def _show(v: object) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _fmt(x: float) -> str:
    return f"{x:g}"


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _number(raw: object, spec: FieldSpec) -> float:
    """A numeric cell (or numeric text) as float; ``35%`` only for 0–1 attributes."""
    if isinstance(raw, bool) or isinstance(raw, (dt.date, dt.time, dt.timedelta)):
        raise CellError(f"expected a number, got {_show(raw)}")
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw).strip()
    percent = text.endswith("%")
    if percent:
        if not spec.is_unit:
            raise CellError(f"{_show(raw)}: percentages are only accepted for 0–1 attributes")
        text = text[:-1].strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    try:
        value = float(text)
    except ValueError:
        raise CellError(f"expected a number, got {_show(raw)}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CellError(f"expected a finite number, got {_show(raw)}")
    return round(value / 100, 9) if percent else value


def _check_range(value: float, raw: object, spec: FieldSpec) -> None:
    lo = spec.ge if spec.ge is not None else spec.gt
    if (spec.ge is not None and value < spec.ge) or (spec.le is not None and value > spec.le):
        shown = _show(raw) if isinstance(raw, str) else _fmt(value)
        if spec.le is None:
            raise CellError(f"out of range: {shown} (must be >= {_fmt(lo or 0)})")
        raise CellError(f"out of range: {shown} (allowed {_fmt(lo or 0)}–{_fmt(spec.le)})")
    if spec.gt is not None and value <= spec.gt:
        raise CellError(f"out of range: {_show(raw)} (must be > {_fmt(spec.gt)})")


_DAY_GROUPS: dict[str, tuple[str, ...]] = {
    "weekdays": WEEKDAYS[:5],
    "weekday": WEEKDAYS[:5],
    "weekends": WEEKDAYS[5:],
    "weekend": WEEKDAYS[5:],
    "daily": WEEKDAYS,
    "every_day": WEEKDAYS,
    "everyday": WEEKDAYS,
    "all": WEEKDAYS,
}
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(part: str) -> tuple[str, ...]:
    t = token(part)
    if t in _DAY_GROUPS:
        return _DAY_GROUPS[t]
    for short, full in zip(WEEKDAYS, _FULL_DAYS, strict=True):
        if len(t) >= 3 and full.startswith(t):  # Mon, Mond, Monday (any case)
            return (short,)
    raise CellError(f"unknown day {part.strip()!r} (expected Mon…Sun, weekdays, weekends or daily)")


def _split(raw: object) -> list[str]:
    if isinstance(raw, (list, tuple)):
        parts = [str(p) for p in raw]
    else:
        parts = re.split(r"[,;]", str(raw))
    return [p.strip() for p in parts if p.strip()]


def coerce(raw: object, spec: FieldSpec, scale: Scale | None = None) -> Any:
    """Turn one cell into the attribute's value.

    Args:
        raw: the cell as read (``None``, str, int, float, date, …).
        spec: the attribute's rules.
        scale: the column's scale for a 0–1 attribute written on another one (1–10,
            0–100); plain numbers are converted from it, ``35%`` cells are percent anyway.

    Returns:
        The typed value (lists as tuples); the default for a blank optional cell.

    Raises:
        CellError: why the cell is not acceptable (missing, wrong type, out of range,
            unknown enum value).
    """
    if is_blank(raw):
        if spec.required:
            raise CellError("missing value")
        return spec.default
    if spec.kind in ("int", "float"):
        value = _number(raw, spec)
        if scale is not None and spec.is_unit and not str(raw).strip().endswith("%"):
            if not scale.contains(value):
                raise CellError(
                    f"out of range: {_fmt(value)} (the column is on a {scale.label} scale)"
                )
            value = scale.to_unit(value)
        if spec.kind == "int":
            if not value.is_integer():
                raise CellError(f"expected a whole number, got {_show(raw)}")
            _check_range(value, raw, spec)
            return int(value)
        _check_range(value, raw, spec)
        return value
    if spec.kind == "str":
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)  # an id typed as a number: 101, not 101.0
        text = str(raw).strip()
        if spec.max_len is not None and len(text) > spec.max_len:
            raise CellError(f"too long: {len(text)} characters (max {spec.max_len})")
        return text
    if spec.kind == "enum":
        by_token = {token(c): c for c in spec.choices}
        choice = by_token.get(token(str(raw)))
        if choice is None:
            raise CellError(
                f"unknown value {_show(raw)} (expected one of: {', '.join(spec.choices)})"
            )
        return choice
    parts = _split(raw)
    if spec.kind == "enum_list":
        days: list[str] = []
        for part in parts:
            days += [d for d in _day(part) if d not in days]
        if spec.min_len and len(days) < spec.min_len:
            raise CellError("missing value")
        return tuple(days)
    return tuple(dict.fromkeys(parts))  # str_list: de-duplicated, order kept
