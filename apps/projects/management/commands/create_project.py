"""`manage.py create_project NAME [--json]`: create a project and an ingest API key."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects.services import api_key_create, project_create


class Command(BaseCommand):
    help = "Create a project and an API key for it, and print both (the key is shown only now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the project's name")
        parser.add_argument("--slug", help="the project's slug (derived from the name by default)")
        parser.add_argument("--json", action="store_true", help='print {"project": slug, "api_key": key}')

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = project_create(name=options["name"], slug=options.get("slug"))
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        issued = api_key_create(project=project, name="created by create_project")
        if options["json"]:
            self.stdout.write(json.dumps({"project": project.slug, "api_key": issued.plaintext}))
            return
        self.stdout.write(f"Project: {project.name} (slug {project.slug})")
        self.stdout.write(f"API key: {issued.plaintext}")
        self.stdout.write("Store the key now: only its hash is kept.")
