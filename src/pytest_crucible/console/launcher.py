"""Child pytest processes started by the console, and what became of them.

A launch is one `python -m pytest --crucible ...` started in the project root. The store's
location reaches it through CRUCIBLE_STORE (never the command line, where `ps` would show a
database password), the instance's name through CRUCIBLE_INSTANCE and the launch id through
CRUCIBLE_LAUNCH (both kept in the run's environment record, which is how the launch learns
its run id). Its output goes to `<store side folder>/<store>.launches/<id>.log`; its record
to `<id>.json` beside it, so a restarted server still lists it. A thread per launch waits
for the child's exit; only children of this server are ever signalled.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_crucible.store.locations import masked_in

__all__ = ["SIGNAL_WAIT_S", "Launch", "Launcher", "launch_as_dict"]

_TAIL_LINES = 20
# after SIGINT, before SIGTERM: pytest gives trials in flight 10 s after a Ctrl-C, then runs
# the session end (the analysis and reports), which a busy machine may take a minute over
SIGNAL_WAIT_S = 90.0


@dataclass(frozen=True)
class Launch:
    """One child pytest process: what it runs and what became of it."""

    launch_id: str
    instance: str
    experiment: str
    command: list[str]
    pid: int
    started_at: str
    state: str = "running"  # running | exited
    exit_code: int | None = None
    run_id: str | None = None
    ended_at: str | None = None
    stopped_by: str | None = None  # the signals this server sent, e.g. "SIGINT"


RunFinder = Callable[[Launch], "str | None"]


class Launcher:
    """Starts child pytest processes in `root` and tracks them (records in `folder`)."""

    def __init__(
        self, root: Path, folder: Path, find_run: RunFinder, signal_wait_s: float = SIGNAL_WAIT_S
    ) -> None:
        self.root = root
        self.signal_wait_s = signal_wait_s
        self.folder = folder
        self._find_run = find_run
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._launches = {launch.launch_id: launch for launch in self._recorded()}

    def start(
        self, arguments: Sequence[str], env: dict[str, str], *, instance: str, experiment: str
    ) -> Launch:
        """Start `python -m pytest ARGUMENTS` (arguments built by the caller, never taken
        from a client) with `env` added to the server's environment."""
        launch_id = secrets.token_hex(6)
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pytest", *arguments]
        with self._log_path(launch_id).open("wb") as log:
            child = subprocess.Popen(
                command,
                cwd=self.root,
                env={**os.environ, **env, "CRUCIBLE_LAUNCH": launch_id},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signalled as a group, as Ctrl-C in a terminal
            )
        launch = Launch(launch_id, instance, experiment, command, child.pid, _now())
        with self._lock:
            self._children[launch_id] = child
        self._update(launch)
        threading.Thread(target=self._follow, args=(launch_id,), daemon=True).start()
        return launch

    def launches(self) -> list[Launch]:
        """Every launch known, newest first (run ids looked up for those still missing)."""
        for launch in list(self._launches.values()):
            if launch.run_id is None:
                self._learn_run_id(launch.launch_id)
        with self._lock:
            known = list(self._launches.values())
        return sorted(known, key=lambda launch: launch.started_at, reverse=True)

    def launch(self, launch_id: str) -> Launch | None:
        return self._launches.get(launch_id)

    def of_run(self, run_id: str) -> Launch | None:
        """The running launch of this server whose run is `run_id`, if any."""
        for launch in self.launches():
            if launch.run_id == run_id and launch.launch_id in self._children:
                return launch if launch.state == "running" else None
        return None

    def output_tail(self, launch_id: str, lines: int = _TAIL_LINES) -> str:
        """The last lines of a launch's output, database passwords masked."""
        try:
            text = self._log_path(launch_id).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return masked_in("\n".join(text.splitlines()[-lines:]))

    def stop_later(self, launch_id: str, grace_s: float) -> None:
        """Unless the child has exited `grace_s` seconds from now: SIGINT to its process
        group (pytest stops as on Ctrl-C: what finished is stored), then SIGTERM."""
        child = self._children.get(launch_id)
        if child is not None:
            thread = threading.Thread(
                target=self._stop, args=(launch_id, child, grace_s), daemon=True
            )
            thread.start()

    def _stop(self, launch_id: str, child: subprocess.Popen[bytes], grace_s: float) -> None:
        waited = grace_s
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            try:
                child.wait(timeout=waited)
                return
            except subprocess.TimeoutExpired:
                pass
            self._signal(launch_id, child, signal_number)
            waited = self.signal_wait_s

    def _signal(
        self, launch_id: str, child: subprocess.Popen[bytes], signal_number: signal.Signals
    ) -> None:
        try:
            os.killpg(child.pid, signal_number)
        except ProcessLookupError:
            return
        launch = self._launches[launch_id]
        sent = ", ".join(filter(None, (launch.stopped_by, signal_number.name)))
        self._update(replace(launch, stopped_by=sent))

    def _follow(self, launch_id: str) -> None:
        """Learn the run id while the child runs, then record its exit."""
        child = self._children[launch_id]
        while self._launches[launch_id].run_id is None:
            try:
                child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                self._learn_run_id(launch_id)
        code = child.wait()
        self._learn_run_id(launch_id)
        launch = self._launches[launch_id]
        self._update(replace(launch, state="exited", exit_code=code, ended_at=_now()))

    def _learn_run_id(self, launch_id: str) -> None:
        launch = self._launches[launch_id]
        if launch.run_id is not None:
            return
        try:
            run_id = self._find_run(launch)
        except Exception:  # the store busy or not created yet: asked again later
            return
        if run_id is not None:
            self._update(replace(self._launches[launch_id], run_id=run_id))

    def _update(self, launch: Launch) -> None:
        with self._lock:
            self._launches[launch.launch_id] = launch
            path = self.folder / f"{launch.launch_id}.json"
            staging = path.with_suffix(".json.tmp")
            staging.write_text(json.dumps(asdict(launch)), encoding="utf-8")
            staging.replace(path)

    def _recorded(self) -> list[Launch]:
        """Launches recorded by earlier servers; one left running whose process is gone is
        recorded as exited (its exit code unknown)."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                launch = Launch(**json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue  # a damaged record is skipped, not fatal
            if launch.state == "running" and not _alive(launch.pid):
                launch = replace(launch, state="exited")
            found.append(launch)
        return found

    def _log_path(self, launch_id: str) -> Path:
        return self.folder / f"{launch_id}.log"


def launch_as_dict(launch: Launch, tail: str) -> dict[str, Any]:
    return asdict(launch) | {"output_tail": tail}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
