"""`DeadLetterQueue`: a JSON-lines file of the trials that failed for good, with full context.

One line per trial, flushed and fsynced as it is written, so a crash loses at most the line
being written; `read_dead_letters` skips such a torn line with a warning.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pytest_crucible.run.recovery._attempts import RetryRecord
from pytest_crucible.run.recovery._errors import DeadLetterWarning, RecoveryError

__all__ = ["DeadLetter", "DeadLetterQueue", "read_dead_letters"]

_VERSION = 1


@dataclass(frozen=True)
class DeadLetter:
    """A permanently failed trial: where it belongs, what it was given, how it failed."""

    experiment: str
    run_id: str
    trial_key: str
    condition: str
    item_id: str
    repeat: int
    item: Any = None
    attempts: int = 0
    final_status: str = ""
    error_history: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    timestamp: float = 0.0

    @classmethod
    def from_record(
        cls,
        record: RetryRecord,
        *,
        experiment: str,
        run_id: str,
        trial_key: str,
        condition: str,
        item_id: str,
        repeat: int,
        item: Any = None,
        error: Mapping[str, Any] | None = None,
        timestamp: float | None = None,
    ) -> DeadLetter:
        """A letter for a trial whose attempts are summed up in `record`; `error` is the final
        error's description (e.g. `trial.describe_exception(exc, where="condition")`)."""
        return cls(
            experiment=experiment,
            run_id=run_id,
            trial_key=trial_key,
            condition=condition,
            item_id=item_id,
            repeat=repeat,
            item=item,
            attempts=record.attempts,
            final_status=record.final_status,
            error_history=[entry.to_dict() for entry in record.error_history],
            error=dict(error) if error is not None else None,
            timestamp=time.time() if timestamp is None else timestamp,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: values JSON cannot hold (objects, NaN, bytes) become their repr."""
        raw = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {"version": _VERSION, **_jsonable(raw)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadLetter:
        """The inverse of `to_dict` (unknown keys are ignored, missing ones take defaults)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("experiment", "run_id", "trial_key", "condition", "item_id"):
            known.setdefault(name, "")
        known.setdefault("repeat", 0)
        return cls(**known)


class DeadLetterQueue:
    """Appends `DeadLetter`s to a JSON-lines file (created with its directory on first use).

    Thread-safe; each line is flushed and fsynced before `append` returns. A file whose last
    line was torn by a crash gets a newline first, so the torn line stays on its own.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.written = 0

    def __repr__(self) -> str:
        return f"DeadLetterQueue({str(self.path)!r}, written={self.written})"

    def append(self, letter: DeadLetter) -> None:
        line = json.dumps(letter.to_dict(), ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            handle = self._open()
            try:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise RecoveryError(
                    f"cannot write the dead-letter file {self.path}: {exc}; "
                    "check the disk and the directory's permissions"
                ) from exc
            self.written += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> DeadLetterQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self) -> IO[str]:
        if self._file is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                torn = _ends_without_newline(self.path)
                self._file = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise RecoveryError(
                    f"cannot open the dead-letter file {self.path}: {exc}; choose a writable path"
                ) from exc
            if torn:
                self._file.write("\n")
        return self._file


def read_dead_letters(path: str | os.PathLike[str]) -> list[DeadLetter]:
    """The letters in a dead-letter file ([] if it does not exist). Lines that are not JSON
    objects (a write torn by a crash) are skipped with a `DeadLetterWarning`."""
    path = Path(path)
    if not path.exists():
        return []
    letters: list[DeadLetter] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                letters.append(DeadLetter.from_dict(data))
            except (ValueError, TypeError) as exc:
                warnings.warn(
                    f"{path}:{number}: skipped a dead-letter line that is not a JSON object "
                    f"({exc}); it was probably torn by a crash while being written",
                    DeadLetterWarning,
                    stacklevel=2,
                )
    return letters


def _ends_without_newline(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else repr(key)
