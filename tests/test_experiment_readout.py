"""The experiment readout's statistics on synthetic personas with a known truth
(reports.experiment): an A/A split is not significant in ~95 % of seeds, a large planted
effect is detected, the 95 % interval covers the true difference, Holm corrects, and
``experiment.json``'s rows have exactly the issue's keys. Bounded: well under 2 s."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from reports.experiment import (
    OUTPUT_KEYS,
    PersonaOutcome,
    compare,
    forest_plot,
    holm,
    ratio,
    readout,
)

WEEKS = 4.0
SEEDS = 300


def _orders(rng: np.random.Generator, n: int, lift: float) -> np.ndarray:
    """Orders of ``n`` personas over WEEKS: each its own rate (gamma, mean 1/week) — the
    persona is the cluster — times ``lift``."""
    rate = rng.gamma(shape=2.0, scale=0.5, size=n)
    return rng.poisson(rate * WEEKS * lift).astype(float)


def _z_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(diff, se, p) of orders per persona-week, b minus a, as the readout computes it."""
    w = np.full(len(a), WEEKS)
    ra, rb = ratio(a, w), ratio(b, np.full(len(b), WEEKS))
    se = math.sqrt(ra.se**2 + rb.se**2)
    diff = rb.value - ra.value
    p = math.erfc(abs(diff) / se / math.sqrt(2))
    return diff, se, p


def test_aa_false_positives_power_and_coverage_on_known_truth():
    t0 = time.perf_counter()
    significant_aa = detected = covered = right_sign = 0
    true_diff = 0.3  # E[rate] = 1/week, lift 1.3
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        a, b = _orders(rng, 300, 1.0), _orders(rng, 300, 1.0)
        significant_aa += _z_test(a, b)[2] < 0.05
        c, t = _orders(rng, 300, 1.0), _orders(rng, 300, 1.3)
        diff, se, p = _z_test(c, t)
        detected += p < 0.05
        right_sign += diff > 0
        covered += diff - 1.96 * se <= true_diff <= diff + 1.96 * se
    elapsed = time.perf_counter() - t0
    # A/A: within the nominal 5 % (3 binomial standard deviations over 300 seeds: 8.8 %).
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / SEEDS)
    assert significant_aa / SEEDS <= bound, significant_aa
    assert significant_aa >= 3  # not a test that can never fire
    assert detected / SEEDS >= 0.95 and right_sign == SEEDS, (detected, right_sign)
    assert covered / SEEDS >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / SEEDS), covered
    assert elapsed < 2.0, elapsed


def test_per_order_thinking_would_be_overconfident_the_persona_variance_is_wider():
    rng = np.random.default_rng(1)
    orders = _orders(rng, 2000, 1.0)
    r = ratio(orders, np.full(2000, WEEKS))
    poisson_only = math.sqrt(orders.sum()) / (2000 * WEEKS)  # as if every order independent
    assert r.se > 1.2 * poisson_only  # heterogeneous personas: the cluster variance is larger


def test_holm_adjusts_step_down_and_keeps_missing():
    assert holm([0.01, 0.04, None, 0.03]) == [0.03, 0.06, None, 0.06]
    assert holm([0.5]) == [0.5]
    assert holm([0.2, 0.9]) == [0.4, 0.9]


def _outcomes(seed: int, lift: float) -> list[PersonaOutcome]:
    rng = np.random.default_rng(seed)
    out = []
    for arm, f in (("current", 1.0), ("deeper", lift)):
        orders = _orders(rng, 200, f)
        for i, n in enumerate(orders.astype(int)):
            sessions = int(n + rng.poisson(2))
            offered = 32
            redeemed = int(rng.binomial(min(n, offered), 0.3 * (f if f > 1 else 1)))
            out.append(PersonaOutcome(
                persona_id=f"{arm}{i}", arm=arm, stratum="income=low" if i % 2 else "income=high",
                weeks=WEEKS, sessions=sessions, sessions_with_order=int(n), orders=int(n),
                order_value_cents=int(n) * 3000, revenue_cents=int(n) * 2800,
                discount_cents=int(n) * 200, coupons_offered=offered, redemptions=redeemed,
                cycles_offered=4, cycles_redeemed=min(4, redeemed),
            ))  # fmt: skip
    return out


def test_readout_has_the_issue_shape_and_finds_a_planted_effect(tmp_path):
    arms = [{"name": "current", "allocation": 0.5},
            {"name": "deeper", "allocation": 0.5, "discount_multiplier": 2.0}]  # fmt: skip
    result = readout(_outcomes(3, 1.5), control="current", arms=arms)
    assert set(result) == {"arms", "metrics"}
    assert len(result["metrics"]) == 7  # one treatment x seven metrics
    for row in result["metrics"]:
        assert tuple(row) == OUTPUT_KEYS
        assert row["arm"] == "deeper"
    orders = next(m for m in result["metrics"] if m["metric"] == "orders_per_persona_week")
    assert orders["significant"] is True and orders["diff"] > 0
    assert orders["ci_low"] < orders["diff"] < orders["ci_high"]
    assert orders["value"] == pytest.approx(orders["control"] + orders["diff"], abs=1e-5)
    basket = next(m for m in result["metrics"] if m["metric"] == "basket_value")
    assert basket["diff"] == 0 and basket["significant"] is False  # 3000 per order in both
    control, deeper = result["arms"]
    assert control["control"] is True and control["personas"] == 200 and "power" not in control
    assert control["reference"]["value"] == 0.12
    assert deeper["parameters"] == {"allocation": 0.5, "discount_multiplier": 2.0}
    assert set(deeper["strata"]) == {"income=high", "income=low"}
    assert sum(s["personas"] for s in deeper["strata"].values()) == 200
    power = deeper["power"]["orders_per_persona_week"]
    assert power["mde"] > 0 and power["powered"] in (True, False)
    png = forest_plot(result, tmp_path / "plots" / "experiment_forest.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_aa_readout_is_not_significant_and_holm_covers_every_metric():
    result = readout(_outcomes(5, 1.0), control="current")
    assert [m["significant"] for m in result["metrics"]] == [False] * 7
    raw = compare(
        [o for o in _outcomes(5, 1.0) if o.arm == "deeper"],
        [o for o in _outcomes(5, 1.0) if o.arm == "current"],
        "orders_per_persona_week", "deeper",
    )  # fmt: skip
    row = next(m for m in result["metrics"] if m["metric"] == "orders_per_persona_week")
    assert row["p_value"] >= raw.p_raw  # corrected p is never below the raw one


def test_an_arm_without_orders_has_no_basket_value_rather_than_a_crash():
    rows = [PersonaOutcome("a", "current", weeks=1, sessions=2),
            PersonaOutcome("b", "deeper", weeks=1, sessions=1)]  # fmt: skip
    result = readout(rows, control="current")
    basket = next(m for m in result["metrics"] if m["metric"] == "basket_value")
    assert basket["value"] is None and basket["diff"] is None and basket["significant"] is False
