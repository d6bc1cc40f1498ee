"""The two prompt styles of the capitals example, as plain functions returning chat messages.

- `terse_messages`: the question alone (the model's chat template adds its default system
  prompt).
- `few_shot_messages`: a system message asking for one short sentence naming the capital,
  then worked examples as earlier chat turns, then the question. The example countries are
  not in `data/capitals.jsonl`.

Measured with SmolLM2-135M-Instruct at temperature 0 (`pytest_crucible.llm.local_server`):
terse 17/24, few_shot 22/24. Examples that answer with the bare city name ("Vienna") did worse
than terse (13-15/24): the small model loses its "The capital of X is" scaffold and fills in
a wrong name, so the examples answer in that sentence form.
"""

from __future__ import annotations

__all__ = ["FEW_SHOT_EXAMPLES", "FEW_SHOT_SYSTEM", "few_shot_messages", "terse_messages"]

FEW_SHOT_SYSTEM = (
    "You answer questions about world capitals. "
    "Reply with one short sentence that names the capital city."
)

FEW_SHOT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("What is the capital of Austria?", "The capital of Austria is Vienna."),
    ("What is the capital of Nigeria?", "The capital of Nigeria is Abuja."),
    ("What is the capital of Vietnam?", "The capital of Vietnam is Hanoi."),
)


def terse_messages(question: str) -> list[dict[str, str]]:
    """Just the question."""
    return [{"role": "user", "content": question}]


def few_shot_messages(question: str) -> list[dict[str, str]]:
    """An instruction, worked examples as chat turns, then the question."""
    messages = [{"role": "system", "content": FEW_SHOT_SYSTEM}]
    for example_question, example_answer in FEW_SHOT_EXAMPLES:
        messages.append({"role": "user", "content": example_question})
        messages.append({"role": "assistant", "content": example_answer})
    messages.append({"role": "user", "content": question})
    return messages
