"""Numbers for people, the same in every report format (and as in the terminal summary)."""

from __future__ import annotations

import math
from typing import Any

from pytest_crucible.review._numbers import number_text

__all__ = ["ci_cell", "finite", "marker", "num", "pnum", "pval", "usd"]


def num(value: float | None, binary: bool = False, signed: bool = False) -> str:
    """2 decimals for proportions and values from 0.1 to 10, else about 3 significant digits;
    `n/a` for a value that could not be computed."""
    if value is None or value != value:
        return "n/a"
    return number_text(value, binary, signed)


def ci_cell(
    low: float | None, high: float | None, binary: bool = False, signed: bool = False
) -> str:
    """'[low, high]', or 'too few items' when there is no interval (one item or cluster)."""
    if low is None and high is None:
        return "too few items"
    return f"[{num(low, binary, signed)}, {num(high, binary, signed)}]"


def pval(p: float | None, adjusted: bool = False) -> str:
    """'p < 0.001' or 'p = 0.032' (APA style); 'p_adj' when adjusted."""
    name = "p_adj" if adjusted else "p"
    if p is None or p != p:
        return f"{name} = n/a"
    return f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.3f}"


def pnum(p: float | None) -> str:
    """A p-value alone, for a table column: '0.032', '<0.001' or 'n/a'."""
    if p is None or p != p:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def marker(p_adjusted: float | None, significant: bool) -> str:
    """`*`, `**` or `***` for a significant comparison (by its adjusted p), else ''."""
    if not significant or p_adjusted is None:
        return ""
    return "***" if p_adjusted < 0.001 else "**" if p_adjusted < 0.01 else "*"


def usd(value: float | None) -> str:
    """A cost in US dollars: cents for a dollar or more, else two significant digits."""
    if value is None or value != value:
        return "n/a"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.2g}" if value else "$0"


def finite(value: Any) -> float | None:
    """A float, or None for a value that is missing, not a number, NaN or infinite."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
