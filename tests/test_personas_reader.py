"""The persona workbook reader on real files written to ``tmp_path`` (.xlsx and .csv)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from personas.model import PERSONA_FIELDS, Persona
from personas.reader import PersonaFileError, read_personas, read_personas_report
from personas.sample import generate_personas, write_workbook


def _row(p: Persona) -> dict[str, Any]:
    return {f: (", ".join(v) if isinstance(v, tuple) else v) for f, v in p.model_dump().items()}


def write_xlsx(
    path: Path, header: list[Any], rows: list[list[Any]], sheet: str = "Personas"
) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def people() -> list[Persona]:
    return generate_personas(6, seed=11)


def test_roundtrip_xlsx_and_csv(tmp_path, people):
    for name in ("p.xlsx", "p.csv"):
        path = write_workbook(people, tmp_path / name)
        assert read_personas(path) == people


def test_reordered_renamed_extra_columns_and_blank_rows_are_accepted(tmp_path, people):
    # Reverse the order, vary case/spaces/underscores, add two extra columns and blank rows.
    def rename(f: str) -> str:
        variants = [f.upper(), f.replace("_", " ").title(), f.replace("_", ""), " " + f + " "]
        return variants[len(f) % len(variants)]

    fields = list(reversed(PERSONA_FIELDS))
    header = ["Notes"] + [rename(f) for f in fields] + ["Internal ID"]
    rows: list[list[Any]] = [[None] * len(header)]
    for i, p in enumerate(people):
        d = _row(p)
        rows.append([f"note {i}"] + [d[f] for f in fields] + [1000 + i])
        rows.append(["", *([None] * (len(header) - 1))])  # blank (an empty string is blank too)
    path = write_xlsx(tmp_path / "messy.xlsx", header, rows)
    report = read_personas_report(path)
    assert report.personas == people
    assert report.rows == [3 + 2 * i for i in range(len(people))]
    assert len(report.warnings) == 2
    assert "column A 'Notes'" in report.warnings[0]
    assert "'Internal ID'" in report.warnings[1] and "ignored" in report.warnings[1]


def test_every_bad_cell_is_reported_in_one_pass(tmp_path, people):
    fields = list(PERSONA_FIELDS)
    good = [_row(p) for p in people[:5]]
    good[0]["age"] = 120  # row 2: out of range
    good[0]["gender"] = "purple"  # row 2: unknown enum value
    good[1]["household_size"] = "two"  # row 3: wrong type
    good[1]["impulsivity"] = "135%"  # row 3: percentage out of 0–1
    good[2]["persona_id"] = good[0]["persona_id"]  # row 4: duplicate id
    good[3]["preferred_days"] = "Mon, Funday"  # row 5: unknown day
    good[3]["budget_per_trip"] = None  # row 5: missing value
    good[4]["browse_depth"] = 2.5  # row 6: not a whole number
    good[4]["shopping_frequency"] = "50%"  # row 6: percent for a non-0–1 attribute
    rows = [[g[f] for f in fields] for g in good]
    path = write_xlsx(tmp_path / "bad.xlsx", fields, rows)
    with pytest.raises(PersonaFileError) as info:
        read_personas(path)
    err = info.value
    assert err.exit_code == 2
    expected_prefixes = [
        "Personas!age row 2: out of range: 120 (allowed 18–90)",
        "Personas!gender row 2: unknown value 'purple'",
        "Personas!household_size row 3: expected a number, got 'two'",
        "Personas!impulsivity row 3: out of range: '135%' (allowed 0–1)",
        f"Personas!persona_id row 4: duplicate persona_id {good[0]['persona_id']!r} (first at row 2)",
        "Personas!preferred_days row 5: unknown day 'Funday'",
        "Personas!budget_per_trip row 5: missing value",
        "Personas!browse_depth row 6: expected a whole number, got 2.5",
        "Personas!shopping_frequency row 6: '50%': percentages are only accepted for 0–1 attributes",
    ]
    assert len(err.errors) == len(expected_prefixes), err.errors
    for prefix in expected_prefixes:
        assert sum(e.startswith(prefix) for e in err.errors) == 1, (prefix, err.errors)
    # str() lists them one per line after a heading naming the file.
    lines = str(err).splitlines()
    assert str(path) in lines[0]
    assert lines[1:] == err.errors


def test_missing_and_duplicated_columns_are_reported_once(tmp_path, people):
    fields = [f for f in PERSONA_FIELDS if f not in ("churn_risk", "channel")] + ["Persona ID"]
    rows = [[_row(p).get(f, "P-dup") for f in fields] for p in people[:3]]
    path = write_xlsx(tmp_path / "cols.xlsx", fields, rows)
    with pytest.raises(PersonaFileError) as info:
        read_personas(path)
    assert info.value.errors == [
        "Personas!persona_id row 1: column given twice (columns A and AA)",
        "Personas!churn_risk row 1: missing required column",
        "Personas!channel row 1: missing required column",
    ]


def test_optional_list_columns_may_be_absent_or_blank(tmp_path, people):
    fields = [f for f in PERSONA_FIELDS if f != "preferred_brands"]
    rows = [[_row(p)[f] for f in fields] for p in people[:2]]
    rows[0][fields.index("preferred_categories")] = None
    personas = read_personas(write_xlsx(tmp_path / "opt.xlsx", fields, rows))
    assert personas[0].preferred_categories == () and personas[0].preferred_brands == ()
    assert personas[1].preferred_categories == people[1].preferred_categories


def test_lenient_spellings(tmp_path, people):
    d = _row(people[0])
    d.update(
        impulsivity="35%",
        churn_risk=" 0.5 ",
        gender="Non-Binary",
        income_band="Upper Middle",
        preferred_days="monday; Saturday, weekdays",
        preferred_time_of_day="EVENING",
        budget_per_trip="12,500",
        preferred_categories="dairy, produce, dairy",
    )
    path = tmp_path / "lenient.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(PERSONA_FIELDS)
        w.writerow([d[f] for f in PERSONA_FIELDS])
    (p,) = read_personas(path)
    assert p.impulsivity == pytest.approx(0.35) and p.churn_risk == 0.5
    assert (p.gender, p.income_band, p.preferred_time_of_day) == (
        "non_binary",
        "upper_middle",
        "evening",
    )
    assert p.preferred_days == ("Mon", "Sat", "Tue", "Wed", "Thu", "Fri")
    assert p.budget_per_trip == 12500
    assert p.preferred_categories == ("dairy", "produce")


def test_csv_errors_name_the_personas_sheet(tmp_path, people):
    d = _row(people[0])
    d["channel"] = "fax"
    path = tmp_path / "bad.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(PERSONA_FIELDS)
        w.writerow([])
        w.writerow([d[f] for f in PERSONA_FIELDS])
    with pytest.raises(PersonaFileError) as info:
        read_personas(path)
    assert info.value.errors == [
        "Personas!channel row 3: unknown value 'fax' (expected one of: voice, app, web)"
    ]


def test_sheet_is_found_by_name_or_is_the_only_one(tmp_path, people):
    d = _row(people[0])
    d["persona_id"] = 101.0  # an id typed as a number in Excel
    only = write_xlsx(
        tmp_path / "only.xlsx",
        list(PERSONA_FIELDS),
        [[d[f] for f in PERSONA_FIELDS]],
        sheet="Sheet1",
    )
    report = read_personas_report(only)
    assert report.personas[0].persona_id == "101"
    assert report.warnings == ["Sheet1: no sheet named 'Personas'; read the workbook's only sheet"]

    wb = Workbook()
    wb.active.title = "Notes"
    wb.create_sheet("Other")
    wb.save(tmp_path / "two.xlsx")
    with pytest.raises(PersonaFileError) as info:
        read_personas(tmp_path / "two.xlsx")
    assert "no sheet named 'Personas' (sheets: Notes, Other)" in info.value.errors[0]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("missing.xlsx", None, "file not found"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "unsupported file type '.xls'"),
        ("broken.xlsx", b"not a zip", "not a readable .xlsx workbook"),
        ("empty.csv", b"", "no header row"),
        ("header_only.csv", ",".join(PERSONA_FIELDS).encode(), "no personas"),
    ],
)
def test_unusable_files_are_one_clear_error(tmp_path, name, content, needle):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PersonaFileError) as info:
        read_personas(path)
    assert len(info.value.errors) == 1 and needle in info.value.errors[0]
