"""Play the demo script (scenario.py) against a running Sightline as a production app would: every request as
OpenTelemetry spans through the OTLP endpoint (GenAI semantic conventions), the users' votes through the
feedback API, and the offline runs of the versions it ships through the offline-runs API."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from apps.demo.bank import Bank
from apps.demo.scenario import Script, Session, Turn

logger = logging.getLogger(__name__)

SERVICE_NAME = "tallybook-support"
FEEDBACK_FLUSH_SECONDS = 1.0
MAX_OPEN_SESSIONS = 40


def offline_run_post(client: httpx.Client, *, base_url: str, api_key: str, run: dict[str, Any]) -> bool:
    """POST one offline run to /api/v1/offline-runs; a server without that endpoint (404) is logged, not fatal."""
    try:
        response = client.post(
            f"{base_url}/api/v1/offline-runs", json=run, headers={"Authorization": f"Bearer {api_key}"}
        )
    except httpx.HTTPError as exc:
        logger.warning("offline run for %s not posted: %s", run.get("prompt_version"), exc)
        return False
    if response.status_code == 404:
        logger.info("offline runs not available")
        return False
    if response.status_code >= 400:
        logger.warning("offline run refused (%s): %s", response.status_code, response.text[:300])
        return False
    return True


def offline_run_for(script: Script, *, prompt_version: str, model: str) -> dict[str, Any]:
    """Return the offline run the team ran before shipping a prompt version: the contract of POST offline-runs."""
    return {
        "name": f"support regression suite · {prompt_version}",
        "model": model,
        "prompt_version": prompt_version,
        "git_revision": hashlib.sha1(f"tallybook:{prompt_version}".encode()).hexdigest()[:12],
        "metrics": script.offline_metrics(prompt_version),
    }


def chat_attributes(turn: Turn, system_prompt: str) -> dict[str, Any]:
    """Return a chat span's attributes in the GenAI conventions: models, usage, cost, and the messages as JSON."""
    context_text = "\n".join(f"[{i}] {doc.content}" for i, doc in enumerate(turn.topic.docs, start=1))
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": turn.request_model,
        "gen_ai.response.model": turn.model,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.conversation.id": turn.session_id,
        "gen_ai.usage.input_tokens": turn.input_tokens,
        "gen_ai.usage.output_tokens": turn.output_tokens,
        "gen_ai.usage.cost": turn.cost,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": system_prompt}]),
        "gen_ai.input.messages": json.dumps(
            [
                {
                    "role": "system",
                    "parts": [{"type": "text", "content": f"{system_prompt}\n\n{context_text}"}],
                },
                {"role": "user", "parts": [{"type": "text", "content": turn.question}]},
            ]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": turn.answer}],
                    "finish_reason": "stop",
                }
            ]
        ),
    }


@dataclass
class SimulationStats:
    """What a run sent: requests per (route, prompt version) and outcome, feedback per kind, offline runs."""

    requests: int = 0
    sessions: int = 0
    by_slice: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (route, version, outcome)
    feedback: Counter[str] = field(default_factory=Counter)
    next_steps: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)  # turns sent as a regenerate or rephrase of the last
    retried: dict[str, list[str]] = field(default_factory=dict)  # kind → the traces users retried
    offline_runs: list[dict[str, Any]] = field(default_factory=list)
    offline_posted: int = 0
    trace_ids: list[str] = field(default_factory=list)
    regressed_after_requests: int | None = None


@dataclass
class Control:
    """How the simulator asks whether to keep going (the banner's flag) and reports progress."""

    should_run: Callable[[SimulationStats], bool] = lambda stats: True
    on_rollout: Callable[[Script], None] = lambda script: None
    poll_seconds: float = 2.0


class Simulator:
    """Send the script's traffic at `rate` requests per second; the script runs `speed` times faster than real time."""

    def __init__(
        self,
        *,
        bank: Bank,
        base_url: str,
        api_key: str,
        feedback_key: str,
        rate: float = 1.0,
        speed: float = 1.0,
        seed: int = 13,
        script: Script | None = None,
        control: Control | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.feedback_key = feedback_key
        self.rate = rate
        self.speed = speed
        self.script = script or Script(bank, seed=seed)
        self.control = control or Control()
        self.stats = SimulationStats()
        self.http = httpx.Client(timeout=10.0)
        self.provider = TracerProvider(
            resource=Resource.create(
                {
                    "service.name": SERVICE_NAME,
                    "service.version": "2026.11.3",
                    "deployment.environment.name": "production",
                }
            )
        )
        exporter = OTLPSpanExporter(
            endpoint=f"{self.base_url}/v1/traces", headers={"Authorization": f"Bearer {api_key}"}
        )
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self.tracer = self.provider.get_tracer("tallybook.support")
        self._feedback: list[dict[str, Any]] = []
        self._sessions: list[Session] = []

    # -- the loop ------------------------------------------------------------------------------------------------

    def run(self, *, duration: float | None = None, max_requests: int | None = None) -> SimulationStats:
        """Send traffic until `duration` seconds of running time or `max_requests`, whichever comes first."""
        interval = 1.0 / self.rate
        active = 0.0  # running seconds so far (a stop from the banner pauses the script's clock)
        running = True
        last_poll = -1e9
        last_flush = time.monotonic()
        self._offline_post(self.script.rollout.previous)
        rolled_out = False
        try:
            while (duration is None or active < duration) and (
                max_requests is None or self.stats.requests < max_requests
            ):
                tick = time.monotonic()
                if tick - last_poll >= self.control.poll_seconds:
                    running, last_poll = self.control.should_run(self.stats), tick
                if not running:
                    self._feedback_flush()
                    time.sleep(self.control.poll_seconds)
                    continue
                at = active * self.speed
                if not rolled_out and self.script.regressed(at):
                    rolled_out = True
                    self.stats.regressed_after_requests = self.stats.requests
                    self._offline_post(self.script.rollout.prompt_version)
                    self.control.on_rollout(self.script)
                self.request_play(at)
                if time.monotonic() - last_flush >= FEEDBACK_FLUSH_SECONDS:
                    self._feedback_flush()
                    last_flush = time.monotonic()
                spent = time.monotonic() - tick
                time.sleep(max(0.0, interval - spent))
                active += max(interval, time.monotonic() - tick)
        finally:
            self.close()
        return self.stats

    def request_play(self, at: float) -> Turn:
        """Serve one due turn of an open session, or a new session's first: send its spans and queue its votes."""
        # A user reacts once the previous answer has arrived, however fast the script runs (a turn never starts in
        # the future: the implicit detectors read only turns that have started).
        now_ns = time.time_ns()
        due = [s for s in self._sessions if s.due <= at and s.answered_ns <= now_ns]
        if due:
            session = min(due, key=lambda s: s.due)
        else:
            session = self.script.session_start(at)
            self.stats.sessions += 1
            self._sessions.append(session)
            if len(self._sessions) > MAX_OPEN_SESSIONS:  # the oldest conversation is left: its user walked away
                self._sessions.pop(0)
        if session.last_step in ("regenerate", "rephrase"):
            self.stats.retries[session.last_step] += 1
            self.stats.retried.setdefault(session.last_step, []).append(session.last_trace_id)
        turn = self.script.turn_play(session, at)
        if session.done:
            self._sessions.remove(session)
        trace_id, session.answered_ns = self.spans_send(turn, not_before_ns=session.answered_ns)
        session.last_trace_id = trace_id
        self._votes_queue(turn, trace_id)
        self.stats.requests += 1
        self.stats.by_slice[(turn.route, turn.prompt_version)] += 1
        self.stats.outcomes[(turn.route, turn.prompt_version, turn.outcome)] += 1
        self.stats.next_steps[turn.reaction.next_step] += 1
        self.stats.trace_ids.append(trace_id)
        return turn

    def close(self) -> None:
        """Send what is queued: votes, then spans; stop the exporter."""
        self._feedback_flush()
        self.provider.force_flush()
        self.provider.shutdown()
        self.http.close()

    # -- what goes on the wire -----------------------------------------------------------------------------------

    def spans_send(self, turn: Turn, *, not_before_ns: int = 0) -> tuple[str, int]:
        """Record one request as a root span, a retrieval span and a chat span (OTel GenAI conventions); return
        its trace id and end. It ends now, or starts just after `not_before_ns` (the session's previous answer)
        when sped-up think times would make it overlap."""
        total_ns = (turn.retrieval_ms + turn.llm_ms + 30) * 1_000_000
        start_ns = max(time.time_ns() - total_ns, not_before_ns + 1_000_000)
        end_ns = start_ns + total_ns
        system_prompt = self.script.bank.system_prompts.get(turn.prompt_version, "")
        root = self.tracer.start_span(
            "support_answer",
            start_time=start_ns,
            kind=otel_trace.SpanKind.SERVER,
            attributes={
                "sightline.route": turn.route,
                "sightline.prompt.version": turn.prompt_version,
                "sightline.prompt.name": "support-answer",
                "session.id": turn.session_id,
                "user.id": turn.user_id,
                "input.value": turn.question,
                "output.value": turn.answer,
            },
        )
        context = otel_trace.set_span_in_context(root)
        retrieval_start = start_ns + 5_000_000
        retrieval_end = retrieval_start + turn.retrieval_ms * 1_000_000
        retrieval = self.tracer.start_span(
            "retrieval help-center",
            context=context,
            start_time=retrieval_start,
            kind=otel_trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "retrieval",
                "gen_ai.data_source.id": "help-center",
                "gen_ai.retrieval.query.text": turn.question,
                "gen_ai.retrieval.documents": json.dumps(
                    [
                        {"id": doc.id, "score": round(0.86 - 0.07 * i, 2), "content": doc.content}
                        for i, doc in enumerate(turn.topic.docs)
                    ]
                ),
            },
        )
        retrieval.set_status(Status(StatusCode.OK))
        retrieval.end(end_time=retrieval_end)
        llm_start = retrieval_end + 10_000_000
        llm = self.tracer.start_span(
            f"chat {turn.request_model}",
            context=context,
            start_time=llm_start,
            kind=otel_trace.SpanKind.CLIENT,
            attributes=chat_attributes(turn, system_prompt),
        )
        llm.set_status(Status(StatusCode.OK))
        llm.end(end_time=llm_start + turn.llm_ms * 1_000_000)
        root.set_status(Status(StatusCode.OK))
        root.end(end_time=end_ns)
        return f"{root.get_span_context().trace_id:032x}", end_ns

    def _votes_queue(self, turn: Turn, trace_id: str) -> None:
        base = {"trace_id": trace_id, "user_id": turn.user_id}
        if turn.reaction.thumbs:
            self._feedback.append({**base, "kind": turn.reaction.thumbs})
        if turn.reaction.rating is not None:
            self._feedback.append({**base, "kind": "rating", "value": turn.reaction.rating})

    def _feedback_flush(self) -> None:
        """POST the queued votes to the feedback API in one batch, with the browser-safe feedback key."""
        if not self._feedback:
            return
        items, self._feedback = self._feedback, []
        try:
            response = self.http.post(
                f"{self.base_url}/api/v1/feedback",
                json={"feedback": items},
                headers={"Authorization": f"Bearer {self.feedback_key}"},
            )
        except httpx.HTTPError as exc:
            logger.warning("feedback not sent (%d items): %s", len(items), exc)
            return
        if response.status_code >= 300:
            logger.warning("feedback refused (%s): %s", response.status_code, response.text[:300])
            return
        for item in items:
            self.stats.feedback[item["kind"]] += 1

    def _offline_post(self, prompt_version: str) -> None:
        run = offline_run_for(self.script, prompt_version=prompt_version, model="gpt-4o-2024-08-06")
        self.stats.offline_runs.append(run)
        if offline_run_post(self.http, base_url=self.base_url, api_key=self.api_key, run=run):
            self.stats.offline_posted += 1
