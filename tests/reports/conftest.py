"""Runs for the report tests, built directly in a store (no pytest session needed)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

# Untrusted text: if any of it ran, the page title would change or an element would appear.
PAYLOAD_OUTPUT = (
    "<img src=x id=pwned-img onerror=\"document.title='PWNED'\">"
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1')</script>"
)
PAYLOAD_INPUT = "</script><script>document.body.setAttribute('data-pwned','2')</script>"
PAYLOAD_CONDITION = "<b id=pwned-b onmouseover=alert(1)>bold</b>"


def header(
    name: str, conditions: Sequence[str], items: int, repeats: int, baseline: str | None
) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Does a system message with worked examples help?",
        "fingerprint": "f" * 16,
        "dataset_fingerprint": "d" * 16,
        "config": {"temperature": 0.7, "model": "=cmd|' /C calc'!A0"},
        "seed": 42,
        "repeat": repeats,
        "conditions": list(conditions),
        "baseline": baseline,
        "metrics": {
            "correct": {"kind": "binary"},
            "latency_s": {"lower_is_better": True},
        },
        "total_trials": len(conditions) * items * repeats,
        "items": items,
    }


def trial(
    condition: str,
    item: str,
    repeat: int,
    *,
    correct: bool,
    latency: float,
    cost: float | None,
    output: Any,
    status: str = "passed",
    item_input: Any = None,
) -> dict[str, Any]:
    return {
        "experiment": "test",
        "key": f"{condition}/{item}/{repeat}",
        "condition": condition,
        "item_id": item,
        "repeat": repeat,
        "cluster": None,
        "item": {"input": item_input, "expected": "Paris", "metadata": {"source": "test"}},
        "status": status,
        "metrics": {"correct": correct, "latency_s": latency} if status == "passed" else {},
        "output": output,
        "error": None
        if status == "passed"
        else {"type": "TimeoutError", "message": "model timed out", "where": "condition"},
        "calls": 1,
        "latency_s": latency,
        "usage": {"input_tokens": 12, "output_tokens": 3, "cost_usd": cost},
        "logs": [{"level": "info", "message": f"asked {item}", "meta": {}, "at": 0.0}],
        "started_at": 0.0,
        "ended_at": 1.0,
    }


RunFactory = Callable[..., tuple[Store, str]]


@pytest.fixture
def make_run(tmp_path: Path) -> RunFactory:
    """make_run(conditions=..., items=..., repeats=..., evil=False, costs=True, analyse=False,
    aggregates={metric: [...]}) -> (open store, run id). few_shot answers better and costs
    more than terse."""

    def build(
        conditions: Sequence[str] = ("terse", "few_shot"),
        items: int = 12,
        repeats: int = 2,
        *,
        name: str = "capitals",
        baseline: str | None = "terse",
        evil: bool = False,
        costs: bool = True,
        failures: int = 1,
        store_path: Path | None = None,
        aggregates: dict[str, list[str]] | None = None,
    ) -> tuple[Store, str]:
        store = Store(store_path or tmp_path / "crucible.db")
        rng = random.Random(7)
        declared = header(name, conditions, items, repeats, baseline)
        for metric, names in (aggregates or {}).items():  # Metric(aggregate=...) per metric
            declared["metrics"][metric]["aggregate"] = names
        run_id = store.create_run(
            declared,
            {"python": "3.11.7", "git": {"commit": "abc1234", "dirty": False}},
        )
        skill = {c: 0.3 + 0.5 * (i > 0) for i, c in enumerate(conditions)}
        price = {c: 0.001 * (1 + i) for i, c in enumerate(conditions)}
        failed = 0
        for condition in conditions:
            for index in range(items):
                item = f"item-{index}" if not (evil and index == 0) else "<i>item-0</i>"
                for repeat in range(repeats):
                    broken = failed < failures and condition == conditions[-1] and index >= 1
                    failed += broken
                    output: Any = f"The answer is {index}"
                    if evil and index == 0:
                        output = PAYLOAD_OUTPUT
                    elif index == 2:
                        output = {"text": "=1+1", "tokens": [1, 2]}
                    result = trial(
                        condition,
                        item,
                        repeat,
                        correct=rng.random() < skill[condition],
                        latency=0.2 + rng.random() * (1 + 0.5 * conditions.index(condition)),
                        cost=price[condition] if costs else None,
                        output=output,
                        status="failed" if broken else "passed",
                        item_input=PAYLOAD_INPUT if evil else {"question": f"capital {index}?"},
                    )
                    store.record_trial(run_id, TrialRecord.from_json(result), "main")
        store.finish_run(run_id, "completed")
        return store, run_id

    return build


@pytest.fixture
def builders() -> SimpleNamespace:
    """`header(...)` and `trial(...)` for tests that record trials themselves."""
    return SimpleNamespace(header=header, trial=trial)


@pytest.fixture
def payloads() -> dict[str, str]:
    """The untrusted texts an `evil=True` run carries (item-0 is named `<i>item-0</i>`)."""
    return {"output": PAYLOAD_OUTPUT, "input": PAYLOAD_INPUT, "condition": PAYLOAD_CONDITION}


@pytest.fixture
def run(make_run: RunFactory) -> tuple[Store, str]:
    return make_run()
