"""SQuAD v1.1's answer scores, as its official evaluation script defines them.

`normalize_answer` lower-cases, removes ASCII punctuation, removes the articles a, an, the
and collapses whitespace; `token_f1` is the F1 of the bag-of-tokens overlap between the
normalised prediction and a reference; both scores take the best over the references.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from pytest_crucible.scorers._text import as_text, expected_texts

__all__ = ["normalize_answer", "squad_exact_match", "token_f1"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop articles, collapse whitespace (SQuAD v1.1)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _f1(prediction: str, reference: str) -> float:
    predicted = normalize_answer(prediction).split()
    wanted = normalize_answer(reference).split()
    same = sum((Counter(predicted) & Counter(wanted)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def token_f1(output: object, expected: object) -> float:
    """SQuAD's token F1 in [0, 1]: the best over the references (`expected`: a text or a
    list of texts). None output: 0.0. As in the official script, an answer that shares no
    token with the reference scores 0, and so does an empty answer."""
    text = as_text(output)
    references = expected_texts(expected)
    if text is None:
        return 0.0
    return max(_f1(text, reference) for reference in references)


def squad_exact_match(output: object, expected: object) -> bool:
    """SQuAD's exact match: the normalised output equals a normalised reference.
    None output: False."""
    text = as_text(output)
    references = expected_texts(expected)
    if text is None:
        return False
    got = normalize_answer(text)
    return any(got == normalize_answer(reference) for reference in references)
