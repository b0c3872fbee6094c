"""Sessions and users: the session list's figures, one session's timeline, a user's failure rate, and their pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.scores.services import ScoreInput, scores_upsert
from apps.scores.sessions import session_summaries_drain
from apps.traces.models import Trace
from apps.traces.selectors import FilterError
from apps.traces.session_selectors import (
    SESSION_WINDOWS,
    page_parse,
    session_list,
    session_timeline,
    session_window_parse,
    user_summary,
)
from tests.traces.factories import simple_trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(project):
    """Session s-a: two turns by ann (the second fails a score, the first has feedback); s-b: one turn by bob and
    ann; s-old: a session 10 days ago; one trace without session."""
    now = timezone.now()
    turn1 = simple_trace(
        project,
        session_id="s-a",
        user_id="ann",
        input_text="How do I reset my password?",
        output_text="Use Settings → Security.",
        at=now - timedelta(minutes=30),
    )
    turn2 = simple_trace(
        project,
        session_id="s-a",
        user_id="ann",
        input_text="And my email?",
        output_text="You cannot change it.",
        at=now - timedelta(minutes=20),
    )
    other = simple_trace(project, session_id="s-b", user_id="bob", at=now - timedelta(minutes=10))
    simple_trace(project, session_id="s-b", user_id="ann", at=now - timedelta(minutes=9))
    simple_trace(project, session_id="s-old", user_id="ann", at=now - timedelta(days=10))
    simple_trace(project, user_id="ann", at=now - timedelta(minutes=5))
    Trace.objects.filter(pk=turn1.pk).update(has_feedback=True)
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=turn2.id,
                name="helpfulness",
                source="judge",
                passed=False,
                value=0.2,
                explanation="does not offer an alternative",
            ),
            ScoreInput(trace_pk=turn2.id, name="refusal", source="programmatic", passed=False, value=1),
            ScoreInput(trace_pk=turn1.id, name="refusal", source="programmatic", passed=True, value=0),
            ScoreInput(trace_pk=other.id, name="refusal", source="programmatic", passed=True, value=0),
        ],
    )
    session_summaries_drain()  # what the beat job does every 15 s: the sessions list reads the summaries
    return {"turn1": turn1, "turn2": turn2, "other": other}


def test_session_list_counts_traces_users_failing_scores_and_feedback(project, conversation):
    sessions, has_next = session_list(project=project, window=SESSION_WINDOWS["7d"])
    assert not has_next
    by_id = {s.session_id: s for s in sessions}
    assert [s.session_id for s in sessions] == ["s-b", "s-a"]  # most recent activity first; s-old is outside 7d
    assert by_id["s-a"].trace_count == 2 and by_id["s-b"].trace_count == 2
    assert by_id["s-a"].users == ["ann"] and sorted(by_id["s-b"].users) == ["ann", "bob"]
    assert by_id["s-a"].failing_score_count == 2 and by_id["s-b"].failing_score_count == 0
    assert by_id["s-a"].feedback_count == 1 and by_id["s-b"].feedback_count == 0
    assert by_id["s-a"].first_at == conversation["turn1"].started_at
    assert by_id["s-a"].last_at == conversation["turn2"].ended_at


def test_session_list_window_user_filter_and_paging(project, conversation):
    month = [s.session_id for s in session_list(project=project, window=SESSION_WINDOWS["30d"])[0]]
    assert month == ["s-b", "s-a", "s-old"]
    assert [s.session_id for s in session_list(project=project, window=SESSION_WINDOWS["7d"], user_id="bob")[0]] == [
        "s-b"
    ]
    first, has_next = session_list(project=project, window=SESSION_WINDOWS["30d"], page_size=2)
    second, more = session_list(project=project, window=SESSION_WINDOWS["30d"], page=2, page_size=2)
    assert [s.session_id for s in first] == ["s-b", "s-a"] and has_next
    assert [s.session_id for s in second] == ["s-old"] and not more


def test_session_timeline_orders_turns_with_answers_and_scores(project, conversation):
    turns = session_timeline(project=project, session_id="s-a")
    assert [t.turn.trace_id for t in turns] == [conversation["turn1"].trace_id, conversation["turn2"].trace_id]
    assert turns[0].turn.user_text == "How do I reset my password?"
    assert turns[1].trace.output_text == "You cannot change it."
    assert sorted(s.name for s in turns[1].failing_scores) == ["helpfulness", "refusal"]
    assert [(s.name, s.passed) for s in turns[0].scores] == [("refusal", True)]
    assert session_timeline(project=project, session_id="nope") == []


def test_user_summary_failure_rate_is_traces_with_a_failing_score(project, conversation):
    ann = user_summary(project=project, user_id="ann", window=SESSION_WINDOWS["7d"])
    assert (ann.trace_count, ann.session_count, ann.failing_trace_count) == (4, 2, 1)
    assert ann.failure_rate == pytest.approx(0.25)
    nobody = user_summary(project=project, user_id="nobody", window=SESSION_WINDOWS["7d"])
    assert nobody.trace_count == 0 and nobody.failure_rate is None


def test_window_and_page_errors_name_the_field():
    with pytest.raises(FilterError) as window:
        session_window_parse("1y")
    assert window.value.field == "window"
    for bad in ("0", "x", "20000"):
        with pytest.raises(FilterError) as page:
            page_parse(bad)
        assert page.value.field == "page"


def test_session_list_page_links_sessions_and_users(
    client, alice, project, conversation, django_assert_max_num_queries
):
    client.force_login(alice)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("traces:sessions", args=[project.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="session-row"') == 2
    assert reverse("traces:session", args=[project.slug, "s-a"]) in html
    assert reverse("traces:user", args=[project.slug, "bob"]) in html
    assert 'class="active">Sessions</a>' in html


def test_session_list_page_bad_window_is_a_400_naming_it(client, alice, project):
    client.force_login(alice)
    response = client.get(reverse("traces:sessions", args=[project.slug]) + "?window=1y")
    assert response.status_code == 400
    assert "Invalid filter <strong>window</strong>" in response.content.decode()


def test_session_page_shows_the_conversation_linked_to_traces(client, alice, project, conversation):
    client.force_login(alice)
    response = client.get(reverse("traces:session", args=[project.slug, "s-a"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="session-turn"') == 2
    assert html.index("How do I reset my password?") < html.index("And my email?") < html.index("You cannot change")
    assert reverse("traces:detail", args=[project.slug, conversation["turn2"].trace_id]) in html
    assert "does not offer an alternative" in html  # the failing score's reason, on hover
    assert client.get(reverse("traces:session", args=[project.slug, "nope"])).status_code == 404


def test_user_page_shows_failure_rate_and_sessions(client, alice, project, conversation):
    client.force_login(alice)
    response = client.get(reverse("traces:user", args=[project.slug, "ann"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "25 %" in html and "1 of 4 traces" in html
    assert html.count('data-testid="session-row"') == 2


def test_trace_page_links_its_session_and_user(client, alice, project, conversation):
    client.force_login(alice)
    trace = conversation["turn1"]
    html = client.get(reverse("traces:detail", args=[project.slug, trace.trace_id])).content.decode()
    assert reverse("traces:session", args=[project.slug, "s-a"]) + f"#turn-{trace.trace_id}" in html
    assert reverse("traces:user", args=[project.slug, "ann"]) in html


def test_session_pages_are_project_scoped(client, bob, project, conversation, alice):
    from apps.projects.services import project_create

    other = project_create(name="Other", owner=alice)
    client.force_login(bob)  # bob is a viewer of `project` only
    assert client.get(reverse("traces:session", args=[other.slug, "s-a"])).status_code in {403, 404}
