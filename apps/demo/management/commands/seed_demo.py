"""`manage.py seed_demo`: the admin user and a demo project with a day of scored traffic, made once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from apps.demo.services import demo_setup
from config.settings import env, env_secret  # the same lookup as settings: environment, then .env


class Command(BaseCommand):
    help = (
        "Create the admin login and the demo project once. The admin password comes from "
        "SIGHTLINE_ADMIN_PASSWORD, or is generated and printed once."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--traces", type=int, default=240, help="demo traces to store (default 240)")

    def handle(self, *args: Any, **options: Any) -> None:
        username = env("SIGHTLINE_ADMIN_USER", "admin").strip() or "admin"
        password = env_secret("SIGHTLINE_ADMIN_PASSWORD", "")
        result = demo_setup(username=username, password=password, traces=options["traces"])
        if result.password_generated:
            self.stdout.write(f"Login: {result.username} / {result.password}")
            self.stdout.write(
                "The admin password was generated and is shown only now (set SIGHTLINE_ADMIN_PASSWORD to choose it)."
            )
        elif result.password:
            self.stdout.write(f"Login: {result.username} / the password in SIGHTLINE_ADMIN_PASSWORD")
        else:
            self.stdout.write(
                f"Login: {result.username} (password as set before; change it with: "
                f"python manage.py changepassword {result.username})"
            )
        slug = result.project.slug
        if result.traces:
            self.stdout.write(f"Demo project '{slug}': {result.traces} traces from the last 24 h, scored.")
        if result.labels:
            self.stdout.write(f"Demo project '{slug}': {result.labels} human labels seeded (reviewer demo-reviewer).")
        for note in result.notes:
            self.stdout.write(f"Demo project '{slug}': {note}")
        if result.plaintext_key:
            self.stdout.write(f"Demo project '{slug}' API key: {result.plaintext_key}")
            self.stdout.write("Store the key now: only its hash is kept.")
        else:
            self.stdout.write(
                f"Demo project '{slug}' exists; its API key was printed at the first run "
                "(create another on the Settings page)."
            )
