"""The coupon rules as the agents see them: ``offer_engine.pricing``, re-exported.

The rules were once written here and again in ``reference_api/pricing.py`` and drifted;
they now have one owner, ``offer_engine.pricing``, which both sides import. This module
only keeps the names the behaviors' tests and older callers import from here.
"""

from __future__ import annotations

from offer_engine.pricing import discount_cents as discount_cents
from offer_engine.pricing import ineligibility as ineligibility
from offer_engine.pricing import line_matches as line_matches
from offer_engine.pricing import subtotal_cents as subtotal_cents
