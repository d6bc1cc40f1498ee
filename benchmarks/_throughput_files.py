"""The files `throughput.py` writes into its temporary directories, one per case.

Every file reads its size and the server's URL from the environment (BENCH_TRIALS,
BENCH_BASE_URL, BENCH_MAX_TOKENS), so one directory serves every trial count.
"""

from __future__ import annotations

# One model call per trial: the condition calls the mock server through the project's async
# backend, which a session-scoped fixture shares between trials (a function-scoped one would
# make the trials run one at a time).
CRUCIBLE_CALLS = """
import os

import pytest

import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend

TRIALS = int(os.environ["BENCH_TRIALS"])
MAX_TOKENS = int(os.environ["BENCH_MAX_TOKENS"])


async def ask(text, backend):
    reply = await backend.achat("mock-model", text, max_tokens=MAX_TOKENS)
    return reply.content


calls = crucible.Experiment(
    name="throughput",
    dataset=[{"id": f"q{n}", "input": f"question {n}"} for n in range(TRIALS)],
    conditions={"mock": ask},
    metrics=["words"],
    seed=0,
)


@pytest.fixture(scope="session")
def backend():
    return OpenAICompatibleBackend(base_url=os.environ["BENCH_BASE_URL"], api_key_env=None)


@calls.trial
async def test_call(condition, item, trial, backend):
    answer = await condition(item.input, backend=backend)
    trial.record(words=len(answer.split()))
"""

# The same calls as plain pytest users write them: parametrized sync tests, one httpx client
# per process.
PLAIN_CALLS = """
import os

import httpx
import pytest

MAX_TOKENS = int(os.environ["BENCH_MAX_TOKENS"])


@pytest.fixture(scope="session")
def client():
    with httpx.Client(base_url=os.environ["BENCH_BASE_URL"], timeout=30.0) as client:
        yield client


@pytest.mark.parametrize("n", range(int(os.environ["BENCH_TRIALS"])))
def test_call(client, n):
    body = {
        "model": "mock-model",
        "messages": [{"role": "user", "content": f"question {n}"}],
        "max_tokens": MAX_TOKENS,
    }
    response = client.post("/chat/completions", json=body)
    response.raise_for_status()
    assert response.json()["choices"][0]["message"]["content"]
"""

# Zero latency: an async condition that returns at once; what is left is the per-trial cost.
CRUCIBLE_NOOP = """
import os

import pytest_crucible as crucible

TRIALS = int(os.environ["BENCH_TRIALS"])


async def echo(text):
    return text


noop = crucible.Experiment(
    name="noop",
    dataset=[{"id": f"q{n}", "input": f"question {n}"} for n in range(TRIALS)],
    conditions={"echo": echo},
    metrics=["ok"],
    seed=0,
)


@noop.trial
async def test_noop(condition, item, trial):
    trial.record(ok=bool(await condition(item.input)))
"""

PLAIN_NOOP = """
import os

import pytest


@pytest.mark.parametrize("n", range(int(os.environ["BENCH_TRIALS"])))
def test_noop(n):
    assert f"question {n}"
"""

# inspect-ai: the same calls as a task whose solver is generate(); no scorer.
INSPECT_TASK = """
import os

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.solver import generate


@task
def throughput():
    samples = [Sample(id=n, input=f"question {n}") for n in range(int(os.environ["BENCH_TRIALS"]))]
    return Task(dataset=MemoryDataset(samples), solver=generate())
"""

# Runs pytest inside this child process and prints its wall time and peak memory as JSON:
# the pytest process itself, and separately the largest of its children (the session-end
# analysis, or the xdist workers).
MEASURE = """
import json, resource, sys, time
import pytest
start = time.perf_counter()
code = pytest.main(sys.argv[1:])
wall = time.perf_counter() - start
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("MEASURE " + json.dumps({"code": int(code), "wall": wall, "peak_mib": peak_mib,
                               "child_mib": child_mib}))
"""
