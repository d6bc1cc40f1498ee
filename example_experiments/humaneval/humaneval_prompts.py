"""The two prompts of the HumanEval example, as functions returning chat messages.

- `complete_messages`: the function's signature and docstring with "Complete this Python
  function".
- `code_only_messages`: the same, asking for the whole function in one fenced block and
  nothing else (small models tend to explain instead of writing code).
"""

from __future__ import annotations

__all__ = ["code_only_messages", "complete_messages"]

CODE_ONLY = (
    "Reply with only the complete function in one ```python code block, with no explanation."
)


def complete_messages(prompt: str) -> list[dict[str, str]]:
    """The HumanEval prompt with a one-line request."""
    return [{"role": "user", "content": f"Complete this Python function:\n\n{prompt}"}]


def code_only_messages(prompt: str) -> list[dict[str, str]]:
    """The same request, then a short instruction to return only code."""
    content = f"Complete this Python function:\n\n{prompt}\n{CODE_ONLY}"
    return [{"role": "user", "content": content}]
