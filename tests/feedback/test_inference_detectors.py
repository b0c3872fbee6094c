"""The implicit-feedback detectors on hand-written sessions and on the labelled set, with accuracy floors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.feedback.inference.detectors import (
    LexicalScorer,
    abandon_detect,
    regenerate_detect,
    rephrase_decide,
    rephrase_detect,
)
from apps.feedback.inference.evaluation import detectors_measure, labelled_sessions_load
from apps.feedback.inference.text import input_key, is_closing, is_small_talk, read, stem
from apps.traces.selectors import Turn

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def turns(*items: tuple[float, str], answer_s: float = 3) -> list[Turn]:
    """Build turns from (seconds after T0, user message) pairs."""
    return [
        Turn(
            trace_pk=i + 1,
            trace_id=f"{i + 1:032x}",
            started_at=T0 + timedelta(seconds=at),
            ended_at=T0 + timedelta(seconds=at + answer_s),
            user_text=text,
        )
        for i, (at, text) in enumerate(items)
    ]


def rephrased(earlier: str, later: str) -> bool:
    score = LexicalScorer().score([(earlier, later)])[0]
    return rephrase_decide(earlier, later, score).is_rephrase


def test_regenerate_names_the_earlier_trace_and_the_gap():
    session = turns((0, "How do I reset my password?"), (17, "how do I reset my password"))
    [signal] = regenerate_detect(session, window=timedelta(minutes=10))
    assert (signal.kind, signal.trace_pk, signal.reason) == ("regenerate", 1, "same input 14 s later")
    assert signal.occurred_at == session[1].started_at


def test_the_same_question_two_days_later_is_a_new_visit():
    session = turns((0, "What's the weather in Paris?"), (2 * 86400, "What's the weather in Paris?"))
    assert regenerate_detect(session, window=timedelta(minutes=10)) == []
    assert rephrase_detect(session, window=timedelta(minutes=5), scorer=LexicalScorer()) == []


def test_the_regenerate_window_is_a_parameter():
    session = turns((0, "Tell me a joke"), (660, "Tell me a joke"))
    assert regenerate_detect(session, window=timedelta(minutes=10)) == []
    assert len(regenerate_detect(session, window=timedelta(minutes=15))) == 1


def test_turns_without_a_user_message_do_not_break_a_regeneration():
    session = turns((0, "Summarize this article"), (5, ""), (20, "Summarize this article"))
    assert [s.trace_pk for s in regenerate_detect(session, window=timedelta(minutes=10))] == [1]


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [
        ("Cancel my subscription", "How do I stop my plan from renewing?", True),
        ("Convert 10 miles", "Convert 20 miles", False),
        ("Hi", "How do I reset my password?", False),
        ("How do I reset my password?", "How long is the reset link valid?", False),
        ("What's the weather in Paris?", "What's the weather in London?", False),
        ("Book a table for two", "Can you reserve a table for 2 people?", True),
        ("Set up a meeting for tomorrow", "No, I meant schedule a call with the team tomorrow", True),
        ("Do you ship to Canada?", "And how much does shipping cost there?", False),
        ("how do i chnage my pasword", "How do I change my password?", True),
    ],
)
def test_rephrase_decisions_on_the_issues_examples(earlier, later, expected):
    assert rephrased(earlier, later) is expected


def test_rephrase_signal_is_on_the_earlier_turn_within_the_window_only():
    session = turns((0, "Cancel my subscription"), (40, "How do I stop my plan from renewing?"))
    [signal] = rephrase_detect(session, window=timedelta(minutes=5), scorer=LexicalScorer())
    assert (signal.kind, signal.trace_pk) == ("rephrase", 1)
    assert signal.reason.startswith("restated 37 s later (lexical similarity")
    late = turns((0, "Cancel my subscription"), (480, "How do I stop my plan from renewing?"))
    assert rephrase_detect(late, window=timedelta(minutes=5), scorer=LexicalScorer()) == []


def test_abandon_waits_for_the_window_to_close():
    session = turns((0, "How do I reset my password?"))
    answered = session[0].ended_at
    window = timedelta(minutes=30)
    assert abandon_detect(session, now=answered + timedelta(minutes=29), window=window) == []
    [signal] = abandon_detect(session, now=answered + window, window=window)
    assert (signal.kind, signal.trace_pk, signal.occurred_at) == ("abandon", 1, answered + window)
    assert signal.reason == "no further turn within 30 min"


def test_abandon_skips_answered_turns_and_a_conversation_the_user_closed():
    window = timedelta(minutes=30)
    session = turns((0, "How do I export my data?"), (40, "thanks, that worked!"))
    assert abandon_detect(session, now=T0 + timedelta(days=1), window=window) == []
    gap = turns((0, "Where is my order?"), (2700, "Can I pay with PayPal?"))
    assert [s.trace_pk for s in abandon_detect(gap, now=T0 + timedelta(days=1), window=window)] == [1, 2]


def test_text_helpers():
    assert input_key("  Where is my   order? ") == input_key("where is my order")
    assert stem("shipping") == stem("shipped") == stem("ship")
    assert is_small_talk("Good morning!") and is_small_talk("Hi, I need some help")
    assert not is_small_talk("Hi, where is my order?")
    assert is_closing("ok bye") and is_closing("Thanks, that worked!") and not is_closing("ok")
    assert read("Convert 10 miles").numbers == ("10",)
    assert read("Book a table for two").numbers == ("2",)


def test_the_labelled_set_is_large_and_has_near_misses():
    sessions = labelled_sessions_load()
    pairs = sum(len(s.turns) - 1 for s in sessions)
    groups = {s.group for s in sessions}
    assert len(sessions) >= 100 and pairs >= 100
    assert {"same-shape", "follow-up", "greeting", "new-visit", "regenerate"} <= groups
    assert sum(s.split == "holdout" for s in sessions) >= 30


def test_regenerate_and_abandon_are_exact_on_the_labelled_set():
    # Both are rules on times and normalized text: any miss is a bug, not a matter of wording.
    figures = detectors_measure()
    assert figures["regenerate"].accuracy == 1.0, figures["regenerate"].errors
    assert figures["abandon"].accuracy == 1.0, figures["abandon"].errors


def test_lexical_rephrase_accuracy_floors():
    # Tuning split: the lexicon was written against it, so a drop means a regression (floor just under today's 0.99).
    tuning = detectors_measure(split="tuning")["rephrase"]
    assert tuning.accuracy >= 0.95 and tuning.precision >= 0.95, tuning.errors
    # Holdout split (never tuned on): unseen wording is mostly missed (recall 0.25 today), but what is flagged
    # must stay right; an inferred rephrase becomes a negative score, so precision is what matters most.
    holdout = detectors_measure(split="holdout")["rephrase"]
    assert holdout.precision >= 0.9, holdout.errors
    assert holdout.accuracy >= 0.6, holdout.errors


def test_since_limits_pairs_to_the_new_later_turns():
    session = turns((0, "Summarize this article"), (10, "Summarize this article"), (30, "Summarize this article"))
    window = timedelta(minutes=10)
    assert [s.trace_pk for s in regenerate_detect(session, window=window)] == [1, 2]
    assert [s.trace_pk for s in regenerate_detect(session, window=window, since=session[2].started_at)] == [2]

    class Counting(LexicalScorer):
        pairs: list = []

        def score(self, pairs):
            Counting.pairs.extend(pairs)
            return super().score(pairs)

    chat = turns((0, "Cancel my subscription"), (40, "How do I stop my plan from renewing?"), (80, "Thanks!"))
    rephrase_detect(chat, window=timedelta(minutes=5), scorer=Counting(), since=chat[2].started_at)
    assert Counting.pairs == [("How do I stop my plan from renewing?", "Thanks!")]


def test_other_languages_keep_their_words_whole():
    # The lexicon and stop words are English: other languages are compared word for word, no more.
    assert "suscripción" in read("¿Cómo cancelo mi suscripción?").tokens
    assert rephrased("¿Cómo cancelo mi suscripción?", "cómo cancelo mi suscripción por favor")
    assert not rephrased("如何取消订阅", "今天天气怎么样")
