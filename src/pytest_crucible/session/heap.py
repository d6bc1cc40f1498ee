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
  process's thresholds are given back when the session's config is cleaned up.
  (`gc.freeze()` would save as much, but hides the frozen objects from `gc.get_referrers`,
  which libraries use: hypothesis then warns about every random generator registered later.)
- `SessionHeap`, a plugin, as pytest unconfigures: pytest 9 runs two full collections then
  (its unraisable-exception plugin, so that a finaliser that raises is reported): 0.25 s
  after 3,000 trials, each walking everything still alive. One collection here, first, runs
  the same finalisers; then `gc.freeze()` moves what is left into the permanent generation,
  and pytest's two collections walk only what the end of the session makes. It is thawed
  when the config is cleaned up: the plugin registers its cleanup as the session starts,
  before pytest's own plugins are configured, so in the last-in, first-out order of
  cleanups it runs after theirs. (Not sooner than unconfigure: hypothesis's plugin imports
  hypothesis in the terminal summary, and the random generators registered then are
  checked with `gc.get_referrers`, which does not see frozen objects.)
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

import pytest

__all__ = ["FULL_COLLECTION_EVERY", "SessionHeap", "fewer_full_collections", "freeze_at_exit"]

FULL_COLLECTION_EVERY = 100  # collections of the middle generation per full collection

_registered = False


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
    """Freezes the heap for pytest's last collections; thaws it after them."""

    def __init__(self, config: pytest.Config) -> None:
        self._frozen = False
        config.add_cleanup(self._thaw)

    @pytest.hookimpl(tryfirst=True)  # before pytest's own collections
    def pytest_unconfigure(self) -> None:
        gc.collect()
        gc.freeze()
        self._frozen = True

    def _thaw(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()
