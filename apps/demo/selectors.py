"""Reads for the demo: the simulator's switch and progress for a project."""

from __future__ import annotations

from apps.demo.models import DemoSimulation
from apps.projects.models import Project


def demo_simulation_get(*, project: Project) -> DemoSimulation | None:
    """Return the project's simulation row, or None when the project is not simulated."""
    return DemoSimulation.objects.filter(project=project).first()
