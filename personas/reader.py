"""The persona workbook reader: ``.xlsx`` (sheet ``Personas``) or ``.csv``, every bad cell
reported in one pass.

Headers are matched case-, space-, hyphen- and underscore-insensitively (``Persona ID``,
``persona_id`` and ``PERSONAID`` are one column), in any order, and may be the owner's own
words (``Income``, ``Days of Week``) or mapped in their map file (``personas.columns``);
extra columns are ignored with a warning; blank rows are skipped. 0–1 attributes written on
another scale (1–10, 0–100) are converted per column, the scale stated in a warning
(``personas._scales``). Each problem is one line ``Personas!<column> row <n>: <reason>``
with the spreadsheet's row number (header = row 1), so the user can fix the whole file from
one run (docs/ARCHITECTURE.md, Personas).
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from db.errors import ConfigError
from personas import _scales
from personas._cells import SPECS, CellError, coerce, is_blank
from personas.columns import ColumnMap, closest_header, load_column_map
from personas.model import Persona

SHEET = "Personas"
"""The sheet the reader looks for (and the name used in messages for ``.csv`` files)."""

SUFFIXES = (".xlsx", ".xlsm", ".csv")


class PersonaFileError(ConfigError):
    """The workbook is unusable: ``errors`` holds one line per bad cell (exit code 2)."""

    def __init__(self, path: Path | str, errors: list[str], warnings: list[str] | None = None):
        self.path = Path(path)
        self.errors = list(errors)
        self.warnings = list(warnings or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.errors)
        head = f"{self.path}: {n} problem{'s' if n != 1 else ''} in the personas file"
        return "\n".join([head, *self.errors])


@dataclass(frozen=True)
class ReadReport:
    """A valid workbook's personas, with the warnings (ignored columns) and row numbers."""

    personas: list[Persona]
    warnings: list[str] = field(default_factory=list)
    sheet: str = SHEET
    rows: list[int] = field(default_factory=list)
    """The spreadsheet row of each persona (same order as ``personas``)."""
    notes: list[str] = field(default_factory=list)
    """How the owner's headers and scales were read (alias → attribute, 1–10 → 0–1)."""


def read_personas(path: Path | str, column_map: ColumnMap | None = None) -> list[Persona]:
    """Read and validate a persona workbook.

    Args:
        path: an ``.xlsx`` workbook with a ``Personas`` sheet, or a ``.csv`` file.
        column_map: the owner's ``[personas.columns]``; ``None`` → the owner's file that
            ``db.owner_file`` locates (``$LOADSIM_MAP``, else ``$LOADSIM_DB_MAP``), or none.

    Returns:
        One ``Persona`` per non-blank row, in file order.

    Raises:
        PersonaFileError: any bad cell, missing column, duplicate ``persona_id``, or an
            unreadable file; ``.errors`` lists every problem.
    """
    return read_personas_report(path, column_map).personas


def read_personas_report(path: Path | str, column_map: ColumnMap | None = None) -> ReadReport:
    """Like :func:`read_personas`, also returning warnings, notes and row numbers."""
    path = Path(path)
    cmap = load_column_map() if column_map is None else column_map
    sheet, row_iter = _open(path)
    rows = list(row_iter)
    notes: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    if _norm_header(sheet) != _norm_header(SHEET):
        warnings.append(f"{sheet}: no sheet named {SHEET!r}; read the workbook's only sheet")
    header = rows.pop(0) if rows else None
    if header is None or all(is_blank(h) for h in header[1]):
        raise PersonaFileError(
            path, [f"{sheet} row 1: no header row (expected the 28 attribute names)"]
        )
    columns, unknown = _map_header(sheet, header[1], cmap, errors, warnings, notes)
    headed = {i for i, h in enumerate(header[1]) if not is_blank(h)}
    for name, spec in SPECS.items():
        if name not in columns and spec.required:
            near = closest_header(name, unknown)
            hint = f" (closest header: {near!r}; map it in [personas.columns])" if near else ""
            errors.append(f"{sheet}!{name} row 1: missing required column{hint}")
    scales = _column_scales(sheet, header[1], columns, rows, cmap, errors, warnings, notes)

    incomplete = _missing_required(columns) or any(s is None for s in scales.values())
    personas: list[Persona] = []
    persona_rows: list[int] = []
    first_row: dict[str, int] = {}
    unlabeled_data: set[int] = set()
    for row_no, cells in rows:
        if all(is_blank(c) for c in cells):
            continue
        unlabeled_data |= {i for i, c in enumerate(cells) if i not in headed and not is_blank(c)}
        values: dict[str, Any] = {}
        bad = False
        for name, idx in columns.items():
            raw = cells[idx] if idx < len(cells) else None
            if name in scales and scales[name] is None:
                continue  # the column's scale is unknown: reported once above
            try:
                values[name] = coerce(raw, SPECS[name], scales.get(name))
            except CellError as exc:
                errors.append(f"{sheet}!{name} row {row_no}: {exc}")
                bad = True
        pid = values.get("persona_id")
        if isinstance(pid, str):
            key = pid.casefold()  # emails are derived from ids: P1 and p1 would collide
            if key in first_row:
                errors.append(
                    f"{sheet}!persona_id row {row_no}: duplicate persona_id {pid!r} "
                    f"(first at row {first_row[key]})"
                )
                bad = True
            else:
                first_row[key] = row_no
        if bad or incomplete:  # a missing column is reported once, not per row
            continue
        try:
            personas.append(Persona(**values))
            persona_rows.append(row_no)
        except ValidationError as exc:  # a rule the cell parser does not know about
            for err in exc.errors():
                col = str(err["loc"][0]) if err["loc"] else "row"
                errors.append(f"{sheet}!{col} row {row_no}: {err['msg']}")
    for idx in sorted(unlabeled_data):
        warnings.append(f"{sheet} column {_letter(idx)}: values under an empty header; ignored")
    if not errors and not personas:
        errors.append(f"{sheet} row 2: no personas (every row below the header is blank)")
    if errors:
        raise PersonaFileError(path, errors, warnings)
    return ReadReport(
        personas=personas, warnings=warnings, sheet=sheet, rows=persona_rows, notes=notes
    )


def _missing_required(columns: dict[str, int]) -> bool:
    return any(spec.required and name not in columns for name, spec in SPECS.items())


def _norm_header(h: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(h)).lower()


def _letter(idx: int) -> str:
    """Spreadsheet column letter of a 0-based index (0 → A, 27 → AB)."""
    out = ""
    idx += 1
    while idx:
        idx, rem = divmod(idx - 1, 26)
        out = chr(65 + rem) + out
    return out


def _map_header(
    sheet: str,
    header: tuple[Any, ...],
    cmap: ColumnMap,
    errors: list[str],
    warnings: list[str],
    notes: list[str],
) -> tuple[dict[str, int], list[str]]:
    """Attribute name → column index, and the headers that name no attribute (warned)."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for idx, h in enumerate(header):
        if is_blank(h):
            continue
        text = str(h).strip()
        name = cmap.attribute(text)
        if name is None:
            unknown.append(text)
            warnings.append(
                f"{sheet} column {_letter(idx)} {text!r}: not a persona attribute; ignored"
            )
        elif name in columns:
            errors.append(
                f"{sheet}!{name} row 1: column given twice "
                f"(columns {_letter(columns[name])} and {_letter(idx)})"
            )
        else:
            columns[name] = idx
            if _norm_header(text) != _norm_header(name):
                notes.append(f"{sheet} column {_letter(idx)} {text!r}: read as {name}")
    return columns, unknown


def _column_scales(
    sheet: str,
    header: tuple[Any, ...],
    columns: dict[str, int],
    rows: list[tuple[int, tuple[Any, ...]]],
    cmap: ColumnMap,
    errors: list[str],
    warnings: list[str],
    notes: list[str],
) -> dict[str, _scales.Scale | None]:
    """The scale of each 0–1 attribute column that is not on 0–1 (``None``: unknown, an
    error is reported once for the column). Stated scales win over detection."""
    out: dict[str, _scales.Scale | None] = {}
    for name, idx in columns.items():
        if not SPECS[name].is_unit:
            continue
        head = str(header[idx]).strip()
        vals = [
            v
            for _, cells in rows
            if idx < len(cells) and (v := _scales.plain_number(cells[idx])) is not None
        ]
        stated = cmap.stated_scale(head, name)
        scale: _scales.Scale | None
        if stated is not None:
            try:
                scale = _scales.parse_stated(stated[0])
            except ValueError as exc:
                errors.append(f"{sheet}!{name} row 1: {exc} ({stated[1]})")
                out[name] = None
                continue
            how = f"stated {stated[1]}"
        else:
            scale = _scales.detect(vals)
            if scale is None:
                errors.append(
                    f"{sheet}!{name} row 1: values {_scales.describe(vals)} fit no single "
                    f"scale (rule: {_scales.RULE}); state it in the header, e.g. "
                    f"'{head} (1-10)', or in [personas.scales]"
                )
                out[name] = None
                continue
            how = f"detected: values {_scales.describe(vals)}; rule: {_scales.RULE}"
        if scale == _scales.UNIT:
            continue
        out[name] = scale
        msg = f"{sheet}!{name} ({head!r}): read on a {scale.label} scale as {scale.formula} ({how})"
        warnings.append(msg)
        notes.append(msg)
    return out


Rows = Iterator[tuple[int, tuple[Any, ...]]]


def _open(path: Path) -> tuple[str, Rows]:
    """The sheet name for messages and an iterator of (row number, cells)."""
    if not path.exists():
        raise PersonaFileError(path, [f"{SHEET}: file not found: {path}"])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return SHEET, _csv_rows(path)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    raise PersonaFileError(
        path,
        [f"{SHEET}: unsupported file type {path.suffix!r} (use .xlsx or .csv; save .xls as .xlsx)"],
    )


def _csv_rows(path: Path) -> Rows:
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PersonaFileError(
            path, [f"{SHEET}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
        ) from None
    rows = list(csv.reader(text.splitlines()))
    return ((i, tuple(r)) for i, r in enumerate(rows, start=1))


def _xlsx_rows(path: Path) -> tuple[str, Rows]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # data_only: a formula cell reads as the value Excel last computed for it.
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise PersonaFileError(path, [f"{SHEET}: not a readable .xlsx workbook ({exc})"]) from None
    try:
        names = wb.sheetnames
        match = [n for n in names if _norm_header(n) == _norm_header(SHEET)]
        if match:
            name = match[0]
        elif len(names) == 1:
            name = names[0]
        else:
            raise PersonaFileError(
                path, [f"{SHEET}: no sheet named {SHEET!r} (sheets: {', '.join(names)})"]
            )
        rows = [(i, tuple(r)) for i, r in enumerate(wb[name].iter_rows(values_only=True), start=1)]
    finally:
        wb.close()
    return name, iter(rows)
