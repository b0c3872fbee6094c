"""`manage.py costs_backfill --project SLUG [--since YYYY-MM-DD] [--batch N]`: recompute computed costs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects.models import Project
from apps.traces.costs import costs_backfill


class Command(BaseCommand):
    help = (
        "Recompute the cost of stored LLM spans from their tokens with the current prices (the project's overrides, "
        "then the shipped table, each from its effective date), in bounded batches. Reported costs are never changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="the project's slug")
        parser.add_argument("--since", default="1970-01-01", help="only spans started on or after this UTC date")
        parser.add_argument("--batch", type=int, default=1000, help="spans per batch (one short transaction each)")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"project: no project with slug {options['project']!r}")
        try:
            since = datetime.strptime(options["since"], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError as exc:
            raise CommandError("since: give a date as YYYY-MM-DD") from exc
        if options["batch"] < 1:
            raise CommandError("batch: give a positive number of spans")
        spans, traces = costs_backfill(project=project, since=since, batch_size=options["batch"])
        self.stdout.write(f"{spans} spans re-priced, {traces} traces recomputed")
