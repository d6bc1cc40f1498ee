"""Throughput of model-calling trials: pytest-crucible against the physical limit, plain pytest
and inspect-ai, all calling one loopback mock server; plus the per-trial overhead and memory.

Cases, each a fresh process against the same `MockModelServer` (a child process, fixed
latency, default 0.2 s):

- crucible: N trials (one `achat` call each through `OpenAICompatibleBackend`, shared by a
  session-scoped fixture) at `--crucible-concurrency` C, single process (`-n 0`). Concurrency
  1 runs a smaller count (`--serial-trials`): 2,000 x 0.2 s would take 400 s.
- crucible -n 2: the same under pytest-xdist with two workers (its group scheduler) at
  `--xdist-concurrency` per worker (default 64; C in the table is the total, 2 x 64).
- plain pytest: parametrized sync tests posting the same request with one httpx client per
  process, `-n 2`. Run at two smaller counts (`--plain-trials`) and extrapolated linearly to N
  (fixed cost + per-trial cost), because 2,000 x 0.2 s / 2 is 200 s.
- inspect-ai: a task of N samples whose solver is `generate()`, through its OpenAI-compatible
  provider (`openai-api/mock/mock-model`), at `--max-connections` C, with no scorer and no
  display; "no sample log" also passes --no-log-samples --no-log-realtime (its fastest),
  "samples logged" keeps its default log of every sample (as crucible stores every trial).
  Installed into its own venv (`benchmarks/.venv-inspect`, created on first use).
- overhead: zero latency (an async condition that returns at once, no server): crucible at
  concurrency 1 and 32 against a plain parametrized no-op test, in trials per second.
- memory: peak RSS of the pytest process at 100,000 trials, crucible (concurrency 32) and plain.

Columns: `wall s` is the whole pytest (or inspect) process, start-up and session end included;
`CPU s` the user + system CPU of all its processes (xdist workers, the analysis child);
`span s` is first trial start to last trial end from the store's started_at/ended_at (crucible
only: it leaves out pytest start-up, collection and the session-end analysis, fixed costs that
do not grow with the trials). `ideal s` = trials x latency / C. The physical-limit targets
(>= 85% of ideal at 32, >= 60% at 128) are judged on the span; the speed-ups against plain
pytest and inspect-ai are judged on wall time, start-up included on both sides.

    python benchmarks/throughput.py [--quick | --smoke] [--trials 2000] [--json PATH]
        [--skip-inspect] [--skip-memory]

`--smoke` (what the test suite runs, so that the script cannot rot) runs each kind of case
once at a handful of trials and 10 ms latency, without the warm-up, and never installs
inspect-ai: without its venv those cases are left out with a note.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from _throughput_files import CRUCIBLE_CALLS, CRUCIBLE_NOOP, INSPECT_TASK, PLAIN_CALLS, PLAIN_NOOP
from _throughput_report import INSPECT_LEAN, INSPECT_LOGGED, Row, describe, table, targets
from _throughput_run import (
    CaseFailed,
    InspectUnavailable,
    ensure_inspect,
    run_pytest,
    run_timed,
    trial_span,
)

from pytest_crucible.testing import MockModelServer

HERE = Path(__file__).resolve().parent


class Bench:
    """The temporary directories, the server and the environment shared by the cases."""

    def __init__(self, root: Path, options: argparse.Namespace) -> None:
        self.root = root
        self.options = options
        self.server: MockModelServer | None = None
        self.dirs: dict[str, Path] = {}
        files = {
            "crucible": CRUCIBLE_CALLS,
            "plain": PLAIN_CALLS,
            "crucible_noop": CRUCIBLE_NOOP,
            "plain_noop": PLAIN_NOOP,
            "inspect": INSPECT_TASK,
        }
        for name, text in files.items():
            directory = root / name
            directory.mkdir()
            file = "task.py" if name == "inspect" else f"test_{name}.py"
            (directory / file).write_text(text.lstrip())
            self.dirs[name] = directory

    def env(self, trials: int, *, pycache: bool = True, **extra: str) -> dict[str, str]:
        """The cases' environment. Bytecode is cached (in this run's temporary directory,
        filled by `warm_up`): without a cache pytest re-does its assertion rewriting of the
        plugin's modules in every run, seconds that a user's second run never pays."""
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("PYTHONPYCACHEPREFIX", None)
        if pycache:  # inspect-ai's venv has its own, written when it was installed
            env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")
        env.update(
            BENCH_TRIALS=str(trials),
            BENCH_MAX_TOKENS=str(self.options.max_tokens),
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        if self.server is not None:
            env["BENCH_BASE_URL"] = self.server.base_url
        env.update(extra)
        return env

    def warm_up(self, inspect_program: Path | None) -> None:
        """One small run of each kind, unmeasured: bytecode caches and the OS's file cache."""
        assert self.server is not None
        self.crucible("crucible", 16, 8)
        self.plain("plain", 4, workers=2)
        if inspect_program is not None:
            self.inspect(inspect_program, 8, 8, logged=True)
        self.server.reset()
        self.crucible("crucible_noop", 16, 8)
        self.plain("plain_noop", 16, workers=0)

    def check_calls(self, case: str, trials: int) -> int:
        """The server saw exactly `trials` answered requests; the most at once."""
        assert self.server is not None
        stats = self.server.stats()
        if stats["requests"] != trials or stats["by_status"] != {"200": trials}:
            raise CaseFailed(f"{case}: expected {trials} answered calls, the server saw {stats}")
        self.server.reset()
        return int(stats["max_in_flight"])

    def crucible(self, name: str, trials: int, concurrency: int, workers: int = 0) -> Row:
        """`concurrency` trials in flight per process; `workers` xdist workers (0: none)."""
        directory = self.dirs[name]
        store = directory / f"run-{trials}-{concurrency}-{workers}.db"
        args = ["--crucible", f"--crucible-store={store}", "--crucible-report=none"]
        args += [f"--crucible-concurrency={concurrency}", "-n", str(workers)]
        measured = run_pytest(directory, args, self.env(trials), self.options.timeout)
        span = trial_span(store)
        if span.passed != trials:
            raise CaseFailed(
                f"{name}: {span.passed} of {trials} trials passed:\n{measured.output[-2000:]}"
            )
        shutil.rmtree(directory / "crucible-results", ignore_errors=True)
        for leftover in directory.glob(f"{store.name}*"):
            leftover.unlink()
        row = Row(name, trials, concurrency, measured.wall, cpu=measured.cpu_s, span=span.seconds)
        row.peak_mib, row.child_mib = measured.peak_mib, measured.child_mib
        return row

    def plain(self, name: str, trials: int, workers: int) -> Row:
        args = ["-n", str(workers)]
        measured = run_pytest(self.dirs[name], args, self.env(trials), self.options.timeout)
        row = Row(name, trials, None, measured.wall, cpu=measured.cpu_s)
        row.peak_mib, row.child_mib = measured.peak_mib, measured.child_mib
        return row

    def inspect(self, program: Path, trials: int, connections: int, *, logged: bool) -> Row:
        """`inspect eval` of the task; `logged`: with its default log of every sample (the
        counterpart of crucible's store), else with the sample log and realtime events off."""
        assert self.server is not None
        logs = self.root / f"inspect-logs-{connections}"
        command = [str(program), "eval", "task.py", "--model", "openai-api/mock/mock-model"]
        command += [f"--max-connections={connections}", f"--max-tokens={self.options.max_tokens}"]
        command += ["--no-score", "--display=none", f"--log-dir={logs}", "--log-level=warning"]
        if not logged:
            command += ["--no-log-samples", "--no-log-realtime"]
        env = self.env(
            trials, pycache=False, MOCK_BASE_URL=self.server.base_url, MOCK_API_KEY="unused"
        )
        measured = run_timed(command, self.dirs["inspect"], env, self.options.timeout)
        shutil.rmtree(logs, ignore_errors=True)
        case = INSPECT_LOGGED if logged else INSPECT_LEAN
        return Row(case, trials, connections, measured.wall, cpu=measured.cpu_s)


def progress(row: Row) -> None:
    span = f", span {row.span:.2f} s" if row.span is not None else ""
    where = f" C={row.concurrency}" if row.concurrency else ""
    print(f"  {row.case}{where} x{row.trials}: {row.wall:.2f} s{span}", file=sys.stderr, flush=True)


def call_cases(
    bench: Bench, options: argparse.Namespace, inspect_program: Path | None
) -> list[Row]:
    """Every case that calls the mock server, against one server."""
    rows: list[Row] = []
    latency = options.latency
    with MockModelServer(latency=latency, in_process=True) as server:
        bench.server = server
        try:
            if not options.smoke:
                bench.warm_up(inspect_program)
            for concurrency in options.concurrency:
                trials = options.serial_trials if concurrency == 1 else options.trials
                row = bench.crucible("crucible", trials, concurrency)
                row.in_flight = bench.check_calls("crucible", trials)
                row.ideal = trials * latency / concurrency
                rows.append(row)
                progress(row)
            for concurrency in options.xdist_concurrency:
                row = bench.crucible("crucible", options.trials, concurrency, workers=2)
                row.case, row.concurrency = "crucible -n 2", 2 * concurrency
                row.in_flight = bench.check_calls("crucible -n 2", options.trials)
                row.ideal = options.trials * latency / (2 * concurrency)
                rows.append(row)
                progress(row)
            for trials in options.plain_trials:
                row = bench.plain("plain", trials, workers=2)
                row.case, row.concurrency = "plain pytest -n 2", 2
                row.in_flight = bench.check_calls("plain pytest", trials)
                row.ideal = trials * latency / 2
                rows.append(row)
                progress(row)
            if inspect_program is not None:
                runs = [(c, False) for c in options.inspect_concurrency]
                runs += [(c, True) for c in options.inspect_logged_concurrency]
                for connections, logged in runs:
                    row = bench.inspect(inspect_program, options.trials, connections, logged=logged)
                    row.in_flight = bench.check_calls("inspect-ai", options.trials)
                    row.ideal = options.trials * latency / connections
                    rows.append(row)
                    progress(row)
        finally:
            bench.server = None
    return rows


def overhead_cases(bench: Bench, options: argparse.Namespace) -> list[Row]:
    """Zero latency: trials per second; then peak memory at `--memory-trials`."""
    rows = []
    counts = [(options.overhead_trials, "no-op")]
    if not options.skip_memory:
        counts.append((options.memory_trials, "memory"))
    for trials, label in counts:
        plain = bench.plain("plain_noop", trials, workers=0)
        plain.case = f"{label}: plain pytest"
        rows.append(plain)
        progress(plain)
        for concurrency in (1, 32) if label == "no-op" else (32,):
            row = bench.crucible("crucible_noop", trials, concurrency)
            row.case = f"{label}: crucible"
            row.vs_plain = plain.wall / row.wall
            rows.append(row)
            progress(row)
    return rows


def plain_model(rows: list[Row]) -> tuple[float, float]:
    """Plain pytest's wall time as fixed + per_trial x trials, fitted through its runs."""
    runs = sorted((r.trials, r.wall) for r in rows if r.case == "plain pytest -n 2")
    if len(runs) == 1:
        return 0.0, runs[0][1] / runs[0][0]
    (n1, w1), (n2, w2) = runs[0], runs[-1]
    per_trial = (w2 - w1) / (n2 - n1)
    return w1 - per_trial * n1, per_trial


def compare(rows: list[Row], options: argparse.Namespace) -> list[Row]:
    """Fill the vs columns; add plain pytest's extrapolated row at `--trials`."""
    fixed, per_trial = plain_model(rows)
    plain_calls = [r for r in rows if r.case == "plain pytest -n 2"]
    if options.trials not in {r.trials for r in plain_calls}:
        wall = fixed + per_trial * options.trials
        extra = Row("plain pytest -n 2", options.trials, 2, wall, extrapolated=True)
        extra.ideal = options.trials * options.latency / 2
        rows.insert(rows.index(plain_calls[-1]) + 1, extra)
    inspect_by_c = {r.concurrency: r for r in rows if r.case == INSPECT_LEAN}
    for row in rows:
        if row.case.startswith(("crucible", "inspect-ai")):
            row.vs_plain = (fixed + per_trial * row.trials) / row.wall
        other = inspect_by_c.get(row.concurrency)
        if row.case.startswith("crucible") and other and other.trials == row.trials:
            row.vs_inspect = other.wall / row.wall
    return rows


def plugin_state() -> str:
    """Which plugin code is measured: the commit, and a digest of src/'s uncommitted edits
    (the tree may be shared: the header says when it changed during the run)."""
    git = ["git", "-C", str(HERE.parent)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        diff = subprocess.run(
            [*git, "diff", "HEAD", "--", "src"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "pytest-crucible (not a git checkout)"
    if not diff:
        return f"pytest-crucible {commit}"
    digest = hashlib.sha256(diff.encode()).hexdigest()[:8]
    return f"pytest-crucible {commit} with uncommitted changes in src/ (diff {digest})"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--trials", type=int, default=2000, help="trials per case (default 2000)")
    add("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    add("--serial-trials", type=int, default=100, help="trials at concurrency 1 (default 100)")
    add(
        "--plain-trials",
        type=int,
        nargs="+",
        default=[100, 400],
        help="plain pytest counts, extrapolated to --trials (default 100 400)",
    )
    add(
        "--xdist-concurrency",
        type=int,
        nargs="*",
        default=[64],
        help="also run crucible under -n 2 at this concurrency per worker (default 64; none: skip)",
    )
    add("--inspect-concurrency", type=int, nargs="+", default=[32, 128])
    add(
        "--inspect-logged-concurrency",
        type=int,
        nargs="*",
        default=[128],
        help="also run inspect-ai with its default sample log at these (default 128)",
    )
    add("--inspect-venv", type=Path, default=HERE / ".venv-inspect")
    add("--skip-inspect", action="store_true")
    add("--overhead-trials", type=int, default=10_000)
    add("--memory-trials", type=int, default=100_000)
    add("--skip-memory", action="store_true")
    add("--latency", type=float, default=0.2)
    add("--max-tokens", type=int, default=8)
    add("--timeout", type=float, default=1800.0, help="seconds allowed to one run")
    add(
        "--quick",
        action="store_true",
        help="a smoke run: 400 trials, 20 serial, plain 20 and 60, 2,000 no-op, no memory",
    )
    add(
        "--smoke",
        action="store_true",
        help="every case at a few trials (checks that the benchmark runs; not the figures)",
    )
    add("--json", type=Path, help="also write the rows and targets to this file")
    options = parser.parse_args(argv)
    if options.smoke:
        options.trials, options.serial_trials, options.plain_trials = 16, 4, [4]
        options.concurrency, options.xdist_concurrency = [4], [4]
        options.inspect_concurrency, options.inspect_logged_concurrency = [4], []
        options.overhead_trials, options.skip_memory, options.latency = 16, True, 0.01
    elif options.quick:
        options.trials, options.serial_trials, options.plain_trials = 400, 20, [20, 60]
        options.overhead_trials, options.skip_memory = 2000, True
    return options


def header(
    options: argparse.Namespace, load_at_start: tuple[float, float, float], code_at_start: str
) -> str:
    loads = [" ".join(f"{x:.2f}" for x in load) for load in (load_at_start, os.getloadavg())]
    code = code_at_start
    if (at_end := plugin_state()) != code_at_start:
        code = f"{code_at_start} at the start, CHANGED during the run to {at_end}"
    inspect = f"; inspect-ai {options.inspect_version}" if options.inspect_version else ""
    return (
        f"{code}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average "
        f"(1, 5, 15 min) {loads[0]} at the start, {loads[1]} at the end{inspect}\n"
        f"Mock server latency {options.latency} s, max_tokens {options.max_tokens}; ideal = "
        "trials x latency / C (plain pytest: C = 2 workers; crucible -n 2: C = 2 x per "
        "worker). crucible runs with --crucible-report=none, -n 0 unless named; concurrency "
        f"1 ran {options.serial_trials} trials; plain pytest "
        f"ran {' and '.join(map(str, options.plain_trials))} trials, extrapolated to "
        f"{options.trials} as fixed + per-trial cost.\n"
        "Physical-limit targets use span (first trial start to last trial end); speed-ups use "
        "wall (the whole process, start-up included)."
    )


def main(argv: list[str] | None = None) -> None:
    options = parse(argv)
    load_at_start, code_at_start = os.getloadavg(), plugin_state()
    options.inspect_version = None
    program = None
    if not options.skip_inspect:
        try:
            program, options.inspect_version = ensure_inspect(
                options.inspect_venv, install=not options.smoke
            )
        except InspectUnavailable as exc:
            print(f"note: inspect-ai cases left out: {exc}", flush=True)
    with tempfile.TemporaryDirectory(prefix="crucible-throughput-") as tmp:
        bench = Bench(Path(tmp), options)
        rows = call_cases(bench, options, program)
        rows += overhead_cases(bench, options)
    rows = compare(rows, options)
    found = targets(rows)
    print()
    print(header(options, load_at_start, code_at_start))
    print(table(rows))
    print("Targets:")
    print(describe(found))
    if options.quick or options.smoke:
        print("  (--quick/--smoke: small counts, where fixed costs dominate; not the figures)")
    if options.json:
        data = {
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
            "load_average": {"start": load_at_start, "end": os.getloadavg()},
            "code": {"start": code_at_start, "end": plugin_state()},
            "rows": [asdict(r) for r in rows],
            "targets": found,
        }
        options.json.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
