"""Realistic OTLP/protobuf trace batches for the ingest benchmark, built with the real OpenTelemetry SDK.

Each trace is one RAG request as an instrumented app emits it: a root span carrying the request-wide
dimensions (route, prompt version, user, session), a retrieval span with 3-5 documents, and an LLM
span with 1-2 KB of gen_ai.input.messages / gen_ai.output.messages. Spans come from a real
TracerProvider (random, unique ids; real timestamps) and are encoded by the exporter's own
`encode_spans`, so each body is byte-for-byte what OTLPSpanExporter would POST.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

SPANS_PER_TRACE = 3

_WORDS = (
    "account password reset settings security billing invoice refund plan upgrade team member invite "
    "workspace export data api key token rate limit webhook integration slack email notification "
    "two-factor login session browser mobile app sync error timeout retry support article guide step "
    "click open choose select confirm save verify the your a to and of in for with on from by"
).split()
_ROUTES = ("/support/chat", "/support/search", "/billing/assistant", "/onboarding/guide", "/docs/qa")
_MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "claude-sonnet-4-20250514")
_PROMPTS = ("support-v12", "support-v13", "billing-v4", "onboarding-v2")


class _Collector(SpanExporter):
    """Keep finished SDK spans in memory."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _text(rng: random.Random, chars: int) -> str:
    """Sentence-like filler of about `chars` characters."""
    out: list[str] = []
    size = 0
    while size < chars:
        sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)


def _record_trace(tracer: Any, rng: random.Random, n: int, content_logs: list | None = None) -> None:
    """Record one RAG request: root span, retrieval span with documents, LLM span with messages.

    With `content_logs` (a list), the LLM span carries no messages: they are appended to it as the log
    records the openai-v2 instrumentation emits instead (one event per message plus a gen_ai.choice).
    """
    model = rng.choice(_MODELS)
    question = _text(rng, rng.randint(80, 200))
    docs = [
        {"id": f"kb-{rng.randint(1, 5000)}", "score": round(rng.uniform(0.5, 0.95), 3), "content": _text(rng, 220)}
        for _ in range(rng.randint(3, 5))
    ]
    with tracer.start_as_current_span(
        "answer_question",
        attributes={
            "sightline.route": rng.choice(_ROUTES),
            "sightline.prompt.version": rng.choice(_PROMPTS),
            "sightline.environment": "production",
            "user.id": f"user-{rng.randint(1, 2000)}",
            "session.id": f"sess-{n // 4}",
        },
    ):
        with tracer.start_as_current_span(
            "retrieval help-center",
            attributes={
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "help-center",
                "gen_ai.retrieval.query.text": question[:120],
                "gen_ai.retrieval.documents": json.dumps(docs),
            },
        ):
            pass
        input_messages = [
            {
                "role": "system",
                "parts": [{"type": "text", "content": "Answer from the help center only. " + _text(rng, 200)}],
            },
            {"role": "user", "parts": [{"type": "text", "content": "Context: " + _text(rng, rng.randint(350, 650))}]},
            {"role": "user", "parts": [{"type": "text", "content": question}]},
        ]
        output_messages = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": _text(rng, rng.randint(250, 500)) + " [1]"}],
                "finish_reason": "stop",
            }
        ]
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic" if model.startswith("claude") else "openai",
            "gen_ai.request.model": model.rsplit("-20", 1)[0],
            "gen_ai.response.model": model,
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 512,
            "gen_ai.usage.input_tokens": rng.randint(300, 900),
            "gen_ai.usage.output_tokens": rng.randint(40, 200),
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.input.messages": json.dumps(input_messages),
            "gen_ai.output.messages": json.dumps(output_messages),
        }
        if content_logs is not None:
            del attributes["gen_ai.input.messages"], attributes["gen_ai.output.messages"]
        with tracer.start_as_current_span(f"chat {model}", attributes=attributes) as llm:
            if content_logs is not None:
                content_logs.extend(_content_events(llm.get_span_context(), input_messages, output_messages))


def _content_events(context: Any, input_messages: list[dict], output_messages: list[dict]) -> list[Any]:
    """The legacy GenAI events openai-v2 logs for one call: gen_ai.{system,user}.message per message, gen_ai.choice."""
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    records = []
    now = time.time_ns()
    trace_id, span_id = context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big")
    events = [(f"gen_ai.{m['role']}.message", {"content": m["parts"][0]["content"]}) for m in input_messages]
    for m in output_messages:
        message = {"role": "assistant", "content": m["parts"][0]["content"]}
        events.append(("gen_ai.choice", {"index": 0, "finish_reason": m["finish_reason"], "message": message}))
    for name, body in events:
        record = LogRecord(time_unix_nano=now, trace_id=trace_id, span_id=span_id, event_name=name)
        record.attributes.extend([_kv("gen_ai.system", "openai"), _kv("event.name", name)])
        record.body.CopyFrom(_any(body))
        records.append(record)
    return records


def _any(value: Any) -> Any:
    """An OTLP AnyValue for a str/int/dict value."""
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValueList

    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=[_kv(k, v) for k, v in value.items()]))
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=value)


def _kv(key: str, value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    return KeyValue(key=key, value=_any(value))


def _encode_logs(records: list[Any]) -> bytes:
    """An ExportLogsServiceRequest body, as OTLPLogExporter posts it."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
    from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource

    scope_logs = ScopeLogs(
        scope=InstrumentationScope(name="opentelemetry.instrumentation.openai_v2"), log_records=records
    )
    resource = PbResource(attributes=[_kv("service.name", "support-bot")])
    request = ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=resource, scope_logs=[scope_logs])])
    return request.SerializeToString()


@dataclass
class Batch:
    """One POST body: `spans` spans in `traces` traces; with content as logs, also the logs body of their content."""

    body: bytes
    spans: int
    traces: int
    logs_body: bytes = b""
    log_records: int = 0


def make_batches(count: int, traces_per_batch: int = 33, seed: int = 7, content_as_logs: bool = False) -> list[Batch]:
    """Return `count` protobuf ExportTraceServiceRequest bodies of `traces_per_batch` × 3 spans each.

    With `content_as_logs`, the same requests (same seed, same text) with the LLM messages moved from the
    spans into an ExportLogsServiceRequest per batch, as the official openai instrumentation sends them.
    """
    rng = random.Random(seed)
    collector = _Collector()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "deployment.environment": "production"})
    )
    provider.add_span_processor(SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("sightline.bench", "1.0")
    batches: list[Batch] = []
    n = 0
    for _ in range(count):
        collector.spans.clear()
        logs: list | None = [] if content_as_logs else None
        for _ in range(traces_per_batch):
            _record_trace(tracer, rng, n, logs)
            n += 1
        body = encode_spans(collector.spans).SerializeToString()
        batch = Batch(body=body, spans=len(collector.spans), traces=traces_per_batch)
        if logs is not None:
            batch.logs_body, batch.log_records = _encode_logs(logs), len(logs)
        batches.append(batch)
    provider.shutdown()
    return batches


def llm_span_message_bytes(batch: Batch) -> list[int]:
    """Sizes of input+output messages on the LLM spans of a batch (for the report's sanity line)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    msg = ExportTraceServiceRequest()
    msg.ParseFromString(batch.body)
    sizes: list[int] = []
    for rs in msg.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                total = sum(
                    len(kv.value.string_value.encode())
                    for kv in span.attributes
                    if kv.key in ("gen_ai.input.messages", "gen_ai.output.messages")
                )
                if total:
                    sizes.append(total)
    return sizes


# --------------------------------------------------------------------------------------------
# Dual-convention RAG spans: the same content under OTel GenAI and OpenInference attributes, as an app
# instrumented twice (openai-v2 + openinference-instrumentation-openai, or Phoenix beside an OTel SDK) sends it.


def _dual_llm_attributes(rng: random.Random, model: str, question: str, context: str) -> dict[str, Any]:
    """An LLM span's attributes: gen_ai.* messages and usage, and the same call as OpenInference llm.* keys."""
    system = "Answer from the help center only. " + _text(rng, 160)
    answer = _text(rng, rng.randint(300, 520)) + " [1]"
    plain = [("system", system), ("user", "Context: " + context), ("user", question)]
    usage_in, usage_out = rng.randint(300, 900), rng.randint(40, 200)
    provider = "anthropic" if model.startswith("claude") else "openai"
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model.rsplit("-20", 1)[0],
        "gen_ai.response.model": model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.usage.input_tokens": usage_in,
        "gen_ai.usage.output_tokens": usage_out,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.input.messages": json.dumps([{"role": r, "parts": [{"type": "text", "content": c}]} for r, c in plain]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.provider": provider,
        "llm.system": provider,
        "llm.token_count.prompt": usage_in,
        "llm.token_count.completion": usage_out,
        "llm.token_count.total": usage_in + usage_out,
        "llm.invocation_parameters": json.dumps({"temperature": 0.2, "max_tokens": 512}),
        "input.mime_type": "application/json",
        "input.value": json.dumps(
            {"messages": [{"role": r, "content": c} for r, c in plain], "model": model, "temperature": 0.2}
        ),
        "output.mime_type": "application/json",
        "output.value": json.dumps(
            {
                "id": f"chatcmpl-{rng.getrandbits(64):016x}",
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": usage_in, "completion_tokens": usage_out},
            }
        ),
    }
    for i, (role, content) in enumerate(plain):
        attributes[f"llm.input_messages.{i}.message.role"] = role
        attributes[f"llm.input_messages.{i}.message.content"] = content
    attributes["llm.output_messages.0.message.role"] = "assistant"
    attributes["llm.output_messages.0.message.content"] = answer
    return attributes


def _record_dual_trace(tracer: Any, rng: random.Random, n: int) -> None:
    """Record one RAG request whose content is present in both the OTel GenAI and the OpenInference attributes."""
    model = rng.choice(_MODELS)
    question = _text(rng, rng.randint(80, 160))
    docs = [
        {"id": f"kb-{rng.randint(1, 5000)}", "score": round(rng.uniform(0.5, 0.95), 3), "content": _text(rng, 320)}
        for _ in range(rng.randint(3, 5))
    ]
    answer_text = _text(rng, 120)
    root_attributes = {
        "sightline.route": rng.choice(_ROUTES),
        "sightline.prompt.version": rng.choice(_PROMPTS),
        "sightline.environment": "production",
        "user.id": f"user-{rng.randint(1, 2000)}",
        "session.id": f"sess-{n // 4}",
        "openinference.span.kind": "CHAIN",
        "input.value": question,
        "output.value": answer_text,
    }
    with tracer.start_as_current_span("answer_question", attributes=root_attributes):
        retrieval = {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.data_source.id": "help-center",
            "gen_ai.retrieval.query.text": question,
            "gen_ai.retrieval.documents": json.dumps(docs),
            "openinference.span.kind": "RETRIEVER",
            "input.value": question,
        }
        for i, doc in enumerate(docs):
            retrieval[f"retrieval.documents.{i}.document.id"] = doc["id"]
            retrieval[f"retrieval.documents.{i}.document.score"] = doc["score"]
            retrieval[f"retrieval.documents.{i}.document.content"] = doc["content"]
        with tracer.start_as_current_span("retrieval help-center", attributes=retrieval):
            pass
        context = " ".join(d["content"] for d in docs[:2])
        with tracer.start_as_current_span(
            f"chat {model}", attributes=_dual_llm_attributes(rng, model, question, context)
        ):
            pass


def make_dual_batches(spans: int, spans_per_batch: int = 300, seed: int = 17) -> list[Batch]:
    """Return protobuf bodies of `spans_per_batch` spans (RAG traces of 3 spans, content in both conventions)
    adding up to `spans` spans (rounded up to whole batches)."""
    rng = random.Random(seed)
    collector = _Collector()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "deployment.environment": "production"})
    )
    provider.add_span_processor(SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("sightline.bench.dual", "1.0")
    traces_per_batch = max(1, spans_per_batch // SPANS_PER_TRACE)
    batches: list[Batch] = []
    n = 0
    while sum(b.spans for b in batches) < spans:
        collector.spans.clear()
        for _ in range(traces_per_batch):
            _record_dual_trace(tracer, rng, n)
            n += 1
        body = encode_spans(collector.spans).SerializeToString()
        batches.append(Batch(body=body, spans=len(collector.spans), traces=traces_per_batch))
    provider.shutdown()
    return batches
