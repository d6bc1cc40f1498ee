"""BLEU and chrF through sacrebleu, per sentence (a trial's metric) and per corpus.

sacrebleu is an optional dependency (the `scorers` extra), imported when a score is first
computed. Scores are on sacrebleu's 0-100 scale. Sentence BLEU uses sacrebleu's
`effective_order=True` (its recommendation for single sentences); keyword options go to
`sacrebleu.metrics.BLEU(...)` / `CHRF(...)` as they are (e.g. `tokenize="char"`,
`lowercase=True`, `eps_smoothing=True`, `word_order=2` for chrF++).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_crucible.errors import ScorerError
from pytest_crucible.scorers._text import as_text, expected_texts

__all__ = ["bleu", "chrf", "corpus_bleu", "corpus_chrf"]

_INSTALL = "pip install 'pytest-crucible[scorers]'"


def _metric(name: str, options: dict[str, Any]) -> Any:
    """A sacrebleu metric object (BLEU or CHRF) with `options`, or ScorerError."""
    try:
        from sacrebleu.metrics.bleu import BLEU
        from sacrebleu.metrics.chrf import CHRF
    except ImportError:
        raise ScorerError(
            f"{name.lower()}() needs sacrebleu, which is not installed; install it with {_INSTALL}"
        ) from None
    cls = BLEU if name == "BLEU" else CHRF
    try:
        return cls(**options)
    except TypeError as exc:
        raise ScorerError(
            f"{name.lower()}(): sacrebleu's {name} refused the options: {exc}"
        ) from None


def _sentence(output: object, references: object) -> tuple[str, list[str]] | None:
    text = as_text(output)
    refs = expected_texts(references)
    return None if text is None else (text, refs)


def bleu(output: object, references: object, **options: Any) -> float:
    """Sentence BLEU (0-100) of the output against one reference or a list of them.
    None output: 0.0."""
    pair = _sentence(output, references)
    if pair is None:
        return 0.0
    metric = _metric("BLEU", {"effective_order": True, **options})
    return float(metric.sentence_score(pair[0], pair[1]).score)


def chrf(output: object, references: object, **options: Any) -> float:
    """Sentence chrF (0-100; chrF++ with `word_order=2`) of the output against one
    reference or a list of them. None output: 0.0."""
    pair = _sentence(output, references)
    if pair is None:
        return 0.0
    return float(_metric("CHRF", options).sentence_score(pair[0], pair[1]).score)


def _streams(outputs: Sequence[object], references: Sequence[object]) -> tuple[list[str], Any]:
    """sacrebleu's layout from ours: `references` has one entry per output (a text or a list
    of texts); sacrebleu wants one stream per reference position, '' where an output has
    fewer references."""
    if isinstance(outputs, str) or isinstance(references, str):
        raise ScorerError(
            "corpus scores take a list of outputs and a list of references (one per output)"
        )
    if len(outputs) != len(references):
        raise ScorerError(
            f"corpus scores need one reference entry per output: {len(outputs)} outputs, "
            f"{len(references)} reference entries"
        )
    hypotheses = [as_text(o) or "" for o in outputs]
    per_output = [expected_texts(r) for r in references]
    width = max((len(r) for r in per_output), default=0)
    streams = [[r[j] if j < len(r) else "" for r in per_output] for j in range(width)]
    return hypotheses, streams


def corpus_bleu(outputs: Sequence[object], references: Sequence[object], **options: Any) -> float:
    """Corpus BLEU (0-100): n-gram counts summed over all outputs, as papers report BLEU.
    `references[i]`: the reference (or list of references) of `outputs[i]`; a None output
    counts as an empty one."""
    hypotheses, streams = _streams(outputs, references)
    return float(_metric("BLEU", options).corpus_score(hypotheses, streams).score)


def corpus_chrf(outputs: Sequence[object], references: Sequence[object], **options: Any) -> float:
    """Corpus chrF (0-100), references laid out as `corpus_bleu`'s."""
    hypotheses, streams = _streams(outputs, references)
    return float(_metric("CHRF", options).corpus_score(hypotheses, streams).score)
