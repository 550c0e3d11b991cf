"""The owner's one file: where it is and what it says, read by one module only.

The owner describes their deployment in one TOML file — ``[db.map]`` (read by
``db.appmap``), ``[routes]`` (``harness.config.routes``, and ``reference_api.routemap`` for
``--routes``), ``[personas.columns]`` / ``[personas.scales]`` (``personas.columns``). Each
section keeps its own validator; this module is the only place that *locates* the file and
*parses* it, so every part of the harness finds the same file by the same rule and a broken
file reads the same everywhere:

- locating: an explicit path (``--map FILE``) > ``$LOADSIM_MAP`` > ``$LOADSIM_DB_MAP``
  (the database map's older variable names the same one file);
- reading: one ``tomllib`` parse; a missing, unreadable or malformed file is one
  :class:`~db.errors.ConfigError` line naming the file (and, for bad TOML, the line, the
  column and what was expected) — never a traceback, exit 2.

Why in ``db/``: it is the package every layer already imports (``db.errors``), and the
domain packages (``personas``, ``db``) and ``reference_api`` must never import ``harness``
(docs/ARCHITECTURE.md, Rooms) — all of them may import this.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.errors import ConfigError

MAP_ENV = "LOADSIM_MAP"
"""Environment variable naming the owner's file when no path is given."""
MAP_ENV_FALLBACKS = ("LOADSIM_DB_MAP",)
"""Read when ``$LOADSIM_MAP`` is unset or empty: the database map's variable, kept so
files named the older way are still found (it names the same one file)."""

_AT = re.compile(
    r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


@dataclass(frozen=True)
class OwnerFile:
    """The parsed file (``path`` None: no file was named — every section absent)."""

    path: Path | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    named_by: str = ""
    """How the file was found: ``""`` (given explicitly) or ``$LOADSIM_MAP`` etc."""

    def section(self, dotted: str) -> Any:
        """The value at ``dotted`` (``"db.map"``, ``"routes"``, ``"personas"``), or None.

        Raises:
            ConfigError: a parent of the section is not a table (``db = 1``).
        """
        node: Any = self.data
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, Mapping):
                parent = ".".join(parts[:i])
                raise ConfigError(f"{self.path}: [{parent}] must be a table")
            if part not in node:
                return None
            node = node[part]
        return node

    def has(self, dotted: str) -> bool:
        """Whether the file has the section (other sections belong to other parts)."""
        return self.section(dotted) is not None


def locate(path: str | Path | None = None) -> Path | None:
    """The owner's file: ``path``, else ``$LOADSIM_MAP``, else ``$LOADSIM_DB_MAP``; None
    when none is named (callers then use their defaults). Nothing is read here."""
    return _locate(path)[0]


def _locate(path: str | Path | None) -> tuple[Path | None, str]:
    if path:
        return Path(path), ""
    for var in (MAP_ENV, *MAP_ENV_FALLBACKS):
        value = os.environ.get(var)
        if value:
            return Path(value), f"${var}"
    return None, ""


def load(path: str | Path | None = None) -> OwnerFile:
    """Locate (:func:`locate`) and read the owner's file; no file named → an empty
    :class:`OwnerFile` (``path`` None).

    Raises:
        ConfigError: one line, see :func:`read`.
    """
    p, named_by = _locate(path)
    return OwnerFile() if p is None else read(p, named_by=named_by)


def read(path: str | Path, *, named_by: str = "") -> OwnerFile:
    """Parse the file at ``path`` (no environment lookup).

    Raises:
        ConfigError: one line naming the file — not found, unreadable, or not valid TOML
            (with the line, the column and what the parser expected).
    """
    p = Path(path)
    via = f" (named by {named_by})" if named_by else ""
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: map file not found{via}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: map file is not UTF-8 text (byte {exc.start}){via}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read map file: {exc.strerror or exc}{via}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {describe_toml_error(exc)}") from None
    return OwnerFile(path=p, data=data, named_by=named_by)


def describe_toml_error(exc: tomllib.TOMLDecodeError) -> str:
    """``not valid TOML at line 3, column 8: expected ']' at the end of a table
    declaration`` — tomllib (3.11–3.13) puts the position at the end of its message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
    m = _AT.match(text)
    if m is None:
        return f"not valid TOML: {text}"
    msg = m.group("msg")
    msg = msg[:1].lower() + msg[1:]
    if msg == "invalid value":  # tomllib's words for `key = ` or `key = bare words`
        msg += " (expected a quoted string, a number, true/false, a date, [..] or {..})"
    where = (
        f"line {m.group('line')}, column {m.group('col')}"
        if m.group("line")
        else "the end of the file"
    )
    return f"not valid TOML at {where}: {msg}"
