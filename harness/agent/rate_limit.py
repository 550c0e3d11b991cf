"""A token bucket for one process's share of the run's request rate (``--rate-limit``).

The master divides the total among the live worker processes and re-shares it when
workers join or leave. Waiting for a token happens *before* a request is timed, so it
never counts as request latency. ``rate <= 0`` means unlimited.
"""

from __future__ import annotations

import time
from collections.abc import Callable


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
        self._sleep = sleep or _gevent_sleep
        self.rate = 0.0
        self.burst = 1.0
        self._tokens = 0.0
        self._t = clock()
        self.waited_s = 0.0
        self.set_rate(rate, burst=burst)

    def set_rate(self, rate: float, *, burst: float | None = None) -> None:
        """Change the rate; the burst defaults to one second's worth (at least 1 token)."""
        self._refill()
        self.rate = max(0.0, float(rate))
        self.burst = float(burst) if burst else max(1.0, self.rate)
        self._tokens = min(self._tokens, self.burst)

    def _refill(self) -> None:
        now = self._clock()
        if self.rate > 0:
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now

    def acquire(self, n: float = 1.0) -> float:
        """Take ``n`` tokens, sleeping as needed; returns seconds waited."""
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            self._refill()
            if self._tokens >= n:
                self._tokens -= n
                self.waited_s += waited
                return waited
            # Reserve now: go negative so concurrent callers queue up fairly behind us.
            deficit = n - self._tokens
            self._tokens -= n
            delay = deficit / self.rate
            self._sleep(delay)
            waited += delay
            self.waited_s += waited
            return waited


def _gevent_sleep(seconds: float) -> None:
    import gevent

    gevent.sleep(seconds)
