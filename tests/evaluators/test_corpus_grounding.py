"""The grounding and citations evaluators on the hand-labelled corpus: each holds its README accuracy,
precision and recall.

A case is positive when a careful reader would fail the answer (a fact the documents do not support, a
citation that points nowhere or at the wrong document); precision and recall are those of catching it.
Run this file with `-s` to print the table the README reports, and the cases each evaluator gets wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from apps.evaluators.checks import run_check
from apps.evaluators.subject import Document, Subject

CORPUS = Path(__file__).parent / "corpus"
KINDS = ("grounding", "citations")
# The floors the README reports (measured on the corpus, rounded down); raise them when the checks improve.
FLOORS = {
    "grounding": {"accuracy": 0.93, "precision": 0.96, "recall": 0.90},
    "citations": {"accuracy": 0.98, "precision": 1.00, "recall": 0.97},
}


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled answer."""

    id: str
    kind: str
    lang: str
    subject: Subject
    should_fail: bool
    config: dict


@dataclass(frozen=True, slots=True)
class Scores:
    """How an evaluator does on its cases."""

    cases: int
    accuracy: float
    precision: float
    recall: float
    wrong: tuple[str, ...]


@cache
def documents() -> dict[str, list[dict]]:
    """The named document sets the cases refer to."""
    return json.loads((CORPUS / "grounding_documents.json").read_text())


@cache
def corpus(kind: str) -> tuple[Case, ...]:
    """Load the kind's cases; a case's documents are a named set or a list of its own."""
    cases = []
    for line in (CORPUS / f"{kind}.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        docs = row["documents"]
        docs = documents()[docs] if isinstance(docs, str) else docs
        subject = Subject(
            trace_id=row["id"], output=row["answer"], documents=[Document(d["id"], d["content"]) for d in docs]
        )
        assert row["expect"] in ("pass", "fail"), row["id"]
        cases.append(Case(row["id"], row["kind"], row["lang"], subject, row["expect"] == "fail", row.get("config", {})))
    return tuple(cases)


def score(kind: str) -> Scores:
    """Run the evaluator over its corpus; a check that does not apply counts as passing the answer."""
    tp = fp = tn = fn = 0
    wrong = []
    for case in corpus(kind):
        result = run_check(kind, case.config, case.subject)
        flagged = result is not None and result.passed is False
        if flagged and case.should_fail:
            tp += 1
        elif flagged:
            fp += 1
            wrong.append(f"{case.id} (false alarm): {result.explanation if result else ''}")
        elif case.should_fail:
            fn += 1
            wrong.append(f"{case.id} (missed): {result.explanation if result else 'did not apply'}")
        else:
            tn += 1
    total = tp + fp + tn + fn
    return Scores(
        cases=total,
        accuracy=(tp + tn) / total,
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / (tp + fn) if tp + fn else 1.0,
        wrong=tuple(wrong),
    )


def test_corpus_is_large_varied_and_balanced() -> None:
    for kind in KINDS:
        cases = corpus(kind)
        assert len({c.id for c in cases}) == len(cases), "duplicate ids"
        assert all(c.kind == kind for c in cases)
        failing = sum(c.should_fail for c in cases)
        assert 0.3 < failing / len(cases) < 0.7, f"{kind}: {failing} of {len(cases)} cases should fail"
    assert len(corpus("grounding")) + len(corpus("citations")) >= 180
    assert {c.lang for c in corpus("grounding")} >= {"en", "es", "fr", "de", "pt", "it", "nl"}


@pytest.mark.parametrize("kind", KINDS)
def test_evaluator_holds_its_reported_floor(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    scores = score(kind)
    with capsys.disabled():
        print(
            f"\n{kind}: {scores.cases} cases, accuracy {scores.accuracy:.3f}, precision {scores.precision:.3f}, "
            f"recall {scores.recall:.3f}"
        )
        for line in scores.wrong:
            print("  " + line)
    floor = FLOORS[kind]
    assert scores.accuracy >= floor["accuracy"]
    assert scores.precision >= floor["precision"]
    assert scores.recall >= floor["recall"]
