"""Text scorers: normalisation, exact match, substring and regular-expression checks.

Every scorer takes the model's output first. An output of None (the condition returned
nothing) scores as a miss; numbers and bytes are read as their text; any other type raises
`ScorerError` saying which part of it to pass (a model's structured answer is not text).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

from pytest_crucible.errors import ScorerError

__all__ = ["as_text", "exact_match", "expected_texts", "includes", "normalize", "regex"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def as_text(value: object, *, what: str = "output") -> str | None:
    """The text of a scorer's argument: None stays None (no answer), a str is itself, an int,
    float or bytes (UTF-8) becomes text; anything else raises ScorerError."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):  # a bool is an int: refuse it, it is not an answer's text
        raise ScorerError(
            f"the {what} is a bool ({value!r}), not text; score text, or record the bool "
            "itself as the metric"
        )
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise ScorerError(
        f"the {what} is a {type(value).__name__}, not text; pass the text part of it "
        "(e.g. output['content'] or str(output))"
    )


def expected_texts(expected: object) -> list[str]:
    """The accepted answers: one text, or a list or tuple of texts (any one may match)."""
    if expected is None:
        raise ScorerError(
            "the expected answer is None: the item has no expected answer; give the dataset "
            "an expected field (e.g. jsonl(..., expected='answer'))"
        )
    if isinstance(expected, str | bytes | int | float) and not isinstance(expected, bool):
        text = as_text(expected, what="expected answer")
        assert text is not None
        return [text]
    if isinstance(expected, Sequence) and not isinstance(expected, str):
        if not expected:
            raise ScorerError("the list of expected answers is empty; give at least one")
        return [t for t in (as_text(e, what="expected answer") for e in expected) if t is not None]
    raise ScorerError(
        f"the expected answer is a {type(expected).__name__}; give a text or a list of "
        "accepted texts"
    )


def normalize(
    text: str | None,
    *,
    case: bool = True,
    whitespace: bool = True,
    punctuation: bool = True,
    articles: bool = False,
) -> str:
    """Normalise text before comparing it. Each option True removes a difference:
    `case` lower-cases (Unicode case folding), `punctuation` drops punctuation characters
    (ASCII punctuation and every Unicode punctuation category), `articles` drops the English
    articles a, an, the as whole words, `whitespace` strips the ends and collapses runs of
    whitespace to one space. They apply in that order (as SQuAD's evaluation does). None
    becomes the empty string."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ScorerError(f"normalize() takes text, got {type(text).__name__}")
    if case:
        text = text.casefold()
    if punctuation:
        text = "".join(
            ch
            for ch in text
            if ch not in _ASCII_PUNCTUATION and not unicodedata.category(ch).startswith("P")
        )
    if articles:
        text = _ARTICLES.sub(" ", text)
    if whitespace:
        text = " ".join(text.split())
    return text


def exact_match(
    output: object,
    expected: object,
    *,
    case: bool = True,
    whitespace: bool = True,
    punctuation: bool = True,
    articles: bool = False,
) -> bool:
    """True when the normalised output equals a normalised accepted answer (`expected`: a
    text or a list of texts). None output: False. Options as `normalize`; all False compares
    the texts exactly."""
    text = as_text(output)
    if text is None:
        return False
    options = {"case": case, "whitespace": whitespace, "punctuation": punctuation}
    got = normalize(text, articles=articles, **options)
    return any(got == normalize(e, articles=articles, **options) for e in expected_texts(expected))


def includes(
    output: object,
    expected: object,
    *,
    case: bool = True,
    whitespace: bool = True,
    punctuation: bool = False,
    articles: bool = False,
) -> bool:
    """True when a normalised accepted answer occurs in the normalised output. Punctuation is
    kept by default (dropping it would let "3.5" be found in "35"). None output: False; an
    empty accepted answer is refused (it is found in every output)."""
    text = as_text(output)
    if text is None:
        return False
    options = {"case": case, "whitespace": whitespace, "punctuation": punctuation}
    got = normalize(text, articles=articles, **options)
    wanted = [normalize(e, articles=articles, **options) for e in expected_texts(expected)]
    if any(not w for w in wanted):
        raise ScorerError(
            "includes(): an expected answer is empty after normalisation, and an empty text "
            "is found in every output; check the item's expected answer"
        )
    return any(w in got for w in wanted)


def regex(output: object, pattern: str | re.Pattern[str], flags: int = 0) -> bool:
    """True when `pattern` matches anywhere in the output (`re.search`). None output: False.
    A pattern that does not compile raises ScorerError with re's reason."""
    text = as_text(output)
    if isinstance(pattern, re.Pattern):
        compiled = pattern if not flags else re.compile(pattern.pattern, pattern.flags | flags)
    else:
        try:
            compiled = re.compile(pattern, flags)
        except re.error as exc:
            raise ScorerError(f"regex(): the pattern {pattern!r} does not compile: {exc}") from None
    if text is None:
        return False
    return compiled.search(text) is not None
