"""A model-graded scorer: a backend of `pytest_crucible.llm` grades an output by a rubric.

The judge is asked for JSON (`{"score": ..., "reasoning": ...}`); its answer is read as JSON
first (bare, in a code fence, or the first object in the text), then as a "SCORE: x" line.
An answer that holds no score on the scale is a `Judgement` with `score=None` and
`passed=False` whose reasoning says why, never an exception.

Inside a trial the judge's call goes through the trial's call context like any model call
(llm/context.py), so its tokens and cost count in the trial's usage and the call cache.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import ScorerError
from pytest_crucible.scorers._text import as_text

if TYPE_CHECKING:
    from pytest_crucible.llm.types import Backend, ModelRequest, ModelResponse

__all__ = ["Judgement", "ajudge", "judge", "judged", "parse_judgement"]

_SYSTEM = (
    "You are a strict, fair grader. Grade the RESPONSE by the RUBRIC{reference}. Give a "
    "score from {low:g} to {high:g} ({high:g} is best). Answer with one JSON object and "
    'nothing else: {{"reasoning": "<one short paragraph>", "score": <number>}}'
)
_SCORE_LINE = re.compile(
    r"^[\s*#>_-]*score[\s*_]*[:=]\s*\**\s*([-+]?\d+(?:\.\d+)?)", re.IGNORECASE | re.MULTILINE
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(frozen=True)
class Judgement:
    """A judge's verdict. `score`: on the scale (None when the answer held none);
    `passed`: score >= the threshold; `reasoning`: the judge's words (or why its answer could
    not be read); `usage`: input_tokens, output_tokens and cost_usd of the judge's call;
    `raw`: the judge's whole answer."""

    score: float | None
    passed: bool
    reasoning: str
    usage: dict[str, Any]
    raw: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON form, for `trial.result(...)`."""
        return {
            "score": self.score,
            "passed": self.passed,
            "reasoning": self.reasoning,
            "usage": dict(self.usage),
        }

    def metric_value(self, kind: str) -> float | bool:
        """The value a metric of this `kind` records: `passed` for "binary", else `score`.
        A judgement without a score has no continuous value: ScorerError says why."""
        if kind == "binary":
            return self.passed
        if self.score is None:
            raise ScorerError(f"the judge's answer held no score: {self.reasoning}")
        return self.score


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip().split("/")[0])
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [text.strip(), *_FENCE.findall(text)]
    found = _OBJECT.search(text)
    if found:
        candidates.append(found.group(0))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _read(text: str) -> tuple[float | None, str]:
    """The score and the reasoning in a judge's answer (score None: none found)."""
    data = _json_object(text)
    if data is not None:
        reasoning = next(
            (str(data[k]) for k in ("reasoning", "explanation", "reason") if k in data), ""
        )
        score = _number(data.get("score"))
        if score is not None:
            return score, reasoning
        verdict = data.get("verdict", data.get("passed"))
        if isinstance(verdict, bool) or str(verdict).lower() in ("pass", "fail"):
            return (1.0 if verdict is True or str(verdict).lower() == "pass" else 0.0), reasoning
    lines = _SCORE_LINE.findall(text)
    if lines:
        return float(lines[-1]), _SCORE_LINE.sub("", text).strip()
    return None, ""


def parse_judgement(
    text: str, *, scale: tuple[float, float] = (0.0, 1.0), threshold: float | None = None
) -> tuple[float | None, bool, str]:
    """(score, passed, reasoning) from a judge's answer; an answer without a score on the
    scale gives (None, False, why)."""
    low, high = scale
    score, reasoning = _read(text)
    if score is None:
        why = "unreadable judge answer (no JSON score, no 'SCORE: x' line)"
        return None, False, f"{why}: {text[:200]!r}"
    if not low <= score <= high:
        why = f"the judge's score {score:g} is outside the scale {low:g}-{high:g}"
        return None, False, f"{why}: {text[:200]!r}"
    cut = (low + high) / 2 if threshold is None else threshold
    return score, score >= cut, reasoning


def _messages(
    output: str | None, rubric: str, item: object, expected: object, scale: tuple[float, float]
) -> list[dict[str, str]]:
    parts = []
    question = getattr(item, "input", item)
    if question is not None:
        parts.append(f"QUESTION:\n{question}")
    if expected is not None:
        parts.append(f"REFERENCE ANSWER:\n{expected}")
    parts.append(f"RUBRIC:\n{rubric}")
    parts.append(f"RESPONSE:\n{output if output is not None else '(no response)'}")
    reference = " (a reference answer is given)" if expected is not None else ""
    system = _SYSTEM.format(reference=reference, low=scale[0], high=scale[1])
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def _check(rubric: str, scale: tuple[float, float], threshold: float | None) -> None:
    if not isinstance(rubric, str) or not rubric.strip():
        raise ScorerError("judge(): rubric= must be a non-empty text saying what a good answer is")
    if len(scale) != 2 or not scale[0] < scale[1]:
        raise ScorerError(
            f"judge(): scale={scale!r} must be (lowest, highest) with lowest < highest"
        )
    if threshold is not None and not scale[0] <= threshold <= scale[1]:
        raise ScorerError(f"judge(): threshold={threshold} lies outside the scale {scale!r}")


def _request(
    output: object,
    *,
    rubric: str,
    model: str,
    item: object,
    expected: object,
    scale: tuple[float, float],
    threshold: float | None,
    max_tokens: int,
) -> ModelRequest:
    _check(rubric, scale, threshold)
    from pytest_crucible.llm.types import ChatMessage, ModelRequest

    messages = _messages(as_text(output), rubric, item, expected, scale)
    return ModelRequest(
        model=model,
        messages=tuple(ChatMessage(**m) for m in messages),  # type: ignore[arg-type]
        max_tokens=max_tokens,
        temperature=0.0,
    )


def _judgement(
    response: ModelResponse, scale: tuple[float, float], threshold: float | None
) -> Judgement:
    score, passed, reasoning = parse_judgement(response.content, scale=scale, threshold=threshold)
    usage = {
        "input_tokens": response.usage.input_tokens,
        "output_tokens": response.usage.output_tokens,
        "cost_usd": response.cost_usd,
        "model": response.model,
    }
    return Judgement(score, passed, reasoning, usage, raw=response.content)


def judge(
    output: object,
    *,
    rubric: str,
    backend: Backend,
    model: str,
    item: object = None,
    expected: object = None,
    scale: tuple[float, float] = (0.0, 1.0),
    threshold: float | None = None,
    max_tokens: int = 512,
) -> Judgement:
    """Ask `model` on `backend` (any backend of `pytest_crucible.llm`) to grade `output` by
    `rubric`, given the item's input (`item`, or its `.input`) and a reference answer
    (`expected`) when known. `passed`: score >= threshold (default: the scale's middle).
    Model-call errors (`ModelCallError`) propagate: the trial fails with them."""
    request = _request(
        output, rubric=rubric, model=model, item=item, expected=expected,
        scale=scale, threshold=threshold, max_tokens=max_tokens,
    )  # fmt: skip
    return _judgement(backend.generate(request), scale, threshold)


async def ajudge(
    output: object,
    *,
    rubric: str,
    backend: Backend,
    model: str,
    item: object = None,
    expected: object = None,
    scale: tuple[float, float] = (0.0, 1.0),
    threshold: float | None = None,
    max_tokens: int = 512,
) -> Judgement:
    """`judge` for async code (an async trial function or condition)."""
    request = _request(
        output, rubric=rubric, model=model, item=item, expected=expected,
        scale=scale, threshold=threshold, max_tokens=max_tokens,
    )  # fmt: skip
    return _judgement(await backend.agenerate(request), scale, threshold)


def judged(
    *,
    rubric: str,
    backend: Backend,
    model: str,
    scale: tuple[float, float] = (0.0, 1.0),
    threshold: float | None = None,
    max_tokens: int = 512,
) -> Callable[..., Awaitable[Judgement]]:
    """A declared-metric scorer that asks the judge:
    `Metric(kind="binary", scorer=judged(rubric=..., backend=..., model=...))`. The trial
    calls it with its output, the item's expected answer and the item; the metric records
    `passed` (binary) or `score`, and the judgement is kept as the trial's result
    `<metric>_judgement`."""
    _check(rubric, scale, threshold)

    async def judge_output(output: object, expected: object, *, item: object = None) -> Judgement:
        return await ajudge(
            output, rubric=rubric, backend=backend, model=model, item=item,
            expected=expected, scale=scale, threshold=threshold, max_tokens=max_tokens,
        )  # fmt: skip

    judge_output.__qualname__ = judge_output.__name__ = f"judged[{model}]"
    return judge_output
