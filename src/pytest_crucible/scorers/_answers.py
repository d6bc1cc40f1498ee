"""Answer extraction: the last number of a text, a multiple-choice letter, GSM8K's final
answer; and the scorers that compare what was extracted with the expected answer."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from pytest_crucible.errors import ScorerError
from pytest_crucible.scorers._text import as_text, expected_texts

__all__ = [
    "extract_number",
    "gsm8k_answer",
    "gsm8k_match",
    "multiple_choice",
    "multiple_choice_letter",
    "numeric_match",
]

# A number as people write it: a sign (ASCII or the Unicode minus), thousands separated by
# commas, decimals, an exponent, a trailing percent sign. Not inside a longer number or word.
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>[-+\u2212])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<exponent>[eE][-+]?\d+)?(?![\w])(?P<percent>\s?%)?"
)


def _numbers(text: str) -> list[tuple[Decimal, bool]]:
    """Every number of `text`, in order, with whether it was a percentage."""
    found = []
    for match in _NUMBER.finditer(text):
        literal = match["digits"].replace(",", "") + (match["exponent"] or "")
        value = Decimal(literal)
        if match["sign"] in ("-", "\u2212"):
            value = -value
        found.append((value, match["percent"] is not None))
    return found


def extract_number(text: object) -> float | None:
    """The last number in a text as a float ("It costs $1,234.50." -> 1234.5; "-3" -> -3.0;
    "45%" -> 45.0), or None when there is none (None text: None)."""
    found = _numbers(as_text(text) or "")
    return float(found[-1][0]) if found else None


def _expected_number(expected: object) -> float:
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return float(expected)
    found = _numbers(expected_texts(expected)[0])
    if not found:
        raise ScorerError(
            f"the expected answer {expected!r} holds no number; numeric_match compares numbers"
        )
    return float(found[-1][0])


def numeric_match(
    output: object, expected: object, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9
) -> bool:
    """True when the last number of the output equals the expected number within the
    tolerances (`math.isclose`). `expected`: a number, or a text whose last number counts.
    A percentage in the output also matches its fraction ("45%" matches 45 and 0.45).
    None output, or an output with no number: False."""
    want = _expected_number(expected)
    found = _numbers(as_text(output) or "")
    if not found:
        return False
    value, percent = found[-1]
    candidates = [float(value)] + ([float(value) / 100] if percent else [])
    return any(math.isclose(c, want, rel_tol=rel_tol, abs_tol=abs_tol) for c in candidates)


def _choice_letters(choices: str) -> str:
    letters = choices.upper() if isinstance(choices, str) else ""
    if not letters or not letters.isalpha() or len(set(letters)) != len(letters):
        raise ScorerError(
            f"choices={choices!r}: give the option letters as one text of distinct letters, "
            "e.g. 'ABCD'"
        )
    return letters


def multiple_choice_letter(output: object, choices: str = "ABCD") -> str | None:
    """The option letter a model chose, upper-case, or None when it cannot be told.

    Tried in order: an explicit answer ("The answer is (B)", "Answer: d", "answer: **C**");
    an output that is only a letter ("B", "B.", "(c)", "**C**"); a letter opening the output
    ("B. Paris", "C) 42"); the last bold or parenthesised letter ("... so **C**"); one
    distinct stand-alone capital letter among the choices. None output: None."""
    letters = _choice_letters(choices)
    text = as_text(output)
    if text is None:
        return None
    one = f"[{letters}{letters.lower()}]"
    patterns = [
        rf"answer(?:\s+is)?\s*[:\-]?\s*(?:option\s+)?[\(\[\*]*\s*({one})\b",
        rf"^\W*({one})\W*$",
        rf"^\W*({one})[.):]\s",
        rf"(?:\*\*|\()({one})(?:\*\*|\))",
    ]
    for pattern in patterns:
        matches = re.findall(pattern, text.strip(), re.IGNORECASE)
        if matches:
            return str(matches[-1]).upper()
    alone = {m for m in re.findall(rf"\b([{letters}])\b(?!')", text)}
    return alone.pop() if len(alone) == 1 else None


def multiple_choice(output: object, expected: object, choices: str = "ABCD") -> bool:
    """True when the letter extracted from the output (`multiple_choice_letter`) is the
    expected one: a letter, or the option's index (0 is the first choice)."""
    letters = _choice_letters(choices)
    if isinstance(expected, int) and not isinstance(expected, bool):
        if not 0 <= expected < len(letters):
            raise ScorerError(f"expected index {expected} is not one of the {len(letters)} choices")
        want = letters[expected]
    else:
        text = (as_text(expected, what="expected answer") or "").strip().upper()
        if len(text) != 1 or text not in letters:
            raise ScorerError(
                f"the expected answer {expected!r} is not one of the choices {letters!r}; "
                "give the letter (or its index)"
            )
        want = text
    return multiple_choice_letter(output, letters) == want


def _number_text(value: Decimal) -> str:
    """A number as GSM8K writes answers: no separators, no trailing zeros ("1,000.00" -> "1000")."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def gsm8k_answer(text: object) -> str | None:
    """The final answer of a GSM8K solution as a plain number text, or None.

    References end with "#### 42"; a model's output is read the same way when it has a
    "####" line, else from "The answer is 42." (the last such phrase), else its last number.
    Commas, a currency sign and trailing zeros go ("$1,000.00" -> "1000")."""
    body = as_text(text)
    if body is None:
        return None
    if "####" in body:
        found = _numbers(body.rsplit("####", 1)[1])
        if found:
            return _number_text(found[0][0])
    phrases = re.findall(r"answer\s+is\s*:?\s*\$?\s*([-+\u2212]?[\d,]*\.?\d+)", body, re.I)
    for phrase in reversed(phrases):
        found = _numbers(phrase)
        if found:
            return _number_text(found[-1][0])
    found = _numbers(body)
    return _number_text(found[-1][0]) if found else None


def gsm8k_match(output: object, expected: object) -> bool:
    """True when the output's final answer equals the reference's (`gsm8k_answer` of both;
    `expected` may be the whole reference solution, its number text, or a number).
    None output: False."""
    got = gsm8k_answer(output)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        want: str | None = _number_text(Decimal(str(expected)))
    else:
        want = gsm8k_answer(as_text(expected, what="expected answer"))
    if want is None:
        raise ScorerError(f"the expected answer {expected!r} holds no number (GSM8K: '#### 42')")
    if got is None:
        return False
    try:
        return Decimal(got) == Decimal(want)
    except InvalidOperation:  # pragma: no cover - both come from the number pattern
        return False
