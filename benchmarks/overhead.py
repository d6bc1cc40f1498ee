"""Overhead of pytest-crucible against plain pytest: collect and run N trivial tests.

Plain: N parametrized tests that do nothing, run with the plugin disabled (`-p no:crucible`).
Crucible: an experiment of N trivial trials (one condition, N items, one repeat) that each
record a metric, run with `pytest --crucible`, which also stores every trial in SQLite and
prints the results table at the end.

Two crucible variants: with `--crucible-report=none` (collect, run, store, analyse) and with
the default reports (HTML, Markdown, LaTeX, notebook and exports written at session end).
Each variant runs in a fresh process, alternating, `--rounds` times; the table gives the median
wall time and peak memory (max RSS of the pytest process; the session-end analysis runs in a
child process, whose peak is not included) and the ratios to plain pytest. Target: 1.5x.

    python benchmarks/overhead.py [--trials 10000] [--rounds 3] [--smoke]

`--smoke` (what the test suite runs, so that the script cannot rot): 20 trials, one round,
no warm-up; the ratios it prints are start-up costs, not the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

PLAIN = """
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_plain(i):
    assert i >= 0
"""

EXPERIMENT = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    "overhead",
    dataset=[{{"id": str(i), "input": i}} for i in range({n})],
    conditions={{"identity": lambda x: x}},
    metrics=["ok"],
    seed=0,
)

@exp.trial
def test_trial(condition, item, trial):
    trial.record(ok=condition(item.input) >= 0)
"""

# Runs pytest in this child process and prints its wall time and peak memory as JSON.
MEASURE = """
import json, resource, sys, time
import pytest
start = time.perf_counter()
code = pytest.main(sys.argv[1:])
wall = time.perf_counter() - start
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("MEASURE " + json.dumps({"code": int(code), "wall": wall, "peak_mib": peak_mib}))
"""


# pytest rewrites the asserts of every plugin module it imports and caches the result as
# bytecode; with PYTHONDONTWRITEBYTECODE set (as on some CI machines) it rewrites them again in
# every run, which penalises whichever side imports more modules. The benchmark measures the
# usual case, a warm bytecode cache, for both sides (`main` makes one unmeasured run first).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def measure(directory: Path, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("MEASURE ")), None)
    if line is None:
        raise SystemExit(f"benchmark run failed in {directory}:\n{done.stdout[-3000:]}")
    result: dict[str, float] = json.loads(line.removeprefix("MEASURE "))
    if result["code"] != 0:
        raise SystemExit(f"pytest exited {result['code']} in {directory}:\n{done.stdout[-3000:]}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="20 trials, 1 round, no warm-up")
    options = parser.parse_args()
    if options.smoke:
        options.trials, options.rounds = 20, 1
    n = options.trials
    with tempfile.TemporaryDirectory() as tmp:
        plain_dir, crucible_dir = Path(tmp, "plain"), Path(tmp, "crucible")
        plain_dir.mkdir()
        crucible_dir.mkdir()
        (plain_dir / "test_plain.py").write_text(textwrap.dedent(PLAIN.format(n=n)))
        (crucible_dir / "test_experiment.py").write_text(textwrap.dedent(EXPERIMENT.format(n=n)))
        plain, bare, full = [], [], []
        store = ["--crucible", "--crucible-store=run.db"]
        if not options.smoke:  # warm-up: bytecode caches, the OS's file cache
            measure(plain_dir, "-p", "no:crucible")
            measure(crucible_dir, *store, "--crucible-output=out")
            (crucible_dir / "run.db").unlink()
        for _ in range(options.rounds):
            plain.append(measure(plain_dir, "-p", "no:crucible"))
            bare.append(measure(crucible_dir, *store, "--crucible-report=none"))
            (crucible_dir / "run.db").unlink()
            full.append(measure(crucible_dir, *store, "--crucible-output=out"))
            (crucible_dir / "run.db").unlink()
    rows: list[tuple[str, str, Callable[[list[float]], float]]] = [
        ("wall time (s)", "wall", statistics.median),
        ("fastest wall (s)", "wall", min),
        ("peak memory (MiB)", "peak_mib", statistics.median),
    ]
    print(f"{n:,} trivial tests, median of {options.rounds} alternating rounds")
    print("(fastest: the quickest round of each; noise on a shared machine only adds time)")
    print(
        f"{'measure':<19}{'plain':>8}{'crucible, no reports':>22}{'ratio':>7}"
        f"{'crucible + reports':>20}{'ratio':>7}"
    )
    for label, key, pick in rows:
        a, b, c = (pick([r[key] for r in runs]) for runs in (plain, bare, full))
        print(f"{label:<19}{a:>8.2f}{b:>22.2f}{b / a:>6.2f}x{c:>20.2f}{c / a:>6.2f}x")


if __name__ == "__main__":
    main()
