"""The `trial` handle a trial function receives, and the result it turns into.

A `Trial` collects what happens in one trial: the condition's outputs, timings and errors
(recorded by the `condition` wrapper), the metrics the test records, its JSON results, logs
and artifacts. `Trial.to_record()` turns it into a `TrialRecord` (`store/records.py`): the
one record that travels with the pytest report (as its JSON form, across processes under
xdist) to the controller, which stores it. Its log lines are checked in `trial_logs.py`;
errors and values are made what the store keeps in `stored_values.py`.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pytest_crucible.declare.metrics import Metric, check_metric_value
from pytest_crucible.declare.plan import Plan, TrialSpec
from pytest_crucible.declare.validation import (
    MetricValidation,
    MetricValidationError,
    OnInvalid,
    ValidationResult,
    validate_metrics,
)
from pytest_crucible.errors import MetricError, TrialUsageError
from pytest_crucible.run.recovery import NO_RETRIES, TrialRecovery
from pytest_crucible.run.scoring import score_declared, score_declared_async
from pytest_crucible.run.stored_values import describe_exception, json_safe
from pytest_crucible.run.trial_logs import batch_log_entry, log_entry
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.util.tracebacks import hide_library_frames

# describe_exception and json_safe stay importable from here for the old path
# `pytest_crucible.trial` (util/moved.py); our own code imports them from stored_values.py.
__all__ = ["Trial", "describe_exception", "json_safe"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames


class Trial:
    """The runtime handle of one trial.

    `record(**metrics)` sets metric values (numbers or booleans); `result(key, value)` keeps
    any JSON value beside them; `log(level, message, **meta)` and `log_batch(entries)` keep log
    lines attributed to this trial; `progress(current, total, message)` shows how far it is in
    the live display; `artifact(name, data)` keeps text or bytes; `cancelled` says that the run
    asked trials to stop; `seed` / `rng` give per-trial randomness derived from the experiment
    seed and trial key; `config` is the experiment's resolved configuration.
    """

    # what `progress()` said last: (current, total, message); read by the progress display
    progress_state: tuple[float, float, str | None] | None = None

    def __init__(self, spec: TrialSpec, plan: Plan) -> None:
        self.spec = spec
        self.config = plan.config
        self.seed = spec.seed
        self._rng: random.Random | None = None
        self._declared: Mapping[str, Metric] = plan.experiment.metrics
        self._validation: MetricValidation | None = plan.experiment.validation
        # retries of its condition calls (and reruns after invalid metrics): trials.recovery
        self.recovery = TrialRecovery(plan.experiment.error_handling or NO_RETRIES, seed=self.seed)
        self.stop_reason: str | None = None  # the run stops after this trial (on_error, abort)
        self.timeout: float | None = plan.experiment.timeout  # seconds (run/timeouts.py)
        self._lock = threading.Lock()  # sync conditions may run on a thread pool
        self.metrics: dict[str, float | bool] = {}
        self.results: dict[str, Any] = {}  # trial.result(key, value)
        self.outputs: list[Any] = []
        self.calls = 0
        self.latency_s = 0.0
        self.error: dict[str, Any] | None = None
        self.logs: list[dict[str, Any]] = []
        self.artifacts: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.started_at = time.time()
        self.concurrent = False  # started ahead of its item (session/prefetch.py)
        # The trial's model-call accounting (a CallContext, see llm/context.py), set by the
        # session when model calls are cached, replayed or budgeted; None: calls pass through.
        self.call_context: Any = None
        # Why the run wants this trial to stop (`cancelled`): set by a timeout here, asked of
        # the session (Ctrl-C, a budget, a breaker, the stop file) through `stop_check`.
        self._cancel_reason: str | None = None
        self.stop_check: Callable[[], str | None] | None = None

    def __repr__(self) -> str:
        return f"Trial({self.spec.experiment}:{self.spec.test_id})"

    @property
    def rng(self) -> random.Random:
        """A `random.Random` seeded with this trial's seed (made on first use: it is 2.5 KB)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    @property
    def condition(self) -> str:
        return self.spec.condition

    @property
    def output(self) -> Any:
        """The last output the condition returned (None before it was called)."""
        return self.outputs[-1] if self.outputs else None

    @property
    def cancelled(self) -> bool:
        """True once the run asked its trials to stop: Ctrl-C, a spent budget, an open
        circuit breaker or an abort (under xdist too), or this trial's timeout. A long trial
        checks it between steps and returns early (`cancel_reason` says why)."""
        return self.cancel_reason is not None

    @property
    def cancel_reason(self) -> str | None:
        """Why the trial was asked to stop, or None (see `cancelled`)."""
        if self._cancel_reason is None and self.stop_check is not None:
            self._cancel_reason = self.stop_check()
        return self._cancel_reason

    def cancel(self, reason: str) -> None:
        """Ask the trial to stop (its timeout passed, say): `cancelled` is True from now on."""
        if self._cancel_reason is None:
            self._cancel_reason = reason

    def record(self, **metrics: Any) -> None:
        """Record metric values for this trial, e.g. `trial.record(correct=True, score=0.8)`.

        With the experiment's `validation=`, values are checked (and coerced) against their
        schemas first and maps are flattened to dotted names; invalid values are handled by
        its `on_invalid` policy (docs/recovery.md).
        """
        if self._validation is not None:
            metrics = self._validated(metrics)
        for name, value in metrics.items():
            if self._declared and name not in self._declared and not self._has_schema(name):
                raise MetricError(
                    f"trial {self.spec.test_id}: metric {name!r} is not declared; "
                    f"the experiment declares {sorted(self._declared)}"
                )
            try:
                checked = check_metric_value(name, value)
            except MetricError as exc:
                raise MetricError(f"trial {self.spec.test_id}: {exc}") from None
            with self._lock:
                self.metrics[name] = checked

    def _has_schema(self, name: str) -> bool:
        return self._validation is not None and name in self._validation.flat_schemas

    def _label(self) -> str:
        return f"{self.spec.test_id} of experiment {self.spec.experiment}"

    def _validated(self, metrics: dict[str, Any]) -> dict[str, Any]:
        assert self._validation is not None
        given = {name: s for name, s in self._validation.schemas.items() if name in metrics}
        return self._apply(
            validate_metrics(metrics, given, coerce=self._validation.coerce, label=self._label())
        )

    def _apply(self, result: ValidationResult) -> dict[str, Any]:
        """The validation policy: log (drop, warn), or raise for retry / abort."""
        assert self._validation is not None
        if result.ok:
            return result.values
        policy = self._validation.on_invalid
        if policy is OnInvalid.LOG:
            for message in result.messages:
                self.log("warning", message)
                with self._lock:
                    self.warnings.append(message)
            return result.values
        error = MetricValidationError(result.problems, policy)
        if error.stops_run:
            self.stop_reason = f"metric validation (on_invalid='abort'): {error}"
        raise error

    @property
    def declared_metrics(self) -> Mapping[str, Metric]:
        """The experiment's declared metrics, by name."""
        return self._declared

    def complete_metrics(self) -> None:
        """After the trial function returned: compute the declared scorers' metrics it did
        not record (run/scoring.py), fill schema defaults, and apply the policy to required
        metrics it missed."""
        score_declared(self)
        self._complete_defaults()

    async def acomplete_metrics(self) -> None:
        """`complete_metrics` after an async trial function (async scorers are awaited)."""
        await score_declared_async(self)
        self._complete_defaults()

    def _complete_defaults(self) -> None:
        if self._validation is None:
            return
        with self._lock:
            recorded = list(self.metrics)
        missing = {
            name: schema
            for name, schema in self._validation.schemas.items()
            if not any(r == name or r.startswith(f"{name}.") for r in recorded)
        }
        if missing:
            values = self._apply(validate_metrics({}, missing, label=self._label()))
            with self._lock:
                self.metrics.update(values)

    def rerun(self) -> None:
        """Forget what the last run of the trial function recorded (before running it again
        after invalid metrics); calls, latency, logs and warnings are kept."""
        with self._lock:
            self.metrics.clear()
            self.results.clear()
            self.outputs.clear()
            self.error = None

    def result(self, key: str, value: Any) -> None:
        """Keep a JSON value (a dict, a list, a string, a number...) under `key`, beside the
        metrics: stored with the trial, a `results` column of `load_trials`, in the exports and
        the reports. E.g. `trial.result("answer", {"text": text, "citations": ids})`. Setting a
        key again replaces its value. A value that is not JSON raises TrialUsageError."""
        self._check_key(key)
        self._check_json(key, value)
        with self._lock:
            self.results[key] = value

    def update_result(self, key: str, update: Callable[[Any | None], Any]) -> None:
        """Replace the value under `key` by `update(current)` (None when unset) in one step:
        updates from the trial's threads and tasks all count (e.g. totals over its calls).
        `update` runs under the trial's lock, so it must not call the trial's methods."""
        self._check_key(key)
        with self._lock:
            value = update(self.results.get(key))
            self._check_json(key, value)
            self.results[key] = value

    def _check_key(self, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise TrialUsageError(
                f"trial {self.spec.test_id}: trial.result key {key!r} must be a non-empty string"
            )

    def _check_json(self, key: str, value: Any) -> None:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TrialUsageError(
                f"trial {self.spec.test_id}: trial.result({key!r}, ...) takes JSON values "
                f"(dict, list, str, int, float, bool, None), got {type(value).__name__} "
                f"({exc}); convert it first, e.g. str(value), list(value) or value.tolist()"
            ) from None

    def log(self, level: str, message: str, **meta: Any) -> None:
        """Keep a log line attributed to this trial (stored with it)."""
        entry = log_entry(level, message, meta, "trial.log", self.warnings)
        with self._lock:
            self.logs.append(entry)

    def log_batch(self, entries: Iterable[Mapping[str, Any] | Sequence[Any]]) -> None:
        """Keep many log lines at once, stored like `log`'s. Each entry is a dict with
        `level`, `message` and optionally `meta` (or `metadata`, a dict), or a tuple
        `(level, message)` or `(level, message, meta)`. Every entry is checked before any is
        kept: a bad one raises TrialUsageError naming its index."""
        if isinstance(entries, (str, bytes, Mapping)):
            raise TrialUsageError(
                f"trial.log_batch takes a list of entries, got {type(entries).__name__}; "
                'e.g. trial.log_batch([("info", "step 1"), {"level": "debug", "message": "x"}])'
            )
        kept = [batch_log_entry(i, entry, self.warnings) for i, entry in enumerate(entries)]
        with self._lock:
            self.logs.extend(kept)

    def artifact(self, name: str, data: str | bytes) -> None:
        """Keep a named artifact (text or bytes) with this trial's stored result."""
        if isinstance(data, bytes):
            entry = {"name": name, "encoding": "base64", "data": base64.b64encode(data).decode()}
        elif isinstance(data, str):
            entry = {"name": name, "encoding": "text", "data": data}
        else:
            raise TypeError(
                f"trial.artifact({name!r}): data must be str or bytes, "
                f"got {type(data).__name__}; serialise it first (json.dumps)"
            )
        with self._lock:
            self.artifacts.append(entry)

    def progress(self, current: float, total: float, message: str | None = None) -> None:
        """Say how far a long trial is, e.g. `trial.progress(3, 10, "generating tests")`:
        shown live under its condition by the progress display (not stored). Costs one
        attribute assignment: call it as often as you like."""
        for name, value in (("current", current), ("total", total)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise TypeError(
                    f"trial.progress({current!r}, {total!r}): {name} must be a number, "
                    f"got {type(value).__name__}"
                )
        if total <= 0 or current < 0:
            raise ValueError(
                f"trial.progress({current!r}, {total!r}): give 0 <= current and total > 0, "
                "e.g. trial.progress(3, 10)"
            )
        self.progress_state = (current, total, None if message is None else str(message)[:200])

    def note_call(self, output: Any, seconds: float) -> None:
        """Called by the condition wrapper after each successful condition call."""
        with self._lock:
            self.calls += 1
            self.latency_s += seconds
            self.outputs.append(output)

    def note_error(self, exc: BaseException, seconds: float) -> None:
        """Called by the condition wrapper when the condition raised."""
        with self._lock:
            self.calls += 1
            self.latency_s += seconds
            self.error = describe_exception(exc, where="condition")

    def captured_log(self) -> str:
        """The `logging` records made inside this trial, formatted as pytest shows them."""
        lines = []
        for entry in self.logs:
            logger = entry["meta"].get("logger") if isinstance(entry["meta"], dict) else None
            if logger is not None:
                lines.append(f"{entry['level'].upper():<8} {logger}: {entry['message']}")
        return "\n".join(lines)

    def missing_metrics(self) -> list[str]:
        """Declared metrics not recorded (a metric whose schema says required=False may be
        missing)."""
        optional = set()
        if self._validation is not None:
            optional = {n for n, s in self._validation.flat_schemas.items() if not s.required}
        return [n for n in self._declared if n not in self.metrics and n not in optional]

    def to_record(
        self,
        *,
        status: str,
        error: dict[str, Any] | None = None,
        with_item: bool = True,
        note_warnings: bool = True,
    ) -> TrialRecord:
        """The JSON-safe record of this trial that goes to the store. The item's content is
        left out (None) when this process already sent it with another trial.
        `note_warnings`: add what could not be kept as JSON to the trial's warnings."""
        outputs = self.outputs[0] if len(self.outputs) == 1 else (self.outputs or None)
        spec = self.spec
        warnings = self.warnings if note_warnings else list(self.warnings)
        return TrialRecord(
            experiment=spec.experiment,
            key=spec.key,
            condition=spec.condition,
            item_id=spec.item.id,
            repeat=spec.repeat,
            status=status,
            cluster=spec.item.cluster,
            item=json_safe(spec.item.to_dict(), warnings) if with_item else None,
            metrics=dict(self.metrics),
            results=dict(self.results) or None,
            output=json_safe(outputs, warnings, what="output"),
            error=error or self.error,
            calls=self.calls,
            latency_s=self.latency_s,
            # copies: a sync trial left running after its timeout may still add to them
            logs=list(self.logs),
            artifacts=list(self.artifacts),
            warnings=warnings,
            recovery=self.recovery.to_dict(),
            started_at=self.started_at,
            ended_at=time.time(),
            **(self.call_context.result_fields() if self.call_context is not None else {}),
        )
