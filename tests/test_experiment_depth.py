"""Shoppers respond to a coupon's depth (``behaviors.offers``): a wallet copy deeper than
the catalog's value is applied more often, one at the catalog's value exactly as before —
and an offline experiment with a planted ×2 arm reads out the right sign."""

from __future__ import annotations

import math
import random

import pytest

from behaviors.offers import (
    APPLY_BASE,
    APPLY_SENSITIVITY,
    choose_coupon,
    depth_ratio,
    depth_shift,
)
from behaviors.shop import CartLine, WalletCoupon
from harness.cli.commands.experiment import _population, simulate_outcomes
from offer_engine.experiment import parse_experiment
from reports.experiment import readout
from tests.experiment_files import DEEPER

LINES = (CartLine(1, 2, 450, "dairy", "b"), CartLine(2, 1, 1_200, "produce", "c"))
PCT = WalletCoupon(1, 1, "frontstore", "percent", 10, 0)
AMOUNT = WalletCoupon(2, 2, "category_brand", "amount", 150, 0, category="dairy")


def _persona(sensitivity: float, consciousness: float):
    p = _population(1)[0]
    return p.model_copy(
        update={"discount_sensitivity": sensitivity, "price_consciousness": consciousness}
    )


def _deeper(c: WalletCoupon, m: float) -> WalletCoupon:
    from dataclasses import replace

    return replace(c, discount_value=round(c.discount_value * m), catalog_value=c.discount_value)


def test_the_ratio_is_exactly_one_at_the_catalog_value():
    assert depth_ratio(PCT, LINES) == 1.0  # no catalog value: the catalog's own copy
    assert depth_ratio(_deeper(PCT, 1.0), LINES) == 1.0
    assert depth_ratio(_deeper(AMOUNT, 1.0), LINES) == 1.0
    assert depth_shift(_persona(0.9, 0.9), 1.0) == 0.0


def test_the_ratio_is_the_cart_discount_at_the_copy_over_the_catalog_value():
    assert depth_ratio(_deeper(PCT, 2.0), LINES) == 2.0  # 20 % vs 10 % of 2,100
    # 300 off vs 150 off a 900-cent dairy line; capped by the line: 1,200 vs 150
    assert depth_ratio(_deeper(AMOUNT, 2.0), LINES) == 2.0
    assert depth_ratio(_deeper(AMOUNT, 20.0), LINES) == 900 / 150
    assert depth_ratio(_deeper(AMOUNT, 0.5), LINES) == 75 / 150


def test_the_shift_is_monotone_in_depth_and_steeper_for_price_sensitive_shoppers():
    keen, indifferent = _persona(0.9, 0.9), _persona(0.1, 0.1)
    ratios = [0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 3.0, 10.0]
    for p in (keen, indifferent):
        shifts = [depth_shift(p, r) for r in ratios]
        assert shifts == sorted(shifts) and len(set(shifts)) == len(shifts)
        assert shifts[ratios.index(1.0)] == 0.0
    assert depth_shift(keen, 2.0) > depth_shift(indifferent, 2.0) > 0.0
    assert depth_shift(keen, 2.0) == pytest.approx(2.0 * 0.9 * math.log(2.0))


def test_applying_is_exactly_todays_at_the_catalog_value_and_likelier_when_deeper():
    persona = _persona(0.5, 0.5)
    today = APPLY_BASE + APPLY_SENSITIVITY * 0.5
    p_apply = {}
    for m in (0.5, 1.0, 2.0, 4.0):
        wallet = [_deeper(PCT, m), _deeper(AMOUNT, m)]
        d = choose_coupon(persona, wallet, LINES, random.Random(3))
        p_apply[m] = d.p_apply
        assert ("depth_ratio" in d.as_payload()) == (m != 1.0)
    plain = choose_coupon(persona, [PCT, AMOUNT], LINES, random.Random(3))
    assert plain.p_apply == p_apply[1.0] == today  # bit for bit: no log-odds round trip
    assert (
        plain.as_payload()
        == choose_coupon(
            persona, [_deeper(PCT, 1.0), _deeper(AMOUNT, 1.0)], LINES, random.Random(3)
        ).as_payload()
    )
    assert p_apply[0.5] < p_apply[1.0] < p_apply[2.0] < p_apply[4.0] < 1.0


@pytest.mark.parametrize("seed", [1, 2])
def test_a_planted_deeper_arm_reads_out_more_redemption(seed):
    """Offline (the calibrate rules and graph), 372 personas × 1 week: the readout's
    redemption rates and discount cost rise in the ×2 arm. The sign rate over 40 seeds is
    ``bench/bench_experiment.py``'s (BENCHMARKS.md)."""
    exp = parse_experiment(DEEPER, path="planted.toml")
    outcomes = simulate_outcomes(exp, _population(372), weeks=1, seed=seed)
    rows = {m["metric"]: m for m in readout(outcomes, control="current")["metrics"]}
    for metric in (
        "redemption_rate_per_coupon",
        "redemption_rate_per_persona_cycle",
        "discount_cost_per_persona_week",
    ):
        assert rows[metric]["diff"] > 0, (metric, rows[metric])
