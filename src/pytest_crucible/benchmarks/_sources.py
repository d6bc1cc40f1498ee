"""What the benchmark loaders share: a user's path checked, a local copy looked for, and the
errors that say where we looked and how to get the files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pytest_crucible.benchmarks._hub_cache import hub_cache_folder, snapshot
from pytest_crucible.errors import DatasetError

__all__ = ["default_snapshot", "existing_folder", "hub_snapshot_in", "not_found", "one_of"]


def existing_folder(path: str | Path, benchmark: str) -> Path:
    """`path` made absolute; a DatasetError when it does not exist."""
    folder = Path(path).expanduser().absolute()
    if not folder.exists():
        raise DatasetError(
            f"{benchmark}: path {folder} does not exist (current directory: {Path.cwd()}); "
            "check the path, or make it absolute with Path(__file__).parent / ..."
        )
    return folder


def hub_snapshot_in(folder: Path, repos: Sequence[str]) -> Path | None:
    """A hub snapshot at `folder`: a hub cache holding one of `repos`, a repository's
    `datasets--owner--name` folder, or a snapshot folder itself (None if it is none)."""
    if folder.name.startswith("datasets--") and (folder / "snapshots").is_dir():
        return snapshot(folder.parent, [folder.name.removeprefix("datasets--").replace("--", "/")])
    if folder.parent.name == "snapshots":
        return folder
    return snapshot(folder, repos)


def default_snapshot(repos: Sequence[str]) -> Path | None:
    """The snapshot of one of `repos` in this machine's hub cache, if one was downloaded."""
    return snapshot(hub_cache_folder(), repos)


def not_found(benchmark: str, repos: Sequence[str], download: str, release: str) -> DatasetError:
    """The error of a loader called without a path on a machine without a local copy."""
    cache = hub_cache_folder()
    looked = ", ".join(str(cache / ("datasets--" + r.replace("/", "--"))) for r in repos)
    return DatasetError(
        f"{benchmark}: no local copy found and no path given (looked in the Hugging Face hub "
        f"cache: {looked}; $HF_HUB_CACHE or $HF_HOME move it). Nothing is downloaded at test "
        f"time: fetch it once with `{download}`, or pass path= to {release}"
    )


def one_of(kind: str, value: str, present: Iterable[str], where: Path, benchmark: str) -> str:
    """`value` if it is among `present`, else a DatasetError listing those that are."""
    names = sorted(set(present))
    if value not in names:
        raise DatasetError(
            f"{benchmark}: {kind} {value!r} does not exist in {where}; "
            f"the {kind}s there are: {', '.join(names) or 'none'}"
        )
    return value
