"""Latency: seeded distributions (sampled directly) and the delay a request sees."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from pytest_crucible.testing import Latency, MockModelServer, MockServerError

from .helpers import openai_body


def quantile(samples: list[float], q: float) -> float:
    return sorted(samples)[int(q * (len(samples) - 1))]


def test_fixed_latency_is_what_a_request_waits(client: httpx.Client):
    with MockModelServer(latency=0.3) as server:
        started = time.perf_counter()
        response = client.post(server.base_url + "/chat/completions", json=openai_body())
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    # above: generous for a loaded machine; still far below a latency applied twice or more
    assert 0.29 <= elapsed < 3.0


def test_set_latency_applies_to_later_requests(
    mock_model_server: MockModelServer, client: httpx.Client
):
    url = mock_model_server.base_url + "/chat/completions"
    mock_model_server.set_latency(Latency.lognormal(median=0.25, sigma=0.01, seed=1))
    started = time.perf_counter()
    client.post(url, json=openai_body())
    assert time.perf_counter() - started >= 0.2


def test_pareto_is_heavy_tailed():
    samples = Latency.pareto(minimum=0.1, alpha=2.0, seed=0).samples(4000)
    median, p99 = statistics.median(samples), quantile(samples, 0.99)
    assert min(samples) >= 0.1
    assert median == pytest.approx(0.1 * 2**0.5, rel=0.1)  # minimum * 2 ** (1 / alpha)
    assert p99 > 4 * median  # theory: p99 = 1.0, about 7 x the median


def test_lognormal_median_and_tail():
    samples = Latency.lognormal(median=0.2, sigma=0.5, seed=0).samples(4000)
    median, p99 = statistics.median(samples), quantile(samples, 0.99)
    assert median == pytest.approx(0.2, rel=0.1)
    assert p99 > 2.5 * median  # theory: exp(2.33 * 0.5) = 3.2 x the median


def test_cap_bounds_every_sample():
    samples = Latency.pareto(minimum=0.1, alpha=1.0, seed=0, cap=0.5).samples(2000)
    assert max(samples) == 0.5
    assert min(samples) >= 0.1


def test_seeded_samples_repeat_and_reset_restarts():
    latency = Latency.lognormal(median=0.2, sigma=0.5, seed=7)
    first = latency.samples(5)
    assert Latency.lognormal(median=0.2, sigma=0.5, seed=7).samples(5) == first
    assert Latency.lognormal(median=0.2, sigma=0.5, seed=8).samples(5) != first
    latency.reset()
    assert latency.samples(5) == first


def test_fixed_and_round_trip():
    assert Latency.fixed(0.2).samples(3) == [0.2, 0.2, 0.2]
    assert Latency.coerce(0.2) == Latency.fixed(0.2)
    assert Latency.coerce(None).sample() == 0.0
    pareto = Latency.pareto(minimum=0.1, alpha=2.0, seed=3, cap=1.0)
    assert Latency.from_dict(pareto.to_dict()) == pareto
    assert repr(pareto) == "Latency.pareto(minimum=0.1, alpha=2.0, seed=3, cap=1.0)"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Latency.fixed(-1),
        lambda: Latency.lognormal(median=0, sigma=0.5),
        lambda: Latency.pareto(minimum=0.1, alpha=0),
        lambda: Latency.fixed(0.1, cap=float("nan")),
        lambda: MockModelServer(latency="fast"),  # type: ignore[arg-type]
    ],
)
def test_invalid_latency_says_what_to_give(make):
    with pytest.raises(MockServerError, match="give"):
        make()
