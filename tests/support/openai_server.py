"""A small OpenAI-compatible HTTP server on 127.0.0.1 for tests: the only stand-in we allow (paid LLM APIs).

Tests script its answers: a normal chat completion, a slow one, 429 with Retry-After, 500, or garbage.
POST .../embeddings answers an embeddings list: scripted vectors, or by default a deterministic bag-of-words
vector per input (identical texts get identical vectors; it is not semantic).
It records every request so tests can check what the real `openai` client sent.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    content: str = "Hello from the test model."
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None  # sent as-is (garbage, truncated JSON, …)
    model: str = "test-model-2024-08-06"
    prompt_tokens: int = 12
    completion_tokens: int = 7
    finish_reason: str = "stop"
    embeddings: list[list[float]] | None = None  # for /embeddings: these vectors instead of bag-of-words ones


def bag_of_words(text: str, dims: int = 64) -> list[float]:
    """Return a unit vector counting the text's lower-cased words in hashed buckets (stable across runs)."""
    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeOpenAI:
    """Run the server in a thread; `replies` is consumed in order, then `default` answers."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        # Decides the reply from the request when set and no scripted reply is queued (a judge that reads the
        # answer: agrees with people, then starts disagreeing when a test swaps the responder).
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"_unparsed": body.decode(errors="replace")}
                with fake._lock:
                    fake.requests.append({"path": self.path, "json": payload, "headers": dict(self.headers)})
                    if fake.replies:
                        reply = fake.replies.popleft()
                    elif fake.responder is not None:
                        reply = fake.responder(payload)
                    else:
                        reply = fake.default
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw_body is not None:
                    data = reply.raw_body
                elif reply.status != 200:
                    data = json.dumps({"error": {"message": f"scripted {reply.status}", "type": "test"}}).encode()
                elif self.path.rstrip("/").endswith("/embeddings"):
                    data = json.dumps(fake.embeddings(payload, reply)).encode()
                else:
                    data = json.dumps(fake.completion(payload, reply)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def completion(self, payload: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Build a chat.completion object like the real API's."""
        return {
            "id": f"chatcmpl-test{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "system_fingerprint": "fp_test",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }

    def embeddings(self, payload: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Build an embeddings list like the real API's, one vector per input."""
        inputs = payload.get("input") or []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        vectors = reply.embeddings if reply.embeddings is not None else [bag_of_words(str(t)) for t in inputs]
        return {
            "object": "list",
            "model": reply.model,
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens},
        }

    @staticmethod
    def graded_answer(payload: dict[str, Any]) -> str:
        """Return the text inside the <untrusted_answer> block of a judge request ("" if none)."""
        messages = payload.get("messages") or []
        text = str(messages[-1].get("content", "")) if messages else ""
        match = re.search(r"<untrusted_answer[^>]*>(.*?)</untrusted_answer", text, re.DOTALL)
        return match.group(1) if match else ""

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
