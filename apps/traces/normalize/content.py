"""The content steps of normalize_span: messages, finish reasons and tool calls, raw payloads, retrieval.

Each step reads (and pops) attributes from the span's work state and fills its fields on the span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.normalize.attributes import B_FINISH, B_RAW, B_RETRIEVAL, B_TOOL_DEFS, FINISH_KEYS, take_flat
from apps.traces.normalize.documents import document, tool_definition
from apps.traces.normalize.fold import flat_documents_match, flat_raw, fold_family, same_documents, same_messages
from apps.traces.normalize.messages import (
    canon_messages,
    cap_messages,
    input_text,
    instructions_parts,
    output_text,
    parse_args,
    parts_text,
    system_text,
    text_message,
)
from apps.traces.normalize.model import NormalizedSpan
from apps.traces.normalize.openinference import oi_message, prompt_text
from apps.traces.normalize.openllmetry import (
    ENTITY_INPUT_KEY,
    ENTITY_OUTPUT_KEY,
    entity_input_text,
    entity_output_text,
    indexed_messages,
)
from apps.traces.normalize.otel_genai import EventContent
from apps.traces.normalize.values import (
    as_str_list,
    json_maybe,
    keep_if_too_deep,
    normalize_finish_reason,
    pick,
    to_str,
)


@dataclass(slots=True)
class SpanWork:
    """Per-span state shared by the steps: the attributes being consumed and what the scan found."""

    a: dict[str, Any]  # the span's attributes; each step pops what it maps, the rest stays as `attributes`
    keys: Any  # a.keys(), a live view for cheap isdisjoint() checks
    bits: int  # sections (attributes.B_*) with at least one key present
    flat: dict[str, list[tuple[str, str]]]  # flattened family -> [(remainder, key)]
    param_keys: list[tuple[str, str]]  # (key, request param name) of `gen_ai.request.*`-style keys
    cap: int  # max_value_chars
    truncated: list[str]  # n.truncated
    warnings: list[str]  # "<what>:<where>" notes of changed values (sanitize.WARNINGS_ATTR)
    raw_fallback_in: Any = None  # a message attribute that did not parse as messages, kept as raw input
    raw_fallback_out: Any = None
    tool_args: Any = None  # tool-call arguments / result given as their own attributes
    tool_result: Any = None
    raw_keys: dict[str, str] = field(default_factory=dict)  # raw_input/raw_output -> the attribute it came from
    folded: dict[str, str] = field(default_factory=dict)  # attribute key (or family prefix) -> canonical field


@dataclass(frozen=True, slots=True)
class MessageSources:
    """The attribute names of one side (input or output) in precedence order, and its default role."""

    role: str
    langfuse: str
    genai: str
    openinference: str
    indexed: str
    texts: str
    legacy: str


INPUT_SOURCES = MessageSources(
    "user",
    "langfuse.observation.input",
    "gen_ai.input.messages",
    "llm.input_messages",
    "gen_ai.prompt",
    "llm.prompts",
    "gen_ai.prompt",
)
OUTPUT_SOURCES = MessageSources(
    "assistant",
    "langfuse.observation.output",
    "gen_ai.output.messages",
    "llm.output_messages",
    "gen_ai.completion",
    "llm.choices",
    "gen_ai.completion",
)


def resolve_messages(
    names: MessageSources,
    *,
    langfuse: Any,
    genai: Any,
    details: list[dict[str, Any]],
    legacy_events: list[dict[str, Any]],
    openinference: list[Any],
    indexed: list[Any],
    texts: list[Any],
    legacy: Any,
) -> tuple[list[dict[str, Any]], str, Any]:
    """Return one side's messages from the first source that has any, the attribute they came from, and
    the raw value to fall back on when no source parsed as messages."""
    role, fallback = names.role, None
    if langfuse is not None:
        messages = canon_messages(langfuse, role, strict=True)
        if messages:
            return messages, names.langfuse, None
        fallback = langfuse
    if genai is not None:
        messages = canon_messages(genai, role)
        if messages:
            return messages, names.genai, fallback
        if isinstance(genai, str):
            fallback = fallback or genai
    if details:
        return details, "events", fallback
    if legacy_events:
        return legacy_events, "events", fallback
    if openinference:
        messages = [m for m in (oi_message(e, role) for e in openinference) if m is not None]
        if messages:
            return messages, names.openinference, fallback
    if indexed:
        messages = indexed_messages(indexed, role)
        if messages:
            return messages, names.indexed, fallback
    if texts:
        return [text_message(role, prompt_text(t)) for t in texts], names.texts, fallback
    if legacy is not None:
        messages = canon_messages(legacy, role)
        if messages:
            return messages, names.legacy, fallback
        fallback = fallback or legacy
    return [], "", fallback


def messages_step(n: NormalizedSpan, w: SpanWork, ev: EventContent | None) -> None:
    """Fill input/output messages and system instructions: per side, the first source with messages wins."""
    a, flat = w.a, w.flat
    ev = ev or EventContent()
    lf_in = a.pop("langfuse.observation.input", None)
    lf_out = a.pop("langfuse.observation.output", None)
    genai_in = a.pop("gen_ai.input.messages", None)
    genai_out = a.pop("gen_ai.output.messages", None)
    sys_value = a.pop("gen_ai.system_instructions", None)
    legacy_prompt = a.pop("gen_ai.prompt", None)
    legacy_completion = a.pop("gen_ai.completion", None)
    raw_flat = {family: flat_raw(a, flat, family) for family in _FOLDABLE_MESSAGES if family in flat}
    oi_in, oi_out = take_flat(a, flat, "oi_in"), take_flat(a, flat, "oi_out")
    ol_in, ol_out = take_flat(a, flat, "ol_in"), take_flat(a, flat, "ol_out")
    oi_prompts, oi_choices = take_flat(a, flat, "oi_prompts"), take_flat(a, flat, "oi_choices")
    if not oi_prompts and isinstance(a.get("llm.prompts"), list):
        oi_prompts = a.pop("llm.prompts")

    input_messages, in_source, w.raw_fallback_in = resolve_messages(
        INPUT_SOURCES,
        langfuse=lf_in,
        genai=genai_in,
        details=ev.details_in,
        legacy_events=ev.legacy_in,
        openinference=oi_in,
        indexed=ol_in,
        texts=oi_prompts,
        legacy=legacy_prompt,
    )
    output_messages, out_source, w.raw_fallback_out = resolve_messages(
        OUTPUT_SOURCES,
        langfuse=lf_out,
        genai=genai_out,
        details=ev.details_out,
        legacy_events=ev.legacy_out,
        openinference=oi_out,
        indexed=ol_out,
        texts=oi_choices,
        legacy=legacy_completion,
    )

    sys_parts = instructions_parts(sys_value) if sys_value is not None else ev.details_sys
    if sys_parts and not any(m.get("role") in ("system", "developer") for m in input_messages):
        input_messages.insert(0, {"role": "system", "parts": sys_parts})
    n.system_instructions = parts_text(sys_parts) if sys_parts else system_text(input_messages)
    if raw_flat:
        _fold_messages(
            w,
            raw_flat,
            {"oi_in": oi_in, "oi_out": oi_out, "ol_in": ol_in, "ol_out": ol_out},
            {"input_messages": (input_messages, in_source), "output_messages": (output_messages, out_source)},
        )
    if cap_messages(input_messages, w.cap):
        w.truncated.append(in_source)
    if cap_messages(output_messages, w.cap):
        w.truncated.append(out_source)
    n.input_messages, n.output_messages = input_messages, output_messages


# Flattened message families that may repeat what another convention carried: family -> (its prefix, side).
_FOLDABLE_MESSAGES = {
    "oi_in": ("llm.input_messages", "input_messages"),
    "oi_out": ("llm.output_messages", "output_messages"),
    "ol_in": ("gen_ai.prompt", "input_messages"),
    "ol_out": ("gen_ai.completion", "output_messages"),
}


def _fold_messages(
    w: SpanWork,
    raw_flat: dict[str, dict[str, Any]],
    entries: dict[str, list[Any]],
    sides: dict[str, tuple[list[dict[str, Any]], str]],
) -> None:
    """Fold each flattened message family that lost to another source and carried the same messages."""
    for family, raw in raw_flat.items():
        prefix, side = _FOLDABLE_MESSAGES[family]
        messages, source = sides[side]
        if source == prefix or not raw:
            continue  # the family is the source itself (or had no keys)
        role = "user" if side == "input_messages" else "assistant"
        if family.startswith("oi_"):
            theirs = [m for m in (oi_message(e, role) for e in entries[family]) if m is not None]
        else:
            theirs = indexed_messages(entries[family], role)
        fold_family(w.a, w.folded, prefix, raw, bool(messages) and same_messages(theirs, messages), side)


def tools_step(n: NormalizedSpan, w: SpanWork) -> None:
    """Fill finish reasons, the tool calls of the output messages, and the tool definitions."""
    a = w.a
    fr_value = pick(a, FINISH_KEYS) if w.bits & B_FINISH else None
    if fr_value is not None:
        n.finish_reasons = [r for r in map(normalize_finish_reason, as_str_list(fr_value)) if r]
    else:
        n.finish_reasons = [m["finish_reason"] for m in n.output_messages if m.get("finish_reason")]
    n.tool_calls = [
        {"id": to_str(p.get("id", "")), "name": to_str(p.get("name", "")), "arguments": p.get("arguments")}
        for m in n.output_messages
        for p in m.get("parts") or ()
        if p.get("type") == "tool_call"
    ]

    tool_definitions: list[Any] = []
    if w.bits & B_TOOL_DEFS:
        tool_defs_value = json_maybe(a.pop("gen_ai.tool.definitions", None))
        if isinstance(tool_defs_value, list):
            tool_definitions = [tool_definition(t) for t in tool_defs_value]
        elif isinstance(tool_defs_value, dict):
            tool_definitions = [tool_definition(tool_defs_value)]
        else:
            keep_if_too_deep(a, "gen_ai.tool.definitions", tool_defs_value)
    if w.flat:
        oi_tools, ol_tools = take_flat(a, w.flat, "oi_tools"), take_flat(a, w.flat, "ol_tools")
        if not tool_definitions:
            tool_definitions = [tool_definition(t) for t in (oi_tools or ol_tools)]
    n.tool_definitions = tool_definitions


def raw_step(n: NormalizedSpan, w: SpanWork) -> None:
    """Fill raw input/output (untyped payloads), falling back on unparsed message attributes and tool I/O."""
    a, cap = w.a, w.cap
    if w.bits & B_RAW:
        w.raw_keys = {
            "raw_input": _first_present(a, A.RAW_INPUT_KEYS),
            "raw_output": _first_present(a, A.RAW_OUTPUT_KEYS),
        }
        raw_in_value = pick(a, A.RAW_INPUT_KEYS)
        raw_out_value = pick(a, A.RAW_OUTPUT_KEYS)
        a.pop("input.mime_type", None)
        a.pop("output.mime_type", None)
        w.tool_args = tool_args = pick(a, A.TOOL_ARGUMENTS_KEYS)
        w.tool_result = tool_result = pick(a, A.TOOL_RESULT_KEYS)
    else:
        raw_in_value = raw_out_value = tool_args = tool_result = None
    if raw_in_value is None:
        raw_in_value = w.raw_fallback_in
    if raw_out_value is None:
        raw_out_value = w.raw_fallback_out
    if raw_in_value is None and tool_args is not None:
        raw_in_value = tool_args
    if raw_out_value is None and tool_result is not None:
        raw_out_value = tool_result
    raw_input, raw_output = to_str(raw_in_value), to_str(raw_out_value)
    if len(raw_input) > cap:
        raw_input = raw_input[:cap]
        w.truncated.append("raw_input")
    if len(raw_output) > cap:
        raw_output = raw_output[:cap]
        w.truncated.append("raw_output")
    n.raw_input, n.raw_output = raw_input, raw_output


def _first_present(a: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The key pick() would take: the first with a non-empty value ("" when none)."""
    for key in keys:
        value = a.get(key)
        if value is not None and value != "" and value != []:
            return key
    return ""


def tool_span_step(n: NormalizedSpan, w: SpanWork) -> None:
    """On a tool span, add the call itself (name, id, arguments, result) and name the span after the tool."""
    a = w.a
    tool_name = to_str(pick(a, A.TOOL_NAME_KEYS)) or to_str(a.get("traceloop.entity.name", "")) or n.name
    n.tool_calls.append(
        {
            "id": to_str(pick(a, A.TOOL_CALL_ID_KEYS)),
            "name": tool_name,
            "type": to_str(pick(a, A.TOOL_TYPE_KEYS)),
            "arguments": parse_args(w.tool_args if w.tool_args is not None else n.raw_input),
            "result": parse_args(w.tool_result if w.tool_result is not None else n.raw_output),
        }
    )
    n.name = tool_name or n.name


def retrieval_step(n: NormalizedSpan, w: SpanWork, ev: EventContent | None) -> None:
    """Fill the retrieval query and documents (attribute JSON, flattened families, then query-result events)."""
    a = w.a
    documents: list[dict[str, Any]] = []
    if w.bits & B_RETRIEVAL:
        retrieval_query = to_str(pick(a, A.RETRIEVAL_QUERY_KEYS))
        docs_value = json_maybe(a.pop("gen_ai.retrieval.documents", None))
        if isinstance(docs_value, list):
            documents = [d for d in map(document, docs_value) if d is not None]
        else:
            keep_if_too_deep(a, "gen_ai.retrieval.documents", docs_value)
    else:
        retrieval_query = ""
    if not retrieval_query and n.kind in ("retrieval", "reranker"):
        retrieval_query = n.raw_input
        w.raw_keys.pop("raw_input", None)  # the query is the raw input itself: nothing arrived twice
    if documents and w.flat.get("oi_docs"):  # the same documents again, as OpenInference keys?
        raw = flat_raw(a, w.flat, "oi_docs")
        if flat_documents_match(w.flat["oi_docs"], a, documents):
            same = True
            for key in raw:
                del a[key]
        else:
            theirs = [d for d in map(document, take_flat(a, w.flat, "oi_docs")) if d is not None]
            same = same_documents(theirs, documents)
        fold_family(a, w.folded, "retrieval.documents", raw, same, "documents")
    elif not documents and w.flat:
        flat_docs = take_flat(a, w.flat, "oi_docs") or take_flat(a, w.flat, "rr_docs")
        documents = [d for d in map(document, flat_docs) if d is not None]
    if not documents and ev is not None:
        documents = ev.documents
    cap = w.cap
    for doc in documents:
        if len(doc["content"]) > cap:
            doc["content"] = doc["content"][:cap]
            if "documents" not in w.truncated:
                w.truncated.append("documents")
    n.retrieval_query, n.documents = retrieval_query, documents


def texts_step(n: NormalizedSpan, w: SpanWork) -> None:
    """Fill the plain-text renderings: an LLM span reads its messages first, other spans their raw payloads."""
    raw_in, raw_out = n.raw_input, n.raw_output
    if w.raw_keys:  # a Traceloop decorator's payload reads as the text it wraps (raw_input/raw_output keep it)
        if raw_in and w.raw_keys.get("raw_input") == ENTITY_INPUT_KEY:
            raw_in = entity_input_text(raw_in)
        if raw_out and w.raw_keys.get("raw_output") == ENTITY_OUTPUT_KEY:
            raw_out = entity_output_text(raw_out)
    if n.kind == "llm":
        n.input_text = input_text(n.input_messages) or raw_in
        n.output_text = output_text(n.output_messages) or raw_out
    else:
        n.input_text = raw_in or n.retrieval_query or input_text(n.input_messages)
        n.output_text = raw_out or output_text(n.output_messages)
