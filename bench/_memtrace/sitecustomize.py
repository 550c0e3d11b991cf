"""tracemalloc snapshots of forked Locust workers, for attributing memory growth.

Only ever on ``PYTHONPATH`` when ``bench/bench_soak_memory.py --tracemalloc`` puts it there
(Python imports ``sitecustomize`` at start-up); nothing in the harness imports it, so it
costs a normal run nothing. In each process forked by ``locust --processes N`` it starts a
real OS thread (not a gevent greenlet: it must not wait on the workers' busy hub) that
starts ``tracemalloc`` (25 frames) after one simulated day (``LOADSIM_MEMTRACE_EVERY_S``
seconds at the run's scale) and then, once per simulated day, writes the top 30
``compare_to`` statistics by traceback against the first snapshot and against the previous
one to ``LOADSIM_MEMTRACE_DIR/worker-<pid>.txt``.
The master is not traced (it is flat, and tracing it would slow the leases).
"""

from __future__ import annotations

import os

_DIR = os.environ.get("LOADSIM_MEMTRACE_DIR")
_EVERY = float(os.environ.get("LOADSIM_MEMTRACE_EVERY_S") or 0)
_MODE = os.environ.get("LOADSIM_MEMTRACE_MODE") or "tracemalloc"

if _DIR and _EVERY > 0:
    import _thread
    import sys
    import time
    import tracemalloc

    _sleep = time.sleep  # captured before gevent patches time.sleep
    _start = _thread.start_new_thread

    def _census() -> dict[str, int]:
        """Live objects by type (gc-tracked only: no floats, ints or strs) and the sizes of
        the long-lived structures suspected of growing."""
        import gc
        from collections import Counter

        objs = gc.get_objects()
        c = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objs)
        probes: dict[str, int] = {}
        rhythm = sys.modules.get("behaviors.rhythm")
        if rhythm is not None:
            probes["rhythm._CUMULATIVE"] = len(rhythm._CUMULATIVE)
            dd = rhythm._DAY_DRAWS  # day → {key: draws} (or, before the fix, key → draws)
            probes["rhythm._DAY_DRAWS"] = sum(
                len(v) if isinstance(v, dict) else 1 for v in dd.values()
            )
        browsing = sys.modules.get("behaviors.browsing")
        if browsing is not None:
            probes["browsing._PAGE_TABLES"] = len(browsing._PAGE_TABLES)
        exp = sys.modules.get("personas.expectations")
        if exp is not None:
            probes["expectations.week_profile cache"] = exp.week_profile.cache_info().currsize
        shops = [o for o in objs if type(o).__name__ == "InMemoryShop"]
        probes["InMemoryShop instances"] = len(shops)
        probes["InMemoryShop orders"] = sum(len(x._orders) for x in shops)
        probes["InMemoryShop redeemed"] = sum(len(x.redeemed) for x in shops)
        probes["InMemoryShop viewed"] = sum(len(x.viewed_coupons) for x in shops)
        for o in objs:
            if type(o).__name__ == "RequestStats":
                probes["locust stats entries"] = len(o.entries)
                probes["locust stats errors"] = len(o.errors)
        probes["allocated blocks"] = sys.getallocatedblocks()
        with open("/proc/self/statm") as f:
            probes["RSS MiB"] = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
        del objs, shops
        return {**{f"probe {k}": v for k, v in probes.items()}, **c}

    def _census_loop(path: str) -> None:
        prev: dict[str, int] = {}
        n = 0
        t0 = time.monotonic()
        while True:
            _sleep(_EVERY)
            n += 1
            now = _census()
            with open(path, "a") as f:
                f.write(f"=== census {n} (+{time.monotonic() - t0:.0f} s)\n")
                for k in sorted(k for k in now if k.startswith("probe ")):
                    f.write(f"{k[6:]}: {now[k]} ({now[k] - prev.get(k, 0):+d})\n")
                grown = sorted(now, key=lambda k: now[k] - prev.get(k, 0), reverse=True)
                f.write("--- top 30 types by growth since the last census\n")
                for k in [k for k in grown if not k.startswith("probe ")][:30]:
                    f.write(f"{now[k] - prev.get(k, 0):+d} {k} (now {now[k]})\n")
            prev = now

    def _loop(path: str) -> None:
        # Tracing starts after simulated day 1 (tracing 5,000 users' spawn stalls a worker
        # past Locust's heartbeat); the first snapshot is the baseline, so "since the
        # baseline" is what was allocated after day 1 and is still alive.
        _sleep(_EVERY)
        tracemalloc.start(25)
        first = prev = tracemalloc.take_snapshot()
        t0 = time.monotonic()
        n = 1
        while True:
            _sleep(_EVERY)
            n += 1
            snap = tracemalloc.take_snapshot()
            traced, peak = tracemalloc.get_traced_memory()
            with open(path, "a") as f:
                f.write(f"=== snapshot {n} (+{time.monotonic() - t0:.0f} s after the baseline) "
                        f"traced {traced / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB\n")  # fmt: skip
                for label, base in (("since the baseline", first), ("since the last", prev)):
                    stats = snap.compare_to(base, "traceback")
                    f.write(f"--- top 30 {label}\n")
                    for s in stats[:30]:
                        f.write(f"{s.size_diff / 2**20:+.2f} MiB, {s.count_diff:+d} blocks "
                                f"(now {s.size / 2**20:.2f} MiB)\n")  # fmt: skip
                        for line in s.traceback.format(limit=12, most_recent_first=True):
                            f.write(f"    {line}\n")
            prev = snap

    def _before_fork() -> None:
        # A traced worker answers slowly while a snapshot is taken: the master must not
        # declare it missing (Locust's liveness is 3 heartbeats of 1 s).
        runners = sys.modules.get("locust.runners")
        if runners is not None:
            runners.HEARTBEAT_LIVENESS = 600

    def _in_child() -> None:
        os.makedirs(_DIR, exist_ok=True)
        loop = _census_loop if _MODE == "census" else _loop
        _start(loop, (os.path.join(_DIR, f"worker-{os.getpid()}.txt"),))

    os.register_at_fork(before=_before_fork, after_in_child=_in_child)
