"""An ensemble's votes over answers written differently, normalised by a scorer's answer
extraction, over real HTTP to the mock server."""

from __future__ import annotations

import pytest

from pytest_crucible.llm import OpenAICompatibleBackend
from pytest_crucible.scorers import gsm8k_answer
from pytest_crucible.strategies import ensemble
from pytest_crucible.testing import MockModelServer


def test_a_scorers_answer_extraction_normalises_the_votes() -> None:
    """Three models write the same number three ways over HTTP ("#### 1234", "The answer is
    1,234.", "... so $1234.00"); normalised by scorers.gsm8k_answer they are one vote, and the
    one model that is wrong is outvoted."""
    styles = {
        "hashes": "Adding up: 1000 + 234.\n#### {n}",
        "phrase": "The answer is {n:,}.",
        "dollars": "It costs 7 and 3 more, so ${n}.00",
    }

    def answer(request: dict[str, object]) -> str:
        model = str(request["model"])
        n = 1234 if model != "dollars" else 999  # the third model is wrong
        return styles[model].format(n=n)

    with (
        MockModelServer(answer=answer) as server,
        OpenAICompatibleBackend(server.base_url) as backend,
    ):
        raw = ensemble([(backend, m) for m in styles]).run("How much?")
        voted = ensemble([(backend, m) for m in styles], normalize=gsm8k_answer).run("How much?")
    assert raw.consensus == pytest.approx(1 / 3)  # three different texts, no agreement
    assert voted.answers == ["1234", "1234", "999"]
    assert (voted.answer, voted.consensus) == ("1234", pytest.approx(2 / 3))
    assert [m.raw for m in voted.members] == [
        styles["hashes"].format(n=1234),
        "The answer is 1,234.",
        "It costs 7 and 3 more, so $999.00",
    ]
