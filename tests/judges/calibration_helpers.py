"""Helpers for calibration tests: labeled traces (random sample or routed) and a fake judge that reads answers."""

from __future__ import annotations

import json
from typing import Any

from apps.judges.models import Judge
from apps.judges.services import judge_create
from apps.projects.models import Project
from apps.review.models import ReviewItem
from apps.review.services import LabelInput, label_record
from apps.traces.models import Trace
from tests.support.openai_server import FakeOpenAI, Reply
from tests.traces.factories import simple_trace

PINNED = "test-model-2024-08-06"  # the fake server's default `model`


def verdict_reply(passed: bool, model: str = PINNED) -> Reply:
    """A binary judge answer."""
    return Reply(
        content=json.dumps({"verdict": "pass" if passed else "fail", "confidence": 0.9, "reason": "graded"}),
        model=model,
    )


def agreeing(payload: dict[str, Any]) -> Reply:
    """A judge that passes exactly the answers people pass (they say GOOD)."""
    return verdict_reply("GOOD" in FakeOpenAI.graded_answer(payload))


def disagreeing(payload: dict[str, Any]) -> Reply:
    """A judge whose provider changed it: it now passes what people fail and fails what they pass."""
    return verdict_reply("GOOD" not in FakeOpenAI.graded_answer(payload))


def judge_on(project: Project, server: FakeOpenAI, name: str = "grader", **fields: Any) -> Judge:
    """Pin a judge on the local fake server."""
    return judge_create(project=project, name=name, base_url=server.base_url, model=PINNED, **fields)


def labeled_trace(
    project: Project, user: Any, *, good: bool, sample: str = "random", output: str | None = None, **fields: Any
) -> Trace:
    """Store a trace whose answer says GOOD or BAD, queue it (random sample or routed) and label it as such."""
    trace = simple_trace(project, output_text=output or ("GOOD answer" if good else "BAD answer"), **fields)
    kind = "random_sample" if sample == "random" else "score_below"
    ReviewItem.objects.create(
        project=project,
        trace_pk=trace.pk,
        trace_id=trace.trace_id,
        trace_started_at=trace.started_at,
        reasons=[{"rule_id": 0, "kind": kind, "text": kind}],
    )
    label_record(
        project=project,
        user=user,
        trace_pk=trace.pk,
        trace_id=trace.trace_id,
        data=LabelInput(verdict="pass" if good else "fail"),
    )
    return trace
