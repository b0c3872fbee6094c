"""Review API: routing rules (admin keys change them) and the queue's items."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_response, list_envelope, list_response, validation_error_response
from apps.projects.authentication import CONFIGURATION_PERMISSIONS
from apps.review.models import ReviewItem, RoutingRule
from apps.review.selectors import review_item_list, routing_rule_get, routing_rule_list
from apps.review.services import RuleSpec, routing_rule_create, routing_rule_update


class RuleInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RoutingRule.Kind.choices)
    score_name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="score_below: required; else a filter"
    )
    threshold = serializers.FloatField(
        required=False, allow_null=True, default=None, help_text="score_below: value below; judge: confidence below"
    )
    sample_percent = serializers.FloatField(
        required=False, allow_null=True, default=None, min_value=0.0, max_value=100.0, help_text="random_sample"
    )
    priority = serializers.IntegerField(required=False, default=50, min_value=-1000, max_value=1000)
    reviews_required = serializers.IntegerField(required=False, default=1, min_value=1, max_value=5)
    is_enabled = serializers.BooleanField(required=False, default=True)


class RuleChangeSerializer(RuleInputSerializer):
    """A partial change: fields left out keep the rule's values."""

    kind = serializers.ChoiceField(choices=RoutingRule.Kind.choices, required=False)
    score_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    threshold = serializers.FloatField(required=False, allow_null=True)
    sample_percent = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=100.0)
    priority = serializers.IntegerField(required=False, min_value=-1000, max_value=1000)
    reviews_required = serializers.IntegerField(required=False, min_value=1, max_value=5)
    is_enabled = serializers.BooleanField(required=False)


class RuleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    description = serializers.CharField(source="describe")
    score_name = serializers.CharField()
    threshold = serializers.FloatField(allow_null=True)
    sample_percent = serializers.FloatField(allow_null=True)
    priority = serializers.IntegerField()
    reviews_required = serializers.IntegerField()
    is_enabled = serializers.BooleanField()


RULE_FIELDS = ("kind", "score_name", "threshold", "sample_percent", "priority", "reviews_required", "is_enabled")


def _rule_not_found() -> Response:
    return error_response("rule_id: no such routing rule", "not_found", 404, field="rule_id")


class RulesApi(APIView):
    """List the project's routing rules or add one."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List review routing rules", responses=list_envelope(RuleOutputSerializer))
    def get(self, request: Request) -> Response:
        return list_response(RuleOutputSerializer(routing_rule_list(project=request.auth.project), many=True).data)

    @extend_schema(
        summary="Add a review routing rule", request=RuleInputSerializer, responses={201: RuleOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = RuleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            rule = routing_rule_create(project=request.auth.project, spec=RuleSpec(**payload.validated_data))
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(RuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class RuleDetailApi(APIView):
    """Read or change one routing rule (e.g. disable it, or change its threshold or priority)."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Get a review routing rule", responses=RuleOutputSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        rule = routing_rule_get(project=request.auth.project, rule_id=rule_id)
        if rule is None:
            return _rule_not_found()
        return Response(RuleOutputSerializer(rule).data)

    @extend_schema(summary="Change a review routing rule", request=RuleChangeSerializer, responses=RuleOutputSerializer)
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = routing_rule_get(project=request.auth.project, rule_id=rule_id)
        if rule is None:
            return _rule_not_found()
        payload = RuleChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        current: dict[str, Any] = {name: getattr(rule, name) for name in RULE_FIELDS}
        try:
            rule = routing_rule_update(rule=rule, spec=RuleSpec(**{**current, **payload.validated_data}))
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(RuleOutputSerializer(rule).data)


class ReasonSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    kind = serializers.CharField()
    text = serializers.CharField()


class ItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trace_id = serializers.CharField()
    reasons = ReasonSerializer(many=True)
    priority = serializers.IntegerField()
    status = serializers.CharField(help_text="pending, claimed or done; an expired claim reads pending")
    reviews_required = serializers.IntegerField()
    reviews_done = serializers.IntegerField()
    created_at = serializers.DateTimeField()


STATUSES = ReviewItem.Status.values


class ItemsApi(APIView):
    """List the review queue's items, newest first."""

    @extend_schema(
        summary="List review queue items",
        parameters=[
            OpenApiParameter("status", str, enum=STATUSES, description="only items in this status"),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1–200, default 50"),
        ],
        responses={200: list_envelope(ItemOutputSerializer)},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        item_status = params.get("status", "")
        if item_status and item_status not in STATUSES:
            return error_response(
                f"status: must be one of {', '.join(STATUSES)}", "invalid_filter", 400, field="status"
            )
        limit, cursor = params.get("limit") or "50", params.get("cursor") or ""
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            return error_response("limit: must be an integer from 1 to 200", "invalid_filter", 400, field="limit")
        if cursor and (not cursor.isdigit() or len(cursor) > 18):
            return error_response("cursor: not a cursor this API returned", "invalid_filter", 400, field="cursor")
        now = timezone.now()
        qs = review_item_list(project=request.auth.project, status=item_status, now=now).order_by("-id")
        if cursor:
            qs = qs.filter(id__lt=int(cursor))
        rows = list(qs[: int(limit) + 1])
        next_cursor = str(rows[int(limit) - 1].id) if len(rows) > int(limit) else None
        rows = rows[: int(limit)]
        data = ItemOutputSerializer(rows, many=True).data
        for row, item in zip(data, rows, strict=True):
            if item.status == ReviewItem.Status.CLAIMED and item.claimed_until and item.claimed_until < now:
                row["status"] = ReviewItem.Status.PENDING
        return list_response(data, next_cursor)
