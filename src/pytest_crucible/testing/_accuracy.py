"""Models that are right with a chosen probability: `Accuracy`, the mock server's answers for
benchmarks of ensembles and voting.

    Accuracy({"m1": 0.7, "m2": 0.9}, wrong="WRONG", seed=1)

Each request's answer is drawn from a hash of (seed, model, item, the request's seed): the
same request always gets the same answer, different models draw independently, and a
request with another `seed` (OpenAI's `seed`, Gemini's `generationConfig.seed`) is a fresh,
independent draw. The item is the text of the last user message. Python's `hash()` is never
used (it changes between processes); the draws are SHA-256 based.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_crucible.testing._errors import MockServerError

__all__ = ["ANSWER_MARKER", "Accuracy", "Draw", "split_confidence"]

# The default place of the correct answer: "[answer: 42]" anywhere in the last user message.
ANSWER_MARKER = re.compile(r"\[answer:\s*([^\]]*?)\s*\]")
_CONFIDENCE = re.compile(r"^(.*) \(confidence (\d(?:\.\d+)?)\)$", re.S)
# Confidence ranges (uniform) of right and wrong answers: informative, but overlapping.
RIGHT_CONFIDENCE = (0.55, 1.0)
WRONG_CONFIDENCE = (0.3, 0.75)

Correct = Mapping[str, str] | Callable[[dict[str, Any]], str] | None


class AccuracyError(Exception):
    """A request that `Accuracy` cannot answer (no correct answer found, unknown model)."""


@dataclass(frozen=True)
class Draw:
    """One answer drawn: whether it is right, its text, and its confidence (None when off)."""

    right: bool
    answer: str
    confidence: float | None

    @property
    def text(self) -> str:
        """The reply: the answer, or "ANSWER (confidence 0.83)" with confidences on."""
        if self.confidence is None:
            return self.answer
        return f"{self.answer} (confidence {self.confidence:.2f})"


def split_confidence(text: str) -> tuple[str, float | None]:
    """("ANSWER", 0.83) from "ANSWER (confidence 0.83)"; (text, None) without one."""
    found = _CONFIDENCE.match(text.strip())
    if found is None:
        return text.strip(), None
    return found.group(1).strip(), float(found.group(2))


def _uniform(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`: the first 8 bytes of their SHA-256."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise MockServerError(
            f"Accuracy: the probability of model {name!r} is {value!r}; give a number from 0 "
            "to 1 (the chance that the model is right on an item)"
        )
    return float(value)


class Accuracy:
    """Answers right with probability `p[model]` ("*": every other model), else wrong.

    `correct` finds the right answer of a request: None (default) reads the marker
    "[answer: X]" in the last user message; a dict {substring of the question: answer}; or a
    callable taking the request JSON (thread mode only). `wrong` is the wrong answer: one
    string (the common wrong answer), or a dict {answer: weight} drawn from. With
    `confidence=True` each reply is "ANSWER (confidence 0.83)" (`split_confidence` parses
    it): right answers draw their confidence from 0.55-1.0, wrong ones from 0.3-0.75.
    """

    def __init__(
        self,
        p: Mapping[str, float],
        *,
        correct: Correct = None,
        wrong: str | Mapping[str, float] = "WRONG",
        seed: int = 0,
        confidence: bool = False,
    ) -> None:
        if not isinstance(p, Mapping) or not p:
            raise MockServerError(
                f"Accuracy({p!r}): give a dict model name -> probability of a right answer, "
                "e.g. Accuracy({'m1': 0.7, '*': 0.5})"
            )
        self.p = {str(name): _probability(str(name), value) for name, value in p.items()}
        if correct is not None and not callable(correct) and not isinstance(correct, Mapping):
            raise MockServerError(
                f"Accuracy(correct={correct!r}): give None (read '[answer: X]' from the prompt), "
                "a dict {substring of the question: answer}, or a callable(request_json) -> str"
            )
        self.correct = correct
        self.wrong = self._check_wrong(wrong)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise MockServerError(f"Accuracy(seed={seed!r}): give an integer")
        self.seed = seed
        self.confidence = bool(confidence)

    @staticmethod
    def _check_wrong(wrong: Any) -> str | dict[str, float]:
        if isinstance(wrong, str):
            return wrong
        if isinstance(wrong, Mapping) and wrong:
            weights = {str(k): v for k, v in wrong.items()}
            valid = all(
                isinstance(v, int | float)
                and not isinstance(v, bool)
                and math.isfinite(v)
                and v > 0
                for v in weights.values()
            )
            if valid:
                return {k: float(v) for k, v in weights.items()}
        raise MockServerError(
            f"Accuracy(wrong={wrong!r}): give the wrong answer (a string) or a dict "
            "{wrong answer: weight > 0}, e.g. {'A': 3, 'B': 1}"
        )

    def probability(self, model: str) -> float:
        """The chance that `model` is right on an item."""
        if model in self.p:
            return self.p[model]
        if "*" in self.p:
            return self.p["*"]
        known = ", ".join(sorted(self.p))
        raise AccuracyError(
            f"Accuracy has no probability for model {model!r} (it knows {known}); add it, or "
            "a '*' entry for every other model"
        )

    def expected(self, body: dict[str, Any], question: str) -> str:
        """The correct answer of a request (its JSON `body`, its last user message)."""
        if self.correct is None:
            found = ANSWER_MARKER.search(question)
            if found is None:
                raise AccuracyError(
                    "Accuracy: the last user message has no '[answer: X]' marker; put the "
                    "correct answer in the prompt that way, or pass Accuracy(correct={...})"
                )
            return found.group(1)
        if isinstance(self.correct, Mapping):
            for key, answer in self.correct.items():
                if key in question:
                    return str(answer)
            raise AccuracyError(
                f"Accuracy: no key of correct= is in the question {question[:80]!r}; add it"
            )
        return str(self.correct(body))

    def draw(self, model: str, item: str, expected: str, request_seed: int | None = None) -> Draw:
        """The answer of `model` on `item` (whose right answer is `expected`), for a request
        with `request_seed`: deterministic, independent across models, items and seeds."""
        key = ("accuracy", self.seed, model, item, "none" if request_seed is None else request_seed)
        right = _uniform(*key, "right") < self.probability(model)
        answer = expected if right else self._wrong_answer(_uniform(*key, "wrong"))
        confidence = None
        if self.confidence:
            low, high = RIGHT_CONFIDENCE if right else WRONG_CONFIDENCE
            confidence = low + (high - low) * _uniform(*key, "confidence")
        return Draw(right, answer, confidence)

    def _wrong_answer(self, u: float) -> str:
        if isinstance(self.wrong, str):
            return self.wrong
        total = sum(self.wrong.values())
        point, running = u * total, 0.0
        for answer, weight in self.wrong.items():
            running += weight
            if point < running:
                return answer
        return next(reversed(self.wrong))  # u * total rounded up to the total

    # -- across processes ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description (for a child-process server); not with a callable."""
        if callable(self.correct):
            raise MockServerError(
                "MockModelServer(in_process=True): Accuracy(correct=<callable>) cannot be sent "
                "to the child process; use the '[answer: X]' marker or a dict, or in_process=False"
            )
        return {
            "p": self.p,
            "correct": None if self.correct is None else dict(self.correct),
            "wrong": self.wrong,
            "seed": self.seed,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accuracy:
        return cls(
            data["p"],
            correct=data.get("correct"),
            wrong=data.get("wrong", "WRONG"),
            seed=int(data.get("seed", 0)),
            confidence=bool(data.get("confidence", False)),
        )

    def __repr__(self) -> str:
        return f"Accuracy({json.dumps(self.p)}, wrong={self.wrong!r}, seed={self.seed})"
