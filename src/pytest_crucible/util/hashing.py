"""Stable hashing of JSON-like values: the basis of trial keys and fingerprints."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "digest"]


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces; values JSON cannot hold are written as their repr."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def digest(text: str) -> str:
    """A 16-hex-digit SHA-256 prefix: short enough to read, long enough never to collide here."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
