"""`manage.py simulate`: play the demo's support assistant against a running Sightline (OTLP + feedback API)."""

from __future__ import annotations

import logging
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.demo.bank import bank_load
from apps.demo.scenario import Rollout, Script
from apps.demo.services import (
    simulation_progress,
    simulation_rolled_out,
    simulation_should_run,
    simulation_start,
    simulator_keys_issue,
)
from apps.demo.simulator import Control, SimulationStats, Simulator
from apps.projects.models import Project
from config.settings import env


class Command(BaseCommand):
    help = (
        "Simulate a RAG support assistant's production traffic for a project: requests as OpenTelemetry spans "
        "through /v1/traces, user votes through /api/v1/feedback, and after a few minutes a prompt rollout that "
        "regresses one route. Stops when the project's demo banner says so (and resumes when it says so)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--project", default="demo", help="project slug (default demo)")
        parser.add_argument("--rate", type=float, default=1.0, help="requests per second (default 1)")
        parser.add_argument("--duration", type=float, default=0.0, help="seconds to run; 0 runs until stopped")
        parser.add_argument(
            "--speed", type=float, default=1.0, help="run the script this many times faster (think times, rollout)"
        )
        parser.add_argument(
            "--regress-after", type=float, default=120.0, help="script seconds before the rollout (default 120)"
        )
        parser.add_argument("--url", default="", help="Sightline's address (default http://127.0.0.1:$PORT)")
        parser.add_argument("--seed", type=int, default=13, help="random seed of the script")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SIGHTLINE_DEMO:
            self.stdout.write("SIGHTLINE_DEMO=0: the simulator is off.")
            return
        if options["rate"] <= 0 or options["speed"] <= 0:
            raise CommandError("--rate and --speed must be positive")
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with the slug {options['project']!r}")
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the progress lines
        base_url = options["url"] or f"http://127.0.0.1:{env('PORT', '8000')}"
        keys = simulator_keys_issue(project=project)
        simulation_start(project=project)
        rollout = Rollout(after_seconds=options["regress_after"])
        script = Script(bank_load(), seed=options["seed"], rollout=rollout)
        every = max(1, int(options["rate"] * 60))  # a progress line about once a minute
        printed = [0]

        def should_run(stats: SimulationStats) -> bool:
            if stats.requests - printed[0] >= every:
                printed[0] = stats.requests
                self.stdout.write(f"sent {stats.requests} requests in {stats.sessions} sessions")
            return simulation_should_run(project_id=project.id, requests_sent=stats.requests)

        def on_rollout(script: Script) -> None:
            r = script.rollout
            self.stdout.write(f"rollout: prompt version {r.prompt_version} replaces {r.previous} on {r.route}")
            simulation_rolled_out(
                project_id=project.id, route=r.route, prompt_version=r.prompt_version, previous=r.previous
            )

        simulator = Simulator(
            bank=script.bank,
            base_url=base_url,
            api_key=keys.write,
            feedback_key=keys.feedback,
            rate=options["rate"],
            speed=options["speed"],
            script=script,
            control=Control(should_run=should_run, on_rollout=on_rollout),
        )
        self.stdout.write(
            f"simulating for project {project.slug!r} at {options['rate']:g} req/s (speed {options['speed']:g}×) "
            f"against {base_url}"
        )
        stats = simulator.run(duration=options["duration"] or None)
        simulation_progress(project_id=project.id, requests_sent=stats.requests)
        self.stdout.write(f"done: {stats.requests} requests, {sum(stats.feedback.values())} feedback items")
