"""normalize_span: one OTLP span to one NormalizedSpan, as a sequence of named steps.

Resolution order follows /work/shared/otel-genai.md section 5.1; alias tables live in genai_aliases.py.
Each step reads (and pops) the attributes it maps and fills its fields on the span by name.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.normalize.attributes import (
    B_COST,
    B_CTX,
    B_FINISH,
    B_KIND,
    B_LF_DETAILS,
    B_MODEL,
    B_MSG,
    B_PARAMS,
    B_RAW,
    B_RETRIEVAL,
    B_RETRIEVAL_PREFIX,
    B_STATUS,
    B_TOOL_DEFS,
    B_USAGE,
    decode_attributes,
    scan_special,
    take_flat,
)
from apps.traces.normalize.content import (
    SpanWork,
    messages_step,
    raw_step,
    retrieval_step,
    texts_step,
    tool_span_step,
    tools_step,
)
from apps.traces.normalize.context import span_context
from apps.traces.normalize.fold import FOLDED_ATTR, fold_raw
from apps.traces.normalize.ids import id_problem, invalid_id_marker
from apps.traces.normalize.langfuse import langfuse_cost, langfuse_usage
from apps.traces.normalize.model import NormalizedSpan, SpanRejected
from apps.traces.normalize.openinference import evaluation, openinference_provider
from apps.traces.normalize.otel_genai import span_events
from apps.traces.normalize.sanitize import resource_has_nul, settle_warnings, strip_nul
from apps.traces.normalize.values import (
    EPOCH,
    MAX_TIME_NS,
    ZERO8,
    ZERO16,
    json_maybe,
    json_too_deep,
    json_too_deep_count,
    keep_if_too_deep,
    normalize_provider,
    pick,
    to_float,
    to_int,
    to_str,
)
from apps.traces.otlp import RawSpan

_STATUS = {0: "unset", 1: "ok", 2: "error"}
_MODEL_MARKERS = frozenset(A.MODEL_MARKER_KEYS)
_USAGE_ITEMS = tuple(A.USAGE_ALIASES.items())
_REQUEST_PARAM_FLAT_ITEMS = tuple(A.REQUEST_PARAM_FLAT_KEYS.items())


def normalize_span(raw: RawSpan, *, max_value_chars: int = 32_000) -> NormalizedSpan:
    """Validate one OTLP span and map it onto NormalizedSpan; raise SpanRejected on bad ids."""
    span = raw.span
    tid, sid, pid = span.trace_id, span.span_id, span.parent_span_id
    if len(tid) != 16 or len(sid) != 8 or tid == ZERO16 or sid == ZERO8 or (pid and len(pid) != 8):
        raise SpanRejected(id_problem(tid, sid, pid, invalid_id_marker(span.attributes)))
    cap = max_value_chars

    # 1. Decode attributes (long strings truncated) and 2. classify each key once.
    warnings: list[str] = []
    deep_before = json_too_deep_count()
    a, truncated, deferred_long, special = decode_attributes(span.attributes, cap, warnings)
    bits, flat, param_keys = scan_special(special)
    w = SpanWork(a, a.keys(), bits, flat, param_keys, cap, truncated, warnings)
    n = NormalizedSpan(
        trace_id=tid.hex(),
        span_id=sid.hex(),
        parent_span_id=pid.hex(),
        name=span.name,
        status=_STATUS.get(span.status.code, "unset"),
        error_message=span.status.message,
        attributes=a,
        resource=raw.resource,
        scope={"name": raw.scope_name, "version": raw.scope_version},
        truncated=truncated,
        dropped_attributes_count=span.dropped_attributes_count,
    )
    # Each guard skips a step none of whose inputs is present; its fields keep their defaults, which are
    # what the step would have produced (the bits say which sections have keys: attributes.py).
    _kind_step(n, w)  # 3.
    _timestamps_step(n, span.start_time_unix_nano, span.end_time_unix_nano, warnings)  # 4.
    if bits & B_STATUS:  # 5.
        _status_step(n, a)
    ev = span_events(n, span.events, cap, truncated, warnings) if span.events else None  # 6.
    if bits & B_MODEL:  # 7.
        _model_step(n, a)
    if bits & (B_USAGE | B_COST | B_LF_DETAILS):  # 8.
        _usage_step(n, w)
    if bits & B_MSG or flat or (ev is not None and ev.has_messages()):  # 9.
        messages_step(n, w, ev)
    if bits & (B_FINISH | B_TOOL_DEFS) or flat or n.output_messages:  # 10.
        tools_step(n, w)
    if bits & B_RAW or w.raw_fallback_in is not None or w.raw_fallback_out is not None:  # 11.
        raw_step(n, w)
    if n.kind == "tool":  # 12.
        tool_span_step(n, w)
    if bits & B_RETRIEVAL or flat or ev is not None or n.kind in ("retrieval", "reranker"):  # 13.
        retrieval_step(n, w, ev)
    _context_step(n, w, raw.resource, bool(pid))  # 14.
    if param_keys or bits & B_PARAMS:  # 15.
        _request_params_step(n, w)
    texts_step(n, w)  # 16.
    if w.raw_keys and n.kind != "tool":  # 16b. Raw payloads repeating canonical text are stored once.
        fold_raw(n, w.folded, w.raw_keys)
    if w.folded:
        a[FOLDED_ATTR] = w.folded
    if flat or deferred_long or "metadata" in a:  # 17.
        _leftovers_step(n, w, deferred_long)
    if json_too_deep_count() != deep_before:  # 18. Values changed on the way: strip, flag.
        warnings.extend(_deep_json_warnings(raw))
    if warnings or _has_nul_outside_attributes(n, raw):
        settle_warnings(n, _source_warnings(raw, warnings))
    return n


def _deep_json_warnings(raw: RawSpan) -> list[str]:
    """Name the attributes (span or event) whose JSON was kept unparsed for nesting deeper than MAX_DEPTH."""
    span = raw.span
    found = [f"json_too_deep:{strip_nul(kv.key)}" for kv in span.attributes if json_too_deep(kv.value.string_value)]
    for i, ev in enumerate(span.events):
        found += [
            f"json_too_deep:events.{i}.{strip_nul(kv.key)}"
            for kv in ev.attributes
            if json_too_deep(kv.value.string_value)
        ]
    return found  # a deep string inside an array/kvlist value is left unnamed (and is still kept unparsed)


def _has_nul_outside_attributes(n: NormalizedSpan, raw: RawSpan) -> bool:
    """Return True when the span's name, status message, scope or resource holds a NUL (attributes and events
    are checked while decoding, so n.name and n.error_message can only have it from the span itself)."""
    return (
        "\x00" in n.name
        or "\x00" in n.error_message
        or "\x00" in raw.scope_name
        or "\x00" in raw.scope_version
        or resource_has_nul(raw.resource)
    )


def _source_warnings(raw: RawSpan, warnings: list[str]) -> list[str]:
    """Return warnings plus one for each non-attribute source of the span that holds a NUL."""
    span = raw.span
    sources = (
        ("name", span.name),
        ("status.message", span.status.message),
        ("scope", raw.scope_name + raw.scope_version),
    )
    extra = [f"nul_stripped:{where}" for where, text in sources if "\x00" in text]
    if resource_has_nul(raw.resource):
        extra.append("nul_stripped:resource")
    return warnings + extra


def _kind_step(n: NormalizedSpan, w: SpanWork) -> None:
    """Fill kind (precedence of section 5.1 rule 1: Langfuse, OpenInference, OTel, OpenLLMetry, markers) and operation."""
    a = w.a
    has_retrieval_attr = bool(w.bits & B_RETRIEVAL_PREFIX)
    if not w.bits & B_KIND:
        n.kind = "retrieval" if has_retrieval_attr else "other"
        return
    kind = ""
    lf_type = a.get("langfuse.observation.type")
    if lf_type:
        kind = A.LANGFUSE_TYPE_KIND.get(to_str(lf_type).lower(), "")
    if not kind:
        oi_kind = a.get("openinference.span.kind")
        if oi_kind:
            kind = A.OPENINFERENCE_KIND.get(to_str(oi_kind).upper(), "")
    operation = to_str(a.pop("gen_ai.operation.name", ""))
    request_type = to_str(a.get("llm.request.type", ""))
    if not kind and operation:
        kind = A.OPERATION_KIND.get(operation.lower(), "")
    if not kind:
        tl_kind = a.get("traceloop.span.kind")
        if tl_kind:
            kind = A.TRACELOOP_KIND.get(to_str(tl_kind).lower(), "")
    if not kind and request_type:
        kind = A.LLM_REQUEST_TYPE_KIND.get(request_type.lower(), "")
    if not kind and ("gen_ai.tool.name" in a or "gen_ai.tool.call.id" in a):
        kind = "tool"
    if not kind and has_retrieval_attr:
        kind = "retrieval"
    if not kind and not w.keys.isdisjoint(_MODEL_MARKERS):
        kind = "llm"
    if not operation and request_type:
        operation = request_type
        del a["llm.request.type"]
    n.kind, n.operation = kind or "other", operation


def _timestamps_step(n: NormalizedSpan, start_ns: int, end_ns: int, warnings: list[str]) -> None:
    """Fill started/ended/latency: a missing end falls back to the other, end < start clamps, both unset is now,
    and a time past MAX_TIME is clamped to it with a warning."""
    if not start_ns and not end_ns:
        start_ns = end_ns = int(datetime.now(UTC).timestamp() * 1e9)
    elif not start_ns:
        start_ns = end_ns
    elif not end_ns or end_ns < start_ns:
        end_ns = start_ns
    if end_ns > MAX_TIME_NS:  # end >= start here, so this also catches a late start
        if start_ns > MAX_TIME_NS:
            start_ns = MAX_TIME_NS
            warnings.append("timestamp_clamped:start")
        end_ns = MAX_TIME_NS
        warnings.append("timestamp_clamped:end")
    n.started_at = EPOCH + timedelta(0, 0, start_ns // 1000)
    n.ended_at = EPOCH + timedelta(0, 0, end_ns // 1000)
    n.latency_ms = (end_ns - start_ns) / 1e6


def _status_step(n: NormalizedSpan, a: dict[str, Any]) -> None:
    """Fill error type and the Langfuse level / status message over the OTLP status."""
    n.error_type = to_str(a.pop("error.type", ""))
    lf_level = to_str(a.get("langfuse.observation.level", "")).upper()
    if lf_level == "ERROR" and n.status == "unset":
        n.status = "error"
        del a["langfuse.observation.level"]
    lf_status_message = a.pop("langfuse.observation.status_message", None)
    if lf_status_message and not n.error_message:
        n.error_message = to_str(lf_status_message)


def _model_step(n: NormalizedSpan, a: dict[str, Any]) -> None:
    """Fill the requested/responded model (the responded one wins) and the provider."""
    n.model_responded = model_responded = to_str(pick(a, A.MODEL_RESPONDED_KEYS))
    n.model_requested = model_requested = to_str(pick(a, A.MODEL_REQUESTED_KEYS))
    n.model = model_responded or to_str(pick(a, A.MODEL_FALLBACK_KEYS)) or model_requested
    provider_value = pick(a, A.PROVIDER_KEYS)
    if provider_value is not None:
        n.provider = normalize_provider(provider_value)
    elif "llm.provider" in a or "llm.system" in a:
        n.provider = openinference_provider(a.pop("llm.provider", ""), a.pop("llm.system", ""))


def _usage_step(n: NormalizedSpan, w: SpanWork) -> None:
    """Fill token usage (OTel-inclusive counts) and the reported cost."""
    a, bits = w.a, w.bits
    if not bits & B_USAGE:
        usage = dict.fromkeys(A.USAGE_ALIASES)
    else:
        usage = {name: to_int(pick(a, aliases)) for name, aliases in _USAGE_ITEMS}
    lf_details = bits & B_LF_DETAILS
    if lf_details:
        lf_usage = json_maybe(a.pop("langfuse.observation.usage_details", None))
        if isinstance(lf_usage, dict):
            for name, value in langfuse_usage(lf_usage).items():
                if usage.get(name) is None:
                    usage[name] = value
        else:
            keep_if_too_deep(a, "langfuse.observation.usage_details", lf_usage)
    total = usage["total_tokens"]
    if total is None and (usage["input_tokens"] is not None or usage["output_tokens"] is not None):
        total = (usage["input_tokens"] or 0) + (usage["output_tokens"] or 0)
    n.input_tokens, n.output_tokens, n.total_tokens = usage["input_tokens"], usage["output_tokens"], total
    n.cache_read_tokens, n.cache_write_tokens = usage["cache_read_tokens"], usage["cache_write_tokens"]
    n.reasoning_tokens = usage["reasoning_tokens"]

    cost_input = cost_output = cost_total = None
    if bits & B_COST:
        cost_input = to_float(pick(a, A.COST_INPUT_KEYS))
        cost_output = to_float(pick(a, A.COST_OUTPUT_KEYS))
        cost_total = to_float(pick(a, A.COST_TOTAL_KEYS))
    if lf_details:
        lf_cost = json_maybe(a.pop("langfuse.observation.cost_details", None))
        if isinstance(lf_cost, dict):
            li, lo, lt = langfuse_cost(lf_cost)
            cost_input = cost_input if cost_input is not None else li
            cost_output = cost_output if cost_output is not None else lo
            cost_total = cost_total if cost_total is not None else lt
        else:
            keep_if_too_deep(a, "langfuse.observation.cost_details", lf_cost)
    if cost_total is None and (cost_input is not None or cost_output is not None):
        cost_total = (cost_input or 0.0) + (cost_output or 0.0)
    n.cost_input, n.cost_output, n.cost_total = cost_input, cost_output, cost_total
    n.cost_source = "reported" if cost_total is not None else ""


def _context_step(n: NormalizedSpan, w: SpanWork, resource: dict[str, Any], has_parent: bool) -> None:
    """Fill route, prompt, environment, release, user, session, tags, trace name, and whether the span is a root."""
    ctx, n.tags = span_context(w.a, w.keys, resource, on_span=bool(w.bits & B_CTX))
    for fname, value in ctx.items():
        setattr(n, fname, value)
    as_root = w.a.pop("langfuse.internal.as_root", None)
    n.is_root = not has_parent or as_root is True or to_str(as_root).lower() == "true"


def _request_params_step(n: NormalizedSpan, w: SpanWork) -> None:
    """Fill request parameters from `gen_ai.request.*`-style keys, flat aliases and JSON invocation params."""
    a = w.a
    request_params: dict[str, Any] = {}
    for key, param in w.param_keys:
        if key in a and param != "model":
            request_params[param] = json_maybe(a.pop(key))
    if w.bits & B_PARAMS:
        for key, param in _REQUEST_PARAM_FLAT_ITEMS:
            if key in a:
                request_params.setdefault(param, a.pop(key))
        for key in A.REQUEST_PARAM_JSON_KEYS:
            value = json_maybe(a.get(key))
            if isinstance(value, dict):
                del a[key]
                for k, v in value.items():
                    request_params.setdefault(k, v)
    n.request_params = request_params


def _leftovers_step(n: NormalizedSpan, w: SpanWork, deferred_long: set[str]) -> None:
    """Fill evaluations (their keys stay in attributes), parse `metadata`, and cut long unparsed JSON content."""
    a = w.a
    if w.flat:
        entries = take_flat(a, w.flat, "oi_evals") + take_flat(a, w.flat, "oi_annots")
        n.evaluations = [e for e in map(evaluation, entries) if e is not None]
    metadata = a.get("metadata")
    if isinstance(metadata, str):
        parsed = json_maybe(metadata)
        if isinstance(parsed, dict):
            a["metadata"] = parsed
    for key in deferred_long:
        value = a.get(key)
        if isinstance(value, str):
            a[key] = value[: w.cap]
            w.truncated.append(key)
