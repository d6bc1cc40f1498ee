"""`python -m pytest_crucible.settings [--write FILE]`: print the table of options, or
rewrite it in FILE (docs/settings.md) between its markers."""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_crucible.settings._docs import markdown_table, rewrite

if len(sys.argv) == 3 and sys.argv[1] == "--write":
    changed = rewrite(Path(sys.argv[2]))
    print(f"{sys.argv[2]}: {'rewritten' if changed else 'already up to date'}")
elif len(sys.argv) == 1:
    print(markdown_table())
else:
    sys.exit("usage: python -m pytest_crucible.settings [--write docs/settings.md]")
