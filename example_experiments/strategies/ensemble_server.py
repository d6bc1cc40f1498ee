"""The model the ensembles example asks: the mock model server, right with probability 0.7
on each question (independently for each seed, so an ensemble's members are independent
samples), otherwise giving one common wrong answer, with a lognormal latency (median 50 ms).

One server per process (each pytest-xdist worker starts its own; the answers are the same on
every server), started on first use and stopped by the folder's conftest.
"""

from __future__ import annotations

from pytest_crucible.testing import Accuracy, Latency, MockModelServer

MODEL = "mock-7b"
P_RIGHT = 0.7
_SERVER: MockModelServer | None = None


def base_url() -> str:
    global _SERVER
    if _SERVER is None:
        _SERVER = MockModelServer(
            answers=Accuracy({"*": P_RIGHT}, wrong="WRONG", seed=7),
            latency=Latency.lognormal(median=0.05, sigma=0.3, seed=7),
        ).start()
    return _SERVER.base_url


def stop() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.stop()
        _SERVER = None
