"""A slip reported after its hour was written joins the hour's histogram, not replaces it."""

from __future__ import annotations

import pytest

from harness.agent.hour import counters_of
from harness.agent.hourstats import HourAggregate, HourCollector


def _report(slips_ms: list[int]) -> dict[str, dict]:
    c = HourCollector()
    for ms in slips_ms:
        c.count(3, counters_of("none", "none"), slip_s=ms / 1000)
    return c.drain()


def test_a_late_slip_is_merged_into_the_written_hour():
    agg = HourAggregate()
    agg.merge(_report([5] * 200))
    agg.compact(3)  # the hour's row is written
    h = agg.get(3)
    assert h.sketch is None and h.slip_percentile(99) == pytest.approx(5, rel=0.01)

    # One agent acts its slot 20 s late (after a session that ran past it): 1 of 201.
    agg.merge(_report([20_000]))
    assert h.sketch is None  # compacted again: the master keeps no histogram per hour
    assert h.counts["acted"] == 201
    assert h.slip_percentile(50) == pytest.approx(5, rel=0.01)
    assert h.slip_percentile(99) == pytest.approx(5, rel=0.01)  # not the late slip alone

    # Five more late ones: 6 of 206 (2.9 %) are above p99 now.
    agg.merge(_report([20_000] * 5))
    assert h.counts["acted"] == 206
    assert h.slip_percentile(95) == pytest.approx(5, rel=0.01)
    assert h.slip_percentile(99) == pytest.approx(20_000, rel=0.01)


def test_a_late_report_into_an_hour_without_slips_keeps_its_own():
    agg = HourAggregate()
    c = HourCollector()
    c.count(4, ("missed",))
    agg.merge(c.drain())
    agg.compact(4)
    agg.merge({"4": {"counts": {"acted": 1}, "slips_ms": [7]}})
    assert agg.get(4).slip_percentile(50) == pytest.approx(7, rel=0.01)
    assert agg.get(4).counts == {**agg.get(4).counts, "acted": 1, "missed": 1}
