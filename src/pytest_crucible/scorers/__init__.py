"""Scorers: turn a trial's output and an item's expected answer into a metric value.

Use them in a trial (`trial.record(correct=scorers.exact_match(output, item.expected))`) or
declare them for a metric (`Metric(kind="binary", scorer=scorers.exact_match)`): the trial
then calls `scorer(trial.output, item.expected)` after the trial function returns, unless it
recorded the metric itself. See docs/scorers.md.

Text scorers are pure functions; BLEU and chrF import sacrebleu (the `scorers` extra) when
called; the judge calls a backend of `pytest_crucible.llm`; code runs in a sandboxed child
process (`code_execution`, `humaneval_check`).
"""

from __future__ import annotations

from pytest_crucible.errors import ScorerError
from pytest_crucible.scorers._answers import (
    extract_number,
    gsm8k_answer,
    gsm8k_match,
    multiple_choice,
    multiple_choice_letter,
    numeric_match,
)
from pytest_crucible.scorers._code import (
    CodeResult,
    Reason,
    code_execution,
    extract_code,
    humaneval_check,
    humaneval_passed,
    humaneval_result,
)
from pytest_crucible.scorers._judge import Judgement, ajudge, judge, judged, parse_judgement
from pytest_crucible.scorers._mt import bleu, chrf, corpus_bleu, corpus_chrf
from pytest_crucible.scorers._squad import normalize_answer, squad_exact_match, token_f1
from pytest_crucible.scorers._text import exact_match, includes, normalize, regex

__all__ = [
    "CodeResult",
    "Judgement",
    "Reason",
    "ScorerError",
    "ajudge",
    "bleu",
    "chrf",
    "code_execution",
    "corpus_bleu",
    "corpus_chrf",
    "exact_match",
    "extract_code",
    "extract_number",
    "gsm8k_answer",
    "gsm8k_match",
    "humaneval_check",
    "humaneval_passed",
    "humaneval_result",
    "includes",
    "judge",
    "judged",
    "multiple_choice",
    "multiple_choice_letter",
    "normalize",
    "normalize_answer",
    "numeric_match",
    "parse_judgement",
    "regex",
    "squad_exact_match",
    "token_f1",
]
