from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_crucible.declare.conditions import Condition, code_identity
from pytest_crucible.llm.solvers import (
    Chain,
    ChainError,
    Limits,
    SolverError,
    TaskState,
    as_condition,
    generate,
    prompt_template,
    system_message,
    use_tools,
)

from .scripted import ScriptedBackend


def add(a: int, b: int) -> int:
    return a + b


def qa_chain(template: str = "Q: {prompt}") -> Chain:
    return Chain(system_message("Be brief."), prompt_template(template), generate(), name="qa")


def test_the_condition_is_an_async_function_with_a_name_and_source() -> None:
    condition = as_condition(qa_chain(), ScriptedBackend(), "m")
    assert inspect.iscoroutinefunction(condition)
    assert condition.__name__ == condition.__qualname__ == "qa"
    source = inspect.getsource(condition)
    assert source.startswith("async def qa(input, *, seed=None")
    assert "system_message('Be brief.')" in source and "prompt_template('Q: {prompt}')" in source
    assert as_condition(Chain(generate()), ScriptedBackend(), "m", name="my chain!").__name__ == (
        "my_chain_"
    )


def test_condition_accepts_it_and_calls_it() -> None:
    backend = ScriptedBackend("Paris")
    condition = Condition(as_condition(qa_chain(), backend, "m"), name="qa")
    assert condition.is_async
    assert asyncio.run(condition("Capital of France?")) == "Paris"
    assert backend.texts(0) == [("system", "Be brief."), ("user", "Q: Capital of France?")]


def test_seed_params_target_and_metadata_reach_the_call() -> None:
    backend = ScriptedBackend("x")
    chain = Chain(prompt_template("{prompt} ({lang})"), generate())
    condition = Condition(
        as_condition(chain, backend, "m", temperature=0.2, max_tokens=99, return_state=True),
        params={"temperature": 0.9},
    )
    state = asyncio.run(condition("q", seed=7, target="t", metadata={"lang": "fr"}))
    assert isinstance(state, TaskState) and (state.target, state.completion) == ("t", "x")
    request = backend.requests[0]
    assert (request.seed, request.temperature, request.max_tokens) == (7, 0.9, 99)
    assert request.messages[-1].content == "q (fr)"


def test_a_failing_chain_fails_the_condition_call() -> None:
    condition = as_condition(
        Chain(generate(), generate(), name="two"),
        ScriptedBackend("a", "b"),
        "m",
        limits=Limits(max_model_calls=1),
    )
    with pytest.raises(ChainError, match="chain 'two' stopped: solver 'generate' raised Limit"):
        asyncio.run(condition("q"))


def test_raise_on_error_false_returns_what_there_is() -> None:
    backend = ScriptedBackend("a", "b")
    condition = as_condition(
        Chain(generate(), generate()),
        backend,
        "m",
        limits=Limits(max_model_calls=1),
        raise_on_error=False,
        return_state=True,
    )
    state = asyncio.run(condition("q"))
    assert state.completion == "a" and state.error is not None


def test_a_single_solver_is_wrapped_in_a_chain() -> None:
    async def boom(state: TaskState, generate: object) -> TaskState:
        raise RuntimeError("bad")

    condition = as_condition(boom, ScriptedBackend(), "m", name="single")
    with pytest.raises(ChainError, match=r"solver '.*boom' raised RuntimeError: bad"):
        asyncio.run(condition("q"))


def test_unknown_parameters_fail_early() -> None:
    with pytest.raises(Exception, match="unknown generate parameter"):
        as_condition(qa_chain(), ScriptedBackend(), "m", temprature=1.0)
    condition = as_condition(qa_chain(), ScriptedBackend("x"), "m")
    with pytest.raises(Exception, match="condition qa: unknown generate parameter"):
        asyncio.run(condition("q", colour="red"))


def identity(condition: object) -> str:
    return Condition(condition, name="c").identity  # type: ignore[arg-type]


def test_identity_follows_what_the_chain_does() -> None:
    backend = ScriptedBackend()
    same = identity(as_condition(qa_chain(), backend, "m"))
    assert identity(as_condition(qa_chain(), ScriptedBackend(), "m")) == same
    changed = [
        as_condition(qa_chain("Question: {prompt}"), backend, "m"),  # a template edited
        as_condition(qa_chain(), backend, "other-model"),
        as_condition(qa_chain(), backend, "m", temperature=0.5),
        as_condition(qa_chain(), backend, "m", limits=Limits(max_turns=3)),
        as_condition(Chain(use_tools(add), *qa_chain().solvers, name="qa"), backend, "m"),
    ]
    identities = {identity(c) for c in changed}
    assert len(identities) == len(changed) and same not in identities


def test_identity_follows_a_tools_code(tmp_path: Path) -> None:
    def make(body: str) -> str:
        module = tmp_path / f"tool_{abs(hash(body))}.py"
        module.write_text(f"def add(a: int, b: int) -> int:\n    return {body}\n")
        namespace: dict[str, object] = {}
        exec(compile(module.read_text(), str(module), "exec"), namespace)
        chain = Chain(use_tools(namespace["add"]), generate(), name="calc")  # type: ignore[arg-type]
        return code_identity(as_condition(chain, ScriptedBackend(), "m"))

    assert make("a + b") != make("a + b + 1")


def test_identity_is_the_same_in_another_process(tmp_path: Path) -> None:
    (tmp_path / "chain_def.py").write_text(
        textwrap.dedent(
            """
            from pytest_crucible.declare.conditions import Condition
            from pytest_crucible.llm.solvers import (
                Chain, as_condition, chain_of_thought, generate, use_tools,
            )

            class Backend:
                name = "scripted"
                def generate(self, request): raise NotImplementedError
                async def agenerate(self, request): raise NotImplementedError

            def add(a: int, b: int) -> int:
                return a + b

            chain = Chain(chain_of_thought(), use_tools(add), generate(), name="calc")
            print(Condition(as_condition(chain, Backend(), "m"), name="c").identity)
            """
        )
    )
    runs = [
        subprocess.run(
            [sys.executable, "chain_def.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and len(runs[0].strip()) == 16


def test_the_backend_can_come_with_the_call() -> None:
    condition = as_condition(qa_chain(), None, "m")
    with pytest.raises(SolverError, match="condition qa has no backend: pass one"):
        asyncio.run(condition("q"))
    backend = ScriptedBackend("from the call")
    assert asyncio.run(condition("q", backend=backend)) == "from the call"
    assert backend.requests[0].model == "m"
    default, override = ScriptedBackend(), ScriptedBackend("override")
    assert asyncio.run(as_condition(qa_chain(), default, "m")("q", backend=override)) == "override"
    assert default.requests == []
