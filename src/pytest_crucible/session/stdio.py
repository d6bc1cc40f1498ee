"""`sys.stdout` / `sys.stderr` streams that can keep a background trial's text for its report.

pytest's capture swaps `sys.stdout` between two objects: its capture file while an item's
phase runs, and the stream it found when capture started while it is suspended (between
phases, while reports are made and logged). A trial running in the background can print at
any of these moments. `install_below_capture` runs before pytest's capture starts, so the
stream capture finds, and puts back between phases, is a `RoutedStream`; the session wraps
the capture file in one during phases (session/output.py). Both ask the same `route`.

This module imports nothing of the core: the plugin installs the streams before any
conftest is loaded, long before the session exists.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import pytest

__all__ = ["BOTTOM_KEY", "Bottom", "RoutedStream", "install_below_capture"]

# (stream name, text) -> True when the text was kept for a trial (not to be written)
Route = Callable[[str, str], bool]


class RoutedStream:
    """A text stream that offers each write to `route` before writing it to `target`."""

    def __init__(self, name: str, target: TextIO, route: Route | None = None) -> None:
        self.name = name
        self.target = target
        self.route = route

    def write(self, text: str) -> int:
        route = self.route
        if route is not None and route(self.name, text):
            return len(text)
        return self.target.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, fileno, ...
        return getattr(self.target, name)


def unrouted(stream: Any) -> Any:
    """The stream below our routing (which would take a drawing thread's writes for a
    trial's output)."""
    while isinstance(stream, RoutedStream):
        stream = stream.target
    return stream


class Bottom:
    """The two streams below pytest's capture; the session sets and clears their route."""

    def __init__(self) -> None:
        self.streams = (RoutedStream("stdout", sys.stdout), RoutedStream("stderr", sys.stderr))

    def set_route(self, route: Route | None) -> None:
        for stream in self.streams:
            stream.route = route

    def install(self) -> None:
        sys.stdout, sys.stderr = self.streams

    def uninstall(self) -> None:
        """Put back the streams found (unless someone replaced ours since: leave theirs)."""
        out, err = self.streams
        if sys.stdout is out:
            sys.stdout = out.target
        if sys.stderr is err:
            sys.stderr = err.target


BOTTOM_KEY = pytest.StashKey[Bottom]()


def install_below_capture(config: pytest.Config) -> None:
    """Install the bottom streams; called before pytest's capture starts. The cleanup is
    registered before capture's own, so it runs after capture has put ours back."""
    bottom = Bottom()
    bottom.install()
    config.stash[BOTTOM_KEY] = bottom
    config.add_cleanup(bottom.uninstall)
