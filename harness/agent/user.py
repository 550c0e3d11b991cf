"""``PersonaUser``: one Locust user bound to one leased persona for its lifetime.

Each simulated hour the agent acts once, at a stable offset inside the hour (a hash of the
run seed and persona id, so load is spread over the hour). Between hours the user sleeps
in Locust's *waiting* state (``wait_time``), so stopping it never interrupts an hour.
Slip (how late the agent acted against its slot) and missed hours (slots that passed while
the agent was busy or the worker overloaded) are measured, never silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime
from typing import Any
from uuid import uuid4

from gevent.event import AsyncResult
from locust import User, task

from behaviors.shop import ShopUnavailable
from harness.agent.runtime import ProcessRuntime, runtime_of
from harness.agent.wallet_view import active_at, relevant_expiries
from harness.config.messages import MSG_LEASE, MSG_RELEASE
from personas.model import Persona

log = logging.getLogger("loadsim.user")

MAX_SLEEP_S = 30.0  # re-check the clock at least this often (a pause/resume re-anchors it)
PAUSED_POLL_S = 1.0


def slot_offset_seconds(seed: int, persona_id: str) -> float:
    """Stable offset inside the simulated hour, in [0, 3600) simulated seconds."""
    h = hashlib.blake2b(f"{seed}:{persona_id}:slot".encode(), digest_size=8).digest()
    return (int.from_bytes(h, "big") % 3_600_000) / 1000.0


def http_pool_index(persona_id: str, pools: int) -> int:
    h = hashlib.blake2b(persona_id.encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") % max(1, pools)


class HourAlreadyClaimed(Exception):
    """Raised inside the graph when the hour turns out to be claimed already (resume)."""


class _ClaimingShop:
    """Wraps the agent's Shop: the first action of the hour claims it in the database
    first, so nothing reaches the API for an hour another run already did."""

    __slots__ = ("_shop", "_claim", "session_id")

    def __init__(self, shop: Any, claim: Any) -> None:
        self._shop = shop
        self._claim = claim
        self.session_id: int | None = None

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._shop, name)
        if not callable(target):
            return target

        def call(*a: Any, **kw: Any) -> Any:
            if self.session_id is None:
                self.session_id = self._claim()
                if self.session_id is None:
                    raise HourAlreadyClaimed()
            return target(*a, **kw)

        return call


class PersonaUser(User):
    """Base class; the locustfile declares the concrete (non-abstract) user."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        rt = runtime_of(environment)
        assert rt is not None, "the harness's init listener builds the runtime first"
        self.rt: ProcessRuntime = rt
        self.entry: dict[str, Any] | None = None
        self.persona: Persona | None = None
        self.next_hour = 0
        self.offset_s = 0.0
        self.shop: Any = None
        self.relevant_expiries: list[datetime] = []
        """Expiry instants of the relevant coupons the agent last saw in its wallet, sorted."""
        self._req_id: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        rt = self.rt
        rt.ready.wait()
        self._req_id = uuid4().hex
        result: AsyncResult = AsyncResult()
        rt.pending[self._req_id] = result
        self.environment.runner.send_message(MSG_LEASE, {"req_id": self._req_id})
        self.entry = result.get()  # waits while no persona of the active set is free
        rt.pending.pop(self._req_id, None)
        assert rt.run is not None
        self.persona = Persona(**self.entry["persona"])
        self.offset_s = slot_offset_seconds(rt.run.seed, self.persona.persona_id)
        self.shop = self._make_shop()
        now = rt.clock.now()
        hour = rt.hour_of(now)
        # A user that joins mid-hour starts with the first slot still ahead of it.
        self.next_hour = hour if rt.slot_time(hour, self.offset_s) >= now else hour + 1

    def on_stop(self) -> None:
        runner = self.environment.runner
        if self.entry is not None:
            runner.send_message(MSG_RELEASE, {"agent_id": self.entry["agent_id"]})
            self.entry = None
        elif self._req_id is not None:
            runner.send_message(MSG_RELEASE, {"req_id": self._req_id})
            self.rt.pending.pop(self._req_id, None)

    def _make_shop(self) -> Any:
        rt = self.rt
        assert rt.run is not None and rt.catalog is not None and self.persona is not None
        store_id = rt.catalog.stores.get(self.persona.preferred_store)
        if rt.run.mock_api:
            from behaviors.memory_shop import InMemoryShop
            from harness.agent.mock_wallet import mock_wallet

            return InMemoryShop(
                rt.catalog.products, mock_wallet(self.persona, rt.run.seed), store_id=store_id
            )
        from locust.contrib.fasthttp import FastHttpSession

        from harness.agent.http_shop import HttpShop

        pool = rt.http_pools[http_pool_index(self.persona.persona_id, len(rt.http_pools))]
        client = FastHttpSession(
            base_url=rt.run.api_url,
            request_event=self.environment.events.request,
            user=self,
            client_pool=pool,
            network_timeout=30.0,
            connection_timeout=10.0,
        )
        return HttpShop(
            client=client, agent_id=int(self.entry["agent_id"]), sim_now=rt.clock.now,  # type: ignore[index]
            bucket=rt.bucket, catalog=rt.catalog, browse_via_api=rt.opts.browse_via == "api",
            counters=rt.counters, default_store_id=store_id,
        )  # fmt: skip

    # ------------------------------------------------------------------ scheduling

    def wait_time(self) -> float:
        rt = self.rt
        if rt.clock is None or self.persona is None:
            return PAUSED_POLL_S
        wait = rt.real_wait_until(rt.slot_time(self.next_hour, self.offset_s))
        if wait is None:  # paused
            return PAUSED_POLL_S
        return max(0.0, min(MAX_SLEEP_S, wait))

    @task
    def act(self) -> None:
        rt = self.rt
        if self.entry is not None and int(self.entry["agent_id"]) in rt.revoked:
            # The master gave this persona to another user while this worker was missing.
            rt.revoked.discard(int(self.entry["agent_id"]))
            log.warning("persona of agent %s was revoked: leasing another", self.entry["agent_id"])
            self.entry = self.persona = None
            self.on_start()
            return
        if self.persona is None or rt.clock is None or rt.clock.paused:
            return
        now = rt.clock.now()
        slot = rt.slot_time(self.next_hour, self.offset_s)
        if rt.sim_end is not None and slot >= rt.sim_end:
            return  # the run's simulated period is over; the shape ends the run
        if now < slot:
            return
        # Slots whose whole hour has passed (the next slot is due too) were missed.
        while rt.slot_time(self.next_hour + 1, self.offset_s) <= now:
            self._record_missed(self.next_hour)
            self.next_hour += 1
            if rt.sim_end is not None and rt.slot_time(self.next_hour, self.offset_s) >= rt.sim_end:
                return  # the rest lies beyond the run's simulated period
        hour = self.next_hour
        slot = rt.slot_time(hour, self.offset_s)
        real_slot = rt.clock.real_time_at(slot)
        slip = max(0.0, time.time() - real_slot) if real_slot is not None else None
        self.next_hour += 1
        self._run_hour(hour, slot, slip)

    # ------------------------------------------------------------------ one hour

    def _run_hour(self, hour: int, slot: datetime, slip: float | None) -> None:
        from behaviors.run import run_agent_hour

        rt = self.rt
        assert rt.run is not None and self.persona is not None and self.entry is not None
        agent_id = int(self.entry["agent_id"])
        replay = hour < rt.run.replay_until_hour
        token = uuid4().hex[:12]
        decision_box: dict[str, str] = {"decision": "shop"}

        def claim() -> int | None:
            return rt.recorder.claim(
                agent_id=agent_id, sim_hour=hour, decision=decision_box["decision"],
                sim_at=slot, is_replay=replay, token=token,
            )  # fmt: skip

        shop = _ClaimingShop(self.shop, claim)
        t0 = time.perf_counter()
        try:
            result = run_agent_hour(
                self.persona, run_seed=rt.run.seed, sim_hour=hour, slot_time=slot, shop=shop,
                checkout_key=f"{rt.run.run_id}:{agent_id}:{hour}",
                relevant_coupons=self._relevant_coupons(slot), graph=rt.graph,
            )  # fmt: skip
        except HourAlreadyClaimed:
            log.info("agent %s hour %s already done in this run: skipped", agent_id, hour)
            return
        except Exception as exc:  # a bug or DB failure inside the hour: count it, keep going
            rt.measure_graph((time.perf_counter() - t0) * 1000, exc)
            kind = "db" if "sqlalchemy" in type(exc).__module__ else "harness"
            rt.collector.add(
                hour, outcome="failed", decision="shop", slip_s=slip, order=False, error_kind=kind
            )
            log.exception("agent %s hour %s failed", agent_id, hour)
            return
        if result.decision == "none":
            rt.recorder.quiet(
                agent_id=agent_id, sim_hour=hour, decision="none", slip_s=slip, is_replay=replay
            )
            rt.collector.add(hour, outcome="none", decision="none", slip_s=slip, order=False)
            return
        rt.measure_graph((time.perf_counter() - t0) * 1000)
        if result.wallet_seen is not None:
            self.relevant_expiries = relevant_expiries(self.persona, result.wallet_seen)
        decision_box["decision"] = result.decision
        sid = shop.session_id
        if sid is None:  # the graph never touched the world: claim now to record it
            sid = claim()
            if sid is None:
                return
        outcome = result.outcome
        error_kind: str | None = None
        try:
            rt.recorder.finish(
                agent_id=agent_id, sim_hour=hour, session_id=sid, result=result,
                slip_s=slip, is_replay=replay,
            )  # fmt: skip
        except Exception:
            outcome, error_kind = "failed", "db"
            log.exception("agent %s hour %s: could not record the session", agent_id, hour)
        if isinstance(result.error, ShopUnavailable):
            outcome, error_kind = "failed", result.error.kind
        rt.collector.add(
            hour, outcome=outcome, decision=result.decision, slip_s=slip,
            order=result.order is not None, error_kind=error_kind,
        )  # fmt: skip

    def _record_missed(self, hour: int) -> None:
        rt = self.rt
        assert self.entry is not None and rt.run is not None
        rt.recorder.quiet(
            agent_id=int(self.entry["agent_id"]), sim_hour=hour, decision="missed", slip_s=None,
            is_replay=hour < rt.run.replay_until_hour,
        )  # fmt: skip
        rt.collector.add(hour, outcome="missed", decision="missed", slip_s=None, order=False)

    def _relevant_coupons(self, at: datetime) -> int:
        """Active coupons the persona cares about, from the last time it saw its wallet."""
        return active_at(self.relevant_expiries, at)
