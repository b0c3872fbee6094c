"""Trace browser pages: the filtered list (full page and htmx rows), the trace waterfall and span panels."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from apps.scores.services import ScoreInput, scores_upsert
from tests.traces.factories import BASE_TIME, rag_trace, simple_trace

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def list_url(project, **params: str) -> str:
    """Return the trace list URL with query parameters."""
    url = reverse("traces:list", args=[project.slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def row_names(html: str) -> list[str]:
    """Return the trace names linked from the list's rows, in order."""
    return re.findall(r'<td class="clip"><a href="[^"]+">([^<]+)</a>', html)


@pytest.fixture
def traces(project):
    """Three traces with distinct dimensions, one minute apart (newest: 'refund')."""
    return {
        "greeting": simple_trace(
            project,
            name="greeting",
            route="chat.greet",
            model="gpt-4o-mini",
            prompt_version="v1",
            environment="staging",
            user_id="u-1",
            session_id="s-1",
            tags=["beta"],
            at=BASE_TIME,
        ),
        "answer": simple_trace(
            project,
            name="answer",
            route="support.answer",
            model="claude-3-5-sonnet",
            prompt_version="v2",
            environment="production",
            user_id="u-2",
            session_id="s-2",
            tags=["beta", "eu"],
            at=BASE_TIME + timedelta(minutes=1),
        ),
        "refund": simple_trace(
            project,
            name="refund",
            route="support.refund",
            model="gpt-4o-mini",
            prompt_version="v2",
            environment="production",
            user_id="u-3",
            session_id="s-2",
            status="error",
            error_message="upstream 502",
            output_text="",
            at=BASE_TIME + timedelta(minutes=2),
        ),
    }


def test_trace_list_renders_rows_newest_first_with_columns(client, alice, project, traces):
    client.force_login(alice)
    response = client.get(list_url(project))
    assert response.status_code == 200
    html = response.content.decode()
    assert row_names(html) == ["refund", "answer", "greeting"]
    assert "2025-03-14T09:28:53Z" in html  # ISO 8601 UTC, the one time format
    assert "support.refund" in html and "claude-3-5-sonnet" in html
    assert '<span class="badge error">error</span>' in html
    assert 'id="trace-filters"' in html  # the full page has the filter form
    assert '<option value="support.answer">' in html  # filled from the facets
    assert reverse("traces:detail", args=[project.slug, traces["refund"].trace_id]) in html


def test_trace_list_htmx_returns_only_the_rows_partial(client, alice, project, traces):
    client.force_login(alice)
    response = client.get(list_url(project, route="chat.greet"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="trace-rows">')
    assert "<html" not in html and 'id="trace-filters"' not in html
    assert row_names(html) == ["greeting"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"route": "support.answer"}, ["answer"]),
        ({"model": "gpt-4o-mini"}, ["refund", "greeting"]),
        ({"prompt_version": "v2"}, ["refund", "answer"]),
        ({"environment": "staging"}, ["greeting"]),
        ({"user_id": "u-2"}, ["answer"]),
        ({"session_id": "s-2"}, ["refund", "answer"]),
        ({"tag": "eu"}, ["answer"]),
        ({"tag": "beta"}, ["answer", "greeting"]),
        ({"status": "error"}, ["refund"]),
        ({"has_feedback": "true"}, []),
        ({"has_feedback": "false"}, ["refund", "answer", "greeting"]),
        ({"q": "refu"}, ["refund"]),
        ({"since": "2025-03-14T09:27:30"}, ["refund", "answer"]),
        ({"until": "2025-03-14 09:27:30"}, ["greeting"]),
    ],
)
def test_trace_list_each_filter_narrows_results(client, alice, project, traces, params, expected):
    client.force_login(alice)
    response = client.get(list_url(project, **params), **HTMX)
    assert response.status_code == 200
    assert row_names(response.content.decode()) == expected


def test_trace_list_finds_a_trace_by_its_id(client, alice, project, traces):
    client.force_login(alice)
    response = client.get(list_url(project, q=traces["answer"].trace_id.upper()), **HTMX)
    assert row_names(response.content.decode()) == ["answer"]


def test_trace_list_empty_states(client, alice, project, traces):
    client.force_login(alice)
    filtered = client.get(list_url(project, route="nope"), **HTMX).content.decode()
    assert "No traces match these filters." in filtered


def test_trace_list_empty_project_leads_to_the_first_trace_page(client, alice, project):
    client.force_login(alice)
    response = client.get(list_url(project))
    assert response.status_code == 302 and response["Location"] == reverse("traces:onboarding", args=[project.slug])
    html = client.get(list_url(project), follow=True).content.decode()
    assert "Send your first trace" in html and "/v1/traces" in html


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"status": "broken"}, "status"),
        ({"has_feedback": "maybe"}, "has_feedback"),
        ({"cursor": "%%%garbage"}, "cursor"),
    ],
)
def test_trace_list_bad_filter_is_a_400_naming_the_field(client, alice, project, traces, params, field):
    client.force_login(alice)
    partial = client.get(list_url(project, **params), **HTMX)
    assert partial.status_code == 400
    html = partial.content.decode()
    assert f"Invalid filter <strong>{field}</strong>" in html
    assert row_names(html) == []
    full = client.get(list_url(project, **params))
    assert full.status_code == 400 and 'id="trace-filters"' in full.content.decode()


def test_trace_list_cursor_pagination_walks_all_pages_without_duplicates(client, alice, project, monkeypatch):
    monkeypatch.setattr("apps.traces.views.PAGE_SIZE", 4)
    for i in range(10):
        # Two traces per start time, so the cursor's id tie-break is exercised.
        simple_trace(project, name=f"t{i:02d}", route="r", at=BASE_TIME + timedelta(seconds=i // 2))
    simple_trace(project, name="other-route", route="x", at=BASE_TIME)
    client.force_login(alice)
    seen: list[str] = []
    url = list_url(project, route="r")
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += row_names(response.content.decode())
        pages += 1
        next_url = response.context["next_url"]
        assert not next_url or "route=r" in next_url  # the filters survive paging
        url = reverse("traces:list", args=[project.slug]) + next_url if next_url else ""
    assert pages == 3
    assert len(seen) == len(set(seen)) == 10
    assert "other-route" not in seen


def test_trace_list_load_more_returns_only_the_next_rows(client, alice, project, monkeypatch):
    monkeypatch.setattr("apps.traces.views.PAGE_SIZE", 2)
    for i in range(3):
        simple_trace(project, name=f"t{i}", at=BASE_TIME + timedelta(seconds=i))
    client.force_login(alice)
    first = client.get(list_url(project))
    cursor = parse_qs(urlparse(first.context["next_url"]).query)["cursor"][0]
    more = client.get(list_url(project, cursor=cursor), HTTP_HX_TARGET="load-more", **HTMX)
    html = more.content.decode()
    assert row_names(html) == ["t0"]
    assert "<table" not in html and 'id="load-more"' not in html


def test_trace_list_has_no_n_plus_one(client, alice, project, django_assert_max_num_queries):
    for i in range(30):
        simple_trace(project, name=f"t{i}", route=f"r{i % 3}", at=BASE_TIME + timedelta(seconds=i))
    client.force_login(alice)
    with django_assert_max_num_queries(12):
        response = client.get(list_url(project))
    assert len(row_names(response.content.decode())) == 30


def test_trace_list_requires_login(client, project):
    response = client.get(list_url(project))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_outsider_gets_404_on_every_trace_page(client, carol, project):
    trace = rag_trace(project)
    span_id = trace.root_span_id
    client.force_login(carol)
    assert client.get(list_url(project)).status_code == 404
    assert client.get(reverse("traces:detail", args=[project.slug, trace.trace_id])).status_code == 404
    assert client.get(reverse("traces:span", args=[project.slug, trace.trace_id, span_id]), **HTMX).status_code == 404


def test_viewer_can_browse_traces(client, bob, project):
    trace = rag_trace(project)
    client.force_login(bob)
    assert client.get(reverse("traces:detail", args=[project.slug, trace.trace_id])).status_code == 200


def test_trace_detail_unknown_trace_is_404(client, alice, project):
    client.force_login(alice)
    assert client.get(reverse("traces:detail", args=[project.slug, "0" * 32])).status_code == 404


def test_trace_detail_shows_header_waterfall_and_root_panel(client, alice, project):
    trace = rag_trace(project)
    client.force_login(alice)
    response = client.get(reverse("traces:detail", args=[project.slug, trace.trace_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert trace.trace_id in html and "answer support ticket" in html
    assert "support.answer" in html and "gpt-4o-2024-08-06" in html and "support-answer v7" in html
    assert "user-42" in html and "sess-9" in html
    assert "2025-03-14T09:26:53.000Z" in html
    assert html.count('data-testid="wf-row"') == 5
    # Children are indented one level below the root, and bars are placed by time.
    assert 'data-kind="agent" style="--depth:0"' in html and 'data-kind="retrieval" style="--depth:1"' in html
    assert "left:0.000%;width:100.000%" in html  # the root spans the whole trace
    assert "left:0.833%;width:7.500%" in html  # retrieval: 20 ms in, 180 ms of 2,400
    # The root span's panel is open initially; it has no messages, so its raw input shows.
    assert f'data-span-id="{trace.root_span_id}" data-testid="span-panel"' in html
    assert "&quot;ticket&quot;: 1234" in html
    assert "No scores yet." in html
    assert "No feedback on this trace." in html  # the feedback app's section (trace_page_panel_register)


def test_trace_detail_lists_scores(client, alice, project):
    trace = rag_trace(project)
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=trace.id,
                name="faithfulness",
                source="judge",
                value=0.25,
                label="unfaithful",
                passed=False,
                explanation="Cites a document that was not retrieved.",
            ),
        ],
    )
    client.force_login(alice)
    html = client.get(reverse("traces:detail", args=[project.slug, trace.trace_id])).content.decode()
    assert "faithfulness" in html and "unfaithful" in html and "0.25" in html
    assert "LLM judge" in html and "Cites a document that was not retrieved." in html
    assert '<span class="badge error">fail</span>' in html
    assert "No scores yet." not in html


def span_panel(client, project, trace, name: str, kind: str):
    """GET the htmx panel of the trace's span with this name and kind (the first one)."""
    span = trace.spans.filter(name=name, kind=kind).order_by("started_at").first()
    return client.get(reverse("traces:span", args=[project.slug, trace.trace_id, span.span_id]), **HTMX)


def test_span_panel_renders_llm_messages_as_chat(client, alice, project):
    trace = rag_trace(project)
    client.force_login(alice)
    response = span_panel(client, project, trace, "chat gpt-4o", "llm")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="span-panel"')
    assert "<html" not in html
    assert "You are Acme&#x27;s support assistant." in html  # system instructions
    # User content is escaped, never rendered as HTML.
    assert "How do I reset my password? &lt;b&gt;urgent&lt;/b&gt;" in html and "<b>urgent</b>" not in html
    assert "look up the account first" in html  # reasoning part
    assert "lookup_account" in html and "&quot;email&quot;: &quot;a@acme.test&quot;" in html  # tool call args
    assert "812 in · 40 out · 852 total" in html and "512 cache read" in html
    assert "$0.00243" in html and "tool_call" in html  # cost and finish reason
    assert "Tool definitions (1)" in html and "Find an account by email" in html
    assert "temperature" in html and "llm.custom" in html  # request params and attributes


def test_span_panel_renders_tool_responses_in_the_conversation(client, alice, project):
    trace = rag_trace(project)
    client.force_login(alice)
    second = trace.spans.filter(kind="llm").order_by("-started_at").first()
    html = client.get(
        reverse("traces:span", args=[project.slug, trace.trace_id, second.span_id]), **HTMX
    ).content.decode()
    assert 'class="msg tool"' in html and "result of <code>call_1</code>" in html
    assert "&quot;plan&quot;: &quot;pro&quot;" in html
    assert "Open Settings → Security and click Reset." in html
    assert "12 reasoning" in html


def test_span_panel_shows_retrieved_documents(client, alice, project):
    trace = rag_trace(project)
    client.force_login(alice)
    html = span_panel(client, project, trace, "vector-search", "retrieval").content.decode()
    assert html.count('data-testid="document"') == 2
    assert "kb-17" in html and "0.910" in html and "To reset a password, open Settings → Security." in html
    assert "kb/security.md" in html and "reset password" in html


def test_span_panel_shows_a_tool_spans_call_and_result(client, alice, project):
    trace = rag_trace(project)
    client.force_login(alice)
    html = span_panel(client, project, trace, "lookup_account", "tool").content.decode()
    assert 'data-testid="tool-call"' in html and "&quot;locked&quot;: false" in html
    assert 'data-testid="raw-output"' in html


def test_span_panel_notes_truncated_keys_and_errors(client, alice, project):
    trace = simple_trace(
        project,
        name="boom",
        status="error",
        error_type="RateLimitError",
        error_message="429 too many requests",
        truncated=["gen_ai.input.messages"],
    )
    client.force_login(alice)
    html = span_panel(client, project, trace, "boom", "llm").content.decode()
    assert "RateLimitError" in html and "429 too many requests" in html
    assert 'data-testid="truncated"' in html and "gen_ai.input.messages" in html


def test_span_url_without_htmx_renders_the_trace_page_with_that_span_open(client, alice, project):
    trace = rag_trace(project)
    retrieval = trace.spans.get(kind="retrieval")
    client.force_login(alice)
    response = client.get(reverse("traces:span", args=[project.slug, trace.trace_id, retrieval.span_id]))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert f'data-span-id="{retrieval.span_id}" data-testid="span-panel"' in html
    assert "kb-17" in html


def test_unknown_span_is_404(client, alice, project):
    trace = rag_trace(project)
    client.force_login(alice)
    url = reverse("traces:span", args=[project.slug, trace.trace_id, "f" * 16])
    assert client.get(url, **HTMX).status_code == 404
    assert client.get(url).status_code == 404


def test_list_filters_by_score_and_shows_failing_checks(client, alice, project):
    from apps.evaluators.services import evaluations_run
    from tests.traces.factories import simple_trace as make

    good = make(project, name="good one", output_text="Sure, open Settings.")
    bad = make(project, name="refused one", output_text="I'm sorry, but I can't help with that request.")
    evaluations_run(project_id=project.id, trace_pks=[good.id, bad.id])
    client.force_login(alice)
    page = client.get(f"/p/{project.slug}/traces/", {"score": "refusal:failed"}).content.decode()
    assert "refused one" in page and "good one" not in page
    assert (
        'data-testid="failing" title="failing: refusal"><a class="badge error" href="?score=refusal:failed">refusal</a>'
        in page
    )
    bad_filter = client.get(f"/p/{project.slug}/traces/", {"score": "refusal??"}, HTTP_HX_REQUEST="true")
    assert bad_filter.status_code == 400
    assert "score" in bad_filter.content.decode()


def test_trace_page_shows_a_judged_score_with_its_pinned_model_and_confidence(client, alice, project):
    from apps.scores.services import ScoreInput, scores_upsert
    from tests.traces.factories import simple_trace as make

    trace = make(project, name="judged")
    scores_upsert(
        project=project,
        items=[
            ScoreInput(
                trace_pk=trace.id,
                name="helpfulness",
                source="judge",
                value=2.0,
                label="2",
                passed=False,
                explanation="misses the second question",
                evaluator_version="abc123def456",
                judge_model="gpt-4o-2024-08-06",
                metadata={"confidence": 0.85, "model_reported": "gpt-4o-2024-08-06"},
            )
        ],
    )
    client.force_login(alice)
    page = client.get(f"/p/{project.slug}/traces/{trace.trace_id}/").content.decode()
    assert "gpt-4o-2024-08-06" in page and "confidence 0.85" in page
    assert "misses the second question" in page
