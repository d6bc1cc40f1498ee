"""Conditions: the callables an experiment compares, and what identifies their code.

A condition's identity (part of every trial key) is its name, its parameters and either an
explicit `version` or a hash of its source code together with the simple module-level
constants it reads (a prompt template, say). Editing one condition therefore changes the keys
of that condition's trials alone, and `--crucible-resume` reruns just those.
"""

from __future__ import annotations

import functools
import inspect
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_crucible.errors import ExperimentError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Condition", "check_timeout", "code_identity", "prompt_text"]

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

    def added_text(self) -> list[str]:
        """The prompt text this condition adds to an item (see `prompt_text`), its string
        parameters included."""
        found = dict.fromkeys(prompt_text(self.fn))
        _add_strings(self.params, found)
        return list(found)


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
    # a callable object that says what it computes (e.g. a strategies.ensemble: its members
    # and vote, which its class's source does not show)
    describe = getattr(fn, "crucible_identity", None)
    if callable(describe) and not inspect.isclass(fn):
        return digest(canonical_json(["described", describe()]))
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


def prompt_text(fn: Any) -> list[str]:
    """The texts a condition's code would add to an item's input: the string constants of
    its code and of the user functions it calls (any module outside the standard library,
    installed packages and this one), and the module-level strings they read (a system prompt,
    worked examples in a tuple). Docstrings and strings without a space (dict keys, roles,
    model names, keyword names) are left out. An estimate, not a trace: text built at run
    time is not seen."""
    found: dict[str, None] = {}
    _collect_text(fn, found, set())
    return list(found)


def _collect_text(fn: Any, found: dict[str, None], seen: set[int]) -> None:
    if isinstance(fn, functools.partial):
        _add_strings([fn.args, fn.keywords], found)
        _collect_text(fn.func, found, seen)
        return
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen or not _is_user_code(code.co_filename):
        return
    seen.add(id(code))
    docstring = getattr(fn, "__doc__", None)
    module_globals = getattr(fn, "__globals__", {})
    for nested in _code_objects(code):
        for const in nested.co_consts:
            if isinstance(const, str) and const != docstring:
                _add_strings(const, found)
        for name in nested.co_names:
            value = module_globals.get(name)
            if inspect.isfunction(value):
                _collect_text(value, found, seen)
            elif isinstance(value, str | tuple | list | dict):
                _add_strings(value, found)


def _code_objects(code: Any) -> list[Any]:
    """A code object and those nested in it (comprehensions, lambdas, inner functions)."""
    found = [code]
    for const in code.co_consts:
        if inspect.iscode(const):
            found.extend(_code_objects(const))
    return found


def _add_strings(value: Any, found: dict[str, None], depth: int = 0) -> None:
    if isinstance(value, str):
        if value.strip() and any(c.isspace() for c in value):  # words, not names or keys
            found.setdefault(value, None)
    elif depth < 4 and isinstance(value, tuple | list):
        for element in value:
            _add_strings(element, found, depth + 1)
    elif depth < 4 and isinstance(value, Mapping):
        for element in value.values():
            _add_strings(element, found, depth + 1)


@functools.cache
def _library_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return (*sorted(folders), str(Path(__file__).resolve().parents[1]))


def _is_user_code(filename: str) -> bool:
    """Code of the experiment's own files, not of Python, an installed package or this one."""
    if filename.startswith("<"):
        return False
    resolved = str(Path(filename).resolve())
    return not resolved.startswith(_library_folders())
