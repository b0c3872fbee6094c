"""API plumbing: one error body `{"error", "field", "detail"}` for every failure, the list envelope, the
per-item batch answer, and the schema class that documents all three on every operation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

RETRY_AFTER_SECONDS = "2"


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


def error_body(error: str, detail: Any, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """Return the house error body; `field` is null when no single input is to blame."""
    return {"error": error, "field": field or None, "detail": detail, **extra}


def error_response(error: str, detail: Any, status_code: int, *, field: str | None = None, **extra: Any) -> Response:
    """Build a response carrying the house error body."""
    return Response(error_body(error, detail, field, **extra), status=status_code)


def unavailable_response(error: str = "database unavailable, retry later") -> Response:
    """Answer 503 with Retry-After: a temporary problem the client should retry."""
    response = error_response(error, "unavailable", status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API failure (auth, permission, parsing, validation, limits, database) as the error body."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return unavailable_response()
    if isinstance(exc, RequestDataTooBig):
        return error_response(str(exc), "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DjangoValidationError):
        return validation_error_response(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        lines = error_lines(exc.detail)
        response.data = error_body(lines[0] if lines else "invalid input", exc.detail, error_field(exc.detail))
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    detail = getattr(exc, "detail", str(exc))
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = error_body(str(detail), code)
    return response


def validation_error_response(exc: DjangoValidationError) -> Response:
    """Answer a service's ValidationError as 400 naming the first bad field."""
    if hasattr(exc, "error_dict"):
        field, messages = next(iter(exc.message_dict.items()))
        return error_response(f"{field}: {messages[0]}", exc.message_dict, 400, field=field)
    return error_response(exc.messages[0], exc.messages, 400)


# --- lists ---------------------------------------------------------------------------------------------------------


def list_response(results: list[Any], next_cursor: str | None = None) -> Response:
    """Answer a list in the envelope every list operation uses: `results` and `next_cursor` (null on the last page)."""
    return Response({"results": results, "next_cursor": next_cursor or None})


_envelopes: dict[str, type[serializers.Serializer]] = {}


def list_envelope(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """Return the schema serializer of a list of `item` in the list envelope (one class per item, for the schema)."""
    name = item.__name__.removesuffix("Serializer") + "ListSerializer"
    if name not in _envelopes:
        _envelopes[name] = type(
            name,
            (serializers.Serializer,),
            {
                "results": item(many=True),
                "next_cursor": serializers.CharField(
                    allow_null=True, help_text="pass as `cursor` for the next page; null on the last page"
                ),
                "__module__": item.__module__,
            },
        )
    return _envelopes[name]


# --- batches with per-item errors ----------------------------------------------------------------------------------


class RejectedItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position of the item in the request's list")
    field = serializers.CharField(help_text="path of the bad value, e.g. scores[3].trace_id")
    error = serializers.CharField()


class BatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="items stored (a resent item counts; it is stored once)")
    rejected = RejectedItemSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    error = serializers.CharField(help_text="what went wrong, starting with the field's path when one is to blame")
    field = serializers.CharField(allow_null=True, help_text="path of the bad input (e.g. traces[0].trace_id) or null")
    detail = serializers.JSONField(help_text="a machine-readable code, or the full validation errors")


class BatchErrorSerializer(ErrorSerializer):
    """A rejected batch: the error body; when every item was rejected, also each item's reason."""

    accepted = serializers.IntegerField(required=False)
    rejected = RejectedItemSerializer(many=True, required=False)


def batch_item_error(collection: str, index: int, errors: Any) -> dict[str, Any]:
    """Describe one rejected item of a batch: its index, the bad field's full path and the first message."""
    field = error_field(errors)
    lines = error_lines(errors)
    return {
        "index": index,
        "field": f"{collection}[{index}].{field}" if field else f"{collection}[{index}]",
        "error": lines[0] if lines else "invalid item",
    }


def batch_validate(
    collection: str, items: Iterable[Any], serializer_class: type[serializers.Serializer]
) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """Validate each item of a batch on its own; return the (index, data) of good ones and the rejected ones."""
    valid: list[tuple[int, dict[str, Any]]] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        serializer = serializer_class(data=item)
        if serializer.is_valid():
            valid.append((index, serializer.validated_data))
        else:
            rejected.append(batch_item_error(collection, index, serializer.errors))
    return valid, rejected


def batch_response(accepted: int, rejected: list[dict[str, Any]]) -> Response:
    """Answer a batch: 200 with counts when anything was stored, else 400 naming the first rejected item."""
    rejected = sorted(rejected, key=lambda r: r["index"])
    body = {"accepted": accepted, "rejected": rejected}
    if rejected and not accepted:
        first = rejected[0]
        return error_response(first["error"], "rejected", 400, field=first["field"], **body)
    return Response(body, status=status.HTTP_200_OK)


# --- schema --------------------------------------------------------------------------------------------------------

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ERROR_DESCRIPTIONS: Mapping[int, str] = {
    400: "Bad input; `field` names it.",
    401: "Missing, malformed, wrong or revoked API key.",
    403: "The key's scope does not allow this operation.",
    404: "No such object in the key's project.",
    413: "The request is too large.",
    415: "The body is not JSON.",
    429: "Too many requests; retry later.",
    503: "A temporary problem (e.g. the database); retry after `Retry-After` seconds.",
}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular schema that adds the error body for each failure an operation can answer."""

    def error_codes(self) -> list[int]:
        """Return the error statuses this operation can answer, from its method, path, auth and throttles."""
        view = self.view
        has_body = self.method in BODY_METHODS
        codes = [503]  # any operation can meet a database outage (exception_handler)
        if has_body or self.get_override_parameters():
            codes.append(400)
        if view.get_authenticators():
            codes.append(401)
        if any(not isinstance(p, AllowAny) for p in view.get_permissions()):
            codes.append(403)
        if "{" in self.path:
            codes.append(404)
        if has_body:
            codes += [413, 415]
        if view.get_throttles():
            codes.append(429)
        return sorted(codes)

    def get_operation_id(self) -> str:
        """Name list operations `*_list` (a plain APIView looks like a retrieve to drf-spectacular)."""
        operation_id = super().get_operation_id()
        declared = self.get_response_serializers()
        declared = declared.get(200) if isinstance(declared, dict) else declared
        if self.method == "GET" and declared in _envelopes.values():
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self.error_codes():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    _error_response_doc(code), str(code), direction=direction
                )
        return responses


def _error_response_doc(code: int) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])


def batch_error_doc() -> OpenApiResponse:
    """Return the documented 400 of a batch operation."""
    return OpenApiResponse(BatchErrorSerializer, description="Bad envelope, or every item rejected.")
