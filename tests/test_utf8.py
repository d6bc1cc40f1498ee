"""Escaping text UTF-8 cannot encode (`_utf8.py`, issue 14 point 7)."""

from __future__ import annotations

import json
import struct

from pytest_crucible.util.utf8 import escape_unencodable, has_unencodable


def test_lone_surrogates_anywhere_are_found_and_escaped() -> None:
    value = {"out\ud800": ["ok \udcff", ("x", 1.5)], "n": 3, "fine": "café 😀"}
    assert has_unencodable(value)
    escaped = escape_unencodable(value)
    assert escaped == {"out\\ud800": ["ok \\udcff", ("x", 1.5)], "n": 3, "fine": "café 😀"}
    assert not has_unencodable(escaped)
    json.dumps(escaped, ensure_ascii=False).encode("utf-8")  # storable as it is


def test_encodable_data_is_left_alone() -> None:
    value = {"a": "café 😀", "b": [1, 2.5, None, True], "c": {"d": "\\ud800 as text"}}
    assert not has_unencodable(value)
    assert escape_unencodable(value) == value


def test_data_marshal_cannot_write_is_walked() -> None:
    class Text(str):
        pass

    assert has_unencodable({"a": Text("fine")})  # not plain data: the walk decides
    assert escape_unencodable({"a": Text("bad \ud800")}) == {"a": "bad \\ud800"}


def test_a_number_whose_bytes_look_like_a_surrogate_gets_no_warning() -> None:
    """The byte search may match a float's bytes (it did for a latency in CI): the payload
    is then walked, found clean and sent as it was, without the escaped-text warning."""
    from pytest_crucible.session.payload import storable

    latency = struct.unpack("<d", b"\x00\x00\xed\xa0\x00\x00\xf0?")[0]
    payload = {"trial": {"latency_s": latency, "output": "fine", "warnings": []}}
    assert has_unencodable(payload)  # the false positive
    assert storable(payload) is payload
    assert payload["trial"]["warnings"] == []
