"""Nesting depth of JSON text, measured before parsing (pure Python, no Django)."""

from __future__ import annotations

# Deeper than any real payload (OTLP JSON needs about 4 levels per nested kvlist attribute, ~15 in all),
# shallow enough that every recursive step after parsing (json, protobuf, serializers) stays far from
# Python's recursion limit.
MAX_JSON_DEPTH = 128

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_TO_PARENS = bytes.maketrans(b"[{]}", b"(())")


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return True when the JSON text nests arrays/objects more than `limit` deep (checked before parsing).

    Only bytes operations that run in C: escaped backslashes and quotes are dropped (left to right, as a
    JSON scanner pairs them), then everything but quotes and brackets; the text between quote pairs is
    string content. Matched innermost bracket pairs are then removed one nesting level per pass: a body
    of depth d is empty after d passes. Unclosed brackets left at the end count too, since a recursive
    parser descends into them before it finds the text truncated.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[::2]).translate(_TO_PARENS)
    for passes in range(limit + 1):
        shorter = brackets.replace(b"()", b"")
        if shorter == brackets:
            return passes + shorter.count(b"(") > limit
        brackets = shorter
    return True


def json_too_deep_message(limit: int = MAX_JSON_DEPTH) -> str:
    """The 400 message for a body nested past the limit."""
    return f"JSON nested more than {limit} levels deep"
