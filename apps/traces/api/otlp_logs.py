"""POST /v1/logs: the OTLP/HTTP log receiver, for GenAI message content and evaluation results.

An OTLP receiver beside /v1/traces. Content events attach to their span (now, or when it arrives);
evaluation events go to the consumers in settings.LOG_EVALUATION_CONSUMERS (scores), so traces
never imports scores.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.projects.models import ApiKey
from apps.traces.api.otlp_receiver import otlp_handle, otlp_store_and_answer
from apps.traces.normalize import LogContent, LogEvaluation, SpanRejected, normalize_log_record
from apps.traces.otlp import OtlpError, encode_logs_response, iter_log_records, parse_logs_request
from apps.traces.services import log_events_ingest


def _ingest_logs(api_key: ApiKey, body: bytes, content_type: str) -> HttpResponse:
    """Decode log records, keep the GenAI ones, store them, answer with partial success for bad records.

    A record the database refuses costs only that record (a 400 only when no record could be stored): one
    COPY/UPDATE carries the whole batch, so store_isolating_data_errors halves it until the bad one is alone.
    """
    request_msg = parse_logs_request(body, content_type)
    events: list[tuple[int, LogContent | LogEvaluation]] = []
    problems: list[str] = []
    rejected = 0
    for index, raw in enumerate(iter_log_records(request_msg)):
        if index >= settings.INGEST_MAX_SPANS_PER_REQUEST:
            raise OtlpError(413, f"more than {settings.INGEST_MAX_SPANS_PER_REQUEST} log records in one request")
        try:
            event = normalize_log_record(raw)
        except SpanRejected as exc:
            rejected += 1
            problems.append(f"log record {index}: {exc}")
            continue
        if event is not None:  # other log records are not ours to keep
            events.append((index, event))
    return otlp_store_and_answer(
        events,
        lambda group: log_events_ingest(project=api_key.project, events=[event for _, event in group]),
        noun="log record",
        rejected=rejected,
        problems=problems,
        encode=encode_logs_response,
        content_type=content_type,
    )


@csrf_exempt
def otlp_logs_view(request: HttpRequest) -> HttpResponse:
    """Receive an OTLP ExportLogsServiceRequest."""
    return otlp_handle(request, _ingest_logs)
