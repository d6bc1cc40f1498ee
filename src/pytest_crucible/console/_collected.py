"""A pytest plugin for the discovery child (discovery.py): after collection, writes the
experiments of the collected trial functions as JSON to the file named by
CRUCIBLE_DISCOVERY_OUT.

Loaded with `-p` in a child `python -m pytest --collect-only`, never in the server: the user's
test files are imported there alone. It takes pytest's objects as hook arguments and never
imports pytest (the console layer must not).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pytest_crucible.declare.config import describe_schema
from pytest_crucible.declare.experiment import Experiment, registered_experiment

OUTPUT_VARIABLE = "CRUCIBLE_DISCOVERY_OUT"

_found: dict[str, dict[str, Any]] = {}
_errors: list[dict[str, str]] = []


def pytest_collectreport(report: Any) -> None:
    if report.failed:
        text = str(report.longreprtext or report.longrepr)
        _errors.append({"source": report.nodeid or "(collection)", "message": text[-2000:]})


def pytest_collection_finish(session: Any) -> None:
    root = Path.cwd()
    for item in session.items:
        experiment = registered_experiment(getattr(item, "function", None))
        if experiment is None:
            continue
        source = os.path.relpath(item.path, root)
        node = f"{source}::{item.nodeid.split('::', 1)[1].split('[', 1)[0]}"
        known = _found.get(experiment.name)
        if known is None:
            _found[experiment.name] = _described(experiment, source, node)
        elif node not in known["node_ids"]:
            known["node_ids"].append(node)
    target = os.environ.get(OUTPUT_VARIABLE)
    if target:
        document = {"experiments": list(_found.values()), "errors": _errors}
        Path(target).write_text(json.dumps(document, default=repr), encoding="utf-8")


def _described(experiment: Experiment, source: str, node: str) -> dict[str, Any]:
    return {
        "name": experiment.name,
        "description": experiment.description,
        "source": source,
        "node_ids": [node],
        "conditions": list(experiment.conditions),
        "baseline": experiment.baseline,
        "metrics": list(experiment.metrics),
        "repeats": experiment.repeat,
        "seed": experiment.seed,
        "items": _dataset_size(experiment),
        "tags": list(experiment.tags),
        "config_schema": describe_schema(experiment.config_schema),
    }


def _dataset_size(experiment: Experiment) -> int | None:
    try:
        return len(experiment.dataset.items)
    except Exception:  # a dataset that fails to load says so when it runs, not here
        return None
