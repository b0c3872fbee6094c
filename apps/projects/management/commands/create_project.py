"""`manage.py create_project NAME [--json]`: create a project, an ingest API key and an admin API key."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.projects.models import ApiKey
from apps.projects.services import api_key_create, project_create


class Command(BaseCommand):
    help = "Create a project with an ingest (write) key and an admin (configuration) key; the keys are shown only now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the project's name")
        parser.add_argument("--slug", help="the project's slug (derived from the name by default)")
        parser.add_argument(
            "--json", action="store_true", help='print {"project": slug, "api_key": key, "admin_key": key}'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project = project_create(name=options["name"], slug=options.get("slug"))
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        issued = api_key_create(project=project, name="created by create_project")
        admin = api_key_create(project=project, name="admin, created by create_project", scope=ApiKey.Scope.ADMIN)
        if options["json"]:
            payload = {"project": project.slug, "api_key": issued.plaintext, "admin_key": admin.plaintext}
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(f"Project: {project.name} (slug {project.slug})")
        self.stdout.write(f"API key (ingest and read): {issued.plaintext}")
        self.stdout.write(f"Admin key (configuration: judges, evaluators): {admin.plaintext}")
        self.stdout.write("Store the keys now: only their hashes are kept.")
