"""A trial's result as one typed record, and the trials table's columns, declared once.

`TrialRecord` is what a finished trial produces (`run/trial.py`), what crosses from an xdist
worker to the controller in its report's payload and what journals hold (both as its JSON
form, `to_json` / `from_json`), and what the store writes. `TRIAL_COLUMNS` declares the
trials table: its DDL (`schema.py`), its INSERT (`rows.py`), the pandas loader (`frames.py`)
and the exports derive from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TRIAL_COLUMNS",
    "TRIAL_PRIMARY_KEY",
    "USAGE_COUNTS",
    "TrialColumn",
    "TrialRecord",
    "column_names",
]


@dataclass(slots=True)
class TrialRecord:
    """The result of one trial (JSON-safe values only: `run/trial.py` makes them so)."""

    experiment: str
    key: str  # the trial key: a hash of what determines the result
    condition: str
    item_id: str
    repeat: int
    status: str  # passed | failed | skipped
    cluster: str | None = None
    # the item's content: sent once per item and process (None when sent already)
    item: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: dict[str, Any] | None = None
    calls: int = 0
    latency_s: float | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recovery: dict[str, Any] | None = None
    started_at: float | None = None
    ended_at: float | None = None
    # set when the trial called a model (run/calls.py: TrialCalls.result_fields)
    usage: dict[str, Any] | None = None
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    # trial.result(key, value): JSON values beside the metrics (None when it kept none)
    results: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-safe data (what execnet and the journals carry)."""
        data = {
            "experiment": self.experiment,
            "key": self.key,
            "condition": self.condition,
            "item_id": self.item_id,
            "repeat": self.repeat,
            "cluster": self.cluster,
            "item": self.item,
            "status": self.status,
            "metrics": self.metrics,
            "output": self.output,
            "error": self.error,
            "calls": self.calls,
            "latency_s": self.latency_s,
            "logs": self.logs,
            "artifacts": self.artifacts,
            "warnings": self.warnings,
            "recovery": self.recovery,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }
        if self.usage is not None:  # only a trial that called a model carries these
            data["usage"] = self.usage
            data["model_calls"] = self.model_calls
        if self.results is not None:
            data["results"] = self.results
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialRecord:
        """The record `to_json` gave (a journal of an older version may lack the keys that
        have defaults). Positional, in field order: the controller decodes every trial."""
        get = data.get
        return cls(
            data["experiment"],
            data["key"],
            data["condition"],
            data["item_id"],
            data["repeat"],
            data["status"],
            get("cluster"),
            get("item"),
            get("metrics") or {},
            get("output"),
            get("error"),
            get("calls") or 0,
            get("latency_s"),
            get("logs") or [],
            get("artifacts") or [],
            get("warnings") or [],
            get("recovery"),
            get("started_at"),
            get("ended_at"),
            get("usage"),
            get("model_calls") or [],
            get("results"),
        )

    @property
    def name(self) -> str:
        """condition-item-rN, as messages name a trial."""
        return f"{self.condition}-{self.item_id}-r{self.repeat}"

    @property
    def place(self) -> tuple[str, str, int]:
        """(condition, item_id, repeat): where the trial sits in its run."""
        return (self.condition, self.item_id, self.repeat)

    @property
    def failure_type(self) -> str | None:
        """The type of the error that failed the trial, if any."""
        return self.error.get("type") if self.error else None


@dataclass(frozen=True)
class TrialColumn:
    """One column of the trials table."""

    name: str
    sql: str  # its SQL type and constraints
    note: str = ""  # what it holds (a comment in the DDL)
    json: bool = False  # holds JSON text
    exported: bool = True  # a column of results.jsonl (`review/reports/exports.py`)
    written: bool = True  # set by the INSERT of a trial (else by its default, or on conflict)


TRIAL_COLUMNS = (
    TrialColumn("run_id", "TEXT NOT NULL REFERENCES runs(run_id)", exported=False),
    TrialColumn("condition", "TEXT NOT NULL"),
    TrialColumn("item_id", "TEXT NOT NULL"),
    TrialColumn("repeat", "INTEGER NOT NULL"),
    TrialColumn("trial_key", "TEXT NOT NULL", "hash of what determines the result"),
    TrialColumn("cluster", "TEXT"),
    TrialColumn("status", "TEXT NOT NULL", "passed | failed | skipped"),
    TrialColumn("metrics", "TEXT NOT NULL", "JSON object: metric name -> number/bool", json=True),
    TrialColumn("results", "TEXT", "JSON object: trial.result(key, value) values", json=True),
    TrialColumn("output", "TEXT", "JSON: what the condition returned", json=True),
    TrialColumn("error", "TEXT", "JSON: type, message, where, traceback", json=True),
    TrialColumn(
        "attempts", "INTEGER NOT NULL DEFAULT 1", "how many sessions ran this trial", written=False
    ),
    TrialColumn("calls", "INTEGER NOT NULL DEFAULT 0", "condition calls in the last attempt"),
    TrialColumn("latency_s", "REAL", "time spent in condition calls"),
    TrialColumn("input_tokens", "INTEGER"),
    TrialColumn("output_tokens", "INTEGER"),
    TrialColumn("cost_usd", "REAL"),
    TrialColumn(
        "usage",
        "TEXT",
        "JSON: model_calls, cache_hits, truncated...",
        json=True,
        exported=False,
    ),
    TrialColumn("artifacts", "TEXT", "JSON list: name, encoding, data", json=True),
    TrialColumn("warnings", "TEXT", "JSON list of strings", json=True),
    TrialColumn(
        "recovery",
        "TEXT",
        "JSON: retries, delays, final status, errors",
        json=True,
        exported=False,
    ),
    TrialColumn("worker", "TEXT", "xdist worker id, or 'main'"),
    TrialColumn("started_at", "TEXT"),
    TrialColumn("ended_at", "TEXT"),
)
TRIAL_PRIMARY_KEY = ("run_id", "condition", "item_id", "repeat")
# The counts a trial's `usage` column keeps (tokens and cost have columns of their own)
USAGE_COUNTS = ("model_calls", "cache_hits", "truncated", "truncated_at")


def column_names(
    *, json: bool | None = None, exported: bool | None = None, written: bool | None = None
) -> tuple[str, ...]:
    """The trials table's column names in table order: those with the properties given."""
    return tuple(
        column.name
        for column in TRIAL_COLUMNS
        if json in (None, column.json)
        and exported in (None, column.exported)
        and written in (None, column.written)
    )
