"""One declared map between the harness and the app's tables (docs/ARCHITECTURE.md, owner's map).

Why a map, and why views. The harness's SQL (recorder, director, pool, catalog cache,
seeding, reports) is written against one shape: the project's own schema (``db.models``).
An owner's database made by the app's own migrations names things differently (uuid user
ids, ``title`` for a product's name, the coupon kind in ``type``, events as ``event_name``
+ ``properties``). Rather than threading a map through every query, the map *generates*
one view per app concept in the harness's own schema (``loadsim``), named like the project's
table and exposing the project's column names; every harness transaction runs with
``SET LOCAL search_path TO loadsim, public`` (``db.search_path``), so the same SQL reads the
owner's tables. Simple renames keep the view auto-updatable (Postgres rewrites the write
onto the app table); expressions are read-only columns.

Where a view cannot carry the harness's writes — sessions and events use ``ON CONFLICT``
on natural keys that the owner's tables do not have, and ``ON CONFLICT`` does not work
through ``INSTEAD OF`` triggers — the harness keeps its own rich ``shopping_sessions`` /
``shopping_session_events`` in ``loadsim`` as the source of truth, and generated ``AFTER``
triggers mirror each row, in the same transaction, into the app's tables through the map
(``db.appviews``). Those app rows are marked simulated. The only other writes to app
tables are the harness's own simulated rows through the views (seeded users and agents,
their cart rows cleared at start-up); a concept without a simulated marker (the owner's
catalog) is never seeded.

Decided:
- The embedded default keeps its layout (every table in ``public``, one alembic history):
  the project's migrations made all of it and no app history exists to collide with; the
  same SQL serves both layouts through ``search_path``.
- The map is stored at adoption (``loadsim.adoption``): runs need no map file, and
  ``loadsim db check --map FILE`` says when a file differs from what was adopted.
- The app's time columns receive *simulated* time (its ML data lives there); real times
  travel in the event payload column.
- Only user and session ids may be uuid: the harness keys agent hours, leases, catalog
  and events by integer agent/product ids.
- The project's offer engine never runs on an adopted database (the app has its own).

The default map is the identity over today's schema (the embedded default needs no views:
the project's migrations created the app tables in that shape). The owner overrides it in
a TOML file, section ``[db.map]`` (other sections of the same file belong to other parts of
the harness and are not read here)::

    [db.map]
    app_schema = "public"

    [db.map.users]
    id_type = "uuid"                     # bigint (default) | uuid
    [db.map.users.columns]
    full_name = "display_name"           # harness column = app column
    [db.map.products.columns]
    name = "title"
    price_cents = { column = "price", money = "dollars" }   # numeric dollars -> cents
    sku = { sql = "'p' || id" }          # read-only expression over the app row
    [db.map.coupons.columns]
    kind = { column = "type", values = { storewide = "frontstore", targeted = "category_brand" } }
    is_simulated = false                 # the app has no such column

``values`` translates the app's words for what the harness reads as words (a coupon's kind):
``loadsim db check`` lists the values it finds against the ones the harness knows.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Table
from sqlalchemy.dialects.postgresql import JSONB

from db import owner_file
from db.errors import ConfigError
from db.models import metadata

HARNESS_SCHEMA = "loadsim"
"""The harness's own Postgres schema on an adopted database."""

CONCEPTS = (
    "users", "agents", "stores", "products", "coupons", "user_coupons", "cart_items",
    "cart_coupons", "orders", "order_items", "offer_cycles", "user_offer_cycles",
    "simulation_state", "shopping_sessions", "shopping_session_events",
)  # fmt: skip
"""Every app table the harness reaches, by its name in the project's own schema."""

MIRRORED = ("shopping_sessions", "shopping_session_events")
"""Concepts the harness writes into its own rich tables and mirrors into the app's."""

HARNESS_OWNED = ("simulation_state",)
"""Concepts whose harness meaning differs from the app's (the harness's per-run clock):
on an adopted database the harness keeps its own table and only checks the app's."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "is_simulated"),
    "agents": ("id", "user_id", "persona_id", "status", "is_simulated", "persona"),
    "stores": ("id", "code", "name"),
    "products": ("id", "store_id", "name", "category", "brand", "price_cents"),
    "coupons": ("id", "kind", "discount_type", "discount_value", "is_active"),
    "user_coupons": ("id", "user_id", "coupon_id", "status"),
    "cart_items": ("user_id", "product_id", "quantity"),
    "cart_coupons": (),
    "orders": ("id", "user_id", "is_simulated"),
    "order_items": ("order_id", "product_id", "quantity"),
    "offer_cycles": ("id", "cycle_number"),
    "user_offer_cycles": ("user_id",),
    "simulation_state": (),
    "shopping_sessions": ("id", "agent_id", "status", "is_simulated"),
    "shopping_session_events": ("session_id", "event_type"),
}
"""Columns without which the harness cannot work on that concept (check says *missing*)."""

ESSENTIAL = ("users", "agents", "stores", "products", "shopping_sessions")
"""Concepts a map may not declare absent (``table = false``): the harness's agents, catalog
and sessions live there. Any other concept may be absent: an empty view stands in (and
events absent from the app stay only in ``loadsim``)."""

ADDITIVE: dict[str, dict[str, str]] = {
    "shopping_sessions": {
        "run_id": "text",
        "is_replay": "boolean",
        "is_simulated": "boolean DEFAULT false",
    },
}
"""Nullable columns the harness may add to an app table — only when the user asks
(``loadsim db adopt``); the owner's ML tables rely on them. ``is_simulated`` has a constant
default (Postgres 11+ keeps it in the catalog: no table rewrite) so the app's own rows,
old and new, read ``false``; the mirror writes ``true``."""

CONFLICT_KEYS: dict[str, tuple[str, str]] = {
    "users": ("email", "loadsim personas seed"),
    "agents": ("persona_id", "loadsim personas seed"),
    "stores": ("code", "loadsim catalog seed"),
    "products": ("sku", "loadsim catalog seed"),
    "coupons": ("code", "loadsim catalog seed"),
}
"""The natural key each seeding upsert names in ``ON CONFLICT (…)`` and the command that
does it: the app column it maps to needs a unique index of its own (``db.appcheck``)."""

SEED_WRITES: dict[str, tuple[str, ...]] = {
    "users": ("email", "full_name", "is_simulated"),
    "agents": ("persona_id", "user_id", "status", "is_simulated", "persona", "persona_hash"),
}
"""Harness columns a persona seed inserts (through the map's views); every other column of
the app row is left to its default. Mirrored concepts insert every mapped column but ``id``."""

KNOWN_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("coupons", "kind"): ("frontstore", "category_brand"),
}
"""Columns whose values the harness reads as words: an app that says them in its own words
maps them with ``{ column = "…", values = { app_word = "harness_word" } }``."""

MIRROR_FIELDS: dict[str, dict[str, str]] = {
    "shopping_sessions": {"user_id": "id"},
}
"""Fields of a mirrored app row that the harness's own row does not carry (derived in the
trigger: a session's user is its agent's user)."""

USER_ID_COLUMNS = {"user_id"}
"""Columns holding a user id: their type follows ``users.id_type``."""

UUID_OK = ("users", "shopping_sessions")
"""Concepts whose ids may be uuid (``id_type``); every other id is an integer."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MONEY = ("cents", "dollars")
_ID_TYPES = ("bigint", "uuid")


@dataclass(frozen=True)
class Column:
    """How one harness column is found in the app table.

    Exactly one of ``column`` (a plain, writable column), ``sql`` (a read-only expression
    over the app row) or ``absent`` (the app has nothing: NULL in the view).
    """

    name: str
    column: str | None = None
    sql: str | None = None
    money: str = "cents"
    absent: bool = False
    values: tuple[tuple[str, str], ...] = ()
    """``(app value, harness value)`` pairs: the view translates them (others pass as
    they are) and the mirror translates back; such a column is read-only in a view."""

    def select_sql(self, alias: str) -> str:
        """The expression the view selects for this column."""
        if self.absent:
            return "NULL"
        if self.sql is not None:
            return f"({self.sql})"
        ref = f'{alias}."{self.column}"'
        if self.money == "dollars":
            return f"CAST(round({ref} * 100) AS integer)"
        if self.values:
            return _case(ref, self.values)
        return ref

    def write_sql(self, value: str) -> str:
        """``value`` (a harness value) as the app stores it (the mirror's direction)."""
        if self.values:
            return _case(value, tuple((h, a) for a, h in self.values))
        return value

    @property
    def writable(self) -> bool:
        return self.column is not None and self.money == "cents" and not self.values

    def describe(self) -> str:
        if self.absent:
            return f"{self.name}: (none)"
        if self.sql is not None:
            return f"{self.name} = {self.sql}"
        conv = " (dollars -> cents)" if self.money == "dollars" else ""
        if self.values:
            conv = " (" + ", ".join(f"{a} -> {h}" for a, h in self.values) + ")"
        same = self.column == self.name
        return f"{self.name}{'' if same else ' <- ' + str(self.column)}{conv}"


@dataclass(frozen=True)
class Concept:
    """One app concept: the app table and each harness column's source."""

    name: str
    table: str | None
    """The app table (``None``: the app has no such table — an empty view stands in)."""
    columns: dict[str, Column]
    id_type: str = "bigint"

    @property
    def harness_table(self) -> Table:
        return metadata.tables[self.name]


@dataclass(frozen=True)
class AppMap:
    """The whole map: the app's schema and one :class:`Concept` per name in ``CONCEPTS``."""

    app_schema: str
    concepts: dict[str, Concept]
    source: str = "default"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id_type(self) -> str:
        return self.concepts["users"].id_type

    def qualified(self, concept: str) -> str | None:
        c = self.concepts[concept]
        return None if c.table is None else f'"{self.app_schema}"."{c.table}"'

    def fingerprint(self) -> str:
        """Stable hash of the map's content: stored at adoption, compared by ``check``."""
        blob = json.dumps(self.raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def is_default(self) -> bool:
        return not self.raw


def default_map() -> AppMap:
    """Today's schema: every concept its own table, every column its own name."""
    return build_map({}, source="default")


def load_map(path: str | Path | None) -> AppMap:
    """Read ``[db.map]`` of a TOML file (``None`` → the default map; the caller decides
    whether ``$LOADSIM_MAP`` applies, see ``harness.cli.commands.db_map``).

    Raises:
        ConfigError: the file is missing or unreadable, or the section names an unknown
            concept/column or a bad value (the message names the file and the key).
    """
    if path is None:
        return default_map()
    return map_of(owner_file.read(path))


def map_of(f: owner_file.OwnerFile) -> AppMap:
    """The ``[db.map]`` of an already read owner file (``db.owner_file``).

    Raises:
        ConfigError: the file has no ``[db.map]``, or it is invalid (names file and key).
    """
    section = f.section("db.map")
    if section is None:
        raise ConfigError(f"{f.path}: no [db.map] section (see README, 'Your database')")
    if not isinstance(section, dict):
        raise ConfigError(f"{f.path}: [db.map] must be a table")
    return build_map(section, source=str(f.path))


def build_map(section: dict[str, Any], *, source: str) -> AppMap:
    """Validate a ``[db.map]`` dict into an :class:`AppMap` (errors name ``source``)."""

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: [db.map] {key}: {why}")

    app_schema = section.get("app_schema", "public")
    if not isinstance(app_schema, str) or not _IDENT.match(app_schema):
        raise bad("app_schema", f"not a plain identifier: {app_schema!r}")
    if app_schema == HARNESS_SCHEMA:
        raise bad("app_schema", f"{HARNESS_SCHEMA!r} is the harness's own schema")
    unknown = sorted(k for k in section if k != "app_schema" and k not in CONCEPTS)
    if unknown:
        raise bad(unknown[0], f"unknown concept; known: {', '.join(CONCEPTS)}")
    concepts: dict[str, Concept] = {}
    for name in CONCEPTS:
        spec = section.get(name, {})
        if not isinstance(spec, dict):
            raise bad(name, "must be a table")
        extra = sorted(set(spec) - {"table", "id_type", "columns"})
        if extra:
            raise bad(f"{name}.{extra[0]}", "unknown key (table, id_type, columns)")
        table = spec.get("table", name)
        if table is not False and (not isinstance(table, str) or not _IDENT.match(table)):
            raise bad(f"{name}.table", f"not a plain identifier (or false): {table!r}")
        id_type = spec.get("id_type", "bigint")
        if id_type not in _ID_TYPES:
            raise bad(f"{name}.id_type", f"{id_type!r} is not one of {', '.join(_ID_TYPES)}")
        if id_type == "uuid" and name not in UUID_OK:
            # The harness keys its own rows (agent hours, leases, events) and its catalog
            # by integer ids of these; only user ids travel through it opaquely.
            raise bad(f"{name}.id_type", f"uuid ids are supported for {', '.join(UUID_OK)} only")
        cols_spec = spec.get("columns", {})
        if not isinstance(cols_spec, dict):
            raise bad(f"{name}.columns", "must be a table")
        harness_cols = [c.name for c in metadata.tables[name].columns]
        allowed = set(harness_cols) | set(ADDITIVE.get(name, {})) | set(MIRROR_FIELDS.get(name, {}))
        for key in cols_spec:
            if key not in allowed:
                raise bad(
                    f"{name}.columns.{key}", f"unknown column; known: {', '.join(sorted(allowed))}"
                )
        columns = {
            col: _column(col, cols_spec.get(col, col), bad=lambda k, w, n=name: bad(f"{n}.columns.{k}", w))
            for col in [*harness_cols, *(c for c in allowed if c not in harness_cols)]
        }  # fmt: skip
        concepts[name] = Concept(
            name=name, table=None if table is False else table, columns=columns, id_type=id_type
        )
    return AppMap(app_schema=app_schema, concepts=concepts, source=source, raw=section)


def _column(name: str, spec: Any, *, bad: Any) -> Column:
    if spec is False:
        return Column(name, absent=True)
    if isinstance(spec, str):
        if not _IDENT.match(spec):
            raise bad(name, f"not a plain column name: {spec!r} (use {{ sql = ... }})")
        return Column(name, column=spec)
    if isinstance(spec, dict):
        extra = sorted(set(spec) - {"column", "sql", "money", "values"})
        if extra:
            raise bad(name, f"unknown key {extra[0]!r} (column, sql, money, values)")
        if ("column" in spec) == ("sql" in spec):
            raise bad(name, "give exactly one of column = ... or sql = ...")
        money = spec.get("money", "cents")
        if money not in _MONEY:
            raise bad(name, f"money {money!r} is not one of {', '.join(_MONEY)}")
        if "sql" in spec:
            if "values" in spec:
                raise bad(name, "values = ... goes with column = ..., not with sql = ...")
            sql = spec["sql"]
            if not isinstance(sql, str) or not sql.strip() or ";" in sql:
                raise bad(name, "sql must be one expression (no ';')")
            return Column(name, sql=sql.strip())
        col = spec["column"]
        if not isinstance(col, str) or not _IDENT.match(col):
            raise bad(name, f"not a plain column name: {col!r}")
        values = _values(spec.get("values", {}), name=name, bad=bad)
        if values and money != "cents":
            raise bad(name, "values = ... and money = ... do not go together")
        return Column(name, column=col, money=money, values=values)
    raise bad(name, f"expected a column name, false, or a table; got {spec!r}")


def _values(spec: Any, *, name: str, bad: Any) -> tuple[tuple[str, str], ...]:
    """``values = { app = "harness", … }`` as pairs (each side a non-empty string)."""
    if not isinstance(spec, dict):
        raise bad(name, 'values must be a table: { app_value = "harness_value", ... }')
    out = []
    for app, harness in spec.items():
        if not isinstance(harness, str) or not harness or not str(app):
            raise bad(name, f"values.{app}: expected a non-empty string, got {harness!r}")
        out.append((str(app), harness))
    return tuple(out)


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _case(ref: str, pairs: tuple[tuple[str, str], ...]) -> str:
    """``CASE ref WHEN 'a' THEN 'b' … ELSE ref END`` (values not listed pass unchanged)."""
    whens = " ".join(f"WHEN {quote_literal(a)} THEN {quote_literal(b)}" for a, b in pairs)
    return f"CASE {ref} {whens} ELSE {ref} END"


def type_family(sqltype: Any) -> str:
    """The harness-side family of a column type, for *wrong type* checks."""
    if isinstance(sqltype, JSONB):
        return "json"
    if isinstance(sqltype, Boolean):
        return "bool"
    if isinstance(sqltype, DateTime):
        return "time"
    if isinstance(sqltype, Float):
        return "number"
    if isinstance(sqltype, Integer):
        return "int"
    if isinstance(sqltype, String):
        return "text"
    return "any"


PG_FAMILIES = {
    "json": {"jsonb", "json"},
    "bool": {"boolean"},
    "time": {"timestamp with time zone", "timestamp without time zone", "date"},
    "number": {"double precision", "real", "numeric", "integer", "bigint", "smallint"},
    "int": {"integer", "bigint", "smallint"},
    "text": {"text", "character varying", "character", "USER-DEFINED"},
    "uuid": {"uuid"},
    "money_dollars": {"numeric", "double precision", "real", "money"},
    "any": set(),
}
"""Postgres ``information_schema.columns.data_type`` values accepted per family."""


def expected_family(concept: Concept, col: Column, amap: AppMap) -> str:
    """What type the app column must have for this harness column."""
    if col.money == "dollars":
        return "money_dollars"
    if col.name == "id" and concept.name != "simulation_state":
        return "uuid" if concept.id_type == "uuid" else "int"
    if col.name in USER_ID_COLUMNS and amap.user_id_type == "uuid":
        return "uuid"
    extra = ADDITIVE.get(concept.name, {}).get(col.name) or MIRROR_FIELDS.get(concept.name, {}).get(
        col.name
    )
    if extra is not None:
        return {"text": "text", "boolean": "bool"}.get(extra.split()[0], "int")
    if col.name in concept.harness_table.columns:
        return type_family(concept.harness_table.columns[col.name].type)
    return "any"
