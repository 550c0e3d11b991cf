"""Locust beyond its public API — the one module that knows.

The harness is written against Locust 2.47 (``pyproject.toml`` pins ``>=2.47,<2.48``). What it
needs that Locust does not offer as public API is here, each piece saying what it relies on:

* :func:`user_is_stopping` — ``User._state`` (Locust sets it to ``LOCUST_STATE_STOPPING`` when
  it asks a user to stop; no public accessor exists).
* :func:`history_writer` — ``StatsCSVFileWriter._stats_history_data_rows``, the method that
  renders a ``locust_stats_history.csv`` row (it calls ``StatsCSV._percentile_fields``), used
  without the writer's own files; the header is a copy of that writer's.
* :data:`ENDPOINT_REQUEST_STATS`, :data:`ENDPOINT_INDEX` — the Flask endpoint names of
  Locust's ``/stats/requests`` and ``/`` views (``locust/web.py`` names them after its view
  functions on the ``locust`` blueprint).
* :func:`locust_exit_code` — ``locust.main``'s shutdown rule and the module flag
  ``locust.log.unhandled_greenlet_exception`` it reads.
* :data:`ENVIRONMENT_FIELDS_SET` — the ``Environment`` attributes the harness assigns.

``tests/test_locust_compat.py`` checks every piece against the installed Locust (it fails the
day a release changes one) and fails when a Locust private name is used outside this module.
Moving to the next Locust release is a change here.

Locust is imported inside the functions: ``config`` is imported by processes and tests that
must not import Locust (importing it monkey-patches the standard library).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from locust import User
    from locust.env import Environment

ENDPOINT_REQUEST_STATS = "locust.request_stats"
"""Flask endpoint of ``GET /stats/requests`` (the JSON the web UI polls every 2 s)."""
ENDPOINT_INDEX = "locust.index"
"""Flask endpoint of ``GET /`` (the web UI's page)."""

ENVIRONMENT_FIELDS_SET = frozenset({"host", "stop_timeout", "process_exit_code"})
"""``Environment`` attributes the harness assigns (Locust's own, read by its runners and
``locust.main``); the harness hangs nothing else on Locust's objects."""


class CsvWriter(Protocol):
    """What ``csv.writer`` returns, as far as Locust's row writer uses it."""

    def writerow(self, row: Iterable[Any], /) -> Any: ...


class HistoryWriter(Protocol):
    """Renders ``locust_stats_history.csv``: its header and its rows at a moment."""

    columns: list[str]

    def write_rows(self, writer: CsvWriter, now: float) -> None: ...


def user_is_stopping(user: User) -> bool:
    """Locust asked this user to stop while a task runs (``User._state`` is
    ``LOCUST_STATE_STOPPING``; a running task is allowed to finish)."""
    from locust.user.task import LOCUST_STATE_STOPPING

    return bool(user._state == LOCUST_STATE_STOPPING)


def history_writer(environment: Environment) -> HistoryWriter:
    """Locust's own history-row writer, without its files (the run directory's writer
    opens and appends the file itself, so a resumed run's history continues)."""
    from locust.stats import (
        PERCENTILES_TO_REPORT,
        StatsCSV,
        StatsCSVFileWriter,
        get_readable_percentiles,
    )

    class _History(StatsCSV):
        full_history = False  # the Aggregated row only (read by the borrowed method)

        def __init__(self, environment: Environment) -> None:
            super().__init__(environment, PERCENTILES_TO_REPORT)
            # StatsCSVFileWriter's stats_history_csv_columns (built there with its files).
            self.columns = [
                "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
                *get_readable_percentiles(self.percentiles_to_report),
                "Total Request Count", "Total Failure Count", "Total Median Response Time",
                "Total Average Response Time", "Total Min Response Time",
                "Total Max Response Time", "Total Average Content Size",
            ]  # fmt: skip

        def write_rows(self, writer: CsvWriter, now: float) -> None:
            # Borrowed: it reads only StatsCSV's fields and full_history, all set here.
            StatsCSVFileWriter._stats_history_data_rows(self, writer, now)  # type: ignore[arg-type]  # a StatsCSV, not the file writer

    return _History(environment)


def locust_exit_code(environment: Environment) -> int:
    """The code Locust exits a run with when the harness leaves it (``locust.main``'s
    shutdown rule): ``--exit-code-on-error`` (1) after any request failure or exception,
    2 after an unhandled greenlet exception, else 0. ``locust.log`` is read only when
    loaded (it is whenever Locust runs), so this imports nothing."""
    runner = getattr(environment, "runner", None)
    if runner is not None and (runner.errors or runner.exceptions):
        return int(getattr(environment.parsed_options, "exit_code_on_error", 1))
    locust_log = sys.modules.get("locust.log")
    return 2 if getattr(locust_log, "unhandled_greenlet_exception", False) else 0
