"""Trace context (route, prompt, environment, release, user, session, tags, trace name): span, then resource."""

from __future__ import annotations

from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.normalize.values import as_str_list, to_str

CTX_FIELDS = (
    ("route", A.ROUTE_KEYS),
    ("prompt_name", A.PROMPT_NAME_KEYS),
    ("prompt_version", A.PROMPT_VERSION_KEYS),
    ("environment", A.ENVIRONMENT_KEYS),
    ("release", A.RELEASE_KEYS),
    ("user_id", A.USER_KEYS),
    ("session_id", A.SESSION_KEYS),
    ("trace_name", A.TRACE_NAME_KEYS),
)
CTX_KEYS = frozenset(k for _, keys in CTX_FIELDS for k in keys) | frozenset(A.TAG_KEYS)
# Spans of one request share one resource dict: resolve its context once (keyed by identity).
_resource_cache: dict[int, tuple[dict[str, Any], dict[str, tuple[int, str]], list[str]]] = {}


def resource_context(resource: dict[str, Any]) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """Return {field: (alias index, value)} and the tags found on a resource, cached per resource object."""
    hit = _resource_cache.get(id(resource))
    if hit is not None and hit[0] is resource:
        return hit[1], hit[2]
    found: dict[str, tuple[int, str]] = {}
    for fname, keys in CTX_FIELDS:
        for i, key in enumerate(keys):
            value = resource.get(key)
            if value is not None and value != "":
                found[fname] = (i, to_str(value))
                break
    tags: list[str] = []
    for key in A.TAG_KEYS:
        for tag in as_str_list(resource.get(key)):
            if tag not in tags:
                tags.append(tag)
    if len(_resource_cache) >= 256:
        _resource_cache.clear()
    _resource_cache[id(resource)] = (resource, found, tags)
    return found, tags


def _pick_ctx(a: dict[str, Any], keys: tuple[str, ...], resource_hit: tuple[int, str] | None) -> str:
    """Return the first non-empty value among keys, checking the span then the resource per key."""
    limit = resource_hit[0] + 1 if resource_hit else len(keys)
    for key in keys[:limit]:
        value = a.get(key)
        if value is not None and value != "":
            del a[key]
            return to_str(value)
    return resource_hit[1] if resource_hit else ""


_CTX_FIELD_SETS = tuple((fname, keys, frozenset(keys)) for fname, keys in CTX_FIELDS)


def span_context(
    a: dict[str, Any], keys: Any, resource: dict[str, Any], *, on_span: bool
) -> tuple[dict[str, str], list[str]]:
    """Return the context fields found (span first, alias by alias, then resource) and the tags.

    on_span says whether any context key may be on the span; when not, everything comes from the
    resource (the common case: SDKs put route/environment/release on the resource).
    """
    res_ctx, res_tags = resource_context(resource)
    if not on_span or keys.isdisjoint(CTX_KEYS):
        return {fname: hit[1] for fname, hit in res_ctx.items()}, list(res_tags)
    ctx = {}
    for fname, aliases, alias_set in _CTX_FIELD_SETS:
        hit = res_ctx.get(fname)
        if keys.isdisjoint(alias_set):  # nothing on the span: the resource's value (if any)
            ctx[fname] = hit[1] if hit else ""
        else:
            ctx[fname] = _pick_ctx(a, aliases, hit)
    tags: list[str] = []
    for key in A.TAG_KEYS:
        value = a.pop(key, None)
        if value is None:
            value = resource.get(key)
        for tag in as_str_list(value):
            if tag not in tags:
                tags.append(tag)
    return ctx, tags
