"""Cost from tokens: the shipped table, project overrides by effective date, reported costs kept, the backfill."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.traces.costs import PRICES_PATH, PriceBook, model_key, model_price_set, price_table
from apps.traces.models import Span, Trace
from apps.traces.normalize import NormalizedSpan
from apps.traces.services import spans_ingest

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _table_row(pattern: str) -> dict:
    rows = [r for r in json.loads(PRICES_PATH.read_text())["prices"] if r["model_pattern"] == pattern]
    assert len(rows) == 1, pattern
    return rows[0]


def llm(trace: str, span_id: str, *, model: str, start: datetime = T0, **fields) -> NormalizedSpan:
    return NormalizedSpan(
        trace_id=trace,
        span_id=span_id,
        kind="llm",
        model=model,
        started_at=start,
        ended_at=start + timedelta(milliseconds=100),
        latency_ms=100,
        **fields,
    )


def test_the_shipped_table_covers_each_vendor_with_valid_rows():
    table = price_table()
    providers = {p.provider for p in table}
    assert {"openai", "anthropic", "gcp.gemini", "mistral_ai", "meta"} <= providers
    for p in table:
        assert p.input >= 0 and p.output >= 0 and p.effective_from.year >= 2024
        assert p.cached_input is None or p.cached_input <= p.input


def test_cost_is_computed_from_the_table_and_marked_computed(project):
    row = _table_row("gpt-4o-mini*")
    span = llm(
        "a" * 32, "1" * 16, model="gpt-4o-mini-2024-07-18", input_tokens=1000, output_tokens=200, cache_read_tokens=400
    )
    spans_ingest(project=project, spans=[span])
    stored = Span.objects.get(project=project, span_id="1" * 16)
    expected_in = (600 * row["input"] + 400 * row["cached_input"]) / 1e6
    expected_out = 200 * row["output"] / 1e6
    assert stored.cost_source == "computed"
    assert stored.cost_input == pytest.approx(expected_in)
    assert stored.cost_output == pytest.approx(expected_out)
    trace = Trace.objects.get(project=project, trace_id="a" * 32)
    assert trace.cost == pytest.approx(expected_in + expected_out)
    assert trace.cost_source == "computed"


def test_longest_pattern_wins_and_routing_prefixes_are_stripped():
    book = PriceBook()
    assert model_key("openai/GPT-4o-mini") == "gpt-4o-mini"
    assert model_key("us.anthropic.claude-3-5-haiku-20241022-v1:0") == "claude-3-5-haiku-20241022-v1:0"
    assert book.price_for("gpt-4o-mini", date(2026, 1, 1)).model_pattern == "gpt-4o-mini*"
    assert book.price_for("gpt-4o", date(2026, 1, 1)).model_pattern == "gpt-4o*"
    assert book.price_for("models/gemini-2.0-flash-001", date(2026, 1, 1)).model_pattern == "gemini-2.0-flash*"
    assert book.price_for("no-such-model", date(2026, 1, 1)) is None


def test_a_shipped_price_change_applies_from_its_effective_date():
    book = PriceBook()
    before, after = book.price_for("o3", date(2025, 6, 9)), book.price_for("o3", date(2025, 6, 10))
    assert before.effective_from == date(2025, 4, 16) and after.effective_from == date(2025, 6, 10)
    assert after.input < before.input
    assert book.price_for("o3", date(2025, 1, 1)) is None  # before any price of it


def test_project_override_beats_the_table_and_later_dates_win_from_their_date(project):
    model_price_set(
        project=project,
        model_pattern="gpt-4o-mini*",
        input_per_million=1.0,
        output_per_million=2.0,
        cached_input_per_million=None,
        effective_from=date(2026, 11, 1),
    )
    model_price_set(
        project=project,
        model_pattern="gpt-4o-mini*",
        input_per_million=10.0,
        output_per_million=20.0,
        cached_input_per_million=None,
        effective_from=date(2026, 11, 27),
    )
    spans = [
        llm(
            "b" * 32,
            "1" * 16,
            model="gpt-4o-mini",
            start=T0 - timedelta(days=60),
            input_tokens=1_000_000,
            output_tokens=0,
        ),  # before any override: the shipped table
        llm(
            "c" * 32,
            "2" * 16,
            model="gpt-4o-mini",
            start=T0 - timedelta(days=1),
            input_tokens=1_000_000,
            output_tokens=1_000_000,
        ),  # the first override
        llm("d" * 32, "3" * 16, model="gpt-4o-mini", start=T0, input_tokens=1_000_000, output_tokens=1_000_000),
    ]
    spans_ingest(project=project, spans=spans)
    costs = dict(Span.objects.filter(project=project).values_list("span_id", "cost_total"))
    assert costs["1" * 16] == pytest.approx(_table_row("gpt-4o-mini*")["input"])
    assert costs["2" * 16] == pytest.approx(3.0)
    assert costs["3" * 16] == pytest.approx(30.0)


def test_reported_cost_is_never_overwritten_at_ingest_or_by_the_backfill(project):
    reported = llm(
        "e" * 32,
        "1" * 16,
        model="gpt-4o",
        input_tokens=1000,
        output_tokens=1000,
        cost_total=0.5,
        cost_source="reported",
    )
    spans_ingest(project=project, spans=[reported])
    model_price_set(
        project=project,
        model_pattern="gpt-4o",
        input_per_million=100.0,
        output_per_million=100.0,
        cached_input_per_million=None,
        effective_from=date(2020, 1, 1),
    )
    call_command("costs_backfill", "--project", project.slug)
    stored = Span.objects.get(project=project, span_id="1" * 16)
    assert (stored.cost_total, stored.cost_source) == (0.5, "reported")
    trace = Trace.objects.get(project=project, trace_id="e" * 32)
    assert (trace.cost, trace.cost_source) == (0.5, "reported")


def test_backfill_reprices_computed_spans_in_batches_and_recomputes_their_traces(project):
    spans = [
        llm(
            f"{i:032x}",
            f"{i:016x}",
            model="claude-3-5-haiku-20241022",
            start=T0 + timedelta(minutes=i),
            input_tokens=1_000_000,
            output_tokens=0,
        )
        for i in range(1, 6)
    ]
    spans.append(llm("f" * 32, "f" * 16, model="unpriced-model", input_tokens=10, output_tokens=10))
    spans_ingest(project=project, spans=spans)
    assert Trace.objects.get(project=project, trace_id=f"{1:032x}").cost == pytest.approx(
        _table_row("claude-3-5-haiku*")["input"]
    )
    model_price_set(
        project=project,
        model_pattern="claude-3-5-haiku*",
        input_per_million=7.0,
        output_per_million=7.0,
        cached_input_per_million=None,
        effective_from=T0.date(),
    )
    model_price_set(
        project=project,
        model_pattern="unpriced-model",
        input_per_million=1e5,
        output_per_million=1e5,
        cached_input_per_million=None,
        effective_from=T0.date(),
    )
    call_command("costs_backfill", "--project", project.slug, "--since", "2026-11-27", "--batch", "2")
    for i in range(1, 6):
        trace = Trace.objects.get(project=project, trace_id=f"{i:032x}")
        assert (trace.cost, trace.cost_source) == (pytest.approx(7.0), "computed")
    assert Trace.objects.get(project=project, trace_id="f" * 32).cost == pytest.approx(2.0)


def test_backfill_leaves_spans_before_since_alone(project):
    old = llm(
        "1" * 32, "1" * 16, model="gpt-4o", start=T0 - timedelta(days=10), input_tokens=1_000_000, output_tokens=0
    )
    spans_ingest(project=project, spans=[old])
    model_price_set(
        project=project,
        model_pattern="gpt-4o",
        input_per_million=99.0,
        output_per_million=99.0,
        cached_input_per_million=None,
        effective_from=date(2020, 1, 1),
    )
    call_command("costs_backfill", "--project", project.slug, "--since", "2026-11-20")
    assert Span.objects.get(project=project).cost_total == pytest.approx(_table_row("gpt-4o*")["input"])
    call_command("costs_backfill", "--project", project.slug)
    assert Span.objects.get(project=project).cost_total == pytest.approx(99.0)


def test_backfill_command_names_the_bad_argument(project):
    with pytest.raises(CommandError, match="since"):
        call_command("costs_backfill", "--project", project.slug, "--since", "yesterday")
    with pytest.raises(CommandError, match="project"):
        call_command("costs_backfill", "--project", "nope")


def test_override_form_saves_for_admins_and_names_bad_fields(client, alice, bob, project):
    client.force_login(alice)
    url = f"/p/{project.slug}/settings/prices/"
    bad = client.post(
        url,
        {"model_pattern": "x*", "input_per_million": "-1", "output_per_million": "1", "effective_from": "2026-01-01"},
    )
    assert bad.status_code == 400 and b"input_per_million" in bad.content
    ok = client.post(
        url,
        {
            "model_pattern": "My-Model*",
            "input_per_million": "1.5",
            "output_per_million": "3",
            "effective_from": "2026-01-01",
        },
    )
    assert ok.status_code == 200 and b"my-model*" in ok.content
    assert project.model_prices.get().input_per_million == 1.5
    client.force_login(bob)  # a viewer sees prices but cannot change them
    assert client.get(url).status_code == 200
    assert (
        client.post(
            url,
            {"model_pattern": "y", "input_per_million": "1", "output_per_million": "1", "effective_from": "2026-01-01"},
        ).status_code
        == 403
    )
