"""Text that UTF-8 cannot encode, made storable.

A Python string may hold lone surrogates (U+D800-U+DFFF): a model or a condition returns
`"ok \\ud800"`, a file name decoded with `surrogateescape`, a log message sliced through a
surrogate pair. UTF-8 cannot encode them, so SQLite refuses the text, execnet cannot send it
between xdist processes, and pandas cannot load it. Every trial payload is checked where it
is made; text with a lone surrogate is stored with a backslash escape (`\\ud800` as those six
characters), which every store, transport and report can hold, and which shows what was there.
"""

from __future__ import annotations

import marshal
import re
from typing import Any

__all__ = ["ESCAPED_WARNING", "escape_text", "escape_unencodable", "has_unencodable"]

ESCAPED_WARNING = (
    "text that UTF-8 cannot encode (a lone surrogate such as \\ud800) was stored with "
    "backslash escapes"
)
# marshal writes strings as UTF-8 with surrogatepass: a surrogate becomes ED A0-BF xx
_ENCODED_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")


def has_unencodable(value: Any) -> bool:
    """Whether `value` (JSON-like data) may hold a lone surrogate. Fast (2-3 us for a
    trial's payload on a quiet machine, a third of one JSON encoding of it: marshal and a
    byte search, in C); a rare false positive (the bytes of a number) costs only a walk by
    `escape_unencodable` that changes nothing."""
    try:
        encoded = marshal.dumps(value, 2)  # version 2: no back-references, a little faster
    except ValueError:  # not plain data (a str subclass, say): look at every string
        return True
    return _ENCODED_SURROGATE.search(encoded) is not None


def escape_unencodable(value: Any) -> Any:
    """A copy of `value` whose strings (keys too) have their lone surrogates escaped;
    anything that is not a string, dict, list or tuple is kept as it is."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escape_unencodable(k): escape_unencodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_unencodable(v) for v in value]
    if isinstance(value, tuple):
        return tuple(escape_unencodable(v) for v in value)
    return value


def escape_text(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
