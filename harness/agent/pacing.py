"""Pacing a session in simulated time: each action happens at its event's moment.

A shopping session in the data lasts 12–32 simulated minutes (``behaviors.events``
stamps every step with a simulated offset). Without pacing the harness fires all of a
session's requests back to back at the slot; with it, ``SessionPacer`` — the Shop port the
harness hands the graph for one hour, and the hour's ``SessionPace`` — makes each action
wait until the simulated clock reaches the time its event will carry, then sends it with
``X-Simulated-Time`` = that time. Events without a request (product views) wait for their
moment too, so the session takes its simulated length (dwell = offset ÷ time scale) and
every event's ``real_time`` is when it happened. The graph never sleeps: ``behaviors``
only reports offsets.

The wait reads the live clock each time round (a pause, resume or scale change re-anchors
it): a paused clock holds a session in the middle. A stopping user (end of run, lower
user count) stops waiting at once and finishes its session unpaced, so the session and
its order are still recorded whole rather than cut by a kill inside the graph.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from behaviors.events import ACTION_EVENTS, action_offset
from behaviors.shop import BehaviorEvent, Cart, Order, Product, Shop, WalletCoupon

MAX_STEP_S = 1.0
"""Longest single sleep: a pause, scale change or stop is noticed within this."""
PAUSED_POLL_S = 0.25
"""How often a session held by a paused clock looks again."""


class PaceClock(Protocol):
    """What the pace reads of the process's clock (``offer_engine.clock.SimClock``)."""

    def real_time_at(self, sim_time: datetime) -> float | None: ...


@runtime_checkable
class StampedShop(Protocol):
    """A port that sends ``X-Simulated-Time`` = ``at`` when set (``HttpShop``), else now."""

    at: datetime | None


def _gevent_sleep(seconds: float) -> None:
    import gevent  # a Locust process: the user's greenlet yields while it waits

    gevent.sleep(seconds)


class SessionPacer:
    """One session's pacing: the Shop port the graph acts through, and its pace.

    Args:
        shop: The agent's real port (``HttpShop`` or ``InMemoryShop``).
        slot_time: The session's simulated start (offset 0).
        clock: Returns the process's current ``SimClock`` (re-read every time).
        stopping: True once the user is asked to stop: no more waiting.
        on_slip: Called with each request's slip in seconds (sent − due, real time).
        sleep, now: Injected for tests (gevent's sleep, ``time.time``).
    """

    def __init__(
        self,
        shop: Shop,
        *,
        slot_time: datetime,
        clock: Callable[[], PaceClock],
        stopping: Callable[[], bool],
        on_slip: Callable[[float], None] | None = None,
        sleep: Callable[[float], object] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._shop = shop
        self._slot = slot_time
        self._clock = clock
        self._stopping = stopping
        self._on_slip = on_slip
        self._sleep = sleep or _gevent_sleep
        self._now = now
        self._stamped = shop if isinstance(shop, StampedShop) else None
        self.offset = 0
        """Offset of the session's last stamped event (simulated seconds from the slot)."""
        self.reached = 0
        """The furthest offset waited for; actions never go back in simulated time."""
        self._sent: tuple[int, float] | None = None
        self.waited_s = 0.0
        """Real seconds spent waiting (dwell and pause), not working."""
        self.unpaced = False
        """The user was stopping: the rest of the session went out without waiting."""

    # ------------------------------------------------------------------ the pace

    def stamped(self, event: BehaviorEvent, offset_s: int) -> None:
        """An event was stamped: let its moment come (views), note when it happened."""
        self.offset = offset_s
        if self._sent is not None and self._sent[0] == offset_s:
            event.real_time = self._sent[1]  # the action's request went out at its moment
            self._sent = None
            return
        self._reach(offset_s)
        event.real_time = self._now()

    def close(self) -> None:
        """The hour is over: the real port's next request reads the clock again."""
        if self._stamped is not None:
            self._stamped.at = None

    def _reach(self, offset_s: int) -> datetime:
        """Wait until the simulated clock reaches ``slot + offset`` (never backwards)."""
        self.reached = max(self.reached, offset_s)
        due = self._slot + timedelta(seconds=self.reached)
        t0 = self._now()
        while not self.unpaced:
            if self._stopping():
                self.unpaced = True
                break
            real = self._clock().real_time_at(due)
            if real is None:  # paused: hold the session here
                self._sleep(PAUSED_POLL_S)
                continue
            wait = real - self._now()
            if wait <= 0:
                break
            self._sleep(min(wait, MAX_STEP_S))
        self.waited_s += self._now() - t0
        return due

    def until(self, action: str, ready: Callable[[float], bool]) -> bool:
        """Wait for ``ready`` at most until ``action``'s moment (a model's answer,
        ``harness.agent.llm.PacedAsks``): ``ready(s)`` blocks up to ``s`` real seconds and
        says whether it is there. ``False``: the moment came first, or the user is stopping;
        the session then acts on time without it."""
        offset = max(self.reached, action_offset(self.offset, action))
        due = self._slot + timedelta(seconds=offset)
        t0 = self._now()
        try:
            while not self.unpaced and not self._stopping():
                real = self._clock().real_time_at(due)
                wait = PAUSED_POLL_S if real is None else real - self._now()
                if wait <= 0:
                    break
                if ready(min(wait, MAX_STEP_S)):
                    return True
            return ready(0)
        finally:
            self.waited_s += self._now() - t0

    def _before(self, action: str) -> None:
        """Wait for the action's moment and stamp its request with it."""
        offset = action_offset(self.offset, action)
        due = self._reach(offset)
        if self._stamped is not None:
            self._stamped.at = due
        sent = self._now()
        if action in ACTION_EVENTS:  # its event is stamped right after it succeeds
            self._sent = (offset, sent)
        if self._on_slip is not None and not self.unpaced:
            real_due = self._clock().real_time_at(due)
            if real_due is not None:
                self._on_slip(max(0.0, sent - real_due))

    # ------------------------------------------------------------------ the Shop port

    def catalog_page(
        self,
        *,
        store_id: int | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Product]:
        self._before("catalog_page")
        return self._shop.catalog_page(
            store_id=store_id, category=category, brand=brand, limit=limit, offset=offset
        )

    def categories(self) -> list[str]:
        return self._shop.categories()  # the catalog cache: nothing is sent

    def cart_add(self, product_id: int, quantity: int = 1) -> Cart:
        self._before("cart_add")
        return self._shop.cart_add(product_id, quantity)

    def cart_remove(self, product_id: int) -> Cart:
        self._before("cart_remove")
        return self._shop.cart_remove(product_id)

    def cart_clear(self) -> None:
        self._before("cart_clear")
        return self._shop.cart_clear()

    def wallet(self) -> list[WalletCoupon]:
        self._before("wallet")
        return self._shop.wallet()

    def view_coupon(self, user_coupon_id: int) -> None:
        self._before("view_coupon")
        return self._shop.view_coupon(user_coupon_id)

    def apply_coupon(self, user_coupon_id: int) -> Cart:
        self._before("apply_coupon")
        return self._shop.apply_coupon(user_coupon_id)

    def checkout(self, idempotency_key: str) -> Order:
        self._before("checkout")
        return self._shop.checkout(idempotency_key)
