"""GSM8K (Cobbe et al., 2021): grade-school maths word problems, read locally.

Two layouts are read: the official JSON Lines files (`grade_school_math/data/test.jsonl`, rows
{"question", "answer"} where the reference solution ends in "#### <final answer>"; the
Socratic variant in `test_socratic.jsonl`) and the Hugging Face hub cache of `openai/gsm8k`
(Parquet files `main/test-*.parquet`, `socratic/...`, with the same two columns).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_crucible.benchmarks._hub_cache import split_files, splits_in
from pytest_crucible.benchmarks._parquet_child import read_parquet_files
from pytest_crucible.benchmarks._sources import (
    default_snapshot,
    existing_folder,
    hub_snapshot_in,
    not_found,
    one_of,
)
from pytest_crucible.declare.datasets import Dataset, Item
from pytest_crucible.errors import DatasetError

__all__ = ["final_answer", "gsm8k"]

REPOS = ("openai/gsm8k", "gsm8k")
_CONFIGS = ("main", "socratic")
_LAYOUTS = (
    "a JSON Lines file such as test.jsonl; the folder holding it, its data/ folder or "
    "grade_school_math/data/ (the official repository); a Hugging Face hub cache holding "
    "datasets--openai--gsm8k, that repository's folder, or one of its snapshots/<revision> "
    "folders (main/test-*.parquet)"
)
DOWNLOAD = "huggingface-cli download openai/gsm8k --repo-type dataset"
RELEASE = "gsm8k(): test.jsonl of the official repository, or its folder"


def gsm8k(
    path: str | Path | None = None,
    *,
    split: str = "test",
    config: str = "main",
    sample: int | None = None,
    seed: int = 0,
) -> Dataset:
    """GSM8K's problems of `split` ("test" or "train") in `config` ("main" or "socratic"),
    and a seeded `sample` of them.

    `path` is a JSON Lines file, a folder or a hub cache (see the module's docstring); without
    it the machine's hub cache is read. Items: id "gsm8k/<n>" (the row's position from 0),
    input the question, expected the final answer (the text after "####", commas removed),
    metadata {"solution": the full reference solution}.
    """
    if config not in _CONFIGS:
        raise DatasetError(
            f"gsm8k: config={config!r} does not exist; the configs are main, socratic"
        )
    return Dataset(
        lambda: _load(path, split, config), name=f"gsm8k[{split}]", sample=sample, seed=seed
    )


def final_answer(solution: str) -> str | None:
    """The final answer of a GSM8K reference solution: the text after its last "####",
    stripped, commas removed ("#### 1,200" -> "1200"); None without a "####"."""
    if "####" not in solution:
        return None
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


def _load(path: str | Path | None, split: str, config: str) -> list[Item]:
    if path is None:
        found = default_snapshot(REPOS)
        if found is None:
            raise not_found("gsm8k", REPOS, DOWNLOAD, RELEASE)
        return _from_hub(found, split, config)
    given = existing_folder(path, "gsm8k")
    if given.is_file():
        if given.suffix != ".jsonl":
            raise DatasetError(f"gsm8k: {given} is not a .jsonl file; gsm8k() reads {_LAYOUTS}")
        return _items(_read_jsonl(given), given)
    name = f"{split}.jsonl" if config == "main" else f"{split}_{config}.jsonl"
    for data in (given, given / "data", given / "grade_school_math" / "data"):
        if (data / name).is_file():
            return _items(_read_jsonl(data / name), data / name)
        present = sorted(p.stem for p in data.glob("*.jsonl"))
        if present:
            one_of("split", name.removesuffix(".jsonl"), present, data, "gsm8k")
    hub = hub_snapshot_in(given, REPOS)
    if hub is not None:
        return _from_hub(hub, split, config)
    raise DatasetError(f"gsm8k: {given} is not in a layout gsm8k() reads; it reads {_LAYOUTS}")


def _from_hub(snapshot: Path, split: str, config: str) -> list[Item]:
    configs = [p.name for p in snapshot.iterdir() if p.is_dir()]
    one_of("config", config, configs, snapshot, "gsm8k")
    one_of("split", split, splits_in(snapshot / config), snapshot / config, "gsm8k")
    items: list[Item] = []
    for file, rows in read_parquet_files(split_files(snapshot / config, split)):
        items += _items(((n, row) for n, row in enumerate(rows, start=1)), file, first=len(items))
    return items


def _read_jsonl(file: Path) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"gsm8k: {file}, line {number}: not valid JSON ({exc.msg} at column "
                    f"{exc.colno}): {line[:80]!r}; fix or remove that line"
                ) from None
    return rows


def _items(rows: Any, file: Path, first: int = 0) -> list[Item]:
    items: list[Item] = []
    for number, row in rows:
        question, solution = _fields(row, file, number)
        answer = final_answer(solution)
        if not answer:
            raise DatasetError(
                f"gsm8k: {file}, row {number}: the answer does not end in '#### <final "
                f"answer>': {solution[-80:]!r}; fix or remove that row"
            )
        items.append(
            Item(
                id=f"gsm8k/{first + len(items)}",
                input=question,
                expected=answer,
                metadata={"solution": solution},
            )
        )
    return items


def _fields(row: Any, file: Path, number: int) -> tuple[str, str]:
    if not isinstance(row, Mapping):
        raise DatasetError(
            f"gsm8k: {file}, row {number}: expected an object with question and answer, "
            f"got {type(row).__name__}; fix or remove that row"
        )
    question, solution = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not isinstance(solution, str):
        raise DatasetError(
            f"gsm8k: {file}, row {number}: question and answer must both be text; the row "
            f"has {sorted(row)}; fix or remove that row"
        )
    return question, solution
