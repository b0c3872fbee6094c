"""Reads for judges."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from apps.judges.models import Judge, JudgePreview
from apps.projects.models import Project


def judge_list(*, project: Project) -> QuerySet[Judge]:
    """Return the project's judges by name, with how many evaluators use each."""
    return Judge.objects.filter(project=project).annotate(evaluator_count=Count("evaluators")).order_by("name")


def judge_preview_get(*, project: Project, preview_id: int) -> JudgePreview | None:
    """Return one of the project's judge previews, or None."""
    return JudgePreview.objects.filter(project=project, id=preview_id).select_related("judge").first()


def judge_get_by_name(*, project: Project, name: str) -> Judge | None:
    """Return the project's judge of that name, or None."""
    return Judge.objects.filter(project=project, name=name).first()
