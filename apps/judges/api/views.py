"""Judges API: pin an OpenAI-compatible judge, edit it into new versions, test it, calibrate it against people."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api import error_response, list_envelope, list_response, validation_error_response
from apps.judges.calibration import calibration_start
from apps.judges.models import Judge, JudgeVersion
from apps.judges.rubrics import SCALES
from apps.judges.selectors import (
    SAMPLES,
    calibration_run_latest,
    judge_agreement,
    judge_agreement_series,
    judge_get,
    judge_list,
    judge_version_diff,
    judge_version_get,
    judge_version_list,
    shadow_live_comparison,
)
from apps.judges.services import (
    judge_connection_test,
    judge_create,
    judge_update,
    judge_version_current,
    judge_version_promote,
)
from apps.projects.authentication import CONFIGURATION_PERMISSIONS
from apps.review.agreement import BinaryAgreement


class JudgeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    base_url = serializers.URLField(max_length=300)
    model = serializers.CharField(max_length=200)
    api_key = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)
    api_key_env = serializers.RegexField(r"^[A-Z_][A-Z0-9_]*$", required=False, allow_blank=True, default="")
    timeout_s = serializers.FloatField(required=False, default=30.0, min_value=0.1, max_value=600)
    input_price_per_mtok = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)
    output_price_per_mtok = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)
    rubric_criteria = serializers.CharField(required=False, max_length=4000)
    scale = serializers.ChoiceField(choices=SCALES, required=False)
    pass_threshold = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=4000)
    regression_margin = serializers.FloatField(required=False, min_value=0.01, max_value=2)


class JudgeChangeSerializer(serializers.Serializer):
    """Every field optional: what is sent changes; a change to what the judge computes makes a new version."""

    name = serializers.CharField(max_length=100, required=False)
    base_url = serializers.URLField(max_length=300, required=False)
    model = serializers.CharField(max_length=200, required=False)
    api_key = serializers.CharField(required=False, allow_blank=True, write_only=True)
    api_key_env = serializers.RegexField(r"^[A-Z_][A-Z0-9_]*$", required=False, allow_blank=True)
    timeout_s = serializers.FloatField(required=False, min_value=0.1, max_value=600)
    input_price_per_mtok = serializers.FloatField(required=False, allow_null=True, min_value=0)
    output_price_per_mtok = serializers.FloatField(required=False, allow_null=True, min_value=0)
    rubric_criteria = serializers.CharField(required=False, max_length=4000)
    scale = serializers.ChoiceField(choices=SCALES, required=False)
    pass_threshold = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=4000)
    regression_margin = serializers.FloatField(required=False, min_value=0.01, max_value=2)
    is_active = serializers.BooleanField(required=False)
    shadow = serializers.BooleanField(
        required=False, default=False, help_text="make the new version a shadow, calibrated until promoted"
    )


class JudgeVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    rubric = serializers.DictField()
    params = serializers.DictField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    judged_count = serializers.IntegerField()
    mismatch_count = serializers.IntegerField()
    last_mismatch_model = serializers.CharField()
    baseline_kappa = serializers.FloatField(allow_null=True)
    baseline_n = serializers.IntegerField()


class JudgeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    base_url = serializers.CharField()
    model = serializers.CharField()
    api_key_env = serializers.CharField()
    has_stored_key = serializers.SerializerMethodField()
    timeout_s = serializers.FloatField()
    is_active = serializers.BooleanField()
    rubric_criteria = serializers.CharField()
    scale = serializers.CharField()
    pass_threshold = serializers.IntegerField(allow_null=True)
    temperature = serializers.FloatField()
    max_tokens = serializers.IntegerField()
    regression_margin = serializers.FloatField()
    version = serializers.SerializerMethodField()

    def get_has_stored_key(self, judge: Judge) -> bool:
        return bool(judge.api_key_encrypted)

    @extend_schema_field(serializers.IntegerField())
    def get_version(self, judge: Judge) -> int:
        return judge_version_current(judge=judge).number


class JudgeDetailOutputSerializer(JudgeOutputSerializer):
    versions = serializers.SerializerMethodField()

    @extend_schema_field(JudgeVersionSerializer(many=True))
    def get_versions(self, judge: Judge) -> list[dict[str, Any]]:
        return JudgeVersionSerializer(judge_version_list(judge=judge), many=True).data


def _not_found() -> Response:
    return error_response("judge_id: no such judge", "not_found", 404, field="judge_id")


class JudgesApi(APIView):
    """List or pin judges. A stored API key is encrypted and never returned."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="List judges", responses=list_envelope(JudgeOutputSerializer))
    def get(self, request: Request) -> Response:
        judges = judge_list(project=request.auth.project)
        return list_response(JudgeOutputSerializer(judges, many=True).data)

    @extend_schema(summary="Pin a judge", request=JudgeInputSerializer, responses={201: JudgeOutputSerializer})
    def post(self, request: Request) -> Response:
        payload = JudgeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            judge = judge_create(project=request.auth.project, **payload.validated_data)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(JudgeOutputSerializer(judge).data, status=status.HTTP_201_CREATED)


class JudgeDetailApi(APIView):
    """Read a judge with its versions, or change it (a change to what it computes is a new version)."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Get a judge and its versions", responses=JudgeDetailOutputSerializer)
    def get(self, request: Request, judge_id: int) -> Response:
        judge = judge_get(project=request.auth.project, judge_id=judge_id)
        if judge is None:
            return _not_found()
        return Response(JudgeDetailOutputSerializer(judge).data)

    @extend_schema(summary="Change a judge", request=JudgeChangeSerializer, responses=JudgeDetailOutputSerializer)
    def patch(self, request: Request, judge_id: int) -> Response:
        judge = judge_get(project=request.auth.project, judge_id=judge_id)
        if judge is None:
            return _not_found()
        payload = JudgeChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            judge, _ = judge_update(judge=judge, **payload.validated_data)
        except ValidationError as exc:
            return validation_error_response(exc)
        return Response(JudgeDetailOutputSerializer(judge).data)


class ConnectionTestOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    model_pinned = serializers.CharField()
    model_reported = serializers.CharField()
    is_model_mismatch = serializers.BooleanField()
    label = serializers.CharField()
    reason = serializers.CharField()
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    error_kind = serializers.CharField()


class JudgeTestApi(APIView):
    """Send one real grading request to the judge's endpoint and return its answer or its error."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Test a judge's connection", request=None, responses=ConnectionTestOutputSerializer)
    def post(self, request: Request, judge_id: int) -> Response:
        judge = judge_get(project=request.auth.project, judge_id=judge_id)
        if judge is None:
            return _not_found()
        result = judge_connection_test(judge=judge)
        return Response(ConnectionTestOutputSerializer(result).data)


class CalibrationRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(source="judge_version.number")
    trigger = serializers.CharField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    scored = serializers.IntegerField()
    failed = serializers.IntegerField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class CalibrateInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, help_text="a version number; default current")


class JudgeCalibrateApi(APIView):
    """Queue a calibration run now: the version grades the human-labeled traces it has not graded yet."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(
        summary="Calibrate a judge now", request=CalibrateInputSerializer, responses={202: CalibrationRunSerializer}
    )
    def post(self, request: Request, judge_id: int) -> Response:
        judge = judge_get(project=request.auth.project, judge_id=judge_id)
        if judge is None:
            return _not_found()
        payload = CalibrateInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        number = payload.validated_data.get("version")
        version = (
            judge_version_current(judge=judge) if number is None else judge_version_get(judge=judge, number=number)
        )
        if version is None:
            return error_response(f"version: judge has no version {number}", "invalid", 400, field="version")
        run = calibration_start(judge_version=version, trigger="manual")
        return Response(CalibrationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class JudgePromoteApi(APIView):
    """Make a (shadow) version the judge's current one: it judges live traffic from now on."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Promote a judge version", request=None, responses=JudgeVersionSerializer)
    def post(self, request: Request, judge_id: int, number: int) -> Response:
        judge = judge_get(project=request.auth.project, judge_id=judge_id)
        if judge is None:
            return _not_found()
        try:
            version = judge_version_promote(judge=judge, number=number)
        except ValidationError as exc:
            return error_response(f"number: {exc.messages[0]}", "not_found", 404, field="number")
        return Response(JudgeVersionSerializer(version).data)


class ConfusionSerializer(serializers.Serializer):
    tp = serializers.IntegerField(help_text="judge pass, human pass")
    fp = serializers.IntegerField(help_text="judge pass, human fail")
    fn = serializers.IntegerField(help_text="judge fail, human pass")
    tn = serializers.IntegerField(help_text="judge fail, human fail")


class FiguresSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True)
    kappa_ci_low = serializers.FloatField(allow_null=True)
    kappa_ci_high = serializers.FloatField(allow_null=True)
    tpr = serializers.FloatField(allow_null=True)
    tnr = serializers.FloatField(allow_null=True)
    confusion = ConfusionSerializer()


class DayFiguresSerializer(FiguresSerializer):
    day = serializers.DateField()
    sample = serializers.CharField()


class VersionAgreementSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField()
    model = serializers.CharField()
    baseline_kappa = serializers.FloatField(allow_null=True)
    baseline_n = serializers.IntegerField()
    latest = serializers.DictField(child=FiguresSerializer(), help_text="per sample: random (primary), routed")
    changes = serializers.ListField(child=serializers.DictField(), help_text="what differs from the current version")
    live = serializers.DictField(
        allow_null=True, help_text="a shadow against the current version on the live sample (n, agreement, κ)"
    )


class AgreementOutputSerializer(serializers.Serializer):
    judge = serializers.IntegerField()
    version = serializers.IntegerField()
    primary_sample = serializers.CharField()
    latest = serializers.DictField(child=FiguresSerializer(), help_text="per sample: random (primary), routed")
    baseline = serializers.DictField()
    series = DayFiguresSerializer(many=True)
    versions = VersionAgreementSerializer(many=True)
    last_run = CalibrationRunSerializer(allow_null=True)


def _figures(stats: BinaryAgreement | Any) -> dict[str, Any]:
    return {
        "n": stats.n,
        "accuracy": stats.accuracy,
        "kappa": stats.kappa,
        "kappa_ci_low": getattr(stats, "kappa_low", None),
        "kappa_ci_high": getattr(stats, "kappa_high", None),
        "tpr": stats.tpr,
        "tnr": stats.tnr,
        "confusion": {"tp": stats.tp, "fp": stats.fp, "fn": stats.fn, "tn": stats.tn},
    }


def _live(version: JudgeVersion) -> dict[str, Any] | None:
    if version.status != JudgeVersion.Status.SHADOW:
        return None
    live = shadow_live_comparison(judge_version=version)
    return {
        "n": live.n,
        "agreement": live.agreement.accuracy,
        "kappa": live.agreement.kappa,
        "shadow_pass_rate": live.shadow_pass_rate,
        "current_pass_rate": live.current_pass_rate,
    }


def judge_agreement_payload(*, judge: Judge, version: JudgeVersion) -> dict[str, Any]:
    """Build the agreement answer: the version's latest figures, its daily series, and every version side by side."""
    current = judge_version_current(judge=judge)
    versions = []
    for other in judge_version_list(judge=judge):
        if other.status == JudgeVersion.Status.RETIRED and other.id != version.id:
            continue
        versions.append(
            {
                "number": other.number,
                "status": other.status,
                "model": other.model,
                "baseline_kappa": other.baseline_kappa,
                "baseline_n": other.baseline_n,
                "latest": {s: _figures(a) for s, a in judge_agreement(judge_version=other).items()},
                "live": _live(other),
                "changes": [
                    {"field": d.field, "current": d.old, "this": d.new}
                    for d in judge_version_diff(old=current, new=other)
                ],
            }
        )
    run = calibration_run_latest(judge_version=version)
    return {
        "judge": judge.id,
        "version": version.number,
        "primary_sample": SAMPLES[0],
        "latest": {s: _figures(a) for s, a in judge_agreement(judge_version=version).items()},
        "baseline": {
            "kappa": version.baseline_kappa,
            "accuracy": version.baseline_accuracy,
            "n": version.baseline_n,
            "at": version.baseline_at.isoformat() if version.baseline_at else None,
        },
        "series": [
            {"day": d.day, "sample": d.sample, **_figures(d)} for d in judge_agreement_series(judge_version=version)
        ],
        "versions": versions,
        "last_run": run,
    }


class JudgeAgreementApi(APIView):
    """How the judge agrees with people: the latest figures per sample, the daily series, versions side by side."""

    permission_classes = CONFIGURATION_PERMISSIONS

    @extend_schema(summary="Judge agreement with human labels", responses=AgreementOutputSerializer)
    def get(self, request: Request, judge_id: int) -> Response:
        judge = judge_get(project=request.auth.project, judge_id=judge_id)
        if judge is None:
            return _not_found()
        raw = request.query_params.get("version")
        version = judge_version_current(judge=judge)
        if raw is not None:
            found = judge_version_get(judge=judge, number=int(raw)) if raw.isdigit() else None
            if found is None:
                return error_response(f"version: judge has no version {raw!r}", "invalid", 400, field="version")
            version = found
        data = judge_agreement_payload(judge=judge, version=version)
        return Response(AgreementOutputSerializer(data).data)
