"""FastJSONRenderer: DRF's JSONRenderer through orjson, for large list answers of plain rows.

The trace list answers up to 200 rows of ~25 fields; `json.dumps` with DRF's encoder was a sizeable part of its
Python. orjson writes the same JSON *value* (the texts parse equal, tests/core/test_renderers.py), but not always
the same text:

- floats in exponent form are written as orjson writes them (`1e-7`, `1.5e+20` → `1e-7`, `1.5e20`), not as
  Python's `repr` (`1e-07`, `1.5e+20`); both are JSON numbers of the same value;
- NaN and ±Infinity become `null` (DRF's renderer, STRICT_JSON, raises instead: it has no JSON to write);
- U+2028 and U+2029 are written raw (DRF escapes them for JavaScript embedding; JSON allows both raw);
- an `indent` asked for in the Accept header gives orjson's 2-space indent whatever the number;
- integers beyond 64 bits and non-string dict keys are not written (orjson raises): the rows it is used for have
  neither.

Values orjson does not know (Decimal, lazy translation strings, ...) and datetimes, dates and times go through DRF's
encoder, so they read as with JSONRenderer.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_ENCODER = JSONEncoder()


class FastJSONRenderer(JSONRenderer):
    """JSONRenderer's media type and negotiation, orjson's speed; see the module docstring for what differs."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        option = orjson.OPT_PASSTHROUGH_DATETIME  # datetimes as DRF's encoder writes them (Z for UTC)
        if self.get_indent(accepted_media_type or "", renderer_context or {}):
            option |= orjson.OPT_INDENT_2
        return orjson.dumps(data, default=_ENCODER.default, option=option)
