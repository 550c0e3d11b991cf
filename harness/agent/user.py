"""``PersonaUser``: one Locust user bound to one leased persona for its lifetime.

Each simulated hour the agent acts once, at a stable offset inside the hour (a hash of the
run seed and persona id, so load is spread over the hour). Between hours the user sleeps
in Locust's *waiting* state (``wait_time``), so stopping it never interrupts an hour; a
stop during a paced session (``harness.agent.pacing``) ends the session's waiting and the
session finishes whole. A session may run past the next slot: that hour then starts when
the session ends (late, with its slip), never overlapping it and never counted as missed.
Slip (how late the agent acted against its slot) and missed hours (slots that passed while
the agent was busy or the worker overloaded) are measured, never silently dropped. This
module only schedules; what happens in an hour is ``harness.agent.hour.AgentHours``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any
from uuid import uuid4

from locust import User, task
from locust.user.task import LOCUST_STATE_STOPPING

from harness.agent.hour import AgentHours, slot_offset_seconds
from harness.agent.runtime import ProcessRuntime, runtime_of
from harness.config.messages import Release, send
from personas.model import Persona

log = logging.getLogger("loadsim.user")

MAX_SLEEP_S = 30.0  # re-check the clock at least this often (a pause/resume re-anchors it)
PAUSED_POLL_S = 1.0


def http_pool_index(persona_id: str, pools: int) -> int:
    h = hashlib.blake2b(persona_id.encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") % max(1, pools)


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
        self.after_session = False
        """The last hour played a session (which may have run past the next slot)."""
        self.offset_s = 0.0
        self.hours: AgentHours | None = None
        """The leased agent's hours (``harness.agent.hour``): decide, claim, play, record."""
        self._req_id: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        rt = self.rt
        rt.ready.wait()
        self._req_id = uuid4().hex
        # Batched with the process's other starting users (harness.agent.lease_client).
        result = rt.leases.ask(self._req_id)
        self.entry = result.get()  # waits while no persona of the active set is free
        rt.leases.done(self._req_id)
        assert rt.run is not None
        self.persona = Persona(**self.entry["persona"])
        self.offset_s = slot_offset_seconds(rt.run.seed, self.persona.persona_id)
        self.hours = AgentHours(
            rt, agent_id=int(self.entry["agent_id"]), persona=self.persona,
            shop=self._make_shop(), pace=rt.opts.pace, stopping=self._stopping,
        )  # fmt: skip
        now = rt.clock.now()
        hour = rt.hour_of(now)
        # A user that joins mid-hour starts with the first slot still ahead of it.
        self.next_hour = hour if rt.slot_time(hour, self.offset_s) >= now else hour + 1

    def on_stop(self) -> None:
        runner = self.environment.runner
        if self.entry is not None:
            send(runner, Release(agent_id=int(self.entry["agent_id"])))
            self.entry = None
        elif self._req_id is not None:
            self.rt.leases.cancel(self._req_id)

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
            client=client, agent_id=int(self.entry["agent_id"]), sim_now=lambda: rt.clock.now(),  # type: ignore[index]
            bucket=rt.bucket, catalog=rt.catalog, browse_via_api=rt.opts.browse_via == "api",
            counters=rt.counters, default_store_id=store_id,
            routes=rt.run.options.get("routes"),  # the master's route map (issue 14)
        )  # fmt: skip

    def _stopping(self) -> bool:
        """Locust asked this user to stop while it was in a session (``RUNNING``: Locust
        lets a running task finish) — a paced session then stops waiting."""
        return self._state == LOCUST_STATE_STOPPING

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
            self.entry = self.persona = self.hours = None
            self.on_start()
            return
        if self.hours is None or rt.clock is None or rt.clock.paused:
            return
        now = rt.clock.now()
        slot = rt.slot_time(self.next_hour, self.offset_s)
        if rt.sim_end is not None and slot >= rt.sim_end:
            return  # the run's simulated period is over; the shape ends the run
        if now < slot:
            return
        # Slots whose whole hour has passed (the next slot is due too) were missed — except
        # the hour right after a session that ran past it: that one is acted, late.
        after_session, self.after_session = self.after_session, False
        while not after_session and rt.slot_time(self.next_hour + 1, self.offset_s) <= now:
            self.hours.missed(self.next_hour)
            self.next_hour += 1
            if rt.sim_end is not None and rt.slot_time(self.next_hour, self.offset_s) >= rt.sim_end:
                return  # the rest lies beyond the run's simulated period
        hour = self.next_hour
        slot = rt.slot_time(hour, self.offset_s)
        real_slot = rt.clock.real_time_at(slot)
        slip = max(0.0, time.time() - real_slot) if real_slot is not None else None
        self.next_hour += 1
        self.after_session = self.hours.run(hour, slot, slip) not in ("none", "skipped")
