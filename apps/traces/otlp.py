"""OTLP/HTTP bodies to protobuf messages and back (pure Python, no Django).

Handles the receiver side of the OTLP/HTTP spec: content-encoding with a decompression cap,
protobuf and JSON bodies (including the hex-id deviation of OTLP JSON), attribute decoding,
and partial-success / google.rpc.Status response bodies in the request's encoding.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

# Marker attribute put on a JSON span whose traceId/spanId/parentSpanId was not decodable.
# normalize_span() reads it to explain the rejection; the id itself is replaced by an invalid
# 1-byte value so the span (and only that span) fails id validation.
INVALID_ID_ATTR = "sightline.internal.invalid_id"
_INVALID_ID_B64 = base64.b64encode(b"\xff").decode()

JSON_CONTENT_TYPE = "application/json"
PROTOBUF_CONTENT_TYPE = "application/x-protobuf"

_CHUNK = 1 << 20  # decompression output chunk; bounds memory per zlib call

# AnyValue inside AnyValue (kvlist or array) at most this deep in OTLP JSON: with the 6 messages above the
# first one (request, resource spans, scope spans, span, key-value, value) and 3 per level, what protobuf's
# decoder allows (100 nested messages), so a JSON body is accepted exactly when its protobuf twin is.
MAX_ANY_VALUE_DEPTH = 31
TOO_DEEP = "values nested too deeply (protobuf's limit is 100 nested messages)"


class OtlpError(Exception):
    """A request-level OTLP failure carrying the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class RawSpan:
    """One pb2 Span with its decoded resource attributes and instrumentation scope."""

    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    span: Any  # opentelemetry.proto.trace.v1.trace_pb2.Span


@dataclass(slots=True)
class RawLogRecord:
    """One pb2 LogRecord with its decoded resource attributes and instrumentation scope."""

    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    record: Any  # opentelemetry.proto.logs.v1.logs_pb2.LogRecord


# -- body decoding ---------------------------------------------------------------------------------


def read_body(raw: bytes, content_encoding: str | None, max_decompressed: int) -> bytes:
    """Return the decoded body, decompressing gzip/deflate in capped chunks (413 past the cap)."""
    encodings = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    body = raw
    # Encodings are listed in the order they were applied; undo them in reverse.
    for enc in reversed(encodings):
        if enc == "identity":
            continue
        if enc in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, max_decompressed, "gzip")
        elif enc == "deflate":
            wbits = zlib.MAX_WBITS if _looks_like_zlib(body) else -zlib.MAX_WBITS
            body = _inflate(body, wbits, max_decompressed, "deflate")
        else:
            raise OtlpError(415, f"unsupported Content-Encoding {enc!r} (use gzip, deflate or identity)")
    if len(body) > max_decompressed:
        raise OtlpError(413, f"body exceeds the {max_decompressed} byte limit")
    return body


def _looks_like_zlib(data: bytes) -> bool:
    """Return True when data starts with a zlib (RFC 1950) header rather than raw deflate."""
    if len(data) < 2:
        return False
    cmf, flg = data[0], data[1]
    return (cmf & 0x0F) == 8 and (cmf >> 4) <= 7 and ((cmf << 8) | flg) % 31 == 0


def _inflate(data: bytes, wbits: int, cap: int, name: str) -> bytes:
    """Decompress data (all gzip members) without ever producing more than cap + 1 bytes."""
    out: list[bytes] = []
    total = 0
    try:
        while True:
            d = zlib.decompressobj(wbits)
            chunk = d.decompress(data, min(_CHUNK, cap + 1 - total))
            while True:
                total += len(chunk)
                if total > cap:
                    raise OtlpError(413, f"decompressed body exceeds the {cap} byte limit")
                out.append(chunk)
                if not d.unconsumed_tail:
                    break
                chunk = d.decompress(d.unconsumed_tail, min(_CHUNK, cap + 1 - total))
            if not d.eof:
                # Input ended mid-stream: flush whatever is buffered, then report truncation.
                tail = d.flush()
                if total + len(tail) > cap:
                    raise OtlpError(413, f"decompressed body exceeds the {cap} byte limit")
                raise OtlpError(400, f"body is not valid {name}: truncated stream")
            data = d.unused_data
            # Concatenated gzip members are legal; trailing garbage after deflate is not data.
            if not data or wbits != (zlib.MAX_WBITS | 16) or data.strip(b"\x00") == b"":
                break
    except zlib.error as exc:
        raise OtlpError(400, f"body is not valid {name}: {exc}") from None
    return b"".join(out)


def _kind_of(content_type: str | None) -> str:
    """Classify a Content-Type header as 'protobuf' or 'json', else raise 415."""
    ct = (content_type or "").lower()
    if "protobuf" in ct:
        return "protobuf"
    if "json" in ct:
        return "json"
    raise OtlpError(
        415,
        f"unsupported Content-Type {content_type!r} (use application/x-protobuf or application/json)",
    )


def parse_traces_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Decode an OTLP traces body (protobuf or OTLP JSON) into an ExportTraceServiceRequest."""
    kind = _kind_of(content_type)
    request = ExportTraceServiceRequest()
    if not body:
        return request
    if kind == "protobuf":
        _parse_protobuf(request, body)
    else:
        data = _load_json(body)
        if _SURROGATE_ESCAPE.search(body):
            _replace_lone_surrogates(data)
        try:
            _build_traces(request, data)
        except _Fallback:
            # Anything unusual (snake_case keys, enum names, bad numbers) goes through the slow,
            # lenient json_format path, which also produces the precise 400 message.
            request.Clear()
            _rewrite_trace_ids(data)
            _parse_dict(request, data)
    return request


def parse_logs_request(body: bytes, content_type: str) -> ExportLogsServiceRequest:
    """Decode an OTLP logs body (protobuf or OTLP JSON) into an ExportLogsServiceRequest."""
    kind = _kind_of(content_type)
    request = ExportLogsServiceRequest()
    if not body:
        return request
    if kind == "protobuf":
        _parse_protobuf(request, body)
    else:
        data = _load_json(body)
        _rewrite_log_ids(data)
        _parse_dict(request, data)
    return request


def _parse_protobuf(message: Any, body: bytes) -> None:
    """ParseFromString into message, mapping DecodeError to a 400.

    Protobuf refuses a whole body for one string field holding invalid UTF-8, which would drop every span
    of the batch for one bad attribute. Such a body is decoded again with the bad bytes of each string
    replaced by U+FFFD, so the span is kept; a body that is malformed otherwise is still a 400.
    """
    try:
        message.ParseFromString(body)
        return
    except DecodeError as exc:
        error = exc
    try:
        repaired = _repair_utf8(body, message.DESCRIPTOR, 0)
    except _WireError:
        repaired = body
    if repaired != body:
        message.Clear()
        try:
            message.ParseFromString(repaired)
            return
        except DecodeError:
            pass
    raise OtlpError(400, f"malformed protobuf: {error}") from None


class _WireError(Exception):
    """The bytes are not protobuf wire format (or nest deeper than protobuf allows)."""


_MAX_MESSAGE_DEPTH = 100  # protobuf's own decoder limit


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Return (value, next position) of the varint at pos."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _WireError
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _repair_utf8(data: bytes, descriptor: Any, depth: int) -> bytes:
    """Return the message's wire bytes with invalid UTF-8 in string fields replaced (U+FFFD), else unchanged.

    Walks the wire format with the message descriptor: string fields are checked, sub-messages repaired
    recursively (at most protobuf's 100 levels), every other field copied byte for byte.
    """
    if depth > _MAX_MESSAGE_DEPTH:
        raise _WireError
    out = bytearray()
    pos, end = 0, len(data)
    changed = False
    while pos < end:
        start = pos
        key, pos = _read_varint(data, pos)
        wire_type = key & 7
        if wire_type == 0:
            _, pos = _read_varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, value_start = _read_varint(data, pos)
            pos = value_start + length
            if pos > end:
                raise _WireError
            field = descriptor.fields_by_number.get(key >> 3)
            if field is not None and field.type in (field.TYPE_STRING, field.TYPE_MESSAGE):
                value = data[value_start:pos]
                if field.type == field.TYPE_MESSAGE:
                    fixed = _repair_utf8(value, field.message_type, depth + 1)
                else:
                    try:
                        value.decode("utf-8")
                        fixed = value
                    except UnicodeDecodeError:
                        fixed = value.decode("utf-8", errors="replace").encode("utf-8")
                if fixed is not value:
                    out += _varint(key) + _varint(len(fixed)) + fixed
                    changed = True
                    continue
        else:  # groups (3, 4) are not used by OTLP; 6 and 7 do not exist
            raise _WireError
        if pos > end:
            raise _WireError
        out += data[start:pos]
    return bytes(out) if changed else data


# A JSON \uD800-\uDFFF escape: paired ones decode to one character, a lone one stays a surrogate that protobuf
# and PostgreSQL refuse. Only bodies holding such an escape are walked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_lone_surrogates(data: dict[str, Any]) -> None:
    """Replace unpaired surrogates in every string (keys too) by U+FFFD, as invalid UTF-8 in protobuf is: keep the span."""
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, str):
                if _LONE_SURROGATE.search(value):
                    node[key] = _LONE_SURROGATE.sub("\ufffd", value)
            elif isinstance(value, dict | list):
                stack.append(value)
            if isinstance(key, str) and _LONE_SURROGATE.search(key):
                node[_LONE_SURROGATE.sub("\ufffd", key)] = node.pop(key)


def _load_json(body: bytes) -> dict[str, Any]:
    """json.loads the body as an object, mapping errors (nesting past the parser's limit too) to a 400."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise OtlpError(
            400, f"malformed JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
        ) from None
    except RecursionError:  # the C scanner counts its depth against the recursion limit and stops cleanly
        raise OtlpError(400, f"malformed OTLP JSON: {TOO_DEEP}") from None
    except UnicodeDecodeError as exc:
        raise OtlpError(400, f"malformed JSON: body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(data, dict):
        raise OtlpError(400, f"malformed OTLP JSON: top level must be an object, got {type(data).__name__}")
    return data


def _parse_dict(message: Any, data: dict[str, Any]) -> None:
    """json_format.ParseDict leniently (unknown fields ignored), mapping errors to a 400."""
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise OtlpError(400, f"invalid OTLP JSON: {exc}") from None
    except RecursionError:
        raise OtlpError(400, f"invalid OTLP JSON: {TOO_DEEP}") from None
    # Build the same message a protobuf body would give: protobuf's decoder enforces its nesting limit
    # (100 messages), which json_format does not, and everything after decoding relies on it.
    try:
        message.ParseFromString(message.SerializeToString())
    except DecodeError:
        raise OtlpError(400, f"invalid OTLP JSON: {TOO_DEEP}") from None


# -- OTLP JSON hex ids -------------------------------------------------------------------------------


def _id_to_b64(value: Any, size: int) -> str | None:
    """Return the base64 form of an OTLP JSON id (hex, or lenient base64), or None if undecodable."""
    if not isinstance(value, str):
        return None
    if value == "":
        return ""
    try:
        raw: bytes | None = bytes.fromhex(value)
    except ValueError:
        raw = None
    if raw is not None and len(raw) == size:
        return base64.b64encode(raw).decode()
    # Non-compliant senders occasionally use proto3-JSON base64; accept it only at the exact size.
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) == size:
        return value
    # Valid hex of the wrong length passes through so the span fails with "got N bytes".
    return base64.b64encode(raw).decode() if raw is not None else None


_SPAN_ID_KEYS = (
    ("traceId", 16),
    ("trace_id", 16),
    ("spanId", 8),
    ("span_id", 8),
    ("parentSpanId", 8),
    ("parent_span_id", 8),
)
_LINK_ID_KEYS = (("traceId", 16), ("trace_id", 16), ("spanId", 8), ("span_id", 8))


def _fix_ids(obj: dict[str, Any], keys: tuple[tuple[str, int], ...]) -> list[str]:
    """Rewrite hex ids in obj to base64 in place; return a description of each undecodable id."""
    bad: list[str] = []
    for key, size in keys:
        if key in obj:
            value = obj[key]
            fixed = _id_to_b64(value, size)
            if fixed is None:
                bad.append(f"{key} {str(value)[:64]!r} is not a hex id")
                obj[key] = _INVALID_ID_B64
            else:
                obj[key] = fixed
    return bad


def _children(obj: Any, *keys: str) -> list[Any]:
    """Return the list stored under the first present key (camelCase or snake_case), else []."""
    if isinstance(obj, dict):
        for key in keys:
            value = obj.get(key)
            if isinstance(value, list):
                return value
    return []


def _rewrite_trace_ids(data: dict[str, Any]) -> None:
    """Convert every span and link id in an OTLP JSON traces dict from hex to base64."""
    for rs in _children(data, "resourceSpans", "resource_spans"):
        for ss in _children(rs, "scopeSpans", "scope_spans"):
            for span in _children(ss, "spans"):
                if not isinstance(span, dict):
                    continue
                bad = _fix_ids(span, _SPAN_ID_KEYS)
                if bad:
                    attrs = span.get("attributes")
                    if not isinstance(attrs, list):
                        attrs = span["attributes"] = []
                    attrs.append({"key": INVALID_ID_ATTR, "value": {"stringValue": "; ".join(bad)}})
                for link in _children(span, "links"):
                    if isinstance(link, dict) and _fix_ids(link, _LINK_ID_KEYS):
                        # An undecodable link id only loses the link target, never the span.
                        link["traceId"] = link["spanId"] = ""
                        link.pop("trace_id", None)
                        link.pop("span_id", None)


def _rewrite_log_ids(data: dict[str, Any]) -> None:
    """Convert every log record id in an OTLP JSON logs dict from hex to base64."""
    for rl in _children(data, "resourceLogs", "resource_logs"):
        for sl in _children(rl, "scopeLogs", "scope_logs"):
            for record in _children(sl, "logRecords", "log_records"):
                if isinstance(record, dict):
                    bad = _fix_ids(record, _LINK_ID_KEYS)
                    if bad:
                        attrs = record.get("attributes")
                        if not isinstance(attrs, list):
                            attrs = record["attributes"] = []
                        attrs.append({"key": INVALID_ID_ATTR, "value": {"stringValue": "; ".join(bad)}})


# -- fast OTLP JSON -> pb2 for traces (json_format.ParseDict is ~5x slower) -------------------------


class _Fallback(Exception):
    """The fast JSON builder met something it does not handle; use json_format instead."""


_SNAKE_SPAN_KEYS = ("trace_id", "span_id", "parent_span_id", "start_time_unix_nano", "end_time_unix_nano")


def _fast_id(value: Any, size: int, key: str, bad: list[str]) -> bytes:
    """Decode a hex (or exact-size base64) JSON id; record undecodable ones in bad."""
    if not value:
        return b""
    b64 = _id_to_b64(value, size)
    if b64 is None:
        bad.append(f"{key} {str(value)[:64]!r} is not a hex id")
        return b"\xff"
    return base64.b64decode(b64)


def _fast_any(av: Any, value: Any, depth: int = 0) -> None:
    """Fill a pb2 AnyValue from its OTLP JSON form."""
    if depth > MAX_ANY_VALUE_DEPTH:
        raise OtlpError(400, f"invalid OTLP JSON: {TOO_DEEP}")
    if type(value) is not dict:
        raise _Fallback
    if "stringValue" in value:
        v = value["stringValue"]
        if type(v) is not str:
            raise _Fallback
        av.string_value = v
    elif "intValue" in value:
        v = value["intValue"]
        if type(v) is not int and type(v) is not str:
            raise _Fallback
        av.int_value = int(v)
    elif "doubleValue" in value:
        v = value["doubleValue"]
        if type(v) is bool or not isinstance(v, int | float | str):
            raise _Fallback
        av.double_value = float(v)
    elif "boolValue" in value:
        v = value["boolValue"]
        if type(v) is not bool:
            raise _Fallback
        av.bool_value = v
    elif "arrayValue" in value:
        arr = av.array_value
        arr.SetInParent()
        for item in (value["arrayValue"] or {}).get("values") or ():
            _fast_any(arr.values.add(), item, depth + 1)
    elif "kvlistValue" in value:
        kvl = av.kvlist_value
        kvl.SetInParent()
        _fast_attrs(kvl.values, (value["kvlistValue"] or {}).get("values"), depth + 1)
    elif "bytesValue" in value:
        try:
            av.bytes_value = base64.b64decode(value["bytesValue"])
        except (binascii.Error, TypeError, ValueError):
            raise _Fallback from None


def _fast_attrs(target: Any, items: Any, depth: int = 0) -> None:
    """Append OTLP JSON KeyValues to a repeated KeyValue field."""
    if not items:
        return
    if type(items) is not list:
        raise _Fallback
    for item in items:
        if type(item) is not dict:
            raise _Fallback
        kv = target.add()
        kv.key = item.get("key", "")
        if "value" in item:
            _fast_any(kv.value, item["value"], depth)


def _build_traces(request: ExportTraceServiceRequest, data: dict[str, Any]) -> None:
    """Build the request directly from spec-shaped (camelCase) OTLP JSON; raise _Fallback otherwise."""
    if "resource_spans" in data:
        raise _Fallback
    try:
        for rsd in data.get("resourceSpans") or ():
            rs = request.resource_spans.add()
            res = rsd.get("resource")
            if res:
                _fast_attrs(rs.resource.attributes, res.get("attributes"))
                rs.resource.dropped_attributes_count = res.get("droppedAttributesCount", 0)
            rs.schema_url = rsd.get("schemaUrl", "")
            if "scope_spans" in rsd:
                raise _Fallback
            for ssd in rsd.get("scopeSpans") or ():
                ss = rs.scope_spans.add()
                scope = ssd.get("scope")
                if scope:
                    ss.scope.name = scope.get("name", "")
                    ss.scope.version = scope.get("version", "")
                    _fast_attrs(ss.scope.attributes, scope.get("attributes"))
                ss.schema_url = ssd.get("schemaUrl", "")
                for sd in ssd.get("spans") or ():
                    if any(k in sd for k in _SNAKE_SPAN_KEYS):
                        raise _Fallback
                    _build_span(ss.spans.add(), sd)
    except (AttributeError, TypeError, ValueError, KeyError):
        raise _Fallback from None


def _build_span(span: Any, sd: dict[str, Any]) -> None:
    """Fill one pb2 Span from OTLP JSON, turning undecodable ids into a marker attribute."""
    bad: list[str] = []
    span.trace_id = _fast_id(sd.get("traceId"), 16, "traceId", bad)
    span.span_id = _fast_id(sd.get("spanId"), 8, "spanId", bad)
    span.parent_span_id = _fast_id(sd.get("parentSpanId"), 8, "parentSpanId", bad)
    span.trace_state = sd.get("traceState", "")
    span.flags = sd.get("flags", 0)
    span.name = sd.get("name", "")
    kind = sd.get("kind", 0)
    if type(kind) is not int:
        raise _Fallback
    span.kind = kind
    span.start_time_unix_nano = int(sd.get("startTimeUnixNano", 0))
    span.end_time_unix_nano = int(sd.get("endTimeUnixNano", 0))
    _fast_attrs(span.attributes, sd.get("attributes"))
    span.dropped_attributes_count = sd.get("droppedAttributesCount", 0)
    for ed in sd.get("events") or ():
        ev = span.events.add()
        ev.time_unix_nano = int(ed.get("timeUnixNano", 0))
        ev.name = ed.get("name", "")
        _fast_attrs(ev.attributes, ed.get("attributes"))
        ev.dropped_attributes_count = ed.get("droppedAttributesCount", 0)
    span.dropped_events_count = sd.get("droppedEventsCount", 0)
    for ld in sd.get("links") or ():
        link = span.links.add()
        link_bad: list[str] = []
        trace_id = _fast_id(ld.get("traceId"), 16, "traceId", link_bad)
        span_id = _fast_id(ld.get("spanId"), 8, "spanId", link_bad)
        if not link_bad:  # an undecodable link id only loses the link target, never the span
            link.trace_id, link.span_id = trace_id, span_id
        link.trace_state = ld.get("traceState", "")
        _fast_attrs(link.attributes, ld.get("attributes"))
        link.dropped_attributes_count = ld.get("droppedAttributesCount", 0)
        link.flags = ld.get("flags", 0)
    span.dropped_links_count = sd.get("droppedLinksCount", 0)
    status = sd.get("status")
    if status:
        code = status.get("code", 0)
        if type(code) is not int:
            raise _Fallback
        span.status.code = code
        span.status.message = status.get("message", "")
    if bad:
        kv = span.attributes.add()
        kv.key = INVALID_ID_ATTR
        kv.value.string_value = "; ".join(bad)


# -- iteration and attribute decoding ------------------------------------------------------------------


def iter_spans(request: ExportTraceServiceRequest) -> Iterator[RawSpan]:
    """Yield every span of the request with its resource attributes and scope."""
    for rs in request.resource_spans:
        resource = attributes_to_dict(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope_name, scope_version = ss.scope.name, ss.scope.version
            for span in ss.spans:
                yield RawSpan(resource, scope_name, scope_version, span)


def iter_log_records(request: ExportLogsServiceRequest) -> Iterator[RawLogRecord]:
    """Yield every log record of the request with its resource attributes and scope."""
    for rl in request.resource_logs:
        resource = attributes_to_dict(rl.resource.attributes)
        for sl in rl.scope_logs:
            scope_name, scope_version = sl.scope.name, sl.scope.version
            for record in sl.log_records:
                yield RawLogRecord(resource, scope_name, scope_version, record)


def any_value_to_python(v: Any) -> object:
    """Convert an OTLP AnyValue to plain Python (NaN/Infinity become None, bytes become base64)."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "bool_value":
        return v.bool_value
    if which == "double_value":
        d = v.double_value
        return d if math.isfinite(d) else None
    if which == "array_value":
        return [any_value_to_python(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes_to_dict(v.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def attributes_to_dict(kvs: Iterable[Any]) -> dict[str, object]:
    """Convert repeated KeyValue to a dict; on duplicate keys the last one wins."""
    return {kv.key: any_value_to_python(kv.value) for kv in kvs}


# -- responses -------------------------------------------------------------------------------------


def _response_type(content_type: str | None) -> str:
    """Return the response Content-Type matching the request's (JSON when unknown)."""
    ct = (content_type or "").lower()
    if "protobuf" in ct:
        return "application/protobuf" if ct.startswith("application/protobuf") else PROTOBUF_CONTENT_TYPE
    return JSON_CONTENT_TYPE


def _encode_partial(response: Any, field: str, content_type: str, rejected: int, message: str) -> tuple[bytes, str]:
    """Fill partial_success (only when something is to report) and serialize in the request encoding."""
    rtype = _response_type(content_type)
    if rejected or message:
        ps = response.partial_success
        setattr(ps, field, rejected)
        ps.error_message = message
    if rtype == JSON_CONTENT_TYPE:
        if not (rejected or message):
            return b"{}", rtype
        camel = "rejectedSpans" if field == "rejected_spans" else "rejectedLogRecords"
        payload = {"partialSuccess": {camel: str(rejected), "errorMessage": message}}
        return json.dumps(payload, separators=(",", ":")).encode(), rtype
    return response.SerializeToString(), rtype


def encode_traces_response(content_type: str, rejected: int, message: str) -> tuple[bytes, str]:
    """Return an ExportTraceServiceResponse body (partial success when rejected/message) and its type."""
    return _encode_partial(ExportTraceServiceResponse(), "rejected_spans", content_type, rejected, message)


def encode_logs_response(content_type: str, rejected: int, message: str) -> tuple[bytes, str]:
    """Return an ExportLogsServiceResponse body (partial success when rejected/message) and its type."""
    return _encode_partial(ExportLogsServiceResponse(), "rejected_log_records", content_type, rejected, message)


def _varint(n: int) -> bytes:
    """Encode a protobuf varint (negative int32 as 10-byte two's complement)."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_status(content_type: str, code: int, message: str) -> tuple[bytes, str]:
    """Return a google.rpc.Status error body (code, message) in the request's encoding and its type."""
    rtype = _response_type(content_type)
    if rtype == JSON_CONTENT_TYPE:
        return json.dumps({"code": code, "message": message}, separators=(",", ":")).encode(), rtype
    # google.rpc.Status: field 1 int32 code, field 2 string message (hand-encoded: no extra dependency).
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    if message:
        raw = message.encode()
        out += b"\x12" + _varint(len(raw)) + raw
    return bytes(out), rtype
