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
    CONFLICT_KEYS,
    ESSENTIAL,
    MIRROR_FIELDS,
    MIRRORED,
    PG_FAMILIES,
    REQUIRED,
    SEED_WRITES,
    AppMap,
    Column,
    Concept,
    expected_family,
)


@dataclass(frozen=True)
class Fix:
    """Something the app's table needs before the harness can write to it, and the
    statement that gives it (the harness never runs it: the app's owner does)."""

    what: str
    sql: str
    short: str
    """A few words for the concept table (``unique index on persona_ref``)."""


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
    fixes: list[Fix] = field(default_factory=list)
    """What seeding or recording relies on that the app table lacks (a unique index for an
    ``ON CONFLICT`` target, a default for the key, a nullable column), with the statement."""

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.wrong_type or self.additive or self.table_missing or self.fixes
        )

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
        if self.fixes:
            return "needs a fix"
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


def inspect_concept(conn: Connection, amap: AppMap, name: str) -> ConceptReport:
    """The report of one concept (what :func:`inspect_concepts` says about it)."""
    return _inspect(conn, amap, amap.concepts[name], app_columns(conn, amap.app_schema))


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
    usable = not rep.missing and not rep.wrong_type
    if concept.name in WRITTEN:
        shape = _shape(conn, amap.app_schema, concept.table)
        rep.missing += _unfilled(concept, shape, rep.columns)
        if usable:
            rep.fixes += _key_default(amap, concept, shape, rep.columns)
            rep.fixes += _nullability(amap, concept, shape, rep.columns)
    if usable:
        rep.fixes += _conflict_key(conn, amap, concept, rep.columns, have)
    return rep


WRITTEN = ("users", "agents", *MIRRORED)
"""Concepts the harness inserts rows into (seeding, mirror triggers)."""


@dataclass(frozen=True)
class _AppColumn:
    nullable: bool
    generated: bool
    """Filled by the database when an insert omits it (a default, identity or generated)."""
    data_type: str


def _shape(conn: Connection, schema: str, table: str) -> dict[str, _AppColumn]:
    rows = conn.execute(
        text(
            "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL"
            " OR is_identity = 'YES' OR is_generated <> 'NEVER', data_type"
            " FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"
        ),
        {"s": schema, "t": table},
    ).all()
    return {r[0]: _AppColumn(bool(r[1]), bool(r[2]), str(r[3])) for r in rows}


def _inserted(concept: Concept, columns: dict[str, Column]) -> dict[str, Column]:
    """Harness columns an insert of this concept gives a value (never ``id``: the app's
    database makes the key)."""
    names = SEED_WRITES.get(concept.name)
    out = {}
    for name, col in columns.items():
        if col.absent or col.column is None or name == "id":
            continue
        if names is not None and name not in names:
            continue
        out[name] = col
    return out


def _unfilled(
    concept: Concept, shape: dict[str, _AppColumn], columns: dict[str, Column]
) -> list[str]:
    """App columns a harness insert would leave NULL although they are ``NOT NULL`` without
    a default: every insert would fail, so check says so before a run does."""
    filled = {c.column for c in _inserted(concept, columns).values()}
    key = columns.get("id")
    return [
        f"{name} (app column NOT NULL without a default: map a harness column to it or give it"
        " a default)"
        for name, col in shape.items()
        if not col.nullable and not col.generated and name not in filled
        and not (key is not None and name == key.column)  # _key_default names that one
    ]  # fmt: skip


def _table(amap: AppMap, concept: Concept) -> str:
    return f'"{amap.app_schema}"."{concept.table}"'


def _key_default(
    amap: AppMap, concept: Concept, shape: dict[str, _AppColumn], columns: dict[str, Column]
) -> list[Fix]:
    """The app's key column must fill itself: every harness insert leaves it out."""
    key = columns.get("id")
    if key is None or key.column is None or key.absent:
        return []
    col = shape.get(key.column)
    if col is None or col.generated:
        return []
    if col.data_type == "uuid":
        how = f'ALTER TABLE {_table(amap, concept)} ALTER COLUMN "{key.column}" SET DEFAULT gen_random_uuid();'
    else:
        how = f'ALTER TABLE {_table(amap, concept)} ALTER COLUMN "{key.column}" ADD GENERATED BY DEFAULT AS IDENTITY;'
    return [
        Fix(
            f"{concept.name}.id: {amap.app_schema}.{concept.table}.{key.column} has no default "
            "and the harness inserts rows without a key",
            how,
            f"a default on {key.column}",
        )
    ]


_NEVER_NULL = {("shopping_session_events", "payload")}
"""Mirrored fields the trigger always fills although the harness column is nullable."""


def _nullability(
    amap: AppMap, concept: Concept, shape: dict[str, _AppColumn], columns: dict[str, Column]
) -> list[Fix]:
    """A mirrored harness column that may be NULL (a session's end, an event's product)
    copied into an app column that is ``NOT NULL``: that mirror insert would fail."""
    if concept.name not in MIRRORED:
        return []
    out = []
    model = concept.harness_table.columns
    for name, col in _inserted(concept, columns).items():
        if name not in model or not model[name].nullable or (concept.name, name) in _NEVER_NULL:
            continue
        if name in MIRROR_FIELDS.get(concept.name, {}):
            continue
        app = shape.get(col.column or "")
        if app is None or app.nullable:
            continue
        out.append(
            Fix(
                f"{concept.name}.{name}: the harness writes NULL there at times (e.g. before it "
                f"is known); {amap.app_schema}.{concept.table}.{col.column} is NOT NULL "
                f"(or map {name} = false)",
                f'ALTER TABLE {_table(amap, concept)} ALTER COLUMN "{col.column}" DROP NOT NULL;',
                f"nullable {col.column}",
            )
        )
    return out


def _conflict_key(
    conn: Connection,
    amap: AppMap,
    concept: Concept,
    columns: dict[str, Column],
    have: dict[str, str],
) -> list[Fix]:
    """Seeding upserts by a natural key (``INSERT … ON CONFLICT (key)``): Postgres needs a
    unique index on exactly that app column, else every seed fails."""
    if concept.name not in CONFLICT_KEYS:
        return []
    key, command = CONFLICT_KEYS[concept.name]
    if concept.name not in SEED_WRITES:
        # The catalog is seeded only where its rows can be marked simulated.
        flag = columns.get("is_simulated")
        if flag is None or flag.column is None or flag.absent or flag.column not in have:
            return []
    col = columns.get(key)
    if col is None or col.absent or col.column is None or col.column not in have:
        return []
    if unique_index_on(conn, amap.app_schema, concept.table or "", col.column):
        return []
    dupes = conn.execute(
        text(
            f'SELECT count(*) FROM (SELECT 1 FROM {_table(amap, concept)} WHERE "{col.column}"'
            f' IS NOT NULL GROUP BY "{col.column}" HAVING count(*) > 1) d'
        )
    ).scalar_one()
    first = f" ({dupes} values are used twice today: resolve them first)" if dupes else ""
    return [
        Fix(
            f"{concept.name}.{key}: `{command}` upserts by it (INSERT … ON CONFLICT), and "
            f"{amap.app_schema}.{concept.table}.{col.column} has no unique index{first}",
            f'CREATE UNIQUE INDEX "{concept.table}_{col.column}_key" ON '
            f'{_table(amap, concept)} ("{col.column}");',
            f"a unique index on {col.column}",
        )
    ]


def unique_index_on(conn: Connection, schema: str, table: str, column: str) -> bool:
    """Whether ``INSERT … ON CONFLICT (column)`` has an arbiter: a valid, immediate,
    non-partial unique index (or constraint) on exactly that one column."""
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_index i"
                " JOIN pg_class t ON t.oid = i.indrelid"
                " JOIN pg_namespace n ON n.oid = t.relnamespace"
                " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = :c"
                " WHERE n.nspname = :s AND t.relname = :t AND i.indisunique AND i.indimmediate"
                " AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL"
                " AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum)"
            ),
            {"s": schema, "t": table, "c": column},
        ).scalar()
    )


def _try_expression(conn: Connection, amap: AppMap, concept: Concept, col: Column) -> str | None:
    """Run the expression over the app table with ``LIMIT 0``; the first error line."""
    sql = (
        f"SELECT {col.select_sql(concept.table or 't')} FROM "
        f'"{amap.app_schema}"."{concept.table}" AS "{concept.table}" LIMIT 0'
    )
    sp = conn.begin_nested()
    try:
        # The owner's expression runs READ ONLY: a check (or `--sql`, a preview) can never
        # change anything, whatever the expression calls.
        conn.exec_driver_sql("SET LOCAL transaction_read_only = on")
        conn.exec_driver_sql(f'SET LOCAL search_path TO "{amap.app_schema}"')
        conn.exec_driver_sql(sql)
    except DBAPIError as exc:
        sp.rollback()
        return str(getattr(exc, "orig", exc)).splitlines()[0]
    sp.rollback()
    return None


def additive_ddl(amap: AppMap, reports: list[ConceptReport]) -> list[str]:
    """``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` for each additive column the app lacks:
    nullable, no default or a constant one, so the statement never rewrites the table or
    holds its lock for long."""
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
