"""The web UI's Simulation tab and controls (issue 9) — installed on the master only."""

from __future__ import annotations

from typing import Any


def install_web_ui(environment: Any, web_ui: Any) -> None:
    """Placeholder until the Simulation tab lands: nothing is added to the UI yet."""
    return None
