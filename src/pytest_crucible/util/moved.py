"""Old import paths of moved modules: importing one warns and gives the module at its new path.

Kept for one release after the layer folders (0.2); `pytest_crucible/__init__.py` installs the
finder. The old path names the very same module object, so patching through it still works.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

# old path -> new path, one line each
MOVED: dict[str, str] = {
    "pytest_crucible._hashing": "pytest_crucible.util.hashing",
    "pytest_crucible._names": "pytest_crucible.util.names",
    "pytest_crucible._tracebacks": "pytest_crucible.util.tracebacks",
    "pytest_crucible._utf8": "pytest_crucible.util.utf8",
    "pytest_crucible._stdio": "pytest_crucible.session.stdio",
    "pytest_crucible.experiment": "pytest_crucible.declare.experiment",
    "pytest_crucible.conditions": "pytest_crucible.declare.conditions",
    "pytest_crucible.config": "pytest_crucible.declare.config",
    "pytest_crucible.datasets": "pytest_crucible.declare.datasets",
    "pytest_crucible.metrics": "pytest_crucible.declare.metrics",
    "pytest_crucible.hooks": "pytest_crucible.declare.hooks",
    "pytest_crucible.validation": "pytest_crucible.declare.validation",
    "pytest_crucible._schema": "pytest_crucible.store.schema",
    "pytest_crucible._rows": "pytest_crucible.store.rows",
    "pytest_crucible.writer": "pytest_crucible.store.writer",
    "pytest_crucible.frames": "pytest_crucible.store.frames",
    "pytest_crucible.environment": "pytest_crucible.store.environment",
    "pytest_crucible.journal": "pytest_crucible.store.journal",
    "pytest_crucible.holding": "pytest_crucible.store.holding",
    "pytest_crucible.inputs": "pytest_crucible.session.inputs",
    "pytest_crucible.recorder": "pytest_crucible.session.recorder",
    "pytest_crucible.session.recovery": "pytest_crucible.session.guard",
    "pytest_crucible.session.calls": "pytest_crucible.session.call_setup",
    "pytest_crucible.trial": "pytest_crucible.run.trial",
    "pytest_crucible.runner": "pytest_crucible.run.runner",
    "pytest_crucible.calls": "pytest_crucible.run.calls",
    "pytest_crucible.estimate": "pytest_crucible.run.estimate",
    "pytest_crucible.recovery": "pytest_crucible.run.recovery",
    "pytest_crucible.analysis": "pytest_crucible.review.analysis",
    "pytest_crucible.gates": "pytest_crucible.review.gates",
    "pytest_crucible.reports": "pytest_crucible.review.reports",
    "pytest_crucible.gating": "pytest_crucible.review.gates.decide",
    "pytest_crucible.summary": "pytest_crucible.review.summary",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths in `MOVED` (and their submodules) and loads the new ones.

    It sits last on `sys.meta_path`, so a module that really has an old path is found first."""

    def __init__(self) -> None:
        self._real_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if new_path(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = new_path(spec.name)
        assert new is not None
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._real_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system has just set __spec__ and __loader__ to the old path's: undo that
        old = module.__spec__.name if module.__spec__ is not None else ""
        if old in self._real_specs:
            real = self._real_specs.pop(old)
            module.__spec__ = real
            module.__loader__ = real.loader if real is not None else None


def new_path(old: str) -> str | None:
    """The new path of an old module path (a moved package's submodules move with it)."""
    prefix = old
    while prefix:
        if prefix in MOVED:
            return MOVED[prefix] + old[len(prefix) :]
        prefix = prefix.rpartition(".")[0]
    return None


def install() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
