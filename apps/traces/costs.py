"""Cost from token counts: the shipped price table, per-project overrides, ingest-time pricing and the backfill."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from apps.projects.models import Project
from apps.traces.models import ModelPrice

PRICES_PATH = Path(__file__).parent / "data" / "prices.json"
COST_KINDS = ("llm", "embedding")
# "openai/gpt-4o", "models/gemini-2.0-flash", Bedrock "us.anthropic.claude-3-5-haiku-…": the vendor's own name.
_MODEL_PREFIX = re.compile(r"^(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|openai|google|amazon)\.")


@dataclass(frozen=True, slots=True)
class Price:
    """One price row: USD per million tokens for the models matching `model_pattern`, from `effective_from` on."""

    provider: str
    model_pattern: str
    input: float
    output: float
    cached_input: float | None
    effective_from: date
    source: str = "table"  # "table" (shipped) or "override" (the project's)

    def cost(self, *, input_tokens: int, output_tokens: int, cache_read_tokens: int) -> tuple[float, float]:
        """(input cost, output cost) in USD; cached input at its own price when the row has one."""
        cached = min(max(cache_read_tokens, 0), max(input_tokens, 0))
        cached_price = self.input if self.cached_input is None else self.cached_input
        cost_in = ((input_tokens - cached) * self.input + cached * cached_price) / 1e6
        return cost_in, output_tokens * self.output / 1e6


def _price_from_row(row: dict[str, Any]) -> Price:
    return Price(
        provider=row.get("provider", ""),
        model_pattern=row["model_pattern"].lower(),
        input=float(row["input"]),
        output=float(row["output"]),
        cached_input=None if row.get("cached_input") is None else float(row["cached_input"]),
        effective_from=date.fromisoformat(row["effective_from"]),
    )


@lru_cache(maxsize=1)
def price_table() -> tuple[Price, ...]:
    """The shipped price table (apps/traces/data/prices.json), read once per process."""
    with PRICES_PATH.open() as fh:
        return tuple(_price_from_row(row) for row in json.load(fh)["prices"])


def model_key(model: str) -> str:
    """The name prices are matched on: lower-cased, without a routing prefix ("openai/", "models/", Bedrock's)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    return _MODEL_PREFIX.sub("", name)


def _matching(prices: Iterable[Price], key: str) -> list[Price]:
    """The rows of the longest matching pattern, latest effective date first (several dates of one price)."""
    hits = [p for p in prices if fnmatchcase(key, p.model_pattern)]
    if not hits:
        return []
    longest = max(len(p.model_pattern) for p in hits)
    return sorted((p for p in hits if len(p.model_pattern) == longest), key=lambda p: p.effective_from, reverse=True)


class PriceBook:
    """The prices one project sees: its overrides before the shipped table; each model name resolved once."""

    def __init__(self, overrides: Sequence[Price] = ()) -> None:
        self.overrides = tuple(overrides)
        self._resolved: dict[str, tuple[list[Price], list[Price]]] = {}

    def price_for(self, model: str, when: date) -> Price | None:
        """The price in force on `when`: the project's latest override effective by then, else the table's."""
        resolved = self._resolved.get(model)
        if resolved is None:  # once per model name and batch
            key = model_key(model)
            resolved = self._resolved[model] = (_matching(self.overrides, key), _matching(price_table(), key))
        for candidates in resolved:
            for price in candidates:
                if price.effective_from <= when:
                    return price
        return None


def price_book_for(*, project_id: int) -> PriceBook:
    """One query: the project's overrides, ready to resolve model names against."""
    rows = ModelPrice.objects.filter(project_id=project_id).values(
        "provider",
        "model_pattern",
        "input_per_million",
        "output_per_million",
        "cached_input_per_million",
        "effective_from",
    )
    return PriceBook(
        [
            Price(
                provider=r["provider"],
                model_pattern=r["model_pattern"].lower(),
                input=r["input_per_million"],
                output=r["output_per_million"],
                cached_input=r["cached_input_per_million"],
                effective_from=r["effective_from"],
                source="override",
            )
            for r in rows
        ]
    )


def computed_cost(
    book: PriceBook,
    *,
    model: str,
    started_at: datetime,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None,
) -> tuple[float, float, float] | None:
    """(input, output, total) USD for one call from its tokens, or None without tokens or a price."""
    if not model or (input_tokens is None and output_tokens is None):
        return None
    price = book.price_for(model, started_at.date())
    if price is None:
        return None
    cost_in, cost_out = price.cost(
        input_tokens=input_tokens or 0, output_tokens=output_tokens or 0, cache_read_tokens=cache_read_tokens or 0
    )
    return cost_in, cost_out, cost_in + cost_out


def _needs_price(span: Any) -> bool:
    return (
        span.cost_total is None  # whatever the SDK reported stays, even without a source
        and span.cost_source != "reported"
        and span.kind in COST_KINDS
        and bool(span.model)
        and (span.input_tokens is not None or span.output_tokens is not None)
    )


def spans_price(*, project_id: int, spans: Sequence[Any]) -> int:
    """Fill the cost of spans the SDK reported none for, from their tokens; return how many got one.

    A reported cost is never touched. The overrides are read only when some span needs a price.
    """
    todo = [s for s in spans if _needs_price(s)]
    if not todo:
        return 0
    book = price_book_for(project_id=project_id)
    priced = 0
    for span in todo:
        cost = computed_cost(
            book,
            model=span.model,
            started_at=span.started_at,
            input_tokens=span.input_tokens,
            output_tokens=span.output_tokens,
            cache_read_tokens=span.cache_read_tokens,
        )
        if cost is None:
            continue
        span.cost_input, span.cost_output, span.cost_total = cost
        span.cost_source = "computed"
        priced += 1
    return priced


# -- overrides ---------------------------------------------------------------------------------------------------


def model_price_set(
    *,
    project: Project,
    model_pattern: str,
    input_per_million: float,
    output_per_million: float,
    cached_input_per_million: float | None,
    effective_from: date,
    provider: str = "",
) -> ModelPrice:
    """Create or replace the project's price for a pattern from a date; the backfill applies it to stored spans."""
    pattern = model_pattern.strip().lower()
    if not pattern:
        raise ValidationError({"model_pattern": "Give a model name or pattern, e.g. gpt-4o-mini*."})
    for name, value in (
        ("input_per_million", input_per_million),
        ("output_per_million", output_per_million),
        ("cached_input_per_million", cached_input_per_million),
    ):
        if value is not None and value < 0:
            raise ValidationError({name: "A price cannot be negative."})
    price, _ = ModelPrice.objects.update_or_create(
        project=project,
        model_pattern=pattern,
        effective_from=effective_from,
        defaults={
            "provider": provider.strip(),
            "input_per_million": input_per_million,
            "output_per_million": output_per_million,
            "cached_input_per_million": cached_input_per_million,
        },
    )
    return price


def model_price_delete(*, project: Project, model_price_id: int) -> bool:
    """Remove one of the project's overrides; return whether it existed."""
    deleted, _ = ModelPrice.objects.filter(project=project, pk=model_price_id).delete()
    return bool(deleted)


# -- backfill ----------------------------------------------------------------------------------------------------

# The next spans that may take a computed cost, by (partition_at, id) keyset: reported costs are never selected.
_BACKFILL_SELECT_SQL = """
SELECT s.id, s.partition_at, s.trace_id, s.model, s.started_at, s.input_tokens, s.output_tokens, s.cache_read_tokens,
    s.cost_total
FROM traces_span s
WHERE s.project_id = %(project)s AND s.kind IN ('llm', 'embedding')
  AND (s.cost_source = 'computed' OR (s.cost_source = '' AND s.cost_total IS NULL))
  AND s.model <> '' AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)
  AND s.started_at >= %(since)s AND (s.partition_at, s.id) > (%(after_part)s, %(after_id)s)
ORDER BY s.partition_at, s.id
LIMIT %(limit)s
"""
_BACKFILL_UPDATE_SQL = """
UPDATE traces_span s SET cost_input = u.ci, cost_output = u.co, cost_total = u.ct, cost_source = u.src
FROM unnest(%(ids)s::bigint[], %(parts)s::timestamptz[], %(ci)s::float8[], %(co)s::float8[], %(ct)s::float8[],
    %(src)s::varchar[]) AS u(id, part, ci, co, ct, src)
WHERE s.project_id = %(project)s AND s.id = u.id AND s.partition_at = u.part
  AND (s.cost_source = 'computed' OR (s.cost_source = '' AND s.cost_total IS NULL))
"""


def costs_backfill(*, project: Project, since: datetime, batch_size: int = 1000) -> tuple[int, int]:
    """Recompute computed costs of stored spans from `since` with today's prices; return (spans, traces) updated.

    Works in batches of `batch_size` spans, one short transaction each (the spans' traces recomputed in it).
    A span whose price is gone loses its computed cost; a reported cost is never read or written.
    """
    from apps.traces.services import traces_recompute  # services imports this module at ingest

    book = price_book_for(project_id=project.pk)
    after: tuple[datetime, int] = (datetime(1970, 1, 1, tzinfo=since.tzinfo), 0)
    spans_done = traces_done = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    _BACKFILL_SELECT_SQL,
                    {
                        "project": project.pk,
                        "since": since,
                        "after_part": after[0],
                        "after_id": after[1],
                        "limit": batch_size,
                    },
                )
                rows = cursor.fetchall()
            if not rows:
                break
            after = (rows[-1][1], rows[-1][0])
            changed = _backfill_batch(project, book, rows)
            if changed:
                traces_recompute(trace_pks=sorted(changed))
            spans_done += sum(1 for _ in rows)
            traces_done += len(changed)
    return spans_done, traces_done


def _backfill_batch(project: Project, book: PriceBook, rows: list[tuple]) -> set[int]:
    """Write the recomputed costs of one batch; return the row ids of the traces whose spans changed."""
    ids, parts, ci, co, ct, src, traces = [], [], [], [], [], [], set()
    for span_id, part, trace_pk, model, started_at, tokens_in, tokens_out, cache_read, old_total in rows:
        cost = computed_cost(
            book,
            model=model,
            started_at=started_at,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cache_read,
        )
        if cost is None and old_total is None:
            continue
        new_in, new_out, new_total = cost if cost is not None else (None, None, None)
        ids.append(span_id)
        parts.append(part)
        ci.append(new_in)
        co.append(new_out)
        ct.append(new_total)
        src.append("computed" if cost is not None else "")
        traces.add(trace_pk)
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(
                _BACKFILL_UPDATE_SQL,
                {"project": project.pk, "ids": ids, "parts": parts, "ci": ci, "co": co, "ct": ct, "src": src},
            )
    return traces
