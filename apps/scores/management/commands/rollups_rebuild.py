"""`manage.py rollups_rebuild --project <slug or id> --since <ISO 8601>`: recompute a project's rollups."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from apps.projects.models import Project
from apps.scores.rollups import rollups_rebuild


class Command(BaseCommand):
    help = "Recompute a project's minute, hour and day rollups from its traces and scores since a time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="the project's slug or id")
        parser.add_argument("--since", required=True, help="ISO 8601 time (UTC when no offset)")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["project"]
        project = Project.objects.filter(slug=ref).first()
        if project is None and ref.isdigit():
            project = Project.objects.filter(id=int(ref)).first()
        if project is None:
            raise CommandError(f"--project: no project with slug or id {ref!r}")
        raw = options["since"]
        try:
            since = parse_datetime(raw if "T" in raw or " " in raw else raw + "T00:00:00")
        except ValueError:
            since = None
        if since is None:
            raise CommandError(f"--since: not an ISO 8601 time: {raw!r}")
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        minutes = rollups_rebuild(project_id=project.id, since=since)
        self.stdout.write(f"Rebuilt {minutes} minutes of rollups for {project.slug} since {since.isoformat()}.")
