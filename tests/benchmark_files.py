"""Small copies of MMLU and GSM8K in their official formats, for the built-in benchmarks'
tests: the release layouts (CSV, JSON Lines) and the Hugging Face hub cache (Parquet written
with pyarrow), holding the same rows."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

# subject -> split -> rows (question, choices A-D, answer letter)
MMLU: dict[str, dict[str, list[tuple[str, list[str], str]]]] = {
    "abstract_algebra": {
        "test": [
            ("Find the degree of Q(sqrt(2)) over Q.", ["0", "2", "4", "6"], "B"),
            ("Is Z_4 cyclic?", ["yes", "no", "only mod 2", "undefined"], "A"),
            ('Order of the "identity", in any group?', ["0", "1", "2", "inf"], "B"),
        ],
        "dev": [("Smallest group order?", ["1", "2", "3", "4"], "A")],
    },
    "anatomy": {
        "test": [
            ("Which bone is in the arm?", ["femur", "tibia", "humerus", "fibula"], "C"),
            ("How many chambers has the heart?", ["1", "2", "3", "4"], "D"),
        ],
        "dev": [("Where is the patella?", ["knee", "skull", "hand", "spine"], "A")],
    },
    "astronomy": {
        "test": [
            ("Closest star to Earth?", ["Sirius", "the Sun", "Vega", "Rigel"], "B"),
            ("Which planet has rings, visibly?", ["Mars", "Venus", "Saturn", "Mercury"], "C"),
            ("What is a light-year?", ["a time", "a distance", "a speed", "a mass"], "B"),
            ("Which is a dwarf planet?", ["Pluto", "Earth", "Jupiter", "Neptune"], "A"),
        ],
        "dev": [("Which is a gas giant?", ["Jupiter", "Mars", "Venus", "Pluto"], "A")],
    },
}
MMLU_TEST_SIZE = sum(len(splits["test"]) for splits in MMLU.values())

GSM8K = {
    "test": [
        ("Tom has 3 apples and buys 4 more. How many?", "3 + 4 = <<3+4=7>>7\n#### 7"),
        ("A shop sells 1,000 pens twice. How many?", "1000 * 2 = 2000\n#### 2,000"),
        ("Half of 9?", "9 / 2 = 4.5\n#### 4.5"),
    ],
    "train": [("One plus one?", "1 + 1 = 2\n#### 2")],
}
GSM8K_SOCRATIC = {"test": [("Two plus two?", "What is it? ** 2 + 2 = 4\n#### 4")]}
REVISION = "0123456789abcdef0123456789abcdef01234567"


def write_mmlu_release(root: Path) -> Path:
    """The original release: root/data/<split>/<subject>_<split>.csv, no header."""
    for subject, splits in MMLU.items():
        for split, rows in splits.items():
            folder = root / "data" / split
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{subject}_{split}.csv").open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                for question, choices, letter in rows:
                    writer.writerow([question, *choices, letter])
    return root


def _mmlu_rows(subject: str, split: str) -> list[dict[str, Any]]:
    return [
        {"question": q, "subject": subject, "choices": choices, "answer": "ABCD".index(letter)}
        for q, choices, letter in MMLU[subject][split]
    ]


def _hub_snapshot(cache: Path, repo: str) -> Path:
    folder = cache / ("datasets--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(REVISION)
    snapshot = folder / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def _write_parquet(file: Path, rows: list[dict[str, Any]]) -> None:
    """`file` in a snapshot (.../snapshots/<rev>/<config>/<name>.parquet) as the hub writes
    it: a relative symbolic link to a blob named by its content's hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    blobs = file.parents[3] / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    written = blobs / "incoming.parquet"
    pq.write_table(pa.Table.from_pylist(rows), written)
    blob = written.rename(blobs / hashlib.sha256(written.read_bytes()).hexdigest())
    file.parent.mkdir(parents=True, exist_ok=True)
    file.unlink(missing_ok=True)
    file.symlink_to(os.path.relpath(blob, file.parent))


def write_mmlu_hub(cache: Path, *, per_subject: bool = False) -> Path:
    """The hub cache of cais/mmlu: all/<split>-00000-of-00001.parquet, or one config per
    subject; the cache folder."""
    snapshot = _hub_snapshot(cache, "cais/mmlu")
    hub_split = {"test": "test", "dev": "dev"}
    for split, name in hub_split.items():
        if per_subject:
            for subject in MMLU:
                _write_parquet(
                    snapshot / subject / f"{name}-00000-of-00001.parquet",
                    _mmlu_rows(subject, split),
                )
        else:
            rows = [row for subject in MMLU for row in _mmlu_rows(subject, split)]
            # two shards, as the hub splits big files: the rows stay in order
            _write_parquet(snapshot / "all" / f"{name}-00000-of-00002.parquet", rows[:4])
            _write_parquet(snapshot / "all" / f"{name}-00001-of-00002.parquet", rows[4:])
    return cache


def write_gsm8k_release(root: Path) -> Path:
    """The official repository: root/grade_school_math/data/{test,train,test_socratic}.jsonl."""
    data = root / "grade_school_math" / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = {**GSM8K, **{f"{s}_socratic": rows for s, rows in GSM8K_SOCRATIC.items()}}
    for name, rows in files.items():
        lines = [json.dumps({"question": q, "answer": a}) for q, a in rows]
        (data / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_gsm8k_hub(cache: Path) -> Path:
    """The hub cache of openai/gsm8k: main/<split>-00000-of-00001.parquet, socratic/...."""
    snapshot = _hub_snapshot(cache, "openai/gsm8k")
    for config, splits in (("main", GSM8K), ("socratic", GSM8K_SOCRATIC)):
        for split, rows in splits.items():
            _write_parquet(
                snapshot / config / f"{split}-00000-of-00001.parquet",
                [{"question": q, "answer": a} for q, a in rows],
            )
    return cache


# A conftest for pytester projects: each pytest process writes, as it unconfigures, the
# modules it has loaded (as tests/test_e2e_light_pytest.py does).
PROBE = """
import json, os, sys

def pytest_unconfigure(config):
    role = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(os.path.join(str(config.rootpath), f"modules-{role}.json"), "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def loaded_modules(pytester: Any) -> dict[str, list[str]]:
    """Each pytest process's loaded modules, by role (controller, gw0, gw1, ...)."""
    return {
        path.stem.removeprefix("modules-"): json.loads(path.read_text())
        for path in sorted(pytester.path.glob("modules-*.json"))
    }
