"""The OTLP/HTTP request cycle shared by /v1/traces and /v1/logs: auth, limits, decoding, answers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import APIException, AuthenticationFailed

from apps.core.middleware import is_chunked_without_length
from apps.projects.authentication import bearer_key_from
from apps.projects.models import ApiKey
from apps.projects.services import api_key_authenticate
from apps.traces.bulk import data_error_message, is_data_error, store_isolating_data_errors
from apps.traces.otlp import OtlpError, encode_status, read_body

logger = logging.getLogger(__name__)

# OTLP exporters retry 429/502/503/504; the Python one gives up on waits past its 10 s timeout.
RETRY_AFTER_SECONDS = 2
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14}


def otlp_error(request: HttpRequest, status: int, message: str, retry_after: int | None = None) -> HttpResponse:
    """Answer with a google.rpc.Status body in the request's encoding."""
    body, content_type = encode_status(request.content_type or "", GRPC_CODES.get(status, 2), message)
    response = HttpResponse(body, status=status, content_type=content_type)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _otlp_api_key(request: HttpRequest, key_from: Callable[[HttpRequest], str]) -> ApiKey:
    """The request's API key (401 when wrong, revoked or missing); a hot key is served from the key cache."""
    api_key = api_key_authenticate(plaintext=key_from(request), cached=True)
    if api_key is None:
        raise AuthenticationFailed("Invalid or revoked API key.")
    return api_key


def otlp_handle(
    request: HttpRequest,
    ingest: Callable[[ApiKey, bytes, str], HttpResponse],
    *,
    key_from: Callable[[HttpRequest], str] = bearer_key_from,
    auth_scheme: str = "Bearer",
) -> HttpResponse:
    """Authenticate, enforce size limits, decompress, then hand the body to `ingest`; map failures to OTLP codes.

    `key_from` reads the key from the request (a bearer token; Langfuse's path also takes HTTP Basic).
    """
    if request.method != "POST":
        response = otlp_error(request, 405, "OTLP/HTTP takes POST")
        response["Allow"] = "POST"
        return response
    try:
        api_key = _otlp_api_key(request, key_from)
    except APIException as exc:
        response = otlp_error(request, 401, str(exc.detail))
        response["WWW-Authenticate"] = f'{auth_scheme} realm="sightline"'
        return response
    except (OperationalError, InterfaceError):
        return otlp_error(request, 503, "database unavailable, retry later", RETRY_AFTER_SECONDS)
    if api_key.scope != ApiKey.Scope.WRITE:
        return otlp_error(request, 403, "this API key is read-only; ingestion needs a write key")
    content_type = request.content_type or ""
    if is_chunked_without_length(request):
        # ChunkedBodyMiddleware gives a readable chunked body a Content-Length; without one it is unread.
        return otlp_error(request, 411, "Transfer-Encoding: chunked is not supported here; send a Content-Length")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return otlp_error(request, 400, "Content-Length is not a number")
    if declared > settings.OTLP_MAX_BODY_BYTES:
        return otlp_error(
            request, 413, f"body of {declared} bytes exceeds the {settings.OTLP_MAX_BODY_BYTES}-byte limit"
        )
    try:
        raw = request.read(settings.OTLP_MAX_BODY_BYTES + 1)
        if len(raw) > settings.OTLP_MAX_BODY_BYTES:
            return otlp_error(request, 413, f"body exceeds the {settings.OTLP_MAX_BODY_BYTES}-byte limit")
        body = read_body(raw, request.META.get("HTTP_CONTENT_ENCODING"), settings.OTLP_MAX_DECOMPRESSED_BYTES)
        return ingest(api_key, body, content_type)
    except OtlpError as exc:
        return otlp_error(request, exc.status, exc.message)
    except RecursionError:
        # A last guard (the parsers limit nesting): a payload too deep to process is the sender's error.
        return otlp_error(request, 400, "the request nests values too deeply to process")
    except DatabaseError as exc:
        if is_data_error(exc):
            # The values themselves were refused: resending the same batch can never succeed.
            logger.info("OTLP ingest refused by the database: %s", data_error_message(exc))
            return otlp_error(request, 400, f"the database refused a value: {data_error_message(exc)}")
        # Outages, lock waits and statement timeouts under load are temporary: a retryable answer.
        logger.warning("OTLP ingest database error: %s", exc)
        return otlp_error(request, 503, database_problem(exc), RETRY_AFTER_SECONDS)


BUSY_SQLSTATES = {"55P03": "a lock wait timed out", "57014": "a statement timed out", "53300": "too many connections"}


def database_problem(exc: DatabaseError) -> str:
    """Say which temporary database problem stopped a request (for the 503 body and the logs)."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)
    if sqlstate in BUSY_SQLSTATES:
        return f"storage busy ({BUSY_SQLSTATES[sqlstate]}), retry later"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database unavailable, retry later"
    return "storage error, retry later"


def otlp_answer(body_and_type: tuple[bytes, str], status: int = 200) -> HttpResponse:
    """Wrap an encoded OTLP response."""
    body, content_type = body_and_type
    return HttpResponse(body, status=status, content_type=content_type)


def rejection_summary(problems: list[str], total_rejected: int, limit: int = 5) -> str:
    """Summarize rejected items for partial_success.error_message (the first few reasons)."""
    if not total_rejected:
        return ""
    shown = "; ".join(problems[:limit])
    more = f" (and {total_rejected - limit} more)" if total_rejected > limit else ""
    return f"{total_rejected} rejected: {shown}{more}"


def otlp_store_and_answer(
    items: list[tuple[int, Any]],
    store: Callable[[list[tuple[int, Any]]], Any],
    *,
    noun: str,
    rejected: int,
    problems: list[str],
    encode: Callable[[str, int, str], tuple[bytes, str]],
    content_type: str,
) -> HttpResponse:
    """Store (index, item) pairs, a value the database refuses costing only its item; answer with partial_success.

    `rejected` and `problems` carry what decoding already refused; a request none of whose items could be stored
    is a 400 (never a 503: the data, not the database, is at fault).
    """
    stored, refused = store_isolating_data_errors(items, store)
    for index, reason in sorted((index, reason) for (index, _), reason in refused):
        rejected += 1
        problems.append(f"{noun} {index}: the database refused a value ({reason})")
    if refused and not stored:
        raise OtlpError(400, f"no {noun} of the request could be stored: " + rejection_summary(problems, rejected))
    return otlp_answer(encode(content_type, rejected, rejection_summary(problems, rejected)))


__all__: list[Any] = ["otlp_handle", "otlp_error", "otlp_answer", "otlp_store_and_answer", "rejection_summary"]
