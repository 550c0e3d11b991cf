"""``python -m harness.cli`` — the same as the ``loadsim`` script."""

import sys

from harness.cli.app import main

sys.exit(main())
