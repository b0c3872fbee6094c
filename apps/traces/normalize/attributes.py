"""Span attributes: decoding with the value cap, and classifying each key once into the sections that read it.

Attribute dicts are consumed with pop() by the later steps: whatever is left becomes `attributes`.
"""

from __future__ import annotations

from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.normalize.context import CTX_FIELDS
from apps.traces.normalize.values import MAX_DEPTH, unflatten
from apps.traces.otlp import INVALID_ID_ATTR, any_value_to_python

SLOT_CAP = 10_000  # highest accepted index in flattened `prefix.{i}.*` keys (Langfuse caps at 10,001)

_USAGE_KEYS = frozenset(k for aliases in A.USAGE_ALIASES.values() for k in aliases)
_COST_KEYS = frozenset(A.COST_INPUT_KEYS + A.COST_OUTPUT_KEYS + A.COST_TOTAL_KEYS)

# Content attributes parsed as JSON; they are truncated after parsing (inside the text parts) so a
# long conversation stays valid JSON instead of being cut mid-string.
JSON_CONTENT_KEYS = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.retrieval.documents",
        "gen_ai.prompt",
        "gen_ai.completion",
        "langfuse.observation.input",
        "langfuse.observation.output",
    }
)

# Flattened families: prefix -> family tag. Only `prefix.{int}.*` keys belong to a family, which
# keeps `gen_ai.prompt.prompt_filter_results` and MCP's `gen_ai.prompt.name` out of the messages.
_FLAT_FAMILIES = {
    "llm.input_messages.": "oi_in",
    "llm.output_messages.": "oi_out",
    "gen_ai.prompt.": "ol_in",
    "gen_ai.completion.": "ol_out",
    "llm.prompts.": "oi_prompts",
    "llm.choices.": "oi_choices",
    "retrieval.documents.": "oi_docs",
    "reranker.output_documents.": "rr_docs",
    "llm.tools.": "oi_tools",
    "llm.request.functions.": "ol_tools",
    "evaluations.": "oi_evals",
    "annotations.": "oi_annots",
}
_FLAT_PREFIXES = tuple(_FLAT_FAMILIES)
assert all(p.count(".") <= 3 for p in _FLAT_PREFIXES)  # the scan looks prefixes up by up to 3 segments
_SCAN_PREFIXES = _FLAT_PREFIXES + A.REQUEST_PARAM_PREFIXES + ("gen_ai.retrieval.",)
_KEEP_FAMILIES = frozenset({"oi_evals", "oi_annots"})  # parsed, but the keys also stay in attributes


# Each attribute key is classified once (memoized: emitters use a small key vocabulary) into a bit
# mask of the sections that read it; sections whose keys are all absent are skipped outright.
B_KIND = 1
B_STATUS = 1 << 1
B_MODEL = 1 << 2
B_USAGE = 1 << 3
B_COST = 1 << 4
B_LF_DETAILS = 1 << 5
B_MSG = 1 << 6
B_FINISH = 1 << 7
B_TOOL_DEFS = 1 << 8
B_RAW = 1 << 9
B_RETRIEVAL = 1 << 10
B_CTX = 1 << 11
B_PARAMS = 1 << 12
B_RETRIEVAL_PREFIX = 1 << 13  # a `gen_ai.retrieval.*` key that is no flattened family: marks retrieval kind
B_PARAM_PREFIX = 1 << 14  # a `gen_ai.request.*`-style key: the info's remainder is the request param name

FINISH_KEYS = ("gen_ai.response.finish_reasons", "llm.finish_reason")
_SECTION_KEYS: tuple[tuple[int, frozenset[str]], ...] = (
    (
        B_KIND,
        frozenset(
            (
                "langfuse.observation.type",
                "openinference.span.kind",
                "gen_ai.operation.name",
                "llm.request.type",
                "traceloop.span.kind",
                "gen_ai.tool.name",
                "gen_ai.tool.call.id",
            )
            + A.MODEL_MARKER_KEYS
        ),
    ),
    (
        B_STATUS,
        frozenset(("error.type", "langfuse.observation.level", "langfuse.observation.status_message")),
    ),
    (
        B_MODEL,
        frozenset(
            A.MODEL_RESPONDED_KEYS
            + A.MODEL_REQUESTED_KEYS
            + A.MODEL_FALLBACK_KEYS
            + A.PROVIDER_KEYS
            + ("llm.provider", "llm.system")
        ),
    ),
    (B_USAGE, _USAGE_KEYS),
    (B_COST, _COST_KEYS),
    (B_LF_DETAILS, frozenset(("langfuse.observation.usage_details", "langfuse.observation.cost_details"))),
    (
        B_MSG,
        frozenset(
            (
                "langfuse.observation.input",
                "langfuse.observation.output",
                "gen_ai.input.messages",
                "gen_ai.output.messages",
                "gen_ai.system_instructions",
                "gen_ai.prompt",
                "gen_ai.completion",
                "llm.prompts",
            )
        ),
    ),
    (B_FINISH, frozenset(FINISH_KEYS)),
    (B_TOOL_DEFS, frozenset(("gen_ai.tool.definitions",))),
    (
        B_RAW,
        frozenset(
            A.RAW_INPUT_KEYS
            + A.RAW_OUTPUT_KEYS
            + A.TOOL_ARGUMENTS_KEYS
            + A.TOOL_RESULT_KEYS
            + ("input.mime_type", "output.mime_type")
        ),
    ),
    (B_RETRIEVAL, frozenset(A.RETRIEVAL_QUERY_KEYS + ("gen_ai.retrieval.documents",))),
    (B_CTX, frozenset(k for _, keys in CTX_FIELDS for k in keys) | frozenset(A.TAG_KEYS)),
    (B_PARAMS, frozenset(tuple(A.REQUEST_PARAM_FLAT_KEYS) + A.REQUEST_PARAM_JSON_KEYS)),
)
# key -> (section bits, flattened family or None, remainder after the family prefix / request param name)
KeyInfo = tuple[int, "str | None", str]
PLAIN: KeyInfo = (0, None, "")
# First characters of a string that json_maybe (or content parsing) may parse: only such a string can hide a
# JSON "\\u0000" escape that becomes a NUL.
JSON_START = frozenset('[{" \t\r\n')
NUL_KEY: KeyInfo = (0, "\x00", "")  # a key holding a NUL; compared by identity
_key_info: dict[str, KeyInfo] = {}
_KEY_INFO_MAX = 50_000


def _classify_key(key: str) -> KeyInfo:
    """Classify one attribute key (see _key_info); the scan rules of normalize_span section 2."""
    if "\x00" in key:
        return NUL_KEY  # the decoder strips the NUL and classifies the cleaned key
    bits = 0
    for bit, keyset in _SECTION_KEYS:
        if key in keyset:
            bits |= bit
    family = None
    rest = ""
    if key.startswith(_SCAN_PREFIXES):
        # Find the family by dict lookups on the 1-, 2- and 3-segment prefixes.
        d1 = key.find(".") + 1
        d2 = key.find(".", d1) + 1
        prefix = key[:d2] if d2 else ""
        if prefix not in _FLAT_FAMILIES:
            prefix = key[:d1]
            if prefix not in _FLAT_FAMILIES and d2:
                d3 = key.find(".", d2) + 1
                prefix = key[:d3] if d3 else ""
        fam = _FLAT_FAMILIES.get(prefix)
        if fam is not None:
            tail = key[len(prefix) :]
            idx = tail.partition(".")[0]
            # A key with more segments than MAX_DEPTH stays a plain attribute: unflattening it would nest
            # that deep (and _listify recursed past Python's limit on a key with 2,000 dots).
            if idx.isdigit() and int(idx) <= SLOT_CAP and tail.count(".") < MAX_DEPTH:
                family, rest = fam, tail
        elif key.startswith("gen_ai.retrieval."):
            bits |= B_RETRIEVAL_PREFIX
        else:
            for p in A.REQUEST_PARAM_PREFIXES:
                if key.startswith(p):
                    bits |= B_PARAM_PREFIX
                    rest = key[len(p) :]
                    break
    if not bits and family is None:
        return PLAIN
    return (bits, family, rest)


def _key_info_of(key: str) -> KeyInfo:
    """Memoized _classify_key (bounded: cleared when full)."""
    info = _key_info.get(key)
    if info is None:
        if len(_key_info) >= _KEY_INFO_MAX:
            _key_info.clear()
        info = _key_info[key] = _classify_key(key)
    return info


def any_value(v: Any, problems: list[str], depth: int = 0) -> Any:
    """Convert an OTLP AnyValue to plain Python like otlp.any_value_to_python, stripping NUL and cutting nesting.

    A problem met on the way is appended to problems: "nul_stripped" (a NUL removed), "nul_escape" (a
    string holding a JSON "\\u0000" escape, which parsing would turn into a NUL) or "nested_too_deep" (an
    array/kvlist below MAX_DEPTH, replaced by None).
    """
    which = v.WhichOneof("value")
    if which == "string_value":
        s = v.string_value
        if "\x00" in s:
            problems.append("nul_stripped")
            return s.replace("\x00", "")
        if s[:1] in JSON_START and "\\" in s and "\\u0000" in s:
            problems.append("nul_escape")
        return s
    if which == "int_value":
        return v.int_value
    if which == "array_value" or which == "kvlist_value":
        if depth >= MAX_DEPTH:
            problems.append("nested_too_deep")
            return None
        if which == "array_value":
            return [any_value(x, problems, depth + 1) for x in v.array_value.values]
        out = {}
        for kv in v.kvlist_value.values:
            key = kv.key
            if "\x00" in key:
                problems.append("nul_stripped")
                key = key.replace("\x00", "")
            out[key] = any_value(kv.value, problems, depth + 1)
        return out
    return any_value_to_python(v)  # bool, double, bytes, unset


def decode_plain(kvs: Any, warnings: list[str], where: str = "") -> dict[str, Any]:
    """Convert repeated KeyValue to a dict (the last duplicate wins), recording each key's problems in warnings."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for kv in kvs:
        key = kv.key
        value = any_value(kv.value, problems)
        if "\x00" in key:
            problems.append("nul_stripped")
            key = key.replace("\x00", "")
        out[key] = value
        if problems:
            warnings.extend(f"{p}:{where}{key}" for p in dict.fromkeys(problems))
            problems.clear()
    return out


def decode_attributes(
    attrs: Any, cap: int, warnings: list[str]
) -> tuple[dict[str, Any], list[str], set[str], list[tuple[str, KeyInfo]]]:
    """Decode a span's attributes, truncating long strings, and list the keys some section reads.

    JSON content keys are not cut here but after parsing, inside their text parts, so a long conversation
    stays valid JSON. NUL is stripped from strings and keys (see sanitize.py), each change noted in
    warnings. Returns (attributes, truncated keys, deferred long JSON keys, special keys).
    """
    a: dict[str, Any] = {}
    truncated: list[str] = []
    deferred_long: set[str] = set()
    special: list[tuple[str, KeyInfo]] = []
    problems: list[str] = []
    key_info = _key_info
    for kv in attrs:
        key = kv.key
        v = kv.value
        value: Any = v.string_value  # strings dominate: skip WhichOneof unless this one is empty
        if value:
            if "\x00" in value:
                value = value.replace("\x00", "")
                problems.append("nul_stripped")
            elif value[0] in JSON_START and "\\" in value and "\\u0000" in value:  # memchr before the slow search
                problems.append("nul_escape")
            if len(value) > cap:
                if key in JSON_CONTENT_KEYS:
                    deferred_long.add(key)
                else:
                    value = value[:cap]
                    truncated.append(key)
        else:
            value = any_value(v, problems)
        info = key_info.get(key)
        if info is None:
            info = _key_info_of(key)
        if info is not PLAIN:
            if info is NUL_KEY:
                key = key.replace("\x00", "")
                problems.append("nul_stripped")
                info = _key_info_of(key)
            if info is not PLAIN:
                special.append((key, info))
        a[key] = value
        if problems:
            warnings.extend(f"{p}:{key}" for p in dict.fromkeys(problems))
            problems.clear()
    if len(a) != len(attrs) and special:  # duplicate keys: keep each key's first position, as dict order does
        special = list(dict(special).items())
    a.pop(INVALID_ID_ATTR, None)
    return a, truncated, deferred_long, special


def scan_special(
    special: list[tuple[str, KeyInfo]],
) -> tuple[int, dict[str, list[tuple[str, str]]], list[tuple[str, str]]]:
    """Combine the special keys into (section bits, flattened family -> [(remainder, key)], request param keys)."""
    bits = 0
    flat: dict[str, list[tuple[str, str]]] = {}
    param_keys: list[tuple[str, str]] = []
    for key, (kbits, family, rest) in special:
        bits |= kbits
        if family is not None:
            entries = flat.get(family)
            if entries is None:
                flat[family] = [(rest, key)]
            else:
                entries.append((rest, key))
        elif kbits & B_PARAM_PREFIX:
            param_keys.append((key, rest))
    return bits, flat, param_keys


def take_flat(a: dict[str, Any], flat: dict[str, list[tuple[str, str]]], family: str) -> list[Any]:
    """Unflatten one family, popping its keys unless the family is kept in attributes."""
    entries = flat.get(family)
    if not entries:
        return []
    keep = family in _KEEP_FAMILIES
    items = [(rest, a[key] if keep else a.pop(key)) for rest, key in entries]
    return unflatten(items)
