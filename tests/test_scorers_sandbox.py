"""The code-execution sandbox: real child processes that loop, allocate, fork, write outside
their directory or open sockets are stopped, scored as failed with the reason, and leave
nothing behind (no process of their group, no temporary directory)."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_crucible.errors import ScorerError
from pytest_crucible.scorers import CodeResult, code_execution

# Every program starts by saying where it runs: its pid (the leader of its own process group)
# and its working directory, so a test can check that neither is left afterwards.
HEADER = "import os, sys\nprint('SANDBOX', os.getpid(), os.getcwd(), flush=True)\n"
# generous: a busy machine is slow; the limit only matters to the looping programs
TIMEOUT_S = 20.0


def run(body: str, **limits: float) -> CodeResult:
    return code_execution(HEADER + textwrap.dedent(body), **{"timeout_s": TIMEOUT_S, **limits})


def group_members(pgid: int) -> list[int]:
    """Processes of process group `pgid` still alive (zombies waiting to be reaped by init
    are not running and hold nothing but a table entry)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def assert_nothing_left(result: CodeResult) -> None:
    line = next(text for text in result.stdout.splitlines() if text.startswith("SANDBOX "))
    _, pid, cwd = line.split(" ", 2)
    assert group_members(int(pid)) == []
    assert not Path(cwd).exists()
    assert Path(cwd).name.startswith("crucible-sandbox-")


def test_a_passing_program_keeps_its_output_and_may_write_in_its_own_directory() -> None:
    result = run("""
        with open("notes.txt", "w") as f:
            f.write("kept")
        os.mkdir("sub")
        os.rename("notes.txt", "sub/notes.txt")
        print(open("sub/notes.txt").read())
        print("to stderr", file=sys.stderr)
    """)
    assert result.passed and result.reason == "passed", result
    assert "kept" in result.stdout and result.stderr == "to stderr\n"
    assert result.duration_s >= 0
    assert_nothing_left(result)


def test_a_failing_assertion_keeps_its_line_message_and_output() -> None:
    result = run("""
        def add(a, b):
            return a - b
        print("checking add")
        assert add(2, 2) == 4, "add(2, 2) should be 4"
    """)
    assert not result.passed and result.reason == "assertion"
    assert result.assertion == 'assert add(2, 2) == 4, "add(2, 2) should be 4"'
    assert result.message == "AssertionError: add(2, 2) should be 4"
    assert "checking add" in result.stdout
    assert 'File "<program>", line 7, in <module>' in result.traceback
    assert_nothing_left(result)


def test_a_program_that_loops_forever_is_stopped_at_its_time_limit() -> None:
    result = run("while True:\n    pass\n", timeout_s=1.0)
    assert not result.passed and result.reason == "timeout"
    assert "within 1 s" in result.message
    assert_nothing_left(result)


def test_output_before_the_time_limit_is_kept() -> None:
    # unbuffered: what was printed before the kill is not lost with a buffer (3 s: the print
    # comes first, but a busy machine may take a while to start the program)
    program = "import time\nprint('so far')\nwhile True:\n    time.sleep(0.05)\n"
    result = code_execution(program, timeout_s=3.0)
    assert result.reason == "timeout" and result.stdout == "so far\n"


def test_a_process_that_escaped_the_guard_is_killed_with_the_group() -> None:
    # ctypes steps around the audit hook (the guard is no security boundary); the process
    # group still ends every process the program made when its time is up
    result = run(
        """
        import ctypes
        child = ctypes.CDLL(None).fork()
        while True:
            pass
        """,
        timeout_s=1.0,
    )
    assert result.reason == "timeout"
    assert_nothing_left(result)


def test_allocating_10_gb_is_stopped_by_the_memory_limit() -> None:
    result = run("block = bytearray(10 * 1024 ** 3)\nprint('allocated')\n")
    assert not result.passed and result.reason == "memory"
    assert "allocated" not in result.stdout
    assert_nothing_left(result)


@pytest.mark.parametrize(
    "start",
    [
        "os.fork()",
        "import subprocess\nsubprocess.run(['true'])",
        "os.system('true')",
        "os.execv(sys.executable, [sys.executable, '-c', 'pass'])",
        "os.posix_spawn(sys.executable, [sys.executable, '-c', 'pass'], {})",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
        "os.kill(os.getppid(), 0)",  # signal 0: harmless had the guard let it through
    ],
    ids=["fork", "subprocess", "system", "exec", "posix_spawn", "multiprocessing", "signal"],
)
def test_starting_a_process_is_refused(start: str) -> None:
    result = run(f"{start}\nprint('started')\n")
    assert not result.passed and result.reason == "process", result
    assert "refused" in result.message
    assert "started" not in result.stdout
    assert_nothing_left(result)


def test_a_refusal_caught_by_the_program_still_fails_it() -> None:
    result = run("""
        try:
            os.fork()
        except BaseException:
            pass
        print("went on")
    """)
    assert result.reason == "process" and "went on" not in result.stdout
    assert_nothing_left(result)


WRITES = {
    "open": "open(TARGET, 'w').write('x')",
    "append": "open(TARGET, 'a').write('x')",
    "os.open": "os.open(TARGET, os.O_WRONLY | os.O_CREAT)",
    "pathlib": "import pathlib\npathlib.Path(TARGET).write_text('x')",
    "symlink": "os.symlink(TARGET, 'link')\nopen('link', 'w').write('x')",
    "rename": "open('mine', 'w').write('x')\nos.rename('mine', TARGET)",
    "copy": "import shutil\nopen('mine', 'w').write('x')\nshutil.copy('mine', TARGET)",
    "tempfile": "import tempfile\ntempfile.mkstemp(dir=os.path.dirname(TARGET))",
    "chdir": "os.chdir(os.path.dirname(TARGET))\nopen('escaped.txt', 'w').write('x')",
    "mkdir": "os.mkdir(TARGET)",
    "dir_fd": "fd = os.open(os.path.dirname(TARGET), os.O_RDONLY)\n"
    "os.mkdir('escaped.txt', dir_fd=fd)",
}


@pytest.mark.parametrize("write", list(WRITES.values()), ids=list(WRITES))
def test_writing_outside_its_directory_is_refused(tmp_path: Path, write: str) -> None:
    target = tmp_path / "escaped.txt"
    result = run(f"TARGET = {str(target)!r}\n{write}\nprint('written')\n")
    assert not result.passed and result.reason == "write", result
    assert "outside the sandbox directory refused" in result.message
    assert list(tmp_path.iterdir()) == []
    assert_nothing_left(result)


def test_removing_a_file_outside_its_directory_is_refused(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    result = run(f"os.remove({str(precious)!r})\n")
    assert result.reason == "write"
    assert precious.read_text() == "keep me"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real listening socket on loopback that the test holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server


CONNECTS = {
    "connect": "s = socket.socket()\ns.connect(('127.0.0.1', PORT))",
    "create_connection": "socket.create_connection(('localhost', PORT))",
    "urllib": "import urllib.request\nurllib.request.urlopen(f'http://127.0.0.1:{PORT}/')",
    "udp": "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', PORT))",
    "bind": "socket.socket().bind(('127.0.0.1', 0))",
}


@pytest.mark.parametrize("connect", list(CONNECTS.values()), ids=list(CONNECTS))
def test_opening_a_socket_is_refused_and_no_connection_arrives(
    listener: socket.socket, connect: str
) -> None:
    port = listener.getsockname()[1]
    result = run(f"import socket\nPORT = {port}\n{connect}\nprint('connected')\n")
    assert not result.passed and result.reason == "network", result
    assert "network access refused" in result.message
    # the child has ended: a connection it made would be waiting in the backlog now
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.accept()
    assert_nothing_left(result)


def test_syntax_errors_exceptions_exits_and_crashes_are_told_apart() -> None:
    assert code_execution("def broken(:\n").reason == "syntax"
    raised = code_execution("{}['missing']\n")
    assert raised.reason == "exception" and raised.message == "KeyError: 'missing'"
    exited = code_execution("import sys\nsys.exit(0)\n")
    assert exited.reason == "exit" and not exited.passed
    crashed = code_execution("import os\nos._exit(3)\n")
    assert crashed.reason == "crash" and "exit code 3" in crashed.message
    killed = code_execution("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert killed.reason == "crash" and "SIGSEGV" in killed.message


def test_output_is_cut_at_the_limit_and_says_how_much_was_cut() -> None:
    result = code_execution("print('x' * 100_000)\n", output_limit=1000)
    assert result.passed
    assert result.stdout.startswith("x" * 1000)
    assert result.stdout.endswith("[... 99001 more bytes cut]")


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: code_execution(b"print(1)"), "takes the program as a str"),  # type: ignore[arg-type]
        (lambda: code_execution("pass", timeout_s=0), "timeout_s=0 must be a positive number"),
        (lambda: code_execution("pass", memory_mb=-1), "memory_mb=-1 must be a positive"),
    ],
)
def test_bad_arguments_are_clear_errors(call: object, words: str) -> None:
    with pytest.raises(ScorerError, match=words):
        call()  # type: ignore[operator]
