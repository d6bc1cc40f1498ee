"""Which trial items may start ahead of pytest, how many at once, and which come next.

A trial function's items may run ahead when it uses no function-scoped fixture besides the
plugin's own (`shares_fixtures`): a started trial takes the wider-scoped fixture values of
the item that started it. Trials run `limit` at a time: `--crucible-concurrency`, else the
experiment's `concurrency=`, else 1.

Under pytest-xdist a worker cannot see which items it will be sent. The session therefore
gives xdist a scheduler (`scheduling.py`) that sends trials in groups, each whole to one
worker, computed from the collected ids alone (`assign_groups`); a worker computes the same
groups and may start any item of a group it was sent ahead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import pytest

from pytest_crucible.declare.plan import TrialSpec
from pytest_crucible.session.async_fixtures import is_plugin_loop_runner
from pytest_crucible.session.internals import fixture_info
from pytest_crucible.session.items import GROUP_KEY, TRIAL_FIXTURES, TRIAL_PARAM, spec_of

__all__ = ["Lookahead", "assign_groups", "shares_fixtures"]

PLUGIN_FIXTURES = frozenset({*TRIAL_FIXTURES, TRIAL_PARAM})
GROUP_PREFIX = "crucible"
_TRIAL_ID = re.compile(r"\[[^\[\]]*-r\d+\]$")


class Lookahead:
    """The session's view of the collected items for starting trials ahead.

    `owns_every_item`: without xdist every item is this process's; a worker owns the items
    of the groups it computed (their stash has a GROUP_KEY). `warn` reports a trial function
    that must run its trials one at a time.
    """

    def __init__(
        self,
        concurrency_option: int | None,
        *,
        owns_every_item: bool,
        warn: Callable[[str], None],
    ) -> None:
        self._option = concurrency_option
        self._owns_every_item = owns_every_item
        self._warn = warn
        self._items: Sequence[pytest.Item] = ()
        self._index: dict[str, tuple[list[pytest.Item], int]] | None = None
        self._prefetchable: dict[str, bool] = {}

    def set_items(self, items: Sequence[pytest.Item]) -> None:
        """The items pytest will run (after collection, deselection included)."""
        self._items = items
        self._index = None

    def concurrency(self, declared: int | None) -> int:
        """Trials in flight per process for an experiment that declared `declared`."""
        return int(self._option if self._option is not None else declared or 1)

    def limit(self, item: pytest.Item, spec: TrialSpec, declared: int | None) -> int:
        """How many trials may be in flight when `item` runs: 1 when it cannot run ahead."""
        limit = self.concurrency(declared)
        if limit <= 1 or not self._can_prefetch(item, spec):
            return 1
        if not (self._owns_every_item or GROUP_KEY in item.stash):
            return 1
        return limit

    def _can_prefetch(self, item: pytest.Item, spec: TrialSpec) -> bool:
        function = item.nodeid.split("[", 1)[0]
        known = self._prefetchable.get(function)
        if known is None:
            blocking = shares_fixtures(item)
            known = self._prefetchable[function] = not blocking
            if blocking:
                self._warn(
                    f"experiment {spec.experiment}: {function} uses the function-scoped "
                    f"fixture(s) {blocking}, so its trials run one at a time; give them a "
                    "wider scope (session, module) to run trials concurrently"
                )
        return known

    def upcoming(self, item: pytest.Item, count: int) -> list[pytest.Item]:
        """The next `count` trial items after `item` of the same trial function (and xdist
        group)."""
        members, position = self._position(item.nodeid)
        return members[position + 1 : position + 1 + count] if position >= 0 else []

    def following(self, item: pytest.Item) -> Iterator[pytest.Item]:
        """Every trial item after `item` of the same trial function (and xdist group), in
        order."""
        members, position = self._position(item.nodeid)
        if position >= 0:
            for index in range(position + 1, len(members)):
                yield members[index]

    def count_after(self, item: pytest.Item) -> int:
        """How many trial items come after `item` (same trial function and xdist group)."""
        members, position = self._position(item.nodeid)
        return len(members) - position - 1 if position >= 0 else 0

    def follows(self, item: pytest.Item, nodeid: str, distance: int) -> bool:
        """Whether `item` comes at most `distance` places after the item `nodeid` among the
        trials of its function (and xdist group): started ahead with it."""
        members, position = self._position(item.nodeid)
        others, before = self._position(nodeid)
        return others is members and 0 < position - before <= distance

    def _position(self, nodeid: str) -> tuple[list[pytest.Item], int]:
        if self._index is None:
            runs: dict[tuple[str, str], list[pytest.Item]] = {}
            index: dict[str, tuple[list[pytest.Item], int]] = {}
            for candidate in self._items:
                if spec_of(candidate) is None:
                    continue
                key = (candidate.nodeid.split("[", 1)[0], candidate.stash.get(GROUP_KEY, ""))
                members = runs.setdefault(key, [])
                index[candidate.nodeid] = (members, len(members))
                members.append(candidate)
            self._index = index
        return self._index.get(nodeid, ([], -1))


def shares_fixtures(item: pytest.Item) -> list[str]:
    """The fixtures that keep `item`'s trial function from running ahead (function-scoped
    ones other than the plugin's and an async plugin's loop runner, `request`, anything
    unknown); [] when it can."""
    info = fixture_info(item)
    if info is None:
        return ["<no fixture info>"]
    blocking = []
    for name in info.names_closure:
        if name in PLUGIN_FIXTURES:
            continue
        if is_plugin_loop_runner(name, item.config):
            continue
        definitions = info.name2fixturedefs.get(name)
        if not definitions or definitions[-1].scope == "function":
            blocking.append(name)
    return blocking


def assign_groups(nodeids: Sequence[str], group_count: int) -> dict[str, str]:
    """Group names for the ids that look like trials (`fn[condition-item-rK]`): each trial
    function's ids, in collection order, split into `group_count` contiguous runs.

    A pure function of the collected ids, so the xdist controller (which sees only ids) and
    every worker compute the same groups; an ordinary test that happens to match is grouped
    too, which changes only how it is scheduled.
    """
    by_function: dict[str, list[str]] = {}
    for nodeid in nodeids:
        if _TRIAL_ID.search(nodeid):
            by_function.setdefault(nodeid.split("[", 1)[0], []).append(nodeid)
    groups: dict[str, str] = {}
    for number, members in enumerate(by_function.values()):
        size = max(1, -(-len(members) // max(1, group_count)))
        for index, nodeid in enumerate(members):
            groups[nodeid] = f"{GROUP_PREFIX}{number}-{index // size}"
    return groups
