"""The text scorers and answer extraction on tables of cases: normalisation, exact match,
includes, regex, numbers, multiple-choice letters, GSM8K answers, and their edge cases."""

from __future__ import annotations

import re

import pytest

from pytest_crucible import scorers
from pytest_crucible.errors import ScorerError


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("  The  Eiffel Tower! ", {}, "the eiffel tower"),
        ("The Eiffel Tower!", {"articles": True}, "eiffel tower"),
        ("The Eiffel Tower!", {"case": False}, "The Eiffel Tower"),
        ("a,b;c", {"punctuation": False}, "a,b;c"),
        ("x\t\ny", {"whitespace": False}, "x\t\ny"),
        ("¿Qué?  «Sí»", {}, "qué sí"),  # Unicode punctuation and case
        ("STRASSE", {}, "strasse"),
        (None, {}, ""),
    ],
)
def test_normalize(text: str | None, options: dict[str, bool], expected: str) -> None:
    assert scorers.normalize(text, **options) == expected


@pytest.mark.parametrize(
    ("output", "expected", "options", "result"),
    [
        ("Paris.", "paris", {}, True),
        ("  PARIS ", "Paris", {}, True),
        ("Paris.", "paris", {"case": False, "punctuation": False}, False),
        ("The Hague", "Hague", {}, False),
        ("The Hague", "Hague", {"articles": True}, True),
        ("NYC", ["New York", "NYC"], {}, True),
        ("Paris, France", "Paris", {}, False),
        (None, "Paris", {}, False),
        (42, "42", {}, True),
        (b"Oslo", "oslo", {}, True),
    ],
)
def test_exact_match(
    output: object, expected: object, options: dict[str, bool], result: bool
) -> None:
    assert scorers.exact_match(output, expected, **options) is result


def test_includes_keeps_punctuation_by_default() -> None:
    assert scorers.includes("The capital is Paris.", "paris")
    assert scorers.includes("It is 3.5 m", ["3.5", "three and a half"])
    assert not scorers.includes("It is 35 m", "3.5")
    assert not scorers.includes(None, "paris")
    with pytest.raises(ScorerError, match="empty"):
        scorers.includes("anything", "  ")


def test_regex() -> None:
    assert scorers.regex("Answer: 42", r"answer:\s*\d+", flags=re.IGNORECASE)
    assert not scorers.regex("Answer: 42", r"answer:\s*\d+")
    assert scorers.regex("Answer: 42", re.compile(r"\d{2}"))
    assert not scorers.regex(None, r".*")
    with pytest.raises(ScorerError, match="does not compile"):
        scorers.regex("x", "(unclosed")


@pytest.mark.parametrize(
    ("output", "expected", "result"),
    [
        ("The total is 1,234.50 dollars.", 1234.5, True),
        ("I think -3 degrees", "-3", True),
        ("about \u22127.5", -7.5, True),  # the Unicode minus sign
        ("Growth was 45%", 45, True),
        ("Growth was 45%", 0.45, True),  # a percentage also matches its fraction
        ("first 3 then 4", 3, False),  # the last number counts
        ("1e3 apples", 1000, True),
        ("no number here", 1, False),
        (None, 1, False),
        ("0.30000000000000004", 0.3, True),  # within the default tolerance
        ("10.5", 10, False),
    ],
)
def test_numeric_match(output: object, expected: object, result: bool) -> None:
    assert scorers.numeric_match(output, expected) is result


def test_numeric_match_tolerances_and_bad_expected() -> None:
    assert scorers.numeric_match("10.4", 10, abs_tol=0.5)
    assert scorers.numeric_match("101", 100, rel_tol=0.02)
    assert not scorers.numeric_match("103", 100, rel_tol=0.02)
    with pytest.raises(ScorerError, match="holds no number"):
        scorers.numeric_match("42", "forty-two")


@pytest.mark.parametrize(
    ("output", "letter"),
    [
        ("The answer is (B)", "B"),
        ("B.", "B"),
        ("**C**", "C"),
        ("Answer: d", "D"),
        ("answer: **A**", "A"),
        ("(c)", "C"),
        ("B) Because the sky is blue.", "B"),
        ("Let me think. A seems tempting but the answer is C.", "C"),
        ("I would pick **D** here.", "D"),
        ("Option B is right", "B"),
        ("A or B, hard to say", None),  # two candidates: not told
        ("I don't know", None),
        ("E", None),  # not one of the choices
        (None, None),
    ],
)
def test_multiple_choice_letter(output: str | None, letter: str | None) -> None:
    assert scorers.multiple_choice_letter(output) == letter


def test_multiple_choice() -> None:
    assert scorers.multiple_choice("The answer is (B)", "b")
    assert scorers.multiple_choice("The answer is (B)", 1)  # index of B
    assert not scorers.multiple_choice("The answer is (B)", "C")
    assert scorers.multiple_choice("Answer: E", "E", choices="ABCDE")
    with pytest.raises(ScorerError, match="not one of the choices"):
        scorers.multiple_choice("B", "Z")
    with pytest.raises(ScorerError, match="distinct letters"):
        scorers.multiple_choice_letter("B", choices="AAB")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72"),
        ("#### 1,000", "1000"),
        ("so she pays $5.00 more.\n#### 5.00", "5"),
        ("The answer is 42.", "42"),
        ("The answer is: $1,250 and then 3 more words", "1250"),
        ("First 3, then 7 apples", "7"),
        ("#### -4", "-4"),
        ("It is 0.50 of it", "0.5"),
        ("no digits", None),
        (None, None),
    ],
)
def test_gsm8k_answer(text: str | None, answer: str | None) -> None:
    assert scorers.gsm8k_answer(text) == answer


def test_gsm8k_match() -> None:
    reference = (
        "Weng earns 12/60 = $0.2 per minute.\n"
        "Working 50 minutes, she earned 0.2 x 50 = $10.\n#### 10"
    )
    assert scorers.gsm8k_match("She earned $10.", reference)
    assert scorers.gsm8k_match("#### 10.00", "10")
    assert scorers.gsm8k_match("The answer is 10", 10)
    assert not scorers.gsm8k_match("The answer is 12", reference)
    assert not scorers.gsm8k_match(None, reference)
    with pytest.raises(ScorerError, match="holds no number"):
        scorers.gsm8k_match("10", "ten")


@pytest.mark.parametrize(
    "scorer",
    [scorers.exact_match, scorers.includes, scorers.token_f1, scorers.numeric_match],
)
def test_non_text_outputs_and_missing_expected_answers_are_clear_errors(scorer: object) -> None:
    assert callable(scorer)
    with pytest.raises(ScorerError, match="is a dict, not text; pass the text part"):
        scorer({"content": "Paris"}, "1")
    with pytest.raises(ScorerError, match="is a bool"):
        scorer(True, "1")
    with pytest.raises(ScorerError, match="no expected answer"):
        scorer("Paris", None)
