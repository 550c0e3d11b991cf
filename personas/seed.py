"""Seeding personas as simulated users + agents, and loading the active ones back.

The owner's ``seed_simulation_agents.py`` as data functions: one user and one
agent per persona, marked simulated, upserted by ``persona_id`` so re-seeding a workbook
updates attributes instead of duplicating agents. The caller owns the transaction — the
CLI seeds a whole workbook in one, so any failure writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Connection, func, select, update

from db.errors import ConfigError
from db.models import Agent, Store, User
from personas._upsert import UpsertCounts, refuse_foreign_keys, upsert
from personas.model import Persona

EMAIL_DOMAIN = "voiceoffers.test"
"""``.test`` is reserved (RFC 2606): a simulated user can never receive real mail."""

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class SeedStats:
    """What ``seed_personas`` did."""

    users: UpsertCounts
    agents: UpsertCounts
    deactivated: int = 0
    """Simulated agents set ``inactive`` because their persona was not in the workbook."""

    def summary(self) -> str:
        """One human line per table."""
        lines = [
            f"{name}: {c.total} ({c.inserted} created, {c.updated} updated, {c.unchanged} unchanged)"
            for name, c in (("users", self.users), ("agents", self.agents))
        ]
        if self.deactivated:
            lines.append(f"agents deactivated (not in the workbook): {self.deactivated}")
        return "\n".join(lines)


def persona_email(persona_id: str) -> str:
    """The simulated user's email: ``sim+<persona_id>@voiceoffers.test``.

    Ids with characters unsafe in an email address use a short hash instead, so the
    address stays valid and still unique per persona.
    """
    local = (
        persona_id
        if _SAFE_ID.match(persona_id)
        else "h" + hashlib.sha256(persona_id.encode()).hexdigest()[:16]
    )
    return f"sim+{local}@{EMAIL_DOMAIN}"


def persona_hash(persona: Persona) -> str:
    """SHA-256 of the persona's canonical JSON: changes exactly when an attribute does."""
    blob = json.dumps(persona.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def seed_personas(
    conn: Connection, *, personas: list[Persona], deactivate_missing: bool = False
) -> SeedStats:
    """Upsert one simulated user and one active simulated agent per persona.

    Args:
        conn: an open connection; the caller owns the transaction.
        personas: validated personas (``personas.reader.read_personas``); ids unique.
        deactivate_missing: also set every *simulated* agent whose persona is not in
            ``personas`` to ``inactive`` (so the active pool is exactly this workbook).

    Returns:
        Counts of created, updated and unchanged users and agents.

    Raises:
        ConfigError: an email or ``persona_id`` belongs to a row that is not simulated,
            or two personas share an id (nothing is modified; the caller rolls back).
    """
    ids = [p.persona_id for p in personas]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"duplicate persona_id: {', '.join(dupes[:10])}")
    users_t, agents_t = User.__table__, Agent.__table__
    emails = {p.persona_id: persona_email(p.persona_id) for p in personas}
    refuse_foreign_keys(conn, table=users_t, key="email", values=list(emails.values()))  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
    refuse_foreign_keys(conn, table=agents_t, key="persona_id", values=ids)  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)

    users = upsert(
        conn,
        table=users_t,  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
        rows=[
            {"email": emails[p.persona_id], "full_name": p.name, "is_simulated": True}
            for p in personas
        ],
        key="email",
        update=("full_name",),
    )
    user_ids: dict[str, int] = {}
    values = list(emails.values())
    for i in range(0, len(values), 1000):
        part = values[i : i + 1000]
        for email, uid in conn.execute(select(User.email, User.id).where(User.email.in_(part))):
            user_ids[email] = uid
    agents = upsert(
        conn,
        table=agents_t,  # type: ignore[arg-type]  # a mapped class's __table__ is a Table (typed FromClause)
        rows=[
            {
                "persona_id": p.persona_id,
                "user_id": user_ids[emails[p.persona_id]],
                "status": "active",
                "is_simulated": True,
                "persona": p.model_dump(mode="json"),
                "persona_hash": persona_hash(p),
            }
            for p in personas
        ],  # fmt: skip
        key="persona_id",
        update=("user_id", "status", "persona", "persona_hash"),
        also_set={"updated_at": func.now()},
    )
    deactivated = 0
    if deactivate_missing:
        # On an adopted database ``agents`` is the map's view: ``updated_at`` may not exist.
        stamp = {"updated_at": func.now()} if _has_writable(conn, "agents", "updated_at") else {}
        deactivated = conn.execute(
            update(Agent)
            .where(Agent.is_simulated, Agent.status == "active", Agent.persona_id.not_in(ids))
            .values(status="inactive", **stamp)
        ).rowcount
    return SeedStats(users=users, agents=agents, deactivated=deactivated)


def _has_writable(conn: Connection, table: str, column: str) -> bool:
    from personas._upsert import _view_writable

    writable = _view_writable(conn, table)
    return writable is None or column in writable


def unknown_stores(conn: Connection, *, personas: list[Persona]) -> list[str]:
    """Preferred store codes of ``personas`` that the ``stores`` table does not have
    (sorted); such personas browse nothing until the catalog is seeded."""
    wanted = sorted({p.preferred_store for p in personas})
    known = set(conn.execute(select(Store.code).where(Store.code.in_(wanted))).scalars())
    return [code for code in wanted if code not in known]


def load_active_agents(conn: Connection) -> list[tuple[int, int, Persona]]:
    """Every active simulated agent as ``(agent_id, user_id, persona)``, by agent id.

    The owner's selection ("all active agents from database").

    Raises:
        ConfigError: a stored persona no longer validates (names the agent and field).
    """
    rows = conn.execute(
        select(Agent.id, Agent.user_id, Agent.persona, Agent.persona_id)
        .where(Agent.status == "active", Agent.is_simulated)
        .order_by(Agent.id)
    ).all()
    out: list[tuple[int, int, Persona]] = []
    problems: list[str] = []
    for agent_id, user_id, data, persona_id in rows:
        if not isinstance(user_id, int):
            user_id = str(user_id)  # an owner's uuid ids: plain text travels in Locust messages
        try:
            out.append((agent_id, user_id, Persona.model_validate(data)))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "persona"
                problems.append(f"agents id {agent_id} ({persona_id}) {loc}: {err['msg']}")
    if problems:
        raise ConfigError(
            "stored personas do not validate (re-seed them with `loadsim personas seed FILE`):\n"
            + "\n".join(problems[:50])
        )
    return out
