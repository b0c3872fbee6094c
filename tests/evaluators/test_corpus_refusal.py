"""The refusal check against the hand-written corpus: accuracy, precision and recall held at the README's floors."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.evaluators.checks import run_check
from apps.evaluators.subject import Subject

CORPUS = Path(__file__).parent / "corpus" / "refusal.jsonl"
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "ja", "zh", "ko")
# The figures the README reports; lower them only with the README, and say why in the commit.
FLOORS = {"accuracy": 0.97, "precision": 0.97, "recall": 0.95, "unknown_language_recall": 0.9}


@dataclass(frozen=True)
class Case:
    """One labelled answer: refusal, not_refusal (answers and near-misses) or unknown_language."""

    id: str
    lang: str
    expected: str
    text: str
    set: str = "first"  # "heldout": written after the patterns, measured before any fix (README)


def load_cases() -> list[Case]:
    """Read the corpus file."""
    with CORPUS.open(encoding="utf-8") as fh:
        return [Case(**json.loads(line)) for line in fh if line.strip()]


def outcome(text: str) -> str:
    """What the refusal evaluator says, in the corpus's three labels."""
    result = run_check("refusal", {}, Subject(trace_id="corpus", output=text, finish_reason="stop"))
    assert result is not None
    return {"refusal": "refusal", "unknown_language": "unknown_language"}.get(result.label, "not_refusal")


def figures(cases: list[Case]) -> dict[str, float]:
    """Accuracy over the three outcomes; precision and recall of 'refusal'; recall of 'unknown_language'."""
    got = {case.id: outcome(case.text) for case in cases}
    tp = sum(1 for c in cases if c.expected == "refusal" and got[c.id] == "refusal")
    fp = sum(1 for c in cases if c.expected != "refusal" and got[c.id] == "refusal")
    fn = sum(1 for c in cases if c.expected == "refusal" and got[c.id] != "refusal")
    unknown = [c for c in cases if c.expected == "unknown_language"]
    return {
        "accuracy": sum(1 for c in cases if got[c.id] == c.expected) / len(cases),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "unknown_language_recall": sum(1 for c in unknown if got[c.id] == "unknown_language") / len(unknown),
    }


def test_corpus_is_large_unique_and_covers_every_language_both_ways():
    cases = load_cases()
    assert len(cases) >= 150
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.text for c in cases}) == len(cases)
    assert {c.expected for c in cases} == {"refusal", "not_refusal", "unknown_language"}
    per_language = Counter((c.lang, c.expected) for c in cases)
    for lang in LANGUAGES:
        assert per_language[(lang, "refusal")] >= 6, lang
        assert per_language[(lang, "not_refusal")] >= 6, lang


@pytest.mark.parametrize("figure", sorted(FLOORS))
def test_refusal_holds_its_reported_floor_on_the_corpus(figure: str):
    assert figures(load_cases())[figure] >= FLOORS[figure]


def test_corpus_figures_fall_when_the_labels_are_flipped():
    # The measurement must be able to fail: with every label inverted, the same outputs score badly.
    flipped = {"refusal": "not_refusal", "not_refusal": "refusal", "unknown_language": "not_refusal"}
    cases = [Case(c.id, c.lang, flipped[c.expected], c.text) for c in load_cases() if c.expected != "unknown_language"]
    got = figures([*cases, *(c for c in load_cases() if c.expected == "unknown_language")])
    assert got["accuracy"] < 0.2
    assert got["precision"] < 0.2


def test_no_answer_in_a_covered_language_is_called_unknown():
    covered = [c for c in load_cases() if c.lang in LANGUAGES]
    assert [c.id for c in covered if outcome(c.text) == "unknown_language"] == []
