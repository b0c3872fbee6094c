"""The labelled session sequences (labelled_sessions.json) and the precision/recall/accuracy of each detector on them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apps.feedback.inference.detectors import (
    ABANDON,
    REGENERATE,
    REPHRASE,
    LexicalScorer,
    RephraseScorer,
    Windows,
    abandon_detect,
    regenerate_detect,
    rephrase_detect,
)
from apps.feedback.inference.text import input_key
from apps.traces.selectors import Turn

LABELLED_SESSIONS = Path(__file__).with_name("labelled_sessions.json")
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class LabelledSession:
    """One labelled sequence: its turns, when it is judged, and the expected signals by detector."""

    id: str
    group: str
    split: str  # "tuning" (the lexicon was written against it) or "holdout" (written after, never tuned on)
    turns: list[Turn]
    now: datetime
    expect: dict[str, set[int]]


def labelled_sessions_load(path: Path = LABELLED_SESSIONS) -> list[LabelledSession]:
    """Return the labelled sequences, their turns built as the selector would return them."""
    data = json.loads(path.read_text())
    answer = timedelta(seconds=data["defaults"]["answer_s"])
    sessions = []
    for item in data["sessions"]:
        turns = [
            Turn(
                trace_pk=index + 1,
                trace_id=f"{index + 1:032x}",
                started_at=EPOCH + timedelta(seconds=at),
                ended_at=EPOCH + timedelta(seconds=at) + answer,
                user_text=text,
            )
            for index, (at, text) in enumerate(item["turns"])
        ]
        after = item.get("now_after_last_s", data["defaults"]["now_after_last_s"])
        expect: dict[str, Any] = item.get("expect", {})
        sessions.append(
            LabelledSession(
                id=item["id"],
                group=item["group"],
                split=item.get("split", "tuning"),
                turns=turns,
                now=turns[-1].ended_at + timedelta(seconds=after),  # type: ignore[operator]
                expect={
                    REGENERATE: set(expect.get(REGENERATE, [])),
                    REPHRASE: set(expect.get(REPHRASE, [])),
                    ABANDON: set(expect.get(ABANDON, [len(turns) - 1])),
                },
            )
        )
    return sessions


def rephrase_candidate(turns: list[Turn], index: int, windows: Windows) -> bool:
    """Return whether turns index and index+1 are a pair the rephrase detector judges (near in time, not identical)."""
    earlier, later = turns[index], turns[index + 1]
    near = later.started_at - (earlier.ended_at or earlier.started_at) <= windows.rephrase
    return near and input_key(earlier.user_text) != input_key(later.user_text)


@dataclass
class Figures:
    """Confusion counts of one detector over its decisions, and the misjudged cases."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def decisions(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.decisions if self.decisions else 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "decisions": self.decisions,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "accuracy": round(self.accuracy, 3),
        }


def detectors_measure(
    *,
    scorer: RephraseScorer | None = None,
    windows: Windows | None = None,
    sessions: list[LabelledSession] | None = None,
    split: str | None = None,
) -> dict[str, Figures]:
    """Run each detector on every labelled sequence and count, per earlier turn, right and wrong calls.

    Regenerate decides once per consecutive pair of turns and abandon once per turn. Rephrase is counted only on
    the pairs it has to judge (near in time, different inputs): the others are trivially negative and would
    inflate its accuracy.
    """
    scorer = scorer or LexicalScorer()
    windows = windows or Windows()
    figures = {REGENERATE: Figures(), REPHRASE: Figures(), ABANDON: Figures()}
    for session in sessions if sessions is not None else labelled_sessions_load():
        if split is not None and session.split != split:
            continue
        found = {
            REGENERATE: regenerate_detect(session.turns, window=windows.regenerate),
            REPHRASE: rephrase_detect(session.turns, window=windows.rephrase, scorer=scorer),
            ABANDON: abandon_detect(session.turns, now=session.now, window=windows.abandon),
        }
        for kind, signals in found.items():
            got = {s.trace_pk - 1 for s in signals}
            if kind == ABANDON:
                candidates = list(range(len(session.turns)))
            elif kind == REGENERATE:
                candidates = list(range(len(session.turns) - 1))
            else:  # the pairs the rephrase detector has to judge, plus any it should have but did not consider
                candidates = [i for i in range(len(session.turns) - 1) if rephrase_candidate(session.turns, i, windows)]
                candidates = sorted(set(candidates) | session.expect[kind])
            for index in candidates:
                expected, flagged = index in session.expect[kind], index in got
                counts = figures[kind]
                if expected and flagged:
                    counts.tp += 1
                elif flagged:
                    counts.fp += 1
                    counts.errors.append(f"false {kind}: {session.id} turn {index}")
                elif expected:
                    counts.fn += 1
                    counts.errors.append(f"missed {kind}: {session.id} turn {index}")
                else:
                    counts.tn += 1
    return figures
