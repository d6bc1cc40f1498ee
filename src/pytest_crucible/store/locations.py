"""Where a store lives, as the user wrote it: a SQLite file path or a database URL.

The one owner of telling the two apart and of printing a location without its password
(a URL's password never reaches a log, a report, an error message or the environment
record; `PGPASSWORD` and `~/.pgpass` are read by libpq, never by us).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "DATABASE_SCHEMES",
    "is_database_url",
    "masked",
    "masked_in",
    "masked_words",
    "may_exist",
    "quoted",
    "side_name",
    "without_password",
]

DATABASE_SCHEMES = ("postgresql", "postgres")
_MASK = "***"


def is_database_url(location: str | Path) -> bool:
    """True for `postgresql://...` (or `postgres://...`), False for a file path."""
    if isinstance(location, Path):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.lower() in DATABASE_SCHEMES


def masked(location: str | Path) -> str:
    """The location as it may be shown: a URL's password replaced by `***` (also a
    `password=` query parameter); a file path as it is."""
    if not is_database_url(location):
        return str(location)
    text = str(location)
    scheme, _, rest = text.partition("://")
    # the credentials run to the LAST "@": a password may hold an unencoded "/", "?", "#" or
    # "@" that urllib would read as the start of the path (over-masking is the safe error)
    credentials, at, after = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    shown_credentials = (f"{user}:{_MASK}" if has_password else user) + at
    try:
        parts = urlsplit(f"{scheme}://{after}")
        query = "&".join(
            f"{key}={_MASK}" if key.lower() == "password" else pair
            for pair in parts.query.split("&")
            if pair
            for key in [pair.partition("=")[0]]
        )
        shown = f"{scheme}://{shown_credentials}{parts.netloc}{parts.path}"
        shown += f"?{query}" if query else ""
        return shown + (f"#{parts.fragment}" if parts.fragment else "")
    except ValueError:  # a URL urllib cannot split: show only its scheme
        return f"{scheme}://{_MASK}"


# -- used by the layers above the store (issue 17, the wiring) --------------------------------

# a database URL inside any text: up to the next blank or quote (argv words, option labels)
_URL_IN_TEXT = re.compile(r"\b(?:postgresql|postgres)://[^\s'\"]+", re.IGNORECASE)


def masked_in(text: str) -> str:
    """`text` with every database URL in it masked (`masked`): for an argument such as
    `--crucible-store=postgresql://u:pw@h/db`, or a message quoting one."""
    return _URL_IN_TEXT.sub(lambda found: masked(found.group(0)), text)


def masked_words(words: list[str]) -> list[str]:
    """Command-line words with every database URL's password masked: the URL runs to the end
    of its word (`--crucible-store=postgresql://u:pw@h/db`, or the URL alone after a space),
    so a password with a blank or a quote in it is masked whole."""
    return [_masked_word(word) for word in words]


def _masked_word(word: str) -> str:
    found = _URL_IN_TEXT.search(word)
    return word if found is None else word[: found.start()] + masked(word[found.start() :])


def may_exist(location: str | Path) -> bool:
    """False only for a SQLite file that does not exist yet (nothing to read there); a
    database is asked when it is opened."""
    return is_database_url(location) or Path(location).exists()


def side_name(location: str | Path) -> str:
    """The name a store's side files are kept under in its side folder (journals: NAME
    .journals): a SQLite file's own name; for a database, its scheme, host, port and name
    (no user, no password), so two databases sharing a side folder never mix their files."""
    if not is_database_url(location):
        return Path(location).name
    parts = urlsplit(masked(location))
    words = (parts.scheme, parts.hostname or "local", str(parts.port or ""), parts.path.strip("/"))
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(w for w in words if w)).strip("-")


def quoted(location: str | Path) -> str:
    """The masked location as one shell word, for hints such as `crucible --store X import`
    (a masked URL's `***` must not reach the shell's globbing)."""
    return shlex.quote(masked(location))


def without_password(location: str | Path) -> str:
    """The location with a URL's password left out (not masked): a URL that still connects
    when the password comes from PGPASSWORD or ~/.pgpass, for code a reader runs (the
    notebook report). A file path as it is."""
    shown = masked(location).replace(f":{_MASK}@", "@", 1)
    return re.sub(rf"(?<=[?&])password={re.escape(_MASK)}(&|$)", "", shown).rstrip("?&")
