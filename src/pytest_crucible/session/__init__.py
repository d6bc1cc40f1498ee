"""The per-run objects registered as pytest plugins when `--crucible` is given.

Two roles, as in pytest-xdist (`DSession` / `WorkerInteractor`), decided once in
`start_session`:
- the controller (controller.py, xdist_controller.py) owns the store and the runs: it fixes
  the session inputs, records every trial report, and finishes, analyses and gates the runs;
- the worker (worker.py, xdist_worker.py) collects the trials and runs them.

An xdist worker process holds a worker; the xdist controller holds a controller; a run
without xdist holds both, the worker reaching the controller through `InProcessLink`.

The plugin imports this package in every pytest run (for `options.py`, the options'
registration): the names of `items.py`, which load the core, come on first use.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_crucible.util.lazy import LazyNames
from pytest_crucible.util.names import CONTROLLER_PLUGIN, WORKER_PLUGIN

__all__ = [
    "CONTROLLER_PLUGIN",
    "TRIAL_KEY",
    "TRIAL_PARAM",
    "WORKER_PLUGIN",
    "check_trial_arguments",
    "start_session",
]

_LAZY = LazyNames(
    __name__,
    {name: ".items" for name in ("TRIAL_KEY", "TRIAL_PARAM", "check_trial_arguments")},
)


def __getattr__(name: str) -> Any:
    value = _LAZY.get(name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


__dir__ = _LAZY.names


def start_session(config: pytest.Config) -> None:
    """Register this process's role(s) with pytest's plugin manager."""
    from pytest_crucible.session.heap import SessionHeap, fewer_full_collections, freeze_at_exit
    from pytest_crucible.session.worker import Worker

    freeze_at_exit()
    fewer_full_collections(config)
    config.pluginmanager.register(SessionHeap(config), "crucible-heap")

    if hasattr(config, "workerinput"):
        from pytest_crucible.session.xdist_worker import XdistLink

        link = XdistLink(config)
        config.pluginmanager.register(link, "crucible-xdist-worker")
        config.pluginmanager.register(Worker(config, link), WORKER_PLUGIN)
        return
    from pytest_crucible.session.controller import Controller
    from pytest_crucible.session.in_process import InProcessLink
    from pytest_crucible.session.xdist_controller import XdistController

    controller = Controller(config)
    config.pluginmanager.register(controller, CONTROLLER_PLUGIN)
    config.pluginmanager.register(XdistController(controller), "crucible-xdist-controller")
    if not _is_xdist_controller(config):
        config.pluginmanager.register(Worker(config, InProcessLink(controller)), WORKER_PLUGIN)


def _is_xdist_controller(config: pytest.Config) -> bool:
    """Whether xdist will start workers, then this process collects and runs nothing (the
    test xdist's own `pytest_configure` makes before it registers its `DSession`)."""
    option = config.option
    distributed = getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))
    return distributed and not config.getoption("collectonly")
