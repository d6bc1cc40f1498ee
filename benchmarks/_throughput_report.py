"""The rows of `throughput.py`, its table and its verdicts on the targets of issue 8."""

from __future__ import annotations

from dataclasses import dataclass

INSPECT_LEAN = "inspect-ai (no sample log)"  # --no-log-samples --no-log-realtime
INSPECT_LOGGED = "inspect-ai (samples logged)"  # its default: every sample in the log


@dataclass
class Row:
    case: str
    trials: int
    concurrency: int | None
    wall: float
    cpu: float | None = None  # user + system CPU of all the run's processes
    span: float | None = None
    ideal: float | None = None
    peak_mib: float | None = None
    child_mib: float | None = None  # the largest child of the pytest process (not in the table)
    in_flight: int | None = None  # most requests the server saw at once
    vs_plain: float | None = None  # plain pytest's wall time / this row's, at the same count
    vs_inspect: float | None = None  # inspect-ai's wall time / this row's, at the same C
    extrapolated: bool = False


def _cell(value: float | int | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def _ratio(value: float | None, width: int) -> str:
    return f"{'-' if value is None else f'{value:.1f}x':>{width}}"


def table(rows: list[Row]) -> str:
    header = (
        f"{'case':<32} {'trials':>7} {'C':>4} {'wall s':>8} {'CPU s':>7} {'span s':>7} "
        f"{'ideal s':>7} "
        f"{'ideal/wall':>10} {'ideal/span':>10} {'trials/s':>8} {'peak MiB':>8} "
        f"{'in flight':>9} {'vs plain pytest':>15} {'vs inspect-ai':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        case = r.case + (" (extrapolated)" if r.extrapolated else "")
        lines.append(
            f"{case:<32} {r.trials:>7} {_cell(r.concurrency, 'd', 4)} {r.wall:>8.2f} "
            f"{_cell(r.cpu, '.2f', 7)} {_cell(r.span, '.2f', 7)} {_cell(r.ideal, '.2f', 7)} "
            f"{_cell(r.ideal / r.wall if r.ideal else None, '.2f', 10)} "
            f"{_cell(r.ideal / r.span if r.ideal and r.span else None, '.2f', 10)} "
            f"{r.trials / r.wall:>8.0f} {_cell(r.peak_mib, '.0f', 8)} "
            f"{_cell(r.in_flight, 'd', 9)} {_ratio(r.vs_plain, 15)} {_ratio(r.vs_inspect, 13)}"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[dict[str, object]]:
    """The figures of issue 8: each target, its measured value and whether it is met."""
    crucible = {r.concurrency: r for r in rows if r.case == "crucible"}
    found: list[dict[str, object]] = []

    def check(name: str, value: float | None, goal: float, also: str = "") -> None:
        if value is not None:
            found.append(
                {
                    "target": name,
                    "value": round(value, 3),
                    "goal": goal,
                    "met": value >= goal,
                    "also": also,
                }
            )

    for c, goal in ((32, 0.85), (128, 0.60)):
        row = crucible.get(c)
        if row is not None and row.ideal and row.span:
            check(
                f"crucible C={c}: ideal/span",
                row.ideal / row.span,
                goal,
                f"ideal/wall {row.ideal / row.wall:.2f}",
            )
    for c, goal in ((32, 10.0), (128, 30.0)):
        row = crucible.get(c)
        check(f"crucible C={c} vs plain pytest -n 2", row.vs_plain if row else None, goal)
    row = crucible.get(128)
    lean = next((r for r in rows if r.case == INSPECT_LEAN and r.concurrency == 128), None)
    logged = next((r for r in rows if r.case == INSPECT_LOGGED and r.concurrency == 128), None)
    if row is not None and lean is not None:
        note = ""
        if row.ideal and lean.wall / 10 < row.ideal:
            note = f"10x needs {lean.wall / 10:.2f} s, below the ideal {row.ideal:.2f} s"
        check("crucible C=128 vs inspect-ai C=128, no sample log", lean.wall / row.wall, 10.0, note)
    if row is not None and logged is not None:
        check("crucible C=128 vs inspect-ai C=128, samples logged", logged.wall / row.wall, 10.0)
    memory = {r.case: r for r in rows if r.case.startswith("memory")}
    if len(memory) == 2:
        plain, ours = memory["memory: plain pytest"], memory["memory: crucible"]
        if plain.peak_mib and ours.peak_mib:
            found.append(
                {
                    "target": "peak memory crucible / plain",
                    "value": round(ours.peak_mib / plain.peak_mib, 2),
                    "goal": None,
                    "met": None,
                    "also": f"{ours.peak_mib:.0f} MiB vs {plain.peak_mib:.0f} MiB; the "
                    f"session-end analysis child peaked at {ours.child_mib or 0:.0f} MiB",
                }
            )
    return found


def describe(found: list[dict[str, object]]) -> str:
    lines = []
    for t in found:
        verdict = "" if t["met"] is None else ("met" if t["met"] else "MISSED")
        goal = "" if t["goal"] is None else f" (target >= {t['goal']})"
        also = f"; {t['also']}" if t["also"] else ""
        lines.append(f"  {t['target']}: {t['value']}{goal} {verdict}{also}")
    return "\n".join(lines)
