"""API plumbing: one error shape, `{"error": ..., "detail": ...}`, for every failure."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def error_field(detail: Any, prefix: str = "") -> str:
    """Return the dotted path of the first field named in a DRF validation error."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                return prefix
            return error_field(value, path) or path
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)) and value:
                return error_field(value, f"{prefix}[{index}]")
    return prefix


def error_lines(detail: Any, prefix: str = "") -> list[str]:
    """Flatten nested DRF error details into 'field: message' lines."""
    if isinstance(detail, dict):
        lines: list[str] = []
        for key, value in detail.items():
            path = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            lines.extend(error_lines(value, path))
        return lines
    if isinstance(detail, list):
        lines = []
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                lines.extend(error_lines(value, f"{prefix}[{index}]"))
            else:
                lines.extend(error_lines(value, prefix))
        return lines
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def error_response(error: str, detail: Any, status_code: int, **extra: Any) -> Response:
    """Build the house error body."""
    return Response({"error": error, "detail": detail, **extra}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render DRF exceptions as `{"error", "detail"}`, naming the bad field."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        lines = error_lines(exc.detail)
        field = error_field(exc.detail)
        response.data = {
            "error": lines[0] if lines else "invalid input",
            "detail": exc.detail,
            **({"field": field} if field else {}),
        }
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    detail = getattr(exc, "detail", str(exc))
    code = getattr(exc, "default_code", "error")
    response.data = {"error": str(detail), "detail": code}
    return response


def validation_error_response(exc: DjangoValidationError) -> Response:
    """Answer a service's ValidationError as 400 naming the first bad field."""
    if hasattr(exc, "message_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        return error_response(f"{field}: {messages[0]}", exc.message_dict, 400, field=field)
    return error_response(exc.messages[0], exc.messages, 400)
