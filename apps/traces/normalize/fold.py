"""Content that arrives twice, under two conventions, is stored once.

A span instrumented twice (OTel GenAI beside OpenInference) carries its messages in `gen_ai.input.messages`
*and* `llm.input_messages.*`, its documents in `gen_ai.retrieval.documents` *and* `retrieval.documents.*`, and
the same text again in `input.value`/`output.value`. Once one source fills a canonical field, the others are
folded into it when they hold the same content:

- a flattened family whose content equals the canonical field is not kept (its keys are named in the marker);
  one that differs stays in `attributes` as it arrived;
- a raw payload (`input.value`, `traceloop.entity.input`, …) equal to a canonical text is not stored; a JSON
  payload keeps its structure, with each string that equals a canonical text replaced by a reference.

`attributes["sightline.ingest.folded"]` maps each folded attribute key (a family as `prefix.*`) to where its
content is: a field path (`input_messages`, `documents`, `retrieval_query`, …), or `raw_input`/`raw_output`
for a JSON payload stored with references. `folded_values` rebuilds what arrived from a stored span.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from apps.traces.normalize.values import to_float, to_str

FOLDED_ATTR = "sightline.ingest.folded"
REF_KEY = "$sightline.folded"  # {"$sightline.folded": "input_messages.1.parts.0.content"} stands for that text
MIN_REF_CHARS = 32  # shorter strings (roles, ids, model names) cost less than a reference to them


def same_messages(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Return True when two canonical message lists carry the same roles and parts, in order (message-level
    extras, such as finish_reason, are not content and may differ)."""
    return len(a) == len(b) and all(
        x.get("role") == y.get("role") and (x.get("parts") or []) == (y.get("parts") or [])
        for x, y in zip(a, b, strict=True)
    )


def same_documents(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Return True when two normalized document lists have the same ids, contents and scores, in order."""
    return len(a) == len(b) and all(
        x["id"] == y["id"] and x["content"] == y["content"] and x["score"] == y["score"]
        for x, y in zip(a, b, strict=True)
    )


def flat_documents_match(entries: list[tuple[str, str]], a: dict[str, Any], documents: list[dict[str, Any]]) -> bool:
    """Fast path of same_documents for `retrieval.documents.{i}.document.{id,content,score}` keys: compare them
    with the documents without unflattening; False (so the caller compares the slow way) on any other key."""
    seen: set[int] = set()
    for rest, key in entries:
        idx, _, name = rest.partition(".document.")
        if not idx.isdigit() or int(idx) >= len(documents):
            return False
        doc = documents[int(idx)]
        value = a.get(key)
        if name == "content":
            if doc["content"] != value:
                return False
            seen.add(int(idx))
        elif name == "id":
            if doc["id"] != (value if isinstance(value, str) else to_str(value)):
                return False
        elif name == "score":
            if doc["score"] != to_float(value):
                return False
        else:
            return False
    return len(seen) == len(documents) and all(doc["metadata"] == {} for doc in documents)


def flat_raw(a: dict[str, Any], flat: dict[str, list[tuple[str, str]]], family: str) -> dict[str, Any]:
    """The keys and values of one flattened family as they arrived (read before take_flat pops them)."""
    return {key: a[key] for _, key in flat.get(family, ()) if key in a}


def fold_family(
    a: dict[str, Any], folded: dict[str, str], prefix: str, raw: dict[str, Any], same: bool, field: str
) -> None:
    """After a family lost to another source: name it in the marker when it carried the same content as
    `field`, else put its keys back in the attributes so what differs is kept as it arrived."""
    if not raw:
        return
    if same:
        folded[prefix + ".*"] = field
    else:
        a.update(raw)


def _text_index(n: Any) -> dict[str, str]:
    """Map each long canonical text of a span to the path of the field that holds it (first path wins)."""
    index: dict[str, str] = {}

    def add(text: Any, path: str) -> None:
        if isinstance(text, str) and len(text) >= MIN_REF_CHARS and text not in index:
            index[text] = path

    for name in ("input_messages", "output_messages"):
        for i, m in enumerate(getattr(n, name)):
            for j, p in enumerate(m.get("parts") or ()):
                add(p.get("content"), f"{name}.{i}.parts.{j}.content")
    for i, d in enumerate(n.documents):
        add(d.get("content"), f"documents.{i}.content")
    # Not input_text/output_text: on an LLM span they render the messages indexed above, on other spans they
    # are the raw payload itself (one convention, kept as it came for the pretty-printed view).
    for name in ("retrieval_query", "system_instructions"):
        add(getattr(n, name), name)
    return index


def _replace(value: Any, index: dict[str, str], hits: list[int]) -> Any:
    """Return value with each string found in index replaced by a reference to its path (counted in hits)."""
    if isinstance(value, str):
        path = index.get(value)
        if path is None:
            return value
        hits[0] += 1
        return {REF_KEY: path}
    if isinstance(value, list):
        return [_replace(v, index, hits) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, index, hits) for k, v in value.items()}
    return value


def fold_raw(n: Any, folded: dict[str, str], keys: dict[str, str]) -> None:
    """Fold raw_input/raw_output into the canonical fields that hold the same text.

    `keys` maps "raw_input"/"raw_output" to the attribute the payload came from; payloads that did not come
    from an attribute (fallbacks, tool arguments) are left alone.
    """
    index: dict[str, str] | None = None
    for field_name, key in keys.items():
        raw = getattr(n, field_name)
        if not key or len(raw) < MIN_REF_CHARS:
            continue
        if index is None:
            index = _text_index(n)
            if not index:
                return
        path = index.get(raw)
        if path is not None and path != field_name:
            setattr(n, field_name, "")
            folded[key] = path
            continue
        if raw[0] not in "{[":
            continue
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        hits = [0]
        rewritten = _replace(parsed, index, hits)
        if hits[0]:
            text = orjson.dumps(rewritten).decode()
            if len(text) < len(raw):
                setattr(n, field_name, text)
                folded[key] = field_name


# -- reading back: what arrived, for the raw JSON view ---------------------------------------------------------


def _resolve(span: Any, path: str) -> Any:
    """Follow a dotted path (`input_messages.1.parts.0.content`) on a stored span; None when it is gone."""
    head, _, rest = path.partition(".")
    node: Any = getattr(span, head, None)
    for seg in rest.split(".") if rest else ():
        try:
            node = node[int(seg)] if isinstance(node, list) else node[seg]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return node


def _restore(value: Any, span: Any) -> Any:
    """Replace every reference in value by the text it stands for."""
    if isinstance(value, dict):
        if len(value) == 1 and REF_KEY in value:
            resolved = _resolve(span, str(value[REF_KEY]))
            return value if resolved is None else resolved
        return {k: _restore(v, span) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, span) for v in value]
    return value


def folded_values(span: Any) -> dict[str, dict[str, Any]]:
    """For each attribute folded on a stored span: {"into": where its content is, "value": that content}.

    A raw payload stored with references comes back as arrived (JSON text, compact); a flattened family comes
    back as the canonical field that holds the same content.
    """
    marker = (span.attributes or {}).get(FOLDED_ATTR)
    if not isinstance(marker, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, into in marker.items():
        if into in ("raw_input", "raw_output"):
            try:
                value: Any = json.dumps(_restore(json.loads(getattr(span, into)), span), ensure_ascii=False)
            except ValueError:
                value = getattr(span, into)
        else:
            value = _resolve(span, str(into))
        out[key] = {"into": into, "value": value}
    return out
