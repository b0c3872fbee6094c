"""`manage.py demo_server`: the demo judge (OpenAI-compatible) and the demo webhook receiver on 127.0.0.1."""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.demo.judge_server import DemoServer
from apps.demo.services import demo_judges_calibrate


class Command(BaseCommand):
    help = "Serve the demo judge and the demo alert webhook on 127.0.0.1 (the demo project only) until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=settings.DEMO_SERVER_PORT, help="port on 127.0.0.1")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SIGHTLINE_DEMO:
            self.stdout.write("SIGHTLINE_DEMO=0: the demo server is off.")
            return

        def on_alert(payload: dict[str, Any]) -> None:
            self.stdout.write(f"webhook received [{payload.get('state', '?')}]: {payload.get('message', '')}")
            self.stdout.flush()

        server = DemoServer(port=options["port"], on_alert=on_alert).start()
        self.stdout.write(f"demo judge at {server.base_url}; demo webhook at {server.webhook_url}")
        if demo_judges_calibrate():  # the seed's calibration may have run before the demo judge answered
            self.stdout.write("demo judge calibration queued on the seeded labels")
        self.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        server.stop()
