"""A worker's part in a run joined by many processes (`--crucible-join`; joining.py).

The worker (worker.py) enters the shared runs once collection has selected its items, runs
an item only once this process holds its claim (claimed with the items that follow it, a
batch), starts ahead only the items it may claim, and after pytest's loop sweeps the trials
other processes claimed, running those whose claims expired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_crucible.errors import CrucibleError
from pytest_crucible.session.joining import claim_size
from pytest_crucible.store.environment import capture_environment

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pytest

    from pytest_crucible.declare.plan import Plan
    from pytest_crucible.session.collection import TrialCollection
    from pytest_crucible.session.joining import JoinClaims
    from pytest_crucible.session.lookahead import Lookahead

__all__ = ["JoinedWorker"]


class JoinedWorker:
    """The glue between a worker's items and its claims in the store."""

    def __init__(
        self,
        claims: JoinClaims,
        config: pytest.Config,
        plans: Mapping[str, Plan],
        collection: TrialCollection,
        lookahead: Lookahead,
    ) -> None:
        self.claims = claims
        self.config = config
        self.plans = plans
        self.collection = collection
        self.lookahead = lookahead

    def enter(self, items: list[pytest.Item]) -> None:
        """Create or join the shared runs (--crucible-join) before any trial starts."""
        root = self.config.rootpath
        try:
            problems = self.claims.enter(self.plans, lambda: capture_environment(root))
        except CrucibleError as exc:
            problems = [f"--crucible-join={self.claims.key}: {exc}"]
        if problems:
            self.collection.refuse(items, problems)

    def claimed(self, item: pytest.Item) -> bool:
        """Whether this process holds `item`'s claim, or gets it now with the items that
        follow it (a batch: the trials the prefetcher would start with it, fewer towards
        the end of the run)."""
        return self.claims.mine(item, lambda: self.upcoming(item, self._batch_at(item) - 1))

    def claim_batch(self) -> int:
        return max(4, 2 * self.lookahead.concurrency(None))

    def _batch_at(self, item: pytest.Item) -> int:
        # the trials after `item` bound those left unclaimed: every process claims in
        # collection order, so the others' claims lie (mostly) before it
        left = 1 + self.lookahead.count_after(item)
        return claim_size(self.claim_batch(), left, self.claims.holders)

    def upcoming(self, item: pytest.Item, count: int) -> list[pytest.Item]:
        """The next `count` trial items after `item` that this process may start: joining.py
        passes over the others' and its own finished ones (lookahead.py lists the rest)."""
        return self.claims.next_to_start(self.lookahead.following(item), count)

    def sweep(self, session: pytest.Session) -> None:
        """After pytest's loop: wait for the trials other processes claimed, running those
        whose claims expired (joining.py), until the session stops."""

        def run_taken_over(item: pytest.Item, nextitem: pytest.Item | None) -> None:
            item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)

        def stops() -> bool:
            return bool(session.shouldstop or session.shouldfail)

        self.claims.sweep(run_taken_over, stops, self.claim_batch())
