"""Keeping the cyclic garbage collector off the users' long-lived objects.

A worker holding 10,000+ agents has a few million long-lived objects (personas, users,
schedules, wallets, the catalog, the compiled graph). CPython's full (generation-2)
collection walks all of them: measured in a 10,000-agent process at 168x with pacing on,
0.2–0.85 s every ~20 real seconds in steady state — a stall of the whole event loop in
which every agent due to act waits. That, not the CPU (24 % of a core), was the slip p99
of 0.3–0.4 s (1.6–2.0 % of a simulated hour). Paced sessions make it more frequent: their
objects live 4–11 real seconds, long enough to be promoted, so the old generation fills
faster.

``HeapSettler`` moves what exists once the process's users have all started into CPython's
permanent generation (``gc.freeze``, after one ``gc.collect`` so no garbage is frozen);
later collections walk only what was allocated since. It freezes again when at least
``GROW`` more users started (a ramp adds users over hours), each time once every spawned
user has started. Objects frozen are still freed by reference counting; only a reference
cycle among them that becomes garbage later is never collected (a user stopped after a
freeze and its cycles) — bounded by the users a run ever starts.
"""

from __future__ import annotations

import gc
import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.agent.runtime import ProcessRuntime

log = logging.getLogger("loadsim")

FULL_EVERY = 100
"""Full collections come after this many middle (generation-1) ones once frozen (CPython's
default: 10). What is left to walk then is mostly the sleeping users' timers and waiters
(a user sleeps up to a simulated hour, so they reach the old generation): a 10,000-agent
process still paused 0.1–0.2 s for it every ~20 s."""
MIN_USERS = 1000
"""Below this many users a full collection is short: nothing is frozen."""
GROW = 0.10
"""Freeze again once this share more users (of those frozen before) have started."""


class HeapSettler:
    """Counts this process's started users; freezes the heap when they have all started.

    Args:
        spawned: The number of users Locust has spawned in this process right now
            (``runner.user_count``).
        collect, freeze: ``gc.collect`` and ``gc.freeze`` (injected for tests).
    """

    def __init__(
        self,
        spawned: Callable[[], int],
        *,
        collect: Callable[[], object] = gc.collect,
        freeze: Callable[[], None] = gc.freeze,
        threshold: Callable[..., None] = gc.set_threshold,
    ) -> None:
        self._spawned = spawned
        self._collect = collect
        self._freeze = freeze
        self._threshold = threshold
        self.started = 0
        """Users of this process whose ``on_start`` has finished and that have not stopped."""
        self.frozen_at = 0
        """``started`` at the last freeze (0: never frozen)."""
        self.freezes = 0

    def user_started(self) -> None:
        self.started += 1
        self._maybe_freeze()

    def user_stopped(self) -> None:
        self.started = max(0, self.started - 1)

    def _maybe_freeze(self) -> None:
        n = self.started
        if n < MIN_USERS or n < self.frozen_at * (1 + GROW) or n < self._spawned():
            return  # too few, too few new, or users still starting (a spawn in progress)
        t0 = time.perf_counter()
        self._collect()
        self._freeze()
        if not self.freezes:
            g0, g1, _ = gc.get_threshold()
            self._threshold(g0, g1, FULL_EVERY)
        self.frozen_at = n
        self.freezes += 1
        log.info("heap of %d started users frozen in %.2f s", n, time.perf_counter() - t0)


_SETTLERS: weakref.WeakKeyDictionary[ProcessRuntime, HeapSettler] = weakref.WeakKeyDictionary()


def settler_of(rt: ProcessRuntime) -> HeapSettler:
    """The process's settler (one per ``ProcessRuntime``), made on first use.

    Args:
        rt: The process's runtime (``harness.agent.runtime.ProcessRuntime``).
    """
    settler = _SETTLERS.get(rt)
    if settler is None:
        env = rt.environment

        def spawned() -> int:
            runner = env.runner
            return int(runner.user_count) if runner is not None else 0

        settler = _SETTLERS[rt] = HeapSettler(spawned)
    return settler
