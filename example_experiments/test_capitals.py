"""Does a system message with worked examples help a small model name capitals?

Two prompts, the same 24 countries, three sampled answers each (temperature 0.7, a seed per
trial), against a real model served on loopback. Run it with

    pytest --crucible example_experiments/

and compare the conditions in the table at the end (few_shot against the terse baseline,
paired on countries).
"""

from __future__ import annotations

from pathlib import Path

from prompts import few_shot_messages, terse_messages

import pytest_crucible as crucible
from pytest_crucible.llm import LocalServer, achat

DATA = Path(__file__).parent / "data" / "capitals.jsonl"
# At the helpers' default of 32, a quarter of the terse answers were cut (the run warns
# about it) and scored wrong; at 128 a few still are: the small model sometimes loops.
MAX_TOKENS = 128


async def terse(model: LocalServer, question: str, *, temperature: float, seed: int) -> str:
    """The question alone."""
    return await achat(
        model.base_url,
        model.model,
        terse_messages(question),
        temperature=temperature,
        seed=seed,
        max_tokens=MAX_TOKENS,
    )


async def few_shot(model: LocalServer, question: str, *, temperature: float, seed: int) -> str:
    """A system message and three worked examples, then the question."""
    return await achat(
        model.base_url,
        model.model,
        few_shot_messages(question),
        temperature=temperature,
        seed=seed,
        max_tokens=MAX_TOKENS,
    )


capitals = crucible.Experiment(
    name="capitals-prompting",
    description="Does a system message with worked examples help SmolLM2-135M name capitals?",
    dataset=crucible.datasets.jsonl(DATA, id="country", input="question", expected="capital"),
    conditions={"terse": terse, "few_shot": few_shot},
    baseline="terse",
    metrics={
        "correct": crucible.Metric(kind="binary", description="the capital is in the answer"),
        "latency_s": crucible.Metric(lower_is_better=True, unit="s"),
    },
    repeat=3,
    seed=42,
    concurrency=4,  # trials in flight per process (docs/running.md)
    config=crucible.ConfigSchema(
        temperature=crucible.Field(
            "float", default=0.7, min=0.0, max=2.0, description="sampling temperature of the model"
        ),
    ),
)


@capitals.trial
async def test_capitals(condition, item, trial, local_model):
    answer = await condition(
        local_model, item.input, temperature=trial.config["temperature"], seed=trial.seed
    )
    accepted = [item.expected, *item.metadata.get("aliases", [])]
    trial.record(
        correct=any(name.lower() in answer.lower() for name in accepted),
        latency_s=trial.latency_s,
    )
