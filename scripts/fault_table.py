"""The fault table: inject the faults of issue 14 into real pytest runs and count what happens.

Every scenario runs `pytest --crucible` in a fresh folder on an experiment whose condition
writes `start KEY` and `done KEY` to a calls file, injects one fault (SIGKILL at a random
moment, Ctrl-C, a crashed xdist worker, a full disk, a locked or read-only store, two
resumes at once, a condition that exits, a lone surrogate, bad input), then resumes the run
where that makes sense and prints one row per scenario:

    finished  trials whose condition had returned when the fault ended the run
    stored    trials in the store right after the faulted run
    lost      finished trials the resume had to pay for again (their result did not survive)
    twice     trials executed more than once within one session or by concurrent sessions
    ended     whether every pytest process ended before the timeout (HANG if not)
    exit      exit statuses of the faulted run and of the resume
    message   whether the output says what happened (the scenario's expected words) and
              shows no traceback line from the library's own source

    .venv/bin/python scripts/fault_table.py            # every scenario (about 10 min, 2 cores)
    .venv/bin/python scripts/fault_table.py --kills 2 --only kill,crash
    .venv/bin/python scripts/fault_table.py --smoke    # one round of each, small sizes

It exits 1 when a fault hangs a run or is not reported clearly; losses are measured, not
judged (a trial that finished within the journal's ~100 ms window may be lost to SIGKILL).

Each pytest process gets `--timeout` seconds (default 180): one that is still running then
is killed and its row says HANG. Nothing here depends on timing except the kill moments,
which are random by design (`--seed`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

LIBRARY_FRAME = re.compile(r"pytest_crucible[/\\][\w/\\]+\.py")
# Python's own crash dump (faulthandler, after a segfault) lists every thread's frames: not a
# traceback the library shows, and its lines say `line N in f`, where a traceback's say
# `line N, in f` (matched without `File "`: pytest's progress dots can land inside the dump)
CRASH_DUMP_FRAME = re.compile(r'", line \d+ in ')
DURABLE_S = 0.1  # issue 14: a finished trial is durable within about 100 ms

# The experiment every scenario runs. Knobs come from the environment so that one file
# serves every fault: FAULT names what the condition does to the trial of item FAULT_ITEM.
EXPERIMENT = """
import asyncio, os, sys, time
import pytest_crucible as crucible

CALLS = os.environ["FT_CALLS"]
ITEMS = int(os.environ.get("FT_ITEMS", "20"))

def _note(what, key):
    with open(CALLS, "a") as f:
        f.write(f"{os.getpid()} {what} {key} {time.time()}\\n")
        f.flush()

async def _answer(name, text):
    # the knobs are read at call time: as module constants they would be part of the
    # conditions' identity, and a resume without the fault would run every trial again
    fault = os.environ.get("FT_FAULT", "") if text == os.environ.get("FT_FAULT_ITEM", "i3") else ""
    key = f"{name}-{text}"
    _note("start", key)
    await asyncio.sleep(float(os.environ.get("FT_DELAY", "0.02")))
    if fault == "exit":
        sys.exit(3)
    if fault == "interrupt":
        raise KeyboardInterrupt
    if fault == "os_exit":
        os._exit(1)
    if fault == "segfault":
        import ctypes
        ctypes.string_at(0)
    _note("done", key)
    if fault == "surrogate":
        return "ok \\ud800"
    return f"{name}:{text}:" + "x" * int(os.environ.get("FT_OUTPUT", "10"))

async def alpha(text):
    return await _answer("alpha", text)

async def beta(text):
    return await _answer("beta", text)

exp = crucible.Experiment(
    name="faults",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(ITEMS)],
    conditions={"alpha": alpha, "beta": beta},
    metrics=["ok"],
    seed=5,
)

@exp.trial
async def test_faults(condition, item, trial):
    answer = await condition(item.input)
    trial.record(ok=item.input in answer)
"""


@dataclass
class Row:
    scenario: str
    command: str
    trials: int
    finished: int = 0
    stored: int = 0
    lost: int = 0
    twice: int = 0
    ended: bool = True
    exits: list[int | None] = field(default_factory=list)
    message: bool = True
    note: str = ""
    ran: bool = True  # False: this machine cannot inject the fault (the note says why)


@dataclass
class Outcome:
    code: int | None  # None: still running at the timeout (a hang), killed by us
    output: str


class Lab:
    """One scenario's folder: the experiment, its calls file and its store."""

    def __init__(self, root: Path, items: int, timeout: float, **env: str) -> None:
        self.root = root
        self.items = items
        self.timeout = timeout
        root.mkdir(parents=True, exist_ok=True)
        (root / "test_faults.py").write_text(EXPERIMENT)
        self.calls = root / "calls.log"
        self.outputs = 0
        self.store = root / ".crucible" / "crucible.db"
        self.env = {
            **os.environ,
            "FT_CALLS": str(self.calls),
            "FT_ITEMS": str(items),
            "PYTHONUNBUFFERED": "1",
            **env,
        }

    @property
    def trials(self) -> int:
        return 2 * self.items

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pytest",
            "--crucible",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--crucible-report",
            "none",
            "-q",
            *args,
        ]

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env={**self.env, **env},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )

    def finish(self, process: subprocess.Popen[str]) -> Outcome:
        try:
            output, _ = process.communicate(timeout=self.timeout)
            outcome = Outcome(process.returncode, output)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            output, _ = process.communicate()
            outcome = Outcome(None, output)
        self.outputs += 1
        (self.root / f"output-{self.outputs}.txt").write_text(
            f"$ {process.args!r}\nexit {outcome.code}\n{output}",
            errors="backslashreplace",
        )
        return outcome

    def run(self, *args: str, **env: str) -> Outcome:
        return self.finish(self.start(*args, **env))

    def lines(self) -> list[tuple[str, str, str, float]]:
        """(pid, start|done, trial, time) for every line the conditions wrote."""
        if not self.calls.exists():
            return []
        lines = [line.split() for line in self.calls.read_text().splitlines()]
        return [(pid, what, key, float(at)) for pid, what, key, at in lines]

    def done(self, before: float = float("inf")) -> set[str]:
        """The trials whose condition returned (before time `before`)."""
        return {key for _, what, key, at in self.lines() if what == "done" and at <= before}

    def stored(self) -> int:
        if not self.store.exists():
            return 0
        with sqlite3.connect(f"file:{self.store}?mode=ro", uri=True) as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM trials WHERE status IN ('passed', 'failed')"
            ).fetchone()
        return int(count)

    def wait_done(self, count: int, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + self.timeout
        while len(self.done()) < count and process.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} trials finished in {self.timeout} s")
            time.sleep(0.01)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def starts_by_session(lines: Sequence[tuple[str, str, str, float]]) -> Counter[str]:
    return Counter(key for _, what, key, _ in lines if what == "start")


def clean(output: str, *expected: str) -> bool:
    """The output names the fault (every expected word, any case) and no library frame."""
    said = all(word.lower() in output.lower() for word in expected)
    frames = [line for line in output.splitlines() if LIBRARY_FRAME.search(line)]
    return said and all(CRASH_DUMP_FRAME.search(line) for line in frames)


def faulted(lab: Lab, row: Row, outcome: Outcome) -> set[str]:
    """Note the faulted run's exit, whether it ended and what it stored; the trials whose
    condition returned."""
    row.exits.append(outcome.code)
    row.ended = outcome.code is not None
    before = lab.done()
    row.finished, row.stored = len(before), lab.stored()
    return before


def resume_and_count(lab: Lab, row: Row, before: set[str], *args: str, **env: str) -> Outcome:
    """Resume the run; lost = finished trials it had to run again."""
    seen = len(lab.lines())
    outcome = lab.run("--crucible-resume", *args, **env)
    row.exits.append(outcome.code)
    row.ended &= outcome.code is not None
    again = starts_by_session(lab.lines()[seen:])
    row.lost += len(before & set(again))
    row.twice += sum(n - 1 for n in again.values() if n > 1)
    return outcome


# --- scenarios -------------------------------------------------------------------------


def kill(
    lab_at: Callable[[str], Lab],
    rounds: int,
    rng: random.Random,
    args: Sequence[str],
    how: signal.Signals,
    name: str,
) -> Row:
    """SIGKILL (or Ctrl-C) a run at a random moment, then resume it."""
    row = Row(
        name,
        f"pytest --crucible {' '.join(args)}; {how.name} at a random moment; "
        "pytest --crucible --crucible-resume",
        trials=0,
    )
    young = 0
    for n in range(rounds):
        lab = lab_at(f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}-{n}")
        row.trials += lab.trials
        process = lab.start(*args)
        lab.wait_done(rng.randrange(4, lab.trials - 4), process)
        time.sleep(rng.uniform(0, 0.5))  # a random moment, as trials finish and report
        fault_at = time.time()
        with suppress(ProcessLookupError):  # it may have ended on its own meanwhile
            os.killpg(process.pid, how) if how == signal.SIGKILL else process.send_signal(how)
        outcome = lab.finish(process)
        row.ended &= outcome.code is not None
        row.exits.append(outcome.code)
        # durable within DURABLE_S of finishing is the promise: younger ones may be lost
        before = lab.done(before=fault_at - DURABLE_S)
        young += len(lab.done(before=fault_at)) - len(before)
        row.finished += len(before)
        row.stored += lab.stored()
        row.twice += sum(n - 1 for n in starts_by_session(lab.lines()).values() if n > 1)
        resume_and_count(lab, row, before, *args)
    row.note = f"not counted: {young} finished within {DURABLE_S * 1000:.0f} ms of the fault"
    return row


def worker_crash(lab: Lab, fault: str) -> Row:
    """A condition kills its xdist worker; the crashed trial alone is run again by resume."""
    row = Row(
        f"worker {fault} (-n 2)",
        f"FT_FAULT={fault} pytest --crucible -n 2; pytest --crucible --crucible-retry-failed -n 2",
        trials=lab.trials,
    )
    outcome = lab.run("-n", "2", FT_FAULT=fault)
    faulted(lab, row, outcome)
    starts = starts_by_session(lab.lines())
    row.twice = sum(n - 1 for n in starts.values() if n > 1)
    row.message = clean(outcome.output, "crashed")
    seen = len(lab.lines())
    retry = lab.run("--crucible-retry-failed", "-n", "2")
    row.exits.append(retry.code)
    again = starts_by_session(lab.lines()[seen:])
    row.lost = len(set(again) - {"alpha-i3", "beta-i3"})
    row.note = f"retry ran {sorted(again)}"
    return row


def condition_raises(lab: Lab, fault: str, concurrency: str, words: Sequence[str]) -> Row:
    args = ["--crucible-concurrency", concurrency]
    row = Row(
        f"condition {fault} (concurrency {concurrency})",
        f"FT_FAULT={fault} pytest --crucible {' '.join(args)}",
        trials=lab.trials,
    )
    outcome = lab.run(*args, FT_FAULT=fault)
    before = faulted(lab, row, outcome)
    row.message = clean(outcome.output, *words)
    if fault == "interrupt":
        resume_and_count(lab, row, before, *args)
    return row


def full_disk(lab: Lab) -> Row:
    """The store on a 2 MiB tmpfs; 80 trials of 50 KB outputs."""
    row = Row(
        "full disk (2 MiB tmpfs)",
        "store on a 2 MiB tmpfs, 80 trials x 50 KB; remount bigger; --crucible-resume",
        trials=lab.trials,
    )
    mount = lab.root / ".crucible"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        row.note = "not run: mounting a tmpfs needs root"
        row.ran = False
        return row
    try:
        outcome = lab.run(FT_OUTPUT="50000")
        before = faulted(lab, row, outcome)
        row.message = clean(outcome.output, "full") or clean(outcome.output, "space")
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        resume_and_count(lab, row, before, FT_OUTPUT="50000")
        row.note = f"{lab.stored()} stored after the resume"
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    return row


def locked_store(lab: Lab) -> Row:
    """Another process takes the store's write lock mid-run and holds it to the last trial."""
    row = Row(
        "store locked mid-run",
        "BEGIN EXCLUSIVE in another connection after 2 trials, "
        "held to the last; then --crucible-resume",
        trials=lab.trials,
    )
    process = lab.start()
    lab.wait_done(2, process)
    holder = sqlite3.connect(lab.store, timeout=60)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        lab.wait_done(lab.trials, process)
        time.sleep(8)  # longer than the store's 5 s busy timeout: the writes are refused
    finally:
        holder.rollback()
        holder.close()
    outcome = lab.finish(process)
    before = faulted(lab, row, outcome)
    row.message = clean(outcome.output, "locked")
    resume_and_count(lab, row, before)
    return row


def concurrent_resumes(lab: Lab) -> Row:
    row = Row(
        "two resumes at once",
        "kill a run; start two pytest --crucible --crucible-resume together",
        trials=lab.trials,
    )
    first = lab.start()
    lab.wait_done(6, first)
    fault_at = time.time()
    _kill_group(first)
    lab.finish(first)
    before = lab.done(before=fault_at - DURABLE_S)
    row.finished, row.stored = len(before), lab.stored()
    seen = len(lab.lines())
    both = [lab.start("--crucible-resume") for _ in range(2)]
    outcomes = [lab.finish(p) for p in both]
    row.exits = [o.code for o in outcomes]
    row.ended = all(o.code is not None for o in outcomes)
    again = starts_by_session(lab.lines()[seen:])
    row.lost = len(before & set(again))
    row.twice = sum(n - 1 for n in again.values() if n > 1)
    row.message = any(clean(o.output, "pid") for o in outcomes)
    return row


def surrogate(lab: Lab, xdist: Sequence[str]) -> Row:
    row = Row(
        f"lone surrogate in an output{' (-n 2)' if xdist else ''}",
        f"FT_FAULT=surrogate pytest --crucible {' '.join(xdist)}",
        trials=lab.trials,
    )
    outcome = lab.run(*xdist, "--crucible-report", "md", FT_FAULT="surrogate")
    faulted(lab, row, outcome)
    reports = list((lab.root / "crucible-results").rglob("report.md"))
    rescue = list(lab.store.parent.glob("*.rescue*"))
    row.message = bool(reports) and not rescue and "INTERNALERROR" not in outcome.output
    row.note = f"{len(reports)} report(s), {len(rescue)} rescue file(s)"
    return row


def bad_store(lab: Lab) -> Row:
    row = Row(
        "bad store path / concurrency 0 / damaged store",
        "--crucible-store=afile/x.db; --crucible-concurrency=0; 2 random pages",
        trials=lab.trials,
    )
    (lab.root / "afile").write_text("")
    cases = [lab.run("--crucible-store=afile/x.db"), lab.run("--crucible-concurrency=0")]
    lab.run()
    row.stored = lab.stored()
    data = bytearray(lab.store.read_bytes())
    page = 4096
    for n in (2, 3):
        if len(data) > (n + 1) * page:
            data[n * page : (n + 1) * page] = random.Random(n).randbytes(page)
    lab.store.write_bytes(bytes(data))
    cases.append(lab.run("--crucible-resume"))
    row.exits = [o.code for o in cases]
    row.ended = all(o.code is not None for o in cases)
    row.message = all(o.code == 4 and not LIBRARY_FRAME.search(o.output) for o in cases)
    return row


# Bad input of a user's own making: each must fail with the user's frame and message, and no
# line of the library's source (FT_BAD picks the case; the condition or the trial has it).
BAD_INPUT = """
import asyncio, os
import pytest_crucible as crucible

BAD = os.environ["FT_BAD"]

def sync_condition(text):
    if BAD == "condition_raises":
        raise ValueError("the user's condition refused " + text)
    return text

async def async_condition(text):
    await asyncio.sleep(0)
    if BAD == "async_condition_raises":
        raise ValueError("the user's async condition refused " + text)
    return text

exp = crucible.Experiment(
    name="bad",
    dataset=[{"id": "a", "input": "a"}, {"id": "b", "input": "b"}]
    + ([{"id": "a", "input": "again"}] if BAD == "duplicate_item_ids" else []),
    conditions={"sync": sync_condition, "async": async_condition},
    metrics=["ok"],
    repeat=-1 if BAD == "negative_repeat" else 1,
)

@exp.trial
async def test_bad(condition, item, trial):
    answer = await condition(item.input)
    values = {"metric_is_text": "yes", "metric_is_nan": float("nan")}
    if BAD == "undeclared_metric":
        trial.record(ok=True, other=1)
    else:
        trial.record(ok=values.get(BAD, answer == item.input))
"""
BAD_CASES = {
    "metric_is_text": "ok",
    "metric_is_nan": "nan",
    "undeclared_metric": "other",
    "condition_raises": "refused",
    "async_condition_raises": "refused",
    "negative_repeat": "repeat",
    "duplicate_item_ids": "ids repeat",
}


def bad_input(root: Path, timeout: float) -> Row:
    row = Row(
        "bad input (7 cases x concurrency 1, 8)",
        "FT_BAD=CASE pytest --crucible --crucible-concurrency C",
        trials=0,
    )
    flawed: list[str] = []
    for case, word in BAD_CASES.items():
        for concurrency in ("1", "8"):
            lab = Lab(root / f"bad-{case}-{concurrency}", 2, timeout, FT_BAD=case)
            (lab.root / "test_faults.py").write_text(BAD_INPUT)
            outcome = lab.run("--crucible-concurrency", concurrency)
            row.exits.append(outcome.code)
            row.ended &= outcome.code is not None
            if outcome.code in (0, None) or not clean(outcome.output, word):
                flawed.append(f"{case}@{concurrency}")
    row.message = not flawed
    row.note = f"library frames or no message: {', '.join(flawed) or 'none'}"
    row.exits = sorted(set(row.exits), key=lambda c: -1 if c is None else c)
    return row


SCENARIOS = (
    "kill",
    "ctrlc",
    "crash",
    "exit",
    "disk",
    "locked",
    "resumes",
    "surrogate",
    "bad",
    "input",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=6, help="kill rounds per setting")
    parser.add_argument("--items", type=int, default=30, help="items per kill round (x2 trials)")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--smoke", action="store_true", help="one round, small sizes")
    parser.add_argument("--keep", action="store_true", help="keep the scenario folders")
    options = parser.parse_args(argv)
    if options.smoke:
        options.kills, options.items = 1, 12
    only = set(options.only.split(","))
    rng = random.Random(options.seed)
    rows: list[Row] = []
    with _workdir(options.keep) as root:

        def lab(name: str, items: int = options.items, **env: str) -> Lab:
            return Lab(root / name, items, options.timeout, **env)

        plan: list[tuple[str, Callable[[], Row]]] = [
            (
                "kill",
                lambda: kill(
                    lab,
                    options.kills,
                    rng,
                    ["--crucible-concurrency", "16"],
                    signal.SIGKILL,
                    "SIGKILL, concurrency 16",
                ),
            ),
            (
                "kill",
                lambda: kill(
                    lab,
                    options.kills,
                    rng,
                    ["-n", "2", "--crucible-concurrency", "8"],
                    signal.SIGKILL,
                    "SIGKILL, -n 2, concurrency 8",
                ),
            ),
            (
                "ctrlc",
                lambda: kill(
                    lab,
                    max(1, options.kills // 2),
                    rng,
                    ["--crucible-concurrency", "16"],
                    signal.SIGINT,
                    "Ctrl-C, concurrency 16",
                ),
            ),
            ("crash", lambda: worker_crash(lab("crash-exit", 10), "os_exit")),
            ("crash", lambda: worker_crash(lab("crash-segv", 10), "segfault")),
            ("exit", lambda: condition_raises(lab("exit-8", 10), "exit", "8", ["exit"])),
            ("exit", lambda: condition_raises(lab("exit-1", 10), "exit", "1", ["exit"])),
            ("exit", lambda: condition_raises(lab("int-8", 10), "interrupt", "8", ["interrupt"])),
            ("disk", lambda: full_disk(lab("disk", 40))),
            ("locked", lambda: locked_store(lab("locked", 5, FT_DELAY="0.2"))),
            ("resumes", lambda: concurrent_resumes(lab("resumes", 30, FT_DELAY="0.05"))),
            ("surrogate", lambda: surrogate(lab("sur-0", 5), [])),
            ("surrogate", lambda: surrogate(lab("sur-2", 5), ["-n", "2"])),
            ("bad", lambda: bad_store(lab("bad", 5))),
            ("input", lambda: bad_input(root, options.timeout)),
        ]
        for key, scenario in plan:
            if key in only:
                started = time.monotonic()
                row = scenario()
                rows.append(row)
                print(_format(row, time.monotonic() - started), flush=True)
    print()
    print(_table(rows))
    unhandled = [r.scenario for r in rows if r.ran and not (r.ended and r.message)]
    if unhandled:
        print(f"\nhung or gave no clear message: {'; '.join(unhandled)}")
    return 1 if unhandled else 0


def _format(row: Row, seconds: float) -> str:
    return f"[{seconds:5.1f} s] {row.scenario}: " + json.dumps(row.__dict__)


def _table(rows: Sequence[Row]) -> str:
    head = (
        "fault",
        "trials",
        "finished",
        "stored",
        "lost",
        "twice",
        "ended",
        "exit",
        "message",
        "note",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        exits = "/".join("-" if c is None else str(c) for c in r.exits)
        cells = (
            r.scenario,
            r.trials,
            r.finished,
            r.stored,
            r.lost,
            r.twice,
            "yes" if r.ended else "HANG",
            exits,
            "clear" if r.message else "NO",
            r.note,
        )
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


@contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="crucible-faults-"))
    try:
        yield root
    finally:
        if keep:
            print(f"scenario folders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
