"""Build OTLP payloads the way real SDKs do: spans from the OpenTelemetry SDK, encoded by its own encoder."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class CollectingExporter(SpanExporter):
    """Keep finished SDK spans in memory."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def record_spans(build: Callable[[Any], None], resource: dict[str, Any] | None = None) -> list[ReadableSpan]:
    """Run `build(tracer)` under a real TracerProvider and return the finished spans."""
    exporter = CollectingExporter()
    provider = TracerProvider(resource=Resource.create(resource or {"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("tests"))
    provider.shutdown()
    return exporter.spans


def protobuf_body(spans: list[ReadableSpan]) -> bytes:
    """The SDK's own protobuf encoding of the spans (what OTLPSpanExporter posts)."""
    return encode_spans(spans).SerializeToString()


def json_body(spans: list[ReadableSpan]) -> bytes:
    """The OTLP/JSON encoding of the spans: camelCase, hex ids, int64 as strings."""
    data = json_format.MessageToDict(encode_spans(spans))
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data).encode()


def genai_request(
    tracer: Any,
    *,
    route: str = "/support/chat",
    prompt_version: str = "support-v12",
    model: str = "gpt-4o-2024-08-06",
    answer: str = "Open Settings → Security [1].",
) -> None:
    """Record one realistic RAG request: a root span, a retrieval span with documents, an LLM span with messages."""
    with tracer.start_as_current_span(
        "answer_question",
        attributes={
            "sightline.route": route,
            "sightline.prompt.version": prompt_version,
            "user.id": "user-812",
            "session.id": "sess-77",
            "sightline.environment": "production",
        },
    ):
        with tracer.start_as_current_span(
            "retrieval help-center",
            attributes={
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "help-center",
                "gen_ai.retrieval.query.text": "reset password",
                "gen_ai.retrieval.documents": json.dumps(
                    [{"id": "kb-12", "score": 0.82, "content": "To reset your password open Settings → Security."}]
                ),
            },
        ):
            pass
        with tracer.start_as_current_span(
            f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model.rsplit("-2024", 1)[0],
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": 412,
                "gen_ai.usage.output_tokens": 31,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.input.messages": json.dumps(
                    [
                        {"role": "system", "parts": [{"type": "text", "content": "Answer from the help center only."}]},
                        {"role": "user", "parts": [{"type": "text", "content": "How do I reset my password?"}]},
                    ]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
                ),
            },
        ):
            pass
