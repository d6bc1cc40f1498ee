"""Experiments found in test files: a child `python -m pytest --collect-only` imports them.

The user's test files may call models or crash at import, so they are never imported into
the server: a child pytest collects them with the plugin `_collected.py`, which writes each
experiment it finds (name, description, source, node ids of its trial functions, conditions,
repeats, seed, dataset size, config schema) as JSON. Bounded by a timeout; a collection error
comes back as a ConsoleError naming the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pytest_crucible.console._collected import OUTPUT_VARIABLE
from pytest_crucible.console.errors import ConsoleError
from pytest_crucible.store.locations import masked_in

__all__ = ["DISCOVERY_TIMEOUT_S", "discover_experiments", "inside_root"]

DISCOVERY_TIMEOUT_S = 120.0


def inside_root(root: Path, path: str | Path) -> Path:
    """`path` (relative to `root`, or absolute) as a path relative to `root`; ConsoleError
    when it resolves outside (`..`, another folder, a symlink leading out) or is missing."""
    base = root.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        raise ConsoleError(
            f"{path}: outside the project root {base}; runs start only from test files under "
            "it (start `crucible serve` in the project, or give a path inside it)"
        )
    if not target.exists():
        raise ConsoleError(f"{path}: no such file or folder under the project root {base}")
    return target.relative_to(base)


def discover_experiments(
    root: Path, path: str | None = None, *, timeout_s: float = DISCOVERY_TIMEOUT_S
) -> list[dict[str, Any]]:
    """The experiments declared in the test files under `path` (default: the whole root)."""
    target = inside_root(root, path or ".")
    with tempfile.TemporaryDirectory(prefix="crucible-discovery-") as folder:
        output = Path(folder) / "experiments.json"
        done = _collect(root, target, output, timeout_s)
        if not output.exists():
            raise ConsoleError(
                f"discovering experiments in {target}: pytest's collection failed (exit "
                f"{done.returncode}): {_tail(done.stdout + done.stderr)}"
            )
        document = json.loads(output.read_text(encoding="utf-8"))
    if document["errors"]:
        raise ConsoleError(_collection_errors(target, document["errors"]))
    experiments: list[dict[str, Any]] = document["experiments"]
    return experiments


def _collect(
    root: Path, target: Path, output: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_crucible.console._collected",
        str(target),
    ]
    env = {**os.environ, OUTPUT_VARIABLE: str(output)}
    try:
        return subprocess.run(
            command,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConsoleError(
            f"discovering experiments in {target} took more than {timeout_s:.0f} s; does a "
            "test file do work when imported (model calls, downloads)? Move that into the "
            "trial function, or discover a narrower path"
        ) from None


def _collection_errors(target: Path, errors: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{e['source']}: {_tail(e['message'])}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return (
        f"discovering experiments in {target}: a test file does not import: {shown}{more}; "
        "fix it (`pytest --collect-only FILE` shows the whole error), or discover a "
        "narrower path"
    )


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return masked_in(" | ".join(kept))[:600]
