"""Model access: a local llama.cpp server and a minimal OpenAI-compatible chat client.

Nothing here imports xllamacpp until a server is started, so `import pytest_crucible.llm`
costs nothing when the `local` extra is not installed.
"""

from __future__ import annotations

from .local import LocalServer, find_model, local_server
from .openai_chat import Message, achat, chat

__all__ = ["LocalServer", "Message", "achat", "chat", "find_model", "local_server"]
