"""The demo for `make run`: an admin login, and a support bot's last day of requests, scored, so every page has data."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.evaluators.services import evaluations_run
from apps.feedback.services import feedback_create
from apps.projects.models import Project
from apps.projects.services import demo_seed
from apps.traces.models import Trace
from apps.traces.native import native_trace_spans
from apps.traces.services import spans_ingest

DOCS = [
    ("kb-12", "To reset your password, open Settings → Security and choose Reset password. A link is emailed."),
    ("kb-31", "Refunds are available within 30 days of purchase for annual plans; monthly plans are not refunded."),
    ("kb-7", "Two-factor authentication can be enabled under Settings → Security → Two-factor."),
    ("kb-44", "Invoices are sent on the 1st of each month to the billing contact's email address."),
]
QUESTIONS = [
    ("How do I reset my password?", "Open Settings → Security and choose Reset password; a link is emailed [1].", 0),
    ("What is the refund window?", "Annual plans can be refunded within 30 days of purchase [1].", 1),
    ("How do I turn on 2FA?", "Go to Settings → Security → Two-factor to enable it [1].", 2),
    ("When are invoices sent?", "Invoices go out on the 1st of each month to the billing contact [1].", 3),
]
BAD_ANSWERS = [
    "I'm sorry, but I can't help with that request.",
    "",
    "Refunds are available within 90 days for all plans, including monthly ones.",  # ungrounded, uncited
    "Open Settings → Security and choose Reset password [4].",  # dangling citation
]


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
    stored = demo_traces_seed(project=seed.project, count=traces)
    return DemoSetup(
        username=username,
        password=shown,
        password_generated=bool(shown) and not password,
        project=seed.project,
        plaintext_key=seed.plaintext_key,
        traces=stored,
    )
