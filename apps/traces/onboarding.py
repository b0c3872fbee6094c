"""The "Send your first trace" page's content: copy-paste snippets per tool, built for one endpoint and key."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Shown in place of the secret until the admin creates a key on the page (an example, not a real-looking key).
KEY_PLACEHOLDER = "<your-sightline-key>"


@dataclass(frozen=True)
class Snippet:
    """One tab of the onboarding page: what to run (or change) for one tool."""

    slug: str
    title: str
    intro: str
    code: str
    language: str = "sh"


def _rest_batch(now: datetime) -> str:
    """A one-trace REST batch with a fresh trace id, timed now (ISO 8601 UTC)."""
    started = now.replace(microsecond=0)
    batch = {
        "traces": [
            {
                "trace_id": secrets.token_hex(16),
                "name": "hello sightline",
                "started_at": started.isoformat().replace("+00:00", "Z"),
                "ended_at": (started + timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
                "input": "How do I reset my password?",
                "output": "Open Settings → Security and choose Reset password.",
            }
        ]
    }
    return json.dumps(batch, indent=2, ensure_ascii=False)


def onboarding_snippets(*, endpoint: str, key: str = "", now: datetime | None = None) -> list[Snippet]:
    """Return the snippets for sending traces to `endpoint` with `key` (a placeholder when there is none)."""
    key = key or KEY_PLACEHOLDER
    now = now or datetime.now(UTC)
    env = f'export OTEL_EXPORTER_OTLP_ENDPOINT="{endpoint}"\nexport OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {key}"'
    return [
        Snippet(
            "otel",
            "Any OTel SDK",
            "Every OpenTelemetry SDK reads these variables; the exporter posts OTLP/HTTP to /v1/traces.",
            env + "\nexport OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        ),
        Snippet(
            "openai",
            "Python · OpenAI",
            "The official OpenAI instrumentation (opentelemetry-instrumentation-openai-v2), with message content.",
            "pip install openai opentelemetry-sdk opentelemetry-exporter-otlp-proto-http "
            "opentelemetry-instrumentation-openai-v2\n"
            + env
            + "\nexport OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true\n"
            "export OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental\n\n"
            "# app.py\n"
            "from opentelemetry import trace\n"
            "from opentelemetry.sdk.trace import TracerProvider\n"
            "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
            "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
            "from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor\n\n"
            "provider = TracerProvider()\n"
            "provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))\n"
            "trace.set_tracer_provider(provider)\n"
            "OpenAIInstrumentor().instrument()",
            "python",
        ),
        Snippet(
            "openinference",
            "OpenInference · LlamaIndex · LangChain",
            "Arize's OpenInference instrumentors; swap in the one for your framework.",
            "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \\\n"
            "  openinference-instrumentation-llama-index openinference-instrumentation-langchain\n"
            + env
            + "\n\n# app.py\n"
            "from opentelemetry.sdk.trace import TracerProvider\n"
            "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
            "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
            "from openinference.instrumentation.llama_index import LlamaIndexInstrumentor\n"
            "from openinference.instrumentation.langchain import LangChainInstrumentor\n\n"
            "provider = TracerProvider()\n"
            "provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))\n"
            "LlamaIndexInstrumentor().instrument(tracer_provider=provider)\n"
            "LangChainInstrumentor().instrument(tracer_provider=provider)",
            "python",
        ),
        Snippet(
            "curl",
            "curl · REST API",
            "No SDK: post a batch of traces as JSON to the REST API.",
            f'curl -X POST "{endpoint}/api/v1/traces" \\\n'
            f'  -H "Authorization: Bearer {key}" \\\n'
            "  -H 'Content-Type: application/json' \\\n"
            f"  -d '{_rest_batch(now)}'",
        ),
        Snippet(
            "langfuse",
            "Coming from Langfuse",
            "Langfuse's SDK (v3 and later) speaks OTLP: change its host and put a Sightline key in the secret key; "
            "the public key is ignored. create_score() calls become scores, also when sent before the trace.",
            f'LANGFUSE_BASE_URL="{endpoint}"      # was https://cloud.langfuse.com (older SDKs: LANGFUSE_HOST)\n'
            'LANGFUSE_PUBLIC_KEY="pk-lf-any"     # ignored by Sightline\n'
            f'LANGFUSE_SECRET_KEY="{key}"',
        ),
        Snippet(
            "phoenix",
            "Coming from Phoenix",
            "arize-phoenix-otel's register() sends gRPC unless told otherwise; Sightline takes OTLP/HTTP. "
            'Pass protocol="http/protobuf" (or, with no code change, add /v1/traces to the endpoint and set '
            "PHOENIX_GRPC_PORT to Sightline's port).",
            f'PHOENIX_COLLECTOR_ENDPOINT="{endpoint}"   # was http://localhost:6006\n'
            f'PHOENIX_API_KEY="{key}"\n\n'
            "from phoenix.otel import register\n"
            'register(protocol="http/protobuf", auto_instrument=True)',
        ),
        Snippet(
            "traceloop",
            "Coming from Traceloop",
            "The Traceloop / OpenLLMetry SDK sends its key as a bearer token to {base_url}/v1/traces.",
            f'TRACELOOP_BASE_URL="{endpoint}"   # was https://api.traceloop.com\n'
            f'TRACELOOP_API_KEY="{key}"\n'
            'TRACELOOP_METRICS_ENABLED="false"   # Sightline takes traces, not OTLP metrics\n\n'
            "# unchanged: from traceloop.sdk import Traceloop; Traceloop.init()",
        ),
    ]
