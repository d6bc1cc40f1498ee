"""`ensemble(members, vote=..., execution=...)`: several models (or conditions) answer, a
vote decides, and what each member did is kept on the running trial.

    ens = ensemble([(backend, "m1"), (backend, "m2"), (backend, "m3")],
                   normalize=scorers.gsm8k_answer, execution="sequential")
    experiment = Experiment(..., conditions={"single": one, "ensemble": ens})
    answer = await condition(item.input)          # the voted answer (None: no answer)
    result = await ens.arun(prompt)               # inside a condition: an EnsembleResult
    result = ens.run(prompt)                      # the same from sync code

See docs/strategies.md.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_crucible.declare.conditions import code_identity
from pytest_crucible.errors import StrategyError
from pytest_crucible.llm.context import note_trial_result
from pytest_crucible.strategies._ensemble_members import (
    ConfidenceParser,
    Normalizer,
    as_members,
    call_member,
    repeat_offsets,
)
from pytest_crucible.strategies._ensemble_result import EnsembleResult, MemberAnswer
from pytest_crucible.strategies._ensemble_run import (
    EXECUTIONS,
    run_cascade,
    run_hedged,
    run_parallel,
    run_sequential,
)
from pytest_crucible.strategies._ensemble_vote import VOTES, Ballot, decided, tally

__all__ = ["Ensemble", "ensemble"]


def _choice(what: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise StrategyError(
            f"ensemble({what}={value!r}): choose one of {', '.join(map(repr, choices))}"
        )
    return str(value)


def _fraction(what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise StrategyError(f"ensemble({what}={value!r}): give a number from 0 to 1")
    return float(value)


def _seconds(what: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise StrategyError(f"ensemble({what}={value!r}): give seconds >= 0, e.g. 0.5")
    return float(value)


class Ensemble:
    """An ensemble of `members` (`(backend, "model")`, `Member(...)`, or callables): members
    that answer, a vote over their answers, and how they are called. Made by
    `ensemble(members, ...)` (the same class).

    vote: "majority" (ties: the earliest member's answer among the tied), "weighted"
    (`weights=` or `Member(weight=)`), "best_confidence", "unanimous" (None on disagreement).
    execution: "parallel", "sequential" (in order, stop once the vote is decided), "hedged"
    (the first member, then each next one after `hedge_delay` s without an answer; the first
    answer wins), "cascade" (in order, cheap first; stop at confidence >= `min_confidence`
    or, from two answers on, consensus >= `min_agreement`). `normalize(text)` turns each
    answer into what is compared (None: no answer); `confidence(text)` splits a model's text
    into (answer, confidence), e.g. `trailing_confidence`. `prompt(*args, **kwargs)` builds
    backend members' prompt from the call's arguments (default: the one argument).
    `record_as`: the `trial.result` key of the `EnsembleResult` (None: not kept).

    An async callable, so it can be an experiment's condition (from sync and async trial
    functions alike): `await ens(*args)` gives the voted answer and keeps the
    `EnsembleResult` on the trial as `trial.result(record_as, ...)`. `arun` / `run` return
    the `EnsembleResult` itself.
    """

    def __init__(
        self,
        members: Sequence[Any],
        *,
        vote: str = "majority",
        execution: str = "parallel",
        normalize: Normalizer | None = None,
        weights: Sequence[float] | None = None,
        confidence: ConfidenceParser | None = None,
        prompt: Callable[..., Any] | None = None,
        hedge_delay: float = 1.0,
        min_confidence: float = 0.8,
        min_agreement: float = 1.0,
        record_as: str | None = "ensemble",
    ) -> None:
        self.members = as_members(members, weights)
        self.vote = _choice("vote", vote, VOTES)
        self.execution = _choice("execution", execution, EXECUTIONS)
        for what, fn in (("normalize", normalize), ("confidence", confidence), ("prompt", prompt)):
            if fn is not None and not callable(fn):
                raise StrategyError(f"ensemble({what}={fn!r:.60}): give a function (or None)")
        self.normalize = normalize
        self.confidence = confidence
        self.prompt = prompt
        self.hedge_delay = _seconds("hedge_delay", hedge_delay)
        self.min_confidence = _fraction("min_confidence", min_confidence)
        self.min_agreement = _fraction("min_agreement", min_agreement)
        if record_as is not None and (not isinstance(record_as, str) or not record_as):
            raise StrategyError(f"ensemble(record_as={record_as!r}): give a name, or None")
        self.record_as = record_as
        self._offsets = repeat_offsets(self.members)

    def crucible_identity(self) -> dict[str, Any]:
        """What this ensemble computes, for its trial keys as a condition: its members (a
        backend's name, address and model; a callable's code), vote, execution, thresholds
        and functions. Changing any of them reruns its trials under --crucible-resume."""

        def code(fn: Any) -> str | None:
            return None if fn is None else code_identity(fn)

        members = [
            {
                "backend": getattr(m.target, "name", type(m.target).__name__),
                "url": str(getattr(m.target, "url", "")),
                "model": m.model,
                "weight": m.weight,
                "seed": m.seed,
                "params": {k: repr(v) for k, v in sorted(m.params.items())},
            }
            if m.is_backend
            else {"callable": code(m.target), "weight": m.weight}
            for m in self.members
        ]
        return {
            "ensemble": members,
            "vote": self.vote,
            "execution": self.execution,
            "hedge_delay": self.hedge_delay,
            "min_confidence": self.min_confidence,
            "min_agreement": self.min_agreement,
            "normalize": code(self.normalize),
            "confidence": code(self.confidence),
            "prompt": code(self.prompt),
        }

    def __repr__(self) -> str:
        names = ", ".join(member.label for member in self.members)
        return f"ensemble([{names}], vote={self.vote!r}, execution={self.execution!r})"

    async def __call__(self, *args: Any, **kwargs: Any) -> str | None:
        return (await self.arun(*args, **kwargs)).answer

    async def arun(self, *args: Any, **kwargs: Any) -> EnsembleResult:
        """Call the members (backends with `agenerate`) and vote."""
        return await self._run(args, kwargs)

    def run(self, *args: Any, **kwargs: Any) -> EnsembleResult:
        """The sync twin of `arun`, on an event loop of its own (so it cannot be called from
        async code: await `arun` there)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run(args, kwargs))
        raise StrategyError(
            "ensemble.run() was called inside a running event loop; use "
            "`await ensemble.arun(...)` (or `await ensemble(...)`) in async code"
        )

    # -- one call ----------------------------------------------------------------------------

    def _prompt(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.prompt is not None:
            return self.prompt(*args, **kwargs)
        if not any(member.is_backend for member in self.members):
            return None
        if len(args) != 1 or kwargs:
            raise StrategyError(
                f"{self!r} was called with {len(args)} arguments and keywords {sorted(kwargs)}; "
                "backend members take one prompt (a string or messages): call it with the "
                "prompt alone, or give ensemble(prompt=lambda ...: '...') to build it"
            )
        return args[0]

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> EnsembleResult:
        prompt = self._prompt(args, kwargs)
        started = time.perf_counter()

        async def call(index: int) -> MemberAnswer:
            return await call_member(
                self.members[index],
                index,
                prompt,
                args,
                kwargs,
                offset=self._offsets[index],
                confidence=self.confidence,
                normalize=self.normalize,
            )

        count = len(self.members)
        if self.execution == "parallel":
            answers, reason = await run_parallel(count, call)
        elif self.execution == "sequential":
            answers, reason = await run_sequential(count, call, self._decided)
        elif self.execution == "hedged":
            answers, reason = await run_hedged(count, call, self.hedge_delay)
        else:
            answers, reason = await run_cascade(count, call, self._cascade_stop)
        outcome = tally(self.vote, self._ballots(answers))
        result = EnsembleResult(
            answer=outcome.answer,
            consensus=outcome.consensus,
            vote=self.vote,
            execution=self.execution,
            members=tuple(sorted(answers, key=lambda answer: answer.index)),
            members_total=count,
            stop_reason=reason,
            latency_s=time.perf_counter() - started,
            votes=outcome.votes,
        )
        if self.record_as is not None:
            note_trial_result(self.record_as, result.to_dict())
        return result

    def _ballots(self, answers: Sequence[MemberAnswer]) -> list[Ballot]:
        return [
            Ballot(a.index, a.answer, a.confidence, self.members[a.index].weight) for a in answers
        ]

    def _decided(self, answers: list[MemberAnswer]) -> bool:
        called = {answer.index for answer in answers}
        remaining = [
            Ballot(index, None, None, member.weight)
            for index, member in enumerate(self.members)
            if index not in called
        ]
        return decided(self.vote, self._ballots(answers), remaining)

    def _cascade_stop(self, answers: list[MemberAnswer]) -> str | None:
        """Why a cascade stops here: its answer so far is confident enough, or enough of
        the members called agree; None: escalate to the next member."""
        ballots = self._ballots(answers)
        if self.vote == "best_confidence" and all(b.confidence is None for b in ballots):
            return None  # tally would refuse; the next member may give a confidence
        outcome = tally(self.vote, ballots)
        if outcome.answer is None:
            return None
        said = [a.confidence for a in answers if a.answer == outcome.answer]
        best = max((c for c in said if c is not None), default=None)
        if best is not None and best >= self.min_confidence:
            return (
                f"cascade: confidence {best:.2f} >= {self.min_confidence:g} after "
                f"{len(answers)} of {len(self.members)} members"
            )
        if len(answers) >= 2 and outcome.consensus >= self.min_agreement:
            return (
                f"cascade: consensus {outcome.consensus:.2f} >= {self.min_agreement:g} after "
                f"{len(answers)} of {len(self.members)} members"
            )
        return None


# `ensemble(...)` is the documented way to make one: the class itself, so its signature,
# types and documentation have one home (`Ensemble.__init__`).
ensemble = Ensemble
