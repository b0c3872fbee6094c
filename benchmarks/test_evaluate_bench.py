"""Benchmark: programmatic evaluation of ingest batches with the default evaluator set, in one process.

Reports traces/s for `evaluations_run` (load subjects, run not_empty/refusal/citations/grounding/json_valid,
upsert scores) on realistic RAG traces in batches of 33 traces (what one 99-span OTLP request carries).
Speed is reported, not asserted; correctness (every trace scored once per applicable check) is asserted.
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import platform as stdlib_platform
import pstats
import random
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.demo.services import _trace
from apps.evaluators.models import Evaluator
from apps.evaluators.selectors import subjects_build
from apps.evaluators.services import evaluate_subjects, evaluations_run
from apps.evaluators.subject import Subject
from apps.projects.services import project_create
from apps.scores.models import Score
from apps.traces.models import Trace
from apps.traces.native import native_trace_spans
from apps.traces.services import spans_ingest
from config.celery import worker_heap_freeze

TRACES = int(os.environ.get("BENCH_EVAL_TRACES", "3300"))
BATCH = int(os.environ.get("BENCH_EVAL_BATCH", "33"))
BIG_BATCH = int(os.environ.get("BENCH_EVAL_BIG_BATCH", "170"))
REPORT = Path(os.environ.get("BENCH_EVAL_REPORT", "/tmp/bench_eval_report.md"))
PROFILE = os.environ.get("BENCH_EVAL_PROFILE") == "1"  # print a cProfile breakdown of the whole job


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return stdlib_platform.processor()


WORDS = (
    "account billing invoice password security settings refund annual monthly plan export report dashboard "
    "workspace member role admin viewer token limit quota region backup restore audit log webhook retry "
    "timeout latency region storage archive policy compliance contract renewal discount trial upgrade"
).split()


def unique_rag_trace(rng: random.Random, n: int, at) -> dict:
    """A demo trace whose 4 retrieved documents (~800 chars) are new text, so no per-document cache helps."""
    trace = _trace(rng, n, at)
    docs = []
    for d in range(4):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + f" {rng.randint(1, 90)} days."
            for _ in range(9)
        ]
        docs.append({"id": f"kb-{n}-{d}", "content": " ".join(sentences), "score": 0.8, "metadata": {}})
    retrieval = trace["spans"][0]
    retrieval["documents"] = docs
    # A ~1.5 KB answer: sentences taken from the documents (grounded, cited) plus a couple of new claims.
    picked = [s for doc in docs[:2] for s in doc["content"].split(". ")[:5]]
    answer = ". ".join(picked) + f" [1][2]. The plan renews every {rng.randint(2, 9)} years [3]."
    trace["output"] = answer
    trace["spans"][1]["output"] = [{"role": "assistant", "content": answer}]
    return trace


def _phase_breakdown(project, batches, evaluators) -> None:
    """Print where a batch's time goes (a re-run pass, so the upsert updates rows instead of inserting them)."""
    from apps.scores.services import scores_upsert

    phases = {"subjects_build": 0.0, "evaluate_subjects": 0.0, "scores_upsert": 0.0}
    traces = 0
    for batch in batches:
        t0 = time.perf_counter()
        subjects = subjects_build(trace_pks=batch)
        t1 = time.perf_counter()
        batch_scores, _ = evaluate_subjects(evaluators=evaluators, subjects=subjects)
        t2 = time.perf_counter()
        scores_upsert(project=project, items=batch_scores)
        t3 = time.perf_counter()
        phases["subjects_build"] += t1 - t0
        phases["evaluate_subjects"] += t2 - t1
        phases["scores_upsert"] += t3 - t2
        traces += len(batch)
    print("\nphase breakdown (re-run pass, microseconds per trace):")
    for name, seconds in phases.items():
        print(f"  {name:18s} {seconds * 1e6 / traces:7.1f}")


def _clear_check_caches(subjects: Iterable[Subject] = ()) -> None:
    """Empty the checks' per-text caches and the subjects' answer analyses, so a timed pass analyses every
    document and answer afresh."""
    from apps.evaluators.checks import negation, quantities, support

    for subject in subjects:
        subject.analysis = None

    for cached in (
        support.document_terms, support.document_sentences, support._sentence_analysis, support._sentence_flags, support.document_lowered,
        support.document_may_negate, support.verbatim_chunks, support.document_tokens, support.document_numbers, quantities.extract_quantities, negation.negation_cues,
    ):  # fmt: skip
        cached.cache_clear()


def _checks_cpu_without_gc(evaluators: list, subjects: dict) -> float:
    """CPU seconds of the checks-only pass again (caches cleared) with the cyclic collector paused: how much of
    the checks-only figure is the collector walking this process's heap (a diagnostic, not the target figure)."""
    _clear_check_caches(subjects.values())
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        evaluate_subjects(evaluators=evaluators, subjects=subjects)
        return time.process_time() - started
    finally:
        gc.enable()


def _per_check_cpu(subjects: list) -> dict[str, float]:
    """CPU microseconds per trace of each default check, caches cleared first (every document is new)."""
    from apps.evaluators.checks import CHECKS, DEFAULT_KINDS

    _clear_check_caches(subjects)
    out = {}
    for kind in DEFAULT_KINDS:
        check, config = CHECKS[kind], CHECKS[kind].validate_config({})
        started = time.process_time()
        for subject in subjects:
            if check.applies(subject, config):
                check.run(subject, config)
        out[kind] = (time.process_time() - started) * 1e6 / len(subjects)
    return out


@pytest.mark.django_db
def test_programmatic_evaluation_throughput():
    # A worker's pool process freezes the heap it starts with (config/celery.py): do the same before any bench data
    # exists, unless BENCH_GC_FREEZE=0 asks for the figure without it.
    if os.environ.get("BENCH_GC_FREEZE", "1") != "0":
        worker_heap_freeze()
    project = project_create(name="eval bench")
    rng = random.Random(11)
    now = timezone.now()
    spans = []
    for n in range(TRACES):
        spans.extend(native_trace_spans(unique_rag_trace(rng, n, now - timedelta(seconds=rng.randint(60, 86_400)))))
    for start in range(0, len(spans), 3000):
        spans_ingest(project=project, spans=spans[start : start + 3000])
    with connection.cursor() as cursor:
        # A live database has planner statistics (autovacuum); a table filled inside this test has none.
        cursor.execute("ANALYZE traces_trace, traces_span, scores_score")
    pks = list(Trace.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    batches = [pks[i : i + BATCH] for i in range(0, len(pks), BATCH)]
    evaluators = list(Evaluator.objects.filter(project=project, is_enabled=True))

    # Checks alone (subjects already loaded): the CPU cost of the evaluators themselves.
    subjects = subjects_build(trace_pks=pks)
    started, cpu_started = time.perf_counter(), time.process_time()
    scores, _ = evaluate_subjects(evaluators=evaluators, subjects=subjects)
    checks_s, checks_cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    no_gc_cpu_s = _checks_cpu_without_gc(evaluators, subjects)
    per_check = _per_check_cpu(list(subjects.values())[:600] if isinstance(subjects, dict) else list(subjects)[:600])

    # The whole job per batch: load subjects, run checks, upsert scores (what the worker does).
    profiler = cProfile.Profile() if PROFILE else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for batch in batches:
        evaluations_run(project_id=project.id, trace_pks=batch, evaluators=evaluators)
    if profiler is not None:
        profiler.disable()
    full_s = time.perf_counter() - started
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    # Re-running every batch (at-least-once delivery) must not add rows.
    count = Score.objects.filter(project=project).count()
    started = time.perf_counter()
    for batch in batches[:10]:
        evaluations_run(project_id=project.id, trace_pks=batch, evaluators=evaluators)
    rerun_s = time.perf_counter() - started

    if PROFILE:
        _phase_breakdown(project, batches, evaluators)

    assert count == len(scores)
    assert Score.objects.filter(project=project).count() == count
    # The OpenTelemetry SDK's BatchSpanProcessor exports up to 512 spans a request: ~170 such traces a batch.
    Score.objects.filter(project=project).delete()
    big = BIG_BATCH
    started = time.perf_counter()
    for start in range(0, len(pks), big):
        evaluations_run(project_id=project.id, trace_pks=pks[start : start + big], evaluators=evaluators)
    big_s = time.perf_counter() - started
    assert Score.objects.filter(project=project).count() == count

    lines = [
        "# Programmatic evaluation benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {_cpu_model()}; shared and noisy. Command: `make bench`"
        " (or `.venv/bin/python -m pytest benchmarks/test_evaluate_bench.py -q -s`).",
        f"Data: {len(pks)} RAG traces (retrieval span with 4 new ~800-char documents each, LLM span with a"
        " ~1.5 KB cited answer), default evaluator set "
        f"({', '.join(sorted(e.name for e in evaluators))}), batches of {BATCH} traces.",
        "",
        "| measure | traces/s | scores written |",
        "|---|---|---|",
        f"| checks only (subjects in memory) | {len(pks) / checks_s:,.0f} | {len(scores):,} |",
        f"| checks only, per CPU second of this process (what other load on the machine does not skew) "
        f"| {len(pks) / checks_cpu_s:,.0f} | {len(scores):,} |",
        f"| checks only, per CPU second, cyclic garbage collector paused (diagnostic) "
        f"| {len(pks) / no_gc_cpu_s:,.0f} | {len(scores):,} |",
        f"| whole job per batch (load, check, upsert) | {len(pks) / full_s:,.0f} | {count:,} |",
        f"| re-run of 10 batches (idempotent upsert) | {10 * BATCH / rerun_s:,.0f} | +0 |",
        f"| whole job, batches of {big} traces (512-span SDK exports) | {len(pks) / big_s:,.0f} | {count:,} |",
    ]
    lines += ["", "CPU time per trace of each check (600 traces): " + ", ".join(
        f"{kind} {micros:,.0f} µs" for kind, micros in per_check.items()
    )]  # fmt: skip
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
