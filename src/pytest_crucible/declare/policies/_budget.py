"""`Budget`: an experiment's spending limits, as declared (`run/calls.py` keeps the accounts)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_crucible.errors import CrucibleError

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    """Spending limits of an experiment, in USD (costs come from the backends' price
    tables). When one is reached, trials not yet started are skipped with reason "budget";
    resume the run with a larger budget to finish it."""

    max_total_usd: float | None = None
    max_per_condition_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_total_usd", "max_per_condition_usd"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value >= 0):
                raise CrucibleError(f"Budget({name}={value!r}): give a number of USD >= 0")
