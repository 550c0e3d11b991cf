"""The lease broker: the master's side of the persona-lease protocol (``LeaseRequest``,
``Grant``, ``Release``, ``Revoke`` in ``harness.config.messages``) over the pure
:class:`LeasePool`.

Part of the master's (or standalone's) director. It answers lease requests — one persona
per request, or a batch (``req_ids``: a worker's users that started within one short
window ask in one round trip, see ``harness.agent.user``) — takes releases, reclaims the
personas of a worker gone for good (and tells the hour book which hours that worker's
death touched, so they are counted missed rather than lost), revokes them from a worker
that comes back, and keeps the lease history for ``persona_leases``.

The history is **bounded**: flushed to the database every 2 s, and without a database
(``--mock-db``) only counted — 10,000 users churning for 7 simulated days must not grow the
master without limit.

**The lease book of live agent-hours.** Every lease counts in each simulated hour it was
held in, from the hour of its grant to the hour of its release (reclaim): :meth:`live_at`,
``hours.csv``'s ``live_users``. Each such agent-hour must be acted, missed, or not owed
(the agent joined after its slot, or left before it — ``harness.agent.schedule``), so
``acted + missed + not_owed == live_users`` checks the agents' own counters against the
master's book. A grant carries its instant (``Grant.at``): the agent starts its schedule
there, so both sides put a grant near an hour's edge in the same hour. A release carries
the hour its user stopped in (``Release.hour``), the last one it counted: the lease ends
there, not in the hour the message happens to be read in (a hand-over at an hour's edge
read a moment late was one live agent-hour nobody counted). A grant its user never took
(it came for a user already gone) leaves the book: nobody could count its hours.

**A grant that never arrived.** A worker that waited too long for an answer gives its
request up (``Release(req_id=…)``, ``harness.agent.lease_client``): queued here, it is
dropped; already granted, the persona is freed — its grant was lost on the way — and the
hours it was held in are counted missed where nobody acted them (the hour book's
``unheld``), with one log line the first time.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from harness.config.messages import (
    Grant,
    GrantItem,
    LeaseEntry,
    LeaseRequest,
    Release,
    Revoke,
    send,
)
from harness.config.wire import Sender
from harness.control.leases import LeasePool, PoolEntry
from harness.control.leases import LeaseRequest as PoolRequest
from harness.control.run_state import RunState
from offer_engine.calendar import hour_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from harness.control.experiment_arms import ExperimentArms
    from harness.control.hour_book import HourBook
    from offer_engine.clock import SimClock

log = logging.getLogger("loadsim")

LOOKBACK_S = 10.0
"""How long before Locust marks a worker missing it may have stopped reporting: its last
report (every 3 s) plus Locust's heartbeat timeout, with a margin."""
LEASE_LOG_MAX = 100_000
"""Lease events kept while the database cannot take them (beyond: dropped and counted)."""


class GrantClock(Protocol):
    """What the broker reads of its process's runtime (``ProcessRuntime``): the run's
    clock (replaced on pause/resume) and simulated start — the hour of a grant."""

    @property
    def clock(self) -> SimClock | None: ...
    @property
    def sim_start(self) -> datetime | None: ...


class LeaseBroker:
    """Grants, releases, reclaims; one per director."""

    RECLAIM_AFTER_S = 10.0
    """A worker missing this long loses its leases (Locust marks a worker missing after
    ~3 missed 1-s heartbeats, and a CPU-starved worker can come back: reclaiming at once
    would hand its personas to a second user while the first still acts)."""

    def __init__(
        self,
        pool: LeasePool,
        *,
        runner: Sender,
        rt: GrantClock | None = None,
        state: RunState | None = None,
        engine: Engine | None = None,
        book: HourBook | None = None,
        experiment: ExperimentArms | None = None,
    ) -> None:
        """
        Args:
            pool: the personas and who holds each.
            runner: Locust's runner (grants and revokes go out through it).
            rt: the run's clock and simulated start (the process's runtime): the hour of
                a grant; ``None``: no clock.
            state: the run (its config and output files, once started).
            engine: the run database (the lease history goes there), if any.
            book: the hour book (the current hour; hours a dead holder held, counted missed).
            experiment: ``--experiment``: each persona's arm, carried by its grant.
        """
        self.pool = pool
        self.runner = runner
        self.rt = rt
        self.state = state if state is not None else RunState()
        self.engine = engine
        self.book = book
        self.experiment = experiment
        self.lease_log: list[tuple[str, int, str, float]] = []
        self.lease_events = 0
        self.lease_log_dropped = 0
        self._missing_since: dict[str, float] = {}
        self._missing_hour: dict[str, int] = {}
        self._reclaimed: dict[str, set[int]] = {}
        self._flush_at = 0.0
        self._req_agent: dict[str, int] = {}
        """Granted requests whose persona is still held under that grant → the agent."""
        self._agent_req: dict[int, tuple[str, int | None]] = {}
        """Leased agent → (its grant's request, the hour it was granted in)."""
        self.granted_in: dict[int, int] = {}
        """Leases granted, by simulated hour (the lease book)."""
        self.released_in: dict[int, int] = {}
        """Leases ended (released, reclaimed), by simulated hour."""
        self.lost_grants = 0
        """Grants freed because their worker gave the request up (never received)."""

    # ---------------------------------------------------------------- history

    def _log(self, kind: str, agent_id: int, holder: str, at: float) -> None:
        self.lease_events += 1
        if self.engine is None or self.state.files is None:
            return  # --mock-db: nothing to write them to; counted only
        if len(self.lease_log) >= LEASE_LOG_MAX:
            self.lease_log_dropped += 1
            return
        self.lease_log.append((kind, agent_id, holder, at))

    def flush(self) -> None:
        from harness.control.run_record import write_lease_log

        if self.engine is None or self.state.run is None:
            self.lease_log = []
            return
        events, self.lease_log = self.lease_log, []
        try:
            write_lease_log(self.engine, run_id=self.state.run.run_id, events=events)
        except Exception:
            self.lease_log[:0] = events  # keep them for the next flush: nothing lost
            raise

    def flush_due(self) -> bool:
        """Flush the history every 2 s; False when there was nothing due."""
        if not self.lease_log or time.time() < self._flush_at:
            return False
        self._flush_at = time.time() + 2.0
        self.flush()
        return True

    # ---------------------------------------------------------------- messages

    def grant_all(self, grants: list[tuple[PoolRequest, PoolEntry]]) -> None:
        """Send grants: one :class:`Grant` per holder carrying all of its requests'."""
        by_holder: dict[str, list[GrantItem]] = {}
        now = time.time()
        hour = self._hour_now(now)
        for req, entry in grants:
            persona, arm = entry.persona, None
            experiment = self.experiment
            if experiment is not None:  # the arm, with its persona-side attributes
                persona, arm = experiment.grant(entry.agent_id, persona)
            e = LeaseEntry(agent_id=entry.agent_id, user_id=entry.user_id, persona=persona, arm=arm)
            by_holder.setdefault(req.holder, []).append(GrantItem(req_id=req.req_id, entry=e))
            self._log("lease", entry.agent_id, req.holder, now)
            self._req_agent[req.req_id] = entry.agent_id
            self._agent_req[entry.agent_id] = (req.req_id, hour)
            if hour is not None:
                self.granted_in[hour] = self.granted_in.get(hour, 0) + 1
        for holder, batch in by_holder.items():
            send(self.runner, Grant(grants=batch, at=now), client_id=holder)

    # ---------------------------------------------------------------- the lease book

    def _hour_now(self, real: float) -> int | None:
        """The simulated hour at real time ``real`` (``None`` before the clock starts)."""
        rt = self.rt
        if rt is None or rt.clock is None or rt.sim_start is None:
            return None
        return hour_of(rt.sim_start, rt.clock.now(real=real))

    def _ended(
        self, agent_id: int, real: float, *, hour: int | None = None, taken: bool = True
    ) -> None:
        """A lease ended (released or reclaimed) at real time ``real``: in simulated hour
        ``hour`` when its user said which (default: the hour at ``real``); a grant never
        ``taken`` by a user is taken out of the book instead."""
        req, granted = self._agent_req.pop(agent_id, (None, None))
        if req is not None:
            self._req_agent.pop(req, None)
        if granted is None:
            return
        if not taken:
            self.granted_in[granted] -= 1
            return
        end = hour if hour is not None else self._hour_now(real)
        if end is not None:
            end = max(end, granted)  # never before its grant (another machine's clock)
            self.released_in[end] = self.released_in.get(end, 0) + 1

    def live_at(self, hour: int) -> int:
        """Leases held at any time in simulated hour ``hour``: those granted before it and
        not ended before it, plus those granted in it."""
        before = sum(n for h, n in self.granted_in.items() if h < hour)
        ended = sum(n for h, n in self.released_in.items() if h < hour)
        return before - ended + self.granted_in.get(hour, 0)

    def on_lease(self, lease: LeaseRequest, node: str) -> None:
        """A worker's users ask: a batch of ``req_ids`` in one round trip."""
        grants = []
        for req_id in lease.req_ids:
            req = PoolRequest(req_id=req_id, holder=node)
            entry = self.pool.request(req)
            if entry is not None:
                grants.append((req, entry))
        self.grant_all(grants)

    def on_release(self, release: Release, node: str) -> None:
        """A user stopped: its persona is free (for the next queued request), or its
        pending request is dropped."""
        if release.agent_id is not None:
            agent_id = release.agent_id
            held = self.pool.holders.get(agent_id) == node
            if held:
                now = time.time()
                self._ended(agent_id, now, hour=release.hour, taken=release.hour is not None)
                # Logged before the persona's next lease (a queued request gets it at once):
                # two open leases of one agent break the history's unique index.
                self._log("release", agent_id, node, now)
            self.grant_all(self.pool.release(agent_id, node))
        elif release.req_id is not None:
            leased = self._req_agent.get(release.req_id)
            if leased is not None and self.pool.holders.get(leased) == node:
                self._lost(release.req_id, leased, node)
            else:
                self.pool.cancel(release.req_id)

    def _lost(self, req_id: str, agent_id: int, node: str) -> None:
        """The worker gave up a request this broker had granted: the grant never reached
        it (dropped, or refused as malformed). Free the persona; the hours it was held in
        count missed where nobody acted them."""
        now = time.time()
        granted = self._agent_req.get(agent_id, (None, None))[1]
        self._ended(agent_id, now)
        self.lost_grants += 1
        if self.lost_grants == 1:
            log.warning(
                "lease %s: agent %d was granted to %s but the grant never arrived (dropped or "
                "malformed): persona freed, its hours counted missed; further ones counted, "
                "not logged", req_id, agent_id, node,
            )  # fmt: skip
        hour = self._hour_now(now)
        book = self.book
        if book is not None and hour is not None:
            book.mark_unheld(granted if granted is not None else hour, hour)
        if self.state.files is not None:
            self.state.files.log_event("lease_lost", worker=node, agent_id=agent_id, req_id=req_id)
        self._log("release", agent_id, node, now)  # before the persona's next lease
        self.grant_all(self.pool.release(agent_id, node))

    def set_limit(self, users: int) -> None:
        self.grant_all(self.pool.set_limit(users))

    # ---------------------------------------------------------------- dead workers

    def _hour_at(self, real: float) -> int:
        """The simulated hour the run was in at real time ``real``."""
        rt = self.rt
        if rt is None or rt.clock is None or rt.sim_start is None:
            return max(0, self._current_hour())
        return hour_of(rt.sim_start, rt.clock.now(real=real))

    def _current_hour(self) -> int:
        return self.book.current_hour if self.book is not None else -1

    def check_workers(self, live: frozenset[str]) -> None:
        """Reclaim the leases of workers gone for good; revoke from those that came back."""
        now = time.time()
        hour = self._current_hour()
        for holder in self.pool.holders_of() - live:
            since = self._missing_since.setdefault(holder, now)
            if holder not in self._missing_hour:
                self._missing_hour[holder] = self._hour_at(now - LOOKBACK_S)
            if now - since < self.RECLAIM_AFTER_S:
                continue
            freed, grants = self.pool.reclaim(holder)
            self._reclaimed.setdefault(holder, set()).update(freed)
            for a in freed:
                self._ended(a, now)
            if freed:
                log.warning(
                    "worker %s is gone: %d personas returned to the pool", holder, len(freed)
                )
                for a in freed:
                    self._log("reclaim", a, holder, now)
                # Its hours from just before it went missing to just after the re-lease
                # are counted missed where nobody acted them (harness.control.hour_book).
                if self.book is not None:
                    self.book.mark_unheld(self._missing_hour[holder], hour + 1)
                if self.state.files is not None:
                    self.state.files.log_event("leases_reclaimed", worker=holder,
                                               personas=len(freed),
                                               missing_since_hour=self._missing_hour[holder])  # fmt: skip
            self.grant_all(grants)
        for holder in list(self._missing_since):
            if holder in live:
                del self._missing_since[holder]
                self._missing_hour.pop(holder, None)
                revoked = self._reclaimed.pop(holder, set())
                if revoked:  # it came back after all: its users must let those personas go
                    log.warning(
                        "worker %s returned: revoking %d reclaimed personas", holder, len(revoked)
                    )
                    send(self.runner, Revoke(agent_ids=sorted(revoked)), client_id=holder)
