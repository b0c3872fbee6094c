"""Evaluator pages: the list with 24 h pass rates, create/edit with inline errors, preview, and backfill polling."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.htmx import HTMX_STOP_POLLING
from apps.evaluators.models import Backfill, Evaluator
from apps.evaluators.services import backfill_step, evaluations_run
from apps.judges.models import JudgePreview
from apps.judges.services import judge_create
from apps.scores.models import Score
from tests.support.openai_server import Reply
from tests.traces.factories import rag_trace, simple_trace

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(**overrides: object) -> dict[str, object]:
    """Return a valid regex evaluator submission, with overrides."""
    data: dict[str, object] = {
        "name": "no_ai_disclaimer",
        "kind": "regex",
        "config": json.dumps({"pattern": "as an AI", "mode": "must_not_match", "flags": "i"}),
        "sample_rate": "1",
        "is_enabled": "on",
        "route": "",
        "model": "",
        "prompt_version": "",
        "environment": "",
        "tags": "",
        "span_kind": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def recent(project):
    """Three traces from the last hour: two plain answers (one with an AI disclaimer) and a RAG trace."""
    now = timezone.now()
    return [
        simple_trace(project, at=now - timedelta(minutes=30), output_text="Sure, here is the refund policy."),
        simple_trace(project, at=now - timedelta(minutes=20), output_text="As an AI model I cannot do that."),
        rag_trace(project, at=now - timedelta(minutes=10)),
    ]


def test_list_shows_defaults_with_pass_rates_once_scores_exist(client, alice, project, recent):
    client.force_login(alice)
    url = reverse("evaluators:list", args=[project.slug])
    body = client.get(url).content.decode()
    assert body.count('data-testid="evaluator-row"') == 5  # the defaults every project starts with
    assert "default" in body and "no scores yet" in body

    evaluations_run(project_id=project.id, trace_pks=[t.id for t in recent])
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    not_empty = body.split('data-name="not_empty"')[1].split("</tr>")[0]
    assert '<span data-testid="score-count">3</span>' in not_empty
    assert "100.0%" in not_empty  # all three answers are non-empty
    # A 1/0 value only restates pass/fail: its mean is not shown beside the pass rate.
    assert "1.000" not in not_empty and "only restates pass/fail" in not_empty
    grounding = body.split('data-name="grounding"')[1].split("</tr>")[0]
    assert 'data-testid="score-count">1<' in grounding  # only the RAG trace has documents
    assert "share of claims supported" in grounding  # a share says more than the verdict: its mean is shown


def test_list_shows_the_previous_version_beside_the_new_one_after_an_edit(client, alice, project, recent):
    evaluations_run(project_id=project.id, trace_pks=[t.id for t in recent])
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    client.force_login(alice)
    client.post(
        reverse("evaluators:edit", args=[project.slug, evaluator.id]),
        form_data(name="ignored", kind="ignored", config=json.dumps({"allow_tool_calls": False})),
    )
    evaluator.refresh_from_db()
    body = client.get(reverse("evaluators:list", args=[project.slug])).content.decode()
    row = body.split('data-name="not_empty"')[1].split("</tr>")[0]
    # The new version has no scores yet; the previous one's figures stay on the row (the edit does not blank it).
    assert '<span data-testid="score-count">0</span>' in row and "no scores yet" in row
    assert '<span data-testid="previous-score-count">3</span>' in row
    assert ">v2</code>" in row and ">v1</code>" in row  # short labels...
    assert f'title="version {evaluator.version}"' in row  # ...with the full hash on hover


def test_create_saves_and_redirects_to_the_list(client, alice, project):
    client.force_login(alice)
    response = client.post(reverse("evaluators:create", args=[project.slug]), form_data(route="support.answer, chat"))
    assert response.status_code == 302
    assert response["Location"] == reverse("evaluators:list", args=[project.slug])
    evaluator = Evaluator.objects.get(project=project, name="no_ai_disclaimer")
    assert evaluator.kind == "regex" and evaluator.config["mode"] == "must_not_match"
    assert evaluator.filters == {"route": ["support.answer", "chat"]}
    body = client.get(response["Location"]).content.decode()
    assert "no_ai_disclaimer" in body and "support.answer, chat" in body


def test_create_with_bad_config_answers_400_naming_the_field(client, alice, project):
    client.force_login(alice)
    url = reverse("evaluators:create", args=[project.slug])
    response = client.post(url, form_data(config=json.dumps({"pattern": "(unclosed", "mode": "must_match"})))
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="config"' in body and "pattern: is not a valid regular expression" in body
    assert "(unclosed" in body  # the user's input is kept

    response = client.post(url, form_data(config="{not json"))
    assert response.status_code == 400
    assert "not valid JSON" in response.content.decode()

    response = client.post(url, form_data(sample_rate="1.5"))
    assert response.status_code == 400
    assert 'data-field="sample_rate"' in response.content.decode()
    assert not Evaluator.objects.filter(project=project, name="no_ai_disclaimer").exists()


def test_create_a_duplicate_name_is_named(client, alice, project):
    client.force_login(alice)
    response = client.post(reverse("evaluators:create", args=[project.slug]), form_data(name="refusal"))
    assert response.status_code == 400
    assert 'data-field="name"' in response.content.decode()


@pytest.mark.usefixtures("judge_hosts_allowed")
def test_llm_judge_needs_a_judge_and_offers_the_projects_judges(client, alice, project):
    judge = judge_create(project=project, name="gpt4o", base_url="http://127.0.0.1:9/v1", model="gpt-4o-2024-08-06")
    client.force_login(alice)
    url = reverse("evaluators:create", args=[project.slug])
    data = form_data(name="helpful", kind="llm_judge", config=json.dumps({"rubric": "helpfulness"}))
    response = client.post(url, data)
    assert response.status_code == 400
    assert 'data-field="judge"' in response.content.decode()
    assert client.post(url, {**data, "judge": str(judge.id)}).status_code == 302
    assert Evaluator.objects.get(project=project, name="helpful").judge == judge


def test_kind_switch_swaps_in_the_example_and_help(client, alice, project):
    client.force_login(alice)
    response = client.get(reverse("evaluators:kind", args=[project.slug]), {"kind": "grounding"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="kind-config"')
    assert "&quot;threshold&quot;: 0.6" in body and "min_share" in body
    body = client.get(reverse("evaluators:kind", args=[project.slug]), {"kind": "llm_judge"}, **HTMX).content.decode()
    assert "helpfulness" in body and 'name="judge"' in body


def test_preview_renders_results_for_recent_traces_and_stores_nothing(client, alice, project, recent):
    client.force_login(alice)
    scores_before = Score.objects.count()
    response = client.post(reverse("evaluators:preview", args=[project.slug]), form_data(), **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="evaluator-form"')
    assert body.count('data-testid="preview-row"') == 3
    assert "the forbidden pattern" in body  # the disclaimer fails
    assert body.count('<span class="badge ok">pass</span>') == 2
    for trace in recent:
        assert reverse("traces:detail", args=[project.slug, trace.trace_id]) in body
    assert Score.objects.count() == scores_before
    assert not Evaluator.objects.filter(project=project, name="no_ai_disclaimer").exists()


def test_preview_marks_filtered_out_traces_not_applicable(client, alice, project, recent):
    client.force_login(alice)
    response = client.post(
        reverse("evaluators:preview", args=[project.slug]), form_data(route="support.answer"), **HTMX
    )
    body = response.content.decode()
    assert body.count('data-testid="not-applicable"') == 2


def test_preview_with_bad_config_shows_the_error_on_the_field(client, alice, project, recent):
    client.force_login(alice)
    response = client.post(
        reverse("evaluators:preview", args=[project.slug]), form_data(config=json.dumps({"mode": "sometimes"})), **HTMX
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-field="config"' in body and "mode: must be one of" in body
    assert 'data-testid="preview-row"' not in body


def test_preview_of_an_llm_judge_answers_without_calling_the_llm_and_polls_a_job(
    client, alice, project, recent, fake_openai
):
    fake_openai.default = Reply(content='{"score": 4, "confidence": 0.9, "reason": "Direct and useful."}')
    judge = judge_create(project=project, name="local", base_url=fake_openai.base_url, model="test-model-2024-08-06")
    client.force_login(alice)
    data = form_data(
        name="helpful", kind="llm_judge", config=json.dumps({"rubric": "helpfulness"}), judge=str(judge.id)
    )
    response = client.post(reverse("evaluators:preview", args=[project.slug]), data, **HTMX)
    assert response.status_code == 200
    assert fake_openai.requests == []  # the judge runs in a worker, never inside the web request
    preview = JudgePreview.objects.get(project=project)
    assert (preview.status, len(preview.items)) == ("pending", 3)  # at most three traces
    status_url = reverse("judges:preview-status", args=[project.slug, preview.id])
    assert f'hx-get="{status_url}"' in response.content.decode()


def test_edit_keeps_name_and_kind_and_bumps_the_version(client, alice, project):
    evaluator = Evaluator.objects.get(project=project, name="grounding")
    old_version = evaluator.version
    client.force_login(alice)
    url = reverse("evaluators:edit", args=[project.slug, evaluator.id])
    page = client.get(url).content.decode()
    assert 'data-testid="config">{}</textarea>' in page  # only options changed from their defaults are shown
    assert 'data-testid="backfill-form"' in page
    response = client.post(
        url, form_data(name="renamed", kind="regex", config=json.dumps({"threshold": 0.7}), sample_rate="0.5")
    )
    assert response.status_code == 302
    evaluator.refresh_from_db()
    assert (evaluator.name, evaluator.kind) == ("grounding", "grounding")
    assert evaluator.config["threshold"] == 0.7 and evaluator.sample_rate == 0.5
    assert evaluator.version != old_version
    assert "&quot;threshold&quot;: 0.7" in client.get(url).content.decode()


def test_backfill_start_shows_progress_that_polls_and_stops_with_286(client, alice, project, recent):
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    client.force_login(alice)
    since = (timezone.now() - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M")
    until = (timezone.now() + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("evaluators:backfill-start", args=[project.slug, evaluator.id]),
        {"since": since, "until": until},
        **HTMX,
    )
    assert response.status_code == 200
    backfill = Backfill.objects.get(evaluator=evaluator)
    assert backfill.total == 3
    body = response.content.decode()
    status_url = reverse("evaluators:backfill-status", args=[project.slug, backfill.id])
    assert f'hx-get="{status_url}" hx-trigger="every 1s"' in body
    assert 'id="backfill-history" hx-swap-oob="true"' in body

    running = client.get(status_url, **HTMX)
    assert running.status_code == 200 and "every 1s" in running.content.decode()

    while backfill_step(backfill_id=backfill.id).more:
        pass
    done = client.get(status_url, **HTMX)
    assert done.status_code == HTMX_STOP_POLLING
    body = done.content.decode()
    assert "every 1s" not in body and 'data-status="done"' in body
    assert "3</strong> / 3 traces (100%)" in body


def test_backfill_with_until_before_since_is_named(client, alice, project):
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    client.force_login(alice)
    response = client.post(
        reverse("evaluators:backfill-start", args=[project.slug, evaluator.id]),
        {"since": "2025-03-14T10:00", "until": "2025-03-14T09:00"},
        **HTMX,
    )
    assert response.status_code == 400
    assert "until: must be after since" in response.content.decode()
    assert not Backfill.objects.exists()


def test_bob_the_viewer_reads_but_cannot_write(client, bob, project, recent):
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    client.force_login(bob)
    assert client.get(reverse("evaluators:list", args=[project.slug])).status_code == 200
    page = client.get(reverse("evaluators:edit", args=[project.slug, evaluator.id]))
    assert page.status_code == 200 and 'data-testid="save"' not in page.content.decode()
    assert client.get(reverse("evaluators:create", args=[project.slug])).status_code == 403
    assert client.post(reverse("evaluators:create", args=[project.slug]), form_data()).status_code == 403
    assert client.post(reverse("evaluators:edit", args=[project.slug, evaluator.id]), form_data()).status_code == 403
    assert client.post(reverse("evaluators:preview", args=[project.slug]), form_data()).status_code == 403
    backfill_url = reverse("evaluators:backfill-start", args=[project.slug, evaluator.id])
    assert client.post(backfill_url, {"since": "2025-03-14T09:00", "until": "2025-03-15T09:00"}).status_code == 403
    assert not Evaluator.objects.filter(name="no_ai_disclaimer").exists() and not Backfill.objects.exists()


def test_carol_the_outsider_gets_404(client, carol, project):
    evaluator = Evaluator.objects.get(project=project, name="not_empty")
    client.force_login(carol)
    assert client.get(reverse("evaluators:list", args=[project.slug])).status_code == 404
    assert client.get(reverse("evaluators:edit", args=[project.slug, evaluator.id])).status_code == 404
    assert client.post(reverse("evaluators:create", args=[project.slug]), form_data()).status_code == 404
    assert client.post(reverse("evaluators:preview", args=[project.slug]), form_data()).status_code == 404


def test_another_projects_evaluator_and_backfill_are_404(client, alice, project):
    from apps.projects.services import project_create

    other = project_create(name="Other", owner=alice)
    evaluator = Evaluator.objects.get(project=other, name="not_empty")
    backfill = Backfill.objects.create(
        project=other,
        evaluator=evaluator,
        evaluator_version=evaluator.version,
        since=timezone.now() - timedelta(hours=1),
        until=timezone.now(),
    )
    client.force_login(alice)
    assert client.get(reverse("evaluators:edit", args=[project.slug, evaluator.id])).status_code == 404
    assert client.get(reverse("evaluators:backfill-status", args=[project.slug, backfill.id])).status_code == 404


def test_list_query_count_does_not_grow_with_evaluators(client, alice, project, django_assert_max_num_queries):
    client.force_login(alice)
    # 8, plus one for the latest version change of each evaluator and one for running re-scores: both constant.
    with django_assert_max_num_queries(10):
        assert client.get(reverse("evaluators:list", args=[project.slug])).status_code == 200
