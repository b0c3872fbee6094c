"""Real clients against the running app: the SDK's OTLP/HTTP exporters and the instrumented `openai` client."""

from __future__ import annotations

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from apps.scores.models import Score
from apps.traces.models import IngestBatch, Span, Trace
from tests.support.otlp import genai_request

pytestmark = pytest.mark.django_db(transaction=True)


def providers(live_server, api_key: str, resource: dict | None = None):
    headers = {"Authorization": f"Bearer {api_key}"}
    res = Resource.create(resource or {"service.name": "support-bot", "deployment.environment.name": "staging"})
    span_exporter = OTLPSpanExporter(endpoint=f"{live_server.url}/v1/traces", headers=headers)
    tracer_provider = TracerProvider(resource=res)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=res)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{live_server.url}/v1/logs", headers=headers))
    )
    return tracer_provider, logger_provider, span_exporter


def test_sdk_exporter_posts_protobuf_and_the_api_shows_the_trace(live_server, api_key, api_client):
    tracer_provider, logger_provider, exporter = providers(live_server, api_key)
    genai_request(tracer_provider.get_tracer("app"))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    listed = api_client.get("/api/v1/traces", {"prompt_version": "support-v12"}).json()["results"]
    assert len(listed) == 1
    detail = api_client.get(f"/api/v1/traces/{listed[0]['trace_id']}").json()
    assert detail["model"] == "gpt-4o-2024-08-06"
    assert (detail["input_tokens"], detail["output_tokens"]) == (412, 31)
    llm = detail["spans"][2]  # flat, depth-first: the root, its retrieval child, then its LLM child
    assert llm["depth"] == 1 and llm["span_id"] in detail["spans"][0]["child_span_ids"]
    assert llm["kind"] == "llm"
    assert llm["input_messages"][1]["parts"][0]["content"] == "How do I reset my password?"


def test_exporter_sees_success_for_an_accepted_batch(live_server, api_key):
    from tests.support.otlp import record_spans

    spans = record_spans(genai_request)
    exporter = OTLPSpanExporter(endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {api_key}"})
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    bad = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": "Bearer wrong-key-wrong-key"}
    )
    assert bad.export(spans) == SpanExportResult.FAILURE


def test_instrumented_openai_client_lands_model_tokens_messages_and_prompt_version(
    live_server, api_key, project, fake_openai, monkeypatch
):
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    tracer_provider, logger_provider, _ = providers(live_server, api_key)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    try:
        client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test-key", max_retries=0)
        tracer = tracer_provider.get_tracer("app")
        with tracer.start_as_current_span(
            "support_answer", attributes={"sightline.prompt.version": "support-v13", "sightline.route": "/chat"}
        ):
            completion = client.chat.completions.create(
                model="test-model",
                messages=[
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "What is the refund window?"},
                ],
            )
        assert completion.choices[0].message.content == "Hello from the test model."
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        logger_provider.shutdown()

    trace = Trace.objects.get(project=project)
    assert trace.prompt_version == "support-v13"
    assert trace.route == "/chat"
    assert trace.model == "test-model-2024-08-06"  # the model the response came from, not the one requested
    assert trace.provider == "openai"
    assert (trace.input_tokens, trace.output_tokens) == (12, 7)
    llm = Span.objects.get(trace=trace, kind="llm")
    assert llm.model_requested == "test-model"
    # openai-v2 sends content as log events on /v1/logs; they were attached to the span.
    texts = [p.get("content") for m in llm.input_messages for p in m["parts"]]
    assert "What is the refund window?" in texts
    out = [p.get("content") for m in llm.output_messages for p in m["parts"]]
    assert "Hello from the test model." in out
    assert trace.output_text == "Hello from the test model."


def test_evaluation_result_events_become_external_scores(live_server, api_key, project):
    from opentelemetry.sdk._logs import LogRecord as SdkLogRecord  # noqa: F401 - only to check the SDK is there

    tracer_provider, logger_provider, _ = providers(live_server, api_key)
    tracer = tracer_provider.get_tracer("app")
    logger = logger_provider.get_logger("evals")
    from opentelemetry._logs import LogRecord

    with tracer.start_as_current_span("answer") as span:
        ctx = span.get_span_context()
        logger.emit(
            LogRecord(
                trace_id=ctx.trace_id,
                span_id=ctx.span_id,
                trace_flags=ctx.trace_flags,
                event_name="gen_ai.evaluation.result",
                attributes={
                    "event.name": "gen_ai.evaluation.result",
                    "gen_ai.evaluation.name": "Relevance",
                    "gen_ai.evaluation.score.value": 0.25,
                    "gen_ai.evaluation.score.label": "irrelevant",
                    "gen_ai.evaluation.explanation": "answers a different question",
                },
            )
        )
    tracer_provider.shutdown()
    logger_provider.shutdown()
    score = Score.objects.get(project=project)
    assert (score.name, score.value, score.label, score.source) == ("Relevance", 0.25, "irrelevant", "external")
    assert score.explanation == "answers a different question"
    assert score.trace.trace_id == format(ctx.trace_id, "032x")
    assert score.trace.name == "answer"


def test_ingest_enqueues_a_batch_job_that_a_real_worker_runs_once(live_server, api_key, project, celery_worker):
    tracer_provider, logger_provider, _ = providers(live_server, api_key)
    genai_request(tracer_provider.get_tracer("app"))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        states = set(IngestBatch.objects.filter(project=project).values_list("state", flat=True))
        if states == {IngestBatch.State.DONE}:
            break
        time.sleep(0.2)
    batches = list(IngestBatch.objects.filter(project=project))
    assert len(batches) == 3  # SimpleSpanProcessor: one request (one batch) per span
    assert all(b.state == IngestBatch.State.DONE and b.attempts == 1 for b in batches)
    # A redelivery of the same job is a no-op.
    from apps.traces.services import ingest_batch_process

    assert ingest_batch_process(batch_id=batches[0].id) is False
    # Each batch names the one trace its span belongs to, so the job scores that trace and no other.
    trace = Trace.objects.get(project=project)
    assert [b.trace_ids for b in batches] == [[trace.pk]] * 3
