"""Experiment plans: trial ids and keys, seeds, and what changes a key."""

from __future__ import annotations

import functools

import pytest

import pytest_crucible as crucible
from pytest_crucible import Condition, ExperimentError
from pytest_crucible.declare.conditions import code_identity

PROMPT = "Answer briefly: {}"


def terse(question: str) -> str:
    return PROMPT.format(question)


def verbose(question: str) -> str:
    return f"Please answer: {question}"


def _experiment(**changes: object) -> crucible.Experiment:
    arguments: dict[str, object] = {
        "name": "caps",
        "dataset": [{"id": "France", "input": "France?"}, {"id": "Peru", "input": "Peru?"}],
        "conditions": {"terse": terse, "verbose": verbose},
        "repeat": 2,
        "seed": 1,
    }
    arguments.update(changes)
    return crucible.Experiment(**arguments)  # type: ignore[arg-type]


def test_plan_order_ids_and_seeds() -> None:
    """Repeat, then item, then condition: every condition of an item side by side (drift
    reaches them alike), every item once before the repeats."""
    plan = _experiment().plan()
    assert [t.test_id for t in plan.trials] == [
        "terse-France-r0",
        "verbose-France-r0",
        "terse-Peru-r0",
        "verbose-Peru-r0",
        "terse-France-r1",
        "verbose-France-r1",
        "terse-Peru-r1",
        "verbose-Peru-r1",
    ]
    assert len({t.key for t in plan.trials}) == 8
    assert len({t.seed for t in plan.trials}) == 8
    assert [t.key for t in plan.trials] == [t.key for t in _experiment().plan().trials]


def test_key_changes_with_what_determines_the_result() -> None:
    keys = {t.test_id: t.key for t in _experiment().plan().trials}

    def changed(**kw: object) -> set[str]:
        other = {t.test_id: t.key for t in _experiment(**kw).plan().trials}
        return {test_id for test_id in keys if keys[test_id] != other.get(test_id)}

    assert changed(seed=2) == set(keys)
    assert changed(config={"t": 1}) == set(keys)
    edited = changed(conditions={"terse": terse, "verbose": lambda q: q})
    assert edited == {k for k in keys if k.startswith("verbose")}
    data = [{"id": "France", "input": "France!"}, {"id": "Peru", "input": "Peru?"}]
    assert changed(dataset=data) == {k for k in keys if "France" in k}
    assert changed(description="other words") == set()


def test_session_seed_is_used_only_without_a_declared_seed() -> None:
    declared = _experiment().plan(seed=99)
    assert declared.seed == 1
    assert _experiment(seed=None).plan(seed=99).seed == 99
    assert _experiment().plan(seed=99, seed_override=5).seed == 5


def test_code_identity_follows_source_constants_and_helpers() -> None:
    assert code_identity(terse) == code_identity(terse)
    assert code_identity(terse) != code_identity(verbose)
    partial_a = functools.partial(terse, "a")
    assert code_identity(partial_a) != code_identity(functools.partial(terse, "b"))
    version = Condition(terse, name="t", version="2").identity
    assert version == Condition(verbose, name="t", version="2").identity
    with_params = Condition(terse, name="t", params={"temperature": 0.2}).identity
    assert with_params != Condition(terse, name="t", params={"temperature": 0.7}).identity


def test_constants_read_by_a_condition_are_part_of_its_identity() -> None:
    before = code_identity(terse)
    global PROMPT
    saved, PROMPT = PROMPT, "Answer in one word: {}"
    try:
        assert code_identity(terse) != before
    finally:
        PROMPT = saved


def test_decorator_conditions_and_params() -> None:
    exp = crucible.Experiment("dec", dataset=[{"id": 1, "input": 2}])

    @exp.condition
    def double(x: int) -> int:
        return x * 2

    @exp.condition("scaled", params={"factor": 3})
    def scale(x: int, factor: int) -> int:
        return x * factor

    assert list(exp.conditions) == ["double", "scaled"]
    assert exp.conditions["scaled"](2) == 6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "has space"}, "a name is letters, digits"),
        ({"repeat": 0}, "repeat=0 must be an integer >= 1"),
        ({"seed": "x"}, "seed='x' must be an integer"),
        ({"metrics": "correct"}, "must be a dict of Metric or a list of names"),
        ({"metrics": {"correct": "binary"}}, "must be crucible.Metric"),
        ({"dataset": 42}, "is not a dataset"),
        ({"conditions": {"a": 42}}, "is not callable"),
    ],
)
def test_declaration_errors(changes: dict[str, object], message: str) -> None:
    with pytest.raises(crucible.CrucibleError, match=message):
        _experiment(**changes)


def test_plan_errors() -> None:
    with pytest.raises(ExperimentError, match=r"baseline='x' is not a condition.*\['terse'"):
        _experiment(baseline="x").plan()
    with pytest.raises(ExperimentError, match="has no conditions"):
        _experiment(conditions={}).plan()
    exp = _experiment()
    exp.trial(terse)
    with pytest.raises(ExperimentError, match="already has the trial function terse"):
        exp.trial(verbose)
    with pytest.raises(ExperimentError, match="declared twice"):
        exp.condition("terse")(terse)
    with pytest.raises(ExperimentError, match="kind='ternary'"):
        crucible.Metric(kind="ternary")  # type: ignore[arg-type]


def test_author_version_tags_and_timeout_are_kept_out_of_the_fingerprint() -> None:
    plain = _experiment().plan()
    labelled = _experiment(author="Ada", version="2", tags=["h1", "h2"], timeout=30).plan()
    assert labelled.fingerprint == plain.fingerprint
    assert [t.key for t in labelled.trials] == [t.key for t in plain.trials]
    header = labelled.header()
    assert (header["author"], header["version"], header["tags"]) == ("Ada", "2", ["h1", "h2"])
    assert labelled.experiment.timeout == 30.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tags": "h1"}, "tags='h1' must be a list of strings"),
        ({"tags": ["h1", 2]}, "tags must be non-empty strings; 2 is not"),
        ({"author": 7}, "author=7 must be a string"),
        ({"version": 2.1}, "version=2.1 must be a string .* e.g. version='2.1'"),
        ({"timeout": 0}, "timeout=0 must be a number of seconds > 0"),
        ({"timeout": True}, "timeout=True must be a number of seconds"),
    ],
)
def test_labels_and_timeouts_are_checked(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        _experiment(**changes)


def test_a_condition_timeout_is_checked_and_not_part_of_its_identity() -> None:
    assert Condition(terse, timeout=2).timeout == 2.0
    assert Condition(terse, timeout=2).named("a").identity == Condition(terse).named("a").identity
    with pytest.raises(ExperimentError, match="condition terse: timeout=-1 must be a number"):
        Condition(terse, timeout=-1)
