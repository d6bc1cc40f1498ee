"""Where local copies of a Hugging Face dataset are: the hub cache, read without network.

The hub keeps a dataset repository `owner/name` under
`<cache>/datasets--owner--name/snapshots/<revision>/`, with `refs/main` naming the revision
last downloaded. `<cache>` is $HF_HUB_CACHE, else $HF_HOME/hub, else
~/.cache/huggingface/hub (the rules of the huggingface_hub library, which we do not import).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["hub_cache_folder", "snapshot", "split_files", "splits_in"]


def hub_cache_folder() -> Path:
    """The hub cache this machine's Hugging Face tools use (it may not exist)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def snapshot(cache: Path, repos: Sequence[str]) -> Path | None:
    """The snapshot folder of the first of `repos` found in `cache`: the revision `refs/main`
    names, else the newest snapshot (by name when they tie, so every process picks one)."""
    for repo in repos:
        folder = cache / ("datasets--" + repo.replace("/", "--"))
        snapshots = folder / "snapshots"
        if not snapshots.is_dir():
            continue
        main = folder / "refs" / "main"
        if main.is_file():
            named = snapshots / main.read_text(encoding="utf-8").strip()
            if named.is_dir():
                return named
        found = sorted(
            (p for p in snapshots.iterdir() if p.is_dir()),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        if found:
            return found[-1]
    return None


def split_files(config_folder: Path, split: str) -> list[Path]:
    """The Parquet files of one split in a config's folder: `<split>-00000-of-00002.parquet`
    and so on, or `<split>.parquet`, in order."""
    if not config_folder.is_dir():
        return []
    return sorted(
        p
        for p in config_folder.iterdir()
        if p.suffix == ".parquet" and (p.stem == split or p.stem.startswith(f"{split}-"))
    )


def splits_in(config_folder: Path) -> list[str]:
    """The split names of a config's Parquet files ("test", "validation", ...)."""
    if not config_folder.is_dir():
        return []
    return sorted({p.stem.split("-")[0] for p in config_folder.glob("*.parquet")})
