"""A token bucket for one process's share of the run's request rate (``--rate-limit``).

The budget is global and whole: every request the harness sends draws
from it — the agents' requests on the workers, and the master's own control traffic
(``/health`` probes, ``POST /time/advance``, target calls of the offer engine) from the
master's bucket. :func:`rate_shares` divides the total: the master keeps what its control
traffic needs (:func:`control_rate`, at most a quarter), the workers share the rest, and
the master re-shares when workers join or leave.

Why the busiest 10 s at the server stays within 5 % of the limit:

- tokens are granted at each bucket's rate, and the rates sum to the limit;
- a full bucket holds only :data:`BURST_S` of its rate (0.1 s), so all buckets together
  can add at most a tenth of a second's worth on top of ``limit × window``;
- waiters queue first in, first out and re-check the rate after every sleep, so lowering
  a share (a worker joined) takes effect at once — nobody keeps a promise made at the
  old rate (the former "reserve and sleep" form let a bucket with 100 queued users go on
  at its old rate for seconds after a re-share).

Waiting for a token happens *before* a request is timed, so it never counts as request
latency. ``rate <= 0`` means unlimited.

**A stopping process does not wait for tokens.** When the run stops (``quit``, a lower
user count), Locust lets a user in the middle of its hour finish — up to the stop timeout
(60 s). A user queued behind a throttled bucket could take all of it, one token at a time,
for requests nobody will read. :meth:`TokenBucket.interrupt` ends those waits at once:
each waiter gets :class:`RateLimitInterrupted` and its request is not sent. A request whose
token is there still goes (a stopping paced session sends its rest at once, as before).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gevent import GreenletExit

if TYPE_CHECKING:
    from gevent import Greenlet
    from gevent.event import Event
    from gevent.lock import Semaphore

BURST_S = 0.1
"""How many seconds of its rate a bucket of a run may save up (see the module docstring)."""

_EPS = 1e-9  # float slack: a sleep of (n - tokens) / rate may refill to 0.999…

MAX_CONTROL_SHARE = 0.25
"""The master's control traffic never takes more than this share of the limit; beyond it,
its probes wait for tokens like any request."""

HEALTH_PROBES_PER_S = 1.0
"""The director probes ``/health`` about once a real second (``SimulationDirector._health_loop``)."""


def control_rate(time_scale: float, *, mock_api: bool = False) -> float:
    """Requests per real second the master sends itself: one ``/health`` probe a second
    and one ``POST /time/advance`` per simulated hour (``time_scale / 3600`` a second), plus
    a little for the outage check's extra probes and the offer engine's target calls."""
    if mock_api:
        return 0.0
    return HEALTH_PROBES_PER_S + float(time_scale) / 3600.0 + 0.25


def rate_shares(total: float, workers: int, control: float) -> tuple[float, float]:
    """``(master, each worker)`` requests/s for a limit of ``total`` over ``workers``
    connected worker processes. Standalone (``workers == 0``) is one process: one bucket
    with the whole limit. Unlimited (``total <= 0``): ``(0, 0)``."""
    if total <= 0:
        return 0.0, 0.0
    if workers <= 0:
        return total, total
    master = min(max(0.0, control), total * MAX_CONTROL_SHARE)
    return master, (total - master) / workers


class RateLimitInterrupted(GreenletExit):
    """A wait for a token ended because this process is stopping its users: the request
    was not sent.

    A ``GreenletExit`` on purpose: the user's hour ends exactly as when Locust kills a user
    at the stop timeout, only seconds sooner. Locust runs the user's ``on_stop``: its
    schedule counts the cut hour as it counts any hour a kill cut (missed, once the clock
    reached the simulated end — ``harness.agent.schedule.AgentSlots.at_stop``), its
    persona is released, and the claimed database row, still pending, is marked abandoned
    (``run_stopped``) at the run's end. No ``except Exception`` on the way (the hour's, the
    graph's) turns it into a failed request, a failed hour or a traceback.
    """


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self._clock = clock
        self._custom_sleep = sleep is not None
        self._sleep = sleep or _gevent_sleep
        self._interrupt: Callable[[Greenlet], bool] | None = None
        self._wake: Event | None = None  # set by interrupt(): sleeping waiters wake
        self.rate = 0.0
        self.burst = 1.0
        self._tokens = 0.0
        self._t = clock()
        self.waited_s = 0.0
        self.granted = 0
        self._queue: Semaphore | None = None  # FIFO of waiters, made on first use (lazily)
        self.set_rate(rate, burst=burst)

    def set_rate(self, rate: float, *, burst: float | None = None) -> None:
        """Change the rate; ``burst`` is how many tokens a full bucket holds (default one
        second's worth, at least 1; a run's buckets pass ``rate × BURST_S``, which may be
        below one token: requests are then evenly spaced)."""
        self._refill()
        self.rate = max(0.0, float(rate))
        self.burst = float(burst) if burst is not None and burst > 0 else max(1.0, self.rate)
        self._tokens = min(self._tokens, self.burst)

    def set_share(self, rate: float) -> None:
        """A run's share: the rate with a :data:`BURST_S` bucket."""
        self.set_rate(rate, burst=max(1e-6, float(rate) * BURST_S))

    def _refill(self) -> None:
        now = self._clock()
        if self.rate > 0:
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now

    def interrupt(self, which: Callable[[Greenlet], bool] | None = None) -> None:
        """End the waits of this process's stopping users now, and refuse later ones until
        :meth:`rearm`: each gets :class:`RateLimitInterrupted` (its request is not sent).

        ``which(greenlet)`` says whose waits end (default: everyone's but ``priority``
        ones) — a standalone process's director shares the bucket with its users and must
        keep its own control traffic.
        """
        self._interrupt = which or (lambda _g: True)
        if self._wake is not None:
            self._wake.set()

    def rearm(self) -> None:
        """A new start: waits are honoured again."""
        self._interrupt = None
        self._wake = None

    def _check_interrupted(self) -> None:
        if self._interrupt is not None:
            import gevent

            if self._interrupt(gevent.getcurrent()):
                raise RateLimitInterrupted("this process is stopping: request not sent")

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when :meth:`interrupt` is called meanwhile."""
        if self._custom_sleep or self._interrupt is not None:
            self._sleep(seconds)  # tests' virtual clock; or a waiter interrupt() spares
            return
        if self._wake is None:
            from gevent.event import Event

            self._wake = Event()
        self._wake.wait(timeout=seconds)

    def acquire(self, n: float = 1.0, *, priority: bool = False) -> float:
        """Take ``n`` tokens, sleeping as needed; returns seconds waited.

        Waiters are served first in, first out. ``priority`` (the master's control traffic:
        an outage probe must not queue behind hundreds of users) takes its tokens at once,
        going into debt that the queue then waits out — it still counts against the rate.

        Raises:
            RateLimitInterrupted: it would have to wait, and :meth:`interrupt` was called
                (the process is stopping its users): no token taken, request not sent.
        """
        if self.rate <= 0:
            return 0.0
        t0 = self._clock()
        if priority:
            self._refill()
            self._tokens -= n
            if self._tokens < 0:
                self._sleep(-self._tokens / self.rate)
        else:
            lock = self._lock()
            if lock.locked():  # others queue before this one: that would be a wait
                self._check_interrupted()
            lock.acquire()
            try:
                while True:
                    self._refill()
                    # A bucket smaller than one request (burst < n) grants when full.
                    if self.rate <= 0 or self._tokens >= min(n, self.burst) - _EPS:
                        self._tokens -= n if self.rate > 0 else 0
                        break
                    self._check_interrupted()  # a wait: not for a stopping process's users
                    # Re-checked after the sleep: a share lowered meanwhile applies at once.
                    self._pause((min(n, self.burst) - self._tokens) / self.rate)
            finally:
                lock.release()
        self.granted += 1
        waited = max(0.0, self._clock() - t0)
        self.waited_s += waited
        return waited

    def _lock(self) -> Semaphore:
        if self._queue is None:
            from gevent.lock import Semaphore  # FIFO wake-up order; cooperative

            self._queue = Semaphore(1)
        return self._queue


def _gevent_sleep(seconds: float) -> None:
    import gevent

    gevent.sleep(seconds)
