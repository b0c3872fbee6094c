"""Detectors of implicit feedback in a session's turns: regenerate, rephrase and abandon.

Pure functions of the turns (and, for rephrase, a similarity scorer): no database, no writes. Each signal is
attached to the EARLIER turn, the answer the user reacted to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Protocol

from apps.feedback.inference.text import WEAK_WORDS, Reading, input_key, lexical_similarity, read

if TYPE_CHECKING:
    from apps.traces.selectors import Turn

__all__ = [
    "InferredSignal",
    "LexicalScorer",
    "PairScore",
    "RephraseScorer",
    "Windows",
    "abandon_detect",
    "gap_text",
    "regenerate_detect",
    "rephrase_decide",
    "rephrase_detect",
]

REGENERATE: Final = "regenerate"
REPHRASE: Final = "rephrase"
ABANDON: Final = "abandon"
# A same-topic message that brings this much new content (weighted tokens) and points back ("it", "there") builds
# on the answer rather than restating the question.
FOLLOW_UP_NEW_CONTENT: Final = 1.0
LEXICAL_THRESHOLD: Final = 0.55


@dataclass(frozen=True)
class InferredSignal:
    """One inferred feedback signal on the earlier turn's trace."""

    kind: str  # regenerate, rephrase or abandon
    trace_pk: int
    trace_id: str
    reason: str  # "same input 14 s later"
    occurred_at: datetime
    value: float | None = None  # rephrase: the similarity that decided it


@dataclass(frozen=True)
class Windows:
    """How close in time a later turn must be for each signal (settings FEEDBACK_*_WINDOW_SECONDS)."""

    regenerate: timedelta = timedelta(minutes=10)
    rephrase: timedelta = timedelta(minutes=5)
    abandon: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class PairScore:
    """The similarity of two messages, the threshold that applies to it, and how it was measured."""

    similarity: float
    threshold: float
    method: str  # "lexical", "embeddings", or "lexical (embeddings failed: ...)"


class RephraseScorer(Protocol):
    """Scores message pairs for the rephrase detector (lexical, or an embeddings endpoint with a lexical fallback)."""

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[PairScore]:
        """Return one PairScore per (earlier, later) pair, in order."""
        ...


class LexicalScorer:
    """Score pairs by the weighted overlap of their lexical readings (apps/feedback/inference/text.py)."""

    method = "lexical"

    def __init__(self, threshold: float = LEXICAL_THRESHOLD) -> None:
        self.threshold = threshold

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[PairScore]:
        """Return the lexical similarity of each pair."""
        return [PairScore(lexical_similarity(read(a), read(b)), self.threshold, self.method) for a, b in pairs]


def gap_text(seconds: float) -> str:
    """Return a short human duration: "14 s", "3 min", "2 h", "2 d"."""
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _answered_at(turn: Turn) -> datetime:
    """Return when the turn's answer was complete (its start when the trace has no end yet)."""
    return turn.ended_at if turn.ended_at and turn.ended_at >= turn.started_at else turn.started_at


def _gap(earlier: Turn, later: Turn) -> float:
    """Return the seconds between the earlier answer and the later turn (never negative)."""
    return max((later.started_at - _answered_at(earlier)).total_seconds(), 0.0)


def _user_pairs(turns: Sequence[Turn], since: datetime | None = None) -> list[tuple[Turn, Turn]]:
    """Return consecutive pairs of turns that both carry a user message (turns without one are not user turns),
    only those whose later turn started at or after `since` when given."""
    spoken = [t for t in turns if t.user_text.strip()]
    pairs = zip(spoken, spoken[1:], strict=False)
    return [(a, b) for a, b in pairs if since is None or b.started_at >= since]


def regenerate_detect(
    turns: Sequence[Turn], *, window: timedelta, since: datetime | None = None
) -> list[InferredSignal]:
    """Return a regenerate signal for each turn whose same input was answered again within the window.

    With `since`, only later turns that started then or after are looked at (a run after new turns arrived).
    """
    signals = []
    for earlier, later in _user_pairs(turns, since):
        gap = _gap(earlier, later)
        if gap <= window.total_seconds() and input_key(earlier.user_text) == input_key(later.user_text):
            signals.append(
                InferredSignal(REGENERATE, earlier.trace_pk, earlier.trace_id, f"same input {gap_text(gap)} later",
                               later.started_at)
            )  # fmt: skip
    return signals


@dataclass(frozen=True)
class RephraseDecision:
    """Whether a later message restates the earlier one, and why (for the signal's reason and for tests)."""

    is_rephrase: bool
    why: str
    similarity: float | None = None


def _same_shape(a: Reading, b: Reading) -> bool:
    """Return whether b is a new request of a's shape: other numbers/quotes, or one content word swapped."""
    if (a.numbers or a.quotes or b.numbers or b.quotes) and (
        sorted(a.numbers) != sorted(b.numbers) or sorted(a.quotes) != sorted(b.quotes)
    ):
        return lexical_similarity(a, b) >= 0.5 or a.content == b.content
    left, right = a.content - b.content, b.content - a.content
    if len(left) == 1 and len(right) == 1 and a.content & b.content:
        (old,), (new,) = left, right
        # A plain word swapped in the same frame ("weather in Paris" / "in London", "basic plan" / "pro plan");
        # a concept swapped for another concept may be the same intent in other words, judged by similarity.
        return not (old.startswith("c_") and new.startswith("c_"))
    return False


def _points_back(reading: Reading) -> bool:
    """Return whether a message refers to something earlier ("it", "there"), the "it says ..." of an error aside."""
    words = reading.words
    for index, word in enumerate(words):
        if word in {"it", "its", "there", "them", "they"}:
            following = words[index + 1] if index + 1 < len(words) else ""
            if word == "it" and following in {"says", "said", "shows", "showed", "displays", "gives", "tells"}:
                continue  # the application reporting an error, not the previous answer
            return True
    return False


def rephrase_decide(earlier: str, later: str, score: PairScore) -> RephraseDecision:
    """Decide whether later restates earlier, given their similarity score.

    1. A message with no subject (greeting, thanks, "I need help") is never restated nor a restatement.
    2. "I meant ...", "in other words ...", "that's not what I asked" announce a restatement.
    3. "And ...", "what about ...", "now make it ..." open a follow-up on a new aspect.
    4. A new request of the same shape (other numbers, quotes, or one word swapped) is not a restatement.
    5. A message pointing back ("it", "there") that brings new content builds on the answer.
    6. Otherwise similarity at or above the scorer's threshold decides.
    """
    a, b = read(earlier), read(later)
    if a.small_talk or b.small_talk or b.closing:
        return RephraseDecision(False, "small talk")
    if b.has_rephrase_marker and b.content:
        return RephraseDecision(True, "restated (" + ("marker" if score.similarity < score.threshold else "similar") + ")",
                                score.similarity)  # fmt: skip
    if b.has_follow_up_opening:
        return RephraseDecision(False, "follow-up opening", score.similarity)
    if _same_shape(a, b):
        return RephraseDecision(False, "same-shape new request", score.similarity)
    new_content = sum(0.3 if t in WEAK_WORDS else 1.0 for t in b.content - a.content)
    if (
        score.method.startswith("lexical")
        and _points_back(b)
        and new_content >= FOLLOW_UP_NEW_CONTENT
        and score.similarity < 0.8
    ):
        return RephraseDecision(False, "follow-up pointing back", score.similarity)
    if score.similarity >= score.threshold:
        return RephraseDecision(True, "similar", score.similarity)
    return RephraseDecision(False, "different", score.similarity)


def rephrase_detect(
    turns: Sequence[Turn], *, window: timedelta, scorer: RephraseScorer, since: datetime | None = None
) -> list[InferredSignal]:
    """Return a rephrase signal for each turn whose next user message restates it within the window.

    With `since`, only later turns that started then or after are scored: an embeddings endpoint is not asked
    again about pairs an earlier run judged.
    """
    candidates = [
        (earlier, later)
        for earlier, later in _user_pairs(turns, since)
        if _gap(earlier, later) <= window.total_seconds()
        and input_key(earlier.user_text) != input_key(later.user_text)  # the same input is a regeneration
    ]
    if not candidates:
        return []
    scores = scorer.score([(e.user_text, later.user_text) for e, later in candidates])
    signals = []
    for (earlier, later), score in zip(candidates, scores, strict=True):
        decision = rephrase_decide(earlier.user_text, later.user_text, score)
        if decision.is_rephrase:
            reason = (
                f"restated {gap_text(_gap(earlier, later))} later "
                f"({score.method} similarity {score.similarity:.2f}, {decision.why})"
            )
            signals.append(
                InferredSignal(REPHRASE, earlier.trace_pk, earlier.trace_id, reason, later.started_at,
                               round(score.similarity, 4))
            )  # fmt: skip
    return signals


def abandon_detect(turns: Sequence[Turn], *, now: datetime, window: timedelta) -> list[InferredSignal]:
    """Return an abandon signal for each answer after which no turn came within the window, once it has closed.

    A conversation the user closed ("thanks, that worked", "bye") is finished, not abandoned.
    """
    signals = []
    for index, turn in enumerate(turns):
        answered = _answered_at(turn)
        later = turns[index + 1] if index + 1 < len(turns) else None
        if later is not None and later.started_at - answered < window:
            continue
        if later is None and now - answered < window:
            continue  # the window is still open: the user may yet come back
        if turn.user_text.strip() and read(turn.user_text).closing:
            continue
        reason = f"no further turn within {gap_text(window.total_seconds())}"
        signals.append(InferredSignal(ABANDON, turn.trace_pk, turn.trace_id, reason, answered + window))
    return signals
