"""Pure pieces of the harness: leases, rate limiting, options, breaker, hour counters,
checkpoints. No Locust processes here (those are in test_e2e_*)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from db.errors import ConfigError
from harness.agent.hour import counters_of
from harness.agent.hourstats import HourAggregate, HourCollector
from harness.agent.rate_limit import TokenBucket
from harness.config.options import HarnessOptions, parse_duration_hours, parse_ramp, ramp_fraction
from harness.control.leases import LeasePool, LeaseRequest, PoolEntry, stratified_order
from harness.control.resilience import (
    Checkpoint,
    breaker_verdict,
    latest_checkpoint,
    write_checkpoint,
)


def _entries(n: int) -> list[PoolEntry]:
    segs = ["voice/low/rare"] * 1 + ["app/middle/weekly"] * 3 + ["web/high/frequent"] * 6
    return [
        PoolEntry(
            agent_id=i + 1, user_id=i + 1, persona_id=f"P{i:04d}", segment=segs[i % 10], persona={}
        )
        for i in range(n)
    ]


# ------------------------------------------------------------------ leases


def test_stratified_prefixes_keep_the_segment_mix():
    entries = _entries(400)
    total = Counter(e.segment for e in entries)
    order = stratified_order(entries, seed=3)
    assert sorted(e.agent_id for e in order) == list(range(1, 401))  # a permutation
    for frac in (0.10, 0.25, 0.5):
        k = math.ceil(frac * len(order))
        got = Counter(e.segment for e in order[:k])
        for seg, n in total.items():
            assert abs(got[seg] - n * frac) <= 1.5, (frac, seg, got[seg], n * frac)


def test_order_is_a_function_of_the_seed():
    entries = _entries(50)
    a = [e.agent_id for e in stratified_order(entries, 1)]
    assert a == [e.agent_id for e in stratified_order(list(reversed(entries)), 1)]
    assert a != [e.agent_id for e in stratified_order(entries, 2)]


def test_pool_grants_within_the_active_prefix_and_queues_beyond():
    pool = LeasePool(entries=_entries(10), seed=1)
    pool.set_limit(3)
    got = [pool.request(LeaseRequest(f"r{i}", "w1")) for i in range(4)]
    assert all(g is not None for g in got[:3]) and got[3] is None
    assert len({g.agent_id for g in got[:3]}) == 3
    assert {g.agent_id for g in got[:3]} == {e.agent_id for e in pool.order[:3]}
    grants = pool.set_limit(4)  # the ramp grows: the queued request is served
    assert [r.req_id for r, _ in grants] == ["r3"]
    assert pool.leased == 4


def test_reclaimed_personas_go_to_waiting_users_not_to_new_ones():
    pool = LeasePool(entries=_entries(6), seed=1)
    pool.set_limit(4)
    for i in range(2):
        pool.request(LeaseRequest(f"a{i}", "dead"))
    for i in range(2):
        pool.request(LeaseRequest(f"b{i}", "alive"))
    assert pool.request(LeaseRequest("respawned", "alive")) is None  # all 4 held: waits
    dead_held = {a for a, h in pool.holders.items() if h == "dead"}
    freed, grants = pool.reclaim("dead")
    assert set(freed) == dead_held
    assert len(grants) == 1 and grants[0][1].agent_id in dead_held
    assert set(pool.holders.values()) == {"alive"}


def test_a_release_by_someone_else_does_not_free_the_persona():
    pool = LeasePool(entries=_entries(3), seed=1)
    e = pool.request(LeaseRequest("r", "w1"))
    pool.release(e.agent_id, "w2")
    assert pool.holders[e.agent_id] == "w1"
    pool.release(e.agent_id, "w1")
    assert e.agent_id not in pool.holders


# ------------------------------------------------------------------ rate limit


def test_token_bucket_paces_to_its_rate_on_a_virtual_clock():
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(101):
        bucket.acquire()
    # The bucket starts empty (no burst at start-up): 101 requests at 10/s take 10.1 s.
    assert 10.0 <= now[0] <= 10.2
    now[0] += 5.0  # idle for 5 s: at most one second's burst (10 tokens) accumulates
    t = now[0]
    for _ in range(10):
        bucket.acquire()
    assert now[0] == t


def test_token_bucket_rate_change_and_unlimited():
    now = [0.0]
    bucket = TokenBucket(0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(1000):
        assert bucket.acquire() == 0.0
    bucket.set_rate(100)
    for _ in range(300):
        bucket.acquire()
    assert 1.9 <= now[0] <= 3.1


# ------------------------------------------------------------------ options


def test_ramp_and_duration_parsing():
    assert parse_ramp("0:10,2:25,4:50,6:75,8:100") == [
        (0, 0.1),
        (2, 0.25),
        (4, 0.5),
        (6, 0.75),
        (8, 1.0),
    ]
    stages = tuple(parse_ramp("0:10,2:50"))
    assert ramp_fraction(stages, 1.9) == 0.1 and ramp_fraction(stages, 2.0) == 0.5
    assert parse_duration_hours("7d") == 168 and parse_duration_hours("90m") == 1.5
    assert parse_duration_hours("") is None


@pytest.mark.parametrize("bad", ["5:10", "0:0", "0:120", "x", "0-10"])
def test_bad_ramps_are_config_errors(bad):
    with pytest.raises(ConfigError, match="--ramp"):
        parse_ramp(bad)


def test_options_validation_names_the_option():
    class NS:
        time_scale = 0

    with pytest.raises(ConfigError, match="--time-scale"):
        HarnessOptions.from_parsed(NS())


# ------------------------------------------------------------------ breaker


@pytest.mark.parametrize(
    ("active", "failed", "tripped"),
    [
        (372, 18, False),
        (372, 19, True),
        (40, 2, False),
        (40, 3, True),
        (0, 0, False),
        (5, 2, False),
    ],
)
def test_breaker_rule(active, failed, tripped):
    v = breaker_verdict(hour=3, active=active, failed=failed, threshold_pct=5.0)
    assert v.tripped is tripped


# ------------------------------------------------------------------ hour counters


def test_collector_drain_and_merge_across_processes():
    a, b = HourCollector(), HourCollector()
    a.count(1, counters_of("shop", "completed", order=True), slip_s=0.01)
    a.count(1, counters_of("none", "none"), slip_s=0.002)
    b.count(1, counters_of("shop", "failed"), slip_s=0.5, error_kind="api_5xx")
    b.count(2, ("missed",))
    agg = HourAggregate()
    agg.merge(a.drain())
    agg.merge(b.drain())
    assert a.drain() == {}  # drained once
    h1 = agg.get(1)
    assert h1.counts["acted"] == 3 and h1.counts["shopped"] == 2 and h1.counts["orders"] == 1
    assert h1.counts["failed"] == 1 and h1.errors == {"api_5xx": 1}
    assert h1.slip_count == 3  # merged from two processes' HDR histograms
    # 2 significant digits: within 1 %
    assert [h1.slip_percentile(q) for q in (1, 50, 100)] == pytest.approx([2, 10, 500], rel=0.01)
    agg.compact(1)  # written to hours.csv: percentiles kept, histogram dropped
    assert h1.sketch is None and h1.slip_percentile(50) == 10.0
    assert agg.get(2).slip_percentile(50) is None
    assert agg.get(2).counts["missed"] == 1 and agg.get(2).counts["acted"] == 0


# ------------------------------------------------------------------ checkpoints


def test_checkpoints_are_atomic_and_the_latest_wins(tmp_path):
    def cp(h: int) -> Checkpoint:
        return Checkpoint(run_id="r", hour=h, sim_time="x", seed=1, time_scale=96, offer_cycle=0,
                          ramp_fraction=1.0, clock={"real_t0": 1.0})  # fmt: skip

    assert latest_checkpoint("r", tmp_path) is None
    write_checkpoint(cp(10), tmp_path)
    write_checkpoint(cp(20), tmp_path)
    (tmp_path / "r" / "checkpoints" / "hour-000030.json").write_text(
        "{ half a file"
    )  # a crash mid-write elsewhere
    assert latest_checkpoint("r", tmp_path).hour == 20
    assert not list((tmp_path / "r" / "checkpoints").glob("*.tmp"))


def test_relevant_coupon_count_follows_expiry_and_preferences():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from behaviors.shop import WalletCoupon
    from harness.agent.wallet_view import active_at, relevant_expiries

    persona = SimpleNamespace(preferred_categories=("dairy",), preferred_brands=("Acme",))

    def coupon(
        i: int, kind: str, cat: str | None, brand: str | None, exp: str | None
    ) -> WalletCoupon:
        return WalletCoupon(i, i, kind, "percent", 10, 0, cat, brand, exp)

    wallet = [
        coupon(1, "frontstore", None, None, "2026-01-10T00:00:00+00:00"),
        coupon(2, "category_brand", "dairy", None, "2026-01-20T00:00:00Z"),
        coupon(3, "category_brand", "snacks", "Acme", None),
        coupon(4, "category_brand", "snacks", "Other", "2026-01-30T00:00:00+00:00"),  # not relevant
    ]
    expiries = relevant_expiries(persona, wallet)
    at = lambda d: datetime(2026, 1, d, tzinfo=UTC)  # noqa: E731
    assert active_at(expiries, at(5)) == 3
    assert active_at(expiries, at(10)) == 2  # one expiring at `at` no longer counts
    assert active_at(expiries, at(25)) == 1  # the one without an expiry
