"""Where a store lives, as the user wrote it: a SQLite file path or a database URL.

The one owner of telling the two apart and of printing a location without its password
(a URL's password never reaches a log, a report, an error message or the environment
record; `PGPASSWORD` and `~/.pgpass` are read by libpq, never by us).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["DATABASE_SCHEMES", "is_database_url", "masked"]

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
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
        if "@" in netloc:
            credentials, host = netloc.rsplit("@", 1)
            user, has_password, _ = credentials.partition(":")
            netloc = f"{user}:{_MASK}@{host}" if has_password else netloc
        query = "&".join(
            f"{key}={_MASK}" if key.lower() == "password" else pair
            for pair in parts.query.split("&")
            if pair
            for key in [pair.partition("=")[0]]
        )
        shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
        return shown + (f"#{parts.fragment}" if parts.fragment else "")
    except ValueError:  # a URL urllib cannot split: show only its scheme
        return f"{text.partition('://')[0]}://{_MASK}"
