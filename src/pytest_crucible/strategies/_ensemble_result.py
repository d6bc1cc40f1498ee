"""What one ensemble call did: every member's answer and costs, the vote, why it stopped.

`EnsembleResult.to_dict()` is the JSON kept on the running trial (`trial.result("ensemble",
...)`), so a stored run shows every member's answer beside the final one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnsembleResult", "MemberAnswer"]


@dataclass(frozen=True)
class MemberAnswer:
    """One member's call: its raw text, its answer after normalisation (None: no usable
    answer), its confidence (None: it gave none), and what the call took and cost.
    `tokens` and `cost_usd` are None for a callable member (its calls are counted on the
    trial, but cannot be told apart from the other members')."""

    member: str
    index: int
    raw: Any
    answer: str | None
    confidence: float | None
    latency_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        raw = self.raw if isinstance(self.raw, str | int | float | bool | None) else repr(self.raw)
        return {
            "member": self.member,
            "index": self.index,
            "raw": raw,
            "answer": self.answer,
            "confidence": self.confidence,
            "latency_s": self.latency_s,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class EnsembleResult:
    """The ensemble's answer (None: no answer, e.g. a unanimous vote that disagreed), the
    share of answering members that gave it (`consensus`), each member's call in member
    order (`members`: only those called), and why the run stopped (`stop_reason`)."""

    answer: str | None
    consensus: float
    vote: str
    execution: str
    members: tuple[MemberAnswer, ...]
    members_total: int
    stop_reason: str
    latency_s: float
    votes: dict[str, float] = field(default_factory=dict)

    @property
    def members_called(self) -> int:
        return len(self.members)

    @property
    def answers(self) -> list[str | None]:
        """Every called member's answer, in member order."""
        return [member.answer for member in self.members]

    @property
    def input_tokens(self) -> int:
        return sum(m.input_tokens or 0 for m in self.members)

    @property
    def output_tokens(self) -> int:
        return sum(m.output_tokens or 0 for m in self.members)

    @property
    def cost_usd(self) -> float | None:
        """The members' total cost; None when no member's call had a price."""
        costs = [m.cost_usd for m in self.members if m.cost_usd is not None]
        return sum(costs) if costs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "answers": self.answers,
            "consensus": self.consensus,
            "vote": self.vote,
            "execution": self.execution,
            "votes": dict(self.votes),
            "members_called": self.members_called,
            "members_total": self.members_total,
            "stop_reason": self.stop_reason,
            "latency_s": self.latency_s,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "members": [member.to_dict() for member in self.members],
        }
