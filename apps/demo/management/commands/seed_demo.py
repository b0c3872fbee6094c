"""`manage.py seed_demo`: the admin user and a demo project with a day of scored traffic, made once."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from apps.demo.services import demo_traces_seed
from apps.projects.services import demo_seed


class Command(BaseCommand):
    help = "Create the admin login and the demo project once; print the login (and the key when new)."

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("SIGHTLINE_ADMIN_USER", "admin")
        password = os.environ.get("SIGHTLINE_ADMIN_PASSWORD", "sightline-admin")
        seed = demo_seed(username=username, password=password)
        traces = demo_traces_seed(project=seed.project)
        self.stdout.write(f"Login: {seed.username} / {seed.password}")
        if traces:
            self.stdout.write(f"Demo project '{seed.project.slug}': {traces} traces from the last 24 h, scored.")
        if seed.plaintext_key:
            self.stdout.write(f"Demo project '{seed.project.slug}' API key: {seed.plaintext_key}")
            self.stdout.write("Store the key now: only its hash is kept.")
        else:
            self.stdout.write(
                f"Demo project '{seed.project.slug}' exists; its API key was printed at the first run "
                "(create another on the Settings page)."
            )
