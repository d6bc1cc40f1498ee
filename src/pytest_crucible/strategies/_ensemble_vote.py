"""The votes of an ensemble, and whether members not yet called could still change one.

Ties are broken by member order: among tied answers, the one given by the earliest member
in the `members` list wins (list order, not the order in which answers arrived, so the
outcome does not depend on timing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_crucible.errors import StrategyError

__all__ = ["VOTES", "Ballot", "Outcome", "decided", "tally"]

VOTES = ("majority", "weighted", "best_confidence", "unanimous")


@dataclass(frozen=True)
class Ballot:
    """One member's vote: its position in the members list, its normalised answer (None: it
    gave no usable answer and does not vote), its confidence and its weight."""

    index: int
    answer: str | None
    confidence: float | None
    weight: float = 1.0


@dataclass(frozen=True)
class Outcome:
    """The winning answer (None: no answer), the share of voting members that gave it (for
    no answer: the largest share that agreed on any answer) and each answer's score."""

    answer: str | None
    consensus: float
    votes: dict[str, float]


def _scores(vote: str, ballots: Sequence[Ballot]) -> tuple[dict[str, float], dict[str, int]]:
    """Each answer's score (a count, a weight sum, or the best confidence) and the index of
    the earliest member that gave it."""
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    for ballot in sorted(ballots, key=lambda b: b.index):
        answer = ballot.answer
        if answer is None:
            continue
        first.setdefault(answer, ballot.index)
        if vote == "weighted":
            scores[answer] = scores.get(answer, 0.0) + ballot.weight
        elif vote == "best_confidence":
            if ballot.confidence is not None:
                scores[answer] = max(scores.get(answer, 0.0), ballot.confidence)
        else:
            scores[answer] = scores.get(answer, 0.0) + 1.0
    return scores, first


def _leader(scores: dict[str, float], first: dict[str, int]) -> str:
    """The highest score; among equal scores, the answer of the earliest member."""
    return max(scores, key=lambda answer: (scores[answer], -first[answer]))


def tally(vote: str, ballots: Sequence[Ballot]) -> Outcome:
    """The outcome of `vote` over the members called so far."""
    voting = [b for b in ballots if b.answer is not None]
    if not voting:
        return Outcome(None, 0.0, {})
    counts: dict[str, int] = {}
    for ballot in voting:
        assert ballot.answer is not None
        counts[ballot.answer] = counts.get(ballot.answer, 0) + 1
    scores, first = _scores(vote, voting)
    if vote == "best_confidence" and not scores:
        raise StrategyError(
            "ensemble(vote='best_confidence'): no member gave a confidence; give "
            "confidence=trailing_confidence (or another parser of the model's text), or let "
            "callable members return (answer, confidence)"
        )
    if vote == "unanimous":
        answer = next(iter(counts)) if len(counts) == 1 else None
    else:
        answer = _leader(scores, first)
    agreeing = counts[answer] if answer is not None else max(counts.values())
    return Outcome(answer, agreeing / len(voting), scores)


def decided(vote: str, ballots: Sequence[Ballot], remaining: Sequence[Ballot]) -> bool:
    """Whether no answers of the `remaining` members (their index and weight known, their
    answer not) can change the outcome: a sequential run stops there."""
    if not remaining:
        return True
    scores, first = _scores(vote, ballots)
    if vote == "unanimous":
        return len(scores) > 1  # already no answer
    if not scores:
        return False
    leader = _leader(scores, first)
    if vote == "best_confidence":
        return scores[leader] >= 1.0  # no confidence beats 1.0, and ties go to the earlier
    still = sum(b.weight for b in remaining) if vote == "weighted" else float(len(remaining))
    earliest_new = min(b.index for b in remaining)
    rivals = [(scores[a], first[a]) for a in scores if a != leader]
    rivals.append((0.0, earliest_new))  # an answer nobody has given yet
    return all(
        scores[leader] > score + still or (scores[leader] == score + still and first[leader] < at)
        for score, at in rivals
    )
