"""The packages whose public names load on first use share one helper, `util.lazy.LazyNames`."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from pytest_crucible.util.lazy import LazyNames

LAZY_PACKAGES = (
    "pytest_crucible",
    "pytest_crucible.llm",
    "pytest_crucible.review.gates",
    "pytest_crucible.session",
)


@pytest.mark.parametrize("package_name", LAZY_PACKAGES)
def test_every_public_name_of_a_lazy_package_resolves_through_the_helper(
    package_name: str,
) -> None:
    package = importlib.import_module(package_name)
    assert isinstance(package._LAZY, LazyNames)
    for name in package.__all__:
        value = getattr(package, name)
        assert value is not None
    assert dir(package) == sorted({*vars(package), *package.__all__})


@pytest.mark.parametrize("package_name", LAZY_PACKAGES)
def test_an_unknown_name_is_an_attribute_error_naming_the_package(package_name: str) -> None:
    package = importlib.import_module(package_name)
    with pytest.raises(AttributeError, match=f"module '{package_name}' has no attribute 'Nope'"):
        package.Nope  # noqa: B018


def test_names_come_from_the_module_in_sys_modules_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pytest_crucible

    stand_in = types.ModuleType("pytest_crucible.declare.datasets")
    stand_in.Dataset = object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pytest_crucible.declare.datasets", stand_in)
    assert pytest_crucible.Dataset is stand_in.Dataset  # type: ignore[attr-defined]
    assert pytest_crucible.datasets is stand_in


def test_relative_and_whole_module_entries() -> None:
    lazy = LazyNames("pytest_crucible.util", {"LazyNames": ".lazy"}, modules={"names": ".names"})
    assert lazy.get("LazyNames") is LazyNames
    assert lazy.get("names") is importlib.import_module("pytest_crucible.util.names")
