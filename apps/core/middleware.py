"""Request-body plumbing shared by every endpoint: chunked bodies read in full, or refused, never dropped."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse

_READ_CHUNK = 1 << 16


class BodyUnreadable(Exception):
    """The request body cannot be read as sent; carries the status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_chunked_without_length(request: HttpRequest) -> bool:
    """Return True for a `Transfer-Encoding: chunked` request that declares no Content-Length."""
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "")
    return "chunked" in encoding.lower() and not request.META.get("CONTENT_LENGTH")


def chunked_body_load(request: HttpRequest, limit: int) -> None:
    """Read a chunked body to its end (at most `limit` bytes) and re-expose it with a Content-Length.

    Django sizes the body by CONTENT_LENGTH, which a chunked request lacks: it would read 0 bytes and a
    view would see an empty request. A server that de-chunks (gunicorn, uWSGI, mod_wsgi) says so with
    `wsgi.input_terminated`, and its input can be read to EOF. Django's own development server does not
    de-chunk: such a body cannot be read, which is a 411, never an empty request.
    """
    if not request.META.get("wsgi.input_terminated"):
        raise BodyUnreadable(411, "Transfer-Encoding: chunked is not supported here; send a Content-Length")
    stream = request.META["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            part = stream.read(_READ_CHUNK)
        except Exception as exc:  # the server's de-chunker: bad chunk sizes, a client gone mid-body
            raise BodyUnreadable(400, f"the chunked body could not be read: {exc}") from None
        if not part:
            break
        size += len(part)
        if size > limit:
            raise BodyUnreadable(413, f"body exceeds the {limit}-byte limit")
        parts.append(part)
    body = b"".join(parts)
    request.META["CONTENT_LENGTH"] = str(len(body))
    # WSGIRequest reads through `_stream` (sized at construction from the missing length, so 0 bytes).
    request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[attr-defined]
    request._read_started = False  # type: ignore[attr-defined]


class ChunkedBodyMiddleware:
    """Make chunked request bodies readable by every view (OTLP, REST), or refuse them with 411/413."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_chunked_without_length(request):
            try:
                chunked_body_load(request, settings.OTLP_MAX_BODY_BYTES)
            except BodyUnreadable as exc:
                detail = {411: "length_required", 413: "too_large"}.get(exc.status, "unreadable")
                field = "body" if exc.status == 400 else "Content-Length"
                return JsonResponse({"error": exc.message, "field": field, "detail": detail}, status=exc.status)
        return self.get_response(request)
