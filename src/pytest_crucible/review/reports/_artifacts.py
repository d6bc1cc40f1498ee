"""The trials' artifacts as the HTML report carries them: text shown inline, binary linked.

An artifact is stored as `{name, encoding: text | base64, data}` (`Trial.artifact`). Bytes that
are UTF-8 text (a `completion.py` saved as bytes, say) are shown as text; other bytes become a
download link, images an inline picture too. The page sets every text with `textContent` and
every link to an `application/octet-stream` data URL, so nothing in an artifact runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_crucible.review.reports._safe import truncate

__all__ = ["ARTIFACT_BYTES_LIMIT", "ARTIFACT_TEXT_LIMIT", "page_artifacts", "stored_artifacts"]

ARTIFACT_TEXT_LIMIT = 50_000  # characters of one text artifact kept in the page
ARTIFACT_BYTES_LIMIT = 2_000_000  # bytes of one binary artifact embedded in the page
_NO_ARTIFACTS = '"artifacts":[]'
_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def stored_artifacts(lines: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """trial_key -> its artifacts, from the run's results.jsonl lines (loaded with its
    trials: the reports read the trials table once). Lines without any are not parsed."""
    found = {}
    for line in lines:
        if _NO_ARTIFACTS in line:  # a string value cannot hold it: its quotes are escaped
            continue
        record = json.loads(line)
        if record.get("artifacts"):
            found[str(record["trial_key"])] = list(record["artifacts"])
    return found


def page_artifacts(
    keys: Sequence[str], stored: Mapping[str, list[dict[str, Any]]]
) -> dict[str, list[list[Any]]]:
    """Trial index (as a string, results order) -> its artifacts as
    `[name, kind, content, size]`: kind "text" (content: the text), "image" or "binary"
    (content: base64, or None when larger than the page keeps; then a fifth element, the
    media type guessed from the name)."""
    shown = {}
    for index, key in enumerate(keys):
        entries = stored.get(key)
        if entries:
            shown[str(index)] = [_entry(entry) for entry in entries]
    return shown


def _entry(entry: Mapping[str, Any]) -> list[Any]:
    name = str(entry.get("name", "artifact"))
    data = entry.get("data")
    if entry.get("encoding") != "base64" or not isinstance(data, str):
        text = data if isinstance(data, str) else repr(data)
        return [name, "text", truncate(text, ARTIFACT_TEXT_LIMIT), len(text.encode())]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return [name, "text", "(stored as base64 but not decodable)", len(data)]
    decoded = _as_text(raw)
    if decoded is not None:
        return [name, "text", truncate(decoded, ARTIFACT_TEXT_LIMIT), len(raw)]
    mime = mimetypes.guess_type(name)[0]
    kind = "image" if mime in _IMAGES else "binary"
    return [name, kind, data if len(raw) <= ARTIFACT_BYTES_LIMIT else None, len(raw), mime]


def _as_text(raw: bytes) -> str | None:
    """The bytes as text when they are UTF-8 without NUL bytes (source, JSON, logs)."""
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
