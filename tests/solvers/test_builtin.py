from __future__ import annotations

import asyncio

import pytest

from pytest_crucible.llm.solvers import (
    DEFAULT_COT_TEMPLATE,
    Chain,
    ChainError,
    Generate,
    SolverError,
    TaskState,
    TemplateError,
    chain_of_thought,
    generate,
    prompt_template,
    self_critique,
    system_message,
)
from pytest_crucible.llm.types import ChatMessage

from .scripted import ScriptedBackend


def run(chain: Chain, state: TaskState, backend: ScriptedBackend, **params: object) -> TaskState:
    return asyncio.run(chain(state, Generate(backend, "m", **params)))


def test_system_message_goes_first_and_is_sent() -> None:
    backend = ScriptedBackend("ok")
    state = Chain(system_message("You are terse."), generate()).run_sync("Hi", backend, "m")
    assert backend.texts(0) == [("system", "You are terse."), ("user", "Hi")]
    assert state.completion == "ok"


def test_system_messages_keep_their_order_after_existing_ones() -> None:
    state = TaskState([{"role": "system", "content": "one"}, {"role": "user", "content": "q"}])
    state = run(Chain(system_message("two"), system_message("three")), state, ScriptedBackend())
    assert [m.content for m in state.messages] == ["one", "two", "three", "q"]


def test_system_message_fills_metadata_and_params() -> None:
    state = TaskState("q", metadata={"lang": "French"})
    chain = Chain(system_message("Answer in {lang}, {style}.", style="briefly"))
    state = run(chain, state, ScriptedBackend())
    assert state.messages[0].content == "Answer in French, briefly."


def test_prompt_template_fills_prompt_metadata_and_params() -> None:
    backend = ScriptedBackend("Paris")
    chain = Chain(
        prompt_template("Q: {prompt}\nTopic: {topic}\nFormat: {fmt}", fmt="one word"), generate()
    )
    state = chain.run_sync("Capital of France?", backend, "m", metadata={"topic": "geo"})
    assert backend.texts(0) == [("user", "Q: Capital of France?\nTopic: geo\nFormat: one word")]
    assert state.input == "Capital of France?"  # the input stays as it was given


def test_a_missing_template_field_names_it_and_the_fields_there_are() -> None:
    chain = Chain(prompt_template("{prompt} in {language}"), generate())
    state = chain.run_sync(
        "q", ScriptedBackend(), "m", metadata={"topic": "x"}, raise_on_error=False
    )
    assert state.error is not None and state.error.solver == "prompt_template"
    message = str(state.error.exception)
    assert isinstance(state.error.exception, TemplateError)
    assert "{language}" in message and "['prompt', 'topic']" in message


@pytest.mark.parametrize(
    ("template", "expected"),
    [("{} and {prompt}", "positional field"), ("{prompt", "cannot parse"), ("{0}", "positional")],
)
def test_bad_templates_fail_when_the_solver_is_made(template: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        prompt_template(template)
    with pytest.raises(TemplateError, match=expected):
        system_message(template)


def test_literal_braces_are_doubled() -> None:
    state = run(
        Chain(prompt_template('{prompt} as {{"json": true}}')), TaskState("q"), ScriptedBackend()
    )
    assert state.user_prompt == 'q as {"json": true}'


def test_generate_sends_its_parameters_over_the_defaults() -> None:
    backend = ScriptedBackend("a", "b")
    chain = Chain(generate(temperature=0.7, max_tokens=50), generate(stop=["\n"]))
    state = chain.run_sync("q", backend, "m", temperature=0.1, seed=3)
    first, second = backend.requests
    assert (first.model, first.temperature, first.max_tokens, first.seed) == ("m", 0.7, 50, 3)
    assert (second.temperature, second.max_tokens, second.stop) == (0.1, 256, ("\n",))
    assert [m.role for m in second.messages] == ["user", "assistant"]
    assert (state.completion, state.model_calls, state.usage.total_tokens) == ("b", 2, 30)


def test_generate_rejects_unknown_parameters_when_made() -> None:
    with pytest.raises(SolverError, match=r"unknown generate parameter\(s\) \['temprature'\]"):
        generate(temprature=0.5)


def test_generate_reports_invalid_parameter_values() -> None:
    chain = Chain(generate(temperature="hot"))
    with pytest.raises(ChainError, match="temperature") as caught:
        chain.run_sync("q", ScriptedBackend("x"), "m")
    assert isinstance(caught.value.__cause__, SolverError)


def test_generate_needs_a_backend() -> None:
    with pytest.raises(SolverError, match="is not a backend"):
        Generate(object(), "m")  # type: ignore[arg-type]


def test_chain_of_thought_rewrites_the_prompt() -> None:
    backend = ScriptedBackend("... ANSWER: 4")
    Chain(chain_of_thought(), generate()).run_sync("What is 2 + 2?", backend, "m")
    sent = backend.requests[0].messages[-1].content
    assert sent == DEFAULT_COT_TEMPLATE.format(prompt="What is 2 + 2?")
    assert sent.startswith("What is 2 + 2?") and "step" in sent and "ANSWER:" in sent


def test_chain_of_thought_takes_a_template_with_prompt() -> None:
    state = run(Chain(chain_of_thought("{prompt} Think hard.")), TaskState("q"), ScriptedBackend())
    assert state.user_prompt == "q Think hard."
    with pytest.raises(TemplateError, match="must contain \\{prompt\\}"):
        chain_of_thought("Think hard.")


def test_self_critique_critiques_then_revises() -> None:
    backend = ScriptedBackend("5", "Wrong: 2 + 2 is 4.", "4")
    chain = Chain(generate(), self_critique())
    state = chain.run_sync("What is 2 + 2?", backend, "m")
    _, critique, revision = backend.requests
    assert backend.texts(0) == [("user", "What is 2 + 2?")]
    # The critique is a conversation of its own, holding the question and the answer.
    assert len(critique.messages) == 1 and critique.messages[0].role == "user"
    assert "What is 2 + 2?" in critique.messages[0].content and "5" in critique.messages[0].content
    # The revision continues the conversation with the critique in it.
    roles = [m.role for m in revision.messages]
    assert roles == ["user", "assistant", "user"]
    assert "Wrong: 2 + 2 is 4." in revision.messages[-1].content
    assert state.store["critique"] == "Wrong: 2 + 2 is 4."
    assert (state.completion, state.model_calls, len(state.messages)) == ("4", 3, 4)


def test_self_critique_custom_templates() -> None:
    backend = ScriptedBackend("a1", "c1", "a2")
    chain = Chain(
        generate(),
        self_critique("Judge {completion} for {question} ({topic})", "Fix per: {critique}"),
    )
    chain.run_sync("Q", backend, "m", metadata={"topic": "t"})
    assert backend.requests[1].messages[0].content == "Judge a1 for Q (t)"
    assert backend.requests[2].messages[-1] == ChatMessage(role="user", content="Fix per: c1")


def test_self_critique_needs_an_answer_first() -> None:
    with pytest.raises(ChainError, match=r"self_critique.*put generate\(\) before it"):
        Chain(self_critique()).run_sync("q", ScriptedBackend(), "m")
