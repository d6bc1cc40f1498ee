"""The cyclic garbage collector during a session, and at the process's exit.

After collection a process holds tens of thousands of objects that live as long as the
session: modules, pytest's items of every trial, their specs and fixtures. Each full
collection of the cyclic garbage collector walks all of them again: 0.8 s of CPU in a
3,000-trial run, 9 full collections (benchmarks/join.py, measured with a GC callback).

- `fewer_full_collections`, from the session's start (pytest_configure, once pytest and the
  plugins are imported: they live as long as the process): until the session ends, the
  collector starts a full collection after 100 collections of the middle generation instead
  of 10 (`gc.set_threshold`'s third value, when lower). 3 full collections instead of 9: 0.3 s
  of GC instead of 0.8 s, and none while 3,000 items are collected (one of 45 ms, before the
  first trial). Young garbage is collected as often as before; cyclic garbage that reached
  the oldest generation waits longer (pytest collects everything as the session ends). The
  process's thresholds are given back when the session's config is cleaned up. (Once the
  trials start, the heap is frozen as well: below.)
- `SessionHeap`, a plugin:
  - As the trials start (pytest_runtestloop), `gc.freeze()` moves everything then alive
    (modules, items, fixtures: 140,000 objects after collecting 3,000 trials) into the
    permanent generation, which collections skip. What the trials make is collected as
    before.
  - As pytest unconfigures: pytest 9 runs two full collections then (its
    unraisable-exception plugin, so that a finaliser that raises is reported). One
    collection here, first, runs the same finalisers, over what the trials made only (0.01 s
    after 3,000 trials; 0.06-0.15 s when it walked everything); then `gc.freeze()` moves
    what is left into the permanent generation, and pytest's two collections walk only what
    the end of the session makes.
  - The heap is thawed when the config is cleaned up: the plugin registers its cleanup as
    the session starts, before pytest's own plugins are configured, so in the last-in,
    first-out order of cleanups it runs after theirs.
  - Frozen objects are hidden from `gc.get_referrers`, which hypothesis's `register_random`
    uses: trio, say, registers its random generator as hypothesis is imported, and
    hypothesis would warn that nothing refers to it. hypothesis's pytest plugin imports
    hypothesis in the terminal summary: when it is registered and hypothesis is not
    imported yet, the heap is thawed before the terminal summary (and the collection at
    unconfigure walks everything again).
  - A reference cycle that became garbage before the trials started and that the
    automatic collections had not found yet (one that had reached the oldest generation)
    is frozen with the rest: its finaliser runs at a collection after the thaw, which a
    process that exits after its session never makes (as for any object alive at exit).
- `freeze_at_exit`: as the interpreter exits, its last collection would walk everything
  still alive (0.7 s after 3,000 trials). `gc.freeze()` at exit moves them into the
  permanent generation that collections skip. Python never promised to finalise objects
  alive at exit; the session closes its own files, store and threads before this point. An
  atexit handler runs only when the interpreter really exits, so a process that runs pytest
  many times keeps collecting the garbage of each session.
"""

from __future__ import annotations

import atexit
import gc
import sys

import pytest

__all__ = ["FULL_COLLECTION_EVERY", "SessionHeap", "fewer_full_collections", "freeze_at_exit"]

FULL_COLLECTION_EVERY = 100  # collections of the middle generation per full collection

_registered = False
# the name hypothesis's pytest plugin is registered under (its entry point)
_HYPOTHESIS_PLUGIN = "hypothesispytest"


def freeze_at_exit() -> None:
    global _registered
    if not _registered:
        _registered = True
        atexit.register(gc.freeze)


def fewer_full_collections(config: pytest.Config) -> None:
    """Full collections 10 times rarer until `config` is cleaned up."""
    thresholds = gc.get_threshold()
    if thresholds[2] >= FULL_COLLECTION_EVERY:
        return
    gc.set_threshold(thresholds[0], thresholds[1], FULL_COLLECTION_EVERY)
    config.add_cleanup(lambda: gc.set_threshold(*thresholds))


class SessionHeap:
    """Freezes the heap as the trials start and for pytest's last collections; thaws it
    after them."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._frozen = False
        config.add_cleanup(self._thaw)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        gc.freeze()
        self._frozen = True

    @pytest.hookimpl(tryfirst=True)  # before hypothesis's plugin imports hypothesis
    def pytest_terminal_summary(self) -> None:
        hypothesis_next = self._config.pluginmanager.has_plugin(_HYPOTHESIS_PLUGIN)
        if hypothesis_next and "hypothesis" not in sys.modules:
            self._thaw()

    @pytest.hookimpl(tryfirst=True)  # before pytest's own collections
    def pytest_unconfigure(self) -> None:
        gc.collect()
        gc.freeze()
        self._frozen = True

    def _thaw(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()
