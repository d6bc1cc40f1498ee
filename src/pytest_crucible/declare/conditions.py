"""Conditions: the callables an experiment compares, and what identifies their code.

A condition's identity (part of every trial key) is its name, its parameters and either an
explicit `version` or a hash of its source code together with the simple module-level
constants it reads (a prompt template, say). Editing one condition therefore changes the keys
of that condition's trials alone, and `--crucible-resume` reruns just those.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.errors import ExperimentError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Condition", "check_timeout", "code_identity"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames

_CONSTANT_TYPES = (str, int, float, bool, bytes, tuple, type(None))


@dataclass(frozen=True)
class Condition:
    """A named callable with fixed parameters: calling it calls `fn(*args, **params, **kw)`.

    `timeout`: seconds each call (each attempt, under a retry policy) may take; not part of
    the condition's identity (it does not change what a call computes)."""

    fn: Callable[..., Any]
    name: str = ""
    version: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise ExperimentError(
                f"condition {self.name or '?'}: {self.fn!r:.80} is not callable; "
                "a condition is a function (sync or async) that the trial calls"
            )
        where = f"condition {self.name or getattr(self.fn, '__name__', '?')}: timeout"
        object.__setattr__(self, "timeout", check_timeout(where, self.timeout))

    @functools.cached_property
    def is_async(self) -> bool:
        fn: Any = self.fn
        while isinstance(fn, functools.partial):
            fn = fn.func
        return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        )

    def named(self, name: str) -> Condition:
        return Condition(
            self.fn, name=name, version=self.version, params=self.params, timeout=self.timeout
        )

    @functools.cached_property
    def identity(self) -> str:
        code = f"version:{self.version}" if self.version is not None else code_identity(self.fn)
        return digest(canonical_json({"name": self.name, "code": code, "params": self.params}))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **{**self.params, **kwargs})


def check_timeout(where: str, seconds: Any) -> float | None:
    """A timeout in seconds (a positive number) or None; an ExperimentError otherwise."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ExperimentError(
            f"{where}={seconds!r} must be a number of seconds > 0 (or None for no limit), "
            "e.g. timeout=30"
        )
    return float(seconds)


def code_identity(fn: Any, _seen: frozenset[int] = frozenset()) -> str:
    """A hash of what a callable will do: its source, the constants it reads and the
    functions of its own module that it calls (so editing a shared prompt helper counts)."""
    if isinstance(fn, functools.partial):
        inner = code_identity(fn.func, _seen)
        return digest(canonical_json([inner, repr(fn.args), repr(sorted(fn.keywords.items()))]))
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        source = repr((code.co_code, code.co_consts)) if code else repr(fn)
    return digest(canonical_json([source, _referenced_globals(fn, _seen | {id(fn)})]))


def _referenced_globals(fn: Any, seen: frozenset[int]) -> dict[str, Any]:
    """Module-level constants (strings, numbers, tuples) and same-module functions that the
    function's code names; functions are represented by their own code identity."""
    code = getattr(fn, "__code__", None)
    module_globals = getattr(fn, "__globals__", None)
    if code is None or module_globals is None:
        return {}
    names = set(code.co_names)
    for const in code.co_consts:  # names used in nested functions and comprehensions
        if inspect.iscode(const):
            names.update(const.co_names)
    found: dict[str, Any] = {}
    for name in sorted(names):
        value = module_globals.get(name)
        if isinstance(value, _CONSTANT_TYPES) and name in module_globals:
            found[name] = value
        elif (
            inspect.isfunction(value)
            and value.__module__ == getattr(fn, "__module__", None)
            and id(value) not in seen
        ):
            found[name] = code_identity(value, seen)
    return found
