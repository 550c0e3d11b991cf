"""The derived workbook: the reader's ``Personas`` sheet plus what makes it auditable.

- ``Personas`` / ``Attributes``: exactly what ``personas.sample.write_workbook`` writes, so
  ``loadsim personas validate`` and every run accept the file unchanged;
- ``Sources``: per persona and attribute, where the value came from (``transactions: …``,
  ``demographics: …``, ``unknown (filled: …)``, ``assumed: …``);
- ``Provenance``: the source, seed, hour shift and price ratio, then one row per source
  household with its split (``derive`` / ``holdout``) and whether it became a persona —
  ``loadsim realism`` scores against the ``holdout`` households only.

Only aggregate attributes are written: no transaction row of the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from personas.derive.derive import DeriveResult
from personas.model import PERSONA_FIELDS
from personas.sample import write_workbook

PROVENANCE = "Provenance"
SOURCES = "Sources"


def write_derived(result: DeriveResult, path: Path | str) -> Path:
    """Write the workbook (to a temporary name first: nothing partial is left behind)."""
    from openpyxl import load_workbook
    from openpyxl.styles import Font

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.xlsx")
    write_workbook(result.personas, tmp)
    wb = load_workbook(tmp)
    src = wb.create_sheet(SOURCES)
    src.append(["persona_id", "household", *PERSONA_FIELDS])
    for p in result.personas:
        s = result.sources[p.persona_id]
        row = [p.persona_id, result.household_of.get(p.persona_id, "")]
        src.append(row + [s.get(f, "") for f in PERSONA_FIELDS])
    prov = wb.create_sheet(PROVENANCE)
    prov.append(["key", "value"])
    for k, v in result.provenance.items():
        prov.append([k, v])
    prov.append([])
    prov.append(["household", "split", "persona"])
    sampled = set(result.split.sample)
    for h in result.split.derive:
        prov.append([h, "derive", "yes" if h in sampled else "no"])
    for h in result.split.holdout:
        prov.append([h, "holdout", "no"])
    for ws in (src, prov):
        for cell in ws[1]:
            cell.font = Font(bold=True)
    wb.save(tmp)
    tmp.replace(path)
    return path


def read_provenance(path: Path | str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """``(key → value, household → split)`` of a derived workbook; None for a workbook
    without a ``Provenance`` sheet (e.g. a generated one)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        if PROVENANCE not in wb.sheetnames:
            return None
        meta: dict[str, Any] = {}
        split: dict[str, str] = {}
        in_households = False
        for row in wb[PROVENANCE].iter_rows(min_row=2, values_only=True):
            if not row or row[0] is None:
                continue
            if row[0] == "household" and row[1] == "split":
                in_households = True
                continue
            if in_households:
                split[str(row[0])] = str(row[1])
            else:
                meta[str(row[0])] = row[1]
        return meta, split
    finally:
        wb.close()
