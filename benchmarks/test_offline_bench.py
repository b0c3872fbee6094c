"""Benchmark: scoring an offline run's items in process (the default programmatic evaluators, no judge), and the
divergence panel's read.

BENCH_OFFLINE_ITEMS items (default 2,000), each with 2 retrieved documents of ~400 characters and a ~300-character
cited answer, scored by `offline_run_step` chunk after chunk as the worker would; then the metrics. Speed is
reported (stdout and BENCH_OFFLINE_REPORT), never asserted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from apps.datasets.models import OfflineRun
from apps.datasets.offline import RunItemInput, offline_run_create, offline_run_step
from apps.projects.services import project_create
from benchmarks.harness import machine_summary

ITEMS = int(os.environ.get("BENCH_OFFLINE_ITEMS", "2000"))
REPORT = Path(os.environ.get("BENCH_OFFLINE_REPORT", "/tmp/bench_offline_report.md"))
DOC = "To reset a password, open Settings, then Security, and choose Reset; a link arrives by email. " * 4


@pytest.mark.django_db(transaction=True)
def test_offline_run_scoring_speed():
    project = project_create(name="Offline bench")
    items = [
        RunItemInput(
            input=f"How do I reset my password? ({i})",
            output=f"Open Settings, then Security, and choose Reset [kb-{i % 7}]. A link arrives by email. " * 3,
            context=[{"id": f"kb-{i % 7}", "content": DOC}, {"id": "kb-x", "content": DOC[::-1]}],
        )
        for i in range(ITEMS)
    ]
    t0 = time.perf_counter()
    run = offline_run_create(project=project, name="bench", prompt_version="v1", items=items)
    created = time.perf_counter() - t0
    t1 = time.perf_counter()
    steps = 0
    while offline_run_step(run_id=run.id).more:
        steps += 1
    scored = time.perf_counter() - t1
    run = OfflineRun.objects.get(id=run.id)
    assert run.status == "done"
    lines = [
        f"# Offline run scoring, {ITEMS} items ({machine_summary()})",
        f"- create (validate + insert items): {created * 1000:.0f} ms",
        f"- score {steps} chunks + metrics: {scored:.2f} s = {ITEMS / scored:,.0f} items/s",
        "- metrics: " + ", ".join(f"{m.name} {m.value:.3f} (n={m.count})" for m in run.metrics.order_by("name")),
    ]
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
