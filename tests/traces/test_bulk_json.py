"""The JSON text COPY writes for jsonb columns: the same value json.dumps gives, NaN as null, odd values kept."""

from __future__ import annotations

import json
import math

import pytest

from apps.traces.bulk import _dumps


@pytest.mark.parametrize(
    "value",
    [
        [],
        {},
        [{"role": "user", "parts": [{"type": "text", "content": 'héllo \u2603 "quoted"\n\ttab \\ back'}]}],
        {"a": 1, "b": 1.5, "c": None, "d": True, "e": [1e16, -(2**63), 2**63 - 1], "f": {"nested": ["x", 0.1]}},
        {"ctrl": "\x01\x1f", "emoji": "\U0001f600"},
    ],
)
def test_same_json_value_as_json_dumps(value):
    assert json.loads(_dumps(value)) == json.loads(json.dumps(value)) == value


def test_nan_and_infinity_become_null_which_postgresql_accepts():
    assert json.loads(_dumps({"x": math.nan, "y": [math.inf, -math.inf]})) == {"x": None, "y": [None, None]}


def test_what_orjson_refuses_falls_back_to_json_dumps():
    assert _dumps([2**70]) == json.dumps([2**70])
    assert _dumps({1: "a"}) == json.dumps({1: "a"})
