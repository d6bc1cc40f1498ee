"""A baseline: one run's per-item results, frozen into a portable JSON document.

The document holds what a later comparison needs without the store that produced it: the
run header (conditions, metrics and their direction, config, seed, repeat, experiment and
dataset fingerprints), the git state, a digest of each condition's trial keys (to tell which
conditions changed since), and every condition x item's per-repeat status and metric values.
A baseline file (`.crucible/baselines/NAME.json`) maps experiment names to such documents,
one result per line so that a diff in review shows which items moved.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.review.gates._frames import metric_infos

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FILE_FORMAT", "Baseline", "BaselineResult", "dumps_file", "read_file"]

FILE_FORMAT = "pytest-crucible-baselines"
FORMAT_VERSION = 1
_PORTABLE_ENVIRONMENT = ("python", "implementation", "platform", "machine", "packages", "git")


@dataclass(frozen=True)
class BaselineResult:
    """One condition x item of the baseline run: status and metric values per repeat."""

    condition: str
    item_id: str
    cluster: str | None
    repeats: tuple[int, ...]
    status: tuple[str, ...]
    values: Mapping[str, tuple[float | None, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "item_id": self.item_id,
            "cluster": self.cluster,
            "repeats": list(self.repeats),
            "status": list(self.status),
            "values": {m: [_compact(v) for v in vs] for m, vs in self.values.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineResult:
        values = {
            str(m): tuple(None if v is None else float(v) for v in vs)
            for m, vs in dict(data.get("values") or {}).items()
        }
        return cls(
            str(data["condition"]),
            str(data["item_id"]),
            None if data.get("cluster") is None else str(data["cluster"]),
            tuple(int(r) for r in data.get("repeats") or ()),
            tuple(str(s) for s in data.get("status") or ()),
            values,
        )


@dataclass(frozen=True, eq=False)
class Baseline:
    """A named baseline run (see the module docs). `path`: the file it was read from or
    written to, None when it lives only in the store or was built from a run id."""

    name: str
    run_id: str
    experiment: str
    created_at: str
    header: Mapping[str, Any]
    results: tuple[BaselineResult, ...]
    environment: Mapping[str, Any] = field(default_factory=dict)
    trial_digests: Mapping[str, str] = field(default_factory=dict)
    run_status: str = "completed"
    path: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str | None:
        return self.header.get("fingerprint")

    @property
    def dataset_fingerprint(self) -> str | None:
        return self.header.get("dataset_fingerprint")

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.header.get("conditions") or ())

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(metric_infos(self.header))

    def describe(self) -> str:
        """A phrase naming the baseline for messages: "baseline 'main' (run 3f9a2c1b of ...)"."""
        saved = f", saved {self.created_at[:10]}" if self.created_at else ""
        where = f", {self.path}" if self.path else ""
        return f"baseline {self.name!r} (run {self.run_id} of {self.experiment}{saved}{where})"

    @functools.cached_property
    def _frame(self) -> pd.DataFrame:
        import pandas as pd

        metrics = list(dict.fromkeys([*self.metrics, *(m for r in self.results for m in r.values)]))
        columns: dict[str, list[Any]] = {
            k: [] for k in ("condition", "item_id", "repeat", "cluster", "status", *metrics)
        }
        for result in self.results:
            for index, repeat in enumerate(result.repeats):
                columns["condition"].append(result.condition)
                columns["item_id"].append(result.item_id)
                columns["repeat"].append(repeat)
                columns["cluster"].append(result.cluster)
                columns["status"].append(result.status[index])
                for metric in metrics:
                    value = result.values.get(metric, ())
                    got = value[index] if index < len(value) else None
                    columns[metric].append(math.nan if got is None else got)
        frame = pd.DataFrame(columns)
        frame.attrs["metrics"] = metrics
        return frame

    def trials(self) -> pd.DataFrame:
        """The baseline's trials as a trials frame (condition, item_id, repeat, cluster,
        status, one column per metric): the same shape `trials_frame` gives a run."""
        return self._frame.copy()

    def to_dict(self) -> dict[str, Any]:
        """The portable, JSON-safe document of this baseline."""
        return {
            "name": self.name,
            "run_id": self.run_id,
            "experiment": self.experiment,
            "created_at": self.created_at,
            "run_status": self.run_status,
            "fingerprint": self.fingerprint,
            "dataset_fingerprint": self.dataset_fingerprint,
            "header": dict(self.header),
            "environment": dict(self.environment),
            "trial_digests": dict(self.trial_digests),
            "notes": list(self.notes),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> Baseline:
        try:
            return cls(
                name=str(data["name"]),
                run_id=str(data["run_id"]),
                experiment=str(data["experiment"]),
                created_at=str(data.get("created_at", "")),
                header=dict(data["header"]),
                results=tuple(BaselineResult.from_dict(r) for r in data["results"]),
                environment=dict(data.get("environment") or {}),
                trial_digests={
                    str(k): str(v) for k, v in (data.get("trial_digests") or {}).items()
                },
                run_status=str(data.get("run_status", "completed")),
                path=path,
                notes=tuple(str(n) for n in data.get("notes") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            where = f"file {path}" if path else "stored baseline"
            raise GateError(
                f"{where} is not a pytest-crucible baseline ({type(exc).__name__}: {exc}); "
                "save it again with --crucible-save-baseline NAME"
            ) from None

    @classmethod
    def from_trials(
        cls,
        trials: pd.DataFrame,
        header: Mapping[str, Any],
        *,
        name: str,
        run_id: str = "",
        created_at: str = "",
        environment: Mapping[str, Any] | None = None,
        run_status: str = "completed",
        notes: tuple[str, ...] = (),
    ) -> Baseline:
        """A baseline from a trials frame and its run header (no store needed)."""
        import numpy as np  # here: checking --crucible-compare in pytest loads this module

        metrics = [m for m in metric_infos(header) if m in trials.columns]
        rows = trials
        if "status" not in rows.columns:
            rows = rows.assign(status="passed")
        if "repeat" not in rows.columns:
            rows = rows.assign(repeat=rows.groupby(["condition", "item_id"]).cumcount())
        rows = rows.sort_values(["condition", "item_id", "repeat"], kind="stable")
        conditions = rows["condition"].astype(str).to_numpy()
        items = rows["item_id"].astype(str).to_numpy()
        repeats = rows["repeat"].to_numpy()
        statuses = rows["status"].astype(str).to_numpy()
        clusters = rows["cluster"].to_numpy() if "cluster" in rows.columns else None
        values = {m: rows[m].to_numpy(dtype=float) for m in metrics}
        new_group = np.ones(len(rows), dtype=bool)
        new_group[1:] = (conditions[1:] != conditions[:-1]) | (items[1:] != items[:-1])
        starts = np.flatnonzero(new_group).tolist()
        results = []
        for start, end in zip(starts, [*starts[1:], len(rows)], strict=True):
            cluster = None if clusters is None else clusters[start]
            results.append(
                BaselineResult(
                    condition=str(conditions[start]),
                    item_id=str(items[start]),
                    cluster=None if cluster is None or cluster != cluster else str(cluster),
                    repeats=tuple(int(r) for r in repeats[start:end]),
                    status=tuple(str(s) for s in statuses[start:end]),
                    values={m: _numbers(v[start:end]) for m, v in values.items()},
                )
            )
        environment = dict(environment or {})
        return cls(
            name=name,
            run_id=run_id or str(header.get("run_id", "")),
            experiment=str(header.get("name", "")),
            created_at=created_at,
            header=dict(header),
            results=tuple(results),
            environment={k: environment[k] for k in _PORTABLE_ENVIRONMENT if k in environment},
            trial_digests=trial_digests(trials),
            run_status=run_status,
            notes=notes,
        )


def trial_digests(trials: pd.DataFrame) -> dict[str, str]:
    """condition -> a short hash of its sorted trial keys (empty without a trial_key column).

    A trial key hashes config, condition code and parameters, item content, repeat and seed,
    so two runs' digests of a condition agree exactly when nothing that determines its
    results changed."""
    if "trial_key" not in trials.columns:
        return {}
    digests = {}
    for condition, keys in trials.groupby(trials["condition"].astype(str), sort=True)["trial_key"]:
        joined = "\n".join(sorted(str(k) for k in keys))
        digests[str(condition)] = hashlib.sha256(joined.encode()).hexdigest()[:16]
    return digests


def dumps_file(name: str, documents: Mapping[str, Mapping[str, Any]]) -> str:
    """The text of a baseline file: {format, version, name, experiments: {name: document}},
    indented, with each per-item result on one line."""
    placeholders: dict[str, list[Any]] = {}
    experiments: dict[str, Any] = {}
    for experiment, document in sorted(documents.items()):
        token = f"@@results:{len(placeholders)}@@"
        placeholders[token] = list(document.get("results") or [])
        experiments[experiment] = {**document, "results": token}
    body = {"format": FILE_FORMAT, "version": FORMAT_VERSION, "name": name}
    text = json.dumps({**body, "experiments": experiments}, indent=2, sort_keys=False)
    for token, results in placeholders.items():
        lines = ",\n".join("        " + json.dumps(r, separators=(", ", ": ")) for r in results)
        text = text.replace(json.dumps(token), f"[\n{lines}\n      ]" if results else "[]")
    return text + "\n"


def read_file(path: Path) -> dict[str, Any]:
    """The parsed baseline file at `path` (its experiments' documents), or a GateError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GateError(f"cannot read the baseline file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise GateError(
            f"baseline file {path} is not valid JSON (line {exc.lineno}: {exc.msg}); restore it "
            "from git, or save the baseline again with --crucible-save-baseline NAME"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        raise GateError(
            f'{path} is not a pytest-crucible baseline file (no "format": "{FILE_FORMAT}")'
        )
    if int(data.get("version", 0)) > FORMAT_VERSION:
        raise GateError(
            f"baseline file {path} has format version {data['version']}, written by a newer "
            f"pytest-crucible (this one reads up to {FORMAT_VERSION}); upgrade pytest-crucible"
        )
    if not isinstance(data.get("experiments"), dict):
        raise GateError(f'baseline file {path} has no "experiments" object')
    return data


def _numbers(values: np.ndarray) -> tuple[float | None, ...]:
    return tuple(float(v) if math.isfinite(v) else None for v in values.tolist())


def _compact(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value
