"""The demo for `make run`: an admin login, and a support bot's last day of requests, scored, so every page has data."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.demo.judge_server import DEMO_JUDGE_MODEL
from apps.demo.models import DemoSimulation
from apps.demo.seed_data import BAD_ANSWERS, DOCS, QUESTIONS
from apps.evaluators.models import Evaluator
from apps.evaluators.selectors import sampled
from apps.evaluators.services import EvaluatorSpec, evaluations_run, evaluator_create
from apps.feedback.services import feedback_create
from apps.judges.calibration import calibration_start
from apps.judges.models import CalibrationRun, Judge
from apps.judges.services import judge_create, judge_version_current
from apps.projects.models import ApiKey, Membership, Project
from apps.projects.services import api_key_create, api_key_revoke, demo_seed, membership_set
from apps.review.models import Label, RoutingRule
from apps.review.selectors import review_items_random_sample
from apps.review.services import LabelInput, label_record, review_defaults_create, review_route
from apps.slis.models import AlertRule, Channel
from apps.slis.services import alert_rule_create, channel_create, sli_create_from_template
from apps.traces.models import Trace
from apps.traces.native import native_trace_spans
from apps.traces.services import spans_ingest


def _trace(rng: random.Random, n: int, at: datetime) -> dict[str, Any]:
    question, answer, doc_index = rng.choice(QUESTIONS)
    prompt_version = rng.choice(["support-v12", "support-v12", "support-v13"])
    model = "gpt-4o-2024-08-06" if rng.random() < 0.7 else "gpt-4o-mini-2024-07-18"
    # v13 with the mini model regresses: it refuses and invents more often (what an alert should point at).
    bad_rate = 0.35 if (prompt_version == "support-v13" and "mini" in model) else 0.06
    if rng.random() < bad_rate:
        answer = rng.choice(BAD_ANSWERS)
    docs = [DOCS[doc_index], DOCS[(doc_index + 1) % len(DOCS)]]
    retrieval_ms, llm_ms = rng.randint(40, 250), rng.randint(400, 2600)
    start = at
    input_tokens, output_tokens = rng.randint(300, 900), rng.randint(20, 120)
    price = (2.5, 10.0) if "mini" not in model else (0.15, 0.6)
    return {
        "trace_id": f"{rng.getrandbits(128):032x}",
        "name": "answer_question",
        "route": rng.choice(["/support/chat", "/support/chat", "/support/email"]),
        "environment": "production",
        "prompt_version": prompt_version,
        "user_id": f"user-{rng.randint(1, 60)}",
        "session_id": f"sess-{n // 3}",
        "tags": rng.choice([[], ["beta"], ["eu"]]),
        "started_at": start,
        "ended_at": start + timedelta(milliseconds=retrieval_ms + llm_ms + 20),
        "input": question,
        "output": answer,
        "status": "ok",
        "spans": [
            {
                "span_id": f"{rng.getrandbits(64):016x}",
                "kind": "retrieval",
                "name": "search help center",
                "started_at": start + timedelta(milliseconds=5),
                "ended_at": start + timedelta(milliseconds=5 + retrieval_ms),
                "retrieval_query": question,
                "documents": [
                    {"id": i, "content": c, "score": round(rng.uniform(0.5, 0.95), 2), "metadata": {}} for i, c in docs
                ],
            },
            {
                "span_id": f"{rng.getrandbits(64):016x}",
                "kind": "llm",
                "name": f"chat {model}",
                "model": model,
                "provider": "openai",
                "started_at": start + timedelta(milliseconds=10 + retrieval_ms),
                "ended_at": start + timedelta(milliseconds=10 + retrieval_ms + llm_ms),
                "input": [
                    {"role": "system", "content": "Answer from the help center only and cite it as [n]."},
                    {"role": "user", "content": question},
                ],
                "output": [{"role": "assistant", "content": answer}] if answer else None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                "cost": round((input_tokens * price[0] + output_tokens * price[1]) / 1e6, 6),
                "finish_reasons": ["stop"],
            },
        ],
    }


def demo_traces_seed(*, project: Project, count: int = 240, seed: int = 7) -> int:
    """Store `count` demo traces spread over the last 24 hours and score them; skip if the project has traces."""
    if Trace.objects.filter(project=project).exists():
        return 0
    rng = random.Random(seed)
    now = timezone.now()
    spans = []
    traces = []
    for n in range(count):
        at = now - timedelta(seconds=rng.randint(60, 24 * 3600))
        traces.append(_trace(rng, n, at))
        spans.extend(native_trace_spans(traces[-1]))
    result = spans_ingest(project=project, spans=spans)
    feedback_create(project=project, items=_feedback(random.Random(seed + 1), traces))
    pks = list(Trace.objects.filter(project=project).values_list("id", flat=True))
    evaluations_run(project_id=project.id, trace_pks=pks)
    return len(result.trace_ids)


def _feedback(rng: random.Random, traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Some users vote: bad answers get thumbs-down and low ratings more often than good ones."""
    items: list[dict[str, Any]] = []
    for trace in traces:
        bad = trace["output"] in BAD_ANSWERS
        base = {"trace_id": trace["trace_id"], "user_id": trace["user_id"], "timestamp": trace["ended_at"]}
        if rng.random() < (0.5 if bad else 0.15):
            items.append({**base, "kind": "thumbs_down" if bad and rng.random() < 0.8 else "thumbs_up"})
        if rng.random() < 0.1:
            items.append({**base, "kind": "rating", "value": rng.randint(1, 2) if bad else rng.randint(4, 5)})
    return items


# The admin password seed_demo used to set, known to anyone who read the source: an admin that
# still has it gets a new password at the next seed.
LEGACY_ADMIN_PASSWORD = "sightline-admin"


@dataclass(frozen=True)
class DemoSetup:
    """What demo_setup did: the admin login to tell, the demo project, its new key, the traces stored."""

    username: str
    password: str  # set by this run (given or generated); "" when the admin's password was left alone
    password_generated: bool
    project: Project
    plaintext_key: str | None
    traces: int
    labels: int = 0
    notes: tuple[str, ...] = ()


def admin_password_generate() -> str:
    """Return a new random admin password (128 bits, URL-safe, easy to copy)."""
    return secrets.token_urlsafe(16)


def demo_setup(*, username: str, password: str = "", traces: int = 240) -> DemoSetup:
    """Create the admin, the demo project and its scored traffic once; a missing password is generated.

    1. A new admin gets `password`, or a generated one.
    2. An existing admin keeps its password, unless it is still LEGACY_ADMIN_PASSWORD.
    3. The demo project gets its traffic only while it has no traces.
    """
    admin = get_user_model().objects.filter(username=username).first()
    chosen = password or admin_password_generate()
    seed = demo_seed(username=username, password=chosen)  # creates the admin only when missing
    shown = chosen
    if admin is not None:
        if admin.check_password(LEGACY_ADMIN_PASSWORD):
            admin.set_password(chosen)
            admin.save(update_fields=["password"])
        else:
            shown = ""
    notes: list[str] = []
    if settings.SIGHTLINE_DEMO:  # before the traces: the demo judge's evaluator grades them too
        notes = demo_configure(project=seed.project, server_url=demo_server_url()).notes
    stored = demo_traces_seed(project=seed.project, count=traces)
    labels = demo_labels_seed(project=seed.project) if settings.SIGHTLINE_DEMO else 0
    return DemoSetup(
        username=username,
        password=shown,
        password_generated=bool(shown) and not password,
        project=seed.project,
        plaintext_key=seed.plaintext_key,
        traces=stored,
        labels=labels,
        notes=tuple(notes),
    )


# -- the live demo: simulated traffic, the demo judge, SLIs and alerting, seeded labels -------------------------

DEMO_JUDGE_NAME = "demo judge"
DEMO_EVALUATOR_NAME = "faithfulness (demo judge)"
DEMO_CHANNEL_NAME = "demo webhook"
DEMO_RULE_NAME = "Refusal rate by route and prompt version"
SIMULATOR_KEY_NAME = "demo simulator"
SIMULATOR_FEEDBACK_KEY_NAME = "demo simulator (feedback)"
DEMO_REVIEWER = "demo-reviewer"
# The demo's random calibration sample: 30 % of traffic (the default is 2 %), so that the seeded day alone gives the
# bias-corrected rates and the demo judge's κ a few dozen representative labels.
DEMO_RANDOM_SAMPLE_PERCENT = 30.0


def demo_server_url() -> str:
    """Return the demo server's base address (the demo judge and the demo webhook) on 127.0.0.1."""
    return f"http://127.0.0.1:{settings.DEMO_SERVER_PORT}"


@dataclass(frozen=True)
class DemoConfigured:
    """What demo_configure made or found: the judge (None when loopback judges are not allowed), the rule."""

    judge: Judge | None
    rule: AlertRule
    channel: Channel | None
    notes: list[str]


def demo_configure(*, project: Project, server_url: str) -> DemoConfigured:
    """Give the demo project its live parts once: the demo judge and its evaluator, SLIs, a sliced alert rule with
    the demo webhook, and the simulator's switch. Parts that exist are kept; 127.0.0.1 must be allowed for the
    judge (JUDGE_ALLOWED_HOSTS) and the webhook (ALERT_ALLOWED_HOSTS), or that part is skipped with a note."""
    notes: list[str] = []
    judge = Judge.objects.filter(project=project, name=DEMO_JUDGE_NAME).first()
    if judge is None:
        try:
            judge = judge_create(
                project=project, name=DEMO_JUDGE_NAME, base_url=f"{server_url}/v1", model=DEMO_JUDGE_MODEL
            )
        except ValidationError as exc:
            notes.append(f"demo judge skipped: {'; '.join(exc.messages)}")
    if judge is not None and not Evaluator.objects.filter(project=project, name=DEMO_EVALUATOR_NAME).exists():
        spec = EvaluatorSpec(
            name=DEMO_EVALUATOR_NAME,
            kind=Evaluator.Kind.LLM_JUDGE,
            config={"rubric": "faithfulness"},
            filters={},
            sample_rate=0.5,
            judge=judge,
        )
        evaluator_create(project=project, spec=spec)
    review_defaults_create(project=project)  # idempotent: a project made before review has no rules yet
    RoutingRule.objects.filter(
        project=project, kind=RoutingRule.Kind.RANDOM_SAMPLE, sample_percent__lt=DEMO_RANDOM_SAMPLE_PERCENT
    ).update(sample_percent=DEMO_RANDOM_SAMPLE_PERCENT)
    refusal = sli_create_from_template(project=project, template="refusal_rate")
    for template in ("grounding_rate", "thumbs_down_rate", "p95_latency"):
        sli_create_from_template(project=project, template=template)
    channel = Channel.objects.filter(project=project, name=DEMO_CHANNEL_NAME).first()
    if channel is None:
        try:
            channel = channel_create(
                project=project, name=DEMO_CHANNEL_NAME, kind=Channel.Kind.WEBHOOK, target=f"{server_url}/webhook"
            )
        except ValidationError as exc:
            notes.append(f"demo webhook skipped: {'; '.join(exc.messages)}")
    rule = AlertRule.objects.filter(project=project, name=DEMO_RULE_NAME).first()
    if rule is None:
        rule = alert_rule_create(
            project=project,
            sli=refusal,
            name=DEMO_RULE_NAME,
            comparator=">",
            threshold=0.15,
            window="5m",
            min_samples=10,
            group_by=["route", "prompt_version"],
            channels=[channel.id] if channel is not None else [],
        )
    DemoSimulation.objects.get_or_create(project=project)
    return DemoConfigured(judge=judge, rule=rule, channel=channel, notes=notes)


def demo_labels_seed(*, project: Project, count: int = 36, seed: int = 11) -> int:
    """Label up to `count` seeded traces of the random calibration sample that the demo judge grades, as a reviewer
    would (mostly right, a few slips), then calibrate the demo judge: the bias-corrected rates and κ have
    representative labels from the first minute. Skipped once labels exist."""
    if Label.objects.filter(project=project).exists():
        return 0
    reviewer = get_user_model().objects.filter(username=DEMO_REVIEWER).first()
    if reviewer is None:
        reviewer = get_user_model().objects.create_user(username=DEMO_REVIEWER, password=None)
    membership_set(project=project, username=DEMO_REVIEWER, role=Membership.Role.REVIEWER)
    chosen = _random_sample_judged(project, count)
    rng = random.Random(seed)
    with transaction.atomic():
        for trace_pk, trace_id, output in chosen:
            truth_pass = output not in BAD_ANSWERS
            verdict_pass = truth_pass if rng.random() > 0.06 else not truth_pass  # a reviewer slips now and then
            categories = [] if verdict_pass else ["refusal" if "sorry" in output.lower() else "hallucination"]
            label_record(
                project=project,
                user=reviewer,
                trace_pk=trace_pk,
                trace_id=trace_id,
                data=LabelInput(verdict="pass" if verdict_pass else "fail", categories=categories),
            )
    judge = Judge.objects.filter(project=project, name=DEMO_JUDGE_NAME).first()
    if chosen and judge is not None:
        calibration_start(judge_version=judge_version_current(judge=judge), trigger="seed")
    return len(chosen)


def demo_judges_calibrate() -> int:
    """Queue a calibration of each demo project's demo judge that has none done yet; return how many were queued.

    The demo server calls it once it listens: at `make run`'s start the worker may try the seed's calibration
    before the demo judge answers, and a failed run would otherwise wait for the daily one."""
    queued = 0
    demo_projects = DemoSimulation.objects.values("project_id")
    for judge in Judge.objects.filter(name=DEMO_JUDGE_NAME, is_active=True, project_id__in=demo_projects):
        version = judge_version_current(judge=judge)
        done = CalibrationRun.objects.filter(judge_version=version, status=CalibrationRun.Status.DONE).exists()
        if not done and Label.objects.filter(project_id=judge.project_id).exists():
            calibration_start(judge_version=version, trigger="demo")
            queued += 1
    return queued


def _random_sample_judged(project: Project, count: int) -> list[tuple[int, str, str]]:
    """The first `count` traces (by id) that the random_sample rule queued and the demo judge's evaluator grades."""
    pks = list(Trace.objects.filter(project=project).values_list("id", flat=True))
    review_route(project_id=project.id, trace_pks=pks, kinds=[RoutingRule.Kind.RANDOM_SAMPLE])
    sampled_pks = set(review_items_random_sample(project=project).values_list("trace_pk", flat=True))
    traces = Trace.objects.filter(project=project, id__in=sampled_pks).order_by("trace_id")
    return [
        t
        for t in traces.values_list("id", "trace_id", "output_text")
        if sampled(trace_id=t[1], evaluator_name=DEMO_EVALUATOR_NAME, rate=0.5)
    ][:count]


@dataclass(frozen=True)
class SimulatorKeys:
    """The simulator's keys for one run: a write key (OTLP, offline runs) and a feedback key."""

    write: str
    feedback: str


def simulator_keys_issue(*, project: Project) -> SimulatorKeys:
    """Issue the simulator fresh keys and revoke the ones its earlier runs held (their plaintext is gone)."""
    old = ApiKey.objects.filter(
        project=project, name__in=[SIMULATOR_KEY_NAME, SIMULATOR_FEEDBACK_KEY_NAME], revoked_at__isnull=True
    )
    for key_id in old.values_list("id", flat=True):
        api_key_revoke(project=project, api_key_id=key_id)
    write = api_key_create(project=project, name=SIMULATOR_KEY_NAME).plaintext
    feedback = api_key_create(project=project, name=SIMULATOR_FEEDBACK_KEY_NAME, scope=ApiKey.Scope.FEEDBACK).plaintext
    return SimulatorKeys(write=write, feedback=feedback)


def simulation_start(*, project: Project) -> None:
    """Ready the project's switch for a new simulator run: its script starts before the rollout again."""
    simulation, _ = DemoSimulation.objects.get_or_create(project=project)
    DemoSimulation.objects.filter(id=simulation.id).update(regressed_at=None, rollout={}, requests_sent=0)


def simulation_progress(*, project_id: int, requests_sent: int) -> None:
    """Record how many requests the simulator has sent (shown on the banner)."""
    DemoSimulation.objects.filter(project_id=project_id).update(requests_sent=requests_sent)


def simulation_should_run(*, project_id: int, requests_sent: int) -> bool:
    """Record the simulator's heartbeat and progress; return whether it should keep sending (the banner's flag)."""
    simulation, _ = DemoSimulation.objects.get_or_create(project_id=project_id)
    DemoSimulation.objects.filter(id=simulation.id).update(heartbeat_at=timezone.now(), requests_sent=requests_sent)
    return simulation.is_running


def simulation_rolled_out(*, project_id: int, route: str, prompt_version: str, previous: str) -> None:
    """Record that the scripted rollout happened (shown on the banner)."""
    DemoSimulation.objects.filter(project_id=project_id).update(
        regressed_at=timezone.now(),
        rollout={"route": route, "prompt_version": prompt_version, "previous": previous},
    )


def simulation_set_running(*, project: Project, running: bool, by: str) -> bool:
    """Start or stop the simulated traffic from the UI; return whether the flag changed."""
    changed = DemoSimulation.objects.filter(project=project, is_running=not running).update(
        is_running=running, stopped_by="" if running else by, updated_at=timezone.now()
    )
    return bool(changed)
