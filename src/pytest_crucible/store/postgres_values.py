"""Values as PostgreSQL takes them: JSON text for JSONB columns and text without U+0000
(SQLite keeps both as they are), and the VALUES placeholders that cast JSON text to JSONB.
Shared by the PostgreSQL store's modules (postgres.py, postgres_trial_writes.py,
postgres_merging.py, postgres_console.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from pytest_crucible.store.rows import Row

__all__ = ["ORDERED_JSON", "jsonb_text", "safe_row", "text_columns", "unnest_insert", "value_marks"]


# JSON whose objects keep their keys' order (a JSON column, not JSONB, which sorts them):
# the run header, whose declared metrics and conditions are listed in that order
ORDERED_JSON = frozenset({"header"})
_CASTS = {"j": "%s::jsonb", "o": "%s::json", "t": "%s"}


def value_marks(kinds: str) -> str:
    """VALUES placeholders: one letter per column, `j` a JSONB one, `o` a JSON one (keys kept
    in order), `t` any other."""
    return "(" + ", ".join(_CASTS[kind] for kind in kinds) + ")"


def safe_row(row: Row, kinds: str) -> Row:
    """`row` as PostgreSQL takes it: JSONB holds neither NaN/Infinity nor the character
    U+0000, and text no U+0000 either (SQLite keeps both). A NaN becomes null, U+0000 the
    replacement character. Checked with substring tests: rows that need nothing (nearly
    all) are passed on as they are."""
    if not any(_needs_fixing(value, kind) for value, kind in zip(row, kinds, strict=True)):
        return row
    return tuple(
        _fixed(value, kind) if _needs_fixing(value, kind) else value
        for value, kind in zip(row, kinds, strict=True)
    )


def _needs_fixing(value: Any, kind: str) -> bool:
    if not isinstance(value, str):
        return False
    if kind in "jo":
        return "NaN" in value or "Infinity" in value or "\\u0000" in value
    return "\x00" in value


def _fixed(value: str, kind: str) -> str:
    if kind in "jo":
        return _ENCODE(_strict(json.loads(value)))
    return value.replace("\x00", "\ufffd")


def jsonb_text(text: str | None) -> str | None:
    """A JSON document for a JSONB column (see `safe_row`)."""
    return _fixed(text, "j") if text is not None and _needs_fixing(text, "j") else text


_ENCODE = json.JSONEncoder(default=repr, allow_nan=False).encode


def _strict(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_strict(item) for item in value]
    if isinstance(value, dict):
        return {_strict(key): _strict(item) for key, item in value.items()}
    return value


def unnest_insert(table: str, columns: Sequence[str], types: Sequence[str], tail: str) -> str:
    """An INSERT of many rows in one statement: one array per column (`text_columns`), a
    JSONB column's text cast by the server. The server plans it once and psycopg adapts one
    array per column, instead of one statement per row; `tail` is an ON CONFLICT clause (a
    DO UPDATE one needs rows of distinct keys)."""
    arrays = ", ".join(f"%b::{_ARRAY_OF.get(kind, kind)}[]" for kind in types)
    names = ", ".join(columns)
    selected = ", ".join(
        f"u.{name}::jsonb" if kind == "jsonb" else f"u.{name}"
        for name, kind in zip(columns, types, strict=True)
    )
    return (
        f"INSERT INTO {table}({names}) SELECT {selected} FROM unnest({arrays}) AS u({names}) {tail}"
    )


def text_columns(rows: Sequence[Row], kinds: str, types: Sequence[str]) -> list[list[Any]]:
    """`rows` as one list per column for `unnest_insert`, made safe as `safe_row` makes a
    row (checked per column: one substring search over the column's joined text, so the
    columns that need nothing, nearly all, cost no work per value); a numeric column's
    values all of its type (psycopg refuses a list mixing int and float)."""
    columns: list[list[Any]] = []
    for column, kind, sql_type in zip(zip(*rows, strict=True), kinds, types, strict=True):
        if sql_type in _NUMBER:
            number = _NUMBER[sql_type]
            columns.append([None if v is None else number(v) for v in column])
            continue
        values = list(column)  # a list: psycopg sends a tuple as a record, not an array
        texts = "".join(value for value in values if isinstance(value, str))
        needles = ("NaN", "Infinity", "\\u0000") if kind in "jo" else ("\x00",)
        if any(needle in texts for needle in needles):
            values = [_fixed(v, kind) if _needs_fixing(v, kind) else v for v in values]
        columns.append(values)
    return columns


_ARRAY_OF = {"jsonb": "text"}  # JSON goes as text, cast per value in the SELECT
_NUMBER: dict[str, Any] = {"bigint": int, "double precision": float}
