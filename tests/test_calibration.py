"""Calibration: realized behavior matches persona attributes within the stated tolerance —
and a miscalibrated rule is caught."""

from __future__ import annotations

import pytest

from behaviors import browsing, graph
from behaviors.calibration import calibrate
from behaviors.calibration_report import bernstein_tolerance, render
from behaviors.offers import CheckoutDecision
from behaviors.synthetic import make_catalog, make_persona, random_personas
from harness.cli import main

CATALOG = make_catalog()


def _check(report, metric: str, group: str = "all"):
    (c,) = [c for c in report.checks if c.metric == metric and c.group == group]
    return c


def test_tolerance_is_a_bernstein_bound():
    assert bernstein_tolerance(0.0, alpha=0.01, tests=10) < 1e-6  # deterministic: exact
    a = bernstein_tolerance(100.0, alpha=0.01, tests=10)
    assert a < bernstein_tolerance(400.0, alpha=0.01, tests=10) < 2.1 * a
    assert a < bernstein_tolerance(100.0, alpha=0.01, tests=1000)
    assert a > 2.58 * 10  # wider than a two-sided normal 99 % interval: conservative


EXTREMES = [
    make_persona("freq-0", shopping_frequency=0),
    make_persona(
        "freq-14",
        shopping_frequency=14,
        preferred_days=("Sat",),
        preferred_time_of_day="morning",
        weekday_affinity=0.0,
    ),  # fmt: skip
    make_persona("abandon-0", cart_abandonment_rate=0.0, shopping_frequency=5),
    make_persona("abandon-1", cart_abandonment_rate=1.0, shopping_frequency=5),
    make_persona("budget-tiny", budget_per_trip=1, shopping_frequency=4),
    make_persona("budget-small", budget_per_trip=600, avg_basket_size=12, shopping_frequency=4),
    make_persona("coupon-lover", discount_sensitivity=1, coupon_affinity=1, deal_seeking=1),
]


@pytest.fixture(scope="module")
def extreme_report():
    return calibrate(EXTREMES, weeks=8, seed=5, products=CATALOG)


def test_calibration_holds_on_extreme_personas(extreme_report):
    assert extreme_report.passed, render(extreme_report)


@pytest.mark.parametrize(
    "persona_id,metric,realized",
    [
        ("freq-0", "sessions", 0.0),
        ("abandon-0", "abandonment", 0.0),
        ("abandon-1", "abandonment", 1.0),
    ],
)
def test_extremes_realize_exactly(persona_id, metric, realized):
    report = calibrate(
        [p for p in EXTREMES if p.persona_id == persona_id], weeks=8, seed=5, products=CATALOG
    )
    assert _check(report, metric).realized == realized


def test_frequency_14_realizes_about_14_a_week(extreme_report):
    report = calibrate([EXTREMES[1]], weeks=8, seed=5, products=CATALOG)
    c = _check(report, "sessions")
    assert c.configured == 14
    assert 14 <= c.expected <= 14 * 1.5  # coupon lift is bounded
    assert abs(c.realized - c.expected) <= c.tolerance


def test_tiny_budget_never_buys(extreme_report):
    report = calibrate([EXTREMES[4]], weeks=8, seed=5, products=CATALOG)
    assert report.passed
    assert report.invariants["budget exceeded"] == 0
    assert "abandonment" not in {c.metric for c in report.checks if c.units}  # never reaches it


def test_calibration_holds_on_a_varied_population():
    report = calibrate(random_personas(16, seed=9), weeks=8, seed=2, products=CATALOG)
    assert report.passed, render(report)
    assert {c.group for c in report.checks} >= {"all", "ds low", "ds mid", "ds high"}
    assert any(c.group.startswith("segment ") for c in report.checks)


def test_same_seed_same_report():
    people = random_personas(4, seed=3)
    a = calibrate(people, weeks=2, seed=8, products=CATALOG)
    b = calibrate(people, weeks=2, seed=8, products=CATALOG)
    assert a.checks == b.checks


def test_a_miscalibrated_abandonment_rule_fails(monkeypatch):
    real = graph.rules.decide_checkout

    def biased(persona, *, coupon_applied, rng):
        d = real(persona, coupon_applied=coupon_applied, rng=rng)
        # records p_abandon but abandons as if it were ~twice as likely
        return CheckoutDecision(d.base, d.delta, d.p_abandon, d.draw * 0.5, d.coupon_applied)

    monkeypatch.setattr(graph.rules, "decide_checkout", biased)
    report = calibrate(random_personas(16, seed=9), weeks=6, seed=2, products=CATALOG)
    assert not report.passed
    assert not _check(report, "abandonment").passed
    assert _check(report, "sessions").passed


def test_a_biased_size_draw_fails(monkeypatch):
    real = browsing.poisson
    monkeypatch.setattr(browsing, "poisson", lambda rng, lam: real(rng, lam * 1.25))
    report = calibrate(random_personas(10, seed=9), weeks=4, seed=2, products=CATALOG)
    assert not _check(report, "basket items (intended)").passed
    assert not _check(report, "products viewed").passed


# the command --------------------------------------------------------------------------
def test_cli_calibrates_the_shipped_sample(capsys):
    code = main(["calibrate", "--weeks", "8", "--seed", "3", "--limit", "8", "--no-segments"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "calibration PASS" in out and "Bernstein" in out and "sessions (per week)" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["calibrate", "--weeks", "0"], "--weeks"),
        (["calibrate", "--alpha", "2"], "--alpha"),
        (["calibrate", "/nonexistent/personas.xlsx"], "no such persona file"),
    ],
)
def test_cli_bad_input_exits_2(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_cli_bad_workbook_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("persona_id,name\np1,Ann\n")
    assert main(["calibrate", str(bad)]) == 2
    assert "bad.csv" in capsys.readouterr().err


def test_cli_exits_4_when_calibration_fails(monkeypatch, capsys):
    real = graph.rules.decide_checkout

    def always_abandon(persona, *, coupon_applied, rng):
        d = real(persona, coupon_applied=coupon_applied, rng=rng)
        return CheckoutDecision(d.base, d.delta, d.p_abandon, -1.0, d.coupon_applied)

    monkeypatch.setattr(graph.rules, "decide_checkout", always_abandon)
    code = main(["calibrate", "--weeks", "2", "--limit", "12", "--no-segments"])
    assert code == 4
    assert "calibration FAIL" in capsys.readouterr().out
