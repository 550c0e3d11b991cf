"""The sample population: shipped file, determinism, coverage, correlations, affordability."""

from __future__ import annotations

from statistics import fmean

import pytest

from personas import SAMPLE_PATH, vocab
from personas.model import CHANNELS, GENDERS, INCOME_BANDS, PERSONA_FIELDS, TIMES_OF_DAY, WEEKDAYS
from personas.reader import read_personas, read_personas_report
from personas.sample import SAMPLE_SEED, budget_reference_cents, generate_personas


@pytest.fixture(scope="module")
def sample():
    return generate_personas(372, seed=SAMPLE_SEED)


def test_shipped_sample_is_derived_from_real_households():
    """The shipped sample is ``loadsim personas derive --from completejourney
    --households 372 --seed 1`` (tests/test_derive.py checks it is that command's output)."""
    from personas.derive.workbook import read_provenance

    report = read_personas_report(SAMPLE_PATH)
    assert report.warnings == []
    assert len(report.personas) == 372
    meta, split = read_provenance(SAMPLE_PATH)
    assert meta["source"] == "completejourney" and meta["seed"] == 1
    assert sum(1 for s in split.values() if s == "holdout") > 1000


def test_shipped_sample_has_all_28_columns():
    from openpyxl import load_workbook

    wb = load_workbook(SAMPLE_PATH, read_only=True)
    header = next(wb["Personas"].iter_rows(max_row=1, values_only=True))
    wb.close()
    assert tuple(header) == PERSONA_FIELDS and len(header) == 28


def test_deterministic_for_a_seed_and_different_across_seeds():
    assert generate_personas(50, seed=3) == generate_personas(50, seed=3)
    assert generate_personas(50, seed=3) != generate_personas(50, seed=4)


def test_every_enum_value_category_and_store_is_represented(sample):
    def values(attr):
        return {getattr(p, attr) for p in sample}

    assert values("gender") == set(GENDERS)
    assert values("income_band") == set(INCOME_BANDS)
    assert values("channel") == set(CHANNELS)
    assert values("preferred_time_of_day") == set(TIMES_OF_DAY)
    assert {d for p in sample for d in p.preferred_days} == set(WEEKDAYS)
    assert {c for p in sample for c in p.preferred_categories} == set(vocab.CATEGORIES)
    assert values("preferred_store") == set(vocab.STORE_CODES)
    assert len({p.persona_id for p in sample}) == 372
    # A small sample still covers every enum value.
    small = generate_personas(20, seed=1)
    assert {p.income_band for p in small} == set(INCOME_BANDS)
    assert {d for p in small for d in p.preferred_days} == set(WEEKDAYS)


def test_preferences_exist_in_the_catalog_vocabulary(sample):
    for p in sample:
        assert p.preferred_store in vocab.stores_in(p.city), p.persona_id
        assert set(p.preferred_categories) <= set(vocab.CATEGORIES)
        sold = {b for c in p.preferred_categories for b in vocab.BRANDS_BY_CATEGORY[c]}
        assert set(p.preferred_brands) <= sold, p.persona_id


def test_budget_affords_the_average_basket_at_typical_prices(sample):
    # Calibration of basket size needs budgets that do not clip baskets.
    for p in sample:
        pref = fmean(vocab.typical_price_cents(c) for c in p.preferred_categories)
        assert p.budget_per_trip >= 1.5 * p.avg_basket_size * pref, p.persona_id
        assert p.budget_per_trip >= 1.6 * p.avg_basket_size * budget_reference_cents(
            p.preferred_categories
        )


def _mean_by(sample, key, attr):
    groups: dict[object, list[float]] = {}
    for p in sample:
        groups.setdefault(key(p), []).append(getattr(p, attr))
    return {k: fmean(v) for k, v in groups.items()}


def test_correlations_hold(sample):
    # Income ↔ budget per item and ↔ price consciousness.
    per_item = _mean_by(sample, lambda p: p.income_band, "budget_per_trip")
    basket = _mean_by(sample, lambda p: p.income_band, "avg_basket_size")
    ratio = [per_item[b] / basket[b] for b in INCOME_BANDS]
    assert ratio == sorted(ratio), ratio
    thrift = _mean_by(sample, lambda p: p.income_band, "price_consciousness")
    assert [thrift[b] for b in INCOME_BANDS] == sorted(
        (thrift[b] for b in INCOME_BANDS), reverse=True
    )
    # Household ↔ basket size.
    by_hh = _mean_by(sample, lambda p: min(p.household_size, 5), "avg_basket_size")
    assert [by_hh[h] for h in range(1, 6)] == sorted(by_hh[h] for h in range(1, 6))
    # Age ↔ impulsivity (falls) and brand loyalty (rises).
    young = [p for p in sample if p.age < 35]
    old = [p for p in sample if p.age >= 60]
    assert fmean(p.impulsivity for p in young) > fmean(p.impulsivity for p in old) + 0.1
    assert fmean(p.brand_loyalty for p in old) > fmean(p.brand_loyalty for p in young)
    # Occupation ↔ time of day: most retirees shop in the morning or afternoon.
    retired = [p for p in sample if p.occupation == "retired"]
    assert len(retired) >= 20
    assert (
        sum(p.preferred_time_of_day in ("morning", "afternoon") for p in retired) / len(retired)
        > 0.6
    )


def test_population_is_diverse_not_degenerate(sample):
    freqs = [p.shopping_frequency for p in sample]
    assert any(f < 1 for f in freqs) and any(f > 3 for f in freqs)  # every frequency band
    assert len({p.segment for p in sample}) >= 30
    assert 0.1 < fmean(p.cart_abandonment_rate for p in sample) < 0.4
    assert max(p.avg_basket_size for p in sample) > 3 * min(p.avg_basket_size for p in sample)
    assert all(p.browse_depth >= min(p.avg_basket_size, 50) for p in sample)


def test_written_csv_reads_back(tmp_path, sample):
    from personas.sample import write_workbook

    assert read_personas(write_workbook(sample[:30], tmp_path / "s.csv")) == sample[:30]


def test_personas_package_imports_no_locust_gevent_or_http():
    import ast
    from pathlib import Path

    import personas

    forbidden = {"locust", "gevent", "httpx", "requests", "geventhttpclient", "urllib3", "aiohttp",
                 "reference_api", "harness", "behaviors"}  # fmt: skip
    root = Path(personas.__file__).parent
    files = sorted(root.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
