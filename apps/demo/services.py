"""Demo traffic for `make run`: a support bot's last day of requests, scored, so every page has data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.evaluators.services import evaluations_run
from apps.projects.models import Project
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
    for n in range(count):
        at = now - timedelta(seconds=rng.randint(60, 24 * 3600))
        spans.extend(native_trace_spans(_trace(rng, n, at)))
    result = spans_ingest(project=project, spans=spans)
    pks = list(Trace.objects.filter(project=project).values_list("id", flat=True))
    evaluations_run(project_id=project.id, trace_pks=pks)
    return len(result.trace_ids)
