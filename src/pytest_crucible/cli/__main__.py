"""`python -m pytest_crucible.cli`: the `crucible` command."""

from __future__ import annotations

import sys

from pytest_crucible.cli import main

sys.exit(main())
