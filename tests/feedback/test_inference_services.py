"""The service reads for wiring inference: the sessions an ingest batch touched, and sessions due for abandon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.feedback.inference.services import abandon_due_sessions, batch_sessions_infer, session_signals_infer
from apps.traces.models import Trace

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def a_turn(n: int, at: float, text: str, session: str) -> dict:
    started = T0 + timedelta(seconds=at)
    return {
        "trace_id": f"{n:032x}",
        "session_id": session,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=3)).isoformat(),
        "input": text,
        "output": "an answer",
    }


def ingest(api_client, *turns: dict) -> list[int]:
    assert api_client.post("/api/v1/traces", {"traces": list(turns)}, format="json").json()["accepted"] == len(turns)
    return list(Trace.objects.filter(trace_id__in=[t["trace_id"] for t in turns]).values_list("pk", flat=True))


def test_a_batch_gives_the_signals_of_each_session_it_touched(api_client, project):
    ingest(api_client, a_turn(1, 0, "Convert 10 miles", "a"), a_turn(2, 0, "Tell me a joke", "b"))
    pks = ingest(api_client, a_turn(3, 20, "Convert 20 miles", "a"), a_turn(4, 12, "Tell me a joke", "b"),
                 a_turn(5, 12, "no session", ""))  # fmt: skip
    found = batch_sessions_infer(project_id=project.id, trace_pks=pks, now=T0 + timedelta(minutes=1))
    assert {session: [s.kind for s in signals] for session, signals in found.items()} == {"a": [], "b": ["regenerate"]}
    assert found["b"][0].trace_id == f"{2:032x}"


def test_sessions_are_due_for_abandon_once_their_window_closed(api_client, project):
    ingest(
        api_client,
        a_turn(1, 0, "How do I export my data?", "old"),  # answered at T0+3 s
        a_turn(2, 600, "Where is my order?", "recent"),  # answered at T0+603 s
        a_turn(3, 0, "Hi", "continued"),
        a_turn(4, 900, "Where is my order?", "continued"),  # its last answer is the later one
    )
    window = timedelta(seconds=1800)
    due = lambda at: abandon_due_sessions(project_id=project.id, now=T0 + at)  # noqa: E731
    assert due(window) == []  # nothing a full window old yet
    assert due(window + timedelta(seconds=3)) == ["old"]  # exactly one window after the answer
    assert due(window + timedelta(seconds=603)) == ["old", "recent"]
    assert due(window + timedelta(seconds=903)) == ["recent", "continued"]  # "old" closed > 10 min ago
    # What the sweep then records: the abandon signal, now that the window has closed.
    signals = session_signals_infer(project_id=project.id, session_id="old", now=T0 + window + timedelta(seconds=3))
    assert [s.kind for s in signals] == ["abandon"]


def test_a_later_batch_scores_only_the_pairs_it_brought(api_client, project, monkeypatch):
    from apps.feedback.inference import services
    from apps.feedback.inference.detectors import LexicalScorer

    ingest(
        api_client,
        a_turn(1, 0, "Cancel my subscription", "s"),
        a_turn(2, 40, "How do I stop my plan from renewing?", "s"),
    )
    pks = ingest(api_client, a_turn(3, 80, "Do you have a mobile app?", "s"))
    scored: list[tuple[str, str]] = []

    class Recording(LexicalScorer):
        def score(self, pairs):
            scored.extend(pairs)
            return super().score(pairs)

    real = services.session_signals_infer
    monkeypatch.setattr(services, "session_signals_infer", lambda **kwargs: real(**kwargs, scorer=Recording()))
    found = batch_sessions_infer(project_id=project.id, trace_pks=pks, now=T0 + timedelta(minutes=2))
    assert found == {"s": []}  # the rephrase of turn 1 was the first batch's to report
    assert scored == [("How do I stop my plan from renewing?", "Do you have a mobile app?")]
