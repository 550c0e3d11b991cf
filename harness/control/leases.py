"""Persona leases (docs/ARCHITECTURE.md, Persona leases): the master's pool, pure logic, no Locust.

- Which persona goes to which slot is a function of the run seed: the pool is ordered once
  by a seeded *stratified* permutation, so any prefix (the active subset at 10 %, 25 %, …)
  keeps the population's segment mix (channel, income band, frequency band).
- A request is granted the first free persona within the active prefix (``limit``); when
  none is free it waits (queued) until a release or a reclaim frees one — so the personas
  of a dead worker are leased again, not replaced by others further down the order.
- A persona is held by at most one holder at a time, by construction: the master is the
  only authority, and every grant/release goes through this object.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PoolEntry:
    agent_id: int
    user_id: int
    persona_id: str
    segment: str
    persona: dict[str, Any]


@dataclass(slots=True)
class LeaseRequest:
    req_id: str
    holder: str  # worker node id ("local" when standalone)


def stratified_order(entries: list[PoolEntry], seed: int) -> list[PoolEntry]:
    """Seeded permutation whose every prefix is close to proportional per segment.

    Each segment's members are shuffled, then member *k* of a segment of size *n* gets the
    key ``(k + u) / n`` (``u`` a per-segment random phase); sorting by key interleaves the
    segments like systematic sampling, so a prefix of length *m* holds about ``m·n/N`` of
    each segment.
    """
    rng = random.Random(f"{seed}:persona-order")
    groups: dict[str, list[PoolEntry]] = {}
    for e in sorted(entries, key=lambda e: e.persona_id):
        groups.setdefault(e.segment, []).append(e)
    keyed: list[tuple[float, float, str, PoolEntry]] = []
    for seg in sorted(groups):
        members = groups[seg]
        rng.shuffle(members)
        phase = rng.random()
        n = len(members)
        for k, e in enumerate(members):
            keyed.append(((k + phase) / n, rng.random(), e.persona_id, e))
    keyed.sort(key=lambda t: t[:3])
    return [t[3] for t in keyed]


@dataclass
class LeasePool:
    """The master's persona pool. Not thread-safe; the master calls it from one greenlet
    at a time (message handlers are not concurrent)."""

    entries: list[PoolEntry]
    seed: int
    limit: int = 0
    order: list[PoolEntry] = field(init=False)
    holders: dict[int, str] = field(init=False, default_factory=dict)
    queue: deque[LeaseRequest] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        self.order = stratified_order(self.entries, self.seed)
        self._index = {e.agent_id: i for i, e in enumerate(self.order)}
        # Min-heap of positions that may be free (stale ones are dropped lazily): the first
        # free persona in O(log n), not a scan of the order per lease (12 s for 10,000
        # leases on the 2-core box, starving the first simulated hour; BENCHMARKS.md).
        self._free = list(range(len(self.order)))
        if not self.limit:
            self.limit = len(self.order)

    @property
    def size(self) -> int:
        return len(self.order)

    @property
    def leased(self) -> int:
        return len(self.holders)

    def set_limit(self, n: int) -> list[tuple[LeaseRequest, PoolEntry]]:
        """Change the active prefix (the ramp's target); returns grants it made possible."""
        self.limit = max(0, min(n, len(self.order)))
        return self._drain()

    def request(self, req: LeaseRequest) -> PoolEntry | None:
        """Grant now, or queue the request (``None``) until a persona frees up."""
        entry = self._first_free()
        if entry is None:
            self.queue.append(req)
            return None
        self._grant(entry, req.holder)
        return entry

    def release(self, agent_id: int, holder: str) -> list[tuple[LeaseRequest, PoolEntry]]:
        """Release a lease if ``holder`` still holds it; return the grants this enables."""
        if self.holders.get(agent_id) == holder:
            del self.holders[agent_id]
            heapq.heappush(self._free, self._index[agent_id])
        return self._drain()

    def reclaim(self, holder: str) -> tuple[list[int], list[tuple[LeaseRequest, PoolEntry]]]:
        """Free every lease of a holder that is gone; drop its queued requests."""
        freed = [a for a, h in self.holders.items() if h == holder]
        for a in freed:
            del self.holders[a]
            heapq.heappush(self._free, self._index[a])
        self.queue = deque(r for r in self.queue if r.holder != holder)
        return freed, self._drain()

    def holders_of(self) -> set[str]:
        return set(self.holders.values())

    def cancel(self, req_id: str) -> None:
        self.queue = deque(r for r in self.queue if r.req_id != req_id)

    def _first_free(self) -> PoolEntry | None:
        free = self._free
        while free:
            e = self.order[free[0]]
            if e.agent_id in self.holders:  # granted since it was pushed: drop it
                heapq.heappop(free)
                continue
            return e if free[0] < self.limit else None
        return None

    def _grant(self, entry: PoolEntry, holder: str) -> None:
        assert entry.agent_id not in self.holders, "double lease"
        self.holders[entry.agent_id] = holder

    def _drain(self) -> list[tuple[LeaseRequest, PoolEntry]]:
        grants = []
        while self.queue:
            entry = self._first_free()
            if entry is None:
                break
            req = self.queue.popleft()
            self._grant(entry, req.holder)
            grants.append((req, entry))
        return grants
