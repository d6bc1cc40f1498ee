"""What never leaves the MCP server: database passwords and API keys.

The read side masks what it knows to be secret (store URLs, environment records); this is
the last net at the protocol's edge, for a secret that reached a result some other way (a
command line quoted by a launch, an error message, a trial's output that echoed a key).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pytest_crucible.store.locations import is_database_url, masked_in

__all__ = ["MASK", "Scrubber"]

MASK = "***"
# environment variables whose values are credentials: OPENAI_API_KEY, PGPASSWORD, HF_TOKEN...
_CREDENTIAL_NAME = re.compile(r"key|token|secret|passw|credential", re.IGNORECASE)
# shorter values are left alone: masking every "test" or "1" would corrupt results, and no
# real credential is that short
_MIN_SECRET = 8


@dataclass(frozen=True)
class Scrubber:
    """Replaces each of `secrets` (longest first) by `***`, and masks database URLs."""

    secrets: tuple[str, ...]

    @classmethod
    def from_environment(
        cls, store_location: str, environ: Mapping[str, str] | None = None
    ) -> Scrubber:
        """The secrets of this process: credential-named environment variables' values and
        the store URL's password."""
        environ = os.environ if environ is None else environ
        values = [v for name, v in environ.items() if _CREDENTIAL_NAME.search(name)]
        values.extend(_url_password(store_location))
        unique = {v.strip() for v in values if len(v.strip()) >= _MIN_SECRET}
        return cls(tuple(sorted(unique, key=len, reverse=True)))

    def scrub(self, value: Any) -> Any:
        """`value` (JSON-like: dicts, lists, strings, numbers) with every secret masked."""
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, Mapping):
            return {self.scrub_text(str(k)): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value

    def scrub_text(self, text: str) -> str:
        text = masked_in(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def _url_password(location: str) -> list[str]:
    if not is_database_url(location):
        return []
    try:
        password = urlsplit(location).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []
