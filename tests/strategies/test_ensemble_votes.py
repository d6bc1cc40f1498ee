"""The votes of an ensemble and when a sequential run may stop, on ballots directly; an
ensemble's identity as a condition."""

from __future__ import annotations

import itertools

import pytest

from pytest_crucible.declare.conditions import Condition
from pytest_crucible.errors import StrategyError
from pytest_crucible.llm import OpenAICompatibleBackend
from pytest_crucible.strategies import ensemble
from pytest_crucible.strategies._ensemble_vote import Ballot, decided, tally


def ballots(*answers: str | None, weights: tuple[float, ...] = ()) -> list[Ballot]:
    return [Ballot(i, a, None, weights[i] if weights else 1.0) for i, a in enumerate(answers)]


def test_majority_counts_and_reports_the_share_agreeing() -> None:
    outcome = tally("majority", ballots("7", "8", "7", None, "7"))
    assert outcome.answer == "7"
    assert outcome.consensus == 3 / 4  # the member with no answer does not vote
    assert outcome.votes == {"7": 3.0, "8": 1.0}


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_a_majority_tie_goes_to_the_earliest_member_whatever_the_arrival_order(
    order: tuple[int, ...],
) -> None:
    given = ballots("B", "A", "A", "B")
    arrived = [given[i] for i in order]
    assert tally("majority", arrived).answer == "B"  # member 0 said B
    assert tally("majority", ballots("A", "B", "B", "A")).answer == "A"


def test_weighted_votes_add_weights_and_ties_go_to_the_earliest_member() -> None:
    assert tally("weighted", ballots("A", "B", "B", weights=(3, 1, 1))).answer == "A"
    assert tally("weighted", ballots("A", "B", "B", weights=(1, 1, 1))).answer == "B"
    assert tally("weighted", ballots("A", "B", weights=(2, 2))).answer == "A"
    assert tally("weighted", ballots("B", "A", weights=(2, 2))).answer == "B"


def test_best_confidence_takes_the_most_confident_member() -> None:
    votes = [Ballot(0, "A", 0.6), Ballot(1, "B", 0.9), Ballot(2, "A", 0.7), Ballot(3, "C", None)]
    outcome = tally("best_confidence", votes)
    assert outcome.answer == "B"
    assert outcome.consensus == 1 / 4
    tied = [Ballot(0, "A", 0.9), Ballot(1, "B", 0.9)]
    assert tally("best_confidence", tied).answer == "A"
    with pytest.raises(StrategyError, match="no member gave a confidence"):
        tally("best_confidence", [Ballot(0, "A", None)])


def test_unanimous_gives_no_answer_when_members_disagree() -> None:
    assert tally("unanimous", ballots("A", "A", "A")).answer == "A"
    split = tally("unanimous", ballots("A", "B", "A"))
    assert split.answer is None
    assert split.consensus == 2 / 3
    assert tally("majority", ballots(None, None)).answer is None


def test_a_majority_of_three_is_decided_when_the_first_two_agree() -> None:
    rest = [Ballot(2, None, None)]
    assert decided("majority", ballots("A", "A"), rest)
    assert not decided("majority", ballots("A", "B"), rest)


def test_a_majority_of_five_needs_three_of_a_kind_or_no_way_back() -> None:
    def rest(called: int) -> list[Ballot]:
        return [Ballot(i, None, None) for i in range(called, 5)]

    assert not decided("majority", ballots("A", "A"), rest(2))
    assert decided("majority", ballots("A", "A", "A"), rest(3))
    assert not decided("majority", ballots("A", "B", "A", "B"), rest(4))
    assert decided("majority", ballots("A", "B", "A", "A"), rest(4))
    # two of five agree and three more could all say a new answer: not decided
    assert not decided("majority", ballots("A", "A", "B"), rest(3))


def test_weighted_unanimous_and_confidence_runs_stop_when_nothing_can_change() -> None:
    heavy = [Ballot(0, "A", None, 5.0)]
    assert decided("weighted", heavy, [Ballot(1, None, None, 2.0), Ballot(2, None, None, 2.0)])
    assert not decided("weighted", heavy, [Ballot(1, None, None, 3.0), Ballot(2, None, None, 3.0)])
    assert decided("unanimous", ballots("A", "B"), [Ballot(2, None, None)])
    assert not decided("unanimous", ballots("A", "A"), [Ballot(2, None, None)])
    assert decided("best_confidence", [Ballot(0, "A", 1.0)], [Ballot(1, None, None)])
    assert not decided("best_confidence", [Ballot(0, "A", 0.9)], [Ballot(1, None, None)])
    assert decided("majority", ballots("A", "B"), [])


def test_an_ensembles_identity_as_a_condition_follows_its_members_and_vote() -> None:
    """Trial keys (and so --crucible-resume) see a change of members or vote."""
    backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1")

    def identity(**kwargs: object) -> str:
        members = kwargs.pop("members", [(backend, "m1"), (backend, "m2"), (backend, "m3")])
        return Condition(ensemble(members, **kwargs), name="ens").identity  # type: ignore[arg-type]

    assert identity() == identity()
    assert identity() != identity(members=[(backend, "m1"), (backend, "m2")])
    assert identity() != identity(vote="unanimous")
    assert identity() != identity(execution="sequential")
    assert identity() != identity(normalize=str.strip)
    assert identity() != identity(weights=[1, 1, 2])
