"""JSON request bodies with a size cap and a nesting limit: too large is a 413, too deep a 400, never a 500.

Kept apart from apps.core.api, which imports DRF views and schema machinery.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from apps.core.json_depth import json_depth_exceeds, json_too_deep_message


class RequestTooLarge(ParseError):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "too_large"


def _body_limit() -> int:
    """The smaller of the ingest cap and Django's upload cap (DRF reads the stream, which skips Django's own check)."""
    limits = [settings.OTLP_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE]
    return min(limit for limit in limits if limit is not None)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the body cap and a nesting limit; failures name the `body` field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = _body_limit()
        request = (parser_context or {}).get("request")
        declared = getattr(request, "META", {}).get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            # Refuse before reading: waiting for a body that large would hold the worker.
            raise RequestTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"body exceeds the {limit}-byte limit")
        if json_depth_exceeds(raw):
            raise ValidationError({"body": [json_too_deep_message()]})
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except ParseError as exc:
            raise ValidationError({"body": [str(exc.detail)]}) from None
        except RecursionError:  # the limit above should make this unreachable; never a 500
            raise ValidationError({"body": [json_too_deep_message()]}) from None
