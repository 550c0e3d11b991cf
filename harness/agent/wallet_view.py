"""What an agent remembers of its wallet between hours (no Locust here: pure and cheap)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime

from behaviors.shop import WalletCoupon
from personas.model import Persona


def relevant_expiries(persona: Persona, wallet: Sequence[WalletCoupon]) -> list[datetime]:
    """Sorted expiry instants of the wallet coupons the persona cares about (frontstore, or
    a preferred category or brand) — parsed once when the wallet is seen, not every hour."""
    cats, brands = set(persona.preferred_categories), set(persona.preferred_brands)
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(
        datetime.fromisoformat(c.expires_sim_at) if c.expires_sim_at else never
        for c in wallet
        if c.kind == "frontstore" or c.category in cats or c.brand in brands
    )


def active_at(expiries: list[datetime], at: datetime) -> int:
    """How many of the sorted ``expiries`` are still in the future at ``at``."""
    return len(expiries) - bisect_right(expiries, at)
