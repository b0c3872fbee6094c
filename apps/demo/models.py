"""The simulated traffic's switch and progress: one row per project the simulator plays for."""

from __future__ import annotations

from django.db import models

from apps.core.models import BaseModel
from apps.projects.models import Project


class DemoSimulation(BaseModel):
    """Whether the simulator should send traffic for a project (the banner's Stop clears it; the simulator polls)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="demo_simulation")
    is_running = models.BooleanField(default=True)
    stopped_by = models.CharField(max_length=150, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # the simulator's last poll: is it alive at all
    requests_sent = models.IntegerField(default=0)
    regressed_at = models.DateTimeField(null=True, blank=True)  # when the scripted rollout happened
    rollout = models.JSONField(default=dict, blank=True)  # {"route", "prompt_version", "previous"}

    def __str__(self) -> str:
        return f"demo simulation for project {self.project_id} ({'running' if self.is_running else 'stopped'})"
