"""Request parsers of the API (kept apart from apps.core.api, which imports DRF views and schema machinery)."""

from __future__ import annotations

import io
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class BoundedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes; a larger one is a 413 before it is parsed.

    DRF reads the body as a stream, which skips Django's own DATA_UPLOAD_MAX_MEMORY_SIZE check.
    """

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise RequestTooLarge(f"The request body exceeds the {limit}-byte limit.")
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)
