"""In-process speed of normalize_span (no server, no database): `pytest benchmarks -q -s -k normalize`.

Two workloads, each decoded before the clock starts: the ingest benchmark's RAG batches (root, retrieval
and LLM spans, benchmarks/payloads.py) and the golden corpus of tests/traces (every emitter family).
Reported as the best of several rounds in CPU µs per span (process time: the machine is shared, so wall
clock measures the neighbours); never asserted.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from apps.traces.normalize import SpanRejected, normalize_span
from apps.traces.otlp import RawSpan, iter_spans, parse_traces_request
from benchmarks.payloads import make_batches

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "traces" / "fixtures" / "normalize_equivalence.json"


def _best_us_per_span(raws: list[RawSpan], cap: int | list[int], rounds: int) -> float:
    """Return the fastest round's µs per span over raws."""
    caps = cap if isinstance(cap, list) else [cap] * len(raws)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for raw, c in zip(raws, caps, strict=True):
            try:
                normalize_span(raw, max_value_chars=c)
            except SpanRejected:
                pass
        best = min(best, time.process_time() - started)
    return best / len(raws) * 1e6


def _bench_raws() -> list[RawSpan]:
    batches = make_batches(int(os.environ.get("BENCH_NORMALIZE_BATCHES", "40")), 33, seed=7)
    return [raw for b in batches for raw in iter_spans(parse_traces_request(b.body, "application/x-protobuf"))]


def _corpus_raws() -> tuple[list[RawSpan], list[int]]:
    cases = [c for c in json.loads(CORPUS.read_text(encoding="utf-8"))["cases"] if c["type"] == "span"]
    raws, caps = [], []
    for case in cases:
        scope_name, scope_version = case["scope"]
        span = Span.FromString(base64.b64decode(case["pb"]))
        raws.append(RawSpan(json.loads(json.dumps(case["resource"])), scope_name, scope_version, span))
        caps.append(case["cap"])
    return raws, caps


def test_normalize_speed() -> None:
    rounds = int(os.environ.get("BENCH_NORMALIZE_ROUNDS", "7"))
    workloads: list[tuple[str, Callable[[], tuple[list[RawSpan], int | list[int]]]]] = [
        ("ingest bench RAG batches", lambda: (_bench_raws(), 32_000)),
        ("golden corpus spans", _corpus_raws),
    ]
    print(f"\n## normalize_span speed (best of {rounds} rounds)\n")
    for label, build in workloads:
        raws, cap = build()
        assert raws
        us = _best_us_per_span(raws, cap, rounds)
        print(f"- {label}: {len(raws)} spans, {us:.1f} µs/span ({1e6 / us:,.0f} spans/s on one core)")
