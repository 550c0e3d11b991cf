"""Bulk upsert by natural key that only ever touches simulated rows.

Used by catalog and persona seeding. One ``INSERT … ON CONFLICT DO UPDATE … WHERE`` per
chunk: the ``WHERE`` keeps non-simulated rows untouched and skips rows whose values did not
change, so re-seeding reports *unchanged* instead of rewriting every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, MetaData, Table, and_, literal_column, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.errors import ConfigError

CHUNK = 1000
"""Rows per statement: keeps the bind parameters far below Postgres's 65,535 limit."""


@dataclass(frozen=True)
class UpsertCounts:
    """What one upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def refuse_foreign_keys(
    conn: Connection, *, table: Table, key: str, values: Sequence[Any], flag: str = "is_simulated"
) -> None:
    """Raise ``ConfigError`` (exit 2) if any natural key already belongs to a row that is
    not simulated: seeding must never take over (or silently skip) a real row."""
    clash: list[Any] = []
    for i in range(0, len(values), CHUNK):
        part = list(values[i : i + CHUNK])
        clash += conn.execute(
            select(table.c[key]).where(table.c[key].in_(part), ~table.c[flag]).limit(10)
        ).scalars().all()  # fmt: skip
        if len(clash) >= 10:
            break
    if clash:
        shown = ", ".join(repr(v) for v in clash[:10])
        raise ConfigError(
            f"{table.name}.{key} already used by rows that are not simulated: {shown}; "
            "refusing to modify them (rename the simulated keys)"
        )


def upsert(
    conn: Connection,
    *,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: str,
    update: Sequence[str],
    flag: str = "is_simulated",
    also_set: dict[str, Any] | None = None,
) -> UpsertCounts:
    """Insert ``rows`` or update the simulated rows with the same ``key``.

    Args:
        conn: an open connection; the caller owns the transaction.
        table: the target table.
        rows: column dicts, each with ``key`` and every column in ``update``.
        key: the unique natural-key column.
        update: columns rewritten on conflict (only when one of them differs).
        flag: the column that marks a row simulated.
        also_set: extra assignments made only when a row is updated (``updated_at``).

    Returns:
        Counts of inserted, updated and unchanged rows.
    """
    if not rows:
        return UpsertCounts()
    writable = _view_writable(conn, table.name)
    if writable is not None:
        return _upsert_view(conn, table=table, rows=rows, key=key, update=update, flag=flag,
                            also_set=also_set, writable=writable)  # fmt: skip
    # One compiled statement run as executemany: SQLAlchemy's "insertmanyvalues" batches
    # the rows into multi-row VALUES itself (compiling a 1,000-row VALUES clause per chunk
    # cost more than the database work).
    ins = pg_insert(table)
    current = tuple_(*(table.c[c] for c in update))
    proposed = tuple_(*(ins.excluded[c] for c in update))
    stmt: Any = ins.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={**{c: ins.excluded[c] for c in update}, **(also_set or {})},
        where=and_(table.c[flag], current.is_distinct_from(proposed)),
    ).returning(literal_column(f"({table.name}.xmax = 0)").label("inserted"))
    inserted = updated = 0
    for i in range(0, len(rows), CHUNK):
        for (was_insert,) in conn.execute(stmt, list(rows[i : i + CHUNK])):
            if was_insert:
                inserted += 1
            else:
                updated += 1
    return UpsertCounts(inserted, updated, len(rows) - inserted - updated)


def _view_writable(conn: Connection, name: str) -> set[str] | None:
    """The writable columns when ``name`` resolves to a view (an adopted database: the map's
    view over the owner's table, ``db.appviews``); ``None`` for a plain table."""
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:n)"), {"n": name}
    ).scalar()
    if kind != "v":
        return None
    return set(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :n"
                " AND is_updatable = 'YES' AND table_schema ="
                " (SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass(:n))"
            ),
            {"n": name},
        ).scalars()
    )


def _upsert_view(
    conn: Connection,
    *,
    table: Table,
    rows: Sequence[dict[str, Any]],
    key: str,
    update: Sequence[str],
    flag: str,
    also_set: dict[str, Any] | None,
    writable: set[str],
) -> UpsertCounts:
    """``upsert`` through an auto-updatable view: Postgres carries ``ON CONFLICT`` onto the
    app table, but the view has no ``xmax`` and some harness columns are derived (read-only)
    or absent there — those are left out, and inserted/updated are told apart by which keys
    existed before."""
    # The view's own column types (an owner's uuid ids), not the project's model types.
    schema = conn.execute(
        text("SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = to_regclass(:n)"),
        {"n": table.name},
    ).scalar_one()
    table = Table(table.name, MetaData(), autoload_with=conn, schema=schema)
    from db.adopt import adopted_report

    rep = adopted_report(conn, table.name)
    absent = set() if rep is None else {n for n, c in rep.columns.items() if c.absent}
    lacking = sorted((absent & {key, flag}) | ({key} - writable))
    if lacking:
        raise ConfigError(
            f"{table.name}: seeding would write rows that could not be told from your real "
            f"ones — the adopted map gives it no {' / '.join(lacking)} column; nothing was "
            f"written (the harness uses your {table.name} as they are)"
        )
    if rep is not None and rep.fixes:
        # Named before the first INSERT, as `loadsim db check` names it: without it Postgres
        # refuses the upsert ("no unique or exclusion constraint matching the ON CONFLICT").
        fix = rep.fixes[0]
        raise ConfigError(f"{fix.what}: run `{fix.sql}` first; nothing was written")
    cols = [c for c in rows[0] if c in writable]
    upd = [c for c in update if c in writable]
    extra = {k: v for k, v in (also_set or {}).items() if k in writable}
    ins = pg_insert(table)
    stmt: Any
    if upd:
        current = tuple_(*(table.c[c] for c in upd))
        proposed = tuple_(*(ins.excluded[c] for c in upd))
        stmt = ins.on_conflict_do_update(
            index_elements=[table.c[key]],
            set_={**{c: ins.excluded[c] for c in upd}, **extra},
            where=and_(table.c[flag], current.is_distinct_from(proposed)),
        )
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=[table.c[key]])
    stmt = stmt.returning(table.c[key])
    inserted = updated = 0
    for i in range(0, len(rows), CHUNK):
        part = [{c: r[c] for c in cols} for r in rows[i : i + CHUNK]]
        keys = [r[key] for r in part]
        existed = set(conn.execute(select(table.c[key]).where(table.c[key].in_(keys))).scalars())
        for (k,) in conn.execute(stmt, part):
            if k in existed:
                updated += 1
            else:
                inserted += 1
    return UpsertCounts(inserted, updated, len(rows) - inserted - updated)
