"""The pure parts of the session: --crucible-set per experiment and xdist trial groups."""

from __future__ import annotations

from typing import Any

import pytest_crucible as crucible
from pytest_crucible.declare.config import ConfigSchema, Field
from pytest_crucible.session.lookahead import assign_groups
from pytest_crucible.session.selection import config_fields, overrides_for, unused_override


def _experiment(name: str, config: Any = None) -> crucible.Experiment:
    return crucible.Experiment(
        name, dataset=[{"id": "a", "input": 1}], conditions={"c": lambda x: x}, config=config
    )


def test_overrides_go_to_the_experiments_that_have_the_field() -> None:
    with_t = _experiment("with_t", ConfigSchema(t=Field("float", default=0.0)))
    without = _experiment("without", ConfigSchema(k=Field("integer", default=1)))
    overrides = [(None, "t", "0.5"), ("without", "k", "3")]
    used: set[tuple[str | None, str]] = set()
    assert overrides_for(with_t, overrides, used) == {"t": "0.5"}
    assert used == {(None, "t")}
    assert overrides_for(without, overrides, used) == {"k": "3"}
    assert used == {(None, "t"), ("without", "k")}
    plans = {"with_t": with_t.plan(), "without": without.plan()}
    assert unused_override(overrides, used, plans) is None


def test_an_override_nobody_took_is_named_with_the_fields_there_are() -> None:
    exp = _experiment("exp", ConfigSchema(t=Field("float", default=0.0)))
    plans = {"exp": exp.plan()}
    unqualified = unused_override([(None, "temp", "1")], set(), plans)
    assert unqualified is not None
    assert "no collected experiment has a config field 'temp'" in unqualified
    assert "{'exp': ['t']}" in unqualified
    qualified = unused_override([("other", "t", "1")], set(), plans)
    assert qualified is not None and "no experiment named 'other'" in qualified
    assert unused_override([(None, "temp", "1")], set(), {}) is None  # nothing collected


def test_config_fields_of_each_kind_of_schema() -> None:
    assert config_fields(None) == set()
    assert config_fields(ConfigSchema(a=Field("string"), b=Field("integer"))) == {"a", "b"}
    assert config_fields({"x": 1}) == {"x"}
    assert config_fields(object()) is None  # unknown: every key goes on to validation


def test_trial_groups_are_contiguous_runs_per_function_and_skip_other_tests() -> None:
    ids = [f"t.py::test_a[c-i{n}-r0]" for n in range(5)] + ["t.py::test_plain[1]"]
    ids += [f"t.py::test_b[c-i{n}-r1]" for n in range(3)]
    groups = assign_groups(ids, 2)
    assert "t.py::test_plain[1]" not in groups
    assert [groups[i] for i in ids if "test_a" in i] == ["crucible0-0"] * 3 + ["crucible0-1"] * 2
    assert [groups[i] for i in ids if "test_b" in i] == ["crucible1-0"] * 2 + ["crucible1-1"]
    assert assign_groups(list(reversed(ids)), 2) != groups  # a function of the order
    assert assign_groups(ids, 2) == groups  # and of nothing else
