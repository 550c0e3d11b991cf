"""Stream one run's rows from the database into ``runs/<run_id>/dataset/``.

Every file is read with a server-side cursor and written one Parquet row group per
batch, so memory is bounded by the batch, not the run. All files are read in one
``REPEATABLE READ`` transaction (one snapshot: counts agree across files) and written
into a temporary directory renamed to ``dataset/`` at the end — nothing partial is left.

The queries use the tables' names unqualified, as the reports do, so an adopted owner's
database (the harness's views over the owner's tables on the search path) works alike.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, text

from personas.model import PERSONA_FIELDS, Persona
from reports.dataset import schema as S
from reports.dataset.split import (
    SPLIT_MODES,
    Provenance,
    persona_split,
    read_provenance,
    time_cutoff,
)

log = logging.getLogger("loadsim")

DATASET_DIR = "dataset"
BATCH_ROWS = 5_000
"""Rows per fetch from the server-side cursor (Python objects: the memory that counts)."""
ROW_GROUP_ROWS = 100_000
"""Rows per Parquet row group (collected as Arrow batches, compact, until written)."""


@dataclass
class DatasetResult:
    """What was written: rows per file, the directory, the options."""

    path: Path
    counts: dict[str, int]
    split: str
    generator: bool
    seconds: float = 0.0
    columns: dict[str, list[str]] = field(default_factory=dict)
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ SQL


def _payload_expr(k: S.PayloadKey) -> str:
    v = f"e.payload->'{k.key}'"
    is_ = f"jsonb_typeof({v})"
    if k.kind == "number_int":
        return f"CASE WHEN {is_} = 'number' THEN round(({v})::numeric)::int8 END"
    if k.kind == "number_float":
        return f"CASE WHEN {is_} = 'number' THEN ({v})::float8 END"
    if k.kind == "bool":
        return f"CASE WHEN {is_} = 'boolean' THEN ({v})::boolean END"
    if k.kind == "string":
        return f"CASE WHEN {is_} = 'string' THEN e.payload->>'{k.key}' END"
    if k.kind == "string_list":
        return (
            f"CASE WHEN {is_} = 'array' THEN ARRAY(SELECT x #>> '{{}}' FROM "
            f"jsonb_array_elements({v}) WITH ORDINALITY AS o(x, i) ORDER BY i) END"
        )
    assert k.kind == "pairs", k.kind
    return (
        f"CASE WHEN {is_} = 'array' THEN ARRAY("
        f"SELECT CASE WHEN jsonb_typeof(x) = 'number' THEN round(x::numeric)::int8 END "
        f"FROM jsonb_array_elements({v}) WITH ORDINALITY AS o(p, i), "
        "jsonb_array_elements(CASE WHEN jsonb_typeof(o.p) = 'array' THEN o.p "
        "ELSE jsonb_build_array(o.p) END) WITH ORDINALITY AS q(x, j) ORDER BY i, j) END"
    )


def _events_sql(arm: bool) -> str:
    known = ", ".join(f"'{k.key}'" for k in S.PAYLOAD_KEYS)
    payload = ",\n  ".join(_payload_expr(k) for k in S.PAYLOAD_KEYS)
    return f"""
SELECT e.run_id, e.session_id, e.seq, e.agent_id, a.persona_id, e.event_type, e.sim_time,
  e.real_time, e.product_id, e.user_coupon_id, e.quantity, e.price_cents, e.is_replay,
  s.sim_hour, s.kind, s.status,
  {payload},
  (CASE WHEN jsonb_typeof(e.payload) = 'object'
        THEN NULLIF(e.payload - ARRAY[{known}]::text[], '{{}}'::jsonb)
        ELSE e.payload END)::text
  {", s.arm" if arm else ""}
FROM shopping_session_events e
LEFT JOIN shopping_sessions s ON s.id = e.session_id
LEFT JOIN agents a ON a.id = e.agent_id
WHERE e.run_id = :run_id
ORDER BY e.session_id, e.seq
"""


def _sessions_sql(arm: bool) -> str:
    return f"""
SELECT s.run_id, s.id, s.agent_id, a.persona_id, s.sim_hour, s.kind, s.status,
  s.abandon_reason, s.started_sim_at, s.ended_sim_at, s.started_at, s.ended_at, s.order_id,
  s.item_count, s.cart_value_cents, s.discount_cents, s.coupon_applied, s.is_replay
  {", s.arm" if arm else ""}
FROM shopping_sessions s
LEFT JOIN agents a ON a.id = s.agent_id
WHERE s.run_id = :run_id
ORDER BY s.id
"""


def _orders_sql(arm: bool) -> str:
    return f"""
SELECT s.run_id, o.id, s.id, s.agent_id, a.persona_id, s.sim_hour, o.status,
  o.subtotal_cents, o.discount_cents, o.total_cents, o.user_coupon_id, o.simulated_at,
  o.created_at, s.is_replay,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
       'product_id', oi.product_id, 'quantity', oi.quantity,
       'unit_price_cents', oi.unit_price_cents, 'category', p.category, 'brand', p.brand)
     ORDER BY oi.id), '[]'::jsonb)
   FROM order_items oi LEFT JOIN products p ON p.id = oi.product_id
   WHERE oi.order_id = o.id)
  {", s.arm" if arm else ""}
FROM shopping_sessions s
JOIN orders o ON o.id = s.order_id
LEFT JOIN agents a ON a.id = s.agent_id
WHERE s.run_id = :run_id AND o.is_simulated IS TRUE
ORDER BY o.id
"""


def _hours_sql(arm: bool) -> str:
    return f"""
SELECT h.run_id, h.agent_id, a.persona_id, h.sim_hour,
  CAST(:sim_start AS timestamptz) + h.sim_hour * interval '1 hour',
  h.decision, h.outcome, h.session_id, h.error_kind, h.slip_seconds, h.worker, h.is_replay,
  h.created_at, h.finished_at
  {", x.arm" if arm else ""}
FROM agent_hours h
LEFT JOIN agents a ON a.id = h.agent_id
{_ASSIGNED.format(col="h.agent_id") if arm else ""}
WHERE h.run_id = :run_id
ORDER BY h.sim_hour, h.agent_id
"""


_ASSIGNED = "LEFT JOIN experiment_assignments x ON x.run_id = :run_id AND x.agent_id = {col}"
_AGENTS_SQL = """
SELECT {cols} {arm}
FROM agents a
{join}
WHERE a.id IN (SELECT agent_id FROM agent_hours WHERE run_id = :run_id
               UNION SELECT agent_id FROM shopping_sessions WHERE run_id = :run_id)
ORDER BY a.id
"""


def _has_table(conn: Connection, table: str) -> bool:
    """Whether ``table`` resolves on the search path (a database migrated before a
    table existed, or an adopted one, may lack it)."""
    return conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar() is True


def _has_column(conn: Connection, table: str, column: str) -> bool:
    """Whether ``table`` (as the search path resolves it) has ``column``."""
    return column in conn.execute(text(f"SELECT * FROM {table} LIMIT 0")).keys()


# ------------------------------------------------------------------ writing


class _File:
    """One Parquet file written a row group at a time."""

    def __init__(self, path: Path, cols: Sequence[S.Col], keep: Callable[[S.Col], bool]):
        self.cols = list(cols)
        self.keep = [i for i, c in enumerate(self.cols) if keep(c)]
        self.schema = pa.schema([(self.cols[i].name, self.cols[i].type) for i in self.keep])
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, columns: list[Sequence[Any]]) -> None:
        arrays = [pa.array(columns[i], type=self.cols[i].type) for i in self.keep]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self.writer.write_table(table, row_group_size=max(1, self._pending_rows))
        self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.writer.close()


def _stream(
    conn: Connection,
    sql: str,
    params: dict[str, Any],
    out: _File,
    *,
    extra: Callable[[list[Sequence[Any]]], list[Sequence[Any]]] | None = None,
    batch: int = BATCH_ROWS,
) -> int:
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(text(sql), params)
    try:
        for part in result.partitions(batch):
            columns: list[Sequence[Any]] = [list(c) for c in zip(*part, strict=True)]
            if extra is not None:
                columns += extra(columns)
            out.write(columns)
    finally:
        result.close()
        out.close()
    return out.rows


def _list(v: Any) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    return [str(x) for x in v]


_PERSONA_TYPES = {c.name: c.type for c in S.PERSONA_COLS}


def _persona_cells(raw: dict[str, Any] | None) -> tuple[list[Any], str | None]:
    """The 28 attributes typed as :data:`schema.PERSONA_COLS` says, and the segment."""
    raw = dict(raw or {})
    segment = None
    try:
        p = Persona(**raw)
        raw = p.model_dump(mode="json")
        segment = p.segment
    except Exception:  # noqa: BLE001 - an old or hand-edited persona row still exports
        pass
    cells: list[Any] = []
    for f in PERSONA_FIELDS:
        v = raw.get(f)
        t = _PERSONA_TYPES[f]
        try:
            if t == S.STR_LIST:
                v = _list(v)
            elif v is None:
                pass
            elif t == S.I64:
                v = int(v)
            elif t == S.F64:
                v = float(v)
            else:
                v = str(v)
        except (TypeError, ValueError):
            v = None
        cells.append(v)
    return cells, segment


def write_dataset(
    run_dir: Path,
    engine: Engine,
    *,
    generator: bool = True,
    split: str = "persona",
    run_id: str | None = None,
    out: Path | None = None,
    batch: int = BATCH_ROWS,
) -> DatasetResult:
    """Write ``run_dir/dataset/`` from the database.

    Args:
        run_dir: the run's directory (``manifest.json`` gives the run id, the persona
            workbook and what the data card says about how the run was made).
        engine: the run's database.
        generator: keep the ``generator`` columns (False: leave them out).
        split: ``persona`` or ``time``.
        run_id: the run (default: the manifest's, else the directory's name).
        out: the dataset directory (default: ``run_dir/dataset``); replaced as a whole.
        batch: rows per fetch and per row group.

    Returns:
        Row counts per file, the columns written and the split's sizes.

    Raises:
        ValueError: an unknown split mode.
        SQLAlchemyError, OSError: the database or the disk failed (nothing is left).
    """
    from reports.dataset.card import write_card

    if split not in SPLIT_MODES:
        raise ValueError(f"--split {split!r}: expected one of {', '.join(SPLIT_MODES)}")
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    manifest = _manifest(run_dir)
    run_id = run_id or manifest.get("run_id") or run_dir.name
    prov = read_provenance(_persona_file(manifest))
    final = Path(out) if out is not None else run_dir / DATASET_DIR
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    def keep(c: S.Col) -> bool:
        return generator or c.role != S.GENERATOR

    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                result = _write_all(
                    conn, tmp, run_id, manifest, prov, keep, split=split, batch=batch
                )
        result.generator = generator
        result.path = final
        result.seconds = round(time.perf_counter() - t0, 3)
        (tmp / "schema.json").write_text(
            json.dumps(_schema_doc(result, tmp), indent=2) + "\n", encoding="utf-8"
        )
        write_card(tmp / "README.md", result=result, manifest=manifest, prov=prov,
                   run_dir=run_dir)  # fmt: skip
        old = final.parent / f".{final.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _write_all(
    conn: Connection,
    tmp: Path,
    run_id: str,
    manifest: dict[str, Any],
    prov: Provenance,
    keep: Callable[[S.Col], bool],
    *,
    split: str,
    batch: int,
) -> DatasetResult:
    # One long read of a big run: the engine's per-statement timeout is for the hot path.
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    run = conn.execute(
        text("SELECT sim_start, sim_end, time_scale, seed, status FROM simulation_runs "
             "WHERE run_id = :r"), {"r": run_id},
    ).mappings().first()  # fmt: skip
    sim_start = (run["sim_start"] if run else None) or manifest.get("sim_start")
    hours = conn.execute(
        text("SELECT max(sim_hour) FROM agent_hours WHERE run_id = :r"), {"r": run_id}
    ).scalar()
    n_hours = int(hours) + 1 if hours is not None else 0
    cutoff = time_cutoff(n_hours)
    # Experiment arms: on each session, and per agent in experiment_assignments.
    arm = {
        "sessions": _has_column(conn, "shopping_sessions", "arm"),
        "agents": _has_table(conn, "experiment_assignments"),
    }
    result = DatasetResult(tmp, {}, split, True)
    result.notes += prov.notes
    params = {"run_id": run_id, "sim_start": sim_start}

    # The personas' splits first: they label every other file's rows.
    split_of: dict[str | None, str] = {}
    for (pid,) in conn.execute(
        text(_AGENTS_SQL.format(cols="a.persona_id", arm="", join="")), params
    ):
        split_of[pid] = "test" if prov.held_out(pid) else persona_split(pid)

    def label(pid_idx: int, hour_idx: int) -> Callable[[list[Sequence[Any]]], list[Any]]:
        def add(cols: list[Sequence[Any]]) -> list[Any]:
            if split == "persona":
                return [[split_of.get(p) or persona_split(str(p)) for p in cols[pid_idx]]]
            return [[None if h is None else ("train" if h < cutoff else "test")
                     for h in cols[hour_idx]]]  # fmt: skip

        return add

    tail = [S.ARM] if arm["sessions"] else []
    events_cols = [*S.EVENT_BASE, *(k.col for k in S.PAYLOAD_KEYS), S.PAYLOAD_OTHER, *tail]
    f = _File(tmp / "events.parquet", [*events_cols, S.SPLIT], keep)
    result.columns["events"] = f.schema.names
    result.counts["events"] = _stream(
        conn, _events_sql(bool(tail)), params, f, extra=label(4, 13), batch=batch
    )

    tail = [S.ARM] if arm["sessions"] else []
    f = _File(tmp / "sessions.parquet", [*S.SESSION_COLS, *tail, S.SPLIT], keep)
    result.columns["sessions"] = f.schema.names
    result.counts["sessions"] = _stream(
        conn, _sessions_sql(bool(tail)), params, f, extra=label(3, 4), batch=batch
    )

    f = _File(tmp / "orders.parquet", [*S.ORDER_COLS, *tail, S.SPLIT], keep)
    result.columns["orders"] = f.schema.names
    result.counts["orders"] = _stream(
        conn, _orders_sql(bool(tail)), params, f, extra=label(4, 5), batch=batch
    )

    tail = [S.ARM] if arm["agents"] else []
    f = _File(tmp / "agent_hours.parquet", [*S.HOUR_COLS, *tail, S.SPLIT], keep)
    result.columns["agent_hours"] = f.schema.names
    result.counts["agent_hours"] = _stream(
        conn, _hours_sql(bool(tail)), params, f, extra=label(2, 3), batch=batch
    )

    agents_sql = _AGENTS_SQL.format(
        cols="a.id, a.persona_id, a.persona, a.persona_hash",
        arm=", x.arm" if tail else "",
        join=_ASSIGNED.format(col="a.id") if tail else "",
    )
    result.counts["personas"] = _write_personas(
        conn.execution_options(stream_results=True, yield_per=batch).execute(
            text(agents_sql), params
        ),
        tmp, run_id, prov, keep, split_of if split == "persona" else {}, tail, result,
        batch=batch,
    )  # fmt: skip
    result.split_counts = _split_counts(tmp, result)
    result.notes.append(
        f"time split: hours < {cutoff} train, ≥ {cutoff} test (of {n_hours} hours)"
        if split == "time"
        else "persona split: sha256 of the persona id (fixed salt), 80/10/10"
    )
    return result


def _write_personas(
    agents: Any,
    tmp: Path,
    run_id: str,
    prov: Provenance,
    keep: Callable[[S.Col], bool],
    split_of: dict[str | None, str],
    tail: list[S.Col],
    result: DatasetResult,
    *,
    batch: int,
) -> int:
    """``personas.parquet`` from the streamed ``agents`` rows (id, persona_id, persona,
    persona_hash[, arm]), one per agent of the run."""
    sources = S.SOURCE_COLS if prov.sources else ()
    f = _File(tmp / "personas.parquet", [*S.PERSONA_COLS, *sources, *tail, S.SPLIT], keep)
    result.columns["personas"] = f.schema.names
    rows: list[list[Any]] = []
    for row in agents:
        agent_id, pid, raw, phash = row[0], row[1], row[2], row[3]
        cells, segment = _persona_cells(raw)
        cells[0] = pid  # the agent's persona_id is the key every other file carries
        h = prov.household_of.get(pid)
        src = prov.sources.get(pid, {})
        rows.append(
            [run_id, agent_id, *cells, segment, phash, h, prov.household_split.get(h or ""),
             *(src.get(c.name.removeprefix("source_")) for c in sources),
             *([row[4]] if tail else []), split_of.get(pid)]
        )  # fmt: skip
        if len(rows) >= batch:
            f.write([list(c) for c in zip(*rows, strict=True)])
            rows = []
    try:
        if rows:
            f.write([list(c) for c in zip(*rows, strict=True)])
    finally:
        agents.close()
        f.close()
    return f.rows


def _split_counts(tmp: Path, result: DatasetResult) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name in S.FILES:
        t = pq.read_table(tmp / f"{name}.parquet", columns=["split"])
        counts = t.column("split").value_counts().to_pylist()
        out[name] = {str(c["values"]): int(c["counts"]) for c in counts}
    return out


def _schema_doc(result: DatasetResult, tmp: Path) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for name in S.FILES:
        sch = pq.read_schema(tmp / f"{name}.parquet")
        cat = _cols_of(name, result)
        files[f"{name}.parquet"] = {
            "rows": result.counts[name],
            "columns": [{**cat[n].describe(), "type": str(sch.field(n).type)} for n in sch.names],
        }
    return {
        "roles": {
            S.OBSERVABLE: "what a real shopping app would log",
            S.CONTEXT: "how the rows were made (run, time scale, replay, harness, split)",
            S.GENERATOR: "the simulator's own inputs and settings: exclude from features "
            "unless you study the generator",
        },
        "generator_columns_included": result.generator,
        "split": result.split,
        "files": files,
    }


def _cols_of(name: str, result: DatasetResult) -> dict[str, S.Col]:
    """The columns of file ``name`` by name (names repeat across files with their own
    meaning, e.g. ``status``)."""
    per_file: dict[str, Sequence[S.Col]] = {
        "events": [*S.EVENT_BASE, *(k.col for k in S.PAYLOAD_KEYS), S.PAYLOAD_OTHER],
        "sessions": S.SESSION_COLS,
        "orders": S.ORDER_COLS,
        "agent_hours": S.HOUR_COLS,
        "personas": [*S.PERSONA_COLS, *S.SOURCE_COLS],
    }
    cols = {c.name: c for c in per_file[name]}
    cols.setdefault(S.ARM.name, S.ARM)
    cols.setdefault(S.SPLIT.name, S.SPLIT)
    return cols


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _persona_file(manifest: dict[str, Any]) -> Path | None:
    p = manifest.get("persona_file")
    return Path(p) if p else None


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, datetime) else (str(v) if v is not None else None)


def write_run_dataset(run_dir: Path, engine: Engine | None) -> DatasetResult | None:
    """The end-of-run call: write ``run_dir/dataset/`` and log one line; a failure is one
    warning line (never a traceback, never an exception: the run's end goes on)."""
    if engine is None:
        return None
    try:
        res = write_dataset(run_dir, engine)
    except Exception as exc:  # noqa: BLE001 - the dataset must never break the run's end
        lines = str(exc).strip().splitlines()
        why = f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
        log.warning("dataset not written (%s); rebuild it with 'loadsim dataset RUN'", why)
        return None
    counts = ", ".join(f"{n} {k}" for k, n in res.counts.items())
    log.info("dataset written to %s (%s; %.1f s)", res.path, counts, res.seconds)
    return res
