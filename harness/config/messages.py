"""What the master and the workers say to each other: the message names and the run config.

One owner for the protocol, so ``control`` (the master's side) and ``agent`` (a worker's
side) speak it without importing each other. Messages ride on Locust's
``runner.send_message``; the payloads stay msgpack-safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MSG_HELLO = "loadsim_hello"  # worker → master: send me the run config
MSG_CONFIG = "loadsim_config"  # master → worker(s): run config (clock, addresses, rate)
MSG_CLOCK = "loadsim_clock"  # master → workers: new clock anchor (pause/resume/scale)
MSG_LEASE = "loadsim_lease"  # worker → master: {req_id}
MSG_GRANT = "loadsim_grant"  # master → worker: {req_id, entry}
MSG_RELEASE = "loadsim_release"  # worker → master: {agent_id} or {req_id} (cancel)
MSG_REVOKE = "loadsim_revoke"  # master → worker: {agent_ids} reclaimed while it was missing
MSG_CONTRACT = "loadsim_contract"  # worker → master: a contract error (method, path, status)
REPORT_KEY = "loadsim"  # key in worker_report data (not a reserved Locust key)


@dataclass
class RunConfig:
    """What a process needs to act in a run; msgpack-safe via ``to_msg``/``from_msg``."""

    run_id: str
    seed: int
    sim_start: str  # ISO
    sim_end: str | None  # ISO; None = open-ended
    clock: dict[str, Any]
    api_url: str | None
    database_url: str | None  # only for the embedded default (no credentials)
    rate_share: float
    mock_api: bool
    mock_db: bool
    replay_until_hour: int = -1  # hours below this are replays (resume)
    catalog_version: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def to_msg(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_msg(cls, d: dict[str, Any]) -> RunConfig:
        return cls(**d)
