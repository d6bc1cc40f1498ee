"""Escaping for every place untrusted text lands: file names, CSV cells, LaTeX, Markdown,
JSON inside an HTML page.

Condition names, item ids, model outputs and dataset contents come from users and models;
none of them may become a path outside the report folder, a spreadsheet formula, a LaTeX
command, Markdown markup or a script.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = [
    "FORMULA_START",
    "csv_cell",
    "latex",
    "latex_label",
    "md_cell",
    "safe_name",
    "script_json",
    "truncate",
]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_LIMIT = 80
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX))
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def safe_name(name: str) -> str:
    """A file or folder name made from user text: letters, digits, `.`, `_`, `-` only.

    No separators, no leading dots (so never `..`), at most 80 characters. A name that had
    to change gets a short hash of the original, so two different names stay different.
    """
    cleaned = _UNSAFE_NAME.sub("_", name).lstrip(".")[:_NAME_LIMIT] or "unnamed"
    if cleaned != name:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = f"{cleaned[: _NAME_LIMIT - 9]}-{digest}"
    return cleaned


def csv_cell(value: str) -> str:
    """A text cell that a spreadsheet will not run: a leading = + - @ tab or CR is quoted."""
    return "'" + value if value.startswith(FORMULA_START) else value


def latex(text: object) -> str:
    """Text with LaTeX's special characters escaped, newlines made spaces."""
    flat = " ".join(str(text).split())
    return _LATEX_RE.sub(lambda match: _LATEX[match.group(0)], flat)


def latex_label(text: str) -> str:
    """A \\label key: letters, digits and dashes only."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def md_cell(text: object) -> str:
    """Text for a GitHub-flavoured Markdown table cell or paragraph: markup characters are
    backslash-escaped, HTML characters become entities, newlines become spaces."""
    flat = " ".join(str(text).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


def script_json(value: Any) -> str:
    """JSON to place inside `<script type="application/json">`: no `<`, `>` or `&` appears
    literally, so the text can never close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, with a note of how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters in results.jsonl]"
