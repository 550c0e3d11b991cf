"""What a run's start allocates, shared by the director's parts.

The director (``harness.control.director``) makes one :class:`RunState` and hands it to
each of its parts — the hour book, the lease broker, the run guard, the offer cycles —
at construction; ``start_run`` fills it in. A part reads what it needs here and gets its
actions (tell every process, write a checkpoint, probe the target) as callables: no part
holds the director.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.config.messages import RunConfig
    from harness.outputs.run_files import RunFiles


@dataclass
class RunState:
    """The run being recorded (each field ``None`` until ``start_run`` sets it)."""

    run: RunConfig | None = None
    """The run config every process obeys."""
    files: RunFiles | None = None
    """The run's output directory."""
    started_real: float | None = None
    """When the clock started (epoch seconds)."""
    exit_code: int | None = None
    """The code the harness wants (5: a headless stop), ``None``: not stopped by it."""
    last_checkpoint: str | None = None
    """The path of the last checkpoint written."""
    cycle_days: float = 7.0
    """Simulated days per offer cycle (the settings' ``offer_cycle_days``)."""
