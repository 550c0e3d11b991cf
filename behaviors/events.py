"""Building behavior events (ARCHITECTURE §8) and the simulated minutes between them.

A session's events are stamped ``slot_time + offset``; each step advances the offset by a
fixed number of simulated seconds (no random draw, so timing never shifts a decision).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from behaviors.shop import BehaviorEvent

STEP_SECONDS: dict[str, int] = {
    "session_start": 0,
    "idle_browse": 0,
    "view_product": 40,
    "cart_add_item": 20,
    "cart_remove_item": 15,
    "view_coupon": 15,
    "apply_coupon": 10,
    "checkout_complete": 60,
    "checkout_failed": 30,
    "abandon": 5,
}
"""Simulated seconds each kind of step takes (a 20-view, 8-item session ≈ 17 minutes)."""


class EventClock:
    """Stamps events of one hour: ``slot_time`` plus the simulated seconds elapsed."""

    __slots__ = ("slot_time", "seconds")

    def __init__(self, slot_time: datetime, seconds: int = 0):
        self.slot_time = slot_time
        self.seconds = seconds

    def event(
        self,
        event_type: str,
        payload: dict[str, Any],
        *,
        product_id: int | None = None,
        user_coupon_id: int | None = None,
        quantity: int | None = None,
        price_cents: int | None = None,
    ) -> BehaviorEvent:
        """A new event of ``event_type`` after advancing the clock by its step time."""
        self.seconds += STEP_SECONDS[event_type]
        return BehaviorEvent(
            event_type=event_type,
            sim_time=(self.slot_time + timedelta(seconds=self.seconds)).isoformat(),
            product_id=product_id,
            user_coupon_id=user_coupon_id,
            quantity=quantity,
            price_cents=price_cents,
            payload=payload,
        )
