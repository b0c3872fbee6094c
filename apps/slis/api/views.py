"""Alerting API: SLIs, alert rules, alert states, notification channels. Writes need an admin key."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_response, list_envelope, list_response, validation_error_response
from apps.projects.authentication import CONFIGURATION_PERMISSIONS
from apps.slis.engine import AGGREGATIONS, COMPARATORS, DIMENSIONS, STATES
from apps.slis.models import AlertRule, Channel, Sli
from apps.slis.selectors import alert_list, channel_list, rule_get, rule_list, sli_get, sli_list
from apps.slis.services import (
    SLI_TEMPLATES,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
    channel_create,
    sli_create,
    sli_create_from_template,
    sli_delete,
    sli_update,
)

METRIC_RE = r"^[A-Za-z0-9_.:-]{1,100}$"
DURATION_RE = r"^\d{1,6}[smhd]$"


class SliInputSerializer(serializers.Serializer):
    template = serializers.ChoiceField(
        choices=list(SLI_TEMPLATES), required=False, help_text="create a built-in SLI; the other fields are ignored"
    )
    name = serializers.CharField(max_length=100, required=False)
    metric = serializers.RegexField(
        METRIC_RE,
        required=False,
        help_text="a score name, a feedback rate, or latency_ms, errors, cost",
        error_messages={"invalid": "use 1-100 letters, digits, _ . : -"},
    )
    aggregation = serializers.ChoiceField(choices=AGGREGATIONS, required=False)
    filters = serializers.DictField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        required=False,
        default=dict,
        help_text="dimension: value, among route, environment, model, prompt_version",
    )
    use_corrected = serializers.BooleanField(
        required=False,
        help_text="a judged pass_rate/fail_rate: use the bias-corrected rate once corrected_min_labels labeled "
        "random-sample traces back it (raw below that)",
    )
    corrected_min_labels = serializers.IntegerField(required=False, min_value=2, max_value=1_000_000)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.partial or data.get("template"):
            return data
        for name in ("name", "metric", "aggregation"):
            if name not in data:
                raise serializers.ValidationError({name: "This field is required."})
        return data


class SliOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    metric = serializers.CharField()
    aggregation = serializers.CharField()
    filters = serializers.DictField(child=serializers.CharField())
    template = serializers.CharField()
    use_corrected = serializers.BooleanField()
    corrected_min_labels = serializers.IntegerField()
    created_at = serializers.DateTimeField()


def _not_found(name: str) -> Response:
    return error_response(f"{name}: not found in this project", "not_found", 404, field=name)


class SlisApi(APIView):
    """List the project's SLIs or define one (from a built-in template with `template`)."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List SLIs", responses=list_envelope(SliOutputSerializer))
    def get(self, request: Request) -> Response:
        return list_response(SliOutputSerializer(sli_list(project=request.auth.project), many=True).data)

    @extend_schema(summary="Define an SLI", request=SliInputSerializer, responses={201: SliOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = SliInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            if data.get("template"):
                sli = sli_create_from_template(project=request.auth.project, template=data["template"])
            else:
                sli = sli_create(
                    project=request.auth.project,
                    name=data["name"],
                    metric=data["metric"],
                    aggregation=data["aggregation"],
                    filters=data.get("filters") or {},
                    use_corrected=data.get("use_corrected", False),
                    corrected_min_labels=data.get("corrected_min_labels", 30),
                )
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(SliOutputSerializer(sli).data, status=status.HTTP_201_CREATED)


class SliDetailApi(APIView):
    """Read, change or delete one SLI (a change of what it measures resets its rules' states)."""

    permission_classes = CONFIGURATION_PERMISSIONS

    def _get(self, request: Request, sli_id: int) -> Sli | None:
        return sli_get(project=request.auth.project, sli_id=sli_id)

    @extend_schema(summary="Get an SLI", responses=SliOutputSerializer)
    def get(self, request: Request, sli_id: int) -> Response:
        sli = self._get(request, sli_id)
        return Response(SliOutputSerializer(sli).data) if sli else _not_found("sli_id")

    @extend_schema(summary="Change an SLI", request=SliInputSerializer, responses=SliOutputSerializer)
    def patch(self, request: Request, sli_id: int) -> Response:
        sli = self._get(request, sli_id)
        if sli is None:
            return _not_found("sli_id")
        payload = SliInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        fields = {k: v for k, v in payload.validated_data.items() if k != "template"}
        try:
            sli = sli_update(sli=sli, **fields)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(SliOutputSerializer(sli).data)

    @extend_schema(summary="Delete an SLI and its rules", responses={204: None})
    def delete(self, request: Request, sli_id: int) -> Response:
        sli = self._get(request, sli_id)
        if sli is None:
            return _not_found("sli_id")
        sli_delete(sli=sli)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertRuleInputSerializer(serializers.Serializer):
    sli = serializers.IntegerField(min_value=1, help_text="the SLI's id")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    comparator = serializers.ChoiceField(choices=list(COMPARATORS), required=False, help_text="not for SLO rules")
    threshold = serializers.FloatField(required=False, help_text="rates as fractions: 0.05 is 5 %; not for SLO rules")
    objective = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="an SLO rule: the target share of good events (0.97 is 97 %), alerted on by multi-window burn "
        "rates (1 h and 5 m above 14.4×, or 6 h and 30 m above 6×) instead of comparator/threshold",
    )
    slo_window = serializers.RegexField(
        DURATION_RE, required=False, help_text="the SLO's period, e.g. 28d", error_messages={"invalid": "e.g. 28d"}
    )
    window = serializers.RegexField(
        DURATION_RE, required=False, default="5m", error_messages={"invalid": "a duration such as 5m or 1h"}
    )
    min_samples = serializers.IntegerField(required=False, default=10, min_value=1, max_value=1_000_000)
    # `for` is a Python keyword: declared through the class namespace.
    locals()["for"] = serializers.RegexField(
        DURATION_RE,
        required=False,
        default="0m",
        help_text="how long the condition must hold before firing",
        error_messages={"invalid": "a duration such as 0m, 5m or 1h"},
    )
    group_by = serializers.ListField(
        child=serializers.ChoiceField(choices=DIMENSIONS), required=False, default=list, max_length=4
    )
    channels = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=50,
        help_text="channel ids",
    )
    is_enabled = serializers.BooleanField(required=False, default=True)
    muted = serializers.BooleanField(required=False, default=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self.partial and data.get("objective") is None:
            for name in ("comparator", "threshold"):
                if name not in data:
                    raise serializers.ValidationError({name: "This field is required (unless objective is set)."})
        return data


class AlertRuleOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sli = serializers.IntegerField(source="sli_id")
    name = serializers.CharField()
    comparator = serializers.CharField()
    threshold = serializers.FloatField()
    window = serializers.CharField()
    min_samples = serializers.IntegerField()
    locals()["for"] = serializers.CharField(source="for_duration")
    group_by = serializers.ListField(child=serializers.CharField())
    objective = serializers.FloatField(allow_null=True)
    slo_window = serializers.CharField()
    channels = serializers.SerializerMethodField()
    is_enabled = serializers.BooleanField()
    muted = serializers.BooleanField()
    version = serializers.IntegerField()
    last_evaluated_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()

    def get_channels(self, rule: AlertRule) -> list[int]:
        return sorted(c.id for c in rule.channels.all())


def _rule_fields(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    fields = dict(data)
    if "for" in fields:
        fields["for_duration"] = fields.pop("for")
    if "sli" in fields:
        sli = sli_get(project=request.auth.project, sli_id=fields["sli"])
        if sli is None:
            raise ValidationError({"sli": "no such SLI in this project"})
        fields["sli"] = sli
    return fields


class AlertRulesApi(APIView):
    """List the project's alert rules or add one."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List alert rules", responses=list_envelope(AlertRuleOutputSerializer))
    def get(self, request: Request) -> Response:
        rules = rule_list(project=request.auth.project)
        return list_response(AlertRuleOutputSerializer(rules, many=True).data)

    @extend_schema(
        summary="Add an alert rule", request=AlertRuleInputSerializer, responses={201: AlertRuleOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = AlertRuleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            fields = _rule_fields(request, payload.validated_data)
            muted = fields.pop("muted")
            rule = alert_rule_create(project=request.auth.project, **fields)
            if muted:
                rule = alert_rule_update(rule=rule, muted=True)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(AlertRuleOutputSerializer(rule).data, status=status.HTTP_201_CREATED)


class AlertRuleDetailApi(APIView):
    """Read, change or delete one rule; a change of what it judges resets its states (recorded)."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Get an alert rule", responses=AlertRuleOutputSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        rule = rule_get(project=request.auth.project, rule_id=rule_id)
        return Response(AlertRuleOutputSerializer(rule).data) if rule else _not_found("rule_id")

    @extend_schema(
        summary="Change an alert rule", request=AlertRuleInputSerializer, responses=AlertRuleOutputSerializer
    )
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = rule_get(project=request.auth.project, rule_id=rule_id)
        if rule is None:
            return _not_found("rule_id")
        payload = AlertRuleInputSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        try:
            rule = alert_rule_update(rule=rule, **_rule_fields(request, payload.validated_data))
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(AlertRuleOutputSerializer(rule_get(project=request.auth.project, rule_id=rule.id)).data)

    @extend_schema(summary="Delete an alert rule", responses={204: None})
    def delete(self, request: Request, rule_id: int) -> Response:
        rule = rule_get(project=request.auth.project, rule_id=rule_id)
        if rule is None:
            return _not_found("rule_id")
        alert_rule_delete(rule=rule)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    rule = serializers.IntegerField(source="rule_id")
    sli = serializers.CharField(source="rule.sli.name")
    slice = serializers.DictField(child=serializers.CharField())
    state = serializers.CharField()
    since = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    value = serializers.FloatField(allow_null=True)
    samples = serializers.IntegerField()
    baseline = serializers.JSONField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    silenced_until = serializers.DateTimeField(allow_null=True)


class AlertsApi(APIView):
    """The project's alerts: the state of each rule on each slice, firing first."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(
        summary="List alerts",
        parameters=[
            OpenApiParameter(
                "state", str, enum=list(STATES), many=True, required=False, description="repeatable; only these states"
            )
        ],
        responses=list_envelope(AlertOutputSerializer),
    )
    def get(self, request: Request) -> Response:
        states = request.query_params.getlist("state")
        bad = [s for s in states if s not in STATES]
        if bad:
            return error_response(f"state: use {', '.join(STATES)}", "invalid", 400, field="state")
        alerts = alert_list(project=request.auth.project, states=states)[:500]
        return list_response(AlertOutputSerializer(alerts, many=True).data)


class ChannelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Channel.Kind.choices)
    target = serializers.CharField(max_length=500, help_text="the URL (webhook, slack) or the email address")
    is_enabled = serializers.BooleanField(required=False, default=True)


class ChannelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    target = serializers.CharField()
    is_enabled = serializers.BooleanField()


class ChannelCreatedSerializer(ChannelOutputSerializer):
    secret = serializers.CharField(help_text="signs webhook bodies (X-Sightline-Signature); shown only now")


class ChannelsApi(APIView):
    """List the project's notification channels or add one (URLs are checked against SSRF)."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List channels", responses=list_envelope(ChannelOutputSerializer))
    def get(self, request: Request) -> Response:
        return list_response(ChannelOutputSerializer(channel_list(project=request.auth.project), many=True).data)

    @extend_schema(summary="Add a channel", request=ChannelInputSerializer, responses={201: ChannelCreatedSerializer})
    def post(self, request: Request) -> Response:
        payload = ChannelInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            channel = channel_create(project=request.auth.project, **payload.validated_data)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(ChannelCreatedSerializer(channel).data, status=status.HTTP_201_CREATED)
