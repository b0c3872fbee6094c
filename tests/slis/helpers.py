"""Traffic for the alerting tests: traces through the real ingest, the default refusal evaluator and the
rollup drain, and a local HTTP receiver for webhooks."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apps.scores.rollups import rollups_drain
from tests.scores.rollup_traffic import batches_run
from tests.traces.factories import simple_trace

REFUSAL = "I'm sorry, but I can't help with that."


def traffic(project, *, at: datetime, n: int, refused: int = 0, **dims) -> None:
    """Store n one-span traces within the minute of `at`; the first `refused` answer with a refusal."""
    for i in range(n):
        text = REFUSAL if i < refused else f"Here is the answer to question {i}: use the settings page."
        simple_trace(project, at=at + timedelta(milliseconds=500 * i), output_text=text, **dims)


def settle() -> None:
    """Run what the worker would: the post-ingest jobs (the refusal evaluator scores) and the rollup drain."""
    batches_run()
    rollups_drain()


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers the given statuses in turn (then 200) and records requests."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append({"body": body, "headers": dict(self.headers), "status": status})
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def delivered(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if 200 <= r["status"] < 300]
