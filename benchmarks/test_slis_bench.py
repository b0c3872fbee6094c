"""Benchmark: alert-rule evaluation time over 30 days of rollups (what the 30 s beat costs per rule).

Data: benchmarks/metrics_data.py (BENCH_SLIS_TRACES traces, default 300,000, 3 scores each, 30 days ending
now, 3 models × 6 prompt versions × 8 routes), rollups built by rollups_rebuild. Rules: a threshold rule per
prompt version and route over 5 minutes (its 24 h baseline read when a slice breaches), a p95 latency rule per
model over 1 hour, and a 97 % grounding SLO per route (5m, 30m, 1h, 6h and 28d windows). Each is evaluated
cold (first) and BENCH_SLIS_REPEAT times warm; a rule evaluation that breaches reads the baseline too.
Speed is reported (stdout and BENCH_SLIS_REPORT), never asserted.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.projects.services import project_create
from apps.scores.rollups import rollups_rebuild
from apps.slis.models import AlertState
from apps.slis.services import alert_rule_create, rule_evaluate, sli_create, sli_create_from_template
from benchmarks.harness import machine_summary
from benchmarks.metrics_data import metrics_data_generate

TRACES = int(os.environ.get("BENCH_SLIS_TRACES", "300000"))
REPEAT = int(os.environ.get("BENCH_SLIS_REPEAT", "5"))
REPORT = Path(os.environ.get("BENCH_SLIS_REPORT", "/tmp/bench_slis_report.md"))


@pytest.mark.django_db(transaction=True)
def test_rule_evaluation_speed():
    project = project_create(name="SLI bench")
    end = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    t0 = time.perf_counter()
    metrics_data_generate(project_id=project.id, n=TRACES, end=end)
    rollups_rebuild(project_id=project.id, since=end - timedelta(days=31), until=end + timedelta(minutes=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scores_rollup")
    prepared = time.perf_counter() - t0
    refusal = sli_create_from_template(project=project, template="refusal_rate")
    latency = sli_create_from_template(project=project, template="p95_latency")
    grounding = sli_create(project=project, name="Grounded", metric="grounding", aggregation="pass_rate")
    rules = {
        "refusal > 1 % per prompt_version, route (5m)": alert_rule_create(
            project=project,
            sli=refusal,
            comparator=">",
            threshold=0.01,
            window="5m",
            min_samples=1,
            group_by=["prompt_version", "route"],
        ),
        "p95 latency > 800 ms per model (1h)": alert_rule_create(
            project=project, sli=latency, comparator=">", threshold=800, window="1h", min_samples=5, group_by=["model"]
        ),
        "grounding SLO 97 % / 28d per route": alert_rule_create(
            project=project, sli=grounding, objective=0.97, min_samples=1, group_by=["route"]
        ),
    }
    lines = [
        f"# Rule evaluation benchmark ({TRACES:,} traces over 30 days)",
        "",
        machine_summary(),
        "",
        f"- data and rollups prepared in {prepared:.1f} s",
        "",
        "| rule | slices | transitions (cold) | cold | warm median | warm max |",
        "|---|---|---|---|---|---|",
    ]
    for label, rule in rules.items():
        timings, flips = [], 0
        for i in range(REPEAT + 1):
            started = time.perf_counter()
            made = rule_evaluate(rule_id=rule.id, now=end)
            timings.append(time.perf_counter() - started)
            flips = flips or len(made)
            assert i == 0 or made == []  # re-runs over the same data change nothing
        slices = AlertState.objects.filter(rule=rule).count()
        warm = timings[1:]
        lines.append(
            f"| {label} | {slices} | {flips} | {timings[0] * 1000:.0f} ms | "
            f"{statistics.median(warm) * 1000:.0f} ms | {max(warm) * 1000:.0f} ms |"
        )
    report = "\n".join(lines) + "\n"
    print("\n" + report)
    REPORT.write_text(report)
