"""Calling the lifecycle hooks: an experiment's own `Hooks` first, then the pytest hooks.

A hook that raises becomes a `HookError` that names the hook, where it is defined and the
trial or experiment it ran for. Around condition calls (`TrialHooks`) the trial then fails
with that message; before an experiment the collection of its trial function fails; after
an experiment the session end reports it. Nothing stored is touched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from pytest_crucible.declare.conditions import Condition
from pytest_crucible.declare.config import config_to_dict, resolve_config
from pytest_crucible.declare.experiment import Experiment, registered_experiment
from pytest_crucible.declare.hooks import ON_ERROR_ANSWERS, HookError, Hooks, describe_callable
from pytest_crucible.run.stored_values import describe_exception
from pytest_crucible.run.trial import Trial
from pytest_crucible.store import ResultStore

__all__ = ["TrialHooks", "after_experiment", "before_experiment", "find_experiment"]


class TrialHooks:
    """The `bound_condition.ConditionHooks` of one experiment: its `Hooks`, then pytest's hooks."""

    def __init__(self, config: pytest.Config, hooks: Hooks) -> None:
        self._pytest_hooks = config.hook
        self._hooks = hooks
        # made when the first trial starts, after every conftest has registered its hooks;
        # hooks nobody implements cost nothing per trial
        self._implemented = {
            name
            for name in ("before_condition", "after_condition")
            if getattr(hooks, name) is not None
            or getattr(config.hook, f"pytest_crucible_{name}").get_hookimpls()
        }

    def before_condition(self, condition: Condition, trial: Trial) -> None:
        if "before_condition" not in self._implemented:
            return
        kwargs = {"condition": condition, "item": trial.spec.item, "trial": trial}
        self._around(trial, "before_condition", kwargs)

    def after_condition(self, condition: Condition, trial: Trial, result: Any) -> None:
        if "after_condition" not in self._implemented:
            return
        kwargs = {"condition": condition, "item": trial.spec.item, "trial": trial}
        kwargs["result"] = result
        self._around(trial, "after_condition", kwargs)

    def _around(self, trial: Trial, name: str, kwargs: dict[str, Any]) -> None:
        try:
            _call(self._hooks, self._pytest_hooks, name, kwargs, _for_trial(trial))
        except HookError as exc:
            trial.error = describe_exception(exc, where="hook")
            raise

    def on_error(
        self, condition: Condition, trial: Trial, error: Exception, attempt: int
    ) -> str | None:
        kwargs = {"trial": trial, "error": error, "attempt": attempt}
        where = _for_trial(trial)
        answer = _call(self._hooks, self._pytest_hooks, "on_error", kwargs, where, first=True)
        if answer is not None and answer not in ON_ERROR_ANSWERS:
            raise HookError(
                f"on_error hook answered {answer!r} {where}; answer 'retry', 'fail', 'skip', "
                "'abort' or None"
            )
        return answer  # type: ignore[no-any-return]


def before_experiment(
    config: pytest.Config, experiment: Experiment, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The config values to plan the experiment with: `overrides` (from --crucible-set),
    or the full config a before_experiment hook returned instead."""
    hooks = experiment.hooks
    own = hooks.before_experiment
    if own is None and not config.hook.pytest_crucible_before_experiment.get_hookimpls():
        return dict(overrides)
    where = f"for experiment {experiment.name}"
    resolved = config_to_dict(
        resolve_config(experiment.config_schema, dict(overrides), f"experiment {experiment.name}")
    )
    chosen: dict[str, Any] | None = None
    answer = _call(hooks, None, "before_experiment", _config_kwargs(experiment, resolved), where)
    if answer is not None:
        chosen = resolved = _config_answer(answer, "Hooks(before_experiment=...)", where)
    kwargs = _config_kwargs(experiment, resolved)
    answer = _call(None, config.hook, "before_experiment", kwargs, where, first=True)
    if answer is not None:
        chosen = _config_answer(answer, "pytest_crucible_before_experiment", where)
    return dict(overrides) if chosen is None else chosen


def _config_kwargs(experiment: Experiment, config: dict[str, Any]) -> dict[str, Any]:
    return {"experiment": experiment, "config": dict(config)}  # a copy the hook may change


def _config_answer(answer: Any, hook: str, where: str) -> dict[str, Any]:
    if not isinstance(answer, Mapping):
        raise HookError(
            f"{hook} returned {answer!r:.60} {where}; return the config as a dict, or None to "
            "keep it"
        )
    return dict(answer)


def after_experiment(
    config: pytest.Config,
    experiment: Experiment | None,
    name: str,
    run_id: str,
    store: ResultStore,
) -> list[str]:
    """Call the after_experiment hooks of one run; returns the errors (as messages)."""
    own = experiment.hooks.after_experiment if experiment is not None else None
    caller = config.hook.pytest_crucible_after_experiment
    if own is None and not caller.get_hookimpls():
        return []
    kwargs = {"experiment": name, "run_id": run_id, "results": store.stored_trials(run_id)}
    where = f"for experiment {name} (run {run_id}); its results are stored"
    errors = []
    # each hook is called even when the other one raised
    own_hooks = experiment.hooks if experiment is not None else None
    for hooks, pytest_hooks in ((own_hooks, None), (None, config.hook)):
        try:
            _call(hooks, pytest_hooks, "after_experiment", kwargs, where)
        except HookError as exc:
            errors.append(str(exc))
    return errors


def find_experiment(config: pytest.Config, path: str, name: str) -> Experiment:
    """The experiment named `name` whose trial function is defined in the module at `path`
    (imported the way pytest imports test modules). The xdist controller never collects,
    so this is how it reaches an experiment's own after_experiment hook."""
    from _pytest.pathlib import import_path

    module = import_path(
        Path(path),
        mode=config.getoption("importmode"),
        root=config.rootpath,
        consider_namespace_packages=bool(config.getini("consider_namespace_packages")),
    )
    for value in vars(module).values():
        found = registered_experiment(value) if callable(value) else None
        if found is not None and found.name == name:
            return found
    raise LookupError(f"no trial function of experiment {name!r} in {path}")


def _for_trial(trial: Trial) -> str:
    return f"in trial {trial.spec.test_id} of experiment {trial.spec.experiment}"


def _call(
    hooks: Hooks | None,
    pytest_hooks: Any,
    name: str,
    kwargs: dict[str, Any],
    where: str,
    *,
    first: bool = False,
) -> Any:
    """The experiment's hook `name` (if set), then the pytest hook; with `first`, the first
    answer that is not None. Errors become HookError naming the hook and `where`."""
    own: Callable[..., Any] | None = getattr(hooks, name) if hooks is not None else None
    if own is not None:
        try:
            answer = own(**_accepted(own, kwargs))
        except Exception as exc:
            raise HookError(
                f"Hooks({name}={describe_callable(own)}) raised {_what(exc)} {where}"
            ) from exc
        if first and answer is not None:
            return answer
    if pytest_hooks is None:
        return None
    caller = getattr(pytest_hooks, f"pytest_crucible_{name}")
    if not caller.get_hookimpls():  # nothing implements it: skip pluggy's call (per trial)
        return None
    try:
        return caller(**kwargs)
    except Exception as exc:
        defined = _defined_by(caller, exc.__traceback__)
        raise HookError(
            f"hook pytest_crucible_{name}{defined} raised {_what(exc)} {where}"
        ) from exc


def _accepted(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments `fn` takes (like pytest hooks, a callable may take a subset)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return kwargs
    names = {p.name for p in parameters}
    return {key: value for key, value in kwargs.items() if key in names}


def _defined_by(caller: Any, tb: TracebackType | None) -> str:
    """' (name in plugin)' for the hook implementation the traceback passes through."""
    codes = {}
    for impl in caller.get_hookimpls():
        code = getattr(impl.function, "__code__", None)
        if code is not None:
            codes[code] = impl
    while tb is not None:
        impl = codes.get(tb.tb_frame.f_code)
        if impl is not None:
            return f" ({impl.function.__qualname__} in {impl.plugin_name})"
        tb = tb.tb_next
    return ""


def _what(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
