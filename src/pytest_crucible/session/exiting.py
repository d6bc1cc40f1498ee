"""A quick exit: the interpreter's last garbage collection skips what the session leaves.

As a Python process exits, its cyclic garbage collector walks every object still alive:
after a run of thousands of trials, pytest's items, reports and the run's records, 0.7 s of a
3,000-trial run's 22 s here (benchmarks/join.py; the same again in each process of a joined
run). `gc.freeze()` at exit moves them into the permanent generation that collections skip;
objects freed by their reference counts are freed as before. Python never promised to
finalise objects still alive at exit; the session closes its own files, store and threads
before this point. Registered once per process, at the start of its first session; an
atexit handler runs only when the interpreter really exits, so a process that runs pytest
many times (an IDE, pytester) keeps collecting the garbage of each session.
"""

from __future__ import annotations

import atexit
import gc

__all__ = ["freeze_at_exit"]

_registered = False


def freeze_at_exit() -> None:
    global _registered
    if not _registered:
        _registered = True
        atexit.register(gc.freeze)
