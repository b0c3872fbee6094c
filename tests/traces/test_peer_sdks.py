"""The real Langfuse, Phoenix and Traceloop SDKs, configured only as the onboarding tabs say, against a live server.

Each SDK runs in its own process (tests/support/sdk_apps.py) with its default exporter; that process refuses and
reports any connection that is not to 127.0.0.1, and runs with telemetry off and hubs offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.feedback.models import Feedback
from apps.scores.models import Score
from apps.traces.models import Trace

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
QUESTION = "How do I reset my password?"
ANSWER = "Hello from the test model."


def run_sdk_app(tool: str, env: dict[str, str], fake_openai) -> dict:
    """Run one SDK app with a clean environment (nothing of ours leaks in) and return its JSON result."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        "FAKE_OPENAI_URL": fake_openai.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
        # No phone-home, no downloads at run time.
        "TRACELOOP_TELEMETRY": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.sdk_apps", tool],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SDK-RESULT ")]
    assert proc.returncode == 0 and lines, f"{tool} app failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1].removeprefix("SDK-RESULT "))
    assert result["foreign_connections"] == [], result
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return result


def trace_detail(api_client, trace_id: str) -> dict:
    response = api_client.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code == 200, response.content
    return response.json()


def llm_span(detail: dict) -> dict:
    spans = [s for s in detail["spans"] if s["kind"] == "llm"]
    assert len(spans) == 1, [(s["name"], s["kind"]) for s in detail["spans"]]
    return spans[0]


def assert_conversation(detail: dict) -> None:
    assert QUESTION in detail["input"]
    assert ANSWER in detail["output"]
    assert detail["model"] == "test-model-2024-08-06"
    llm = llm_span(detail)
    assert (llm["input_tokens"], llm["output_tokens"]) == (12, 7)


def test_langfuse_sdk_traces_and_scores(live_server, api_key, api_client, fake_openai):
    result = run_sdk_app(
        "langfuse",
        {
            "LANGFUSE_BASE_URL": live_server.url,
            "LANGFUSE_PUBLIC_KEY": "pk-lf-any",
            "LANGFUSE_SECRET_KEY": api_key,
        },
        fake_openai,
    )
    detail = trace_detail(api_client, result["trace_id"])
    assert_conversation(detail)
    assert detail["user_id"] == "user-42" and detail["session_id"] == "sess-7"
    trace = Trace.objects.get(trace_id=result["trace_id"])
    scores = {s.name: s for s in Score.objects.filter(trace_id=trace.id)}
    assert scores["correctness"].source == "external" and scores["correctness"].passed is True
    assert scores["correctness"].explanation == "matches the reference"
    assert scores["helpfulness"].value == 0.25 and scores["helpfulness"].span_id
    # create_score for a trace not sent (yet): accepted and kept pending, as unlinked feedback of kind score.
    pending = Feedback.objects.get(trace_id=result["early_trace_id"])
    assert (pending.kind, pending.trace_pk, pending.score["label"]) == ("score", None, "friendly")


def test_phoenix_register_traces(live_server, api_key, api_client, fake_openai):
    """register(protocol="http/protobuf") with the collector endpoint and key from the environment."""
    env = {"PHOENIX_COLLECTOR_ENDPOINT": live_server.url, "PHOENIX_API_KEY": api_key}
    result = run_sdk_app("phoenix", env, fake_openai)
    detail = trace_detail(api_client, result["trace_id"])
    assert_conversation(detail)


def test_phoenix_register_without_protocol_needs_the_grpc_port_set(live_server, api_key, api_client, fake_openai):
    """Bare register() infers gRPC on PHOENIX_GRPC_PORT; a /v1/traces path plus that port keeps code unchanged."""
    port = live_server.url.rsplit(":", 1)[1]
    env = {
        "PHOENIX_COLLECTOR_ENDPOINT": f"{live_server.url}/v1/traces",
        "PHOENIX_GRPC_PORT": port,
        "PHOENIX_API_KEY": api_key,
    }
    result = run_sdk_app("phoenix-unchanged", env, fake_openai)
    assert_conversation(trace_detail(api_client, result["trace_id"]))


def test_traceloop_sdk_traces(live_server, api_key, api_client, fake_openai):
    result = run_sdk_app(
        "traceloop",
        {
            "TRACELOOP_BASE_URL": live_server.url,
            "TRACELOOP_API_KEY": api_key,
            "TRACELOOP_METRICS_ENABLED": "false",
        },
        fake_openai,
    )
    detail = trace_detail(api_client, result["trace_id"])
    assert_conversation(detail)
    assert detail["user_id"] == "user-42" and detail["session_id"] == "sess-7"
    assert detail["route"] == "support_answer"
    assert (detail["input"], detail["output"]) == (
        QUESTION,
        result["answer"],
    )  # the @workflow's {"args": [question], "kwargs": {}} reads as the question
