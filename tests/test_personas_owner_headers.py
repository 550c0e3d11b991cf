"""The owner's workbook as it is: their header words, a column map in their TOML file, and
0–1 traits written on 1–10 / 0–100 / percent scales must seed the very same personas."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from db.errors import ConfigError
from personas.columns import ColumnMap, load_column_map
from personas.model import Persona
from personas.reader import PersonaFileError, read_personas, read_personas_report

SAMPLE = Path(__file__).resolve().parent.parent / "personas" / "data" / "sample_personas.xlsx"

MAP_TOML = """
# the owner's one map file: other sections belong to other parts of the harness
[db.tables]
users = "customers"

[routes]
health = "/healthz"

[personas.columns]
"Cust #" = "persona_id"
"Spend Cap (cents)" = "budget_per_trip"
"Coupon Affinity Score" = "coupon_affinity"

[personas.scales]
"Coupon Affinity Score" = "1-10"
"""


def _ten(u: float) -> float:
    return round(1 + 9 * u, 6)


def _pct_text(u: float) -> str:
    return f"{round(u * 100, 6):g}%"


def _pct(u: float) -> float:
    return round(u * 100, 6)


def _list(v: tuple[str, ...]) -> str:
    return ", ".join(v)


# (the owner's header, how a canonical value is written under it)
OWNER_COLUMNS: list[tuple[str, str, Any]] = [
    ("Cust #", "persona_id", str),  # [personas.columns]
    ("Name", "name", str),
    ("Age", "age", int),
    ("Gender", "gender", str),
    ("Income", "income_band", str),  # the owner's plan: "income"
    ("Location", "city", str),  # the owner's plan: "location"
    ("Household", "household_size", int),
    ("Occupation", "occupation", str),
    ("Frequency", "shopping_frequency", float),  # the owner's plan: "frequency"
    ("Days of Week", "preferred_days", _list),  # the owner's plan: "days_of_week"
    ("Time of Day", "preferred_time_of_day", str),
    ("Weekday Affinity", "weekday_affinity", _pct_text),  # "49%" cells
    ("Weekend Affinity", "weekend_affinity", _pct),  # 0–100 numbers, detected
    ("Browse Depth", "browse_depth", int),
    ("Basket Size", "avg_basket_size", float),  # the owner's plan: "basket_size"
    ("Spend Cap (cents)", "budget_per_trip", int),  # [personas.columns]
    ("Impulsivity (1-10)", "impulsivity", _ten),  # scale stated in the header
    ("Abandonment Rate", "cart_abandonment_rate", float),  # plain 0–1
    ("Categories", "preferred_categories", _list),
    ("Brands", "preferred_brands", _list),
    ("Loyalty %", "brand_loyalty", _pct),  # "%" in the header: 0–100
    ("Store", "preferred_store", str),
    ("Discount Sensitivity", "discount_sensitivity", _ten),  # 1–10, detected
    ("Price Sensitivity", "price_consciousness", _ten),  # the owner's wording, 1–10 detected
    ("Coupon Affinity Score", "coupon_affinity", _ten),  # [personas.scales] "1-10"
    ("Deal Seeking", "deal_seeking", float),
    ("Churn", "churn_risk", _pct_text),
    ("Channel", "channel", str),
]


@pytest.fixture(scope="module")
def canonical() -> list[Persona]:
    return read_personas(SAMPLE)


def _owner_rows(people: list[Persona]) -> tuple[list[str], list[list[Any]]]:
    header = [h for h, _, _ in OWNER_COLUMNS]
    rows = [[fmt(getattr(p, attr)) for _, attr, fmt in OWNER_COLUMNS] for p in people]
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        return path
    wb = Workbook()
    ws = wb.active
    ws.title = "Customer Personas"  # the owner's own sheet name (the only sheet)
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_owner_workbook_seeds_the_same_personas(tmp_path, canonical, suffix):
    header, rows = _owner_rows(canonical)
    book = _write(tmp_path / f"owner{suffix}", header, rows)
    (tmp_path / "loadsim.toml").write_text(MAP_TOML)
    report = read_personas_report(book, load_column_map(tmp_path / "loadsim.toml"))
    assert report.personas == canonical
    # Every conversion is stated, with its scale, formula and how it was decided.
    scaled = {w.split("!")[1].split(" ")[0]: w for w in report.warnings if " scale as " in w}
    assert set(scaled) == {
        "weekend_affinity", "impulsivity", "brand_loyalty", "discount_sensitivity",
        "price_consciousness", "coupon_affinity",
    }  # fmt: skip
    assert "read on a 1–10 scale as (v − 1) / 9 (detected: values" in scaled["price_consciousness"]
    assert "read on a 0–100 scale as v / 100 (detected" in scaled["weekend_affinity"]
    assert "1–10 scale as (v − 1) / 9 (stated in the header)" in scaled["impulsivity"]
    assert "stated [personas.scales] of" in scaled["coupon_affinity"]
    sheet = "Customer Personas" if suffix == ".xlsx" else "Personas"  # messages name it
    assert report.sheet == sheet
    assert f"{sheet} column E 'Income': read as income_band" in report.notes
    assert f"{sheet} column A 'Cust #': read as persona_id" in report.notes


def test_the_map_file_is_found_through_LOADSIM_MAP(tmp_path, canonical, monkeypatch):
    header, rows = _owner_rows(canonical[:20])
    book = _write(tmp_path / "owner.xlsx", header, rows)
    (tmp_path / "loadsim.toml").write_text(MAP_TOML)
    monkeypatch.delenv("LOADSIM_MAP", raising=False)
    monkeypatch.delenv("LOADSIM_DB_MAP", raising=False)
    with pytest.raises(PersonaFileError):  # without it: Cust # and Spend Cap are unknown
        read_personas(book)
    monkeypatch.setenv("LOADSIM_DB_MAP", str(tmp_path / "loadsim.toml"))  # the one file
    assert read_personas(book) == canonical[:20]
    monkeypatch.setenv("LOADSIM_DB_MAP", str(tmp_path / "missing.toml"))
    monkeypatch.setenv("LOADSIM_MAP", str(tmp_path / "loadsim.toml"))  # wins
    assert read_personas(book) == canonical[:20]


def test_canonical_workbook_has_no_conversions(canonical):
    report = read_personas_report(SAMPLE, ColumnMap())
    assert report.personas == canonical
    assert report.notes == [] and report.warnings == []


def test_missing_column_names_the_closest_header(tmp_path, canonical):
    header, rows = _owner_rows(canonical[:3])
    header[header.index("Churn")] = "Churn Probability"  # not an alias: unknown header
    header[header.index("Channel")] = "Chanel"
    book = _write(tmp_path / "typo.csv", header, rows)
    (tmp_path / "m.toml").write_text(MAP_TOML)
    with pytest.raises(PersonaFileError) as info:
        read_personas(book, load_column_map(tmp_path / "m.toml"))
    assert info.value.errors == [
        "Personas!churn_risk row 1: missing required column "
        "(closest header: 'Churn Probability'; map it in [personas.columns])",
        "Personas!channel row 1: missing required column "
        "(closest header: 'Chanel'; map it in [personas.columns])",
    ]


def test_a_column_that_fits_no_scale_is_one_error_asking_for_the_scale(tmp_path, canonical):
    header, rows = _owner_rows(canonical[:4])
    col = header.index("Deal Seeking")
    for r, v in zip(rows, (0.3, 7, 0.5, 4), strict=True):  # 0–1 and 1–10 values mixed
        r[col] = v
    col2 = header.index("Discount Sensitivity")
    rows[2][col2] = 11  # a 1–10 column: detected 0–100 now (11 > 10), so 1.18 etc. are tiny
    book = _write(tmp_path / "mixed.csv", header, rows)
    (tmp_path / "m.toml").write_text(MAP_TOML)
    with pytest.raises(PersonaFileError) as info:
        read_personas(book, load_column_map(tmp_path / "m.toml"))
    errs = info.value.errors
    assert len(errs) == 1, errs
    assert errs[0].startswith(
        "Personas!deal_seeking row 1: values 0.3–7 fit no single scale (rule: 0–1 when"
    )
    assert "state it in the header, e.g. 'Deal Seeking (1-10)', or in [personas.scales]" in errs[0]
    # The 11 made Discount Sensitivity a 0–100 column; the reader says so (never silent).
    report_warn = [w for w in info.value.warnings if "discount_sensitivity" in w]
    assert report_warn and "0–100 scale" in report_warn[0]


def test_a_value_outside_the_stated_scale_is_a_cell_error(tmp_path, canonical):
    header, rows = _owner_rows(canonical[:3])
    rows[1][header.index("Impulsivity (1-10)")] = 12
    book = _write(tmp_path / "out.xlsx", header, rows)
    (tmp_path / "m.toml").write_text(MAP_TOML)
    with pytest.raises(PersonaFileError) as info:
        read_personas(book, load_column_map(tmp_path / "m.toml"))
    assert info.value.errors == [
        "Customer Personas!impulsivity row 3: out of range: 12 (the column is on a 1–10 scale)"
    ]


def test_bad_map_file_entries_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[personas.columns]\n"Spend" = "budget_per_tirp"\n[routes]\nx = 1\n')
    with pytest.raises(ConfigError) as info:
        load_column_map(bad)
    assert str(info.value) == (
        f"{bad}: [personas.columns] \"Spend\" = 'budget_per_tirp': not a persona attribute "
        "(did you mean 'budget_per_trip'?)"
    )
    (tmp_path / "broken.toml").write_text("[personas.columns\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_column_map(tmp_path / "broken.toml")
    with pytest.raises(ConfigError, match="map file not found"):
        load_column_map(tmp_path / "nope.toml")


def test_loadsim_personas_validate_with_the_owners_map(tmp_path, canonical):
    import subprocess
    import sys

    header, rows = _owner_rows(canonical[:30])
    book = _write(tmp_path / "owner.csv", header, rows)
    (tmp_path / "loadsim.toml").write_text(MAP_TOML)
    env = {k: v for k, v in os.environ.items() if k not in ("LOADSIM_MAP", "LOADSIM_DB_MAP")}
    cmd = [sys.executable, "-m", "harness.cli", "personas", "validate", str(book)]
    ok = subprocess.run([*cmd, "--map", str(tmp_path / "loadsim.toml")], env=env,
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"{book}: 30 personas, all 28 attributes valid" in ok.stdout
    assert "note: Personas column I 'Frequency': read as shopping_frequency" in ok.stdout
    assert "warning: Personas!discount_sensitivity ('Discount Sensitivity'): read on a 1–10 " \
           "scale as (v − 1) / 9 (detected: values" in ok.stderr  # fmt: skip
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    # Without the map, its three headers are unknown: each attribute is named, one line each.
    assert "Personas!persona_id row 1: missing required column" in bad.stderr
    assert "Personas!coupon_affinity row 1: missing required column (closest header: " \
           "'Coupon Affinity Score'; map it in [personas.columns])" in bad.stderr  # fmt: skip
