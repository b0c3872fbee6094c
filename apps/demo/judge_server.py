"""The demo judge: a small OpenAI-compatible endpoint on 127.0.0.1 for the demo project only.

It reads the answer the real judge client sends (the `<untrusted_answer>` block), looks up its ground truth in the
bank, and answers like an imperfect LLM judge would: mostly right, wrong now and then, and a little kinder to
longer answers. The same request always gets the same verdict (a judge at temperature 0). Its model name says
it is a demo judge, so it is never mistaken for a real one.

It also receives the demo's alert webhook (POST /webhook) and prints each notification, so the alert that fires
in `make run` is visible in the terminal as well as on the alert page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from apps.demo.bank import GOOD, REFUSAL, UNGROUNDED, Bank, bank_load
from apps.demo.seed_data import seed_answer_outcome

logger = logging.getLogger(__name__)

DEMO_JUDGE_MODEL = "demo-judge-1 (simulated, not an LLM)"
# The chance the judge passes an answer, by its ground truth (None: an answer the bank does not know).
PASS_CHANCE: dict[str | None, float] = {GOOD: 0.93, UNGROUNDED: 0.14, REFUSAL: 0.08, None: 0.6}
# Length bias: every 100 characters beyond 120 add this much to the pass chance (at most LENGTH_BIAS_CAP).
LENGTH_BIAS_PER_100 = 0.03
LENGTH_BIAS_CAP = 0.08
ANSWER_RE = re.compile(r"<untrusted_answer>\n?(.*?)\n?</untrusted_answer>", re.DOTALL)
CITED_RE = re.compile(r"\[\d+\]")
REASONS = {
    (GOOD, True): "Every claim in the answer matches the retrieved articles, and it cites them.",
    (GOOD, False): "The answer seems to go beyond what the articles say in places.",
    (UNGROUNDED, True): "The answer is specific and plausible.",
    (UNGROUNDED, False): "The answer states figures and steps that no retrieved article supports.",
    (REFUSAL, True): "The answer points the user to a human agent, which is reasonable here.",
    (REFUSAL, False): "The answer declines a question the articles answer.",
}


def pass_chance(outcome: str | None, answer: str) -> float:
    """Return the chance the demo judge passes an answer of this ground truth and length."""
    bias = min(LENGTH_BIAS_CAP, max(0.0, (len(answer) - 120) / 100 * LENGTH_BIAS_PER_100))
    return min(0.99, PASS_CHANCE[outcome] + bias)


def demo_verdict(bank: Bank, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the judge's JSON answer (binary verdict or 1-5 score, per the rubric's output format) for a request."""
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    user = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    match = ANSWER_RE.search(user)
    answer = match.group(1).strip() if match else ""
    outcome = bank.answer_outcome(answer) or seed_answer_outcome(answer)
    if outcome is None and answer:  # an answer neither knows: cited answers count as good
        outcome = GOOD if CITED_RE.search(answer) else None
    seed = hashlib.sha256((system + "\x00" + user).encode()).hexdigest()
    rng = random.Random(seed)
    passed = rng.random() < pass_chance(outcome, answer)
    confidence = round(rng.uniform(0.62, 0.95), 2)
    reason = REASONS.get((outcome or "", passed), "Graded by the demo judge from the simulator's ground truth.")
    if '"verdict"' in system:
        return {"verdict": "pass" if passed else "fail", "confidence": confidence, "reason": reason}
    score = rng.choice((4, 5)) if passed else rng.choice((1, 2, 3))
    return {"score": score, "confidence": confidence, "reason": reason}


def completion_body(content: str, *, prompt_chars: int) -> dict[str, Any]:
    """Return an OpenAI chat completion carrying `content`."""
    return {
        "id": "chatcmpl-demo-" + hashlib.sha256(content.encode()).hexdigest()[:16],
        "object": "chat.completion",
        "created": 0,
        "model": DEMO_JUDGE_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(content) // 4,
            "total_tokens": prompt_chars // 4 + len(content) // 4,
        },
    }


class DemoServer:
    """The demo judge and the demo webhook receiver on one 127.0.0.1 port, served from a thread."""

    def __init__(
        self, *, port: int = 0, bank: Bank | None = None, on_alert: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.bank = bank or bank_load()
        self.on_alert = on_alert or (lambda payload: logger.warning("alert: %s", payload.get("message", "")))
        self.alerts: list[dict[str, Any]] = []
        self.gradings = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the demo prints alerts only
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": DEMO_JUDGE_MODEL, "object": "model"}]})
                else:
                    self._send(200 if self.path == "/healthz" else 404, {"status": "ok"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                    return
                if self.path.rstrip("/") == "/webhook":
                    server.alerts.append(payload)
                    server.on_alert(payload)
                    self._send(200, {"received": True})
                elif self.path.rstrip("/").endswith("/chat/completions"):
                    messages = payload.get("messages") or []
                    content = json.dumps(demo_verdict(server.bank, messages))
                    server.gradings += 1
                    self._send(200, completion_body(content, prompt_chars=len(raw)))
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL a Judge row points at."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def webhook_url(self) -> str:
        """The URL the demo's webhook channel posts to."""
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self) -> DemoServer:
        """Serve from a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
