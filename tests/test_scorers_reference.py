"""Scorers against published reference values: BLEU and chrF against sacrebleu's own
documented examples (its README and its test suite), SQuAD's F1 and exact match against
values worked out by hand from the official v1.1 evaluation script's definition."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_crucible import scorers
from pytest_crucible.errors import ScorerError

# sacrebleu's README ("Using SacreBLEU from Python"): three system sentences, two reference
# streams. Our layout is one entry per output, each with its references.
SYSTEM = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
STREAMS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
PER_OUTPUT = [list(refs) for refs in zip(*STREAMS, strict=True)]


def test_corpus_bleu_and_chrf_match_sacrebleus_readme() -> None:
    # README: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ...)" and "chrF2 = 59.73"
    assert scorers.corpus_bleu(SYSTEM, PER_OUTPUT) == pytest.approx(48.53, abs=0.005)
    assert scorers.corpus_chrf(SYSTEM, PER_OUTPUT) == pytest.approx(59.73, abs=0.005)


def test_corpus_bleu_with_a_variable_number_of_references() -> None:
    # README, "Variable Number of References": the first sentence's first reference removed
    # gives "BLEU = 29.44 82.4/42.9/27.3/12.5"
    references: list[object] = [["The dog had bit the man."], *PER_OUTPUT[1:]]
    assert scorers.corpus_bleu(SYSTEM, references) == pytest.approx(29.44, abs=0.005)


# sacrebleu's test/test_sentence_bleu.py (example from its issue #98): sentence BLEU with
# exponential smoothing and effective order, 13a tokenisation: 8.493; char tokenisation:
# 40.8759, lower-cased: 42.0267; floor smoothing 0.1: 4.51688.
REF = "producţia de zahăr brut se exprimă în zahăr alb;"
SYS = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 8.493),
        ({"tokenize": "char"}, 40.8759),
        ({"tokenize": "char", "lowercase": True}, 42.0267),
        ({"smooth_method": "floor"}, 4.51688),
        ({"smooth_method": "add-k", "smooth_value": 2}, 21.389),
    ],
)
def test_sentence_bleu_matches_sacrebleus_tests(
    options: dict[str, object], expected: float
) -> None:
    assert scorers.bleu(SYS, [REF], **options) == pytest.approx(expected, abs=1e-3)
    assert scorers.bleu(SYS, REF, **options) == pytest.approx(expected, abs=1e-3)  # one text


# sacrebleu's test/test_chrf.py, sentence level with epsilon smoothing
CHRF_SENTENCES = [
    (
        "Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.",
        39.14078509,
    ),
    (
        "Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.",
        31.22557079,
    ),
    (
        "Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.",
        57.15704367,
    ),
]


@pytest.mark.parametrize(("hypothesis", "reference", "expected"), CHRF_SENTENCES)
def test_sentence_chrf_matches_sacrebleus_tests(
    hypothesis: str, reference: str, expected: float
) -> None:
    score = scorers.chrf(hypothesis, [reference], eps_smoothing=True)
    assert score == pytest.approx(expected, abs=1e-4)


def test_mt_scorers_edge_cases() -> None:
    assert scorers.bleu(None, "a reference") == 0.0
    assert scorers.chrf(None, "a reference") == 0.0
    assert scorers.bleu(SYS, REF) == scorers.bleu(SYS, [REF])
    with pytest.raises(ScorerError, match="one reference entry per output"):
        scorers.corpus_bleu(SYSTEM, PER_OUTPUT[:2])
    with pytest.raises(ScorerError, match="refused the options"):
        scorers.bleu("a", "a", no_such_option=1)


def test_a_missing_sacrebleu_is_named_with_the_extra_to_install() -> None:
    # a child process where `import sacrebleu` fails, as in an environment without the extra
    code = (
        "import sys; sys.modules['sacrebleu'] = None\n"
        "from pytest_crucible import scorers\n"
        "try:\n"
        "    scorers.bleu('a b', 'a b')\n"
        "except scorers.ScorerError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "needs sacrebleu" in done.stdout
    assert "pip install 'pytest-crucible[scorers]'" in done.stdout


# SQuAD v1.1 (official evaluate-v1.1.py): normalize_answer = lower, remove punctuation,
# remove the articles a/an/the, collapse whitespace; F1 over the Counter intersection of
# tokens; the best over the references. Expected values worked out by hand:
SQUAD_F1 = [
    # "the Denver Broncos" -> "denver broncos", the reference the same: P = R = 1, F1 = 1
    ("the Denver Broncos", ["Denver Broncos"], 1.0),
    # "Denver Broncos won" (3 tokens) vs "denver broncos" (2): 2 shared,
    # P = 2/3, R = 2/2 = 1, F1 = 2 * (2/3) * 1 / (2/3 + 1) = (4/3) / (5/3) = 0.8
    ("Denver Broncos won", ["Denver Broncos"], 0.8),
    # "the cat the cat sat" -> "cat cat sat" (3); "a cat sat on the mat" -> "cat sat on mat"
    # (4); Counter overlap: cat min(2, 1) = 1, sat 1 -> 2; P = 2/3, R = 2/4 = 1/2,
    # F1 = 2 * (1/3) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
    ("the cat the cat sat", ["a cat sat on the mat"], 4 / 7),
    # best of the references: vs "Broncos" (1 token): 1 shared of 2 predicted,
    # P = 1/2, R = 1, F1 = 2/3; vs "Denver Broncos": F1 = 1 -> 1
    ("Denver Broncos", ["Broncos", "Denver Broncos"], 1.0),
    # "Saint-Denis." -> "saintdenis" (punctuation removed, no space left): F1 = 1
    ("Saint-Denis.", ["SaintDenis"], 1.0),
    # no shared token -> 0
    ("Carolina Panthers", ["Denver Broncos"], 0.0),
    # an empty answer shares nothing -> 0, as the script returns
    ("", ["Denver Broncos"], 0.0),
    # only articles and punctuation: "The." -> "" -> 0
    ("The.", ["the"], 0.0),
    # "broncos broncos" (2) vs "denver broncos" (2): overlap min(2, 1) = 1, P = R = 1/2, F1 = 1/2
    ("Broncos broncos", ["Denver Broncos"], 0.5),
]


@pytest.mark.parametrize(("prediction", "references", "expected"), SQUAD_F1)
def test_token_f1_is_squads(prediction: str, references: list[str], expected: float) -> None:
    assert scorers.token_f1(prediction, references) == pytest.approx(expected, abs=1e-12)


def test_squad_exact_match_and_edges() -> None:
    assert scorers.squad_exact_match("The Denver Broncos!", "denver broncos")
    assert scorers.squad_exact_match("Saint-Denis", ["Paris", "SaintDenis"])
    assert not scorers.squad_exact_match("Denver Broncos won", "Denver Broncos")
    assert scorers.normalize_answer("  An Apple, the PIE ") == "apple pie"
    assert scorers.token_f1(None, "Denver Broncos") == 0.0
    assert scorers.token_f1("Denver Broncos", "Denver Broncos") == 1.0  # one text
    assert not scorers.squad_exact_match(None, "x")
