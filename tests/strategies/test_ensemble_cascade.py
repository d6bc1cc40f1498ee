"""A cascade escalates while its members disagree, over real HTTP to the mock server: with no
confidence to go by, it stops as soon as the members called agree (min_agreement), and calls
the next (dearer) member when they do not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_crucible.llm import OpenAICompatibleBackend
from pytest_crucible.strategies import ensemble
from pytest_crucible.testing import Accuracy, MockModelServer

from .helpers import expected, run_many

ACCURACY = Accuracy({"cheap": 0.6, "middle": 0.6, "dear": 0.9}, seed=21)


@pytest.fixture(scope="module")
def backend() -> Iterator[OpenAICompatibleBackend]:
    with (
        MockModelServer(answers=ACCURACY) as server,
        OpenAICompatibleBackend(server.base_url) as running,
    ):
        yield running


def test_a_cascade_escalates_exactly_when_the_members_called_disagree(
    backend: OpenAICompatibleBackend,
) -> None:
    members = [(backend, "cheap"), (backend, "middle"), (backend, "dear")]
    results = run_many(ensemble(members, execution="cascade"), range(120))
    agreed = [r for r in results if r.members_called == 2]
    escalated = [r for r in results if r.members_called == 3]
    assert agreed and escalated, "120 items at p=0.6 gave no agreement or no disagreement"
    assert len(agreed) + len(escalated) == len(results)  # one answer is never enough alone
    for result in agreed:
        assert result.answers[0] == result.answers[1]
        assert result.stop_reason == "cascade: consensus 1.00 >= 1 after 2 of 3 members"
    for result in escalated:
        assert result.answers[0] != result.answers[1]
        assert result.stop_reason.startswith("all 3 members called")
        # a tie of the first two broken by the third: the majority of three
        assert result.answer == result.answers[2]


def test_a_lower_agreement_threshold_stops_earlier(backend: OpenAICompatibleBackend) -> None:
    """Four members, min_agreement 0.6: three answers of which two agree (0.67) stop the
    cascade at the third member; two that disagree (0.5) escalate."""
    members = [(backend, "cheap"), (backend, "middle"), (backend, "middle"), (backend, "dear")]
    ens = ensemble(members, execution="cascade", min_agreement=0.6)
    results = run_many(ens, range(120))
    for i, result in enumerate(results):
        first, second = result.answers[:2]
        if first == second:
            assert result.members_called == 2
        else:
            assert result.members_called == 3  # any third answer agrees with one of the two
            assert result.stop_reason == "cascade: consensus 0.67 >= 0.6 after 3 of 4 members"
        assert result.answer in (expected(i), "WRONG")
    assert {r.members_called for r in results} == {2, 3}
