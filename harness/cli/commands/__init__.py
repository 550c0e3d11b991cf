"""``loadsim`` subcommand groups: each module has ``register(subparsers)``.

Each group lives in its own module so the people working on personas, the offer engine,
the reference API and reports do not edit one file.
"""

COMMAND_MODULES = (
    "harness.commands.db",
    "harness.commands.personas",
    "harness.commands.catalog",
    "harness.commands.target",
    "harness.commands.calibrate",
    "harness.commands.reports",
    "harness.commands.run",
)
