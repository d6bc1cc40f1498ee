"""Does asking for code only help a small model pass HumanEval's tests?

Two prompts over a seeded sample of HumanEval problems (20 by default), five sampled answers
each, against SmolLM2-135M-Instruct served on loopback. Each answer's code is pulled out of
the reply (`extract_code`) and run against the problem's tests in a sandboxed child process
(`humaneval_check`); `passed` is recorded per trial, and the check's verdict (stdout, the
failing assertion) goes to the trial's log. Run it with

    pytest --crucible example_experiments/humaneval

(it is left out of `pytest --crucible example_experiments`). Fewer or more problems:
CRUCIBLE_HUMANEVAL_PROBLEMS=5 (1 to 164); fewer repeats: --crucible-repeats=2; another
temperature: --crucible-set temperature=0.2.
"""

from __future__ import annotations

import asyncio
import os

from humaneval_prompts import code_only_messages, complete_messages

import pytest_crucible as crucible
from pytest_crucible.benchmarks import humaneval
from pytest_crucible.llm import LocalServer, achat
from pytest_crucible.scorers import extract_code, humaneval_check

# The sample is fixed before the config is resolved, so its size is an environment variable.
PROBLEMS = int(os.environ.get("CRUCIBLE_HUMANEVAL_PROBLEMS", "20"))
MAX_TOKENS = 384  # a HumanEval function body fits; a model that loops is cut here


async def complete(model: LocalServer, prompt: str, *, temperature: float, seed: int) -> str:
    """The function to complete, with a one-line request."""
    return await achat(
        model.base_url,
        model.model,
        complete_messages(prompt),
        temperature=temperature,
        seed=seed,
        max_tokens=MAX_TOKENS,
    )


async def code_only(model: LocalServer, prompt: str, *, temperature: float, seed: int) -> str:
    """The same, asking for the whole function in one code block and nothing else."""
    return await achat(
        model.base_url,
        model.model,
        code_only_messages(prompt),
        temperature=temperature,
        seed=seed,
        max_tokens=MAX_TOKENS,
    )


coding = crucible.Experiment(
    name="humaneval-prompting",
    description="Does asking for code only help SmolLM2-135M pass HumanEval's tests?",
    dataset=humaneval(sample=PROBLEMS, seed=0),
    conditions={"complete": complete, "code_only": code_only},
    baseline="complete",
    metrics={
        # pass@1 and pass@5: the chance that 1 (or 5) sampled answers include a passing one,
        # the unbiased estimator over each problem's repeats (docs/aggregates.md)
        "passed": crucible.Metric(
            kind="binary",
            description="the code passed the tests",
            aggregate=("mean", "pass@1", "pass@5"),
        ),
        "latency_s": crucible.Metric(lower_is_better=True, unit="s"),
    },
    repeat=5,
    seed=42,
    concurrency=4,
    config=crucible.ConfigSchema(
        temperature=crucible.Field(
            "float", default=0.8, min=0.0, max=2.0, description="sampling temperature"
        ),
        timeout_s=crucible.Field(
            "float", default=10.0, min=1.0, description="seconds each program may run"
        ),
    ),
)


@coding.trial
async def test_humaneval(condition, item, trial, local_model):
    answer = await condition(
        local_model,
        item.input["prompt"],
        temperature=trial.config["temperature"],
        seed=trial.seed,
    )
    latency_s = trial.latency_s
    code = extract_code(answer, entry_point=item.input["entry_point"])
    trial.artifact("completion.py", code)
    # the sandbox waits on a child process: in a thread, so other trials keep running
    result = await asyncio.to_thread(
        humaneval_check, item, code, timeout_s=trial.config["timeout_s"]
    )
    result.log_to(trial)
    trial.record(passed=result.passed, latency_s=latency_s)
