"""Scores: the upsert every source uses, dimensions kept current, evaluations carried inside spans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.scores.models import Score
from apps.scores.services import ScoreInput, scores_dimensions_refresh, scores_upsert
from apps.traces.models import IngestBatch, Trace
from apps.traces.normalize import NormalizedSpan
from apps.traces.services import ingest_batch_process, spans_ingest, traces_ensure
from tests.support.otlp import protobuf_body, record_spans

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_upsert_replaces_a_score_of_the_same_evaluator_version(project):
    pks = traces_ensure(project=project, started={"cd" * 16: T0})
    item = ScoreInput(
        trace_pk=pks["cd" * 16], name="grounding", source="programmatic", value=0.5, evaluator_version="v1"
    )
    scores_upsert(project=project, items=[item])
    scores_upsert(project=project, items=[ScoreInput(**{**item.__dict__, "value": 0.9})])
    scores_upsert(project=project, items=[ScoreInput(**{**item.__dict__, "evaluator_version": "v2", "value": 0.1})])
    assert sorted(Score.objects.values_list("evaluator_version", "value")) == [("v1", 0.9), ("v2", 0.1)]


def test_a_score_for_a_trace_whose_spans_come_later_gets_their_dimensions(project):
    pks = traces_ensure(project=project, started={"cd" * 16: T0})
    scores_upsert(project=project, items=[ScoreInput(trace_pk=pks["cd" * 16], name="Relevance", source="external")])
    span = NormalizedSpan(
        trace_id="cd" * 16,
        span_id="1" * 16,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=1),
        route="/chat",
        model="m-1",
        prompt_version="p7",
        environment="prod",
        kind="llm",
    )
    spans_ingest(project=project, spans=[span])
    assert Score.objects.get().route == ""
    assert scores_dimensions_refresh(project_id=project.id, trace_pks=[pks["cd" * 16]]) == 1
    score = Score.objects.get()
    assert (score.route, score.model, score.prompt_version, score.environment) == ("/chat", "m-1", "p7", "prod")


def test_openinference_span_evaluations_become_external_scores(client, api_key, project):
    def build(tracer):
        with tracer.start_as_current_span(
            "ChatCompletion",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "evaluations.0.evaluation.name": "hallucination",
                "evaluations.0.evaluation.score": 1.0,
                "evaluations.0.evaluation.label": "hallucinated",
                "evaluations.0.evaluation.explanation": "cites a policy that does not exist",
            },
        ):
            pass

    body = protobuf_body(record_spans(build))
    response = client.post(
        "/v1/traces", data=body, content_type="application/x-protobuf", HTTP_AUTHORIZATION=f"Bearer {api_key}"
    )
    assert response.status_code == 200
    batch = IngestBatch.objects.get(project=project)
    assert ingest_batch_process(batch_id=batch.id) is True
    score = Score.objects.get(project=project, source="external")
    assert (score.name, score.value, score.label, score.source) == ("hallucination", 1.0, "hallucinated", "external")
    assert score.model == Trace.objects.get(project=project).model == "gpt-4o"
