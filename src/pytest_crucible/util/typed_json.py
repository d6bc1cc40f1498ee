"""The JSON form of frozen dataclasses that cross a process boundary.

`to_json` gives a record's JSON form (paths as text, tuples as lists); `from_json` validates
that form back into the record, checking each field against its annotation, so a malformed
message fails at once with the field's name rather than later as a KeyError or a wrong type.
Annotations supported: str, int, float, bool, Path, Any, `X | None`, `tuple[X, ...]`,
`list[X]`, `dict[str, X]` / `Mapping[str, X]`, and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["from_json", "to_json", "to_plain"]

T = TypeVar("T")


def to_json(record: Any) -> dict[str, Any]:
    """A dataclass instance as a dict of JSON values, field by field."""
    plain: dict[str, Any] = to_plain(record)
    return plain


def to_plain(value: Any, number: Callable[[float], Any] = float) -> Any:
    """A value made of JSON values: dataclasses field by field, paths as text, tuples as
    lists, mapping keys as text; `number` maps each float (e.g. NaN to None)."""
    if isinstance(value, float):
        return number(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {f.name: to_plain(getattr(value, f.name), number) for f in fields}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_plain(v, number) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, number) for k, v in value.items()}
    return value


def from_json(cls: type[T], data: Any, where: str = "") -> T:
    """`cls` from its JSON form; a ValueError names the field that does not fit."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or cls.__name__}: expected an object, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"{where or cls.__name__}: unknown field(s) {', '.join(unknown)}")
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in data:
            values[field.name] = _value(hints[field.name], data[field.name], where + field.name)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"{where or cls.__name__}: missing field {field.name}")
    return cls(**values)


def _value(kind: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _union(args, value, where)
    if origin is tuple or origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {_kind(value)}")
        items = [_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where}: expected an object, got {_kind(value)}")
        return {k: _value(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return from_json(kind, value, f"{where}.")
    return _scalar(kind, value, where)


def _union(options: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in (o for o in options if o is not type(None)):
        try:
            return _value(option, value, where)
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError("; ".join(errors) or f"{where}: expected null, got {_kind(value)}")


def _scalar(kind: Any, value: Any, where: str) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind in (str, bool) and isinstance(value, kind):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"{where}: expected {getattr(kind, '__name__', kind)}, got {_kind(value)}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
