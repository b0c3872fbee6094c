"""POST /api/v1/feedback (browser-safe, CORS), and the trace detail with the trace's feedback."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import BatchResultSerializer, batch_error_doc, batch_response, batch_validate, error_response
from apps.feedback.api.serializers import (
    MAX_FEEDBACK_PER_REQUEST,
    FeedbackBatchRequestSerializer,
    FeedbackInputSerializer,
    TraceFeedbackDetailOutputSerializer,
)
from apps.feedback.services import feedback_create
from apps.projects.authentication import WRITE_SCOPES
from apps.projects.models import ApiKey
from apps.scores.api.views import TraceScoredDetailApi

FEEDBACK_SCOPES = WRITE_SCOPES | {ApiKey.Scope.FEEDBACK}

ONE_EXAMPLE = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "kind": "thumbs_down", "comment": "wrong plan name"}
BATCH_EXAMPLE = {
    "feedback": [
        {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "kind": "rating", "value": 4, "user_id": "user-812"},
        {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "kind": "edit", "text": "Open Settings → Security."},
    ]
}


class CanSendFeedback(BasePermission):
    """Feedback (sl_f_…, write-only), write and admin keys may send feedback; read keys may not."""

    message = "This API key is read-only; sending feedback needs a feedback, write or admin key."

    def has_permission(self, request: Request, view: object) -> bool:
        api_key = request.auth
        return isinstance(api_key, ApiKey) and api_key.scope in FEEDBACK_SCOPES


def cors_headers(request: Request, *, preflight: bool = False) -> dict[str, str]:
    """CORS headers for a browser on an allowed origin (FEEDBACK_ALLOWED_ORIGINS; `*` by default).

    `*` is safe here: the endpoint only accepts writes authenticated by a bearer key that the page itself sends
    (never a cookie, so no credentials mode), and that key is already public in the page. Refusing an origin
    stops only browsers, not curl; list origins to keep other sites' pages from spending your key's rate.
    """
    origin = request.META.get("HTTP_ORIGIN", "")
    allowed = settings.FEEDBACK_ALLOWED_ORIGINS
    if not origin or ("*" not in allowed and origin not in allowed):
        return {"Vary": "Origin"} if origin else {}
    headers = {"Access-Control-Allow-Origin": "*" if "*" in allowed else origin, "Vary": "Origin"}
    if preflight:
        headers |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "86400",
        }
    return headers


class FeedbackApi(APIView):
    """Record end users' feedback on traces, from the app's back end or straight from its front end."""

    permission_classes = [CanSendFeedback]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "OPTIONS":
            # A CORS preflight carries no Authorization header: answer it without authenticating.
            self.format_kwarg = self.get_format_suffix(**kwargs)
            request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(request)
            return
        super().initial(request, *args, **kwargs)

    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = Response(status=status.HTTP_204_NO_CONTENT)
        for name, value in cors_headers(request, preflight=True).items():
            response[name] = value
        return response

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method != "OPTIONS":  # errors too: a browser must be able to read why it was refused
            for name, value in cors_headers(request).items():
                response[name] = value
        return response

    @extend_schema(
        summary="Send end-user feedback",
        description=(
            'One item, or `{"feedback": [...]}`. Each item names a trace by its trace_id; the trace may arrive '
            "later (the feedback is kept and linked then). Accepts the project's feedback key (sl_f_…, write-only, "
            "safe in a browser; CORS allowed) as well as write and admin keys. Valid items are stored even when "
            "others are rejected; each rejected one comes back with its index, field and reason. A 2xx means stored."
        ),
        request=PolymorphicProxySerializer(
            component_name="FeedbackRequest",
            serializers=[FeedbackInputSerializer, FeedbackBatchRequestSerializer],
            resource_type_field_name=None,
        ),
        responses={200: BatchResultSerializer, 400: batch_error_doc()},
        examples=[
            OpenApiExample("One thumbs-down", value=ONE_EXAMPLE, request_only=True),
            OpenApiExample("A batch", value=BATCH_EXAMPLE, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict):
            return error_response('body: send one feedback object or {"feedback": [...]}', "invalid", 400, field="body")
        single = "feedback" not in data
        items = [data] if single else data["feedback"]
        if not isinstance(items, list):
            return error_response("feedback: must be a list of feedback objects", "invalid", 400, field="feedback")
        if len(items) > MAX_FEEDBACK_PER_REQUEST:
            return error_response(
                f"feedback: at most {MAX_FEEDBACK_PER_REQUEST} items per request",
                "too_many_items",
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                field="feedback",
            )
        valid, rejected = batch_validate("feedback", items, FeedbackInputSerializer)
        if single:  # a lone item's errors name its fields directly (`value`, not `feedback[0].value`)
            for r in rejected:
                r["field"] = r["field"].removeprefix("feedback[0]").lstrip(".") or "body"
        stored = feedback_create(project=request.auth.project, items=[d for _, d in valid])
        return batch_response(stored, rejected)


class TraceFeedbackDetailApi(TraceScoredDetailApi):
    """One trace with its span tree, scores and feedback: composed here because feedback sits above scores."""

    output_serializer_class = TraceFeedbackDetailOutputSerializer

    @extend_schema(
        summary="Get a trace with its span tree, scores and feedback",
        description=(
            "The trace's fields; its spans as a flat depth-first list (`depth`, `parent_span_id`, `child_span_ids`); "
            "its scores; and its feedback, oldest first, explicit (`source: explicit`, sent to /api/v1/feedback) "
            "and inferred from its session (`source: inferred`, with a `reason`)."
        ),
        responses={200: TraceFeedbackDetailOutputSerializer},
    )
    def get(self, request: Request, trace_id: str) -> Response:
        return super().get(request, trace_id)
