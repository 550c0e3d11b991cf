"""Building behavior events (docs/ARCHITECTURE.md, Data) and the simulated minutes between them.

A session's events are stamped ``slot_time + offset``; each step advances the offset by a
fixed number of simulated seconds (no random draw, so timing never shifts a decision).

Pacing: in a run, each action should happen at its event's simulated moment.
The graph stays free of clocks and sleeping: the harness installs a ``SessionPace`` for
the duration of one ``play_hour`` (``paced``), every stamped event is reported to it (so
it can let the simulated clock reach the event and note when it happened), and
``ACTION_EVENTS`` / ``action_offset`` tell the harness's Shop port at which offset the
action it is about to send will be stamped. Without a pace (offline, ``--pace off``)
nothing changes: same offsets, same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, Protocol

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

ACTION_EVENTS: dict[str, str] = {
    "cart_add": "cart_add_item",
    "cart_remove": "cart_remove_item",
    "view_coupon": "view_coupon",
    "apply_coupon": "apply_coupon",
    "checkout": "checkout_complete",
    "cart_clear": "abandon",
}
"""The event each Shop action is stamped with right after it succeeds. Reads (categories,
catalog pages, the wallet) have no event of their own: they happen at the session's
current offset."""


def action_offset(last_offset: int, action: str) -> int:
    """The offset (simulated seconds from the slot) at which ``action`` will be stamped,
    when the session's last event was stamped at ``last_offset``."""
    event = ACTION_EVENTS.get(action)
    return last_offset + (STEP_SECONDS[event] if event else 0)


class SessionPace(Protocol):
    """What the harness plugs in to pace a session (``harness.agent.pacing``)."""

    def stamped(self, event: BehaviorEvent, offset_s: int) -> None:
        """``event`` was just stamped at ``offset_s``: let simulated time reach it, and
        set ``event.real_time`` to when it happened."""
        ...


_PACE: ContextVar[SessionPace | None] = ContextVar("behaviors_session_pace", default=None)


@contextmanager
def paced(pace: SessionPace | None) -> Iterator[None]:
    """Report every event stamped inside the block (one ``play_hour``) to ``pace``.

    A context variable, so it is local to the greenlet/thread playing the hour and the
    nodes need not pass it around; ``None`` leaves events exactly as offline.
    """
    token = _PACE.set(pace)
    try:
        yield
    finally:
        _PACE.reset(token)


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
        event = BehaviorEvent(
            event_type=event_type,
            sim_time=(self.slot_time + timedelta(seconds=self.seconds)).isoformat(),
            product_id=product_id,
            user_coupon_id=user_coupon_id,
            quantity=quantity,
            price_cents=price_cents,
            payload=payload,
        )
        pace = _PACE.get()
        if pace is not None:
            pace.stamped(event, self.seconds)
        return event
