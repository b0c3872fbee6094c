"""Langfuse (`langfuse.*`): usage and cost details given as disjoint buckets."""

from __future__ import annotations

from typing import Any

from apps.traces import genai_aliases as A
from apps.traces.normalize.values import to_float, to_int


def langfuse_usage(d: dict[str, Any]) -> dict[str, int | None]:
    """Convert Langfuse usage_details (disjoint buckets) to OTel-inclusive counts."""
    ints = {k: n for k, v in d.items() if (n := to_int(v)) is not None}
    out: dict[str, int | None] = {}
    cache_read = next((ints[k] for k in A.LANGFUSE_CACHE_READ_KEYS if k in ints), None)
    cache_write = next((ints[k] for k in A.LANGFUSE_CACHE_WRITE_KEYS if k in ints), None)
    reasoning = next((ints[k] for k in A.LANGFUSE_REASONING_KEYS if k in ints), None)
    if "input" in ints or "output" in ints:
        if "input" in ints:
            extra = sum(v for k, v in ints.items() if k.startswith("input_"))
            extra += sum(
                ints[k]
                for k in A.LANGFUSE_CACHE_READ_KEYS + A.LANGFUSE_CACHE_WRITE_KEYS
                if k in ints and not k.startswith("input_")
            )
            out["input_tokens"] = ints["input"] + extra
        if "output" in ints:
            extra = sum(v for k, v in ints.items() if k.startswith("output_"))
            extra += sum(ints[k] for k in A.LANGFUSE_REASONING_KEYS if k in ints and not k.startswith("output_"))
            out["output_tokens"] = ints["output"] + extra
        out["total_tokens"] = ints.get("total")
    else:  # OpenAI-style inclusive names
        out["input_tokens"] = ints.get("prompt_tokens", ints.get("input_tokens"))
        out["output_tokens"] = ints.get("completion_tokens", ints.get("output_tokens"))
        out["total_tokens"] = ints.get("total_tokens", ints.get("total"))
    out["cache_read_tokens"] = cache_read
    out["cache_write_tokens"] = cache_write
    out["reasoning_tokens"] = reasoning
    return out


def langfuse_cost(d: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """Sum Langfuse cost_details buckets into (input, output, total)."""
    floats = {k: f for k, v in d.items() if (f := to_float(v)) is not None}
    ins = [v for k, v in floats.items() if k == "input" or k.startswith("input_")]
    outs = [v for k, v in floats.items() if k == "output" or k.startswith("output_")]
    total = floats.get("total")
    return (sum(ins) if ins else None, sum(outs) if outs else None, total)
