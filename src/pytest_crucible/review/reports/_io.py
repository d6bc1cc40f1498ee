"""Writing report files whole: a crash never leaves a half-written report behind."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_bytes", "write_text"]


def write_text(path: Path, text: str) -> Path:
    """Write text as UTF-8 (line ends as given) beside path, then rename it over path."""
    return write_bytes(path, text.encode("utf-8", "surrogatepass"))


def write_bytes(path: Path, data: bytes) -> Path:
    """Write data to a temporary file beside path, then rename it over path."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
