"""POST /v1/traces: the OTLP/HTTP trace receiver (protobuf or JSON, gzip/deflate); also at Langfuse's path."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.projects.authentication import basic_or_bearer_key_from
from apps.projects.models import ApiKey
from apps.traces.api.otlp_receiver import otlp_handle, otlp_store_and_answer, rejection_summary
from apps.traces.normalize import NormalizedSpan, SpanRejected, normalize_span
from apps.traces.otlp import OtlpError, encode_traces_response, iter_spans, parse_traces_request
from apps.traces.services import spans_ingest


def _ingest_traces(api_key: ApiKey, body: bytes, content_type: str) -> HttpResponse:
    """Decode, normalize each span (rejecting only the bad ones), store, answer with partial success."""
    request_msg = parse_traces_request(body, content_type)
    good: list[tuple[int, NormalizedSpan]] = []
    problems: list[str] = []
    rejected = 0
    for index, raw in enumerate(iter_spans(request_msg)):
        if index >= settings.INGEST_MAX_SPANS_PER_REQUEST:
            raise OtlpError(
                413, f"more than {settings.INGEST_MAX_SPANS_PER_REQUEST} spans in one request; send smaller batches"
            )
        try:
            good.append((index, normalize_span(raw, max_value_chars=settings.INGEST_MAX_VALUE_CHARS)))
        except SpanRejected as exc:
            rejected += 1
            problems.append(f"span {index}: {exc}")
        except RecursionError:
            # A JSON-valued attribute nested past Python's recursion limit: that span, not the batch.
            rejected += 1
            problems.append(f"span {index}: an attribute value is nested too deeply")
    if rejected and not good:
        # Every span unusable, e.g. OTLP logs posted to the traces endpoint (they decode as id-less spans).
        raise OtlpError(400, "no usable span in the request: " + rejection_summary(problems, rejected))
    return otlp_store_and_answer(
        good,
        lambda group: spans_ingest(project=api_key.project, spans=[span for _, span in group]),
        noun="span",
        rejected=rejected,
        problems=problems,
        encode=encode_traces_response,
        content_type=content_type,
    )


@csrf_exempt
def otlp_traces_view(request: HttpRequest) -> HttpResponse:
    """Receive an OTLP ExportTraceServiceRequest; answer only after the spans are committed."""
    return otlp_handle(request, _ingest_traces)


@csrf_exempt
def otlp_langfuse_traces_view(request: HttpRequest) -> HttpResponse:
    """Receive the Langfuse SDK's export (/api/public/otel/v1/traces, HTTP Basic): the same handling as /v1/traces."""
    return otlp_handle(request, _ingest_traces, key_from=basic_or_bearer_key_from, auth_scheme="Basic")
