"""`crucible serve`: the web dashboard of a store (docs/dashboard.md).

Experiments and their runs, a live run (progress per condition, the log stream, trials as
they are stored), a finished run's results. It reads the store while pytest writes it, from
this machine or any other (PostgreSQL). It binds 127.0.0.1 by default; another address needs
a token (--token TOKEN, $CRUCIBLE_TOKEN, or --token auto to have one made), which every
request must carry. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

from pytest_crucible.cli._store import StoreLocation
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store.locations import may_exist

__all__ = ["add_parser"]

TOKEN_ENV = "CRUCIBLE_TOKEN"
_AUTO = "auto"
_MIN_TOKEN = 16
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~-]+")


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "serve",
        parents=[shared],
        help="the web dashboard: experiments, runs, a live run, results",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only; any other "
        "needs --token)",
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="the port (default 8765; 0: any free port)"
    )
    parser.add_argument(
        "--project",
        default=None,
        metavar="PATH",
        help="the project root: its test files' experiments are listed too, and runs may be "
        "started from them (default: only the stored runs are shown)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"the token every request must carry (default ${TOKEN_ENV}); `auto` makes one "
        "and prints it",
    )
    parser.set_defaults(handler=_serve)


def _serve(options: argparse.Namespace) -> int:
    from pytest_crucible.console.web.server import require_serve_extra, serve

    require_serve_extra()
    token = _token(options.token, options.host)
    location = StoreLocation.of(getattr(options, "store", None))
    project = _project(options.project)
    listening = _bind(options.host, options.port)
    app = _app(location, project, token)
    try:
        _announce(listening, token, location, project)
        serve(app, listening)
    except KeyboardInterrupt:  # Ctrl-C is how a dashboard ends, even while it starts
        pass
    finally:
        listening.close()
    print("crucible: dashboard stopped", file=sys.stderr)
    return 0


def _token(given: str | None, host: str) -> str | None:
    """The token requests must carry: --token, else $CRUCIBLE_TOKEN; `auto` makes one. A host
    other than loopback without one is refused."""
    from pytest_crucible.console.web.security import loopback

    token = (given if given is not None else os.environ.get(TOKEN_ENV, "")).strip() or None
    source = "--token" if given is not None else f"${TOKEN_ENV}"
    if token == _AUTO:
        return secrets.token_urlsafe(24)
    if token is None:
        if loopback(host):
            return None
        raise CrucibleError(
            f"--host {host} lets other machines reach the dashboard: give it a token, "
            f"--token auto (one is made and printed), --token TOKEN or ${TOKEN_ENV}; or "
            "keep the default --host 127.0.0.1"
        )
    if len(token) < _MIN_TOKEN or not _TOKEN_SHAPE.fullmatch(token):
        raise CrucibleError(
            f"{source}: a token needs {_MIN_TOKEN} or more characters of A-Z a-z 0-9 . _ ~ - "
            "(a guessable token protects nothing); give --token auto to have one made"
        )
    return token


def _project(given: str | None) -> Path | None:
    if given is None:
        return None
    root = Path(given).expanduser().resolve()
    if not root.is_dir():
        raise CrucibleError(f"--project {given}: no such folder; give the project's root folder")
    return root


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a taken port is a clear message."""
    if not 0 <= port <= 65535:
        raise CrucibleError(f"--port {port}: give a port from 1 to 65535 (0: any free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise CrucibleError(f"--host {host}: not an address of this machine ({exc})") from None
    listening = socket.socket(family, kind, proto)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
    except OSError as exc:
        listening.close()
        raise CrucibleError(
            f"cannot listen on {host}:{port}: {exc.strerror}; another program (maybe another "
            "`crucible serve`) uses it: give --port N, or --port 0 for any free port"
        ) from None
    listening.listen(128)
    return listening


def _app(location: StoreLocation, project: Path | None, token: str | None) -> Any:
    from pytest_crucible.console.web.app import create_app

    return create_app(
        location.location,
        project_root=project,
        token=token,
        steering=_steering(location, project),
        side_folder=location.side_folder,
    )


def _steering(location: StoreLocation, project: Path | None) -> Any:
    """The console's Steering of the project (experiments in its test files), when a
    project is given and console/steer.py is there."""
    if project is None:
        return None
    name = "pytest_crucible.console.steer"
    try:
        steer = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
    return steer.Steering(location.location, project)


def _announce(
    listening: socket.socket, token: str | None, location: StoreLocation, project: Path | None
) -> None:
    host, port = listening.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{port}/" + (f"?token={token}" if token else "")
    print(f"crucible: dashboard at {address}", flush=True)
    print(f"crucible: store {location.shown} ({location.describe()})", flush=True)
    if not may_exist(location.location):
        print(
            f"crucible: no store at {location.shown} yet; runs appear once `pytest --crucible` "
            "stores one",
            flush=True,
        )
    if project is not None:
        print(f"crucible: experiments of the test files under {project}", flush=True)
    print("crucible: Ctrl-C stops it", flush=True)
