"""Golden equivalence: normalize_span / normalize_log_record output must not change on refactors.

The corpus in fixtures/normalize_equivalence.json holds every span and log record the traces/scores
test suites normalize (captured once at the normalizer's call sites), a slice of the ingest
benchmark's RAG batches (benchmarks/payloads.py), and two variants of each span (a tiny value cap, to
exercise truncation, and reversed attribute order). Inputs are stored as serialized protobuf; the
expected outputs are `dataclasses.asdict` of what the normalizer returned when the corpus was made,
compared as order-preserving, type-tagged JSON (int vs float, tuple vs list and key order all count).

Regenerate the expectations only on an intended behaviour change:
    python -m tests.traces.test_normalize_equivalence --regen
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from apps.traces.normalize import SpanRejected, normalize_log_record, normalize_span
from apps.traces.otlp import RawLogRecord, RawSpan

FIXTURE = Path(__file__).parent / "fixtures" / "normalize_equivalence.json"


def encode(value: Any) -> Any:
    """Map a normalizer result onto JSON, tagging what JSON would blur (datetimes, tuples, non-str keys)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"__dt__": value.isoformat()}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and "__dt__" not in value and "__tuple__" not in value:
            return {k: encode(v) for k, v in value.items()}
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"unexpected {type(value).__name__} in normalizer output")


def run_case(case: dict[str, Any]) -> Any:
    """Normalize one stored input and return its encoded result (or the rejection)."""
    pb = base64.b64decode(case["pb"])
    resource = json.loads(json.dumps(case["resource"]))  # a fresh dict per run (the normalizer caches by id)
    scope_name, scope_version = case["scope"]
    if case["type"] == "span":
        span = Span.FromString(pb)
        try:
            result = normalize_span(RawSpan(resource, scope_name, scope_version, span), max_value_chars=case["cap"])
        except SpanRejected as exc:
            return {"rejected": exc.reason}
        out = dataclasses.asdict(result)
        if not span.start_time_unix_nano and not span.end_time_unix_nano:  # stamped with now()
            out["started_at"] = out["ended_at"] = None
        return encode(out)
    record = LogRecord.FromString(pb)
    try:
        log_result = normalize_log_record(RawLogRecord(resource, scope_name, scope_version, record))
    except SpanRejected as exc:
        return {"rejected": exc.reason}
    if log_result is None:
        return None
    out = {"class": type(log_result).__name__, **dataclasses.asdict(log_result)}
    if "time" in out and not record.time_unix_nano and not record.observed_time_unix_nano:
        out["time"] = None
    return encode(out)


def _load() -> list[dict[str, Any]]:
    with FIXTURE.open(encoding="utf-8") as fh:
        return json.load(fh)["cases"]


CASES = _load() if FIXTURE.exists() else []


def test_corpus_covers_every_family() -> None:
    keys = {
        kv.key for c in CASES if c["type"] == "span" for kv in Span.FromString(base64.b64decode(c["pb"])).attributes
    }
    for prefix in (
        "gen_ai.input.messages",  # OTel GenAI latest
        "gen_ai.system",  # OTel GenAI legacy
        "gen_ai.prompt.0.",  # OpenLLMetry <=0.54
        "traceloop.",  # OpenLLMetry
        "llm.input_messages.",  # OpenInference
        "langfuse.observation.",  # Langfuse
        "sightline.",
    ):
        assert any(k.startswith(prefix) for k in keys), prefix
    assert any(c["type"] == "log" for c in CASES)
    assert any(isinstance(c["expected"], dict) and "rejected" in c["expected"] for c in CASES)
    assert len(CASES) > 300


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_output_identical_to_golden(case: dict[str, Any]) -> None:
    got = run_case(case)
    if json.dumps(got, ensure_ascii=False) != json.dumps(case["expected"], ensure_ascii=False):
        assert got == case["expected"]  # shows the field-level diff
        pytest.fail("same values, different key order or int/float typing")


def test_output_stable_when_resource_is_shared() -> None:
    """Spans of one request share one resource dict (cached by identity): results must not change."""
    span_cases = [c for c in CASES if c["type"] == "span" and c["id"].startswith("bench")]
    resource = json.loads(json.dumps(span_cases[0]["resource"]))
    for case in span_cases:
        if case["resource"] != resource:
            continue
        scope_name, scope_version = case["scope"]
        raw = RawSpan(resource, scope_name, scope_version, Span.FromString(base64.b64decode(case["pb"])))
        out = encode(dataclasses.asdict(normalize_span(raw, max_value_chars=case["cap"])))
        assert json.dumps(out, ensure_ascii=False) == json.dumps(case["expected"], ensure_ascii=False)


def _regen() -> None:
    """Recompute every case's expected output with the current normalizer (inputs unchanged)."""
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for case in data["cases"]:
        case["expected"] = run_case(case)
    lines = ",\n".join(json.dumps(case, ensure_ascii=False) for case in data["cases"])
    FIXTURE.write_text('{"cases": [\n' + lines + "\n]}\n", encoding="utf-8")


if __name__ == "__main__":
    if "--regen" in sys.argv:
        _regen()
