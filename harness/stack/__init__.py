"""The embedded default (docs/ARCHITECTURE.md, Embedded default): ``embedded`` starts and stops it for a run
(embedded Postgres when no ``DATABASE_URL``, ``reference_api`` when no ``--host``);
``launch`` prepares the database (migrations, catalog, bundled personas) and runs the
reference API as a subprocess. It imports no other room (only ``db`` and ``personas``);
``wiring`` starts it, tests use its ``free_port``.
"""
