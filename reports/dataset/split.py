"""Splits that don't leak, and the personas' derivation provenance.

- ``persona`` (default): every persona is in exactly one of train / validation / test,
  by a hash of its id with a fixed salt — the same persona lands in the same split in
  every run, so datasets of several runs can be concatenated without leaking a customer
  across splits. A persona derived from a household the derivation held out
  (``Provenance`` sheet of a ``loadsim personas derive`` workbook) is always in test.
- ``time``: by simulated hour; the first hours train, the last ones test (whole days
  when the run has two or more), so a model is judged on a period it never saw.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("loadsim")

SPLITS = ("train", "validation", "test")
SALT = "loadsim-dataset-split-v1"
FRACTIONS = (0.8, 0.1, 0.1)
"""train / validation / test shares of personas (``persona`` split)."""
TIME_TEST_SHARE = 0.25
"""Share of the simulated hours, the last ones, in test (``time`` split)."""
SPLIT_MODES = ("persona", "time")


def persona_split(persona_id: str) -> str:
    """The split of ``persona_id`` (stable across runs and machines)."""
    digest = hashlib.sha256(f"{SALT}:{persona_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < FRACTIONS[0]:
        return "train"
    return "validation" if u < FRACTIONS[0] + FRACTIONS[1] else "test"


def time_cutoff(hours: int) -> int:
    """First simulated hour of the test split for a run of ``hours`` hours (whole days
    when the run has at least two)."""
    if hours <= 1:
        return hours
    cut = int(hours * (1 - TIME_TEST_SHARE))
    if hours >= 48:
        cut = max(24, cut // 24 * 24)
    return max(1, min(cut, hours - 1))


@dataclass
class Provenance:
    """What the persona workbook says about where the personas came from."""

    workbook: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """The Provenance sheet's key/value rows (source, seed, holdout_households...)."""
    household_split: dict[str, str] = field(default_factory=dict)
    """Source household → derive / holdout."""
    household_of: dict[str, str] = field(default_factory=dict)
    """persona_id → source household (Sources sheet)."""
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    """persona_id → attribute → where its value came from."""
    notes: list[str] = field(default_factory=list)

    @property
    def derived(self) -> bool:
        return bool(self.household_split or self.household_of)

    def held_out(self, persona_id: str) -> bool:
        h = self.household_of.get(persona_id)
        return h is not None and self.household_split.get(h) == "holdout"


def read_provenance(workbook: Path | None) -> Provenance:
    """The ``Provenance`` and ``Sources`` sheets of a derived workbook; an empty
    :class:`Provenance` (with a note) for a generated workbook or a missing file."""
    if workbook is None:
        return Provenance(notes=["no persona workbook recorded for the run"])
    if not workbook.is_file():
        return Provenance(str(workbook), notes=[f"persona workbook {workbook} not found"])
    if workbook.suffix.lower() not in (".xlsx", ".xlsm"):
        return Provenance(str(workbook), notes=[f"{workbook.name}: not a workbook"])
    from openpyxl import load_workbook

    from personas.derive.workbook import PROVENANCE, SOURCES
    from personas.derive.workbook import read_provenance as read_sheet

    prov = Provenance(str(workbook))
    try:
        got = read_sheet(workbook)
        if got is None:
            prov.notes.append(f"{workbook.name} has no {PROVENANCE} sheet (not derived)")
            return prov
        prov.meta, prov.household_split = got
        wb = load_workbook(workbook, read_only=True, data_only=True)
        try:
            if SOURCES in wb.sheetnames:
                rows = wb[SOURCES].iter_rows(values_only=True)
                header = [str(h) for h in next(rows, ()) if h is not None]
                for row in rows:
                    if not row or row[0] is None:
                        continue
                    # persona_id, household, then one source per attribute (whose
                    # first is persona_id's own: the header names it twice)
                    pid, h = str(row[0]), row[1] if len(row) > 1 else None
                    cells = dict(zip(header[2:], row[2:], strict=False))
                    if h not in (None, ""):
                        prov.household_of[pid] = str(h)
                    prov.sources[pid] = {k: str(v) for k, v in cells.items() if v not in (None, "")}
        finally:
            wb.close()
    except Exception as exc:  # noqa: BLE001 - provenance is a courtesy: the rows still go out
        log.warning("dataset: reading the provenance of %s failed: %s", workbook, exc)
        prov.notes.append(f"provenance of {workbook.name} unreadable ({type(exc).__name__})")
    return prov
