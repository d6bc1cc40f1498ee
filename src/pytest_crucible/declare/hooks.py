"""`Hooks`: lifecycle callables of one experiment (the per-experiment twin of hookspecs.py).

```python
exp = crucible.Experiment(..., hooks=crucible.Hooks(before_condition=note, on_error=triage))
```

Each field takes the same arguments as the pytest hook of the same name
(`pytest_crucible_<field>`, see hookspecs.py and docs/hooks.md) and runs just before it; the
experiment's own callable is asked first. Pure: no pytest here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

from pytest_crucible.errors import CrucibleError, ExperimentError

__all__ = ["ON_ERROR_ANSWERS", "HookError", "Hooks", "OnErrorAnswer"]

OnErrorAnswer = Literal["retry", "fail", "skip", "abort"]
ON_ERROR_ANSWERS: tuple[str, ...] = ("retry", "fail", "skip", "abort")


@dataclass(frozen=True)
class Hooks:
    """Lifecycle callables of one experiment; every field is optional.

    before_experiment(experiment, config) -> dict | None: in every process that collects
    the experiment, before its trials are planned; a returned dict replaces the config.
    after_experiment(experiment, run_id, results) -> None: once, where the store is written,
    after the run ended; `experiment` is the name, `results` the stored trials (dicts).
    before_condition(condition, item, trial) / after_condition(condition, item, trial,
    result): around each condition call (once per call, retries included).
    on_error(trial, error, attempt) -> "retry" | "fail" | "skip" | "abort" | None: for each
    failed attempt of a condition call; None leaves the decision to `error_handling`.
    """

    before_experiment: Callable[..., Any] | None = None
    after_experiment: Callable[..., Any] | None = None
    before_condition: Callable[..., Any] | None = None
    after_condition: Callable[..., Any] | None = None
    on_error: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not None and not callable(value):
                raise ExperimentError(
                    f"Hooks({spec.name}={value!r:.60}): must be a callable (a function taking "
                    f"the arguments of pytest_crucible_{spec.name}) or None"
                )


class HookError(CrucibleError):
    """A lifecycle hook raised (or answered something it may not). The message names the
    hook, where it is defined, and the trial or experiment it was called for. Never
    retried: a hook's bug does not go away by calling the condition again."""

    retryable = False


def describe_callable(fn: Any) -> str:
    """`module.qualname` of a callable, for messages."""
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{name}" if module else name
