"""One OTLP span (or GenAI log record) to one normalized span, across the four GenAI emitter families.

Pure Python, no Django. Families: OTel GenAI (current and legacy names; otel_genai.py), OpenLLMetry
(>=0.55 JSON attributes and <=0.54 indexed `gen_ai.prompt.{i}.*`; openllmetry.py), OpenInference
(flattened `llm.*`; openinference.py) and Langfuse (`langfuse.*`; langfuse.py). The shared steps:
attributes.py (decoding, key classification), values.py, messages.py, documents.py, context.py,
content.py and span.py (normalize_span), logs.py (normalize_log_record), sanitize.py (NUL, depth). Import from this package.
"""

from __future__ import annotations

from apps.traces.normalize.attributes import SLOT_CAP
from apps.traces.normalize.logs import merge_log_content, normalize_log_record
from apps.traces.normalize.messages import canon_messages, input_text, output_text
from apps.traces.normalize.model import LogContent, LogEvaluation, NormalizedSpan, SpanRejected
from apps.traces.normalize.otel_genai import DETAILS_EVENT, EVALUATION_EVENT
from apps.traces.normalize.sanitize import WARNINGS_ATTR, sanitize_span, strip_nul, strip_nul_deep
from apps.traces.normalize.span import normalize_span

# The names native.py imported from the single-module normalizer.
_canon_messages = canon_messages
_input_text = input_text
_output_text = output_text

__all__ = [
    "DETAILS_EVENT",
    "EVALUATION_EVENT",
    "SLOT_CAP",
    "LogContent",
    "LogEvaluation",
    "NormalizedSpan",
    "SpanRejected",
    "WARNINGS_ATTR",
    "canon_messages",
    "input_text",
    "merge_log_content",
    "normalize_log_record",
    "normalize_span",
    "output_text",
    "sanitize_span",
    "strip_nul",
    "strip_nul_deep",
]
