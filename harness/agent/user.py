"""``PersonaUser``: one Locust user bound to one leased persona for its lifetime.

Each simulated hour the agent acts once, at a stable offset inside the hour (a hash of the
run seed and persona id, so load is spread over the hour). Between hours the user sleeps
in Locust's *waiting* state (``wait_time``), so stopping it never interrupts an hour; a
stop during a paced session (``harness.agent.pacing``) ends the session's waiting and the
session finishes whole. Which slot is next, late or missed, and what the run's end asks
(act what is owed until the drain deadline, then count it missed) is the agent's schedule,
``harness.agent.schedule.AgentSlots``; what happens in an hour is
``harness.agent.hour.AgentHours``. This module adds Locust's side: leases, shop, waiting.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from locust import User, task

from harness.agent.heap import settler_of
from harness.agent.hour import AgentHours, slot_offset_seconds
from harness.agent.runtime import ProcessRuntime, runtime_of
from harness.agent.schedule import PAUSED_POLL_S, AgentSlots, lease_failed, pending_hours
from harness.config.locust_compat import user_is_stopping
from harness.config.messages import Release, send
from personas.model import Persona

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.runners import Runner

    from behaviors.shop import Shop

log = logging.getLogger("loadsim.user")


def process_pending(runner: Runner) -> dict[int, int] | None:
    """This process's users still owing an hour after the simulated end, by hour (``None``
    before the end): see ``harness.agent.schedule.pending_hours``."""
    # Lazy: pending_hours reads the users only once the clock reached the end (no copy per report).
    users = (g.args[0] if g.args else None for g in runner.user_greenlets)
    return pending_hours(
        runtime_of(runner.environment),
        (u.slots if isinstance(u, PersonaUser) else None for u in users),
    )


def http_pool_index(persona_id: str, pools: int) -> int:
    h = hashlib.blake2b(persona_id.encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") % max(1, pools)


class PersonaUser(User):
    """Base class; the locustfile declares the concrete (non-abstract) user."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        rt = runtime_of(environment)
        assert rt is not None, "the harness's init listener builds the runtime first"
        self.rt: ProcessRuntime = rt
        self.entry: dict[str, Any] | None = None
        self.persona: Persona | None = None
        self.hours: AgentHours | None = None
        """The leased agent's hours (``harness.agent.hour``): decide, claim, play, record."""
        self.slots: AgentSlots | None = None
        """The leased agent's schedule (``harness.agent.schedule``): which hour, when."""
        self._req_id: str | None = None
        self._settled = False

    # ------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        rt = self.rt
        rt.ready.wait()
        entry = None
        while entry is None:
            self._req_id = uuid4().hex
            # Batched with the process's other starting users (harness.agent.lease_client);
            # waits while no persona of the active set is free, at most its bound.
            entry = rt.leases.lease(self._req_id)
            if entry is None:  # no answer within the bound: a failed hour, ask again
                lease_failed(rt)
        self.entry = entry
        assert rt.run is not None and rt.recorder is not None and rt.clock is not None
        self.persona = Persona(**self.entry["persona"])
        if self.entry.get("arm") is not None:  # --experiment: its sessions carry the arm
            rt.recorder.arms[int(self.entry["agent_id"])] = self.entry["arm"]
        self.hours = AgentHours(
            rt, agent_id=int(self.entry["agent_id"]), persona=self.persona,
            shop=self._make_shop(), pace=rt.opts.pace, stopping=self._stopping,
        )  # fmt: skip
        offset_s = slot_offset_seconds(rt.run.seed, self.persona.persona_id)
        # The schedule starts at the grant's instant (the master's lease book counts the
        # lease from there), never later than now.
        at = self.entry.get("granted_at")
        start = rt.clock.now(real=min(float(at), time.time())) if at else rt.clock.now()
        self.slots = AgentSlots(rt, self.hours, offset_s, start)
        if not self._settled:  # once per user (a revoked persona's re-lease is not a start)
            self._settled = True
            settler_of(rt).user_started()  # all started: the heap leaves the GC (heap.py)

    def stop(self, force: bool = False) -> bool:
        # Still waiting for the run config or its lease (on_start): it holds no persona and
        # is in no session, so it stops at once — Locust would let on_start run on for the
        # whole stop timeout, and a queued lease may never be granted (a worker joining at
        # the end of a run, or the run's end itself). on_stop gives the request back.
        return bool(super().stop(force=force or self.entry is None))

    def on_stop(self) -> None:
        if self._settled:
            self._settled = False
            settler_of(self.rt).user_stopped()
        # Every hour it held the persona in is counted; the master's book ends the lease
        # in the hour it stopped in (None: it never took its grant).
        hour = self.slots.at_stop() if self.slots is not None else None
        runner = self.environment.runner
        if self.entry is not None:
            send(runner, Release(agent_id=int(self.entry["agent_id"]), hour=hour))
            self.entry = None
        elif self._req_id is not None:
            self.rt.leases.cancel(self._req_id)

    def _make_shop(self) -> Shop:
        rt, entry = self.rt, self.entry
        assert rt.run is not None and rt.catalog is not None and self.persona is not None
        assert entry is not None  # leased before the shop is made
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
            client=client, agent_id=int(entry["agent_id"]), sim_now=rt.now,
            bucket=rt.bucket, catalog=rt.catalog, browse_via_api=rt.opts.browse_via == "api",
            counters=rt.counters, default_store_id=store_id,
            routes=rt.run.options.get("routes"),  # the master's route map
            arm=entry.get("arm"),
        )  # fmt: skip

    def _stopping(self) -> bool:
        """Locust asked this user to stop while it was in a session (``RUNNING``: Locust
        lets a running task finish), or the run's drain deadline passed — a paced session
        then stops waiting."""
        return user_is_stopping(self) or (self.slots is not None and self.slots.drained())

    # ------------------------------------------------------------------ scheduling

    def wait_time(self) -> float:
        if self.rt.clock is None or self.slots is None:
            return PAUSED_POLL_S
        return self.slots.wait()

    @task
    def act(self) -> None:
        rt = self.rt
        if self.entry is not None and int(self.entry["agent_id"]) in rt.revoked:
            # The master gave this persona to another user while this worker was missing.
            rt.revoked.discard(int(self.entry["agent_id"]))
            log.warning("persona of agent %s was revoked: leasing another", self.entry["agent_id"])
            self.entry = self.persona = self.hours = self.slots = None
            self.on_start()
            return
        if self.slots is not None:
            self.slots.step()
