"""DDL generated from the map: views over the app's tables and the mirror triggers.

Everything generated here lives in the harness's schema (``loadsim``): views named like
the project's tables, trigger functions, and triggers on the harness's *own* tables. No
trigger, constraint or column is put on an app table by this module (additive columns are
``db.appcheck.additive_ddl``'s, applied only when the user asks).

- A concept with an app table → ``CREATE VIEW loadsim.<concept>`` selecting each harness
  column from its mapped column (auto-updatable while the mapping is plain renames) or
  expression, and ``NULL`` for optional columns the app does not have.
- A concept the app does not have (``table = false``, e.g. ``cart_coupons``) → an empty
  view with no-op ``INSTEAD OF`` triggers, so the harness's cleanup statements still run.
- ``shopping_sessions`` / ``shopping_session_events`` → the harness's own rich tables stay
  the source of truth (its writes rely on ``ON CONFLICT`` over natural keys, which does not
  work through ``INSTEAD OF`` triggers); ``AFTER`` triggers copy each row into the app's
  tables in the same transaction: new sessions (``is_simulated = true``, user from the
  agent), their status changes (only on rows that are simulated), and events (one
  statement per batch, via a transition table; fields without an app column are kept in
  the payload column as JSON).
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from db.appcheck import ConceptReport
from db.appmap import HARNESS_OWNED, HARNESS_SCHEMA, MIRROR_FIELDS, MIRRORED, AppMap, Column

S = HARNESS_SCHEMA
_DIALECT = postgresql.dialect()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _harness_type(concept: str, col: str) -> str:
    from db.models import metadata

    table = metadata.tables[concept]
    if col in table.columns:
        return table.columns[col].type.compile(dialect=_DIALECT)
    return "text"


def view_sql(amap: AppMap, rep: ConceptReport) -> str:
    """The ``SELECT`` of one concept's view (also usable as a subquery before adoption)."""
    concept = amap.concepts[rep.name]
    empty = concept.table is None or rep.table_missing or rep.stand_in
    cols = {} if empty else (rep.columns or concept.columns)
    names = [c.name for c in concept.harness_table.columns]
    parts = []
    for name in names:
        col = cols.get(name, Column(name, absent=True))
        expr = col.select_sql(_q(concept.table or "t"))
        if col.absent:
            expr = f"CAST(NULL AS {_harness_type(rep.name, name)})"
        parts.append(f"{expr} AS {_q(name)}")
    select = ",\n       ".join(parts)
    if empty or concept.table is None:
        return f"SELECT {select}\nWHERE false"
    return f"SELECT {select}\nFROM {_q(amap.app_schema)}.{_q(concept.table)} AS {_q(concept.table)}"


def views_ddl(amap: AppMap, reports: list[ConceptReport]) -> list[str]:
    """``CREATE VIEW`` (after dropping the previous one) for every viewed concept."""
    out = [f"SET LOCAL search_path TO {_q(amap.app_schema)}"]
    for rep in reports:
        if rep.name in MIRRORED or rep.name in HARNESS_OWNED:
            continue
        out.append(f"DROP VIEW IF EXISTS {S}.{_q(rep.name)} CASCADE")
        out.append(f"CREATE VIEW {S}.{_q(rep.name)} AS\n{view_sql(amap, rep)}")
        if amap.concepts[rep.name].table is None or rep.table_missing or rep.stand_in:
            out += _noop_triggers(rep.name)
    return out


def _noop_triggers(name: str) -> list[str]:
    fn = f"{S}.{_q('noop_' + name)}"
    return [
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RETURN NULL; END $$",
        f"CREATE TRIGGER noop INSTEAD OF INSERT OR UPDATE OR DELETE ON {S}.{_q(name)} "
        f"FOR EACH ROW EXECUTE FUNCTION {fn}()",
    ]


def _mirror_pairs(amap: AppMap, rep: ConceptReport) -> list[tuple[str, str]]:
    """``(app column, harness value expression over NEW)`` for the session mirror."""
    pairs = []
    for name, col in rep.columns.items():
        if col.absent or col.column is None or name == "id":
            continue
        if name in MIRROR_FIELDS.get(rep.name, {}):
            value = f"(SELECT a.user_id FROM {S}.agents a WHERE a.id = NEW.agent_id)"
        elif name == "is_simulated":
            value = "true"
        else:
            value = col.write_sql(f"NEW.{_q(name)}")
            if col.money == "dollars":
                value = f"({value} / 100.0)"
        pairs.append((col.column, value))
    return pairs


def mirror_ddl(
    amap: AppMap, reports: list[ConceptReport], app_types: dict[str, dict[str, str]]
) -> list[str]:
    """Trigger functions and triggers copying the harness's sessions/events into the app."""
    by = {r.name: r for r in reports}
    out = [
        f"DROP TRIGGER IF EXISTS mirror_app_ins ON {S}.shopping_sessions",
        f"DROP TRIGGER IF EXISTS mirror_app_upd ON {S}.shopping_sessions",
        f"DROP TRIGGER IF EXISTS mirror_app_ins ON {S}.shopping_session_events",
    ]
    srep, erep = by["shopping_sessions"], by["shopping_session_events"]
    if srep.table_missing or srep.table is None:
        return out
    app = f"{_q(amap.app_schema)}.{_q(srep.table)}"
    sid = amap.concepts["shopping_sessions"].columns["id"].column or "id"
    sid_type = app_types.get(srep.table, {}).get(sid, "bigint")
    pairs = _mirror_pairs(amap, srep)
    cols = ", ".join(_q(c) for c, _ in pairs)
    vals = ", ".join(v for _, v in pairs)
    # Updates carry what changes during a session: never the simulated flag or the user.
    derived = {
        amap.concepts["shopping_sessions"].columns[f].column
        for f in MIRROR_FIELDS["shopping_sessions"]
    }
    sets = ", ".join(f"{_q(c)} = {v}" for c, v in pairs if v != "true" and c not in derived)
    sim = srep.columns.get("is_simulated")
    guard = f" AND {_q(sim.column)}" if sim is not None and sim.column else ""
    out.append(
        f"CREATE OR REPLACE FUNCTION {S}.mirror_session_ins() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "DECLARE app_id text;\nBEGIN\n"
        f"  INSERT INTO {app} ({cols}) VALUES ({vals}) RETURNING CAST({_q(sid)} AS text) INTO app_id;\n"
        f"  INSERT INTO {S}.session_links (session_id, app_session_id) VALUES (NEW.id, app_id);\n"
        "  RETURN NULL;\nEND $$"
    )
    out.append(
        f"CREATE OR REPLACE FUNCTION {S}.mirror_session_upd() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "DECLARE app_id text;\nBEGIN\n"
        f"  SELECT app_session_id INTO app_id FROM {S}.session_links WHERE session_id = NEW.id;\n"
        f"  UPDATE {app} SET {sets}\n"
        f"   WHERE {_q(sid)} = CAST(app_id AS {sid_type}){guard};\n"
        "  RETURN NULL;\nEND $$"
    )
    out.append(
        f"CREATE TRIGGER mirror_app_ins AFTER INSERT ON {S}.shopping_sessions "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.mirror_session_ins()"
    )
    out.append(
        f"CREATE TRIGGER mirror_app_upd AFTER UPDATE ON {S}.shopping_sessions "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.mirror_session_upd()"
    )
    if erep.table_missing or erep.table is None:
        return out
    out += _event_mirror(amap, erep, sid_type)
    return out


def _event_mirror(amap: AppMap, rep: ConceptReport, sid_type: str) -> list[str]:
    app = f"{_q(amap.app_schema)}.{_q(rep.table or '')}"
    cols: list[str] = []
    vals: list[str] = []
    own: set[str] = {"id", "session_id"}
    payload_col: Column | None = None
    for name, col in rep.columns.items():
        if col.absent or col.column is None or name == "id":
            continue
        if name == "payload":
            payload_col = col
            continue
        own.add(name)
        cols.append(_q(col.column))
        if name == "session_id":
            vals.append(f"CAST(l.app_session_id AS {sid_type})")
        elif name == "is_simulated":
            vals.append("true")
        else:
            vals.append(col.write_sql(f"n.{_q(name)}"))
    if payload_col is not None:
        # Lossless: every field without an app column of its own travels in the payload
        # column, the decision's inputs nested under "payload".
        drop = " - ".join(f"'{c}'" for c in sorted(own))
        cols.append(_q(payload_col.column or "payload"))
        vals.append(f"(to_jsonb(n) - {drop})")
    fn = f"{S}.mirror_events_ins"
    return [
        f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"  INSERT INTO {app} ({', '.join(cols)})\n"
        f"  SELECT {', '.join(vals)}\n"
        f"    FROM new_rows n JOIN {S}.session_links l ON l.session_id = n.session_id\n"
        "   ORDER BY n.session_id, n.seq;\n"
        "  RETURN NULL;\nEND $$",
        f"CREATE TRIGGER mirror_app_ins AFTER INSERT ON {S}.shopping_session_events "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
    ]
