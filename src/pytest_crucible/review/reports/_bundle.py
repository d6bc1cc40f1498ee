"""manifest.json (what the bundle holds, with checksums) and README.md (how to reproduce the
run from it)."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

from pytest_crucible.review.reports._io import write_text
from pytest_crucible.review.reports._report_data import RunData

__all__ = ["write_manifest", "write_readme"]

_README = """\
# {experiment}: run {run_id}

Written by pytest-crucible from the store `{store}`.

| file | what it holds |
|---|---|
| report.html | the full report: summary, tables, plots, every trial (opens offline) |
| summary.html | the conclusions and tables as an HTML fragment (for pytest-html's summary) |
| report.md | the summary as Markdown (pull-request comment, CI job summary) |
| report.tex | booktabs tables for a paper (`\\\\input{{report.tex}}`, needs booktabs) |
| analysis.ipynb | a notebook that loads the run from the store and reproduces the tables |
| results.csv, .jsonl, .parquet | one row per trial (parquet when pyarrow is installed) |
| analysis.json | the statistical analysis, as stored with the run |
| config.json, environment.json | the resolved configuration; Python, platform, packages, git |
| dataset.jsonl | the exact items the run used (dataset fingerprint `{dataset_fingerprint}`) |
| manifest.json | run identity, fingerprints and a SHA-256 of every file here |

## Reproducing this run

1. Check out the code at git commit `{git_commit}`{dirty} and install the package versions
   listed in `environment.json` (Python {python}).
2. Run the experiment with the same seed and configuration:

   ```
   pytest --crucible --crucible-seed {seed} {overrides}
   ```

   The experiment fingerprint of this run is `{fingerprint}`; a run whose fingerprint
   matches used the same configuration, condition code, dataset, metrics, repeats and seed.
   `dataset.jsonl` must match the items the experiment loads (fingerprint
   `{dataset_fingerprint}`).
3. Compare: `crucible report NEW_RUN_ID` writes the same files for the new run; model calls
   that are not deterministic will differ trial by trial, the analysis says by how much.
"""


def write_readme(run: RunData, out_dir: Path) -> Path:
    python = run.environment.get("python", "?") if isinstance(run.environment, dict) else "?"
    overrides = " ".join(
        "--crucible-set " + shlex.quote(f"{key}={_value(value)}")
        for key, value in (run.config.items() if isinstance(run.config, dict) else [])
    )
    text = _README.format(
        experiment=run.experiment,
        run_id=run.run_id,
        store=run.store_location,
        git_commit=run.row.get("git_commit") or "(unknown)",
        dirty=" (the run had uncommitted changes)" if run.row.get("git_dirty") else "",
        python=python,
        seed=run.row.get("seed"),
        overrides=overrides,
        fingerprint=run.row.get("fingerprint"),
        dataset_fingerprint=run.row.get("dataset_fingerprint"),
    )
    return write_text(out_dir / "README.md", text)


def write_manifest(run: RunData, files: list[Path], out_dir: Path) -> Path:
    manifest = {
        "run_id": run.run_id,
        "experiment": run.experiment,
        "status": run.info.status,
        "fingerprint": run.row.get("fingerprint"),
        "dataset_fingerprint": run.row.get("dataset_fingerprint"),
        "seed": run.row.get("seed"),
        "git_commit": run.row.get("git_commit"),
        "git_dirty": run.row.get("git_dirty"),
        "started_at": run.row.get("started_at"),
        "ended_at": run.row.get("ended_at"),
        "store": run.store_location,
        "files": {
            path.name: {"bytes": path.stat().st_size, "sha256": _sha256(path)} for path in files
        },
    }
    return write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
