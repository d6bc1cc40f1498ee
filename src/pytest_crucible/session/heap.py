"""The cyclic garbage collector and the session's long-lived objects.

After collection a process holds tens of thousands of objects that live as long as the
session: modules, pytest's items of every trial, their specs and fixtures. Each full
collection of the cyclic garbage collector walks all of them again: 0.8 s of CPU in a
3,000-trial run, 6 to 9 full collections (benchmarks/join.py, a GC callback). Two documented
uses of `gc.freeze()` (which moves every object alive into a permanent generation that
collections skip; reference counting still frees them) take that away:

- `freeze_collected`, once collection is done. The objects made later (trials, results,
  reports) are collected as before. A process that runs another session afterwards (an IDE,
  pytester) gives the frozen objects back to the collector when that session is configured,
  with `--crucible` or without (`thaw_earlier_session`, called by the plugin), and does not
  freeze again: the first session's items are freed after it, as every later one's.
- `freeze_at_exit`: as the interpreter exits, its last collection would walk everything
  still alive (0.7 s after 3,000 trials). Python never promised to finalise objects alive at
  exit; the session closes its own files, store and threads before this point. An atexit
  handler runs only when the interpreter really exits, so a process that runs pytest many
  times keeps collecting the garbage of each session.
"""

from __future__ import annotations

import atexit
import gc

__all__ = ["freeze_at_exit", "freeze_collected", "thaw_earlier_session"]

_registered = False
_frozen = False  # objects of a session are in the permanent generation now
_froze_before = False  # some session of this process froze its objects


def freeze_at_exit() -> None:
    global _registered
    if not _registered:
        _registered = True
        atexit.register(gc.freeze)


def freeze_collected() -> None:
    """Keep what collection made out of the collector's full collections, in the first
    session of the process only: a later one would freeze the garbage of the sessions
    before it too (given back at configure, not yet collected), or need a full collection
    first, which in a process running hundreds of sessions (pytester) costs more than it
    saves."""
    global _frozen, _froze_before
    if not _froze_before:
        _frozen = _froze_before = True
        gc.freeze()


def thaw_earlier_session() -> None:
    """Give an earlier session's frozen objects back to the collector (its items are
    garbage now, or soon)."""
    global _frozen
    if _frozen:
        _frozen = False
        gc.unfreeze()
