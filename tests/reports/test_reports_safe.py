"""Escaping helpers: file names, CSV cells, LaTeX, Markdown, JSON inside a page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_crucible.review.reports import default_output_dir
from pytest_crucible.review.reports._safe import csv_cell, latex, md_cell, safe_name, script_json


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "..", ".", "a/b", "a\\b", "", "/abs", "x\x00y", "é" * 200]
)
def test_safe_name_never_leaves_the_folder(name: str, tmp_path: Path) -> None:
    safe = safe_name(name)
    assert safe and len(safe) <= 80 and "/" not in safe and "\\" not in safe
    assert not safe.startswith(".") and (tmp_path / safe).resolve().parent == tmp_path.resolve()


def test_safe_name_keeps_plain_names_and_separates_changed_ones() -> None:
    assert safe_name("capitals-prompting_v2.1") == "capitals-prompting_v2.1"
    assert safe_name("a/b") != safe_name("a?b")  # both become a_b plus a hash of the original


def test_default_output_dir() -> None:
    path = default_output_dir("../caps", "1234abcd")
    assert path.parts[0] == "crucible-results" and ".." not in path.parts
    assert path.name == "1234abcd" and path.parent.name.startswith("_caps-")


@pytest.mark.parametrize("text", ["=SUM(A1)", "+1", "-2+3", "@cmd", "\tx", "\rx"])
def test_csv_formula_cells_are_quoted(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_csv_plain_cells_stay() -> None:
    assert csv_cell("Paris") == "Paris" and csv_cell("") == "" and csv_cell("a=b") == "a=b"


def test_latex_escapes_every_special() -> None:
    assert latex(r"50% of $x_1 & {y} # ~ ^ \ <a|b>") == (
        r"50\% of \$x\_1 \& \{y\} \# \textasciitilde{} \textasciicircum{} "
        r"\textbackslash{} \textless{}a\textbar{}b\textgreater{}"
    )
    assert latex("two\nlines") == "two lines"


def test_markdown_cells_cannot_break_tables_or_inject_html() -> None:
    text = md_cell("a|b <script>x</script> *bold* [link](http://x)\nnext")
    assert "|" not in text.replace("\\|", "") and "<" not in text and "\n" not in text
    assert text.startswith("a\\|b &lt;script&gt;") and "\\*bold\\*" in text and "\\[link\\]" in text


def test_script_json_cannot_close_the_script_element() -> None:
    value = {"out": "</script><script>alert(1)</script><!--", "amp": "&", "ls": "\u2028"}
    text = script_json(value)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == value
