"""Errors with an exit code, shared by every layer (the CLI maps them to ``sys.exit``)."""

from __future__ import annotations


class LoadsimError(Exception):
    """An error the user can act on; ``exit_code`` is what the process exits with."""

    exit_code = 1


class ConfigError(LoadsimError):
    """Bad configuration or input (exit code 2)."""

    exit_code = 2


class DatabaseUnavailable(ConfigError):
    """The database cannot be reached or refuses us (exit code 2).

    ``str()`` is one line: what failed, the URL with its password redacted, and the fix to
    try. Built by :func:`db.connect.database_unavailable` from a driver or SQLAlchemy
    error, so no caller ever shows a traceback for a bad ``DATABASE_URL``.
    """
