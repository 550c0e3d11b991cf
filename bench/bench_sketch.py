"""Which streaming sketch holds the slip distributions: HDR histogram
(``hdrhistogram``) vs DDSketch (``ddsketch``), on 200,000 lognormal slips in ms.

    .venv/bin/python bench/bench_sketch.py [--smoke]

Per record cost, peak memory of one sketch, size of its wire form (what a worker sends in
its report) and p50/p95/p99 against the exact values. ``ddsketch`` is not a project
dependency: install it to run its row (``pip install ddsketch``); it is skipped otherwise.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._smoke import add_smoke  # noqa: E402

N = 200_000


def bench(name: str, make: Callable[[], Any], rec: Callable[[Any, int], Any],
          pct: Callable[[Any, float], float], wire: Callable[[Any], bytes | str],
          vals: list[int]) -> None:  # fmt: skip
    tracemalloc.start()
    s = make()
    t = time.perf_counter()
    for v in vals:
        rec(s, v)
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    blob = wire(s)
    exact = sorted(vals)
    truth = [exact[int(q / 100 * len(exact)) - 1] for q in (50, 95, 99)]
    got = [round(pct(s, q)) for q in (50, 95, 99)]
    print(f"| {name} | {dt / len(vals) * 1e6:.2f} µs | {peak / 1024:.0f} KiB | {len(blob)} B "
          f"| {got} | {truth} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_smoke(ap)
    n = 1000 if ap.parse_args().smoke else N
    rng = random.Random(15)
    vals = [int(rng.lognormvariate(5, 1.5)) for _ in range(n)]
    print("| sketch | per record | peak memory | wire | p50/p95/p99 | exact |")
    print("|---|---|---|---|---|---|")
    from hdrh.histogram import HdrHistogram

    bench("HDR (1 ms – 1e10 ms, 2 digits)", lambda: HdrHistogram(1, 10**10, 2),
          lambda s, v: s.record_value(max(1, v)), lambda s, q: s.get_value_at_percentile(q),
          lambda s: s.encode(), vals)  # fmt: skip
    try:
        from ddsketch import DDSketch
    except ImportError:
        print("| DDSketch | (not installed) | | | | |")
        return
    bench("DDSketch (1 %)", lambda: DDSketch(0.01), lambda s, v: s.add(v),
          lambda s, q: s.get_quantile_value(q / 100),
          # no public wire form without protobuf: its bins, as a stand-in
          lambda s: repr((s._store.bins, s._store.offset, s._zero_count, s._count)), vals)  # fmt: skip


if __name__ == "__main__":
    main()
