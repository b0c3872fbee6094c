"""Small apps instrumented with a peer's real SDK (Langfuse, Phoenix, Traceloop), run in their own process.

`python -m tests.support.sdk_apps <tool>` with the environment the onboarding tab documents (plus
FAKE_OPENAI_URL): it makes one chat completion through the SDK's own OpenAI instrumentation against the
local fake OpenAI server, flushes, and prints one JSON line with the trace id and every outbound connection
that was not to 127.0.0.1 (there must be none). Each SDK sets process-global OTel state, hence a process each.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

FOREIGN: list[str] = []
_connect = socket.socket.connect


def _guarded_connect(sock: socket.socket, address: Any) -> Any:
    """Refuse (and record) any connection to a host other than loopback."""
    host = address[0] if isinstance(address, tuple) else str(address)
    if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        FOREIGN.append(f"{host}:{address[1]}")
        raise ConnectionRefusedError(f"test guard: no traffic to {host}")
    return _connect(sock, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]

QUESTION = "How do I reset my password?"
SYSTEM = "You are a support assistant."


def _messages() -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


def run_langfuse() -> dict[str, Any]:
    """Langfuse v3+: the drop-in openai wrapper inside a span carrying user, session and a score."""
    from langfuse import get_client, propagate_attributes
    from langfuse.openai import OpenAI

    langfuse = get_client()
    client = OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="test-key", max_retries=0)
    with langfuse.start_as_current_observation(as_type="span", name="support-answer", input=QUESTION) as root:
        with propagate_attributes(user_id="user-42", session_id="sess-7", version="support-v3", tags=["sdk"]):
            completion = client.chat.completions.create(model="test-model", messages=_messages())
            answer = completion.choices[0].message.content
            root.update(output=answer)
        trace_id = langfuse.get_current_trace_id()
        span_id = langfuse.get_current_observation_id()
    langfuse.create_score(
        name="correctness", value=1, data_type="BOOLEAN", trace_id=trace_id, comment="matches the reference"
    )
    langfuse.create_score(name="helpfulness", value=0.25, trace_id=trace_id, observation_id=span_id)
    early = langfuse.create_trace_id()  # a score for a trace that is sent later (or never)
    langfuse.create_score(name="tone", value="friendly", data_type="CATEGORICAL", trace_id=early)
    langfuse.flush()
    langfuse.shutdown()
    return {"trace_id": trace_id, "early_trace_id": early, "answer": answer}


def run_phoenix(protocol: str | None = "http/protobuf") -> dict[str, Any]:
    """Phoenix: register() with auto-instrumentation of openai (OpenInference)."""
    from openai import OpenAI
    from phoenix.otel import register

    provider = register(project_name="support-bot", auto_instrument=True, batch=True, protocol=protocol)
    tracer = provider.get_tracer("app")
    client = OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="test-key", max_retries=0)
    with tracer.start_as_current_span("support-answer") as root:
        completion = client.chat.completions.create(model="test-model", messages=_messages())
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.force_flush()
    provider.shutdown()
    return {"trace_id": trace_id, "answer": completion.choices[0].message.content}


def run_traceloop() -> dict[str, Any]:
    """Traceloop / OpenLLMetry: Traceloop.init() and a workflow decorator around an openai call."""
    from openai import OpenAI
    from opentelemetry import trace
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import workflow

    Traceloop.init(app_name="support-bot", disable_batch=True)
    Traceloop.set_association_properties({"user_id": "user-42", "session_id": "sess-7"})
    client = OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="test-key", max_retries=0)
    found: dict[str, Any] = {}

    @workflow(name="support_answer")
    def answer(question: str) -> str:
        found["trace_id"] = format(trace.get_current_span().get_span_context().trace_id, "032x")
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        completion = client.chat.completions.create(model="test-model", messages=messages)
        return completion.choices[0].message.content or ""

    found["answer"] = answer(QUESTION)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    return found


def main() -> None:
    tool = sys.argv[1]
    result = {
        "langfuse": run_langfuse,
        "phoenix": run_phoenix,
        "phoenix-unchanged": lambda: run_phoenix(protocol=None),
        "traceloop": run_traceloop,
    }[tool]()
    result["foreign_connections"] = FOREIGN
    print("SDK-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
