"""JSON request bodies with a nesting limit and a size cap: deep nesting is a 400, never a RecursionError."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from apps.core.json_depth import json_depth_exceeds, json_too_deep_message


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the ingest body cap and a nesting limit; failures name the `body` field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = settings.OTLP_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = getattr(request, "META", {}).get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit:
            # Refuse before reading: waiting for a body that large would hold the worker.
            raise _BodyTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise _BodyTooLarge(f"body exceeds the {limit}-byte limit")
        if json_depth_exceeds(raw):
            raise ValidationError({"body": [json_too_deep_message()]})
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except ParseError as exc:
            raise ValidationError({"body": [str(exc.detail)]}) from None
        except RecursionError:  # the limit above should make this unreachable; never a 500
            raise ValidationError({"body": [json_too_deep_message()]}) from None


class _BodyTooLarge(ParseError):
    status_code = 413
    default_code = "too_large"
