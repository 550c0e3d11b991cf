"""Where the persona pool comes from: the ``agents`` table (all active simulated agents,
the owner's choice) or, with ``--mock-db``, the workbook."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from harness.control.leases import PoolEntry
from personas.model import Persona


def _entry(agent_id: int, user_id: int, persona: Persona) -> PoolEntry:
    return PoolEntry(
        agent_id=agent_id, user_id=user_id, persona_id=persona.persona_id,
        segment=persona.segment, persona=persona.model_dump(mode="json"),
    )  # fmt: skip


def load_pool_entries(
    *, engine: Engine | None, personas: Path | None, map_file: str | None = None
) -> list[PoolEntry]:
    """The run's personas: the database's active agents, else (``--mock-db``) the workbook
    read with ``map_file``'s ``[personas.columns]`` (``None``: the owner's file by its
    environment variable, or none)."""
    if engine is not None:
        from personas.seed import load_active_agents

        with engine.connect() as conn:
            return [_entry(a, u, p) for a, u, p in load_active_agents(conn)]
    from personas import SAMPLE_PATH
    from personas.columns import load_column_map
    from personas.reader import read_personas

    people = read_personas(personas or Path(SAMPLE_PATH), load_column_map(map_file))
    return [_entry(i + 1, i + 1, p) for i, p in enumerate(people)]
