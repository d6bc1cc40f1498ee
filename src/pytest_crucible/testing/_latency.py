"""How long the mock server waits before it answers: fixed, log-normal or Pareto, seeded."""

from __future__ import annotations

import math
import random
import threading
from typing import Any, Literal

from pytest_crucible.testing._errors import MockServerError

__all__ = ["Latency"]

LatencyKind = Literal["fixed", "lognormal", "pareto"]


def _check(name: str, value: float, *, positive: bool = False) -> float:
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number < 0 or (positive and number == 0):
        need = "> 0" if positive else ">= 0"
        raise MockServerError(f"Latency: {name}={value!r} is invalid; give a finite number {need}")
    return number


class Latency:
    """A distribution of per-request delays in seconds, sampled by the mock server.

    Build one with `Latency.fixed`, `Latency.lognormal` or `Latency.pareto`. Every kind takes
    `cap=` (no sample exceeds it). Random kinds are seeded: the same seed gives the same
    sequence of samples, and `reset()` starts the sequence again.
    """

    __slots__ = ("_lock", "_rng", "cap", "kind", "params", "seed")

    def __init__(
        self,
        kind: LatencyKind,
        params: dict[str, float],
        *,
        seed: int = 0,
        cap: float | None = None,
    ) -> None:
        if kind not in ("fixed", "lognormal", "pareto"):
            raise MockServerError(
                f"Latency: unknown kind {kind!r}; use Latency.fixed, .lognormal or .pareto"
            )
        self.kind: LatencyKind = kind
        self.params = dict(params)
        self.seed = int(seed)
        self.cap = None if cap is None else _check("cap", cap)
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def fixed(cls, seconds: float, *, cap: float | None = None) -> Latency:
        """Every request waits `seconds`."""
        return cls("fixed", {"seconds": _check("seconds", seconds)}, cap=cap)

    @classmethod
    def lognormal(
        cls, median: float, sigma: float, *, seed: int = 0, cap: float | None = None
    ) -> Latency:
        """Log-normal delays: half are below `median`; `sigma` is the spread of log(delay)."""
        params = {
            "median": _check("median", median, positive=True),
            "sigma": _check("sigma", sigma),
        }
        return cls("lognormal", params, seed=seed, cap=cap)

    @classmethod
    def pareto(
        cls, minimum: float, alpha: float, *, seed: int = 0, cap: float | None = None
    ) -> Latency:
        """Heavy-tailed delays of at least `minimum`; a smaller `alpha` gives a heavier tail."""
        params = {
            "minimum": _check("minimum", minimum, positive=True),
            "alpha": _check("alpha", alpha, positive=True),
        }
        return cls("pareto", params, seed=seed, cap=cap)

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
                "Latency.lognormal(median=0.2, sigma=0.5), or None"
            )
        return cls.fixed(value)

    def sample(self) -> float:
        """One delay in seconds."""
        if self.kind == "fixed":
            value = self.params["seconds"]
        else:
            with self._lock:
                if self.kind == "lognormal":
                    mu = math.log(self.params["median"])
                    value = self._rng.lognormvariate(mu, self.params["sigma"])
                else:
                    value = self.params["minimum"] * self._rng.paretovariate(self.params["alpha"])
        return value if self.cap is None else min(value, self.cap)

    def samples(self, n: int) -> list[float]:
        """`n` delays in seconds."""
        return [self.sample() for _ in range(n)]

    def reset(self) -> None:
        """Start the seeded sequence of samples again."""
        with self._lock:
            self._rng = random.Random(self.seed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description; `Latency.from_dict` rebuilds it (used across processes)."""
        return {"kind": self.kind, "params": dict(self.params), "seed": self.seed, "cap": self.cap}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latency:
        try:
            params = {str(k): float(v) for k, v in dict(data["params"]).items()}
            return cls(data["kind"], params, seed=int(data.get("seed", 0)), cap=data.get("cap"))
        except (KeyError, TypeError, ValueError) as exc:
            raise MockServerError(
                f"Latency.from_dict: invalid description {data!r}: {exc}"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Latency) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, tuple(sorted(self.params.items())), self.seed, self.cap))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        extra = f", seed={self.seed}" if self.kind != "fixed" else ""
        cap = f", cap={self.cap!r}" if self.cap is not None else ""
        return f"Latency.{self.kind}({args}{extra}{cap})"
