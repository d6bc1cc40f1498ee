"""SIGTERM stops a session as Ctrl-C does (controller role).

Job schedulers, CI runners cancelling a job and `crucible serve` stopping a launched run that
did not end after SIGINT send SIGTERM. By default it kills pytest at once, and the run stays
"running" in the store although nothing runs it. While a session with `--crucible` runs in
the main thread, the first SIGTERM raises KeyboardInterrupt there instead, which takes the
path of a Ctrl-C (a second Ctrl-C when one came already: stop waiting at once): what finished
is stored, the run is marked interrupted and can be resumed. A second SIGTERM kills as usual.
A handler someone else installed is left alone.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["TermAsInterrupt"]


class TermAsInterrupt:
    def __init__(self) -> None:
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, self._interrupt)
        self._installed = True

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills
        raise KeyboardInterrupt("SIGTERM")

    def uninstall(self) -> None:
        if self._installed and signal.getsignal(signal.SIGTERM) == self._interrupt:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._installed = False
