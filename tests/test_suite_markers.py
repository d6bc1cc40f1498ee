"""The list of slow end-to-end tests (e2e_support.SLOW_E2E) names tests that exist: a renamed test
would otherwise silently join the quick subset."""

from __future__ import annotations

import re
from pathlib import Path

from e2e_support import SLOW_E2E

ROOT = Path(__file__).resolve().parent.parent


def test_every_listed_slow_test_exists() -> None:
    missing = []
    for nodeid in sorted(SLOW_E2E):
        path, function = nodeid.split("::")
        source = (ROOT / path).read_text()
        if not re.search(rf"^def {function}\(", source, re.MULTILINE):
            missing.append(nodeid)
    assert not missing, missing
