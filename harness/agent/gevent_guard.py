"""Fail loudly when psycopg would serialize every user of a worker.

psycopg 3 picks its wait function at import: imported *before* gevent patched ``select``
it keeps the C wait (``wait_c``), which blocks the whole process for each query — ten
concurrent 1-s queries take 10 s instead of 1 s. ``import locust`` patches
first, so the ``locust`` CLI is safe; a script or test that imports the database layer
first is not. ``PSYCOPG_WAIT_FUNC=wait_poll`` is the escape hatch.
"""

from __future__ import annotations

import sys


class GeventPsycopgOrderError(RuntimeError):
    pass


def psycopg_is_cooperative() -> bool:
    """True when psycopg's chosen wait function yields to other greenlets."""
    if "psycopg" not in sys.modules:
        return True  # not imported yet: it will choose correctly after patching
    from psycopg import waiting

    wait_c = getattr(waiting, "wait_c", None)
    return wait_c is None or waiting.wait is not wait_c


def ensure_gevent_safe_psycopg() -> None:
    """Raise :class:`GeventPsycopgOrderError` in a gevent process with a blocking psycopg."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("select"):
        raise GeventPsycopgOrderError(
            "gevent has not monkey-patched `select` in this process: users would block "
            "each other on every database call. Run through `locust` (which patches first) "
            "or call gevent.monkey.patch_all() before importing psycopg."
        )
    if not psycopg_is_cooperative():
        raise GeventPsycopgOrderError(
            "psycopg was imported before gevent patched `select`, so it uses its blocking C "
            "wait function: every user of this worker would be serialized behind one query. "
            "Import locust (or call gevent.monkey.patch_all()) before anything that imports "
            "psycopg/sqlalchemy, or set PSYCOPG_WAIT_FUNC=wait_poll."
        )
