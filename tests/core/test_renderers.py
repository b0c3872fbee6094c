"""FastJSONRenderer writes JSON that parses to what DRF's JSONRenderer's parses to (apps/core/renderers.py)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from apps.core.renderers import FastJSONRenderer

ROW = {
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "name": 'Ünïcode é 日本語 \U0001f600 quotes " and \\ and \n newlines \t tabs \u2028 \u2029 \x00 \x1f',
    "tags": ["beta", "t1", ""],
    "started_at": "2026-11-27T10:00:00.001371Z",
    "latency_ms": 123.456,
    "status": "error",
    "error": "boom " * 50,
    "input_tokens": 2**62,
    "output_tokens": None,
    "total_tokens": 0,
    "cost": 0.00125,
    "span_count": 3,
    "has_feedback": True,
    "input_truncated": False,
}
FLOATS = [0.0, -0.0, 0.1, 1 / 3, 1e-7, 1.5e20, 1e300, 5e-324, 123456789.123, -2.5e-5, 1e16, 12345678901234567.0]


def _both(data):
    fast = FastJSONRenderer().render(data, "application/json", {})
    slow = JSONRenderer().render(data, "application/json", {})
    return fast, slow


def test_typical_list_rows_parse_equal():
    data = {"results": [ROW, {**ROW, "tags": [], "cost": None, "name": ""}] * 3, "next_cursor": None}
    fast, slow = _both(data)
    assert isinstance(fast, bytes) and json.loads(fast) == json.loads(slow) == json.loads(json.dumps(data))


@pytest.mark.parametrize("number", FLOATS)
def test_floats_are_the_same_numbers(number):
    fast, slow = _both({"x": number, "y": [number, -number]})
    assert json.loads(fast) == json.loads(slow)


def test_values_orjson_leaves_to_drfs_encoder_read_as_with_jsonrenderer():
    data = {
        "at": datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC),
        "naive": datetime(2026, 11, 27, 10, 0),  # noqa: DTZ001 - what the encoder does with one
        "offset": datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2026, 11, 27),
        "amount": Decimal("0.00125"),
        "gap": timedelta(seconds=90),
    }
    fast, slow = _both(data)
    assert json.loads(fast) == json.loads(slow)
    assert json.loads(fast)["at"] == "2026-11-27T10:00:00.123456Z"  # DRF's spelling, not orjson's


def test_documented_differences():
    # NaN and infinities: DRF (STRICT_JSON) refuses, orjson writes null.
    with pytest.raises(ValueError):
        JSONRenderer().render({"x": math.nan}, "application/json", {})
    assert json.loads(FastJSONRenderer().render({"x": math.nan, "y": math.inf}, "application/json", {})) == {
        "x": None,
        "y": None,
    }
    # Exponent floats are spelled differently, same value.
    fast, slow = _both({"x": 1e-7})
    assert fast != slow and json.loads(fast) == json.loads(slow)
    # None renders nothing, as JSONRenderer does.
    assert FastJSONRenderer().render(None) == JSONRenderer().render(None) == b""


def test_indent_asked_in_the_accept_header_indents():
    out = FastJSONRenderer().render({"a": [1]}, "application/json; indent=4", {})
    assert b"\n" in out and json.loads(out) == {"a": [1]}
