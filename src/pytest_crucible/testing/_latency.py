"""How long the mock server waits before it answers: fixed, log-normal or Pareto, seeded,
with an optional chance of a stall on top (`Stall`), and per model (`LatencyByModel`)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from pytest_crucible.testing._errors import MockServerError

__all__ = [
    "Delay",
    "Latency",
    "LatencyByModel",
    "LatencyLike",
    "Stall",
    "coerce_latency",
    "latency_from_json",
]

LatencyKind = Literal["fixed", "lognormal", "pareto"]


def _check(name: str, value: float, *, positive: bool = False) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number < 0 or (positive and number == 0):
        need = "> 0" if positive else ">= 0"
        raise MockServerError(f"Latency: {name}={value!r} is invalid; give a finite number {need}")
    return number


@dataclass(frozen=True)
class Stall:
    """A chance of a stall on each request: with `probability`, `low` to `high` seconds
    (uniform) are added to the sampled delay, as a server that hiccups (a GC pause, a queue
    behind a slow request: "The Tail at Scale")."""

    probability: float
    low: float
    high: float

    def __post_init__(self) -> None:
        p = float(self.probability)
        if not 0 <= p <= 1:
            raise MockServerError(
                f"Stall(probability={self.probability!r}): give a probability from 0 to 1"
            )
        low, high = _check("Stall low", self.low), _check("Stall high", self.high)
        if high < low:
            raise MockServerError(
                f"Stall(low={self.low!r}, high={self.high!r}): high must be >= low "
                "(a stall lasts from low to high seconds)"
            )
        object.__setattr__(self, "probability", p)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)


@dataclass(frozen=True)
class Delay:
    """One sampled delay: the body's seconds and the stall's (0.0 when none)."""

    body: float
    stall: float

    @property
    def total(self) -> float:
        return self.body + self.stall


class Latency:
    """A distribution of per-request delays in seconds, sampled by the mock server.

    Build one with `Latency.fixed`, `Latency.lognormal` or `Latency.pareto`. Every kind takes
    `cap=` (no body sample exceeds it) and `stall=Stall(...)` (a chance of a stall added to
    the body, not capped). Random kinds are seeded: the same seed gives the same sequence of
    samples, and `reset()` starts the sequence again. A stall draws from its own generator
    (seeded from `seed`), so adding one leaves the body's samples as they were.
    """

    __slots__ = ("_lock", "_rng", "_stall_rng", "cap", "kind", "params", "seed", "stall")

    def __init__(
        self,
        kind: LatencyKind,
        params: dict[str, float],
        *,
        seed: int = 0,
        cap: float | None = None,
        stall: Stall | None = None,
    ) -> None:
        if kind not in ("fixed", "lognormal", "pareto"):
            raise MockServerError(
                f"Latency: unknown kind {kind!r}; use Latency.fixed, .lognormal or .pareto"
            )
        self.kind: LatencyKind = kind
        self.params = dict(params)
        self.seed = int(seed)
        self.cap = None if cap is None else _check("cap", cap)
        if stall is not None and not isinstance(stall, Stall):
            raise MockServerError(
                f"Latency: stall={stall!r}; give Stall(probability=0.03, low=2.0, high=5.0)"
            )
        self.stall = stall
        self._rng = random.Random(self.seed)
        self._stall_rng = random.Random(f"stall/{self.seed}")
        self._lock = threading.Lock()

    @classmethod
    def fixed(
        cls, seconds: float, *, seed: int = 0, cap: float | None = None, stall: Stall | None = None
    ) -> Latency:
        """Every request waits `seconds` (plus a stall's, with `stall=`, seeded by `seed`)."""
        return cls(
            "fixed", {"seconds": _check("seconds", seconds)}, seed=seed, cap=cap, stall=stall
        )

    @classmethod
    def lognormal(
        cls,
        median: float,
        sigma: float,
        *,
        seed: int = 0,
        cap: float | None = None,
        stall: Stall | None = None,
    ) -> Latency:
        """Log-normal delays: half are below `median`; `sigma` is the spread of log(delay)."""
        params = {
            "median": _check("median", median, positive=True),
            "sigma": _check("sigma", sigma),
        }
        return cls("lognormal", params, seed=seed, cap=cap, stall=stall)

    @classmethod
    def pareto(
        cls,
        minimum: float,
        alpha: float,
        *,
        seed: int = 0,
        cap: float | None = None,
        stall: Stall | None = None,
    ) -> Latency:
        """Heavy-tailed delays of at least `minimum`; a smaller `alpha` gives a heavier tail."""
        params = {
            "minimum": _check("minimum", minimum, positive=True),
            "alpha": _check("alpha", alpha, positive=True),
        }
        return cls("pareto", params, seed=seed, cap=cap, stall=stall)

    @classmethod
    def coerce(cls, value: float | Latency | None) -> Latency:
        """A `Latency` from what `MockModelServer(latency=...)` accepts: seconds, or None for 0."""
        if value is None:
            return cls.fixed(0.0)
        if isinstance(value, Latency):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MockServerError(
                f"latency={value!r}: give seconds (a number), a Latency such as "
                "Latency.lognormal(median=0.2, sigma=0.5), None, or a dict of those by model"
            )
        return cls.fixed(value)

    def draw(self) -> Delay:
        """One delay, as its body and its stall (0.0 when this request does not stall)."""
        with self._lock:
            if self.kind == "fixed":
                value = self.params["seconds"]
            elif self.kind == "lognormal":
                mu = math.log(self.params["median"])
                value = self._rng.lognormvariate(mu, self.params["sigma"])
            else:
                value = self.params["minimum"] * self._rng.paretovariate(self.params["alpha"])
            stalled = 0.0
            if self.stall is not None and self._stall_rng.random() < self.stall.probability:
                stalled = self._stall_rng.uniform(self.stall.low, self.stall.high)
        return Delay(value if self.cap is None else min(value, self.cap), stalled)

    def sample(self) -> float:
        """One delay in seconds (the body plus a stall, if this request stalls)."""
        return self.draw().total

    def sample_for(self, model: str) -> float:
        """One delay for a request to `model` (the same distribution for every model)."""
        return self.sample()

    def samples(self, n: int) -> list[float]:
        """`n` delays in seconds."""
        return [self.sample() for _ in range(n)]

    def reset(self) -> None:
        """Start the seeded sequence of samples again."""
        with self._lock:
            self._rng = random.Random(self.seed)
            self._stall_rng = random.Random(f"stall/{self.seed}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description; `Latency.from_dict` rebuilds it (used across processes)."""
        stall = None if self.stall is None else vars(self.stall).copy()
        return {
            "kind": self.kind,
            "params": dict(self.params),
            "seed": self.seed,
            "cap": self.cap,
            "stall": stall,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latency:
        try:
            params = {str(k): float(v) for k, v in dict(data["params"]).items()}
            stall = data.get("stall")
            return cls(
                data["kind"],
                params,
                seed=int(data.get("seed", 0)),
                cap=data.get("cap"),
                stall=None if stall is None else Stall(**stall),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MockServerError(
                f"Latency.from_dict: invalid description {data!r}: {exc}"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Latency) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        params = tuple(sorted(self.params.items()))
        return hash((self.kind, params, self.seed, self.cap, self.stall))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        extra = f", seed={self.seed}" if self.kind != "fixed" or self.stall else ""
        cap = f", cap={self.cap!r}" if self.cap is not None else ""
        stall = f", stall={self.stall!r}" if self.stall is not None else ""
        return f"Latency.{self.kind}({args}{extra}{cap}{stall})"


LatencyLike: TypeAlias = "float | Latency | None"


class LatencyByModel:
    """A latency per model name: `MockModelServer(latency={"fast": 0.01, "slow":
    Latency.lognormal(0.5, 0.3), "*": 0.1})`. "*" is the latency of every other model
    (default: none). Each model samples its own seeded sequence."""

    def __init__(self, latencies: Mapping[str, LatencyLike]) -> None:
        for name in latencies:
            if not isinstance(name, str):
                raise MockServerError(
                    f"latency: key {name!r} must be a model name (a string), or '*' for others"
                )
        self.by_model = {name: Latency.coerce(value) for name, value in latencies.items()}
        self._other = self.by_model.get("*", Latency.fixed(0.0))

    def for_model(self, model: str) -> Latency:
        return self.by_model.get(model, self._other)

    def sample_for(self, model: str) -> float:
        return self.for_model(model).sample()

    def reset(self) -> None:
        for latency in self.by_model.values():
            latency.reset()

    def to_dict(self) -> dict[str, Any]:
        return {"by_model": {name: value.to_dict() for name, value in self.by_model.items()}}

    def __repr__(self) -> str:
        return f"LatencyByModel({self.by_model!r})"


def latency_from_json(data: Any) -> Latency | LatencyByModel:
    """What `to_dict()` of either kind gave (or seconds, or None), rebuilt."""
    if isinstance(data, dict) and isinstance(data.get("by_model"), dict):
        return LatencyByModel({k: Latency.from_dict(v) for k, v in data["by_model"].items()})
    return Latency.from_dict(data) if isinstance(data, dict) else Latency.coerce(data)


def coerce_latency(value: Any) -> Latency | LatencyByModel:
    """What `MockModelServer(latency=...)` accepts: seconds, a `Latency`, None, or a mapping
    model name -> one of those."""
    if isinstance(value, LatencyByModel):
        return value
    if isinstance(value, Mapping):
        return LatencyByModel(value)
    return Latency.coerce(value)
