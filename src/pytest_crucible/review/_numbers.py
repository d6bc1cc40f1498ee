"""Numbers for people: the one rounding rule of the terminal summary and of every report.

Light on purpose (no numpy): the pytest process imports the reports package to check
`--crucible-report`.
"""

from __future__ import annotations

__all__ = ["number_text"]


def number_text(value: float, binary: bool = False, signed: bool = False) -> str:
    """2 decimals for proportions and values from 0.1 to 10, else about 3 significant digits;
    an infinity reads "inf" or "-inf" ("+inf" when signed). NaN and None are the caller's:
    the analysis's `fmt` and the reports' `num` each have their words for them."""
    sign = "+" if signed and value > 0 else ""
    size = abs(value)
    if binary or 0.1 <= size < 10:
        return f"{sign}{value:.2f}"
    if size == 0 or size >= 10:
        return f"{sign}{value:.1f}" if size < 1000 else f"{sign}{value:,.0f}"
    return f"{sign}{value:.2g}" if size < 0.001 else f"{sign}{value:.3f}"
