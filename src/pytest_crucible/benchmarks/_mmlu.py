"""MMLU (Hendrycks et al., 2021): 57 subjects of four-choice questions, read locally.

Two layouts are read: the original release folder (`data/<split>/<subject>_<split>.csv`, rows
without a header: question, A, B, C, D, answer letter) and the Hugging Face hub cache of
`cais/mmlu` (Parquet files with the columns question, subject, choices, answer 0-3, in
`<config>/<split>-*.parquet`, where the config `all` holds every subject). Items of one subject
share a cluster: the analysis compares conditions per subject, not per question.
"""

from __future__ import annotations

import csv
import string
from collections.abc import Iterable, Mapping, Sequence
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

__all__ = ["format_mmlu_prompt", "mmlu"]

REPOS = ("cais/mmlu",)
_SPLITS = {"test": "test", "validation": "val", "val": "val", "dev": "dev"}  # -> release name
_HUB_SPLIT = {"test": "test", "val": "validation", "dev": "dev"}
_LAYOUTS = (
    "the original release folder (data/test/<subject>_test.csv, data/val/..., data/dev/...) "
    "or its data/ folder; a Hugging Face hub cache holding datasets--cais--mmlu, that "
    "repository's folder, or one of its snapshots/<revision> folders (<config>/<split>-*.parquet)"
)
DOWNLOAD = "huggingface-cli download cais/mmlu --repo-type dataset --include 'all/*'"
RELEASE = "mmlu(): the unpacked release folder of the paper's data.tar"


def mmlu(
    path: str | Path | None = None,
    *,
    split: str = "test",
    subjects: str | Sequence[str] | None = None,
    sample: int | None = None,
    seed: int = 0,
) -> Dataset:
    """MMLU's questions of `split` ("test", "validation" or "dev"), optionally of some
    `subjects` only, and a seeded `sample` of them.

    `path` is a release folder or a hub cache (see the module's docstring); without it the
    machine's hub cache is read. Nothing is read until the experiment is collected. Items:
    id "<subject>/<n>", input {"question", "choices", "subject"}, expected the answer's letter,
    cluster the subject.
    """
    if split not in _SPLITS:
        raise DatasetError(
            f"mmlu: split={split!r} does not exist; the splits are test, validation, dev"
        )
    wanted = [subjects] if isinstance(subjects, str) else subjects
    release_split = _SPLITS[split]
    return Dataset(
        lambda: _load(path, release_split, None if wanted is None else list(wanted)),
        name=f"mmlu[{split}]",
        sample=sample,
        seed=seed,
    )


def format_mmlu_prompt(item: Item | Mapping[str, Any]) -> str:
    """The standard zero-shot MMLU prompt of an item (or of its input dict), as the paper's
    code writes it: a header naming the subject, the question, lettered choices, "Answer:"."""
    fields = item.input if isinstance(item, Item) else item
    try:
        question, choices = fields["question"], list(fields["choices"])
        subject = str(fields.get("subject") or "")
    except (KeyError, TypeError):
        raise DatasetError(
            f"format_mmlu_prompt: {fields!r:.80} is not an MMLU item; pass an item of "
            "benchmarks.mmlu() (its input has question, choices and subject)"
        ) from None
    about = "".join(" " + word for word in subject.split("_"))
    lines = [f"The following are multiple choice questions (with answers) about{about}.", ""]
    lines.append(str(question))
    lines += [
        f"{letter}. {choice}"
        for letter, choice in zip(string.ascii_uppercase, choices, strict=False)
    ]
    lines.append("Answer:")
    return "\n".join(lines)


def _load(path: str | Path | None, split: str, subjects: list[str] | None) -> list[Item]:
    if path is None:
        found = default_snapshot(REPOS)
        if found is None:
            raise not_found("mmlu", REPOS, DOWNLOAD, RELEASE)
        return _from_hub(found, split, subjects)
    folder = existing_folder(path, "mmlu")
    release = _release_data_folder(folder)
    if release is not None:
        return _from_release(release, split, subjects)
    hub = hub_snapshot_in(folder, REPOS)
    if hub is not None:
        return _from_hub(hub, split, subjects)
    raise DatasetError(f"mmlu: {folder} is not in a layout mmlu() reads; it reads {_LAYOUTS}")


def _release_data_folder(folder: Path) -> Path | None:
    for data in (folder / "data", folder):
        if any((data / name).is_dir() and any((data / name).glob("*.csv")) for name in _HUB_SPLIT):
            return data
    return None


def _from_release(data: Path, split: str, subjects: list[str] | None) -> list[Item]:
    files = {p.name.removesuffix(f"_{split}.csv"): p for p in (data / split).glob(f"*_{split}.csv")}
    present = [s for s in _HUB_SPLIT if any((data / s).glob("*.csv"))]
    one_of("split", split, present, data, "mmlu")
    chosen = sorted(files) if subjects is None else subjects
    for subject in chosen:
        one_of("subject", subject, files, data / split, "mmlu")
    items: list[Item] = []
    for subject in chosen:
        items += _subject_items(subject, _read_release_csv(files[subject]))
    return items


def _read_release_csv(file: Path) -> list[tuple[str, list[str], str]]:
    rows: list[tuple[str, list[str], str]] = []
    with file.open(encoding="utf-8", newline="") as handle:
        for number, cells in enumerate(csv.reader(handle), start=1):
            if len(cells) != 6 or cells[5].strip() not in ("A", "B", "C", "D"):
                raise DatasetError(
                    f"mmlu: {file}, row {number}: expected 6 cells (question, A, B, C, D, "
                    f"answer letter A-D), got {len(cells)}: {cells!r:.100}; fix or remove "
                    "that row"
                )
            rows.append((cells[0], cells[1:5], cells[5].strip()))
    return rows


def _from_hub(snapshot: Path, split: str, subjects: list[str] | None) -> list[Item]:
    hub_split = _HUB_SPLIT[split]
    configs = sorted(
        p.name for p in snapshot.iterdir() if p.is_dir() and p.name != "auxiliary_train"
    )
    if "all" in configs and split_files(snapshot / "all", hub_split):
        files = split_files(snapshot / "all", hub_split)
    else:
        present = {s for c in configs for s in splits_in(snapshot / c)}
        one_of("split", hub_split, present, snapshot, "mmlu")
        names = [c for c in configs if c != "all"] if subjects is None else subjects
        for name in names:
            one_of("subject", name, configs, snapshot, "mmlu")
        files = [f for name in names for f in split_files(snapshot / name, hub_split)]
    by_subject: dict[str, list[tuple[str, list[str], str]]] = {}
    for file, rows in read_parquet_files(files):
        for number, row in enumerate(rows, start=1):
            subject, question = _hub_row(row, file, number, default_subject=file.parent.name)
            by_subject.setdefault(subject, []).append(question)
    chosen = sorted(by_subject) if subjects is None else subjects
    for subject in chosen:
        one_of("subject", subject, by_subject, snapshot, "mmlu")
    items: list[Item] = []
    for subject in chosen:
        items += _subject_items(subject, by_subject[subject])
    return items


def _hub_row(
    row: Mapping[str, Any], file: Path, number: int, default_subject: str
) -> tuple[str, tuple[str, list[str], str]]:
    question, choices, answer = row.get("question"), row.get("choices"), row.get("answer")
    if (
        not isinstance(question, str)
        or not isinstance(choices, list)
        or len(choices) < 2
        or not isinstance(answer, int)
        or not 0 <= answer < len(choices)
    ):
        raise DatasetError(
            f"mmlu: {file}, row {number}: expected question (text), choices (a list) and "
            f"answer (an index into choices), got {dict(row)!r:.160}; "
            "download the file again"
        )
    subject = str(row.get("subject") or default_subject)
    return subject, (question, [str(c) for c in choices], string.ascii_uppercase[answer])


def _subject_items(subject: str, rows: Iterable[tuple[str, list[str], str]]) -> list[Item]:
    return [
        Item(
            id=f"{subject}/{n}",
            input={"question": question, "choices": choices, "subject": subject},
            expected=letter,
            cluster=subject,
        )
        for n, (question, choices, letter) in enumerate(rows)
    ]
