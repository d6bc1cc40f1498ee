"""Every script in benchmarks/ runs at a tiny size and prints its figures, so none of them
rots. Not timed: what a benchmark measures is never asserted (the machine may be slow)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

# script -> (its smoke arguments, lines its output must have: the figures it exists for)
SMOKE: dict[str, tuple[list[str], list[str]]] = {
    "overhead.py": (
        ["--smoke"],
        [r"^wall time \(s\)\s+[\d.]+\s+[\d.]+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x$"],
    ),
    "throughput.py": (
        ["--smoke"],
        [
            r"vs plain pytest",
            r"^crucible\s+16\s+4\s.*\d+\.\dx",
            r"^crucible -n 2\s+16\s+8\s.*\d+\.\dx",
            r"^no-op: crucible\s+16\s+32\s.*\d+\.\dx",
            # the inspect-ai cases run where its venv exists, else a note says why not
            r"^(inspect-ai \(no sample log\)\s+16|note: inspect-ai cases left out)",
        ],
    ),
    "transport.py": (
        ["--calls", "20", "--concurrency", "4", "--latency", "0.01"],
        [
            r"ideal/wall",
            r"^httpx \(httpcore\)\s+4\s+20\s.*\s0$",  # 0 failed
            r"^httpx-aiohttp\s+4\s+20\s.*\s0$",
            r"^aiohttp \(default\)\s+4\s+20\s.*\s0$",
        ],
    ),
    "reports.py": (
        ["--trials", "100", "--no-browser"],
        [r"^setup: 100 trials stored", r"^result: all formats [\d.]+ s .*report\.html"],
    ),
    "analysis.py": (
        ["--items", "30"],
        [r"^300 trials, 3 metrics, 135 comparisons: load from the store [\d.]+ s, with the"],
    ),
    "store_write.py": (
        ["--trials", "200"],
        [
            r"^postgresql\s+40\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+$",
            r"^postgresql/sqlite at batch 500: wall [\d.]+x, CPU ours [\d.]+x$",
            r"^one writer keeps up with 2000 trials/s: postgresql (yes|NO)",
        ],
    ),
    "shared_rate.py": (
        ["--processes", "2", "--calls", "10", "--rate", "20", "--limit", "20"],
        [
            r"^shared 20/s\s+20\s+[\d.]+\s+\d+\s+\d+\s",
            r"^shared vs local limiter, not binding: [+-][\d.]+ ms latency per call, CPU [\d.]+x$",
        ],
    ),
    "join.py": (
        ["--smoke"],
        [
            r"^one process\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+60  60$",  # each trial called once
            r"^3 joined processes\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+60  \d+(, \d+)*$",
            r"^speed-up of 3 joined processes: [\d.]+x wall, [\d.]+x span",
        ],
    ),
    "dashboard.py": (
        ["--trials", "1000", "--watch-trials", "40", "--watchers", "2", "--rounds", "1"],
        [
            r"^the run's page \(first page\)\s+[\d.]+ s$",
            r"^API: last page of trials\s+[\d.]+ s$",
            r"^watched by 2 clients\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$",
            r"^watched/alone wall: [\d.]+x",
        ],
    ),
    "strategies_ensemble.py": (
        ["--smoke"],
        [
            r"^\s+3\s+60\s+[\d.]+\s+0\.784\s+[+-][\d.]+\s+[\d.]+\s+2\.42\s+[\d.]+%\s+19\.3%  yes$",
            r"^\s+5\s+60\s+[\d.]+\s+0\.837\s+[+-][\d.]+\s+[\d.]+\s+3\.89\s+[\d.]+%\s+22\.1%  yes$",
            r"^target 5: majority within 2 points (yes|NO); sequential calls within 3% (yes|NO)$",
        ],
    ),
}
SMOKE["strategies.py"] = (
    ["--smoke"],
    [
        r"^stalls\s+no hedging\s+100\s+\d+\s+\d+\s+\d+\s+0\.0%",
        r"^stalls\s+P95, budget 10%\s+100\s",
        r"^stalls\s+adaptive 5%\s+100\s",
        r"^sigma 1\.0\s+P95, budget 10%\s+100\s",
        r"^stalls, P95 hedging: P99 -?\d+% lower for [\d.]+% extra requests .*: (yes|NO)$",
        r"^stalls, adaptive 5%: [\d.]+% extra requests .*: (yes|NO)$",
        r"^hedging run: [\d.]+ s$",
        r"^\s+3\s+60\s+[\d.]+\s+0\.784\s",
        r"^ensemble run: [\d.]+ s wall, [\d.]+ s CPU",
    ],
)
SLOW = {
    "overhead.py",
    "throughput.py",
    "join.py",
    "shared_rate.py",
    "dashboard.py",
}  # several processes each


def test_every_benchmark_script_has_a_smoke_run() -> None:
    scripts = {path.name for path in BENCHMARKS.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(SMOKE)


@pytest.mark.parametrize(
    "script",
    [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else []) for name in SMOKE],
)
def test_benchmark_runs_at_a_tiny_size(script: str, tmp_path: Path) -> None:
    args, expected = SMOKE[script]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "COV_"))  # this run's xdist worker, addopts
    }
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,  # a hang, not a slow machine
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for pattern in expected:
        assert re.search(pattern, done.stdout, re.MULTILINE), (pattern, output[-4000:])
