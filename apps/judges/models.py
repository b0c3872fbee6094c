"""Judges: pinned LLM configurations that grade traces, monitored like instruments."""

from __future__ import annotations

from django.db import models

from apps.core.models import BaseModel
from apps.projects.models import Project


class Judge(BaseModel):
    """An OpenAI-compatible endpoint and an exactly pinned model; its API key comes from env or is stored encrypted."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judges", db_index=False)
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=300)
    model = models.CharField(max_length=200, help_text="pinned exactly, e.g. gpt-4o-2024-08-06")
    api_key_env = models.CharField(max_length=100, blank=True, default="", help_text="environment variable to read")
    api_key_encrypted = models.TextField(blank=True, default="")
    timeout_s = models.FloatField(default=30)
    input_price_per_mtok = models.FloatField(null=True, blank=True)
    output_price_per_mtok = models.FloatField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="judge_uniq_project_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"
