"""The strategies examples run only when named (example_experiments/conftest.py), so `pytest
--crucible example_experiments` (scripts/example.sh, run by CI) stays quick:

    pytest --crucible example_experiments/strategies

The hedging example's model is the project's mock server (`pytest_crucible.testing`), with the
latency of "The Tail at Scale": a lognormal body (median 100 ms, sigma 0.3) and a 3% chance of
a 2-5 s stall; one server per process (each pytest-xdist worker starts its own). The
ensembles example answers from its own mock server (`ensemble_server.py`), started when its
module is imported and stopped here when the session ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_crucible.testing import Latency, MockModelServer, Stall


@pytest.fixture(scope="session")
def stalling_model() -> Iterator[MockModelServer]:
    latency = Latency.lognormal(
        median=0.1, sigma=0.3, seed=1, stall=Stall(probability=0.03, low=2.0, high=5.0)
    )
    with MockModelServer(latency=latency) as server:
        yield server


def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    server = sys.modules.get("ensemble_server")
    if server is not None:
        server.stop()
