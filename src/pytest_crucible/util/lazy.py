"""A package's public names imported on first use (PEP 562's module `__getattr__`).

The package front (`pytest_crucible`), `llm` and `review.gates` keep their imports cheap this
way: pytest imports the front in every run of a project that has the plugin installed, and the
gates' heavy modules (numpy, scipy, pandas) must not load in the pytest process.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["LazyNames"]


class LazyNames:
    """Finds a package's lazy names: `attributes` maps a name to the module that defines it
    (absolute, or relative to `package`), `modules` maps a name to a submodule given whole."""

    def __init__(
        self,
        package: str,
        attributes: Mapping[str, str],
        modules: Mapping[str, str] | None = None,
    ) -> None:
        self._package = package
        self._attributes = attributes
        self._modules = modules or {}

    def names(self) -> list[str]:
        """The package's `__dir__`: what it holds now and every name it can load."""
        loaded = vars(sys.modules[self._package])
        return sorted({*loaded, *self._attributes, *self._modules})

    def get(self, name: str) -> Any:
        """Imports what `name` stands for; AttributeError for a name the package lacks.

        Not cached here: the module in sys.modules is the one to use (pytester's in-process
        runs, for one, drop the modules a run imported, and the next run imports them anew)."""
        if name in self._modules:
            return importlib.import_module(self._modules[name], self._package)
        module = self._attributes.get(name)
        if module is None:
            raise AttributeError(f"module {self._package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, self._package), name)
