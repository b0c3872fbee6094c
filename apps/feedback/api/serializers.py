"""Serializers of the feedback API and of the trace detail that lists a trace's feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.feedback.models import Feedback
from apps.feedback.selectors import trace_feedback_list
from apps.scores.api.serializers import TraceScoredDetailOutputSerializer

KINDS = [k for k in Feedback.Kind.values if k != Feedback.Kind.SCORE]  # scores come by the Langfuse API
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # client clocks drift; a timestamp further ahead is a bug on the sender's side


def no_lone_surrogates(value: str) -> None:
    """Refuse text PostgreSQL cannot store: an unpaired UTF-16 surrogate (a JSON "\\ud800" escape)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise serializers.ValidationError("contains an unpaired surrogate escape (not valid Unicode)") from None


def _text(max_length: int, help_text: str, **kwargs: Any) -> serializers.CharField:
    """An optional text field: blank by default, no NUL bytes (DRF's own check) and no lone surrogates."""
    return serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=max_length,
        validators=[no_lone_surrogates],
        help_text=help_text,
        **kwargs,
    )


class FeedbackInputSerializer(serializers.Serializer):
    """One feedback item."""

    trace_id = serializers.RegexField(
        r"^[0-9a-fA-F]{32}$",
        help_text="the trace the user reacted to (32 hex); it may arrive before the trace does",
        error_messages={"invalid": "must be 32 hex characters"},
    )
    kind = serializers.ChoiceField(
        choices=KINDS,
        error_messages={"invalid_choice": f"must be one of {', '.join(KINDS)}, not {{input!r}}"},
    )
    value = serializers.IntegerField(
        min_value=1, max_value=5, required=False, allow_null=True, default=None, help_text="a rating's value, 1–5"
    )
    text = _text(settings.INGEST_MAX_VALUE_CHARS, "an edit's edited text", trim_whitespace=False)
    comment = _text(10_000, "what the user wrote; required for kind comment")
    user_id = _text(200, "your end user's id")
    timestamp = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="when it happened (UTC without an offset); default: now",
    )

    def validate_timestamp(self, value: datetime | None) -> datetime | None:
        if value is not None and not EARLIEST <= value <= timezone.now() + FUTURE_SLACK:
            raise serializers.ValidationError("must be after 2000-01-01 and not more than a day ahead")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs["kind"]
        if kind == Feedback.Kind.RATING and attrs["value"] is None:
            raise serializers.ValidationError({"value": "a rating needs a value from 1 to 5"})
        if kind != Feedback.Kind.RATING and attrs["value"] is not None:
            raise serializers.ValidationError({"value": f"only a rating has a value, not {kind}"})
        if kind == Feedback.Kind.EDIT and not attrs["text"].strip():
            raise serializers.ValidationError({"text": "an edit needs the edited text"})
        if kind != Feedback.Kind.EDIT and attrs["text"]:
            raise serializers.ValidationError({"text": f"only an edit has text, not {kind}; use comment"})
        if kind == Feedback.Kind.COMMENT and not attrs["comment"].strip():
            raise serializers.ValidationError({"comment": "a comment needs its text"})
        return attrs


MAX_FEEDBACK_PER_REQUEST = 1000


class FeedbackBatchRequestSerializer(serializers.Serializer):
    """Several items: each is validated on its own, so one bad item rejects only itself."""

    feedback = FeedbackInputSerializer(many=True, max_length=MAX_FEEDBACK_PER_REQUEST)


class FeedbackOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    source = serializers.ChoiceField(choices=Feedback.Source.values)
    value = serializers.FloatField(allow_null=True)
    text = serializers.CharField()
    comment = serializers.CharField()
    user_id = serializers.CharField()
    reason = serializers.CharField(help_text="why a detector inferred it (empty for explicit feedback)")
    time = serializers.DateTimeField(source="occurred_at")


class TraceFeedbackDetailOutputSerializer(TraceScoredDetailOutputSerializer):
    """A trace with its span tree, its scores and its feedback."""

    feedback = serializers.SerializerMethodField()

    @extend_schema_field(FeedbackOutputSerializer(many=True))
    def get_feedback(self, trace: Any) -> list[dict[str, Any]]:
        return FeedbackOutputSerializer(trace_feedback_list(trace=trace), many=True).data
