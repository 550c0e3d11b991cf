"""Personas derived from real shopping data: estimators, split, workbook, the
``loadsim personas derive`` command, and the read-only ``--from database`` path."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd
import pytest

from harness.cli.app import main
from personas.derive import derive_personas
from personas.derive.categories import OTHER, map_category
from personas.derive.sources import LINE_COLUMNS, TxData
from personas.derive.split import split_households
from personas.derive.workbook import read_provenance, write_derived
from personas.reader import read_personas, read_personas_report


def _tx(households: dict[str, dict], weeks: int = 10, seed: int = 0) -> TxData:
    """Synthetic transactions: per household, trips on given weekdays/hour, fixed lines."""
    rng = random.Random(seed)
    rows = []
    monday = datetime(2025, 1, 6)
    for hid, spec in households.items():
        for w in range(weeks):
            for day in spec["days"]:
                ts = monday + timedelta(weeks=w, days=day, hours=spec["hour"])
                basket = f"{hid}-{w}-{day}"
                for k in range(spec["lines"]):
                    cat = spec.get("cats", ["dairy", "produce"])[k % len(spec.get("cats", [1, 1]))]
                    rows.append(
                        (hid, basket, ts, f"p{rng.randrange(500)}", cat, False, 300.0, False,
                         spec.get("coupon", False), 1)
                    )  # fmt: skip
    lines = pd.DataFrame(rows, columns=list(LINE_COLUMNS))
    hh = pd.DataFrame(index=pd.Index(sorted(households), name="household"))
    for c in ("age", "income", "size", "coupons_received", "coupons_redeemed"):
        hh[c] = float("nan")
    hh["store"] = "1"
    return TxData("test", lines, hh)


def test_estimators_recover_a_regular_household():
    households = {f"h{i}": {"days": (0, 3), "hour": 18, "lines": 6} for i in range(8)}
    households["h0"] = {"days": (5,), "hour": 9, "lines": 20, "cats": ["baby", "pet"]}
    r = derive_personas(_tx(households), households=4, seed=3)
    by_hh = {r.household_of[p.persona_id]: p for p in r.personas}
    for hid, p in by_hh.items():
        spec = households[hid]
        assert p.preferred_time_of_day == ("evening" if spec["hour"] == 18 else "morning")
        assert p.avg_basket_size == pytest.approx(spec["lines"] / (1 - 0.28), abs=0.01)
        # frequency: trips per week raised by abandonment, lowered by the coupon lift
        assert 0.8 * len(spec["days"]) < p.shopping_frequency < 1.3 * len(spec["days"])
        assert set(p.preferred_days) >= {("Mon", "Tue", "Wed", "Thu", "Fri", "Sat")[d]
                                         for d in spec["days"]}  # fmt: skip
        src = r.sources[p.persona_id]
        assert src["age"].startswith("unknown") and src["income_band"].startswith("unknown")
        assert p.gender == "unspecified" and p.occupation == "unknown"
        assert src["cart_abandonment_rate"].startswith("assumed")
    if "h0" in by_hh:
        assert set(by_hh["h0"].preferred_categories) >= {"baby", "pet"}


def test_split_is_disjoint_stratified_and_seeded():
    hh = pd.DataFrame(
        {"income": ["a"] * 60 + ["b"] * 30 + [float("nan")] * 10, "size": ["1"] * 100},
        index=[f"h{i}" for i in range(100)],
    )
    s = split_households(hh, n=20, seed=1)
    assert not set(s.derive) & set(s.holdout)
    assert set(s.derive) | set(s.holdout) == set(hh.index)
    assert set(s.sample) <= set(s.derive) and len(s.sample) == 20
    strata = [s.strata[h].split("|")[0] for h in s.sample]
    assert strata.count("a") == 12 and strata.count("b") == 6 and strata.count("unknown") == 2
    assert split_households(hh, n=20, seed=1) == s
    assert split_households(hh, n=20, seed=2).sample != s.sample
    with pytest.raises(ValueError, match="derive half"):
        split_households(hh, n=80, seed=1)


def test_category_table_maps_by_keyword_then_department():
    assert map_category("GROCERY", "ICE CREAM/MILK/SHERBTS") == "frozen"
    assert map_category("GROCERY", "FLUID MILK PRODUCTS") == "dairy"
    assert map_category("DRUG GM", "BABY FOODS") == "baby"
    assert map_category("GROCERY", "SOUP") == "pantry"
    assert map_category("FUEL", "COUPON/MISC ITEMS") == OTHER
    assert map_category("DRUG GM", "CIGARETTES") == OTHER


def test_mirrored_constants_match_the_rules():
    from behaviors.browsing import REPEAT_UNIT_SHARE
    from behaviors.offers import ABANDON_PRICE
    from personas.derive import estimators

    assert estimators.ABANDON_PRICE == ABANDON_PRICE
    assert estimators.REPEAT_UNIT_SHARE == REPEAT_UNIT_SHARE


@pytest.fixture(scope="module")
def cj():
    from personas.derive.sources import load_completejourney

    return load_completejourney()


def test_completejourney_workbook_is_read_unchanged_and_records_the_split(cj, tmp_path):
    r = derive_personas(cj, households=24, seed=5)
    path = write_derived(r, tmp_path / "p.xlsx")
    report = read_personas_report(path)
    assert report.warnings == [] and len(report.personas) == 24
    meta, split = read_provenance(path)
    assert meta["source"] == "completejourney" and meta["hour_shift_h"] == -5
    assert len(split) == 2469
    held = {h for h, s in split.items() if s == "holdout"}
    assert held and not held & set(r.household_of.values())
    # demographics where present, "unknown (filled …)" where not — never silently
    srcs = [s["income_band"] for s in r.sources.values()]
    assert all(s.startswith(("demographics:", "unknown (filled")) for s in srcs)


def test_shipped_sample_is_this_commands_output(cj):
    from personas import SAMPLE_PATH

    r = derive_personas(cj, households=372, seed=1)
    assert read_personas(SAMPLE_PATH) == r.personas  # re-derive with the README command


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--households", "0"], "--households"),
        (["--households", "5000"], "derive half"),
        (["-o", "p.csv"], ".xlsx"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_nothing_written(argv, needle, tmp_path, capsys):
    base = ["personas", "derive", "--from", "completejourney", "-o", str(tmp_path / "p.xlsx")]
    args = base + argv
    if "-o" in argv:
        args = base[:-2] + ["-o", str(tmp_path / argv[-1])]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("loadsim: error:") and needle in err[-1]
    assert list(tmp_path.iterdir()) == []


def test_cli_help_names_both_sources(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["personas", "derive", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "completejourney" in out and "database" in out and "--households" in out


def test_a_database_without_real_orders_is_refused():
    from personas.derive.sources import database_frame

    with pytest.raises(ValueError, match="no non-simulated orders"):
        derive_personas(database_frame([], store_codes={}), households=1, seed=1)
