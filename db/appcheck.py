"""Compare the declared map with a live database, concept by concept.

Read-only: it reads ``information_schema`` and tries each expression with ``LIMIT 0``
inside a rolled-back transaction. The result drives three things: ``loadsim db check``'s
table (found / missing / wrong type), the views generated at adoption (an optional column
the app lacks becomes NULL), and the additive DDL ``loadsim db adopt --sql`` lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from db.appmap import (
    ADDITIVE,
    ESSENTIAL,
    MIRRORED,
    PG_FAMILIES,
    REQUIRED,
    AppMap,
    Column,
    Concept,
    expected_family,
)


@dataclass
class ConceptReport:
    """What the database has for one concept."""

    name: str
    table: str | None
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong_type: list[str] = field(default_factory=list)
    additive: list[str] = field(default_factory=list)
    """Additive columns the app table lacks (``loadsim db adopt`` adds them)."""
    absent: list[str] = field(default_factory=list)
    """Optional harness columns the app does not have (NULL in the view / not mirrored)."""
    table_missing: bool = False
    stand_in: bool = False
    """The app has no such table and the harness needs none of its columns: an empty
    view stands in (writes to it do nothing)."""
    columns: dict[str, Column] = field(default_factory=dict)
    """The effective columns: optional ones the app lacks turned ``absent``."""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_type or self.additive or self.table_missing)

    @property
    def status(self) -> str:
        if self.stand_in:
            return "absent (empty view)"
        if self.table_missing:
            return "missing"
        if self.wrong_type:
            return "wrong type"
        if self.missing or self.additive:
            return "missing"
        return "found"


def app_columns(conn: Connection, schema: str) -> dict[str, dict[str, str]]:
    """``{table: {column: data_type}}`` of one schema (tables and views)."""
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s"
        ),
        {"s": schema},
    ).all()
    out: dict[str, dict[str, str]] = {}
    for t, c, ty in rows:
        out.setdefault(t, {})[c] = ty
    return out


def inspect_concepts(conn: Connection, amap: AppMap) -> list[ConceptReport]:
    """One report per concept; never raises on a mismatch (that is what it reports)."""
    cols_by_table = app_columns(conn, amap.app_schema)
    return [_inspect(conn, amap, c, cols_by_table) for c in amap.concepts.values()]


def _inspect(
    conn: Connection, amap: AppMap, concept: Concept, tables: dict[str, dict[str, str]]
) -> ConceptReport:
    rep = ConceptReport(concept.name, concept.table)
    required = set(REQUIRED[concept.name])
    additive = ADDITIVE.get(concept.name, {})
    if concept.table is None:  # declared absent (table = false)
        rep.columns = {n: Column(n, absent=True) for n in concept.columns}
        if concept.name in ESSENTIAL:
            rep.missing = ["table (the harness cannot work without it)"]
            rep.table_missing = True
        else:
            rep.stand_in = True
        return rep
    have = tables.get(concept.table)
    if have is None:
        if required:
            rep.table_missing = True
            rep.columns = dict(concept.columns)
        else:  # nothing required (e.g. cart_coupons): an empty view stands in
            rep.stand_in = True
            rep.columns = {n: Column(n, absent=True) for n in concept.columns}
        return rep
    for name, col in concept.columns.items():
        if col.absent:
            rep.columns[name] = col
            if name in required:
                rep.missing.append(f"{name} (mapped to nothing)")
            else:
                rep.absent.append(name)
            continue
        if col.sql is not None:
            err = _try_expression(conn, amap, concept, col)
            if err:
                rep.missing.append(f"{name} = {col.sql}: {err}")
            else:
                rep.found.append(col.describe())
            rep.columns[name] = col
            continue
        assert col.column is not None
        data_type = have.get(col.column)
        if data_type is None:
            if name in additive:
                rep.additive.append(name)
                rep.columns[name] = Column(name, absent=True)
            elif name in required:
                rep.missing.append(col.describe() if col.column != name else name)
                rep.columns[name] = col
            else:
                rep.absent.append(name)
                rep.columns[name] = Column(name, absent=True)
            continue
        fam = expected_family(concept, col, amap)
        accepted = PG_FAMILIES.get(fam, set())
        if accepted and data_type not in accepted:
            rep.wrong_type.append(f"{col.describe()}: {data_type}, expected {fam}")
        else:
            rep.found.append(col.describe())
        rep.columns[name] = col
    if concept.name in WRITTEN:
        rep.missing += _unfilled(conn, amap, concept.table, rep.columns)
    return rep


WRITTEN = ("users", "agents", *MIRRORED)
"""Concepts the harness inserts rows into (seeding, mirror triggers)."""


def _unfilled(conn: Connection, amap: AppMap, table: str, columns: dict[str, Column]) -> list[str]:
    """App columns a harness insert would leave NULL although they are ``NOT NULL`` without
    a default: every insert would fail, so check says so before a run does."""
    filled = {c.column for c in columns.values() if c.column and not c.absent}
    rows = conn.execute(
        text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s"
            " AND table_name = :t AND is_nullable = 'NO' AND column_default IS NULL"
            " AND is_identity = 'NO' AND is_generated = 'NEVER' ORDER BY ordinal_position"
        ),
        {"s": amap.app_schema, "t": table},
    ).scalars()
    return [
        f"{col} (app column NOT NULL without a default: map a harness column to it or give it"
        " a default)"
        for col in rows
        if col not in filled
    ]


def _try_expression(conn: Connection, amap: AppMap, concept: Concept, col: Column) -> str | None:
    """Run the expression over the app table with ``LIMIT 0``; the first error line."""
    sql = (
        f"SELECT {col.select_sql(concept.table or 't')} FROM "
        f'"{amap.app_schema}"."{concept.table}" AS "{concept.table}" LIMIT 0'
    )
    sp = conn.begin_nested()
    try:
        conn.exec_driver_sql(f'SET LOCAL search_path TO "{amap.app_schema}"')
        conn.exec_driver_sql(sql)
    except DBAPIError as exc:
        sp.rollback()
        return str(getattr(exc, "orig", exc)).splitlines()[0]
    sp.rollback()
    return None


def additive_ddl(amap: AppMap, reports: list[ConceptReport]) -> list[str]:
    """``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` for each additive column the app lacks:
    nullable, no default, so the statement never rewrites or locks the table for long."""
    out = []
    for rep in reports:
        if rep.table is None or rep.table_missing:
            continue
        concept = amap.concepts[rep.name]
        for name in rep.additive:
            col = concept.columns[name]
            sqltype = ADDITIVE[rep.name][name]
            out.append(
                f'ALTER TABLE "{amap.app_schema}"."{rep.table}" '
                f'ADD COLUMN IF NOT EXISTS "{col.column}" {sqltype} NULL;'
            )
    return out
