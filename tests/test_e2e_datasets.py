"""End to end: an experiment over a Parquet dataset under xdist keeps numpy out of pytest,
and a baseline comparison names the items added, removed and changed since the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from e2e_support import query, trial_rows
from pytest_crucible import datasets

_TIMEOUT_S = 300  # runs with xdist workers and an analysis child, on a busy machine
_PROBE = """
import json, os, sys

def pytest_unconfigure(config):
    role = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(os.path.join(str(config.rootpath), f"modules-{role}.json"), "w") as f:
        json.dump(sorted(sys.modules), f)
"""
_EXPERIMENT = """
import pytest_crucible as crucible

def upper(text):
    return text.upper()

capitals = crucible.Experiment(
    name="capitals",
    dataset=crucible.datasets.{loader},
    conditions={{"upper": upper, "same": lambda text: text}},
    baseline="upper",
    metrics={{"correct": crucible.Metric(kind="binary")}},
    seed=3,
)

@capitals.trial
def test_capitals(condition, item, trial):
    trial.record(correct=condition(item.input["city"]) == item.expected)
"""
_ROWS = [
    {"country": "France", "city": "paris", "answer": "PARIS", "region": "eu"},
    {"country": "Peru", "city": "lima", "answer": "LIMA", "region": "sa"},
    {"country": "Japan", "city": "tokyo", "answer": "TOKYO", "region": "as"},
    {"country": "Chile", "city": "santiago", "answer": "SANTIAGO", "region": "sa"},
]


@pytest.mark.slow
def test_a_parquet_experiment_under_xdist_loads_no_numpy_into_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRUCIBLE_DATASET_CACHE", str(pytester.path / "row-cache"))
    pq.write_table(pa.Table.from_pylist(_ROWS), pytester.path / "capitals.parquet")
    loader = (
        'parquet("capitals.parquet", id="country", input=["city"], expected="answer", '
        'metadata=["region"]).sample(3, stratify="region", seed=1)'
    )
    pytester.makepyfile(test_capitals=_EXPERIMENT.format(loader=loader), conftest=_PROBE)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", "-n", "2",
        timeout=_TIMEOUT_S,
    )  # fmt: skip
    result.assert_outcomes(passed=6)
    rows = trial_rows(pytester)
    # the same sample drawn here, in another process: one country of each region
    drawn = datasets.parquet(
        pytester.path / "capitals.parquet", id="country", metadata=["region"]
    ).sample(3, stratify="region", seed=1)
    expected_ids = sorted(item.id for item in drawn.items)
    assert sorted({r["item_id"] for r in rows}) == expected_ids and len(expected_ids) == 3
    upper = [r["metrics"]["correct"] for r in rows if r["condition"] == "upper"]
    same = [r["metrics"]["correct"] for r in rows if r["condition"] == "same"]
    assert upper == [True, True, True] and same == [False, False, False]
    (run,) = query(pytester, "SELECT header FROM runs")
    header = json.loads(run["header"])
    assert header["dataset"] == "capitals.parquet | sample(3, stratify='region', seed=1)"
    assert sorted(header["dataset_items"]) == sorted({r["item_id"] for r in rows})
    for role in ("controller", "gw0", "gw1"):
        modules = json.loads((pytester.path / f"modules-{role}.json").read_text())
        assert [m for m in modules if m.split(".")[0] in ("numpy", "pandas", "pyarrow")] == []


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_gate_names_the_items_added_removed_and_changed_since_the_baseline(
    pytester: pytest.Pytester,
) -> None:
    loader = 'jsonl("capitals.jsonl", id="country", input=["city"], expected="answer")'
    pytester.makepyfile(test_capitals=_EXPERIMENT.format(loader=loader))
    _write_jsonl(pytester.path / "capitals.jsonl", _ROWS)
    common = ("--crucible", "--crucible-report=none", "-p", "no:cacheprovider")
    saved = pytester.runpytest_subprocess(
        *common, "--crucible-save-baseline=main", timeout=_TIMEOUT_S
    )
    saved.assert_outcomes(passed=8)  # 8 trials, no gate
    edited = [dict(r) for r in _ROWS if r["country"] != "Peru"]  # Peru removed
    edited[1]["city"] = "kyoto"  # Japan changed
    edited.append({"country": "Kenya", "city": "nairobi", "answer": "NAIROBI", "region": "af"})
    _write_jsonl(pytester.path / "capitals.jsonl", edited)
    compared = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=html", "-p", "no:cacheprovider",
        "--crucible-compare=main", "--crucible-margin", "correct=0.5",
        timeout=_TIMEOUT_S,
    )  # fmt: skip
    compared.assert_outcomes(passed=10)  # 8 trials and the 2 comparisons with the baseline
    compared.stdout.fnmatch_lines(
        [
            "*the dataset differs from the baseline's (dataset fingerprint * -> *): "
            "1 item(s) added: Kenya; 1 item(s) removed: Peru; 1 item(s) changed: Japan; "
            "a changed item is compared by id with its old version*"
        ]
    )
    # the HTML report counts the per-item fingerprints rather than listing one per line
    (report,) = (pytester.path / "crucible-results" / "capitals").glob("*/report.html")
    assert "4 item fingerprints (in the stored header)" in report.read_text()


_FOLDS = """
import pytest_crucible as crucible

folds = crucible.datasets.jsonl("capitals.jsonl", id="country", input="city").folds(2, seed=4)


def memorised(train):
    def answer(city):  # knows the train items' answers alone
        return {item.input: item.expected for item in train.items}.get(city, "?")

    return answer


def fold_trial(experiment):
    @experiment.trial
    def trial_function(condition, item, trial):
        trial.record(correct=condition(item.input) == item.expected)

    return trial_function


for number, (train, test) in enumerate(folds, start=1):
    fold = crucible.Experiment(
        name=f"fold{number}",
        dataset=test,
        conditions={"memorised": memorised(train)},
        metrics={"correct": crucible.Metric(kind="binary")},
    )
    globals()[f"test_fold{number}"] = fold_trial(fold)
"""


def test_one_experiment_per_fold_as_docs_datasets_md_shows(pytester: pytest.Pytester) -> None:
    _write_jsonl(pytester.path / "capitals.jsonl", _ROWS)
    pytester.makepyfile(test_folds=_FOLDS)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", timeout=_TIMEOUT_S
    )
    result.assert_outcomes(passed=4)  # 2 folds x 2 test items
    runs = query(pytester, "SELECT header FROM runs")
    headers = sorted((json.loads(r["header"]) for r in runs), key=lambda h: h["name"])
    assert [h["name"] for h in headers] == ["fold1", "fold2"]
    assert [h["dataset"] for h in headers] == [
        "capitals.jsonl | fold 1/2 test (seed=4)",
        "capitals.jsonl | fold 2/2 test (seed=4)",
    ]
    tested = [set(h["dataset_items"]) for h in headers]
    assert tested[0].isdisjoint(tested[1])
    assert tested[0] | tested[1] == {r["country"] for r in _ROWS}
    # no test item is in its own fold's train set: the memorised answers are all wrong
    assert {r["metrics"]["correct"] for r in trial_rows(pytester)} == {False}
