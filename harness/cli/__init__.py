"""The ``loadsim`` command line: pre-flight, seeding, the reference target, reports, the demo.

An entry room: nothing in the harness imports it. ``app`` builds the parser and runs a
command; each command group is a module of ``commands/`` (``register(subparsers)``). It may
import ``agent``, ``stack``, ``outputs`` and ``config`` and the packages below the harness,
never ``wiring`` (the load test itself runs with ``locust -f locustfile.py``).
"""

from harness.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
