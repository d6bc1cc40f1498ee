"""Finding the Arrow and Parquet files of a Hugging Face dataset on this machine (never online).

Three layouts are read:
- a `datasets` `save_to_disk` folder of one split: Arrow stream files listed in state.json;
- a `save_to_disk` folder of a DatasetDict: dataset_dict.json and a sub-folder per split;
- the hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, or ~/.cache/huggingface/hub), where a dataset
  ORG/NAME lives in datasets--ORG--NAME/snapshots/<revision>/ as Parquet files, one folder per
  config (`main/test-00000-of-00001.parquet`) or a `data/` folder (`data/test-*.parquet`);
  the split is read from the file name. A local folder laid out like a snapshot works too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pytest_crucible.errors import DatasetError

__all__ = ["ArrowSource", "hub_cache_dirs", "locate"]


@dataclass(frozen=True)
class ArrowSource:
    """The files one dataset split is read from: `kind` is "parquet" or "arrow" (a stream)."""

    kind: str
    files: tuple[Path, ...]


def hub_cache_dirs() -> list[Path]:
    """Where the Hugging Face hub cache may be, in the order the hub library looks."""
    found: list[Path] = []
    if os.environ.get("HF_HUB_CACHE"):
        found.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        found.append(Path(os.environ["HF_HOME"]) / "hub")
    found.append(Path.home() / ".cache" / "huggingface" / "hub")
    return found


def locate(path_or_name: str | Path, split: str, config: str | None) -> ArrowSource:
    """The files holding `split` of a local folder or of a dataset in the hub cache."""
    folder = Path(path_or_name).expanduser()
    if folder.is_dir():
        return _from_folder(folder, split, config, str(folder))
    if folder.exists():
        if folder.suffix == ".parquet":
            return ArrowSource("parquet", (folder,))
        raise DatasetError(f"dataset {folder} is a file; huggingface() reads a folder")
    name = str(path_or_name)
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise DatasetError(
            f"dataset folder {folder} does not exist (current directory: {Path.cwd()}); "
            "check the path, or pass a hub name such as 'org/name'"
        )
    snapshot = _hub_snapshot(name)
    return _from_folder(snapshot, split, config, f"{name} (hub cache {snapshot})")


def _hub_snapshot(name: str) -> Path:
    entry = "datasets--" + name.replace("/", "--")
    searched = [d / entry for d in hub_cache_dirs()]
    for repo in searched:
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
            return snapshots / ref.read_text().strip()
        revisions = sorted(
            (p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p)
        )
        if revisions:
            return revisions[-1]
    raise DatasetError(
        f"dataset {name!r} is not in the Hugging Face hub cache (looked in "
        f"{', '.join(map(str, searched))}); pytest-crucible never downloads: fetch it once "
        "with `datasets.load_dataset(...)` or `huggingface-cli download --repo-type dataset "
        f"{name}`, or pass the path of a save_to_disk folder (there is no folder {name!r} "
        f"in {Path.cwd()})"
    )


def _from_folder(folder: Path, split: str, config: str | None, label: str) -> ArrowSource:
    if (folder / "dataset_dict.json").is_file():
        splits = _dict_splits(folder)
        if split not in splits:
            raise DatasetError(
                f"dataset {label} has no split {split!r}; its splits are {splits}: "
                "pass split=... with one of them"
            )
        return _saved_split(folder / split, label)
    if (folder / "state.json").is_file():
        return _saved_split(folder, label)
    return _parquet_split(folder, split, config, label)


def _dict_splits(folder: Path) -> list[str]:
    try:
        declared = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8"))
        return [str(s) for s in declared["splits"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"dataset folder {folder}: dataset_dict.json is not readable ({exc}); "
            "save the dataset again with save_to_disk"
        ) from None


def _saved_split(folder: Path, label: str) -> ArrowSource:
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [str(f["filename"]) for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"dataset {label}: {folder / 'state.json'} is not a `datasets` state file ({exc}); "
            "save the dataset again with save_to_disk"
        ) from None
    files = tuple(folder / n for n in names)
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not files:
        raise DatasetError(
            f"dataset {label}: data files listed in state.json are missing: {missing}; "
            "save the dataset again with save_to_disk"
        )
    return ArrowSource("arrow", files)


def _parquet_split(folder: Path, split: str, config: str | None, label: str) -> ArrowSource:
    files = sorted(folder.rglob("*.parquet"))
    if not files:
        raise DatasetError(
            f"dataset {label} holds no Parquet files and is not a save_to_disk folder "
            "(no state.json or dataset_dict.json)"
        )
    configs = sorted({c for c in (_config_of(f, folder) for f in files) if c is not None})
    if config is not None:
        if config not in configs:
            raise DatasetError(
                f"dataset {label} has no config {config!r}; its configs are {configs}"
            )
        files = [f for f in files if _config_of(f, folder) == config]
    elif len(configs) > 1:
        raise DatasetError(
            f"dataset {label} has several configs {configs}: pass config=... with one of them"
        )
    by_split: dict[str, list[Path]] = {}
    for file in files:
        by_split.setdefault(_split_of(file), []).append(file)
    if split not in by_split:
        raise DatasetError(
            f"dataset {label} has no split {split!r}; its splits are {sorted(by_split)}: "
            "pass split=... with one of them"
        )
    return ArrowSource("parquet", tuple(by_split[split]))


def _config_of(file: Path, root: Path) -> str | None:
    """The config folder of a snapshot's file: `main/test-...` -> main; `data/...` -> None."""
    parts = file.relative_to(root).parts
    if len(parts) < 2 or parts[0] == "data" or (len(parts) == 2 and file.stem.isdigit()):
        return None
    return parts[0]


def _split_of(file: Path) -> str:
    """`test-00000-of-00001.parquet` -> test; `test/0000.parquet` -> test (the folder)."""
    name = file.stem.split("-")[0]
    return file.parent.name if name.isdigit() else name
