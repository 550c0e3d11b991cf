"""The Locust side of the harness, in rooms by role (docs/ARCHITECTURE.md, Rooms).

A room may import only the rooms below it in this list, never one above it (and no
cycles between rooms)::

    cli/      the ``loadsim`` command line (pre-flight, seeding, target, reports, demo)
    wiring/   Locust wiring: ``install`` (every event hook, the per-process build) and the
              ``WarmupRamp`` shape — what ``locustfile.py`` imports
    webui/    the web UI's Simulation tab, its control page and rows (master only)
    control/  master control: the director, leases, persona source, breaker/checkpoints/
              resume, the run record, the target's health and clock, the end of a run
    agent/    the agent side in every process: ``ProcessRuntime`` (reached with
              ``runtime_of``), ``PersonaUser``, the HTTP shop, recorder, catalog cache, rate
              limit, hour counters
    stack/    the embedded default: Postgres prepared, ``reference_api`` as a subprocess
    outputs/  the run directory ``runs/<run_id>/``: manifest, CSVs, event log, HTML
    config/   harness options (Locust command line) and the master↔worker messages

``cli`` and ``wiring`` are the two entry rooms; nothing imports them. Below the harness:
``behaviors``, ``personas``, ``offer_engine``, ``reports`` → ``db``.
"""
