"""How many trials a process of a joined run claims at once (session/joining.py:
`claim_size`): twice the concurrency while many are left, then a share of what is left for
each holder met, down to a floor."""

from __future__ import annotations

import pytest

from pytest_crucible.session.joining import claim_size


@pytest.mark.parametrize(
    ("full", "left", "holders", "expected"),
    [
        (64, 3000, 3, 64),  # far from the end: the full batch
        (64, 384, 3, 64),  # a sixth of what is left is still the full batch
        (64, 300, 3, 50),  # then a share: half of each holder's part
        (64, 30, 3, 5),
        (64, 10, 3, 4),  # never fewer than 4 (each claim is a transaction)
        (64, 300, 1, 64),  # alone, a process shrinks its batches later
        (64, 100, 1, 50),
        (64, 300, 0, 64),  # no holder known yet: this one
        (4, 1, 1, 4),  # a small full batch stays whole
        (2, 1, 1, 2),
    ],
)
def test_claim_size(full: int, left: int, holders: int, expected: int) -> None:
    assert claim_size(full, left, holders) == expected
