"""The checks of the options' values (the `check` of an entry of settings/_table.py): each
takes the text as written and gives the value, or raises `BadValue` saying what to give.

Pure: no pytest; the heavier checks (shards, report formats) import their rule on use, since
the table loads in every pytest run.
"""

from __future__ import annotations

from pytest_crucible.settings._option import BadValue, Check

__all__ = [
    "CACHE_MODES",
    "DISPLAY_MODES",
    "cache_mode",
    "concurrency",
    "condition_names",
    "display_mode",
    "integer",
    "key_value_pair",
    "lease",
    "not_empty",
    "positive_integer",
    "report_formats",
    "shard",
]


def integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise BadValue("give an integer") from None


def positive_integer(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise BadValue("give an integer >= 1, e.g. 3")
    return value


def condition_names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise BadValue("give condition names separated by commas, e.g. terse,few_shot")
    return names


def concurrency(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise BadValue(
            "give the number of trials in flight per process, an integer >= 1 "
            "(1 runs trials one at a time)"
        )
    return value


CACHE_MODES = ("off", "read", "write", "readwrite")


def cache_mode(text: str) -> str:
    mode = text.strip().lower()
    if mode not in CACHE_MODES:
        raise BadValue(
            f"choose one of {', '.join(CACHE_MODES)} "
            "(write, the default, records every call so the run can be replayed)"
        )
    return mode


DISPLAY_MODES = ("auto", "rich", "plain", "none")


def display_mode(text: str) -> str:
    mode = text.strip().lower()
    if mode not in DISPLAY_MODES:
        raise BadValue(f"choose one of {', '.join(DISPLAY_MODES)} (auto, the default, suits most)")
    return mode


def shard(text: str) -> str:
    from pytest_crucible.declare.shards import parse_shard

    try:
        index, count = parse_shard(text)
    except ValueError as exc:
        raise BadValue(str(exc)) from None
    return f"{index}/{count}"


def report_formats(text: str) -> str:
    if text.strip().lower() == "none":
        return text
    from pytest_crucible.errors import CrucibleError
    from pytest_crucible.review.reports import parse_formats

    try:
        parse_formats(text)
    except CrucibleError as exc:
        raise BadValue(str(exc)) from None
    return text


def key_value_pair(example: str, number: bool = False) -> Check:
    """A check of KEY=VALUE (KEY=NUMBER when `number`)."""

    def check(text: str) -> str:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise BadValue(f"expected {example}")
        if number:
            try:
                float(value)
            except ValueError:
                raise BadValue(f"expected {example}") from None
        return text

    return check


def lease(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = 0.0
    if not value > 0:
        raise BadValue(
            "give the lease of a joined run's claims in seconds, a number > 0 (default 60)"
        )
    return value


def not_empty(text: str) -> str:
    if not text.strip():
        raise BadValue("give a value")
    return text.strip()
