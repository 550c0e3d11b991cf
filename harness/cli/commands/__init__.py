"""``loadsim`` subcommand groups: each module has ``register(subparsers)``.

Each group lives in its own module so the people working on personas, the offer engine,
the reference API and reports do not edit one file.
"""

COMMAND_MODULES = (
    "harness.cli.commands.db",
    "harness.cli.commands.personas",
    "harness.cli.commands.catalog",
    "harness.cli.commands.target",
    "harness.cli.commands.calibrate",
    "harness.cli.commands.reports",
    "harness.cli.commands.run",
    "harness.cli.commands.realism",
    "harness.cli.commands.experiment",
    "harness.cli.commands.dataset",
)
