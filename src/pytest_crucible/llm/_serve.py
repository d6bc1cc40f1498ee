"""The child process behind `local_server()`: serve one GGUF model until stdin closes.

Run as a script by file path (`python .../_serve.py --model ...`); it imports nothing from
pytest_crucible. It starts xllamacpp's embedded llama.cpp server, prints one handshake line
(`READY_PREFIX` + JSON with the listening address) on stdout, then blocks reading stdin. When
the parent closes the pipe, or dies, stdin reaches EOF and the process ends with `os._exit`:
llama.cpp's own destructor is skipped on purpose, because it waits for requests in flight and
can block for ever; the operating system releases the socket, threads and memory at once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from typing import Any

READY_PREFIX = "CRUCIBLE-LOCAL-SERVER "


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ctx-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def _params(xllamacpp: Any, args: argparse.Namespace) -> Any:
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx_size
    params.n_parallel = args.parallel
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.sampling.temp = 0.0
    params.sampling.seed = args.seed
    params.verbosity = 3 if args.verbose else -1
    try:
        params.model_alias = {args.alias}
    except TypeError:  # older xllamacpp: a single string
        params.model_alias = args.alias
    return params


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(READY_PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import xllamacpp

        if args.port == 0 and not hasattr(xllamacpp.Server, "listening_address"):
            args.port = _free_port(args.host)  # older xllamacpp cannot report port 0's pick
        server = xllamacpp.Server(_params(xllamacpp, args))
    except Exception as exc:
        _say({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    address = getattr(server, "listening_address", "") or f"http://{args.host}:{args.port}"
    _say({"address": address, "pid": os.getpid()})
    sys.stdin.buffer.read()  # until the parent closes the pipe or exits
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
