"""Save a run as a named baseline (store row + portable file) and find one again.

`save_baseline` writes the baseline document to the store's `baselines` table and to a JSON
file meant to be committed, `.crucible/baselines/NAME.json` by default (a file maps each
experiment to its document, so one name serves a session of several experiments).
`load_baseline` takes a NAME, a RUN_ID or a PATH; the committed file wins over the store row
of the same name, since it is what the repository reviewed.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import StoreError
from pytest_crucible.review.gates._baseline import Baseline, dumps_file, read_file
from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.store import DEFAULT_BASELINES_DIR, ResultStore
from pytest_crucible.store.frames import trials_frame
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.run_records import StoredBaseline

if TYPE_CHECKING:
    from pytest_crucible.review.stored_run import StoredRun

__all__ = [
    "DEFAULT_BASELINES_DIR",
    "KnownBaseline",
    "baseline_of_run",
    "baseline_path",
    "check_reference",
    "find_baseline",
    "known_baselines",
    "load_baseline",
    "save_baseline",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class KnownBaseline(StoredBaseline):
    """A baseline found in the store or in the baselines folder (for listings)."""

    source: str  # "store" or the file's path

    def describe(self) -> str:
        return f"{self.name} ({self.experiment}, run {self.run_id}, {self.source})"


def baseline_path(name: str, baselines_dir: Path = DEFAULT_BASELINES_DIR) -> Path:
    """Where the baseline file of `name` goes: baselines_dir / NAME.json."""
    return Path(baselines_dir) / f"{_checked_name(name)}.json"


def save_baseline(
    store: ResultStore,
    run_id: str,
    name: str,
    path: Path | None = None,
    *,
    baselines_dir: Path = DEFAULT_BASELINES_DIR,
    loaded: StoredRun | None = None,
) -> Baseline:
    """ResultStore run `run_id` as baseline `name` (replacing an older one of that name and
    experiment) and write its portable file (default baselines_dir / NAME.json; other
    experiments' baselines in that file are kept). Returns the baseline, `path` set.
    `loaded`: the run's header and trials, when the caller has loaded them already."""
    name = _checked_name(name)
    if store.run(run_id) is None:
        known = ", ".join(r.run_id for r in store.runs()[:10]) or "none yet"
        raise GateError(f"cannot save baseline {name!r}: no run {run_id!r}; runs: {known}")
    run = store.run_record(run_id)
    header = loaded.header if loaded else run.header
    trials = loaded.trials if loaded else trials_frame(store, run_id)
    passed = int(trials["status"].eq("passed").sum()) if len(trials) else 0
    if passed == 0:
        raise GateError(
            f"cannot save run {run_id} as baseline {name!r}: it has no passed trials; run the "
            "experiment to completion first"
        )
    notes: tuple[str, ...] = ()
    status = str(run.columns["status"])
    if status != "completed":
        notes = (
            f"run {run_id} was {status!r} when saved ({passed} of "
            f"{header.get('total_trials', '?')} trials passed)",
        )
    baseline = Baseline.from_trials(
        trials,
        header,
        name=name,
        run_id=run_id,
        created_at=utc_now(),
        environment=run.environment,
        run_status=status,
        notes=notes,
    )
    target = Path(path) if path is not None else baseline_path(name, baselines_dir)
    _write_file(target, name, baseline)
    _write_row(store, baseline)
    return dataclasses.replace(baseline, path=target)


def load_baseline(
    store: ResultStore | None,
    ref: str,
    *,
    experiment: str | None = None,
    baselines_dir: Path = DEFAULT_BASELINES_DIR,
) -> Baseline:
    """The baseline `ref` names: a PATH to a baseline file, a NAME (baselines_dir/NAME.json,
    else the store's row), or a RUN_ID of the store. `experiment` picks the experiment's
    document when a name or file holds several. A GateError lists the known baselines."""
    ref = str(ref).strip()
    if not ref:
        raise GateError("no baseline given; name one (NAME, RUN_ID or PATH to a .json file)")
    as_path = Path(ref)
    looks_like_path = ref.endswith(".json") or "/" in ref or os.sep in ref
    if looks_like_path or (not _NAME.match(ref) and as_path.is_file()):
        if not as_path.is_file():
            raise GateError(
                f"baseline file {ref} does not exist; {_listing(store, baselines_dir, experiment)}"
            )
        return _from_file(as_path, experiment)
    rows = _rows(store, ref, experiment)
    if _NAME.match(ref) and (named := baseline_path(ref, baselines_dir)).is_file():
        baseline = _from_file(named, experiment)
        stored = [r for r in rows if r.experiment == baseline.experiment]
        if stored and stored[0].run_id != baseline.run_id:
            note = (
                f"the store's baseline {ref!r} is run {stored[0].run_id}; the committed file "
                f"{named} (run {baseline.run_id}) was used"
            )
            baseline = dataclasses.replace(baseline, notes=(*baseline.notes, note))
        return baseline
    if len(rows) == 1:
        return _from_row(store, rows[0])
    if len(rows) > 1:
        which = ", ".join(r.experiment for r in rows)
        raise GateError(f"baseline {ref!r} exists for several experiments ({which}); name one")
    if store is not None and store.run(ref) is not None:
        return baseline_of_run(store, ref)
    raise GateError(f"no baseline {ref!r}; {_listing(store, baselines_dir, experiment)}")


def find_baseline(
    store: ResultStore | None,
    ref: str,
    *,
    experiment: str,
    baselines_dir: Path = DEFAULT_BASELINES_DIR,
) -> Baseline | None:
    """`load_baseline`, or None when `ref` is a baseline name that holds nothing for this
    experiment yet: the first run of a CI job, or an experiment added since the baseline
    was saved. A reference that cannot be right (a missing file, an unknown name while
    other baselines exist) is a GateError that lists the known ones."""
    try:
        return load_baseline(store, ref, experiment=experiment, baselines_dir=baselines_dir)
    except GateError:
        if not _not_saved_yet(store, ref, baselines_dir, experiment):
            raise
        return None


def check_reference(
    store: ResultStore | None,
    ref: str,
    *,
    save_as: str | None = None,
    baselines_dir: Path = DEFAULT_BASELINES_DIR,
) -> None:
    """Check `--crucible-compare REF` before a run starts: a GateError (listing the known
    baselines) for a reference that cannot be found now and will not be saved by this
    session; a name nothing was saved under yet passes when no baseline exists at all."""
    ref = str(ref).strip()
    looks_like_path = ref.endswith(".json") or "/" in ref or os.sep in ref
    if looks_like_path and not Path(ref).is_file():
        raise GateError(
            f"baseline file {ref} does not exist; {_listing(store, baselines_dir, None)}"
        )
    if looks_like_path or ref == save_as or (store is not None and store.run(ref) is not None):
        return
    if not _not_saved_yet(store, ref, baselines_dir, None):
        raise GateError(f"no baseline {ref!r}; {_listing(store, baselines_dir, None)}")


def _not_saved_yet(
    store: ResultStore | None, ref: str, baselines_dir: Path, experiment: str | None
) -> bool:
    """Whether `ref` is a name with no baseline for `experiment` (any, when None) while
    it exists for another experiment, or no baseline exists at all."""
    if not _NAME.match(ref) or (store is not None and store.run(ref) is not None):
        return False
    known = known_baselines(store, baselines_dir)
    if any(k.name == ref and experiment in (None, k.experiment) for k in known):
        return experiment is None
    return not known or any(k.name == ref for k in known)


def known_baselines(
    store: ResultStore | None, baselines_dir: Path = DEFAULT_BASELINES_DIR
) -> list[KnownBaseline]:
    """Baselines in the store and in baselines_dir, for listings and error messages."""
    found = list(_rows(store, None, None))
    folder = Path(baselines_dir)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            documents = read_file(path)["experiments"]
        except GateError:
            continue
        for experiment, document in sorted(documents.items()):
            found.append(
                KnownBaseline(
                    str(document.get("name", path.stem)),
                    str(experiment),
                    str(document.get("run_id", "?")),
                    str(document.get("created_at", "")),
                    str(path),
                )
            )
    return found


def _checked_name(name: str) -> str:
    if not _NAME.match(str(name)):
        raise GateError(
            f"baseline name {name!r} cannot be used: names become file names, so use letters, "
            "digits, '_', '-' and '.' (starting with a letter or digit), e.g. 'main'"
        )
    return str(name)


def _write_file(target: Path, name: str, baseline: Baseline) -> None:
    documents: dict[str, Any] = {}
    if target.exists():  # keep the other experiments' baselines; refuse to clobber a stranger
        documents = dict(read_file(target)["experiments"])
    documents[baseline.experiment] = baseline.to_dict()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(dumps_file(name, documents), encoding="utf-8")
    os.replace(temporary, target)


def _write_row(store: ResultStore, baseline: Baseline) -> None:
    if store.readonly:
        raise GateError(f"store {store.location} was opened read-only; cannot save a baseline")
    kept = StoredBaseline(baseline.name, baseline.experiment, baseline.run_id, baseline.created_at)
    try:
        store.save_baseline(kept, baseline.to_dict())
    except StoreError as exc:
        raise GateError(f"cannot save baseline {baseline.name!r}: {exc}") from None


def _rows(
    store: ResultStore | None, name: str | None, experiment: str | None
) -> list[KnownBaseline]:
    if store is None:
        return []
    return [
        KnownBaseline(b.name, b.experiment, b.run_id, b.created_at, "store")
        for b in store.baselines(name, experiment)
    ]


def _from_row(store: ResultStore | None, known: KnownBaseline) -> Baseline:
    assert store is not None  # rows come from a store
    return Baseline.from_dict(store.baseline_document(known.name, known.experiment))


def baseline_of_run(store: ResultStore, run_id: str) -> Baseline:
    """Stored run `run_id` as a baseline named after it (`crucible compare` takes one)."""
    run = store.run_record(run_id)
    return Baseline.from_trials(
        trials_frame(store, run_id),
        run.header,
        name=run_id,
        run_id=run_id,
        created_at=utc_now(),
        environment=run.environment,
        run_status=str(run.columns["status"]),
    )


def _from_file(path: Path, experiment: str | None) -> Baseline:
    documents = read_file(path)["experiments"]
    if experiment is not None:
        if experiment not in documents:
            has = ", ".join(repr(e) for e in sorted(documents)) or "no experiment"
            raise GateError(
                f"baseline file {path} holds {has}, not experiment {experiment!r}; save one "
                "with --crucible-save-baseline NAME"
            )
        return Baseline.from_dict(documents[experiment], path)
    if len(documents) != 1:
        has = ", ".join(repr(e) for e in sorted(documents)) or "no experiment"
        raise GateError(f"baseline file {path} holds {has}; say which experiment to compare")
    return Baseline.from_dict(next(iter(documents.values())), path)


def _listing(store: ResultStore | None, baselines_dir: Path, experiment: str | None) -> str:
    known = [k for k in known_baselines(store, baselines_dir) if experiment in (None, k.experiment)]
    parts = ["known baselines: " + ("; ".join(k.describe() for k in known) if known else "none")]
    if store is not None:
        runs = [r.run_id for r in store.runs(experiment)[:5]]
        if runs:
            parts.append(f"recent runs: {', '.join(runs)}")
    parts.append("save one with --crucible-save-baseline NAME, or give a RUN_ID or a PATH")
    return "; ".join(parts)
